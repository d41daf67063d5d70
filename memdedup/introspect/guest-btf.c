/*
 * Guest BTF: the per-CPU free lists' layout from the guest kernel's own
 * BTF, through libbpf.  See guest-btf.h.
 *
 * libbpf (1.3 and later) validates the type section when it loads it:
 * every type id a type refers to exists, and every name offset lies in
 * the string section.  What the layout then takes from it is checked
 * here: members found by name (through anonymous structs and unions, a
 * bounded depth), offsets within their struct's size, byte-aligned,
 * arrays of a sane count; and, since the walk copies or indexes each
 * struct through these offsets, every struct within a fixed bound and
 * every member the walk reads wholly inside its struct
 * (guest_pcp_layout_check).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/btf.h>
#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-btf.h"

#define BTF_MAGIC_LE 0xeb9f
#define MAX_ANON_DEPTH 8

/* @id with typedefs and qualifiers peeled off. */
static const struct btf_type *resolved(const struct btf *btf, uint32_t id,
                                       uint32_t *out_id)
{
    int rid = btf__resolve_type(btf, id);

    if (rid < 0) {
        return NULL;
    }
    if (out_id) {
        *out_id = rid;
    }
    return btf__type_by_id(btf, rid);
}

/*
 * Find member @name of the struct or union @t, looking into anonymous
 * struct and union members; *@bits gets its bit offset from the start of
 * @t and *@type its type id.
 */
static bool find_member(const struct btf *btf, const struct btf_type *t,
                        const char *name, int depth, uint64_t *bits,
                        uint32_t *type)
{
    const struct btf_member *m = btf_members(t);

    if (depth > MAX_ANON_DEPTH || !btf_is_composite(t)) {
        return false;
    }
    for (uint16_t i = 0; i < btf_vlen(t); i++, m++) {
        const char *mname = btf__name_by_offset(btf, m->name_off);
        uint64_t off = btf_member_bit_offset(t, i);

        if (mname && *mname) {
            if (!strcmp(mname, name)) {
                *bits = off;
                *type = m->type;
                return true;
            }
            continue;
        }
        /* anonymous: a struct or union to look into */
        {
            const struct btf_type *inner = resolved(btf, m->type, NULL);
            uint64_t inner_bits;

            if (inner && find_member(btf, inner, name, depth + 1, &inner_bits,
                                     type)) {
                *bits = off + inner_bits;
                return true;
            }
        }
    }
    return false;
}

/*
 * Byte offset of member @name in the struct @t (NULL if BTF has no such
 * struct); also its type id.
 */
static bool member_offset(const struct btf *btf, const struct btf_type *t,
                          const char *name, uint32_t *offset, uint32_t *type,
                          uint32_t *struct_size)
{
    uint64_t bits;
    uint32_t mtype;

    if (!t || !find_member(btf, t, name, 0, &bits, &mtype) || bits % 8 ||
        bits / 8 >= t->size) {
        return false;
    }
    *offset = bits / 8;
    if (type) {
        *type = mtype;
    }
    if (struct_size) {
        *struct_size = t->size;
    }
    return true;
}

/* Struct @name (each lookup is a walk of every type: do it once). */
static const struct btf_type *struct_named(const struct btf *btf,
                                           const char *name)
{
    int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);

    return id > 0 ? btf__type_by_id(btf, id) : NULL;
}

static bool enum_value(const struct btf *btf, const char *ename,
                       const char *value, uint32_t *out)
{
    int id = btf__find_by_name_kind(btf, ename, BTF_KIND_ENUM);
    const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
    const struct btf_enum *e;

    if (!t) {
        return false;
    }
    e = btf_enum(t);
    for (uint16_t i = 0; i < btf_vlen(t); i++, e++) {
        const char *n = btf__name_by_offset(btf, e->name_off);

        if (n && !strcmp(n, value) && e->val >= 0) {
            *out = e->val;
            return true;
        }
    }
    return false;
}

/*
 * Where a static key's enabled count is: struct static_key's "enabled",
 * a 4-byte atomic_t, with struct static_key_false and static_key_true
 * each holding the struct static_key at offset 0. Optional: a layout
 * without it only leaves the guest's free-page content unknown.
 */
static void read_static_key(const struct btf *btf, GuestPcpLayout *l)
{
    const struct btf_type *key = struct_named(btf, "static_key");
    uint32_t type, off_false, off_true, key_size;

    l->has_static_key =
        member_offset(btf, key, "enabled", &l->static_key_enabled, &type,
                      &key_size) &&
        btf__resolve_size(btf, type) == 4 &&
        l->static_key_enabled + 4ULL <= key_size &&
        member_offset(btf, struct_named(btf, "static_key_false"), "key",
                      &off_false, NULL, NULL) && off_false == 0 &&
        member_offset(btf, struct_named(btf, "static_key_true"), "key",
                      &off_true, NULL, NULL) && off_true == 0;
    if (!l->has_static_key) {
        l->static_key_enabled = 0;
    }
}

static bool read_layout(const struct btf *btf, GuestPcpLayout *l,
                        const char **why)
{
    const struct btf_type *zone = struct_named(btf, "zone");
    const struct btf_type *pcp = struct_named(btf, "per_cpu_pages");
    const struct btf_type *page = struct_named(btf, "page");
    const struct btf_type *pgdat = struct_named(btf, "pglist_data");
    uint32_t type, pgdat_size;
    const struct btf_type *t;
    int64_t elem_size;

    if (!member_offset(btf, zone, "per_cpu_pageset", &l->zone_per_cpu_pageset,
                       NULL, &l->zone_size) ||
        !member_offset(btf, zone, "free_area", &l->zone_free_area, NULL, NULL)) {
        *why = "BTF lacks struct zone's per_cpu_pageset or free_area";
        return false;
    }
    if (!member_offset(btf, zone, "zone_start_pfn", &l->zone_start_pfn,
                       NULL, NULL) ||
        !member_offset(btf, zone, "spanned_pages", &l->zone_spanned_pages,
                       NULL, NULL) ||
        !member_offset(btf, zone, "present_pages", &l->zone_present_pages,
                       NULL, NULL)) {
        *why = "BTF lacks struct zone's span (zone_start_pfn, spanned_pages, "
               "present_pages)";
        return false;
    }
    if (!member_offset(btf, pgdat, "node_zones", &l->pgdat_node_zones,
                       &type, &pgdat_size) ||
        !(t = resolved(btf, type, NULL)) || !btf_is_array(t) ||
        btf_array(t)->nelems == 0 ||
        btf_array(t)->nelems > GUEST_PCP_MAX_NR_ZONES ||
        btf__resolve_size(btf, btf_array(t)->type) != l->zone_size ||
        l->pgdat_node_zones + (uint64_t)btf_array(t)->nelems * l->zone_size >
        pgdat_size) {
        *why = "BTF lacks pglist_data.node_zones, an array of struct zone "
               "inside it";
        return false;
    }
    l->pgdat_nr_zones = btf_array(t)->nelems;
    if (!member_offset(btf, pcp, "count", &l->pcp_count, NULL,
                       &l->pcp_size) ||
        !member_offset(btf, pcp, "lists", &l->pcp_lists, &type,
                       NULL)) {
        *why = "BTF lacks struct per_cpu_pages' count or lists";
        return false;
    }
    t = resolved(btf, type, NULL);
    if (!t || !btf_is_array(t) || btf_array(t)->nelems == 0 ||
        btf_array(t)->nelems > GUEST_PCP_MAX_NR_LISTS) {
        *why = "per_cpu_pages.lists is not an array of a sane length";
        return false;
    }
    l->pcp_nr_lists = btf_array(t)->nelems;
    elem_size = btf__resolve_size(btf, btf_array(t)->type);
    if (elem_size != 16) {
        *why = "per_cpu_pages.lists' elements are not list heads";
        return false;
    }
    l->pcp_list_size = elem_size;
    if (!member_offset(btf, page, "_refcount", &l->page_refcount, NULL,
                       &l->page_size) ||
        !member_offset(btf, page, "_mapcount", &l->page_mapcount, NULL, NULL)) {
        *why = "BTF lacks struct page's _refcount or _mapcount";
        return false;
    }
    /* pages on a pcp list are linked by pcp_list (6.1+), else by lru */
    if (!member_offset(btf, page, "lru", &l->page_lru, NULL, NULL)) {
        *why = "BTF lacks struct page's lru";
        return false;
    }
    if (!member_offset(btf, page, "pcp_list", &l->page_pcp_list, NULL, NULL)) {
        l->page_pcp_list = l->page_lru;
    }
    if (!enum_value(btf, "migratetype", "MIGRATE_PCPTYPES",
                    &l->migrate_pcptypes)) {
        *why = "BTF lacks MIGRATE_PCPTYPES";
        return false;
    }
    read_static_key(btf, l);
    return guest_pcp_layout_check(l, why);
}

bool guest_pcp_layout_check(const GuestPcpLayout *l, const char **why)
{
    const uint64_t lists_end = l->pcp_lists +
                               (uint64_t)l->pcp_nr_lists * l->pcp_list_size;

    if (l->zone_size == 0 || l->zone_size > GUEST_ZONE_STRUCT_MAX ||
        MAX(MAX(l->zone_start_pfn, l->zone_spanned_pages),
            MAX(l->zone_present_pages, l->zone_per_cpu_pageset)) + 8ULL >
        l->zone_size || l->zone_free_area >= l->zone_size) {
        *why = "struct zone is larger than 64 KiB, or a member the walk "
               "reads lies outside it";
        return false;
    }
    if (l->pgdat_nr_zones == 0 || l->pgdat_nr_zones > GUEST_PCP_MAX_NR_ZONES) {
        *why = "pglist_data.node_zones has no zone or more than 8";
        return false;
    }
    if (l->pcp_size > GUEST_PCP_STRUCT_MAX ||
        l->pcp_count + 4ULL > l->pcp_size || l->pcp_nr_lists == 0 ||
        l->pcp_nr_lists > GUEST_PCP_MAX_NR_LISTS ||
        l->pcp_list_size != 16 || lists_end > l->pcp_size) {
        *why = "struct per_cpu_pages is larger than 2 KiB, or its count or "
               "lists lie outside it";
        return false;
    }
    if (l->page_size == 0 || l->page_size > GUEST_PAGE_STRUCT_MAX ||
        l->page_pcp_list + 16ULL > l->page_size ||
        l->page_lru + 16ULL > l->page_size ||
        l->page_refcount + 4ULL > l->page_size ||
        l->page_mapcount + 4ULL > l->page_size) {
        *why = "struct page is larger than 256 bytes, or a member the walk "
               "reads lies outside it";
        return false;
    }
    if (l->migrate_pcptypes == 0 || l->migrate_pcptypes > l->pcp_nr_lists) {
        *why = "MIGRATE_PCPTYPES is 0 or more than the per-CPU lists";
        return false;
    }
    return true;
}

/* What VMCOREINFO states must agree with BTF. */
static bool cross_check(const GuestPcpLayout *l, const VmcoreInfo *info,
                        const char **why)
{
    if (l->page_size != info->page_struct_size ||
        l->page_mapcount != info->page_mapcount_off ||
        (info->has_page_refcount && l->page_refcount != info->page_refcount_off)) {
        *why = "BTF's struct page differs from VMCOREINFO's";
        return false;
    }
    if ((info->has_page_lru && info->page_lru_off != l->page_lru) ||
        (info->has_zone_size && info->zone_size != l->zone_size) ||
        (info->has_zone_free_area &&
         info->zone_free_area_off != l->zone_free_area)) {
        *why = "BTF's struct zone or page.lru differs from VMCOREINFO's";
        return false;
    }
    if ((info->has_zone_spanned_pages &&
         info->zone_spanned_pages_off != l->zone_spanned_pages) ||
        (info->has_pgdat_node_zones &&
         info->pgdat_node_zones_off != l->pgdat_node_zones)) {
        *why = "BTF's zone span or pglist_data differs from VMCOREINFO's";
        return false;
    }
    return true;
}

bool guest_btf_pcp_layout(const void *data, size_t len, const VmcoreInfo *info,
                          GuestPcpLayout *layout, const char **why)
{
    struct btf *btf;
    uint16_t magic;
    bool ok;

    memset(layout, 0, sizeof(*layout));
    if (len < sizeof(magic) || len > GUEST_BTF_MAX_BYTES) {
        *why = "the guest's BTF section has an absurd size";
        return false;
    }
    memcpy(&magic, data, sizeof(magic));
    if (GUINT16_FROM_LE(magic) != BTF_MAGIC_LE) {
        *why = "the guest's BTF section has no BTF magic";
        return false;
    }
    btf = btf__new(data, len);
    if (!btf) {
        *why = "libbpf refuses the guest's BTF";
        return false;
    }
    ok = read_layout(btf, layout, why) && cross_check(layout, info, why);
    btf__free(btf);
    if (!ok) {
        memset(layout, 0, sizeof(*layout));
    }
    return ok;
}
