/*
 * Page classification: is a guest page all zero, one repeated 1/2/4/8-byte
 * value (a "pattern page"), or anything else?
 *
 * Shared by the migration pattern-page codec, the tmem page pool and the
 * dedup scanner.  Pure C11 + glib; no QEMU headers.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_PAGE_CLASSIFY_H
#define MEMDEDUP_PAGE_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum PageClass {
    PAGE_CLASS_ZERO,    /* every byte is 0 */
    PAGE_CLASS_PATTERN, /* one non-zero 8-byte value repeated */
    PAGE_CLASS_OTHER,   /* anything else, or an unsupported length */
} PageClass;

/*
 * Classify the @len bytes at @buf.  @buf need not be aligned.  @len must be
 * a non-zero multiple of 8, otherwise the result is PAGE_CLASS_OTHER.
 *
 * For PAGE_CLASS_ZERO and PAGE_CLASS_PATTERN, *@pattern (if not NULL)
 * receives the repeated value as the first 8 bytes of @buf would read in
 * host byte order, so page_fill_pattern() reproduces @buf exactly.
 */
PageClass page_classify(const void *buf, size_t len, uint64_t *pattern);

/* True for ZERO and PATTERN: the page is one 8-byte value repeated. */
static inline bool page_is_uniform(const void *buf, size_t len,
                                   uint64_t *pattern)
{
    return page_classify(buf, len, pattern) != PAGE_CLASS_OTHER;
}

/*
 * Fill @len bytes (a multiple of 8) at @buf with @pattern repeated, the
 * inverse of page_classify().
 */
void page_fill_pattern(void *buf, size_t len, uint64_t pattern);

/*
 * The narrowest element that, repeated, gives @pattern: 1, 2, 4 or 8
 * (bytes).  Used for statistics and by encoders that want a shorter form.
 */
unsigned page_pattern_width(uint64_t pattern);

/*
 * For tests and benchmarks: force the portable 16-byte-vector sweep
 * (@generic true) or go back to the best one for this CPU.  Returns the
 * name of the sweep now in use ("avx2", "sse2" or "generic").
 */
const char *page_classify_use_generic(bool generic);

/* A short name for @cls ("zero", "pattern", "other"). */
const char *page_class_name(PageClass cls);

#endif /* MEMDEDUP_PAGE_CLASSIFY_H */
