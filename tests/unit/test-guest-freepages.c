/*
 * Unit tests for the guest page-table walker and the free-page scan, on
 * synthetic guests: a buffer standing for guest RAM, holding hand-built
 * x86-64 page tables (4- and 5-level; 4 KiB, 2 MiB and 1 GiB leaves), a
 * struct page array with buddy heads, and sparse mem_section tables.
 * Hostile layouts (tables or struct pages outside RAM, bad orders,
 * misaligned or overrunning blocks) must fail cleanly or be rejected.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "fake-guest.h"

static const GuestRamRange whole_ram[] = { { 0, RAM_SIZE } };

/*
 * Scan @ranges; with @refusal NULL the scan must succeed, otherwise it
 * must fail with a reason containing @refusal.
 */
static void scan_ranges(FakeGuest *g, const GuestRamRange *ranges,
                        size_t nranges, uint64_t *bm, GuestFreePageStats *st,
                        const char *refusal)
{
    GuestKernelView view;
    const char *why = NULL;
    bool ok;

    memset(st, 0, sizeof(*st));
    memset(bm, 0, NR_PFNS / 8);
    ok = guest_kernel_view_init(&view, &g->info, &g->mem, ranges, nranges,
                                &why) &&
         guest_free_pages_scan(&view, ranges, nranges, bm, NR_PFNS, st, &why);
    if (!refusal) {
        g_assert_null(why);
        g_assert_true(ok);
    } else {
        g_assert_false(ok);
        g_assert_nonnull(why);
        if (!strstr(why, refusal)) {
            g_error("expected a refusal with '%s', got '%s'", refusal, why);
        }
        g_test_message("refused as expected: %s", why);
    }
}

static void scan(FakeGuest *g, uint64_t *bm, GuestFreePageStats *st,
                 const char *refusal)
{
    scan_ranges(g, whole_ram, 1, bm, st, refusal);
}

static void test_translate(void)
{
    FakeGuest g;
    GuestPgtable pt;
    uint64_t gpa, leaf;

    for (int levels = 4; levels <= 5; levels++) {
        fake_guest_init(&g, levels);
        pt = (GuestPgtable) { .mem = &g.mem, .root_gpa = g.root, .levels = levels };
        map_page(&g, 0xffffffff81000000ULL, 0x1000000, 21);
        map_page(&g, DIRECT_MAP, 0, 30);
        map_page(&g, 0xffffc90000001000ULL, 0x3000, 12);

        g_assert_true(guest_pgtable_translate(&pt, 0xffffffff81012345ULL, &gpa, &leaf));
        g_assert_cmphex(gpa, ==, 0x1012345);
        g_assert_cmpuint(leaf, ==, 2 << 20);
        g_assert_true(guest_pgtable_translate(&pt, DIRECT_MAP + 0x2abcdef, &gpa, &leaf));
        g_assert_cmphex(gpa, ==, 0x2abcdef);
        g_assert_cmpuint(leaf, ==, 1 << 30);
        g_assert_true(guest_pgtable_translate(&pt, 0xffffc90000001ff8ULL, &gpa, &leaf));
        g_assert_cmphex(gpa, ==, 0x3ff8);
        g_assert_cmpuint(leaf, ==, 4096);
        /* not mapped */
        g_assert_false(guest_pgtable_translate(&pt, 0xffffc90000002000ULL, &gpa, &leaf));
        /* not canonical */
        g_assert_false(guest_pgtable_translate(&pt, 0x0000800000000000ULL, &gpa, &leaf));
        g_assert_false(guest_pgtable_translate(&pt, 0x8000000000000000ULL, &gpa, &leaf));
        g_free(g.ram);
    }
}

/*
 * The note's top-level table against the one a vCPU uses: a process's
 * copy of the kernel half passes (whatever its PCID, the PTI user bit or
 * the accessed bits), another kernel's tables do not, nor does a CR3
 * outside RAM.
 */
static void test_same_kernel(void)
{
    const uint64_t vaddrs[] = { VMEMMAP, 0xffffffff81000000ULL };
    const char *why = NULL;
    FakeGuest g;
    GuestPgtable pt;
    uint64_t copy, other;

    for (int levels = 4; levels <= 5; levels++) {
        int top = levels == 5 ? 48 : 39;

        fake_guest_init(&g, levels);
        pt = (GuestPgtable) { .mem = &g.mem, .root_gpa = g.root, .levels = levels };
        map_vmemmap(&g, 21);
        map_page(&g, 0xffffffff81000000ULL, 0x1000000, 21);

        /* a process's table: a copy of the kernel half, accessed bits set */
        copy = alloc_table(&g);
        for (int i = 256; i < 512; i++) {
            *pte_at(&g, copy + i * 8) = *pte_at(&g, g.root + i * 8);
        }
        *pte_at(&g, copy + ((VMEMMAP >> top) & 511) * 8) |= 0x20;
        g_assert_true(guest_pgtable_same_kernel(&pt, g.root, vaddrs, 2, &why));
        g_assert_true(guest_pgtable_same_kernel(&pt, copy | 0x123, vaddrs, 2, &why));
        g_assert_true(guest_pgtable_same_kernel(&pt, copy | (1ULL << 12) |
                                                (1ULL << 63), vaddrs, 2, &why));

        /*
         * another kernel: its own tables, though the old ones are intact;
         * 8 KiB aligned, as a kernel with page-table isolation has them
         */
        other = alloc_table(&g);
        if (other & 0x1000) {
            other = alloc_table(&g);
        }
        *pte_at(&g, other + 511 * 8) = *pte_at(&g, g.root + 511 * 8);
        *pte_at(&g, other + ((VMEMMAP >> top) & 511) * 8) = alloc_table(&g) | P;
        g_assert_false(guest_pgtable_same_kernel(&pt, other, vaddrs, 2, &why));
        g_assert_nonnull(strstr(why, "does not describe the running kernel"));
        /* nothing mapped there in either: not a proof */
        g_assert_false(guest_pgtable_same_kernel(&pt, g.root,
                       (uint64_t[]) { levels == 5 ? 0xff11000000000000ULL
                                                  : 0xffffc90000000000ULL },
                       1, &why));
        /* a CR3 outside guest RAM */
        g_assert_false(guest_pgtable_same_kernel(&pt, RAM_SIZE + 0x1000,
                                                 vaddrs, 2, &why));
        g_assert_nonnull(strstr(why, "not in guest RAM"));
        g_free(g.ram);
    }
}

static void test_translate_hostile(void)
{
    FakeGuest g;
    GuestPgtable pt;
    uint64_t gpa, leaf;
    uint64_t *e;

    fake_guest_init(&g, 4);
    pt = (GuestPgtable) { .mem = &g.mem, .root_gpa = g.root, .levels = 4 };
    map_page(&g, 0xffffc90000001000ULL, 0x3000, 12);
    /* Point the top-level entry outside guest RAM. */
    e = pte_at(&g, g.root + ((0xffffc90000001000ULL >> 39) & 511) * 8);
    *e = (RAM_SIZE + 0x10000) | P;
    g_assert_false(guest_pgtable_translate(&pt, 0xffffc90000001000ULL, &gpa, &leaf));
    /* PS at the top level is invalid */
    *e = 0x5000 | P | PS;
    g_assert_false(guest_pgtable_translate(&pt, 0xffffc90000001000ULL, &gpa, &leaf));
    /* Root outside RAM */
    pt.root_gpa = RAM_SIZE;
    g_assert_false(guest_pgtable_translate(&pt, 0xffffc90000001000ULL, &gpa, &leaf));
    pt.levels = 3;
    g_assert_false(guest_pgtable_translate(&pt, 0xffffc90000001000ULL, &gpa, &leaf));
    g_free(g.ram);
}

static void check_blocks(FakeGuest *g)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;

    fill_not_buddy(g);
    set_page(g, 1024, BUDDY_612, 10);   /* 1024 pages from pfn 1024 */
    set_page(g, 4096, BUDDY_612, 3);    /* 8 pages */
    set_page(g, 4104, BUDDY_612, 0);    /* 1 page */
    set_page(g, 5001, BUDDY_612, 2);    /* misaligned: rejected */
    set_page(g, 6000, BUDDY_612, 30);   /* order too big: rejected */
    set_page(g, NR_PFNS - 2, BUDDY_612, 2); /* runs past RAM: rejected */
    scan(g, bm, &st, NULL);

    g_assert_cmpuint(st.pages_scanned, <=, NR_PFNS);
    g_assert_cmpuint(st.free_blocks, ==, 3);
    g_assert_cmpuint(st.free_pages, ==, 1024 + 8 + 1);
    g_assert_cmpuint(st.rejected_blocks, ==, 3);
    g_assert_cmpuint(st.blocks_by_order[10], ==, 1);
    g_assert_cmpuint(st.blocks_by_order[3], ==, 1);
    g_assert_cmpuint(st.blocks_by_order[0], ==, 1);
    for (uint64_t pfn = 0; pfn < NR_PFNS; pfn++) {
        bool want = (pfn >= 1024 && pfn < 2048) || (pfn >= 4096 && pfn <= 4104);

        if (is_set(bm, pfn) != want) {
            g_error("pfn %" G_GUINT64_FORMAT " free=%d, expected %d", pfn,
                    is_set(bm, pfn), want);
        }
    }
}

static void test_scan_leaf_sizes(void)
{
    static const int leaves[] = { 12, 21 };
    FakeGuest g;

    for (int levels = 4; levels <= 5; levels++) {
        for (size_t i = 0; i < G_N_ELEMENTS(leaves); i++) {
            fake_guest_init(&g, levels);
            map_vmemmap(&g, leaves[i]);
            check_blocks(&g);
            g_free(g.ram);
        }
    }
}

/* A block straddling two 4 KiB pieces of the struct page array. */
static void test_block_across_chunks(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    FakeGuest g;

    fake_guest_init(&g, 4);
    map_vmemmap(&g, 12);    /* 64 struct pages per 4 KiB piece */
    fill_not_buddy(&g);
    set_page(&g, 128, BUDDY_612, 7);    /* pfns 128..255 span 2 pieces */
    set_page(&g, 256, BUDDY_612, 0);
    scan(&g, bm, &st, NULL);
    g_assert_cmpuint(st.free_pages, ==, 129);
    g_assert_true(is_set(bm, 255));
    g_assert_true(is_set(bm, 256));
    g_assert_false(is_set(bm, 257));
    g_free(g.ram);
}

static void test_6_1_word_encoding(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    FakeGuest g;

    fake_guest_init(&g, 4);
    map_vmemmap(&g, 21);
    g.info.buddy_mapcount_value = 0xffffff7f;    /* -129 */
    g.info.buddy_type_in_top_byte = false;
    fill_not_buddy(&g);
    set_page(&g, 64, 0xffffff7f, 6);
    set_page(&g, 200, 0xffffff7e, 0);           /* another type bit: no */
    set_page(&g, 300, 0xf0000000, 0);           /* 6.12 marker: no */
    scan(&g, bm, &st, NULL);
    g_assert_cmpuint(st.free_blocks, ==, 1);
    g_assert_cmpuint(st.free_pages, ==, 64);
    g_free(g.ram);
}

/* Root array at gpa 0x200000, section array at 0x201000, via direct map. */
static void setup_mem_section(FakeGuest *g, unsigned section_bits,
                              uint64_t encoded)
{
    uint64_t roots = 0x200000, sections = 0x201000;
    uint64_t root_ptr = DIRECT_MAP + sections;
    uint64_t nr_sections = RAM_SIZE >> section_bits;

    map_page(g, DIRECT_MAP, 0, 30);
    g->info.has_vmemmap = false;
    g->info.vmemmap = 0;
    g->info.mem_section = DIRECT_MAP + roots;
    g->info.mem_section_length = 4096;
    g->info.mem_section_size = 32;
    g->info.section_mem_map_off = 0;
    g->info.section_size_bits = section_bits;
    memcpy(g->ram + roots, &root_ptr, 8);
    for (uint64_t s = 0; s < nr_sections; s++) {
        memcpy(g->ram + sections + s * 32, &encoded, 8);
    }
}

static void test_mem_section_decode(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    GuestKernelView view;
    const char *why;
    FakeGuest g;
    uint64_t bad;

    fake_guest_init(&g, 4);
    map_page(&g, VMEMMAP, MEMMAP_GPA, 21);
    /* present | has mem map | online | early: the flags are cleared */
    setup_mem_section(&g, 24, VMEMMAP | 0xf);
    fill_not_buddy(&g);
    set_page(&g, 2048, BUDDY_612, 9);
    scan(&g, bm, &st, NULL);
    g_assert_cmpuint(st.free_pages, ==, 512);
    g_assert_true(guest_kernel_view_init(&view, &g.info, &g.mem, whole_ram, 1, &why));
    g_assert_cmphex(view.vmemmap, ==, VMEMMAP);

    /* One section disagreeing: refuse. */
    bad = (VMEMMAP + 0x1000000) | 0x3;
    memcpy(g.ram + 0x201000 + 2 * 32, &bad, 8);
    scan(&g, bm, &st, "disagree about vmemmap");

    /* No present section: refuse. */
    setup_mem_section(&g, 24, 0);
    scan(&g, bm, &st, "no present mem_section");

    /* Root pointer outside the direct map's RAM: refuse. */
    setup_mem_section(&g, 24, VMEMMAP | 0x3);
    {
        uint64_t wild = DIRECT_MAP + RAM_SIZE + 0x1000;

        memcpy(g.ram + 0x200000, &wild, 8);
    }
    scan(&g, bm, &st, "no present mem_section");

    /* SYMBOL(vmemmap) present but mem_section disagrees: refuse. */
    setup_mem_section(&g, 24, (VMEMMAP + 0x40000000) | 0x3);
    g.info.has_vmemmap = true;
    g.info.vmemmap = VMEMMAP;
    scan(&g, bm, &st, "SYMBOL(vmemmap) disagrees");
    g_free(g.ram);
}

static void test_hostile_layouts(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    FakeGuest g;

    /* struct pages mapped beyond guest RAM */
    fake_guest_init(&g, 4);
    map_page(&g, VMEMMAP, RAM_SIZE - (1 << 21) + (1 << 21), 21);
    g.info.has_vmemmap = true;
    g.info.vmemmap = VMEMMAP;
    scan(&g, bm, &st, "outside guest RAM");
    g_free(g.ram);

    /* vmemmap not mapped at all */
    fake_guest_init(&g, 4);
    g.info.has_vmemmap = true;
    g.info.vmemmap = VMEMMAP;
    scan(&g, bm, &st, "not mapped by the guest page tables");

    /* init_top_pgt outside RAM (phys_base lies) */
    g.info.phys_base = RAM_SIZE;
    scan(&g, bm, &st, "init_top_pgt is not in guest RAM");
    g.info.phys_base = 0;

    /* unsupported struct page size */
    map_vmemmap(&g, 21);
    g.info.page_struct_size = 56;
    scan(&g, bm, &st, "power of two");
    g_free(g.ram);

    /* every struct page a buddy head of order 0: all free, nothing breaks */
    fake_guest_init(&g, 4);
    map_vmemmap(&g, 21);
    for (uint64_t pfn = 0; pfn < NR_PFNS; pfn++) {
        set_page(&g, pfn, BUDDY_612, 0);
    }
    scan(&g, bm, &st, NULL);
    g_assert_cmpuint(st.free_pages, ==, NR_PFNS);
    g_free(g.ram);
}

/* Holes in the struct page array: what the guest has not onlined. */
static void test_unmapped_leaves(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    GuestPgtable pt;
    FakeGuest g;
    uint64_t gpa, size;

    fake_guest_init(&g, 4);
    pt = (GuestPgtable) { .mem = &g.mem, .root_gpa = g.root, .levels = 4 };
    /* 4 KiB leaves for pfns 0..4095, nothing above: like mem=16M */
    for (uint64_t off = 0; off < 4096 * 64; off += 4096) {
        map_page(&g, VMEMMAP + off, MEMMAP_GPA + off, 12);
    }
    g_assert_cmpint(guest_pgtable_lookup(&pt, VMEMMAP + 4096 * 64, &gpa,
                                         &size), ==, GUEST_PT_HOLE);
    g_assert_cmpuint(size, ==, 4096);
    g_assert_cmpint(guest_pgtable_lookup(&pt, VMEMMAP + (2 << 20), &gpa,
                                         &size), ==, GUEST_PT_HOLE);
    g_assert_cmpuint(size, ==, 2 << 20);
    g_assert_cmpint(guest_pgtable_lookup(&pt, VMEMMAP + 1024 * 64, &gpa,
                                         &size), ==, GUEST_PT_MAPPED);
    g.info.has_vmemmap = true;
    g.info.vmemmap = VMEMMAP;
    fill_not_buddy(&g);
    set_page(&g, 512, BUDDY_612, 9);            /* before the hole */
    set_page(&g, 2048, BUDDY_612, 3);           /* after it */
    set_page(&g, 4088, BUDDY_612, 3);           /* up to the last mapped */
    /* ...and a hole of 4 leaves (256 pfns) inside: an offline block */
    for (uint64_t off = 1024 * 64; off < 1280 * 64; off += 4096) {
        uint64_t vaddr = VMEMMAP + off;
        uint64_t table = g.root;

        for (int shift = 39; shift > 12; shift -= 9) {
            table = *pte_at(&g, table + ((vaddr >> shift) & 511) * 8) &
                    0x000ffffffffff000ULL;
        }
        *pte_at(&g, table + ((vaddr >> 12) & 511) * 8) = 0;
    }
    g_assert_cmpint(guest_pgtable_lookup(&pt, VMEMMAP + 1024 * 64, &gpa,
                                         &size), ==, GUEST_PT_HOLE);
    g_assert_cmpuint(size, ==, 4096);
    scan(&g, bm, &st, NULL);
    g_assert_cmpuint(st.free_pages, ==, 512 + 8 + 8);
    g_assert_cmpuint(st.unmapped_pfns, ==, 256 + (NR_PFNS - 4096));
    g_assert_true(is_set(bm, 512) && is_set(bm, 1023) && !is_set(bm, 1024));
    g_assert_true(is_set(bm, 2055) && is_set(bm, 4095));
    g_free(g.ram);
}

/* Several RAM ranges with holes between them, as below and above 4 GiB. */
static void test_ram_ranges_with_holes(void)
{
    static const GuestRamRange ranges[] = {
        { 0, 16 << 20 }, { 20 << 20, 39 << 20 }, { 48 << 20, RAM_SIZE },
    };
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    FakeGuest g;

    fake_guest_init(&g, 4);
    map_vmemmap(&g, 21);
    fill_not_buddy(&g);
    set_page(&g, 1024, BUDDY_612, 10);          /* in range 0 */
    set_page(&g, 4096, BUDDY_612, 10);          /* 16..20 MiB: a hole */
    set_page(&g, 6144, BUDDY_612, 2);           /* in range 1 */
    set_page(&g, 8192, BUDDY_612, 10);          /* 32..36 MiB: fits */
    set_page(&g, 9216, BUDDY_612, 10);          /* 36..40: runs past 39 */
    set_page(&g, 12288, BUDDY_612, 0);          /* range 2 */
    scan_ranges(&g, ranges, G_N_ELEMENTS(ranges), bm, &st, NULL);
    g_assert_cmpuint(st.free_pages, ==, 1024 + 4 + 1024 + 1);
    g_assert_cmpuint(st.rejected_blocks, ==, 1);
    g_assert_false(is_set(bm, 4096));
    g_assert_true(is_set(bm, 9215) && !is_set(bm, 9216));
    g_assert_cmpuint(st.pages_scanned, <=, NR_PFNS - (13 << 8));
    g_free(g.ram);
}

/* A vmemmap not aligned to SIZE(page) is refused, not walked forever. */
static void test_misaligned_vmemmap(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st;
    FakeGuest g;

    fake_guest_init(&g, 4);
    map_vmemmap(&g, 12);
    g.info.vmemmap = VMEMMAP + 32;
    scan(&g, bm, &st, "not aligned");
    g_free(g.ram);
}

static void test_bitmap_too_small(void)
{
    g_autofree uint64_t *bm = g_malloc0(NR_PFNS / 8);
    GuestFreePageStats st = { 0 };
    GuestKernelView view;
    const char *why;
    FakeGuest g;

    fake_guest_init(&g, 4);
    map_vmemmap(&g, 21);
    g_assert_true(guest_kernel_view_init(&view, &g.info, &g.mem, whole_ram, 1, &why));
    g_assert_false(guest_free_pages_scan(&view, whole_ram, 1, bm, NR_PFNS - 1, &st, &why));
    g_free(g.ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-pgtable/translate", test_translate);
    g_test_add_func("/guest-pgtable/hostile", test_translate_hostile);
    g_test_add_func("/guest-pgtable/same-kernel", test_same_kernel);
    g_test_add_func("/guest-freepages/leaf-sizes", test_scan_leaf_sizes);
    g_test_add_func("/guest-freepages/block-across-chunks", test_block_across_chunks);
    g_test_add_func("/guest-freepages/6.1-word-encoding", test_6_1_word_encoding);
    g_test_add_func("/guest-freepages/mem-section", test_mem_section_decode);
    g_test_add_func("/guest-freepages/hostile", test_hostile_layouts);
    g_test_add_func("/guest-freepages/unmapped-leaves", test_unmapped_leaves);
    g_test_add_func("/guest-freepages/ram-ranges-with-holes",
                    test_ram_ranges_with_holes);
    g_test_add_func("/guest-freepages/misaligned-vmemmap",
                    test_misaligned_vmemmap);
    g_test_add_func("/guest-freepages/bitmap-too-small", test_bitmap_too_small);
    return g_test_run();
}
