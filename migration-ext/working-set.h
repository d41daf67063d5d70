/*
 * Working-set estimator: how much of guest RAM the guest used lately, and
 * how many of its accesses would miss at each memory size (a miss-rate
 * curve).
 *
 * The input is, once per period, the set of pages accessed in it (what a
 * page-activity provider saw).  Two answers come from it:
 *
 * - The working set over a window of N periods: the pages accessed in the
 *   last N periods.  Every page keeps the number of the last period it
 *   was accessed in, so the count is exact for any window (4 bytes per
 *   page: 1 MiB per GiB of 4 KiB pages).
 *
 * - The miss-rate curve, from a sampled LRU (SHARDS-style spatial
 *   sampling).  A fixed subset of pages, those whose hashed page number
 *   falls below a threshold, is traced.  Each period, each sampled page
 *   accessed in it is one reference; its reuse distance is the number of
 *   distinct sampled pages referenced since its previous reference, this
 *   period's included (the order within a period is unknown, so a period
 *   counts as one step of the LRU).  Scaled by the sample rate, that is
 *   the memory an LRU would need to still hold the page: a memory of M
 *   bytes misses every reference whose distance exceeds M, and every
 *   first reference.  Every period re-traces every sampled page: an
 *   access is seen again only if the page is used again.
 *
 *   The curve covers the references of the last @curve_periods periods,
 *   kept per period in a ring, so it follows a change of the working set
 *   within that many periods.
 *
 *   Scaling uses the sample's measured share of the pages referenced in
 *   those periods (all pages referenced are counted exactly), not the
 *   nominal rate: a working set that happens to hold 6% fewer sampled
 *   pages than its share would otherwise come out 6% small (the
 *   adjustment SHARDS calls "adj").
 *
 * One thread at a time; nothing here allocates per access.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_WORKING_SET_H
#define MIGRATION_EXT_WORKING_SET_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration-ext/page-activity.h"

#define WORKING_SET_MAX_CURVE_PERIODS 1024

typedef struct WorkingSetSample {
    uint64_t page;          /* page number within the tracked RAM */
    uint32_t last_ref;      /* period of its last reference; 0: never */
} WorkingSetSample;

typedef struct WorkingSet {
    uint64_t nr_pages;
    unsigned page_shift;
    uint32_t period;            /* the open period's number, from 1 */
    uint32_t *last_access;      /* per page; 0: never accessed */

    uint32_t sample_threshold;  /* sampled: hash(page) < threshold */
    double sample_rate;         /* sampled pages / pages, measured */
    WorkingSetSample *samples;  /* sorted by page */
    uint32_t nr_samples;
    uint32_t *referenced;       /* samples referenced in the open period */
    uint32_t nr_referenced;

    /* Sampled pages per last-reference period, ascending (AgeCount) */
    GArray *ages;
    /*
     * Reuse distances of the last curve_periods periods' references, in
     * sampled pages, 0 for a first reference: one uint32_t GArray per
     * period, a ring indexed by period modulo curve_periods.
     */
    unsigned curve_periods;
    GArray **ring;
    uint64_t *ring_pages;       /* pages referenced, per ring slot */
    uint64_t pages_noted;       /* pages referenced in the open period */
} WorkingSet;

/*
 * Track @bytes of guest RAM in pages of 1 << @page_shift bytes (12 to
 * 30).  About @sample_rate of the pages (1/65536 to 1) are traced for the
 * curve, which covers the last @curve_periods periods (1 to
 * WORKING_SET_MAX_CURVE_PERIODS).  Returns false with a reason in *@why.
 */
bool working_set_init(WorkingSet *ws, uint64_t bytes, unsigned page_shift,
                      double sample_rate, unsigned curve_periods,
                      const char **why);
void working_set_destroy(WorkingSet *ws);

/* The guest accessed page @page in the open period; ignored past the end. */
void working_set_note(WorkingSet *ws, uint64_t page);

/* Close the open period: its references go into the curve. */
void working_set_end_period(WorkingSet *ws);

/*
 * Bytes accessed in the last @periods closed periods; *@complete says
 * whether that many periods have been seen yet.
 */
uint64_t working_set_bytes(const WorkingSet *ws, uint32_t periods,
                           bool *complete);

/*
 * The miss-rate curve at the @n memory sizes @sizes (bytes): into
 * @miss_ratio, the share of the last curve_periods periods' references
 * that an LRU memory of that size would miss (first references always
 * miss).  Returns the number of references the curve rests on (scaled
 * to all pages); with none, every ratio is 0.
 */
double working_set_curve(const WorkingSet *ws, const uint64_t *sizes,
                         size_t n, double *miss_ratio);

/*
 * The curve's knee: the smallest memory size (a multiple of the page
 * size) that removes @share (0 to 1) of the misses a memory of all the
 * tracked RAM removes against an empty one.  0 without references.
 */
uint64_t working_set_knee(const WorkingSet *ws, double share);

/*
 * The working set as page-activity classes, for what orders memory by
 * them (the NUMA move's hot-first plan): into @classes, a tracker of the
 * same RAM in units of 1 << @unit_shift bytes (at least the page size),
 * a unit is hot when any of its pages was accessed in the last @periods
 * closed periods, cold otherwise.  @classes->periods becomes the
 * number of closed periods, so a reader can tell a rebuilt view from the
 * last one.  Returns false with a reason in *@why.
 */
bool working_set_classes(const WorkingSet *ws, uint32_t periods,
                         unsigned unit_shift, PageActivity *classes,
                         const char **why);

/*
 * The working set by recency, page by page, for what sends first the
 * pages the guest will touch soonest (the hot-first postcopy push): into
 * @classes, a tracker of the same RAM in pages, a page is hot when it was
 * accessed in the last @hot_periods closed periods or is set in
 * @open_accessed (the open period's accesses, one bit per page; may be
 * NULL), warm when accessed in the last @warm_periods but not hot, cold
 * otherwise.  @classes must be zeroed or hold an earlier result (it is
 * rebuilt).  Returns false with a reason in *@why.
 */
bool working_set_recency_classes(const WorkingSet *ws, uint32_t hot_periods,
                                 uint32_t warm_periods,
                                 const unsigned long *open_accessed,
                                 PageActivity *classes, const char **why);

#endif /* MIGRATION_EXT_WORKING_SET_H */
