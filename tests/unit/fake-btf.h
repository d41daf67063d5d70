/*
 * Synthetic guest BTF for the unit tests, written with libbpf's own
 * writer API and shaped like Debian's kernels: struct page's list heads
 * inside anonymous unions and structs, per_cpu_pages.lists of 14
 * (Debian's 6.1) or 13 (upstream 6.1) list heads, struct zone,
 * pglist_data.node_zones, enum migratetype; and a VmcoreInfo that agrees
 * with it.  Sizes and offsets a hostile guest could inflate are
 * parameters.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_UNIT_FAKE_BTF_H
#define TESTS_UNIT_FAKE_BTF_H

#include <bpf/btf.h>
#include <glib.h>

#include "memdedup/introspect/vmcoreinfo.h"

typedef struct Shape {
    int nr_lists;
    int list_elem_size;         /* 16: list_head; 8: something else */
    bool with_per_cpu_pageset;
    bool with_pcp_list;         /* 6.1+; older kernels link by lru */
    uint32_t pageset_off, lists_off;
    uint32_t pcp_size;          /* sizeof(struct per_cpu_pages);
                                   0: the lists' end */
    uint32_t count_off;         /* offsetof(struct per_cpu_pages, count) */
    uint32_t page_size;         /* sizeof(struct page); 0: 64 */
    uint32_t zone_size;         /* sizeof(struct zone); 0: 1536 */
} Shape;

static const Shape shape_612 = {
    .nr_lists = 14, .list_elem_size = 16, .with_per_cpu_pageset = true,
    .with_pcp_list = true, .pageset_off = 112, .lists_off = 32,
};

static inline void *build_btf(const Shape *sh, size_t *len)
{
    struct btf *btf = btf__new_empty();
    uint32_t zone_size = sh->zone_size ? sh->zone_size : 1536;
    int int_t, long_t, list_t, elem_t, atomic_t, anon_a, anon_b, anon_u;
    int pcp_t, pcp_ptr, lists_t, area_t, page_t, zone_t, zones_t, pgdat_t, e;
    const void *raw;
    uint32_t size;
    void *copy;

    g_assert_nonnull(btf);
    int_t = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
    long_t = btf__add_int(btf, "long", 8, BTF_INT_SIGNED);
    list_t = btf__add_struct(btf, "list_head", 16);
    btf__add_field(btf, "next", long_t, 0, 0);
    btf__add_field(btf, "prev", long_t, 64, 0);
    atomic_t = btf__add_struct(btf, "atomic_t", 4);
    btf__add_field(btf, "counter", int_t, 0, 0);
    /* struct page { flags; union { struct { lru }; struct { pcp_list } }; } */
    anon_a = btf__add_struct(btf, NULL, 16);
    btf__add_field(btf, "lru", list_t, 0, 0);
    anon_b = btf__add_struct(btf, NULL, 16);
    btf__add_field(btf, sh->with_pcp_list ? "pcp_list" : "buddy_list", list_t,
                   0, 0);
    anon_u = btf__add_union(btf, NULL, 16);
    btf__add_field(btf, NULL, anon_a, 0, 0);
    btf__add_field(btf, NULL, anon_b, 0, 0);
    page_t = btf__add_struct(btf, "page", sh->page_size ? sh->page_size : 64);
    btf__add_field(btf, "flags", long_t, 0, 0);
    btf__add_field(btf, NULL, anon_u, 64, 0);
    btf__add_field(btf, "_mapcount", atomic_t, 48 * 8, 0);
    btf__add_field(btf, "_refcount", atomic_t, 52 * 8, 0);
    g_assert_cmpint(page_t, >, 0);
    /* struct per_cpu_pages { count; ...; lists[N] } */
    elem_t = sh->list_elem_size == 16 ? list_t : long_t;
    lists_t = btf__add_array(btf, int_t, elem_t, sh->nr_lists);
    pcp_t = btf__add_struct(btf, "per_cpu_pages", sh->pcp_size ? sh->pcp_size :
                            sh->lists_off + sh->nr_lists * sh->list_elem_size);
    btf__add_field(btf, "count", int_t, sh->count_off * 8, 0);
    btf__add_field(btf, "lists", lists_t, sh->lists_off * 8, 0);
    pcp_ptr = btf__add_ptr(btf, pcp_t);
    area_t = btf__add_array(btf, int_t, long_t, 11 * 13);
    zone_t = btf__add_struct(btf, "zone", zone_size);
    if (sh->with_per_cpu_pageset) {
        btf__add_field(btf, "per_cpu_pageset", pcp_ptr, sh->pageset_off * 8, 0);
    }
    btf__add_field(btf, "zone_start_pfn", long_t, 152 * 8, 0);
    btf__add_field(btf, "spanned_pages", long_t, 160 * 8, 0);
    btf__add_field(btf, "present_pages", long_t, 168 * 8, 0);
    btf__add_field(btf, "free_area", area_t, 256 * 8, 0);
    g_assert_cmpint(zone_t, >, 0);
    /* pglist_data { struct zone node_zones[5]; ... } */
    zones_t = btf__add_array(btf, int_t, zone_t, 5);
    pgdat_t = btf__add_struct(btf, "pglist_data", 5 * zone_size + 64);
    btf__add_field(btf, "node_zones", zones_t, 0, 0);
    g_assert_cmpint(pgdat_t, >, 0);
    e = btf__add_enum(btf, "migratetype", 4);
    btf__add_enum_value(btf, "MIGRATE_UNMOVABLE", 0);
    btf__add_enum_value(btf, "MIGRATE_MOVABLE", 1);
    btf__add_enum_value(btf, "MIGRATE_RECLAIMABLE", 2);
    btf__add_enum_value(btf, "MIGRATE_PCPTYPES", 3);
    g_assert_cmpint(e, >, 0);

    raw = btf__raw_data(btf, &size);
    g_assert_nonnull(raw);
    copy = g_memdup2(raw, size);
    *len = size;
    btf__free(btf);
    return copy;
}

/* What VMCOREINFO of a Debian 6.12 kernel says of the same structs. */
static inline VmcoreInfo vmcoreinfo_612(void)
{
    return (VmcoreInfo) {
        .page_struct_size = 64, .page_mapcount_off = 48,
        .has_page_refcount = true, .page_refcount_off = 52,
        .has_page_lru = true, .page_lru_off = 8,
        .has_zone_size = true, .zone_size = 1536,
        .has_zone_free_area = true, .zone_free_area_off = 256,
    };
}

#endif
