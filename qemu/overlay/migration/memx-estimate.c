/*
 * qemu-memx: estimate, before migrating, what the first pass of a
 * migration with the capabilities set now would send.
 *
 * Every page of every migratable RAM block is looked at once: pages the
 * guest kernel holds free (by introspection, as skip-free finds them)
 * cost nothing when skip-free is on and their first word is zero or
 * they are not uniform (the rules of memx-free-pages.c's first pass);
 * every other page is classified (zero, pattern, other) and costs what
 * the stream spends on it: an 8-byte page header, then one byte for a
 * zero page, MEMX_PATTERN_VALUE_SIZE bytes for a pattern page when
 * pattern pages are on, the whole page otherwise.  Multifd channels'
 * packet headers and the device state are left out; compression cannot
 * be foreseen without compressing, so with multifd-compression set the
 * figure is the uncompressed one, and says so.
 *
 * The query runs in the main loop with the BQL held and reads all of
 * guest RAM once: about as long as the classifier takes over the guest's
 * in-use pages (docs/benchmarks.rst).  The guest keeps running, so the
 * figure describes the moment of the query.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-types-migration.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "system/memx-guest-scan.h"
#include "memdedup/classify/page-classify.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "memx-estimate.h"
#include "memx-pattern-page.h"

/* What the stream spends on a page, besides its content (be64 offset) */
#define MEMX_PAGE_HEADER_BYTES 8

typedef struct MemxEstimate {
    uint64_t ram_bytes;
    uint64_t free_pages, zero_pages, pattern_pages, other_pages;
    uint64_t first_pass_bytes;
} MemxEstimate;

static bool memx_frame_free(const MemxScan *scan, uint64_t pfn)
{
    return scan->bitmap && pfn < scan->nr_pfns &&
           (scan->bitmap[pfn / 64] >> (pfn % 64)) & 1;
}

static bool memx_range_holds(const MemxRamRange *r, RAMBlock *block,
                              ram_addr_t offset)
{
    return r->block == block && offset >= r->offset &&
           offset - r->offset < r->end - r->start;
}

/*
 * The guest-physical frame of page @page of @block, if the guest RAM map
 * shows it (memory backends only: a page outside it is never free).
 * *@last is the range that held the page before, tried first: a block's
 * pages lie in one range or a few.
 */
static bool memx_block_frame(const MemxRamMap *map, RAMBlock *block,
                             uint64_t page, const MemxRamRange **last,
                             uint64_t *pfn)
{
    ram_addr_t offset = page << TARGET_PAGE_BITS;
    const MemxRamRange *r = *last;

    if (!r || !memx_range_holds(r, block, offset)) {
        r = NULL;
        for (size_t i = 0; i < map->n && !r; i++) {
            if (memx_range_holds(&map->range[i], block, offset)) {
                r = &map->range[i];
            }
        }
        if (!r) {
            return false;
        }
        *last = r;
    }
    *pfn = (r->start + (offset - r->offset)) >> TARGET_PAGE_BITS;
    return true;
}

static void memx_estimate_block(const MemxRamMap *map, const MemxScan *scan,
                                RAMBlock *block, MemxEstimate *e)
{
    const bool skip_free = migrate_memx_skip_free_pages() && scan->bitmap;
    const bool patterns = migrate_memx_pattern_pages();
    uint64_t pages = block->used_length >> TARGET_PAGE_BITS;
    const MemxRamRange *last = NULL;

    e->ram_bytes += block->used_length;
    for (uint64_t page = 0; page < pages; page++) {
        const uint8_t *host = block->host + (page << TARGET_PAGE_BITS);
        uint64_t pfn, first_word;
        bool is_free = memx_block_frame(map, block, page, &last, &pfn) &&
                       memx_frame_free(scan, pfn);
        PageClass cls;

        if (is_free) {
            e->free_pages++;
            memcpy(&first_word, host, sizeof(first_word));
            if (skip_free && first_word == 0) {
                continue;       /* zero, or garbage: never sent */
            }
        }
        cls = page_classify(host, TARGET_PAGE_SIZE, NULL);
        if (is_free && skip_free && cls == PAGE_CLASS_OTHER) {
            continue;
        }
        e->first_pass_bytes += MEMX_PAGE_HEADER_BYTES;
        switch (cls) {
        case PAGE_CLASS_ZERO:
            e->zero_pages++;
            e->first_pass_bytes += 1;
            break;
        case PAGE_CLASS_PATTERN:
            e->pattern_pages++;
            e->first_pass_bytes += patterns ? MEMX_PATTERN_VALUE_SIZE
                                            : TARGET_PAGE_SIZE;
            break;
        default:
            e->other_pages++;
            e->first_pass_bytes += TARGET_PAGE_SIZE;
        }
    }
}

__org_qemu_memx_MigrationEstimate *
qmp___org_qemu_memx_query_migration_estimate(Error **errp)
{
    __org_qemu_memx_MigrationEstimate *info =
        g_new0(__org_qemu_memx_MigrationEstimate, 1);
    g_autofree MemxRamMap *map = g_new(MemxRamMap, 1);
    g_autofree uint64_t *bitmap = NULL;
    uint64_t words = 0, bandwidth = migrate_max_bandwidth();
    int64_t t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    MemxScan scan = { 0 };
    MemxEstimate e = { 0 };
    RAMBlock *block;
    bool introspected;

    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(map);
        introspected = memx_scan_guest(map, &scan, &bitmap, &words);
        if (!introspected) {
            scan.bitmap = NULL;
        }
        RAMBLOCK_FOREACH_MIGRATABLE(block) {
            memx_estimate_block(map, &scan, block, &e);
        }
    }
    info->ram_bytes = e.ram_bytes;
    info->guest_free_available = introspected;
    if (!introspected) {
        info->guest_free_reason = g_strdup(scan.reason);
    }
    info->free_bytes = e.free_pages * TARGET_PAGE_SIZE;
    info->zero_bytes = e.zero_pages * TARGET_PAGE_SIZE;
    info->pattern_bytes = e.pattern_pages * TARGET_PAGE_SIZE;
    info->other_bytes = e.other_pages * TARGET_PAGE_SIZE;
    info->first_pass_bytes = e.first_pass_bytes;
    info->max_bandwidth = bandwidth;
    info->first_pass_seconds =
        bandwidth ? (double)e.first_pass_bytes / bandwidth : 0;
    info->skip_free_pages = migrate_memx_skip_free_pages();
    info->pattern_pages = migrate_memx_pattern_pages();
    info->multifd = migrate_multifd();
    if (migrate_multifd() &&
        migrate_multifd_compression() != MULTIFD_COMPRESSION_NONE) {
        info->compression_ignored =
            g_strdup(MultiFDCompression_str(migrate_multifd_compression()));
    }
    info->estimate_time_us = (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0) /
                             SCALE_US;
    return info;
}

void hmp_info_memx_migration_estimate(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_MigrationEstimate) info =
        qmp___org_qemu_memx_query_migration_estimate(NULL);

    monitor_printf(mon, "guest RAM: %" PRIu64 " MiB\n", info->ram_bytes >> 20);
    if (info->guest_free_available) {
        monitor_printf(mon, "free in the guest: %" PRIu64 " MiB\n",
                       info->free_bytes >> 20);
    } else {
        monitor_printf(mon, "free in the guest: unknown (%s)\n",
                       info->guest_free_reason);
    }
    monitor_printf(mon, "zero: %" PRIu64 " MiB, pattern: %" PRIu64
                   " MiB, other: %" PRIu64 " MiB (pages not skipped)\n",
                   info->zero_bytes >> 20, info->pattern_bytes >> 20,
                   info->other_bytes >> 20);
    monitor_printf(mon, "first pass with the capabilities set now "
                   "(skip-free-pages %s, pattern-pages %s, multifd %s): "
                   "%" PRIu64 " MiB, %.1f s at max-bandwidth %" PRIu64
                   " bytes/s\n",
                   info->skip_free_pages ? "on" : "off",
                   info->pattern_pages ? "on" : "off",
                   info->multifd ? "on" : "off",
                   info->first_pass_bytes >> 20, info->first_pass_seconds,
                   info->max_bandwidth);
    if (info->compression_ignored) {
        monitor_printf(mon, "before %s compression, which is not estimated\n",
                       info->compression_ignored);
    }
}

void memx_estimate_fill_stats(MigrationStats *stats)
{
    uint64_t first_pass = stat64_get(&mig_stats.memx_first_pass_bytes);

    if (first_pass) {
        stats->has___org_qemu_memx_first_pass_bytes = true;
        stats->__org_qemu_memx_first_pass_bytes = first_pass;
    }
}

void memx_estimate_note_round(void)
{
    /* the first round over all of RAM is the first pass */
    if (!stat64_get(&mig_stats.memx_first_pass_bytes)) {
        stat64_set(&mig_stats.memx_first_pass_bytes,
                   migration_transferred_bytes());
    }
}
