/*
 * Pattern-page codec, send side: the normal | pattern partition of a page
 * batch.  See pattern-pages.h for the contract.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "migration-ext/pattern-pages.h"

uint32_t pattern_pages_partition(const uint8_t *host, uintptr_t *offsets,
                                 uint32_t n, size_t page_size,
                                 uint64_t *values)
{
    uint32_t i = 0, j = n;

    /*
     * [0, i) are normal, [j, n) are pattern pages, and the value of the
     * page at offsets[k] is values[k] for k in [j, n).
     */
    while (i < j) {
        uintptr_t offset = offsets[i];
        uint64_t pattern;

        if (page_classify(host + offset, page_size, &pattern) !=
            PAGE_CLASS_PATTERN) {
            i++;
            continue;
        }
        j--;
        offsets[i] = offsets[j];
        offsets[j] = offset;
        values[j] = pattern;
    }
    /* move the values down so values[k] belongs to offsets[i + k] */
    if (i < n) {
        memmove(values, values + i, (n - i) * sizeof(*values));
    }
    return i;
}
