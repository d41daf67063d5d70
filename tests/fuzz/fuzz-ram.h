/*
 * Guest RAM for the introspection fuzzers: the fuzzer's bytes behind a
 * GuestMemory accessor that maps only what lies wholly inside them.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_FUZZ_FUZZ_RAM_H
#define TESTS_FUZZ_FUZZ_RAM_H

#include <stdint.h>

typedef struct FuzzRam {
    const uint8_t *ram;
    uint64_t size;
} FuzzRam;

static inline const void *fuzz_map(void *opaque, uint64_t gpa, uint64_t len)
{
    FuzzRam *r = opaque;

    if (gpa >= r->size || len > r->size - gpa) {
        return NULL;
    }
    return r->ram + gpa;
}

#endif /* TESTS_FUZZ_FUZZ_RAM_H */
