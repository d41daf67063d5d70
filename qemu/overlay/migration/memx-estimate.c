/*
 * qemu-memx: estimate, before migrating, what the first pass of a
 * migration with the capabilities set now would send.
 *
 * The estimate walks what migration's dirty bitmap starts with: the RAM
 * blocks migration does not ignore (x-ignore-shared, CPR transfer), and
 * of a block whose RamDiscardManager (virtio-mem) says parts of it are
 * discarded, the populated parts only.  Pages the guest kernel holds
 * free (by introspection, as skip-free finds them) cost nothing when
 * skip-free is on and their first word is zero or they are not uniform
 * (the rules of memx-free-pages.c's first pass); every other page is
 * classified (zero, pattern, other) and costs what the stream spends on
 * it: an 8-byte page header, then one byte for a zero page,
 * MEMX_PATTERN_VALUE_SIZE bytes for a pattern page when pattern pages
 * are on, the whole page otherwise.  Multifd channels' packet headers
 * and the device state are left out; compression cannot be foreseen
 * without compressing, so with multifd-compression set the figure is the
 * uncompressed one, and says so.
 *
 * A page is read only if the host holds it (mincore(2)): reading a page
 * of a memfd, a shared or a hugetlbfs mapping that was never touched
 * would allocate it, or raise SIGBUS when no huge page is left.  A page
 * the host does not hold is counted without being read:
 *  - as a zero page when nothing is behind it: anonymous memory never
 *    touched or discarded, a hole in the file that backs the block
 *    (SEEK_DATA), and a page of a hugetlbfs block that QEMU has not
 *    mapped (huge pages are never swapped out);
 *  - as a page of data, not uniform, when its content is elsewhere: in
 *    swap (/proc/self/pagemap, for private mappings) or in the backing
 *    file (memfd's and tmpfs's swapped-out pages count as file data) but
 *    not in the page cache.  Migration will read these; those among them
 *    that hold zero or a pattern are over-counted.
 * Swapped-out pages of shared anonymous memory with no file descriptor,
 * and of private mappings when /proc/self/pagemap cannot be read, cannot
 * be told from pages never touched and count as zero.
 *
 * Locking: the blocks to walk and the guest's free pages are found with
 * the BQL held; the blocks are referenced.  Then the BQL is released and
 * each block is walked in slices of MEMX_ESTIMATE_SLICE under the RCU
 * read lock, which keeps a block mapped (a block that has left the list
 * or is no longer migrated is left there).  Finding which pages the host
 * holds needs no BQL.  The populated parts of a block with a
 * RamDiscardManager are read with the BQL taken again for each slice:
 * the manager changes what is populated only under the BQL, and a
 * discarded page must not be read (that would populate memory the guest
 * gave back).  Other RAM is read without the BQL, as migration's own
 * thread reads it: a page the balloon discards between the check and the
 * read is faulted in again, as migration's read of it would be.  So
 * vCPUs, iothreads and a running migration get the BQL while RAM is
 * read; the main loop itself waits for the query, as for any synchronous
 * command.  The guest keeps running, so the figure describes the moment
 * of the query.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-types-migration.h"
#include "qapi/qapi-commands-memx.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "migration/misc.h"
#include "system/memx-guest-scan.h"
#include "memdedup/classify/page-classify.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "memx-estimate.h"
#include "memx-pattern-page.h"
#include "memx/trace.h"

/* What the stream spends on a page, besides its content (be64 offset) */
#define MEMX_PAGE_HEADER_BYTES 8

/* Guest RAM is walked in slices of this much of a block */
#define MEMX_ESTIMATE_SLICE (16 * MiB)

/* A /proc/self/pagemap entry's "page swapped" bit */
#define MEMX_PAGEMAP_SWAPPED (1ULL << 62)

typedef struct MemxEstimate {
    uint64_t ram_bytes;
    uint64_t free_pages, zero_pages, pattern_pages, other_pages;
    uint64_t first_pass_bytes;
} MemxEstimate;

/* A RAM block to walk, referenced while the walk runs */
typedef struct MemxEstimateBlock {
    RAMBlock *block;
    bool discard_managed;       /* it has a RamDiscardManager */
} MemxEstimateBlock;

/* One estimate: what it needs while walking, and what it found */
typedef struct MemxEstimateWalk {
    const MemxRamMap *map;      /* only compared with, never read through */
    const MemxScan *scan;
    const MemxRamRange *last;   /* the map's range that held the last page */
    bool skip_free;
    bool patterns;
    int pagemap_fd;             /* /proc/self/pagemap, or -1 */
    Error **errp;

    /* The slice being walked, host page by host page from @base */
    RAMBlock *block;
    uint64_t len;
    uintptr_t base;
    uint8_t *resident;          /* mincore() vector */
    unsigned long *elsewhere;   /* not resident, content in swap or file */
    uint64_t *pagemap;          /* /proc/self/pagemap entries */

    MemxEstimate e;
} MemxEstimateWalk;

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

/*
 * Count page @page of the slice's block.  Its content is at @host, or,
 * when @host is NULL (the page is not read), of class @cls: ZERO, or
 * OTHER for data that is not looked at.
 */
static void memx_estimate_page(MemxEstimateWalk *w, uint64_t page,
                               const uint8_t *host, PageClass cls)
{
    uint64_t pfn, first_word = cls != PAGE_CLASS_ZERO;
    bool is_free = memx_block_frame(w->map, w->block, page, &w->last,
                                    &pfn) &&
                   memx_frame_free(w->scan, pfn);

    if (is_free) {
        w->e.free_pages++;
        if (host) {
            memcpy(&first_word, host, sizeof(first_word));
        }
        if (w->skip_free && first_word == 0) {
            return;     /* zero, or garbage: never sent */
        }
    }
    if (host) {
        cls = page_classify(host, TARGET_PAGE_SIZE, NULL);
    }
    if (is_free && w->skip_free && cls == PAGE_CLASS_OTHER) {
        return;
    }
    w->e.first_pass_bytes += MEMX_PAGE_HEADER_BYTES;
    switch (cls) {
    case PAGE_CLASS_ZERO:
        w->e.zero_pages++;
        w->e.first_pass_bytes += 1;
        break;
    case PAGE_CLASS_PATTERN:
        w->e.pattern_pages++;
        w->e.first_pass_bytes += w->patterns ? MEMX_PATTERN_VALUE_SIZE
                                             : TARGET_PAGE_SIZE;
        break;
    default:
        w->e.other_pages++;
        w->e.first_pass_bytes += TARGET_PAGE_SIZE;
    }
}

/*
 * Mark in @w->elsewhere the host pages of the slice (@npages from
 * @w->base) that a private mapping has in swap.  When the pagemap cannot
 * be read, none is marked.
 */
static void memx_mark_swapped(MemxEstimateWalk *w, size_t npages)
{
    size_t bytes = npages * sizeof(uint64_t);
    off_t pos = w->base / qemu_real_host_page_size() * sizeof(uint64_t);

    if (w->pagemap_fd < 0 ||
        pread(w->pagemap_fd, w->pagemap, bytes, pos) != (ssize_t)bytes) {
        return;
    }
    for (size_t i = 0; i < npages; i++) {
        if (w->pagemap[i] & MEMX_PAGEMAP_SWAPPED) {
            set_bit(i, w->elsewhere);
        }
    }
}

/*
 * Mark in @w->elsewhere the host pages of the slice (@npages from
 * @w->base) for which file @fd, from offset @pos, holds data; what a hole
 * holds is zero.  tmpfs and memfd count a swapped-out page as data.  A
 * file system that cannot tell has data everywhere.
 */
static void memx_mark_file_data(MemxEstimateWalk *w, int fd, off_t pos,
                                size_t npages)
{
    uintptr_t page = qemu_real_host_page_size();
    off_t end = pos + npages * page, data, hole;

    for (off_t at = pos; at < end; at = hole) {
        data = lseek(fd, at, SEEK_DATA);
        if (data < 0 && errno == ENXIO) {
            return;                     /* only holes from @at on */
        }
        if (data < 0) {
            data = at;
            hole = end;
        } else if (data >= end) {
            return;
        } else {
            hole = lseek(fd, data, SEEK_HOLE);
            if (hole <= data || hole > end) {
                hole = end;
            }
        }
        bitmap_set(w->elsewhere, (data - pos) / page,
                   DIV_ROUND_UP(hole - pos, page) - (data - pos) / page);
    }
}

/*
 * Start the slice [@offset, @offset + @len) of @block: find which of its
 * host pages the host holds and, for those it does not, whether their
 * content is elsewhere.  Touches no page.  Call with the RCU read lock
 * held.
 */
static bool memx_slice_probe(MemxEstimateWalk *w, RAMBlock *block,
                             ram_addr_t offset, uint64_t len)
{
    uintptr_t page = qemu_real_host_page_size();
    uintptr_t start = (uintptr_t)block->host + offset;
    bool all_held = true;
    size_t npages;

    w->block = block;
    w->len = len;
    w->base = QEMU_ALIGN_DOWN(start, page);
    npages = (QEMU_ALIGN_UP(start + len, page) - w->base) / page;
    if (mincore((void *)w->base, npages * page, w->resident)) {
        error_setg_errno(w->errp, errno, "cannot tell which pages of RAM "
                         "block '%s' the host holds", block->idstr);
        return false;
    }
    bitmap_zero(w->elsewhere, npages);
    for (size_t i = 0; i < npages; i++) {
        all_held &= w->resident[i] & 1;
    }
    if (all_held || qemu_ram_pagesize(block) > page) {
        return true;    /* all held, or hugetlbfs: nothing in swap */
    }
    if (!qemu_ram_is_shared(block)) {
        memx_mark_swapped(w, npages);
    }
    if (block->fd >= 0) {
        memx_mark_file_data(w, block->fd, block->fd_offset +
                            (w->base - (uintptr_t)block->host), npages);
    }
    return true;
}

/*
 * Count [@offset, @offset + @len) of the slice memx_slice_probe() started,
 * reading the pages the host holds.
 */
static void memx_slice_count(MemxEstimateWalk *w, ram_addr_t offset,
                             uint64_t len)
{
    uintptr_t page = qemu_real_host_page_size();
    uint64_t first = offset >> TARGET_PAGE_BITS;
    uint64_t end = first + (len >> TARGET_PAGE_BITS);

    w->e.ram_bytes += len;
    for (uint64_t p = first; p < end; p++) {
        uintptr_t host = (uintptr_t)w->block->host + (p << TARGET_PAGE_BITS);
        size_t h = (host - w->base) / page;
        size_t last = (host + TARGET_PAGE_SIZE - 1 - w->base) / page;
        bool all = true, some = false, elsewhere = false;

        /* one host page unless target pages are larger */
        for (; h <= last; h++) {
            all &= w->resident[h] & 1;
            some |= w->resident[h] & 1;
            elsewhere |= test_bit(h, w->elsewhere);
        }
        if (all) {
            memx_estimate_page(w, p, (const uint8_t *)host, PAGE_CLASS_OTHER);
        } else {
            memx_estimate_page(w, p, NULL, some || elsewhere ?
                               PAGE_CLASS_OTHER : PAGE_CLASS_ZERO);
        }
    }
}

/* ReplayRamPopulate: count a populated part of the slice */
static int memx_slice_count_populated(MemoryRegionSection *section,
                                      void *opaque)
{
    memx_slice_count(opaque, section->offset_within_region,
                     int128_get64(section->size));
    return 0;
}

/*
 * Whether @block is still one the first pass would send.  Call with the
 * RCU read lock held.
 */
static bool memx_block_walkable(RAMBlock *block)
{
    RAMBlock *b;

    RAMBLOCK_FOREACH(b) {
        if (b == block) {
            return !migrate_ram_is_ignored(block);
        }
    }
    return false;
}

/* Walk @b slice by slice; called and returns without the BQL. */
static bool memx_walk_block(MemxEstimateWalk *w, const MemxEstimateBlock *b)
{
    RAMBlock *block = b->block;

    for (ram_addr_t offset = 0;; offset += MEMX_ESTIMATE_SLICE) {
        bool more = false, ok = true;

        WITH_RCU_READ_LOCK_GUARD() {
            more = memx_block_walkable(block) &&
                   offset < block->used_length;
            if (more) {
                ok = memx_slice_probe(w, block, offset,
                                      MIN(MEMX_ESTIMATE_SLICE,
                                          block->used_length - offset));
                if (ok && !b->discard_managed) {
                    memx_slice_count(w, offset, w->len);
                }
            }
        }
        if (!more || !ok) {
            return ok;
        }
        if (!b->discard_managed) {
            continue;
        }
        bql_lock();
        WITH_RCU_READ_LOCK_GUARD() {
            RamDiscardManager *rdm =
                memory_region_get_ram_discard_manager(block->mr);
            MemoryRegionSection section = {
                .mr = block->mr,
                .offset_within_region = offset,
                .size = int128_make64(w->len),
            };

            /* a device unplugged meanwhile leaves the block unmigrated */
            if (rdm && memx_block_walkable(block)) {
                ram_discard_manager_replay_populated(rdm, &section,
                    memx_slice_count_populated, w);
            }
        }
        bql_unlock();
    }
}

/* The blocks the first pass would send, referenced.  BQL and RCU held. */
static void memx_estimate_collect(GArray *blocks)
{
    RAMBlock *block;

    RAMBLOCK_FOREACH_NOT_IGNORED(block) {
        MemxEstimateBlock b = {
            .block = block,
            .discard_managed =
                memory_region_has_ram_discard_manager(block->mr),
        };

        if (!block->host) {
            continue;
        }
        memory_region_ref(block->mr);
        g_array_append_val(blocks, b);
    }
}

__org_qemu_memx_MigrationEstimate *
qmp___org_qemu_memx_query_migration_estimate(Error **errp)
{
    __org_qemu_memx_MigrationEstimate *info;
    g_autofree MemxRamMap *map = g_new(MemxRamMap, 1);
    g_autofree uint64_t *bitmap = NULL;
    g_autoptr(GArray) blocks = g_array_new(false, false,
                                           sizeof(MemxEstimateBlock));
    size_t slice_pages = MEMX_ESTIMATE_SLICE / qemu_real_host_page_size() + 2;
    g_autofree uint8_t *resident = g_malloc(slice_pages);
    g_autofree unsigned long *elsewhere = bitmap_new(slice_pages);
    g_autofree uint64_t *pagemap = g_new(uint64_t, slice_pages);
    uint64_t words = 0, bandwidth = migrate_max_bandwidth();
    int64_t t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    MemxScan scan = { 0 };
    MemxEstimateWalk w = {
        .map = map,
        .scan = &scan,
        .errp = errp,
        .resident = resident,
        .elsewhere = elsewhere,
        .pagemap = pagemap,
    };
    bool introspected, ok = true;

    trace_memx_estimate_phase("introspect and collect blocks (BQL)", 0);
    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(map);
        introspected = memx_scan_guest(map, &scan, &bitmap, &words);
        if (!introspected) {
            scan.bitmap = NULL;
        }
        memx_estimate_collect(blocks);
    }
    w.skip_free = migrate_memx_skip_free_pages() && scan.bitmap;
    w.patterns = migrate_memx_pattern_pages();
    w.pagemap_fd = qemu_open_old("/proc/self/pagemap", O_RDONLY);

    trace_memx_estimate_phase("read RAM (BQL only for virtio-mem)",
                              qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0);
    bql_unlock();
    for (guint i = 0; i < blocks->len && ok; i++) {
        ok = memx_walk_block(&w, &g_array_index(blocks, MemxEstimateBlock,
                                                i));
    }
    bql_lock();
    trace_memx_estimate_phase(ok ? "done" : "failed",
                              qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0);

    for (guint i = 0; i < blocks->len; i++) {
        memory_region_unref(g_array_index(blocks, MemxEstimateBlock,
                                          i).block->mr);
    }
    if (w.pagemap_fd >= 0) {
        close(w.pagemap_fd);
    }
    if (!ok) {
        return NULL;
    }

    info = g_new0(__org_qemu_memx_MigrationEstimate, 1);
    info->ram_bytes = w.e.ram_bytes;
    info->guest_free_available = introspected;
    if (!introspected) {
        info->guest_free_reason = g_strdup(scan.reason);
    }
    info->free_bytes = w.e.free_pages * TARGET_PAGE_SIZE;
    info->zero_bytes = w.e.zero_pages * TARGET_PAGE_SIZE;
    info->pattern_bytes = w.e.pattern_pages * TARGET_PAGE_SIZE;
    info->other_bytes = w.e.other_pages * TARGET_PAGE_SIZE;
    info->first_pass_bytes = w.e.first_pass_bytes;
    info->max_bandwidth = bandwidth;
    info->first_pass_seconds =
        bandwidth ? (double)w.e.first_pass_bytes / bandwidth : 0;
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
    Error *err = NULL;
    g_autoptr(__org_qemu_memx_MigrationEstimate) info =
        qmp___org_qemu_memx_query_migration_estimate(&err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
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
