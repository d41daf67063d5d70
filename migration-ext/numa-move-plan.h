/*
 * NUMA move planner: in which order to move a guest RAM range's units to
 * another host node.
 *
 * Hot-first order hands out the units the page-activity tracker calls
 * hot, then warm, then cold, each class in address order.  Classes are
 * looked at again whenever the tracker closes a period, so a unit that
 * turns hot during the move jumps the queue.  Address order (what
 * cpuset.mems and migratepages do) ignores the tracker.
 *
 * The caller moves each batch and reports every unit it settled (moved,
 * found on the target already, not present, or failed for good).  Units
 * it leaves unsettled (the kernel said EBUSY) come round again after
 * every other unit has been handed out, for at most max_rounds rounds.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_NUMA_MOVE_PLAN_H
#define MIGRATION_EXT_NUMA_MOVE_PLAN_H

#include "migration-ext/page-activity.h"

typedef enum NumaMoveOrder {
    NUMA_MOVE_ORDER_HOT_FIRST,
    NUMA_MOVE_ORDER_ADDRESS,
} NumaMoveOrder;

typedef struct NumaMovePlan {
    NumaMoveOrder order;
    uint64_t nr_units;
    uint64_t *settled;      /* bit n, word n / 64 */
    uint64_t nr_settled;
    uint64_t cursor[PAGE_ACTIVITY_NR_CLASSES];
    uint64_t periods_seen;  /* tracker period the cursors belong to */
    unsigned round;         /* passes over the range so far, from 0 */
    unsigned max_rounds;
} NumaMovePlan;

void numa_move_plan_init(NumaMovePlan *plan, uint64_t nr_units,
                         NumaMoveOrder order, unsigned max_rounds);
void numa_move_plan_destroy(NumaMovePlan *plan);

/*
 * Up to @max unsettled units, into @units, all of one class (written to
 * *@cls when @cls is not NULL; cold in address order).  @pa may be NULL
 * for address order, and must track @plan's units otherwise.  Returns 0
 * when every unit is settled or max_rounds rounds are used up.
 */
size_t numa_move_plan_next(NumaMovePlan *plan, const PageActivity *pa,
                           uint64_t *units, size_t max,
                           PageActivityClass *cls);

/* @unit needs nothing more; settling it twice is harmless. */
void numa_move_plan_settle(NumaMovePlan *plan, uint64_t unit);

static inline bool numa_move_plan_is_settled(const NumaMovePlan *plan,
                                             uint64_t unit)
{
    return (plan->settled[unit / 64] >> (unit % 64)) & 1;
}

#endif /* MIGRATION_EXT_NUMA_MOVE_PLAN_H */
