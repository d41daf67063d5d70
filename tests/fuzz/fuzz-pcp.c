/*
 * libFuzzer target: the per-CPU free-list walk (guest-pcp.c) on a
 * hostile guest, with the layout its BTF gives (guest-btf.c).
 *
 * The input is a header of little-endian u16s, the guest's BTF, and
 * guest RAM:
 *   0  length of the BTF that follows the header
 *   2  VMCOREINFO's SIZE(page)            4  OFFSET(page._mapcount)
 *   6  limits' max_cpus (0: default)      8  max_nodes (0: default)
 *   10 limits' max_entries (0: guest_pcp_limits_init()'s)
 *   12 the BTF, then RAM from guest-physical DATA_GPA on.
 * The BTF is parsed against that VMCOREINFO; a layout it yields must pass
 * guest_pcp_layout_check().  The harness builds 2 MiB of guest RAM with
 * fixed page tables (the kernel image and the struct page array each
 * mapped by one 2 MiB leaf) and copies the rest of the input over
 * everything above them: the kernel's nr_cpu_ids, possible-CPU mask,
 * per-CPU offsets, nr_node_ids and node_data at fixed places, and
 * whatever zones, per-CPU lists and struct pages the fuzzer points them
 * at.  Whatever the lists hold, the walk must stay inside guest RAM and
 * the bitmap, end, mark no more pages than it counts, account for every
 * list of every CPU and zone (walked, dropped or aliased) when it
 * succeeds, and read no more entries than its limits allow.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/introspect/guest-free-content.h"
#include "memdedup/introspect/guest-pcp.h"
#include "fuzz-ram.h"

#define RAM_SIZE (2u << 20)
#define NR_PFNS (RAM_SIZE >> 12)
#define KERNEL_MAP 0xffffffff80000000ULL
#define VMEMMAP_LEAF 0xffffea0000000000ULL
/* struct pages of pfn 0.. at gpa 0x10000, under the input */
#define VMEMMAP (VMEMMAP_LEAF + 0x10000)
#define DATA_GPA 0x8000u    /* the input after the BTF lands here */
#define HEADER 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_u64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
    memcpy(ram + gpa, &v, 8);
}

static uint16_t u16_at(const uint8_t *data, size_t off)
{
    return data[off] | data[off + 1] << 8;
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

/* Walk the lists @pv describes over @ram, checking what the scan says. */
static void walk(uint8_t *ram, const VmcoreInfo *info, const GuestPcpView *pv,
                 const GuestPcpLimits *lim)
{
    GuestRamRange range = { 0, RAM_SIZE };
    FuzzRam r = { .ram = ram, .size = RAM_SIZE };
    GuestMemory mem = { .map = fuzz_map, .opaque = &r };
    const uint32_t nr_lists = pv->layout.pcp_nr_lists;
    GuestKernelView view;
    GuestPcpStats st;
    uint64_t *bitmap, marked = 0;
    const char *why;
    bool ok;

    if (!guest_kernel_view_init(&view, info, &mem, &range, 1, &why)) {
        return;     /* SIZE(page) the struct-page scan does not take */
    }
    bitmap = calloc(NR_PFNS / 64, sizeof(uint64_t));
    ok = guest_pcp_scan(&view, pv, lim, &range, 1, bitmap, NR_PFNS, &st,
                        &why);
    for (uint32_t w = 0; w < NR_PFNS / 64; w++) {
        marked += __builtin_popcountll(bitmap[w]);
    }
    if (marked > st.pages || st.budget_entries_used > lim->max_entries ||
        st.entries > st.budget_entries_used || (!ok && !why) ||
        (ok && (st.budget_exhausted ||
                st.lists_walked + st.lists_dropped + st.lists_aliased !=
                (uint64_t)st.cpus * st.zones * nr_lists))) {
        abort();
    }
    free(bitmap);

    /* The static keys, in guest data too: known only as 0 or 1 each */
    {
        GuestPcpView keys = *pv;
        GuestFreeContent content;

        keys.kallsyms_symbols = 1;
        keys.init_on_free_key = KERNEL_MAP + DATA_GPA + 0x60;
        keys.page_poisoning_key = KERNEL_MAP + DATA_GPA + 0x68;
        guest_free_content_read(&view, &keys, &content);
        if ((!content.known && !content.reason) ||
            (!content.known && (content.zeroes || content.poisons)) ||
            (content.known && !keys.layout.has_static_key)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GuestPcpView pv = {
        .nr_cpu_ids = KERNEL_MAP + DATA_GPA,
        .cpu_possible_mask = KERNEL_MAP + DATA_GPA + 0x8,
        .per_cpu_offset = KERNEL_MAP + DATA_GPA + 0x10,
        .nr_node_ids = KERNEL_MAP + DATA_GPA + 0x50,
        .node_data = KERNEL_MAP + DATA_GPA + 0x58,
    };
    VmcoreInfo info = {
        .page_size = 4096, .init_top_pgt = KERNEL_MAP + 0x1000,
        .has_vmemmap = true, .vmemmap = VMEMMAP, .max_order = 10,
        .section_size_bits = 27, .buddy_mapcount_value = 0xf0000000u,
        .buddy_type_in_top_byte = true,
    };
    GuestPcpLimits lim;
    const char *why;
    size_t btf_len;
    uint8_t *ram;

    if (size < HEADER) {
        return 0;
    }
    libbpf_set_print(NULL);
    btf_len = u16_at(data, 0);
    info.page_struct_size = u16_at(data, 2);
    info.page_mapcount_off = u16_at(data, 4);
    guest_pcp_limits_init(&lim, NR_PFNS, u16_at(data, 6), u16_at(data, 8));
    if (u16_at(data, 10)) {
        lim.max_entries = u16_at(data, 10);
    }
    if (btf_len > size - HEADER ||
        size - HEADER - btf_len > RAM_SIZE - DATA_GPA ||
        !guest_btf_pcp_layout(data + HEADER, btf_len, &info, &pv.layout,
                              &why)) {
        return 0;
    }
    if (!guest_pcp_layout_check(&pv.layout, &why)) {
        abort();    /* BTF's layouts are within bounds */
    }
    ram = calloc(1, RAM_SIZE);
    build_tables(ram);
    memcpy(ram + DATA_GPA, data + HEADER + btf_len, size - HEADER - btf_len);
    walk(ram, &info, &pv, &lim);
    free(ram);
    return 0;
}
