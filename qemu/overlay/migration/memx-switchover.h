/*
 * qemu-memx: the switchover guard (source) and the pause the
 * destination saw (destination).  See memx-switchover.c.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_MEMX_SWITCHOVER_H
#define MIGRATION_MEMX_SWITCHOVER_H

#include "qapi/qapi-types-migration.h"

/*
 * Whether the guard is on: the __org.qemu-memx_switchover-guard
 * capability, or a qemu-memx capability that needs it (pattern pages,
 * guest-free page skipping).
 */
bool memx_switchover_guard_enabled(void);

/*
 * Source, migration thread: upstream would stop the VM now, with
 * @pending_size bytes still dirty.  Returns true if the guard agrees;
 * false to keep iterating.  May block while the destination drains
 * what it received (the VM keeps running meanwhile).
 */
bool memx_switchover_ready(MigrationState *s, uint64_t pending_size);

/*
 * Source, end of a RAM section: true once after the guard asked for a
 * multifd sync there, so that its next PING follows every page sent.
 */
bool memx_switchover_take_multifd_sync(void);

/* Source: query-migrate's __org.qemu-memx_switchover. */
void memx_switchover_fill_info(MigrationInfo *info);

/*
 * Source: an end-of-device section header was written after the VM
 * stopped; send it now, so that the destination sees the stop at once.
 */
void memx_pause_mark_stop(QEMUFile *f, bool in_postcopy);

/*
 * Destination: the first end-of-device section of a precopy stream
 * was read (the source has stopped the VM); pages received from now on
 * are counted until the VM resumes.
 */
void memx_pause_note_stop_seen(void);

/* Destination: @pages more pages were received. */
void memx_pause_note_pages(uint64_t pages);

/* Destination: the incoming migration ended; @vm_started if it resumed. */
void memx_pause_note_resumed(bool vm_started);

/* Destination: query-migrate's __org.qemu-memx_destination-pause. */
void memx_pause_fill_destination_info(MigrationInfo *info);

#endif
