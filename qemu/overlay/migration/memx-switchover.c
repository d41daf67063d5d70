/*
 * qemu-memx: the switchover guard, and the pause the destination saw.
 *
 * The pause a guest sees is the time from the source's stop of the VM
 * to the destination's start of it.  Upstream stops the VM once the
 * dirty memory still pending fits bandwidth x downtime-limit, with the
 * bandwidth measured over the last 100 ms of sending.  Two things make
 * the real pause longer than that estimate:
 *
 *  - A backlog at the destination.  What the source wrote into socket
 *    buffers before the stop may not have been applied yet.  Pattern
 *    pages make this large: about 16 bytes on the wire, a whole page to
 *    write at the destination, and nothing bounds how far the source
 *    runs ahead but the buffers.  Upstream's downtime, taken on the
 *    source, never sees it.
 *  - A rate the stop phase does not get.  The 100 ms window can hold
 *    the filling of socket buffers at memory speed; and with guest-free
 *    pages skipped, pending can fall under the threshold in the middle
 *    of the first pass, so the whole budget is spent.
 *
 * The guard (source side) answers with three rules, applied only when
 * upstream would stop the VM:
 *
 *  1. Never in the middle of the first pass over RAM.
 *  2. With a return path, drain first.  The source ends a RAM section
 *     with a multifd sync (when multifd is on) and sends a PING; the
 *     destination answers with a PONG only after it has applied every
 *     page before it, because its main thread waits for all channels at
 *     that sync.  Both are upstream's own messages: a stock destination
 *     takes part unchanged, and the stream stays upstream's.  The VM
 *     runs during a drain, so a drain costs throughput, not downtime.
 *  3. Size the stop phase by a rate it will get.  Between two drains
 *     both ends are empty, so pages sent between them over the time
 *     between them is the rate the destination confirmed, pattern pages
 *     priced at what they cost there.  Without a return path, take the
 *     lower of upstream's rate and the rate over the whole migration.
 *     The VM stops only when pending / rate fits the downtime limit.
 *
 * The destination side reports what it saw.  The first end-of-device
 * section of a precopy stream (QEMU_VM_SECTION_END) is written just
 * after the source stopped the VM.  The destination notes when it reads
 * it, counts the pages it receives from then on, and notes when it
 * resumes the VM.  It reads that section late only when a backlog lies
 * in front of it on the main channel, which is what the drain removes;
 * a backlog on multifd channels shows in the count and in the time.
 *
 * Races and limits: a page dirtied between the last drain and the stop
 * is ordinary stop-phase work and counted by rule 3.  A drain that gets
 * no PONG (the return path failed or the migration was cancelled) is
 * abandoned when the migration leaves the active state; the guard then
 * falls back to rule 3 without a confirmed rate for the rest of that
 * migration.  Postcopy and paused VMs are not guarded: nothing pauses.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/timer.h"
#include "migration.h"
#include "migration-stats.h"
#include "multifd.h"
#include "postcopy-ram.h"
#include "options.h"
#include "savevm.h"
#include "qemu-file.h"
#include "io/channel.h"
#include "system/runstate.h"
#include "memx/trace.h"
#include "memx-switchover.h"

/* Value carried by the guard's PINGs (ASCII "MEMX"), for traces. */
#define MEMX_SWITCHOVER_PING 0x4d454d58

/* How long one wait for a PONG sleeps before checking the migration. */
#define MEMX_PONG_POLL_MS 100

/* Fewest pages between two drains that measure a rate. */
#define MEMX_RATE_MIN_PAGES 256

/*
 * The source's guard.  Only the migration thread writes it; the QMP
 * thread reads the counters, which are all Stat64 or atomics.
 */
static struct {
    int64_t migration_start;        /* s->start_time this state is for */
    bool drain_broken;              /* a PONG never came: stop draining */
    bool sync_wanted;               /* ask the next RAM section to sync */
    bool sync_done;                 /* it did, at sync_pages pages sent */
    uint64_t sync_pages;
    bool drained;                   /* a drain ended at ack_pages */
    uint64_t ack_pages;
    int64_t ack_ns;
    uint64_t window_pages;          /* start of the rate window */
    int64_t window_ns;
    Stat64 first_pass_holds;
    Stat64 rate_holds;
    Stat64 drains;
    Stat64 drain_ns;
    Stat64 drain_max_ns;
    Stat64 rate_bytes_per_s;        /* what the last decision used */
    Stat64 expected_ms;
    bool confirmed_rate;            /* rate_bytes_per_s came from drains */
    bool return_path;               /* the migration has one to drain */
} guard;

/* The destination's view of the dst_pause. */
static struct {
    QEMUFile *file;                 /* the incoming stream being counted */
    bool counting;
    int64_t stop_seen_ns;
    int64_t resumed_ns;
    bool resumed;
    bool vm_started;
    bool return_path;
    Stat64 pages;
} dst_pause;

bool memx_switchover_guard_enabled(void)
{
    return migrate_memx_switchover_guard() || migrate_memx_pattern_pages() ||
           migrate_memx_skip_free_pages();
}

static void memx_switchover_reset(MigrationState *s)
{
    guard.migration_start = s->start_time;
    guard.drain_broken = false;
    guard.sync_wanted = false;
    guard.sync_done = false;
    guard.drained = false;
    guard.window_ns = 0;
    guard.confirmed_rate = false;
    stat64_set(&guard.first_pass_holds, 0);
    stat64_set(&guard.rate_holds, 0);
    stat64_set(&guard.drains, 0);
    stat64_set(&guard.drain_ns, 0);
    stat64_set(&guard.drain_max_ns, 0);
    stat64_set(&guard.rate_bytes_per_s, 0);
    stat64_set(&guard.expected_ms, 0);
}

bool memx_switchover_take_multifd_sync(void)
{
    if (!guard.sync_wanted) {
        return false;
    }
    guard.sync_wanted = false;
    guard.sync_done = true;
    guard.sync_pages = ram_get_total_transferred_pages();
    return true;
}

/*
 * Send a PING and wait for its PONG: every page sent before it has
 * then been applied at the destination.  False if none came while the
 * migration stayed active.
 */
static bool memx_switchover_ping(MigrationState *s)
{
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t took;

    /* a PONG nobody waited for (the return path's opening PING) */
    while (!qemu_sem_timedwait(&s->rp_state.rp_pong_acks, 0)) {
        continue;
    }
    qemu_savevm_send_ping(s->to_dst_file, MEMX_SWITCHOVER_PING);
    if (qemu_fflush(s->to_dst_file) < 0) {
        return false;
    }
    while (qemu_sem_timedwait(&s->rp_state.rp_pong_acks,
                              MEMX_PONG_POLL_MS)) {
        if (s->state != MIGRATION_STATUS_ACTIVE || migrate_has_error(s)) {
            guard.drain_broken = true;
            return false;
        }
    }
    took = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
    stat64_add(&guard.drains, 1);
    stat64_add(&guard.drain_ns, took);
    stat64_max(&guard.drain_max_ns, took);
    trace_memx_switchover_drained(took / SCALE_US);
    return true;
}

/*
 * Drain the destination.  Returns false if a multifd sync must first
 * end a RAM section (the caller keeps iterating), or if it failed.
 */
static bool memx_switchover_drain(MigrationState *s)
{
    uint64_t pages = ram_get_total_transferred_pages();
    int64_t now;

    if (multifd_ram_sync_per_round() &&
        !(guard.sync_done && guard.sync_pages == pages)) {
        /* pages were sent after the last sync, or there was none */
        guard.sync_wanted = true;
        guard.sync_done = false;
        return false;
    }
    if (!memx_switchover_ping(s)) {
        return false;
    }
    now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (guard.drained && now > guard.ack_ns &&
        pages - guard.ack_pages >= MEMX_RATE_MIN_PAGES) {
        /*
         * Both ends were empty at the last drain and are now: what was
         * sent in between took the whole interval to be applied.
         */
        guard.window_pages = guard.ack_pages;
        guard.window_ns = guard.ack_ns;
    }
    guard.drained = true;
    guard.ack_pages = pages;
    guard.ack_ns = now;
    return true;
}

/* Bytes of pending memory per millisecond the stop phase will get. */
static double memx_switchover_rate(MigrationState *s)
{
    uint64_t page_size = qemu_target_page_size();
    uint64_t limit = migrate_downtime_limit();
    uint64_t user_bw = migrate_avail_switchover_bandwidth();
    double upstream, whole;
    int64_t elapsed_ms;

    if (user_bw) {
        /* as upstream: the user's figure is trusted */
        return (double)user_bw / 1000;
    }
    if (guard.window_ns && guard.ack_ns > guard.window_ns) {
        guard.confirmed_rate = true;
        return (double)(guard.ack_pages - guard.window_pages) * page_size /
               ((guard.ack_ns - guard.window_ns) / (double)SCALE_MS);
    }
    guard.confirmed_rate = false;
    upstream = limit ? (double)s->threshold_size / limit : 0;
    elapsed_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) - s->start_time -
                 s->setup_time;
    if (elapsed_ms <= 0) {
        return upstream;
    }
    whole = (double)migration_transferred_bytes() / elapsed_ms;
    return MIN(upstream, whole);
}

bool memx_switchover_ready(MigrationState *s, uint64_t pending_size)
{
    double rate;
    uint64_t expected;

    if (!memx_switchover_guard_enabled() ||
        s->state != MIGRATION_STATUS_ACTIVE || !runstate_is_running()) {
        return true;
    }
    if (guard.migration_start != s->start_time) {
        memx_switchover_reset(s);
    }
    guard.return_path = s->rp_state.rp_thread_created;
    if (!stat64_get(&mig_stats.memx_first_pass_bytes)) {
        stat64_add(&guard.first_pass_holds, 1);
        return false;
    }
    if (s->rp_state.rp_thread_created && !guard.drain_broken) {
        if (!guard.drained ||
            guard.ack_pages != ram_get_total_transferred_pages()) {
            if (!memx_switchover_drain(s)) {
                return false;
            }
        }
    }
    if (!pending_size) {
        return true;
    }
    rate = memx_switchover_rate(s);
    stat64_set(&guard.rate_bytes_per_s, rate * 1000);
    if (rate <= 0) {
        stat64_add(&guard.rate_holds, 1);
        return false;
    }
    expected = pending_size / rate;
    stat64_set(&guard.expected_ms, expected);
    trace_memx_switchover_decide(pending_size, (uint64_t)(rate * 1000),
                                 guard.confirmed_rate, expected);
    if (expected > migrate_downtime_limit()) {
        stat64_add(&guard.rate_holds, 1);
        return false;
    }
    return true;
}

void memx_switchover_fill_info(MigrationInfo *info)
{
    __org_qemu_memx_SwitchoverGuard *g;

    if (guard.migration_start != migrate_get_current()->start_time) {
        /* the guard was not asked in this migration */
        return;
    }
    g = g_new0(__org_qemu_memx_SwitchoverGuard, 1);
    g->first_pass_holds = stat64_get(&guard.first_pass_holds);
    g->rate_holds = stat64_get(&guard.rate_holds);
    g->drains = stat64_get(&guard.drains);
    g->drain_time_ms = stat64_get(&guard.drain_ns) / SCALE_MS;
    g->drain_max_ms = stat64_get(&guard.drain_max_ns) / SCALE_MS;
    g->switchover_bandwidth = stat64_get(&guard.rate_bytes_per_s);
    g->confirmed_bandwidth = guard.confirmed_rate;
    g->expected_downtime = stat64_get(&guard.expected_ms);
    g->return_path = guard.return_path;
    info->__org_qemu_memx_switchover = g;
}

void memx_pause_mark_stop(QEMUFile *f, bool in_postcopy)
{
    if (in_postcopy) {
        return;
    }
    /*
     * From the stop on, every small write matters: without this, Nagle's
     * algorithm holds a short segment (this header, the stream's tail)
     * until the destination acknowledges the one before, which its
     * delayed ACK can put off for 40 ms.  multifd channels already run
     * without it.
     */
    qio_channel_set_delay(qemu_file_get_ioc(f), false);
    /* no later than now, the destination learns of the stop */
    qemu_fflush(f);
}

void memx_pause_note_stop_seen(void)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    PostcopyState ps = postcopy_state_get();

    if ((qatomic_read(&dst_pause.counting) &&
         dst_pause.file == mis->from_src_file) ||
        (ps != POSTCOPY_INCOMING_NONE && ps != POSTCOPY_INCOMING_ADVISE) ||
        !mis->from_src_file) {
        /* not the first end section of this precopy stream */
        return;
    }
    dst_pause.file = mis->from_src_file;
    stat64_set(&dst_pause.pages, 0);
    dst_pause.resumed = false;
    dst_pause.return_path = !!mis->to_src_file;
    dst_pause.stop_seen_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    qatomic_set(&dst_pause.counting, true);
    trace_memx_pause_stop_seen();
}

void memx_pause_note_pages(uint64_t pages)
{
    if (qatomic_read(&dst_pause.counting)) {
        stat64_add(&dst_pause.pages, pages);
    }
}

void memx_pause_note_resumed(bool vm_started)
{
    if (!qatomic_read(&dst_pause.counting)) {
        return;
    }
    dst_pause.resumed_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    dst_pause.vm_started = vm_started;
    dst_pause.resumed = true;
    qatomic_set(&dst_pause.counting, false);
    trace_memx_pause_resumed((dst_pause.resumed_ns -
                              dst_pause.stop_seen_ns) / SCALE_US,
                             stat64_get(&dst_pause.pages), vm_started);
}

void memx_pause_fill_destination_info(MigrationInfo *info)
{
    __org_qemu_memx_DestinationPause *p;

    if (!dst_pause.resumed) {
        return;
    }
    p = g_new0(__org_qemu_memx_DestinationPause, 1);
    p->pause_us = (dst_pause.resumed_ns - dst_pause.stop_seen_ns) / SCALE_US;
    p->pages = stat64_get(&dst_pause.pages);
    p->vm_started = dst_pause.vm_started;
    p->return_path = dst_pause.return_path;
    info->__org_qemu_memx_destination_pause = p;
}
