/*
 * libFuzzer target: the per-CPU free-list walk (guest-pcp.c) on a
 * hostile guest.  The harness builds 2 MiB of guest RAM with fixed page
 * tables (the kernel image and the struct page array each mapped by one
 * 2 MiB leaf) and copies the input over everything above them: the
 * kernel's nr_cpu_ids, possible-CPU mask, per-CPU offsets, nr_node_ids
 * and node_data at fixed places, and whatever zones, per-CPU lists and
 * struct pages the fuzzer points them at.  The layout is Debian 6.12's.
 * Whatever the lists hold, the walk must stay inside guest RAM and the
 * bitmap, end, and mark no more pages than it counts.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/introspect/guest-pcp.h"
#include "fuzz-ram.h"

#define RAM_SIZE (2u << 20)
#define NR_PFNS (RAM_SIZE >> 12)
#define KERNEL_MAP 0xffffffff80000000ULL
#define VMEMMAP_LEAF 0xffffea0000000000ULL
/* struct pages of pfn 0.. at gpa 0x10000, under the input */
#define VMEMMAP (VMEMMAP_LEAF + 0x10000)
#define DATA_GPA 0x8000u    /* the input lands here */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_u64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
    memcpy(ram + gpa, &v, 8);
}

/* PML4 at 0x1000; kernel map and vmemmap each through one PDPT and PD. */
static void build_tables(uint8_t *ram)
{
    put_u64(ram, 0x1000 + ((KERNEL_MAP >> 39) & 511) * 8, 0x2000 | 0x63);
    put_u64(ram, 0x2000 + ((KERNEL_MAP >> 30) & 511) * 8, 0x3000 | 0x63);
    put_u64(ram, 0x3000, 0x0 | 0xe3);              /* 2 MiB leaf at gpa 0 */
    put_u64(ram, 0x1000 + ((VMEMMAP_LEAF >> 39) & 511) * 8, 0x4000 | 0x63);
    put_u64(ram, 0x4000 + ((VMEMMAP_LEAF >> 30) & 511) * 8, 0x5000 | 0x63);
    put_u64(ram, 0x5000, 0x0 | 0xe3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const GuestPcpLayout layout = {
        .zone_size = 1536, .zone_free_area = 256,
        .zone_per_cpu_pageset = 112, .zone_start_pfn = 152,
        .zone_spanned_pages = 160, .zone_present_pages = 168,
        .pgdat_node_zones = 0, .pgdat_nr_zones = 3,
        .pcp_count = 0, .pcp_lists = 32, .pcp_nr_lists = 14,
        .pcp_list_size = 16, .page_size = 64, .page_pcp_list = 8,
        .page_lru = 8, .page_refcount = 52, .page_mapcount = 48,
        .migrate_pcptypes = 3,
    };
    GuestPcpView pv = {
        .layout = layout,
        .nr_cpu_ids = KERNEL_MAP + DATA_GPA,
        .cpu_possible_mask = KERNEL_MAP + DATA_GPA + 0x8,
        .per_cpu_offset = KERNEL_MAP + DATA_GPA + 0x10,
        .nr_node_ids = KERNEL_MAP + DATA_GPA + 0x50,
        .node_data = KERNEL_MAP + DATA_GPA + 0x58,
    };
    GuestRamRange range = { 0, RAM_SIZE };
    FuzzRam r;
    GuestMemory mem = { .map = fuzz_map, .opaque = &r };
    VmcoreInfo info = {
        .page_size = 4096, .init_top_pgt = KERNEL_MAP + 0x1000,
        .has_vmemmap = true, .vmemmap = VMEMMAP, .page_struct_size = 64,
        .page_mapcount_off = 48, .page_private_off = 40, .max_order = 10,
        .section_size_bits = 27, .buddy_mapcount_value = 0xf0000000u,
        .buddy_type_in_top_byte = true,
    };
    GuestKernelView view;
    GuestPcpStats st;
    uint64_t *bitmap, marked = 0;
    const char *why;
    uint8_t *ram;

    if (size > RAM_SIZE - DATA_GPA) {
        return 0;
    }
    ram = calloc(1, RAM_SIZE);
    build_tables(ram);
    memcpy(ram + DATA_GPA, data, size);
    r.ram = ram;
    r.size = RAM_SIZE;
    bitmap = calloc(NR_PFNS / 64, sizeof(uint64_t));
    if (!guest_kernel_view_init(&view, &info, &mem, &range, 1, &why)) {
        abort();    /* the harness's own tables */
    }
    if (guest_pcp_scan(&view, &pv, &range, 1, bitmap, NR_PFNS, &st, &why)) {
        for (uint32_t w = 0; w < NR_PFNS / 64; w++) {
            marked += __builtin_popcountll(bitmap[w]);
        }
        if (marked > st.pages || st.lists_walked + st.lists_dropped !=
            (uint64_t)st.cpus * st.zones * layout.pcp_nr_lists) {
            abort();
        }
    } else if (!why) {
        abort();
    }
    free(bitmap);
    free(ram);
    return 0;
}
