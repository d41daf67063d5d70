/*
 * Micro-benchmark: qemu-memx's page classifier
 * (memdedup/classify/page-classify.c) against upstream's buffer_is_zero()
 * on the same 4 KiB pages.
 *
 * Page kinds: all-zero, pattern (0xaa...), random, and "last byte
 * differs" (a zero page whose final byte is 1).  buffer_is_zero()
 * samples a few bytes first and stops at the first non-zero one, so on
 * all but zero pages it answers after a few bytes and its "speed" there
 * says nothing.  The fair comparison for a pattern page is the
 * equal-work pair: the classifier's full scan of a pattern page against
 * buffer_is_zero()'s full scan of a zero page.
 *
 * Method: for each pair the two functions run in alternating rounds (so
 * a noisy neighbour slows both, not one), each timed region lasts at
 * least 20 ms (calibrated per function, so the clock's resolution is
 * noise), the best of ROUNDS rounds is reported for each, and so is the
 * spread: the slowest round over the fastest, minus one.
 *
 * Prints one JSON object (written to build/bench/classifier.json by
 * make bench).  Working set: 512 pages (2 MiB), swept repeatedly.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/timer.h"
#include "memdedup/classify/page-classify.h"

#define PAGE 4096
#define NPAGES 512
#define ROUNDS 11
#define MIN_REGION_NS (20 * 1000 * 1000)

typedef enum { KIND_ZERO, KIND_PATTERN, KIND_RANDOM, KIND_LAST_BYTE, KIND_N } Kind;

static const char *kind_names[KIND_N] = {
    "all-zero", "pattern", "random", "differs-in-last-byte"
};

/*
 * Does buffer_is_zero() read the whole page of this kind?  It samples the
 * first, middle and last bytes before scanning.
 */
static const bool zero_check_reads_all[KIND_N] = { true, false, false, false };

static volatile uint64_t sink;

static void fill(uint8_t *buf, Kind kind)
{
    for (unsigned i = 0; i < NPAGES; i++) {
        uint8_t *p = buf + i * PAGE;

        switch (kind) {
        case KIND_ZERO:
            memset(p, 0, PAGE);
            break;
        case KIND_PATTERN:
            memset(p, 0xaa, PAGE);
            break;
        case KIND_RANDOM:
            for (unsigned b = 0; b < PAGE; b++) {
                p[b] = g_random_int();
            }
            break;
        default:
            memset(p, 0, PAGE);
            p[PAGE - 1] = 1;
            break;
        }
    }
}

/* Nanoseconds for @sweeps passes of one function over the buffer. */
static int64_t time_sweeps(const uint8_t *buf, bool classify, uint64_t sweeps)
{
    uint64_t hits = 0;
    int64_t start = get_clock();

    for (uint64_t s = 0; s < sweeps; s++) {
        for (unsigned i = 0; i < NPAGES; i++) {
            const uint8_t *p = buf + i * PAGE;

            if (classify) {
                hits += page_classify(p, PAGE, NULL) != PAGE_CLASS_OTHER;
            } else {
                hits += buffer_is_zero(p, PAGE);
            }
        }
    }
    sink += hits;
    return get_clock() - start;
}

/* Sweeps that make one timed region last at least MIN_REGION_NS. */
static uint64_t calibrate(const uint8_t *buf, bool classify)
{
    uint64_t sweeps = 1;

    while (time_sweeps(buf, classify, sweeps) < MIN_REGION_NS) {
        sweeps *= 2;
    }
    return sweeps * 2;
}

typedef struct Side {
    uint64_t sweeps;
    int64_t best_ns, worst_ns;
} Side;

static double side_gbps(const Side *s)
{
    return (double)s->sweeps * NPAGES * PAGE / s->best_ns;
}

static double side_spread(const Side *s)
{
    return (double)s->worst_ns / s->best_ns - 1;
}

/* The classifier on @a against buffer_is_zero() on @b, interleaved. */
static void run_pair(const uint8_t *a, const uint8_t *b, Side *cls, Side *biz)
{
    cls->sweeps = calibrate(a, true);
    biz->sweeps = calibrate(b, false);
    cls->best_ns = biz->best_ns = INT64_MAX;
    cls->worst_ns = biz->worst_ns = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int64_t tc = time_sweeps(a, true, cls->sweeps);
        int64_t tb = time_sweeps(b, false, biz->sweeps);

        cls->best_ns = MIN(cls->best_ns, tc);
        cls->worst_ns = MAX(cls->worst_ns, tc);
        biz->best_ns = MIN(biz->best_ns, tb);
        biz->worst_ns = MAX(biz->worst_ns, tb);
    }
}

int main(int argc, char **argv)
{
    g_autofree uint8_t *buf = g_malloc(NPAGES * PAGE);
    g_autofree uint8_t *zero = g_malloc(NPAGES * PAGE);
    const char *impl = page_classify_use_generic(false);
    Side cls, biz;

    /* written, so that it is not the kernel's one shared zero page */
    fill(zero, KIND_ZERO);
    g_random_set_seed(1);
    printf("{\n  \"page_size\": %d, \"working_set_pages\": %d, "
           "\"classifier_sweep\": \"%s\",\n  \"rounds\": %d, "
           "\"min_region_ms\": %d,\n  \"kinds\": [\n", PAGE, NPAGES, impl,
           ROUNDS, MIN_REGION_NS / 1000000);
    for (Kind k = 0; k < KIND_N; k++) {
        fill(buf, k);
        run_pair(buf, buf, &cls, &biz);
        printf("    {\"kind\": \"%s\", \"classifier_gbps\": %.2f, "
               "\"classifier_spread\": %.3f, \"buffer_is_zero_gbps\": %.2f, "
               "\"buffer_is_zero_spread\": %.3f, "
               "\"buffer_is_zero_reads_whole_page\": %s, \"ratio\": %.3f},\n",
               kind_names[k], side_gbps(&cls), side_spread(&cls),
               side_gbps(&biz), side_spread(&biz),
               zero_check_reads_all[k] ? "true" : "false",
               side_gbps(&cls) / side_gbps(&biz));
    }
    /* equal work: both read every byte of every page */
    fill(buf, KIND_PATTERN);
    run_pair(buf, zero, &cls, &biz);
    printf("    {\"kind\": \"equal-work: pattern vs buffer_is_zero on zero\", "
           "\"classifier_gbps\": %.2f, \"classifier_spread\": %.3f, "
           "\"buffer_is_zero_gbps\": %.2f, \"buffer_is_zero_spread\": %.3f, "
           "\"buffer_is_zero_reads_whole_page\": true, \"ratio\": %.3f}\n"
           "  ],\n  \"full_scan_ratio_pattern_vs_zero\": %.3f\n}\n",
           side_gbps(&cls), side_spread(&cls), side_gbps(&biz),
           side_spread(&biz), side_gbps(&cls) / side_gbps(&biz),
           side_gbps(&cls) / side_gbps(&biz));
    return 0;
}
