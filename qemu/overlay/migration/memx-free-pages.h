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
#include "exec/cpu-common.h"

bool memx_skip_free_pages_caps_check(bool *old_caps, bool *new_caps,
                                     Error **errp);

/* Re-arm dirty tracking for @npages pages of @block from page @start. */
typedef void MemxRearmDirtyFn(RAMBlock *block, unsigned long start,
                              unsigned long npages);

/*
 * Drop from the migration bitmaps the dirty pages the guest holds free,
 * except those whose content is uniform (zero or a pattern), and return
 * how many were dropped.  Dirty tracking of each chunk that holds such
 * pages is re-armed through @rearm before the pages are read again.
 * Call with the BQL, the RCU read lock and the bitmap mutex held, right
 * after a bitmap sync.
 */
uint64_t memx_free_pages_drop_dirty(MemxRearmDirtyFn *rearm);

/* Fill query-migrate's free-page members. */
void memx_free_pages_fill_stats(MigrationStats *stats);

#endif
