/*
 * __org.qemu-memx_numa-move: move a running guest's RAM to another host
 * NUMA node, hottest memory first, as a QEMU job.
 *
 * The job first binds each backend's memory policy to the target node
 * (no MPOL_MF_MOVE, so only new faults are affected and mmap_lock is held
 * briefly), then works in batches: it asks the kernel where the batch's
 * pages are (move_pages(2) with no nodes) and moves those elsewhere with
 * move_pages(2) to the one target, first one page per unit (a
 * transparent huge page moves whole with it), then the rest.
 * move_pages(2) takes the mmap lock for reading only; mbind with
 * MPOL_MF_MOVE over a whole backend would hold it for writing and stall
 * vCPU faults for the whole move.  Reports: numa-move-report.c.
 *
 * The order comes from migration-ext/numa-move-plan.c: hot units first,
 * as the page-activity tracker (page-activity.c) classifies them, then
 * warm, then cold, each in address order; classes are re-read after
 * every tracker period, so memory turning hot jumps the queue.  Order
 * working-set uses the working-set estimator's view instead: a unit is
 * hot when the guest accessed any of its pages in the last 10 s.  After
 * each batch the pages are looked up again: a unit is done when none of
 * its pages is present on another node.  Pages the kernel reports busy
 * come round again in a later pass, for at most MOVE_ROUNDS passes.
 *
 * Races: the guest keeps running.  A page it touches for the first time
 * during the move is allocated on the target (the policy); a page the
 * kernel migrates while a vCPU writes it is protected by the kernel's
 * migration entries.  The syscalls run in the thread pool, so the main
 * loop (and the monitor) stays responsive; the job's state is only
 * touched in its coroutine, in the main loop.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/job.h"
#include "qemu/main-loop.h"
#include "qemu/ratelimit.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qapi/qapi-events-memx.h"
#include "qobject/qdict.h"
#include "block/thread-pool.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "migration/blocker.h"
#include "migration/misc.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "system/hostmem.h"
#include "system/memx-page-activity.h"
#include "numa-move.h"
#include "memx/trace.h"

#ifdef CONFIG_NUMA
#include <numa.h>
#include <numaif.h>
#endif

NumaMoveJob *numa_move_running;

/* One move_pages(2) call, run in the thread pool. */
typedef struct MoveCall {
    void **pages;
    int *nodes;                     /* NULL: only ask where pages are */
    int *status;
    unsigned long count;
    int err;                        /* errno of a failed call */
} MoveCall;

static int move_call_worker(void *opaque)
{
    MoveCall *call = opaque;

#ifdef CONFIG_NUMA
    if (move_pages(0, call->count, call->pages, call->nodes, call->status,
                   MPOL_MF_MOVE) < 0) {
        call->err = errno;
    }
#else
    call->err = ENOSYS;
#endif
    return 0;
}

static void coroutine_fn move_call(MoveCall *call)
{
    call->err = 0;
    thread_pool_submit_co(move_call_worker, call);
}

static void move_range_free(gpointer data)
{
    MoveRange *r = data;

    numa_move_plan_destroy(&r->plan);
    g_free(r->page_node);
    g_free(r->id);
    object_unref(OBJECT(r->backend));
    g_free(r);
}

/* Pages [first, first + n) of unit @unit, clipped to the range. */
static uint64_t unit_first_page(const MoveRange *r, uint64_t unit,
                                uint64_t *n)
{
    uint64_t first = unit * unit_pages(r);

    *n = MIN(unit_pages(r), r->nr_pages - first);
    return first;
}

static int apply_policy(MoveRange *r, HostMemPolicy policy,
                        const unsigned long *nodes)
{
#ifdef CONFIG_NUMA
    unsigned long maxnode = policy == HOST_MEM_POLICY_DEFAULT ?
                            0 : MAX_NODES + 1;

    if (mbind(r->host, r->size, policy,
              policy == HOST_MEM_POLICY_DEFAULT ? NULL : nodes, maxnode,
              0)) {
        return -errno;
    }
    return 0;
#else
    return -ENOSYS;
#endif
}

/* Look up where the pages of @call are now; false with @errp set. */
static bool coroutine_fn look_up(MoveRange *r, MoveCall *call,
                                 const uint64_t *index, Error **errp)
{
    call->nodes = NULL;
    move_call(call);
    if (call->err) {
        error_setg_errno(errp, call->err, "cannot look up the host nodes of "
                         "memdev '%s'", r->id);
        return false;
    }
    for (unsigned long i = 0; i < call->count; i++) {
        /* -ENOENT: not present; -EFAULT: the zero page or unmapped */
        r->page_node[index[i]] = call->status[i] >= 0 ? call->status[i] :
                                 NODE_NOT_PRESENT;
    }
    return true;
}

/*
 * Move the pages of @call to the target and count what the kernel
 * refused; then look them up again.  false with @errp set when the
 * syscall itself failed.
 */
static bool coroutine_fn move_and_look_up(NumaMoveJob *s, MoveRange *r,
                                          MoveCall *call, int *nodes,
                                          const uint64_t *index, Error **errp)
{
    for (unsigned long i = 0; i < call->count; i++) {
        nodes[i] = s->node;
    }
    call->nodes = nodes;
    move_call(call);
    if (call->err) {
        error_setg_errno(errp, call->err, "move_pages failed on memdev '%s'",
                         r->id);
        return false;
    }
    for (unsigned long i = 0; i < call->count; i++) {
        switch (call->status[i]) {
        case -EBUSY:
            s->busy_pages++;
            break;
        case -EACCES:
            s->refused_pages++;
            break;
        case -ENOENT:
        case -EFAULT:
            break;
        default:
            if (call->status[i] < 0) {
                s->failed_pages++;
            }
        }
    }
    return look_up(r, call, index, errp);
}

/*
 * Move one batch of units of @r.  Where the pages are is looked up
 * first.  With units of several pages, the first page of each unit that
 * is elsewhere goes alone (a transparent huge page moves whole with it,
 * and its tail pages would only report EBUSY), then whatever is still
 * elsewhere.  Returns the bytes moved, or -1 with @errp set when a
 * syscall itself failed.
 */
static int64_t coroutine_fn move_batch(NumaMoveJob *s, MoveRange *r,
                                       const uint64_t *units, size_t n,
                                       Error **errp)
{
    uint64_t page_size = qemu_real_host_page_size();
    g_autofree void **pages = g_new(void *, BATCH_PAGES);
    g_autofree uint64_t *index = g_new(uint64_t, BATCH_PAGES);
    g_autofree uint64_t *all = g_new(uint64_t, BATCH_PAGES);
    g_autofree int *nodes = g_new(int, BATCH_PAGES);
    g_autofree int *status = g_new(int, BATCH_PAGES);
    g_autofree bool *elsewhere = g_new0(bool, BATCH_PAGES);
    MoveCall call = { .pages = pages, .status = status };
    unsigned long nr_all;
    int64_t moved = 0;

    for (size_t u = 0; u < n; u++) {
        uint64_t count, first = unit_first_page(r, units[u], &count);

        for (uint64_t p = first; p < first + count; p++) {
            if (call.count < BATCH_PAGES) {
                pages[call.count] = r->host + p * page_size;
                all[call.count++] = p;
            }
        }
    }
    nr_all = call.count;
    if (!look_up(r, &call, all, errp)) {
        return -1;
    }
    for (unsigned long i = 0; i < nr_all; i++) {
        elsewhere[i] = page_needs_move(s, r, all[i]);
    }
    for (int pass = unit_pages(r) > 1 ? 0 : 1; pass < 2; pass++) {
        bool unit_taken = false;
        uint64_t unit = UINT64_MAX;

        call.count = 0;
        for (unsigned long i = 0; i < nr_all; i++) {
            uint64_t u = all[i] / unit_pages(r);

            if (u != unit) {
                unit = u;
                unit_taken = false;
            }
            if (!page_needs_move(s, r, all[i]) || (pass == 0 && unit_taken)) {
                continue;
            }
            unit_taken = true;
            pages[call.count] = r->host + all[i] * page_size;
            index[call.count++] = all[i];
        }
        if (call.count && !move_and_look_up(s, r, &call, nodes, index, errp)) {
            return -1;
        }
        if (pass == 0 && call.count) {
            /* the rest of each unit may have moved with its first page */
            for (unsigned long i = 0; i < nr_all; i++) {
                pages[i] = r->host + all[i] * page_size;
            }
            call.count = nr_all;
            if (!look_up(r, &call, all, errp)) {
                return -1;
            }
        }
    }
    for (unsigned long i = 0; i < nr_all; i++) {
        moved += elsewhere[i] && r->page_node[all[i]] == s->node ?
                 page_size : 0;
    }
    for (size_t u = 0; u < n; u++) {
        uint64_t count, first = unit_first_page(r, units[u], &count);
        bool done = true;

        for (uint64_t p = first; p < first + count && done; p++) {
            done = !page_needs_move(s, r, p);
        }
        if (done) {
            numa_move_plan_settle(&r->plan, units[u]);
            job_progress_update(&s->common, count * page_size);
        }
    }
    return moved;
}

static int coroutine_fn numa_move_run(Job *job, Error **errp)
{
    NumaMoveJob *s = container_of(job, NumaMoveJob, common);
    DECLARE_BITMAP(target, MAX_NODES + 1) = { 0 };
    int ret = 0;

    set_bit(s->node, target);
    s->start_ns = get_clock();
    for (guint i = 0; i < s->ranges->len; i++) {
        MoveRange *r = g_ptr_array_index(s->ranges, i);
        int err = apply_policy(r, HOST_MEM_POLICY_BIND, target);

        if (err) {
            error_setg_errno(errp, -err, "cannot bind memdev '%s' to host "
                             "node %u", r->id, s->node);
            ret = err;
            goto out;
        }
        bitmap_copy(r->backend->host_nodes, target, MAX_NODES + 1);
        r->backend->policy = HOST_MEM_POLICY_BIND;
    }

    for (guint i = 0; i < s->ranges->len && !ret; i++) {
        MoveRange *r = g_ptr_array_index(s->ranges, i);
        g_autofree uint64_t *units = g_new(uint64_t, BATCH_PAGES);
        size_t batch = MAX(1, BATCH_PAGES / unit_pages(r));
        size_t n;

        while (!job_is_cancelled(job)) {
            const PageActivity *pa =
                s->order == ORG_QEMU_MEMX_NUMA_MOVE_ORDER_WORKING_SET ?
                memx_working_set_classes_of(r->block) :
                memx_page_activity_of(r->block);
            int64_t moved;

            if (pa && pa->unit_shift != r->unit_shift) {
                pa = NULL;      /* classes in other units: not usable */
            }
            n = numa_move_plan_next(&r->plan, pa, units, batch, NULL);
            s->rounds = MAX(s->rounds, r->plan.round + 1);
            if (!n) {
                break;
            }
            moved = move_batch(s, r, units, n, errp);
            trace_memx_numa_move_batch(r->id, s->node, n, moved);
            if (moved < 0) {
                ret = -EIO;
                break;
            }
            s->moved_bytes += moved;
            numa_move_check_hot_local(s);
            numa_move_publish(s);
            if (s->limited && moved) {
                job_sleep_ns(job, ratelimit_calculate_delay(&s->limit, moved));
            } else {
                job_pause_point(job);
            }
        }
    }
    if (!ret && job_is_cancelled(job)) {
        ret = -ECANCELED;
    }
    if (!ret) {
        uint64_t left = numa_move_pages_left(s);

        if (left) {
            error_setg(errp, "%" PRIu64 " KiB could not be moved to host "
                       "node %u after %u passes (%" PRIu64 " pages busy, %"
                       PRIu64 " refused, %" PRIu64 " failed)",
                       left * qemu_real_host_page_size() >> 10, s->node,
                       s->rounds, s->busy_pages, s->refused_pages,
                       s->failed_pages);
            ret = -EBUSY;
        }
    }
out:
    if (ret && ret != -EBUSY) {
        /* cancelled or failed: the policy goes back to what it was */
        for (guint i = 0; i < s->ranges->len; i++) {
            MoveRange *r = g_ptr_array_index(s->ranges, i);

            if (apply_policy(r, r->old_policy, r->old_nodes)) {
                warn_report("cannot restore the memory policy of memdev "
                            "'%s'", r->id);
            }
            r->backend->policy = r->old_policy;
            bitmap_copy(r->backend->host_nodes, r->old_nodes, MAX_NODES + 1);
        }
    }
    s->end_ns = get_clock();
    numa_move_check_hot_local(s);
    if (ret && errp && *errp) {
        s->error = g_strdup(error_get_pretty(*errp));
    }
    return ret;
}

static void numa_move_clean(Job *job)
{
    NumaMoveJob *s = container_of(job, NumaMoveJob, common);
    __org_qemu_memx_NumaMoveInfo *info;

    info = numa_move_publish(s);
    info->status = JOB_STATUS_CONCLUDED;
    qapi_event_send___org_qemu_memx_numa_move_completed(info);
    migrate_del_blocker(&s->blocker);
    if (s->limited) {
        ratelimit_destroy(&s->limit);
    }
    g_ptr_array_free(s->ranges, true);
    g_free(s->error);
    numa_move_running = NULL;
}

static const JobDriver numa_move_job_driver = {
    .instance_size = sizeof(NumaMoveJob),
    .job_type      = JOB_TYPE___ORG_QEMU_MEMX_NUMA_MOVE,
    .run           = numa_move_run,
    .clean         = numa_move_clean,
};

typedef struct CollectBackends {
    GPtrArray *backends;
    const char *only;
} CollectBackends;

static int collect_backend(Object *obj, void *opaque)
{
    CollectBackends *cb = opaque;
    HostMemoryBackend *backend;
    const char *id;

    if (!object_dynamic_cast(obj, TYPE_MEMORY_BACKEND)) {
        return 0;
    }
    backend = MEMORY_BACKEND(obj);
    id = object_get_canonical_path_component(obj);
    if (!backend->mr.ram_block || (cb->only && strcmp(cb->only, id))) {
        return 0;
    }
    g_ptr_array_add(cb->backends, backend);
    return 0;
}

/* Why @backend cannot be moved, or NULL. */
static const char *backend_unmovable(HostMemoryBackend *backend)
{
    RAMBlock *block = backend->mr.ram_block;

    if (backend->share) {
        return "it is shared (share=on): other processes map its pages";
    }
    if (qemu_ram_pagesize(block) != qemu_real_host_page_size()) {
        return "it is backed by huge pages (hugetlbfs), which this job "
               "does not move";
    }
    if (backend->guest_memfd) {
        return "its memory is private to the guest (guest_memfd)";
    }
    return NULL;
}

static bool node_usable(uint16_t node, Error **errp)
{
#ifdef CONFIG_NUMA
    struct bitmask *allowed;
    bool ok;

    if (numa_available() < 0) {
        error_setg(errp, "the host kernel has no NUMA support");
        return false;
    }
    if (node > numa_max_node() || node > MAX_NODES) {
        error_setg(errp, "host NUMA node %u does not exist (the highest is "
                   "%d)", node, numa_max_node());
        return false;
    }
    allowed = numa_get_mems_allowed();
    ok = numa_bitmask_isbitset(allowed, node);
    numa_bitmask_free(allowed);
    if (!ok) {
        error_setg(errp, "host NUMA node %u is not in this process's "
                   "Mems_allowed (cpuset)", node);
    }
    return ok;
#else
    error_setg(errp, "this QEMU was built without libnuma");
    return false;
#endif
}

void qmp___org_qemu_memx_numa_move(const char *job_id, const char *memdev,
                                   uint16_t node, bool has_order,
                                   __org_qemu_memx_NumaMoveOrder order,
                                   bool has_rate_limit, uint64_t rate_limit,
                                   Error **errp)
{
    CollectBackends cb = { .backends = g_ptr_array_new(), .only = memdev };
    g_autoptr(GPtrArray) backends = cb.backends;
    NumaMoveJob *s;

    if (!has_order) {
        order = ORG_QEMU_MEMX_NUMA_MOVE_ORDER_HOT_FIRST;
    }
    if (numa_move_running) {
        error_setg(errp, "NUMA move job '%s' is still running",
                   numa_move_running->common.id);
        return;
    }
    if (migration_is_running()) {
        error_setg(errp, "a migration or background snapshot is running; "
                   "move guest RAM after it ends");
        return;
    }
    if (!node_usable(node, errp)) {
        return;
    }
    if (order != ORG_QEMU_MEMX_NUMA_MOVE_ORDER_ADDRESS &&
        !memx_page_activity_provider()) {
        error_setg(errp, "%s order needs a page-activity tracker",
                   __org_qemu_memx_NumaMoveOrder_str(order));
        error_append_hint(errp, "Add one with -object x-memx-page-activity,"
                          "id=ID (or object-add), or use order 'address'.\n");
        return;
    }
    if (ram_block_discard_is_disabled()) {
        error_setg(errp, "guest RAM is pinned (VFIO or another device that "
                   "maps it directly); its pages cannot be moved");
        return;
    }
    object_child_foreach(object_get_objects_root(), collect_backend, &cb);
    if (!backends->len) {
        error_setg(errp, memdev ? "memdev '%s' does not exist" :
                   "no memory backend to move", memdev);
        return;
    }
    for (guint i = 0; i < backends->len; i++) {
        HostMemoryBackend *backend = g_ptr_array_index(backends, i);
        const char *why = backend_unmovable(backend);

        if (why) {
            const char *id =
                object_get_canonical_path_component(OBJECT(backend));

            error_setg(errp, "memdev '%s' cannot be moved: %s", id, why);
            return;
        }
    }

    s = job_create(job_id, &numa_move_job_driver, NULL,
                   qemu_get_aio_context(), JOB_DEFAULT, NULL, NULL, errp);
    if (!s) {
        return;
    }
    error_setg(&s->blocker, "a NUMA move job (%s) is moving guest RAM",
               job_id);
    if (migrate_add_blocker(&s->blocker, errp) < 0) {
        job_early_fail(&s->common);
        return;
    }
    s->node = node;
    s->order = order;
    if (has_rate_limit && rate_limit) {
        s->limited = true;
        ratelimit_init(&s->limit);
        ratelimit_set_speed(&s->limit, rate_limit * MiB, 100 * SCALE_MS);
    }
    s->ranges = g_ptr_array_new_with_free_func(move_range_free);
    for (guint i = 0; i < backends->len; i++) {
        HostMemoryBackend *backend = g_ptr_array_index(backends, i);
        MoveRange *r = g_new0(MoveRange, 1);
        const PageActivity *pa;

        r->backend = backend;
        object_ref(OBJECT(backend));
        r->id = g_strdup(object_get_canonical_path_component(OBJECT(backend)));
        r->block = backend->mr.ram_block;
        r->host = memory_region_get_ram_ptr(&backend->mr);
        r->size = memory_region_size(&backend->mr);
        r->nr_pages = r->size / qemu_real_host_page_size();
        pa = memx_page_activity_of(r->block);
        r->unit_shift = pa ? pa->unit_shift : 21;
        numa_move_plan_init(&r->plan,
                            DIV_ROUND_UP(r->size, UINT64_C(1) << r->unit_shift),
                            order == ORG_QEMU_MEMX_NUMA_MOVE_ORDER_ADDRESS ?
                            NUMA_MOVE_ORDER_ADDRESS : NUMA_MOVE_ORDER_HOT_FIRST,
                            MOVE_ROUNDS);
        r->page_node = g_new(int16_t, r->nr_pages);
        for (uint64_t p = 0; p < r->nr_pages; p++) {
            r->page_node[p] = NODE_UNKNOWN;
        }
        r->old_policy = backend->policy;
        bitmap_copy(r->old_nodes, backend->host_nodes, MAX_NODES + 1);
        s->total_bytes += r->size;
        g_ptr_array_add(s->ranges, r);
    }
    job_progress_set_remaining(&s->common, s->total_bytes);
    numa_move_running = s;
    numa_move_publish(s);
    job_start(&s->common);
}

void hmp_memx_numa_move(Monitor *mon, const QDict *qdict)
{
    const char *order = qdict_get_try_str(qdict, "order");
    int64_t node = qdict_get_int(qdict, "node");
    Error *err = NULL;
    int value = 0;

    if (order) {
        value = qapi_enum_parse(&__org_qemu_memx_NumaMoveOrder_lookup, order,
                                -1, &err);
    }
    if (!err && (node < 0 || node > UINT16_MAX)) {
        error_setg(&err, "node must be 0 to %d", UINT16_MAX);
    }
    if (!err) {
        qmp___org_qemu_memx_numa_move(qdict_get_str(qdict, "job_id"), NULL,
                                      node, order != NULL, value, false, 0,
                                      &err);
    }
    hmp_handle_error(mon, err);
}
