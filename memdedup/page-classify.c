/*
 * Page classification: zero / repeated 8-byte value / other.
 *
 * The common case on a busy guest is a page of ordinary data, so the
 * classifier first compares a few words spread over the page (the last
 * one included) and only then sweeps the whole page.  The sweep XORs
 * 64-byte blocks against the candidate value with GCC/clang vector
 * extensions (SSE2 on x86-64, NEON on arm64), OR-reduces them and stops
 * at the first block that differs, so a page that differs early costs
 * little and a uniform page costs one pass at memory bandwidth.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/page-classify.h"

#include <string.h>

typedef uint64_t PageVec __attribute__((vector_size(16)));

enum { BLOCK_BYTES = 64, VECS_PER_BLOCK = BLOCK_BYTES / sizeof(PageVec) };

static inline uint64_t load_u64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline PageVec load_vec(const unsigned char *p)
{
    PageVec v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* True if every 8-byte word in [p, p + len) equals @value; len % 8 == 0. */
static bool words_equal(const unsigned char *p, size_t len, uint64_t value)
{
    const PageVec splat = { value, value };
    const unsigned char *end = p + len;

    while ((size_t)(end - p) >= BLOCK_BYTES) {
        PageVec diff = load_vec(p) ^ splat;

        for (int i = 1; i < VECS_PER_BLOCK; i++) {
            diff |= load_vec(p + i * sizeof(PageVec)) ^ splat;
        }
        if (diff[0] | diff[1]) {
            return false;
        }
        p += BLOCK_BYTES;
    }
    for (; p < end; p += sizeof(uint64_t)) {
        if (load_u64(p) != value) {
            return false;
        }
    }
    return true;
}

PageClass page_classify(const void *buf, size_t len, uint64_t *pattern)
{
    const unsigned char *p = buf;
    uint64_t value;

    if (len == 0 || len % sizeof(uint64_t)) {
        return PAGE_CLASS_OTHER;
    }
    value = load_u64(p);

    /* Cheap probes: last word, middle word. Most data pages fail here. */
    if (load_u64(p + len - 8) != value ||
        load_u64(p + (len / 2 & ~(size_t)7)) != value) {
        return PAGE_CLASS_OTHER;
    }
    if (!words_equal(p, len, value)) {
        return PAGE_CLASS_OTHER;
    }
    if (pattern) {
        *pattern = value;
    }
    return value ? PAGE_CLASS_PATTERN : PAGE_CLASS_ZERO;
}

void page_fill_pattern(void *buf, size_t len, uint64_t pattern)
{
    unsigned char *p = buf;

    for (size_t off = 0; off + sizeof(pattern) <= len; off += sizeof(pattern)) {
        memcpy(p + off, &pattern, sizeof(pattern));
    }
}

unsigned page_pattern_width(uint64_t pattern)
{
    if ((pattern >> 32) != (pattern & 0xffffffffu)) {
        return 8;
    }
    if (((pattern >> 16) & 0xffff) != (pattern & 0xffff)) {
        return 4;
    }
    if (((pattern >> 8) & 0xff) != (pattern & 0xff)) {
        return 2;
    }
    return 1;
}

const char *page_class_name(PageClass cls)
{
    switch (cls) {
    case PAGE_CLASS_ZERO:
        return "zero";
    case PAGE_CLASS_PATTERN:
        return "pattern";
    case PAGE_CLASS_OTHER:
        return "other";
    }
    return "invalid";
}
