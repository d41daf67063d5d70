/*
 * Guest free-page map (see guest-freepages.h).
 *
 * Algorithm.  struct page for pfn N lives at vmemmap + N * SIZE(page),
 * a kernel-virtual address.  The array is mapped by the guest's page
 * tables in 4 KiB, 2 MiB or 1 GiB pieces; each piece is translated once
 * and mapped as one host range, so the inner loop only loads one 32-bit
 * word per page and compares it with the buddy marker.  A match is the
 * head of a free block of 2^page.private pages; the walk marks the block
 * and jumps past it, so blocks can never overlap.
 *
 * Races.  vCPUs keep running: a block may be allocated while we read it
 * (marker still set, private already reset) or freed just after.  The
 * map is therefore a hint, valid only together with dirty tracking: the
 * caller re-arms dirty logging for a range *before* the scan and clears
 * migration-bitmap bits only for pages this scan saw free.  A page
 * allocated and written afterwards is dirtied and sent again.
 *
 * Hostile guests.  Every guest-derived address goes through
 * GuestMemory.map, which only hands out guest RAM.  A lying guest can make
 * us treat its own in-use pages as free (then it corrupts itself), never
 * read or write outside its RAM.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "memdedup/introspect/guest-freepages.h"

#define GUEST_PAGE_SHIFT 12

/* Read section @nr's encoded section_mem_map. */
static bool read_section_mem_map(const GuestKernelView *view, uint64_t nr,
                                 uint64_t *smm)
{
    const VmcoreInfo *in = &view->info;
    uint64_t per_root, root_index, root_ptr, root_gpa, entry_gpa;

    /* The parser bounds the entry size; never divide by a zero count. */
    if (in->mem_section_size == 0 || in->mem_section_size > 4096) {
        return false;
    }
    per_root = 4096 / in->mem_section_size;
    root_index = nr / per_root;
    if (root_index >= in->mem_section_length) {
        return false;
    }
    /* SPARSEMEM_EXTREME: mem_section is an array of pointers to roots. */
    if (!guest_pgtable_translate(&view->pt, in->mem_section + root_index * 8,
                                 &root_gpa, NULL) ||
        !guest_read_u64(view->pt.mem, root_gpa, &root_ptr) || root_ptr == 0) {
        return false;
    }
    if (!guest_pgtable_translate(&view->pt, root_ptr +
                                 (nr % per_root) * in->mem_section_size +
                                 in->section_mem_map_off, &entry_gpa, NULL)) {
        return false;
    }
    return guest_read_u64(view->pt.mem, entry_gpa, smm);
}

#define SECTION_MARKED_PRESENT (1ULL << 0)
#define SECTION_HAS_MEM_MAP    (1ULL << 1)

/*
 * Decode vmemmap from the mem_section entries covering guest RAM.  The
 * encoded section_mem_map is (mem_map - first pfn of the section) with
 * flags in the low bits, which for SPARSEMEM_VMEMMAP is vmemmap itself.
 */
static bool decode_vmemmap(const GuestKernelView *view,
                           const GuestRamRange *ranges, size_t nranges,
                           uint64_t *vmemmap, const char **why)
{
    unsigned pfn_shift = view->info.section_size_bits - GUEST_PAGE_SHIFT;
    bool found = false;

    for (size_t r = 0; r < nranges; r++) {
        uint64_t first = (ranges[r].start >> GUEST_PAGE_SHIFT) >> pfn_shift;
        uint64_t last = ((ranges[r].end - 1) >> GUEST_PAGE_SHIFT) >> pfn_shift;

        for (uint64_t nr = first; nr <= last; nr++) {
            uint64_t smm, decoded;

            if (!read_section_mem_map(view, nr, &smm) ||
                (smm & (SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP)) !=
                (SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP)) {
                continue;   /* a hole, or not (yet) online */
            }
            decoded = smm & ~0xfffULL;
            if (found && decoded != *vmemmap) {
                *why = "mem_section entries disagree about vmemmap";
                return false;
            }
            *vmemmap = decoded;
            found = true;
        }
    }
    if (!found) {
        *why = "no present mem_section covers guest RAM";
    }
    return found;
}

bool guest_kernel_view_init(GuestKernelView *view, const VmcoreInfo *info,
                            const GuestMemory *mem,
                            const GuestRamRange *ranges, size_t nranges,
                            const char **why)
{
    uint64_t decoded = 0;

    view->info = *info;
    view->pt.mem = mem;
    view->pt.root_gpa = vmcoreinfo_kernel_pa(info, info->init_top_pgt);
    view->pt.levels = info->pgtable_l5_enabled ? 5 : 4;
    if (!mem->map(mem->opaque, view->pt.root_gpa, 4096)) {
        *why = "init_top_pgt is not in guest RAM";
        return false;
    }
    if (info->page_struct_size == 0 || info->page_struct_size > 4096 ||
        (info->page_struct_size & (info->page_struct_size - 1))) {
        *why = "SIZE(page) is not a power of two (unsupported)";
        return false;
    }
    if (info->has_vmemmap) {
        /*
         * The scan steps through whole struct pages and assumes none
         * straddles a page-table leaf: that needs vmemmap aligned.
         */
        if (info->vmemmap % info->page_struct_size) {
            *why = "SYMBOL(vmemmap) is not aligned to SIZE(page)";
            return false;
        }
        view->vmemmap = info->vmemmap;
        /* Cross-check with mem_section when it is there too. */
        if (info->mem_section_size &&
            decode_vmemmap(view, ranges, nranges, &decoded, why) &&
            decoded != info->vmemmap) {
            *why = "SYMBOL(vmemmap) disagrees with mem_section";
            return false;
        }
        *why = NULL;
        return true;
    }
    if (!decode_vmemmap(view, ranges, nranges, &decoded, why)) {
        return false;
    }
    view->vmemmap = decoded;
    return true;
}

static inline void mark_pages(uint64_t *bitmap, uint64_t pfn, uint64_t n)
{
    for (uint64_t p = pfn; p < pfn + n; p++) {
        bitmap[p / 64] |= 1ULL << (p % 64);
    }
}

/*
 * Scan the struct pages of [@pfn, @end_pfn) that one mapped leaf holds,
 * starting at @chunk (@chunk_pfns of them).  Returns how many pfns the
 * walk moved past: at least one, and more than @chunk_pfns when the last
 * free block runs beyond the leaf.
 */
static uint64_t scan_chunk(const VmcoreInfo *in, const unsigned char *chunk,
                           uint64_t chunk_pfns, uint64_t pfn,
                           uint64_t end_pfn, uint64_t *bitmap,
                           GuestFreePageStats *stats)
{
    const uint64_t psize = in->page_struct_size;
    uint64_t i = 0;

    while (i < chunk_pfns) {
        const unsigned char *page = chunk + i * psize;
        uint32_t word;
        uint64_t order, n;

        memcpy(&word, page + in->page_mapcount_off, sizeof(word));
        stats->pages_scanned++;
        if (!vmcoreinfo_is_buddy(in, word)) {
            i++;
            continue;
        }
        memcpy(&order, page + in->page_private_off, sizeof(order));
        n = 1ULL << (order <= in->max_order ? order : 0);
        if (order > in->max_order || ((pfn + i) & (n - 1)) ||
            pfn + i + n > end_pfn) {
            stats->rejected_blocks++;
            i++;
            continue;
        }
        mark_pages(bitmap, pfn + i, n);
        stats->blocks_by_order[order]++;
        stats->free_blocks++;
        stats->free_pages += n;
        i += n;
    }
    return i;
}

bool guest_free_pages_scan(const GuestKernelView *view,
                           const GuestRamRange *ranges, size_t nranges,
                           uint64_t *bitmap, uint64_t nr_pfns,
                           GuestFreePageStats *stats, const char **why)
{
    const VmcoreInfo *in = &view->info;
    const uint64_t psize = in->page_struct_size;
    bool any_mapped = false;

    *why = NULL;
    for (size_t r = 0; r < nranges; r++) {
        uint64_t pfn = (ranges[r].start + 4095) >> GUEST_PAGE_SHIFT;
        uint64_t end_pfn = ranges[r].end >> GUEST_PAGE_SHIFT;

        if (end_pfn > nr_pfns) {
            *why = "free-page bitmap is smaller than guest RAM";
            return false;
        }
        while (pfn < end_pfn) {
            uint64_t vaddr = view->vmemmap + pfn * psize;
            uint64_t gpa = 0, span = 0, step;
            const unsigned char *chunk;

            switch (guest_pgtable_lookup(&view->pt, vaddr, &gpa, &span)) {
            case GUEST_PT_HOLE:
                /*
                 * No struct pages here: memory the guest has not onlined
                 * (mem=, an unplugged DIMM or virtio-mem block).  Nothing
                 * in it is free to the guest; go on after the hole.
                 */
                step = (span - (vaddr & (span - 1))) / psize;
                step = MIN(step, end_pfn - pfn);
                stats->unmapped_pfns += step;
                break;
            case GUEST_PT_MAPPED:
                /* struct pages of this leaf, up to the end of the range */
                step = (span - (vaddr & (span - 1))) / psize;
                step = MIN(step, end_pfn - pfn);
                chunk = step ? view->pt.mem->map(view->pt.mem->opaque, gpa,
                                                 step * psize) : NULL;
                if (!chunk) {
                    *why = "struct page array lies outside guest RAM";
                    return false;
                }
                any_mapped = true;
                step = scan_chunk(in, chunk, step, pfn, end_pfn, bitmap,
                                  stats);
                break;
            default:
                *why = "the guest page tables that map struct pages are "
                       "inconsistent";
                return false;
            }
            if (step == 0) {
                /* Cannot happen with an aligned vmemmap; never spin. */
                *why = "the struct page walk made no progress";
                return false;
            }
            pfn += step;
        }
    }
    if (!any_mapped) {
        *why = "struct page array is not mapped by the guest page tables";
        return false;
    }
    return true;
}
