/*
 * NUMA move planner: the order of a hot-first or address-order move (see
 * numa-move-plan.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "migration-ext/numa-move-plan.h"

void numa_move_plan_init(NumaMovePlan *plan, uint64_t nr_units,
                         NumaMoveOrder order, unsigned max_rounds)
{
    memset(plan, 0, sizeof(*plan));
    plan->order = order;
    plan->nr_units = nr_units;
    plan->max_rounds = max_rounds ? max_rounds : 1;
    plan->settled = g_new0(uint64_t, (nr_units + 63) / 64);
}

void numa_move_plan_destroy(NumaMovePlan *plan)
{
    g_free(plan->settled);
    memset(plan, 0, sizeof(*plan));
}

void numa_move_plan_settle(NumaMovePlan *plan, uint64_t unit)
{
    uint64_t bit = UINT64_C(1) << (unit % 64);

    if (unit < plan->nr_units && !(plan->settled[unit / 64] & bit)) {
        plan->settled[unit / 64] |= bit;
        plan->nr_settled++;
    }
}

/* The next unsettled unit at or after @from, or nr_units. */
static uint64_t next_unsettled(const NumaMovePlan *plan, uint64_t from)
{
    while (from < plan->nr_units) {
        uint64_t free_bits = ~plan->settled[from / 64] >> (from % 64);

        if (free_bits) {
            from += __builtin_ctzll(free_bits);
            return MIN(from, plan->nr_units);
        }
        from = (from / 64 + 1) * 64;
    }
    return plan->nr_units;
}

/* Collect up to @max unsettled units of class @cls from its cursor. */
static size_t collect(NumaMovePlan *plan, const PageActivity *pa,
                      PageActivityClass cls, uint64_t *units, size_t max)
{
    uint64_t u = plan->cursor[cls];
    size_t n = 0;

    while (n < max) {
        u = next_unsettled(plan, u);
        if (u >= plan->nr_units) {
            break;
        }
        if (!pa || page_activity_class(pa, u) == cls) {
            units[n++] = u;
        }
        u++;
    }
    plan->cursor[cls] = u;
    return n;
}

size_t numa_move_plan_next(NumaMovePlan *plan, const PageActivity *pa,
                           uint64_t *units, size_t max,
                           PageActivityClass *cls)
{
    bool by_class = plan->order == NUMA_MOVE_ORDER_HOT_FIRST && pa;

    if (by_class && pa->periods != plan->periods_seen) {
        /* new classes: look at every class from the start again */
        memset(plan->cursor, 0, sizeof(plan->cursor));
        plan->periods_seen = pa->periods;
    }
    while (plan->nr_settled < plan->nr_units && plan->round < plan->max_rounds) {
        if (by_class) {
            for (int c = PAGE_ACTIVITY_HOT; c >= PAGE_ACTIVITY_COLD; c--) {
                size_t n = collect(plan, pa, c, units, max);

                if (n) {
                    if (cls) {
                        *cls = c;
                    }
                    return n;
                }
            }
        } else {
            size_t n = collect(plan, NULL, PAGE_ACTIVITY_COLD, units, max);

            if (n) {
                if (cls) {
                    *cls = PAGE_ACTIVITY_COLD;
                }
                return n;
            }
        }
        /* every unit was handed out: the unsettled ones come round again */
        memset(plan->cursor, 0, sizeof(plan->cursor));
        plan->round++;
    }
    return 0;
}
