/*
 * qemu-memx: hot-first postcopy.
 *
 * Once the guest runs on the destination, upstream's source pushes the
 * pages nobody asked for in address order, and the guest's hot pages
 * arrive at random times: every one it touches first costs a remote
 * page request.  With __org.qemu-memx_postcopy-hot-first the push hands
 * out the dirty pages the page-activity tracker (-object
 * x-memx-page-activity) saw the guest touch last, across every tracked
 * block, then those it touched within the working set's window; the
 * rest goes in upstream's order.  Those classes are page by page, from
 * the working set's last access per page and, under TCG, the TLB fills
 * of the period still open at the switch: the tracker's own classes
 * count in 2 MiB units where the host backs RAM with huge pages, and a
 * unit then mixes the pages the guest touches all the time with ones it
 * touches once a second.  Without a working set the push falls back to
 * those units.  The order itself is migration-ext/postcopy-push.c's.
 *
 * Where it hooks in: ram.c asks memx_postcopy_push_next() only when no
 * page request is queued, so requested pages keep going first; with
 * postcopy-preempt they go on their own channel and never wait for the
 * push at all.  A page sent either way has its dirty bit cleared, so the
 * push skips it.  The page handed out becomes the background search's
 * position, as a requested page does upstream.
 *
 * Races and limits: the classes are taken once, at the switch, with the
 * BQL held and the VM stopped.  The source's tracker sees nothing after
 * that (its VM no longer runs), so "re-reading the classes as the push
 * goes" would only read the same snapshot.  Recovery re-derives the
 * bitmap from what the destination received; memx_postcopy_push_rewind()
 * then walks the classes from the start again.  Blocks the tracker does
 * not cover (no memory backend) get upstream's order only.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "migration.h"
#include "options.h"
#include "ram.h"
#include "system/memx-page-activity.h"
#include "migration-ext/postcopy-push.h"
#include "memx/trace.h"
#include "memx-postcopy-push.h"
#include "memx-postcopy-switch.h"

typedef struct MemxPushBlock {
    RAMBlock *block;
    PostcopyPush push;
} MemxPushBlock;

static struct {
    int64_t migration_start;    /* s->start_time this state is for */
    bool started;               /* the switch took a snapshot */
    const char *not_ordered;    /* why no block is pushed hot-first */
    MemxPushBlock *blocks;
    size_t nr_blocks;
    uint64_t pushed[PAGE_ACTIVITY_NR_CLASSES];
    uint64_t hot_pages;         /* dirty pages of hot units at the switch */
    int64_t switch_ns;
    int64_t hot_complete_ns;    /* 0 until no hot unit holds a dirty page */
} push_state;

bool memx_postcopy_caps_check(bool *old_caps, bool *new_caps, Error **errp)
{
    if (new_caps[MIGRATION_CAPABILITY___ORG_QEMU_MEMX_POSTCOPY_HOT_FIRST] &&
        !new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Hot-first postcopy needs the postcopy-ram "
                   "capability");
        return false;
    }
    return true;
}

static void memx_postcopy_push_clear(void)
{
    for (size_t i = 0; i < push_state.nr_blocks; i++) {
        postcopy_push_destroy(&push_state.blocks[i].push);
    }
    g_free(push_state.blocks);
    memset(&push_state, 0, sizeof(push_state));
}

/* Dirty pages in @b's hot units, walking a copy of its cursor. */
static uint64_t memx_count_hot_dirty(MemxPushBlock *b)
{
    PostcopyPush walk = b->push;
    uint64_t page, n = 0;

    while (postcopy_push_next_in(&walk, b->block->bmap, PAGE_ACTIVITY_HOT,
                                 &page)) {
        n++;
    }
    return n;
}

void memx_postcopy_push_start(MigrationState *s)
{
    g_autoptr(GArray) blocks = g_array_new(false, true, sizeof(MemxPushBlock));
    const char *why = "no page-activity tracker (-object x-memx-page-activity)"
                      " covers guest RAM";
    RAMBlock *block;

    memx_postcopy_push_clear();
    push_state.migration_start = s->start_time;
    push_state.started = true;
    push_state.switch_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (!migrate_memx_postcopy_hot_first()) {
        return;
    }

    RCU_READ_LOCK_GUARD();
    RAMBLOCK_FOREACH_MIGRATABLE(block) {
        PageActivity recency = { 0 };
        const PageActivity *pa = NULL;
        MemxPushBlock b = { .block = block };
        const char *block_why;
        bool ok;

        if (!block->bmap) {
            continue;
        }
        /* page by page where the working set knows; else the units */
        if (memx_recency_classes_of(block, &recency)) {
            pa = &recency;
        } else {
            pa = memx_page_activity_of(block);
        }
        if (!pa) {
            continue;
        }
        ok = postcopy_push_init(&b.push, pa, TARGET_PAGE_BITS,
                                block->used_length >> TARGET_PAGE_BITS,
                                &block_why);
        page_activity_destroy(&recency);
        if (!ok) {
            why = block_why;
            continue;
        }
        push_state.hot_pages += memx_count_hot_dirty(&b);
        g_array_append_val(blocks, b);
    }
    push_state.nr_blocks = blocks->len;
    push_state.blocks = (MemxPushBlock *)g_array_free(g_steal_pointer(&blocks),
                                                      false);
    if (!push_state.nr_blocks) {
        push_state.not_ordered = why;
    }
    trace_memx_postcopy_push_start(push_state.nr_blocks, push_state.hot_pages,
                                   push_state.not_ordered ?: "");
}

RAMBlock *memx_postcopy_push_next(ram_addr_t *offset)
{
    uint64_t page;

    for (PageActivityClass cls = PAGE_ACTIVITY_HOT; cls > PAGE_ACTIVITY_COLD;
         cls--) {
        for (size_t i = 0; i < push_state.nr_blocks; i++) {
            MemxPushBlock *b = &push_state.blocks[i];

            if (postcopy_push_next_in(&b->push, b->block->bmap, cls, &page)) {
                push_state.pushed[cls]++;
                *offset = (ram_addr_t)page << TARGET_PAGE_BITS;
                return b->block;
            }
        }
        if (cls == PAGE_ACTIVITY_HOT && push_state.nr_blocks &&
            !push_state.hot_complete_ns) {
            push_state.hot_complete_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
            trace_memx_postcopy_push_hot_complete(
                (push_state.hot_complete_ns - push_state.switch_ns) / SCALE_MS,
                push_state.pushed[PAGE_ACTIVITY_HOT]);
        }
    }
    return NULL;
}

void memx_postcopy_push_rewind(void)
{
    for (size_t i = 0; i < push_state.nr_blocks; i++) {
        postcopy_push_rewind(&push_state.blocks[i].push);
    }
}

void memx_postcopy_fill_info(MigrationInfo *info)
{
    MigrationState *s = migrate_get_current();
    __org_qemu_memx_PostcopyPush *p;

    if (!push_state.started || push_state.migration_start != s->start_time) {
        return;
    }
    p = g_new0(__org_qemu_memx_PostcopyPush, 1);
    p->hot_first = push_state.nr_blocks > 0;
    p->hot_pages = push_state.hot_pages;
    p->pushed_hot = push_state.pushed[PAGE_ACTIVITY_HOT];
    p->pushed_warm = push_state.pushed[PAGE_ACTIVITY_WARM];
    if (push_state.hot_complete_ns) {
        p->has_hot_complete_ms = true;
        p->hot_complete_ms = (push_state.hot_complete_ns -
                              push_state.switch_ns) / SCALE_MS;
    }
    if (push_state.not_ordered) {
        p->not_ordered = g_strdup(push_state.not_ordered);
    }
    memx_postcopy_switch_fill(s, p);
    info->__org_qemu_memx_postcopy = p;
}
