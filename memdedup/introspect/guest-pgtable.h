/*
 * x86-64 guest page-table walker: translates guest kernel virtual
 * addresses (vmemmap, the direct map) to guest-physical ones by walking
 * the kernel's own page tables (init_top_pgt) in guest RAM, with no vCPU
 * state.  4- and 5-level paging; 4 KiB, 2 MiB and 1 GiB leaves.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_PGTABLE_H
#define MEMDEDUP_GUEST_PGTABLE_H

#include "memdedup/introspect/guest-memory.h"

typedef struct GuestPgtable {
    const GuestMemory *mem;
    uint64_t root_gpa;  /* physical address of the top-level table */
    int levels;         /* 4 or 5 */
} GuestPgtable;

typedef enum GuestPgtableResult {
    GUEST_PT_MAPPED,    /* *gpa and *size describe the leaf mapping */
    GUEST_PT_HOLE,      /* not present; *size is the unmapped stretch */
    GUEST_PT_INVALID,   /* not canonical, a table outside RAM, bad PS */
} GuestPgtableResult;

/*
 * Look @vaddr up.  GUEST_PT_MAPPED: *@gpa is the physical address and
 * *@size the size of the leaf that holds it (4 KiB, 2 MiB or 1 GiB).
 * GUEST_PT_HOLE: an entry on the way is not present; *@size is the size
 * of the naturally aligned stretch that entry would map, so the caller
 * can step over the whole hole.  GUEST_PT_INVALID: nothing can be said.
 */
GuestPgtableResult guest_pgtable_lookup(const GuestPgtable *pt,
                                        uint64_t vaddr, uint64_t *gpa,
                                        uint64_t *size);

/*
 * Translate @vaddr: true with *@gpa and *@leaf_size (if not NULL) when it
 * is mapped, false when it is not canonical, not mapped, or any table
 * lies outside guest RAM.
 */
bool guest_pgtable_translate(const GuestPgtable *pt, uint64_t vaddr,
                             uint64_t *gpa, uint64_t *leaf_size);

#endif /* MEMDEDUP_GUEST_PGTABLE_H */
