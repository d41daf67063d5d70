/*
 * libFuzzer target: the guest kallsyms reader on a hostile guest.  The
 * input is a 56-byte header, then guest RAM (the kernel image, phys_base
 * 0).  The header gives, as little-endian u64 guest-physical addresses,
 * where the guest claims kallsyms_num_syms, kallsyms_relative_base,
 * kallsyms_token_index, kallsyms_token_table, kallsyms_offsets and
 * kallsyms_names are, and _stext's VMCOREINFO address.  Whatever the
 * tables hold, the reader must stay inside guest RAM, end, and on success
 * give names that expand and addresses consistent with its encoding.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/introspect/guest-kallsyms.h"
#include "fuzz-ram.h"

#define HEADER 56
#define MAX_RAM (1024 * 1024)
#define KVA(pa) (0xffffffff80000000ULL + (pa))

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_LE(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzRam r;
    GuestMemory mem = { .map = fuzz_map, .opaque = &r };
    VmcoreInfo info = { .has_kallsyms = true };
    GuestKallsyms ks;
    const char *why;
    uint8_t *ram;
    char name[GUEST_KALLSYMS_NAME_LEN + 1];

    if (size < HEADER || size - HEADER > MAX_RAM) {
        return 0;
    }
    info.kallsyms_num_syms = KVA(u64_at(data) % MAX_RAM);
    /* the top bit: a 7.0+ note, without kallsyms_relative_base */
    info.has_kallsyms_relative_base = !(u64_at(data + 8) >> 63);
    info.kallsyms_relative_base = KVA(u64_at(data + 8) % MAX_RAM);
    info.kallsyms_token_index = KVA(u64_at(data + 16) % MAX_RAM);
    info.kallsyms_token_table = KVA(u64_at(data + 24) % MAX_RAM);
    info.kallsyms_offsets = KVA(u64_at(data + 32) % MAX_RAM);
    info.kallsyms_names = KVA(u64_at(data + 40) % MAX_RAM);
    info.stext = u64_at(data + 48);
    /* an exact-size heap copy so ASan catches any stray access */
    r.size = size - HEADER;
    ram = malloc(r.size ? r.size : 1);
    memcpy(ram, data + HEADER, r.size);
    r.ram = ram;

    if (guest_kallsyms_load(&ks, &info, &mem, &why)) {
        bool found;
        uint64_t addr;
        const char *want = "_stext";

        for (uint32_t i = 0; i < ks.num_syms; i++) {
            if (!guest_kallsyms_name(&ks, i, name, sizeof(name))) {
                abort();
            }
        }
        if (guest_kallsyms_find(&ks, &want, 1, &addr, &found) != 1 ||
            addr != info.stext) {
            abort();
        }
        guest_kallsyms_clear(&ks);
    }
    free(ram);
    return 0;
}
