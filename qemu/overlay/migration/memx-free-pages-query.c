/*
 * qemu-memx: what introspection sees of the guest's free pages, for the
 * operator: __org.qemu-memx_query-guest-free-pages and info
 * memx-guest-free-pages.  The scan is the one migration uses
 * (memx/guest-scan.c), run on demand; nothing here changes what a
 * migration skips (memx-free-pages.c).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "exec/target_page.h"
#include "system/memx-guest-scan.h"
#include "memdedup/introspect/guest-btf.h"
#include "memdedup/introspect/guest-free-content.h"
#include "memdedup/introspect/guest-kallsyms.h"

/* The set bits of @bitmap (@nr_pfns bits) as guest-physical runs. */
static __org_qemu_memx_GuestFreeRangeList *
memx_free_ranges_from_bitmap(const uint64_t *bitmap, uint64_t nr_pfns)
{
    __org_qemu_memx_GuestFreeRangeList *head = NULL, **tail = &head;
    uint64_t pfn = 0;

    while (pfn < nr_pfns) {
        __org_qemu_memx_GuestFreeRange *range;
        uint64_t first;

        /* find the next set bit, a word at a time */
        while (pfn < nr_pfns && !(bitmap[pfn / 64] >> (pfn % 64))) {
            pfn = ROUND_UP(pfn + 1, 64);
        }
        if (pfn >= nr_pfns) {
            break;
        }
        pfn += ctz64(bitmap[pfn / 64] >> (pfn % 64));
        first = pfn;
        while (pfn < nr_pfns && (bitmap[pfn / 64] >> (pfn % 64)) & 1) {
            pfn++;
        }
        range = g_new(__org_qemu_memx_GuestFreeRange, 1);
        range->start = first << TARGET_PAGE_BITS;
        range->length = (pfn - first) << TARGET_PAGE_BITS;
        QAPI_LIST_APPEND(tail, range);
    }
    return head;
}

#define MEMX_MAX_SYMBOLS_ASKED 64

/* What the per-CPU lists' view holds about kallsyms and BTF. */
static void memx_fill_pcp_view(__org_qemu_memx_GuestFreePages *info,
                               const GuestPcpView *pv)
{
    const GuestPcpLayout *l = &pv->layout;
    __org_qemu_memx_GuestPcpLayout *out;

    if (pv->kallsyms_symbols) {
        info->has_kallsyms_symbols = true;
        info->kallsyms_symbols = pv->kallsyms_symbols;
    }
    info->kallsyms_reason = g_strdup(pv->kallsyms_reason);
    if (pv->kallsyms_symbols && pv->btf_reason) {
        info->btf_reason = g_strdup(pv->btf_reason);
    }
    if (!l->page_size) {
        return;     /* no layout from BTF */
    }
    info->has_btf_bytes = true;
    info->btf_bytes = pv->btf_bytes;
    out = info->pcp_layout = g_new0(__org_qemu_memx_GuestPcpLayout, 1);
    out->zone_per_cpu_pageset = l->zone_per_cpu_pageset;
    out->pcp_count = l->pcp_count;
    out->pcp_lists = l->pcp_lists;
    out->pcp_nr_lists = l->pcp_nr_lists;
    out->pcp_list_size = l->pcp_list_size;
    out->page_size = l->page_size;
    out->page_pcp_list = l->page_pcp_list;
    out->migrate_pcptypes = l->migrate_pcptypes;
}

/* How the walk of the per-CPU lists went. */
static __org_qemu_memx_GuestPcpWalk *memx_pcp_walk_info(const GuestPcpStats *st)
{
    __org_qemu_memx_GuestPcpWalk *w = g_new0(__org_qemu_memx_GuestPcpWalk, 1);
    __org_qemu_memx_GuestPcpDropList **tail = &w->drops;

    w->cpus = st->cpus;
    w->zones = st->zones;
    w->entries = st->entries;
    w->walked = st->lists_walked;
    w->dropped = st->lists_dropped;
    w->retries = st->retries;
    w->aliased = st->lists_aliased;
    w->budget_entries = st->budget_entries_used;
    w->budget_exhausted = st->budget_exhausted;
    w->time_us = st->scan_us;
    for (int d = 0; d < GUEST_PCP_DROP__MAX; d++) {
        __org_qemu_memx_GuestPcpDrop *drop;

        if (!st->dropped[d]) {
            continue;
        }
        drop = g_new0(__org_qemu_memx_GuestPcpDrop, 1);
        drop->reason = g_strdup(guest_pcp_drop_name(d));
        drop->lists = st->dropped[d];
        QAPI_LIST_APPEND(tail, drop);
    }
    return w;
}

/* Look @symbols up in the guest's kallsyms for the query. */
static void memx_fill_symbols(__org_qemu_memx_GuestFreePages *info,
                              MemxScan *scan, strList *symbols)
{
    g_autofree const char **names = NULL;
    g_autofree uint64_t *addrs = NULL;
    g_autofree bool *found = NULL;
    __org_qemu_memx_GuestSymbolList **tail = &info->symbols;
    GuestKallsyms ks;
    const char *why;
    size_t n = 0;

    if (!symbols || !guest_kallsyms_load(&ks, &scan->info, &scan->mem, &why)) {
        return;
    }
    for (strList *l = symbols; l && n < MEMX_MAX_SYMBOLS_ASKED; l = l->next) {
        n++;
    }
    if (n) {
        info->has_symbols = true;
        names = g_new(const char *, n);
        addrs = g_new(uint64_t, n);
        found = g_new(bool, n);
        n = 0;
        for (strList *l = symbols; l && n < MEMX_MAX_SYMBOLS_ASKED; l = l->next) {
            names[n++] = l->value;
        }
        guest_kallsyms_find(&ks, names, n, addrs, found);
        for (size_t i = 0; i < n; i++) {
            __org_qemu_memx_GuestSymbol *sym =
                g_new0(__org_qemu_memx_GuestSymbol, 1);

            sym->name = g_strdup(names[i]);
            sym->has_address = found[i];
            sym->address = addrs[i];
            QAPI_LIST_APPEND(tail, sym);
        }
    }
    guest_kallsyms_clear(&ks);
}

static __org_qemu_memx_GuestFreeContent *memx_free_content_info(
    const GuestFreeContent *content)
{
    __org_qemu_memx_GuestFreeContent *info =
        g_new0(__org_qemu_memx_GuestFreeContent, 1);

    info->known = content->known;
    info->has_zeroes = info->has_poisons = content->known;
    info->zeroes = content->zeroes;
    info->poisons = content->poisons;
    info->content_checked = guest_free_content_matters(content);
    info->reason = g_strdup(content->reason);
    return info;
}

__org_qemu_memx_GuestFreePages *qmp___org_qemu_memx_query_guest_free_pages(
    bool has_ranges, bool ranges, bool has_symbols, strList *symbols,
    bool has_per_cpu_lists, bool per_cpu_lists, Error **errp)
{
    __org_qemu_memx_GuestFreePages *info =
        g_new0(__org_qemu_memx_GuestFreePages, 1);
    g_autofree uint64_t *bitmap = NULL;
    g_autofree MemxRamMap *map = g_new(MemxRamMap, 1);
    uint64_t words = 0;
    MemxScan scan = { .skip_pcp = has_per_cpu_lists && !per_cpu_lists };
    bool ok;

    GuestFreeContent content;

    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(map);
        ok = memx_scan_guest(map, &scan, &bitmap, &words);
        if (ok) {
            memx_fill_symbols(info, &scan, symbols);
            guest_free_content_read(&scan.view, scan.pcp_tried, &content);
            info->free_content = memx_free_content_info(&content);
        }
    }
    if (scan.pcp_tried) {
        memx_fill_pcp_view(info, scan.pcp_tried);
    }
    info->available = ok;
    info->ram_bytes = scan.ram_bytes;
    if (scan.kernel_release[0]) {
        info->kernel_release = g_strdup(scan.kernel_release);
    }
    if (!ok) {
        info->reason = g_strdup(scan.reason);
        return info;
    }
    info->vmemmap_source = g_strdup(scan.info.has_vmemmap ? "vmemmap"
                                                          : "mem_section");
    info->has_paging_levels = true;
    info->paging_levels = scan.info.pgtable_l5_enabled ? 5 : 4;
    info->has_free_pages = true;
    info->free_pages = scan.stats.free_pages + scan.pcp_stats.pages;
    info->has_buddy_pages = true;
    info->buddy_pages = scan.stats.free_pages;
    info->has_pcp_pages = true;
    info->pcp_pages = scan.pcp_stats.pages;
    info->has_free_bytes = true;
    info->free_bytes = info->free_pages * TARGET_PAGE_SIZE;
    if (scan.pcp && !scan.skip_pcp) {
        info->pcp_lists = memx_pcp_walk_info(&scan.pcp_stats);
    }
    if (!scan.skip_pcp && scan.pcp_reason) {
        info->pcp_reason = g_strdup(scan.pcp_reason);
    }
    info->has_rejected_blocks = true;
    info->rejected_blocks = scan.stats.rejected_blocks;
    info->has_unmapped_bytes = true;
    info->unmapped_bytes = scan.stats.unmapped_pfns * TARGET_PAGE_SIZE;
    info->has_scan_time_us = true;
    info->scan_time_us = scan.scan_ns / SCALE_US;
    if (ranges) {
        info->has_free_ranges = true;
        info->free_ranges = memx_free_ranges_from_bitmap(scan.bitmap,
                                                         scan.nr_pfns);
    }
    return info;
}

void hmp_info_memx_guest_free_pages(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_GuestFreePages) info =
        qmp___org_qemu_memx_query_guest_free_pages(false, false, false, NULL,
                                                   false, false, NULL);

    monitor_printf(mon, "guest free pages: %s\n",
                   info->available ? "available" : "unavailable");
    if (info->reason) {
        monitor_printf(mon, "reason: %s\n", info->reason);
    }
    if (info->kernel_release) {
        monitor_printf(mon, "kernel release: %s\n", info->kernel_release);
    }
    if (info->available) {
        monitor_printf(mon, "struct pages found through: %s, "
                       "%u-level paging\n", info->vmemmap_source,
                       info->paging_levels);
        monitor_printf(mon, "free: %" PRIu64 " pages (%" PRIu64 " MiB): %"
                       PRIu64 " in buddy blocks, %" PRIu64 " on per-CPU "
                       "lists\n", info->free_pages, info->free_bytes >> 20,
                       info->buddy_pages, info->pcp_pages);
        if (info->pcp_lists) {
            monitor_printf(mon, "per-CPU lists: %" PRIu64 " walked, %" PRIu64
                           " dropped, %" PRIu64 " aliased, %" PRIu64
                           " retries (%" PRIu32 " CPUs, %" PRIu32 " zones), %"
                           PRIu64 " entries read in %" PRIu64 " us%s\n",
                           info->pcp_lists->walked, info->pcp_lists->dropped,
                           info->pcp_lists->aliased, info->pcp_lists->retries,
                           info->pcp_lists->cpus, info->pcp_lists->zones,
                           info->pcp_lists->budget_entries,
                           info->pcp_lists->time_us,
                           info->pcp_lists->budget_exhausted ?
                           " (budget exhausted)" : "");
            for (__org_qemu_memx_GuestPcpDropList *d = info->pcp_lists->drops;
                 d; d = d->next) {
                monitor_printf(mon, "  dropped %" PRIu64 ": %s\n",
                               d->value->lists, d->value->reason);
            }
        }
        if (info->pcp_reason) {
            monitor_printf(mon, "per-CPU lists not walked: %s\n",
                           info->pcp_reason);
        }
        if (info->free_content && info->free_content->known) {
            monitor_printf(mon, "free pages: %s, %s; their content is %s\n",
                           info->free_content->zeroes ? "zeroed" :
                           "not zeroed", info->free_content->poisons ?
                           "poisoned" : "not poisoned",
                           info->free_content->content_checked ?
                           "checked" : "not read");
        } else if (info->free_content) {
            monitor_printf(mon, "free pages: their content is checked: %s\n",
                           info->free_content->reason);
        }
        monitor_printf(mon, "rejected free blocks: %" PRIu64 "\n",
                       info->rejected_blocks);
        monitor_printf(mon, "RAM without struct pages (not onlined): %"
                       PRIu64 " MiB\n", info->unmapped_bytes >> 20);
        monitor_printf(mon, "scan: %" PRIu64 " us over %" PRIu64
                       " MiB of guest RAM\n", info->scan_time_us,
                       info->ram_bytes >> 20);
        if (info->has_kallsyms_symbols) {
            monitor_printf(mon, "kallsyms: %" PRIu32 " symbols\n",
                           info->kallsyms_symbols);
        } else if (info->kallsyms_reason) {
            monitor_printf(mon, "kallsyms: unavailable: %s\n",
                           info->kallsyms_reason);
        }
        if (info->pcp_layout) {
            monitor_printf(mon, "BTF: %" PRIu32 " bytes; per-CPU lists: %"
                           PRIu32 " of %" PRIu32 " bytes at offset %" PRIu32
                           " of per_cpu_pages, pageset at %" PRIu32
                           " in struct zone\n", info->btf_bytes,
                           info->pcp_layout->pcp_nr_lists,
                           info->pcp_layout->pcp_list_size,
                           info->pcp_layout->pcp_lists,
                           info->pcp_layout->zone_per_cpu_pageset);
        } else if (info->btf_reason) {
            monitor_printf(mon, "BTF: unavailable: %s\n", info->btf_reason);
        }
    }
}
