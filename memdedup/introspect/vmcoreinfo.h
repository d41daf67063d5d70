/*
 * VMCOREINFO reader: parses the self-description a Linux guest hands to
 * QEMU's -device vmcoreinfo (the same note kdump and makedumpfile read)
 * and derives what is needed to find and judge struct page entries.
 *
 * The note text is guest-controlled: every line is bounded and validated,
 * unknown keys are ignored, and anything missing or inconsistent yields
 * an error with a reason instead of a guess.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_VMCOREINFO_H
#define MEMDEDUP_VMCOREINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest note we accept; real ones are 3-4 KiB. */
#define VMCOREINFO_MAX_BYTES (64 * 1024)

typedef struct VmcoreInfo {
    char osrelease[65];          /* OSRELEASE, NUL-terminated */
    uint64_t page_size;          /* PAGESIZE */

    /* Kernel page tables (x86-64) */
    uint64_t init_top_pgt;       /* SYMBOL(init_top_pgt), kernel virtual */
    uint64_t phys_base;          /* NUMBER(phys_base), read mod 2^64 */
    bool pgtable_l5_enabled;     /* NUMBER(pgtable_l5_enabled) */

    /* Where struct pages are */
    bool has_vmemmap;
    uint64_t vmemmap;            /* SYMBOL(vmemmap), 6.12+ */
    uint64_t mem_section;        /* SYMBOL(mem_section) */
    uint64_t mem_section_length; /* LENGTH(mem_section): number of roots */
    uint64_t mem_section_size;   /* SIZE(mem_section) */
    uint64_t section_mem_map_off;/* OFFSET(mem_section.section_mem_map) */
    uint32_t section_size_bits;  /* NUMBER(SECTION_SIZE_BITS) */
    uint32_t max_physmem_bits;   /* NUMBER(MAX_PHYSMEM_BITS), 0 if absent */

    /* struct page layout */
    uint64_t page_struct_size;   /* SIZE(page) */
    uint64_t page_mapcount_off;  /* OFFSET(page._mapcount) */
    uint64_t page_private_off;   /* OFFSET(page.private) */
    uint32_t max_order;          /* LENGTH(zone.free_area) - 1 */

    /* Buddy marker: NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE) as a 32-bit word */
    uint32_t buddy_mapcount_value;
    bool buddy_type_in_top_byte; /* 6.12+: page type in bits 31..24 */

    /* More layout, optional: what BTF's layout is checked against */
    bool has_page_lru, has_page_refcount, has_zone_size, has_zone_free_area;
    bool has_zone_spanned_pages, has_pgdat_node_zones;
    uint64_t page_lru_off;       /* OFFSET(page.lru) */
    uint64_t page_refcount_off;  /* OFFSET(page._refcount) */
    uint64_t zone_size;          /* SIZE(zone) */
    uint64_t zone_free_area_off; /* OFFSET(zone.free_area) */
    uint64_t zone_spanned_pages_off; /* OFFSET(zone.spanned_pages) */
    uint64_t pgdat_node_zones_off;   /* OFFSET(pglist_data.node_zones) */

    /*
     * The kernel's own symbol table (Linux 6.0+), all kernel virtual:
     * has_kallsyms when every one of these SYMBOL() lines is present
     * but kallsyms_relative_base, which Linux 7.0 dropped.
     */
    bool has_kallsyms;
    bool has_kallsyms_relative_base;
    /* why not has_kallsyms: vmcoreinfo_kallsyms_reason() says */
    uint8_t kallsyms_missing;   /* one bit per line absent, in note order */
    uint8_t kallsyms_bad;       /* one bit per line not a kernel address */
    uint64_t stext;              /* SYMBOL(_stext): checks the decoding */
    uint64_t kallsyms_names;
    uint64_t kallsyms_num_syms;
    uint64_t kallsyms_token_table;
    uint64_t kallsyms_token_index;
    uint64_t kallsyms_offsets;
    uint64_t kallsyms_relative_base;
} VmcoreInfo;

/*
 * Parse VMCOREINFO text (KEY=VALUE lines) of @len bytes.  Returns true and
 * fills @info when every field walking struct pages needs is present and
 * sane; otherwise returns false with a static, human-readable reason in
 * *@why.
 */
bool vmcoreinfo_parse_text(const char *text, size_t len, VmcoreInfo *info,
                           const char **why);

/*
 * Parse an ELF note (Elf64_Nhdr, name "VMCOREINFO", then the text) as
 * the kernel publishes it through fw_cfg "etc/vmcoreinfo".
 */
bool vmcoreinfo_parse_note(const void *note, size_t len, VmcoreInfo *info,
                           const char **why);

/* True if the 32-bit _mapcount/page_type word marks a free buddy head. */
/*
 * Why @info does not locate the kernel's kallsyms, naming the lines that
 * are missing or wrong; NULL when it does. A static string.
 */
const char *vmcoreinfo_kallsyms_reason(const VmcoreInfo *info);

static inline bool vmcoreinfo_is_buddy(const VmcoreInfo *info, uint32_t word)
{
    if (info->buddy_type_in_top_byte) {
        return (word >> 24) == (info->buddy_mapcount_value >> 24);
    }
    return word == info->buddy_mapcount_value;
}

/* Guest physical address of a kernel-image virtual address (__pa_symbol). */
static inline uint64_t vmcoreinfo_kernel_pa(const VmcoreInfo *info,
                                            uint64_t vaddr)
{
    return vaddr - 0xffffffff80000000ULL + info->phys_base;
}

#endif /* MEMDEDUP_VMCOREINFO_H */
