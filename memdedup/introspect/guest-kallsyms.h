/*
 * Guest kallsyms: the Linux guest kernel's own symbol table, read from
 * guest RAM where VMCOREINFO says it is (Linux 6.0+ exports the table's
 * SYMBOL() lines), so that symbols VMCOREINFO does not list can be found
 * without guessing and without debug info.
 *
 * The table (kernel/kallsyms.c, scripts/kallsyms.c):
 *   kallsyms_num_syms      u32, the number of symbols
 *   kallsyms_names         per symbol a length (one byte, or two when the
 *                          first has bit 7 set: low 7 bits, then the next
 *                          byte's 8 above them) and that many token
 *                          indexes; the expanded name starts with the
 *                          symbol's type letter
 *   kallsyms_token_table   256 NUL-terminated tokens, back to back
 *   kallsyms_token_index   u16[256], each token's offset in the table
 *   kallsyms_offsets       s32 per symbol
 *
 * Addresses come in one of three encodings: base-relative
 * (kallsyms_relative_base + the offset read as unsigned), absolute-percpu
 * (x86-64 SMP kernels until 6.15: an offset >= 0 is an absolute address,
 * a negative one means base - 1 - offset), or place-relative (Linux 7.0
 * and later, which have no kallsyms_relative_base: the offset's own
 * address plus the offset).  The loader takes the one that reproduces
 * VMCOREINFO's SYMBOL(_stext) and refuses the table when none does.
 * Every count, length and index read from the guest is bounded.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_KALLSYMS_H
#define MEMDEDUP_GUEST_KALLSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memdedup/introspect/guest-memory.h"
#include "memdedup/introspect/vmcoreinfo.h"

/* Bounds on what a guest may claim */
#define GUEST_KALLSYMS_MAX_SYMS     (1u << 21)
#define GUEST_KALLSYMS_MAX_NAMES    (32u << 20)     /* bytes of kallsyms_names */
#define GUEST_KALLSYMS_MAX_TOKENS   (16u << 10)     /* bytes of the token table */
#define GUEST_KALLSYMS_NAME_LEN     512             /* KSYM_NAME_LEN */

typedef enum GuestKallsymsEncoding {
    GUEST_KALLSYMS_BASE_RELATIVE,
    GUEST_KALLSYMS_ABSOLUTE_PERCPU,
    GUEST_KALLSYMS_PLACE_RELATIVE,
    GUEST_KALLSYMS_ENCODINGS,
} GuestKallsymsEncoding;

typedef struct GuestKallsyms {
    uint32_t num_syms;
    uint8_t *names;             /* private copy of kallsyms_names */
    size_t names_len;
    uint32_t *name_start;       /* offset in @names of each symbol's entry */
    char *tokens;               /* private copy of the token table */
    size_t tokens_len;
    uint16_t token_index[256];
    uint16_t token_len[256];    /* each token's length, found at load */
    int32_t *offsets;           /* private copy of kallsyms_offsets */
    uint64_t offsets_addr;      /* where the guest holds them */
    uint64_t relative_base;     /* 0 if the kernel has none (7.0+) */
    GuestKallsymsEncoding encoding; /* the one that reproduced _stext */
} GuestKallsyms;

/*
 * Copy the guest's symbol table out of guest RAM (through @mem, at the
 * kernel-image addresses @info gives) and check it: every name must
 * expand within bounds, and one encoding must give _stext its VMCOREINFO
 * address.  Returns false with a reason in *@why; @ks is then empty.
 */
bool guest_kallsyms_load(GuestKallsyms *ks, const VmcoreInfo *info,
                         const GuestMemory *mem, const char **why);

/* Free what guest_kallsyms_load() copied. */
void guest_kallsyms_clear(GuestKallsyms *ks);

/*
 * Expand symbol @i's name (without its type letter) into @buf of @len
 * bytes, NUL-terminated; returns its type letter, or 0 if @i is out of
 * range.
 */
char guest_kallsyms_name(const GuestKallsyms *ks, uint32_t i, char *buf,
                         size_t len);

/* Symbol @i's address in the encoding the loader chose. */
uint64_t guest_kallsyms_address(const GuestKallsyms *ks, uint32_t i);

/*
 * Look up @n names in one walk of the table: @addrs[k] receives the
 * address of @names[k] and @found[k] whether it exists.  Returns how many
 * were found.
 */
size_t guest_kallsyms_find(const GuestKallsyms *ks, const char *const *names,
                           size_t n, uint64_t *addrs, bool *found);

#endif /* MEMDEDUP_GUEST_KALLSYMS_H */
