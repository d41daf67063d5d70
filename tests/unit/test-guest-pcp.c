/*
 * Unit tests of the per-CPU free-list walk (memdedup/introspect/
 * guest-pcp.c) on a synthetic guest (fake-guest.h): one node with three
 * zones, CPUs 0 and 2 of three possible-CPU slots, 14 lists per CPU laid
 * out as Debian's 6.12 (order = index / 3 below 12, THP above), entries
 * linked through page.pcp_list.  Every corruption a hostile or racing
 * guest can produce must drop just its list, with the reason counted;
 * tables that cannot be read fail the walk with nothing marked.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fake-guest.h"
#include "memdedup/introspect/guest-pcp.h"

/* Kernel data, mapped at KERNEL_MAP + gpa by one 2 MiB leaf */
#define KDATA_GPA       0x200000ULL
#define KVA(gpa)        (KERNEL_MAP + (gpa))
#define NR_CPU_IDS_GPA  (KDATA_GPA + 0x000)
#define POSSIBLE_GPA    (KDATA_GPA + 0x100)
#define OFFSETS_GPA     (KDATA_GPA + 0x200)
#define NODE_DATA_GPA   (KDATA_GPA + 0x300)
#define NR_NODE_IDS_GPA (KDATA_GPA + 0x400)
#define PGDAT_GPA       (KDATA_GPA + 0x10000)
#define PCPU_GPA        (KDATA_GPA + 0x100000)  /* CPU c's area: + c * 64K */
#define PAGESET(z)      (0x1000ULL + (z) * 0x400)
#define ZONE_SIZE       1536

static const GuestPcpLayout layout_612 = {
    .zone_size = ZONE_SIZE, .zone_free_area = 256,
    .zone_per_cpu_pageset = 112, .zone_start_pfn = 152,
    .zone_spanned_pages = 160, .zone_present_pages = 168,
    .pgdat_node_zones = 0, .pgdat_nr_zones = 3,
    .pcp_count = 0, .pcp_lists = 32, .pcp_nr_lists = 14, .pcp_list_size = 16,
    .page_size = 64, .page_pcp_list = 8, .page_lru = 8, .page_refcount = 52,
    .page_mapcount = 48, .migrate_pcptypes = 3,
};

typedef struct PcpGuest {
    FakeGuest g;
    GuestPcpView pv;
    GuestKernelView view;
} PcpGuest;

static void *kdata(PcpGuest *t, uint64_t gpa)
{
    return t->g.ram + gpa;
}

static void put_u64(PcpGuest *t, uint64_t gpa, uint64_t v)
{
    memcpy(kdata(t, gpa), &v, 8);
}

static void put_u32(PcpGuest *t, uint64_t gpa, uint32_t v)
{
    memcpy(kdata(t, gpa), &v, 4);
}

static uint64_t pcp_gpa(int cpu, int zone)
{
    return PCPU_GPA + cpu * 0x10000ULL + PAGESET(zone) - 0x1000;
}

static uint64_t page_gpa(uint64_t pfn)
{
    return MEMMAP_GPA + pfn * 64;
}

static uint64_t page_list_va(uint64_t pfn)
{
    return VMEMMAP + pfn * 64 + 8;
}

static void set_zone(PcpGuest *t, int z, uint64_t start, uint64_t spanned,
                     uint64_t present)
{
    uint64_t zone = PGDAT_GPA + z * ZONE_SIZE;

    put_u64(t, zone + 152, start);
    put_u64(t, zone + 160, spanned);
    put_u64(t, zone + 168, present);
    put_u64(t, zone + 112, PAGESET(z));
}

/* Empty lists for every CPU and zone: each head points at itself. */
static void init_lists(PcpGuest *t, int cpu, int z)
{
    uint64_t pcp = pcp_gpa(cpu, z);

    put_u32(t, pcp, 0);
    for (int i = 0; i < 14; i++) {
        put_u64(t, pcp + 32 + i * 16, KVA(pcp + 32 + i * 16));
        put_u64(t, pcp + 32 + i * 16 + 8, KVA(pcp + 32 + i * 16));
    }
}

/* Append @pfn at the tail of list @index, as list_add_tail() does. */
static void list_append(PcpGuest *t, int cpu, int z, int index, uint64_t pfn,
                        uint32_t npages)
{
    uint64_t pcp = pcp_gpa(cpu, z);
    uint64_t head = pcp + 32 + index * 16, last;
    int32_t count;

    memcpy(&last, kdata(t, head + 8), 8);
    put_u64(t, page_gpa(pfn) + 8, KVA(head));       /* page->next */
    put_u64(t, page_gpa(pfn) + 16, last);           /* page->prev */
    if (last == KVA(head)) {
        put_u64(t, head, page_list_va(pfn));
    } else {
        put_u64(t, page_gpa((last - VMEMMAP - 8) / 64) + 8, page_list_va(pfn));
    }
    put_u64(t, head + 8, page_list_va(pfn));
    put_u32(t, page_gpa(pfn) + 52, 0);              /* _refcount */
    memcpy(&count, kdata(t, pcp), 4);
    put_u32(t, pcp, count + npages);
}

static void pcp_guest_init(PcpGuest *t)
{
    const char *why = NULL;
    GuestRamRange ram = { 0, RAM_SIZE };

    fake_guest_init(&t->g, 4);
    map_vmemmap(&t->g, 21);
    map_page(&t->g, KVA(KDATA_GPA), KDATA_GPA, 21);
    fill_not_buddy(&t->g);
    for (uint64_t pfn = 0; pfn < NR_PFNS; pfn++) {
        put_u32(t, page_gpa(pfn) + 52, 1);          /* in use */
    }
    put_u32(t, NR_CPU_IDS_GPA, 3);
    put_u64(t, POSSIBLE_GPA, 0x5);                  /* CPUs 0 and 2 */
    for (int cpu = 0; cpu < 3; cpu++) {
        put_u64(t, OFFSETS_GPA + cpu * 8, KVA(PCPU_GPA + cpu * 0x10000ULL) - 0x1000);
    }
    put_u32(t, NR_NODE_IDS_GPA, 1);
    put_u64(t, NODE_DATA_GPA, KVA(PGDAT_GPA));
    set_zone(t, 0, 0, 4096, 0);                     /* not populated */
    set_zone(t, 1, 0, 8192, 8000);
    set_zone(t, 2, 8192, 8192, 8192);
    for (int z = 0; z < 3; z++) {
        init_lists(t, 0, z);
        init_lists(t, 2, z);
    }
    t->pv = (GuestPcpView) {
        .layout = layout_612,
        .per_cpu_offset = KVA(OFFSETS_GPA),
        .cpu_possible_mask = KVA(POSSIBLE_GPA),
        .nr_cpu_ids = KVA(NR_CPU_IDS_GPA),
        .node_data = KVA(NODE_DATA_GPA),
        .nr_node_ids = KVA(NR_NODE_IDS_GPA),
    };
    g_assert_true(guest_kernel_view_init(&t->view, &t->g.info, &t->g.mem,
                                         &ram, 1, &why));
}

static void pcp_guest_free(PcpGuest *t)
{
    g_free(t->g.ram);
}

static bool walk(PcpGuest *t, const GuestRamRange *ranges, size_t n,
                 uint64_t *bm, GuestPcpStats *st, const char **why)
{
    memset(bm, 0, NR_PFNS / 8);
    return guest_pcp_scan(&t->view, &t->pv, ranges, n, bm, NR_PFNS, st, why);
}

static const GuestRamRange all_ram[] = { { 0, RAM_SIZE } };

static uint64_t bits_set(const uint64_t *bm)
{
    uint64_t n = 0;

    for (uint64_t w = 0; w < NR_PFNS / 64; w++) {
        n += __builtin_popcountll(bm[w]);
    }
    return n;
}

/* The lists of a quiet guest, every order and both THP lists. */
static void fill_lists(PcpGuest *t)
{
    list_append(t, 0, 1, 0, 100, 1);        /* order 0, unmovable */
    list_append(t, 0, 1, 0, 101, 1);
    list_append(t, 0, 1, 1, 200, 1);        /* order 0, movable */
    list_append(t, 0, 1, 3, 302, 2);        /* order 1 */
    list_append(t, 0, 1, 11, 1024, 8);      /* order 3, reclaimable */
    list_append(t, 0, 1, 12, 4096, 512);    /* THP */
    list_append(t, 2, 2, 13, 8704, 512);    /* THP, movable, CPU 2 */
    list_append(t, 2, 2, 0, 10000, 1);
}

static void test_walk(void)
{
    PcpGuest t;
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    GuestPcpStats st;
    const char *why = NULL;

    pcp_guest_init(&t);
    fill_lists(&t);
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_assert_null(why);
    g_assert_cmpuint(st.cpus, ==, 2);
    g_assert_cmpuint(st.zones, ==, 2);
    g_assert_cmpuint(st.pages, ==, 1 + 1 + 1 + 2 + 8 + 512 + 512 + 1);
    g_assert_cmpuint(st.entries, ==, 8);
    g_assert_cmpuint(st.lists_walked, ==, 2 * 2 * 14);
    g_assert_cmpuint(st.lists_dropped, ==, 0);
    g_assert_cmpuint(st.retries, ==, 0);
    g_assert_cmpuint(bits_set(bm), ==, st.pages);
    g_assert_true(is_set(bm, 100) && is_set(bm, 101) && is_set(bm, 200));
    g_assert_true(is_set(bm, 302) && is_set(bm, 303) && !is_set(bm, 304));
    g_assert_true(is_set(bm, 1031) && !is_set(bm, 1032));
    g_assert_true(is_set(bm, 4096) && is_set(bm, 4607) && !is_set(bm, 4608));
    g_assert_true(is_set(bm, 8704) && is_set(bm, 10000));

    /* only pages inside the ranges asked for are marked; all are counted */
    {
        GuestRamRange low = { 0, 8192ULL << 12 };

        g_assert_true(walk(&t, &low, 1, bm, &st, &why));
        g_assert_cmpuint(st.pages, ==, 1 + 1 + 1 + 2 + 8 + 512 + 512 + 1);
        g_assert_cmpuint(bits_set(bm), ==, 1 + 1 + 1 + 2 + 8 + 512);
        g_assert_false(is_set(bm, 10000));
    }
    pcp_guest_free(&t);
}

typedef void (*Corrupt)(PcpGuest *t);

static void corrupt_prev(PcpGuest *t)
{
    put_u64(t, page_gpa(101) + 16, page_list_va(555));
}

static void corrupt_poison(PcpGuest *t)
{
    put_u64(t, page_gpa(101) + 8, 0xdead000000000100ULL);
}

static void corrupt_not_a_page(PcpGuest *t)
{
    put_u64(t, page_gpa(100) + 8, page_list_va(101) + 4);
}

static void corrupt_unmapped(PcpGuest *t)
{
    put_u64(t, page_gpa(100) + 8, page_list_va(NR_PFNS + 100000));
}

static void corrupt_refcount(PcpGuest *t)
{
    put_u32(t, page_gpa(101) + 52, 1);
}

static void corrupt_buddy(PcpGuest *t)
{
    put_u32(t, page_gpa(101) + 48, BUDDY_612);
}

static void corrupt_misaligned(PcpGuest *t)
{
    list_append(t, 0, 1, 3, 401, 2);        /* order 1 at an odd pfn */
}

static void corrupt_outside_zone(PcpGuest *t)
{
    list_append(t, 0, 1, 0, 8300, 1);       /* zone 1 ends at 8192 */
}

static void corrupt_loop(PcpGuest *t)
{
    /* 101 -> 100 again: the walk never comes back to its head */
    put_u64(t, page_gpa(101) + 8, page_list_va(100));
    put_u64(t, page_gpa(100) + 16, page_list_va(101));
}

static void corrupt_head_prev(PcpGuest *t)
{
    put_u64(t, pcp_gpa(0, 1) + 32 + 8, page_list_va(100));
}

/*
 * A count the lists do not add up to, with every list valid: what a CPU
 * caught between updating the lists and count looks like.  Retried, then
 * CPU 2's two lists with entries are dropped as unstable.
 */
static void corrupt_count(PcpGuest *t)
{
    put_u32(t, pcp_gpa(2, 2), 600);
}

/* CPU 2's per-CPU area unmapped: its lists go, not the scan. */
static void corrupt_cpu_area(PcpGuest *t)
{
    put_u64(t, OFFSETS_GPA + 2 * 8, 0xffffc90000000000ULL);
}

static const struct {
    const char *name;
    Corrupt corrupt;
    GuestPcpDrop drop;
    uint64_t lists;         /* dropped */
    uint64_t pages_lost;
    uint64_t retries;
} corruptions[] = {
    { "prev", corrupt_prev, GUEST_PCP_DROP_LINK, 1, 2, 0 },
    { "poison", corrupt_poison, GUEST_PCP_DROP_POISON, 1, 2, 0 },
    { "not-a-page", corrupt_not_a_page, GUEST_PCP_DROP_NOT_A_PAGE, 1, 2, 0 },
    { "unmapped", corrupt_unmapped, GUEST_PCP_DROP_NOT_A_PAGE, 1, 2, 0 },
    { "refcount", corrupt_refcount, GUEST_PCP_DROP_IN_USE, 1, 2, 0 },
    { "buddy", corrupt_buddy, GUEST_PCP_DROP_IN_USE, 1, 2, 0 },
    { "misaligned", corrupt_misaligned, GUEST_PCP_DROP_PFN, 1, 2, 0 },
    { "outside-zone", corrupt_outside_zone, GUEST_PCP_DROP_PFN, 1, 2, 0 },
    { "loop", corrupt_loop, GUEST_PCP_DROP_LINK, 1, 2, 0 },
    { "head-prev", corrupt_head_prev, GUEST_PCP_DROP_LINK, 1, 2, 0 },
    { "count", corrupt_count, GUEST_PCP_DROP_UNSTABLE, 2, 513,
      GUEST_PCP_TRIES - 1 },
    { "cpu-area", corrupt_cpu_area, GUEST_PCP_DROP_NOT_A_PAGE, 2 * 14, 513, 0 },
};

/* Each corruption drops its lists, keeps every other, never fails. */
static void test_corrupt_lists(void)
{
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    const uint64_t all = 1 + 1 + 1 + 2 + 8 + 512 + 512 + 1;

    for (size_t c = 0; c < G_N_ELEMENTS(corruptions); c++) {
        PcpGuest t;
        GuestPcpStats st;
        const char *why = NULL;

        pcp_guest_init(&t);
        fill_lists(&t);
        corruptions[c].corrupt(&t);
        g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
        g_test_message("%s: %" G_GUINT64_FORMAT " pages, dropped %s",
                       corruptions[c].name, st.pages,
                       guest_pcp_drop_name(corruptions[c].drop));
        g_assert_cmpuint(st.lists_dropped, ==, corruptions[c].lists);
        g_assert_cmpuint(st.dropped[corruptions[c].drop], ==,
                         corruptions[c].lists);
        g_assert_cmpuint(st.retries, ==, corruptions[c].retries);
        g_assert_cmpuint(st.pages, ==, all - corruptions[c].pages_lost);
        g_assert_cmpuint(bits_set(bm), ==, st.pages);
        g_assert_false(is_set(bm, 8300) || is_set(bm, 401) || is_set(bm, 555));
        pcp_guest_free(&t);
    }
}

/* More entries than count: the list is dropped as too long. */
static void test_too_long(void)
{
    PcpGuest t;
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    GuestPcpStats st;
    const char *why = NULL;

    pcp_guest_init(&t);
    list_append(&t, 2, 1, 0, 10, 1);
    list_append(&t, 2, 1, 0, 11, 1);
    list_append(&t, 2, 1, 0, 12, 1);
    put_u32(&t, pcp_gpa(2, 1), 2);
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_assert_cmpuint(st.dropped[GUEST_PCP_DROP_TOO_LONG], ==, 1);
    g_assert_cmpuint(st.pages, ==, 0);
    g_assert_cmpuint(bits_set(bm), ==, 0);
    pcp_guest_free(&t);
}

/* Tables the walk cannot start from fail it, with nothing marked. */
static void test_unreadable_tables(void)
{
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    static const struct {
        uint64_t gpa;
        uint64_t value;
        bool u32;
        const char *why;
    } cases[] = {
        { NR_CPU_IDS_GPA, 0, true, "nr_cpu_ids" },
        { NR_CPU_IDS_GPA, 100000, true, "nr_cpu_ids" },
        { NR_NODE_IDS_GPA, 5000, true, "nr_node_ids" },
        { NODE_DATA_GPA, 0xffffc90000000000ULL, false, "zone of the guest's" },
    };

    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        PcpGuest t;
        GuestPcpStats st;
        const char *why = NULL;

        pcp_guest_init(&t);
        fill_lists(&t);
        if (cases[c].u32) {
            put_u32(&t, cases[c].gpa, cases[c].value);
        } else {
            put_u64(&t, cases[c].gpa, cases[c].value);
        }
        g_assert_false(walk(&t, all_ram, 1, bm, &st, &why));
        g_assert_nonnull(why);
        g_assert_nonnull(strstr(why, cases[c].why));
        g_assert_cmpuint(bits_set(bm), ==, 0);
        pcp_guest_free(&t);
    }
    /* the per-CPU offsets table itself unmapped */
    {
        PcpGuest t;
        GuestPcpStats st;
        const char *why = NULL;

        pcp_guest_init(&t);
        t.pv.per_cpu_offset = 0xffffc90000000000ULL;
        g_assert_false(walk(&t, all_ram, 1, bm, &st, &why));
        g_assert_nonnull(strstr(why, "per-CPU offsets"));
        pcp_guest_free(&t);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-pcp/walk", test_walk);
    g_test_add_func("/guest-pcp/corrupt-lists", test_corrupt_lists);
    g_test_add_func("/guest-pcp/too-long", test_too_long);
    g_test_add_func("/guest-pcp/unreadable-tables", test_unreadable_tables);
    return g_test_run();
}
