/*
 * x-memx-page-activity: qemu-memx's page-activity tracker in QEMU.
 *
 * Once per period the tracker samples which parts of every memory
 * backend the guest used and shifts that into a short per-unit history
 * (migration-ext/page-activity.c), which classifies each unit as hot,
 * warm or cold.  The NUMA move job (numa-move.c) moves hot units first.
 *
 * Providers:
 * - tcg-tlb (TCG only; reads and writes).  At the end of every period all
 *   vCPU TLBs are flushed; the softmmu then calls memx_note_tlb_fill()
 *   for each RAM page it fills into a TLB, which sets that page's bit in
 *   memx_tlb_fill_map.  A page the guest touches in a period is filled at
 *   least once.  The cost on the vCPU side is the refills after each
 *   flush and one atomic bit set per fill.
 * - dirty-log (every accelerator; writes only).  Each backend's region
 *   is dirty-logged for the DIRTY_MEMORY_VGA client, the one display
 *   devices use; live migration uses DIRTY_MEMORY_MIGRATION, so the two
 *   coexist and neither steals the other's dirty bits.  Each period the
 *   log is snapshotted and cleared.
 * - damon (every accelerator; reads and writes).  Linux's DAMON watches
 *   the backends' host mappings from a kdamond of ours
 *   (page-activity-damon.c); each period every page of the regions it
 *   saw accessed is noted.  Its regions are statistical, not pages.
 *
 * Beside the classes, every backend has a working-set estimator
 * (migration-ext/working-set.c), fed page by page with the same
 * accesses: __org.qemu-memx_query-working-set reports the memory used
 * over windows of time and a miss-rate curve (docs/working-set.rst).
 *
 * Backends are looked up again every period, so hot-plugged memory is
 * tracked from its first period and unplugged memory is forgotten.
 * Everything here runs in the main loop under the BQL, except
 * memx_note_tlb_fill(), which runs in vCPU threads under RCU.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-qom.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "exec/cpu-common.h"
#include "exec/cputlb.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/ramlist.h"
#include "exec/target_page.h"
#include "hw/core/cpu.h"
#include "system/hostmem.h"
#include "system/runstate.h"
#include "system/system.h"
#include "system/tcg.h"
#include "hw/qdev-core.h"
#include "system/memx-page-activity.h"
#include "migration-ext/working-set.h"
#include "migration-ext/damon-sysfs.h"
#include "memx-damon.h"

#define TYPE_MEMX_PAGE_ACTIVITY "x-memx-page-activity"
OBJECT_DECLARE_SIMPLE_TYPE(MemxPageActivity, MEMX_PAGE_ACTIVITY)

#define THP_SHIFT 21

/*
 * The working-set estimator's miss-rate curve traces 1 page in 16 (at
 * 1 GiB: 16384 pages, so a 64 MiB working set is seen through about
 * 1024 of them) and covers the last 10 s of references.
 */
#define WORKING_SET_SAMPLE_RATE (1.0 / 16)
#define WORKING_SET_CURVE_MS 10000

typedef struct MemxTrackedBackend {
    HostMemoryBackend *backend;     /* not referenced: matched each period */
    RAMBlock *block;
    uint64_t size;
    char *id;
    bool dirty_logged;
    PageActivity activity;
    WorkingSet working_set;     /* per target page */
    PageActivity ws_classes;    /* the working set as classes, on demand */
} MemxTrackedBackend;

struct MemxPageActivity {
    Object parent_obj;

    bool has_provider;
    __org_qemu_memx_PageActivityProvider provider;
    uint32_t period_ms;
    uint8_t history;
    uint8_t hot_min;

    bool started;
    Notifier machine_ready;
    QEMUTimer *timer;
    GPtrArray *backends;            /* MemxTrackedBackend */
    MemxDamonSource *damon;
    GArray *damon_ranges;           /* DamonRange, as the kdamond watches */
    int64_t overhead_ns;
    int64_t last_period_ns;
};

MemxTlbFillMap *memx_tlb_fill_map;
static MemxPageActivity *memx_tracker;

/* Is host THP in effect for anonymous memory that QEMU madvises? */
static bool host_thp_enabled(void)
{
    g_autofree char *mode = NULL;

    if (!g_file_get_contents("/sys/kernel/mm/transparent_hugepage/enabled",
                             &mode, NULL, NULL)) {
        return false;
    }
    return strstr(mode, "[always]") || strstr(mode, "[madvise]");
}

static unsigned backend_unit_shift(HostMemoryBackend *backend, RAMBlock *block)
{
    size_t page = qemu_ram_pagesize(block);

    if (page == qemu_real_host_page_size() && !backend->share &&
        qemu_ram_get_fd(block) < 0 && host_thp_enabled()) {
        return THP_SHIFT;
    }
    return ctz64(page);
}

static void tracked_backend_free(gpointer data)
{
    MemxTrackedBackend *tb = data;

    page_activity_destroy(&tb->activity);
    working_set_destroy(&tb->working_set);
    page_activity_destroy(&tb->ws_classes);
    g_free(tb->id);
    g_free(tb);
}

/* Index of @backend's entry in @tracked, or -1. */
static int find_tracked(GPtrArray *tracked, HostMemoryBackend *backend,
                        RAMBlock *block)
{
    for (guint i = 0; i < tracked->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(tracked, i);

        if (tb->backend == backend && tb->block == block &&
            tb->size == memory_region_size(&backend->mr)) {
            return i;
        }
    }
    return -1;
}

static unsigned working_set_curve_periods(MemxPageActivity *pa)
{
    return MIN(DIV_ROUND_UP(WORKING_SET_CURVE_MS, pa->period_ms),
               WORKING_SET_MAX_CURVE_PERIODS);
}

typedef struct RefreshState {
    MemxPageActivity *pa;
    GPtrArray *old;             /* tracked until now */
    GPtrArray *live;            /* tracked from now on */
} RefreshState;

static int refresh_one(Object *obj, void *opaque)
{
    RefreshState *rs = opaque;
    HostMemoryBackend *backend;
    MemxTrackedBackend *tb;
    RAMBlock *block;
    const char *why;
    int i;

    if (!object_dynamic_cast(obj, TYPE_MEMORY_BACKEND)) {
        return 0;
    }
    backend = MEMORY_BACKEND(obj);
    block = backend->mr.ram_block;
    if (!block || !memory_region_size(&backend->mr)) {
        return 0;
    }
    i = find_tracked(rs->old, backend, block);
    if (i >= 0) {
        g_ptr_array_add(rs->live, g_ptr_array_steal_index_fast(rs->old, i));
        return 0;
    }
    tb = g_new0(MemxTrackedBackend, 1);
    tb->backend = backend;
    tb->block = block;
    tb->size = memory_region_size(&backend->mr);
    tb->id = g_strdup(object_get_canonical_path_component(obj));
    if (!page_activity_init(&tb->activity, tb->size,
                            backend_unit_shift(backend, block),
                            rs->pa->history, rs->pa->hot_min, &why)) {
        warn_report("x-memx-page-activity: cannot track %s: %s", tb->id, why);
        tracked_backend_free(tb);
        return 0;
    }
    if (!working_set_init(&tb->working_set, tb->size,
                          qemu_target_page_bits(), WORKING_SET_SAMPLE_RATE,
                          working_set_curve_periods(rs->pa), &why)) {
        warn_report("x-memx-page-activity: no working set for %s: %s",
                    tb->id, why);
        tracked_backend_free(tb);
        return 0;
    }
    if (rs->pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_DIRTY_LOG) {
        memory_region_set_log(&backend->mr, true, DIRTY_MEMORY_VGA);
        tb->dirty_logged = true;
    }
    g_ptr_array_add(rs->live, tb);
    return 0;
}

/*
 * Track the backends that exist now: keep the ones seen before (with
 * their history), add new ones, forget the ones gone.  A backend that is
 * gone cannot be told to stop logging, but its region went with it.
 */
static void refresh_backends(MemxPageActivity *pa)
{
    RefreshState rs = {
        .pa = pa, .old = pa->backends,
        .live = g_ptr_array_new_with_free_func(tracked_backend_free),
    };

    object_child_foreach(object_get_objects_root(), refresh_one, &rs);
    g_ptr_array_free(rs.old, true);
    pa->backends = rs.live;
}

static int find_backend(Object *obj, void *opaque)
{
    return obj == opaque;
}

/* The TLB-fill map must cover every RAM block's ram_addr range. */
static void tlb_fill_map_resize(void)
{
    MemxTlbFillMap *old = memx_tlb_fill_map, *map;
    unsigned bits = qemu_target_page_bits();
    uint64_t pages = 0;
    RAMBlock *block;

    WITH_RCU_READ_LOCK_GUARD() {
        RAMBLOCK_FOREACH(block) {
            pages = MAX(pages, (block->offset + block->max_length) >> bits);
        }
    }
    if (old && old->nr_pages >= pages) {
        return;
    }
    map = g_malloc0(sizeof(*map) + BITS_TO_LONGS(pages) * sizeof(long));
    map->nr_pages = pages;
    qatomic_rcu_set(&memx_tlb_fill_map, map);
    if (old) {
        g_free_rcu(old, rcu);
    }
}

static void tlb_fill_map_stop(void)
{
    MemxTlbFillMap *old = memx_tlb_fill_map;

    qatomic_rcu_set(&memx_tlb_fill_map, NULL);
    if (old) {
        g_free_rcu(old, rcu);
    }
}

static MemxTrackedBackend *tracked_at_ram_addr(MemxPageActivity *pa,
                                               uint64_t ram_addr)
{
    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);

        if (ram_addr >= tb->block->offset &&
            ram_addr - tb->block->offset < tb->size) {
            return tb;
        }
    }
    return NULL;
}

/* Hand the period's TLB fills to the backends' trackers and clear them. */
static void collect_tlb_fills(MemxPageActivity *pa)
{
    MemxTlbFillMap *map = memx_tlb_fill_map;
    unsigned bits = qemu_target_page_bits();
    MemxTrackedBackend *last = NULL;

    if (!map) {
        return;
    }
    for (uint64_t w = 0; w < BITS_TO_LONGS(map->nr_pages); w++) {
        unsigned long word;

        if (!qatomic_read(&map->bits[w])) {
            continue;
        }
        word = qatomic_xchg(&map->bits[w], 0);
        while (word) {
            uint64_t ram_addr = (w * BITS_PER_LONG + ctzl(word)) << bits;

            word &= word - 1;
            if (!last || ram_addr < last->block->offset ||
                ram_addr - last->block->offset >= last->size) {
                last = tracked_at_ram_addr(pa, ram_addr);
            }
            if (last) {
                page_activity_note(&last->activity,
                                   ram_addr - last->block->offset);
                working_set_note(&last->working_set,
                                 (ram_addr - last->block->offset) >> bits);
            }
        }
    }
}

static void collect_dirty_log(MemxPageActivity *pa)
{
    uint64_t page = qemu_target_page_size();

    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);
        MemoryRegion *mr = &tb->backend->mr;
        DirtyBitmapSnapshot *snap;

        if (!tb->dirty_logged) {
            continue;
        }
        snap = memory_region_snapshot_and_clear_dirty(mr, 0, tb->size,
                                                      DIRTY_MEMORY_VGA);
        for (uint64_t off = 0; off < tb->size; off += page) {
            if (memory_region_snapshot_get_dirty(mr, snap, off, page)) {
                page_activity_note(&tb->activity, off);
                working_set_note(&tb->working_set,
                                 off >> qemu_target_page_bits());
            }
        }
        g_free(snap);
    }
}

static gint compare_ranges(gconstpointer a, gconstpointer b)
{
    const DamonRange *ra = a, *rb = b;

    return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/* The tracked backends' host mappings, sorted. */
static GArray *damon_ranges_of(MemxPageActivity *pa)
{
    GArray *ranges = g_array_new(false, false, sizeof(DamonRange));

    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);
        uint64_t host = (uintptr_t)qemu_ram_get_host_addr(tb->block);
        DamonRange range = { host, host + tb->size };

        g_array_append_val(ranges, range);
    }
    g_array_sort(ranges, compare_ranges);
    return ranges;
}

static bool same_ranges(GArray *a, GArray *b)
{
    return a->len == b->len &&
           !memcmp(a->data, b->data, a->len * sizeof(DamonRange));
}

/* Note every page of every region DAMON saw accessed in the period. */
static void collect_damon(MemxPageActivity *pa)
{
    g_autoptr(GArray) ranges = damon_ranges_of(pa);
    g_autoptr(GArray) accessed = NULL;
    g_autofree char *error = NULL;
    unsigned bits = qemu_target_page_bits();

    if (ranges->len && !same_ranges(ranges, pa->damon_ranges)) {
        memx_damon_set_ranges(pa->damon, ranges);
        g_array_unref(pa->damon_ranges);
        pa->damon_ranges = g_array_ref(ranges);
    }
    accessed = memx_damon_take_accessed(pa->damon, &error);
    if (error) {
        warn_report_once("x-memx-page-activity: DAMON stopped reporting: %s",
                         error);
    }
    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);
        uint64_t host = (uintptr_t)qemu_ram_get_host_addr(tb->block);
        unsigned long *seen = bitmap_new(tb->size >> bits);

        /* regions of successive aggregations overlap: each page once */
        for (guint r = 0; r < accessed->len; r++) {
            DamonRange *range = &g_array_index(accessed, DamonRange, r);
            uint64_t start = MAX(range->start, host);
            uint64_t end = MIN(range->end, host + tb->size);

            if (start < end) {
                bitmap_set(seen, (start - host) >> bits,
                           DIV_ROUND_UP(end - host, 1ULL << bits) -
                           ((start - host) >> bits));
            }
        }
        for (unsigned long page = find_first_bit(seen, tb->size >> bits);
             page < tb->size >> bits;
             page = find_next_bit(seen, tb->size >> bits, page + 1)) {
            page_activity_note(&tb->activity, page << bits);
            working_set_note(&tb->working_set, page);
        }
        g_free(seen);
    }
}

/* Runs on the vCPU's own thread: a TLB may only be flushed by its CPU. */
static void flush_tlb_work(CPUState *cpu, run_on_cpu_data data)
{
    tlb_flush(cpu);
}

static void memx_page_activity_tick(void *opaque)
{
    MemxPageActivity *pa = opaque;
    int64_t start = get_clock();
    CPUState *cpu;

    /*
     * A period in which the vCPUs did not run says nothing about the
     * guest's accesses: while the VM is stopped (paused, migrated away,
     * saving) the classes stay as they were instead of cooling down.
     */
    if (!runstate_is_running()) {
        if (pa->damon) {
            /* what DAMON saw meanwhile was not the guest's doing */
            g_array_unref(memx_damon_take_accessed(pa->damon, NULL));
        }
        timer_mod(pa->timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + pa->period_ms);
        return;
    }
    refresh_backends(pa);
    if (pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB) {
        collect_tlb_fills(pa);
        tlb_fill_map_resize();
        /* the next period's first access to each page fills again */
        CPU_FOREACH(cpu) {
            async_run_on_cpu(cpu, flush_tlb_work, RUN_ON_CPU_NULL);
        }
    } else if (pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_DAMON) {
        collect_damon(pa);
    } else {
        collect_dirty_log(pa);
    }
    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);

        page_activity_end_period(&tb->activity);
        working_set_end_period(&tb->working_set);
    }
    pa->last_period_ns = get_clock() - start;
    pa->overhead_ns += pa->last_period_ns;
    timer_mod(pa->timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + pa->period_ms);
}

/* The tracker's entry for @block, or NULL. */
static MemxTrackedBackend *tracked_of_block(const RAMBlock *block)
{
    for (guint i = 0; memx_tracker && i < memx_tracker->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(memx_tracker->backends, i);

        if (tb->block == block) {
            return tb;
        }
    }
    return NULL;
}

const PageActivity *memx_page_activity_of(const RAMBlock *block)
{
    MemxTrackedBackend *tb = tracked_of_block(block);

    return tb ? &tb->activity : NULL;
}

const PageActivity *memx_working_set_classes_of(const RAMBlock *block)
{
    MemxTrackedBackend *tb = tracked_of_block(block);
    uint32_t periods;
    const char *why;

    if (!tb) {
        return NULL;
    }
    periods = DIV_ROUND_UP(WORKING_SET_CURVE_MS, memx_tracker->period_ms);
    if (tb->ws_classes.nr_units &&
        tb->ws_classes.periods == tb->working_set.period - 1) {
        return &tb->ws_classes;
    }
    if (!working_set_classes(&tb->working_set, periods,
                             tb->activity.unit_shift, &tb->ws_classes,
                             &why)) {
        warn_report_once("x-memx-page-activity: no working-set classes "
                         "for %s: %s", tb->id, why);
        return NULL;
    }
    return &tb->ws_classes;
}

bool memx_recency_classes_of(const RAMBlock *block, PageActivity *classes)
{
    MemxTlbFillMap *map = qatomic_rcu_read(&memx_tlb_fill_map);
    MemxTrackedBackend *tb = tracked_of_block(block);
    g_autofree unsigned long *open = NULL;
    uint64_t nr_pages, first;
    uint32_t window;
    bool tlb_fills;
    const char *why;

    if (!tb) {
        return false;
    }
    window = DIV_ROUND_UP(WORKING_SET_CURVE_MS, memx_tracker->period_ms);
    nr_pages = tb->size >> qemu_target_page_bits();
    first = tb->block->offset >> qemu_target_page_bits();
    tlb_fills = memx_tracker->provider ==
                ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB;
    if (tlb_fills && map && first + nr_pages <= map->nr_pages) {
        /* the open period's TLB fills, not yet collected */
        open = bitmap_new(nr_pages);
        for (uint64_t page = 0; page < nr_pages; page++) {
            if (test_bit(first + page, map->bits)) {
                set_bit(page, open);
            }
        }
    }
    if (!working_set_recency_classes(&tb->working_set, 1, window, open,
                                     classes, &why)) {
        warn_report_once("x-memx-page-activity: no recency classes for %s: %s",
                         tb->id, why);
        return false;
    }
    return true;
}

const char *memx_page_activity_provider(void)
{
    return memx_tracker ?
        __org_qemu_memx_PageActivityProvider_str(memx_tracker->provider) :
        NULL;
}

bool memx_page_activity_state(MemxPageActivityState *state)
{
    MemxPageActivity *pa = memx_tracker;

    if (!pa) {
        return false;
    }
    state->provider = pa->provider;
    state->period_ms = pa->period_ms;
    state->history = pa->history;
    state->hot_min = pa->hot_min;
    state->overhead_ns = pa->overhead_ns;
    if (pa->damon) {
        /* the kdamond's work is done for us */
        state->overhead_ns += memx_damon_kdamond_cpu_ns(pa->damon);
    }
    state->last_period_ns = pa->last_period_ns;
    state->sample_rate = WORKING_SET_SAMPLE_RATE;
    state->periods = 0;
    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);

        state->periods = MAX(state->periods, tb->activity.periods);
    }
    return true;
}

bool memx_page_activity_backend(unsigned i, MemxTrackedView *view)
{
    MemxTrackedBackend *tb;

    if (!memx_tracker || i >= memx_tracker->backends->len) {
        return false;
    }
    tb = g_ptr_array_index(memx_tracker->backends, i);
    view->memdev = tb->id;
    view->block = tb->block;
    view->size = tb->size;
    view->activity = &tb->activity;
    view->working_set = &tb->working_set;
    return true;
}

/* Start sampling; the accelerator must be known by now. */
static bool memx_page_activity_start(MemxPageActivity *pa, Error **errp)
{
    if (!pa->has_provider) {
        pa->provider = tcg_enabled() ?
            ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB :
            ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_DIRTY_LOG;
    }
    if (pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB &&
        !tcg_enabled()) {
        error_setg(errp, "provider 'tcg-tlb' needs the TCG accelerator");
        error_append_hint(errp, "Use provider=dirty-log, which samples "
                          "writes with any accelerator.\n");
        return false;
    }
    if (pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_TCG_TLB) {
        tlb_fill_map_resize();
    }
    if (pa->provider == ORG_QEMU_MEMX_PAGE_ACTIVITY_PROVIDER_DAMON) {
        refresh_backends(pa);
        pa->damon_ranges = damon_ranges_of(pa);
        if (!pa->damon_ranges->len) {
            error_setg(errp, "provider 'damon': no memory backend to watch");
            return false;
        }
        pa->damon = memx_damon_start(pa->damon_ranges, pa->period_ms, errp);
        if (!pa->damon) {
            return false;
        }
    }
    pa->timer = timer_new_ms(QEMU_CLOCK_REALTIME, memx_page_activity_tick, pa);
    timer_mod(pa->timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + pa->period_ms);
    pa->started = true;
    return true;
}

/* Created from the command line, before the accelerator: start now. */
static void memx_page_activity_machine_ready(Notifier *notifier, void *data)
{
    MemxPageActivity *pa = container_of(notifier, MemxPageActivity,
                                        machine_ready);

    memx_page_activity_start(pa, &error_fatal);
}

static void memx_page_activity_complete(UserCreatable *uc, Error **errp)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(uc);

    if (memx_tracker) {
        error_setg(errp, "only one %s object may exist",
                   TYPE_MEMX_PAGE_ACTIVITY);
        return;
    }
    if (pa->period_ms < 10 || pa->period_ms > 60000) {
        error_setg(errp, "period-ms must be 10 to 60000, not %" PRIu32,
                   pa->period_ms);
        return;
    }
    if (pa->history < 1 || pa->history > PAGE_ACTIVITY_MAX_HISTORY) {
        error_setg(errp, "history must be 1 to %d periods, not %u",
                   PAGE_ACTIVITY_MAX_HISTORY, pa->history);
        return;
    }
    if (pa->hot_min < 1 || pa->hot_min > pa->history) {
        error_setg(errp, "hot-min must be 1 to history (%u), not %u",
                   pa->history, pa->hot_min);
        return;
    }
    pa->backends = g_ptr_array_new_with_free_func(tracked_backend_free);
    if (phase_check(PHASE_MACHINE_READY)) {
        if (!memx_page_activity_start(pa, errp)) {
            return;
        }
    } else {
        pa->machine_ready.notify = memx_page_activity_machine_ready;
        qemu_add_machine_init_done_notifier(&pa->machine_ready);
    }
    memx_tracker = pa;
}

static void memx_page_activity_finalize(Object *obj)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(obj);

    if (pa->machine_ready.notify && !pa->started) {
        qemu_remove_machine_init_done_notifier(&pa->machine_ready);
    }
    if (!pa->backends) {
        return;
    }
    if (pa->timer) {
        timer_free(pa->timer);
    }
    memx_damon_stop(pa->damon);
    if (pa->damon_ranges) {
        g_array_unref(pa->damon_ranges);
    }
    tlb_fill_map_stop();
    for (guint i = 0; i < pa->backends->len; i++) {
        MemxTrackedBackend *tb = g_ptr_array_index(pa->backends, i);

        /* backends still present: stop logging them */
        if (tb->dirty_logged &&
            object_child_foreach(object_get_objects_root(), find_backend,
                                 tb->backend)) {
            memory_region_set_log(&tb->backend->mr, false, DIRTY_MEMORY_VGA);
        }
    }
    g_ptr_array_free(pa->backends, true);
    memx_tracker = NULL;
}

/* The tunables can only be set before the tracker starts. */
static void prop_get_uint(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(obj);
    uint32_t value;

    if (!strcmp(name, "period-ms")) {
        value = pa->period_ms;
    } else if (!strcmp(name, "history")) {
        value = pa->history;
    } else {
        value = pa->hot_min;
    }
    visit_type_uint32(v, name, &value, errp);
}

static void prop_set_uint(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(obj);
    uint32_t value;

    if (pa->started) {
        error_setg(errp, "'%s' cannot be changed once tracking runs", name);
        return;
    }
    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (!strcmp(name, "period-ms")) {
        pa->period_ms = value;
    } else if (value > UINT8_MAX) {
        error_setg(errp, "'%s' must be at most %d", name, UINT8_MAX);
    } else if (!strcmp(name, "history")) {
        pa->history = value;
    } else {
        pa->hot_min = value;
    }
}

static int prop_get_provider(Object *obj, Error **errp)
{
    return MEMX_PAGE_ACTIVITY(obj)->provider;
}

static void prop_set_provider(Object *obj, int value, Error **errp)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(obj);

    if (pa->started) {
        error_setg(errp, "'provider' cannot be changed once tracking runs");
        return;
    }
    pa->provider = value;
    pa->has_provider = true;
}

static void memx_page_activity_init(Object *obj)
{
    MemxPageActivity *pa = MEMX_PAGE_ACTIVITY(obj);

    pa->period_ms = 200;
    pa->history = 8;
    pa->hot_min = 4;
}

static void memx_page_activity_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = memx_page_activity_complete;
    object_class_property_add_enum(oc, "provider",
                                   "__org.qemu-memx_PageActivityProvider",
                                   &__org_qemu_memx_PageActivityProvider_lookup,
                                   prop_get_provider, prop_set_provider);
    object_class_property_set_description(oc, "provider",
        "how accesses are sampled: tcg-tlb (TCG), dirty-log (writes) or "
        "damon (host accessed bits)");
    object_class_property_add(oc, "period-ms", "uint32", prop_get_uint,
                              prop_set_uint, NULL, NULL);
    object_class_property_set_description(oc, "period-ms",
                                          "scan period in milliseconds");
    object_class_property_add(oc, "history", "uint8", prop_get_uint,
                              prop_set_uint, NULL, NULL);
    object_class_property_set_description(oc, "history",
                                          "periods remembered per unit");
    object_class_property_add(oc, "hot-min", "uint8", prop_get_uint,
                              prop_set_uint, NULL, NULL);
    object_class_property_set_description(oc, "hot-min",
        "periods a unit must be accessed in to be hot");
}

static const TypeInfo memx_page_activity_info = {
    .name = TYPE_MEMX_PAGE_ACTIVITY,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(MemxPageActivity),
    .instance_init = memx_page_activity_init,
    .instance_finalize = memx_page_activity_finalize,
    .class_init = memx_page_activity_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void memx_page_activity_register_types(void)
{
    type_register_static(&memx_page_activity_info);
}

type_init(memx_page_activity_register_types);
