/*
 * Unit tests of the reclaim planner (memdedup/dedup/dedup-plan.c): what
 * it gives back (stale and zero free pages, in whole granules), what it
 * never gives back (pages in use, poisoned free pages and the granules
 * holding them), residency, and granules at a range's edges.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/dedup/dedup-plan.h"

#define PAGE 4096
#define GRANULE 512     /* 2 MiB of 4 KiB pages */

static void set_free(uint64_t *map, uint64_t first, uint64_t n)
{
    for (uint64_t pfn = first; pfn < first + n; pfn++) {
        map[pfn / 64] |= UINT64_C(1) << (pfn % 64);
    }
}

static void clear_free(uint64_t *map, uint64_t pfn)
{
    map[pfn / 64] &= ~(UINT64_C(1) << (pfn % 64));
}

static void fill_garbage(uint8_t *page, unsigned seed)
{
    for (unsigned i = 0; i < PAGE; i++) {
        page[i] = (uint8_t)(i * 31 + seed * 7 + 1);
    }
}

typedef struct Fixture {
    uint8_t *ram;
    uint64_t *free;
    uint64_t npages;
    GArray *runs;
    DedupPlanStats st;
} Fixture;

static void fixture_init(Fixture *f, uint64_t npages)
{
    f->npages = npages;
    f->ram = g_malloc0(npages * PAGE);
    f->free = g_new0(uint64_t, (npages + 63) / 64);
    f->runs = g_array_new(false, false, sizeof(DedupRun));
    memset(&f->st, 0, sizeof(f->st));
    for (uint64_t p = 0; p < npages; p++) {
        fill_garbage(f->ram + p * PAGE, p);
    }
}

static void fixture_free(Fixture *f)
{
    g_free(f->ram);
    g_free(f->free);
    g_array_free(f->runs, true);
}

static uint64_t plan(Fixture *f, uint64_t granule, const uint8_t *resident)
{
    return dedup_plan_range(f->free, f->npages, 0, f->npages, f->ram, PAGE,
                            granule, resident, f->runs, &f->st);
}

static DedupRun run_at(Fixture *f, guint i)
{
    return g_array_index(f->runs, DedupRun, i);
}

/* Whole free granules go, adjacent ones merged; a used page keeps its own. */
static void test_whole_granules(void)
{
    Fixture f;

    fixture_init(&f, 4 * GRANULE);
    set_free(f.free, 0, 3 * GRANULE);
    clear_free(f.free, GRANULE + 7);      /* granule 1 holds a used page */
    set_free(f.free, 3 * GRANULE, 100);   /* granule 3 is partly free */
    memset(f.ram + 5 * PAGE, 0, PAGE);    /* zero free pages (init_on_free) */
    memset(f.ram + 6 * PAGE, 0, 8);       /* first word zero, rest stale */

    g_assert_cmpuint(plan(&f, GRANULE, NULL), ==, 2 * GRANULE);
    g_assert_cmpuint(f.runs->len, ==, 2);
    g_assert_cmpuint(run_at(&f, 0).first, ==, 0);
    g_assert_cmpuint(run_at(&f, 0).npages, ==, GRANULE);
    g_assert_cmpuint(run_at(&f, 1).first, ==, 2 * GRANULE);
    g_assert_cmpuint(run_at(&f, 1).npages, ==, GRANULE);
    g_assert_cmpuint(f.st.free_pages, ==, 3 * GRANULE - 1 + 100);
    g_assert_cmpuint(f.st.planned_pages, ==, 2 * GRANULE);
    g_assert_cmpuint(f.st.kept_partial, ==, GRANULE - 1 + 100);
    g_assert_cmpuint(f.st.kept_pattern, ==, 0);
    fixture_free(&f);
}

/* A poisoned free page is never planned, and keeps its granule. */
static void test_poison_keeps_granule(void)
{
    Fixture f;
    uint8_t *almost;

    fixture_init(&f, 3 * GRANULE);
    set_free(f.free, 0, 3 * GRANULE);
    memset(f.ram + 10 * PAGE, 0xaa, PAGE);            /* page_poison */
    memset(f.ram + (GRANULE + 3) * PAGE, 0x5a, PAGE); /* any pattern */
    /* granule 2: a page of poison with one byte changed is just data */
    almost = f.ram + (2 * GRANULE + 9) * PAGE;
    memset(almost, 0xaa, PAGE);
    almost[PAGE - 1] = 0;

    g_assert_cmpuint(plan(&f, GRANULE, NULL), ==, GRANULE);
    g_assert_cmpuint(f.runs->len, ==, 1);
    g_assert_cmpuint(run_at(&f, 0).first, ==, 2 * GRANULE);
    g_assert_cmpuint(f.st.kept_pattern, ==, 2);
    g_assert_cmpuint(f.st.kept_partial, ==, 2 * GRANULE - 2);
    fixture_free(&f);
}

/* Page granularity: each free page on its own, patterns still kept. */
static void test_page_granularity(void)
{
    Fixture f;

    fixture_init(&f, 16);
    set_free(f.free, 2, 6);             /* pages 2..7 */
    memset(f.ram + 4 * PAGE, 0xaa, PAGE);
    memset(f.ram + 5 * PAGE, 0, PAGE);

    g_assert_cmpuint(plan(&f, 1, NULL), ==, 5);
    g_assert_cmpuint(f.runs->len, ==, 2);
    g_assert_cmpuint(run_at(&f, 0).first, ==, 2);
    g_assert_cmpuint(run_at(&f, 0).npages, ==, 2);
    g_assert_cmpuint(run_at(&f, 1).first, ==, 5);
    g_assert_cmpuint(run_at(&f, 1).npages, ==, 3);
    g_assert_cmpuint(f.st.kept_pattern, ==, 1);
    fixture_free(&f);
}

/*
 * Residency: a granule with nothing resident has been given back; in a
 * partly resident one, only the resident pages are read (a page not
 * resident reads as zero), and only they count as given back.
 */
static void test_residency(void)
{
    Fixture f;
    g_autofree uint8_t *resident = g_new0(uint8_t, 2 * GRANULE);

    fixture_init(&f, 2 * GRANULE);
    set_free(f.free, 0, 2 * GRANULE);
    for (unsigned i = GRANULE; i < GRANULE + 10; i++) {
        resident[i] = 1;
    }
    /* a pattern in a page not resident is stale: it cannot be there */
    memset(f.ram + (GRANULE + 20) * PAGE, 0xaa, PAGE);

    g_assert_cmpuint(plan(&f, GRANULE, resident), ==, GRANULE);
    g_assert_cmpuint(f.runs->len, ==, 1);
    g_assert_cmpuint(run_at(&f, 0).first, ==, GRANULE);
    g_assert_cmpuint(f.st.already_back, ==, GRANULE);
    g_assert_cmpuint(f.st.resident_pages, ==, 10);

    /* resident and poisoned: kept */
    resident[GRANULE + 20] = 1;
    g_array_set_size(f.runs, 0);
    memset(&f.st, 0, sizeof(f.st));
    g_assert_cmpuint(plan(&f, GRANULE, resident), ==, 0);
    g_assert_cmpuint(f.st.kept_pattern, ==, 1);
    fixture_free(&f);
}

/*
 * A range that starts and ends inside granules: only granules wholly in
 * the range may go, aligned to guest frames, not to the range.
 */
static void test_range_edges(void)
{
    Fixture f;
    uint64_t first_pfn = 3 * GRANULE + 100, npages = 2 * GRANULE;
    g_autofree uint64_t *free = g_new0(uint64_t, (6 * GRANULE) / 64);
    uint8_t *ram = g_malloc(npages * PAGE);
    uint64_t planned;

    fixture_init(&f, 1);
    for (uint64_t p = 0; p < npages; p++) {
        fill_garbage(ram + p * PAGE, p);
    }
    set_free(free, 0, 6 * GRANULE);
    planned = dedup_plan_range(free, 6 * GRANULE, first_pfn, npages, ram, PAGE,
                               GRANULE, NULL, f.runs, &f.st);
    g_assert_cmpuint(planned, ==, GRANULE);
    g_assert_cmpuint(f.runs->len, ==, 1);
    g_assert_cmpuint(run_at(&f, 0).first, ==, GRANULE - 100);
    g_assert_cmpuint(f.st.free_pages, ==, npages);
    g_assert_cmpuint(f.st.kept_partial, ==, npages - GRANULE);
    g_assert_true(dedup_range_has_candidates(free, 6 * GRANULE, first_pfn,
                                             npages, GRANULE));
    g_assert_false(dedup_range_has_candidates(free, 6 * GRANULE, first_pfn,
                                              GRANULE, GRANULE));

    /* frames past the bitmap are not free */
    g_array_set_size(f.runs, 0);
    g_assert_cmpuint(dedup_plan_range(free, 4 * GRANULE, first_pfn, npages,
                                      ram, PAGE, GRANULE, NULL, f.runs, &f.st),
                     ==, 0);
    g_free(ram);
    fixture_free(&f);
}

/* Bad arguments plan nothing. */
static void test_bad_arguments(void)
{
    Fixture f;

    fixture_init(&f, GRANULE);
    set_free(f.free, 0, GRANULE);
    g_assert_cmpuint(plan(&f, 0, NULL), ==, 0);
    g_assert_cmpuint(plan(&f, 3, NULL), ==, 0);
    g_assert_cmpuint(dedup_plan_range(f.free, GRANULE, 0, GRANULE, f.ram, 12,
                                      1, NULL, f.runs, &f.st), ==, 0);
    g_assert_cmpuint(dedup_plan_range(f.free, GRANULE, UINT64_MAX - 1, 4,
                                      f.ram, PAGE, 1, NULL, f.runs, &f.st),
                     ==, 0);
    g_assert_false(dedup_range_has_candidates(f.free, GRANULE, 0, GRANULE, 6));
    g_assert_cmpuint(f.runs->len, ==, 0);
    fixture_free(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dedup-plan/whole-granules", test_whole_granules);
    g_test_add_func("/dedup-plan/poison-keeps-granule",
                    test_poison_keeps_granule);
    g_test_add_func("/dedup-plan/page-granularity", test_page_granularity);
    g_test_add_func("/dedup-plan/residency", test_residency);
    g_test_add_func("/dedup-plan/range-edges", test_range_edges);
    g_test_add_func("/dedup-plan/bad-arguments", test_bad_arguments);
    return g_test_run();
}
