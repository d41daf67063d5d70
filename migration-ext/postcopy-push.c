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

bool postcopy_push_init(PostcopyPush *push, const PageActivity *pa,
                        unsigned page_shift, uint64_t nr_pages,
                        const char **why)
{
    memset(push, 0, sizeof(*push));
    if (pa->unit_shift < page_shift) {
        *why = "the activity units are smaller than a page";
        return false;
    }
    push->unit_page_shift = pa->unit_shift - page_shift;
    push->nr_pages = nr_pages;
    for (PageActivityClass cls = PAGE_ACTIVITY_WARM;
         cls <= PAGE_ACTIVITY_HOT; cls++) {
        GArray *units = g_array_new(false, false, sizeof(uint64_t));
        guint len;

        for (uint64_t u = 0; u < pa->nr_units; u++) {
            if ((u << push->unit_page_shift) >= nr_pages) {
                break;
            }
            if (page_activity_class(pa, u) == cls) {
                g_array_append_val(units, u);
            }
        }
        len = units->len;
        push->units[cls] = (uint64_t *)g_array_free(units, false);
        push->nr_units[cls] = len;
    }
    postcopy_push_rewind(push);
    return true;
}

void postcopy_push_destroy(PostcopyPush *push)
{
    for (int cls = 0; cls < PAGE_ACTIVITY_NR_CLASSES; cls++) {
        g_free(push->units[cls]);
    }
    memset(push, 0, sizeof(*push));
}

void postcopy_push_rewind(PostcopyPush *push)
{
    for (int cls = 0; cls < PAGE_ACTIVITY_NR_CLASSES; cls++) {
        push->cursor[cls] = 0;
        push->next_page[cls] = push->nr_units[cls] ?
            push->units[cls][0] << push->unit_page_shift : 0;
    }
}

/* The first page set in @dirty within [@from, @end), or @end. */
static uint64_t first_dirty(const unsigned long *dirty, uint64_t from,
                            uint64_t end)
{
    while (from < end) {
        unsigned long word = dirty[from / BITS_PER_WORD] >>
                             (from % BITS_PER_WORD);

        if (word) {
            from += __builtin_ctzl(word);
            break;
        }
        from = (from / BITS_PER_WORD + 1) * BITS_PER_WORD;
    }
    return MIN(from, end);
}

/*
 * Move @cls's cursor to its first dirty page (left in next_page) past
 * the units that have none; false when there is none left.
 */
static bool seek_class(PostcopyPush *push, const unsigned long *dirty,
                       PageActivityClass cls)
{
    uint64_t pages_per_unit = UINT64_C(1) << push->unit_page_shift;

    while (push->cursor[cls] < push->nr_units[cls]) {
        uint64_t start = push->units[cls][push->cursor[cls]] <<
                         push->unit_page_shift;
        uint64_t end = MIN(start + pages_per_unit, push->nr_pages);
        uint64_t page = first_dirty(dirty, MAX(start, push->next_page[cls]),
                                    end);

        if (page < end) {
            push->next_page[cls] = page;
            return true;
        }
        if (++push->cursor[cls] < push->nr_units[cls]) {
            push->next_page[cls] = push->units[cls][push->cursor[cls]] <<
                                   push->unit_page_shift;
        }
    }
    return false;
}

bool postcopy_push_next_in(PostcopyPush *push, const unsigned long *dirty,
                           PageActivityClass cls, uint64_t *page)
{
    if (cls == PAGE_ACTIVITY_COLD || !seek_class(push, dirty, cls)) {
        return false;
    }
    *page = push->next_page[cls]++;
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
    return cls == PAGE_ACTIVITY_COLD || !seek_class(push, dirty, cls);
}
