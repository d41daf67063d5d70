/*
 * When to give up on precopy and switch to postcopy (see
 * postcopy-switch.h).
 *
 * "Best" is the value at the last sample that made progress, not the
 * smallest ever seen, so a dirty set that creeps down by a few percent
 * per pass still counts as progress once the creep adds up to 1/16.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "migration-ext/postcopy-switch.h"

/* Progress means falling below 15/16 of the best so far. */
static bool improves_on(uint64_t value, uint64_t best)
{
    return value < best - best / 16;
}

void postcopy_switch_reset(PostcopySwitchState *st)
{
    memset(st, 0, sizeof(*st));
}

static bool dirty_set_stalled(PostcopySwitchState *st,
                              const PostcopySwitchPolicy *policy,
                              const PostcopySwitchSample *s)
{
    if (s->sync_count == st->syncs_seen) {
        return false;
    }
    st->syncs_seen = s->sync_count;
    if (s->sync_count <= 1) {
        /* the first sync marks all of RAM: no pass has been measured yet */
        return false;
    }
    if (!st->best_dirty_bytes ||
        improves_on(s->dirty_bytes, st->best_dirty_bytes)) {
        st->best_dirty_bytes = s->dirty_bytes;
        st->syncs_without_progress = 0;
        return false;
    }
    st->syncs_without_progress++;
    return policy->stall_syncs &&
           st->syncs_without_progress >= policy->stall_syncs;
}

static bool remaining_time_stalled(PostcopySwitchState *st,
                                   const PostcopySwitchPolicy *policy,
                                   const PostcopySwitchSample *s)
{
    if (!s->remaining_known) {
        return false;
    }
    if (!st->have_remaining ||
        improves_on(s->remaining_ms, st->best_remaining_ms)) {
        st->have_remaining = true;
        st->best_remaining_ms = s->remaining_ms;
        st->best_remaining_at_ms = s->now_ms;
        return false;
    }
    return policy->window_ms &&
           s->now_ms - st->best_remaining_at_ms >= policy->window_ms;
}

PostcopySwitchReason postcopy_switch_check(PostcopySwitchState *st,
                                           const PostcopySwitchPolicy *policy,
                                           const PostcopySwitchSample *s)
{
    /* every rule sees every sample, so none lags when another fires */
    bool dirty = dirty_set_stalled(st, policy, s);
    bool remaining = remaining_time_stalled(st, policy, s);

    if (st->reason != POSTCOPY_SWITCH_NONE) {
        return st->reason;
    }
    if (policy->deadline_ms && s->now_ms >= policy->deadline_ms) {
        st->reason = POSTCOPY_SWITCH_DEADLINE;
    } else if (dirty) {
        st->reason = POSTCOPY_SWITCH_DIRTY_SET_STALLED;
    } else if (remaining) {
        st->reason = POSTCOPY_SWITCH_REMAINING_TIME_STALLED;
    }
    return st->reason;
}

const char *postcopy_switch_reason_name(PostcopySwitchReason reason)
{
    switch (reason) {
    case POSTCOPY_SWITCH_DIRTY_SET_STALLED:
        return "dirty-set-stalled";
    case POSTCOPY_SWITCH_REMAINING_TIME_STALLED:
        return "remaining-time-stalled";
    case POSTCOPY_SWITCH_DEADLINE:
        return "deadline";
    default:
        return "none";
    }
}
