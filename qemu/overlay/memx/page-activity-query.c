/*
 * qemu-memx: __org.qemu-memx_query-page-activity and info
 * memx-page-activity, what the page-activity tracker (page-activity.c)
 * has seen, and which providers this QEMU on this host can use.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "system/tcg.h"
#include "system/memx-page-activity.h"
#include "memx-damon.h"

static __org_qemu_memx_PageActivitySourceList *activity_sources(void)
{
    __org_qemu_memx_PageActivitySourceList *head = NULL, **tail = &head;
    __org_qemu_memx_PageActivitySource *src;
    const char *in_use = memx_page_activity_provider();

    src = g_new0(__org_qemu_memx_PageActivitySource, 1);
    src->name = g_strdup("tcg-tlb");
    src->available = tcg_enabled();
    if (!src->available) {
        src->reason = g_strdup("the accelerator is not TCG");
    }
    QAPI_LIST_APPEND(tail, src);
    src = g_new0(__org_qemu_memx_PageActivitySource, 1);
    src->name = g_strdup("dirty-log");
    src->available = true;
    QAPI_LIST_APPEND(tail, src);
    src = g_new0(__org_qemu_memx_PageActivitySource, 1);
    src->name = g_strdup("damon");
    /* reads only: the provider never writes unless asked to start */
    src->available = (in_use && !strcmp(in_use, "damon")) ||
                     memx_damon_usable(&src->reason);
    QAPI_LIST_APPEND(tail, src);
    src = g_new0(__org_qemu_memx_PageActivitySource, 1);
    src->name = g_strdup("page-idle");
    src->reason = g_strdup("not implemented in qemu-memx (Debian kernels are "
                           "built without CONFIG_IDLE_PAGE_TRACKING)");
    QAPI_LIST_APPEND(tail, src);
    return head;
}

__org_qemu_memx_PageActivityInfo *
qmp___org_qemu_memx_query_page_activity(Error **errp)
{
    __org_qemu_memx_PageActivityInfo *info =
        g_new0(__org_qemu_memx_PageActivityInfo, 1);
    __org_qemu_memx_PageActivityBackendList **tail = &info->backends;
    MemxPageActivityState state;
    MemxTrackedView view;

    info->sources = activity_sources();
    info->active = memx_page_activity_state(&state);
    if (!info->active) {
        return info;
    }
    info->has_provider = true;
    info->provider = state.provider;
    info->has_period_ms = true;
    info->period_ms = state.period_ms;
    info->has_history = true;
    info->history = state.history;
    info->has_hot_min = true;
    info->hot_min = state.hot_min;
    info->has_overhead_us = true;
    info->overhead_us = state.overhead_ns / SCALE_US;
    info->has_last_period_us = true;
    info->last_period_us = state.last_period_ns / SCALE_US;
    info->has_periods = true;
    info->periods = state.periods;
    info->has_backends = true;
    for (unsigned i = 0; memx_page_activity_backend(i, &view); i++) {
        __org_qemu_memx_PageActivityBackend *b = g_new0(typeof(*b), 1);
        uint64_t counts[PAGE_ACTIVITY_NR_CLASSES];
        uint64_t unit = UINT64_C(1) << view.activity->unit_shift;

        page_activity_count(view.activity, counts);
        b->memdev = g_strdup(view.memdev);
        b->size = view.size;
        b->unit_size = unit;
        b->hot_bytes = MIN(counts[PAGE_ACTIVITY_HOT] * unit, view.size);
        b->warm_bytes = MIN(counts[PAGE_ACTIVITY_WARM] * unit,
                            view.size - b->hot_bytes);
        b->cold_bytes = view.size - b->hot_bytes - b->warm_bytes;
        QAPI_LIST_APPEND(tail, b);
    }
    return info;
}

void hmp_info_memx_page_activity(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_PageActivityInfo) info =
        qmp___org_qemu_memx_query_page_activity(NULL);

    if (!info->active) {
        monitor_printf(mon, "page activity: not tracked (add -object "
                       "x-memx-page-activity,id=ID)\n");
    } else {
        monitor_printf(mon, "page activity: provider %s, period %" PRIu32
                       " ms, hot after %u of %u periods, %" PRIu64
                       " periods\n",
                       __org_qemu_memx_PageActivityProvider_str(info->provider),
                       info->period_ms, info->hot_min, info->history,
                       info->periods);
        monitor_printf(mon, "overhead: %" PRIu64 " us in total, %" PRIu64
                       " us last period\n", info->overhead_us,
                       info->last_period_us);
        for (__org_qemu_memx_PageActivityBackendList *l = info->backends; l;
             l = l->next) {
            monitor_printf(mon, "%s: %" PRIu64 " MiB in %" PRIu64
                           " KiB units: hot %" PRIu64 " MiB, warm %" PRIu64
                           " MiB, cold %" PRIu64 " MiB\n", l->value->memdev,
                           l->value->size >> 20, l->value->unit_size >> 10,
                           l->value->hot_bytes >> 20,
                           l->value->warm_bytes >> 20,
                           l->value->cold_bytes >> 20);
        }
    }
    for (__org_qemu_memx_PageActivitySourceList *l = info->sources; l;
         l = l->next) {
        monitor_printf(mon, "provider %s: %s%s%s\n", l->value->name,
                       l->value->available ? "available" : "unavailable",
                       l->value->reason ? ": " : "",
                       l->value->reason ? l->value->reason : "");
    }
}
