/*
 * Unit tests of the BTF layout reader (memdedup/introspect/guest-btf.c)
 * on BTF written with libbpf's own writer API (fake-btf.h), shaped like
 * Debian's kernels.  And refusals: a layout VMCOREINFO contradicts,
 * missing members, lists that are not list heads, structs larger than
 * the walk's bounds or members outside them, bad magic, BTF libbpf
 * refuses.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/libbpf.h>
#include <string.h>

#include "fake-btf.h"
#include "memdedup/introspect/guest-btf.h"

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
    g_assert_cmpuint(l.pcp_size, ==, 256);
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
    Shape sh = {
        .nr_lists = 13, .list_elem_size = 16, .with_per_cpu_pageset = true,
        .pageset_off = 104, .lists_off = 24,
    };
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

/*
 * Structs larger than the walk copies or reads in place, and members
 * outside them, even where VMCOREINFO agrees: each refused.
 */
static void test_refusals_bounds(void)
{
    static const struct {
        uint32_t pcp_size, count_off, page_size, zone_size;
        const char *why;
    } cases[] = {
        { 0x20000000, 0x1ffffff0, 0, 0, "per_cpu_pages is larger" },
        { 2049, 0, 0, 0, "per_cpu_pages is larger" },
        { 258, 256, 0, 0, "count or lists lie outside" },
        { 0, 0, 512, 0, "struct page is larger" },
        { 0, 0, 0, 0x20000, "struct zone is larger" },
    };

    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        Shape sh = shape_612;
        VmcoreInfo info = vmcoreinfo_612();
        g_autofree void *b = NULL;
        size_t len;

        sh.pcp_size = cases[c].pcp_size;
        sh.count_off = cases[c].count_off;
        sh.page_size = cases[c].page_size;
        sh.zone_size = cases[c].zone_size;
        b = build_btf(&sh, &len);
        info.page_struct_size = sh.page_size ? sh.page_size : 64;
        info.zone_size = sh.zone_size ? sh.zone_size : 1536;
        expect_refused(b, len, &info, cases[c].why);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    libbpf_set_print(NULL);     /* libbpf's own complaints are expected here */
    g_test_add_func("/guest-btf/layout-6.12", test_layout_612);
    g_test_add_func("/guest-btf/layout-other-counts", test_layout_other_counts);
    g_test_add_func("/guest-btf/refusals", test_refusals);
    g_test_add_func("/guest-btf/refusals-bounds", test_refusals_bounds);
    return g_test_run();
}
