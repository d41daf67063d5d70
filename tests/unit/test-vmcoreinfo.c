/*
 * Unit tests for memdedup/introspect/vmcoreinfo: the notes of real Debian
 * 6.1 and 6.12 guests (tests/unit/data, recorded from dump-guest-memory of
 * the test guests: PVH, KASLR bzImage, 5-level paging with RAM above
 * 4 GiB), and every way a hostile or unexpected note must be refused.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/introspect/vmcoreinfo.h"

static char *load_fixture(const char *name, gsize *len)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", name, NULL);
    char *text = NULL;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &text, len, &err)) {
        g_error("cannot read fixture %s: %s", path, err->message);
    }
    return text;
}

/* Parse a recorded note; it must be accepted. */
static void parse_fixture(const char *name, VmcoreInfo *info)
{
    gsize len;
    g_autofree char *text = load_fixture(name, &len);
    const char *why;

    g_assert_true(vmcoreinfo_parse_text(text, len, info, &why));
    g_assert_null(why);
}

static void test_real_6_1_kaslr(void)
{
    VmcoreInfo info;

    parse_fixture("vmcoreinfo-6.1-kaslr.txt", &info);
    g_assert_cmpstr(info.osrelease, ==, "6.1.0-56-amd64");
    g_assert_false(info.has_vmemmap);           /* 6.1 does not export it */
    g_assert_cmphex(info.mem_section, !=, 0);
    g_assert_cmpuint(info.mem_section_size, ==, 32);
    g_assert_cmpuint(info.section_size_bits, ==, 27);
    g_assert_cmpuint(info.page_struct_size, ==, 64);
    g_assert_cmpuint(info.page_mapcount_off, ==, 48);
    g_assert_cmpuint(info.page_private_off, ==, 40);
    g_assert_cmphex(info.buddy_mapcount_value, ==, (uint32_t)-129);
    g_assert_false(info.buddy_type_in_top_byte);
    g_assert_cmpuint(info.max_order, ==, 10);
    g_assert_cmpuint(info.phys_base, ==, 337641472);
    g_assert_false(info.pgtable_l5_enabled);
    g_assert_true(vmcoreinfo_is_buddy(&info, 0xffffff7f));
    g_assert_false(vmcoreinfo_is_buddy(&info, 0xffffffff));
    g_assert_false(vmcoreinfo_is_buddy(&info, 0xffffff7e));
    /* 6.0+ locates its kallsyms tables */
    g_assert_true(info.has_kallsyms);
    g_assert_cmphex(info.stext, ==, 0xffffffffa3a00000ULL);
    g_assert_cmphex(info.kallsyms_names, ==, 0xffffffffa4bbdac0ULL);
    g_assert_cmphex(info.kallsyms_relative_base, ==, 0xffffffffa4bbdab0ULL);
}

static void test_real_6_12(void)
{
    VmcoreInfo info;

    parse_fixture("vmcoreinfo-6.12-pvh.txt", &info);
    g_assert_cmpstr(info.osrelease, ==, "6.12.95+deb12-amd64");
    g_assert_true(info.has_vmemmap);
    g_assert_cmphex(info.vmemmap, ==, 0xffffea0000000000ULL);
    g_assert_cmphex(info.buddy_mapcount_value, ==, 0xf0000000);
    g_assert_true(info.buddy_type_in_top_byte);
    g_assert_true(vmcoreinfo_is_buddy(&info, 0xf0000000));
    g_assert_false(vmcoreinfo_is_buddy(&info, 0xf5000000)); /* slab */
    g_assert_false(vmcoreinfo_is_buddy(&info, 0xffffffff)); /* unmapped */
    g_assert_false(vmcoreinfo_is_buddy(&info, 0));
    g_assert_cmphex(info.init_top_pgt, ==, 0xffffffff82c22000ULL);
    g_assert_cmphex(vmcoreinfo_kernel_pa(&info, info.init_top_pgt), ==, 0x2c22000);
    g_assert_true(info.has_kallsyms);
    g_assert_cmphex(info.stext, ==, 0xffffffff81000000ULL);
    g_assert_cmphex(info.kallsyms_num_syms, ==, 0xffffffff82195448ULL);
    g_assert_cmphex(info.kallsyms_token_index, ==, 0xffffffff823b6f08ULL);
    g_assert_cmphex(info.kallsyms_offsets, ==, 0xffffffff823b7108ULL);
}

/*
 * Debian's 7.3: kallsyms located without SYMBOL(kallsyms_relative_base),
 * which 7.0 removed; 7.x's page type for unaccepted memory is not buddy.
 */
static void test_real_7_3(void)
{
    VmcoreInfo info;

    parse_fixture("vmcoreinfo-7.3-pvh.txt", &info);
    g_assert_cmpstr(info.osrelease, ==, "7.3.4+deb13-amd64");
    g_assert_true(info.has_kallsyms);
    g_assert_false(info.has_kallsyms_relative_base);
    g_assert_cmphex(info.stext, ==, 0xffffffff81000000ULL);
    g_assert_cmphex(info.kallsyms_offsets, ==, 0xffffffff82729934ULL);
    g_assert_cmphex(info.buddy_mapcount_value, ==, 0xf0000000);
    g_assert_true(vmcoreinfo_is_buddy(&info, 0xf0000000));
    /* NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)=-150994944 */
    g_assert_false(vmcoreinfo_is_buddy(&info, 0xf7000000));
}

/* Debian's 5.10: _stext, but no kallsyms tables (they came in 6.0) */
static void test_real_5_10(void)
{
    VmcoreInfo info;

    parse_fixture("vmcoreinfo-5.10-pvh.txt", &info);
    g_assert_cmpstr(info.osrelease, ==, "5.10.0-32-amd64");
    g_assert_false(info.has_kallsyms);
    g_assert_nonnull(strstr(vmcoreinfo_kallsyms_reason(&info),
                            "none of the kallsyms table lines"));
    g_assert_cmphex(info.buddy_mapcount_value, ==, 0xffffff7f);
    g_assert_true(vmcoreinfo_is_buddy(&info, 0xffffff7f));
}

static void test_real_6_12_la57(void)
{
    VmcoreInfo info;

    parse_fixture("vmcoreinfo-6.12-kaslr-la57.txt", &info);
    g_assert_true(info.pgtable_l5_enabled);
    g_assert_cmphex(info.vmemmap, ==, 0xffeb7b0680000000ULL);
}

/* A minimal valid note; tests edit one line at a time. */
static const char *minimal_lines[] = {
    "OSRELEASE=6.99.0-test",
    "PAGESIZE=4096",
    "SYMBOL(init_top_pgt)=ffffffff82c22000",
    "NUMBER(phys_base)=-2097152",
    "NUMBER(pgtable_l5_enabled)=0",
    "SYMBOL(vmemmap)=ffffea0000000000",
    "NUMBER(SECTION_SIZE_BITS)=27",
    "SIZE(page)=64",
    "OFFSET(page._mapcount)=48",
    "OFFSET(page.private)=40",
    "LENGTH(zone.free_area)=11",
    "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456",
    NULL
};

/* Build the minimal note with line @drop removed and @extra appended. */
static char *note_text(const char *drop, const char *extra)
{
    GString *s = g_string_new(NULL);

    for (int i = 0; minimal_lines[i]; i++) {
        if (!drop || !g_str_has_prefix(minimal_lines[i], drop)) {
            g_string_append_printf(s, "%s\n", minimal_lines[i]);
        }
    }
    if (extra) {
        g_string_append_printf(s, "%s\n", extra);
    }
    return g_string_free(s, FALSE);
}

static bool parse(const char *text, const char **why)
{
    VmcoreInfo info;

    return vmcoreinfo_parse_text(text, strlen(text), &info, why);
}

static void test_minimal_and_negative_phys_base(void)
{
    g_autofree char *text = note_text(NULL, NULL);
    VmcoreInfo info;
    const char *why;

    g_assert_true(vmcoreinfo_parse_text(text, strlen(text), &info, &why));
    /* phys_base is printed signed: -2 MiB is 2^64 - 2 MiB */
    g_assert_cmphex(info.phys_base, ==, 0xffffffffffe00000ULL);
    g_assert_cmphex(vmcoreinfo_kernel_pa(&info, 0xffffffff82c22000ULL), ==,
                    0x2a22000);
}

static void test_each_required_key(void)
{
    static const char *required[] = {
        "OSRELEASE", "PAGESIZE", "SYMBOL(init_top_pgt)", "NUMBER(phys_base)",
        "NUMBER(pgtable_l5_enabled)", "SYMBOL(vmemmap)", "NUMBER(SECTION_SIZE_BITS)",
        "SIZE(page)", "OFFSET(page._mapcount)", "OFFSET(page.private)",
        "LENGTH(zone.free_area)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
        g_autofree char *text = note_text(required[i], NULL);
        const char *why = NULL;

        g_test_message("without %s", required[i]);
        g_assert_false(parse(text, &why));
        g_assert_nonnull(why);
    }
}

/*
 * The reason the kallsyms are not located names what is missing: nothing
 * at all on a kernel before 6.0 (Debian's 5.10), else the one line that
 * is missing or is not a kernel image address. The recorded 7.3 note
 * has no kallsyms_relative_base, and needs none.
 */
static void test_kallsyms_reasons(void)
{
    static const char *const kallsyms[] = {
        "SYMBOL(_stext)=ffffffff81000000",
        "SYMBOL(kallsyms_names)=ffffffff823e857c",
        "SYMBOL(kallsyms_num_syms)=ffffffff823e8578",
        "SYMBOL(kallsyms_token_table)=ffffffff827292d8",
        "SYMBOL(kallsyms_token_index)=ffffffff82729734",
        "SYMBOL(kallsyms_offsets)=ffffffff82729934",
    };
    g_autofree char *none = note_text(NULL, NULL);
    VmcoreInfo info;
    const char *why = NULL;

    g_assert_true(vmcoreinfo_parse_text(none, strlen(none), &info, &why));
    g_assert_false(info.has_kallsyms);
    g_assert_nonnull(strstr(vmcoreinfo_kallsyms_reason(&info), "none of"));

    for (size_t skip = 0; skip < G_N_ELEMENTS(kallsyms); skip++) {
        for (int bad = 0; bad < 2; bad++) {
            GString *extra = g_string_new(NULL);
            g_autofree char *text = NULL;
            g_autofree char *key = g_strndup(kallsyms[skip],
                                             strchr(kallsyms[skip], '=') -
                                             kallsyms[skip]);
            const char *reason;

            for (size_t i = 0; i < G_N_ELEMENTS(kallsyms); i++) {
                if (i != skip) {
                    g_string_append_printf(extra, "%s\n", kallsyms[i]);
                } else if (bad) {
                    g_string_append_printf(extra, "%s=1000\n", key);
                }
            }
            text = note_text(NULL, extra->str);
            g_string_free(extra, TRUE);
            g_assert_true(vmcoreinfo_parse_text(text, strlen(text), &info, &why));
            g_assert_false(info.has_kallsyms);
            reason = vmcoreinfo_kallsyms_reason(&info);
            g_test_message("%s %s: %s", key, bad ? "bad" : "missing", reason);
            g_assert_nonnull(strstr(reason, key));
            g_assert_nonnull(strstr(reason, bad ? "not a kernel" : "lacks"));
        }
    }

    {
        GString *all = g_string_new(NULL);
        g_autofree char *text = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(kallsyms); i++) {
            g_string_append_printf(all, "%s\n", kallsyms[i]);
        }
        text = note_text(NULL, all->str);
        g_string_free(all, TRUE);
        g_assert_true(vmcoreinfo_parse_text(text, strlen(text), &info, &why));
        g_assert_true(info.has_kallsyms);
        g_assert_false(info.has_kallsyms_relative_base);
        g_assert_null(vmcoreinfo_kallsyms_reason(&info));
    }
}

static void test_bad_values(void)
{
    static const struct {
        const char *drop, *line;
    } cases[] = {
        { "PAGESIZE", "PAGESIZE=65536" },
        { "PAGESIZE", "PAGESIZE=4096x" },
        { "PAGESIZE", "PAGESIZE=" },
        { "PAGESIZE", "PAGESIZE=-4096" },
        { "PAGESIZE", "PAGESIZE= 4096" },
        { "SYMBOL(init_top_pgt)", "SYMBOL(init_top_pgt)=ffff888000000000" },
        { "SYMBOL(init_top_pgt)", "SYMBOL(init_top_pgt)=0xffffffff82c22000" },
        { "SYMBOL(init_top_pgt)", "SYMBOL(init_top_pgt)=1ffffffff82c22000" },
        { "NUMBER(pgtable_l5_enabled)", "NUMBER(pgtable_l5_enabled)=2" },
        { "SIZE(page)", "SIZE(page)=4" },
        { "SIZE(page)", "SIZE(page)=100000" },
        { "OFFSET(page._mapcount)", "OFFSET(page._mapcount)=62" },
        { "OFFSET(page._mapcount)", "OFFSET(page._mapcount)=64" },
        { "OFFSET(page.private)", "OFFSET(page.private)=60" },
        { "OFFSET(page.private)", "OFFSET(page.private)=18446744073709551615" },
        { "LENGTH(zone.free_area)", "LENGTH(zone.free_area)=0" },
        { "LENGTH(zone.free_area)", "LENGTH(zone.free_area)=64" },
        { "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
          "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=8589934592" },
        { "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
          "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-99999999999" },
        { "NUMBER(phys_base)", "NUMBER(phys_base)=-99999999999999999999999" },
        { "NUMBER(SECTION_SIZE_BITS)", "NUMBER(SECTION_SIZE_BITS)=3" },
        { "OSRELEASE", "OSRELEASE=0123456789012345678901234567890123456789"
                       "012345678901234567890123456789" },
        /* a repeated key is a lie we refuse to arbitrate */
        { NULL, "SIZE(page)=64" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = note_text(cases[i].drop, cases[i].line);
        const char *why = NULL;

        g_test_message("case %s", cases[i].line);
        g_assert_false(parse(text, &why));
        g_assert_nonnull(why);
    }
}

static void test_mem_section_path(void)
{
    g_autofree char *no_vmemmap = note_text("SYMBOL(vmemmap)", NULL);
    g_autofree char *with_tables = note_text(
        "SYMBOL(vmemmap)", "SYMBOL(mem_section)=ffff88803ffd8000\n"
        "LENGTH(mem_section)=4096\nSIZE(mem_section)=32\n"
        "OFFSET(mem_section.section_mem_map)=0");
    g_autofree char *bad_tables = note_text(
        "SYMBOL(vmemmap)", "SYMBOL(mem_section)=ffff88803ffd8000\n"
        "LENGTH(mem_section)=4096\nSIZE(mem_section)=32\n"
        "OFFSET(mem_section.section_mem_map)=32");
    VmcoreInfo info;
    const char *why;

    g_autofree char *both_bad_size = note_text(
        NULL, "SYMBOL(mem_section)=ffff88803ffd8000\n"
        "LENGTH(mem_section)=4096\nSIZE(mem_section)=8192\n"
        "OFFSET(mem_section.section_mem_map)=0");
    g_autofree char *both_partial = note_text(
        NULL, "SYMBOL(mem_section)=ffff88803ffd8000\nSIZE(mem_section)=8192");

    g_assert_false(parse(no_vmemmap, &why));
    g_assert_cmpstr(why, ==, "VMCOREINFO has neither vmemmap nor the "
                    "mem_section tables");
    g_assert_true(vmcoreinfo_parse_text(with_tables, strlen(with_tables), &info, &why));
    g_assert_false(info.has_vmemmap);
    g_assert_false(parse(bad_tables, &why));
    g_assert_cmpstr(why, ==, "mem_section layout is inconsistent");
    /*
     * With SYMBOL(vmemmap) the tables are still read, to cross-check it:
     * they are validated the same (an 8 KiB entry once divided by zero).
     */
    g_assert_false(parse(both_bad_size, &why));
    g_assert_cmpstr(why, ==, "mem_section layout is inconsistent");
    /* An incomplete set is not used at all. */
    g_assert_true(vmcoreinfo_parse_text(both_partial, strlen(both_partial),
                                        &info, &why));
    g_assert_cmpuint(info.mem_section_size, ==, 0);
}

static void test_text_shapes(void)
{
    g_autofree char *text = note_text(NULL, NULL);
    g_autofree char *longline = g_strnfill(300, 'A');
    g_autofree char *with_long = note_text(NULL, longline);
    g_autofree char *nul_cut = g_strdup(text);
    VmcoreInfo info;
    const char *why;

    /* Unknown keys and junk lines are ignored. */
    {
        g_autofree char *junk = note_text(NULL, "no equals sign\n=\nFOO(bar)=baz");

        g_assert_true(parse(junk, &why));
    }
    g_assert_false(parse(with_long, &why));
    g_assert_false(vmcoreinfo_parse_text(text, 0, &info, &why));
    g_assert_false(vmcoreinfo_parse_text(NULL, 10, &info, &why));
    g_assert_false(vmcoreinfo_parse_text(text, VMCOREINFO_MAX_BYTES + 1, &info, &why));
    /* Text after a NUL is not looked at. */
    nul_cut[strlen("OSRELEASE=6.99.0-test\n")] = '\0';
    g_assert_false(vmcoreinfo_parse_text(nul_cut, strlen(text), &info, &why));
    /* Without a final newline the last line still counts. */
    text[strlen(text) - 1] = '\0';
    g_assert_true(vmcoreinfo_parse_text(text, strlen(text), &info, &why));
    /* Every prefix of a valid note either parses or fails cleanly. */
    for (size_t n = 0; n <= strlen(text); n++) {
        (void)vmcoreinfo_parse_text(text, n, &info, &why);
    }
}

static void test_note_header(void)
{
    g_autofree char *text = note_text(NULL, NULL);
    uint32_t descsz = strlen(text);
    size_t len = 12 + 12 + ((descsz + 3) & ~3u);
    g_autofree unsigned char *note = g_malloc0(len);
    uint32_t namesz = 11, type = 0;
    VmcoreInfo info;
    const char *why;

    memcpy(note, &namesz, 4);
    memcpy(note + 4, &descsz, 4);
    memcpy(note + 8, &type, 4);
    memcpy(note + 12, "VMCOREINFO", 11);
    memcpy(note + 24, text, descsz);
    g_assert_true(vmcoreinfo_parse_note(note, len, &info, &why));
    g_assert_cmpstr(info.osrelease, ==, "6.99.0-test");

    /* Truncated anywhere: refused, never read past the end. */
    for (size_t n = 0; n < 24 + descsz; n++) {
        g_autofree unsigned char *cut = g_memdup2(note, n ? n : 1);

        g_assert_false(vmcoreinfo_parse_note(cut, n, &info, &why));
    }
    /* Lying sizes */
    descsz = 0xfffffff0;
    memcpy(note + 4, &descsz, 4);
    g_assert_false(vmcoreinfo_parse_note(note, len, &info, &why));
    descsz = strlen(text);
    memcpy(note + 4, &descsz, 4);
    note[12] = 'X';
    g_assert_false(vmcoreinfo_parse_note(note, len, &info, &why));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmcoreinfo/real/6.1-kaslr", test_real_6_1_kaslr);
    g_test_add_func("/vmcoreinfo/real/6.12-pvh", test_real_6_12);
    g_test_add_func("/vmcoreinfo/real/6.12-kaslr-la57", test_real_6_12_la57);
    g_test_add_func("/vmcoreinfo/real/5.10-pvh", test_real_5_10);
    g_test_add_func("/vmcoreinfo/real/7.3-pvh", test_real_7_3);
    g_test_add_func("/vmcoreinfo/minimal-negative-phys-base",
                    test_minimal_and_negative_phys_base);
    g_test_add_func("/vmcoreinfo/required-keys", test_each_required_key);
    g_test_add_func("/vmcoreinfo/kallsyms-reasons", test_kallsyms_reasons);
    g_test_add_func("/vmcoreinfo/bad-values", test_bad_values);
    g_test_add_func("/vmcoreinfo/mem-section", test_mem_section_path);
    g_test_add_func("/vmcoreinfo/text-shapes", test_text_shapes);
    g_test_add_func("/vmcoreinfo/note-header", test_note_header);
    return g_test_run();
}
