/*
 * Guest BTF: the layout of the structures the per-CPU free-list walk
 * reads (struct zone, struct per_cpu_pages, struct page, enum
 * migratetype), taken from the BPF type information the guest kernel
 * carries in its image (the .BTF section, [__start_BTF, __stop_BTF),
 * which /sys/kernel/btf/vmlinux serves) and parsed with libbpf.  Nothing
 * is hard-coded: Debian's 6.1, for one, has a list more than upstream
 * 6.1 from a backport, so counts and offsets come from BTF, and what
 * VMCOREINFO also states must agree with it.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_BTF_H
#define MEMDEDUP_GUEST_BTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memdedup/introspect/vmcoreinfo.h"

/* The largest .BTF section we read (Debian's kernels: 4.4 to 4.9 MB) */
#define GUEST_BTF_MAX_BYTES (16u << 20)

/*
 * The largest structures a layout may describe, each far above Debian's
 * (struct per_cpu_pages: 256 bytes on 6.12; struct page: 64; struct
 * zone: 1536).  The walk copies struct per_cpu_pages whole into a buffer
 * of GUEST_PCP_STRUCT_MAX bytes and reads struct pages in place.
 */
#define GUEST_PCP_STRUCT_MAX    2048
#define GUEST_PAGE_STRUCT_MAX   256
#define GUEST_ZONE_STRUCT_MAX   65536
/* Elements of pglist_data.node_zones and of per_cpu_pages.lists */
#define GUEST_PCP_MAX_NR_ZONES  8
#define GUEST_PCP_MAX_NR_LISTS  64

typedef struct GuestPcpLayout {
    uint32_t zone_size;             /* sizeof(struct zone) */
    uint32_t zone_free_area;        /* offsetof(struct zone, free_area) */
    uint32_t zone_per_cpu_pageset;  /* offsetof(struct zone, per_cpu_pageset) */
    uint32_t zone_start_pfn;        /* offsetof(struct zone, zone_start_pfn) */
    uint32_t zone_spanned_pages;    /* offsetof(struct zone, spanned_pages) */
    uint32_t zone_present_pages;    /* offsetof(struct zone, present_pages) */
    uint32_t pgdat_node_zones;      /* offsetof(pglist_data, node_zones) */
    uint32_t pgdat_nr_zones;        /* elements of node_zones (MAX_NR_ZONES) */
    uint32_t pcp_size;              /* sizeof(struct per_cpu_pages) */
    uint32_t pcp_count;             /* offsetof(struct per_cpu_pages, count) */
    uint32_t pcp_lists;             /* offsetof(struct per_cpu_pages, lists) */
    uint32_t pcp_nr_lists;          /* elements of per_cpu_pages.lists */
    uint32_t pcp_list_size;         /* size of one element */
    uint32_t page_size;             /* sizeof(struct page) */
    uint32_t page_pcp_list;         /* offset of the list_head a pcp list
                                       links pages by (pcp_list, or lru) */
    uint32_t page_lru;              /* offsetof(struct page, lru) */
    uint32_t page_refcount;         /* offsetof(struct page, _refcount) */
    uint32_t page_mapcount;         /* offsetof(struct page, _mapcount) */
    uint32_t migrate_pcptypes;      /* MIGRATE_PCPTYPES */
    /*
     * Optional, for guest-free-content.h: where a static key (struct
     * static_key_false or _true, each wrapping a struct static_key at
     * offset 0) keeps its enabled count, an atomic_t.
     */
    bool has_static_key;
    uint32_t static_key_enabled;    /* offsetof(struct static_key, enabled) */
} GuestPcpLayout;

/*
 * Parse @len bytes of BTF (a private copy of the guest's .BTF section)
 * and fill @layout.  The struct page layout, SIZE(zone),
 * OFFSET(zone.free_area), OFFSET(zone.spanned_pages) and
 * OFFSET(pglist_data.node_zones) must match what @info says where
 * VMCOREINFO says it.  Returns false with a reason in *@why.
 */
bool guest_btf_pcp_layout(const void *data, size_t len, const VmcoreInfo *info,
                          GuestPcpLayout *layout, const char **why);

/*
 * Check that every offset and size in @layout lies inside the structure
 * it indexes, and each structure within the bounds above: true of every
 * layout guest_btf_pcp_layout() returns, and checked again by the walk
 * on whatever layout it is given.  Returns false with a reason in *@why.
 */
bool guest_pcp_layout_check(const GuestPcpLayout *layout, const char **why);

#endif /* MEMDEDUP_GUEST_BTF_H */
