/*
 * Reclaim planner: free guest pages the host may discard, granule by
 * granule.  See dedup-plan.h for the rules.
 *
 * Cost: one bitmap test per page, plus, for a granule that is all free
 * and partly resident, one load per free page (two for a page whose first
 * word is neither zero nor repeated in the second, the usual case for
 * stale data), a full read only for a page that may hold a pattern.  A
 * page whose first word is zero needs no more: it is zero, or it is not
 * a pattern at all, and either way it may go.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "memdedup/dedup/dedup-plan.h"

static bool frame_is_free(const uint64_t *free, uint64_t nr_pfns, uint64_t pfn)
{
    return pfn < nr_pfns && (free[pfn / 64] >> (pfn % 64)) & 1;
}

/* Whether frames [@pfn, @pfn + @n) are all free. */
static bool frames_all_free(const uint64_t *free, uint64_t nr_pfns,
                            uint64_t pfn, uint64_t n)
{
    if (pfn >= nr_pfns || n > nr_pfns - pfn) {
        return false;
    }
    while (n) {
        uint64_t shift = pfn % 64;
        uint64_t take = MIN(n, 64 - shift);
        uint64_t mask = take == 64 ? UINT64_MAX : ((UINT64_C(1) << take) - 1);

        if (((free[pfn / 64] >> shift) & mask) != mask) {
            return false;
        }
        pfn += take;
        n -= take;
    }
    return true;
}

static uint64_t frames_free_count(const uint64_t *free, uint64_t nr_pfns,
                                  uint64_t pfn, uint64_t n)
{
    uint64_t count = 0;

    for (uint64_t i = 0; i < n; i++) {
        count += frame_is_free(free, nr_pfns, pfn + i);
    }
    return count;
}

/* A free page the guest will check on allocation: a non-zero pattern. */
static bool page_holds_poison(const uint8_t *page, size_t page_size)
{
    uint64_t first, second;

    memcpy(&first, page, sizeof(first));
    if (first == 0) {
        return false;
    }
    memcpy(&second, page + sizeof(first), sizeof(second));
    if (second != first) {
        return false;
    }
    return page_classify(page, page_size, NULL) == PAGE_CLASS_PATTERN;
}

static void add_run(GArray *runs, uint64_t first, uint64_t npages)
{
    if (runs->len) {
        DedupRun *last = &g_array_index(runs, DedupRun, runs->len - 1);

        if (last->first + last->npages == first) {
            last->npages += npages;
            return;
        }
    }
    g_array_append_val(runs, ((DedupRun) { first, npages }));
}

uint64_t dedup_plan_range(const uint64_t *free, uint64_t nr_pfns,
                          uint64_t first_pfn, uint64_t npages,
                          const uint8_t *host, size_t page_size,
                          uint64_t granule_pages,
                          const uint8_t *resident,
                          GArray *runs, DedupPlanStats *stats)
{
    uint64_t planned = 0, head;
    uint64_t i;

    if (!granule_pages || (granule_pages & (granule_pages - 1)) ||
        page_size < 16 || page_size % 8 || first_pfn + npages < first_pfn) {
        return 0;
    }
    /* the first granule boundary at or after the range's start */
    i = ((first_pfn + granule_pages - 1) & ~(granule_pages - 1)) - first_pfn;
    /* frames before it belong to a granule that starts outside the range */
    head = frames_free_count(free, nr_pfns, first_pfn, MIN(i, npages));
    stats->free_pages += head;
    stats->kept_partial += head;
    for (; i < npages; i += granule_pages) {
        uint64_t n = MIN(granule_pages, npages - i);
        uint64_t nfree, nresident = 0, pattern = 0;

        if (n < granule_pages) {
            /* a granule that sticks out of the range */
            uint64_t tail = frames_free_count(free, nr_pfns, first_pfn + i, n);

            stats->free_pages += tail;
            stats->kept_partial += tail;
            break;
        }
        if (!frames_all_free(free, nr_pfns, first_pfn + i, n)) {
            nfree = frames_free_count(free, nr_pfns, first_pfn + i, n);
            stats->free_pages += nfree;
            stats->kept_partial += nfree;
            continue;
        }
        stats->free_pages += n;
        if (resident) {
            for (uint64_t j = 0; j < n; j++) {
                nresident += resident[i + j] & 1;
            }
            if (!nresident) {
                stats->already_back += n;
                continue;
            }
        } else {
            nresident = n;
        }
        for (uint64_t j = 0; j < n; j++) {
            if ((!resident || resident[i + j] & 1) &&
                page_holds_poison(host + (i + j) * page_size, page_size)) {
                pattern++;
            }
        }
        if (pattern) {
            stats->kept_pattern += pattern;
            stats->kept_partial += n - pattern;
            continue;
        }
        add_run(runs, i, n);
        planned += n;
        stats->resident_pages += nresident;
    }
    stats->planned_pages += planned;
    return planned;
}

bool dedup_range_has_candidates(const uint64_t *free, uint64_t nr_pfns,
                                uint64_t first_pfn, uint64_t npages,
                                uint64_t granule_pages)
{
    uint64_t i;

    if (!granule_pages || (granule_pages & (granule_pages - 1))) {
        return false;
    }
    i = ((first_pfn + granule_pages - 1) & ~(granule_pages - 1)) - first_pfn;
    for (; i + granule_pages <= npages; i += granule_pages) {
        if (frames_all_free(free, nr_pfns, first_pfn + i, granule_pages)) {
            return true;
        }
    }
    return false;
}
