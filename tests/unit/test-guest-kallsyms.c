/*
 * Unit tests of the guest kallsyms reader (memdedup/introspect/
 * guest-kallsyms.c) on tables this test encodes the way scripts/kallsyms
 * does: both address encodings, told apart by _stext; one- and two-byte
 * name lengths; multi-character tokens; and hostile tables (counts out of
 * range, tokens past the table or unterminated, names running out of
 * RAM, a _stext neither encoding reproduces).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-kallsyms.h"

#define RAM_SIZE (4u << 20)
#define KVA(pa) (0xffffffff80000000ULL + (pa))     /* phys_base 0 */
#define BASE 0xffffffff81000000ULL                 /* kallsyms_relative_base */

/* Where the fake kernel image keeps each table (guest-physical). */
#define PA_NUM      0x100000
#define PA_BASE     0x100008
#define PA_TINDEX   0x100100
#define PA_TTABLE   0x100400
#define PA_OFFSETS  0x110000
#define PA_NAMES    0x120000

typedef struct Sym {
    char type;
    const char *name;
    uint64_t addr;
} Sym;

static char long_name[201];

static const Sym syms[] = {
    { 'T', "_stext", 0xffffffff81000000ULL },
    { 'D', "__per_cpu_offset", 0xffffffff82a01000ULL },
    { 'A', "fixed_percpu_data", 0 },            /* an absolute percpu symbol */
    { 'd', "abababx", 0xffffffff82b00000ULL },  /* uses the two-letter token */
    { 't', long_name, 0xffffffff81234560ULL },  /* a two-byte length */
    { 'B', "nr_cpu_ids", 0xffffffff83000040ULL },
};
#define NSYMS (sizeof(syms) / sizeof(syms[0]))

typedef struct Fake {
    uint8_t *ram;
    GuestMemory mem;
    VmcoreInfo info;
} Fake;

static const void *fake_map(void *opaque, uint64_t gpa, uint64_t len)
{
    Fake *f = opaque;

    return gpa < RAM_SIZE && len <= RAM_SIZE - gpa ? f->ram + gpa : NULL;
}

/* Token 0 is "ab"; token t (1..255) is the single character t. */
static void put_tokens(Fake *f)
{
    uint16_t index[256];
    size_t pos = 0;

    memcpy(f->ram + PA_TTABLE, "ab", 3);
    index[0] = 0;
    pos = 3;
    for (int t = 1; t < 256; t++) {
        index[t] = GUINT16_TO_LE(pos);
        f->ram[PA_TTABLE + pos++] = t;
        f->ram[PA_TTABLE + pos++] = 0;
    }
    memcpy(f->ram + PA_TINDEX, index, sizeof(index));
}

static size_t encode_name(uint8_t *out, char type, const char *name)
{
    uint8_t tok[GUEST_KALLSYMS_NAME_LEN];
    char full[GUEST_KALLSYMS_NAME_LEN + 2];
    size_t n = 0, len;

    g_snprintf(full, sizeof(full), "%c%s", type, name);
    for (size_t i = 0; full[i];) {
        if (full[i] == 'a' && full[i + 1] == 'b') {
            tok[n++] = 0;
            i += 2;
        } else {
            tok[n++] = (uint8_t)full[i++];
        }
    }
    if (n < 0x80) {
        out[0] = n;
        len = 1;
    } else {
        out[0] = 0x80 | (n & 0x7f);
        out[1] = n >> 7;
        len = 2;
    }
    memcpy(out + len, tok, n);
    return len + n;
}

static void fake_init_encoded(Fake *f, GuestKallsymsEncoding enc)
{
    uint32_t num = GUINT32_TO_LE(NSYMS);
    uint64_t base = GUINT64_TO_LE(BASE);
    size_t pos = 0;

    memset(long_name, 'x', sizeof(long_name) - 1);
    memset(f, 0, sizeof(*f));
    f->ram = g_malloc0(RAM_SIZE);
    f->mem = (GuestMemory) { .map = fake_map, .opaque = f };
    memcpy(f->ram + PA_NUM, &num, 4);
    memcpy(f->ram + PA_BASE, &base, 8);
    put_tokens(f);
    for (size_t i = 0; i < NSYMS; i++) {
        int32_t off;

        if (enc == GUEST_KALLSYMS_ABSOLUTE_PERCPU) {
            off = syms[i].addr < BASE ? (int32_t)syms[i].addr
                                      : (int32_t)(-(int64_t)(syms[i].addr - BASE) - 1);
        } else if (enc == GUEST_KALLSYMS_PLACE_RELATIVE) {
            /* 7.0+: from the entry itself, wrapping modulo 2^64 */
            off = (int32_t)(syms[i].addr - (KVA(PA_OFFSETS) + i * 4));
        } else {
            off = (int32_t)(uint32_t)(syms[i].addr - BASE);
        }
        off = (int32_t)GUINT32_TO_LE((uint32_t)off);
        memcpy(f->ram + PA_OFFSETS + i * 4, &off, 4);
        pos += encode_name(f->ram + PA_NAMES + pos, syms[i].type, syms[i].name);
    }
    f->info = (VmcoreInfo) {
        .has_kallsyms = true,
        .stext = syms[0].addr,
        .kallsyms_names = KVA(PA_NAMES),
        .kallsyms_num_syms = KVA(PA_NUM),
        .kallsyms_token_table = KVA(PA_TTABLE),
        .kallsyms_token_index = KVA(PA_TINDEX),
        .kallsyms_offsets = KVA(PA_OFFSETS),
        .has_kallsyms_relative_base = enc != GUEST_KALLSYMS_PLACE_RELATIVE,
        .kallsyms_relative_base = enc != GUEST_KALLSYMS_PLACE_RELATIVE ?
                                  KVA(PA_BASE) : 0,
    };
}

static void fake_init(Fake *f, bool absolute_percpu)
{
    fake_init_encoded(f, absolute_percpu ? GUEST_KALLSYMS_ABSOLUTE_PERCPU
                                         : GUEST_KALLSYMS_BASE_RELATIVE);
}

static void check_table(Fake *f, GuestKallsymsEncoding enc)
{
    GuestKallsyms ks;
    const char *why = NULL;
    const char *want[] = { "__per_cpu_offset", "nr_cpu_ids", "abababx",
                           "fixed_percpu_data", "no_such_symbol" };
    uint64_t addr[5];
    bool found[5];
    char name[64];

    g_assert_true(guest_kallsyms_load(&ks, &f->info, &f->mem, &why));
    g_assert_cmpint(ks.encoding, ==, enc);
    g_assert_cmpuint(ks.num_syms, ==, NSYMS);
    g_assert_cmpuint(guest_kallsyms_find(&ks, want, 5, addr, found), ==, 4);
    g_assert_cmphex(addr[0], ==, syms[1].addr);
    g_assert_cmphex(addr[1], ==, syms[5].addr);
    g_assert_cmphex(addr[2], ==, syms[3].addr);
    g_assert_false(found[4]);
    g_assert_cmpint(guest_kallsyms_name(&ks, 1, name, sizeof(name)), ==, 'D');
    g_assert_cmpstr(name, ==, "__per_cpu_offset");
    g_assert_cmpint(guest_kallsyms_name(&ks, 4, name, sizeof(name)), ==, 't');
    g_assert_cmpuint(strlen(name), ==, sizeof(name) - 1);     /* truncated */
    g_assert_cmpint(guest_kallsyms_name(&ks, NSYMS, name, sizeof(name)), ==, 0);
    guest_kallsyms_clear(&ks);
}

static void test_absolute_percpu(void)
{
    Fake f;

    fake_init(&f, true);
    check_table(&f, GUEST_KALLSYMS_ABSOLUTE_PERCPU);
    g_free(f.ram);
}

static void test_plain(void)
{
    Fake f;

    fake_init(&f, false);
    check_table(&f, GUEST_KALLSYMS_BASE_RELATIVE);
    g_free(f.ram);
}

/*
 * Linux 7.0+: no kallsyms_relative_base in VMCOREINFO, each offset taken
 * from its own address; a table that needs a base is then refused, with
 * the reason naming what is missing.
 */
static void test_place_relative(void)
{
    Fake f;
    GuestKallsyms ks;
    const char *why = NULL;

    fake_init_encoded(&f, GUEST_KALLSYMS_PLACE_RELATIVE);
    check_table(&f, GUEST_KALLSYMS_PLACE_RELATIVE);
    g_free(f.ram);

    fake_init(&f, true);
    f.info.has_kallsyms_relative_base = false;
    g_assert_false(guest_kallsyms_load(&ks, &f.info, &f.mem, &why));
    g_assert_nonnull(strstr(why, "no kallsyms_relative_base"));
    g_free(f.ram);
}

static void expect_refused(Fake *f, const char *reason)
{
    GuestKallsyms ks;
    const char *why = NULL;

    g_assert_false(guest_kallsyms_load(&ks, &f->info, &f->mem, &why));
    g_assert_nonnull(why);
    if (!strstr(why, reason)) {
        g_test_message("refused for '%s', expected '%s'", why, reason);
        g_assert_not_reached();
    }
    g_assert_null(ks.names);
}

static void test_hostile(void)
{
    Fake f;
    uint32_t num;
    uint16_t idx;

    fake_init(&f, true);
    f.info.stext += 0x1000;
    expect_refused(&f, "_stext");
    g_free(f.ram);

    fake_init(&f, true);
    f.info.has_kallsyms = false;
    expect_refused(&f, "does not locate kallsyms");
    g_free(f.ram);

    for (int t = 0; t < 2; t++) {
        fake_init(&f, true);
        num = t ? 0 : GUINT32_TO_LE(GUEST_KALLSYMS_MAX_SYMS + 1);
        memcpy(f.ram + PA_NUM, &num, 4);
        expect_refused(&f, "kallsyms_num_syms is out of range");
        g_free(f.ram);
    }

    /* more symbols than names: the walk runs off the end of RAM */
    fake_init(&f, true);
    num = GUINT32_TO_LE(200000);
    memcpy(f.ram + PA_NUM, &num, 4);
    f.info.kallsyms_names = KVA(RAM_SIZE - 64);
    memset(f.ram + RAM_SIZE - 64, 0x05, 64);
    expect_refused(&f, "kallsyms_names is malformed");
    g_free(f.ram);

    /* a zero-length name */
    fake_init(&f, true);
    f.ram[PA_NAMES] = 0;
    expect_refused(&f, "kallsyms_names is malformed");
    g_free(f.ram);

    /* a token index past any real table */
    fake_init(&f, true);
    idx = GUINT16_TO_LE(0xfff0);
    memcpy(f.ram + PA_TINDEX + 7 * 2, &idx, 2);
    expect_refused(&f, "past any real token table");
    g_free(f.ram);

    /* an empty token */
    fake_init(&f, true);
    f.ram[PA_TTABLE] = 0;
    expect_refused(&f, "empty or not terminated");
    g_free(f.ram);

    /* the token table at the end of RAM, its last token unterminated */
    fake_init(&f, true);
    memmove(f.ram + RAM_SIZE - 600, f.ram + PA_TTABLE, 600);
    f.ram[RAM_SIZE - 1] = 'z';
    f.info.kallsyms_token_table = KVA(RAM_SIZE - 600);
    {
        uint16_t index[256];

        memcpy(index, f.ram + PA_TINDEX, sizeof(index));
        index[255] = GUINT16_TO_LE(599);
        memcpy(f.ram + PA_TINDEX, index, sizeof(index));
    }
    expect_refused(&f, "empty or not terminated");
    g_free(f.ram);

    /* tables outside guest RAM */
    fake_init(&f, true);
    f.info.kallsyms_offsets = KVA(RAM_SIZE);
    expect_refused(&f, "kallsyms_offsets is not in guest RAM");
    g_free(f.ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-kallsyms/absolute-percpu", test_absolute_percpu);
    g_test_add_func("/guest-kallsyms/place-relative", test_place_relative);
    g_test_add_func("/guest-kallsyms/plain", test_plain);
    g_test_add_func("/guest-kallsyms/hostile", test_hostile);
    return g_test_run();
}
