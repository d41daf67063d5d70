/*
 * qemu-memx memdedup: give a running guest's free memory back to the host,
 * with no driver in the guest, by introspecting its kernel.
 *
 * -object x-memx-dedup,id=dd[,interval-ms=N][,granularity=2M|4K]
 *
 * A pass works through guest RAM in slices of MEMX_DEDUP_SLICE bytes:
 *
 *   1. Without pausing anything, read the guest's free pages (struct page
 *      scan, memdedup/introspect/) and keep the slices that hold at least
 *      one granule that is all free.  This only chooses where to look.
 *   2. For each such slice, from a timer of the main loop:
 *      a. pause all vCPUs;
 *      b. check that the note still describes the running kernel (no
 *         kexec since), and scan that slice's struct pages again: what
 *         decides is this scan;
 *      c. ask the host which of its pages are resident (mincore);
 *      d. plan (memdedup/dedup/dedup-plan.c): whole free granules whose
 *         free pages hold no non-zero pattern;
 *      e. discard them with ram_block_discard_range();
 *      f. resume the vCPUs.
 *
 * Why nothing the guest needs is lost: while the vCPUs are paused, no
 * guest code runs, so no free page can be allocated between the scan that
 * finds it free and its discard.  Devices write guest memory only into
 * buffers the guest has allocated (DMA targets are in-use pages), never
 * into free pages.  A discarded page of anonymous private RAM reads back
 * as zero, which is what a zeroed free page (init_on_free) holds, and any
 * content at all is valid for a stale free page.  A free page holding a
 * non-zero pattern (page_poison) is never discarded: the guest checks the
 * poison when it allocates the page.  A guest that lies about its free
 * pages can only lose its own data.
 *
 * Slices bound each pause: the struct-page scan of a slice costs about
 * 1 ms per GiB, the discard a few microseconds per 2 MiB granule, and the
 * main loop runs between slices.
 *
 * Slices run from a main-loop timer, never from a bottom half: the main
 * AioContext's bottom halves also run inside the block layer's nested
 * polling (loadvm and savevm reading and writing their state,
 * bdrv_drain_all), in the middle of a command with the guest half
 * loaded; main_loop_wait() alone runs the main loop's timers.
 *
 * Refused, with the reason in __org.qemu-memx_query-dedup: while RAM
 * discards are disabled (VFIO and others pin guest RAM), during any
 * migration (outgoing, incoming, postcopy, background snapshot), while
 * the VM state is loaded or saved (loadvm, savevm) or after the guest
 * migrated away, for a guest whose kernel cannot be introspected, and
 * per RAM block for shared, file-backed or hugetlbfs RAM, whose discarded
 * pages would not read as zero or would free memory the host did not
 * lend us, and for a host mapping not aligned to the granularity.  A
 * pass in progress ends when the VM stops for one of those run states
 * or the machine is reset (a snapshot load resets it too, whether the
 * VM ran or not).
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
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qapi/visitor.h"
#include "qobject/qdict.h"
#include "qom/object_interfaces.h"
#include "hw/resettable.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "migration/misc.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "system/cpus.h"
#include "system/reset.h"
#include "system/runstate.h"
#include "system/memx-guest-scan.h"
#include "memdedup/dedup/dedup-plan.h"
#include "memx/trace.h"

#define TYPE_MEMX_DEDUP "x-memx-dedup"
OBJECT_DECLARE_SIMPLE_TYPE(MemxDedup, MEMX_DEDUP)

#define MEMX_DEDUP_SLICE (64 * MiB)

/* A stretch of guest RAM to pause the guest for. */
typedef struct MemxDedupSlice {
    size_t range;           /* index in the pass's map */
    uint64_t start, end;    /* guest-physical */
} MemxDedupSlice;

/* What a pass found, summed over its slices. */
typedef struct MemxDedupPassStats {
    DedupPlanStats plan;
    uint64_t given_back;    /* bytes resident before the discard */
    uint64_t pauses;
    int64_t max_pause_ns;
} MemxDedupPassStats;

struct MemxDedup {
    Object parent_obj;

    uint32_t interval_ms;   /* 0: passes only on request */
    uint64_t granularity;   /* bytes, TARGET_PAGE_SIZE or 2 MiB */
    bool completed;
    QEMUTimer *timer;       /* the next pass, with interval_ms */
    QEMUTimer *step;        /* the next slice of the pass in progress */
    VMChangeStateEntry *vm_state_entry;
    ResettableState reset_state;

    /* The pass in progress */
    bool running;
    MemxRamMap map;
    MemxScan scan;
    uint64_t *bitmap;
    uint64_t bitmap_words;
    GArray *slices;         /* MemxDedupSlice */
    guint next_slice;
    GArray *runs;           /* DedupRun, reused */
    uint8_t *resident;      /* mincore() vector of one slice */
    int64_t pass_start_ns;
    MemxDedupPassStats cur;

    /* Results */
    uint64_t passes;
    uint64_t total_given_back;
    int64_t max_pause_ns;
    uint64_t restore_pauses;    /* must stay 0 */
    int64_t cpu_ns;
    int64_t last_pass_ns;
    int64_t last_pass_cpu_ns;
    MemxDedupPassStats last;
    char *reason;           /* why the last pass gave nothing back */
    GPtrArray *skipped;     /* __org_qemu_memx_DedupSkip of the last pass */
};

static MemxDedup *memx_dedup;

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/* Count the main thread's CPU time since @since to the pass and the total. */
static void memx_dedup_add_cpu(MemxDedup *dd, int64_t since)
{
    int64_t spent = thread_cpu_ns() - since;

    dd->cpu_ns += spent;
    dd->last_pass_cpu_ns += spent;
}

/* Why no pass may run in run state @state, or NULL. */
static const char *memx_dedup_state_refusal(RunState state)
{
    switch (state) {
    case RUN_STATE_RESTORE_VM:
        return "a snapshot is being loaded (loadvm)";
    case RUN_STATE_SAVE_VM:
        return "the VM state is being saved (savevm, dump-guest-memory)";
    case RUN_STATE_INMIGRATE:
        return "an incoming migration is running";
    case RUN_STATE_FINISH_MIGRATE:
        return "a migration is completing";
    case RUN_STATE_POSTMIGRATE:
        return "the guest has migrated away (postmigrate)";
    case RUN_STATE_COLO:
        return "COLO is replicating the guest";
    default:
        return NULL;
    }
}

/* Why no pass may run now, or NULL. */
static const char *memx_dedup_refusal(void)
{
    const char *why = memx_dedup_state_refusal(runstate_get());

    if (why) {
        return why;
    }
    if (ram_block_discard_is_disabled()) {
        return "RAM discards are disabled (a device such as VFIO needs "
               "guest RAM pinned)";
    }
    if (migration_is_running() || migration_in_bg_snapshot()) {
        return "a migration or background snapshot is running";
    }
    if (migration_in_incoming_postcopy()) {
        return "an incoming migration is running";
    }
    return NULL;
}

/* Why the guest RAM of @r cannot be discarded, or NULL. */
static const char *memx_dedup_range_refusal(MemxDedup *dd,
                                            const MemxRamRange *r)
{
    if (qemu_ram_is_shared(r->block) || qemu_ram_get_fd(r->block) >= 0) {
        return "shared or file-backed RAM";
    }
    if (qemu_ram_pagesize(r->block) != qemu_real_host_page_size()) {
        return "RAM in huge pages (hugetlbfs)";
    }
    if (((uintptr_t)r->host - r->start) % dd->granularity) {
        return "the host mapping is not aligned to the granularity";
    }
    return NULL;
}

static void memx_dedup_skip(MemxDedup *dd, const MemxRamRange *r,
                            const char *why)
{
    __org_qemu_memx_DedupSkip *skip = g_new0(__org_qemu_memx_DedupSkip, 1);

    skip->block = g_strdup(qemu_ram_get_idstr(r->block));
    skip->start = r->start;
    skip->length = r->end - r->start;
    skip->reason = g_strdup(why);
    g_ptr_array_add(dd->skipped, skip);
}

static void memx_dedup_finish(MemxDedup *dd, const char *reason)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    trace_memx_dedup_pass_end(dd->cur.pauses, dd->cur.given_back,
                              reason ?: "complete");
    timer_del(dd->step);
    dd->running = false;
    dd->passes++;
    dd->last = dd->cur;
    dd->total_given_back += dd->cur.given_back;
    dd->max_pause_ns = MAX(dd->max_pause_ns, dd->cur.max_pause_ns);
    dd->last_pass_ns = now - dd->pass_start_ns;
    g_free(dd->reason);
    dd->reason = g_strdup(reason);
    if (dd->interval_ms) {
        timer_mod(dd->timer, now / SCALE_MS + dd->interval_ms);
    }
}

/* Whether the RAM the system address space shows is still @map's. */
static bool memx_dedup_map_unchanged(const MemxRamMap *map)
{
    g_autofree MemxRamMap *now = g_new(MemxRamMap, 1);

    memx_ram_map_build(now);
    if (now->n != map->n) {
        return false;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (memcmp(&now->range[i], &map->range[i], sizeof(map->range[i]))) {
            return false;
        }
    }
    return true;
}

/*
 * One slice, with the vCPUs paused: rescan, plan, discard.  Returns a
 * reason to end the pass, or NULL.
 */
static const char *memx_dedup_slice(MemxDedup *dd, const MemxDedupSlice *s)
{
    const MemxRamRange *r = &dd->map.range[s->range];
    uint64_t first_pfn = s->start >> TARGET_PAGE_BITS;
    uint64_t npages = (s->end - s->start) >> TARGET_PAGE_BITS;
    uint8_t *host = r->host + (s->start - r->start);
    GuestRamRange guest = { s->start, s->end };
    GuestFreePageStats stats = { 0 };

    if (!memx_dedup_map_unchanged(&dd->map)) {
        return "guest RAM changed during the pass";
    }
    /* the guest ran since the pass began: it may have kexec'd */
    if (!memx_scan_check_live_kernel(&dd->scan)) {
        return dd->scan.reason;
    }
    /* forget what the unpaused scan saw here: only this scan decides */
    for (uint64_t pfn = first_pfn; pfn < first_pfn + npages; pfn++) {
        dd->bitmap[pfn / 64] &= ~(UINT64_C(1) << (pfn % 64));
    }
    if (!memx_scan_ranges(&dd->scan, &guest, 1, dd->bitmap, &stats)) {
        return dd->scan.reason;
    }
    if (mincore(host, npages * TARGET_PAGE_SIZE, dd->resident)) {
        return "mincore() failed on guest RAM";
    }
    g_array_set_size(dd->runs, 0);
    dedup_plan_range(dd->bitmap, dd->scan.nr_pfns, first_pfn, npages, host,
                     TARGET_PAGE_SIZE, dd->granularity / TARGET_PAGE_SIZE,
                     dd->resident, dd->runs, &dd->cur.plan);
    for (guint i = 0; i < dd->runs->len; i++) {
        const DedupRun *run = &g_array_index(dd->runs, DedupRun, i);
        uint64_t offset = r->offset + (s->start - r->start) +
                          (run->first << TARGET_PAGE_BITS);

        if (ram_block_discard_range(r->block, offset,
                                    run->npages << TARGET_PAGE_BITS)) {
            return "discarding guest RAM failed";
        }
    }
    return NULL;
}

/* Run the next slice from the main loop itself (see the top of the file). */
static void memx_dedup_schedule_step(MemxDedup *dd)
{
    timer_mod(dd->step, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
}

static void memx_dedup_step(void *opaque)
{
    MemxDedup *dd = opaque;
    int64_t cpu0 = thread_cpu_ns(), t0, pause_ns;
    const MemxDedupSlice *s;
    const char *why;
    uint64_t resident_before = dd->cur.plan.resident_pages;

    if (!dd->running) {
        return;
    }
    if (dd->next_slice >= dd->slices->len) {
        memx_dedup_finish(dd, NULL);
        return;
    }
    why = memx_dedup_refusal();
    if (why) {
        memx_dedup_finish(dd, why);
        return;
    }
    s = &g_array_index(dd->slices, MemxDedupSlice, dd->next_slice++);
    t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    pause_all_vcpus();
    if (runstate_check(RUN_STATE_RESTORE_VM) ||
        runstate_check(RUN_STATE_INMIGRATE)) {
        dd->restore_pauses++;
    }
    WITH_RCU_READ_LOCK_GUARD() {
        why = memx_dedup_slice(dd, s);
    }
    resume_all_vcpus();
    pause_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0;
    dd->cur.pauses++;
    dd->cur.max_pause_ns = MAX(dd->cur.max_pause_ns, pause_ns);
    dd->cur.given_back += (dd->cur.plan.resident_pages - resident_before) *
                          TARGET_PAGE_SIZE;
    trace_memx_dedup_slice(s->start, s->end,
                           (dd->cur.plan.resident_pages - resident_before) *
                           TARGET_PAGE_SIZE, pause_ns, why ?: "");
    memx_dedup_add_cpu(dd, cpu0);
    if (why) {
        memx_dedup_finish(dd, why);
        return;
    }
    memx_dedup_schedule_step(dd);
}

/* Queue the slices of map range @i holding a granule that is all free. */
static void memx_dedup_queue_slices(MemxDedup *dd, size_t i)
{
    const MemxRamRange *r = &dd->map.range[i];
    uint64_t granule_pages = dd->granularity / TARGET_PAGE_SIZE;

    for (uint64_t start = r->start; start < r->end;) {
        uint64_t end = MIN(QEMU_ALIGN_DOWN(start, MEMX_DEDUP_SLICE) +
                           MEMX_DEDUP_SLICE, r->end);
        MemxDedupSlice s = { i, start, end };

        if (dedup_range_has_candidates(dd->bitmap, dd->scan.nr_pfns,
                                       start >> TARGET_PAGE_BITS,
                                       (end - start) >> TARGET_PAGE_BITS,
                                       granule_pages)) {
            g_array_append_val(dd->slices, s);
        }
        start = end;
    }
}

/* Start a pass: find the slices worth pausing for, then step through them. */
static bool memx_dedup_start(MemxDedup *dd, Error **errp)
{
    int64_t cpu0 = thread_cpu_ns();
    const char *why;
    bool ok;

    if (dd->running) {
        error_setg(errp, "a memdedup pass is already running");
        return false;
    }
    why = memx_dedup_refusal();
    if (why) {
        error_setg(errp, "memdedup cannot run: %s", why);
        g_free(dd->reason);
        dd->reason = g_strdup(why);
        return false;
    }
    dd->running = true;
    dd->pass_start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    dd->last_pass_cpu_ns = 0;
    memset(&dd->cur, 0, sizeof(dd->cur));
    g_ptr_array_set_size(dd->skipped, 0);
    g_array_set_size(dd->slices, 0);
    dd->next_slice = 0;
    memset(&dd->scan, 0, sizeof(dd->scan));
    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(&dd->map);
        for (size_t i = 0; i < dd->map.n; i++) {
            const char *skip = memx_dedup_range_refusal(dd, &dd->map.range[i]);

            if (skip) {
                memx_dedup_skip(dd, &dd->map.range[i], skip);
            }
        }
        ok = memx_scan_guest(&dd->map, &dd->scan, &dd->bitmap,
                             &dd->bitmap_words);
        for (size_t i = 0; ok && i < dd->map.n; i++) {
            const MemxRamRange *r = &dd->map.range[i];

            if (memx_dedup_range_refusal(dd, r)) {
                continue;
            }
            memx_dedup_queue_slices(dd, i);
        }
    }
    memx_dedup_add_cpu(dd, cpu0);
    if (!ok) {
        /* a pass that could not look at the guest still counts */
        memx_dedup_finish(dd, dd->scan.reason);
        return true;
    }
    memx_dedup_schedule_step(dd);
    return true;
}

static void memx_dedup_timer(void *opaque)
{
    MemxDedup *dd = opaque;

    if (!memx_dedup_start(dd, NULL) && !dd->running) {
        /* refused for now: try again next interval */
        timer_mod(dd->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  dd->interval_ms);
    }
}

/* A pass ends when the VM stops to load or save its state, or migrates. */
static void memx_dedup_vm_state_change(void *opaque, bool running,
                                       RunState state)
{
    MemxDedup *dd = opaque;
    const char *why = memx_dedup_state_refusal(state);

    if (dd->running && why) {
        memx_dedup_finish(dd, why);
    }
}

static ResettableState *memx_dedup_get_reset_state(Object *obj)
{
    return &MEMX_DEDUP(obj)->reset_state;
}

/*
 * The guest a pass looked at is gone.  This also catches a snapshot
 * loaded while the VM was already stopped, which changes no run state.
 */
static void memx_dedup_reset_enter(Object *obj, ResetType type)
{
    MemxDedup *dd = MEMX_DEDUP(obj);

    if (dd->running) {
        memx_dedup_finish(dd, type == RESET_TYPE_SNAPSHOT_LOAD ?
                          "a snapshot was loaded (loadvm)" :
                          "the machine was reset");
    }
}

static void memx_dedup_complete(UserCreatable *uc, Error **errp)
{
    MemxDedup *dd = MEMX_DEDUP(uc);

    if (memx_dedup) {
        error_setg(errp, "only one %s object may exist", TYPE_MEMX_DEDUP);
        return;
    }
    if (dd->granularity != TARGET_PAGE_SIZE && dd->granularity != 2 * MiB) {
        error_setg(errp, "granularity must be 4K or 2M, not %" PRIu64,
                   dd->granularity);
        return;
    }
    if (dd->interval_ms && dd->interval_ms < 100) {
        error_setg(errp, "interval-ms must be 0 (passes on request only) or "
                   "at least 100, not %" PRIu32, dd->interval_ms);
        return;
    }
    dd->slices = g_array_new(false, false, sizeof(MemxDedupSlice));
    dd->runs = g_array_new(false, false, sizeof(DedupRun));
    dd->skipped = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qapi_free___org_qemu_memx_DedupSkip);
    dd->resident = g_malloc(MEMX_DEDUP_SLICE / TARGET_PAGE_SIZE);
    dd->step = timer_new_ns(QEMU_CLOCK_REALTIME, memx_dedup_step, dd);
    dd->timer = timer_new_ms(QEMU_CLOCK_REALTIME, memx_dedup_timer, dd);
    dd->vm_state_entry =
        qemu_add_vm_change_state_handler(memx_dedup_vm_state_change, dd);
    qemu_register_resettable(OBJECT(dd));
    if (dd->interval_ms) {
        timer_mod(dd->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  dd->interval_ms);
    }
    dd->completed = true;
    memx_dedup = dd;
}

static bool memx_dedup_can_be_deleted(UserCreatable *uc)
{
    return !MEMX_DEDUP(uc)->running;
}

static void memx_dedup_finalize(Object *obj)
{
    MemxDedup *dd = MEMX_DEDUP(obj);

    if (!dd->completed) {
        return;
    }
    qemu_unregister_resettable(obj);
    qemu_del_vm_change_state_handler(dd->vm_state_entry);
    timer_free(dd->timer);
    timer_free(dd->step);
    g_array_free(dd->slices, true);
    g_array_free(dd->runs, true);
    g_ptr_array_free(dd->skipped, true);
    g_free(dd->resident);
    g_free(dd->bitmap);
    g_free(dd->reason);
    memx_dedup = NULL;
}

/* The properties can only be set before the object is complete. */
static bool memx_dedup_settable(MemxDedup *dd, const char *name, Error **errp)
{
    if (dd->completed) {
        error_setg(errp, "'%s' cannot be changed once created", name);
        return false;
    }
    return true;
}

static void prop_get_interval(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    visit_type_uint32(v, name, &MEMX_DEDUP(obj)->interval_ms, errp);
}

static void prop_set_interval(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    MemxDedup *dd = MEMX_DEDUP(obj);

    if (memx_dedup_settable(dd, name, errp)) {
        visit_type_uint32(v, name, &dd->interval_ms, errp);
    }
}

static void prop_get_granularity(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    visit_type_size(v, name, &MEMX_DEDUP(obj)->granularity, errp);
}

static void prop_set_granularity(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    MemxDedup *dd = MEMX_DEDUP(obj);

    if (memx_dedup_settable(dd, name, errp)) {
        visit_type_size(v, name, &dd->granularity, errp);
    }
}

static void memx_dedup_init(Object *obj)
{
    MEMX_DEDUP(obj)->granularity = 2 * MiB;
}

static void memx_dedup_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    ResettableClass *rc = RESETTABLE_CLASS(oc);

    ucc->complete = memx_dedup_complete;
    ucc->can_be_deleted = memx_dedup_can_be_deleted;
    rc->get_state = memx_dedup_get_reset_state;
    rc->phases.enter = memx_dedup_reset_enter;
    object_class_property_add(oc, "interval-ms", "uint32", prop_get_interval,
                              prop_set_interval, NULL, NULL);
    object_class_property_set_description(oc, "interval-ms",
        "milliseconds from one pass's end to the next (0: on request only)");
    object_class_property_add(oc, "granularity", "size", prop_get_granularity,
                              prop_set_granularity, NULL, NULL);
    object_class_property_set_description(oc, "granularity",
        "unit of discard: 2M (keeps host huge pages whole) or 4K");
}

static const TypeInfo memx_dedup_info = {
    .name = TYPE_MEMX_DEDUP,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(MemxDedup),
    .instance_init = memx_dedup_init,
    .instance_finalize = memx_dedup_finalize,
    .class_init = memx_dedup_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { TYPE_RESETTABLE_INTERFACE },
        { }
    },
};

static void memx_dedup_register_types(void)
{
    type_register_static(&memx_dedup_info);
}

type_init(memx_dedup_register_types);

void qmp___org_qemu_memx_dedup_run(Error **errp)
{
    if (!memx_dedup) {
        error_setg(errp, "no %s object: add -object %s,id=ID",
                   TYPE_MEMX_DEDUP, TYPE_MEMX_DEDUP);
        return;
    }
    memx_dedup_start(memx_dedup, errp);
}

__org_qemu_memx_DedupInfo *qmp___org_qemu_memx_query_dedup(Error **errp)
{
    MemxDedup *dd = memx_dedup;
    __org_qemu_memx_DedupInfo *info;
    __org_qemu_memx_DedupSkipList **tail;
    const DedupPlanStats *plan;

    info = g_new0(__org_qemu_memx_DedupInfo, 1);
    if (!dd) {
        /* nothing configured is a state to report, not an error */
        info->reason = g_strdup_printf("no %s object: add -object %s,id=ID",
                                       TYPE_MEMX_DEDUP, TYPE_MEMX_DEDUP);
        return info;
    }
    plan = &dd->last.plan;
    tail = &info->skipped;
    info->configured = true;
    info->has_running = true;
    info->running = dd->running;
    info->has_passes = true;
    info->passes = dd->passes;
    info->has_interval_ms = true;
    info->interval_ms = dd->interval_ms;
    info->has_granularity = true;
    info->granularity = dd->granularity;
    info->has_last_given_back_bytes = true;
    info->last_given_back_bytes = dd->last.given_back;
    info->has_total_given_back_bytes = true;
    info->total_given_back_bytes = dd->total_given_back;
    info->has_last_free_bytes = true;
    info->last_free_bytes = plan->free_pages * TARGET_PAGE_SIZE;
    info->has_last_already_back_bytes = true;
    info->last_already_back_bytes = plan->already_back * TARGET_PAGE_SIZE;
    info->has_last_kept_pattern_bytes = true;
    info->last_kept_pattern_bytes = plan->kept_pattern * TARGET_PAGE_SIZE;
    info->has_last_kept_partial_bytes = true;
    info->last_kept_partial_bytes = plan->kept_partial * TARGET_PAGE_SIZE;
    info->has_last_pauses = true;
    info->last_pauses = dd->last.pauses;
    info->has_last_max_pause_us = true;
    info->last_max_pause_us = dd->last.max_pause_ns / SCALE_US;
    info->has_max_pause_us = true;
    info->max_pause_us = dd->max_pause_ns / SCALE_US;
    info->has_restore_pauses = true;
    info->restore_pauses = dd->restore_pauses;
    info->has_last_pass_us = true;
    info->last_pass_us = dd->last_pass_ns / SCALE_US;
    info->has_last_pass_cpu_us = true;
    info->last_pass_cpu_us = dd->last_pass_cpu_ns / SCALE_US;
    info->has_cpu_time_us = true;
    info->cpu_time_us = dd->cpu_ns / SCALE_US;
    info->reason = g_strdup(dd->reason);
    for (guint i = 0; i < dd->skipped->len; i++) {
        const __org_qemu_memx_DedupSkip *s = g_ptr_array_index(dd->skipped, i);
        __org_qemu_memx_DedupSkip *copy = g_new0(__org_qemu_memx_DedupSkip, 1);

        *copy = *s;
        copy->block = g_strdup(s->block);
        copy->reason = g_strdup(s->reason);
        QAPI_LIST_APPEND(tail, copy);
    }
    return info;
}

void hmp_info_memx_dedup(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_DedupInfo) info =
        qmp___org_qemu_memx_query_dedup(NULL);

    if (!info->configured) {
        monitor_printf(mon, "memdedup: not configured (%s)\n", info->reason);
        return;
    }
    monitor_printf(mon, "memdedup: %s, %" PRIu64 " passes, every %" PRIu32
                   " ms (0: on request), granularity %" PRIu64 " KiB\n",
                   info->running ? "pass running" : "idle", info->passes,
                   info->interval_ms, info->granularity / KiB);
    monitor_printf(mon, "given back: last pass %" PRIu64 " MiB, total %"
                   PRIu64 " MiB\n", info->last_given_back_bytes / MiB,
                   info->total_given_back_bytes / MiB);
    monitor_printf(mon, "last pass: free %" PRIu64 " MiB, already back %"
                   PRIu64 " MiB, kept for a pattern %" PRIu64
                   " KiB, kept in partly used granules %" PRIu64 " MiB\n",
                   info->last_free_bytes / MiB,
                   info->last_already_back_bytes / MiB,
                   info->last_kept_pattern_bytes / KiB,
                   info->last_kept_partial_bytes / MiB);
    monitor_printf(mon, "last pass: %" PRIu64 " pauses, longest %" PRIu64
                   " us, took %" PRIu64 " us (%" PRIu64 " us CPU); longest "
                   "pause ever %" PRIu64 " us, CPU in all %" PRIu64 " us\n",
                   info->last_pauses, info->last_max_pause_us,
                   info->last_pass_us, info->last_pass_cpu_us,
                   info->max_pause_us, info->cpu_time_us);
    if (info->restore_pauses) {
        monitor_printf(mon, "%" PRIu64 " pauses while a snapshot or an "
                       "incoming migration was loading (a bug)\n",
                       info->restore_pauses);
    }
    if (info->reason) {
        monitor_printf(mon, "last pass stopped: %s\n", info->reason);
    }
    for (__org_qemu_memx_DedupSkipList *s = info->skipped; s; s = s->next) {
        monitor_printf(mon, "skipped %s at 0x%" PRIx64 " (%" PRIu64
                       " MiB): %s\n", s->value->block, s->value->start,
                       s->value->length / MiB, s->value->reason);
    }
}

void hmp_memx_dedup_run(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp___org_qemu_memx_dedup_run(&err);
    hmp_handle_error(mon, err);
}
