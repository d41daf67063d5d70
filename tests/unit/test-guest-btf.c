/*
 * Unit tests of the BTF layout reader (memdedup/introspect/guest-btf.c)
 * on BTF written with libbpf's own writer API, shaped like Debian's
 * kernels: struct page's list heads inside anonymous unions and structs,
 * per_cpu_pages.lists of 14 (Debian's 6.1) or 13 (upstream 6.1) list
 * heads, enum migratetype.  And refusals: a layout VMCOREINFO contradicts,
 * missing members, lists that are not list heads, bad magic, BTF libbpf
 * refuses.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-btf.h"

typedef struct Shape {
    int nr_lists;
    int list_elem_size;         /* 16: list_head; 8: something else */
    bool with_per_cpu_pageset;
    bool with_pcp_list;         /* 6.1+; older kernels link by lru */
    uint32_t pageset_off, lists_off;
} Shape;

static const Shape shape_612 = { 14, 16, true, true, 112, 32 };

static void *build_btf(const Shape *sh, size_t *len)
{
    struct btf *btf = btf__new_empty();
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
    /* struct page { flags; union { struct { lru }; struct { pcp_list } } ... } */
    anon_a = btf__add_struct(btf, NULL, 16);
    btf__add_field(btf, "lru", list_t, 0, 0);
    anon_b = btf__add_struct(btf, NULL, 16);
    btf__add_field(btf, sh->with_pcp_list ? "pcp_list" : "buddy_list", list_t, 0, 0);
    anon_u = btf__add_union(btf, NULL, 16);
    btf__add_field(btf, NULL, anon_a, 0, 0);
    btf__add_field(btf, NULL, anon_b, 0, 0);
    page_t = btf__add_struct(btf, "page", 64);
    btf__add_field(btf, "flags", long_t, 0, 0);
    btf__add_field(btf, NULL, anon_u, 64, 0);
    btf__add_field(btf, "_mapcount", atomic_t, 48 * 8, 0);
    btf__add_field(btf, "_refcount", atomic_t, 52 * 8, 0);
    g_assert_cmpint(page_t, >, 0);
    /* struct per_cpu_pages { count; ...; lists[N] } */
    elem_t = sh->list_elem_size == 16 ? list_t : long_t;
    lists_t = btf__add_array(btf, int_t, elem_t, sh->nr_lists);
    pcp_t = btf__add_struct(btf, "per_cpu_pages",
                            sh->lists_off + sh->nr_lists * sh->list_elem_size);
    btf__add_field(btf, "count", int_t, 0, 0);
    btf__add_field(btf, "lists", lists_t, sh->lists_off * 8, 0);
    pcp_ptr = btf__add_ptr(btf, pcp_t);
    area_t = btf__add_array(btf, int_t, long_t, 11 * 13);
    zone_t = btf__add_struct(btf, "zone", 1536);
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
    pgdat_t = btf__add_struct(btf, "pglist_data", 5 * 1536 + 64);
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

static VmcoreInfo vmcoreinfo_612(void)
{
    return (VmcoreInfo) {
        .page_struct_size = 64, .page_mapcount_off = 48,
        .has_page_refcount = true, .page_refcount_off = 52,
        .has_page_lru = true, .page_lru_off = 8,
        .has_zone_size = true, .zone_size = 1536,
        .has_zone_free_area = true, .zone_free_area_off = 256,
    };
}

static void test_layout_612(void)
{
    size_t len;
    g_autofree void *btf = build_btf(&shape_612, &len);
    VmcoreInfo info = vmcoreinfo_612();
    GuestPcpLayout l;
    const char *why = NULL;

    g_assert_true(guest_btf_pcp_layout(btf, len, &info, &l, &why));
    g_assert_cmpuint(l.zone_per_cpu_pageset, ==, 112);
    g_assert_cmpuint(l.zone_free_area, ==, 256);
    g_assert_cmpuint(l.zone_size, ==, 1536);
    g_assert_cmpuint(l.zone_start_pfn, ==, 152);
    g_assert_cmpuint(l.zone_spanned_pages, ==, 160);
    g_assert_cmpuint(l.zone_present_pages, ==, 168);
    g_assert_cmpuint(l.pgdat_node_zones, ==, 0);
    g_assert_cmpuint(l.pgdat_nr_zones, ==, 5);
    g_assert_cmpuint(l.pcp_count, ==, 0);
    g_assert_cmpuint(l.pcp_lists, ==, 32);
    g_assert_cmpuint(l.pcp_nr_lists, ==, 14);
    g_assert_cmpuint(l.pcp_list_size, ==, 16);
    g_assert_cmpuint(l.page_size, ==, 64);
    g_assert_cmpuint(l.page_pcp_list, ==, 8);       /* through two anonymous levels */
    g_assert_cmpuint(l.page_lru, ==, 8);
    g_assert_cmpuint(l.page_refcount, ==, 52);
    g_assert_cmpuint(l.migrate_pcptypes, ==, 3);
}

/* The list count and offsets come from BTF: upstream 6.1 has 13 lists. */
static void test_layout_other_counts(void)
{
    Shape sh = { 13, 16, true, false, 104, 24 };
    size_t len;
    g_autofree void *btf = build_btf(&sh, &len);
    VmcoreInfo info = vmcoreinfo_612();
    GuestPcpLayout l;
    const char *why = NULL;

    g_assert_true(guest_btf_pcp_layout(btf, len, &info, &l, &why));
    g_assert_cmpuint(l.pcp_nr_lists, ==, 13);
    g_assert_cmpuint(l.zone_per_cpu_pageset, ==, 104);
    g_assert_cmpuint(l.pcp_lists, ==, 24);
    g_assert_cmpuint(l.page_pcp_list, ==, l.page_lru);  /* no pcp_list: lru */
}

static void expect_refused(const void *btf, size_t len, const VmcoreInfo *info,
                           const char *reason)
{
    GuestPcpLayout l;
    const char *why = NULL;

    g_assert_false(guest_btf_pcp_layout(btf, len, info, &l, &why));
    g_assert_nonnull(why);
    if (!strstr(why, reason)) {
        g_test_message("refused for '%s', expected '%s'", why, reason);
        g_assert_not_reached();
    }
    g_assert_cmpuint(l.page_size, ==, 0);
}

static void test_refusals(void)
{
    size_t len;
    g_autofree void *btf = build_btf(&shape_612, &len);
    g_autofree void *bad = g_memdup2(btf, len);
    VmcoreInfo info = vmcoreinfo_612();
    Shape no_pageset = shape_612, not_lists = shape_612;

    info.page_struct_size = 80;
    expect_refused(btf, len, &info, "struct page differs");
    info = vmcoreinfo_612();
    info.zone_free_area_off = 264;
    expect_refused(btf, len, &info, "struct zone or page.lru differs");
    info = vmcoreinfo_612();
    info.has_zone_spanned_pages = true;
    info.zone_spanned_pages_off = 144;      /* 6.1's, against 6.12's BTF */
    expect_refused(btf, len, &info, "zone span or pglist_data differs");
    info = vmcoreinfo_612();

    ((uint8_t *)bad)[0] ^= 0xff;
    expect_refused(bad, len, &info, "no BTF magic");
    expect_refused(btf, len / 2, &info, "libbpf refuses");
    expect_refused(btf, 1, &info, "absurd size");

    no_pageset.with_per_cpu_pageset = false;
    {
        g_autofree void *b = build_btf(&no_pageset, &len);

        expect_refused(b, len, &info, "per_cpu_pageset");
    }
    not_lists.list_elem_size = 8;
    {
        g_autofree void *b = build_btf(&not_lists, &len);

        expect_refused(b, len, &info, "not list heads");
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    libbpf_set_print(NULL);     /* libbpf's own complaints are expected here */
    g_test_add_func("/guest-btf/layout-6.12", test_layout_612);
    g_test_add_func("/guest-btf/layout-other-counts", test_layout_other_counts);
    g_test_add_func("/guest-btf/refusals", test_refusals);
    return g_test_run();
}
