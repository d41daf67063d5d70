/*
 * Unit tests of the page-activity tracker (migration-ext/page-activity.c)
 * and the NUMA move planner (migration-ext/numa-move-plan.c), the latter
 * against a simulated node map.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "migration-ext/numa-move-plan.h"
#include "migration-ext/page-activity.h"

#define MIB (UINT64_C(1) << 20)

static void test_init_refuses(void)
{
    PageActivity pa;
    const char *why = NULL;

    g_assert_false(page_activity_init(&pa, MIB, 11, 8, 4, &why));
    g_assert_nonnull(strstr(why, "unit"));
    g_assert_false(page_activity_init(&pa, MIB, 12, 9, 4, &why));
    g_assert_nonnull(strstr(why, "history"));
    g_assert_false(page_activity_init(&pa, MIB, 12, 8, 0, &why));
    g_assert_nonnull(strstr(why, "hot"));
    g_assert_false(page_activity_init(&pa, MIB, 12, 4, 5, &why));
    g_assert_false(page_activity_init(&pa, 0, 12, 8, 4, &why));
    g_assert_nonnull(strstr(why, "size"));
}

static void test_units_round_up(void)
{
    PageActivity pa;
    const char *why;

    g_assert_true(page_activity_init(&pa, 2 * MIB + 1, 21, 8, 4, &why));
    g_assert_cmpuint(pa.nr_units, ==, 2);
    page_activity_destroy(&pa);
    g_assert_true(page_activity_init(&pa, MIB, 12, 8, 4, &why));
    g_assert_cmpuint(pa.nr_units, ==, 256);
    page_activity_destroy(&pa);
}

/* One bit per period, newest in bit 0; older than the history falls off. */
static void test_history_shifts(void)
{
    PageActivity pa;
    const char *why;

    g_assert_true(page_activity_init(&pa, MIB, 12, 4, 3, &why));
    page_activity_note(&pa, 5 * 4096 + 17);
    page_activity_end_period(&pa);
    g_assert_cmphex(pa.history[5], ==, 0x1);
    g_assert_cmphex(pa.history[4], ==, 0);
    g_assert_cmphex(pa.history[6], ==, 0);
    page_activity_end_period(&pa);
    page_activity_note(&pa, 5 * 4096);
    page_activity_note(&pa, 5 * 4096 + 4095);       /* same unit, once */
    page_activity_end_period(&pa);
    g_assert_cmphex(pa.history[5], ==, 0x5);
    g_assert_cmpuint(page_activity_periods_accessed(&pa, 5), ==, 2);
    for (int i = 0; i < 3; i++) {
        page_activity_end_period(&pa);
    }
    g_assert_cmphex(pa.history[5], ==, 0x8);        /* 4 periods kept */
    page_activity_end_period(&pa);
    g_assert_cmphex(pa.history[5], ==, 0);
    g_assert_cmpuint(pa.periods, ==, 7);
    page_activity_destroy(&pa);
}

static void test_classes(void)
{
    PageActivity pa;
    uint64_t counts[PAGE_ACTIVITY_NR_CLASSES];
    const char *why;

    g_assert_true(page_activity_init(&pa, 64 * 4096, 12, 8, 5, &why));
    for (int period = 0; period < 8; period++) {
        page_activity_note(&pa, 0);                 /* every period */
        if (period >= 3) {
            page_activity_note(&pa, 4096);          /* 5 of 8: hot */
        }
        if (period == 7) {
            page_activity_note(&pa, 2 * 4096);      /* once: warm */
        }
        if (period < 4) {
            page_activity_note(&pa, 3 * 4096);      /* 4 of 8: warm */
        }
        page_activity_end_period(&pa);
    }
    g_assert_cmpint(page_activity_class(&pa, 0), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&pa, 1), ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpint(page_activity_class(&pa, 2), ==, PAGE_ACTIVITY_WARM);
    g_assert_cmpint(page_activity_class(&pa, 3), ==, PAGE_ACTIVITY_WARM);
    g_assert_cmpint(page_activity_class(&pa, 4), ==, PAGE_ACTIVITY_COLD);
    page_activity_count(&pa, counts);
    g_assert_cmpuint(counts[PAGE_ACTIVITY_HOT], ==, 2);
    g_assert_cmpuint(counts[PAGE_ACTIVITY_WARM], ==, 2);
    g_assert_cmpuint(counts[PAGE_ACTIVITY_COLD], ==, 60);
    g_assert_cmpstr(page_activity_class_name(PAGE_ACTIVITY_WARM), ==, "warm");
    page_activity_reset(&pa);
    page_activity_count(&pa, counts);
    g_assert_cmpuint(counts[PAGE_ACTIVITY_COLD], ==, 64);
    page_activity_destroy(&pa);
}

static void test_note_range_and_bounds(void)
{
    PageActivity pa;
    const char *why;

    g_assert_true(page_activity_init(&pa, 8 * 2 * MIB, 21, 8, 1, &why));
    /* a range straddling units 2 and 3, and one running past the end */
    page_activity_note_range(&pa, 2 * 2 * MIB + 4096, 2 * MIB);
    page_activity_note_range(&pa, 7 * 2 * MIB, 64 * MIB);
    page_activity_note(&pa, 100 * MIB);             /* past the end */
    page_activity_note_range(&pa, 0, 0);            /* empty */
    page_activity_end_period(&pa);
    for (uint64_t u = 0; u < 8; u++) {
        g_assert_cmpuint(pa.history[u], ==, u == 2 || u == 3 || u == 7);
    }
    page_activity_destroy(&pa);
}

/* A tracker over @n units where @hot are hot and @warm warm. */
static void make_tracker(PageActivity *pa, uint64_t n, const uint64_t *hot,
                         size_t nhot, const uint64_t *warm, size_t nwarm)
{
    const char *why;

    g_assert_true(page_activity_init(pa, n * 4096, 12, 4, 3, &why));
    for (int period = 0; period < 4; period++) {
        for (size_t i = 0; i < nhot; i++) {
            page_activity_note(pa, hot[i] * 4096);
        }
        if (period == 0) {
            for (size_t i = 0; i < nwarm; i++) {
                page_activity_note(pa, warm[i] * 4096);
            }
        }
        page_activity_end_period(pa);
    }
}

/* Hand out everything, settling each unit; return the order seen. */
static GArray *drain(NumaMovePlan *plan, const PageActivity *pa, size_t batch)
{
    GArray *order = g_array_new(false, false, sizeof(uint64_t));
    uint64_t units[64];
    size_t n;

    while ((n = numa_move_plan_next(plan, pa, units, batch, NULL)) > 0) {
        for (size_t i = 0; i < n; i++) {
            g_assert_false(numa_move_plan_is_settled(plan, units[i]));
            numa_move_plan_settle(plan, units[i]);
            g_array_append_val(order, units[i]);
        }
    }
    return order;
}

static void test_hot_first_order(void)
{
    static const uint64_t hot[] = { 90, 7, 50 }, warm[] = { 60, 3 };
    static const uint64_t want_head[] = { 7, 50, 90, 3, 60, 0, 1, 2, 4 };
    PageActivity pa;
    NumaMovePlan plan;
    GArray *order;

    make_tracker(&pa, 100, hot, 3, warm, 2);
    numa_move_plan_init(&plan, 100, NUMA_MOVE_ORDER_HOT_FIRST, 4);
    order = drain(&plan, &pa, 4);
    g_assert_cmpuint(order->len, ==, 100);
    for (size_t i = 0; i < G_N_ELEMENTS(want_head); i++) {
        g_assert_cmpuint(g_array_index(order, uint64_t, i), ==, want_head[i]);
    }
    g_assert_cmpuint(plan.nr_settled, ==, 100);
    g_array_free(order, true);
    numa_move_plan_destroy(&plan);
    page_activity_destroy(&pa);
}

static void test_address_order(void)
{
    static const uint64_t hot[] = { 90, 7 };
    PageActivity pa;
    NumaMovePlan plan;
    GArray *order;

    make_tracker(&pa, 100, hot, 2, NULL, 0);
    numa_move_plan_init(&plan, 100, NUMA_MOVE_ORDER_ADDRESS, 4);
    order = drain(&plan, &pa, 7);
    g_assert_cmpuint(order->len, ==, 100);
    for (uint64_t i = 0; i < 100; i++) {
        g_assert_cmpuint(g_array_index(order, uint64_t, i), ==, i);
    }
    g_array_free(order, true);
    numa_move_plan_destroy(&plan);
    page_activity_destroy(&pa);
}

/* A unit turning hot mid-move is next once the tracker closes a period. */
static void test_turning_hot_jumps_queue(void)
{
    PageActivity pa;
    NumaMovePlan plan;
    uint64_t units[8];
    PageActivityClass cls;
    size_t n;

    make_tracker(&pa, 1000, NULL, 0, NULL, 0);
    numa_move_plan_init(&plan, 1000, NUMA_MOVE_ORDER_HOT_FIRST, 4);
    n = numa_move_plan_next(&plan, &pa, units, 8, &cls);
    g_assert_cmpuint(n, ==, 8);
    g_assert_cmpint(cls, ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpuint(units[0], ==, 0);
    for (size_t i = 0; i < n; i++) {
        numa_move_plan_settle(&plan, units[i]);
    }
    for (int period = 0; period < 3; period++) {
        page_activity_note(&pa, 777 * 4096);
        page_activity_note(&pa, 3 * 4096);          /* settled already */
        page_activity_end_period(&pa);
    }
    n = numa_move_plan_next(&plan, &pa, units, 8, &cls);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(cls, ==, PAGE_ACTIVITY_HOT);
    g_assert_cmpuint(units[0], ==, 777);
    numa_move_plan_settle(&plan, 777);
    n = numa_move_plan_next(&plan, &pa, units, 8, &cls);
    g_assert_cmpint(cls, ==, PAGE_ACTIVITY_COLD);
    g_assert_cmpuint(units[0], ==, 8);
    numa_move_plan_destroy(&plan);
    page_activity_destroy(&pa);
}

/* Units left unsettled (EBUSY) come round again, for max_rounds rounds. */
static void test_busy_retried_then_given_up(void)
{
    NumaMovePlan plan;
    uint64_t units[16];
    unsigned offered_busy = 0;
    size_t n;

    numa_move_plan_init(&plan, 40, NUMA_MOVE_ORDER_ADDRESS, 3);
    while ((n = numa_move_plan_next(&plan, NULL, units, 16, NULL)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (units[i] == 13) {
                offered_busy++;                     /* always busy */
            } else {
                numa_move_plan_settle(&plan, units[i]);
            }
        }
    }
    g_assert_cmpuint(offered_busy, ==, 3);
    g_assert_cmpuint(plan.nr_settled, ==, 39);
    g_assert_false(numa_move_plan_is_settled(&plan, 13));
    numa_move_plan_settle(&plan, 5);                /* twice: harmless */
    g_assert_cmpuint(plan.nr_settled, ==, 39);
    numa_move_plan_destroy(&plan);
}

/*
 * A simulated host: 4096 units on node 0, 10% of them hot, scattered.
 * Moving to node 1 in batches, hot-first must have every hot unit on
 * node 1 before the first cold one moves; address order must not.
 */
static uint64_t moves_until_hot_local(NumaMoveOrder order)
{
    enum { UNITS = 4096, BATCH = 32 };
    g_autofree uint64_t *hot = g_new(uint64_t, UNITS / 10);
    g_autofree uint8_t *node = g_new0(uint8_t, UNITS);
    PageActivity pa;
    NumaMovePlan plan;
    uint64_t units[BATCH], moved = 0, hot_done_at = 0;
    size_t n, nhot = 0;
    GRand *rand = g_rand_new_with_seed(7);

    while (nhot < UNITS / 10) {
        uint64_t u = g_rand_int_range(rand, 0, UNITS);
        bool seen = false;

        for (size_t i = 0; i < nhot; i++) {
            seen |= hot[i] == u;
        }
        if (!seen) {
            hot[nhot++] = u;
        }
    }
    make_tracker(&pa, UNITS, hot, nhot, NULL, 0);
    numa_move_plan_init(&plan, UNITS, order, 2);
    while ((n = numa_move_plan_next(&plan, &pa, units, BATCH, NULL)) > 0) {
        for (size_t i = 0; i < n; i++) {
            g_assert_cmpuint(node[units[i]], ==, 0);
            node[units[i]] = 1;
            numa_move_plan_settle(&plan, units[i]);
            moved++;
        }
        if (!hot_done_at) {
            size_t local = 0;

            for (size_t i = 0; i < nhot; i++) {
                local += node[hot[i]];
            }
            if (local == nhot) {
                hot_done_at = moved;
            }
        }
    }
    for (uint64_t u = 0; u < UNITS; u++) {
        g_assert_cmpuint(node[u], ==, 1);
    }
    g_rand_free(rand);
    numa_move_plan_destroy(&plan);
    page_activity_destroy(&pa);
    return hot_done_at;
}

static void test_simulated_node_map(void)
{
    uint64_t hot_first = moves_until_hot_local(NUMA_MOVE_ORDER_HOT_FIRST);
    uint64_t address = moves_until_hot_local(NUMA_MOVE_ORDER_ADDRESS);

    /* 409 hot units: local after 13 batches of 32 (416 moves) */
    g_assert_cmpuint(hot_first, <=, 416);
    g_assert_cmpuint(address, >, 3500);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/page-activity/init-refuses", test_init_refuses);
    g_test_add_func("/page-activity/units-round-up", test_units_round_up);
    g_test_add_func("/page-activity/history-shifts", test_history_shifts);
    g_test_add_func("/page-activity/classes", test_classes);
    g_test_add_func("/page-activity/note-range-and-bounds",
                    test_note_range_and_bounds);
    g_test_add_func("/numa-move-plan/hot-first-order", test_hot_first_order);
    g_test_add_func("/numa-move-plan/address-order", test_address_order);
    g_test_add_func("/numa-move-plan/turning-hot-jumps-queue",
                    test_turning_hot_jumps_queue);
    g_test_add_func("/numa-move-plan/busy-retried-then-given-up",
                    test_busy_retried_then_given_up);
    g_test_add_func("/numa-move-plan/simulated-node-map",
                    test_simulated_node_map);
    return g_test_run();
}
