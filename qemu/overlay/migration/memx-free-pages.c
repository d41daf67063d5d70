/*
 * qemu-memx: skip guest-free pages in live migration.
 *
 * A Linux guest hands QEMU its VMCOREINFO note (-device vmcoreinfo,
 * written through fw_cfg by the guest's qemu_fw_cfg driver).  From it the
 * memdedup cores find the struct page array and read, for every guest
 * page frame, whether the buddy allocator holds it free.  Migration then
 * drops those pages from its dirty bitmap: they hold nothing the guest
 * will read before writing.
 *
 * Ordering (why a page the guest starts using is never lost): dirty
 * tracking of a range is re-armed *before* the struct pages that decide
 * its bits are read, and the bits are cleared only after.  A page found
 * free and then allocated and written is dirtied again by that write and
 * sent in a later pass; the final pass, with vCPUs stopped, never skips.
 * To re-arm only what is needed (upstream re-arms chunk by chunk as it
 * sends, and on KVM re-arming write-protects), each later sync scans
 * twice: a first scan finds the clear_bmap chunks holding pages both
 * dirty and free, only those are re-armed, and a second scan of just
 * those chunks decides which bits to clear.  A chunk not re-armed keeps
 * all its bits.  The first sync, where all RAM is dirty and every chunk
 * would qualify, re-arms all of it and scans once.
 *
 * Locking: the scan runs during the bitmap sync, under the BQL, and costs
 * about one struct page read per guest page.  Reading the free pages'
 * contents (the poison rule below), one cache miss each, would cost
 * several times more; it runs after the sync, without the BQL, with the
 * bitmap mutex held, in the same migration thread, and only if no other
 * sync came in between (a newer sync may have set bits for pages written
 * since the scan).
 *
 * First pass: nothing has been sent and the destination reads zero where
 * nothing arrives (upstream's multifd receive side relies on the same), so
 * a free page whose first word is zero is dropped without reading the
 * rest: it is zero, or garbage, and a non-zero pattern cannot start with
 * a zero word.  Even one word per free page adds up over all of RAM, so
 * in the first pass the drop runs slice by slice, 32 MiB ahead of the
 * page the sender is about to send, instead of all at once before
 * anything is sent.  A sync that comes before it ends makes the rest
 * stale; that sync's own scan finds those pages again, since they are
 * still dirty.
 *
 * Poison rule: a free page whose content is zero (init_on_free) or a
 * pattern (page_poison's 0xaa) is kept, since the guest may check it on
 * allocation; it travels as a zero or pattern page.  A guest whose
 * init_on_free and page poisoning static keys both read off
 * (guest-free-content.h) checks nothing: its free pages are dropped
 * without their content being read.
 *
 * Everything the guest provides is untrusted: the note is copied out of
 * guest RAM before it is parsed, every guest address is looked up in the
 * map of guest RAM built here from the system address space (system RAM
 * only, i.e. memory backends: no device RAM such as VRAM in a PCI BAR, no
 * MMIO, ROM or hidden SMRAM), and any inconsistency means "skip nothing"
 * with a reason reported through QMP.  A guest that lies about its free
 * pages can only lose its own data.
 *
 * Only anonymous private RAM has its pages dropped: a page not sent must
 * read as zero on the destination.  That is checked when the capability
 * is set, and again for every block at every drop, since a shared or
 * file-backed DIMM can be hot-plugged afterwards.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/cputlb.h"
#include "system/tcg.h"
#include "exec/target_page.h"
#include "system/hostmem.h"
#include "hw/misc/vmcoreinfo.h"
#include "hw/qdev-core.h"
#include "system/memx-guest-scan.h"
#include "memdedup/introspect/guest-free-content.h"
#include "migration-ext/free-page-skip.h"
#include "migration.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "memx-free-pages.h"
#include "memx/trace.h"

/* A stretch of a MemxRamRange to scan again and drop from. */
typedef struct MemxRearmed {
    GuestRamRange guest;
    const MemxRamRange *range;
    uint64_t dropped_to;        /* guest address the drop has reached */
} MemxRearmed;

/*
 * The first pass's drop runs slice by slice, this far ahead of the page
 * the sender is about to send (32 MiB of 4 KiB pages), so that sending
 * starts at once instead of after the whole of RAM has been checked.
 */
#define MEMX_DROP_AHEAD_PAGES 8192

/*
 * State of the running (or last) migration.  The scan runs in the
 * migration thread during a bitmap sync, under the BQL; the drop it
 * decided is applied later by the same thread without the BQL, and only
 * if no sync came in between.  @reason is also read by query-migrate.
 */
static struct {
    uint64_t dirty_sync_seen;
    const char *reason;         /* why the last pass skipped nothing */
    uint64_t *bitmap;           /* first scan, reused from pass to pass */
    uint64_t bitmap_words;
    uint64_t *rescan;           /* second scan, of the re-armed chunks */
    uint64_t rescan_words;
    bool warned_not_anonymous;

    /* What the last scan decided, until memx_free_pages_drop_scanned() */
    MemxRamMap *map;            /* the RAM the stretches below point into */
    GArray *pending;            /* MemxRearmed stretches to drop from */
    const uint64_t *decided;    /* free frames, @bitmap or @rescan */
    uint64_t nr_pfns;
    uint64_t pending_sync;      /* the dirty_sync_count they belong to */
    bool drop_ahead;            /* first pass: memx_free_pages_drop_ahead() */
    bool keep_uniform;          /* the guest may read free pages' content */
    int64_t scan_ns;            /* time the scan held the BQL */
    uint64_t last_free_pages;   /* what the last full scan found free */
    uint64_t dirtied_at_scan;   /* mig_stats.memx_pages_dirtied then */
    bool all_dropped;           /* the last scan's drop was applied whole */
} memx_skip;

/*
 * When a later sync's scan is worth its cost.  A scan costs about one
 * struct page read per free page, a few ns each (6 to 8 ms for 2 million
 * free pages); sending a page costs over a thousand times that at the
 * rates migration runs at (4 us at 1 GB/s).  If the last scan's drop was
 * applied whole, a new scan can only find what changed since: pages
 * freed since (a free updates the guest's struct pages, which dirties
 * them) and pages dirtied since.  So when the syncs since then found
 * fewer newly dirty pages than 1/1024 of the free pages that scan saw,
 * the scan is not run and nothing is dropped in that pass: skipping
 * nothing never loses data, and at worst sends a few pages that a scan
 * would have dropped.
 */
#define MEMX_SCAN_PAYS_FREE_PER_DIRTY 1024

bool memx_skip_free_pages_caps_check(bool *old_caps, bool *new_caps,
                                     Error **errp)
{
    const int cap = MIGRATION_CAPABILITY___ORG_QEMU_MEMX_SKIP_FREE_PAGES;
    RAMBlock *block;

    if (!new_caps[cap]) {
        return true;
    }
    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Skipping guest-free pages is not supported with "
                   "postcopy-ram");
        return false;
    }
    if (new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        error_setg(errp, "Skipping guest-free pages is not supported with "
                   "mapped-ram");
        return false;
    }
    if (new_caps[MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT]) {
        error_setg(errp, "Skipping guest-free pages needs dirty page "
                   "tracking, which background-snapshot does not use");
        return false;
    }
    if (new_caps[MIGRATION_CAPABILITY_X_COLO]) {
        error_setg(errp, "Skipping guest-free pages is not supported with "
                   "x-colo: the secondary loads each checkpoint into RAM "
                   "that already holds data, where a page not sent would "
                   "keep its old content");
        return false;
    }
    /*
     * Set with -global migration.x-memx-skip-free-pages=on, the
     * capability is checked before any device or RAM exists.  What
     * depends on them is then seen at migration time: the scan reports a
     * missing vmcoreinfo device as its reason, and every drop skips
     * blocks that are not anonymous private RAM.
     */
    if (!phase_check(PHASE_MACHINE_READY)) {
        return true;
    }
    if (!vmcoreinfo_find()) {
        error_setg(errp, "Skipping guest-free pages needs -device vmcoreinfo, "
                   "through which the guest kernel describes itself");
        return false;
    }
    /*
     * A page that is never sent must read as zero on the destination,
     * which only fresh anonymous memory guarantees.
     */
    WITH_RCU_READ_LOCK_GUARD() {
        RAMBLOCK_FOREACH(block) {
            if (!qemu_ram_is_migratable(block) ||
                (new_caps[MIGRATION_CAPABILITY_X_IGNORE_SHARED] &&
                 qemu_ram_is_shared(block) &&
                 qemu_ram_is_named_file(block))) {
                continue;
            }
            if (qemu_ram_is_shared(block) || qemu_ram_get_fd(block) >= 0) {
                error_setg(errp, "Skipping guest-free pages needs anonymous "
                           "private guest RAM, but RAM block '%s' is shared or "
                           "file-backed: a page not sent would show whatever "
                           "that backing holds on the destination",
                           qemu_ram_get_idstr(block));
                return false;
            }
        }
    }
    /*
     * Find the guest's per-CPU lists now, while nothing migrates, rather
     * than in the first bitmap sync: it reads the guest's kallsyms and
     * BTF (10 to 20 ms, once per guest kernel).
     */
    if (!old_caps[cap]) {
        memx_scan_warm();
    }
    return true;
}

bool memx_skip_free_pages_snapshot_check(Error **errp)
{
    if (!migrate_memx_skip_free_pages()) {
        return true;
    }
    trace_memx_free_pages_refused("snapshot");
    error_setg(errp, "Snapshots cannot skip guest-free pages: loading a "
               "snapshot overwrites only the pages it holds, so a skipped "
               "page would keep what the guest wrote after the snapshot");
    error_append_hint(errp, "Turn the migration capability "
                      "__org.qemu-memx_skip-free-pages off to save a "
                      "snapshot.\n");
    return false;
}

/* Whether a page of @block that is not sent reads as zero on arrival. */
static bool memx_block_droppable(RAMBlock *block)
{
    if (migrate_ram_is_ignored(block)) {
        return false;
    }
    if (qemu_ram_is_shared(block) || qemu_ram_get_fd(block) >= 0) {
        if (!memx_skip.warned_not_anonymous) {
            warn_report("Guest-free pages of RAM block '%s' are sent: it is "
                        "shared or file-backed, so a page not sent would "
                        "not read as zero on the destination",
                        qemu_ram_get_idstr(block));
            memx_skip.warned_not_anonymous = true;
        }
        return false;
    }
    return true;
}

/*
 * Re-arm dirty tracking for pages [@page, @page + @npages) of @block, so
 * that any write after this is logged: @rearm clears the accelerator's
 * log (KVM's log_clear), and under TCG the vCPUs' TLB entries for the
 * range are reset, so that their next store takes the slow path that
 * logs it. The bitmap sync resets them only when it finds new dirty
 * pages, so a TLB entry may still be writable without logging when the
 * scan runs; a page found free and then written through such an entry
 * would be dropped and never sent.
 */
static void memx_rearm(MemxRearmDirtyFn *rearm, RAMBlock *block,
                       uint64_t page, uint64_t npages)
{
    rearm(block, page, npages);
    if (tcg_enabled()) {
        tlb_reset_dirty_range_all(block->offset + (page << TARGET_PAGE_BITS),
                                  npages << TARGET_PAGE_BITS);
    }
}

/*
 * Re-arm dirty tracking for every clear_bmap chunk of @r that holds a
 * page both dirty and free in @free, and list those stretches of @r in
 * @rearmed (adjacent ones merged).
 */
static void memx_rearm_candidates(const MemxRamRange *r, const uint64_t *free,
                                  uint64_t nr_pfns, MemxRearmDirtyFn *rearm,
                                  GArray *rearmed)
{
    RAMBlock *block = r->block;
    uint64_t chunk = 1ULL << block->clear_bmap_shift;
    uint64_t first = r->offset >> TARGET_PAGE_BITS;
    uint64_t end = first + ((r->end - r->start) >> TARGET_PAGE_BITS);

    for (uint64_t page = first; page < end;) {
        uint64_t next = MIN(QEMU_ALIGN_DOWN(page, chunk) + chunk, end);
        uint64_t pfn = (r->start >> TARGET_PAGE_BITS) + (page - first);
        MemxRearmed *last = rearmed->len ?
            &g_array_index(rearmed, MemxRearmed, rearmed->len - 1) : NULL;
        uint64_t gpa = pfn << TARGET_PAGE_BITS;

        if (free_page_skip_has_candidates(free, nr_pfns, pfn, next - page,
                                          block->bmap, page)) {
            memx_rearm(rearm, block, page, next - page);
            if (last && last->range == r && last->guest.end == gpa) {
                last->guest.end += (next - page) << TARGET_PAGE_BITS;
            } else {
                MemxRearmed add = {
                    .guest = { gpa, gpa + ((next - page) << TARGET_PAGE_BITS) },
                    .range = r,
                    .dropped_to = gpa,
                };

                g_array_append_val(rearmed, add);
            }
        }
        page = next;
    }
}

void memx_free_pages_scan_dirty(MemxRearmDirtyFn *rearm)
{
    uint64_t sync = stat64_get(&mig_stats.dirty_sync_count);
    GuestFreePageStats rescan_stats = { 0 };
    g_autoptr(GArray) guest = g_array_new(false, false,
                                          sizeof(GuestRamRange));
    MemxRamMap *map;
    MemxScan scan = { 0 };
    const char *reason = NULL;
    int64_t t0 = get_clock();
    /* The bulk pass: every page is dirty and none was sent yet. */
    bool first_pass = sync == 1;
    uint64_t dirtied;

    assert(bql_locked());
    if (sync < memx_skip.dirty_sync_seen || sync <= 1) {
        qatomic_set(&memx_skip.reason, NULL);     /* a new migration */
        memx_skip.warned_not_anonymous = false;
    }
    memx_skip.dirty_sync_seen = sync;
    if (!memx_skip.map) {
        memx_skip.map = g_new(MemxRamMap, 1);
        memx_skip.pending = g_array_new(false, false, sizeof(MemxRearmed));
    }
    map = memx_skip.map;
    g_array_set_size(memx_skip.pending, 0);
    memx_skip.pending_sync = 0;     /* nothing to drop unless decided */
    memx_skip.drop_ahead = false;

    dirtied = stat64_get(&mig_stats.memx_pages_dirtied) -
              memx_skip.dirtied_at_scan;
    if (!first_pass && memx_skip.all_dropped &&
        dirtied < memx_skip.last_free_pages / MEMX_SCAN_PAYS_FREE_PER_DIRTY) {
        trace_memx_free_pages_scan_not_worth(sync, dirtied,
                                             memx_skip.last_free_pages);
        return;
    }
    memx_skip.all_dropped = false;
    memx_skip.last_free_pages = 0;
    memx_skip.dirtied_at_scan = stat64_get(&mig_stats.memx_pages_dirtied);

    memx_ram_map_build(map);
    if (first_pass) {
        /*
         * Every chunk would qualify: re-arm all droppable RAM up front
         * and let one scan decide.
         */
        for (size_t i = 0; i < map->n; i++) {
            const MemxRamRange *r = &map->range[i];
            MemxRearmed all = { .guest = { r->start, r->end }, .range = r,
                                .dropped_to = r->start };

            if (memx_block_droppable(r->block)) {
                memx_rearm(rearm, r->block, r->offset >> TARGET_PAGE_BITS,
                      (r->end - r->start) >> TARGET_PAGE_BITS);
                g_array_append_val(memx_skip.pending, all);
            }
        }
    }
    if (!memx_scan_guest(map, &scan, &memx_skip.bitmap,
                         &memx_skip.bitmap_words)) {
        reason = scan.reason;
        goto out;
    }
    memx_skip.decided = scan.bitmap;
    memx_skip.last_free_pages = scan.stats.free_pages;
    /*
     * Whether the guest zeroes or poisons free pages: two static keys,
     * read again at every scan (cheap), though the guest cannot change
     * them without a reboot. Unknown means the content is checked.
     */
    {
        GuestFreeContent content;

        guest_free_content_read(&scan.view, scan.pcp_tried, &content);
        memx_skip.keep_uniform = guest_free_content_matters(&content);
        if (first_pass) {
            trace_memx_free_pages_content(content.known, content.zeroes,
                                          content.poisons);
        }
    }
    if (!first_pass) {
        for (size_t i = 0; i < map->n; i++) {
            if (memx_block_droppable(map->range[i].block)) {
                memx_rearm_candidates(&map->range[i], scan.bitmap,
                                      scan.nr_pfns, rearm, memx_skip.pending);
            }
        }
        for (size_t i = 0; i < memx_skip.pending->len; i++) {
            g_array_append_val(guest, g_array_index(memx_skip.pending,
                                                    MemxRearmed, i).guest);
        }
        /* Re-armed: now read what decides the bits. */
        memx_bitmap_zeroed(&memx_skip.rescan, &memx_skip.rescan_words,
                           scan.nr_pfns);
        if (guest->len &&
            !memx_scan_ranges(&scan, (GuestRamRange *)guest->data,
                              guest->len, memx_skip.rescan, &rescan_stats)) {
            reason = scan.reason;
            goto out;
        }
        memx_skip.decided = memx_skip.rescan;
    }
    memx_skip.nr_pfns = scan.nr_pfns;
    memx_skip.pending_sync = sync;

out:
    if (reason && reason != memx_skip.reason) {
        warn_report("Not skipping guest-free pages: %s", reason);
    }
    qatomic_set(&memx_skip.reason, reason);
    memx_skip.scan_ns = get_clock() - t0;
    trace_memx_free_pages_scan(sync, first_pass, memx_skip.pending->len,
                               memx_skip.scan_ns);
    stat64_add(&mig_stats.memx_free_pages_scan_ns, memx_skip.scan_ns);
    stat64_add(&mig_stats.memx_free_pages_scan_bql_ns, memx_skip.scan_ns);
    if (memx_skip.scan_ns > stat64_get(&mig_stats.memx_free_pages_scan_max_ns)) {
        stat64_set(&mig_stats.memx_free_pages_scan_max_ns, memx_skip.scan_ns);
    }
}

/* Drop what @a holds from its start so far up to guest address @end. */
static uint64_t memx_drop_stretch(MemxRearmed *a, uint64_t end, bool first,
                                  FreePageSkipStats *skip)
{
    const MemxRamRange *r = a->range;
    uint64_t from = a->dropped_to, dropped;

    end = MIN(end, a->guest.end);
    if (from >= end) {
        return 0;
    }
    dropped = free_page_skip_range(memx_skip.decided, memx_skip.nr_pfns,
                                   from >> TARGET_PAGE_BITS,
                                   (end - from) >> TARGET_PAGE_BITS,
                                   r->host + (from - r->start),
                                   TARGET_PAGE_SIZE, r->block->bmap,
                                   (r->offset + from - r->start) >>
                                   TARGET_PAGE_BITS,
                                   first, memx_skip.keep_uniform, skip);
    a->dropped_to = end;
    return dropped;
}

static void memx_drop_account(uint64_t sync, const FreePageSkipStats *skip,
                              int64_t t0)
{
    stat64_add(&mig_stats.memx_free_pages_skipped, skip->skipped);
    stat64_add(&mig_stats.memx_free_pages_uniform, skip->kept_uniform);
    stat64_add(&mig_stats.memx_free_pages_scan_ns, get_clock() - t0);
    trace_memx_free_pages_drop(sync, skip->skipped, skip->kept_uniform,
                               get_clock() - t0);
}

/* Whether the scan's decision still holds: no sync came since. */
static bool memx_drop_current(uint64_t sync)
{
    if (memx_skip.pending_sync && memx_skip.pending_sync == sync) {
        return true;
    }
    if (memx_skip.pending_sync) {
        trace_memx_free_pages_drop_stale(memx_skip.pending_sync, sync);
        memx_skip.pending_sync = 0;
    }
    memx_skip.drop_ahead = false;
    return false;
}

uint64_t memx_free_pages_drop_scanned(void)
{
    uint64_t sync = stat64_get(&mig_stats.dirty_sync_count);
    FreePageSkipStats skip = { 0 };
    uint64_t dropped = 0;
    int64_t t0 = get_clock();

    /*
     * A drop decided before the latest sync would clear bits that sync
     * set for pages the guest has written since: never apply it.
     */
    if (!memx_drop_current(sync)) {
        return 0;
    }
    if (sync == 1) {
        /*
         * The first pass: all of RAM is dirty and its free pages' first
         * words are still to be read.  The sender drops them slice by
         * slice, just ahead of itself (memx_free_pages_drop_ahead()).
         */
        if (!memx_skip.drop_ahead) {
            memx_skip.drop_ahead = true;
            stat64_add(&mig_stats.memx_free_pages_scans, 1);
        }
        return 0;
    }
    memx_skip.pending_sync = 0;
    for (size_t i = 0; i < memx_skip.pending->len; i++) {
        MemxRearmed *a = &g_array_index(memx_skip.pending, MemxRearmed, i);

        dropped += memx_drop_stretch(a, a->guest.end, false, &skip);
    }
    memx_skip.all_dropped = true;
    stat64_add(&mig_stats.memx_free_pages_scans, 1);
    memx_drop_account(sync, &skip, t0);
    return dropped;
}

uint64_t memx_free_pages_drop_ahead(RAMBlock *block, uint64_t page)
{
    uint64_t sync, dropped = 0;
    FreePageSkipStats skip = { 0 };
    bool left = false;
    int64_t t0;

    if (!memx_skip.drop_ahead) {
        return 0;
    }
    sync = stat64_get(&mig_stats.dirty_sync_count);
    if (!memx_drop_current(sync)) {
        /* the next sync's scan finds what was not dropped yet */
        return 0;
    }
    t0 = get_clock();
    for (size_t i = 0; i < memx_skip.pending->len; i++) {
        MemxRearmed *a = &g_array_index(memx_skip.pending, MemxRearmed, i);
        const MemxRamRange *r = a->range;

        if (r->block == block) {
            /* block page of the first page not dropped yet */
            uint64_t next = (r->offset + a->dropped_to - r->start) >>
                            TARGET_PAGE_BITS;

            while (a->dropped_to < a->guest.end &&
                   next <= page + MEMX_DROP_AHEAD_PAGES) {
                dropped += memx_drop_stretch(a, a->dropped_to +
                                             ((uint64_t)MEMX_DROP_AHEAD_PAGES <<
                                              TARGET_PAGE_BITS),
                                             true, &skip);
                next = (r->offset + a->dropped_to - r->start) >>
                       TARGET_PAGE_BITS;
            }
        }
        left |= a->dropped_to < a->guest.end;
    }
    if (!left) {
        memx_skip.drop_ahead = false;
        memx_skip.pending_sync = 0;
        memx_skip.all_dropped = true;
    }
    if (skip.skipped || skip.kept_uniform) {
        memx_drop_account(sync, &skip, t0);
    }
    return dropped;
}

void memx_free_pages_fill_stats(MigrationStats *stats)
{
    uint64_t skipped = stat64_get(&mig_stats.memx_free_pages_skipped);
    const char *reason;

    if (!migrate_memx_skip_free_pages()) {
        return;
    }
    stats->has___org_qemu_memx_free_pages_skipped = true;
    stats->__org_qemu_memx_free_pages_skipped = skipped;
    stats->has___org_qemu_memx_free_bytes_saved = true;
    stats->__org_qemu_memx_free_bytes_saved = skipped * TARGET_PAGE_SIZE;
    stats->has___org_qemu_memx_free_pages_uniform = true;
    stats->__org_qemu_memx_free_pages_uniform =
        stat64_get(&mig_stats.memx_free_pages_uniform);
    stats->has___org_qemu_memx_free_page_scans = true;
    stats->__org_qemu_memx_free_page_scans =
        stat64_get(&mig_stats.memx_free_pages_scans);
    stats->has___org_qemu_memx_free_page_scan_time_us = true;
    stats->__org_qemu_memx_free_page_scan_time_us =
        stat64_get(&mig_stats.memx_free_pages_scan_ns) / SCALE_US;
    stats->has___org_qemu_memx_free_page_scan_bql_us = true;
    stats->__org_qemu_memx_free_page_scan_bql_us =
        stat64_get(&mig_stats.memx_free_pages_scan_bql_ns) / SCALE_US;
    stats->has___org_qemu_memx_free_page_scan_max_us = true;
    stats->__org_qemu_memx_free_page_scan_max_us =
        stat64_get(&mig_stats.memx_free_pages_scan_max_ns) / SCALE_US;
    reason = qatomic_read(&memx_skip.reason);
    if (reason) {
        stats->__org_qemu_memx_free_page_skip_blocked = g_strdup(reason);
    }
}
