/*
 * qemu-memx: switch a live migration to postcopy on its own when precopy
 * stops converging (__org.qemu-memx_postcopy-auto-switch).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_MIGRATION_MEMX_POSTCOPY_SWITCH_H
#define QEMU_MIGRATION_MEMX_POSTCOPY_SWITCH_H

#include "qapi/qapi-types-migration.h"

typedef struct MigrationState MigrationState;

/* Refuse the capability where postcopy cannot run. */
bool memx_postcopy_switch_caps_check(bool *old_caps, bool *new_caps,
                                     Error **errp);

/*
 * Once per migration-thread iteration in precopy, before upstream looks
 * at start_postcopy: feed the policy and set start_postcopy when it says
 * so.  @pending_bytes is what is left to send, as estimated.
 */
void memx_postcopy_switch_tick(MigrationState *s, uint64_t pending_bytes);

/* Why and when this migration switched on its own, into @p. */
void memx_postcopy_switch_fill(MigrationState *s,
                               __org_qemu_memx_PostcopyPush *p);

#endif
