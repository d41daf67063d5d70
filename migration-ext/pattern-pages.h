/*
 * Pattern-page codec, send side: split a batch of pages to migrate into
 * normal pages and pattern pages (one non-zero 8-byte value repeated),
 * keeping each pattern page's value, which is all the stream carries for
 * it.  The multifd sender hands over its page batch; the wire format is
 * QEMU's side (migration/memx-pattern-page.c, docs/pattern-pages.rst).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_PATTERN_PAGES_H
#define MIGRATION_EXT_PATTERN_PAGES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Partition the @n pages at @host + @offsets[i] (@page_size bytes each,
 * a multiple of 8) into normal | pattern, in place.  @offsets uses the
 * element type of QEMU's ram_addr_t.
 *
 * Returns the number of normal pages, r: afterwards @offsets[0, r) are
 * the pages that are not pattern pages (zero pages included: they are
 * the caller's to take out first) and @offsets[r, n) the pattern pages,
 * and @values[k] is the value of the page at @offsets[r + k], as
 * page_classify() reports it, so page_fill_pattern() rebuilds the page.
 * @values must have room for @n entries.  The order within each part is
 * not kept.
 */
uint32_t pattern_pages_partition(const uint8_t *host, uintptr_t *offsets,
                                 uint32_t n, size_t page_size,
                                 uint64_t *values);

#endif /* MIGRATION_EXT_PATTERN_PAGES_H */
