/*
 * Unit tests of the per-CPU free-list walk (memdedup/introspect/
 * guest-pcp.c) on a synthetic guest (fake-guest.h): one node with three
 * zones, CPUs 0 and 2 of three possible-CPU slots, 14 lists per CPU laid
 * out as Debian's 6.12 (order = index / 3 below 12, THP above), entries
 * linked through page.pcp_list.  Every corruption a hostile or racing
 * guest can produce must drop just its list, with the reason counted;
 * tables that cannot be read fail the walk with nothing marked.  And the
 * walk's cost: layouts reaching outside their structs are refused, CPUs
 * and nodes aliasing one another cost one walk, more CPUs or nodes than
 * the VM has are refused, and the budget stops lists longer than it.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/libbpf.h>

#include "fake-btf.h"
#include "fake-guest.h"
#include "memdedup/introspect/guest-free-content.h"
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
    .pcp_size = 256, .pcp_count = 0, .pcp_lists = 32, .pcp_nr_lists = 14,
    .pcp_list_size = 16,
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

/*
 * The default limits for the fake guest's RAM, but time enough that a
 * busy test machine never runs a scan out of it.
 */
static GuestPcpLimits test_limits(void)
{
    GuestPcpLimits lim;

    guest_pcp_limits_init(&lim, NR_PFNS, 0, 0);
    lim.max_us = 60 * G_USEC_PER_SEC;
    return lim;
}

static bool walk_limited(PcpGuest *t, const GuestPcpLimits *lim,
                         const GuestRamRange *ranges, size_t n, uint64_t *bm,
                         GuestPcpStats *st, const char **why)
{
    memset(bm, 0, NR_PFNS / 8);
    return guest_pcp_scan(&t->view, &t->pv, lim, ranges, n, bm, NR_PFNS, st,
                          why);
}

static bool walk(PcpGuest *t, const GuestRamRange *ranges, size_t n,
                 uint64_t *bm, GuestPcpStats *st, const char **why)
{
    GuestPcpLimits lim = test_limits();

    return walk_limited(t, &lim, ranges, n, bm, st, why);
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
    g_assert_cmpuint(st.lists_aliased, ==, 0);
    g_assert_cmpuint(st.budget_entries_used, ==, 8);
    g_assert_false(st.budget_exhausted);
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
/*
 * Linux 6.15 and later: per-CPU pointers are no longer zero-based.
 * zone->per_cpu_pageset is an address in the kernel image's per-CPU
 * section (Debian 7.3: 0xffffffff83f6ddc0), and __per_cpu_offset[cpu]
 * is the CPU's area minus that section's start, so the sum is taken
 * modulo 2^64: the offsets here are "negative" and every sum wraps.
 */
#define PERCPU_SECTION 0xffffffff83f6c000ULL

static void test_not_zero_based(void)
{
    PcpGuest t;
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    GuestPcpStats st;
    const char *why = NULL;

    pcp_guest_init(&t);
    for (int z = 0; z < 3; z++) {
        put_u64(&t, PGDAT_GPA + z * ZONE_SIZE + 112,
                PERCPU_SECTION + PAGESET(z) - 0x1000);
    }
    for (int cpu = 0; cpu < 3; cpu++) {
        uint64_t offset = KVA(PCPU_GPA + cpu * 0x10000ULL) - PERCPU_SECTION;

        g_assert_cmphex(offset, >, PERCPU_SECTION);     /* it wraps */
        put_u64(&t, OFFSETS_GPA + cpu * 8, offset);
    }
    fill_lists(&t);
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_assert_null(why);
    g_assert_cmpuint(st.cpus, ==, 2);
    g_assert_cmpuint(st.pages, ==, 1 + 1 + 1 + 2 + 8 + 512 + 512 + 1);
    g_assert_cmpuint(st.lists_dropped, ==, 0);
    g_assert_cmpuint(bits_set(bm), ==, st.pages);
    pcp_guest_free(&t);
}

/*
 * Whether the guest zeroes or poisons free pages, from its init_on_free
 * and _page_poisoning_enabled keys: each enabled count 0 or 1; anything
 * else, a key kallsyms does not name, or BTF without struct static_key,
 * leaves it unknown, and then free pages' content matters.
 */
#define KEY_INIT_GPA   (KDATA_GPA + 0x500)
#define KEY_POISON_GPA (KDATA_GPA + 0x520)

static void test_free_content(void)
{
    static const struct {
        int32_t init, poison;
        bool known, zeroes, poisons;
    } cases[] = {
        { 0, 0, true, false, false },
        { 1, 0, true, true, false },
        { 0, 1, true, false, true },
        { 1, 1, true, true, true },
        { 2, 0, false, false, false },
        { 0, -1, false, false, false },
    };
    PcpGuest t;
    GuestFreeContent c;

    pcp_guest_init(&t);
    t.pv.kallsyms_symbols = 1000;
    t.pv.layout.has_static_key = true;
    t.pv.layout.static_key_enabled = 0;
    t.pv.init_on_free_key = KVA(KEY_INIT_GPA);
    t.pv.page_poisoning_key = KVA(KEY_POISON_GPA);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        put_u32(&t, KEY_INIT_GPA, cases[i].init);
        put_u32(&t, KEY_POISON_GPA, cases[i].poison);
        guest_free_content_read(&t.view, &t.pv, &c);
        g_assert_cmpint(c.known, ==, cases[i].known);
        g_assert_cmpint(c.zeroes, ==, cases[i].zeroes);
        g_assert_cmpint(c.poisons, ==, cases[i].poisons);
        g_assert_cmpint(guest_free_content_matters(&c), ==,
                        !cases[i].known || cases[i].zeroes || cases[i].poisons);
        g_assert_true(c.known || c.reason);
    }

    put_u32(&t, KEY_INIT_GPA, 0);
    put_u32(&t, KEY_POISON_GPA, 0);
    t.pv.page_poisoning_key = 0;        /* not in kallsyms */
    guest_free_content_read(&t.view, &t.pv, &c);
    g_assert_false(c.known);
    g_assert_nonnull(strstr(c.reason, "_page_poisoning_enabled"));
    t.pv.page_poisoning_key = KVA(KEY_POISON_GPA);
    t.pv.layout.has_static_key = false;
    guest_free_content_read(&t.view, &t.pv, &c);
    g_assert_false(c.known);
    g_assert_nonnull(strstr(c.reason, "static_key"));
    t.pv.layout.has_static_key = true;
    t.pv.init_on_free_key = KVA(RAM_SIZE + 0x1000);   /* not mapped */
    guest_free_content_read(&t.view, &t.pv, &c);
    g_assert_false(c.known);
    guest_free_content_read(&t.view, NULL, &c);
    g_assert_false(c.known);
    g_assert_true(guest_free_content_matters(&c));
    pcp_guest_free(&t);
}

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

/* Set in @l every member that is not 0 in @patch (all are uint32_t). */
static void patch_layout(GuestPcpLayout *l, const GuestPcpLayout *patch)
{
    uint32_t m[sizeof(*l) / 4], p[sizeof(*l) / 4];

    G_STATIC_ASSERT(sizeof(*l) % 4 == 0);
    memcpy(m, l, sizeof(m));
    memcpy(p, patch, sizeof(p));
    for (size_t i = 0; i < G_N_ELEMENTS(m); i++) {
        m[i] = p[i] ? p[i] : m[i];
    }
    memcpy(l, m, sizeof(m));
}

/*
 * Layouts whose offsets or sizes point outside the structs the walk
 * copies or reads (struct per_cpu_pages of 512 MiB with count at its end
 * crashed the walk once): the scan refuses each before reading a list.
 */
static void test_layout_out_of_bounds(void)
{
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    static const struct {
        GuestPcpLayout patch;   /* the members set in it replace 6.12's */
        const char *why;
    } cases[] = {
        { { .pcp_size = 0x20000000, .pcp_count = 0x1ffffff0 },
          "per_cpu_pages is larger" },
        { { .pcp_count = 0x1ffffff0 }, "count or lists lie outside" },
        { { .pcp_count = 254 }, "count or lists lie outside" },
        { { .pcp_lists = 1024 }, "count or lists lie outside" },
        { { .pcp_nr_lists = 65 }, "count or lists lie outside" },
        { { .pcp_list_size = 8 }, "count or lists lie outside" },
        { { .page_size = 4096 }, "struct page is larger" },
        { { .page_mapcount = 62 }, "member the walk reads lies outside" },
        { { .page_pcp_list = 56 }, "member the walk reads lies outside" },
        { { .zone_size = 0x1000000 }, "struct zone is larger" },
        { { .zone_per_cpu_pageset = 1530 }, "member the walk reads" },
        { { .pgdat_nr_zones = 9 }, "node_zones has no zone or more" },
        { { .migrate_pcptypes = 15 }, "MIGRATE_PCPTYPES" },
        { { .migrate_pcptypes = 2 }, "laid out by order" },
    };

    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        PcpGuest t;
        GuestPcpStats st;
        const char *why = NULL;

        pcp_guest_init(&t);
        fill_lists(&t);
        patch_layout(&t.pv.layout, &cases[c].patch);
        g_assert_false(walk(&t, all_ram, 1, bm, &st, &why));
        g_test_message("case %zu: %s", c, why);
        g_assert_nonnull(why);
        g_assert_nonnull(strstr(why, cases[c].why));
        g_assert_cmpuint(bits_set(bm), ==, 0);
        g_assert_cmpuint(st.budget_entries_used, ==, 0);
        pcp_guest_free(&t);
    }
}

/* BTF that declares such a struct per_cpu_pages is refused already. */
static void test_btf_huge_pcp(void)
{
    Shape sh = shape_612;
    VmcoreInfo info = vmcoreinfo_612();
    GuestPcpLayout l;
    const char *why = NULL;
    g_autofree void *btf = NULL;
    size_t len;

    sh.pcp_size = 0x20000000;
    sh.count_off = 0x1ffffff0;
    btf = build_btf(&sh, &len);
    g_assert_false(guest_btf_pcp_layout(btf, len, &info, &l, &why));
    g_assert_nonnull(strstr(why, "per_cpu_pages is larger than 2 KiB"));
    g_assert_cmpuint(l.pcp_size, ==, 0);
}

/* Tables of @n u64 at @gpa, each @v. */
static void fill_u64(PcpGuest *t, uint64_t gpa, uint32_t n, uint64_t v)
{
    for (uint32_t i = 0; i < n; i++) {
        put_u64(t, gpa + i * 8ULL, v);
    }
}

/*
 * nr_cpu_ids 8192 with every CPU's __per_cpu_offset CPU 0's, and 1024
 * nodes all naming the one pg_data_t: each struct per_cpu_pages is
 * walked once, the rest counted as aliased (this took minutes once).
 */
static void test_aliased(void)
{
    const uint64_t cpus = GUEST_PCP_MAX_CPUS, nodes = GUEST_PCP_MAX_NODES;
    const uint64_t mask = KDATA_GPA + 0x40000, offsets = KDATA_GPA + 0x42000;
    const uint64_t node_data = KDATA_GPA + 0x60000;
    const uint64_t cpu0_pages = 1 + 1 + 1 + 2 + 8 + 512;
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    GuestPcpStats st;
    const char *why = NULL;
    PcpGuest t;

    pcp_guest_init(&t);
    fill_lists(&t);
    put_u32(&t, NR_CPU_IDS_GPA, cpus);
    fill_u64(&t, mask, cpus / 64, ~0ULL);
    fill_u64(&t, offsets, cpus, KVA(PCPU_GPA) - 0x1000);
    put_u32(&t, NR_NODE_IDS_GPA, nodes);
    fill_u64(&t, node_data, nodes, KVA(PGDAT_GPA));
    t.pv.cpu_possible_mask = KVA(mask);
    t.pv.per_cpu_offset = KVA(offsets);
    t.pv.node_data = KVA(node_data);
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_test_message("8192 CPUs x 1024 nodes aliased: %" G_GUINT64_FORMAT
                   " entries in %" G_GUINT64_FORMAT " us", st.entries,
                   st.scan_us);
    g_assert_cmpuint(st.cpus, ==, cpus);
    g_assert_cmpuint(st.zones, ==, 2 * nodes);
    g_assert_cmpuint(st.lists_walked, ==, 2 * 14);     /* CPU 0, 2 zones */
    g_assert_cmpuint(st.lists_dropped, ==, 0);
    g_assert_cmpuint(st.lists_aliased, ==, cpus * 2 * nodes * 14 - 2 * 14);
    g_assert_cmpuint(st.entries, ==, 6);
    g_assert_cmpuint(st.budget_entries_used, ==, 6);
    g_assert_cmpuint(st.pages, ==, cpu0_pages);
    g_assert_cmpuint(bits_set(bm), ==, cpu0_pages);
    pcp_guest_free(&t);

    /* two zones sharing one pageset: the second is not walked */
    pcp_guest_init(&t);
    fill_lists(&t);
    put_u64(&t, PGDAT_GPA + 2 * ZONE_SIZE + 112, PAGESET(1));
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_assert_cmpuint(st.zones, ==, 2);
    g_assert_cmpuint(st.lists_walked, ==, 2 * 14);     /* zone 1, 2 CPUs */
    g_assert_cmpuint(st.lists_aliased, ==, 2 * 14);
    g_assert_cmpuint(st.pages, ==, cpu0_pages);
    pcp_guest_free(&t);

    /*
     * zone 2's pageset 0x20000 above zone 1's: from CPU 0 it lands on CPU
     * 2's lists of zone 1, and from CPU 2 on zeros (lists with no count)
     */
    pcp_guest_init(&t);
    fill_lists(&t);
    put_u64(&t, PGDAT_GPA + 2 * ZONE_SIZE + 112, PAGESET(1) + 0x20000);
    g_assert_true(walk(&t, all_ram, 1, bm, &st, &why));
    g_assert_cmpuint(st.lists_walked, ==, 2 * 14);
    g_assert_cmpuint(st.dropped[GUEST_PCP_DROP_TOO_LONG], ==, 14);
    g_assert_cmpuint(st.lists_aliased, ==, 14);
    pcp_guest_free(&t);
}

/* More CPUs or nodes than the VM has are refused before any walk. */
static void test_limits_refused(void)
{
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    GuestPcpLimits lim = test_limits();
    GuestPcpStats st;
    const char *why = NULL;
    PcpGuest t;

    pcp_guest_init(&t);
    fill_lists(&t);
    lim.max_cpus = 2;           /* nr_cpu_ids is 3 */
    g_assert_false(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    g_assert_cmpstr(why, ==,
                    "the guest's nr_cpu_ids exceeds the CPUs this VM can have");
    g_assert_cmpuint(bits_set(bm), ==, 0);
    lim.max_cpus = 3;
    g_assert_true(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    put_u32(&t, NR_NODE_IDS_GPA, 2);
    put_u64(&t, NODE_DATA_GPA + 8, 0);
    lim.max_nodes = 1;
    g_assert_false(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    g_assert_cmpstr(why, ==,
                    "the guest's nr_node_ids exceeds the NUMA nodes this VM "
                    "has");
    g_assert_cmpuint(bits_set(bm), ==, 0);
    pcp_guest_free(&t);

    /* what the limits allow by default */
    guest_pcp_limits_init(&lim, 1000, 4, 0);
    g_assert_cmpuint(lim.max_cpus, ==, 4);
    g_assert_cmpuint(lim.max_nodes, ==, GUEST_PCP_MAX_NODES);
    g_assert_cmpuint(lim.max_entries, ==, 1000 + GUEST_PCP_TRIES * 4 *
                     GUEST_PCP_MAX_NODES * GUEST_PCP_MAX_NR_ZONES *
                     GUEST_PCP_MAX_NR_LISTS);
    g_assert_cmpuint(lim.max_us, ==, GUEST_PCP_MAX_US);
    guest_pcp_limits_init(&lim, 0, 100000, 1);
    g_assert_cmpuint(lim.max_cpus, ==, GUEST_PCP_MAX_CPUS);
}

/*
 * A list longer than the budget of entries, or of time: the scan stops
 * there and fails; what CPUs walked before it marked stays marked.
 */
static void test_budget(void)
{
    g_autofree uint64_t *bm = g_new0(uint64_t, NR_PFNS / 64);
    const uint64_t cpu0_pages = 1 + 1 + 1 + 2 + 8 + 512;
    GuestPcpLimits lim = test_limits();
    GuestPcpStats st;
    const char *why = NULL;
    PcpGuest t;

    pcp_guest_init(&t);
    fill_lists(&t);
    for (uint64_t pfn = 12000; pfn < 16000; pfn++) {
        list_append(&t, 2, 2, 1, pfn, 1);
    }
    g_assert_true(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    g_assert_cmpuint(st.entries, ==, 8 + 4000);
    g_test_message("%" G_GUINT64_FORMAT " entries in %" G_GUINT64_FORMAT
                   " us", st.entries, st.scan_us);

    lim.max_entries = 1000;
    g_assert_false(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    g_assert_nonnull(strstr(why, "ran out of its budget of list entries"));
    g_assert_true(st.budget_exhausted);
    g_assert_cmpuint(st.budget_entries_used, ==, lim.max_entries);
    /* zone 1 of CPUs 0 and 2, then zone 2 of CPU 0, then the long one */
    g_assert_cmpuint(st.lists_walked, ==, 3 * 14);
    g_assert_cmpuint(st.pages, ==, cpu0_pages);
    g_assert_cmpuint(bits_set(bm), ==, cpu0_pages);

    lim = test_limits();
    lim.max_us = 0;
    g_assert_false(walk_limited(&t, &lim, all_ram, 1, bm, &st, &why));
    g_assert_nonnull(strstr(why, "ran out of its time budget"));
    g_assert_true(st.budget_exhausted);
    g_assert_cmpuint(st.budget_entries_used, <, 8 + 4000);
    pcp_guest_free(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    libbpf_set_print(NULL);     /* libbpf's own complaints are expected here */
    g_test_add_func("/guest-pcp/walk", test_walk);
    g_test_add_func("/guest-pcp/not-zero-based", test_not_zero_based);
    g_test_add_func("/guest-pcp/free-content", test_free_content);
    g_test_add_func("/guest-pcp/corrupt-lists", test_corrupt_lists);
    g_test_add_func("/guest-pcp/too-long", test_too_long);
    g_test_add_func("/guest-pcp/unreadable-tables", test_unreadable_tables);
    g_test_add_func("/guest-pcp/layout-out-of-bounds",
                    test_layout_out_of_bounds);
    g_test_add_func("/guest-pcp/btf-huge-pcp", test_btf_huge_pcp);
    g_test_add_func("/guest-pcp/aliased", test_aliased);
    g_test_add_func("/guest-pcp/limits-refused", test_limits_refused);
    g_test_add_func("/guest-pcp/budget", test_budget);
    return g_test_run();
}
