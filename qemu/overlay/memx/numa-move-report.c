/*
 * qemu-memx NUMA move: what the job reports (residency per host node, of
 * all RAM and of the memory classed hot, and when the hot memory became
 * local), through __org.qemu-memx_query-numa-move, its completion event
 * and HMP's info memx-numa-move.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands-memx.h"
#include "qapi/qapi-visit-memx.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "system/memx-page-activity.h"
#include "numa-move.h"

/* The last report, kept after its job is gone. */
static __org_qemu_memx_NumaMoveInfo *last_move_info;

/* Pages of @r that share one class of @pa. */
static uint64_t class_pages(const MoveRange *r, const PageActivity *pa)
{
    return pa && pa->unit_shift == r->unit_shift ? unit_pages(r) : 1;
}

/* Is the unit holding @page of @r classed hot? */
static bool page_is_hot(const MoveRange *r, const PageActivity *pa,
                        uint64_t page)
{
    return pa && page_activity_class(pa, (page * qemu_real_host_page_size())
                                     >> pa->unit_shift) == PAGE_ACTIVITY_HOT;
}

static void count_residency(const NumaMoveJob *s, const MoveRange *r,
                            const PageActivity *pa, uint64_t *all,
                            uint64_t *hot, int nr_nodes)
{
    bool unit_hot = false;

    for (uint64_t page = 0; page < r->nr_pages; page++) {
        int node = r->page_node[page];
        int slot = node == NODE_UNKNOWN ? nr_nodes + 1 :
                   node == NODE_NOT_PRESENT || node >= nr_nodes ? nr_nodes :
                   node;

        if (page % class_pages(r, pa) == 0) {
            unit_hot = page_is_hot(r, pa, page);
        }
        all[slot]++;
        hot[slot] += unit_hot;
    }
}

uint64_t numa_move_pages_left(const NumaMoveJob *s)
{
    uint64_t left = 0;

    for (guint i = 0; i < s->ranges->len; i++) {
        const MoveRange *r = g_ptr_array_index(s->ranges, i);

        for (uint64_t p = 0; p < r->nr_pages; p++) {
            left += page_needs_move(s, r, p);
        }
    }
    return left;
}

void numa_move_check_hot_local(NumaMoveJob *s)
{
    uint64_t hot_present = 0, hot_local = 0;
    bool tracked = false;

    if (s->hot_local_ns) {
        return;
    }
    for (guint i = 0; i < s->ranges->len; i++) {
        MoveRange *r = g_ptr_array_index(s->ranges, i);
        const PageActivity *pa = memx_page_activity_of(r->block);

        if (!pa) {
            continue;
        }
        tracked = true;
        for (uint64_t page = 0; page < r->nr_pages; page++) {
            if (!page_is_hot(r, pa, page)) {
                /* the unit is not hot: skip to the next one */
                page = (page / class_pages(r, pa) + 1) * class_pages(r, pa) - 1;
                continue;
            }
            /* pages not looked up yet count as present elsewhere */
            if (r->page_node[page] == NODE_NOT_PRESENT) {
                continue;
            }
            hot_present++;
            hot_local += r->page_node[page] == s->node;
        }
    }
    if (tracked && hot_present &&
        hot_local >= HOT_LOCAL_SHARE * hot_present) {
        s->hot_local_ns = get_clock();
        s->hot_local_bytes = s->moved_bytes;
    }
}

static __org_qemu_memx_NodeBytesList *node_bytes_list(const uint64_t *pages,
                                                      int nr_nodes)
{
    __org_qemu_memx_NodeBytesList *head = NULL, **tail = &head;

    for (int slot = 0; slot <= nr_nodes + 1; slot++) {
        __org_qemu_memx_NodeBytes *nb;

        if (!pages[slot]) {
            continue;
        }
        nb = g_new(__org_qemu_memx_NodeBytes, 1);
        nb->node = slot == nr_nodes ? NODE_NOT_PRESENT :
                   slot == nr_nodes + 1 ? NODE_UNKNOWN : slot;
        nb->bytes = pages[slot] * qemu_real_host_page_size();
        QAPI_LIST_APPEND(tail, nb);
    }
    return head;
}

__org_qemu_memx_NumaMoveInfo *numa_move_publish(NumaMoveJob *s)
{
    __org_qemu_memx_NumaMoveInfo *info = g_new0(typeof(*info), 1);
    int nr_nodes = MAX_NODES + 1;
    g_autofree uint64_t *all = g_new0(uint64_t, nr_nodes + 2);
    g_autofree uint64_t *hot = g_new0(uint64_t, nr_nodes + 2);
    bool tracked = false;

    for (guint i = 0; i < s->ranges->len; i++) {
        MoveRange *r = g_ptr_array_index(s->ranges, i);
        const PageActivity *pa = memx_page_activity_of(r->block);

        tracked |= pa != NULL;
        count_residency(s, r, pa, all, hot, nr_nodes);
    }
    info->job_id = g_strdup(s->common.id);
    info->status = s->common.status;
    info->node = s->node;
    info->order = s->order;
    info->total_bytes = s->total_bytes;
    info->moved_bytes = s->moved_bytes;
    info->remaining_bytes = numa_move_pages_left(s) *
                            qemu_real_host_page_size();
    info->elapsed_ms = ((s->end_ns ? s->end_ns : get_clock()) - s->start_ns) /
                       SCALE_MS;
    if (s->hot_local_ns) {
        info->has_hot_local_ms = true;
        info->hot_local_ms = (s->hot_local_ns - s->start_ns) / SCALE_MS;
        info->has_hot_local_bytes = true;
        info->hot_local_bytes = s->hot_local_bytes;
    }
    info->residency = node_bytes_list(all, nr_nodes);
    if (tracked) {
        info->has_hot_residency = true;
        info->hot_residency = node_bytes_list(hot, nr_nodes);
    }
    info->busy_pages = s->busy_pages;
    info->refused_pages = s->refused_pages;
    info->failed_pages = s->failed_pages;
    info->rounds = s->rounds;
    info->cancelled = job_is_cancelled(&s->common);
    info->error = g_strdup(s->error);
    qapi_free___org_qemu_memx_NumaMoveInfo(last_move_info);
    last_move_info = info;
    return info;
}

__org_qemu_memx_NumaMoveInfoList *
qmp___org_qemu_memx_query_numa_move(Error **errp)
{
    __org_qemu_memx_NumaMoveInfoList *list = NULL;

    if (numa_move_running) {
        numa_move_publish(numa_move_running);
    }
    if (last_move_info) {
        QAPI_LIST_PREPEND(list, QAPI_CLONE(__org_qemu_memx_NumaMoveInfo,
                                           last_move_info));
    }
    return list;
}

static void hmp_print_residency(Monitor *mon, const char *what,
                                __org_qemu_memx_NodeBytesList *l)
{
    monitor_printf(mon, "%s:", what);
    for (; l; l = l->next) {
        if (l->value->node == NODE_NOT_PRESENT) {
            monitor_printf(mon, " untouched %" PRIu64 " MiB",
                           l->value->bytes >> 20);
        } else if (l->value->node == NODE_UNKNOWN) {
            monitor_printf(mon, " not looked at yet %" PRIu64 " MiB",
                           l->value->bytes >> 20);
        } else {
            monitor_printf(mon, " node %" PRId64 " %" PRIu64 " MiB",
                           l->value->node, l->value->bytes >> 20);
        }
    }
    monitor_printf(mon, "\n");
}

void hmp_info_memx_numa_move(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_NumaMoveInfoList) list =
        qmp___org_qemu_memx_query_numa_move(NULL);
    __org_qemu_memx_NumaMoveInfo *info;

    if (!list) {
        monitor_printf(mon, "no NUMA move has run\n");
        return;
    }
    info = list->value;
    monitor_printf(mon, "job %s (%s): to host node %u, %s order\n",
                   info->job_id, JobStatus_str(info->status), info->node,
                   __org_qemu_memx_NumaMoveOrder_str(info->order));
    monitor_printf(mon, "moved %" PRIu64 " MiB, %" PRIu64 " MiB left of %"
                   PRIu64 " MiB, %" PRIu64 " ms\n", info->moved_bytes >> 20,
                   info->remaining_bytes >> 20, info->total_bytes >> 20,
                   info->elapsed_ms);
    if (info->has_hot_local_ms) {
        monitor_printf(mon, "hot memory 90%% local after %" PRIu64
                       " ms and %" PRIu64 " MiB moved\n",
                       info->hot_local_ms, info->hot_local_bytes >> 20);
    }
    hmp_print_residency(mon, "all RAM", info->residency);
    if (info->has_hot_residency) {
        hmp_print_residency(mon, "hot", info->hot_residency);
    }
    monitor_printf(mon, "pages busy %" PRIu64 ", refused %" PRIu64
                   ", failed %" PRIu64 ", passes %u\n", info->busy_pages,
                   info->refused_pages, info->failed_pages, info->rounds);
    if (info->error) {
        monitor_printf(mon, "error: %s\n", info->error);
    }
}

