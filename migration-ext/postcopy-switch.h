/*
 * When to give up on precopy: the policy that switches a live migration
 * to postcopy on its own once precopy stops making progress.
 *
 * Precopy converges when each pass leaves less to send than the one
 * before.  A guest that dirties memory faster than the link carries it
 * keeps the dirty set where it is, and precopy loops until someone gives
 * up.  The policy is fed one sample per dirty-bitmap sync (the end of a
 * pass) and one per rate-limit period, and says "switch" with a reason
 * when any of its enabled rules holds:
 *
 *   dirty-set-stalled       the dirty set found at a sync has not fallen
 *                           below 15/16 of the smallest one before it for
 *                           stall_syncs syncs in a row;
 *   remaining-time-stalled  the predicted time to send what is left has
 *                           not fallen below 15/16 of its best for
 *                           window_ms;
 *   deadline                deadline_ms have passed since the start.
 *
 * A rule with a zero parameter is off.  The policy itself keeps no
 * clock: the caller passes milliseconds since the migration started.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_POSTCOPY_SWITCH_H
#define MIGRATION_EXT_POSTCOPY_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

typedef enum PostcopySwitchReason {
    POSTCOPY_SWITCH_NONE,
    POSTCOPY_SWITCH_DIRTY_SET_STALLED,
    POSTCOPY_SWITCH_REMAINING_TIME_STALLED,
    POSTCOPY_SWITCH_DEADLINE,
} PostcopySwitchReason;

typedef struct PostcopySwitchPolicy {
    unsigned stall_syncs;
    uint64_t window_ms;
    uint64_t deadline_ms;
} PostcopySwitchPolicy;

typedef struct PostcopySwitchSample {
    uint64_t now_ms;            /* since the migration started */
    uint64_t sync_count;        /* dirty-bitmap syncs so far */
    uint64_t dirty_bytes;       /* found dirty at the last sync */
    uint64_t remaining_ms;      /* predicted time to send what is left */
    bool remaining_known;       /* false until a bandwidth is measured */
} PostcopySwitchSample;

typedef struct PostcopySwitchState {
    uint64_t syncs_seen;
    uint64_t best_dirty_bytes;
    unsigned syncs_without_progress;
    uint64_t best_remaining_ms;
    uint64_t best_remaining_at_ms;
    bool have_remaining;
    PostcopySwitchReason reason;    /* the first rule that held */
} PostcopySwitchState;

void postcopy_switch_reset(PostcopySwitchState *st);

/*
 * Feed one sample; returns the reason to switch now, or
 * POSTCOPY_SWITCH_NONE.  Once a reason is returned it sticks.
 */
PostcopySwitchReason postcopy_switch_check(PostcopySwitchState *st,
                                           const PostcopySwitchPolicy *policy,
                                           const PostcopySwitchSample *s);

/* "dirty-set-stalled" and so on; "none" for POSTCOPY_SWITCH_NONE. */
const char *postcopy_switch_reason_name(PostcopySwitchReason reason);

#endif /* MIGRATION_EXT_POSTCOPY_SWITCH_H */
