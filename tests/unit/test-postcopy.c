/*
 * Unit tests of the hot-first postcopy push (migration-ext/postcopy-push.c)
 * and of the policy that switches a stuck precopy to postcopy
 * (migration-ext/postcopy-switch.c).  The push is also run against a
 * simulated postcopy: a guest that touches its hot set on the destination
 * while the source pushes, counting the touches that miss (remote page
 * requests) in hot-first and in address order.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "migration-ext/postcopy-push.h"
#include "migration-ext/postcopy-switch.h"

#define PAGE_SHIFT 12
#define BITS_PER_WORD (sizeof(unsigned long) * 8)

static void set_bit_at(unsigned long *map, uint64_t n)
{
    map[n / BITS_PER_WORD] |= 1UL << (n % BITS_PER_WORD);
}

static void clear_bit_at(unsigned long *map, uint64_t n)
{
    map[n / BITS_PER_WORD] &= ~(1UL << (n % BITS_PER_WORD));
}

static bool test_bit_at(const unsigned long *map, uint64_t n)
{
    return (map[n / BITS_PER_WORD] >> (n % BITS_PER_WORD)) & 1;
}

static unsigned long *all_dirty(uint64_t nr_pages)
{
    unsigned long *map = g_new0(unsigned long,
                                (nr_pages + BITS_PER_WORD - 1) / BITS_PER_WORD);

    for (uint64_t n = 0; n < nr_pages; n++) {
        set_bit_at(map, n);
    }
    return map;
}

/* A tracker whose units in @hot were accessed in every period, @warm in one. */
static void make_activity(PageActivity *pa, uint64_t bytes, unsigned unit_shift,
                          const uint64_t *hot, size_t nr_hot,
                          const uint64_t *warm, size_t nr_warm)
{
    const char *why;

    g_assert_true(page_activity_init(pa, bytes, unit_shift, 4, 3, &why));
    for (int period = 0; period < 4; period++) {
        for (size_t i = 0; i < nr_hot; i++) {
            page_activity_note(pa, hot[i] << unit_shift);
        }
        for (size_t i = 0; period == 0 && i < nr_warm; i++) {
            page_activity_note(pa, warm[i] << unit_shift);
        }
        page_activity_end_period(pa);
    }
}

/* Hot units first, then warm, each in address order; cold never. */
static void test_push_order(void)
{
    uint64_t hot[] = { 7, 2 }, warm[] = { 5 };
    uint64_t expect[] = { 2, 7, 5 };
    PageActivity pa;
    PostcopyPush push;
    unsigned long *dirty = all_dirty(10);
    const char *why;
    uint64_t page;
    PageActivityClass cls;

    make_activity(&pa, 10 << PAGE_SHIFT, PAGE_SHIFT, hot, 2, warm, 1);
    g_assert_true(postcopy_push_init(&push, &pa, PAGE_SHIFT, 10, &why));
    for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_assert_true(postcopy_push_next(&push, dirty, &page, &cls));
        g_assert_cmpuint(page, ==, expect[i]);
        g_assert_cmpint(cls, ==, i < 2 ? PAGE_ACTIVITY_HOT : PAGE_ACTIVITY_WARM);
        clear_bit_at(dirty, page);
    }
    g_assert_false(postcopy_push_next(&push, dirty, &page, &cls));
    g_assert_true(postcopy_push_class_done(&push, dirty, PAGE_ACTIVITY_HOT));
    postcopy_push_destroy(&push);
    page_activity_destroy(&pa);
    g_free(dirty);
}

/*
 * A page the destination asked for (its bit cleared) is not pushed
 * again; a unit of 2 MiB hands out its dirty 4 KiB pages in order; a
 * rewind after a recovery finds pages that came back.
 */
static void test_push_skips_sent_and_rewinds(void)
{
    uint64_t hot[] = { 1 };
    uint64_t nr_pages = 3 * 512;
    PageActivity pa;
    PostcopyPush push;
    unsigned long *dirty = all_dirty(nr_pages);
    const char *why;
    uint64_t page;
    PageActivityClass cls;

    make_activity(&pa, nr_pages << PAGE_SHIFT, 21, hot, 1, NULL, 0);
    g_assert_true(postcopy_push_init(&push, &pa, PAGE_SHIFT, nr_pages, &why));
    clear_bit_at(dirty, 512);           /* requested before the push got there */
    g_assert_false(postcopy_push_class_done(&push, dirty, PAGE_ACTIVITY_HOT));
    for (uint64_t n = 513; n < 1024; n++) {
        g_assert_true(postcopy_push_next(&push, dirty, &page, &cls));
        g_assert_cmpuint(page, ==, n);
        clear_bit_at(dirty, page);
    }
    g_assert_false(postcopy_push_next(&push, dirty, &page, &cls));
    g_assert_true(postcopy_push_class_done(&push, dirty, PAGE_ACTIVITY_HOT));

    set_bit_at(dirty, 600);             /* never arrived: back after recovery */
    postcopy_push_rewind(&push);
    g_assert_true(postcopy_push_next(&push, dirty, &page, &cls));
    g_assert_cmpuint(page, ==, 600);
    postcopy_push_destroy(&push);
    page_activity_destroy(&pa);
    g_free(dirty);
}

static void test_push_refuses_small_units(void)
{
    PageActivity pa;
    PostcopyPush push;
    const char *why = NULL;

    make_activity(&pa, 1 << 20, 12, NULL, 0, NULL, 0);
    g_assert_false(postcopy_push_init(&push, &pa, 16, 16, &why));
    g_assert_nonnull(strstr(why, "smaller than a page"));
    page_activity_destroy(&pa);
}

/* The last unit may be cut short by the end of the block. */
static void test_push_partial_last_unit(void)
{
    uint64_t hot[] = { 1 };
    PageActivity pa;
    PostcopyPush push;
    unsigned long *dirty = all_dirty(600);
    const char *why;
    uint64_t page, count = 0;
    PageActivityClass cls;

    make_activity(&pa, 600 << PAGE_SHIFT, 21, hot, 1, NULL, 0);
    g_assert_true(postcopy_push_init(&push, &pa, PAGE_SHIFT, 600, &why));
    while (postcopy_push_next(&push, dirty, &page, &cls)) {
        g_assert_cmpuint(page, >=, 512);
        g_assert_cmpuint(page, <, 600);
        clear_bit_at(dirty, page);
        count++;
    }
    g_assert_cmpuint(count, ==, 88);
    postcopy_push_destroy(&push);
    page_activity_destroy(&pa);
    g_free(dirty);
}

/*
 * A simulated postcopy, shaped like the hot-writer scenario (a hot set
 * rewritten, cold data left alone).  The block has 64 Ki pages; the
 * guest's hot set is 4 Ki pages in 16 runs scattered over it, and the
 * tracker saw it (plus 4 warm pages).  Each tick the destination's guest
 * touches 8 pages, 99% of them in the hot set: a touch of a page that has
 * not arrived is a remote request, which sends it at once.  The source
 * pushes 16 pages per tick.  Counted: remote requests until every page
 * arrived, and the ticks until the hot set was complete.
 */
typedef struct SimResult {
    uint64_t requests;
    uint64_t ticks_until_hot_arrived;
} SimResult;

static SimResult simulate(bool hot_first, guint32 seed)
{
    const uint64_t nr_pages = 64 * 1024, run = 256;
    uint64_t hot_pages[16 * 256], nr_hot = 0, warm[4];
    GRand *rand = g_rand_new_with_seed(seed);
    unsigned long *dirty = all_dirty(nr_pages);
    uint64_t arrived = 0, hot_left, cursor = 0;
    SimResult res = { 0, 0 };
    PageActivity pa;
    PostcopyPush push;
    const char *why;

    for (int r = 0; r < 16; r++) {
        uint64_t start = g_rand_int_range(rand, 0, nr_pages / run) * run;

        for (uint64_t p = start; p < start + run; p++) {
            bool seen = false;

            for (uint64_t i = 0; i < nr_hot; i++) {
                seen |= hot_pages[i] == p;
            }
            if (!seen) {
                hot_pages[nr_hot++] = p;
            }
        }
    }
    for (int w = 0; w < 4; w++) {
        warm[w] = g_rand_int_range(rand, 0, nr_pages);
    }
    make_activity(&pa, nr_pages << PAGE_SHIFT, PAGE_SHIFT, hot_pages, nr_hot,
                  warm, 4);
    g_assert_true(postcopy_push_init(&push, &pa, PAGE_SHIFT, nr_pages, &why));
    hot_left = nr_hot;

    for (uint64_t tick = 1; arrived < nr_pages; tick++) {
        for (int t = 0; t < 8; t++) {
            uint64_t p = g_rand_int_range(rand, 0, 100) < 99 ?
                hot_pages[g_rand_int_range(rand, 0, nr_hot)] :
                (uint64_t)g_rand_int_range(rand, 0, nr_pages);

            if (test_bit_at(dirty, p)) {
                res.requests++;
                clear_bit_at(dirty, p);
                arrived++;
            }
        }
        for (int n = 0; n < 16 && arrived < nr_pages; n++) {
            uint64_t p;
            PageActivityClass cls;

            if (!hot_first || !postcopy_push_next(&push, dirty, &p, &cls)) {
                while (!test_bit_at(dirty, cursor % nr_pages)) {
                    cursor++;
                }
                p = cursor % nr_pages;
            }
            clear_bit_at(dirty, p);
            arrived++;
        }
        if (hot_left) {
            hot_left = 0;
            for (uint64_t i = 0; i < nr_hot; i++) {
                hot_left += test_bit_at(dirty, hot_pages[i]);
            }
            if (!hot_left) {
                res.ticks_until_hot_arrived = tick;
            }
        }
    }
    postcopy_push_destroy(&push);
    page_activity_destroy(&pa);
    g_free(dirty);
    g_rand_free(rand);
    return res;
}

static void test_simulated_fault_trace(void)
{
    for (guint32 seed = 1; seed <= 3; seed++) {
        SimResult hot = simulate(true, seed), address = simulate(false, seed);

        g_test_message("seed %u: remote requests %" G_GUINT64_FORMAT
                       " hot-first, %" G_GUINT64_FORMAT " address order; "
                       "hot set complete after %" G_GUINT64_FORMAT
                       " and %" G_GUINT64_FORMAT " ticks", seed,
                       hot.requests, address.requests,
                       hot.ticks_until_hot_arrived,
                       address.ticks_until_hot_arrived);
        g_assert_cmpuint(address.requests, >, 0);
        g_assert_cmpuint(hot.requests * 10, <=, address.requests * 3);
        g_assert_cmpuint(hot.ticks_until_hot_arrived, <,
                         address.ticks_until_hot_arrived);
    }
}

static PostcopySwitchSample sample(uint64_t now_ms, uint64_t syncs,
                                   uint64_t dirty_mib, uint64_t remaining_ms)
{
    return (PostcopySwitchSample) {
        .now_ms = now_ms, .sync_count = syncs, .dirty_bytes = dirty_mib << 20,
        .remaining_ms = remaining_ms, .remaining_known = remaining_ms != 0,
    };
}

/* A dirty set that stays put for stall_syncs syncs switches. */
static void test_switch_dirty_set_stalled(void)
{
    PostcopySwitchPolicy policy = { .stall_syncs = 3 };
    PostcopySwitchState st;
    PostcopySwitchSample s;

    postcopy_switch_reset(&st);
    s = sample(100, 1, 1024, 0);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    for (uint64_t sync = 2; sync <= 4; sync++) {
        s = sample(sync * 100, sync, 100, 0);
        g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                        POSTCOPY_SWITCH_NONE);
        /* samples between syncs do not count as syncs */
        s.now_ms += 10;
        g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                        POSTCOPY_SWITCH_NONE);
    }
    s = sample(500, 5, 99, 0);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_DIRTY_SET_STALLED);
    /* the reason sticks */
    s = sample(600, 6, 1, 0);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_DIRTY_SET_STALLED);
    g_assert_cmpstr(postcopy_switch_reason_name(st.reason), ==,
                    "dirty-set-stalled");
}

/* A set that creeps down by 3% a pass is progress once it adds up. */
static void test_switch_slow_progress(void)
{
    PostcopySwitchPolicy policy = { .stall_syncs = 3 };
    PostcopySwitchState st;
    uint64_t dirty = 1000;

    postcopy_switch_reset(&st);
    for (uint64_t sync = 1; sync <= 40; sync++) {
        PostcopySwitchSample s = sample(sync * 100, sync, dirty, 0);

        g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                        POSTCOPY_SWITCH_NONE);
        dirty -= dirty * 3 / 100;
    }
}

static void test_switch_remaining_time(void)
{
    PostcopySwitchPolicy policy = { .window_ms = 2000 };
    PostcopySwitchState st;
    PostcopySwitchSample s;

    postcopy_switch_reset(&st);
    s = sample(0, 0, 0, 0);             /* no bandwidth known yet */
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    s = sample(100, 1, 0, 8000);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    s = sample(1500, 1, 0, 4000);       /* progress: the window restarts */
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    s = sample(3400, 2, 0, 3900);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    s = sample(3500, 2, 0, 4100);
    g_assert_cmpint(postcopy_switch_check(&st, &policy, &s), ==,
                    POSTCOPY_SWITCH_REMAINING_TIME_STALLED);
}

static void test_switch_deadline_and_off(void)
{
    PostcopySwitchPolicy off = { 0 }, deadline = { .deadline_ms = 5000 };
    PostcopySwitchState st;
    PostcopySwitchSample s;

    postcopy_switch_reset(&st);
    for (uint64_t sync = 1; sync < 100; sync++) {
        s = sample(sync * 1000, sync, 100, 9000);
        g_assert_cmpint(postcopy_switch_check(&st, &off, &s), ==,
                        POSTCOPY_SWITCH_NONE);
    }
    postcopy_switch_reset(&st);
    s = sample(4999, 1, 100, 1);
    g_assert_cmpint(postcopy_switch_check(&st, &deadline, &s), ==,
                    POSTCOPY_SWITCH_NONE);
    s = sample(5000, 2, 1, 1);
    g_assert_cmpint(postcopy_switch_check(&st, &deadline, &s), ==,
                    POSTCOPY_SWITCH_DEADLINE);
    g_assert_cmpstr(postcopy_switch_reason_name(POSTCOPY_SWITCH_NONE), ==,
                    "none");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy-push/order", test_push_order);
    g_test_add_func("/postcopy-push/skips-sent-and-rewinds",
                    test_push_skips_sent_and_rewinds);
    g_test_add_func("/postcopy-push/refuses-small-units",
                    test_push_refuses_small_units);
    g_test_add_func("/postcopy-push/partial-last-unit",
                    test_push_partial_last_unit);
    g_test_add_func("/postcopy-push/simulated-fault-trace",
                    test_simulated_fault_trace);
    g_test_add_func("/postcopy-switch/dirty-set-stalled",
                    test_switch_dirty_set_stalled);
    g_test_add_func("/postcopy-switch/slow-progress", test_switch_slow_progress);
    g_test_add_func("/postcopy-switch/remaining-time",
                    test_switch_remaining_time);
    g_test_add_func("/postcopy-switch/deadline-and-off",
                    test_switch_deadline_and_off);
    return g_test_run();
}
