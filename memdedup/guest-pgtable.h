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

#include "memdedup/guest-memory.h"

typedef struct GuestPgtable {
    const GuestMemory *mem;
    uint64_t root_gpa;  /* physical address of the top-level table */
    int levels;         /* 4 or 5 */
} GuestPgtable;

/*
 * Translate @vaddr.  On success returns true, *@gpa is the physical
 * address and *@leaf_size (if not NULL) the size of the mapping that
 * holds it (4 KiB, 2 MiB or 1 GiB).  Returns false if the address is not
 * canonical, not mapped, or any table lies outside guest RAM.
 */
bool guest_pgtable_translate(const GuestPgtable *pt, uint64_t vaddr,
                             uint64_t *gpa, uint64_t *leaf_size);

#endif /* MEMDEDUP_GUEST_PGTABLE_H */
