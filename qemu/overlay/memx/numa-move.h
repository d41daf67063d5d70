/*
 * qemu-memx NUMA move job (numa-move.c) and its reports
 * (numa-move-report.c): the state they share.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMX_NUMA_MOVE_H
#define MEMX_NUMA_MOVE_H

#include "qemu/job.h"
#include "qemu/ratelimit.h"
#include "qapi/qapi-types-memx.h"
#include "exec/ramblock.h"
#include "system/hostmem.h"
#include "migration-ext/numa-move-plan.h"

#define MOVE_ROUNDS 4
#define BATCH_PAGES 8192        /* 32 MiB of 4 KiB pages per syscall */
#define NODE_NOT_PRESENT (-1)
#define NODE_UNKNOWN (-2)           /* not looked up yet */
#define HOT_LOCAL_SHARE 0.9

/* One memory backend being moved. */
typedef struct MoveRange {
    HostMemoryBackend *backend;     /* referenced for the job's life */
    char *id;
    RAMBlock *block;
    uint8_t *host;
    uint64_t size;
    uint64_t nr_pages;
    unsigned unit_shift;
    NumaMovePlan plan;
    int16_t *page_node;             /* per host page, or NODE_* */
    HostMemPolicy old_policy;
    DECLARE_BITMAP(old_nodes, MAX_NODES + 1);
} MoveRange;

typedef struct NumaMoveJob {
    Job common;
    GPtrArray *ranges;              /* MoveRange */
    uint16_t node;
    __org_qemu_memx_NumaMoveOrder order;
    RateLimit limit;
    bool limited;
    Error *blocker;
    int64_t start_ns, end_ns, hot_local_ns;
    uint64_t total_bytes, moved_bytes;
    uint64_t hot_local_bytes;       /* moved_bytes when hot_local_ns was set */
    uint64_t busy_pages, refused_pages, failed_pages;
    unsigned rounds;
    char *error;
} NumaMoveJob;

/* The job running now, if any. */
extern NumaMoveJob *numa_move_running;

static inline uint64_t unit_pages(const MoveRange *r)
{
    return (UINT64_C(1) << r->unit_shift) / qemu_real_host_page_size();
}

/* Is the page (perhaps) somewhere else than the target? */
static inline bool page_needs_move(const NumaMoveJob *s, const MoveRange *r,
                            uint64_t page)
{
    return r->page_node[page] != NODE_NOT_PRESENT &&
           r->page_node[page] != s->node;
}

/* Snapshot the job's figures for the query; returns that report. */
__org_qemu_memx_NumaMoveInfo *numa_move_publish(NumaMoveJob *s);

/* Pages not known to be on the target yet, over all ranges. */
uint64_t numa_move_pages_left(const NumaMoveJob *s);

/* Note the moment the memory classed hot became HOT_LOCAL_SHARE local. */
void numa_move_check_hot_local(NumaMoveJob *s);

#endif /* MEMX_NUMA_MOVE_H */
