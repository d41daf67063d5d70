/*
 * Guest per-CPU free lists (see guest-pcp.h).
 *
 * Where.  For every node (node_data[nid] for nid < nr_node_ids, or
 * contig_page_data), every zone of it with present pages, and every
 * possible CPU (__cpu_possible_mask, below nr_cpu_ids), the CPU's lists
 * are at zone->per_cpu_pageset + __per_cpu_offset[cpu], a kernel virtual
 * address translated through the guest's page tables like everything
 * else.  pcp->lists[i] are list heads of struct pages linked through
 * page.pcp_list (page.lru before 6.1); the list index fixes the order of
 * its blocks (guest-pcp.h), which is never taken from the page.
 *
 * Validation.  Every entry must be a pointer into the struct page array,
 * aligned to SIZE(page), not a list-poison value, whose prev points back
 * at the entry before; the page must have _refcount 0 and no buddy mark;
 * its pfn must be aligned to the list's order, with the whole block in
 * the zone's span and in guest RAM.  The walk must come back to its head
 * within pcp->count entries, and end where head->prev says.  Any failure
 * drops that list (its pages stay unmarked), never the scan.
 *
 * Races.  The guest's CPUs move pages on and off their lists while we
 * read.  Each CPU's lists are walked between two copies of its struct
 * per_cpu_pages (count and heads); if they differ, or the pages found do
 * not add up to count with no list dropped, the walk is redone, a bounded
 * number of times, and then dropped.  Even a consistent walk is only a
 * hint: the caller re-arms dirty tracking before the walk, so a page
 * taken off a list and written after we read it is dirtied and sent.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "memdedup/introspect/guest-kallsyms.h"
#include "memdedup/introspect/guest-pcp.h"

#define GUEST_PAGE_SHIFT 12
#define GUEST_MAX_PFN (1ULL << (52 - GUEST_PAGE_SHIFT))
/* LIST_POISON1 and LIST_POISON2 with x86-64's POISON_POINTER_DELTA */
#define LIST_POISON1 0xdead000000000100ULL
#define LIST_POISON2 0xdead000000000122ULL
/* The part of struct per_cpu_pages we copy: count and the list heads */
#define PCP_COPY_MAX 2048

static const char *const drop_names[GUEST_PCP_DROP__MAX] = {
    [GUEST_PCP_DROP_UNSTABLE] = "unstable",
    [GUEST_PCP_DROP_LINK] = "broken-link",
    [GUEST_PCP_DROP_POISON] = "list-poison",
    [GUEST_PCP_DROP_NOT_A_PAGE] = "not-a-struct-page",
    [GUEST_PCP_DROP_PFN] = "pfn-outside-zone-or-ram",
    [GUEST_PCP_DROP_IN_USE] = "page-in-use",
    [GUEST_PCP_DROP_TOO_LONG] = "longer-than-count",
};

const char *guest_pcp_drop_name(GuestPcpDrop drop)
{
    return drop < GUEST_PCP_DROP__MAX ? drop_names[drop] : "unknown";
}

/* Copy @len bytes at kernel virtual @va, a page at a time. */
static bool read_kva(const GuestPgtable *pt, uint64_t va, void *buf,
                     size_t len)
{
    unsigned char *out = buf;

    while (len) {
        size_t chunk = MIN(len, 4096 - (va & 4095));
        uint64_t gpa;

        if (!guest_pgtable_translate(pt, va, &gpa, NULL) ||
            !guest_read_bytes(pt->mem, gpa, out, chunk)) {
            return false;
        }
        out += chunk;
        va += chunk;
        len -= chunk;
    }
    return true;
}

static bool read_kva_u64(const GuestPgtable *pt, uint64_t va, uint64_t *val)
{
    return read_kva(pt, va, val, sizeof(*val));
}

/*
 * struct pages through the last page-table leaf that held one: entries
 * of one list mostly share a leaf of the struct page array.
 */
typedef struct PageReader {
    const GuestPgtable *pt;
    uint64_t leaf_va;
    uint64_t leaf_size;
    const unsigned char *leaf_host;
} PageReader;

static const unsigned char *page_at(PageReader *r, uint64_t va, uint32_t size)
{
    uint64_t gpa, leaf;

    if (r->leaf_host && va - r->leaf_va < r->leaf_size &&
        r->leaf_size - (va - r->leaf_va) >= size) {
        return r->leaf_host + (va - r->leaf_va);
    }
    if (guest_pgtable_lookup(r->pt, va, &gpa, &leaf) != GUEST_PT_MAPPED) {
        return NULL;
    }
    /* A 1 GiB leaf may hold more than RAM: then map just this page. */
    r->leaf_va = va & ~(leaf - 1);
    r->leaf_size = leaf;
    r->leaf_host = r->pt->mem->map(r->pt->mem->opaque,
                                   gpa - (va - r->leaf_va), leaf);
    if (!r->leaf_host) {
        r->leaf_va = va & ~4095ULL;
        r->leaf_size = 4096;
        r->leaf_host = r->pt->mem->map(r->pt->mem->opaque, gpa & ~4095ULL,
                                       4096);
    }
    if (!r->leaf_host || r->leaf_size - (va - r->leaf_va) < size) {
        r->leaf_host = NULL;
        return NULL;
    }
    return r->leaf_host + (va - r->leaf_va);
}

/* One zone as the walk needs it. */
typedef struct PcpZone {
    uint64_t start_pfn;
    uint64_t end_pfn;
    uint64_t pageset;           /* __percpu pointer */
} PcpZone;

/* A block found on a list, kept until its CPU's walk proves stable. */
typedef struct PcpBlock {
    uint64_t pfn;
    uint32_t order;
} PcpBlock;

typedef struct PcpWalk {
    const GuestKernelView *view;
    const GuestPcpView *pv;
    PageReader pages;
    GArray *blocks;             /* PcpBlock */
    unsigned char before[PCP_COPY_MAX], after[PCP_COPY_MAX];
} PcpWalk;

static uint32_t list_order(const GuestPcpLayout *l, uint32_t index)
{
    uint32_t low = l->migrate_pcptypes * (GUEST_PCP_COSTLY_ORDER + 1);

    if (l->pcp_nr_lists == l->migrate_pcptypes) {
        return 0;               /* before 5.14: order-0 lists only */
    }
    return index < low ? index / l->migrate_pcptypes : GUEST_PCP_THP_ORDER;
}

static uint64_t u64_in(const unsigned char *p, size_t off)
{
    uint64_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint32_t u32_in(const unsigned char *p, size_t off)
{
    uint32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

/*
 * Walk list @index of the struct per_cpu_pages at @pcp_va (copied in
 * w->before), appending its blocks to w->blocks and adding their pages to
 * *@pages.  Returns GUEST_PCP_DROP__MAX when the list validates.
 */
static GuestPcpDrop walk_list(PcpWalk *w, const PcpZone *zone,
                              uint64_t pcp_va, uint32_t index, int64_t count,
                              uint64_t *pages)
{
    const GuestPcpLayout *l = &w->pv->layout;
    const VmcoreInfo *info = &w->view->info;
    const uint64_t list_off = l->pcp_lists + (uint64_t)index * l->pcp_list_size;
    const uint64_t head = pcp_va + list_off;
    const uint32_t order = list_order(l, index);
    const uint64_t n = 1ULL << order;
    uint64_t cur = u64_in(w->before, list_off), prev = head;
    int64_t entries = 0;

    while (cur != head) {
        const unsigned char *page;
        uint64_t page_va, pfn;

        if (++entries > count) {
            return GUEST_PCP_DROP_TOO_LONG;
        }
        if (cur == LIST_POISON1 || cur == LIST_POISON2) {
            return GUEST_PCP_DROP_POISON;
        }
        page_va = cur - l->page_pcp_list;
        if (cur < l->page_pcp_list || page_va < w->view->vmemmap ||
            (page_va - w->view->vmemmap) % l->page_size) {
            return GUEST_PCP_DROP_NOT_A_PAGE;
        }
        pfn = (page_va - w->view->vmemmap) / l->page_size;
        if (pfn >= GUEST_MAX_PFN) {
            return GUEST_PCP_DROP_PFN;
        }
        page = page_at(&w->pages, page_va, l->page_size);
        if (!page) {
            return GUEST_PCP_DROP_NOT_A_PAGE;
        }
        if (u64_in(page, l->page_pcp_list + 8) != prev) {
            return GUEST_PCP_DROP_LINK;
        }
        if (u32_in(page, l->page_refcount) != 0 ||
            vmcoreinfo_is_buddy(info, u32_in(page, l->page_mapcount))) {
            return GUEST_PCP_DROP_IN_USE;
        }
        if ((pfn & (n - 1)) || pfn < zone->start_pfn ||
            pfn + n > zone->end_pfn ||
            !w->view->pt.mem->map(w->view->pt.mem->opaque,
                                  pfn << GUEST_PAGE_SHIFT,
                                  n << GUEST_PAGE_SHIFT)) {
            return GUEST_PCP_DROP_PFN;
        }
        g_array_append_val(w->blocks, ((PcpBlock) { pfn, order }));
        *pages += n;
        prev = cur;
        cur = u64_in(page, l->page_pcp_list);
    }
    if (u64_in(w->before, list_off + 8) != prev) {
        return GUEST_PCP_DROP_LINK;     /* head->prev is not the last entry */
    }
    return GUEST_PCP_DROP__MAX;
}

static void mark_block(uint64_t *bitmap, uint64_t nr_pfns,
                       const GuestRamRange *ranges, size_t nranges,
                       const PcpBlock *b)
{
    for (size_t r = 0; r < nranges; r++) {
        uint64_t lo = MAX(b->pfn, ranges[r].start >> GUEST_PAGE_SHIFT);
        uint64_t hi = MIN(b->pfn + (1ULL << b->order),
                          ranges[r].end >> GUEST_PAGE_SHIFT);

        for (uint64_t p = lo; p < MIN(hi, nr_pfns); p++) {
            bitmap[p / 64] |= 1ULL << (p % 64);
        }
    }
}

/* Walk one CPU's lists of @zone until they hold still; mark what passed. */
static void walk_cpu(PcpWalk *w, const PcpZone *zone, uint64_t pcp_va,
                     const GuestRamRange *ranges, size_t nranges,
                     uint64_t *bitmap, uint64_t nr_pfns, GuestPcpStats *st)
{
    const GuestPcpLayout *l = &w->pv->layout;
    const size_t copy = l->pcp_lists +
                        (size_t)l->pcp_nr_lists * l->pcp_list_size;
    GuestPcpDrop verdict[64];
    uint64_t pages = 0;
    uint32_t dropped = 0, nonempty = 0;

    for (int try = 0; try < GUEST_PCP_TRIES; try++) {
        int32_t count;

        if (try) {
            st->retries++;
        }
        g_array_set_size(w->blocks, 0);
        pages = dropped = nonempty = 0;
        if (!read_kva(&w->view->pt, pcp_va, w->before, copy)) {
            st->lists_dropped += l->pcp_nr_lists;
            st->dropped[GUEST_PCP_DROP_NOT_A_PAGE] += l->pcp_nr_lists;
            return;
        }
        count = (int32_t)u32_in(w->before, l->pcp_count);
        for (uint32_t i = 0; i < l->pcp_nr_lists; i++) {
            guint mark = w->blocks->len;
            uint64_t list_pages = 0;

            nonempty += u64_in(w->before, l->pcp_lists +
                               (uint64_t)i * l->pcp_list_size) !=
                        pcp_va + l->pcp_lists + (uint64_t)i * l->pcp_list_size;
            verdict[i] = walk_list(w, zone, pcp_va, i, count, &list_pages);
            if (verdict[i] != GUEST_PCP_DROP__MAX) {
                g_array_set_size(w->blocks, mark);
                dropped++;
            } else {
                pages += list_pages;
            }
        }
        if (!read_kva(&w->view->pt, pcp_va, w->after, copy) ||
            memcmp(w->before, w->after, copy) ||
            (!dropped && pages != (uint64_t)MAX(count, 0))) {
            continue;           /* the lists moved under us */
        }
        for (uint32_t i = 0; i < l->pcp_nr_lists; i++) {
            if (verdict[i] != GUEST_PCP_DROP__MAX) {
                st->dropped[verdict[i]]++;
            }
        }
        st->lists_dropped += dropped;
        st->lists_walked += l->pcp_nr_lists - dropped;
        st->pages += pages;
        st->entries += w->blocks->len;
        for (guint b = 0; b < w->blocks->len; b++) {
            mark_block(bitmap, nr_pfns, ranges, nranges,
                       &g_array_index(w->blocks, PcpBlock, b));
        }
        return;
    }
    st->lists_dropped += nonempty;
    st->dropped[GUEST_PCP_DROP_UNSTABLE] += nonempty;
    st->lists_walked += l->pcp_nr_lists - nonempty;
}

/* Read zone @zone_va's span and pageset; false if it has no pages. */
static bool read_zone(const GuestKernelView *view, const GuestPcpLayout *l,
                      uint64_t zone_va, PcpZone *z, bool *ok)
{
    uint64_t start, spanned, present;

    *ok = read_kva_u64(&view->pt, zone_va + l->zone_start_pfn, &start) &&
          read_kva_u64(&view->pt, zone_va + l->zone_spanned_pages, &spanned) &&
          read_kva_u64(&view->pt, zone_va + l->zone_present_pages, &present) &&
          read_kva_u64(&view->pt, zone_va + l->zone_per_cpu_pageset,
                       &z->pageset);
    if (!*ok || present == 0 || start >= GUEST_MAX_PFN ||
        spanned > GUEST_MAX_PFN - start) {
        return false;
    }
    z->start_pfn = start;
    z->end_pfn = start + spanned;
    return true;
}

bool guest_pcp_scan(const GuestKernelView *view, const GuestPcpView *pv,
                    const GuestRamRange *ranges, size_t nranges,
                    uint64_t *bitmap, uint64_t nr_pfns,
                    GuestPcpStats *stats, const char **why)
{
    const GuestPcpLayout *l = &pv->layout;
    g_autofree uint64_t *possible = NULL;
    g_autofree uint64_t *offsets = NULL;
    g_autofree uint64_t *nodes = NULL;
    uint32_t nr_cpus = 0, nr_nodes = 1;
    GArray *zones;
    PcpWalk w = {
        .view = view, .pv = pv, .pages = { .pt = &view->pt },
    };

    memset(stats, 0, sizeof(*stats));
    *why = NULL;
    if (l->pcp_lists + (uint64_t)l->pcp_nr_lists * l->pcp_list_size >
        PCP_COPY_MAX || l->pcp_nr_lists > 64) {
        *why = "struct per_cpu_pages is larger than expected";
        return false;
    }
    if (!read_kva(&view->pt, pv->nr_cpu_ids, &nr_cpus, sizeof(nr_cpus)) ||
        nr_cpus == 0 || nr_cpus > GUEST_PCP_MAX_CPUS) {
        *why = "the guest's nr_cpu_ids is unreadable or absurd";
        return false;
    }
    possible = g_new0(uint64_t, ((nr_cpus + 63) / 64));
    offsets = g_new0(uint64_t, nr_cpus);
    if (!read_kva(&view->pt, pv->cpu_possible_mask, possible,
                  ((nr_cpus + 63) / 64) * 8) ||
        !read_kva(&view->pt, pv->per_cpu_offset, offsets, nr_cpus * 8ULL)) {
        *why = "the guest's possible-CPU mask or per-CPU offsets are not "
               "mapped";
        return false;
    }
    if (pv->node_data) {
        if (!read_kva(&view->pt, pv->nr_node_ids, &nr_nodes,
                      sizeof(nr_nodes)) ||
            nr_nodes == 0 || nr_nodes > GUEST_PCP_MAX_NODES) {
            *why = "the guest's nr_node_ids is unreadable or absurd";
            return false;
        }
        nodes = g_new0(uint64_t, nr_nodes);
        if (!read_kva(&view->pt, pv->node_data, nodes, nr_nodes * 8ULL)) {
            *why = "the guest's node_data is not mapped";
            return false;
        }
    } else {
        nodes = g_new0(uint64_t, 1);
        nodes[0] = pv->contig_page_data;
    }
    for (uint32_t cpu = 0; cpu < nr_cpus; cpu++) {
        stats->cpus += possible[cpu / 64] >> (cpu % 64) & 1;
    }
    /* All zones first, so that a table that cannot be read marks nothing */
    zones = g_array_new(false, false, sizeof(PcpZone));
    for (uint32_t nid = 0; nid < nr_nodes; nid++) {
        for (uint32_t zi = 0; nodes[nid] && zi < l->pgdat_nr_zones; zi++) {
            uint64_t zone_va = nodes[nid] + l->pgdat_node_zones +
                               (uint64_t)zi * l->zone_size;
            PcpZone zone;
            bool readable;

            if (read_zone(view, l, zone_va, &zone, &readable)) {
                g_array_append_val(zones, zone);
            } else if (!readable) {
                *why = "a zone of the guest's node_data is not mapped";
                g_array_free(zones, true);
                return false;
            }
        }
    }
    stats->zones = zones->len;
    w.blocks = g_array_new(false, false, sizeof(PcpBlock));
    for (guint zi = 0; zi < zones->len; zi++) {
        const PcpZone *zone = &g_array_index(zones, PcpZone, zi);

        for (uint32_t cpu = 0; cpu < nr_cpus; cpu++) {
            if (possible[cpu / 64] >> (cpu % 64) & 1) {
                walk_cpu(&w, zone, zone->pageset + offsets[cpu], ranges,
                         nranges, bitmap, nr_pfns, stats);
            }
        }
    }
    g_array_free(w.blocks, true);
    g_array_free(zones, true);
    return true;
}

bool guest_pcp_view_init(GuestPcpView *pv, const GuestKernelView *view)
{
    enum {
        S_PER_CPU_OFFSET, S_CPU_POSSIBLE_MASK, S_NR_CPU_IDS, S_NODE_DATA,
        S_NR_NODE_IDS, S_CONTIG_PAGE_DATA, S_START_BTF, S_STOP_BTF, S_COUNT
    };
    static const char *const names[S_COUNT] = {
        "__per_cpu_offset", "__cpu_possible_mask", "nr_cpu_ids", "node_data",
        "nr_node_ids", "contig_page_data", "__start_BTF", "__stop_BTF",
    };
    uint64_t addr[S_COUNT];
    bool found[S_COUNT];
    g_autofree void *btf = NULL;
    GuestKallsyms ks;
    uint32_t low;
    const char *why;

    memset(pv, 0, sizeof(*pv));
    if (!view->info.has_kallsyms) {
        pv->kallsyms_reason = "VMCOREINFO does not locate the kernel's "
                              "kallsyms (Linux 6.0 and later do)";
        pv->btf_reason = "BTF is found through kallsyms";
        return false;
    }
    if (!guest_kallsyms_load(&ks, &view->info, view->pt.mem, &why)) {
        pv->kallsyms_reason = why;
        pv->btf_reason = "BTF is found through kallsyms";
        return false;
    }
    pv->kallsyms_symbols = ks.num_syms;
    guest_kallsyms_find(&ks, names, S_COUNT, addr, found);
    guest_kallsyms_clear(&ks);
    if (!found[S_START_BTF] || !found[S_STOP_BTF] ||
        addr[S_STOP_BTF] <= addr[S_START_BTF] ||
        addr[S_STOP_BTF] - addr[S_START_BTF] > GUEST_BTF_MAX_BYTES ||
        addr[S_START_BTF] < 0xffffffff80000000ULL) {
        pv->btf_reason = "the guest kernel has no BTF section of a sane size "
                         "(__start_BTF, __stop_BTF)";
        return false;
    }
    pv->btf_bytes = addr[S_STOP_BTF] - addr[S_START_BTF];
    btf = g_malloc(pv->btf_bytes);
    if (!guest_read_bytes(view->pt.mem,
                          vmcoreinfo_kernel_pa(&view->info, addr[S_START_BTF]),
                          btf, pv->btf_bytes)) {
        pv->btf_reason = "the guest's BTF section is not in guest RAM";
        return false;
    }
    if (!guest_btf_pcp_layout(btf, pv->btf_bytes, &view->info, &pv->layout,
                              &pv->btf_reason)) {
        return false;
    }
    low = pv->layout.migrate_pcptypes * (GUEST_PCP_COSTLY_ORDER + 1);
    if (pv->layout.pcp_nr_lists != pv->layout.migrate_pcptypes &&
        (pv->layout.pcp_nr_lists < low ||
         pv->layout.pcp_nr_lists > low + GUEST_PCP_MAX_THP_LISTS)) {
        pv->btf_reason = "the per-CPU lists are not laid out by order and "
                         "migrate type as this reader knows";
        return false;
    }
    if (!found[S_PER_CPU_OFFSET] || !found[S_CPU_POSSIBLE_MASK] ||
        !found[S_NR_CPU_IDS] ||
        (!(found[S_NODE_DATA] && found[S_NR_NODE_IDS]) &&
         !found[S_CONTIG_PAGE_DATA])) {
        pv->kallsyms_reason = "the guest's kallsyms lack __per_cpu_offset, "
                              "__cpu_possible_mask, nr_cpu_ids, or node_data "
                              "with nr_node_ids (contig_page_data without "
                              "NUMA)";
        return false;
    }
    pv->per_cpu_offset = addr[S_PER_CPU_OFFSET];
    pv->cpu_possible_mask = addr[S_CPU_POSSIBLE_MASK];
    pv->nr_cpu_ids = addr[S_NR_CPU_IDS];
    if (found[S_NODE_DATA] && found[S_NR_NODE_IDS]) {
        pv->node_data = addr[S_NODE_DATA];
        pv->nr_node_ids = addr[S_NR_NODE_IDS];
    } else {
        pv->contig_page_data = addr[S_CONTIG_PAGE_DATA];
    }
    return true;
}
