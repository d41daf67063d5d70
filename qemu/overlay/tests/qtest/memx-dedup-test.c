/*
 * QTest cases of qemu-memx memdedup (-object x-memx-dedup) that need no
 * guest kernel: bad properties, one object only, the commands without an
 * object, a pass over a guest that cannot be introspected, and RAM that
 * must never be discarded.  Real guests are in tests/e2e/memdedup.py.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "memx-migration-test.h"

static void assert_error_contains(QDict *rsp, const char *text)
{
    QDict *error = qdict_get_qdict(rsp, "error");

    g_assert_nonnull(error);
    g_assert_nonnull(strstr(qdict_get_str(error, "desc"), text));
    qobject_unref(rsp);
}

/* Run one pass and wait for it; returns query-dedup's answer. */
static QDict *run_pass(QTestState *qts)
{
    QDict *info;

    qtest_qmp_assert_success(qts,
                             "{ 'execute': '__org.qemu-memx_dedup-run' }");
    for (int i = 0; i < 500; i++) {
        info = qtest_qmp_assert_success_ref(qts,
                   "{ 'execute': '__org.qemu-memx_query-dedup' }");
        if (!qdict_get_bool(info, "running") &&
            qdict_get_int(info, "passes") >= 1) {
            return info;
        }
        qobject_unref(info);
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

static void test_dedup_bad_properties(void)
{
    QTestState *qts = qtest_init("-M q35 -m 64M");

    assert_error_contains(qtest_qmp(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd0',"
        " 'granularity': 8192 } }"), "granularity must be 4K or 2M");
    assert_error_contains(qtest_qmp(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd0',"
        " 'interval-ms': 50 } }"), "interval-ms must be 0");
    assert_error_contains(qtest_qmp(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd0',"
        " 'granularity': 'lots' } }"), "granularity");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd1',"
        " 'granularity': 4096, 'interval-ms': 100 } }");
    assert_error_contains(qtest_qmp(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd2' } }"),
        "only one x-memx-dedup");
    assert_error_contains(qtest_qmp(qts, "{ 'execute': 'qom-set',"
        " 'arguments': { 'path': '/objects/d1', 'property': 'granularity',"
        " 'value': 2097152 } }"), "cannot be changed");
    /* deleted, another may be created */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del',"
                             " 'arguments': { 'id': 'd1' } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add',"
        " 'arguments': { 'qom-type': 'x-memx-dedup', 'id': 'd2' } }");
    qtest_quit(qts);
}

static void test_dedup_no_object(void)
{
    QTestState *qts = qtest_init("-M q35 -m 64M");
    g_autofree char *hmp = NULL;

    assert_error_contains(qtest_qmp(qts, "{ 'execute': "
        "'__org.qemu-memx_query-dedup' }"), "no x-memx-dedup object");
    assert_error_contains(qtest_qmp(qts, "{ 'execute': "
        "'__org.qemu-memx_dedup-run' }"), "no x-memx-dedup object");
    hmp = qtest_hmp(qts, "info memx-dedup");
    g_assert_nonnull(strstr(hmp, "no x-memx-dedup object"));
    qtest_quit(qts);
}

/*
 * A guest that has not provided VMCOREINFO: the pass finishes at once,
 * gives nothing back and says why.
 */
static void test_dedup_no_guest_kernel(void)
{
    QTestState *qts = qtest_init("-M q35 -m 64M -device vmcoreinfo "
                                 "-object x-memx-dedup,id=dd");
    g_autofree char *hmp = NULL;
    QDict *info = run_pass(qts);

    g_assert_cmpint(qdict_get_int(info, "passes"), ==, 1);
    g_assert_cmpint(qdict_get_int(info, "last-given-back-bytes"), ==, 0);
    g_assert_cmpint(qdict_get_int(info, "last-pauses"), ==, 0);
    g_assert_cmpint(qdict_get_int(info, "granularity"), ==, 2 * 1024 * 1024);
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "has not provided VMCOREINFO"));
    qobject_unref(info);
    hmp = qtest_hmp(qts, "info memx-dedup");
    g_assert_nonnull(strstr(hmp, "1 passes"));
    g_assert_nonnull(strstr(hmp, "has not provided VMCOREINFO"));
    qtest_quit(qts);
}

/* Shared RAM is never looked at: a discard would not read as zero. */
static void test_dedup_skips_shared_ram(void)
{
    QTestState *qts = qtest_init("-M q35,memory-backend=mem0 -m 64M "
                                 "-object memory-backend-memfd,id=mem0,"
                                 "size=64M,share=on "
                                 "-object x-memx-dedup,id=dd");
    QDict *info = run_pass(qts), *skip;
    QList *skipped = qdict_get_qlist(info, "skipped");

    g_assert_cmpint(qlist_size(skipped), >=, 1);
    skip = qobject_to(QDict, qlist_peek(skipped));
    g_assert_cmpstr(qdict_get_str(skip, "block"), ==, "mem0");
    g_assert_cmpstr(qdict_get_str(skip, "reason"), ==,
                    "shared or file-backed RAM");
    qobject_unref(info);
    qtest_quit(qts);
}

void memx_dedup_tests_add(void)
{
    qtest_add_func("/memx/dedup/bad-properties", test_dedup_bad_properties);
    qtest_add_func("/memx/dedup/no-object", test_dedup_no_object);
    qtest_add_func("/memx/dedup/no-guest-kernel", test_dedup_no_guest_kernel);
    qtest_add_func("/memx/dedup/skips-shared-ram",
                   test_dedup_skips_shared_ram);
}
