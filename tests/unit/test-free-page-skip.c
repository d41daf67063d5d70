/*
 * Unit tests of the free-page planner (migration-ext/free-page-skip.c):
 * which dirty pages it drops, which it keeps (the poison rule), and that
 * its word-at-a-time bitmap walk agrees with a bit-by-bit reference at any
 * alignment.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "migration-ext/free-page-skip.h"

#define PAGE 4096
#define LONG_BITS (sizeof(unsigned long) * CHAR_BIT)

static void set_free(uint64_t *map, uint64_t pfn)
{
    map[pfn / 64] |= UINT64_C(1) << (pfn % 64);
}

static bool dirty_bit(const unsigned long *map, uint64_t bit)
{
    return (map[bit / LONG_BITS] >> (bit % LONG_BITS)) & 1;
}

static void set_dirty(unsigned long *map, uint64_t bit)
{
    map[bit / LONG_BITS] |= 1UL << (bit % LONG_BITS);
}

static void fill_garbage(uint8_t *page, unsigned seed)
{
    for (unsigned i = 0; i < PAGE; i++) {
        page[i] = (uint8_t)(i * 31 + seed * 7 + 1);
    }
}

/* Each kind of page content against free/dirty state. */
static void test_poison_rule(void)
{
    enum { N = 8 };
    uint8_t *ram = g_malloc0(N * PAGE);
    uint64_t free[1] = { 0 };
    unsigned long dirty[1] = { 0 };
    FreePageSkipStats st = { 0 };
    uint64_t cleared;

    fill_garbage(ram + 0 * PAGE, 0);        /* free, dirty, garbage: drop */
    /* page 1: free, dirty, zero (init_on_free): keep */
    memset(ram + 2 * PAGE, 0xaa, PAGE);     /* free, dirty, poison: keep */
    fill_garbage(ram + 3 * PAGE, 3);        /* free, clean: untouched */
    fill_garbage(ram + 4 * PAGE, 4);        /* in use, dirty: keep */
    fill_garbage(ram + 5 * PAGE, 5);        /* free, dirty, garbage: drop */
    ram[5 * PAGE + PAGE - 1] ^= 0xff;
    memset(ram + 6 * PAGE, 0xaa, PAGE);     /* free, dirty, almost poison: drop */
    ram[6 * PAGE + 100] = 0xab;
    for (unsigned i = 0; i < PAGE; i += 4) {  /* free, dirty, 32-bit word */
        memcpy(ram + 7 * PAGE + i, "\xef\xbe\xad\xde", 4);
    }
    for (unsigned p = 0; p < N; p++) {
        if (p != 4) {
            set_free(free, p);
        }
        if (p != 3) {
            set_dirty(dirty, p);
        }
    }

    cleared = free_page_skip_range(free, N, 0, N, ram, PAGE, dirty, 0, false,
                                   true, &st);
    g_assert_cmpuint(cleared, ==, 3);
    g_assert_cmpuint(st.skipped, ==, 3);
    g_assert_cmpuint(st.kept_uniform, ==, 3);
    g_assert_false(dirty_bit(dirty, 0));
    g_assert_true(dirty_bit(dirty, 1));
    g_assert_true(dirty_bit(dirty, 2));
    g_assert_false(dirty_bit(dirty, 3));
    g_assert_true(dirty_bit(dirty, 4));
    g_assert_false(dirty_bit(dirty, 5));
    g_assert_false(dirty_bit(dirty, 6));
    g_assert_true(dirty_bit(dirty, 7));
    g_free(ram);
}

/*
 * First pass into a destination that reads zero: free zero pages are
 * dropped too, non-zero patterns still travel, and a zero first word is
 * all that is read.
 */
static void test_destination_reads_zero(void)
{
    enum { N = 6 };
    uint8_t *ram = g_malloc0(N * PAGE);
    uint64_t free[1] = { (1u << N) - 1 };
    unsigned long dirty[1] = { (1u << N) - 1 };
    unsigned long dirty_again[1] = { (1u << N) - 1 };
    FreePageSkipStats st = { 0 }, later = { 0 };

    /* page 0: zero (never touched, or init_on_free) */
    memset(ram + 1 * PAGE, 0xaa, PAGE);     /* page_poison: keep */
    fill_garbage(ram + 2 * PAGE, 2);        /* garbage: drop */
    fill_garbage(ram + 3 * PAGE, 3);        /* zero first word, garbage */
    memset(ram + 3 * PAGE, 0, 8);
    memset(ram + 4 * PAGE, 0xff, PAGE);     /* all ones: keep */
    /* page 5: zero but for its last byte: drop */
    ram[5 * PAGE + PAGE - 1] = 1;

    g_assert_cmpuint(free_page_skip_range(free, N, 0, N, ram, PAGE, dirty, 0,
                                          true, true, &st), ==, 4);
    g_assert_cmphex(dirty[0], ==, 0x12);
    g_assert_cmpuint(st.kept_uniform, ==, 2);
    /* In a later pass the zero page may be stale there: it is sent. */
    g_assert_cmpuint(free_page_skip_range(free, N, 0, N, ram, PAGE,
                                          dirty_again, 0, false, true, &later),
                     ==, 3);
    g_assert_cmphex(dirty_again[0], ==, 0x13);
    g_free(ram);
}

/*
 * A guest known to neither zero nor poison free pages: every dirty free
 * page is dropped, zero and pattern pages too, and no page is read (the
 * RAM pointer is NULL).
 */
static void test_content_not_read(void)
{
    enum { N = 130 };
    uint64_t free[3] = { 0 };
    unsigned long dirty[3] = { 0 };
    FreePageSkipStats st = { 0 };

    for (unsigned p = 0; p < N; p++) {
        if (p % 3) {
            set_free(free, p);
        }
        if (p % 5) {
            set_dirty(dirty, p);
        }
    }
    /* pages 1..129 of a range starting at frame 1, dirty bits from 0 */
    g_assert_cmpuint(free_page_skip_range(free, N, 1, N - 1, NULL, PAGE,
                                          dirty, 1, false, false, &st), ==,
                     N - 1 - (N - 1) / 3 - (N - 1) / 5 + (N - 1) / 15);
    g_assert_cmpuint(st.kept_uniform, ==, 0);
    for (unsigned p = 1; p < N; p++) {
        g_assert_cmpint(dirty_bit(dirty, p), ==, p % 5 && !(p % 3));
    }
}

/* Frames past the end of the free bitmap are never free. */
static void test_beyond_free_map(void)
{
    uint8_t *ram = g_malloc(4 * PAGE);
    uint64_t free[1] = { UINT64_MAX };
    unsigned long dirty[1] = { 0xf };
    FreePageSkipStats st = { 0 };

    for (unsigned p = 0; p < 4; p++) {
        fill_garbage(ram + p * PAGE, p);
    }
    /* The range is frames 62..65 and the map knows only 64 frames. */
    g_assert_cmpuint(free_page_skip_range(free, 64, 62, 4, ram, PAGE,
                                          dirty, 0, false, true, &st), ==, 2);
    g_assert_cmphex(dirty[0], ==, 0xc);
    /* nothing both free and dirty is left */
    g_assert_false(free_page_skip_has_candidates(free, 64, 62, 4, dirty, 0));
    g_assert_true(free_page_skip_has_candidates(free, 64, 62, 3, dirty, 1));
    g_free(ram);
}

/* Random maps at odd offsets: compare with a bit-by-bit reference. */
static void test_matches_reference(void)
{
    enum { FRAMES = 700, RANGE = 333 };
    uint8_t *ram = g_malloc(RANGE * PAGE);
    uint64_t free[(FRAMES + 63) / 64];
    unsigned long dirty[(RANGE + 200) / LONG_BITS + 1];
    unsigned long expect[G_N_ELEMENTS(dirty)];

    for (unsigned p = 0; p < RANGE; p++) {
        if (p % 5 == 0) {
            memset(ram + p * PAGE, p % 10 ? 0 : 0xaa, PAGE);
        } else {
            fill_garbage(ram + p * PAGE, p);
        }
    }
    for (unsigned round = 0; round < 200; round++) {
        uint64_t first_pfn = g_test_rand_int_range(0, FRAMES);
        uint64_t dirty_first = g_test_rand_int_range(0, 190);
        FreePageSkipStats st = { 0 }, ref = { 0 };

        for (unsigned w = 0; w < G_N_ELEMENTS(free); w++) {
            free[w] = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
        }
        for (unsigned w = 0; w < G_N_ELEMENTS(dirty); w++) {
            dirty[w] = ((unsigned long)g_test_rand_int() << 31) ^
                       g_test_rand_int();
        }
        memcpy(expect, dirty, sizeof(dirty));
        for (uint64_t p = 0; p < RANGE; p++) {
            uint64_t pfn = first_pfn + p, bit = dirty_first + p;
            bool is_free = pfn < FRAMES && ((free[pfn / 64] >> (pfn % 64)) & 1);
            bool uniform = p % 5 == 0;

            if (!is_free || !dirty_bit(expect, bit)) {
                continue;
            }
            if (uniform) {
                ref.kept_uniform++;
            } else {
                expect[bit / LONG_BITS] &= ~(1UL << (bit % LONG_BITS));
                ref.skipped++;
            }
        }
        g_assert(free_page_skip_has_candidates(free, FRAMES, first_pfn, RANGE,
                                               dirty, dirty_first) ==
                 (ref.skipped + ref.kept_uniform > 0));
        free_page_skip_range(free, FRAMES, first_pfn, RANGE, ram, PAGE,
                             dirty, dirty_first, false, true, &st);
        /* after the drop, only the uniform pages are left as candidates */
        g_assert(free_page_skip_has_candidates(free, FRAMES, first_pfn, RANGE,
                                               dirty, dirty_first) ==
                 (ref.kept_uniform > 0));
        g_assert_cmpmem(dirty, sizeof(dirty), expect, sizeof(expect));
        g_assert_cmpuint(st.skipped, ==, ref.skipped);
        g_assert_cmpuint(st.kept_uniform, ==, ref.kept_uniform);
    }
    g_free(ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/free-page-skip/poison-rule", test_poison_rule);
    g_test_add_func("/free-page-skip/destination-reads-zero",
                    test_destination_reads_zero);
    g_test_add_func("/free-page-skip/content-not-read", test_content_not_read);
    g_test_add_func("/free-page-skip/beyond-free-map", test_beyond_free_map);
    g_test_add_func("/free-page-skip/matches-reference",
                    test_matches_reference);
    return g_test_run();
}
