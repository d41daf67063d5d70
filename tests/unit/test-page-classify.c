/*
 * Unit tests for memdedup/classify/page-classify: zero / pattern / other
 * decisions, including the edge cases a fast classifier is most likely to
 * get wrong (a difference in the very last byte, in each 64-byte block's
 * tail, unaligned buffers, odd lengths) and the fill/classify round trip.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/classify/page-classify.h"

#define PAGE 4096

static const uint64_t patterns[] = {
    0,
    0xaaaaaaaaaaaaaaaaULL,          /* page_poison */
    0xffffffffffffffffULL,
    0x0101010101010101ULL,          /* 1-byte */
    0xbeefbeefbeefbeefULL,          /* 2-byte */
    0xdeadbeefdeadbeefULL,          /* 4-byte */
    0x0123456789abcdefULL,          /* 8-byte */
    0x8000000000000000ULL,          /* only the top bit */
    0x0000000000000001ULL,          /* only the bottom bit */
};

static void test_all_zero(void)
{
    g_autofree unsigned char *buf = g_malloc0(PAGE);
    uint64_t v = 1;

    g_assert_cmpint(page_classify(buf, PAGE, &v), ==, PAGE_CLASS_ZERO);
    g_assert_cmpuint(v, ==, 0);
}

static void test_patterns_round_trip(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE);
    g_autofree unsigned char *copy = g_malloc(PAGE);

    for (size_t i = 0; i < G_N_ELEMENTS(patterns); i++) {
        uint64_t v = ~patterns[i];

        page_fill_pattern(buf, PAGE, patterns[i]);
        g_assert_cmpint(page_classify(buf, PAGE, &v), ==,
                        patterns[i] ? PAGE_CLASS_PATTERN : PAGE_CLASS_ZERO);
        g_assert_cmpuint(v, ==, patterns[i]);
        /* The reported value must reproduce the page exactly. */
        memset(copy, 0x5c, PAGE);
        page_fill_pattern(copy, PAGE, v);
        g_assert_cmpmem(copy, PAGE, buf, PAGE);
    }
}

static void test_byte_fills(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE);

    for (int b = 0; b < 256; b++) {
        uint64_t v;

        memset(buf, b, PAGE);
        g_assert_cmpint(page_classify(buf, PAGE, &v), ==,
                        b ? PAGE_CLASS_PATTERN : PAGE_CLASS_ZERO);
        g_assert_cmpuint(page_pattern_width(v), ==, 1);
    }
}

/* Flip one byte at every position: never uniform any more. */
static void test_single_byte_differs_everywhere(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE);

    for (size_t i = 0; i < G_N_ELEMENTS(patterns); i++) {
        for (size_t pos = 0; pos < PAGE; pos++) {
            uint64_t v = 0x1234;

            page_fill_pattern(buf, PAGE, patterns[i]);
            buf[pos] ^= 0x01;
            g_assert_cmpint(page_classify(buf, PAGE, &v), ==, PAGE_CLASS_OTHER);
            g_assert_cmpuint(v, ==, 0x1234); /* untouched on OTHER */
        }
    }
}

static void test_last_byte_differs(void)
{
    g_autofree unsigned char *buf = g_malloc0(PAGE);

    buf[PAGE - 1] = 0x80;
    g_assert_cmpint(page_classify(buf, PAGE, NULL), ==, PAGE_CLASS_OTHER);
    memset(buf, 0xaa, PAGE);
    buf[PAGE - 1] = 0xab;
    g_assert_cmpint(page_classify(buf, PAGE, NULL), ==, PAGE_CLASS_OTHER);
}

/* Only the first word differs: the probes all agree with each other. */
static void test_first_word_differs(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE);

    memset(buf, 0xaa, PAGE);
    buf[3] = 0xab;
    g_assert_cmpint(page_classify(buf, PAGE, NULL), ==, PAGE_CLASS_OTHER);
}

static void test_unaligned(void)
{
    g_autofree unsigned char *mem = g_malloc(PAGE + 64);

    for (size_t off = 0; off < 16; off++) {
        unsigned char *buf = mem + off;
        uint64_t v;

        memset(mem, 0x11, PAGE + 64);
        page_fill_pattern(buf, PAGE, 0xdeadbeefcafef00dULL);
        g_assert_cmpint(page_classify(buf, PAGE, &v), ==, PAGE_CLASS_PATTERN);
        g_assert_cmpuint(v, ==, 0xdeadbeefcafef00dULL);
        buf[PAGE - 1] ^= 0xff;
        g_assert_cmpint(page_classify(buf, PAGE, &v), ==, PAGE_CLASS_OTHER);
        buf[PAGE - 1] ^= 0xff;
        /* Bytes just outside the buffer must not be looked at. */
        mem[off + PAGE] = 0x00;
        if (off) {
            mem[off - 1] = 0x00;
        }
        g_assert_cmpint(page_classify(buf, PAGE, &v), ==, PAGE_CLASS_PATTERN);
    }
}

static void test_lengths(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE * 2);

    memset(buf, 0xaa, PAGE * 2);
    g_assert_cmpint(page_classify(buf, 0, NULL), ==, PAGE_CLASS_OTHER);
    g_assert_cmpint(page_classify(buf, 7, NULL), ==, PAGE_CLASS_OTHER);
    g_assert_cmpint(page_classify(buf, 4095, NULL), ==, PAGE_CLASS_OTHER);
    /* A single word is trivially uniform. */
    g_assert_cmpint(page_classify(buf, 8, NULL), ==, PAGE_CLASS_PATTERN);
    /* Lengths that are not a multiple of the 64-byte block. */
    for (size_t len = 16; len <= 256; len += 8) {
        g_assert_cmpint(page_classify(buf, len, NULL), ==, PAGE_CLASS_PATTERN);
        buf[len - 1] = 0;
        g_assert_cmpint(page_classify(buf, len, NULL), ==, PAGE_CLASS_OTHER);
        buf[len - 1] = 0xaa;
    }
    g_assert_cmpint(page_classify(buf, PAGE * 2, NULL), ==, PAGE_CLASS_PATTERN);
    /* 2 MiB huge-page-sized buffers work too. */
    {
        size_t huge = 2 * 1024 * 1024;
        g_autofree unsigned char *h = g_malloc0(huge);

        g_assert_cmpint(page_classify(h, huge, NULL), ==, PAGE_CLASS_ZERO);
        h[huge / 2 + 13] = 1;
        g_assert_cmpint(page_classify(h, huge, NULL), ==, PAGE_CLASS_OTHER);
    }
}

static void test_random_pages(void)
{
    g_autofree unsigned char *buf = g_malloc(PAGE);
    GRand *rand = g_rand_new_with_seed(42);

    for (int n = 0; n < 1000; n++) {
        for (size_t i = 0; i < PAGE; i += 4) {
            guint32 r = g_rand_int(rand);

            memcpy(buf + i, &r, 4);
        }
        g_assert_cmpint(page_classify(buf, PAGE, NULL), ==, PAGE_CLASS_OTHER);
    }
    g_rand_free(rand);
}

/* Run a case with the sweep named by @data selected. */
#define IMPL_WRAPPER(name) \
    static void run_##name(gconstpointer data) \
    { \
        page_classify_use_generic(!strcmp(data, "generic")); \
        test_##name(); \
        page_classify_use_generic(false); \
    }
IMPL_WRAPPER(all_zero)
IMPL_WRAPPER(patterns_round_trip)
IMPL_WRAPPER(byte_fills)
IMPL_WRAPPER(single_byte_differs_everywhere)
IMPL_WRAPPER(last_byte_differs)
IMPL_WRAPPER(first_word_differs)
IMPL_WRAPPER(unaligned)
IMPL_WRAPPER(lengths)
IMPL_WRAPPER(random_pages)

static void test_width(void)
{
    g_assert_cmpuint(page_pattern_width(0), ==, 1);
    g_assert_cmpuint(page_pattern_width(0xaaaaaaaaaaaaaaaaULL), ==, 1);
    g_assert_cmpuint(page_pattern_width(0xbeefbeefbeefbeefULL), ==, 2);
    g_assert_cmpuint(page_pattern_width(0xdeadbeefdeadbeefULL), ==, 4);
    g_assert_cmpuint(page_pattern_width(0x0123456789abcdefULL), ==, 8);
    g_assert_cmpuint(page_pattern_width(0xaaaaaaaaaaaaaaabULL), ==, 8);
    g_assert_cmpuint(page_pattern_width(0xaaabaaabaaabaaabULL), ==, 2);
    g_assert_cmpstr(page_class_name(PAGE_CLASS_PATTERN), ==, "pattern");
}

static void add_tests(const char *impl)
{
#define ADD(name, fn) do { \
        g_autofree char *path = g_strdup_printf("/page-classify/%s/%s", impl, name); \
        g_test_add_data_func(path, impl, fn); \
    } while (0)
    ADD("zero", run_all_zero);
    ADD("patterns-round-trip", run_patterns_round_trip);
    ADD("byte-fills", run_byte_fills);
    ADD("one-byte-differs-anywhere", run_single_byte_differs_everywhere);
    ADD("last-byte-differs", run_last_byte_differs);
    ADD("first-word-differs", run_first_word_differs);
    ADD("unaligned", run_unaligned);
    ADD("lengths", run_lengths);
    ADD("random", run_random_pages);
#undef ADD
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* every case on the portable sweep and on the best one for this CPU */
    add_tests("generic");
    add_tests("best");
    g_test_add_func("/page-classify/width", test_width);
    return g_test_run();
}

