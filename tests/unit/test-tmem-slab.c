/*
 * Unit tests for memdedup/tmem/tmem-slab, the entry slab of the
 * virtio-tmem pool, on its own: allocation order and reuse, entry
 * numbers and addresses that stay put while the slab grows, chunk
 * release with one empty chunk kept, chunk number reuse, iteration in
 * memory order, the memory counters and the consistency check.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "memdedup/tmem/tmem-slab.h"

#define CE TMEM_CHUNK_ENTRIES
#define NIL TMEM_SLAB_NIL

static uint32_t alloc(TmemSlab *sl, TmemSlabMem *mem)
{
    uint32_t idx = tmem_slab_alloc(sl, mem);
    TmemEntry *e;

    g_assert_cmpuint(idx, !=, NIL);
    g_assert_true(tmem_slab_valid(sl, idx));
    e = tmem_slab_entry(sl, idx);
    g_assert_cmphex(e->obj_prev, ==, NIL);
    /* what the pool keeps in an entry: here its own number */
    e->index = idx;
    e->obj_next = ~idx;
    return idx;
}

static void slab_free(TmemSlab *sl, TmemSlabMem *mem, uint32_t idx)
{
    g_assert_true(tmem_slab_valid(sl, idx));
    g_assert_cmpuint(tmem_slab_entry(sl, idx)->index, ==, idx);
    tmem_slab_free(sl, mem, idx);
    g_assert_false(tmem_slab_valid(sl, idx));
}

/*
 * A new slab with @n entries allocated: a new chunk hands out its
 * entries in memory order, so they are 0 to @n - 1.
 */
static void slab_with(TmemSlab *sl, TmemSlabMem *mem, uint32_t n)
{
    uint32_t i;

    tmem_slab_init(sl);
    for (i = 0; i < n; i++) {
        g_assert_cmpuint(alloc(sl, mem), ==, i);
    }
}

/*
 * Walk @sl the way the pool does (chunks with entries in use, then
 * their entries not free), the entry numbers into @out: how many.
 */
static uint32_t walk(const TmemSlab *sl, uint32_t *out)
{
    uint32_t num, i, n = 0;

    for (num = 0; num < sl->chunk_hi; num++) {
        const TmemChunk *c = tmem_slab_chunk(sl, num);

        for (i = 0; c && i < CE; i++) {
            if (!tmem_entry_is_free(&c->e[i])) {
                out[n++] = (num << TMEM_CHUNK_SHIFT) | i;
            }
        }
    }
    return n;
}

/* Free @sl: every chunk and array goes. */
static void destroy(TmemSlab *sl, TmemSlabMem *mem)
{
    tmem_slab_destroy(sl, mem);
    g_assert_cmpuint(mem->live_chunks, ==, 0);
    g_assert_cmpuint(mem->array_bytes, ==, 0);
}

/* The check passes with @live entries in @chunks chunks. */
static void check(const TmemSlab *sl, const TmemSlabMem *mem,
                  uint64_t live, uint64_t chunks)
{
    uint64_t l, c;

    g_assert_cmpstr(tmem_slab_check(sl, &l, &c), ==, NULL);
    g_assert_cmpuint(l, ==, live);
    g_assert_cmpuint(c, ==, chunks);
    g_assert_cmpuint(mem->live_chunks, ==, chunks);
    g_assert_cmpuint(mem->array_bytes, ==,
                     (uint64_t)sl->chunk_cap *
                     (sizeof(TmemChunk *) + sizeof(uint32_t)));
}

static void test_alloc_order(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };
    uint32_t i;

    slab_with(&sl, &mem, 0);
    check(&sl, &mem, 0, 0);
    g_assert_cmpuint(walk(&sl, NULL), ==, 0);
    for (i = 0; i < 3 * CE + 5; i++) {
        g_assert_cmpuint(alloc(&sl, &mem), ==, i);
    }
    check(&sl, &mem, 3 * CE + 5, 4);
    g_assert_cmpuint(sl.chunk_hi, ==, 4);
    g_assert_cmpuint(sl.chunk_cap, ==, 4);
    g_assert_cmpuint(sl.empty_chunks, ==, 0);
    for (i = 0; i < 3 * CE + 5; i++) {
        g_assert_cmpuint(tmem_slab_entry(&sl, i)->index, ==, i);
    }
    destroy(&sl, &mem);
}

/* Entries keep their number and address while the chunk array grows */
static void test_stability(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };
    TmemEntry *first, *mid = NULL;
    uint32_t i, n = 200 * CE;

    tmem_slab_init(&sl);
    alloc(&sl, &mem);
    first = tmem_slab_entry(&sl, 0);
    for (i = 1; i < n; i++) {
        alloc(&sl, &mem);
        if (i == 3 * CE + 7) {
            mid = tmem_slab_entry(&sl, i);
        }
    }
    /* the chunk array doubles */
    g_assert_cmpuint(sl.chunk_cap, ==, 256);
    g_assert_true(first == tmem_slab_entry(&sl, 0));
    g_assert_true(mid == tmem_slab_entry(&sl, 3 * CE + 7));
    for (i = 0; i < n; i++) {
        TmemEntry *e = tmem_slab_entry(&sl, i);

        g_assert_cmpuint(e->index, ==, i);
        g_assert_cmpuint(e->obj_next, ==, ~i);
    }
    check(&sl, &mem, n, 200);
    /* freeing others does not move an entry either */
    for (i = 0; i < n; i += 2) {
        slab_free(&sl, &mem, i);
    }
    for (i = 1; i < n; i += 2) {
        g_assert_cmpuint(tmem_slab_entry(&sl, i)->index, ==, i);
    }
    g_assert_true(mid == tmem_slab_entry(&sl, 3 * CE + 7));
    check(&sl, &mem, n / 2, 200);
    destroy(&sl, &mem);
}

/* A freed entry is the next one allocated, in the last chunk freed into */
static void test_reuse(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };

    slab_with(&sl, &mem, 4 * CE);
    g_assert_cmpuint(sl.partial, ==, NIL);
    slab_free(&sl, &mem, 5);
    g_assert_cmpuint(alloc(&sl, &mem), ==, 5);

    slab_free(&sl, &mem, 5);                /* chunk 0 becomes partial */
    slab_free(&sl, &mem, 2 * CE + 44);      /* chunk 2, now first */
    slab_free(&sl, &mem, 2 * CE + 3);
    g_assert_cmpuint(alloc(&sl, &mem), ==, 2 * CE + 3);
    g_assert_cmpuint(alloc(&sl, &mem), ==, 2 * CE + 44);
    g_assert_cmpuint(alloc(&sl, &mem), ==, 5);
    /* all full again: a new chunk */
    g_assert_cmpuint(alloc(&sl, &mem), ==, 4 * CE);
    check(&sl, &mem, 4 * CE + 1, 5);
    destroy(&sl, &mem);
}

static void test_chunk_release(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };
    uint32_t i;

    slab_with(&sl, &mem, 4 * CE);
    check(&sl, &mem, 4 * CE, 4);

    /* the first chunk to empty out is kept */
    for (i = CE; i < 2 * CE; i++) {
        slab_free(&sl, &mem, i);
    }
    g_assert_nonnull(sl.chunk[1]);
    g_assert_cmpuint(sl.empty_chunks, ==, 1);
    check(&sl, &mem, 3 * CE, 4);

    /* the second is released */
    for (i = 2 * CE; i < 3 * CE; i++) {
        slab_free(&sl, &mem, i);
    }
    g_assert_null(sl.chunk[2]);
    g_assert_cmpuint(sl.empty_chunks, ==, 1);
    g_assert_false(tmem_slab_valid(&sl, 2 * CE + 1));
    check(&sl, &mem, 2 * CE, 3);

    /* the kept chunk is used first, last freed entry first */
    g_assert_cmpuint(alloc(&sl, &mem), ==, 2 * CE - 1);
    g_assert_cmpuint(sl.empty_chunks, ==, 0);
    for (i = 1; i < CE; i++) {
        g_assert_cmpuint(alloc(&sl, &mem), ==, 2 * CE - 1 - i);
    }
    /* then the released chunk number, before a new one */
    g_assert_cmpuint(alloc(&sl, &mem), ==, 2 * CE);
    g_assert_nonnull(sl.chunk[2]);
    g_assert_cmpuint(sl.chunk_hi, ==, 4);
    check(&sl, &mem, 3 * CE + 1, 4);

    /* emptying everything keeps exactly one chunk */
    for (i = 0; i < 4 * CE; i++) {
        if (tmem_slab_valid(&sl, i)) {
            slab_free(&sl, &mem, i);
        }
    }
    check(&sl, &mem, 0, 1);
    g_assert_cmpuint(walk(&sl, NULL), ==, 0);
    g_assert_null(tmem_slab_chunk(&sl, 0));
    destroy(&sl, &mem);
}

/* A walk visits exactly the entries in use, in memory order */
static void test_iterate(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };
    bool *live = g_new0(bool, 8 * CE);
    uint32_t *seen = g_new(uint32_t, 8 * CE);
    uint32_t i, j, n = 0;
    uint64_t x = 42;

    slab_with(&sl, &mem, 8 * CE);
    for (i = 0; i < 8 * CE; i++) {
        live[i] = true;
    }
    /*
     * Release chunks 2 and 5 entirely, leave one entry in chunk 6 and
     * the last one in chunk 7, free entries at random elsewhere.
     */
    for (i = 0; i < 8 * CE; i++) {
        bool lone = i == 6 * CE + 77 || i == 8 * CE - 1;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (i / CE == 2 || i / CE == 5 ||
            (i / CE >= 6 && !lone) || (i / CE < 6 && x % 3 == 0)) {
            slab_free(&sl, &mem, i);
            live[i] = false;
        }
    }
    for (i = 0; i < 8 * CE; i++) {
        n += live[i];
    }
    check(&sl, &mem, n, 7);
    /* chunk 2 is kept empty, chunk 5 released: neither is walked */
    g_assert_nonnull(sl.chunk[2]);
    g_assert_null(tmem_slab_chunk(&sl, 2));
    g_assert_null(sl.chunk[5]);
    g_assert_null(tmem_slab_chunk(&sl, 5));
    g_assert_nonnull(tmem_slab_chunk(&sl, 6));
    g_assert_nonnull(tmem_slab_chunk(&sl, 7));
    g_assert_cmpuint(walk(&sl, seen), ==, n);
    for (i = 0, j = 0; i < 8 * CE; i++) {
        if (live[i]) {
            g_assert_cmpuint(seen[j], ==, i);
            g_assert_cmpuint(tmem_slab_entry(&sl, i)->index, ==, i);
            j++;
        }
    }
    g_free(seen);
    g_free(live);
    destroy(&sl, &mem);
}

/* The check notices a wrong free count and a wrong empty chunk count */
static void test_check(void)
{
    TmemSlab sl;
    TmemSlabMem mem = { 0 };
    uint64_t live, chunks;

    slab_with(&sl, &mem, 2 * CE);
    check(&sl, &mem, 2 * CE, 2);
    sl.chunk[1]->nfree++;
    g_assert_cmpstr(tmem_slab_check(&sl, &live, &chunks), ==,
                    "slab: free count wrong");
    sl.chunk[1]->nfree--;
    sl.empty_chunks = 1;
    g_assert_cmpstr(tmem_slab_check(&sl, &live, &chunks), ==,
                    "slab: empty chunk count wrong");
    sl.empty_chunks = 0;
    check(&sl, &mem, 2 * CE, 2);
    destroy(&sl, &mem);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tmem-slab/alloc-order", test_alloc_order);
    g_test_add_func("/tmem-slab/stability", test_stability);
    g_test_add_func("/tmem-slab/reuse", test_reuse);
    g_test_add_func("/tmem-slab/chunk-release", test_chunk_release);
    g_test_add_func("/tmem-slab/iterate", test_iterate);
    g_test_add_func("/tmem-slab/check", test_check);
    return g_test_run();
}
