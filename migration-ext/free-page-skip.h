/*
 * Free-page planner: which dirty pages of a guest RAM range need not be
 * migrated because the guest kernel holds them free.
 *
 * The caller has scanned the guest's free lists into a bitmap (see
 * memdedup/introspect/guest-freepages.h) after re-arming dirty
 * tracking, and hands over one RAM range at a time with its migration
 * dirty bitmap.  A free page is dropped from the dirty bitmap unless its
 * content is uniform: a zeroed (init_on_free) or poisoned (page_poison,
 * 0xaa) free page must arrive intact, since the guest may check it on
 * allocation, so it stays dirty and travels as a zero or pattern page.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_FREE_PAGE_SKIP_H
#define MIGRATION_EXT_FREE_PAGE_SKIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct FreePageSkipStats {
    uint64_t skipped;       /* dirty free pages dropped from the bitmap */
    uint64_t kept_uniform;  /* dirty free pages kept: zero or a pattern */
} FreePageSkipStats;

/*
 * Drop the guest-free pages of one RAM range from a dirty bitmap.
 *
 * @free holds one bit per guest page frame (bit n in word n / 64) for
 * @nr_pfns frames.  The range is @npages pages of @page_size bytes
 * starting at frame @first_pfn; its contents are at @host.  Page i of the
 * range is bit @dirty_first + i of @dirty (a bitmap of unsigned longs,
 * bit n in word n / BITS_PER_LONG, as QEMU lays out its migration
 * bitmap).  Frames beyond @nr_pfns count as not free.
 *
 * For every page that is dirty, free and not uniform, clear its dirty bit
 * (every page that is dirty and free, without @keep_uniform below).
 *
 * @dest_reads_zero says that no page of the range has been sent yet and
 * the destination reads zero where nothing was sent (the first pass of a
 * migration into fresh memory).  Then a free zero page needs no sending
 * either, and a page whose first word is zero cannot hold a non-zero
 * pattern: it is dropped after reading 8 bytes instead of the whole page.
 *
 * @keep_uniform says that the guest may read free pages' content: it
 * zeroes them on free (init_on_free) or poisons them (page_poison), or
 * it is not known that it does neither (guest-free-content.h).  Without
 * it, every dirty free page is dropped and no content is read.
 *
 * Returns the number of bits cleared; @stats accumulates.
 */
uint64_t free_page_skip_range(const uint64_t *free, uint64_t nr_pfns,
                              uint64_t first_pfn, uint64_t npages,
                              const uint8_t *host, size_t page_size,
                              unsigned long *dirty, uint64_t dirty_first,
                              bool dest_reads_zero, bool keep_uniform,
                              FreePageSkipStats *stats);

/*
 * Whether any page of the range (same arguments as free_page_skip_range)
 * is both dirty and free: only then is the range worth re-arming dirty
 * tracking for and scanning again.
 */
bool free_page_skip_has_candidates(const uint64_t *free, uint64_t nr_pfns,
                                   uint64_t first_pfn, uint64_t npages,
                                   const unsigned long *dirty,
                                   uint64_t dirty_first);

#endif /* MIGRATION_EXT_FREE_PAGE_SKIP_H */
