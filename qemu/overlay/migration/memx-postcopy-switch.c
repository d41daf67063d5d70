/*
 * qemu-memx: switch a live migration to postcopy on its own when precopy
 * stops converging (__org.qemu-memx_postcopy-auto-switch).
 *
 * The migration thread calls memx_postcopy_switch_tick() once per
 * iteration of precopy, just before upstream checks start_postcopy.  It
 * feeds the policy (migration-ext/postcopy-switch.c) one sample: the
 * time since the migration started, the syncs so far, the dirty set the
 * last sync found, and the time the pending data would take at the
 * measured bandwidth.  When a rule holds, it sets start_postcopy, as
 * migrate-start-postcopy does, and records why; upstream then switches
 * as soon as the device state fits, and the hot-first push
 * (memx-postcopy-push.c) takes over if its capability is on too.
 *
 * Locking: the policy's parameters are set in the main loop and read by
 * the migration thread, each with one atomic access; a tick may see a
 * mix of old and new values, which only moves the switch by a tick.  The
 * rest is the migration thread's, except that query-migrate reads the
 * reason (one atomic load) and the time it was found.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/vfs.h>
#include <linux/magic.h>
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "exec/ramblock.h"
#include "hw/qdev-core.h"
#include "migration.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "migration-ext/postcopy-switch.h"
#include "memx/trace.h"
#include "memx-postcopy-switch.h"

#define MAX_STALL_SYNCS 1000
#define MAX_POLICY_MS (24 * 3600 * 1000ULL)

static struct {
    uint32_t stall_syncs;
    uint64_t window_ms;
    uint64_t deadline_ms;
} policy = { .stall_syncs = 4, .window_ms = 10000, .deadline_ms = 0 };

static struct {
    int64_t migration_start;    /* s->start_time this state is for */
    PostcopySwitchState st;
    int reason;                 /* PostcopySwitchReason, atomic */
    uint64_t switched_after_ms;
} switch_state;

/*
 * userfaultfd handles anonymous memory, tmpfs/shmem (memfd) and
 * hugetlbfs; a block backed by a file anywhere else cannot be postcopied.
 */
static const char *block_not_postcopyable(RAMBlock *block)
{
    struct statfs fs;
    int fd = qemu_ram_get_fd(block);

    if (fd < 0) {
        return NULL;
    }
    if (fstatfs(fd, &fs)) {
        return "its backing file cannot be examined";
    }
    if (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC) {
        return NULL;
    }
    return "it is backed by a file on a file system userfaultfd does not "
           "handle (only anonymous memory, tmpfs/memfd and hugetlbfs)";
}

bool memx_postcopy_switch_caps_check(bool *old_caps, bool *new_caps,
                                     Error **errp)
{
    RAMBlock *block;

    if (!new_caps[MIGRATION_CAPABILITY___ORG_QEMU_MEMX_POSTCOPY_AUTO_SWITCH]) {
        return true;
    }
    if (!new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Switching to postcopy on its own needs the "
                   "postcopy-ram capability (on both sides)");
        return false;
    }
    /* From -global, before any RAM exists: checked when set at run time */
    if (!phase_check(PHASE_MACHINE_READY)) {
        return true;
    }
    RCU_READ_LOCK_GUARD();
    RAMBLOCK_FOREACH_MIGRATABLE(block) {
        const char *why = block_not_postcopyable(block);

        if (why) {
            error_setg(errp, "Postcopy cannot run: RAM block '%s' cannot be "
                       "postcopied: %s", qemu_ram_get_idstr(block), why);
            return false;
        }
    }
    return true;
}

void memx_postcopy_switch_tick(MigrationState *s, uint64_t pending_bytes)
{
    PostcopySwitchPolicy p = {
        .stall_syncs = qatomic_read(&policy.stall_syncs),
        .window_ms = qatomic_read(&policy.window_ms),
        .deadline_ms = qatomic_read(&policy.deadline_ms),
    };
    PostcopySwitchSample sample;
    PostcopySwitchReason reason;
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    if (switch_state.migration_start != s->start_time) {
        switch_state.migration_start = s->start_time;
        postcopy_switch_reset(&switch_state.st);
        qatomic_set(&switch_state.reason, POSTCOPY_SWITCH_NONE);
        switch_state.switched_after_ms = 0;
    }
    if (qatomic_read(&switch_state.reason) != POSTCOPY_SWITCH_NONE ||
        qatomic_read(&s->start_postcopy)) {
        return;
    }
    sample = (PostcopySwitchSample) {
        .now_ms = now - s->start_time,
        .sync_count = stat64_get(&mig_stats.dirty_sync_count),
        .dirty_bytes = stat64_get(&mig_stats.dirty_bytes_last_sync),
        .remaining_known = s->mbps > 0,
        .remaining_ms = s->mbps > 0 ?
                        pending_bytes * 8 / (s->mbps * 1000) : 0,
    };
    reason = postcopy_switch_check(&switch_state.st, &p, &sample);
    if (reason == POSTCOPY_SWITCH_NONE) {
        return;
    }
    switch_state.switched_after_ms = sample.now_ms;
    qatomic_set(&switch_state.reason, reason);
    trace_memx_postcopy_switch(postcopy_switch_reason_name(reason),
                               sample.now_ms, sample.sync_count,
                               sample.dirty_bytes);
    qatomic_set(&s->start_postcopy, true);
}

void memx_postcopy_switch_fill(MigrationState *s,
                               __org_qemu_memx_PostcopyPush *p)
{
    int reason = qatomic_read(&switch_state.reason);

    if (switch_state.migration_start != s->start_time ||
        reason == POSTCOPY_SWITCH_NONE) {
        return;
    }
    p->switch_reason = g_strdup(postcopy_switch_reason_name(reason));
    p->has_switched_after_ms = true;
    p->switched_after_ms = switch_state.switched_after_ms;
}

void qmp___org_qemu_memx_set_postcopy_switch(bool has_stall_syncs,
                                             uint32_t stall_syncs,
                                             bool has_window_ms,
                                             uint64_t window_ms,
                                             bool has_deadline_ms,
                                             uint64_t deadline_ms,
                                             Error **errp)
{
    if (has_stall_syncs && stall_syncs > MAX_STALL_SYNCS) {
        error_setg(errp, "stall-syncs must be at most %d, not %" PRIu32,
                   MAX_STALL_SYNCS, stall_syncs);
        return;
    }
    if ((has_window_ms && window_ms > MAX_POLICY_MS) ||
        (has_deadline_ms && deadline_ms > MAX_POLICY_MS)) {
        error_setg(errp, "window-ms and deadline-ms must be at most one day "
                   "(%llu ms)", MAX_POLICY_MS);
        return;
    }
    if (has_stall_syncs) {
        qatomic_set(&policy.stall_syncs, stall_syncs);
    }
    if (has_window_ms) {
        qatomic_set(&policy.window_ms, window_ms);
    }
    if (has_deadline_ms) {
        qatomic_set(&policy.deadline_ms, deadline_ms);
    }
}

__org_qemu_memx_PostcopySwitchPolicy *
qmp___org_qemu_memx_query_postcopy_switch(Error **errp)
{
    __org_qemu_memx_PostcopySwitchPolicy *p = g_new0(typeof(*p), 1);

    p->stall_syncs = qatomic_read(&policy.stall_syncs);
    p->window_ms = qatomic_read(&policy.window_ms);
    p->deadline_ms = qatomic_read(&policy.deadline_ms);
    return p;
}

void hmp_memx_postcopy_switch(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp___org_qemu_memx_set_postcopy_switch(
        qdict_haskey(qdict, "stall_syncs"),
        qdict_get_try_int(qdict, "stall_syncs", 0),
        qdict_haskey(qdict, "window_ms"),
        qdict_get_try_int(qdict, "window_ms", 0),
        qdict_haskey(qdict, "deadline_ms"),
        qdict_get_try_int(qdict, "deadline_ms", 0), &err);
    if (hmp_handle_error(mon, err)) {
        return;
    }
    hmp_info_memx_postcopy_switch(mon, qdict);
}

void hmp_info_memx_postcopy_switch(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_PostcopySwitchPolicy) p =
        qmp___org_qemu_memx_query_postcopy_switch(NULL);

    monitor_printf(mon, "postcopy switch: after %" PRIu32 " syncs without "
                   "progress (0: off), %" PRIu64 " ms without the remaining "
                   "time falling (0: off), deadline %" PRIu64 " ms (0: off)"
                   "\n", p->stall_syncs, p->window_ms, p->deadline_ms);
}
