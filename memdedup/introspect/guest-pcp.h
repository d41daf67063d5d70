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
    /* for reports */
    uint32_t kallsyms_symbols;  /* symbols in the guest's table, or 0 */
    uint64_t btf_bytes;         /* size of its .BTF section, or 0 */
    const char *kallsyms_reason;/* why kallsyms could not be used, or NULL */
    const char *btf_reason;     /* why BTF could not be used, or NULL */
} GuestPcpView;

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
    uint64_t dropped[GUEST_PCP_DROP__MAX];
    uint64_t retries;           /* walks redone because a CPU's lists moved */
    uint32_t cpus;              /* possible CPUs */
    uint32_t zones;             /* populated zones */
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
 * Walk every per-CPU list of every populated zone and possible CPU and
 * set, in @bitmap (@nr_pfns bits), the pages of the entries that validate
 * and lie in @ranges (entries outside them are validated and counted, not
 * marked).  A list that fails validation is dropped and counted, never
 * the scan; false (with a reason) only when the CPU or node tables
 * themselves cannot be read, and then nothing was marked.
 *
 * As with guest_free_pages_scan(), the result is a hint that is only safe
 * together with dirty tracking re-armed before the call.
 */
bool guest_pcp_scan(const GuestKernelView *view, const GuestPcpView *pv,
                    const GuestRamRange *ranges, size_t nranges,
                    uint64_t *bitmap, uint64_t nr_pfns,
                    GuestPcpStats *stats, const char **why);

#endif /* MEMDEDUP_GUEST_PCP_H */
