/*
 * Hot-first postcopy push: the class-ordered walk over a block's dirty
 * bitmap (see postcopy-push.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "migration-ext/postcopy-push.h"

#define BITS_PER_WORD (sizeof(unsigned long) * 8)

static unsigned long *new_page_bitmap(uint64_t nr_pages)
{
    return g_new0(unsigned long,
                  (nr_pages + BITS_PER_WORD - 1) / BITS_PER_WORD);
}

bool postcopy_push_init(PostcopyPush *push, const PageActivity *pa,
                        unsigned page_shift, uint64_t nr_pages,
                        const char **why)
{
    unsigned unit_page_shift;

    memset(push, 0, sizeof(*push));
    if (pa->unit_shift < page_shift) {
        *why = "the activity units are smaller than a page";
        return false;
    }
    unit_page_shift = pa->unit_shift - page_shift;
    push->nr_pages = nr_pages;
    push->members[PAGE_ACTIVITY_WARM] = new_page_bitmap(nr_pages);
    push->members[PAGE_ACTIVITY_HOT] = new_page_bitmap(nr_pages);
    for (uint64_t u = 0; u < pa->nr_units; u++) {
        PageActivityClass cls = page_activity_class(pa, u);
        uint64_t first = u << unit_page_shift;
        uint64_t end = MIN(first + (UINT64_C(1) << unit_page_shift), nr_pages);

        if (first >= nr_pages) {
            break;
        }
        if (cls == PAGE_ACTIVITY_COLD) {
            continue;
        }
        for (uint64_t page = first; page < end; page++) {
            push->members[cls][page / BITS_PER_WORD] |=
                1UL << (page % BITS_PER_WORD);
        }
    }
    return true;
}

void postcopy_push_destroy(PostcopyPush *push)
{
    for (int cls = 0; cls < PAGE_ACTIVITY_NR_CLASSES; cls++) {
        g_free(push->members[cls]);
    }
    memset(push, 0, sizeof(*push));
}

void postcopy_push_rewind(PostcopyPush *push)
{
    memset(push->cursor, 0, sizeof(push->cursor));
}

/*
 * Move @cls's cursor to its first member page set in @dirty; false when
 * there is none left.  Whole words at a time: the members of a class
 * and the dirty pages are both bitmaps over the block.
 */
static bool seek_class(PostcopyPush *push, const unsigned long *dirty,
                       PageActivityClass cls)
{
    const unsigned long *members = push->members[cls];
    uint64_t from = push->cursor[cls];

    while (from < push->nr_pages) {
        uint64_t w = from / BITS_PER_WORD;
        unsigned long word = (members[w] & dirty[w]) >> (from % BITS_PER_WORD);

        if (word) {
            from += __builtin_ctzl(word);
            break;
        }
        from = (w + 1) * BITS_PER_WORD;
    }
    push->cursor[cls] = MIN(from, push->nr_pages);
    return push->cursor[cls] < push->nr_pages;
}

bool postcopy_push_next_in(PostcopyPush *push, const unsigned long *dirty,
                           PageActivityClass cls, uint64_t *page)
{
    if (cls == PAGE_ACTIVITY_COLD || !push->members[cls] ||
        !seek_class(push, dirty, cls)) {
        return false;
    }
    *page = push->cursor[cls]++;
    return true;
}

bool postcopy_push_next(PostcopyPush *push, const unsigned long *dirty,
                        uint64_t *page, PageActivityClass *cls)
{
    for (PageActivityClass c = PAGE_ACTIVITY_HOT; c > PAGE_ACTIVITY_COLD; c--) {
        if (postcopy_push_next_in(push, dirty, c, page)) {
            *cls = c;
            return true;
        }
    }
    return false;
}

bool postcopy_push_class_done(PostcopyPush *push, const unsigned long *dirty,
                              PageActivityClass cls)
{
    return cls == PAGE_ACTIVITY_COLD || !push->members[cls] ||
           !seek_class(push, dirty, cls);
}
