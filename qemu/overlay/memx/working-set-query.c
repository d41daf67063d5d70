/*
 * qemu-memx: __org.qemu-memx_query-working-set and info memx-working-set,
 * how much memory the guest uses, from the page-activity tracker's
 * working-set estimators (migration-ext/working-set.c) and the guest's
 * free memory (introspection, memx/guest-scan.c) beside it.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "system/memx-guest-scan.h"
#include "system/memx-page-activity.h"

#define CURVE_POINTS 33
#define KNEE_SHARE 0.95
#define MAX_WINDOWS 8
#define MAX_WINDOW_S 86400

static const uint32_t default_windows_s[] = { 10, 60, 300 };

/* Guest-free bytes per RAM block, from one scan of the guest's allocator. */
typedef struct GuestFreeByBlock {
    const char *reason;         /* NULL when the scan worked */
    GHashTable *bytes;          /* RAMBlock * -> uint64_t * */
} GuestFreeByBlock;

static void guest_free_by_block(GuestFreeByBlock *gf)
{
    g_autofree MemxRamMap *map = g_new(MemxRamMap, 1);
    g_autofree uint64_t *bitmap = NULL;
    uint64_t words = 0;
    MemxScan scan = { 0 };

    gf->bytes = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(map);
        if (!memx_scan_guest(map, &scan, &bitmap, &words)) {
            gf->reason = scan.reason;
            return;
        }
        for (size_t i = 0; i < map->n; i++) {
            const MemxRamRange *r = &map->range[i];
            uint64_t first = r->start >> TARGET_PAGE_BITS;
            uint64_t end = MIN(r->end >> TARGET_PAGE_BITS, scan.nr_pfns);
            uint64_t *bytes = g_hash_table_lookup(gf->bytes, r->block);

            if (first >= end) {
                continue;
            }
            if (!bytes) {
                bytes = g_new0(uint64_t, 1);
                g_hash_table_insert(gf->bytes, r->block, bytes);
            }
            *bytes += (uint64_t)bitmap_count_one_with_offset(
                (unsigned long *)scan.bitmap, first, end - first) *
                TARGET_PAGE_SIZE;
        }
    }
}

static __org_qemu_memx_WorkingSetBackend *
working_set_backend(const WorkingSet *ws, const char *memdev,
                    uint64_t size, uint32_t period_ms,
                    const uint32_t *windows_s, size_t nr_windows)
{
    __org_qemu_memx_WorkingSetBackend *b = g_new0(typeof(*b), 1);
    __org_qemu_memx_WorkingSetWindowList **wtail = &b->windows;
    __org_qemu_memx_MissRatePointList **ctail = &b->curve;
    uint64_t sizes[CURVE_POINTS];
    double miss[CURVE_POINTS];

    b->memdev = g_strdup(memdev);
    b->size = size;
    b->page_size = TARGET_PAGE_SIZE;
    for (size_t i = 0; i < nr_windows; i++) {
        __org_qemu_memx_WorkingSetWindow *w = g_new0(typeof(*w), 1);
        uint32_t periods = DIV_ROUND_UP((uint64_t)windows_s[i] * 1000,
                                        period_ms);

        w->seconds = windows_s[i];
        w->bytes = MIN(working_set_bytes(ws, periods, &w->complete), size);
        QAPI_LIST_APPEND(wtail, w);
    }
    for (size_t i = 0; i < CURVE_POINTS; i++) {
        sizes[i] = size / (CURVE_POINTS - 1) * i;
    }
    sizes[CURVE_POINTS - 1] = size;
    b->references = working_set_curve(ws, sizes, CURVE_POINTS, miss);
    b->curve_seconds = (uint64_t)ws->curve_periods * period_ms / 1000;
    for (size_t i = 0; i < CURVE_POINTS; i++) {
        __org_qemu_memx_MissRatePoint *pt = g_new0(typeof(*pt), 1);

        pt->size = sizes[i];
        pt->miss_ratio = miss[i];
        QAPI_LIST_APPEND(ctail, pt);
    }
    b->knee = MIN(working_set_knee(ws, KNEE_SHARE), size);
    return b;
}

__org_qemu_memx_WorkingSetInfo *
qmp___org_qemu_memx_query_working_set(bool has_windows, uint32List *windows,
                                      bool has_guest_free, bool guest_free,
                                      Error **errp)
{
    __org_qemu_memx_WorkingSetInfo *info;
    __org_qemu_memx_WorkingSetBackendList **tail;
    GuestFreeByBlock gf = { 0 };
    MemxPageActivityState state;
    MemxTrackedView view;
    uint32_t windows_s[MAX_WINDOWS];
    size_t nr_windows = 0;

    if (has_windows) {
        for (uint32List *l = windows; l; l = l->next) {
            if (nr_windows == MAX_WINDOWS) {
                error_setg(errp, "at most %d windows", MAX_WINDOWS);
                return NULL;
            }
            if (l->value < 1 || l->value > MAX_WINDOW_S) {
                error_setg(errp, "a window must be 1 to %d seconds, not %"
                           PRIu32, MAX_WINDOW_S, l->value);
                return NULL;
            }
            windows_s[nr_windows++] = l->value;
        }
    } else {
        memcpy(windows_s, default_windows_s, sizeof(default_windows_s));
        nr_windows = G_N_ELEMENTS(default_windows_s);
    }
    info = g_new0(__org_qemu_memx_WorkingSetInfo, 1);
    if (!memx_page_activity_state(&state)) {
        info->reason = g_strdup("no page-activity tracker runs: add -object "
                                "x-memx-page-activity,id=ID (or object-add "
                                "it) to track guest accesses");
        return info;
    }
    if (!has_guest_free || guest_free) {
        guest_free_by_block(&gf);
    }
    info->active = true;
    info->has_provider = true;
    info->provider = state.provider;
    info->has_sees = true;
    if (state.provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB ||
        state.provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_DAMON) {
        info->sees = ORG_QEMU_MEMX_WORKING_SET_ACCESSES_READS_AND_WRITES;
    } else {
        info->sees = ORG_QEMU_MEMX_WORKING_SET_ACCESSES_WRITES;
    }
    info->has_period_ms = true;
    info->period_ms = state.period_ms;
    info->has_periods = true;
    info->periods = state.periods;
    info->has_overhead_us = true;
    info->overhead_us = state.overhead_ns / SCALE_US;
    info->has_sample_rate = true;
    info->sample_rate = state.sample_rate;
    if (gf.reason) {
        info->guest_free_reason = g_strdup(gf.reason);
    }
    tail = &info->backends;
    for (unsigned i = 0; memx_page_activity_backend(i, &view); i++) {
        const WorkingSet *ws = view.working_set;
        __org_qemu_memx_WorkingSetBackend *b;
        uint64_t *free_bytes;

        b = working_set_backend(ws, view.memdev,
                                ws->nr_pages << ws->page_shift,
                                state.period_ms, windows_s, nr_windows);
        free_bytes = gf.bytes ? g_hash_table_lookup(gf.bytes, view.block) :
                     NULL;
        if (free_bytes) {
            b->has_guest_free = true;
            b->guest_free = MIN(*free_bytes, b->size);
        }
        QAPI_LIST_APPEND(tail, b);
    }
    if (gf.bytes) {
        g_hash_table_destroy(gf.bytes);
    }
    return info;
}

/* A small text plot: miss ratio against memory size, one row per step. */
static void print_curve(Monitor *mon, __org_qemu_memx_WorkingSetBackend *b)
{
    const int width = 40;
    int row = 0;

    for (__org_qemu_memx_MissRatePointList *l = b->curve; l; l = l->next) {
        /* every other point: 17 rows */
        if (row++ % 2) {
            continue;
        }
        monitor_printf(mon, "  %6" PRIu64 " MiB %5.1f%% |%-*.*s|\n",
                       l->value->size >> 20, l->value->miss_ratio * 100,
                       width, (int)(l->value->miss_ratio * width + 0.5),
                       "########################################");
    }
}

void hmp_info_memx_working_set(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    g_autoptr(__org_qemu_memx_WorkingSetInfo) info =
        qmp___org_qemu_memx_query_working_set(false, NULL, false, false,
                                              &err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!info->active) {
        monitor_printf(mon, "working set: unknown, %s\n", info->reason);
        return;
    }
    monitor_printf(mon, "working set: provider %s (sees %s), period %" PRIu32
                   " ms, %" PRIu64 " periods, curve traces %.2f%% of pages"
                   ", overhead %" PRIu64 " us\n",
                   __org_qemu_memx_PageActivityProvider_str(info->provider),
                   __org_qemu_memx_WorkingSetAccesses_str(info->sees),
                   info->period_ms, info->periods, info->sample_rate * 100,
                   info->overhead_us);
    if (info->guest_free_reason) {
        monitor_printf(mon, "guest free memory unknown: %s\n",
                       info->guest_free_reason);
    }
    for (__org_qemu_memx_WorkingSetBackendList *l = info->backends; l;
         l = l->next) {
        __org_qemu_memx_WorkingSetBackend *b = l->value;

        monitor_printf(mon, "%s: %" PRIu64 " MiB", b->memdev, b->size >> 20);
        if (b->has_guest_free) {
            monitor_printf(mon, ", in use %" PRIu64 " MiB, guest-free %"
                           PRIu64 " MiB", (b->size - b->guest_free) >> 20,
                           b->guest_free >> 20);
        }
        for (__org_qemu_memx_WorkingSetWindowList *w = b->windows; w;
             w = w->next) {
            monitor_printf(mon, ", %" PRIu32 " s: %" PRIu64 " MiB%s",
                           w->value->seconds, w->value->bytes >> 20,
                           w->value->complete ? "" : " (so far)");
        }
        monitor_printf(mon, "\n  miss-rate curve over the last %" PRIu32
                       " s (%" PRIu64 " references), knee at %" PRIu64
                       " MiB:\n", b->curve_seconds, b->references,
                       b->knee >> 20);
        print_curve(mon, b);
    }
}
