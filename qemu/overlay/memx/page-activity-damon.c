/*
 * qemu-memx: the page-activity tracker's "damon" provider.  Linux's DAMON
 * watches this QEMU's guest RAM mappings through the host's accessed bits
 * and so sees reads as well as writes under any accelerator (under KVM,
 * the secondary MMU's accessed bits reach it through MMU notifiers).
 *
 * DAMON checks one page per region every sampling interval and adapts
 * the regions to the access pattern, so its view is statistical, not
 * per page.  A thread of ours asks the kdamond for the regions accessed
 * in each aggregation interval (five per tracker period: a read blocks
 * until the next one) and collects them; at the end of each period the
 * tracker (page-activity.c) takes the union and notes every page in it.
 *
 * What this provider may do to the host's DAMON, and what it refuses, is
 * in migration-ext/damon-sysfs.h: it never touches a kdamond it did not
 * create.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "memx-damon.h"
#include "migration-ext/damon-sysfs.h"

#define RECORD_DIR "/run/qemu-memx"
#define AGGREGATIONS_PER_PERIOD 5
#define SAMPLES_PER_AGGREGATION 10

struct MemxDamonSource {
    DamonSysfs *sysfs;
    QemuThread thread;
    QemuMutex lock;
    /* under lock: */
    GArray *accessed;           /* DamonRange seen since the last take */
    GArray *new_ranges;         /* to watch from now on, or NULL */
    bool stopping;
    char *error;                /* why the thread ended, or NULL */
};

bool memx_damon_usable(char **reason)
{
    g_autoptr(GError) err = NULL;

    if (damon_sysfs_usable(DAMON_SYSFS_ROOT, RECORD_DIR, &err)) {
        return true;
    }
    *reason = g_strdup(err->message);
    return false;
}

static void *damon_thread(void *opaque)
{
    MemxDamonSource *src = opaque;
    g_autoptr(GArray) regions = g_array_new(false, false, sizeof(DamonRange));

    for (;;) {
        g_autoptr(GArray) ranges = NULL;
        g_autoptr(GError) err = NULL;
        bool ok;

        qemu_mutex_lock(&src->lock);
        if (src->stopping) {
            qemu_mutex_unlock(&src->lock);
            return NULL;
        }
        ranges = g_steal_pointer(&src->new_ranges);
        qemu_mutex_unlock(&src->lock);

        ok = (!ranges ||
              damon_sysfs_set_ranges(src->sysfs, &g_array_index(ranges,
                                     DamonRange, 0), ranges->len, &err)) &&
             damon_sysfs_read_accessed(src->sysfs, regions, &err);

        qemu_mutex_lock(&src->lock);
        if (!ok) {
            src->error = g_strdup(err->message);
            qemu_mutex_unlock(&src->lock);
            return NULL;
        }
        g_array_append_vals(src->accessed, regions->data, regions->len);
        qemu_mutex_unlock(&src->lock);
        g_array_set_size(regions, 0);
    }
}

MemxDamonSource *memx_damon_start(GArray *ranges, uint32_t period_ms,
                                  Error **errp)
{
    uint64_t aggr_us = (uint64_t)period_ms * 1000 / AGGREGATIONS_PER_PERIOD;
    g_autoptr(GError) err = NULL;
    MemxDamonSource *src;
    DamonSysfs *sysfs;

    /* refuse before creating anything, with DAMON's own reason */
    if (!damon_sysfs_usable(DAMON_SYSFS_ROOT, RECORD_DIR, &err)) {
        error_setg(errp, "provider 'damon': %s", err->message);
        return NULL;
    }
    if (g_mkdir_with_parents(RECORD_DIR, 0700)) {
        error_setg_errno(errp, errno, "cannot create %s", RECORD_DIR);
        return NULL;
    }
    sysfs = damon_sysfs_start(DAMON_SYSFS_ROOT, RECORD_DIR, getpid(),
                              &g_array_index(ranges, DamonRange, 0),
                              ranges->len,
                              MAX(aggr_us / SAMPLES_PER_AGGREGATION, 1000),
                              MAX(aggr_us, 1000), &err);
    if (!sysfs) {
        error_setg(errp, "provider 'damon': %s", err->message);
        return NULL;
    }
    src = g_new0(MemxDamonSource, 1);
    src->sysfs = sysfs;
    src->accessed = g_array_new(false, false, sizeof(DamonRange));
    qemu_mutex_init(&src->lock);
    qemu_thread_create(&src->thread, "memx-damon", damon_thread, src,
                       QEMU_THREAD_JOINABLE);
    return src;
}

void memx_damon_set_ranges(MemxDamonSource *src, GArray *ranges)
{
    qemu_mutex_lock(&src->lock);
    if (src->new_ranges) {
        g_array_unref(src->new_ranges);
    }
    src->new_ranges = g_array_ref(ranges);
    qemu_mutex_unlock(&src->lock);
}

GArray *memx_damon_take_accessed(MemxDamonSource *src, char **error)
{
    GArray *taken;

    qemu_mutex_lock(&src->lock);
    taken = src->accessed;
    src->accessed = g_array_new(false, false, sizeof(DamonRange));
    if (src->error && error) {
        *error = g_strdup(src->error);
    }
    qemu_mutex_unlock(&src->lock);
    return taken;
}

/* CPU time of the kdamond, in ns (0 when unknown). */
int64_t memx_damon_kdamond_cpu_ns(MemxDamonSource *src)
{
    return damon_sysfs_kdamond_cpu_ticks(src->sysfs) *
           (NANOSECONDS_PER_SECOND / sysconf(_SC_CLK_TCK));
}

void memx_damon_stop(MemxDamonSource *src)
{
    if (!src) {
        return;
    }
    qemu_mutex_lock(&src->lock);
    src->stopping = true;
    qemu_mutex_unlock(&src->lock);
    /* the thread ends after its current read: one aggregation interval */
    qemu_thread_join(&src->thread);
    damon_sysfs_stop(src->sysfs);
    qemu_mutex_destroy(&src->lock);
    g_array_unref(src->accessed);
    if (src->new_ranges) {
        g_array_unref(src->new_ranges);
    }
    g_free(src->error);
    g_free(src);
}
