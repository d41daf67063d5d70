/*
 * Guest free-page map: which guest pages does the guest kernel's buddy
 * allocator hold free right now?  Found by walking struct pages, located
 * and interpreted only through the guest's VMCOREINFO.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_FREEPAGES_H
#define MEMDEDUP_GUEST_FREEPAGES_H

#include "memdedup/introspect/guest-memory.h"
#include "memdedup/introspect/guest-pgtable.h"
#include "memdedup/introspect/vmcoreinfo.h"

typedef struct GuestFreePageStats {
    uint64_t pages_scanned;   /* struct pages looked at */
    uint64_t free_pages;      /* pages marked free */
    uint64_t free_blocks;     /* buddy blocks found */
    uint64_t rejected_blocks; /* buddy heads that failed validation */
    uint64_t unmapped_pfns;   /* RAM frames with no struct page mapped */
    uint64_t blocks_by_order[21];
} GuestFreePageStats;

/* Everything the scan needs, derived once per VMCOREINFO. */
typedef struct GuestKernelView {
    VmcoreInfo info;
    GuestPgtable pt;
    uint64_t vmemmap;         /* kernel-virtual address of pfn 0's page */
} GuestKernelView;

/*
 * Prepare a view of the guest kernel: set up the page-table walk from
 * init_top_pgt and find vmemmap (SYMBOL(vmemmap), or decoded from the
 * sparse mem_section tables when the kernel does not export it, checking
 * that every present section agrees).  @ranges lists guest RAM.
 * Returns false with a reason in *@why.
 */
bool guest_kernel_view_init(GuestKernelView *view, const VmcoreInfo *info,
                            const GuestMemory *mem,
                            const GuestRamRange *ranges, size_t nranges,
                            const char **why);

/*
 * Scan the struct pages of every pfn in @ranges and set, in @bitmap (one
 * bit per pfn, bit n of word n / 64), the pages of each free buddy block.
 * @bitmap must hold @nr_pfns bits and is not cleared first.
 *
 * A buddy head is accepted only if its order is at most the kernel's
 * largest, its pfn is aligned to the block size and the whole block lies
 * in one RAM range; otherwise it is counted as rejected and left unmarked
 * (skipping less is always safe).  RAM frames whose struct pages the
 * guest's page tables leave unmapped (memory the guest has not onlined)
 * are counted in unmapped_pfns and are never free.  The scan itself
 * fails, and the caller must then skip nothing, when the page tables are
 * inconsistent, a mapped struct page lies outside guest RAM, or no
 * struct page of @ranges is mapped at all.
 */
bool guest_free_pages_scan(const GuestKernelView *view,
                           const GuestRamRange *ranges, size_t nranges,
                           uint64_t *bitmap, uint64_t nr_pfns,
                           GuestFreePageStats *stats, const char **why);

#endif /* MEMDEDUP_GUEST_FREEPAGES_H */
