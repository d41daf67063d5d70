/*
 * Unit tests of the working-set estimator (migration-ext/working-set.c):
 * windowed working sets and the sampled-LRU miss-rate curve, on synthetic
 * access traces whose answers are known, and against a brute-force LRU.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <math.h>

#include "migration-ext/working-set.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define PAGE 4096
#define TOLERANCE 0.000000000001

static void test_init_refuses(void)
{
    WorkingSet ws;
    const char *why = NULL;

    g_assert_false(working_set_init(&ws, MIB, 11, 1, 8, &why));
    g_assert_nonnull(strstr(why, "page"));
    g_assert_false(working_set_init(&ws, 0, 12, 1, 8, &why));
    g_assert_nonnull(strstr(why, "size"));
    g_assert_false(working_set_init(&ws, MIB, 12, 0, 8, &why));
    g_assert_nonnull(strstr(why, "sample rate"));
    g_assert_false(working_set_init(&ws, MIB, 12, 1.5, 8, &why));
    g_assert_false(working_set_init(&ws, MIB, 12, 0.0 / 0.0, 8, &why));
    g_assert_false(working_set_init(&ws, MIB, 12, 1, 0, &why));
    g_assert_nonnull(strstr(why, "periods"));
    g_assert_false(working_set_init(&ws, MIB, 12, 1,
                                    WORKING_SET_MAX_CURVE_PERIODS + 1, &why));
}

static void touch(WorkingSet *ws, uint64_t first, uint64_t pages)
{
    for (uint64_t p = first; p < first + pages; p++) {
        working_set_note(ws, p);
    }
}

/* Exact counts over windows; a window longer than what was seen says so. */
static void test_windows(void)
{
    WorkingSet ws;
    const char *why;
    bool complete;

    g_assert_true(working_set_init(&ws, 64 * MIB, 12, 1, 8, &why));
    g_assert_cmpuint(working_set_bytes(&ws, 1, &complete), ==, 0);
    g_assert_false(complete);
    touch(&ws, 0, 100);
    touch(&ws, 50, 100);        /* overlaps: 150 distinct pages */
    working_set_end_period(&ws);
    g_assert_cmpuint(working_set_bytes(&ws, 1, &complete), ==, 150 * PAGE);
    g_assert_true(complete);
    touch(&ws, 1000, 10);
    working_set_end_period(&ws);
    g_assert_cmpuint(working_set_bytes(&ws, 1, NULL), ==, 10 * PAGE);
    g_assert_cmpuint(working_set_bytes(&ws, 2, NULL), ==, 160 * PAGE);
    g_assert_cmpuint(working_set_bytes(&ws, 3, &complete), ==, 160 * PAGE);
    g_assert_false(complete);
    /* past the end: ignored */
    working_set_note(&ws, ws.nr_pages);
    working_set_note(&ws, UINT64_MAX);
    working_set_end_period(&ws);
    g_assert_cmpuint(working_set_bytes(&ws, 1, NULL), ==, 0);
    g_assert_cmpuint(working_set_bytes(&ws, 0, NULL), ==, 0);
    working_set_destroy(&ws);
}

/*
 * The reuse distance of each reference, by hand, with every page traced:
 * periods {A}, {B}, {C}, {A}: A's second reference has distance 3 (B, C
 * and A itself), so a memory of 3 pages hits it and one of 2 misses it.
 */
static void test_distances_by_hand(void)
{
    WorkingSet ws;
    const char *why;
    uint64_t sizes[] = { 0, 2 * PAGE, 3 * PAGE, 64 * PAGE };
    double miss[4];

    g_assert_true(working_set_init(&ws, 64 * PAGE, 12, 1, 16, &why));
    g_assert_cmpuint(ws.nr_samples, ==, 64);
    working_set_note(&ws, 0);
    working_set_end_period(&ws);
    working_set_note(&ws, 1);
    working_set_end_period(&ws);
    working_set_note(&ws, 2);
    working_set_end_period(&ws);
    working_set_note(&ws, 0);
    working_set_end_period(&ws);
    g_assert_cmpfloat(working_set_curve(&ws, sizes, 4, miss), ==, 4);
    g_assert_cmpfloat(miss[0], ==, 1);
    g_assert_cmpfloat(miss[1], ==, 1);
    g_assert_cmpfloat(miss[2], ==, 0.75);   /* 3 first references */
    g_assert_cmpfloat(miss[3], ==, 0.75);
    g_assert_cmpuint(working_set_knee(&ws, 1), ==, 3 * PAGE);

    /* a period is one LRU step: {A, B} then {A, B} gives 2 and 2 */
    working_set_destroy(&ws);
    g_assert_true(working_set_init(&ws, 64 * PAGE, 12, 1, 16, &why));
    for (int i = 0; i < 2; i++) {
        working_set_note(&ws, 7);
        working_set_note(&ws, 9);
        working_set_note(&ws, 7);       /* twice in a period: once */
        working_set_end_period(&ws);
    }
    sizes[1] = 1 * PAGE;
    sizes[2] = 2 * PAGE;
    working_set_curve(&ws, sizes, 4, miss);
    g_assert_cmpfloat(miss[1], ==, 1);
    g_assert_cmpfloat(miss[2], ==, 0.5);
    working_set_destroy(&ws);
}

/* Old periods fall out of the curve's ring. */
static void test_curve_window(void)
{
    WorkingSet ws;
    const char *why;
    uint64_t size = 0;
    double miss;

    g_assert_true(working_set_init(&ws, 64 * PAGE, 12, 1, 4, &why));
    working_set_note(&ws, 3);
    working_set_end_period(&ws);
    g_assert_cmpfloat(working_set_curve(&ws, &size, 1, &miss), ==, 1);
    for (int i = 0; i < 4; i++) {
        working_set_end_period(&ws);
    }
    g_assert_cmpfloat(working_set_curve(&ws, &size, 1, &miss), ==, 0);
    g_assert_cmpfloat(miss, ==, 0);
    g_assert_cmpuint(working_set_knee(&ws, 0.95), ==, 0);
    /* the page's next reference still knows its last one */
    working_set_note(&ws, 3);
    working_set_end_period(&ws);
    size = PAGE;
    working_set_curve(&ws, &size, 1, &miss);
    g_assert_cmpfloat(miss, ==, 0);
    working_set_destroy(&ws);
}

/*
 * Brute force: an LRU stack of every page, moved to the front once per
 * period in which it is referenced, the period's pages in any order.
 * Distance = the number of distinct pages referenced since the previous
 * reference, this period's included.  Random traces, every page traced.
 */
static void test_against_brute_force(void)
{
    const uint64_t pages = 200;
    GRand *rand = g_rand_new_with_seed(7);
    WorkingSet ws;
    const char *why;
    uint32_t last[200] = { 0 };
    GArray *expected = g_array_new(false, false, sizeof(uint32_t));

    g_assert_true(working_set_init(&ws, pages * PAGE, 12, 1, 64, &why));
    for (uint32_t period = 1; period <= 60; period++) {
        bool now[200] = { false };
        int n = g_rand_int_range(rand, 0, 40);

        for (int i = 0; i < n; i++) {
            /* skewed: low pages often, high ones rarely */
            uint64_t bound = g_rand_int_range(rand, 1, pages);
            uint64_t p = g_rand_int_range(rand, 0, 1 + bound);

            now[p] = true;
            working_set_note(&ws, p);
        }
        for (uint64_t p = 0; p < pages; p++) {
            uint32_t d = 0;

            if (!now[p]) {
                continue;
            }
            if (last[p]) {
                for (uint64_t q = 0; q < pages; q++) {
                    d += now[q] || last[q] > last[p];
                }
            }
            g_array_append_val(expected, d);
        }
        for (uint64_t p = 0; p < pages; p++) {
            if (now[p]) {
                last[p] = period;
            }
        }
        working_set_end_period(&ws);
    }
    /* compare the curves at every size: same distances, same curve */
    for (uint64_t size = 0; size <= pages; size++) {
        uint64_t bytes = size * PAGE;
        uint32_t missed = 0;
        double miss;

        for (guint i = 0; i < expected->len; i++) {
            uint32_t d = g_array_index(expected, uint32_t, i);

            missed += d == 0 || d > size;
        }
        g_assert_cmpfloat(working_set_curve(&ws, &bytes, 1, &miss), ==,
                          expected->len);
        g_assert_cmpfloat(fabs(miss - (double)missed / expected->len), <,
                          TOLERANCE);
    }
    g_array_free(expected, true);
    g_rand_free(rand);
    working_set_destroy(&ws);
}

/*
 * A guest that sweeps W of 1 GiB every period, then changes W: the
 * one-period working set is exact at once, and the sampled curve's knee
 * lies within 1% of W (1 in 16 pages traced) once the curve's window has
 * only the new W in it.
 */
static void test_sweep_knee(void)
{
    const uint64_t ws_sizes[] = { 64 * MIB, 256 * MIB, 512 * MIB, 64 * MIB };
    WorkingSet ws;
    const char *why;

    g_assert_true(working_set_init(&ws, GIB, 12, 1.0 / 16, 8, &why));
    g_assert_cmpfloat(fabs(ws.sample_rate - 1.0 / 16), <, 0.002);
    for (size_t i = 0; i < G_N_ELEMENTS(ws_sizes); i++) {
        uint64_t w = ws_sizes[i], first = (GIB - w) / PAGE / 3;
        uint64_t sizes[2] = { w * 9 / 10, w * 11 / 10 };
        double miss[2];
        uint64_t knee;

        for (int period = 0; period < 10; period++) {
            touch(&ws, first, w / PAGE);
            working_set_end_period(&ws);
            g_assert_cmpuint(working_set_bytes(&ws, 1, NULL), ==, w);
        }
        /* scaled by the sample's share of what was referenced: exact */
        knee = working_set_knee(&ws, 0.95);
        g_assert_cmpuint(knee, >=, w * 99 / 100);
        g_assert_cmpuint(knee, <=, w * 101 / 100);
        working_set_curve(&ws, sizes, 2, miss);
        g_assert_cmpfloat(miss[0], >, 0.95);
        g_assert_cmpfloat(miss[1], <, 0.05);
    }
    working_set_destroy(&ws);
}

/* A hot set every period and a cold scan once: two steps in the curve. */
static void test_two_steps(void)
{
    WorkingSet ws;
    const char *why;
    uint64_t sizes[3] = { 8 * MIB, 40 * MIB, 200 * MIB };
    double miss[3];

    g_assert_true(working_set_init(&ws, GIB, 12, 1.0 / 8, 32, &why));
    for (int period = 0; period < 40; period++) {
        touch(&ws, 0, 32 * MIB / PAGE);
        if (period % 4 == 0) {
            touch(&ws, 512 * MIB / PAGE, 128 * MIB / PAGE);
        }
        working_set_end_period(&ws);
    }
    working_set_curve(&ws, sizes, 3, miss);
    /*
     * Below the hot set everything misses.  Above it, the scan misses,
     * and so do the hot set's references in a scan's period: a period is
     * one LRU step, so they are 160 MiB away (32 + 128 hot and scanned).
     * Per 4 periods: 128 + 128 MiB referenced, 32 + 128 missed: 0.625.
     * Above both, nothing misses (the first period left the ring).
     */
    g_assert_cmpfloat(miss[0], >, 0.99);
    g_assert_cmpfloat(fabs(miss[1] - 0.625), <, 0.05);
    g_assert_cmpfloat(miss[2], ==, 0);
    working_set_destroy(&ws);
}

/* The working set as classes: hot units hold a recently accessed page. */
static void test_classes(void)
{
    WorkingSet ws;
    PageActivity classes = { 0 };
    const char *why;

    g_assert_true(working_set_init(&ws, 16 * MIB, 12, 1, 4, &why));
    g_assert_false(working_set_classes(&ws, 2, 11, &classes, &why));
    g_assert_nonnull(strstr(why, "unit"));
    working_set_note(&ws, 0);           /* unit 0 (2 MiB units) */
    working_set_end_period(&ws);
    working_set_note(&ws, 513);         /* unit 1 */
    working_set_note(&ws, 3 * 512 + 511);   /* unit 3 */
    working_set_end_period(&ws);
    g_assert_true(working_set_classes(&ws, 1, 21, &classes, &why));
    g_assert_cmpuint(classes.nr_units, ==, 8);
    g_assert_cmpuint(classes.periods, ==, 2);
    g_assert_cmpint(page_activity_class(&classes, 0), ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpint(page_activity_class(&classes, 1), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 2), ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpint(page_activity_class(&classes, 3), ==, PAGE_ACTIVITY_HOT);
    g_assert_true(working_set_classes(&ws, 2, 21, &classes, &why));
    g_assert_cmpint(page_activity_class(&classes, 0), ==, PAGE_ACTIVITY_HOT);
    /* another unit size: rebuilt */
    g_assert_true(working_set_classes(&ws, 2, 12, &classes, &why));
    g_assert_cmpuint(classes.nr_units, ==, 4096);
    g_assert_cmpint(page_activity_class(&classes, 513), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 514), ==, PAGE_ACTIVITY_COLD);
    page_activity_destroy(&classes);
    working_set_destroy(&ws);
}

/*
 * Recency classes, page by page: the last closed period (and the open
 * period's accesses) hot, older ones within the window warm, the rest
 * and anything older cold.
 */
static void test_recency_classes(void)
{
    WorkingSet ws;
    PageActivity classes = { 0 };
    unsigned long open[4096 / (sizeof(unsigned long) * 8)] = { 0 };
    const char *why;

    g_assert_true(working_set_init(&ws, 16 * MIB, 12, 1, 4, &why));
    working_set_note(&ws, 7);           /* period 1: three periods old */
    working_set_end_period(&ws);
    working_set_note(&ws, 8);           /* period 2 */
    working_set_end_period(&ws);
    working_set_note(&ws, 9);           /* period 3 */
    working_set_end_period(&ws);
    working_set_note(&ws, 10);          /* period 4: the last closed */
    working_set_note(&ws, 7);           /* touched again: now the newest */
    working_set_end_period(&ws);
    open[0] = 1UL << 11;                /* the open period touched page 11 */

    g_assert_true(working_set_recency_classes(&ws, 1, 3, open, &classes,
                                              &why));
    g_assert_cmpuint(classes.nr_units, ==, 4096);
    g_assert_cmpuint(classes.unit_shift, ==, 12);
    g_assert_cmpint(page_activity_class(&classes, 7), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 10), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 11), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 9), ==, PAGE_ACTIVITY_WARM);
    g_assert_cmpint(page_activity_class(&classes, 8), ==, PAGE_ACTIVITY_WARM);
    g_assert_cmpint(page_activity_class(&classes, 6), ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpint(page_activity_class(&classes, 4095), ==,
                    PAGE_ACTIVITY_COLD);

    /* rebuilt in place: a narrower warm window, no open period */
    g_assert_true(working_set_recency_classes(&ws, 2, 2, NULL, &classes,
                                              &why));
    g_assert_cmpint(page_activity_class(&classes, 9), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&classes, 8), ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpint(page_activity_class(&classes, 11), ==, PAGE_ACTIVITY_COLD);
    page_activity_destroy(&classes);
    working_set_destroy(&ws);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/working-set/init-refuses", test_init_refuses);
    g_test_add_func("/working-set/windows", test_windows);
    g_test_add_func("/working-set/distances-by-hand", test_distances_by_hand);
    g_test_add_func("/working-set/curve-window", test_curve_window);
    g_test_add_func("/working-set/against-brute-force",
                    test_against_brute_force);
    g_test_add_func("/working-set/sweep-knee", test_sweep_knee);
    g_test_add_func("/working-set/two-steps", test_two_steps);
    g_test_add_func("/working-set/classes", test_classes);
    g_test_add_func("/working-set/recency-classes", test_recency_classes);
    return g_test_run();
}
