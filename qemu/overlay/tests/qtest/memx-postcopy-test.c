/*
 * qtests for qemu-memx's hot-first postcopy
 * (__org.qemu-memx_postcopy-hot-first).
 *
 * Postcopy migrations of the boot-block guest, whose memory the
 * framework checks on the destination.  The source tracks page activity
 * (-object x-memx-page-activity, TLB fills under TCG); the boot block
 * rewrites its 99 MiB region over and over, so that region is hot.
 * Asserted is what the source reports: that it pushed hot pages, that
 * the hot set was complete at some point, and that every page still
 * arrived; with pattern pages, with postcopy-preempt, and across a
 * postcopy recovery.  Without a tracker the push stays in address order
 * and says why; the capability without postcopy-ram is refused.
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

#define HOT_FIRST_CAP "__org.qemu-memx_postcopy-hot-first"
#define PATTERN_CAP "__org.qemu-memx_pattern-pages"
#define TRACKER "-object x-memx-page-activity,id=pa0,provider=tcg-tlb," \
                "period-ms=50,history=4,hot-min=2"

static void *hook_start_hot_first(QTestState *from, QTestState *to)
{
    /* the framework sets postcopy-ram after this hook, but ours needs it */
    migrate_set_capability(from, "postcopy-ram", true);
    migrate_set_capability(from, HOT_FIRST_CAP, true);
    return NULL;
}

static void *hook_start_hot_first_pattern(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, PATTERN_CAP, true);
    migrate_set_capability(to, PATTERN_CAP, true);
    return hook_start_hot_first(from, to);
}

/* query-migrate's __org.qemu-memx_postcopy on the source. */
static QDict *query_push(QTestState *from)
{
    QDict *rsp = migrate_query(from);
    QDict *push = qdict_get_qdict(rsp, "__org.qemu-memx_postcopy");

    g_assert_nonnull(push);
    qobject_ref(push);
    qobject_unref(rsp);
    return push;
}

static void hook_end_pushed_hot(QTestState *from, QTestState *to, void *opaque)
{
    QDict *push = query_push(from);
    g_autofree char *hmp = qtest_hmp(from, "info migrate");

    g_test_message("hot pages at the switch %" PRId64 ", pushed hot %" PRId64
                   ", warm %" PRId64 ", hot set complete after %" PRId64 " ms",
                   qdict_get_int(push, "hot-pages"),
                   qdict_get_int(push, "pushed-hot"),
                   qdict_get_int(push, "pushed-warm"),
                   qdict_get_try_int(push, "hot-complete-ms", -1));
    g_assert_true(qdict_get_bool(push, "hot-first"));
    g_assert_false(qdict_haskey(push, "not-ordered"));
    g_assert_cmpint(qdict_get_int(push, "hot-pages"), >, 0);
    g_assert_cmpint(qdict_get_int(push, "pushed-hot"), >, 0);
    g_assert_cmpint(qdict_get_int(push, "pushed-hot"), <=,
                    qdict_get_int(push, "hot-pages"));
    g_assert_true(qdict_haskey(push, "hot-complete-ms"));
    g_assert_nonnull(strstr(hmp, "postcopy push: hot first"));
    g_assert_nonnull(strstr(hmp, "hot set complete after"));
    qobject_unref(push);
}

static void hook_end_address_order(QTestState *from, QTestState *to,
                                   void *opaque)
{
    QDict *push = query_push(from);
    g_autofree char *hmp = qtest_hmp(from, "info migrate");

    g_assert_false(qdict_get_bool(push, "hot-first"));
    g_assert_cmpint(qdict_get_int(push, "pushed-hot"), ==, 0);
    g_assert_nonnull(strstr(qdict_get_str(push, "not-ordered"),
                            "x-memx-page-activity"));
    g_assert_nonnull(strstr(hmp, "postcopy push: address order: "));
    qobject_unref(push);
}

static void test_hot_first(void)
{
    MigrateCommon args = {
        .start = { .opts_source = TRACKER },
        .start_hook = hook_start_hot_first,
        .end_hook = hook_end_pushed_hot,
    };

    test_postcopy_common(&args);
}

static void test_hot_first_pattern_preempt(void)
{
    MigrateCommon args = {
        .start = { .opts_source = TRACKER },
        .start_hook = hook_start_hot_first_pattern,
        .end_hook = hook_end_pushed_hot,
        .postcopy_preempt = true,
    };

    test_postcopy_common(&args);
}

static void test_hot_first_recovery(void)
{
    MigrateCommon args = {
        .start = { .opts_source = TRACKER },
        .start_hook = hook_start_hot_first,
        .end_hook = hook_end_pushed_hot,
    };

    test_postcopy_recovery_common(&args);
}

static void test_without_tracker(void)
{
    MigrateCommon args = {
        .start_hook = hook_start_hot_first,
        .end_hook = hook_end_address_order,
    };

    test_postcopy_common(&args);
}

static void test_refused_without_postcopy(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M");
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'migrate-set-capabilities',"
                           "  'arguments': { 'capabilities': [ {"
                           "    'capability': %s, 'state': true } ] } }",
                           HOT_FIRST_CAP);

    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"),
                            "needs the postcopy-ram capability"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

static void test_needs_userfaultfd(void)
{
    g_test_skip("userfaultfd is not available to this user: postcopy "
                "cannot run here");
}

void memx_postcopy_tests_add(bool has_uffd)
{
    qtest_add_func("/memx/postcopy/hot-first/refused-without-postcopy",
                   test_refused_without_postcopy);
    if (!has_uffd) {
        migration_test_add("/migration/memx/postcopy/hot-first",
                           test_needs_userfaultfd);
        return;
    }
    migration_test_add("/migration/memx/postcopy/hot-first",
                       test_hot_first);
    migration_test_add("/migration/memx/postcopy/hot-first-pattern-preempt",
                       test_hot_first_pattern_preempt);
    migration_test_add("/migration/memx/postcopy/hot-first-recovery",
                       test_hot_first_recovery);
    migration_test_add("/migration/memx/postcopy/hot-first-without-tracker",
                       test_without_tracker);
}
