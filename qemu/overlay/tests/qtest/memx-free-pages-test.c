/*
 * qtests for qemu-memx guest-free page skipping
 * (__org.qemu-memx_skip-free-pages), part of memx-migration-test.
 *
 * The boot-block guest, which is not Linux and never sends VMCOREINFO,
 * must migrate with nothing skipped and the reason reported.  Hostile
 * VMCOREINFO notes written through fw_cfg the way a guest driver does
 * (bad addresses, absurd sizes, page tables that loop or point outside
 * RAM, a misaligned vmemmap that once hung QEMU, an 8 KiB mem_section
 * entry that once crashed it) must each be refused with a reason, QEMU
 * staying up, and a migration with the worst of them still completes
 * with guest memory verified.  A shared file-backed DIMM hot-plugged
 * after the capability was set is never skipped from.
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
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/fw_cfg.h"
#include "standard-headers/linux/qemu_fw_cfg.h"
#include "memx-migration-test.h"

static const char *tmpfs;

#define SKIP_CAP "__org.qemu-memx_skip-free-pages"
#define MIB (1024 * 1024)
/* Guest addresses above the boot block's range and the pattern region */
#define NOTE_GPA (120 * MIB)
#define PGTABLE_GPA (124 * MIB)
#define DMA_GPA (126 * MIB)
#define KERNEL_MAP 0xffffffff80000000ULL

/* Ask fw_cfg's DMA interface to write @len bytes at @gpa to file @key. */
static void fw_cfg_dma_write(QTestState *qts, uint16_t key, uint64_t gpa,
                             uint32_t len)
{
    struct fw_cfg_dma_access access = {
        .control = cpu_to_be32((uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT |
                               FW_CFG_DMA_CTL_WRITE),
        .length = cpu_to_be32(len),
        .address = cpu_to_be64(gpa),
    };

    qtest_bufwrite(qts, DMA_GPA, &access, sizeof(access));
    qtest_outl(qts, 0x514, cpu_to_be32(0));
    qtest_outl(qts, 0x518, cpu_to_be32(DMA_GPA));
    qtest_bufread(qts, DMA_GPA, &access, sizeof(access));
    g_assert_cmphex(be32_to_cpu(access.control), ==, 0);
}

static uint16_t fw_cfg_file_key(QTestState *qts, const char *name)
{
    g_autoptr(QFWCFG) fw_cfg = pc_fw_cfg_init(qts);
    g_autofree uint8_t *dir = NULL;
    uint32_t count;

    qfw_cfg_get(fw_cfg, FW_CFG_FILE_DIR, &count, sizeof(count));
    count = be32_to_cpu(count);
    dir = g_malloc(4 + count * sizeof(struct fw_cfg_file));
    qfw_cfg_get(fw_cfg, FW_CFG_FILE_DIR, dir,
                4 + count * sizeof(struct fw_cfg_file));
    for (uint32_t i = 0; i < count; i++) {
        struct fw_cfg_file *f = (void *)(dir + 4 + i * sizeof(*f));

        if (!strcmp(f->name, name)) {
            return be16_to_cpu(f->select);
        }
    }
    g_assert_not_reached();
}

/*
 * Do what a guest's qemu_fw_cfg driver does: put an ELF note holding
 * @text at NOTE_GPA and tell the vmcoreinfo device where it is.  A
 * non-zero @paddr or @size overrides what is announced.
 */
static void write_vmcoreinfo(QTestState *qts, const char *text,
                             uint64_t paddr, uint32_t size)
{
    size_t len = strlen(text), total = 12 + 12 + ROUND_UP(len, 4);
    g_autofree uint8_t *note = g_malloc0(total);
    uint32_t hdr[3] = { cpu_to_le32(11), cpu_to_le32(len), 0 };
    struct fw_cfg_vmcoreinfo info = {
        .host_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF),
        .guest_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF),
        .size = cpu_to_le32(size ? size : total),
        .paddr = cpu_to_le64(paddr ? paddr : NOTE_GPA),
    };

    memcpy(note, hdr, sizeof(hdr));
    memcpy(note + 12, "VMCOREINFO", 11);
    memcpy(note + 24, text, len);
    qtest_bufwrite(qts, NOTE_GPA, note, total);
    qtest_bufwrite(qts, DMA_GPA + 64, &info, sizeof(info));
    fw_cfg_dma_write(qts, fw_cfg_file_key(qts, "etc/vmcoreinfo"),
                     DMA_GPA + 64, sizeof(info));
}

#define VMEMMAP 0xffffea0000000000ULL

/*
 * A note that parses, with vmemmap at @vmemmap and @extra lines; the
 * page tables it names are at PGTABLE_GPA.
 */
static char *hostile_note_at(uint64_t phys_base, const char *page_size,
                             uint64_t vmemmap, const char *extra)
{
    return g_strdup_printf("OSRELEASE=6.12.0-hostile\n"
                           "PAGESIZE=4096\n"
                           "SYMBOL(init_top_pgt)=%" PRIx64 "\n"
                           "NUMBER(phys_base)=%" PRId64 "\n"
                           "NUMBER(pgtable_l5_enabled)=0\n"
                           "SYMBOL(vmemmap)=%" PRIx64 "\n"
                           "SIZE(page)=%s\n"
                           "OFFSET(page._mapcount)=48\n"
                           "OFFSET(page.private)=40\n"
                           "LENGTH(zone.free_area)=11\n"
                           "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\n"
                           "NUMBER(SECTION_SIZE_BITS)=27\n%s",
                           (uint64_t)(KERNEL_MAP + PGTABLE_GPA),
                           (int64_t)phys_base, vmemmap, page_size, extra);
}

static char *hostile_note(uint64_t phys_base, const char *page_size)
{
    return hostile_note_at(phys_base, page_size, VMEMMAP, "");
}

/* Fill the page-table page at @gpa with one entry value repeated. */
static void write_pgtable(QTestState *qts, uint64_t gpa, uint64_t entry)
{
    g_autofree uint64_t *table = g_new(uint64_t, 512);

    for (int i = 0; i < 512; i++) {
        table[i] = cpu_to_le64(entry);
    }
    qtest_bufwrite(qts, gpa, table, 4096);
}

static QDict *query_guest_free_pages(QTestState *qts)
{
    return qtest_qmp_assert_success_ref(qts,
        "{ 'execute': '__org.qemu-memx_query-guest-free-pages' }");
}

/* The query must answer "unavailable" with a reason containing @why. */
static void assert_refused(QTestState *qts, const char *why)
{
    QDict *ret = query_guest_free_pages(qts);
    const char *reason = qdict_get_try_str(ret, "reason");

    g_assert_false(qdict_get_bool(ret, "available"));
    if (!reason || !strstr(reason, why)) {
        g_error("expected a reason with '%s', got '%s'", why, reason);
    }
    qobject_unref(ret);
}

static void *hook_start_skip_free(QTestState *from, QTestState *to)
{
    migrate_set_capability(from, SKIP_CAP, true);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    return NULL;
}

/* query-migrate: nothing skipped, and the reason @opaque given. */
static void hook_end_skipped_nothing(QTestState *from, QTestState *to,
                                     void *opaque)
{
    QDict *rsp = migrate_query(from);
    QDict *ram = qdict_get_qdict(rsp, "ram");
    const char *why = qdict_get_try_str(ram,
                                        "__org.qemu-memx_free-page-skip-blocked");

    g_assert_cmpint(qdict_get_int(ram, "__org.qemu-memx_free-pages-skipped"),
                    ==, 0);
    g_assert_cmpint(qdict_get_int(ram, "__org.qemu-memx_free-page-scans"),
                    ==, 0);
    g_assert_nonnull(why);
    g_assert_nonnull(strstr(why, "has not provided VMCOREINFO"));
    qobject_unref(rsp);
}

/* Not Linux, no VMCOREINFO: migration works and skips nothing. */
static void test_skip_free_no_vmcoreinfo(void)
{
    MigrateCommon args = {
        .start = {
            .opts_source = "-device vmcoreinfo",
            .opts_target = "-device vmcoreinfo",
        },
        .listen_uri = "defer",
        .start_hook = hook_start_skip_free,
        .end_hook = hook_end_skipped_nothing,
        .live = true,
    };

    test_precopy_common(&args);
}

/* Each hostile note is refused with its reason; QEMU stays up. */
static void *hook_start_hostile_vmcoreinfo(QTestState *from, QTestState *to)
{
    g_autofree char *good = hostile_note(0, "64");
    g_autofree char *mmio_pgt = hostile_note(0xfed00000ULL - PGTABLE_GPA, "64");
    g_autofree char *huge_page = hostile_note(0, "4294967296");
    g_autofree char *bad_layout = hostile_note(0, "72");
    /* once spun forever in the scan with the BQL held */
    g_autofree char *misaligned = hostile_note_at(0, "64", VMEMMAP + 32, "");
    /* once divided by zero: 4096 / 8192 sections per root */
    g_autofree char *huge_section = hostile_note_at(
        0, "64", VMEMMAP, "SYMBOL(mem_section)=ffff888000001000\n"
        "LENGTH(mem_section)=1\nSIZE(mem_section)=8192\n"
        "OFFSET(mem_section.section_mem_map)=0\n");
    QDict *ret;

    /*
     * The firmware talks to fw_cfg while it boots: start only once the
     * boot block runs, so our selects and DMA do not interleave with it.
     */
    wait_for_serial("src_serial");
    assert_refused(from, "has not provided VMCOREINFO");

    /* Bad addresses and absurd sizes of the note itself */
    write_vmcoreinfo(from, good, 0, 0x7fffffff);
    assert_refused(from, "absurd size");
    write_vmcoreinfo(from, good, 0xfee00000, 0);
    assert_refused(from, "not in guest RAM");
    write_vmcoreinfo(from, good, 150 * MIB - 64, 0);
    assert_refused(from, "not in guest RAM");
    write_vmcoreinfo(from, "PAGESIZE=4096\nOSRELEASE=\x01\x02\xff\n", 0, 0);
    assert_refused(from, "VMCOREINFO");

    /* Absurd struct page layouts */
    write_vmcoreinfo(from, huge_page, 0, 0);
    assert_refused(from, "struct page layout");
    write_vmcoreinfo(from, bad_layout, 0, 0);
    assert_refused(from, "power of two");

    /* Page tables in MMIO, empty, mapping outside RAM */
    write_vmcoreinfo(from, mmio_pgt, 0, 0);
    assert_refused(from, "init_top_pgt is not in guest RAM");
    write_pgtable(from, PGTABLE_GPA, 0);
    write_vmcoreinfo(from, good, 0, 0);
    assert_refused(from, "not mapped");
    /* QEMU must answer, not hang or crash, and say why */
    write_pgtable(from, PGTABLE_GPA, PGTABLE_GPA | 0x63);
    write_vmcoreinfo(from, misaligned, 0, 0);
    assert_refused(from, "not aligned to SIZE(page)");
    write_vmcoreinfo(from, huge_section, 0, 0);
    assert_refused(from, "mem_section layout is inconsistent");
    write_pgtable(from, PGTABLE_GPA, 0);
    write_vmcoreinfo(from, good, 0, 0);
    /* PS in a top-level entry is reserved */
    write_pgtable(from, PGTABLE_GPA, 0x4000000000ULL | 0xe3);
    assert_refused(from, "inconsistent");
    /* 1 GiB pages at 256 GiB, far beyond guest RAM */
    write_pgtable(from, PGTABLE_GPA, (PGTABLE_GPA + 4096) | 0x63);
    write_pgtable(from, PGTABLE_GPA + 4096, 0x4000000000ULL | 0xe3);
    assert_refused(from, "outside guest RAM");

    /*
     * Every entry points back at the table itself: the walk must end
     * after four levels, read struct pages that are the table, and find
     * nothing free.  This one stays in place for the migration.
     */
    write_pgtable(from, PGTABLE_GPA, PGTABLE_GPA | 0x63);
    ret = query_guest_free_pages(from);
    g_assert_true(qdict_get_bool(ret, "available"));
    g_assert_cmpstr(qdict_get_str(ret, "kernel-release"), ==,
                    "6.12.0-hostile");
    g_assert_cmpint(qdict_get_int(ret, "free-pages"), ==, 0);
    qobject_unref(ret);
    /* HMP says the same */
    {
        g_autofree char *hmp = qtest_hmp(from, "info memx-guest-free-pages");

        g_assert_nonnull(strstr(hmp, "free: 0 pages"));
    }
    return hook_start_skip_free(from, to);
}

static void hook_end_hostile(QTestState *from, QTestState *to, void *opaque)
{
    QDict *rsp = migrate_query(from);
    QDict *ram = qdict_get_qdict(rsp, "ram");

    g_assert_cmpint(qdict_get_int(ram, "__org.qemu-memx_free-pages-skipped"),
                    ==, 0);
    g_assert_cmpint(qdict_get_int(ram, "__org.qemu-memx_free-page-scans"),
                    >=, 1);
    qobject_unref(rsp);
}

static void test_skip_free_hostile_vmcoreinfo(void)
{
    MigrateCommon args = {
        .start = {
            .opts_source = "-device vmcoreinfo",
            .opts_target = "-device vmcoreinfo",
        },
        .listen_uri = "defer",
        .start_hook = hook_start_hostile_vmcoreinfo,
        .end_hook = hook_end_hostile,
        .live = true,
    };

    test_precopy_common(&args);
}

/* The capability's preconditions give clear errors. */
static void test_skip_free_refusals(void)
{
    QTestState *from, *to;
    MigrateStart start = { 0 };
    QDict *rsp;

    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    rsp = qtest_qmp(from, "{ 'execute': 'migrate-set-capabilities',"
                    "  'arguments': { 'capabilities': [ {"
                    "    'capability': %s, 'state': true } ] } }", SKIP_CAP);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "-device vmcoreinfo"));
    qobject_unref(rsp);
    migrate_end(from, to, false);

    start.opts_source = "-device vmcoreinfo";
    if (migrate_start(&from, &to, "defer", &start)) {
        return;
    }
    migrate_set_capability(from, SKIP_CAP, true);
    rsp = qtest_qmp(from, "{ 'execute': 'migrate-set-capabilities',"
                    "  'arguments': { 'capabilities': [ {"
                    "    'capability': 'postcopy-ram', 'state': true } ] } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "postcopy-ram"));
    qobject_unref(rsp);
    migrate_end(from, to, false);
}

/*
 * Snapshots are loaded into RAM that already holds data: a skipped page
 * would keep what the guest wrote after the snapshot.  savevm and the
 * snapshot-save job must refuse, naming the capability, before they look
 * at any disk (there is none here, so anything else would fail later
 * with another message).
 */
static void test_skip_free_snapshot_refused(void)
{
    QTestState *qts = qtest_init("-device vmcoreinfo");
    g_autofree char *out = NULL;
    QDict *rsp;

    migrate_set_capability(qts, SKIP_CAP, true);
    out = qtest_hmp(qts, "savevm s1");
    g_assert_nonnull(strstr(out, "Snapshots cannot skip guest-free pages"));

    qtest_qmp_assert_success(qts, "{ 'execute': 'snapshot-save',"
                             "  'arguments': { 'job-id': 'snap0',"
                             "    'tag': 's1', 'vmstate': 'none',"
                             "    'devices': [] } }");
    for (;;) {
        QList *jobs;
        QDict *job;

        rsp = qtest_qmp(qts, "{ 'execute': 'query-jobs' }");
        jobs = qdict_get_qlist(rsp, "return");
        g_assert_false(qlist_empty(jobs));
        job = qobject_to(QDict, qlist_peek(jobs));
        if (!strcmp(qdict_get_str(job, "status"), "concluded")) {
            g_assert_nonnull(strstr(qdict_get_str(job, "error"),
                                    "Snapshots cannot skip guest-free "
                                    "pages"));
            qobject_unref(rsp);
            break;
        }
        qobject_unref(rsp);
        g_usleep(10 * 1000);
    }

    /* with the capability off, savevm gets as far as the disks */
    migrate_set_capability(qts, SKIP_CAP, false);
    g_free(out);
    out = qtest_hmp(qts, "savevm s1");
    g_assert_null(strstr(out, "guest-free pages"));

    /* COLO loads checkpoints into RAM that holds the previous one */
    migrate_set_capability(qts, SKIP_CAP, true);
    rsp = qtest_qmp(qts, "{ 'execute': 'migrate-set-capabilities',"
                    "  'arguments': { 'capabilities': [ {"
                    "    'capability': 'x-colo', 'state': true } ] } }");
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

/* Where the hostile kallsyms tables are, in the kernel-image mapping */
#define KSYMS_GPA (100 * MIB)
#define KSYMS_KVA (KERNEL_MAP + KSYMS_GPA)

/*
 * A note with kallsyms: the seven SYMBOL() lines at @num_syms, and the
 * tables 4 KiB apart from @tables on.  QEMU reads a kernel's kallsyms
 * once per note (they are read-only in a real kernel): @serial makes
 * each note new.
 */
static char *kallsyms_note(uint64_t num_syms, uint64_t tables, int serial)
{
    g_autofree char *extra = g_strdup_printf(
        "X-TEST-SERIAL=%d\n"
        "SYMBOL(_stext)=ffffffff81000000\n"
        "SYMBOL(kallsyms_num_syms)=%" PRIx64 "\n"
        "SYMBOL(kallsyms_relative_base)=%" PRIx64 "\n"
        "SYMBOL(kallsyms_token_index)=%" PRIx64 "\n"
        "SYMBOL(kallsyms_token_table)=%" PRIx64 "\n"
        "SYMBOL(kallsyms_offsets)=%" PRIx64 "\n"
        "SYMBOL(kallsyms_names)=%" PRIx64 "\n",
        serial, num_syms, num_syms + 8, tables, tables + 4096, tables + 8192,
        tables + 12288);

    return hostile_note_at(0, "64", VMEMMAP, extra);
}

static void write_kallsyms_note(QTestState *qts, int serial)
{
    g_autofree char *note = kallsyms_note(KSYMS_KVA, KSYMS_KVA + 4096, serial);

    write_vmcoreinfo(qts, note, 0, 0);
}

/* The query must find the struct pages but refuse kallsyms for @why. */
static void assert_kallsyms_refused(QTestState *qts, const char *why)
{
    QDict *ret = query_guest_free_pages(qts);
    const char *reason = qdict_get_try_str(ret, "kallsyms-reason");

    g_assert_true(qdict_get_bool(ret, "available"));
    if (!reason || !strstr(reason, why)) {
        g_error("expected a kallsyms reason with '%s', got '%s'", why, reason);
    }
    g_assert_false(qdict_haskey(ret, "kallsyms-symbols"));
    g_assert_false(qdict_haskey(ret, "pcp-layout"));
    g_assert_false(qdict_haskey(ret, "pcp-lists"));
    g_assert_nonnull(qdict_get_try_str(ret, "pcp-reason"));
    g_assert_cmpint(qdict_get_int(ret, "pcp-pages"), ==, 0);
    qobject_unref(ret);
}

/*
 * kallsyms tables a hostile guest points into MMIO, or that lie about
 * their lengths or never end: each is refused with its reason, the
 * per-CPU lists are left alone, the buddy scan still answers.
 */
static void test_skip_free_hostile_kallsyms(void)
{
    QTestState *qts = qtest_init("-S -m 150M -device vmcoreinfo");
    /* 1 GiB: the PCI window of a 150 MiB guest, MMIO */
    g_autofree char *mmio = kallsyms_note(KERNEL_MAP + 0x40000000ULL,
                                          KERNEL_MAP + 0x40001000ULL, 0);
    g_autofree uint8_t *fill = g_malloc(5 * 4096);
    uint32_t num_syms;
    int serial = 0;

    write_pgtable(qts, PGTABLE_GPA, PGTABLE_GPA | 0x63);
    write_vmcoreinfo(qts, mmio, 0, 0);
    assert_kallsyms_refused(qts, "not in guest RAM");

    /* a symbol count no kernel has */
    num_syms = cpu_to_le32(0xffffffff);
    qtest_bufwrite(qts, KSYMS_GPA, &num_syms, sizeof(num_syms));
    write_kallsyms_note(qts, ++serial);
    assert_kallsyms_refused(qts, "out of range");
    /* the same note: what was found about its kernel is kept */
    num_syms = cpu_to_le32(1000);
    qtest_bufwrite(qts, KSYMS_GPA, &num_syms, sizeof(num_syms));
    assert_kallsyms_refused(qts, "out of range");

    /* tokens that never end: every byte of the table is non-zero */
    memset(fill, 0x41, 5 * 4096);
    qtest_bufwrite(qts, KSYMS_GPA + 4096, fill, 5 * 4096);
    write_kallsyms_note(qts, ++serial);
    assert_kallsyms_refused(qts, "token");

    /* names whose lengths run past the table and out of guest RAM */
    memset(fill, 0, 4096);
    qtest_bufwrite(qts, KSYMS_GPA + 4096, fill, 4096);   /* token index */
    memset(fill, 0xff, 4096);
    qtest_bufwrite(qts, KSYMS_GPA + 4 * 4096, fill, 4096);  /* names */
    fill[0] = 0x61;
    fill[1] = 0;
    qtest_bufwrite(qts, KSYMS_GPA + 2 * 4096, fill, 2);  /* token "a" */
    write_kallsyms_note(qts, ++serial);
    assert_kallsyms_refused(qts, "kallsyms_names is malformed");
    qtest_quit(qts);
}

#define DIMM_SIZE (4 * MIB)
#define FAKE_MEMMAP_GPA (108 * MIB)     /* 2 MiB aligned, unused by others */

/*
 * Page tables whose only struct pages are those of the 2 MiB vmemmap
 * stretch for guest-physical 4..4.125 GiB, where the DIMM lands: every
 * page of the DIMM is an order-0 buddy block, nothing else is mapped.
 */
static void write_dimm_free_tables(QTestState *qts, uint64_t dimm_gpa)
{
    uint64_t pd = PGTABLE_GPA + 2 * 4096;
    uint64_t index = ((dimm_gpa >> 12) * 64) >> 21;
    g_autofree uint8_t *pages = g_malloc0((DIMM_SIZE >> 12) * 64);
    uint64_t entry = cpu_to_le64(FAKE_MEMMAP_GPA | 0xe3);
    uint32_t buddy = cpu_to_le32(0xf0000000);

    g_assert_cmphex(((dimm_gpa >> 12) * 64) & ((2 * MIB) - 1), ==, 0);
    write_pgtable(qts, PGTABLE_GPA, (PGTABLE_GPA + 4096) | 0x63);
    write_pgtable(qts, PGTABLE_GPA + 4096, pd | 0x63);
    write_pgtable(qts, pd, 0);
    qtest_bufwrite(qts, pd + index * 8, &entry, 8);
    for (uint64_t i = 0; i < DIMM_SIZE >> 12; i++) {
        memcpy(pages + i * 64 + 48, &buddy, 4);     /* private 0: order 0 */
    }
    qtest_bufwrite(qts, FAKE_MEMMAP_GPA, pages, (DIMM_SIZE >> 12) * 64);
}

static uint64_t hotplug_shared_dimm(QTestState *qts, const char *path)
{
    QDict *rsp;
    QList *devices;
    uint64_t addr;

    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': {"
                             " 'qom-type': 'memory-backend-file',"
                             " 'id': 'dimm0-mem', 'size': %d,"
                             " 'mem-path': %s, 'share': true } }",
                             DIMM_SIZE, path);
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': {"
                             " 'driver': 'pc-dimm', 'id': 'dimm0',"
                             " 'memdev': 'dimm0-mem' } }");
    rsp = qtest_qmp(qts, "{ 'execute': 'query-memory-devices' }");
    devices = qdict_get_qlist(rsp, "return");
    g_assert_cmpint(qlist_size(devices), ==, 1);
    addr = qdict_get_int(qdict_get_qdict(qobject_to(QDict,
                                                    qlist_peek(devices)),
                                         "data"), "addr");
    qobject_unref(rsp);
    return addr;
}

/*
 * The capability is set while all RAM is anonymous; then a shared
 * file-backed DIMM is hot-plugged, and the guest says all of it is free.
 * Its pages must still be sent: on the destination a page not sent shows
 * whatever that file holds (here 0x5a), not zero.
 */
static void test_skip_free_shared_dimm_hotplug(void)
{
    MigrateStart args = {
        .memory_backend = "-m %s,slots=1,maxmem=1G ",
        .opts_source = "-device vmcoreinfo",
        .opts_target = "-device vmcoreinfo",
    };
    g_autofree char *src_path = g_strdup_printf("%s/dimm-src", tmpfs);
    g_autofree char *dst_path = g_strdup_printf("%s/dimm-dst", tmpfs);
    g_autofree char *note = hostile_note(0, "64");
    g_autofree uint8_t *data = g_malloc(DIMM_SIZE);
    g_autofree uint8_t *got = g_malloc(DIMM_SIZE);
    g_autofree char *stale = g_malloc(DIMM_SIZE);
    QTestState *from, *to;
    uint64_t addr;
    QDict *rsp;

    memset(stale, 0x5a, DIMM_SIZE);
    g_assert_true(g_file_set_contents(dst_path, stale, DIMM_SIZE, NULL));
    if (migrate_start(&from, &to, "defer", &args)) {
        return;
    }
    migrate_set_capability(from, SKIP_CAP, true);
    addr = hotplug_shared_dimm(from, src_path);
    g_assert_cmpuint(hotplug_shared_dimm(to, dst_path), ==, addr);
    for (unsigned i = 0; i < DIMM_SIZE; i++) {
        data[i] = (i * 131 + 17) ^ (i >> 12);       /* garbage */
    }
    qtest_bufwrite(from, addr, data, DIMM_SIZE);

    wait_for_serial("src_serial");
    write_dimm_free_tables(from, addr);
    write_vmcoreinfo(from, note, 0, 0);
    rsp = query_guest_free_pages(from);
    g_assert_true(qdict_get_bool(rsp, "available"));
    g_assert_cmpint(qdict_get_int(rsp, "free-pages"), ==, DIMM_SIZE >> 12);
    g_assert_false(qdict_haskey(rsp, "free-ranges"));
    qobject_unref(rsp);
    /* the free pages themselves: the DIMM, as one run */
    rsp = qtest_qmp_assert_success_ref(from,
        "{ 'execute': '__org.qemu-memx_query-guest-free-pages',"
        "  'arguments': { 'ranges': true } }");
    {
        QList *ranges = qdict_get_qlist(rsp, "free-ranges");
        QDict *run;

        g_assert_nonnull(ranges);
        g_assert_cmpint(qlist_size(ranges), ==, 1);
        run = qobject_to(QDict, qlist_peek(ranges));
        g_assert_cmpuint(qdict_get_int(run, "start"), ==, addr);
        g_assert_cmpuint(qdict_get_int(run, "length"), ==, DIMM_SIZE);
    }
    qobject_unref(rsp);

    migrate_ensure_converge(from);
    migrate_incoming_qmp(to, "tcp:127.0.0.1:0", NULL, "{}");
    migrate_qmp(from, to, NULL, NULL, "{}");
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);

    qtest_bufread(to, addr, got, DIMM_SIZE);
    g_assert_cmpmem(got, DIMM_SIZE, data, DIMM_SIZE);
    rsp = migrate_query(from);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(rsp, "ram"),
                                  "__org.qemu-memx_free-pages-skipped"), ==, 0);
    qobject_unref(rsp);
    migrate_end(from, to, false);
    unlink(src_path);
    unlink(dst_path);
}

void memx_free_pages_tests_add(const char *tmpfs_dir)
{
    tmpfs = tmpfs_dir;
    migration_test_add("/migration/memx/skip-free/no-vmcoreinfo",
                       test_skip_free_no_vmcoreinfo);
    migration_test_add("/migration/memx/skip-free/hostile-vmcoreinfo",
                       test_skip_free_hostile_vmcoreinfo);
    migration_test_add("/migration/memx/skip-free/refusals",
                       test_skip_free_refusals);
    qtest_add_func("/memx/skip-free/snapshot-refused",
                   test_skip_free_snapshot_refused);
    qtest_add_func("/memx/skip-free/hostile-kallsyms",
                   test_skip_free_hostile_kallsyms);
    migration_test_add("/migration/memx/skip-free/shared-dimm-hotplug",
                       test_skip_free_shared_dimm_hotplug);
}
