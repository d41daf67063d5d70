/*
 * Reclaim planner: which stretches of a guest RAM range can the host take
 * back (discard) because the guest kernel holds them free and nothing in
 * them must survive?
 *
 * The caller has scanned the guest's free lists into a bitmap (see
 * memdedup/introspect/guest-freepages.h) with the guest's vCPUs paused,
 * and hands over one RAM range at a time.  The plan is a list of runs of
 * whole granules to discard:
 *
 *   - a free page holding stale data: discard, the guest reads it before
 *     writing only by mistake;
 *   - a free page that is zero (init_on_free, or already given back):
 *     discard, it reads back as zero;
 *   - a free page holding a non-zero pattern (page_poison's 0xaa): never,
 *     since the guest checks the poison when it allocates the page, and a
 *     granule holding one is kept whole;
 *   - a page the guest uses: never.
 *
 * Granules are aligned in guest-physical frames; with 2 MiB granules (the
 * default in QEMU) a discard never splits a host transparent huge page,
 * provided the caller's host mapping has the same 2 MiB alignment.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_DEDUP_PLAN_H
#define MEMDEDUP_DEDUP_PLAN_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One run to discard: pages [first, first + npages) of the range. */
typedef struct DedupRun {
    uint64_t first;
    uint64_t npages;
} DedupRun;

typedef struct DedupPlanStats {
    uint64_t free_pages;        /* free pages of the range */
    uint64_t planned_pages;     /* pages in the planned runs */
    uint64_t resident_pages;    /* of those, resident before the discard */
    uint64_t kept_pattern;      /* free pages holding a non-zero pattern */
    uint64_t kept_partial;      /* free pages in a granule that is not all
                                   free, or shares one with a pattern */
    uint64_t already_back;      /* free pages of granules with nothing
                                   resident: nothing to give back */
} DedupPlanStats;

/*
 * Plan the discards of one RAM range: @npages pages of @page_size bytes
 * starting at guest frame @first_pfn, contents at @host.  @free holds one
 * bit per guest frame (bit n in word n / 64) for @nr_pfns frames; frames
 * beyond count as not free.  @granule_pages (a power of two) is the unit
 * of discard, aligned in guest frames; a granule that sticks out of the
 * range is never planned.
 *
 * @resident, when not NULL, holds one byte per page of the range (bit 0
 * set when the host page is resident, as mincore() fills it).  A granule
 * with no resident page is skipped: it has been given back already.  Its
 * contents are read only when some of it is resident.
 *
 * Appends DedupRun entries (adjacent granules merged) to @runs and
 * returns the number of pages planned; @stats accumulates.
 */
uint64_t dedup_plan_range(const uint64_t *free, uint64_t nr_pfns,
                          uint64_t first_pfn, uint64_t npages,
                          const uint8_t *host, size_t page_size,
                          uint64_t granule_pages,
                          const uint8_t *resident,
                          GArray *runs, DedupPlanStats *stats);

/*
 * Whether the range holds at least one granule that is all free (the
 * same bitmap arguments as dedup_plan_range): only such a range is worth
 * pausing the guest for.
 */
bool dedup_range_has_candidates(const uint64_t *free, uint64_t nr_pfns,
                                uint64_t first_pfn, uint64_t npages,
                                uint64_t granule_pages);

#endif /* MEMDEDUP_DEDUP_PLAN_H */
