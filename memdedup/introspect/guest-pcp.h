/*
 * Guest per-CPU free lists: the pages a Linux guest's page allocator
 * keeps free on its per-CPU lists (struct per_cpu_pages, "pcp"), which
 * are not marked buddy and so escape the struct-page scan.  Right after a
 * large free they hold tens of MiB of a 1 GiB guest.
 *
 * Nothing is guessed: where the lists hang comes from the guest kernel's
 * own kallsyms (__per_cpu_offset, __cpu_possible_mask, nr_cpu_ids,
 * node_data), their layout from its BTF (guest-btf.h), and both are
 * loaded once per kernel (guest_pcp_view_init).  The walk itself
 * (guest_pcp_scan) then reads only the live lists.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_PCP_H
#define MEMDEDUP_GUEST_PCP_H

#include "memdedup/introspect/guest-btf.h"
#include "memdedup/introspect/guest-freepages.h"

/* Bounds on what a guest may claim: NR_CPUS and MAX_NUMNODES of Debian */
#define GUEST_PCP_MAX_CPUS      8192
#define GUEST_PCP_MAX_NODES     1024
/* Walks of one CPU's lists that see them change before one is dropped */
#define GUEST_PCP_TRIES         4
/*
 * The wall time one scan may take, in microseconds.  A real guest's scan
 * costs about 0.1 ms, and list entries are read at 40 to 50 ns each
 * (4008 in 160-190 us in the unit tests), so 20 ms is 200 normal scans
 * and some 400,000 entries: every page of a 1.5 GiB guest on a per-CPU
 * list, where a real one holds under a tenth of its RAM there.  And it
 * is a small part of the 300 ms migration downtime QEMU allows by
 * default, for a scan that runs under QEMU's big lock.
 */
#define GUEST_PCP_MAX_US        20000

/*
 * Orders on the lists, fixed by the kernel rather than described by it:
 * lists below MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1) hold order
 * index / MIGRATE_PCPTYPES, the ones above (CONFIG_TRANSPARENT_HUGEPAGE)
 * hold PMD-sized pages, order 9 with 4 KiB pages on x86-64.
 */
#define GUEST_PCP_COSTLY_ORDER  3
#define GUEST_PCP_THP_ORDER     9
#define GUEST_PCP_MAX_THP_LISTS 2

/* Everything the walk needs, found once per guest kernel. */
typedef struct GuestPcpView {
    GuestPcpLayout layout;
    /* kernel virtual addresses, from kallsyms */
    uint64_t per_cpu_offset;    /* unsigned long __per_cpu_offset[NR_CPUS] */
    uint64_t cpu_possible_mask; /* struct cpumask __cpu_possible_mask */
    uint64_t nr_cpu_ids;        /* unsigned int nr_cpu_ids */
    uint64_t node_data;         /* pg_data_t *node_data[] (NUMA), or 0 */
    uint64_t nr_node_ids;       /* unsigned int nr_node_ids, or 0 */
    uint64_t contig_page_data;  /* the one pg_data_t without NUMA, or 0 */
    /* static keys, for guest-free-content.h; 0 if kallsyms lack them */
    uint64_t init_on_free_key;  /* DEFINE_STATIC_KEY_MAYBE init_on_free */
    uint64_t page_poisoning_key;/* _page_poisoning_enabled */
    /* for reports */
    uint32_t kallsyms_symbols;  /* symbols in the guest's table, or 0 */
    uint64_t btf_bytes;         /* size of its .BTF section, or 0 */
    const char *kallsyms_reason;/* why kallsyms could not be used, or NULL */
    const char *btf_reason;     /* why BTF could not be used, or NULL */
} GuestPcpView;

/* What one scan may cost and what the machine it runs on allows. */
typedef struct GuestPcpLimits {
    uint32_t max_cpus;      /* CPUs the VM can have (QEMU's -smp maxcpus);
                               0: GUEST_PCP_MAX_CPUS */
    uint32_t max_nodes;     /* NUMA nodes QEMU configured (at least 1);
                               0: GUEST_PCP_MAX_NODES */
    uint64_t max_entries;   /* list entries read in one scan, all tries
                               included */
    uint64_t max_us;        /* wall time of one scan, g_get_monotonic_time(),
                               looked at every few hundred entries */
} GuestPcpLimits;

/* Why a list's walk was not trusted; the list's pages stay unmarked. */
typedef enum GuestPcpDrop {
    GUEST_PCP_DROP_UNSTABLE,    /* count or heads moved on every try */
    GUEST_PCP_DROP_LINK,        /* next->prev is not the entry before */
    GUEST_PCP_DROP_POISON,      /* a list-poison pointer */
    GUEST_PCP_DROP_NOT_A_PAGE,  /* outside vmemmap, misaligned, unmapped */
    GUEST_PCP_DROP_PFN,         /* outside its zone or RAM, misaligned */
    GUEST_PCP_DROP_IN_USE,      /* _refcount not 0, or marked buddy */
    GUEST_PCP_DROP_TOO_LONG,    /* more entries than pcp->count allows */
    GUEST_PCP_DROP__MAX,
} GuestPcpDrop;

typedef struct GuestPcpStats {
    uint64_t pages;             /* pages found free on per-CPU lists */
    uint64_t entries;           /* list entries (blocks) they came in */
    uint64_t lists_walked;      /* lists walked and trusted */
    uint64_t lists_dropped;
    uint64_t lists_aliased;     /* not walked: their per_cpu_pages (same
                                   address, zone or pageset) was already */
    uint64_t dropped[GUEST_PCP_DROP__MAX];
    uint64_t retries;           /* walks redone because a CPU's lists moved */
    uint64_t budget_entries_used; /* entries read, every try's, against
                                     limits->max_entries */
    uint64_t scan_us;           /* the scan's wall time */
    uint32_t cpus;              /* possible CPUs */
    uint32_t zones;             /* populated zones, aliases included */
    bool budget_exhausted;      /* stopped by max_entries or max_us */
} GuestPcpStats;

/* A short name for @drop, for reports. */
const char *guest_pcp_drop_name(GuestPcpDrop drop);

/*
 * Find the per-CPU lists of the kernel @view describes: load its kallsyms
 * (through VMCOREINFO), look the symbols up, copy its .BTF section and
 * read the layout from it.  Returns false when any of it is missing or
 * inconsistent; @pv's kallsyms_reason or btf_reason then says why, and
 * the sizes found so far are kept for reports.
 */
bool guest_pcp_view_init(GuestPcpView *pv, const GuestKernelView *view);

/*
 * Limits for a guest of @ram_pages pages on a VM of @max_cpus CPUs and
 * @max_nodes nodes (0: the bounds above): max_entries is @ram_pages and
 * one entry for every list the VM's CPUs and nodes can have, on every
 * try; max_us is GUEST_PCP_MAX_US.
 */
void guest_pcp_limits_init(GuestPcpLimits *lim, uint64_t ram_pages,
                           uint32_t max_cpus, uint32_t max_nodes);

/*
 * Walk every per-CPU list of every populated zone and possible CPU and
 * set, in @bitmap (@nr_pfns bits), the pages of the entries that validate
 * and lie in @ranges (entries outside them are validated and counted, not
 * marked).  A list that fails validation is dropped and counted, never
 * the scan.  Each struct per_cpu_pages is walked once however many CPUs,
 * zones or nodes name it.  @limits (NULL: guest_pcp_limits_init() for
 * @nr_pfns pages, with no machine to check against) bound the scan.
 *
 * Returns false with a reason: when @pv's layout fails
 * guest_pcp_layout_check(), when the CPU or node tables cannot be read or
 * claim more CPUs or nodes than @limits allow (then nothing was marked),
 * or when the budget ran out (stats->budget_exhausted; the pages of the
 * CPUs walked before it did stay marked, each validated).
 *
 * As with guest_free_pages_scan(), the result is a hint that is only safe
 * together with dirty tracking re-armed before the call.
 */
bool guest_pcp_scan(const GuestKernelView *view, const GuestPcpView *pv,
                    const GuestPcpLimits *limits,
                    const GuestRamRange *ranges, size_t nranges,
                    uint64_t *bitmap, uint64_t nr_pfns,
                    GuestPcpStats *stats, const char **why);

#endif /* MEMDEDUP_GUEST_PCP_H */
