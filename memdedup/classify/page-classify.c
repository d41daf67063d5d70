/*
 * Page classification: zero / repeated 8-byte value / other.
 *
 * The common case on a busy guest is a page of ordinary data, so the
 * classifier first compares a few words spread over the page (the last
 * one included) and only then sweeps the whole page.  The sweep XORs
 * blocks against the candidate value with GCC/clang vector extensions
 * (16-byte vectors everywhere; 32-byte AVX2 on x86-64 CPUs that have it,
 * picked at start-up), OR-reduces them and stops at the first block that
 * differs, so a page that differs early costs little and a uniform page
 * costs one pass at memory bandwidth.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/classify/page-classify.h"

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

/* Compare the 8-byte words in [p, end) with @value, one by one. */
static bool tail_equal(const unsigned char *p, const unsigned char *end,
                       uint64_t value)
{
    for (; p < end; p += sizeof(uint64_t)) {
        if (load_u64(p) != value) {
            return false;
        }
    }
    return true;
}

/* True if every 8-byte word in [p, p + len) equals @value; len % 8 == 0. */
static bool words_equal_sse2(const unsigned char *p, size_t len, uint64_t value)
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
    return tail_equal(p, end, value);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/*
 * The same sweep with 32-byte AVX2 vectors, chosen at start-up when the
 * CPU has AVX2 (as QEMU's buffer_is_zero does).  Eight vectors (256
 * bytes) are folded per step and tested with one vptest, so the loop
 * carries one branch per 256 bytes and no lane extraction.
 */
static bool __attribute__((target("avx2")))
words_equal_avx2(const unsigned char *p, size_t len, uint64_t value)
{
    const __m256i splat = _mm256_set1_epi64x(value);
    const unsigned char *end = p + len;

    while ((size_t)(end - p) >= 8 * sizeof(__m256i)) {
        const __m256i *v = (const __m256i *)p;
        __m256i a = _mm256_xor_si256(_mm256_loadu_si256(v), splat);
        __m256i b = _mm256_xor_si256(_mm256_loadu_si256(v + 1), splat);
        __m256i c = _mm256_xor_si256(_mm256_loadu_si256(v + 2), splat);
        __m256i d = _mm256_xor_si256(_mm256_loadu_si256(v + 3), splat);

        a = _mm256_or_si256(a, _mm256_xor_si256(_mm256_loadu_si256(v + 4),
                                                splat));
        b = _mm256_or_si256(b, _mm256_xor_si256(_mm256_loadu_si256(v + 5),
                                                splat));
        c = _mm256_or_si256(c, _mm256_xor_si256(_mm256_loadu_si256(v + 6),
                                                splat));
        d = _mm256_or_si256(d, _mm256_xor_si256(_mm256_loadu_si256(v + 7),
                                                splat));
        a = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
        if (!_mm256_testz_si256(a, a)) {
            return false;
        }
        p += 8 * sizeof(__m256i);
    }
    return tail_equal(p, end, value);
}

static bool (*words_equal)(const unsigned char *, size_t, uint64_t) =
    words_equal_sse2;

static void __attribute__((constructor)) page_classify_init(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        words_equal = words_equal_avx2;
    }
}

const char *page_classify_use_generic(bool generic)
{
    if (generic) {
        words_equal = words_equal_sse2;
    } else {
        page_classify_init();
    }
    return words_equal == words_equal_avx2 ? "avx2" : "sse2";
}
#else
#define words_equal words_equal_sse2

const char *page_classify_use_generic(bool generic)
{
    return "generic";
}
#endif

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
