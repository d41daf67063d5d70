/*
 * Page-activity tracker: which parts of guest RAM the guest uses most.
 *
 * Guest RAM is cut into units (a page, or 2 MiB where the backend is
 * backed by transparent huge pages).  Providers report accesses as they
 * see them (a TLB fill under TCG, a dirty bit from the dirty log); once
 * per scan period the tracker shifts "accessed in this period" into a
 * short per-unit history, one bit per period.  The number of periods a
 * unit was accessed in, out of the last few, is its class: hot, warm or
 * cold.
 *
 * The history is one byte per unit (at most 8 periods): 256 KiB for a
 * GiB of 4 KiB units, 512 bytes for a GiB of 2 MiB units.  Noting an
 * access is one atomic bit set, safe from any thread; closing a period
 * and reading classes are done by one thread at a time.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_PAGE_ACTIVITY_H
#define MIGRATION_EXT_PAGE_ACTIVITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum PageActivityClass {
    PAGE_ACTIVITY_COLD,     /* not accessed in the remembered periods */
    PAGE_ACTIVITY_WARM,     /* accessed in some, fewer than hot_min */
    PAGE_ACTIVITY_HOT,      /* accessed in at least hot_min of them */
    PAGE_ACTIVITY_NR_CLASSES
} PageActivityClass;

#define PAGE_ACTIVITY_MAX_HISTORY 8

typedef struct PageActivity {
    uint64_t nr_units;
    unsigned unit_shift;    /* log2 of a unit's size in bytes */
    unsigned history_bits;  /* periods remembered, 1..8 */
    unsigned hot_min;       /* periods accessed in that make a unit hot */
    uint8_t *history;       /* bit 0: the last closed period */
    uint64_t *accessed;     /* the open period: bit n, word n / 64 */
    uint64_t periods;       /* periods closed so far */
} PageActivity;

/*
 * Track @bytes of guest RAM in units of 1 << @unit_shift bytes (12 to
 * 30), remembering @history_bits periods; a unit accessed in at least
 * @hot_min of them is hot.  Returns false with a reason in *@why.
 */
bool page_activity_init(PageActivity *pa, uint64_t bytes, unsigned unit_shift,
                        unsigned history_bits, unsigned hot_min,
                        const char **why);
void page_activity_destroy(PageActivity *pa);

/* An access at byte @offset of the tracked RAM; ignored past its end. */
static inline void page_activity_note(PageActivity *pa, uint64_t offset)
{
    uint64_t unit = offset >> pa->unit_shift;

    if (unit < pa->nr_units) {
        __atomic_fetch_or(&pa->accessed[unit / 64], UINT64_C(1) << (unit % 64),
                          __ATOMIC_RELAXED);
    }
}

/* Accesses to every unit that [@offset, @offset + @len) touches. */
void page_activity_note_range(PageActivity *pa, uint64_t offset, uint64_t len);

/* Close the open period: shift it into every unit's history. */
void page_activity_end_period(PageActivity *pa);

/* Forget everything seen so far (after a reset of the guest, say). */
void page_activity_reset(PageActivity *pa);

static inline unsigned page_activity_periods_accessed(const PageActivity *pa,
                                                      uint64_t unit)
{
    return __builtin_popcount(pa->history[unit]);
}

PageActivityClass page_activity_class(const PageActivity *pa, uint64_t unit);

/* Units per class, into @counts[PAGE_ACTIVITY_NR_CLASSES]. */
void page_activity_count(const PageActivity *pa, uint64_t *counts);

const char *page_activity_class_name(PageActivityClass cls);

#endif /* MIGRATION_EXT_PAGE_ACTIVITY_H */
