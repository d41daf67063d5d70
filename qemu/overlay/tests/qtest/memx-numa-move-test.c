/*
 * qtests for qemu-memx's page-activity tracker and NUMA move job that
 * need no second host node: the dirty-log provider classifying memory
 * the test writes, the object's refusals, a move to the node the memory
 * is on already, and the move's refusals; and the tracker's dirty log
 * during a live migration, which must not take migration's dirty bits.
 * The moves between two nodes
 * are tested in a two-node VM (tests/numa/numa_move_test.py).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "migration/framework.h"
#include "migration/migration-qmp.h"
#include "migration/migration-util.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "memx-migration-test.h"

#define MIB (1024 * 1024)
#define HOT_ADDR (32 * MIB)

static QDict *query_activity(QTestState *qts)
{
    return qtest_qmp_assert_success_ref(qts,
        "{ 'execute': '__org.qemu-memx_query-page-activity' }");
}

static QDict *first_backend(QDict *info)
{
    QList *backends = qdict_get_qlist(info, "backends");

    g_assert_nonnull(backends);
    g_assert_cmpint(qlist_size(backends), ==, 1);
    return qobject_to(QDict, qlist_peek(backends));
}

/* Writes the test makes every period are found hot, the rest cold. */
static void test_dirty_log_classes(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M -object "
                                 "x-memx-page-activity,id=pa0,"
                                 "provider=dirty-log,period-ms=20,"
                                 "history=4,hot-min=3");
    QDict *info, *backend;
    g_autofree char *hmp = NULL;

    for (int i = 0; i < 12; i++) {
        qtest_memset(qts, HOT_ADDR, i, 2 * MIB);
        g_usleep(25 * 1000);
    }
    info = query_activity(qts);
    g_assert_true(qdict_get_bool(info, "active"));
    g_assert_cmpstr(qdict_get_str(info, "provider"), ==, "dirty-log");
    g_assert_cmpint(qdict_get_int(info, "periods"), >=, 4);
    backend = first_backend(info);
    g_assert_cmpint(qdict_get_int(backend, "size"), ==, 64 * MIB);
    /* the 2 MiB written, and at most one unit either side of it */
    g_assert_cmpint(qdict_get_int(backend, "hot-bytes"), >=, 2 * MIB);
    g_assert_cmpint(qdict_get_int(backend, "hot-bytes"), <=, 6 * MIB);
    g_assert_cmpint(qdict_get_int(backend, "cold-bytes"), >=, 50 * MIB);
    qobject_unref(info);
    hmp = qtest_hmp(qts, "info memx-page-activity");
    g_assert_nonnull(strstr(hmp, "provider dirty-log"));
    g_assert_nonnull(strstr(hmp, "provider tcg-tlb: unavailable"));
    qtest_quit(qts);
}

static void assert_error_says(QDict *rsp, const char *what)
{
    const char *desc;

    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    if (!strstr(desc, what)) {
        g_error("expected an error saying '%s', got '%s'", what, desc);
    }
    qobject_unref(rsp);
}

static void test_tracker_refusals(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M");
    QDict *info = query_activity(qts);

    g_assert_false(qdict_get_bool(info, "active"));
    qobject_unref(info);
    assert_error_says(qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments':"
                                " { 'qom-type': 'x-memx-page-activity',"
                                "   'id': 'pa0', 'provider': 'tcg-tlb' } }"),
                      "needs the TCG accelerator");
    assert_error_says(qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments':"
                                " { 'qom-type': 'x-memx-page-activity',"
                                "   'id': 'pa0', 'period-ms': 5 } }"),
                      "period-ms must be 10 to 60000");
    assert_error_says(qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments':"
                                " { 'qom-type': 'x-memx-page-activity',"
                                "   'id': 'pa0', 'history': 4,"
                                "   'hot-min': 5 } }"),
                      "hot-min must be 1 to history");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments':"
                             " { 'qom-type': 'x-memx-page-activity',"
                             "   'id': 'pa0' } }");
    assert_error_says(qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments':"
                                " { 'qom-type': 'x-memx-page-activity',"
                                "   'id': 'pa1' } }"),
                      "only one");
    assert_error_says(qtest_qmp(qts, "{ 'execute': 'qom-set', 'arguments':"
                                " { 'path': '/objects/pa0',"
                                "   'property': 'history', 'value': 2 } }"),
                      "cannot be changed");
    /* deleted, and added again */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', 'arguments':"
                             " { 'id': 'pa0' } }");
    info = query_activity(qts);
    g_assert_false(qdict_get_bool(info, "active"));
    qobject_unref(info);
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments':"
                             " { 'qom-type': 'x-memx-page-activity',"
                             "   'id': 'pa2', 'provider': 'dirty-log' } }");
    qtest_quit(qts);
}

/* Wait for the move to end and return its report. */
static QDict *wait_move(QTestState *qts)
{
    for (int tries = 0; tries < 600; tries++) {
        QDict *rsp = qtest_qmp(qts,
            "{ 'execute': '__org.qemu-memx_query-numa-move' }");
        QList *list = qdict_get_qlist(rsp, "return");
        QDict *info = qobject_to(QDict, qlist_peek(list));

        if (info && !strcmp(qdict_get_str(info, "status"), "concluded")) {
            qobject_ref(info);
            qobject_unref(rsp);
            return info;
        }
        qobject_unref(rsp);
        g_usleep(50 * 1000);
    }
    g_assert_not_reached();
}

/*
 * Everything is on node 0 already (this host may have one node): the
 * move moves nothing, ends, and says where the memory is.
 */
static void test_move_in_place(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M -object "
                                 "x-memx-page-activity,id=pa0,"
                                 "provider=dirty-log,period-ms=20");
    QDict *info, *rsp;
    QList *residency;
    g_autofree char *hmp = NULL;
    int64_t present = 0;

    qtest_memset(qts, HOT_ADDR, 0x11, 4 * MIB);
    g_usleep(100 * 1000);
    qtest_qmp_assert_success(qts, "{ 'execute': '__org.qemu-memx_numa-move',"
                             "  'arguments': { 'job-id': 'm0', 'node': 0 } }");
    info = wait_move(qts);
    g_assert_cmpstr(qdict_get_str(info, "job-id"), ==, "m0");
    g_assert_cmpstr(qdict_get_str(info, "order"), ==, "hot-first");
    g_assert_false(qdict_get_bool(info, "cancelled"));
    g_assert_false(qdict_haskey(info, "error"));
    g_assert_cmpint(qdict_get_int(info, "total-bytes"), ==, 64 * MIB);
    g_assert_cmpint(qdict_get_int(info, "moved-bytes"), ==, 0);
    g_assert_cmpint(qdict_get_int(info, "remaining-bytes"), ==, 0);
    residency = qdict_get_qlist(info, "residency");
    for (const QListEntry *e = qlist_first(residency); e; e = qlist_next(e)) {
        QDict *nb = qobject_to(QDict, qlist_entry_obj(e));

        g_assert_cmpint(qdict_get_int(nb, "node"), <=, 0);
        if (qdict_get_int(nb, "node") == 0) {
            present = qdict_get_int(nb, "bytes");
        }
    }
    /* what the test wrote is present; the backend now binds to node 0 */
    g_assert_cmpint(present, >=, 4 * MIB);
    qobject_unref(info);
    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get',"
        " 'arguments': { 'path': '/objects/pc.ram', 'property': 'policy' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, "bind");
    qobject_unref(rsp);
    hmp = qtest_hmp(qts, "info memx-numa-move");
    g_assert_nonnull(strstr(hmp, "job m0 (concluded): to host node 0"));
    /* the completion event carries the same report */
    rsp = qtest_qmp_eventwait_ref(qts, "__org.qemu-memx_NUMA_MOVE_COMPLETED");
    info = qdict_get_qdict(qdict_get_qdict(rsp, "data"), "info");
    g_assert_cmpstr(qdict_get_str(info, "job-id"), ==, "m0");
    g_assert_cmpint(qdict_get_int(info, "remaining-bytes"), ==, 0);
    qobject_unref(rsp);
    qtest_quit(qts);
}

static void test_move_refusals(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M");
    QDict *rsp;

    rsp = qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_query-numa-move' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(rsp, "return")), ==, 0);
    qobject_unref(rsp);
    assert_error_says(qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_numa-move',"
                                "  'arguments': { 'job-id': 'm',"
                                "                 'node': 500 } }"),
                      "does not exist");
    assert_error_says(qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_numa-move',"
                                "  'arguments': { 'job-id': 'm',"
                                "                 'node': 0 } }"),
                      "needs a page-activity tracker");
    assert_error_says(qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_numa-move',"
                                "  'arguments': { 'job-id': 'm', 'node': 0,"
                                "    'order': 'address', 'memdev': 'x' } }"),
                      "memdev 'x' does not exist");
    qtest_quit(qts);
}

static void test_move_refuses_shared(void)
{
    QTestState *qts = qtest_init("-machine q35,memory-backend=mem0 -m 64M "
                                 "-object memory-backend-memfd,id=mem0,"
                                 "size=64M,share=on");

    assert_error_says(qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_numa-move',"
                                "  'arguments': { 'job-id': 'm', 'node': 0,"
                                "    'order': 'address' } }"),
                      "memdev 'mem0' cannot be moved: it is shared");
    qtest_quit(qts);
}

static void *hook_start_tracked(QTestState *from, QTestState *to)
{
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

/* The tracker saw the boot block's writes while migration ran. */
static void hook_end_tracked(QTestState *from, QTestState *to, void *opaque)
{
    QDict *info = query_activity(from);
    QDict *backend = first_backend(info);

    g_assert_cmpint(qdict_get_int(info, "periods"), >=, 2);
    g_assert_cmpint(qdict_get_int(backend, "hot-bytes") +
                    qdict_get_int(backend, "warm-bytes"), >=, 2 * MIB);
    qobject_unref(info);
}

/*
 * The dirty-log provider logs for the display client, so a live
 * migration beside it still sees every write: the boot block's memory
 * is checked on the destination (migrate_end's check_guests_ram).
 */
static void test_dirty_log_during_migration(void)
{
    MigrateCommon args = {
        .start = {
            .opts_source = "-object x-memx-page-activity,id=pa0,"
                           "provider=dirty-log,period-ms=20",
        },
        .listen_uri = "defer",
        .start_hook = hook_start_tracked,
        .end_hook = hook_end_tracked,
        .live = true,
    };

    test_precopy_common(&args);
}

void memx_numa_move_tests_add(void)
{
    migration_test_add("/migration/memx/page-activity/dirty-log-migration",
                       test_dirty_log_during_migration);
    qtest_add_func("/memx/page-activity/dirty-log-classes",
                   test_dirty_log_classes);
    qtest_add_func("/memx/page-activity/refusals", test_tracker_refusals);
    qtest_add_func("/memx/numa-move/in-place", test_move_in_place);
    qtest_add_func("/memx/numa-move/refusals", test_move_refusals);
    qtest_add_func("/memx/numa-move/refuses-shared", test_move_refuses_shared);
}
