/*
 * Unit tests of the kallsyms and BTF readers on Debian's own kernel
 * images (the vmlinux tests/guest/build.sh extracts from each pinned
 * package) and the VMCOREINFO notes recorded from those kernels
 * (tests/unit/data): the per-CPU lists' layout must come out as Debian's
 * builds have it and agree with the notes, a layout read against the
 * other kernel's note must be refused, and kallsyms read from the image
 * as the guest holds it in RAM must find every symbol the walk needs,
 * with __start_BTF and __stop_BTF exactly the image's .BTF section.
 *
 * Needs the built guests: MEMX_GUEST_DIR=build/guest (make check runs it
 * after building them); without it no test is registered.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-btf.h"
#include "memdedup/introspect/guest-kallsyms.h"

static const char *guest_dir;

/* A vmlinux mapped as the guest holds its loadable segments in RAM. */
typedef struct Image {
    GMappedFile *file;
    const uint8_t *data;
    size_t size;
    const Elf64_Phdr *load[16];
    size_t nload;
    uint64_t btf_vaddr, btf_size, btf_offset;
} Image;

static const void *image_map(void *opaque, uint64_t gpa, uint64_t len)
{
    Image *im = opaque;

    for (size_t i = 0; i < im->nload; i++) {
        const Elf64_Phdr *ph = im->load[i];

        if (gpa >= ph->p_paddr && gpa - ph->p_paddr < ph->p_filesz &&
            len <= ph->p_filesz - (gpa - ph->p_paddr)) {
            return im->data + ph->p_offset + (gpa - ph->p_paddr);
        }
    }
    return NULL;
}

static void image_open(Image *im, const char *flavour)
{
    g_autofree char *path = g_build_filename(guest_dir, flavour, "vmlinux", NULL);
    g_autoptr(GError) err = NULL;
    const Elf64_Ehdr *eh;
    const Elf64_Shdr *sh;
    const char *names;

    memset(im, 0, sizeof(*im));
    im->file = g_mapped_file_new(path, false, &err);
    g_assert_no_error(err);
    im->data = (const uint8_t *)g_mapped_file_get_contents(im->file);
    im->size = g_mapped_file_get_length(im->file);
    eh = (const Elf64_Ehdr *)im->data;
    g_assert_cmpmem(eh->e_ident, SELFMAG, ELFMAG, SELFMAG);
    for (int i = 0; i < eh->e_phnum && im->nload < G_N_ELEMENTS(im->load); i++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(im->data + eh->e_phoff) + i;

        if (ph->p_type == PT_LOAD) {
            im->load[im->nload++] = ph;
        }
    }
    sh = (const Elf64_Shdr *)(im->data + eh->e_shoff);
    names = (const char *)im->data + sh[eh->e_shstrndx].sh_offset;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (!strcmp(names + sh[i].sh_name, ".BTF")) {
            im->btf_vaddr = sh[i].sh_addr;
            im->btf_size = sh[i].sh_size;
            im->btf_offset = sh[i].sh_offset;
        }
    }
    g_assert_cmpuint(im->btf_size, >, 0);
}

static void image_close(Image *im)
{
    g_mapped_file_unref(im->file);
}

static VmcoreInfo recorded_note(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", name, NULL);
    g_autofree char *text = NULL;
    gsize len;
    VmcoreInfo info;
    const char *why = NULL;

    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    g_assert_true(vmcoreinfo_parse_text(text, len, &info, &why));
    return info;
}

/* The image's BTF against @note: the layout, or the refusal's reason. */
static bool layout_of(const char *flavour, const char *note,
                      GuestPcpLayout *l, const char **why)
{
    Image im;
    VmcoreInfo info = recorded_note(note);
    bool ok;

    image_open(&im, flavour);
    ok = guest_btf_pcp_layout(im.data + im.btf_offset, im.btf_size, &info, l,
                              why);
    image_close(&im);
    return ok;
}

typedef struct Debian {
    const char *flavour, *note;
    uint32_t pageset, lists, spanned;
} Debian;

/* Facts of Debian's builds, for this test only: the code reads BTF. */
static const Debian debian[] = {
    { "6.1", "vmcoreinfo-6.1-kaslr.txt", 104, 24, 144 },
    { "6.12", "vmcoreinfo-6.12-pvh.txt", 112, 32, 160 },
    { "7.3", "vmcoreinfo-7.3-pvh.txt", 112, 32, 160 },
};

static void test_btf(gconstpointer opaque)
{
    const Debian *d = opaque;
    GuestPcpLayout l;
    const char *why = NULL;

    if (!layout_of(d->flavour, d->note, &l, &why)) {
        g_error("%s: %s", d->flavour, why);
    }
    g_assert_cmpuint(l.zone_per_cpu_pageset, ==, d->pageset);
    g_assert_cmpuint(l.pcp_lists, ==, d->lists);
    g_assert_cmpuint(l.pcp_nr_lists, ==, 14);   /* 6.1: one more than upstream */
    g_assert_cmpuint(l.pcp_list_size, ==, 16);
    g_assert_cmpuint(l.page_size, ==, 64);
    g_assert_cmpuint(l.zone_spanned_pages, ==, d->spanned);
    g_assert_cmpuint(l.pgdat_node_zones, ==, 0);
    g_assert_cmpuint(l.migrate_pcptypes, ==, 3);
    /* init_on_free and page poisoning are static keys: enabled at 0 */
    g_assert_true(l.has_static_key);
    g_assert_cmpuint(l.static_key_enabled, ==, 0);
    g_test_message("%s: %u zones per node, zone_start_pfn at %u, present_pages "
                   "at %u, page.pcp_list at %u", d->flavour, l.pgdat_nr_zones,
                   l.zone_start_pfn, l.zone_present_pages, l.page_pcp_list);
}

/* One kernel's BTF against the other's note: the layouts disagree. */
static void test_btf_wrong_note(void)
{
    GuestPcpLayout l;
    const char *why = NULL;

    g_assert_false(layout_of("6.1", "vmcoreinfo-6.12-pvh.txt", &l, &why));
    g_assert_nonnull(why);
    g_test_message("6.1's BTF with 6.12's note: %s", why);
    g_assert_false(layout_of("6.12", "vmcoreinfo-6.1-kaslr.txt", &l, &why));
    g_test_message("6.12's BTF with 6.1's note: %s", why);
}

typedef struct KallsymsCase {
    const char *flavour, *note;
    GuestKallsymsEncoding encoding;
} KallsymsCase;

/*
 * Each kernel's kallsyms from its image as a PVH boot holds it (no KASLR,
 * the note recorded from that boot): every symbol the walk needs, with
 * the address encoding _stext selects. 6.12 stores absolute-percpu
 * offsets from kallsyms_relative_base; 7.x, whose VMCOREINFO no longer
 * has that base, stores each offset relative to its own entry.
 */
static const KallsymsCase kallsyms_cases[] = {
    { "6.12", "vmcoreinfo-6.12-pvh.txt", GUEST_KALLSYMS_ABSOLUTE_PERCPU },
    { "7.3", "vmcoreinfo-7.3-pvh.txt", GUEST_KALLSYMS_PLACE_RELATIVE },
};

static void test_kallsyms(gconstpointer opaque)
{
    const KallsymsCase *c = opaque;
    static const char *const names[] = {
        "__per_cpu_offset", "__cpu_possible_mask", "nr_cpu_ids", "node_data",
        "nr_node_ids", "__start_BTF", "__stop_BTF", "init_on_free",
        "_page_poisoning_enabled",
    };
    VmcoreInfo info = recorded_note(c->note);
    uint64_t addrs[G_N_ELEMENTS(names)];
    bool found[G_N_ELEMENTS(names)];
    Image im;
    GuestMemory mem = { .map = image_map, .opaque = &im };
    GuestKallsyms ks;
    const char *why = NULL;

    image_open(&im, c->flavour);
    if (!guest_kallsyms_load(&ks, &info, &mem, &why)) {
        g_error("%s kallsyms: %s", c->flavour, why);
    }
    g_assert_cmpint(ks.encoding, ==, c->encoding);
    g_assert_cmpuint(guest_kallsyms_find(&ks, names, G_N_ELEMENTS(names), addrs,
                                         found), ==, G_N_ELEMENTS(names));
    g_assert_cmphex(addrs[5], ==, im.btf_vaddr);
    g_assert_cmpuint(addrs[6] - addrs[5], ==, im.btf_size);
    g_test_message("%s: %u symbols, .BTF %" G_GUINT64_FORMAT " bytes",
                   c->flavour, ks.num_syms, im.btf_size);
    guest_kallsyms_clear(&ks);
    image_close(&im);
}

/* KEY=hex lines of a recorded extract (tests/unit/data), '#' comments */
static GHashTable *recorded_values(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", name, NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GHashTable *values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               g_free);

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *eq = strchr(*l, '=');
        guint64 *v;

        if (**l == '#' || !eq) {
            continue;
        }
        v = g_new(guint64, 1);
        *v = g_ascii_strtoull(eq + 1, NULL, 16);
        g_hash_table_insert(values, g_strndup(*l, eq - *l), v);
    }
    return values;
}

static uint64_t value_of(GHashTable *values, const char *key)
{
    guint64 *v = g_hash_table_lookup(values, key);

    g_assert_nonnull(v);
    return *v;
}

/*
 * Linux 7.x per-CPU pointers, as recorded from Debian's 7.3: every
 * zone's per_cpu_pageset (dynamically allocated per-CPU memory) is an
 * address above the image's __per_cpu_start, which its kallsyms give,
 * where zero-based kernels had a small offset; adding
 * __per_cpu_offset[cpu] wraps modulo 2^64 to the CPU's copy in the
 * direct map. The walk sums
 * them the same way (guest-pcp.c walk_all; test-guest-pcp's
 * not-zero-based runs it on such values).
 */
static void test_percpu_73(void)
{
    static const char *const names[] = { "__per_cpu_start" };
    g_autoptr(GHashTable) rec = recorded_values("percpu-7.3-pvh.txt");
    VmcoreInfo info = recorded_note("vmcoreinfo-7.3-pvh.txt");
    uint64_t addrs[G_N_ELEMENTS(names)], direct = value_of(rec, "page_offset_base");
    bool found[G_N_ELEMENTS(names)];
    Image im;
    GuestMemory mem = { .map = image_map, .opaque = &im };
    GuestKallsyms ks;
    const char *why = NULL;

    image_open(&im, "7.3");
    if (!guest_kallsyms_load(&ks, &info, &mem, &why)) {
        g_error("7.3 kallsyms: %s", why);
    }
    g_assert_cmpuint(guest_kallsyms_find(&ks, names, G_N_ELEMENTS(names), addrs,
                                         found), ==, G_N_ELEMENTS(names));
    for (int z = 0; z < 2; z++) {
        g_autofree char *zkey = g_strdup_printf("zone[%d].per_cpu_pageset", z);
        uint64_t pageset = value_of(rec, zkey);

        g_assert_cmphex(addrs[0], >=, 0xffffffff80000000ULL);
        g_assert_cmphex(pageset, >=, addrs[0]);
        g_assert_cmphex(pageset - addrs[0], <, 1ULL << 24);
        for (int cpu = 0; cpu < 2; cpu++) {
            g_autofree char *okey = g_strdup_printf("__per_cpu_offset[%d]", cpu);
            uint64_t copy = pageset + value_of(rec, okey);

            g_assert_cmphex(copy, <, pageset);      /* wrapped */
            g_assert_cmphex(copy, >=, direct);
            g_assert_cmphex(copy - direct, <, 1ULL << 30);  /* in 1 GiB RAM */
        }
    }
    guest_kallsyms_clear(&ks);
    image_close(&im);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    libbpf_set_print(NULL);
    guest_dir = g_getenv("MEMX_GUEST_DIR");
    if (guest_dir) {
        for (size_t i = 0; i < G_N_ELEMENTS(debian); i++) {
            g_autofree char *name = g_strdup_printf("/guest-images/btf-%s",
                                                    debian[i].flavour);

            g_test_add_data_func(name, &debian[i], test_btf);
        }
        g_test_add_func("/guest-images/btf-wrong-note", test_btf_wrong_note);
        g_test_add_func("/guest-images/percpu-7.3", test_percpu_73);
        for (size_t i = 0; i < G_N_ELEMENTS(kallsyms_cases); i++) {
            g_autofree char *name =
                g_strdup_printf("/guest-images/kallsyms-%s",
                                kallsyms_cases[i].flavour);

            g_test_add_data_func(name, &kallsyms_cases[i], test_kallsyms);
        }
    }
    return g_test_run();
}
