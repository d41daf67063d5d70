/*
 * libFuzzer target: the VMCOREINFO reader on hostile notes.  The guest
 * writes this note, so any bytes at all must parse or be refused without
 * reading outside the buffer (checked by ASan/UBSan in this build).
 *
 * Seed corpus: tests/unit/data/vmcoreinfo-*.txt (real notes).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/introspect/vmcoreinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmcoreInfo info;
    const char *why;
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);

    memcpy(copy, data, size);
    if (vmcoreinfo_parse_text((const char *)copy, size, &info, &why)) {
        /* a note that parses must satisfy the documented invariants */
        if (info.page_size != 4096 || info.page_mapcount_off + 4 > info.page_struct_size ||
            info.page_private_off + 8 > info.page_struct_size ||
            info.max_order > 19) {
            abort();
        }
    }
    (void)vmcoreinfo_parse_note(copy, size, &info, &why);
    free(copy);
    return 0;
}
