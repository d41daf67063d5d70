/*
 * Page-activity tracker: per-unit access history and its classes (see
 * page-activity.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "migration-ext/page-activity.h"

bool page_activity_init(PageActivity *pa, uint64_t bytes, unsigned unit_shift,
                        unsigned history_bits, unsigned hot_min,
                        const char **why)
{
    memset(pa, 0, sizeof(*pa));
    if (unit_shift < 12 || unit_shift > 30) {
        *why = "the unit must be 4 KiB to 1 GiB";
        return false;
    }
    if (history_bits < 1 || history_bits > PAGE_ACTIVITY_MAX_HISTORY) {
        *why = "the history must be 1 to 8 periods";
        return false;
    }
    if (hot_min < 1 || hot_min > history_bits) {
        *why = "a unit must be hot after 1 to history periods";
        return false;
    }
    if (bytes == 0 || bytes > (UINT64_C(1) << 50)) {
        *why = "the tracked size must be 1 byte to 1 PiB";
        return false;
    }
    pa->unit_shift = unit_shift;
    pa->history_bits = history_bits;
    pa->hot_min = hot_min;
    pa->nr_units = (bytes + (UINT64_C(1) << unit_shift) - 1) >> unit_shift;
    pa->history = g_new0(uint8_t, pa->nr_units);
    pa->accessed = g_new0(uint64_t, (pa->nr_units + 63) / 64);
    return true;
}

void page_activity_destroy(PageActivity *pa)
{
    g_free(pa->history);
    g_free(pa->accessed);
    memset(pa, 0, sizeof(*pa));
}

void page_activity_note_range(PageActivity *pa, uint64_t offset, uint64_t len)
{
    uint64_t first, last;

    if (len == 0) {
        return;
    }
    first = offset >> pa->unit_shift;
    last = (offset + len - 1) >> pa->unit_shift;
    if (last >= pa->nr_units) {
        last = pa->nr_units - 1;
    }
    for (uint64_t unit = first; unit <= last && unit < pa->nr_units; unit++) {
        __atomic_fetch_or(&pa->accessed[unit / 64], UINT64_C(1) << (unit % 64),
                          __ATOMIC_RELAXED);
    }
}

void page_activity_end_period(PageActivity *pa)
{
    uint8_t keep = (uint8_t)((1u << pa->history_bits) - 1);

    for (uint64_t w = 0; w < (pa->nr_units + 63) / 64; w++) {
        uint64_t bits = __atomic_exchange_n(&pa->accessed[w], 0,
                                            __ATOMIC_RELAXED);
        uint64_t end = MIN(pa->nr_units, (w + 1) * 64);

        for (uint64_t unit = w * 64; unit < end; unit++) {
            pa->history[unit] = (uint8_t)((pa->history[unit] << 1) |
                                          ((bits >> (unit % 64)) & 1)) & keep;
        }
    }
    pa->periods++;
}

void page_activity_reset(PageActivity *pa)
{
    memset(pa->history, 0, pa->nr_units);
    memset(pa->accessed, 0, (pa->nr_units + 63) / 64 * sizeof(uint64_t));
}

PageActivityClass page_activity_class(const PageActivity *pa, uint64_t unit)
{
    unsigned n = page_activity_periods_accessed(pa, unit);

    if (n >= pa->hot_min) {
        return PAGE_ACTIVITY_HOT;
    }
    return n ? PAGE_ACTIVITY_WARM : PAGE_ACTIVITY_COLD;
}

void page_activity_count(const PageActivity *pa, uint64_t *counts)
{
    memset(counts, 0, PAGE_ACTIVITY_NR_CLASSES * sizeof(*counts));
    for (uint64_t unit = 0; unit < pa->nr_units; unit++) {
        counts[page_activity_class(pa, unit)]++;
    }
}

const char *page_activity_class_name(PageActivityClass cls)
{
    switch (cls) {
    case PAGE_ACTIVITY_COLD:
        return "cold";
    case PAGE_ACTIVITY_WARM:
        return "warm";
    case PAGE_ACTIVITY_HOT:
        return "hot";
    default:
        return "invalid";
    }
}
