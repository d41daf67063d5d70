/*
 * VMCOREINFO reader (see vmcoreinfo.h).
 *
 * The text is a list of "KEY=VALUE" lines written by the guest kernel
 * (kernel/vmcore_info.c and arch/x86/kernel/machine_kexec_64.c):
 *   SYMBOL(name)=hex address        OFFSET(struct.member)=decimal
 *   SIZE(struct)=decimal            LENGTH(name)=decimal
 *   NUMBER(name)=signed decimal, or 0x-prefixed hex
 *   OSRELEASE=..., PAGESIZE=...
 * Only the keys listed in 'fields' below are used.  A key we use that
 * appears twice, or a value that does not parse completely, makes the
 * note unusable: a guest that lies must not steer us.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/introspect/vmcoreinfo.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 256

typedef enum ValueKind {
    VALUE_HEX,      /* SYMBOL: bare hex */
    VALUE_DEC,      /* OFFSET/SIZE/LENGTH/PAGESIZE: unsigned decimal */
    VALUE_NUMBER,   /* NUMBER: signed decimal or 0x hex, kept mod 2^64 */
    VALUE_STRING,
} ValueKind;

enum {
    F_OSRELEASE,
    F_PAGESIZE,
    F_INIT_TOP_PGT,
    F_PHYS_BASE,
    F_L5,
    F_VMEMMAP,
    F_MEM_SECTION,
    F_MEM_SECTION_LENGTH,
    F_MEM_SECTION_SIZE,
    F_SECTION_MEM_MAP,
    F_SECTION_SIZE_BITS,
    F_MAX_PHYSMEM_BITS,
    F_PAGE_SIZE,
    F_PAGE_MAPCOUNT,
    F_PAGE_PRIVATE,
    F_FREE_AREA_LENGTH,
    F_BUDDY,
    F_STEXT,
    F_KALLSYMS_NAMES,
    F_KALLSYMS_NUM_SYMS,
    F_KALLSYMS_TOKEN_TABLE,
    F_KALLSYMS_TOKEN_INDEX,
    F_KALLSYMS_OFFSETS,
    F_KALLSYMS_RELATIVE_BASE,
    F_PAGE_LRU,
    F_PAGE_REFCOUNT,
    F_ZONE_SIZE,
    F_ZONE_FREE_AREA,
    F_ZONE_SPANNED_PAGES,
    F_PGDAT_NODE_ZONES,
    F_COUNT
};

static const struct {
    const char *key;
    ValueKind kind;
} fields[F_COUNT] = {
    [F_OSRELEASE] = { "OSRELEASE", VALUE_STRING },
    [F_PAGESIZE] = { "PAGESIZE", VALUE_DEC },
    [F_INIT_TOP_PGT] = { "SYMBOL(init_top_pgt)", VALUE_HEX },
    [F_PHYS_BASE] = { "NUMBER(phys_base)", VALUE_NUMBER },
    [F_L5] = { "NUMBER(pgtable_l5_enabled)", VALUE_NUMBER },
    [F_VMEMMAP] = { "SYMBOL(vmemmap)", VALUE_HEX },
    [F_MEM_SECTION] = { "SYMBOL(mem_section)", VALUE_HEX },
    [F_MEM_SECTION_LENGTH] = { "LENGTH(mem_section)", VALUE_DEC },
    [F_MEM_SECTION_SIZE] = { "SIZE(mem_section)", VALUE_DEC },
    [F_SECTION_MEM_MAP] = { "OFFSET(mem_section.section_mem_map)", VALUE_DEC },
    [F_SECTION_SIZE_BITS] = { "NUMBER(SECTION_SIZE_BITS)", VALUE_NUMBER },
    [F_MAX_PHYSMEM_BITS] = { "NUMBER(MAX_PHYSMEM_BITS)", VALUE_NUMBER },
    [F_PAGE_SIZE] = { "SIZE(page)", VALUE_DEC },
    [F_PAGE_MAPCOUNT] = { "OFFSET(page._mapcount)", VALUE_DEC },
    [F_PAGE_PRIVATE] = { "OFFSET(page.private)", VALUE_DEC },
    [F_FREE_AREA_LENGTH] = { "LENGTH(zone.free_area)", VALUE_DEC },
    [F_BUDDY] = { "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", VALUE_NUMBER },
    [F_STEXT] = { "SYMBOL(_stext)", VALUE_HEX },
    [F_KALLSYMS_NAMES] = { "SYMBOL(kallsyms_names)", VALUE_HEX },
    [F_KALLSYMS_NUM_SYMS] = { "SYMBOL(kallsyms_num_syms)", VALUE_HEX },
    [F_KALLSYMS_TOKEN_TABLE] = { "SYMBOL(kallsyms_token_table)", VALUE_HEX },
    [F_KALLSYMS_TOKEN_INDEX] = { "SYMBOL(kallsyms_token_index)", VALUE_HEX },
    [F_KALLSYMS_OFFSETS] = { "SYMBOL(kallsyms_offsets)", VALUE_HEX },
    [F_KALLSYMS_RELATIVE_BASE] = { "SYMBOL(kallsyms_relative_base)", VALUE_HEX },
    [F_PAGE_LRU] = { "OFFSET(page.lru)", VALUE_DEC },
    [F_PAGE_REFCOUNT] = { "OFFSET(page._refcount)", VALUE_DEC },
    [F_ZONE_SIZE] = { "SIZE(zone)", VALUE_DEC },
    [F_ZONE_FREE_AREA] = { "OFFSET(zone.free_area)", VALUE_DEC },
    [F_ZONE_SPANNED_PAGES] = { "OFFSET(zone.spanned_pages)", VALUE_DEC },
    [F_PGDAT_NODE_ZONES] = { "OFFSET(pglist_data.node_zones)", VALUE_DEC },
};

/* Parse all of @s (NUL-terminated) as a number of @kind. */
static bool parse_value(const char *s, ValueKind kind, uint64_t *out)
{
    char *end;
    int base = 10;

    if (!*s) {
        return false;
    }
    errno = 0;
    switch (kind) {
    case VALUE_HEX:
        if (!g_ascii_isxdigit(s[0]) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
            return false;
        }
        *out = g_ascii_strtoull(s, &end, 16);
        break;
    case VALUE_DEC:
        if (s[0] < '0' || s[0] > '9') {
            return false;
        }
        *out = g_ascii_strtoull(s, &end, 10);
        break;
    case VALUE_NUMBER:
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
        }
        if (s[0] == '-' && g_ascii_isdigit(s[1])) {
            gint64 v = g_ascii_strtoll(s, &end, 10);

            *out = (uint64_t)v;    /* two's complement: mod 2^64 */
        } else {
            if (!g_ascii_isdigit(s[0])) {
                return false;
            }
            *out = g_ascii_strtoull(s, &end, base);
        }
        break;
    default:
        return false;
    }
    return errno == 0 && *end == '\0';
}

bool vmcoreinfo_parse_text(const char *text, size_t len, VmcoreInfo *info,
                           const char **why)
{
    uint64_t val[F_COUNT] = { 0 };
    bool seen[F_COUNT] = { false };
    bool has_mem_section;
    size_t pos = 0;

    memset(info, 0, sizeof(*info));
    *why = NULL;
    if (!text || len == 0) {
        *why = "VMCOREINFO is empty";
        return false;
    }
    if (len > VMCOREINFO_MAX_BYTES) {
        *why = "VMCOREINFO is larger than 64 KiB";
        return false;
    }

    while (pos < len) {
        char line[MAX_LINE + 1];
        size_t n = 0;
        char *eq;

        while (pos < len && text[pos] != '\n' && text[pos] != '\0') {
            if (n == MAX_LINE) {
                *why = "VMCOREINFO has an over-long line";
                return false;
            }
            line[n++] = text[pos++];
        }
        if (pos < len && text[pos] == '\0') {
            break;  /* the note's text ends at the first NUL */
        }
        pos++;
        line[n] = '\0';
        eq = strchr(line, '=');
        if (!eq) {
            continue;
        }
        *eq = '\0';
        for (int f = 0; f < F_COUNT; f++) {
            if (strcmp(line, fields[f].key)) {
                continue;
            }
            if (seen[f]) {
                *why = "VMCOREINFO repeats a key";
                return false;
            }
            seen[f] = true;
            if (fields[f].kind == VALUE_STRING) {
                if (strlen(eq + 1) >= sizeof(info->osrelease)) {
                    *why = "VMCOREINFO OSRELEASE is too long";
                    return false;
                }
                strcpy(info->osrelease, eq + 1);
            } else if (!parse_value(eq + 1, fields[f].kind, &val[f])) {
                *why = "VMCOREINFO has a malformed value";
                return false;
            }
            break;
        }
    }

    if (!seen[F_OSRELEASE]) {
        *why = "VMCOREINFO has no OSRELEASE: not a Linux guest?";
        return false;
    }
    if (!seen[F_PAGESIZE] || val[F_PAGESIZE] != 4096) {
        *why = "guest page size is not 4 KiB";
        return false;
    }
    if (!seen[F_INIT_TOP_PGT] || !seen[F_PHYS_BASE] || !seen[F_L5]) {
        *why = "VMCOREINFO lacks init_top_pgt, phys_base or pgtable_l5_enabled "
               "(not an x86-64 Linux guest?)";
        return false;
    }
    if (val[F_INIT_TOP_PGT] < 0xffffffff80000000ULL) {
        *why = "init_top_pgt is outside the kernel image mapping";
        return false;
    }
    if (val[F_L5] > 1) {
        *why = "pgtable_l5_enabled is neither 0 nor 1";
        return false;
    }
    if (!seen[F_PAGE_SIZE] || !seen[F_PAGE_MAPCOUNT] || !seen[F_PAGE_PRIVATE]) {
        *why = "VMCOREINFO lacks the struct page layout";
        return false;
    }
    if (val[F_PAGE_SIZE] < 32 || val[F_PAGE_SIZE] > 256 || val[F_PAGE_SIZE] % 8 ||
        val[F_PAGE_MAPCOUNT] % 4 || val[F_PAGE_MAPCOUNT] + 4 > val[F_PAGE_SIZE] ||
        val[F_PAGE_PRIVATE] % 8 || val[F_PAGE_PRIVATE] + 8 > val[F_PAGE_SIZE]) {
        *why = "struct page layout is inconsistent";
        return false;
    }
    if (!seen[F_FREE_AREA_LENGTH] || val[F_FREE_AREA_LENGTH] < 1 ||
        val[F_FREE_AREA_LENGTH] > 20) {
        *why = "LENGTH(zone.free_area) (the number of buddy orders) is missing "
               "or out of range";
        return false;
    }
    if (!seen[F_BUDDY]) {
        *why = "VMCOREINFO lacks PAGE_BUDDY_MAPCOUNT_VALUE";
        return false;
    }
    /* A 32-bit signed or unsigned value, sign-extended or not. */
    if (val[F_BUDDY] > UINT32_MAX && val[F_BUDDY] < 0xffffffff80000000ULL) {
        *why = "PAGE_BUDDY_MAPCOUNT_VALUE does not fit in 32 bits";
        return false;
    }
    if (!seen[F_SECTION_SIZE_BITS] || val[F_SECTION_SIZE_BITS] < 15 ||
        val[F_SECTION_SIZE_BITS] > 40) {
        *why = "SECTION_SIZE_BITS is missing or out of range";
        return false;
    }
    if (seen[F_MAX_PHYSMEM_BITS] &&
        (val[F_MAX_PHYSMEM_BITS] < val[F_SECTION_SIZE_BITS] ||
         val[F_MAX_PHYSMEM_BITS] > 52)) {
        *why = "MAX_PHYSMEM_BITS is out of range";
        return false;
    }
    /*
     * The mem_section tables locate vmemmap on kernels that do not export
     * it, and cross-check SYMBOL(vmemmap) on those that do: validate them
     * whenever they are there, whichever use they will have.
     */
    has_mem_section = seen[F_MEM_SECTION] && seen[F_MEM_SECTION_LENGTH] &&
                      seen[F_MEM_SECTION_SIZE] && seen[F_SECTION_MEM_MAP];
    if (!seen[F_VMEMMAP] && !has_mem_section) {
        *why = "VMCOREINFO has neither vmemmap nor the mem_section tables";
        return false;
    }
    if (has_mem_section &&
        (val[F_MEM_SECTION_SIZE] < 8 || val[F_MEM_SECTION_SIZE] > 256 ||
         val[F_MEM_SECTION_SIZE] % 8 ||
         val[F_SECTION_MEM_MAP] + 8 > val[F_MEM_SECTION_SIZE] ||
         val[F_MEM_SECTION_LENGTH] == 0 ||
         val[F_MEM_SECTION_LENGTH] > (1u << 20))) {
        *why = "mem_section layout is inconsistent";
        return false;
    }

    info->page_size = val[F_PAGESIZE];
    info->init_top_pgt = val[F_INIT_TOP_PGT];
    info->phys_base = val[F_PHYS_BASE];
    info->pgtable_l5_enabled = val[F_L5] == 1;
    info->has_vmemmap = seen[F_VMEMMAP];
    info->vmemmap = val[F_VMEMMAP];
    if (has_mem_section) {
        info->mem_section = val[F_MEM_SECTION];
        info->mem_section_length = val[F_MEM_SECTION_LENGTH];
        info->mem_section_size = val[F_MEM_SECTION_SIZE];
        info->section_mem_map_off = val[F_SECTION_MEM_MAP];
    }
    info->section_size_bits = val[F_SECTION_SIZE_BITS];
    info->max_physmem_bits = seen[F_MAX_PHYSMEM_BITS] ? val[F_MAX_PHYSMEM_BITS] : 0;
    info->page_struct_size = val[F_PAGE_SIZE];
    info->page_mapcount_off = val[F_PAGE_MAPCOUNT];
    info->page_private_off = val[F_PAGE_PRIVATE];
    info->max_order = val[F_FREE_AREA_LENGTH] - 1;
    info->buddy_mapcount_value = (uint32_t)val[F_BUDDY];
    /* 6.12+ keeps the page type in the top byte and clears the rest. */
    info->buddy_type_in_top_byte = (info->buddy_mapcount_value & 0x00ffffffu) == 0;
    /* Optional: more layout, checked against BTF's */
    info->has_page_lru = seen[F_PAGE_LRU];
    info->page_lru_off = val[F_PAGE_LRU];
    info->has_page_refcount = seen[F_PAGE_REFCOUNT];
    info->page_refcount_off = val[F_PAGE_REFCOUNT];
    info->has_zone_size = seen[F_ZONE_SIZE];
    info->zone_size = val[F_ZONE_SIZE];
    info->has_zone_free_area = seen[F_ZONE_FREE_AREA];
    info->zone_free_area_off = val[F_ZONE_FREE_AREA];
    info->has_zone_spanned_pages = seen[F_ZONE_SPANNED_PAGES];
    info->zone_spanned_pages_off = val[F_ZONE_SPANNED_PAGES];
    info->has_pgdat_node_zones = seen[F_PGDAT_NODE_ZONES];
    info->pgdat_node_zones_off = val[F_PGDAT_NODE_ZONES];
    /* Optional: the kernel's symbol table, all in the kernel image */
    info->kallsyms_missing = info->kallsyms_bad = 0;
    for (int f = F_STEXT; f <= F_KALLSYMS_OFFSETS; f++) {
        if (!seen[f]) {
            info->kallsyms_missing |= 1u << (f - F_STEXT);
        } else if (val[f] < 0xffffffff80000000ULL) {
            info->kallsyms_bad |= 1u << (f - F_STEXT);
        }
    }
    info->has_kallsyms = !info->kallsyms_missing && !info->kallsyms_bad;
    /* gone in Linux 7.0, whose offsets are relative to themselves */
    info->has_kallsyms_relative_base =
        seen[F_KALLSYMS_RELATIVE_BASE] &&
        val[F_KALLSYMS_RELATIVE_BASE] >= 0xffffffff80000000ULL;
    if (info->has_kallsyms) {
        info->stext = val[F_STEXT];
        info->kallsyms_names = val[F_KALLSYMS_NAMES];
        info->kallsyms_num_syms = val[F_KALLSYMS_NUM_SYMS];
        info->kallsyms_token_table = val[F_KALLSYMS_TOKEN_TABLE];
        info->kallsyms_token_index = val[F_KALLSYMS_TOKEN_INDEX];
        info->kallsyms_offsets = val[F_KALLSYMS_OFFSETS];
        info->kallsyms_relative_base = val[F_KALLSYMS_RELATIVE_BASE];
    }
    return true;
}

/* The reason when only line F_STEXT + i is missing (or not an address). */
#define KALLSYMS_LINES 6
static const char *const kallsyms_line_missing[KALLSYMS_LINES] = {
    "VMCOREINFO lacks SYMBOL(_stext), which the kallsyms reader needs",
    "VMCOREINFO lacks SYMBOL(kallsyms_names)",
    "VMCOREINFO lacks SYMBOL(kallsyms_num_syms)",
    "VMCOREINFO lacks SYMBOL(kallsyms_token_table)",
    "VMCOREINFO lacks SYMBOL(kallsyms_token_index)",
    "VMCOREINFO lacks SYMBOL(kallsyms_offsets)",
};
static const char *const kallsyms_line_bad[KALLSYMS_LINES] = {
    "VMCOREINFO's SYMBOL(_stext) is not a kernel image address",
    "VMCOREINFO's SYMBOL(kallsyms_names) is not a kernel image address",
    "VMCOREINFO's SYMBOL(kallsyms_num_syms) is not a kernel image address",
    "VMCOREINFO's SYMBOL(kallsyms_token_table) is not a kernel image address",
    "VMCOREINFO's SYMBOL(kallsyms_token_index) is not a kernel image address",
    "VMCOREINFO's SYMBOL(kallsyms_offsets) is not a kernel image address",
};

const char *vmcoreinfo_kallsyms_reason(const VmcoreInfo *info)
{
    G_STATIC_ASSERT(F_KALLSYMS_OFFSETS - F_STEXT + 1 == KALLSYMS_LINES);

    if (info->has_kallsyms) {
        return NULL;
    }
    if (info->kallsyms_missing == (1u << KALLSYMS_LINES) - 1) {
        return "VMCOREINFO has none of the kallsyms lines (SYMBOL(_stext), "
               "SYMBOL(kallsyms_names), ...): Linux 6.0 added them, so this "
               "kernel is older or built without CONFIG_KALLSYMS";
    }
    if (info->kallsyms_missing == (1u << KALLSYMS_LINES) - 2) {
        /* x86 has long given _stext; the tables came in 6.0 */
        return "VMCOREINFO has none of the kallsyms table lines "
               "(SYMBOL(kallsyms_names), SYMBOL(kallsyms_offsets), ...): "
               "Linux 6.0 added them, so this kernel is older or built "
               "without CONFIG_KALLSYMS";
    }
    if (info->kallsyms_missing && info->kallsyms_bad) {
        return "VMCOREINFO's kallsyms lines are partly missing and partly not "
               "kernel image addresses";
    }
    for (int i = 0; i < KALLSYMS_LINES; i++) {
        if (info->kallsyms_missing & (1u << i)) {
            return info->kallsyms_missing == 1u << i ?
                   kallsyms_line_missing[i] :
                   "VMCOREINFO lists only some of the kallsyms lines";
        }
        if (info->kallsyms_bad & (1u << i)) {
            return info->kallsyms_bad == 1u << i ? kallsyms_line_bad[i] :
                   "VMCOREINFO's kallsyms lines are not kernel image addresses";
        }
    }
    return "VMCOREINFO does not locate kallsyms";
}

bool vmcoreinfo_parse_note(const void *note, size_t len, VmcoreInfo *info,
                           const char **why)
{
    static const char name[] = "VMCOREINFO";
    const unsigned char *p = note;
    uint32_t namesz, descsz;
    size_t name_padded;

    memset(info, 0, sizeof(*info));
    if (len < 12) {
        *why = "VMCOREINFO note is truncated";
        return false;
    }
    memcpy(&namesz, p, 4);
    memcpy(&descsz, p + 4, 4);
    if (namesz != sizeof(name) || len - 12 < sizeof(name) ||
        memcmp(p + 12, name, sizeof(name))) {
        *why = "guest note is not named VMCOREINFO";
        return false;
    }
    name_padded = (namesz + 3) & ~3u;
    if (descsz > VMCOREINFO_MAX_BYTES || len - 12 < name_padded ||
        len - 12 - name_padded < descsz) {
        *why = "VMCOREINFO note size is inconsistent";
        return false;
    }
    return vmcoreinfo_parse_text((const char *)p + 12 + name_padded, descsz,
                                 info, why);
}
