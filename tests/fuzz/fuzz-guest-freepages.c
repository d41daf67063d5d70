/*
 * libFuzzer target: the guest page-table walker and free-page scan on a
 * hostile guest, driven by whatever the VMCOREINFO parser accepts.  The
 * input is the guest: a 2-byte little-endian length, that many bytes of
 * VMCOREINFO text (the kernel's self-description: paging levels,
 * init_top_pgt, vmemmap or mem_section, struct page layout, buddy
 * marker), then guest RAM holding whatever page tables and struct pages
 * the fuzzer invents.  The scan sees exactly the VmcoreInfo the real
 * parser produced, so no combination the parser lets through is missed.
 * Whatever the guest holds, the scan must stay inside guest RAM and the
 * bitmap, and end.  Then memdedup's planner runs on what the scan found,
 * at both granularities: it must plan only free frames inside the range,
 * and never a page holding a non-zero pattern.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "memdedup/dedup/dedup-plan.h"
#include "memdedup/introspect/guest-freepages.h"
#include "fuzz-ram.h"

#define MAX_NOTE 4096
#define MAX_RAM (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool frame_free(const uint64_t *bitmap, uint64_t pfn)
{
    return (bitmap[pfn / 64] >> (pfn % 64)) & 1;
}

/* Plan discards from the scan's bitmap and check every planned page. */
static void check_plan(const uint64_t *bitmap, uint64_t nr_pfns,
                       const uint8_t *ram, uint64_t granule)
{
    GArray *runs = g_array_new(false, false, sizeof(DedupRun));
    DedupPlanStats st = { 0 };
    uint64_t planned = 0;

    dedup_plan_range(bitmap, nr_pfns, 0, nr_pfns, ram, 4096, granule, NULL,
                     runs, &st);
    for (guint i = 0; i < runs->len; i++) {
        const DedupRun *run = &g_array_index(runs, DedupRun, i);

        if (run->npages > nr_pfns || run->first > nr_pfns - run->npages) {
            abort();
        }
        for (uint64_t p = run->first; p < run->first + run->npages; p++) {
            if (!frame_free(bitmap, p) ||
                page_classify(ram + p * 4096, 4096, NULL) ==
                PAGE_CLASS_PATTERN) {
                abort();
            }
        }
        planned += run->npages;
    }
    if (planned != st.planned_pages || st.free_pages > nr_pfns) {
        abort();
    }
    g_array_free(runs, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmcoreInfo info;
    GuestKernelView view;
    GuestFreePageStats st = { 0 };
    GuestRamRange range;
    FuzzRam r;
    GuestMemory mem = { .map = fuzz_map, .opaque = &r };
    const char *why;
    uint8_t *ram;
    char *note;
    uint64_t *bitmap;
    uint64_t nr_pfns;
    size_t note_len;

    if (size < 2) {
        return 0;
    }
    note_len = data[0] | (size_t)data[1] << 8;
    if (note_len > MAX_NOTE || size - 2 < note_len + 4096 ||
        size - 2 - note_len > MAX_RAM) {
        return 0;
    }
    /* exact-size heap copies so ASan catches any stray access */
    note = malloc(note_len ? note_len : 1);
    memcpy(note, data + 2, note_len);
    if (!vmcoreinfo_parse_text(note, note_len, &info, &why)) {
        free(note);
        return 0;
    }
    free(note);

    r.size = (size - 2 - note_len) & ~4095ULL;
    ram = malloc(r.size);
    memcpy(ram, data + 2 + note_len, r.size);
    r.ram = ram;
    range.start = 0;
    range.end = r.size;
    nr_pfns = r.size >> 12;
    bitmap = calloc((nr_pfns + 63) / 64, sizeof(uint64_t));

    if (guest_kernel_view_init(&view, &info, &mem, &range, 1, &why)) {
        (void)guest_free_pages_scan(&view, &range, 1, bitmap, nr_pfns, &st, &why);
        if (st.free_pages > nr_pfns || st.unmapped_pfns > nr_pfns) {
            abort();
        }
        check_plan(bitmap, nr_pfns, ram, 1);
        check_plan(bitmap, nr_pfns, ram, 512);
    }
    free(bitmap);
    free(ram);
    return 0;
}
