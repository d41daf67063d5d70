/*
 * qemu-memx: the migration estimate (query-migration-estimate) and the
 * first pass's bytes in query-migrate that it is checked against.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_MEMX_ESTIMATE_H
#define MIGRATION_MEMX_ESTIMATE_H

#include "qapi/qapi-types-migration.h"

/* Fill query-migrate's __org.qemu-memx_first-pass-bytes once known. */
void memx_estimate_fill_stats(MigrationStats *stats);

/*
 * Call whenever the search for dirty pages gets back to the start of
 * RAM: the first time ends the first pass.
 */
void memx_estimate_note_round(void);

#endif
