/*
 * Bounded access to guest RAM for the introspection cores.
 *
 * The cores never dereference guest addresses themselves: they ask the
 * caller to map a guest-physical range, and the caller answers with a
 * host pointer only if the whole range is guest RAM.  In QEMU that is a
 * RAMBlock lookup; in tests and tools it is a buffer or a dump file.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_GUEST_MEMORY_H
#define MEMDEDUP_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct GuestMemory {
    /*
     * Return a host pointer to the @len bytes of guest RAM at @gpa, or
     * NULL unless all of [gpa, gpa + len) is RAM backed by one contiguous
     * host mapping.  The bytes may change under the caller (vCPUs run):
     * read each value once.
     */
    const void *(*map)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
} GuestMemory;

/* One range of guest-physical RAM, [start, end). */
typedef struct GuestRamRange {
    uint64_t start;
    uint64_t end;
} GuestRamRange;

static inline bool guest_read_u64(const GuestMemory *mem, uint64_t gpa,
                                  uint64_t *val)
{
    const void *p = mem->map(mem->opaque, gpa, sizeof(*val));

    if (!p) {
        return false;
    }
    memcpy(val, p, sizeof(*val));
    return true;
}

/*
 * Copy @len bytes of guest RAM at @gpa into @buf, a page at a time (the
 * bytes may span RAM ranges).  False if any of it is not RAM.
 */
static inline bool guest_read_bytes(const GuestMemory *mem, uint64_t gpa,
                                    void *buf, size_t len)
{
    unsigned char *out = buf;

    while (len) {
        size_t chunk = 4096 - (gpa & 4095);
        const void *p;

        chunk = chunk < len ? chunk : len;
        p = mem->map(mem->opaque, gpa, chunk);
        if (!p) {
            return false;
        }
        memcpy(out, p, chunk);
        out += chunk;
        gpa += chunk;
        len -= chunk;
    }
    return true;
}

#endif /* MEMDEDUP_GUEST_MEMORY_H */
