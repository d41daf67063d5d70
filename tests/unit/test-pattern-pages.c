/*
 * Unit tests of the pattern-page codec's send-side partition
 * (migration-ext/pattern-pages.c): every batch splits into normal |
 * pattern with no offset lost or repeated, and each kept value rebuilds
 * its page byte for byte, as the destination will.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "migration-ext/pattern-pages.h"

#define PAGE 4096
#define ONES 0x0101010101010101ULL

enum { KIND_ZERO, KIND_PATTERN, KIND_RANDOM, KIND_LAST_BYTE, KIND_COUNT };

/* Fill @page with content of @kind; returns whether it is a pattern page. */
static bool fill_page(uint8_t *page, int kind, GRand *rng)
{
    static const uint64_t patterns[] = {
        0xaaaaaaaaaaaaaaaaULL,  /* page_poison */
        0xffffffffffffffffULL,
        0x00ff00ff00ff00ffULL,  /* 2-byte */
        0xdeadbeefdeadbeefULL,  /* 4-byte */
        0x0123456789abcdefULL,  /* 8-byte */
        0x0000000000000001ULL,  /* mostly zero, still a pattern */
    };

    switch (kind) {
    case KIND_ZERO:
        memset(page, 0, PAGE);
        return false;
    case KIND_PATTERN:
        page_fill_pattern(page, PAGE,
                          patterns[g_rand_int_range(rng, 0,
                                                    G_N_ELEMENTS(patterns))]);
        return true;
    case KIND_RANDOM:
        for (unsigned i = 0; i < PAGE; i++) {
            page[i] = (uint8_t)g_rand_int(rng);
        }
        return false;
    default:
        /* a pattern page but for its very last byte */
        page_fill_pattern(page, PAGE, 0xaaaaaaaaaaaaaaaaULL);
        page[PAGE - 1] ^= 1;
        return false;
    }
}

static int cmp_offset(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Partition @n of the @nr_pages pages of @ram, picked at random and in a
 * random order, and check the result against what each page holds
 * (@is_pattern).
 */
static void check_batch(const uint8_t *ram, const bool *is_pattern,
                        uint32_t nr_pages, uint32_t n, GRand *rng)
{
    uintptr_t *offsets = g_new(uintptr_t, nr_pages);
    /* never NULL, even for n == 0 (memcpy and qsort want a pointer) */
    uintptr_t *before = g_new(uintptr_t, n + 1);
    uint64_t *values = g_new(uint64_t, n + 1);
    uint8_t *rebuilt = g_malloc(PAGE);
    uint32_t expect_normal = 0, normal;

    g_assert_cmpuint(n, <=, nr_pages);
    for (uint32_t i = 0; i < nr_pages; i++) {
        offsets[i] = (uintptr_t)i * PAGE;
    }
    for (uint32_t i = nr_pages - 1; i > 0; i--) {     /* Fisher-Yates */
        uint32_t k = g_rand_int_range(rng, 0, i + 1);
        uintptr_t t = offsets[i];

        offsets[i] = offsets[k];
        offsets[k] = t;
    }
    for (uint32_t i = 0; i < n; i++) {
        expect_normal += !is_pattern[offsets[i] / PAGE];
    }
    memcpy(before, offsets, n * sizeof(*offsets));

    normal = pattern_pages_partition(ram, offsets, n, PAGE, values);

    g_assert_cmpuint(normal, ==, expect_normal);
    for (uint32_t i = 0; i < normal; i++) {
        g_assert_false(is_pattern[offsets[i] / PAGE]);
    }
    for (uint32_t k = 0; k < n - normal; k++) {
        uintptr_t offset = offsets[normal + k];

        g_assert_true(is_pattern[offset / PAGE]);
        page_fill_pattern(rebuilt, PAGE, values[k]);
        g_assert_cmpmem(rebuilt, PAGE, ram + offset, PAGE);
    }
    /* a permutation: the same offsets, each once */
    qsort(before, n, sizeof(*before), cmp_offset);
    qsort(offsets, n, sizeof(*offsets), cmp_offset);
    g_assert_cmpmem(before, n * sizeof(*before), offsets,
                    n * sizeof(*offsets));

    g_free(rebuilt);
    g_free(values);
    g_free(before);
    g_free(offsets);
}

/* Random mixes of every page kind, batches of every size up to 128. */
static void test_partition_random(void)
{
    enum { NR_PAGES = 512 };
    GRand *rng = g_rand_new_with_seed(0x9a77e55);
    uint8_t *ram = g_malloc(NR_PAGES * PAGE);
    bool is_pattern[NR_PAGES];

    for (int round = 0; round < 8; round++) {
        /* vary the mix: from no pattern page to nearly all */
        int weight = round * 100 / 7;

        for (uint32_t p = 0; p < NR_PAGES; p++) {
            int kind = g_rand_int_range(rng, 0, 100) < weight ?
                       KIND_PATTERN :
                       g_rand_int_range(rng, 0, KIND_COUNT);

            is_pattern[p] = fill_page(ram + p * PAGE, kind, rng);
        }
        for (uint32_t n = 0; n <= 128; n++) {
            check_batch(ram, is_pattern, NR_PAGES, n, rng);
        }
    }
    g_free(ram);
    g_rand_free(rng);
}

/* All normal, all pattern, and a single page of each kind. */
static void test_partition_edges(void)
{
    enum { N = 4 };
    uint8_t *ram = g_malloc(N * PAGE);
    uintptr_t offsets[N];
    uint64_t values[N];

    for (int i = 0; i < N; i++) {
        page_fill_pattern(ram + i * PAGE, PAGE, ONES * (i + 1));
        offsets[i] = (uintptr_t)i * PAGE;
    }
    g_assert_cmpuint(pattern_pages_partition(ram, offsets, N, PAGE, values),
                     ==, 0);
    for (int k = 0; k < N; k++) {
        /* the value names the page it belongs to */
        g_assert_cmpuint(values[k], ==, ONES * (offsets[k] / PAGE + 1));
    }

    memset(ram, 0, N * PAGE);
    ram[PAGE + 17] = 1;
    for (int i = 0; i < N; i++) {
        offsets[i] = (uintptr_t)i * PAGE;
    }
    g_assert_cmpuint(pattern_pages_partition(ram, offsets, N, PAGE, values),
                     ==, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpuint(offsets[i], ==, (uintptr_t)i * PAGE);
    }

    g_assert_cmpuint(pattern_pages_partition(ram, offsets, 0, PAGE, values),
                     ==, 0);
    page_fill_pattern(ram, PAGE, 0xaaaaaaaaaaaaaaaaULL);
    g_assert_cmpuint(pattern_pages_partition(ram, offsets, 1, PAGE, values),
                     ==, 0);
    g_assert_cmpuint(values[0], ==, 0xaaaaaaaaaaaaaaaaULL);
    g_free(ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pattern-pages/partition/random", test_partition_random);
    g_test_add_func("/pattern-pages/partition/edges", test_partition_edges);
    return g_test_run();
}
