/*
 * Micro-benchmark of the free-page planner (migration-ext/free-page-skip.c):
 * the cost of checking guest-free pages' contents (the poison rule) and
 * clearing their dirty bits, in milliseconds per GiB of free pages, for
 * the page contents a migration meets: garbage left by freed data, zero
 * pages never touched, and page_poison's 0xaa, each in a later pass and
 * in the first pass (where a zero first word is all that is read); and
 * for a guest known to neither zero nor poison free pages, whose pages
 * are dropped without being read ("garbage_unread").
 *
 * The pages sit in a 2 GiB buffer (THP-backed, as guest RAM is), far
 * larger than any cache; before each round another 64 MiB buffer is
 * written so nothing of the last round stays cached.  Each figure is the
 * minimum and median of 5 rounds.
 *
 * Prints one JSON object on stdout (build/bench/free-page-skip.json from
 * make bench) and a readable summary on stderr.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "migration-ext/free-page-skip.h"

#define PAGE 4096
#define ROUNDS 5
#define BUFFER_GIB 2

typedef enum { GARBAGE, ZERO, POISON } Content;

static const char *const content_names[] = { "garbage", "zero", "poison" };

static void fill(uint8_t *ram, size_t bytes, Content c)
{
    uint64_t *w = (uint64_t *)ram;

    for (size_t i = 0; i < bytes / 8; i++) {
        w[i] = c == GARBAGE ? i * 0x9e3779b97f4a7c15ULL + 1 :
               c == POISON ? 0xaaaaaaaaaaaaaaaaULL : 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(void)
{
    uint64_t npages = (uint64_t)BUFFER_GIB << 18;
    size_t bytes = npages * PAGE;
    uint8_t *ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_autofree uint64_t *free_map = g_malloc(npages / 8);
    g_autofree unsigned long *dirty = g_malloc(npages / 8);
    g_autofree uint8_t *flush = g_malloc(64 << 20);
    GString *json = g_string_new("{\"buffer_gib\": " G_STRINGIFY(BUFFER_GIB)
                                 ", \"rounds\": " G_STRINGIFY(ROUNDS)
                                 ", \"ms_per_gib\": {");

    if (ram == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(ram, bytes, MADV_HUGEPAGE);
    for (Content c = GARBAGE; c <= POISON; c++) {
        fill(ram, bytes, c);
        /* mode 0: later pass, 1: first pass, 2: content not read */
        for (int mode = 0; mode <= (c == GARBAGE ? 2 : 1); mode++) {
            bool first_pass = mode == 1, keep_uniform = mode < 2;
            double ms[ROUNDS];
            FreePageSkipStats st = { 0 };

            for (int r = 0; r < ROUNDS; r++) {
                gint64 t0;

                memset(free_map, 0xff, npages / 8);
                memset(dirty, 0xff, npages / 8);
                memset(flush, r, 64 << 20);
                memset(&st, 0, sizeof(st));
                t0 = g_get_monotonic_time();
                free_page_skip_range(free_map, npages, 0, npages, ram, PAGE,
                                     dirty, 0, first_pass, keep_uniform, &st);
                ms[r] = (g_get_monotonic_time() - t0) / 1000.0 / BUFFER_GIB;
            }
            qsort(ms, ROUNDS, sizeof(ms[0]), cmp_double);
            fprintf(stderr, "%-8s %-10s min %6.2f median %6.2f ms/GiB "
                    "(dropped %" G_GUINT64_FORMAT ", kept %" G_GUINT64_FORMAT
                    ")\n", content_names[c], first_pass ? "first pass" :
                    keep_uniform ? "later pass" : "unread", ms[0],
                    ms[ROUNDS / 2], st.skipped,
                    st.kept_uniform);
            g_string_append_printf(json, "%s\"%s_%s\": {\"min\": %.3f, "
                                   "\"median\": %.3f, \"max\": %.3f}",
                                   c == GARBAGE && mode == 0 ? "" : ", ",
                                   content_names[c],
                                   first_pass ? "first" :
                                   keep_uniform ? "later" : "unread",
                                   ms[0], ms[ROUNDS / 2], ms[ROUNDS - 1]);
        }
    }
    g_string_append(json, "}}");
    printf("%s\n", json->str);
    g_string_free(json, TRUE);
    munmap(ram, bytes);
    return 0;
}
