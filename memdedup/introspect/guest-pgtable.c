/*
 * x86-64 guest page-table walker (see guest-pgtable.h).
 *
 * Every entry is read through GuestMemory, so a table pointer that leads
 * outside guest RAM ends the walk instead of reading host memory.  Only
 * the architectural bits are used: present (0), page size (7) and the
 * physical address (bits 12..51; the bits above 51 hold NX, protection
 * keys and, under SME/TDX, encryption bits, which are masked off).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/introspect/guest-pgtable.h"

#define PTE_PRESENT   (1ULL << 0)
#define PTE_PAGE_SIZE (1ULL << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

GuestPgtableResult guest_pgtable_lookup(const GuestPgtable *pt,
                                        uint64_t vaddr, uint64_t *gpa,
                                        uint64_t *size)
{
    int top_shift = pt->levels == 5 ? 48 : 39;
    uint64_t table = pt->root_gpa & PTE_ADDR_MASK;
    int64_t sext;

    if (pt->levels != 4 && pt->levels != 5) {
        return GUEST_PT_INVALID;
    }
    /* Canonical: bits above the top index replicate its highest bit. */
    sext = (int64_t)(vaddr << (55 - top_shift)) >> (55 - top_shift);
    if ((uint64_t)sext != vaddr) {
        return GUEST_PT_INVALID;
    }

    for (int shift = top_shift; shift >= 12; shift -= 9) {
        uint64_t index = (vaddr >> shift) & 511;
        uint64_t entry;

        if (!guest_read_u64(pt->mem, table + index * 8, &entry)) {
            return GUEST_PT_INVALID;
        }
        if (!(entry & PTE_PRESENT)) {
            *size = 1ULL << shift;
            return GUEST_PT_HOLE;
        }
        if (shift == 12 ||
            ((shift == 21 || shift == 30) && (entry & PTE_PAGE_SIZE))) {
            uint64_t leaf = 1ULL << shift;
            uint64_t base = entry & PTE_ADDR_MASK & ~(leaf - 1);

            *gpa = base | (vaddr & (leaf - 1));
            *size = leaf;
            return GUEST_PT_MAPPED;
        }
        if (entry & PTE_PAGE_SIZE) {
            return GUEST_PT_INVALID;  /* PS where no page can be mapped */
        }
        table = entry & PTE_ADDR_MASK;
    }
    return GUEST_PT_INVALID;
}

bool guest_pgtable_translate(const GuestPgtable *pt, uint64_t vaddr,
                             uint64_t *gpa, uint64_t *leaf_size)
{
    uint64_t size;

    if (guest_pgtable_lookup(pt, vaddr, gpa, &size) != GUEST_PT_MAPPED) {
        return false;
    }
    if (leaf_size) {
        *leaf_size = size;
    }
    return true;
}

#define CR3_PTI_USER_BIT (1ULL << 12)
#define PTE_ACCESSED     (1ULL << 5)

/* Whether the tables at @note_root and @live_root agree for @vaddrs. */
static bool same_top_entries(const GuestPgtable *pt, uint64_t note_root,
                             uint64_t live_root, const uint64_t *vaddrs,
                             size_t n, const char **why)
{
    int top_shift = pt->levels == 5 ? 48 : 39;

    for (size_t i = 0; i < n; i++) {
        uint64_t index = (vaddrs[i] >> top_shift) & 511;
        uint64_t noted, live;

        if (!guest_read_u64(pt->mem, note_root + index * 8, &noted) ||
            !guest_read_u64(pt->mem, live_root + index * 8, &live)) {
            *why = "a top-level page table (the note's or a vCPU's) is not "
                   "in guest RAM";
            return false;
        }
        if ((noted & ~PTE_ACCESSED) != (live & ~PTE_ACCESSED) ||
            !(noted & PTE_PRESENT)) {
            *why = "the VMCOREINFO note does not describe the running "
                   "kernel: its page tables are not the ones the vCPUs use "
                   "(the guest kexec'd, or the note is another kernel's)";
            return false;
        }
    }
    return true;
}

bool guest_pgtable_same_kernel(const GuestPgtable *pt, uint64_t live_cr3,
                               const uint64_t *vaddrs, size_t n,
                               const char **why)
{
    uint64_t note_root = pt->root_gpa & PTE_ADDR_MASK;
    uint64_t live_root = live_cr3 & PTE_ADDR_MASK;

    if (pt->levels != 4 && pt->levels != 5) {
        *why = "unsupported paging depth";
        return false;
    }
    if (same_top_entries(pt, note_root, live_root, vaddrs, n, why)) {
        return true;
    }
    /*
     * With page-table isolation the CPU may be on a process's user copy,
     * the 4 KiB after its kernel table, which maps little of the kernel;
     * a kernel built without it may use bit 12 as an address bit, so the
     * table as given is tried first.
     */
    return (live_root & CR3_PTI_USER_BIT) &&
           same_top_entries(pt, note_root, live_root & ~CR3_PTI_USER_BIT,
                            vaddrs, n, why);
}
