/*
 * Micro-benchmark: qemu-memx's page classifier
 * (memdedup/classify/page-classify.c) against upstream's buffer_is_zero()
 * on the same 4 KiB pages.
 *
 * Page kinds: all-zero, pattern (0xaa...), random, and "last byte
 * differs" (a zero page whose final byte is 1).  buffer_is_zero() stops
 * at the first non-zero byte, so on a pattern page it answers at once;
 * the fair full-scan comparison for a pattern page is buffer_is_zero() on
 * an all-zero page, and that ratio is reported too.
 *
 * Prints one JSON object (written to build/bench/classifier.json by
 * make bench).  Working set: 512 pages (2 MiB), swept repeatedly.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "memdedup/classify/page-classify.h"

#define PAGE 4096
#define NPAGES 512
#define MIN_SECONDS 0.3

typedef enum { KIND_ZERO, KIND_PATTERN, KIND_RANDOM, KIND_LAST_BYTE, KIND_N } Kind;

static const char *kind_names[KIND_N] = {
    "all-zero", "pattern", "random", "differs-in-last-byte"
};

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

/* Pages per second of @fn over the buffer. */
static double run(const uint8_t *buf, bool classify)
{
    uint64_t pages = 0, hits = 0;
    gint64 start = g_get_monotonic_time(), now;

    do {
        for (int rep = 0; rep < 16; rep++) {
            for (unsigned i = 0; i < NPAGES; i++) {
                const uint8_t *p = buf + i * PAGE;

                if (classify) {
                    hits += page_classify(p, PAGE, NULL) != PAGE_CLASS_OTHER;
                } else {
                    hits += buffer_is_zero(p, PAGE);
                }
            }
            pages += NPAGES;
        }
        now = g_get_monotonic_time();
    } while (now - start < MIN_SECONDS * G_USEC_PER_SEC);
    sink += hits;
    return pages / ((now - start) / (double)G_USEC_PER_SEC);
}

int main(int argc, char **argv)
{
    g_autofree uint8_t *buf = g_malloc(NPAGES * PAGE);
    double classify_pps[KIND_N], biz_pps[KIND_N];
    const char *impl = page_classify_use_generic(false);

    g_random_set_seed(1);
    for (Kind k = 0; k < KIND_N; k++) {
        fill(buf, k);
        /* warm up, then measure best of 3 for each */
        run(buf, true);
        classify_pps[k] = biz_pps[k] = 0;
        for (int t = 0; t < 3; t++) {
            classify_pps[k] = MAX(classify_pps[k], run(buf, true));
            biz_pps[k] = MAX(biz_pps[k], run(buf, false));
        }
    }

    printf("{\n  \"page_size\": %d, \"working_set_pages\": %d, "
           "\"classifier_sweep\": \"%s\",\n  \"kinds\": [\n", PAGE, NPAGES, impl);
    for (Kind k = 0; k < KIND_N; k++) {
        printf("    {\"kind\": \"%s\", \"classifier_gbps\": %.2f, "
               "\"buffer_is_zero_gbps\": %.2f, \"ratio\": %.3f}%s\n",
               kind_names[k], classify_pps[k] * PAGE / 1e9,
               biz_pps[k] * PAGE / 1e9, classify_pps[k] / biz_pps[k],
               k + 1 < KIND_N ? "," : "");
    }
    printf("  ],\n  \"full_scan_ratio_pattern_vs_zero\": %.3f\n}\n",
           classify_pps[KIND_PATTERN] / biz_pps[KIND_ZERO]);
    return 0;
}
