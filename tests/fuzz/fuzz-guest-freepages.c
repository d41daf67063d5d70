/*
 * libFuzzer target: the guest page-table walker and free-page scan on a
 * hostile guest.  The input is the guest: a 64-byte header chooses the
 * kernel's self-description (paging levels, init_top_pgt, vmemmap or
 * mem_section, struct page layout, buddy marker) and the rest is guest
 * RAM, holding whatever page tables and struct pages the fuzzer invents.
 * Whatever it holds, the scan must stay inside guest RAM and the bitmap.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/guest-freepages.h"

#define HEADER 64
#define MAX_RAM (256 * 1024)

typedef struct FuzzRam {
    const uint8_t *ram;
    uint64_t size;
} FuzzRam;

static const void *fuzz_map(void *opaque, uint64_t gpa, uint64_t len)
{
    FuzzRam *r = opaque;

    if (gpa >= r->size || len > r->size - gpa) {
        return NULL;
    }
    return r->ram + gpa;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmcoreInfo info = { 0 };
    GuestKernelView view;
    GuestFreePageStats st = { 0 };
    GuestRamRange range;
    FuzzRam r;
    GuestMemory mem = { .map = fuzz_map, .opaque = &r };
    const char *why;
    uint8_t *ram;
    uint64_t *bitmap;
    uint64_t nr_pfns;
    uint8_t flags;

    if (size < HEADER + 4096 || size > HEADER + MAX_RAM) {
        return 0;
    }
    flags = data[0];
    info.page_size = 4096;
    info.pgtable_l5_enabled = flags & 1;
    info.has_vmemmap = flags & 2;
    info.buddy_type_in_top_byte = flags & 4;
    info.init_top_pgt = 0xffffffff80000000ULL | (get64(data + 8) & 0x7fffffffULL);
    info.phys_base = get64(data + 16);
    info.vmemmap = get64(data + 24);
    info.mem_section = get64(data + 32);
    info.mem_section_length = 1 + data[1];
    info.mem_section_size = 8 * (1 + data[2] % 32);
    info.section_mem_map_off = 8 * (data[3] % (info.mem_section_size / 8));
    info.section_size_bits = 15 + data[4] % 26;
    info.page_struct_size = 8 * (4 + data[5] % 29);
    info.page_mapcount_off = 4 * (data[6] % (info.page_struct_size / 4));
    info.page_private_off = 8 * (data[7] % (info.page_struct_size / 8));
    if (info.page_mapcount_off + 4 > info.page_struct_size ||
        info.page_private_off + 8 > info.page_struct_size) {
        return 0;
    }
    info.max_order = data[40] % 20;
    memcpy(&info.buddy_mapcount_value, data + 44, 4);

    /* exact-size heap copy so ASan catches any stray access */
    r.size = (size - HEADER) & ~4095ULL;
    ram = malloc(r.size);
    memcpy(ram, data + HEADER, r.size);
    r.ram = ram;
    range.start = 0;
    range.end = r.size;
    nr_pfns = r.size >> 12;
    bitmap = calloc((nr_pfns + 63) / 64, sizeof(uint64_t));

    if (guest_kernel_view_init(&view, &info, &mem, &range, 1, &why)) {
        (void)guest_free_pages_scan(&view, &range, 1, bitmap, nr_pfns, &st, &why);
        if (st.free_pages > nr_pfns) {
            abort();
        }
    }
    free(bitmap);
    free(ram);
    return 0;
}
