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

/*
 * Skipping relies on the destination's RAM reading zero wherever nothing
 * arrives, which holds for a fresh incoming QEMU only.  A snapshot
 * (savevm, snapshot-save) is loaded into RAM that already holds data:
 * refuse to save one while the capability is on.
 */
bool memx_skip_free_pages_snapshot_check(Error **errp);

/* Re-arm dirty tracking for @npages pages of @block from page @start. */
typedef void MemxRearmDirtyFn(RAMBlock *block, unsigned long start,
                              unsigned long npages);

/*
 * Right after a (not final) bitmap sync: find the pages the guest holds
 * free, re-arming dirty tracking through @rearm for each chunk holding
 * dirty free pages before the pages that decide its bits are read.  Call
 * with the BQL, the RCU read lock and the bitmap mutex held.
 */
void memx_free_pages_scan_dirty(MemxRearmDirtyFn *rearm);

/*
 * Later, from the same thread, without the BQL but with the RCU read lock
 * and the bitmap mutex: drop from the migration bitmaps the dirty pages
 * that scan found free, except those whose content is uniform (zero or a
 * pattern), and return how many were dropped.  Does nothing if another
 * sync ran since the scan.
 */
uint64_t memx_free_pages_drop_scanned(void);

/*
 * The first pass's drop: the sender is about to send page @page of
 * @block.  Drop the free pages the first scan found from there to a few
 * MiB ahead, if not done yet, and return how many were dropped.  Same
 * locks as memx_free_pages_drop_scanned().
 */
uint64_t memx_free_pages_drop_ahead(RAMBlock *block, uint64_t page);

/* Fill query-migrate's free-page members. */
void memx_free_pages_fill_stats(MigrationStats *stats);

#endif
