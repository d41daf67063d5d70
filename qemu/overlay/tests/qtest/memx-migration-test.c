/*
 * qtests for qemu-memx pattern pages (__org.qemu-memx_pattern-pages).
 *
 * Writes pages of several kinds (1-, 2-, 4- and 8-byte patterns, zero,
 * random, and almost-patterns whose last byte differs) into guest RAM
 * above the range the boot-block workload dirties, migrates with legacy
 * precopy, multifd and to a file, then compares every byte of that
 * region between source and destination and checks the pattern-page
 * count in query-migrate.  Also checks negotiation: a destination with
 * the capability off decodes a precopy stream anyway (libvirt gives no
 * chance to set it there), refuses a multifd one, whose packets the
 * capability sizes, unless set, also as -global
 * migration.x-memx-pattern-pages=on; mapped-ram is refused.
 *
 * The migration estimate is checked against the migration that follows:
 * after a live run, for a virtio-mem device with nothing plugged (not
 * counted, not read: RssShmem unchanged, and on hugetlbfs neither a huge
 * page taken nor SIGBUS) and with x-ignore-shared.
 *
 * Guest-free page skipping has its tests in memx-free-pages-test.c, in
 * the same binary, and the switchover guard in memx-switchover-test.c.  Also the one qemu-memx check that is not a
 * migration: virtio-tmem's query on microvm, where no PCI proxy holds
 * the device.  The page-activity tracker's and NUMA move's tests that need
 * no second host node are in memx-numa-move-test.c.
 *
 * Built as its own binary (memx-migration-test) so that upstream's
 * migration-test stays unmodified.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "migration/framework.h"
#include "migration/migration-qmp.h"
#include "migration/migration-util.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "memx-migration-test.h"

#define CAP "__org.qemu-memx_pattern-pages"
#define PAGE 4096
#define REGION_PAGES 512
#define KINDS 8

static char *tmpfs;

/* 104 MiB: above the x86 boot block's 1..100 MiB working range */
static uint64_t region_start(void)
{
    return 104 * 1024 * 1024;
}

/* Page @i's content: kinds 0-4 are patterns, 5 zero, 6-7 not uniform. */
static void fill_page(uint8_t *page, unsigned i)
{
    static const uint64_t words[] = {
        0xaaaaaaaaaaaaaaaaULL,      /* byte, like page_poison */
        0xffffffffffffffffULL,
        0xbeefbeefbeefbeefULL,      /* 16-bit */
        0xdeadbeefdeadbeefULL,      /* 32-bit */
        0x0123456789abcdefULL,      /* 64-bit */
    };
    unsigned kind = i % KINDS;

    if (kind < G_N_ELEMENTS(words)) {
        for (unsigned w = 0; w < PAGE / 8; w++) {
            memcpy(page + w * 8, &words[kind], 8);
        }
    } else if (kind == 5) {
        memset(page, 0, PAGE);
    } else if (kind == 6) {
        for (unsigned b = 0; b < PAGE; b++) {
            page[b] = (i * 131 + b * 7) ^ (b >> 3);
        }
    } else {
        memset(page, 0x5a, PAGE);
        page[PAGE - 1] = 0x5b;
    }
}

static unsigned pattern_pages_written(void)
{
    unsigned n = 0;

    for (unsigned i = 0; i < REGION_PAGES; i++) {
        n += i % KINDS < 5;
    }
    return n;
}

static void write_region(QTestState *who)
{
    g_autofree uint8_t *buf = g_malloc(REGION_PAGES * PAGE);

    for (unsigned i = 0; i < REGION_PAGES; i++) {
        fill_page(buf + i * PAGE, i);
    }
    qtest_bufwrite(who, region_start(), buf, REGION_PAGES * PAGE);
}

static void *hook_start_pattern(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, CAP, true);
    migrate_set_capability(to, CAP, true);
    write_region(from);
    return NULL;
}

static void *hook_start_pattern_multifd(QTestState *from, QTestState *to)
{
    hook_start_pattern(from, to);
    return migrate_hook_start_precopy_tcp_multifd_common(from, to, "none");
}

static void *hook_start_pattern_precopy_tcp(QTestState *from, QTestState *to)
{
    hook_start_pattern(from, to);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

/* Source and destination hold the same bytes; the count is reported. */
static void hook_end_compare(QTestState *from, QTestState *to, void *opaque)
{
    g_autofree uint8_t *src = g_malloc(REGION_PAGES * PAGE);
    g_autofree uint8_t *dst = g_malloc(REGION_PAGES * PAGE);
    g_autofree uint8_t *want = g_malloc(PAGE);
    int64_t pattern_pages = read_ram_property_int(from, CAP);
    int64_t saved = read_ram_property_int(from,
                                          "__org.qemu-memx_pattern-bytes-saved");

    qtest_bufread(from, region_start(), src, REGION_PAGES * PAGE);
    qtest_bufread(to, region_start(), dst, REGION_PAGES * PAGE);
    for (unsigned i = 0; i < REGION_PAGES; i++) {
        fill_page(want, i);
        g_assert_cmpmem(src + i * PAGE, PAGE, want, PAGE);
        g_assert_cmpmem(dst + i * PAGE, PAGE, want, PAGE);
    }
    /* Other RAM may hold patterns too, but ours must all be counted. */
    g_assert_cmpint(pattern_pages, >=, pattern_pages_written());
    g_assert_cmpint(saved, >=, pattern_pages_written() * (PAGE - 8));
    /* HMP shows the same figure */
    {
        g_autofree char *hmp = qtest_hmp(from, "info migrate");
        g_autofree char *line = g_strdup_printf("pattern pages: %" PRId64
                                                " pages", pattern_pages);

        g_assert_nonnull(strstr(hmp, line));
    }
}

/*
 * The migration estimate against what the first pass sent.  After a
 * migration of the stopped source its RAM is what that pass read, so
 * the two must agree but for the stream's own framing.
 */
static void hook_end_estimate(QTestState *from, QTestState *to, void *opaque)
{
    QDict *est = qtest_qmp_assert_success_ref(from,
        "{ 'execute': '__org.qemu-memx_query-migration-estimate' }");
    int64_t first_pass = read_ram_property_int(from,
                                               "__org.qemu-memx_first-pass-bytes");
    int64_t estimate = qdict_get_int(est, "first-pass-bytes");
    g_autofree char *hmp = qtest_hmp(from, "info memx-migration-estimate");
    QDict *without;

    hook_end_compare(from, to, opaque);
    g_test_message("estimate %" PRId64 " bytes, first pass %" PRId64,
                   estimate, first_pass);
    g_assert_cmpint(first_pass, >, 0);
    g_assert_cmpint(llabs(estimate - first_pass), <=, first_pass / 50);
    g_assert_true(qdict_get_bool(est, "pattern-pages"));
    g_assert_false(qdict_get_bool(est, "skip-free-pages"));
    g_assert_false(qdict_get_bool(est, "guest-free-available"));
    g_assert_nonnull(strstr(qdict_get_str(est, "guest-free-reason"),
                            "vmcoreinfo"));
    g_assert_cmpint(qdict_get_int(est, "pattern-bytes"), >=,
                    (int64_t)pattern_pages_written() * PAGE);
    g_assert_nonnull(strstr(hmp, "first pass"));

    /* without pattern pages, each of them costs a whole page */
    migrate_set_capability(from, CAP, false);
    without = qtest_qmp_assert_success_ref(from,
        "{ 'execute': '__org.qemu-memx_query-migration-estimate' }");
    g_assert_cmpint(qdict_get_int(without, "first-pass-bytes") - estimate, >=,
                    (int64_t)pattern_pages_written() * (PAGE - 8));
    qobject_unref(without);
    qobject_unref(est);
}

static void test_estimate_first_pass(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_pattern_precopy_tcp,
        .end_hook = hook_end_estimate,
    };

    test_precopy_common(&args);
}

/* A figure, in bytes, from QEMU @who's /proc/<pid>/status ("RssShmem") */
static int64_t proc_status_bytes(QTestState *who, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(who));
    g_autofree char *key = g_strdup_printf("\n%s:", field);
    g_autofree char *status = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    line = strstr(status, key);
    g_assert_nonnull(line);
    return g_ascii_strtoll(line + strlen(key), NULL, 10) * 1024;
}

/* The estimate; *@took_us is how long the command took, round trip. */
static QDict *query_estimate(QTestState *who, int64_t *took_us)
{
    int64_t t0 = g_get_monotonic_time();
    QDict *est = qtest_qmp_assert_success_ref(who,
        "{ 'execute': '__org.qemu-memx_query-migration-estimate' }");

    *took_us = g_get_monotonic_time() - t0;
    return est;
}

/* Migrate a source that never ran (-S); what its first pass sent. */
static int64_t migrate_stopped(QTestState *from, QTestState *to)
{
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    migrate_qmp(from, to, NULL, NULL, "{}");
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    return read_ram_property_int(from, "__org.qemu-memx_first-pass-bytes");
}

/*
 * Estimate @est of a source that never ran against the migration that
 * followed, which sent each page once: zero pages as such, the others
 * whole (pattern pages are off).  Pages, not bytes: the first pass's
 * bytes leave out what the stream still buffered when the pass ended,
 * dozens of pages, which matters only for so small a pass.
 */
static void assert_estimate_sent(QDict *est, QTestState *from)
{
    int64_t zero = read_ram_property_int(from, "duplicate");
    int64_t normal = read_ram_property_int(from, "normal");

    g_test_message("sent %" PRId64 " zero and %" PRId64 " normal pages; "
                   "estimated %" PRId64 " and %" PRId64, zero, normal,
                   qdict_get_int(est, "zero-bytes") / PAGE,
                   (qdict_get_int(est, "other-bytes") +
                    qdict_get_int(est, "pattern-bytes")) / PAGE);
    g_assert_cmpint(qdict_get_int(est, "zero-bytes"), ==, zero * PAGE);
    g_assert_cmpint(qdict_get_int(est, "other-bytes") +
                    qdict_get_int(est, "pattern-bytes"), ==, normal * PAGE);
}

#define VMEM_SIZE (1 * GiB)
#define VMEM_OPTS "-object memory-backend-memfd,id=vmem0-mem,size=1G " \
                  "-device virtio-mem-pci,id=vmem0,memdev=vmem0-mem," \
                  "requested-size=0 "

/*
 * A virtio-mem device with nothing plugged (requested-size=0, and no
 * driver: the source never runs).  Migration clears its unplugged memory
 * from the dirty bitmap, so the estimate must neither count nor read it:
 * reading would allocate the whole memfd (RssShmem) with the BQL held.
 */
static void test_estimate_virtio_mem_unplugged(void)
{
    MigrateStart start = {
        .memory_backend = "-m %s,maxmem=2G ",
        .opts_source = "-S " VMEM_OPTS,
        .opts_target = VMEM_OPTS,
    };
    QTestState *from, *to;
    int64_t shmem_before, shmem_after, took_us, estimate, first_pass, total;
    QDict *est;

    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    shmem_before = proc_status_bytes(from, "RssShmem");
    est = query_estimate(from, &took_us);
    shmem_after = proc_status_bytes(from, "RssShmem");
    estimate = qdict_get_int(est, "first-pass-bytes");
    first_pass = migrate_stopped(from, to);
    total = read_ram_property_int(from, "total");

    g_test_message("virtio-mem, 1 GiB unplugged: estimate %" PRId64
                   " bytes over %" PRId64 " bytes of RAM, first pass %"
                   PRId64 " bytes (RAM total %" PRId64 "); RssShmem %"
                   PRId64 " -> %" PRId64 " KiB; query %" PRId64
                   " us (estimate-time-us %" PRId64 ")", estimate,
                   qdict_get_int(est, "ram-bytes"), first_pass, total,
                   shmem_before / 1024, shmem_after / 1024, took_us,
                   qdict_get_int(est, "estimate-time-us"));
    g_assert_cmpint(shmem_after - shmem_before, <, VMEM_SIZE / 16);
    g_assert_cmpint(qdict_get_int(est, "ram-bytes"), ==, total - VMEM_SIZE);
    g_assert_cmpint(first_pass, >, 0);
    g_assert_cmpint(estimate, >=, first_pass);
    assert_estimate_sent(est, from);
    qobject_unref(est);
    migrate_end(from, to, false);
}

/*
 * The same on hugetlbfs, with no huge pages reserved (reserve=off): a
 * read of an unplugged page would take a huge page from the host's pool
 * or, with none free, kill QEMU with SIGBUS.
 */
static void test_estimate_virtio_mem_hugetlb(void)
{
    QTestState *qts;
    QDict *est;
    int64_t before, took_us;

    if (!g_file_test("/sys/kernel/mm/hugepages/hugepages-2048kB",
                     G_FILE_TEST_IS_DIR)) {
        g_test_skip("the host has no 2 MiB huge pages");
        return;
    }
    qts = qtest_init("-M q35 -m 128M,maxmem=2G -nodefaults "
                     "-object memory-backend-memfd,id=vmem0-mem,size=1G,"
                     "hugetlb=on,hugetlbsize=2M,reserve=off "
                     "-device virtio-mem-pci,id=vmem0,memdev=vmem0-mem,"
                     "requested-size=0");
    before = proc_status_bytes(qts, "HugetlbPages");
    est = query_estimate(qts, &took_us);
    g_test_message("virtio-mem on hugetlbfs, 1 GiB unplugged: estimate %"
                   PRId64 " bytes over %" PRId64 " bytes of RAM; "
                   "HugetlbPages %" PRId64 " -> %" PRId64 " KiB; query %"
                   PRId64 " us", qdict_get_int(est, "first-pass-bytes"),
                   qdict_get_int(est, "ram-bytes"), before / 1024,
                   proc_status_bytes(qts, "HugetlbPages") / 1024, took_us);
    g_assert_cmpint(proc_status_bytes(qts, "HugetlbPages"), ==, before);
    g_assert_cmpint(qdict_get_int(est, "ram-bytes"), <, VMEM_SIZE);
    qobject_unref(est);
    qtest_quit(qts);
}

#define SHARED_SIZE (64 * MiB)
#define SHARED_DATA (16 * MiB)

/*
 * x-ignore-shared leaves out the RAM of a shared memory-backend-file,
 * which the destination maps too.  A DIMM on such a file holds 16 MiB of
 * data, the rest of the file is a hole; another DIMM is on a shared
 * memfd, which migration sends all the same (only a named file is
 * ignored).  The estimate counts the file's DIMM without the capability,
 * not with it, and then counts the pages the migration sends.
 */
static void test_estimate_ignore_shared(void)
{
    g_autofree char *path = g_strdup_printf("%s/memx-estimate-shared",
                                            tmpfs);
    g_autofree char *opts = g_strdup_printf(
        "-object memory-backend-file,id=shared0-mem,size=%" PRId64
        ",mem-path=%s,share=on -device pc-dimm,id=shared0,memdev=shared0-mem "
        "-object memory-backend-memfd,id=memfd0-mem,size=%" PRId64 ",share=on "
        "-device pc-dimm,id=memfd0,memdev=memfd0-mem ",
        SHARED_SIZE, path, SHARED_SIZE);
    g_autofree char *opts_source = g_strdup_printf("-S %s", opts);
    MigrateStart start = {
        .memory_backend = "-m %s,slots=2,maxmem=1G ",
        .opts_source = opts_source,
        .opts_target = opts,
    };
    g_autofree uint8_t *data = g_malloc(SHARED_DATA);
    QTestState *from, *to;
    QDict *without, *with;
    int64_t took_without, took_with, estimate, first_pass, total;

    for (unsigned i = 0; i < SHARED_DATA / PAGE; i++) {
        fill_page(data + i * PAGE, i * KINDS + 6);  /* not uniform */
    }
    g_assert_true(g_file_set_contents(path, (const char *)data, SHARED_DATA,
                                      NULL));
    g_assert_cmpint(truncate(path, SHARED_SIZE), ==, 0);   /* a hole */
    if (migrate_start(&from, &to, "defer", &start)) {
        unlink(path);
        return;
    }
    without = query_estimate(from, &took_without);
    migrate_set_capability(from, "x-ignore-shared", true);
    migrate_set_capability(to, "x-ignore-shared", true);
    with = query_estimate(from, &took_with);
    estimate = qdict_get_int(with, "first-pass-bytes");
    first_pass = migrate_stopped(from, to);
    total = read_ram_property_int(from, "total");

    g_test_message("x-ignore-shared off: estimate %" PRId64 " bytes over %"
                   PRId64 " bytes of RAM (query %" PRId64 " us); on: %"
                   PRId64 " bytes over %" PRId64 " (query %" PRId64
                   " us); first pass %" PRId64 " bytes (RAM total %" PRId64
                   ")", qdict_get_int(without, "first-pass-bytes"),
                   qdict_get_int(without, "ram-bytes"), took_without,
                   estimate, qdict_get_int(with, "ram-bytes"), took_with,
                   first_pass, total);
    g_assert_cmpint(qdict_get_int(without, "ram-bytes") -
                    qdict_get_int(with, "ram-bytes"), ==, SHARED_SIZE);
    g_assert_cmpint(qdict_get_int(with, "ram-bytes"), ==, total);
    g_assert_cmpint(qdict_get_int(without, "other-bytes") -
                    qdict_get_int(with, "other-bytes"), ==, SHARED_DATA);
    g_assert_cmpint(qdict_get_int(without, "zero-bytes") -
                    qdict_get_int(with, "zero-bytes"), ==,
                    SHARED_SIZE - SHARED_DATA);
    g_assert_cmpint(first_pass, >, 0);
    g_assert_cmpint(estimate, >=, first_pass);
    assert_estimate_sent(with, from);
    qobject_unref(without);
    qobject_unref(with);
    migrate_end(from, to, false);
    unlink(path);
}

static void test_pattern_precopy(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_pattern_precopy_tcp,
        .end_hook = hook_end_compare,
    };

    test_precopy_common(&args);
}

static void test_pattern_precopy_live(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_pattern_precopy_tcp,
        .end_hook = hook_end_compare,
        .live = true,
    };

    test_precopy_common(&args);
}

static void test_pattern_multifd(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_pattern_multifd,
        .end_hook = hook_end_compare,
        .live = true,
    };

    test_precopy_common(&args);
}

/* savevm/loadvm-style: the stream goes to a file and is loaded back. */
static void test_pattern_file(void)
{
    g_autofree char *uri = g_strdup_printf("file:%s/%s", tmpfs,
                                           FILE_TEST_FILENAME);
    MigrateCommon args = {
        .connect_uri = uri,
        .listen_uri = "defer",
        .start_hook = hook_start_pattern,
        .end_hook = hook_end_compare,
    };

    test_file_common(&args, true);
}

/*
 * Capability on at the source only, as when libvirt starts the
 * destination (restore, migrate): a qemu-memx destination decodes the
 * pattern pages all the same.
 */
static void *hook_start_src_only(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, CAP, true);
    write_region(from);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

static void test_pattern_dst_without_capability(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_src_only,
        .end_hook = hook_end_compare,
    };

    test_precopy_common(&args);
}

/* With multifd the capability sizes packets: a mismatch is refused. */
static void *hook_start_multifd_src_only(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, CAP, true);
    write_region(from);
    migrate_set_parameter_int(from, "multifd-channels", 2);
    migrate_set_parameter_int(to, "multifd-channels", 2);
    migrate_set_capability(from, "multifd", true);
    migrate_set_capability(to, "multifd", true);
    /* keep the destination alive to read its error */
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL,
                         "{ 'exit-on-error': false }");
    return NULL;
}

/* The destination fails the load and stays up to say why. */
static void hook_end_check_refusal(QTestState *from, QTestState *to,
                                   void *opaque)
{
    QDict *rsp = NULL;
    const char *status = NULL;

    for (int tries = 0; tries < 600; tries++) {
        qobject_unref(rsp);
        rsp = qtest_qmp_assert_success_ref(to,
                                           "{ 'execute': 'query-migrate' }");
        status = qdict_get_try_str(rsp, "status");
        if (status && !strcmp(status, "failed")) {
            break;
        }
        g_usleep(100 * 1000);
    }
    g_assert_cmpstr(status, ==, "failed");
    g_assert_nonnull(qdict_get_try_str(rsp, "error-desc"));
    qobject_unref(rsp);
}

static void test_pattern_multifd_dst_without_capability(void)
{
    MigrateCommon args = {
        .listen_uri = "defer",
        .start_hook = hook_start_multifd_src_only,
        .end_hook = hook_end_check_refusal,
        .result = MIG_TEST_FAIL,
    };

    test_precopy_common(&args);
}

/*
 * The migration object property: -global on the destination's command
 * line, as libvirt's <qemu:commandline> passes it, with no QMP set.
 */
static void *hook_start_multifd_global(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, CAP, true);
    write_region(from);
    return migrate_hook_start_precopy_tcp_multifd_common(from, to, "none");
}

static void test_pattern_multifd_global(void)
{
    MigrateCommon args = {
        .start = {
            .opts_target = "-global migration.x-memx-pattern-pages=on",
        },
        .listen_uri = "defer",
        .start_hook = hook_start_multifd_global,
        .end_hook = hook_end_compare,
        .live = true,
    };

    test_precopy_common(&args);
}

static void test_pattern_refuses_mapped_ram(void)
{
    QTestState *from, *to;
    MigrateStart start = { 0 };
    QDict *rsp;

    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    migrate_set_capability(from, CAP, true);
    rsp = qtest_qmp(from, "{ 'execute': 'migrate-set-capabilities',"
                    "  'arguments': { 'capabilities': [ {"
                    "    'capability': 'mapped-ram', 'state': true } ] } }");
    g_assert(qdict_haskey(rsp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "mapped-ram"));
    qobject_unref(rsp);
    migrate_end(from, to, false);
}

/*
 * XBZRLE must learn about pages sent as patterns.  Page P goes: almost-
 * pattern (sent through XBZRLE, so cached), pattern (sent as a pattern),
 * almost-pattern again.  If the cache still held the first version, the
 * third send would look like "no change" and the destination would keep
 * the pattern.
 */
static void test_pattern_xbzrle_cache(void)
{
    QTestState *from, *to;
    MigrateStart start = { 0 };
    QTestMigrationState state = { 0 };
    g_autofree uint8_t *almost = g_malloc(PAGE);
    g_autofree uint8_t *pattern = g_malloc(PAGE);
    g_autofree uint8_t *got = g_malloc(PAGE);
    uint64_t addr = region_start();

    memset(pattern, 0xaa, PAGE);
    memcpy(almost, pattern, PAGE);
    almost[PAGE / 2] = 0x55;

    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    migrate_set_capability(from, CAP, true);
    migrate_set_capability(to, CAP, true);
    migrate_set_capability(from, "xbzrle", true);
    migrate_set_capability(to, "xbzrle", true);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    /* fast passes that never converge while the boot block dirties RAM */
    migrate_set_parameter_int(from, "max-bandwidth", 1000 * 1000 * 1000);
    migrate_set_parameter_int(from, "downtime-limit", 1);
    /* the cache is direct-mapped by page number: one slot per guest page */
    migrate_set_parameter_int(from, "xbzrle-cache-size", 256 * 1024 * 1024);
    qtest_bufwrite(from, addr, almost, PAGE);
    wait_for_serial("src_serial");
    migrate_qmp(from, to, NULL, NULL, "{}");

    /*
     * After the bulk pass XBZRLE is on.  wait_for_migration_pass()
     * returns once a new pass starts; the second call makes sure the pass
     * that picked up the write has finished sending it.
     */
    wait_for_migration_pass(from, &state);
    wait_for_migration_pass(from, &state);
    qtest_bufwrite(from, addr, almost, PAGE);       /* cached by XBZRLE */
    wait_for_migration_pass(from, &state);
    wait_for_migration_pass(from, &state);
    qtest_bufwrite(from, addr, pattern, PAGE);      /* sent as a pattern */
    wait_for_migration_pass(from, &state);
    wait_for_migration_pass(from, &state);
    qtest_bufwrite(from, addr, almost, PAGE);       /* XBZRLE vs cache */
    wait_for_migration_pass(from, &state);
    wait_for_migration_pass(from, &state);

    migrate_ensure_converge(from);
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    wait_for_serial("dest_serial");
    g_assert_cmpint(read_ram_property_int(from, CAP), >=, 1);
    qtest_bufread(to, addr, got, PAGE);
    g_assert_cmpmem(got, PAGE, almost, PAGE);
    migrate_end(from, to, true);
}

/* What one migration of a stopped source sent. */
typedef struct SentCounts {
    int64_t transferred;
    int64_t normal;
    int64_t pattern;
} SentCounts;

/*
 * Migrate a source that never ran (-S: its RAM is what the firmware
 * loaded, the same in every run) and holds the test region, with the
 * capability on or off, verify the region on the destination and
 * return the counts.
 */
static SentCounts migrate_stopped_source(bool pattern_pages)
{
    QTestState *from, *to;
    MigrateStart start = { .opts_source = "-S" };
    g_autofree uint8_t *dst = g_malloc(REGION_PAGES * PAGE);
    g_autofree uint8_t *want = g_malloc(PAGE);
    SentCounts sent;

    g_assert_false(migrate_start(&from, &to, "defer", &start));
    migrate_set_capability(from, CAP, pattern_pages);
    migrate_set_capability(to, CAP, pattern_pages);
    write_region(from);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    migrate_qmp(from, to, NULL, NULL, "{}");
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    sent.transferred = read_ram_property_int(from, "transferred");
    sent.normal = read_ram_property_int(from, "normal");
    sent.pattern = pattern_pages ? read_ram_property_int(from, CAP) : 0;
    qtest_bufread(to, region_start(), dst, REGION_PAGES * PAGE);
    for (unsigned i = 0; i < REGION_PAGES; i++) {
        fill_page(want, i);
        g_assert_cmpmem(dst + i * PAGE, PAGE, want, PAGE);
    }
    migrate_end(from, to, false);
    return sent;
}

/*
 * The capability must change what goes on the wire, measured against a
 * run without it: every non-zero pattern page leaves the normal-page
 * count, and each saves nearly a page of bytes.  (Checking the saved
 * bytes against the pattern count would only repeat QEMU's own sum.)
 */
static void test_pattern_bytes_vs_off(void)
{
    SentCounts off = migrate_stopped_source(false);
    SentCounts on = migrate_stopped_source(true);
    int64_t written = pattern_pages_written();

    g_test_message("capability off: %" PRId64 " bytes, %" PRId64
                   " normal pages; on: %" PRId64 " bytes, %" PRId64
                   " normal, %" PRId64 " pattern", off.transferred,
                   off.normal, on.transferred, on.normal, on.pattern);
    g_assert_cmpint(on.pattern, >=, written);
    g_assert_cmpint(off.normal - on.normal, >=, written);
    /* a page's data, less the header and 8-byte value that replace it */
    g_assert_cmpint(off.transferred - on.transferred, >=,
                    written * (PAGE - 64));
}

/*
 * virtio-tmem on a transport without a PCI proxy (microvm's virtio-mmio):
 * the query and its HMP twin name the device by its own id.
 */
static void test_tmem_query_microvm(void)
{
    QTestState *qts = qtest_init("-M microvm -nodefaults "
                                 "-object x-memx-tmem-store,id=s0,size=16M "
                                 "-device virtio-tmem-device,store=s0,id=t0");
    QDict *rsp = qtest_qmp(qts, "{ 'execute': '__org.qemu-memx_query-tmem' }");
    QList *stores = qdict_get_qlist(rsp, "return");
    QDict *store;
    g_autofree char *hmp = qtest_hmp(qts, "info memx-tmem");

    g_assert_nonnull(stores);
    g_assert_cmpint(qlist_size(stores), ==, 1);
    store = qobject_to(QDict, qlist_peek(stores));
    g_assert_cmpstr(qdict_get_str(store, "id"), ==, "s0");
    g_assert_cmpint(qdict_get_int(store, "devices"), ==, 1);
    g_assert_nonnull(strstr(hmp, "s0"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    MigrationTestEnv *env;
    int ret;

    g_test_init(&argc, &argv, NULL);
    env = migration_get_env();
    module_call_init(MODULE_INIT_QOM);
    tmpfs = env->tmpfs;

    if (env->is_x86) {
        migration_test_add("/migration/memx/pattern-pages/precopy",
                           test_pattern_precopy);
        migration_test_add("/migration/memx/pattern-pages/bytes-vs-off",
                           test_pattern_bytes_vs_off);
        migration_test_add("/migration/memx/pattern-pages/precopy-live",
                           test_pattern_precopy_live);
        migration_test_add("/migration/memx/pattern-pages/multifd",
                           test_pattern_multifd);
        migration_test_add("/migration/memx/pattern-pages/file",
                           test_pattern_file);
        migration_test_add(
            "/migration/memx/pattern-pages/dst-without-capability",
            test_pattern_dst_without_capability);
        migration_test_add(
            "/migration/memx/pattern-pages/multifd-dst-without-capability",
            test_pattern_multifd_dst_without_capability);
        migration_test_add("/migration/memx/pattern-pages/multifd-global",
                           test_pattern_multifd_global);
        migration_test_add("/migration/memx/pattern-pages/refuses-mapped-ram",
                           test_pattern_refuses_mapped_ram);
        migration_test_add("/migration/memx/pattern-pages/xbzrle-cache",
                           test_pattern_xbzrle_cache);
        migration_test_add("/migration/memx/estimate/first-pass",
                           test_estimate_first_pass);
        migration_test_add("/migration/memx/estimate/virtio-mem-unplugged",
                           test_estimate_virtio_mem_unplugged);
        migration_test_add("/migration/memx/estimate/virtio-mem-hugetlb",
                           test_estimate_virtio_mem_hugetlb);
        migration_test_add("/migration/memx/estimate/ignore-shared",
                           test_estimate_ignore_shared);
        memx_free_pages_tests_add(tmpfs);
        qtest_add_func("/memx/tmem/query-microvm", test_tmem_query_microvm);
        memx_numa_move_tests_add();
        memx_dedup_tests_add();
        memx_switchover_tests_add();
        memx_postcopy_tests_add(env->has_uffd);
    }
    ret = g_test_run();
    g_assert_cmpint(ret, ==, 0);
    return migration_env_clean(env);
}
