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
 * __org.qemu-memx_postcopy-auto-switch: a precopy migration that cannot
 * converge (the guest dirties its region faster than the bandwidth cap
 * lets through) switches to postcopy on its own, nobody calling
 * migrate-start-postcopy, and reports why: once by its deadline, once
 * because the dirty set stopped shrinking; with hot-first on as well.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/vfs.h>
#include <linux/magic.h>
#include "libqtest.h"
#include "migration/framework.h"
#include "migration/migration-qmp.h"
#include "migration/migration-util.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
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

/* Capability @cap alone is refused for want of postcopy-ram. */
static void assert_needs_postcopy_ram(QTestState *qts, const char *cap)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'migrate-set-capabilities',"
                           "  'arguments': { 'capabilities': [ {"
                           "    'capability': %s, 'state': true } ] } }",
                           cap);

    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"),
                            "needs the postcopy-ram capability"));
    qobject_unref(rsp);
}

static void test_refused_without_postcopy(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M");

    assert_needs_postcopy_ram(qts, HOT_FIRST_CAP);
    qtest_quit(qts);
}

#define AUTO_SWITCH_CAP "__org.qemu-memx_postcopy-auto-switch"

/*
 * A precopy migration with the auto-switch on and the given rules, that
 * nobody switches to postcopy: wait until the destination runs, then
 * for the end, and check the reason and every page on the destination.
 */
static void auto_switch_run(const char *rules, uint64_t bandwidth,
                            const char *want_reason)
{
    MigrateStart start = { .opts_source = TRACKER };
    QTestState *from, *to;
    QDict *push;

    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    migrate_set_capability(from, "postcopy-ram", true);
    migrate_set_capability(to, "postcopy-ram", true);
    migrate_set_capability(from, AUTO_SWITCH_CAP, true);
    migrate_set_capability(from, HOT_FIRST_CAP, true);
    qtest_qmp_assert_success(from, "{ 'execute': "
                             "'__org.qemu-memx_set-postcopy-switch', "
                             "'arguments': %p }",
                             qobject_from_json(rules, &error_abort));
    migrate_ensure_non_converge(from);
    migrate_set_parameter_int(from, "max-bandwidth", bandwidth);
    migrate_prepare_for_dirty_mem(from);
    qtest_qmp_assert_success(to, "{ 'execute': 'migrate-incoming',"
                             "  'arguments': { "
                             "      'channels': [ { 'channel-type': 'main',"
                             "      'addr': { 'transport': 'socket',"
                             "                'type': 'inet',"
                             "                'host': '127.0.0.1',"
                             "                'port': '0' } } ] } }");
    wait_for_serial("src_serial");
    migrate_qmp(from, to, NULL, NULL, "{}");
    migrate_wait_for_dirty_mem(from, to);

    /* nobody asks for postcopy: the destination runs once it switched */
    qtest_qmp_eventwait(to, "RESUME");
    wait_for_migration_complete(from);
    wait_for_serial("dest_serial");

    push = query_push(from);
    g_test_message("switched (%s) after %" PRId64 " ms; pushed hot %" PRId64,
                   qdict_get_try_str(push, "switch-reason"),
                   qdict_get_try_int(push, "switched-after-ms", -1),
                   qdict_get_int(push, "pushed-hot"));
    g_assert_cmpstr(qdict_get_try_str(push, "switch-reason"), ==,
                    want_reason);
    g_assert_true(qdict_haskey(push, "switched-after-ms"));
    g_assert_true(qdict_get_bool(push, "hot-first"));
    qobject_unref(push);
    migrate_end(from, to, true);
}

static void test_auto_switch_deadline(void)
{
    auto_switch_run("{ 'stall-syncs': 0, 'window-ms': 0, "
                    "'deadline-ms': 1500 }", 3 * 1000 * 1000, "deadline");
}

static void test_auto_switch_stalled(void)
{
    /* fast enough for passes to end, too slow for 99 MiB rewritten */
    auto_switch_run("{ 'stall-syncs': 2, 'window-ms': 0, "
                    "'deadline-ms': 0 }", 40 * 1000 * 1000,
                    "dirty-set-stalled");
}

static void test_auto_switch_refused(void)
{
    QTestState *qts = qtest_init("-machine q35 -m 64M");
    QDict *rsp;

    assert_needs_postcopy_ram(qts, AUTO_SWITCH_CAP);
    rsp = qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_set-postcopy-switch',"
                    "  'arguments': { 'stall-syncs': 1001 } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "at most 1000"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

/*
 * Whether the capability is accepted for a guest whose RAM is a shared
 * file in @dir: it must be where userfaultfd handles the file system
 * (tmpfs), and refused, naming the block, where it does not.
 */
static bool auto_switch_accepted_in(const char *dir, char **error)
{
    g_autofree char *path = g_strdup_printf("%s/memx-ram-XXXXXX", dir);
    g_autofree char *args = NULL;
    int fd = g_mkstemp(path);
    QTestState *qts;
    QDict *rsp;
    bool ok;

    g_assert_cmpint(fd, >=, 0);
    close(fd);
    args = g_strdup_printf("-machine q35,memory-backend=mem0 -m 64M "
                           "-object memory-backend-file,id=mem0,size=64M,"
                           "mem-path=%s,share=on", path);
    qts = qtest_init(args);
    migrate_set_capability(qts, "postcopy-ram", true);
    rsp = qtest_qmp(qts, "{ 'execute': 'migrate-set-capabilities',"
                    "  'arguments': { 'capabilities': [ {"
                    "    'capability': %s, 'state': true } ] } }",
                    AUTO_SWITCH_CAP);
    ok = !qdict_haskey(rsp, "error");
    if (!ok) {
        *error = g_strdup(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                        "desc"));
    }
    qobject_unref(rsp);
    qtest_quit(qts);
    unlink(path);
    return ok;
}

static void test_auto_switch_file_backed(void)
{
    g_autofree char *error = NULL;
    struct statfs fs;

    /* the build tree is on a disk file system, /dev/shm is tmpfs */
    g_assert_cmpint(statfs(".", &fs), ==, 0);
    if (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC) {
        g_test_skip("the build tree is on tmpfs: no disk file system to "
                    "refuse");
        return;
    }
    g_assert_false(auto_switch_accepted_in(".", &error));
    g_assert_nonnull(strstr(error, "'mem0' cannot be postcopied"));
    g_clear_pointer(&error, g_free);
    g_assert_true(auto_switch_accepted_in("/dev/shm", &error));
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
    qtest_add_func("/memx/postcopy/auto-switch/refused",
                   test_auto_switch_refused);
    qtest_add_func("/memx/postcopy/auto-switch/file-backed",
                   test_auto_switch_file_backed);
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
    migration_test_add("/migration/memx/postcopy/auto-switch-deadline",
                       test_auto_switch_deadline);
    migration_test_add("/migration/memx/postcopy/auto-switch-stalled",
                       test_auto_switch_stalled);
}
