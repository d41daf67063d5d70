/*
 * Unit tests of the DAMON sysfs client (migration-ext/damon-sysfs.c) on a
 * fake DAMON tree in a temporary directory: what it writes, what it reads
 * back, and above all what it refuses to touch.  The fake does not react
 * to writes as the kernel would (no kdamond appears), so each test lays
 * out the files the kernel would show at that point.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migration-ext/damon-sysfs.h"

#define CTX "kdamonds/0/contexts/0/"
#define SCH CTX "schemes/0/"

typedef struct Fake {
    char *dir;          /* the temporary directory */
    char *root;         /* its fake admin/ */
    char *records;      /* where ownership records go */
} Fake;

static void put(Fake *f, const char *rel, const char *text)
{
    g_autofree char *path = g_build_filename(f->root, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(path);

    g_assert_cmpint(g_mkdir_with_parents(parent, 0700), ==, 0);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void expect_file(Fake *f, const char *rel, const char *want)
{
    g_autofree char *path = g_build_filename(f->root, rel, NULL);
    g_autofree char *text = NULL;

    /* the fake's own files end in a newline, the client writes none */
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(g_strchomp(text), ==, want);
}

/* The files of kdamond 0 with one context, target, region and scheme. */
static const char *const kdamond_files[] = {
    "kdamonds/0/state", "kdamonds/0/pid", "kdamonds/0/contexts/nr_contexts",
    CTX "operations", CTX "monitoring_attrs/intervals/sample_us",
    CTX "monitoring_attrs/intervals/aggr_us",
    CTX "monitoring_attrs/intervals/update_us",
    CTX "monitoring_attrs/nr_regions/min",
    CTX "monitoring_attrs/nr_regions/max",
    CTX "targets/nr_targets", CTX "targets/0/pid_target",
    CTX "targets/0/regions/nr_regions", CTX "targets/0/regions/0/start",
    CTX "targets/0/regions/0/end", CTX "targets/0/regions/1/start",
    CTX "targets/0/regions/1/end", CTX "schemes/nr_schemes", SCH "action",
    SCH "access_pattern/sz/min", SCH "access_pattern/sz/max",
    SCH "access_pattern/nr_accesses/min", SCH "access_pattern/nr_accesses/max",
    SCH "access_pattern/age/min", SCH "access_pattern/age/max",
    SCH "tried_regions/total_bytes",
};

static void fake_init(Fake *f, bool with_kdamond)
{
    f->dir = g_dir_make_tmp("memx-damon-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->root = g_build_filename(f->dir, "admin", NULL);
    f->records = g_build_filename(f->dir, "run", NULL);
    g_assert_cmpint(g_mkdir_with_parents(f->records, 0700), ==, 0);
    put(f, "kdamonds/nr_kdamonds", with_kdamond ? "1\n" : "0\n");
    for (size_t i = 0; i < G_N_ELEMENTS(kdamond_files); i++) {
        put(f, kdamond_files[i], "0\n");
    }
    put(f, "kdamonds/0/state", "off\n");
}

static void fake_destroy(Fake *f)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->dir);
    g_free(f->root);
    g_free(f->records);
}

static const DamonRange two_ranges[] = {
    { 0x7f0000000000, 0x7f0040000000 },
    { 0x7f0080000000, 0x7f0090000000 },
};

/* A pid that existed and exited: its /proc entry is gone. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, NULL, 0), ==, pid);
    return pid;
}

static void test_start_writes_context(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *record = NULL;
    Fake f;
    DamonSysfs *d;

    fake_init(&f, false);
    d = damon_sysfs_start(f.root, f.records, 1234, two_ranges, 2, 20000,
                          200000, &err);
    g_assert_no_error(err);
    g_assert_nonnull(d);
    expect_file(&f, "kdamonds/nr_kdamonds", "1");
    expect_file(&f, CTX "operations", "fvaddr");
    expect_file(&f, CTX "targets/0/pid_target", "1234");
    expect_file(&f, CTX "targets/0/regions/nr_regions", "2");
    expect_file(&f, CTX "targets/0/regions/1/start", "139640124211200");
    expect_file(&f, CTX "monitoring_attrs/intervals/sample_us", "20000");
    expect_file(&f, SCH "action", "stat");
    expect_file(&f, SCH "access_pattern/nr_accesses/min", "1");
    expect_file(&f, "kdamonds/0/state", "on");
    record = g_build_filename(f.records, DAMON_SYSFS_RECORD, NULL);
    g_assert_true(g_file_test(record, G_FILE_TEST_EXISTS));

    damon_sysfs_stop(d);
    expect_file(&f, "kdamonds/nr_kdamonds", "0");
    expect_file(&f, "kdamonds/0/state", "off");
    g_assert_false(g_file_test(record, G_FILE_TEST_EXISTS));
    fake_destroy(&f);
}

static void test_read_accessed(void)
{
    g_autoptr(GArray) got = g_array_new(false, false, sizeof(DamonRange));
    g_autoptr(GError) err = NULL;
    Fake f;
    DamonSysfs *d;

    fake_init(&f, false);
    d = damon_sysfs_start(f.root, f.records, 1234, two_ranges, 2, 20000,
                          200000, &err);
    g_assert_nonnull(d);
    put(&f, SCH "tried_regions/0/start", "4096\n");
    put(&f, SCH "tried_regions/0/end", "12288\n");
    put(&f, SCH "tried_regions/7/start", "65536\n");
    put(&f, SCH "tried_regions/7/end", "69632\n");
    g_assert_true(damon_sysfs_read_accessed(d, got, &err));
    g_assert_no_error(err);
    expect_file(&f, "kdamonds/0/state", "update_schemes_tried_regions");
    g_assert_cmpuint(got->len, ==, 2);

    /* a hostile or broken file: an error, not a wrong range */
    put(&f, SCH "tried_regions/7/end", "0x11000\n");
    g_array_set_size(got, 0);
    g_assert_false(damon_sysfs_read_accessed(d, got, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO);
    damon_sysfs_stop(d);
    fake_destroy(&f);
}

/* Someone else's kdamond: refused, and not a byte written. */
static void test_foreign_kdamond_untouched(void)
{
    g_autoptr(GError) err = NULL;
    Fake f;

    fake_init(&f, true);
    put(&f, "kdamonds/0/state", "on\n");
    put(&f, CTX "targets/0/pid_target", "1\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    g_assert_nonnull(strstr(err->message, "did not create"));
    g_clear_error(&err);
    g_assert_null(damon_sysfs_start(f.root, f.records, 1234, two_ranges, 2,
                                    20000, 200000, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    expect_file(&f, "kdamonds/nr_kdamonds", "1");
    expect_file(&f, "kdamonds/0/state", "on");
    expect_file(&f, CTX "targets/0/pid_target", "1");
    expect_file(&f, CTX "operations", "0");
    fake_destroy(&f);
}

/* Write a record as a client of process @pid would have. */
static void put_record(Fake *f, const char *text)
{
    g_autofree char *path = g_build_filename(f->records, DAMON_SYSFS_RECORD,
                                             NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void leave_behind(Fake *f, pid_t pid)
{
    g_autofree char *pid_text = g_strdup_printf("%d\n", (int)pid);
    g_autofree char *record = g_strdup_printf(
        "qemu-memx damon provider\npid %d\nstart-time 99\n"
        "region 139637976760320 139639050502144\n", (int)pid);

    put(f, CTX "targets/0/pid_target", pid_text);
    put(f, "kdamonds/0/contexts/nr_contexts", "1\n");
    put(f, CTX "targets/nr_targets", "1\n");
    put(f, CTX "targets/0/regions/0/start", "139637976760320\n");
    put(f, CTX "targets/0/regions/0/end", "139639050502144\n");
    put_record(f, record);
}

static void test_leftover_removed(void)
{
    g_autoptr(GError) err = NULL;
    Fake f;
    DamonSysfs *d;

    fake_init(&f, true);
    leave_behind(&f, dead_pid());
    g_assert_true(damon_sysfs_usable(f.root, f.records, &err));
    d = damon_sysfs_start(f.root, f.records, 4321, two_ranges, 2, 20000,
                          200000, &err);
    g_assert_no_error(err);
    g_assert_nonnull(d);
    expect_file(&f, CTX "targets/0/pid_target", "4321");
    damon_sysfs_stop(d);
    fake_destroy(&f);
}

/* Anything short of certain is someone else's. */
static void test_leftover_doubts(void)
{
    g_autoptr(GError) err = NULL;
    DamonSysfs *mine;
    Fake f;

    /* the process that left it still runs (this one) */
    fake_init(&f, false);
    mine = damon_sysfs_start(f.root, f.records, getpid(), two_ranges, 2,
                             20000, 200000, &err);
    g_assert_no_error(err);
    put(&f, "kdamonds/0/state", "off\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    g_assert_nonnull(strstr(err->message, "still runs"));
    g_clear_error(&err);
    damon_sysfs_stop(mine);
    fake_destroy(&f);

    /* the kdamond still runs */
    fake_init(&f, true);
    leave_behind(&f, dead_pid());
    put(&f, "kdamonds/0/state", "on\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    g_clear_error(&err);
    fake_destroy(&f);

    /* the region differs from the record */
    fake_init(&f, true);
    leave_behind(&f, dead_pid());
    put(&f, CTX "targets/0/regions/0/end", "139639050506240\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    g_clear_error(&err);
    fake_destroy(&f);

    /* a record that is not ours */
    fake_init(&f, true);
    leave_behind(&f, dead_pid());
    put_record(&f, "something else\npid 1\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    g_assert_nonnull(strstr(err->message, "no qemu-memx ownership record"));
    g_clear_error(&err);
    expect_file(&f, "kdamonds/nr_kdamonds", "1");
    fake_destroy(&f);

    /* two kdamonds */
    fake_init(&f, true);
    put(&f, "kdamonds/nr_kdamonds", "2\n");
    g_assert_false(damon_sysfs_usable(f.root, f.records, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY);
    fake_destroy(&f);
}

static void test_bad_input(void)
{
    static const DamonRange overlapping[] = {
        { 0x10000, 0x30000 }, { 0x20000, 0x40000 },
    };
    static const DamonRange empty[] = { { 0x10000, 0x10000 } };
    g_autoptr(GError) err = NULL;
    Fake f;

    fake_init(&f, false);
    g_assert_null(damon_sysfs_start(f.root, f.records, 1, overlapping, 2,
                                    20000, 200000, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT);
    g_clear_error(&err);
    g_assert_null(damon_sysfs_start(f.root, f.records, 1, empty, 1, 20000,
                                    200000, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT);
    g_clear_error(&err);
    g_assert_null(damon_sysfs_start(f.root, f.records, 1, two_ranges, 0,
                                    20000, 200000, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT);
    g_clear_error(&err);
    g_assert_null(damon_sysfs_start(f.root, f.records, 1, two_ranges, 2,
                                    200000, 20000, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT);
    g_clear_error(&err);
    expect_file(&f, "kdamonds/nr_kdamonds", "0");
    fake_destroy(&f);
}

static void test_no_damon(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("memx-damon-XXXXXX", NULL);

    g_assert_false(damon_sysfs_usable(dir, dir, &err));
    g_assert_error(err, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_UNAVAILABLE);
    g_assert_nonnull(strstr(err->message, "CONFIG_DAMON_SYSFS"));
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/damon-sysfs/start-writes-context",
                    test_start_writes_context);
    g_test_add_func("/damon-sysfs/read-accessed", test_read_accessed);
    g_test_add_func("/damon-sysfs/foreign-kdamond-untouched",
                    test_foreign_kdamond_untouched);
    g_test_add_func("/damon-sysfs/leftover-removed", test_leftover_removed);
    g_test_add_func("/damon-sysfs/leftover-doubts", test_leftover_doubts);
    g_test_add_func("/damon-sysfs/bad-input", test_bad_input);
    g_test_add_func("/damon-sysfs/no-damon", test_no_damon);
    return g_test_run();
}
