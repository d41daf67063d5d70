/*
 * qemu-memx: the guest RAM map and the introspection of a Linux guest's
 * free pages, shared by guest-free page skipping (migration) and memdedup.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMX_GUEST_SCAN_H
#define SYSTEM_MEMX_GUEST_SCAN_H

#include "exec/cpu-common.h"
#include "memdedup/introspect/guest-freepages.h"
#include "memdedup/introspect/guest-pcp.h"

#define MEMX_MAX_RAM_RANGES 64

/* One stretch of guest-physical RAM backed by one stretch of a RAMBlock. */
typedef struct MemxRamRange {
    uint64_t start;     /* guest-physical, page aligned */
    uint64_t end;
    uint8_t *host;      /* host address of @start */
    RAMBlock *block;
    ram_addr_t offset;  /* of @start within @block */
} MemxRamRange;

typedef struct MemxRamMap {
    MemxRamRange range[MEMX_MAX_RAM_RANGES];
    GuestRamRange guest[MEMX_MAX_RAM_RANGES];
    size_t n;
} MemxRamMap;

/* The outcome of one introspection of the guest kernel. */
typedef struct MemxScan {
    const char *reason;         /* NULL when the scan succeeded */
    char kernel_release[65];
    VmcoreInfo info;
    GuestFreePageStats stats;
    uint64_t *bitmap;           /* free guest frames, owned by the caller */
    uint64_t nr_pfns;
    uint64_t ram_bytes;
    int64_t scan_ns;
    GuestMemory mem;            /* guest RAM as the map shows it */
    GuestKernelView view;       /* valid when the scan succeeded */

    /* The per-CPU free lists (memx_scan_prepare finds them) */
    bool skip_pcp;              /* set by the caller: buddy pages only */
    const GuestPcpView *pcp;    /* NULL if they cannot be walked */
    const GuestPcpView *pcp_tried; /* what was found looking, for reports */
    const char *pcp_reason;     /* why not, or why the last walk failed */
    GuestPcpStats pcp_stats;    /* of the last memx_scan_ranges() */
} MemxScan;

/*
 * Fill @map with the guest RAM the system address space shows now:
 * memory backends' writable RAM only.  Call with the RCU read lock held;
 * the map is valid until it is released.
 */
void memx_ram_map_build(MemxRamMap *map);

/*
 * Introspect the guest through @map: copy and parse its VMCOREINFO and
 * set up @scan->view, @scan->mem, @scan->nr_pfns and @scan->ram_bytes,
 * and @scan->pcp (or @scan->pcp_reason).  On failure the reason is in
 * @scan->reason.  Call with the BQL held: what the per-CPU lists' view
 * costs to find (the guest's kallsyms and BTF) is kept between calls
 * until the guest's note changes.
 */
bool memx_scan_prepare(const MemxRamMap *map, MemxScan *scan);

/*
 * Find the guest kernel's per-CPU lists now (its kallsyms and BTF: 10 to
 * 20 ms once per guest kernel, under the BQL), so that the next scan, a
 * migration's first, need not.  Nothing happens if the guest has no
 * usable note yet.
 */
void memx_scan_warm(void);

/*
 * Read the guest kernel's free pages in @ranges, with the view
 * memx_scan_prepare() set up, into @bitmap (@scan->nr_pfns bits, not
 * cleared first): the buddy allocator's free blocks, then the per-CPU
 * lists' pages unless @scan->skip_pcp.  @stats counts the buddy part,
 * @scan->pcp_stats the per-CPU part; a walk of the lists that fails
 * leaves only them out (the reason in @scan->pcp_reason).  False, with
 * the reason in @scan->reason, when the struct page scan fails.
 */
bool memx_scan_ranges(MemxScan *scan, const GuestRamRange *ranges,
                      size_t nranges, uint64_t *bitmap,
                      GuestFreePageStats *stats);

/*
 * memx_scan_prepare(), then read the guest kernel's free pages of all of
 * @map into *@bitmap (reallocated if NULL or shorter than @scan->nr_pfns
 * bits, then cleared) and point @scan->bitmap at it.  On failure the
 * reason is in @scan->reason.
 */
bool memx_scan_guest(const MemxRamMap *map, MemxScan *scan,
                     uint64_t **bitmap, uint64_t *bitmap_words);

/*
 * Whether the kernel @scan's note describes is the one the vCPUs run now:
 * every vCPU in long mode with paging maps the struct page array and the
 * kernel image through the note's top-level entries (a kexec'd kernel
 * does not, even with the old kernel's memory intact).  memx_scan_prepare()
 * checks it; call it again whenever the vCPUs may have run since.  On
 * failure the reason is in @scan->reason.
 */
bool memx_scan_check_live_kernel(MemxScan *scan);

/*
 * The CR3 of every vCPU that runs in long mode with paging on (state
 * synchronized from the accelerator), each distinct value once, as a
 * GArray of uint64_t.  Every vCPU counts: after a kexec from any one of
 * them the others sit halted in the old kernel's tables.
 * Target-specific (memx/guest-cpu-roots.c); empty on other targets.
 */
GArray *memx_guest_cpu_roots(void);

/* Make *@bitmap hold @nr_bits zero bits, reallocating when too small. */
void memx_bitmap_zeroed(uint64_t **bitmap, uint64_t *words_held,
                        uint64_t nr_bits);

#endif
