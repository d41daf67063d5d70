/*
 * Working-set estimator: exact windowed working sets and a sampled-LRU
 * miss-rate curve (see working-set.h for the method).
 *
 * Reuse distances.  A sampled page referenced in period t, whose previous
 * reference was in period p, has as reuse distance the number of
 * distinct sampled pages referenced in periods p+1 .. t: those whose last
 * reference before this period is later than p, plus this period's
 * references whose previous one was at or before p (itself included).
 * The first count comes from the "age list", the number of sampled pages
 * per last-reference period, kept sorted by period; the second from this
 * period's references sorted by previous period.  A period costs
 * O(R log R + K) for R references and K distinct last-reference periods,
 * never a walk over all sampled pages.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <math.h>
#include <string.h>

#include "migration-ext/working-set.h"

typedef struct AgeCount {
    uint32_t period;
    uint32_t count;
} AgeCount;

/* A page's place in the sample: a 64-bit mix, top 32 bits. */
static uint32_t page_hash(uint64_t page)
{
    page ^= page >> 33;
    page *= UINT64_C(0xff51afd7ed558ccd);
    page ^= page >> 33;
    page *= UINT64_C(0xc4ceb9fe1a85ec53);
    page ^= page >> 33;
    return page >> 32;
}

bool working_set_init(WorkingSet *ws, uint64_t bytes, unsigned page_shift,
                      double sample_rate, unsigned curve_periods,
                      const char **why)
{
    uint64_t n = 0;

    memset(ws, 0, sizeof(*ws));
    if (page_shift < 12 || page_shift > 30) {
        *why = "the page must be 4 KiB to 1 GiB";
        return false;
    }
    if (bytes == 0 || bytes > (UINT64_C(1) << 50)) {
        *why = "the tracked size must be 1 byte to 1 PiB";
        return false;
    }
    if (!(sample_rate >= 1.0 / 65536 && sample_rate <= 1.0)) {
        *why = "the sample rate must be 1/65536 to 1";
        return false;
    }
    if (curve_periods < 1 || curve_periods > WORKING_SET_MAX_CURVE_PERIODS) {
        *why = "the curve must cover 1 to 1024 periods";
        return false;
    }
    ws->page_shift = page_shift;
    ws->nr_pages = (bytes + (UINT64_C(1) << page_shift) - 1) >> page_shift;
    if (ws->nr_pages > UINT32_MAX) {
        *why = "too many pages to trace";
        return false;
    }
    ws->period = 1;
    ws->last_access = g_new0(uint32_t, ws->nr_pages);
    ws->sample_threshold = sample_rate >= 1.0 ? UINT32_MAX :
                           (uint32_t)ldexp(sample_rate, 32);
    for (uint64_t page = 0; page < ws->nr_pages; page++) {
        n += page_hash(page) <= ws->sample_threshold;
    }
    ws->samples = g_new0(WorkingSetSample, MAX(n, 1));
    for (uint64_t page = 0; page < ws->nr_pages; page++) {
        if (page_hash(page) <= ws->sample_threshold) {
            ws->samples[ws->nr_samples++].page = page;
        }
    }
    ws->sample_rate = (double)ws->nr_samples / ws->nr_pages;
    ws->referenced = g_new0(uint32_t, MAX(n, 1));
    ws->curve_periods = curve_periods;
    ws->ages = g_array_new(false, false, sizeof(AgeCount));
    ws->ring = g_new0(GArray *, curve_periods);
    ws->ring_pages = g_new0(uint64_t, curve_periods);
    for (unsigned i = 0; i < curve_periods; i++) {
        ws->ring[i] = g_array_new(false, false, sizeof(uint32_t));
    }
    return true;
}

void working_set_destroy(WorkingSet *ws)
{
    if (ws->ring) {
        for (unsigned i = 0; i < ws->curve_periods; i++) {
            g_array_free(ws->ring[i], true);
        }
        g_free(ws->ring);
        g_free(ws->ring_pages);
        g_array_free(ws->ages, true);
    }
    g_free(ws->last_access);
    g_free(ws->samples);
    g_free(ws->referenced);
    memset(ws, 0, sizeof(*ws));
}

static int sample_cmp(const void *key, const void *elem)
{
    uint64_t page = *(const uint64_t *)key;
    const WorkingSetSample *s = elem;

    return page < s->page ? -1 : page > s->page;
}

void working_set_note(WorkingSet *ws, uint64_t page)
{
    WorkingSetSample *s;

    if (page >= ws->nr_pages || ws->last_access[page] == ws->period) {
        return;
    }
    ws->last_access[page] = ws->period;
    ws->pages_noted++;
    if (page_hash(page) > ws->sample_threshold) {
        return;
    }
    s = bsearch(&page, ws->samples, ws->nr_samples, sizeof(*s), sample_cmp);
    if (s) {
        ws->referenced[ws->nr_referenced++] = s - ws->samples;
    }
}

/* Sampled pages whose last reference came after period @after. */
static uint32_t referenced_after(const GArray *ages, const uint32_t *suffix,
                                 uint32_t after)
{
    guint lo = 0, hi = ages->len;

    while (lo < hi) {
        guint mid = (lo + hi) / 2;

        if (g_array_index(ages, AgeCount, mid).period <= after) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < ages->len ? suffix[lo] : 0;
}

static void ages_forget(GArray *ages, uint32_t period)
{
    guint lo = 0, hi = ages->len;

    while (lo < hi) {
        guint mid = (lo + hi) / 2;

        if (g_array_index(ages, AgeCount, mid).period < period) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    g_assert(lo < ages->len &&
             g_array_index(ages, AgeCount, lo).period == period);
    if (--g_array_index(ages, AgeCount, lo).count == 0) {
        g_array_remove_index(ages, lo);
    }
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Of the sorted @prev[0..@n), how many are at most @limit. */
static uint32_t count_at_most(const uint32_t *prev, uint32_t n, uint32_t limit)
{
    uint32_t lo = 0, hi = n;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;

        if (prev[mid] <= limit) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void working_set_end_period(WorkingSet *ws)
{
    GArray *slot = ws->ring[ws->period % ws->curve_periods];
    uint32_t n = ws->nr_referenced;
    g_autofree uint32_t *suffix = g_new(uint32_t, ws->ages->len + 1);
    g_autofree uint32_t *prev = g_new(uint32_t, MAX(n, 1));
    AgeCount now = { .period = ws->period, .count = n };

    suffix[ws->ages->len] = 0;
    for (guint i = ws->ages->len; i-- > 0;) {
        suffix[i] = suffix[i + 1] + g_array_index(ws->ages, AgeCount, i).count;
    }
    for (uint32_t i = 0; i < n; i++) {
        prev[i] = ws->samples[ws->referenced[i]].last_ref;
    }
    qsort(prev, n, sizeof(*prev), u32_cmp);

    g_array_set_size(slot, 0);
    ws->ring_pages[ws->period % ws->curve_periods] = ws->pages_noted;
    ws->pages_noted = 0;
    for (uint32_t i = 0; i < n; i++) {
        WorkingSetSample *s = &ws->samples[ws->referenced[i]];
        uint32_t distance = 0;

        if (s->last_ref) {
            distance = referenced_after(ws->ages, suffix, s->last_ref) +
                       count_at_most(prev, n, s->last_ref);
        }
        g_array_append_val(slot, distance);
    }
    for (uint32_t i = 0; i < n; i++) {
        WorkingSetSample *s = &ws->samples[ws->referenced[i]];

        if (s->last_ref) {
            ages_forget(ws->ages, s->last_ref);
        }
        s->last_ref = ws->period;
    }
    if (n) {
        g_array_append_val(ws->ages, now);
    }
    ws->nr_referenced = 0;
    ws->period++;
}

uint64_t working_set_bytes(const WorkingSet *ws, uint32_t periods,
                           bool *complete)
{
    uint32_t closed = ws->period - 1;
    uint32_t first = closed >= periods ? closed - periods + 1 : 1;
    uint64_t pages = 0;

    if (complete) {
        *complete = closed >= periods;
    }
    if (!periods || !closed) {
        return 0;
    }
    for (uint64_t i = 0; i < ws->nr_pages; i++) {
        pages += ws->last_access[i] >= first && ws->last_access[i] <= closed;
    }
    return pages << ws->page_shift;
}

/* The curve's references, sorted, first references (0) at the front. */
static GArray *curve_distances(const WorkingSet *ws)
{
    GArray *all = g_array_new(false, false, sizeof(uint32_t));

    for (unsigned i = 0; i < ws->curve_periods; i++) {
        g_array_append_vals(all, ws->ring[i]->data, ws->ring[i]->len);
    }
    g_array_sort(all, u32_cmp);
    return all;
}

/*
 * Sampled references per reference in the curve's periods: the sample's
 * actual share of what was referenced, or the nominal rate without any.
 */
static double curve_sample_rate(const WorkingSet *ws)
{
    uint64_t pages = 0, sampled = 0;

    for (unsigned i = 0; i < ws->curve_periods; i++) {
        pages += ws->ring_pages[i];
        sampled += ws->ring[i]->len;
    }
    return sampled ? (double)sampled / pages : ws->sample_rate;
}

/* A memory of @bytes, in sampled pages (what the sampled LRU holds). */
static double capacity_in_samples(const WorkingSet *ws, uint64_t bytes)
{
    return ldexp((double)bytes, -(int)ws->page_shift) * curve_sample_rate(ws);
}

/*
 * References an LRU of @capacity sampled pages misses: the first ones
 * (distance 0) and those farther than @capacity.
 */
static uint32_t misses(const GArray *sorted, double capacity)
{
    const uint32_t *d = (const uint32_t *)sorted->data;
    uint32_t fits = MIN(floor(capacity), (double)UINT32_MAX);

    return sorted->len - (count_at_most(d, sorted->len, fits) -
                          count_at_most(d, sorted->len, 0));
}

double working_set_curve(const WorkingSet *ws, const uint64_t *sizes,
                         size_t n, double *miss_ratio)
{
    g_autoptr(GArray) all = curve_distances(ws);

    for (size_t i = 0; i < n; i++) {
        miss_ratio[i] = all->len ?
            (double)misses(all, capacity_in_samples(ws, sizes[i])) / all->len :
            0;
    }
    return all->len / curve_sample_rate(ws);
}

uint64_t working_set_knee(const WorkingSet *ws, double share)
{
    g_autoptr(GArray) all = curve_distances(ws);
    uint64_t ram = ws->nr_pages << ws->page_shift;
    uint32_t cold = 0, removable, needed;
    double pages;

    if (!all->len) {
        return 0;
    }
    cold = count_at_most((const uint32_t *)all->data, all->len, 0);
    removable = all->len - misses(all, capacity_in_samples(ws, ram));
    needed = (uint32_t)ceil(CLAMP(share, 0.0, 1.0) * removable);
    if (!needed) {
        return 0;
    }
    /* the needed-th smallest reuse distance must fit */
    pages = ceil(g_array_index(all, uint32_t, cold + needed - 1) /
                 curve_sample_rate(ws));
    return MIN((uint64_t)pages << ws->page_shift, ram);
}

bool working_set_classes(const WorkingSet *ws, uint32_t periods,
                         unsigned unit_shift, PageActivity *classes,
                         const char **why)
{
    uint32_t closed = ws->period - 1;
    uint32_t first = closed >= periods ? closed - periods + 1 : 1;
    unsigned pages_per_unit_shift;

    if (unit_shift < ws->page_shift) {
        *why = "a unit must be at least a page";
        return false;
    }
    if (classes->nr_units == 0 || classes->unit_shift != unit_shift) {
        page_activity_destroy(classes);
        if (!page_activity_init(classes, ws->nr_pages << ws->page_shift,
                                unit_shift, 1, 1, why)) {
            return false;
        }
    }
    pages_per_unit_shift = unit_shift - ws->page_shift;
    memset(classes->history, 0, classes->nr_units);
    for (uint64_t page = 0; periods && page < ws->nr_pages; page++) {
        uint32_t last = ws->last_access[page];

        if (last >= first && last <= closed) {
            classes->history[page >> pages_per_unit_shift] = 1;
        }
    }
    classes->periods = closed;
    return true;
}

bool working_set_recency_classes(const WorkingSet *ws, uint32_t hot_periods,
                                 uint32_t warm_periods,
                                 const unsigned long *open_accessed,
                                 PageActivity *classes, const char **why)
{
    const unsigned bits_per_word = sizeof(unsigned long) * 8;
    uint32_t closed = ws->period - 1;

    /* two remembered periods: both set is hot, one is warm */
    page_activity_destroy(classes);
    if (!page_activity_init(classes, ws->nr_pages << ws->page_shift,
                            ws->page_shift, 2, 2, why)) {
        return false;
    }
    for (uint64_t page = 0; page < ws->nr_pages; page++) {
        uint32_t last = ws->last_access[page];
        /* closed periods since the last access: 0 for the last one */
        uint32_t age = !last ? UINT32_MAX : last > closed ? 0 : closed - last;
        bool open_hit = open_accessed &&
            (open_accessed[page / bits_per_word] >> (page % bits_per_word)) & 1;

        if (open_hit || age < hot_periods) {
            classes->history[page] = 3;
        } else if (age < warm_periods) {
            classes->history[page] = 1;
        }
    }
    classes->periods = closed;
    return true;
}
