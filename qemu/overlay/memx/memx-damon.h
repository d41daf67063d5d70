/*
 * qemu-memx: the page-activity tracker's DAMON provider
 * (page-activity-damon.c), as page-activity.c uses it.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMX_DAMON_H
#define MEMX_DAMON_H

typedef struct MemxDamonSource MemxDamonSource;

/* Could the provider start now?  If not, why (reads only). */
bool memx_damon_usable(char **reason);

/*
 * Watch @ranges (DamonRange: this process's guest RAM mappings, sorted)
 * with a kdamond of our own, reporting per tracker period of @period_ms.
 */
MemxDamonSource *memx_damon_start(GArray *ranges, uint32_t period_ms,
                                  Error **errp);

/* Watch @ranges from the next aggregation interval on. */
void memx_damon_set_ranges(MemxDamonSource *src, GArray *ranges);

/*
 * The regions (DamonRange) accessed since the last call; sets *@error
 * when the kdamond has stopped and nothing more will come.
 */
GArray *memx_damon_take_accessed(MemxDamonSource *src, char **error);

int64_t memx_damon_kdamond_cpu_ns(MemxDamonSource *src);

/* Stop, and remove our kdamond from the host. */
void memx_damon_stop(MemxDamonSource *src);

#endif
