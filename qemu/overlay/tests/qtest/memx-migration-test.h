/*
 * qemu-memx's migration qtests: what memx-migration-test.c's main() calls
 * in the files that share its binary.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMX_MIGRATION_TEST_H
#define MEMX_MIGRATION_TEST_H

/* Register the guest-free page skipping tests (memx-free-pages-test.c). */
void memx_free_pages_tests_add(const char *tmpfs_dir);

/*
 * Register the page-activity tracker and NUMA move tests that need no
 * second host node (memx-numa-move-test.c).
 */
void memx_numa_move_tests_add(void);

void memx_dedup_tests_add(void);

/* Register the switchover guard's tests (memx-switchover-test.c). */
void memx_switchover_tests_add(void);

/*
 * Register the hot-first postcopy tests (memx-postcopy-test.c); without
 * userfaultfd only the refusal runs, and the rest says why it skips.
 */
void memx_postcopy_tests_add(bool has_uffd);

#endif
