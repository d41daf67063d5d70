/*
 * Hot-first postcopy push: in which order the source sends the pages the
 * destination has not asked for, once the guest runs on the destination.
 *
 * Upstream's background push walks guest RAM in address order, so the
 * pages the guest uses most arrive at random times, and each one the
 * guest touches before then costs a remote page request: a round trip
 * while a vCPU waits.  Here the push hands out the dirty pages of the
 * units (pages, or larger) the page-activity tracker called hot, then
 * those it called warm, each class in address order; what is left
 * (cold, or in RAM the tracker does not cover) goes in upstream's
 * address order after them.
 *
 * The classes are a snapshot taken at the switch: the source VM is
 * stopped from then on, so its tracker sees nothing new, and the last
 * classes it closed are the best guess of what the guest touches next.
 * Pages the destination requests still go first (the caller asks for a
 * pushed page only when no request is queued), and a request clears its
 * page's dirty bit, so the push skips it.  After a postcopy recovery the
 * dirty bitmap gains back the pages that never arrived: rewind the push
 * and it walks the classes from the start again.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_POSTCOPY_PUSH_H
#define MIGRATION_EXT_POSTCOPY_PUSH_H

#include "migration-ext/page-activity.h"

typedef struct PostcopyPush {
    uint64_t nr_pages;          /* pages in the block */
    /* hot and warm only: bit n set when page n is of that class */
    unsigned long *members[PAGE_ACTIVITY_NR_CLASSES];
    uint64_t cursor[PAGE_ACTIVITY_NR_CLASSES];  /* no member dirty below */
} PostcopyPush;

/*
 * Take the hot and warm units of @pa, which tracks a block of @nr_pages
 * pages of 1 << @page_shift bytes, as one bit per page and class (a
 * unit may be a page or span many).  Returns false with a reason in
 * *@why when @pa's units are smaller than a page.
 */
bool postcopy_push_init(PostcopyPush *push, const PageActivity *pa,
                        unsigned page_shift, uint64_t nr_pages,
                        const char **why);
void postcopy_push_destroy(PostcopyPush *push);

/*
 * The next page to push: the first page set in @dirty (bit n of word
 * n / 64, @nr_pages bits) in the hottest class that still has one.
 * Writes the page and its class, and returns false when neither a hot
 * nor a warm unit holds a dirty page any more.
 */
bool postcopy_push_next(PostcopyPush *push, const unsigned long *dirty,
                        uint64_t *page, PageActivityClass *cls);

/* The same, within one class (hot or warm) only. */
bool postcopy_push_next_in(PostcopyPush *push, const unsigned long *dirty,
                           PageActivityClass cls, uint64_t *page);

/* Whether no unit of @cls holds a page set in @dirty any more. */
bool postcopy_push_class_done(PostcopyPush *push, const unsigned long *dirty,
                              PageActivityClass cls);

/* Walk the classes from the start again (the bitmap gained pages). */
void postcopy_push_rewind(PostcopyPush *push);

#endif /* MIGRATION_EXT_POSTCOPY_PUSH_H */
