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
 * Bounds.  Every offset the layout gives is checked against the struct
 * it indexes, and every struct against a fixed size
 * (guest_pcp_layout_check, again here whatever the layout's origin): a
 * CPU's struct per_cpu_pages is copied, count and lists, into a buffer of
 * GUEST_PCP_STRUCT_MAX bytes; struct pages are read in place.
 *
 * Cost.  The guest controls how much there is to walk (nr_cpu_ids,
 * nr_node_ids, where __per_cpu_offset and node_data point, how long the
 * lists are) and the scan runs under QEMU's big lock, so:
 *  - nr_cpu_ids and nr_node_ids above what the VM can have
 *    (GuestPcpLimits) are refused before any list is read;
 *  - nothing is walked twice: node_data entries naming one pg_data_t,
 *    zones sharing a pageset, CPUs sharing a __per_cpu_offset, and any
 *    two zone-CPU pairs that land on one struct per_cpu_pages cost one
 *    walk, the rest are counted as aliased;
 *  - a budget of list entries, every try's, and of wall time.  An entry
 *    is trusted only if its prev names the entry before it, so in lists
 *    that hold still a struct page stands at one place of one list at
 *    most: a pass reads at most one entry per page of RAM, and one more
 *    per list, the one its walk fails on.  Only a guest rewriting its
 *    lists as we walk them makes us read more, and the budget of entries
 *    (RAM's pages and one per list the VM can have, on every try) stops
 *    it.  The clock, looked at every CLOCK_STEPS entries or per_cpu_pages
 *    copied, bounds the rest: many distinct per_cpu_pages of empty lists.
 *    When either runs out the scan stops and fails.  The pages of the
 *    CPUs walked by then stay marked: each passed the same validation as
 *    those of a complete scan, and the dirty tracking re-armed before the
 *    scan covers them the same way; the CPU being walked marks nothing.
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
/* Steps (list entries, struct per_cpu_pages) between looks at the clock */
#define CLOCK_STEPS 256

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
    const GuestPcpLimits *lim;
    GuestPcpStats *st;
    PageReader pages;
    GArray *blocks;             /* PcpBlock */
    GHashTable *walked;         /* struct per_cpu_pages walked, by address */
    size_t copy;                /* bytes of one we copy: count and lists */
    gint64 deadline;            /* of the scan, g_get_monotonic_time() */
    uint32_t steps;             /* since the clock was last read */
    const char *exhausted;      /* why the budget ran out, or NULL */
    unsigned char before[GUEST_PCP_STRUCT_MAX], after[GUEST_PCP_STRUCT_MAX];
} PcpWalk;

/*
 * Spend @entries list entries of the budget, and look at the clock every
 * CLOCK_STEPS calls; false once either has run out.
 */
static bool budget_spend(PcpWalk *w, uint64_t entries)
{
    if (w->exhausted) {
        return false;
    }
    if (entries > w->lim->max_entries - w->st->budget_entries_used) {
        w->exhausted = "the per-CPU walk ran out of its budget of list "
                       "entries: the guest's lists are larger than its RAM "
                       "allows";
        return false;
    }
    w->st->budget_entries_used += entries;
    if (++w->steps >= CLOCK_STEPS) {
        w->steps = 0;
        if (g_get_monotonic_time() > w->deadline) {
            w->exhausted = "the per-CPU walk ran out of its time budget: "
                           "the guest has more per-CPU lists or longer ones "
                           "than its size allows, or the host is overloaded";
            return false;
        }
    }
    return true;
}

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
    /* struct page is 64 bytes on every kernel we know: shift, not divide */
    const bool pow2 = !(l->page_size & (l->page_size - 1));
    const unsigned shift = pow2 ? __builtin_ctz(l->page_size) : 0;
    uint64_t cur = u64_in(w->before, list_off), prev = head;
    int64_t entries = 0;

    while (cur != head) {
        const unsigned char *page;
        uint64_t page_va, pfn, offset;

        if (++entries > count) {
            return GUEST_PCP_DROP_TOO_LONG;
        }
        if (!budget_spend(w, 1)) {
            return GUEST_PCP_DROP_UNSTABLE;     /* the caller stops */
        }
        if (cur == LIST_POISON1 || cur == LIST_POISON2) {
            return GUEST_PCP_DROP_POISON;
        }
        page_va = cur - l->page_pcp_list;
        if (cur < l->page_pcp_list || page_va < w->view->vmemmap) {
            return GUEST_PCP_DROP_NOT_A_PAGE;
        }
        offset = page_va - w->view->vmemmap;
        if (pow2 ? offset & (l->page_size - 1) : offset % l->page_size) {
            return GUEST_PCP_DROP_NOT_A_PAGE;
        }
        pfn = pow2 ? offset >> shift : offset / l->page_size;
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

/* Set bits [@lo, @hi) of @bitmap, a word at a time where it can. */
static void set_bits(uint64_t *bitmap, uint64_t lo, uint64_t hi)
{
    while (lo < hi) {
        uint64_t n = MIN(hi - lo, 64 - lo % 64);

        bitmap[lo / 64] |= (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << (lo % 64);
        lo += n;
    }
}

static void mark_block(uint64_t *bitmap, uint64_t nr_pfns,
                       const GuestRamRange *ranges, size_t nranges,
                       const PcpBlock *b)
{
    for (size_t r = 0; r < nranges; r++) {
        uint64_t lo = MAX(b->pfn, ranges[r].start >> GUEST_PAGE_SHIFT);
        uint64_t hi = MIN(b->pfn + (1ULL << b->order),
                          ranges[r].end >> GUEST_PAGE_SHIFT);

        set_bits(bitmap, lo, MIN(hi, nr_pfns));
    }
}

/*
 * Walk the lists of the struct per_cpu_pages at @pcp_va until they hold
 * still, and mark what passed; nothing once the budget has run out.
 */
static void walk_cpu(PcpWalk *w, const PcpZone *zone, uint64_t pcp_va,
                     const GuestRamRange *ranges, size_t nranges,
                     uint64_t *bitmap, uint64_t nr_pfns)
{
    const GuestPcpLayout *l = &w->pv->layout;
    GuestPcpStats *st = w->st;
    GuestPcpDrop verdict[GUEST_PCP_MAX_NR_LISTS];
    uint64_t pages = 0;
    uint32_t dropped = 0, nonempty = 0;

    for (int try = 0; try < GUEST_PCP_TRIES; try++) {
        int32_t count;

        if (!budget_spend(w, 0)) {
            return;
        }
        if (try) {
            st->retries++;
        }
        g_array_set_size(w->blocks, 0);
        pages = dropped = nonempty = 0;
        if (!read_kva(&w->view->pt, pcp_va, w->before, w->copy)) {
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
            if (w->exhausted) {
                return;
            }
            if (verdict[i] != GUEST_PCP_DROP__MAX) {
                g_array_set_size(w->blocks, mark);
                dropped++;
            } else {
                pages += list_pages;
            }
        }
        if (!read_kva(&w->view->pt, pcp_va, w->after, w->copy) ||
            memcmp(w->before, w->after, w->copy) ||
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

/* Add @key to the set of uint64_t @set; false if it was in already. */
static bool set_add(GHashTable *set, uint64_t key)
{
    uint64_t *k;

    if (g_hash_table_contains(set, &key)) {
        return false;
    }
    k = g_new(uint64_t, 1);
    *k = key;
    g_hash_table_add(set, k);
    return true;
}

/* A set of (or map from) uint64_t keys */
static GHashTable *set_new(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

static gint cmp_u64(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * The __per_cpu_offset of each possible CPU, sorted, each value once,
 * into @offsets; the possible CPUs counted in st->cpus.
 */
static bool read_cpus(const GuestKernelView *view, const GuestPcpView *pv,
                      uint32_t max_cpus, GArray *offsets, GuestPcpStats *st,
                      const char **why)
{
    g_autofree uint64_t *possible = NULL;
    g_autofree uint64_t *all = NULL;
    uint32_t nr_cpus = 0;
    guint n = 0;

    if (!read_kva(&view->pt, pv->nr_cpu_ids, &nr_cpus, sizeof(nr_cpus)) ||
        nr_cpus == 0 || nr_cpus > GUEST_PCP_MAX_CPUS) {
        *why = "the guest's nr_cpu_ids is unreadable or absurd";
        return false;
    }
    if (nr_cpus > max_cpus) {
        *why = "the guest's nr_cpu_ids exceeds the CPUs this VM can have";
        return false;
    }
    possible = g_new0(uint64_t, ((nr_cpus + 63) / 64));
    all = g_new0(uint64_t, nr_cpus);
    if (!read_kva(&view->pt, pv->cpu_possible_mask, possible,
                  ((nr_cpus + 63) / 64) * 8) ||
        !read_kva(&view->pt, pv->per_cpu_offset, all, nr_cpus * 8ULL)) {
        *why = "the guest's possible-CPU mask or per-CPU offsets are not "
               "mapped";
        return false;
    }
    for (uint32_t cpu = 0; cpu < nr_cpus; cpu++) {
        if (possible[cpu / 64] >> (cpu % 64) & 1) {
            st->cpus++;
            g_array_append_val(offsets, all[cpu]);
        }
    }
    g_array_sort(offsets, cmp_u64);
    for (guint i = 0; i < offsets->len; i++) {
        uint64_t off = g_array_index(offsets, uint64_t, i);

        if (!n || off != g_array_index(offsets, uint64_t, n - 1)) {
            g_array_index(offsets, uint64_t, n++) = off;
        }
    }
    g_array_set_size(offsets, n);
    return true;
}

/* node_data[] (nr_node_ids of it), or contig_page_data; NULL if unread. */
static uint64_t *read_nodes(const GuestKernelView *view,
                            const GuestPcpView *pv, uint32_t max_nodes,
                            uint32_t *nr_nodes, const char **why)
{
    uint64_t *nodes;

    *nr_nodes = 1;
    if (!pv->node_data) {
        nodes = g_new0(uint64_t, 1);
        nodes[0] = pv->contig_page_data;
        return nodes;
    }
    if (!read_kva(&view->pt, pv->nr_node_ids, nr_nodes, sizeof(*nr_nodes)) ||
        *nr_nodes == 0 || *nr_nodes > GUEST_PCP_MAX_NODES) {
        *why = "the guest's nr_node_ids is unreadable or absurd";
        return NULL;
    }
    if (*nr_nodes > max_nodes) {
        *why = "the guest's nr_node_ids exceeds the NUMA nodes this VM has";
        return NULL;
    }
    nodes = g_new0(uint64_t, *nr_nodes);
    if (!read_kva(&view->pt, pv->node_data, nodes, *nr_nodes * 8ULL)) {
        *why = "the guest's node_data is not mapped";
        g_free(nodes);
        return NULL;
    }
    return nodes;
}

/*
 * The populated zones of @nodes into @zones, each pageset once: st->zones
 * counts them all, *@aliased those left out for a node or a pageset
 * already in.  Every zone is read before any list, so that a table that
 * cannot be read marks nothing.
 */
static bool read_zones(const GuestKernelView *view, const GuestPcpLayout *l,
                       const uint64_t *nodes, uint32_t nr_nodes,
                       GArray *zones, uint32_t *aliased, GuestPcpStats *st,
                       const char **why)
{
    g_autoptr(GHashTable) pgdats = set_new();   /* -> populated zones */
    g_autoptr(GHashTable) pagesets = set_new();

    for (uint32_t nid = 0; nid < nr_nodes; nid++) {
        uint64_t *key;
        gpointer populated;
        uint32_t n = 0;

        if (!nodes[nid]) {
            continue;
        }
        if (g_hash_table_lookup_extended(pgdats, &nodes[nid], NULL,
                                         &populated)) {
            st->zones += GPOINTER_TO_UINT(populated);
            *aliased += GPOINTER_TO_UINT(populated);
            continue;
        }
        for (uint32_t zi = 0; zi < l->pgdat_nr_zones; zi++) {
            uint64_t zone_va = nodes[nid] + l->pgdat_node_zones +
                               (uint64_t)zi * l->zone_size;
            PcpZone zone;
            bool readable;

            if (read_zone(view, l, zone_va, &zone, &readable)) {
                n++;
                if (set_add(pagesets, zone.pageset)) {
                    g_array_append_val(zones, zone);
                } else {
                    (*aliased)++;
                }
            } else if (!readable) {
                *why = "a zone of the guest's node_data is not mapped";
                return false;
            }
        }
        st->zones += n;
        key = g_new(uint64_t, 1);
        *key = nodes[nid];
        g_hash_table_insert(pgdats, key, GUINT_TO_POINTER(n));
    }
    return true;
}

/* The layout checks of guest-btf.c, and lists as list_order() reads them */
static bool layout_ok(const GuestPcpLayout *l, const char **why)
{
    uint32_t low = l->migrate_pcptypes * (GUEST_PCP_COSTLY_ORDER + 1);

    if (!guest_pcp_layout_check(l, why)) {
        return false;
    }
    if (l->pcp_nr_lists != l->migrate_pcptypes &&
        (l->pcp_nr_lists < low ||
         l->pcp_nr_lists > low + GUEST_PCP_MAX_THP_LISTS)) {
        *why = "the per-CPU lists are not laid out by order and migrate type "
               "as this reader knows";
        return false;
    }
    return true;
}

void guest_pcp_limits_init(GuestPcpLimits *lim, uint64_t ram_pages,
                           uint32_t max_cpus, uint32_t max_nodes)
{
    lim->max_cpus = max_cpus ? MIN(max_cpus, GUEST_PCP_MAX_CPUS)
                             : GUEST_PCP_MAX_CPUS;
    lim->max_nodes = max_nodes ? MIN(max_nodes, GUEST_PCP_MAX_NODES)
                               : GUEST_PCP_MAX_NODES;
    /* one pass over RAM's pages, and the entry each list may fail on */
    lim->max_entries = ram_pages + (uint64_t)GUEST_PCP_TRIES * lim->max_cpus *
                       lim->max_nodes * GUEST_PCP_MAX_NR_ZONES *
                       GUEST_PCP_MAX_NR_LISTS;
    lim->max_us = GUEST_PCP_MAX_US;
}

/* Every distinct struct per_cpu_pages of @zones and @offsets, once. */
static void walk_all(PcpWalk *w, const GArray *zones, const GArray *offsets,
                     const GuestRamRange *ranges, size_t nranges,
                     uint64_t *bitmap, uint64_t nr_pfns)
{
    for (guint zi = 0; zi < zones->len; zi++) {
        const PcpZone *zone = &g_array_index(zones, PcpZone, zi);

        for (guint oi = 0; oi < offsets->len; oi++) {
            uint64_t pcp_va = zone->pageset +
                              g_array_index(offsets, uint64_t, oi);

            if (!budget_spend(w, 0)) {
                return;
            }
            if (!set_add(w->walked, pcp_va)) {
                w->st->lists_aliased += w->pv->layout.pcp_nr_lists;
                continue;
            }
            walk_cpu(w, zone, pcp_va, ranges, nranges, bitmap, nr_pfns);
        }
    }
}

static bool scan(PcpWalk *w, const GuestRamRange *ranges, size_t nranges,
                 uint64_t *bitmap, uint64_t nr_pfns, const char **why)
{
    const GuestPcpLayout *l = &w->pv->layout;
    const GuestPcpLimits *lim = w->lim;
    g_autoptr(GArray) offsets = g_array_new(false, false, sizeof(uint64_t));
    g_autoptr(GArray) zones = g_array_new(false, false, sizeof(PcpZone));
    g_autofree uint64_t *nodes = NULL;
    uint32_t nr_nodes, aliased_zones = 0;

    if (!layout_ok(l, why)) {
        return false;
    }
    w->copy = MAX(l->pcp_count + 4,
                  l->pcp_lists + l->pcp_nr_lists * l->pcp_list_size);
    if (!read_cpus(w->view, w->pv, lim->max_cpus ?: GUEST_PCP_MAX_CPUS,
                   offsets, w->st, why) ||
        !(nodes = read_nodes(w->view, w->pv,
                             lim->max_nodes ?: GUEST_PCP_MAX_NODES,
                             &nr_nodes, why)) ||
        !read_zones(w->view, l, nodes, nr_nodes, zones, &aliased_zones, w->st,
                    why)) {
        return false;
    }
    w->st->lists_aliased = ((uint64_t)aliased_zones * w->st->cpus +
                            (uint64_t)zones->len *
                            (w->st->cpus - offsets->len)) * l->pcp_nr_lists;
    w->blocks = g_array_new(false, false, sizeof(PcpBlock));
    w->walked = set_new();
    walk_all(w, zones, offsets, ranges, nranges, bitmap, nr_pfns);
    g_array_free(w->blocks, true);
    g_hash_table_destroy(w->walked);
    if (w->exhausted) {
        w->st->budget_exhausted = true;
        *why = w->exhausted;
        return false;
    }
    return true;
}

bool guest_pcp_scan(const GuestKernelView *view, const GuestPcpView *pv,
                    const GuestPcpLimits *limits,
                    const GuestRamRange *ranges, size_t nranges,
                    uint64_t *bitmap, uint64_t nr_pfns,
                    GuestPcpStats *stats, const char **why)
{
    const gint64 start = g_get_monotonic_time();
    GuestPcpLimits defaults;
    PcpWalk w = {
        .view = view, .pv = pv, .lim = limits, .st = stats,
        .pages = { .pt = &view->pt },
    };
    bool ok;

    memset(stats, 0, sizeof(*stats));
    *why = NULL;
    if (!limits) {
        guest_pcp_limits_init(&defaults, nr_pfns, 0, 0);
        w.lim = &defaults;
    }
    w.deadline = start + MIN(w.lim->max_us, (uint64_t)G_MAXINT64 - start);
    ok = scan(&w, ranges, nranges, bitmap, nr_pfns, why);
    stats->scan_us = g_get_monotonic_time() - start;
    return ok;
}

bool guest_pcp_view_init(GuestPcpView *pv, const GuestKernelView *view)
{
    enum {
        S_PER_CPU_OFFSET, S_CPU_POSSIBLE_MASK, S_NR_CPU_IDS, S_NODE_DATA,
        S_NR_NODE_IDS, S_CONTIG_PAGE_DATA, S_START_BTF, S_STOP_BTF,
        S_INIT_ON_FREE, S_PAGE_POISONING, S_COUNT
    };
    static const char *const names[S_COUNT] = {
        "__per_cpu_offset", "__cpu_possible_mask", "nr_cpu_ids", "node_data",
        "nr_node_ids", "contig_page_data", "__start_BTF", "__stop_BTF",
        "init_on_free", "_page_poisoning_enabled",
    };
    uint64_t addr[S_COUNT];
    bool found[S_COUNT];
    g_autofree void *btf = NULL;
    GuestKallsyms ks;
    const char *why;

    memset(pv, 0, sizeof(*pv));
    if (!view->info.has_kallsyms) {
        pv->kallsyms_reason = vmcoreinfo_kallsyms_reason(&view->info);
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
    if (found[S_INIT_ON_FREE] && found[S_PAGE_POISONING]) {
        pv->init_on_free_key = addr[S_INIT_ON_FREE];
        pv->page_poisoning_key = addr[S_PAGE_POISONING];
    }
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
                              &pv->btf_reason) ||
        !layout_ok(&pv->layout, &pv->btf_reason)) {
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
