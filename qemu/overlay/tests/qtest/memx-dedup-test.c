/*
 * QTest cases of qemu-memx memdedup (-object x-memx-dedup) that need no
 * guest kernel: bad properties, one object only, the commands without an
 * object, a pass over a guest that cannot be introspected, RAM that must
 * never be discarded, the run states that refuse a pass, and a pass that
 * must never run inside loadvm or savevm, over a guest kernel's
 * structures laid out by hand.  Real guests are in tests/e2e/memdedup.py.
 *
 * Also every qemu-memx query and HMP "info memx-*" with nothing
 * configured, on three machines: each answers with a state, as upstream's
 * qmp-cmd-test requires of every query.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/fw_cfg.h"
#include "libqos/libqos-pc.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "standard-headers/linux/qemu_fw_cfg.h"
#include "memx-migration-test.h"

#define MIB (1024 * 1024)

static void assert_error_contains(QDict *rsp, const char *text)
{
    QDict *error = qdict_get_qdict(rsp, "error");

    g_assert_nonnull(error);
    g_assert_nonnull(strstr(qdict_get_str(error, "desc"), text));
    qobject_unref(rsp);
}

static QDict *query_dedup(QTestState *qts)
{
    return qtest_qmp_assert_success_ref(qts,
               "{ 'execute': '__org.qemu-memx_query-dedup' }");
}

/* Wait until @passes passes have finished; returns query-dedup's answer. */
static QDict *wait_passes(QTestState *qts, int64_t passes)
{
    QDict *info;

    for (int i = 0; i < 2000; i++) {
        info = query_dedup(qts);
        if (!qdict_get_bool(info, "running") &&
            qdict_get_int(info, "passes") >= passes) {
            return info;
        }
        qobject_unref(info);
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

static int64_t passes_so_far(QTestState *qts)
{
    QDict *info = query_dedup(qts);
    int64_t passes = qdict_get_int(info, "passes");

    qobject_unref(info);
    return passes;
}

/* Run one pass and wait for it; returns query-dedup's answer. */
static QDict *run_pass(QTestState *qts)
{
    int64_t passes = passes_so_far(qts);

    qtest_qmp_assert_success(qts,
                             "{ 'execute': '__org.qemu-memx_dedup-run' }");
    return wait_passes(qts, passes + 1);
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

/* Nothing configured: the query reports so, a pass cannot be started. */
static void test_dedup_no_object(void)
{
    QTestState *qts = qtest_init("-M q35 -m 64M");
    g_autofree char *hmp = NULL;
    QDict *info = query_dedup(qts);

    g_assert_false(qdict_get_bool(info, "configured"));
    g_assert_false(qdict_haskey(info, "running"));
    g_assert_nonnull(strstr(qdict_get_str(info, "reason"),
                            "no x-memx-dedup object"));
    qobject_unref(info);
    assert_error_contains(qtest_qmp(qts, "{ 'execute': "
        "'__org.qemu-memx_dedup-run' }"), "no x-memx-dedup object");
    hmp = qtest_hmp(qts, "info memx-dedup");
    g_assert_nonnull(strstr(hmp, "not configured"));
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

/*
 * Refused while a migration comes in, and on the source once the guest
 * has migrated away: the source's RAM must stay as it was sent.
 */
static void test_dedup_refused_states(void)
{
    g_autofree char *dir = g_dir_make_tmp("memx-dedup-XXXXXX", NULL);
    g_autofree char *state = g_strdup_printf("%s/state", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", state);
    QTestState *qts = qtest_init("-M pc -m 64M -incoming defer "
                                 "-object x-memx-dedup,id=dd");
    QDict *info;

    assert_error_contains(qtest_qmp(qts, "{ 'execute': "
        "'__org.qemu-memx_dedup-run' }"), "an incoming migration is running");
    info = query_dedup(qts);
    g_assert_cmpint(qdict_get_int(info, "passes"), ==, 0);
    g_assert_cmpstr(qdict_get_str(info, "reason"), ==,
                    "an incoming migration is running");
    qobject_unref(info);
    qtest_quit(qts);

    qts = qtest_init("-M pc -m 64M -object x-memx-dedup,id=dd");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate',"
                             " 'arguments': { 'uri': %s } }", uri);
    for (int i = 0;; i++) {
        QDict *status = qtest_qmp_assert_success_ref(qts,
                            "{ 'execute': 'query-status' }");
        bool done = !strcmp(qdict_get_str(status, "status"), "postmigrate");

        qobject_unref(status);
        if (done) {
            break;
        }
        g_assert_cmpint(i, <, 2000);
        g_usleep(10 * 1000);
    }
    assert_error_contains(qtest_qmp(qts, "{ 'execute': "
        "'__org.qemu-memx_dedup-run' }"), "migrated away");
    qtest_quit(qts);
    unlink(state);
    rmdir(dir);
}

/*
 * A Linux guest's structures, laid out by hand in a 2 GiB guest that runs
 * no code (a qtest, where the check that the vCPUs run the note's kernel
 * is skipped): a VMCOREINFO note, page tables that map vmemmap onto a
 * struct page array at FAKE_MEMMAP, and free 2 MiB buddy blocks across
 * [FAKE_FREE_START, FAKE_FREE_END).  A whole pass pauses once per 64 MiB
 * slice holding one of them: FAKE_SLICES times, many more than the main
 * loop runs between two commands of one write.
 */
#define FAKE_NOTE (8 * MIB)
#define FAKE_PGTABLE (10 * MIB)         /* PML4, PDPT, PD */
#define FAKE_MEMMAP (2016 * MIB)        /* 32 MiB: 64 bytes per 4 KiB */
#define FAKE_FREE_START (16 * MIB)
#define FAKE_FREE_END (1984 * MIB)
#define FAKE_SLICES 31
#define FAKE_BUDDY_ORDER 9

static const char fake_vmcoreinfo[] =
    "OSRELEASE=6.12.0-memx-dedup-test\n"
    "PAGESIZE=4096\n"
    "SYMBOL(init_top_pgt)=ffffffff80a00000\n"  /* FAKE_PGTABLE */
    "NUMBER(phys_base)=0\n"
    "NUMBER(pgtable_l5_enabled)=0\n"
    "SYMBOL(vmemmap)=ffffea0000000000\n"
    "SIZE(page)=64\n"
    "OFFSET(page._mapcount)=48\n"
    "OFFSET(page.private)=40\n"
    "LENGTH(zone.free_area)=11\n"
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\n"
    "NUMBER(SECTION_SIZE_BITS)=27\n";

/* Hand the note to -device vmcoreinfo as the guest's fw_cfg driver does. */
static void fake_guest_note(QOSState *qs)
{
    size_t len = sizeof(fake_vmcoreinfo) - 1;
    size_t size = 24 + ROUND_UP(len, 4);
    g_autofree uint32_t *elf = g_malloc0(size);
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    struct fw_cfg_vmcoreinfo where = {
        .host_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF),
        .guest_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF),
        .size = cpu_to_le32(size),
        .paddr = cpu_to_le64(FAKE_NOTE),
    };

    /* Elf64_Nhdr: name size, descriptor size, type 0; then the name */
    elf[0] = cpu_to_le32(sizeof("VMCOREINFO"));
    elf[1] = cpu_to_le32(len);
    strcpy((char *)&elf[3], "VMCOREINFO");
    memcpy(&elf[6], fake_vmcoreinfo, len);
    qtest_bufwrite(qs->qts, FAKE_NOTE, elf, size);
    g_assert_cmpuint(qfw_cfg_write_file(fw_cfg, qs, "etc/vmcoreinfo", &where,
                                        sizeof(where)), ==, sizeof(where));
    pc_fw_cfg_uninit(fw_cfg);
}

static void fake_guest_setup(QOSState *qs)
{
    g_autofree uint64_t *table = g_new0(uint64_t, 512);
    uint64_t order = cpu_to_le64(FAKE_BUDDY_ORDER);
    uint32_t buddy = cpu_to_le32(0xf0000000);

    /* every PML4 and PDPT entry leads to the one PD ... */
    for (int level = 0; level < 2; level++) {
        for (int i = 0; i < 512; i++) {
            table[i] = cpu_to_le64((FAKE_PGTABLE + (level + 1) * 4096) | 0x63);
        }
        qtest_bufwrite(qs->qts, FAKE_PGTABLE + level * 4096, table, 4096);
    }
    /* ... whose first entries map vmemmap's first 32 MiB in 2 MiB pages */
    memset(table, 0, 4096);
    for (int i = 0; i < 16; i++) {
        table[i] = cpu_to_le64((FAKE_MEMMAP + i * 2 * MIB) | 0xe3);
    }
    qtest_bufwrite(qs->qts, FAKE_PGTABLE + 2 * 4096, table, 4096);
    /* a free block's first struct page: its order, then the buddy mark */
    for (uint64_t gpa = FAKE_FREE_START; gpa < FAKE_FREE_END;
         gpa += (4096 << FAKE_BUDDY_ORDER)) {
        uint64_t page = FAKE_MEMMAP + (gpa >> 12) * 64;

        qtest_bufwrite(qs->qts, page + 40, &order, sizeof(order));
        qtest_bufwrite(qs->qts, page + 48, &buddy, sizeof(buddy));
    }
    fake_guest_note(qs);
}

/* Wait for job @id to conclude without an error, and dismiss it. */
static void wait_job(QTestState *qts, const char *id)
{
    for (int i = 0;; i++) {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-jobs' }");
        bool concluded = false;

        for (const QListEntry *e = qlist_first(qdict_get_qlist(rsp, "return"));
             e; e = qlist_next(e)) {
            QDict *job = qobject_to(QDict, qlist_entry_obj(e));

            if (!strcmp(qdict_get_str(job, "id"), id)) {
                g_assert_false(qdict_haskey(job, "error"));
                concluded = !strcmp(qdict_get_str(job, "status"),
                                    "concluded");
            }
        }
        qobject_unref(rsp);
        if (concluded) {
            break;
        }
        g_assert_cmpint(i, <, 2000);
        g_usleep(10 * 1000);
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'job-dismiss',"
                             " 'arguments': { 'id': %s } }", id);
}

/* Create a qcow2 image at @path with blockdev-create and attach it. */
static void add_qcow2_node(QTestState *qts, const char *path)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'blockdev-create',"
        " 'arguments': { 'job-id': 'file', 'options': {"
        " 'driver': 'file', 'filename': %s, 'size': 0 } } }", path);
    wait_job(qts, "file");
    qtest_qmp_assert_success(qts, "{ 'execute': 'blockdev-create',"
        " 'arguments': { 'job-id': 'qcow2', 'options': {"
        " 'driver': 'qcow2', 'size': %d,"
        " 'file': { 'driver': 'file', 'filename': %s } } } }",
        64 * MIB, path);
    wait_job(qts, "qcow2");
    qtest_qmp_assert_success(qts, "{ 'execute': 'blockdev-add',"
        " 'arguments': { 'driver': 'qcow2', 'node-name': 'disk0',"
        " 'file': { 'driver': 'file', 'filename': %s } } }", path);
}

static void hmp_ok(QTestState *qts, const char *command)
{
    g_autofree char *out = qtest_hmp(qts, "%s", command);

    g_assert_cmpstr(out, ==, "");
}

/*
 * Start a pass and HMP @command in one write, so that @command usually
 * begins while the pass has slices left.  Whatever the order, no vCPU
 * may have been paused while a snapshot loaded.  Returns whether the
 * pass ended early, and then its reason must hold @why.
 */
static bool pass_during_once(QTestState *qts, const char *command,
                             const char *why)
{
    int64_t passes = passes_so_far(qts);
    const char *reason;
    QDict *rsp, *info;
    bool interrupted;

    qtest_qmp_send_raw(qts,
        "{ \"execute\": \"__org.qemu-memx_dedup-run\" }"
        "{ \"execute\": \"human-monitor-command\","
        " \"arguments\": { \"command-line\": \"%s\" } }", command);
    rsp = qtest_qmp_receive(qts);
    g_assert_true(qdict_haskey(rsp, "return"));     /* the pass started */
    qobject_unref(rsp);
    rsp = qtest_qmp_receive(qts);
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, "");
    qobject_unref(rsp);
    info = wait_passes(qts, passes + 1);
    reason = qdict_get_try_str(info, "reason");
    g_test_message("%s: the pass paused %" PRId64 " times of %d and ended: "
                   "%s; pauses while a snapshot loaded, all passes: %" PRId64,
                   command, qdict_get_int(info, "last-pauses"), FAKE_SLICES,
                   reason ? reason : "at its end",
                   qdict_get_int(info, "restore-pauses"));
    g_assert_cmpint(qdict_get_int(info, "restore-pauses"), ==, 0);
    interrupted = reason != NULL;
    if (interrupted) {
        g_assert_nonnull(strstr(reason, why));
        g_assert_cmpint(qdict_get_int(info, "last-pauses"), <, FAKE_SLICES);
    }
    qobject_unref(info);
    return interrupted;
}

/*
 * The monitor may dispatch @command only after the pass ran its last
 * slice (its slices follow each other at once; on a loaded host that
 * happened in one fresh-clone make check, 2026-12-05).  Try again then:
 * @command must meet a running pass within a few tries.
 */
static void pass_during(QTestState *qts, const char *command, const char *why)
{
    for (int attempt = 1; attempt <= 5; attempt++) {
        if (pass_during_once(qts, command, why)) {
            return;
        }
    }
    g_assert_not_reached();     /* never met the pass in 5 tries */
}

/*
 * loadvm and savevm poll the block layer in nested event loops; a pass
 * started just before must end when they begin, and none of its slices
 * may run inside them, on a guest whose state is half loaded.
 */
static void test_dedup_never_inside_loadvm(void)
{
    g_autofree char *dir = g_dir_make_tmp("memx-dedup-XXXXXX", NULL);
    g_autofree char *image = g_strdup_printf("%s/disk.qcow2", dir);
    QOSState *qs = qtest_pc_boot("-nodefaults -m 2G -device vmcoreinfo "
                                 "-object x-memx-dedup,id=dd");
    QTestState *qts = qs->qts;
    QDict *info;

    add_qcow2_node(qts, image);
    fake_guest_setup(qs);
    /* the layout gives a whole pass FAKE_SLICES pauses */
    info = run_pass(qts);
    g_assert_false(qdict_haskey(info, "reason"));
    g_assert_cmpint(qdict_get_int(info, "last-pauses"), ==, FAKE_SLICES);
    qobject_unref(info);
    hmp_ok(qts, "savevm s0");

    /* the VM runs: loadvm stops it in run state restore-vm */
    pass_during(qts, "loadvm s0", "a snapshot is being loaded (loadvm)");
    /* stopped already: loadvm changes no run state, but resets */
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    pass_during(qts, "loadvm s0", "a snapshot was loaded (loadvm)");
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    pass_during(qts, "savevm s1", "the VM state is being saved");

    /* and afterwards a pass runs whole again */
    info = run_pass(qts);
    g_assert_false(qdict_haskey(info, "reason"));
    g_assert_cmpint(qdict_get_int(info, "last-pauses"), ==, FAKE_SLICES);
    g_assert_cmpint(qdict_get_int(info, "restore-pauses"), ==, 0);
    qobject_unref(info);
    qtest_shutdown(qs);
    unlink(image);
    rmdir(dir);
}

/*
 * Every qemu-memx query and every HMP "info memx-*", found in the QMP
 * schema and in "help info", with nothing configured: each must answer
 * with a state, never an error, on a machine without RAM, on microvm and
 * on pc.
 */
static void test_queries_unconfigured(void)
{
    static const char *const machines[] = { "none", "microvm", "pc" };

    for (int m = 0; m < G_N_ELEMENTS(machines); m++) {
        QTestState *qts = qtest_initf("-nodefaults -machine %s", machines[m]);
        QDict *introspected = qtest_qmp(qts,
                                        "{ 'execute': 'query-qmp-schema' }");
        QList *schema = qdict_get_qlist(introspected, "return");
        g_autofree char *help = qtest_hmp(qts, "help info");
        g_auto(GStrv) lines = g_strsplit(help, "\n", -1);
        int queries = 0, infos = 0;

        for (const QListEntry *e = qlist_first(schema); e; e = qlist_next(e)) {
            QDict *entity = qobject_to(QDict, qlist_entry_obj(e));
            const char *name = qdict_get_str(entity, "name");
            QDict *rsp;

            if (strcmp(qdict_get_str(entity, "meta-type"), "command") ||
                !g_str_has_prefix(name, "__org.qemu-memx_query-")) {
                continue;
            }
            rsp = qtest_qmp(qts, "{ 'execute': %s }", name);
            if (!qdict_haskey(rsp, "return")) {
                g_error("%s on -machine %s: %s", name, machines[m],
                        qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
            }
            qobject_unref(rsp);
            queries++;
        }
        for (int i = 0; lines[i]; i++) {
            g_auto(GStrv) words = g_strsplit(lines[i], " ", 3);
            g_autofree char *out = NULL;

            if (g_strcmp0(words[0], "info") || !words[1] ||
                !g_str_has_prefix(words[1], "memx-")) {
                continue;
            }
            out = qtest_hmp(qts, "info %s", words[1]);
            if (strstr(out, "Error") || strstr(out, "unknown command")) {
                g_error("info %s on -machine %s: %s", words[1], machines[m],
                        out);
            }
            infos++;
        }
        g_test_message("-machine %s: %d queries, %d info commands",
                       machines[m], queries, infos);
        /*
         * at least those of free pages, the estimate, tmem, page activity,
         * the NUMA move and memdedup
         */
        g_assert_cmpint(queries, >=, 6);
        g_assert_cmpint(infos, >=, 6);
        qobject_unref(introspected);
        qtest_quit(qts);
    }
}

void memx_dedup_tests_add(void)
{
    qtest_add_func("/memx/dedup/bad-properties", test_dedup_bad_properties);
    qtest_add_func("/memx/dedup/no-object", test_dedup_no_object);
    qtest_add_func("/memx/dedup/no-guest-kernel", test_dedup_no_guest_kernel);
    qtest_add_func("/memx/dedup/skips-shared-ram",
                   test_dedup_skips_shared_ram);
    qtest_add_func("/memx/dedup/refused-states", test_dedup_refused_states);
    qtest_add_func("/memx/dedup/never-inside-loadvm",
                   test_dedup_never_inside_loadvm);
    qtest_add_func("/memx/queries/unconfigured", test_queries_unconfigured);
}
