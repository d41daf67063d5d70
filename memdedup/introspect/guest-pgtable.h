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

/*
 * Whether the top-level table a vCPU uses now (@live_cr3, its CR3 as the
 * CPU holds it: PCID or cache bits and bits above the physical address
 * width are masked here, and a page-table-isolation user copy, bit 12,
 * leads to its kernel table)
 * maps each of @vaddrs through the same top-level entry as @pt's root.
 * A process's table copies the kernel half of init_top_pgt, so on the
 * kernel that wrote the VMCOREINFO note they agree; after kexec the
 * running kernel's tables are elsewhere and they do not, even when the
 * old kernel's memory is still intact.  The accessed bit, which the CPU
 * sets in whichever copy it walked, is ignored.  Returns false with a
 * reason in *@why.
 */
bool guest_pgtable_same_kernel(const GuestPgtable *pt, uint64_t live_cr3,
                               const uint64_t *vaddrs, size_t n,
                               const char **why);

#endif /* MEMDEDUP_GUEST_PGTABLE_H */
