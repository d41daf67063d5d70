/*
 * qemu-memx page-activity tracker (-object x-memx-page-activity): the
 * TCG TLB-fill sample point and what the NUMA move job reads.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMX_PAGE_ACTIVITY_H
#define SYSTEM_MEMX_PAGE_ACTIVITY_H

#include "qemu/bitops.h"
#include "qemu/rcu.h"
#include "migration-ext/page-activity.h"
#include "migration-ext/working-set.h"
#include "qapi/qapi-types-qom.h"

/* RAM pages (by ram_addr) filled into a vCPU TLB in the current period. */
typedef struct MemxTlbFillMap {
    struct rcu_head rcu;
    uint64_t nr_pages;
    unsigned long bits[];
} MemxTlbFillMap;

extern MemxTlbFillMap *memx_tlb_fill_map;

/*
 * The softmmu calls this when it fills a TLB entry for the RAM page at
 * @ram_addr; it costs one load and a predicted branch unless the
 * tcg-tlb provider is sampling.  Called under RCU.
 */
static inline void memx_note_tlb_fill(uint64_t ram_addr, unsigned page_bits)
{
    MemxTlbFillMap *map = qatomic_rcu_read(&memx_tlb_fill_map);

    if (unlikely(map)) {
        uint64_t page = ram_addr >> page_bits;

        if (page < map->nr_pages) {
            set_bit_atomic(page, map->bits);
        }
    }
}

/*
 * The activity history of RAM block @block, or NULL when no tracker
 * exists or it does not (yet) track that block.  Main loop only; valid
 * until the next period closes.
 */
const PageActivity *memx_page_activity_of(const RAMBlock *block);

typedef struct MemxPageActivityState {
    __org_qemu_memx_PageActivityProvider provider;
    uint32_t period_ms;
    uint8_t history;
    uint8_t hot_min;
    uint64_t periods;           /* closed so far */
    int64_t overhead_ns;        /* period work in the main loop, in total */
    int64_t last_period_ns;
    double sample_rate;         /* working-set curves trace this share */
} MemxPageActivityState;

/* Fill @state; false when no tracker exists.  Main loop only. */
bool memx_page_activity_state(MemxPageActivityState *state);

/* One tracked memory backend, as the queries see it. */
typedef struct MemxTrackedView {
    const char *memdev;
    const RAMBlock *block;
    uint64_t size;
    const PageActivity *activity;
    const WorkingSet *working_set;
} MemxTrackedView;

/*
 * Tracked backend @i (0 to nr_backends - 1) into @view; false past the
 * last.  Main loop only; valid until the next period closes.
 */
bool memx_page_activity_backend(unsigned i, MemxTrackedView *view);

/*
 * Block @block's working set (the last 10 s) as classes: a unit is hot
 * when any of its pages was accessed then, cold otherwise; in the same
 * units as memx_page_activity_of().  NULL when no tracker exists or it
 * does not track that block.  Main loop only; valid until the next
 * period closes.
 */
const PageActivity *memx_working_set_classes_of(const RAMBlock *block);

/*
 * Block @block's pages by recency, into @classes (zeroed, or an earlier
 * result; the caller destroys it): hot when accessed in the open period
 * or the last closed one, warm when within the working set's window (the
 * last 10 s), cold otherwise.  One unit per target page, where
 * memx_page_activity_of() may count in 2 MiB units.  False when no
 * tracker tracks @block.  Main loop (or BQL) only.
 */
bool memx_recency_classes_of(const RAMBlock *block, PageActivity *classes);

/* Name of the provider in use, or NULL without a tracker. */
const char *memx_page_activity_provider(void);

#endif /* SYSTEM_MEMX_PAGE_ACTIVITY_H */
