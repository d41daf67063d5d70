/*
 * qemu-memx: hot-first postcopy, the source's push of the pages the
 * destination has not asked for.  See memx-postcopy-push.c.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_MEMX_POSTCOPY_PUSH_H
#define MIGRATION_MEMX_POSTCOPY_PUSH_H

#include "qapi/qapi-types-migration.h"

/* migrate_caps_check(): hot-first needs postcopy-ram. */
bool memx_postcopy_caps_check(bool *old_caps, bool *new_caps, Error **errp);

/*
 * Source, BQL held, the VM stopped and the last dirty sync done: take
 * the page-activity classes of every tracked block for the push.
 */
void memx_postcopy_push_start(MigrationState *s);

/*
 * Source, migration thread, bitmap_mutex held, no page request queued:
 * the next hot or warm dirty page to push, or NULL when none is left
 * (upstream's address order takes over).
 */
RAMBlock *memx_postcopy_push_next(ram_addr_t *offset);

/* Source: postcopy recovery gave the bitmap back its lost pages. */
void memx_postcopy_push_rewind(void);

/* Source: query-migrate's __org.qemu-memx_postcopy. */
void memx_postcopy_fill_info(MigrationInfo *info);

#endif
