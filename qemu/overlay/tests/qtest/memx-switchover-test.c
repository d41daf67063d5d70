/*
 * qtests for qemu-memx's switchover guard
 * (__org.qemu-memx_switchover-guard) and the pause the destination
 * reports (__org.qemu-memx_destination-pause).
 *
 * Live migrations of the boot-block guest, whose memory the framework
 * checks on the destination.  What is asserted is what each side
 * reports and how the two reports relate, never a wall-clock race:
 *  - with a return path the guard drains the destination at least once,
 *    and the source's downtime, which then ends with the destination's
 *    resume, covers the pause the destination saw;
 *  - without one it says it could not drain;
 *  - a migration without any qemu-memx capability shows no guard in
 *    query-migrate, as upstream, while the destination still reports
 *    its pause.
 * Both reports also show in info migrate.
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
#include "memx-migration-test.h"

#define GUARD_CAP "__org.qemu-memx_switchover-guard"
#define PATTERN_CAP "__org.qemu-memx_pattern-pages"

/* query-migrate's member @name on @who, which must be there. */
static QDict *query_member(QTestState *who, const char *name)
{
    QDict *rsp = migrate_query(who);
    QDict *member = qdict_get_qdict(rsp, name);

    g_assert_nonnull(member);
    qobject_ref(member);
    qobject_unref(rsp);
    return member;
}

/* The destination resumed the VM and says how long it was paused. */
static int64_t check_destination_pause(QTestState *to, bool return_path)
{
    QDict *pause = query_member(to, "__org.qemu-memx_destination-pause");
    int64_t pause_us = qdict_get_int(pause, "pause-us");
    g_autofree char *hmp = qtest_hmp(to, "info migrate");

    g_assert_true(qdict_get_bool(pause, "vm-started"));
    g_assert_cmpint(qdict_get_bool(pause, "return-path"), ==, return_path);
    g_assert_cmpint(pause_us, >, 0);
    g_assert_nonnull(strstr(hmp, "pause seen here: "));
    g_assert_nonnull(strstr(hmp, return_path ? "with a return path"
                                             : "without a return path"));
    qobject_unref(pause);
    return pause_us;
}

static void *hook_start_pattern_multifd_return_path(QTestState *from,
                                                    QTestState *to)
{
    migrate_set_capability(from, PATTERN_CAP, true);
    migrate_set_capability(to, PATTERN_CAP, true);
    migrate_set_capability(from, "return-path", true);
    return migrate_hook_start_precopy_tcp_multifd_common(from, to, "none");
}

/*
 * With a return path the guard drains, and the source's downtime, which
 * ends when the destination's SHUT arrives after its resume, covers the
 * destination's pause.
 */
static void hook_end_drained(QTestState *from, QTestState *to, void *opaque)
{
    QDict *guard = query_member(from, "__org.qemu-memx_switchover");
    int64_t downtime_ms = read_migrate_property_int(from, "downtime");
    int64_t pause_us = check_destination_pause(to, true);
    g_autofree char *hmp = qtest_hmp(from, "info migrate");

    g_test_message("downtime %" PRId64 " ms, destination pause %" PRId64
                   " us, %" PRId64 " drains", downtime_ms, pause_us,
                   qdict_get_int(guard, "drains"));
    g_assert_true(qdict_get_bool(guard, "return-path"));
    g_assert_cmpint(qdict_get_int(guard, "drains"), >=, 1);
    /* downtime is in whole milliseconds, rounded down */
    g_assert_cmpint((downtime_ms + 1) * 1000, >=, pause_us);
    g_assert_nonnull(strstr(hmp, "switchover guard: "));
    g_assert_null(strstr(hmp, "no return path"));
    qobject_unref(guard);
}

static void test_guard_drains_with_return_path(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_pattern_multifd_return_path,
        .end_hook = hook_end_drained,
        .live = true,
    };

    test_precopy_common(&args);
}

/* The capability alone, on a stock configuration, without a return path */
static void *hook_start_guard_only(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, GUARD_CAP, true);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

static void hook_end_no_drain(QTestState *from, QTestState *to, void *opaque)
{
    QDict *guard = query_member(from, "__org.qemu-memx_switchover");
    g_autofree char *hmp = qtest_hmp(from, "info migrate");

    check_destination_pause(to, false);
    g_assert_false(qdict_get_bool(guard, "return-path"));
    g_assert_cmpint(qdict_get_int(guard, "drains"), ==, 0);
    g_assert_cmpint(qdict_get_int(guard, "switchover-bandwidth"), >, 0);
    g_assert_nonnull(strstr(hmp, "no return path"));
    qobject_unref(guard);
}

static void test_guard_without_return_path(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_guard_only,
        .end_hook = hook_end_no_drain,
        .live = true,
    };

    test_precopy_common(&args);
}

/* No qemu-memx capability: query-migrate on the source is upstream's. */
static void *hook_start_stock(QTestState *from, QTestState *to)
{
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

static void hook_end_stock(QTestState *from, QTestState *to, void *opaque)
{
    QDict *rsp = migrate_query(from);
    g_autofree char *hmp = qtest_hmp(from, "info migrate");

    g_assert_false(qdict_haskey(rsp, "__org.qemu-memx_switchover"));
    g_assert_null(strstr(hmp, "switchover guard"));
    check_destination_pause(to, false);
    qobject_unref(rsp);
}

static void test_no_guard_when_stock(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_stock,
        .end_hook = hook_end_stock,
        .live = true,
    };

    test_precopy_common(&args);
}

void memx_switchover_tests_add(void)
{
    migration_test_add("/migration/memx/switchover/drains-with-return-path",
                       test_guard_drains_with_return_path);
    migration_test_add("/migration/memx/switchover/without-return-path",
                       test_guard_without_return_path);
    migration_test_add("/migration/memx/switchover/stock-shows-no-guard",
                       test_no_guard_when_stock);
}
