/*
 * qemu-memx guest-free page skipping: migration does not send the pages
 * the guest kernel's buddy allocator holds free, found by introspecting
 * the guest through its VMCOREINFO.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_MIGRATION_MEMX_FREE_PAGES_H
#define QEMU_MIGRATION_MEMX_FREE_PAGES_H

#include "qapi/qapi-types-migration.h"

bool memx_skip_free_pages_caps_check(bool *old_caps, bool *new_caps,
                                     Error **errp);

/*
 * Drop from the migration bitmaps the dirty pages the guest holds free,
 * except those whose content is uniform (zero or a pattern), and return
 * how many were dropped.  Call with the BQL, the RCU read lock and the
 * bitmap mutex held, after dirty tracking for all guest RAM was re-armed.
 */
uint64_t memx_free_pages_drop_dirty(void);

/* Fill query-migrate's free-page members. */
void memx_free_pages_fill_stats(MigrationStats *stats);

#endif
