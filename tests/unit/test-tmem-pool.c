/*
 * Unit tests for memdedup/tmem/tmem-pool and tmem-proto: the
 * virtio-tmem page pool (put/get/flush semantics per pool type, LRU
 * eviction, quotas, limits, pattern pages, isolation, sharing, migration
 * walk/restore, metadata overhead) and the request layer (every hostile
 * shape of request gets the right status).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "memdedup/tmem/tmem-pool.h"
#include "memdedup/tmem/tmem-proto.h"

#define PG TMEM_PAGE_SIZE
#define DCOST TMEM_DATA_PAGE_COST
#define MCOST TMEM_META_COST
#define EPH 0u
#define PERS TMEM_POOL_PERSISTENT
#define SHARED TMEM_POOL_SHARED

static const uint64_t all_features = (1ull << VIRTIO_TMEM_F_PERSISTENT) |
                                     (1ull << VIRTIO_TMEM_F_SHARED);

/* Page content from a seed: pseudo-random, never a pattern page. */
static void fill_page(uint8_t *buf, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
    size_t i;

    for (i = 0; i < PG; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    buf[0] = 0x11;
    buf[8] = 0x22;
}

static TmemOid oid_of(uint64_t n)
{
    TmemOid o = { { n, n ^ 0x5555aaaaULL, ~n } };

    return o;
}

static TmemStore *store_new(uint64_t size, bool shared, unsigned max_pools,
                            uint64_t pool_quota)
{
    TmemStoreConfig cfg = {
        .size = size,
        .allow_shared = shared,
        .max_pools_per_client = max_pools,
        .pool_quota = pool_quota,
    };
    const char *why = NULL;
    TmemStore *s = tmem_store_new(&cfg, &why);

    g_assert_nonnull(s);
    return s;
}

static void check(TmemStore *s)
{
    g_assert_cmpstr(tmem_store_check(s), ==, NULL);
}

static uint32_t pool_new(TmemClient *c, uint32_t flags)
{
    uint32_t id = UINT32_MAX;

    g_assert_cmpint(tmem_new_pool(c, flags, NULL, &id), ==, TMEM_S_OK);
    return id;
}

static TmemStatus put(TmemClient *c, uint32_t pool, uint64_t obj,
                      uint32_t index, uint64_t seed)
{
    uint8_t page[PG];
    TmemOid o = oid_of(obj);

    fill_page(page, seed);
    return tmem_put_page(c, pool, &o, index, page);
}

/* GET and, on a hit, compare with the page of @seed. */
static TmemStatus get_cmp(TmemClient *c, uint32_t pool, uint64_t obj,
                          uint32_t index, uint64_t seed)
{
    uint8_t page[PG], want[PG];
    TmemOid o = oid_of(obj);
    TmemStatus st;

    memset(page, 0xee, PG);
    st = tmem_get_page(c, pool, &o, index, page);
    if (st == TMEM_S_OK) {
        fill_page(want, seed);
        g_assert_cmpmem(page, PG, want, PG);
    } else {
        uint8_t untouched[PG];

        memset(untouched, 0xee, PG);
        g_assert_cmpmem(page, PG, untouched, PG);
    }
    return st;
}

static TmemStats pool_stats(TmemClient *c, uint32_t pool)
{
    TmemPoolInfo info;

    g_assert_true(tmem_pool_get_info(c, pool, &info));
    return info.stats;
}

static TmemStats store_stats(TmemStore *s)
{
    TmemStoreInfo info;

    tmem_store_get_info(s, &info);
    return info.stats;
}

/* ---- basic semantics ---- */

static void test_put_get_flush(void)
{
    TmemStore *s = store_new(64 * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t pp = pool_new(c, PERS), ep = pool_new(c, EPH);
    TmemOid o = oid_of(7);
    TmemStats st;

    g_assert_cmpuint(pp, ==, 0);
    g_assert_cmpuint(ep, ==, 1);
    g_assert_cmpint(put(c, pp, 7, 0, 100), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, pp, 7, 1, 101), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, pp, 8, 0, 102), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 7, 0, 100), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 7, 1, 101), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 8, 0, 102), ==, TMEM_S_OK);
    /* persistent get keeps the page */
    g_assert_cmpint(get_cmp(c, pp, 7, 0, 100), ==, TMEM_S_OK);
    /* same key, other pool / other index / other object: miss */
    g_assert_cmpint(get_cmp(c, ep, 7, 0, 100), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, pp, 7, 2, 100), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, pp, 9, 0, 100), ==, TMEM_S_MISS);
    /* a put replaces */
    g_assert_cmpint(put(c, pp, 7, 0, 200), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 7, 0, 200), ==, TMEM_S_OK);

    g_assert_cmpint(tmem_flush_page(c, pp, &o, 0), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 7, 0, 200), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, pp, 7, 1, 101), ==, TMEM_S_OK);
    /* flushing an absent page is fine */
    g_assert_cmpint(tmem_flush_page(c, pp, &o, 0), ==, TMEM_S_OK);

    st = pool_stats(c, pp);
    g_assert_cmpuint(st.pages, ==, 2);
    g_assert_cmpuint(st.bytes, ==, 2 * DCOST);
    g_assert_cmpuint(st.puts, ==, 4);
    g_assert_cmpuint(st.gets, ==, 9);
    g_assert_cmpuint(st.hits, ==, 6);
    g_assert_cmpuint(st.misses, ==, 3);
    g_assert_cmpuint(st.flushes, ==, 1);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_flush_object(void)
{
    TmemStore *s = store_new(4096 * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t p = pool_new(c, PERS), i;
    TmemOid o = oid_of(1);

    for (i = 0; i < 1000; i++) {
        g_assert_cmpint(put(c, p, 1, i * 7919, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(c, p, 2, i, i + 5000), ==, TMEM_S_OK);
    }
    /* take a few out of the middle of object 1's list first */
    for (i = 100; i < 110; i++) {
        TmemOid o1 = oid_of(1);

        g_assert_cmpint(tmem_flush_page(c, p, &o1, i * 7919), ==, TMEM_S_OK);
    }
    check(s);
    g_assert_cmpint(tmem_flush_object(c, p, &o), ==, TMEM_S_OK);
    check(s);
    g_assert_cmpuint(pool_stats(c, p).pages, ==, 1000);
    g_assert_cmpuint(pool_stats(c, p).flushes, ==, 1000);
    for (i = 0; i < 1000; i += 37) {
        g_assert_cmpint(get_cmp(c, p, 1, i * 7919, i), ==, TMEM_S_MISS);
        g_assert_cmpint(get_cmp(c, p, 2, i, i + 5000), ==, TMEM_S_OK);
    }
    /* an unknown object flushes nothing */
    o = oid_of(3);
    g_assert_cmpint(tmem_flush_object(c, p, &o), ==, TMEM_S_OK);
    g_assert_cmpuint(pool_stats(c, p).pages, ==, 1000);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* Private ephemeral: exclusive get.  Shared ephemeral: get keeps it. */
static void test_ephemeral_get(void)
{
    TmemStore *s = store_new(64 * DCOST, true, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint8_t uuid[TMEM_UUID_SIZE] = { 1, 2, 3 };
    uint32_t ep = pool_new(c, EPH), sp;

    g_assert_cmpint(tmem_new_pool(c, SHARED, uuid, &sp), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, ep, 1, 1, 11), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, sp, 1, 1, 12), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, ep, 1, 1, 11), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, ep, 1, 1, 11), ==, TMEM_S_MISS);
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 0);
    g_assert_cmpint(get_cmp(c, sp, 1, 1, 12), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, sp, 1, 1, 12), ==, TMEM_S_OK);
    g_assert_cmpuint(pool_stats(c, sp).pages, ==, 1);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* ---- eviction, limits, quotas ---- */

static void test_lru_order(void)
{
    const unsigned n = 8;
    TmemStore *s = store_new(n * DCOST, true, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint8_t uuid[TMEM_UUID_SIZE] = { 9 };
    uint32_t p = pool_new(c, EPH), sp, i;

    for (i = 0; i < n; i++) {
        g_assert_cmpint(put(c, p, 1, i, i), ==, TMEM_S_OK);
    }
    g_assert_cmpuint(store_stats(s).bytes, ==, n * DCOST);
    /* refresh page 1 by putting it again: 0 is now the oldest, then 2 */
    g_assert_cmpint(put(c, p, 1, 1, 1), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, p, 1, 100, 100), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, p, 1, 0, 0), ==, TMEM_S_MISS);
    g_assert_cmpint(put(c, p, 1, 101, 101), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, p, 1, 2, 2), ==, TMEM_S_MISS);
    g_assert_cmpint(put(c, p, 1, 102, 102), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, p, 1, 3, 3), ==, TMEM_S_MISS);
    g_assert_cmpuint(pool_stats(c, p).evictions, ==, 3);
    /* page 1 survived (and an exclusive get removes it now) */
    g_assert_cmpint(get_cmp(c, p, 1, 1, 1), ==, TMEM_S_OK);
    check(s);
    tmem_destroy_pool(c, p);

    /* shared pool: a get makes the page the most recently used */
    g_assert_cmpint(tmem_new_pool(c, SHARED, uuid, &sp), ==, TMEM_S_OK);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(put(c, sp, 2, i, i), ==, TMEM_S_OK);
    }
    g_assert_cmpint(get_cmp(c, sp, 2, 0, 0), ==, TMEM_S_OK);
    g_assert_cmpint(put(c, sp, 2, 50, 50), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, sp, 2, 0, 0), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, sp, 2, 1, 1), ==, TMEM_S_MISS);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_persistent_refused(void)
{
    const unsigned n = 8;
    TmemStore *s = store_new(n * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t pp = pool_new(c, PERS), ep = pool_new(c, EPH), i;
    TmemStats st;

    /* ephemeral pages make way for persistent ones */
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(put(c, ep, 1, i, i), ==, TMEM_S_OK);
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(put(c, pp, 1, i, 10 + i), ==, TMEM_S_OK);
    }
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 0);
    g_assert_cmpuint(pool_stats(c, ep).evictions, ==, 4);
    /* full of persistent pages: refused, nothing evicted */
    g_assert_cmpint(put(c, pp, 1, 100, 1), ==, TMEM_S_NOSPACE);
    g_assert_cmpint(put(c, ep, 1, 100, 1), ==, TMEM_S_NOSPACE);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(get_cmp(c, pp, 1, i, 10 + i), ==, TMEM_S_OK);
    }
    /* replacing a page of the same size fits */
    g_assert_cmpint(put(c, pp, 1, 0, 55), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, pp, 1, 0, 55), ==, TMEM_S_OK);
    /* a pattern page fits where a data page was */
    {
        uint8_t zero[PG] = { 0 };
        TmemOid o = oid_of(1);

        g_assert_cmpint(tmem_put_page(c, pp, &o, 1, zero), ==, TMEM_S_OK);
        /* 4096 bytes free: not enough for a new data page (4160) */
        g_assert_cmpint(put(c, pp, 1, 200, 1), ==, TMEM_S_NOSPACE);
        /* replacing a data page by a data page fits */
        g_assert_cmpint(put(c, pp, 1, 2, 1), ==, TMEM_S_OK);
        /* one more pattern page: 4032 bytes free */
        g_assert_cmpint(tmem_put_page(c, pp, &o, 300, zero), ==, TMEM_S_OK);
        /* data over the pattern page at 1 cannot fit: refused... */
        g_assert_cmpint(put(c, pp, 1, 1, 77), ==, TMEM_S_NOSPACE);
        /* ...and the old page under that key is gone, not left stale */
        g_assert_cmpint(tmem_get_page(c, pp, &o, 1, zero), ==, TMEM_S_MISS);
        g_assert_cmpint(tmem_get_page(c, pp, &o, 300, zero), ==, TMEM_S_OK);
    }
    st = pool_stats(c, pp);
    g_assert_cmpuint(st.puts_refused, ==, 3);
    g_assert_cmpuint(st.evictions, ==, 0);
    g_assert_cmpuint(st.pages, ==, n);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_pool_quota(void)
{
    TmemStore *s = store_new(100 * DCOST, false, 0, 3 * DCOST);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t ep = pool_new(c, EPH), pp = pool_new(c, PERS), i;
    TmemPoolInfo info;

    g_assert_true(tmem_pool_get_info(c, ep, &info));
    g_assert_cmpuint(info.quota, ==, 3 * DCOST);
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(put(c, ep, 1, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(c, pp, 1, i, i),
                        ==, i < 3 ? TMEM_S_OK : TMEM_S_NOSPACE);
    }
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 3);
    g_assert_cmpuint(pool_stats(c, ep).evictions, ==, 2);
    g_assert_cmpint(get_cmp(c, ep, 1, 1, 1), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, ep, 1, 2, 2), ==, TMEM_S_OK);
    g_assert_cmpuint(pool_stats(c, pp).pages, ==, 3);
    g_assert_cmpuint(pool_stats(c, pp).puts_refused, ==, 2);
    /* lowering the quota evicts ephemeral pages only */
    tmem_store_set_pool_quota(s, DCOST);
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 1);
    g_assert_cmpuint(pool_stats(c, pp).pages, ==, 3);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_client_quota(void)
{
    TmemStore *s = store_new(100 * DCOST, false, 0, 0);
    TmemClient *a = tmem_client_new(s, "a", 6 * DCOST);
    TmemClient *b = tmem_client_new(s, "b", 0);
    uint32_t a1 = pool_new(a, EPH), a2 = pool_new(a, EPH);
    uint32_t ap = pool_new(a, PERS), b1 = pool_new(b, EPH), i;
    TmemClientInfo ci;

    for (i = 0; i < 10; i++) {
        g_assert_cmpint(put(b, b1, 1, i, i), ==, TMEM_S_OK);
    }
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(put(a, a1, 1, i, i), ==, TMEM_S_OK);
    }
    g_assert_cmpint(put(a, a2, 1, 0, 0), ==, TMEM_S_OK);
    g_assert_cmpint(put(a, a2, 1, 1, 1), ==, TMEM_S_OK);
    /* a is at its quota: the next put evicts from its biggest pool, a1 */
    g_assert_cmpint(put(a, a2, 1, 2, 2), ==, TMEM_S_OK);
    g_assert_cmpuint(pool_stats(a, a1).pages, ==, 3);
    g_assert_cmpint(get_cmp(a, a1, 1, 0, 0), ==, TMEM_S_MISS);
    /* persistent puts evict the client's ephemeral pages... */
    for (i = 0; i < 6; i++) {
        g_assert_cmpint(put(a, ap, 1, i, i), ==, TMEM_S_OK);
    }
    g_assert_cmpuint(pool_stats(a, a1).pages + pool_stats(a, a2).pages, ==, 0);
    /* ...and are refused once only persistent pages are left */
    g_assert_cmpint(put(a, ap, 1, 6, 6), ==, TMEM_S_NOSPACE);
    g_assert_cmpint(put(a, a1, 1, 6, 6), ==, TMEM_S_NOSPACE);
    tmem_client_get_info(a, &ci);
    g_assert_cmpuint(ci.stats.bytes, ==, 6 * DCOST);
    g_assert_cmpuint(ci.stats.evictions, ==, 7);
    /* b was never touched */
    g_assert_cmpuint(pool_stats(b, b1).pages, ==, 10);
    g_assert_cmpuint(pool_stats(b, b1).evictions, ==, 0);
    /* lowering b's quota evicts b's ephemeral pages */
    tmem_client_set_quota(b, 4 * DCOST);
    g_assert_cmpuint(pool_stats(b, b1).pages, ==, 4);
    g_assert_cmpint(get_cmp(b, b1, 1, 9, 9), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(b, b1, 1, 5, 5), ==, TMEM_S_MISS);
    check(s);
    tmem_client_free(a);
    tmem_client_free(b);
    tmem_store_free(s);
}

/* The store limit is shared: the biggest ephemeral pool gives way. */
static void test_store_eviction_fairness(void)
{
    TmemStore *s = store_new(10 * DCOST, false, 0, 0);
    TmemClient *a = tmem_client_new(s, "a", 0);
    TmemClient *b = tmem_client_new(s, "b", 0);
    uint32_t pa = pool_new(a, EPH), pb = pool_new(b, EPH), i;

    for (i = 0; i < 8; i++) {
        g_assert_cmpint(put(a, pa, 1, i, i), ==, TMEM_S_OK);
    }
    for (i = 0; i < 6; i++) {
        g_assert_cmpint(put(b, pb, 1, i, i), ==, TMEM_S_OK);
    }
    /* a held 8, b grew to 6 by taking a's oldest pages: 5 + 5 */
    g_assert_cmpuint(pool_stats(a, pa).pages, ==, 5);
    g_assert_cmpuint(pool_stats(b, pb).pages, ==, 5);
    g_assert_cmpint(get_cmp(a, pa, 1, 2, 2), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(a, pa, 1, 3, 3), ==, TMEM_S_OK);
    check(s);
    tmem_client_free(a);
    tmem_client_free(b);
    tmem_store_free(s);
}

static int notified;

static void on_notify(void *opaque)
{
    notified += GPOINTER_TO_INT(opaque);
}

static void test_resize(void)
{
    TmemStore *s = store_new(20 * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t ep = pool_new(c, EPH), pp = pool_new(c, PERS), i;

    tmem_client_set_notify(c, on_notify, GINT_TO_POINTER(1));
    notified = 0;
    for (i = 0; i < 10; i++) {
        g_assert_cmpint(put(c, ep, 1, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(c, pp, 1, i, i), ==, TMEM_S_OK);
    }
    /* shrink: ephemeral pages go first, oldest first */
    g_assert_cmpuint(tmem_store_set_limit(s, 14 * DCOST), ==, 0);
    g_assert_cmpint(notified, ==, 1);
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 4);
    g_assert_cmpint(get_cmp(c, ep, 1, 5, 5), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, ep, 1, 6, 6), ==, TMEM_S_OK);
    /* below the persistent contents: they stay, the overshoot is reported */
    g_assert_cmpuint(tmem_store_set_limit(s, 8 * DCOST), ==, 2 * DCOST);
    g_assert_cmpuint(pool_stats(c, ep).pages, ==, 0);
    g_assert_cmpuint(pool_stats(c, pp).pages, ==, 10);
    g_assert_cmpint(put(c, ep, 1, 0, 0), ==, TMEM_S_NOSPACE);
    g_assert_cmpint(put(c, pp, 1, 20, 0), ==, TMEM_S_NOSPACE);
    check(s);
    /* grow: puts work again */
    g_assert_cmpuint(tmem_store_set_limit(s, 12 * DCOST), ==, 0);
    g_assert_cmpint(put(c, ep, 1, 0, 0), ==, TMEM_S_OK);
    g_assert_cmpint(notified, ==, 3);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* ---- pattern pages ---- */

static void test_pattern_pages(void)
{
    static const uint64_t pats[] = {
        0, 0xaaaaaaaaaaaaaaaaULL, 0xdeadbeefdeadbeefULL,
        0x0123456789abcdefULL,
    };
    TmemStore *s = store_new(4 * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t p = pool_new(c, PERS), i;
    uint8_t page[PG], got[PG];
    TmemStoreInfo si;
    TmemStats st;

    for (i = 0; i < G_N_ELEMENTS(pats); i++) {
        TmemOid o = oid_of(i);

        page_fill_pattern(page, PG, pats[i]);
        g_assert_cmpint(tmem_put_page(c, p, &o, i, page), ==, TMEM_S_OK);
    }
    /* an almost-pattern page is data */
    page_fill_pattern(page, PG, pats[1]);
    page[PG - 1] ^= 1;
    {
        TmemOid o = oid_of(99);

        g_assert_cmpint(tmem_put_page(c, p, &o, 0, page), ==, TMEM_S_OK);
        g_assert_cmpint(tmem_get_page(c, p, &o, 0, got), ==, TMEM_S_OK);
        g_assert_cmpmem(got, PG, page, PG);
    }
    st = pool_stats(c, p);
    g_assert_cmpuint(st.pages, ==, 5);
    g_assert_cmpuint(st.pattern_pages, ==, 4);
    g_assert_cmpuint(st.bytes, ==, 4 * MCOST + DCOST);
    for (i = 0; i < G_N_ELEMENTS(pats); i++) {
        TmemOid o = oid_of(i);

        page_fill_pattern(page, PG, pats[i]);
        memset(got, 0x5a, PG);
        g_assert_cmpint(tmem_get_page(c, p, &o, i, got), ==, TMEM_S_OK);
        g_assert_cmpmem(got, PG, page, PG);
    }
    /* pattern pages need no data page: a store of 4 data pages holds many */
    for (i = 0; i < 100; i++) {
        TmemOid o = oid_of(1000 + i);

        page_fill_pattern(page, PG, 0x0101010101010101ULL * (i % 255 + 1));
        g_assert_cmpint(tmem_put_page(c, p, &o, 0, page), ==, TMEM_S_OK);
    }
    tmem_store_get_info(s, &si);
    g_assert_cmpuint(si.stats.pattern_pages, ==, 104);
    g_assert_cmpuint(si.stats.bytes, ==, 104 * MCOST + DCOST);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* ---- destroy, isolation, sharing ---- */

static void test_destroy_frees_all(void)
{
    TmemStore *s = store_new(1 << 30, true, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    TmemClient *d = tmem_client_new(s, "d", 0);
    uint8_t uuid[TMEM_UUID_SIZE] = { 0xab };
    uint32_t ps[3], sp, i;
    TmemStoreInfo empty, si;
    TmemClientInfo ci;

    tmem_store_get_info(s, &empty);
    ps[0] = pool_new(c, EPH);
    ps[1] = pool_new(c, PERS);
    ps[2] = pool_new(c, PERS);
    g_assert_cmpint(tmem_new_pool(d, SHARED, uuid, &sp), ==, TMEM_S_OK);
    for (i = 0; i < 20000; i++) {
        g_assert_cmpint(put(c, ps[i % 3], i % 97, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(d, sp, i % 13, i, i), ==, TMEM_S_OK);
    }
    tmem_store_get_info(s, &si);
    g_assert_cmpuint(si.stats.pages, ==, 40000);
    g_assert_cmpuint(si.pools, ==, 4);
    check(s);
    g_assert_cmpint(tmem_destroy_pool(c, ps[1]), ==, TMEM_S_OK);
    g_assert_cmpint(tmem_destroy_pool(c, ps[1]), ==, TMEM_S_BAD_POOL);
    tmem_client_get_info(c, &ci);
    g_assert_cmpuint(ci.pools, ==, 2);
    g_assert_cmpuint(ci.stats.pages, ==, 20000 - 6667);
    check(s);
    /* reset: every pool of c goes, its ids become free again */
    tmem_client_set_features(c, all_features);
    tmem_client_reset(c);
    tmem_client_get_info(c, &ci);
    g_assert_cmpuint(ci.pools, ==, 0);
    g_assert_cmpuint(ci.stats.pages, ==, 0);
    g_assert_cmpuint(ci.stats.bytes, ==, 0);
    g_assert_cmpuint(tmem_client_features(c), ==, 0);
    g_assert_cmpuint(pool_new(c, EPH), ==, 0);
    check(s);
    /* unplug of d frees the shared pool it was alone in */
    tmem_client_free(d);
    tmem_store_get_info(s, &si);
    g_assert_cmpuint(si.stats.pages, ==, 0);
    g_assert_cmpuint(si.stats.bytes, ==, 0);
    g_assert_cmpuint(si.ephemeral_bytes, ==, 0);
    g_assert_cmpuint(si.persistent_bytes, ==, 0);
    g_assert_cmpuint(si.pools, ==, 1);
    g_assert_cmpuint(si.clients, ==, 1);
    check(s);
    tmem_client_free(c);
    tmem_store_get_info(s, &si);
    g_assert_cmpuint(si.pools, ==, 0);
    g_assert_cmpuint(si.clients, ==, 0);
    /* one empty slab chunk may stay cached, nothing else */
    g_assert_cmpuint(si.meta_bytes, <=, empty.meta_bytes + 1024 * 52 + 2048);
    g_assert_cmpuint(tmem_store_clients(s), ==, 0);
    tmem_store_free(s);
}

static void test_isolation(void)
{
    TmemStore *s = store_new(100 * DCOST, true, 4, 0);
    TmemClient *a = tmem_client_new(s, "a", 0);
    TmemClient *b = tmem_client_new(s, "b", 0);
    uint32_t pa = pool_new(a, PERS), pb, pa2 = pool_new(a, EPH);
    TmemOid o = oid_of(5);

    g_assert_cmpint(put(a, pa, 5, 5, 55), ==, TMEM_S_OK);
    g_assert_cmpint(put(a, pa2, 5, 5, 56), ==, TMEM_S_OK);
    /* b has no pools yet: a's ids mean nothing to it */
    g_assert_cmpint(get_cmp(b, pa, 5, 5, 55), ==, TMEM_S_BAD_POOL);
    g_assert_cmpint(get_cmp(b, pa2, 5, 5, 56), ==, TMEM_S_BAD_POOL);
    g_assert_cmpint(tmem_flush_object(b, pa, &o), ==, TMEM_S_BAD_POOL);
    g_assert_cmpint(tmem_destroy_pool(b, pa), ==, TMEM_S_BAD_POOL);
    /* b's own pool 0 is a different pool */
    pb = pool_new(b, PERS);
    g_assert_cmpuint(pb, ==, pa);
    g_assert_cmpint(get_cmp(b, pb, 5, 5, 55), ==, TMEM_S_MISS);
    g_assert_cmpint(tmem_flush_object(b, pb, &o), ==, TMEM_S_OK);
    g_assert_cmpint(put(b, pb, 5, 5, 99), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(a, pa, 5, 5, 55), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(b, pb, 5, 5, 99), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(a, UINT32_MAX, 5, 5, 0), ==, TMEM_S_BAD_POOL);
    g_assert_cmpint(get_cmp(a, 4, 5, 5, 0), ==, TMEM_S_BAD_POOL);
    check(s);
    tmem_client_free(a);
    g_assert_cmpint(get_cmp(b, pb, 5, 5, 99), ==, TMEM_S_OK);
    tmem_client_free(b);
    tmem_store_free(s);
}

static void test_shared(void)
{
    uint8_t u1[TMEM_UUID_SIZE] = { 1 }, u2[TMEM_UUID_SIZE] = { 2 };
    uint8_t zero[TMEM_UUID_SIZE] = { 0 };
    TmemStore *off = store_new(100 * DCOST, false, 0, 0);
    TmemStore *s = store_new(100 * DCOST, true, 0, 0);
    TmemClient *x = tmem_client_new(off, "x", 0);
    TmemClient *a = tmem_client_new(s, "a", 0);
    TmemClient *b = tmem_client_new(s, "b", 0);
    uint32_t id, sa, sb, sb2, sa2;
    TmemPoolInfo info;

    /* not allowed by the store */
    g_assert_cmpint(tmem_new_pool(x, SHARED, u1, &id), ==, TMEM_S_UNSUPPORTED);
    /* never persistent, never without a uuid */
    g_assert_cmpint(tmem_new_pool(a, SHARED | PERS, u1, &id),
                    ==, TMEM_S_UNSUPPORTED);
    g_assert_cmpint(tmem_new_pool(a, SHARED, zero, &id), ==, TMEM_S_INVALID);
    g_assert_cmpint(tmem_new_pool(a, SHARED, NULL, &id), ==, TMEM_S_INVALID);
    g_assert_cmpint(tmem_new_pool(a, 0x4, NULL, &id), ==, TMEM_S_INVALID);

    g_assert_cmpint(tmem_new_pool(a, SHARED, u1, &sa), ==, TMEM_S_OK);
    g_assert_cmpint(tmem_new_pool(b, PERS, NULL, &id), ==, TMEM_S_OK);
    g_assert_cmpint(tmem_new_pool(b, SHARED, u1, &sb), ==, TMEM_S_OK);
    g_assert_cmpint(tmem_new_pool(b, SHARED, u2, &sb2), ==, TMEM_S_OK);
    g_assert_cmpuint(sb, ==, 1);
    g_assert_true(tmem_pool_get_info(b, sb, &info));
    g_assert_cmpuint(info.attached, ==, 2);
    g_assert_cmpmem(info.uuid, TMEM_UUID_SIZE, u1, TMEM_UUID_SIZE);

    g_assert_cmpint(put(a, sa, 3, 3, 33), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(b, sb, 3, 3, 33), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(b, sb2, 3, 3, 33), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(b, id, 3, 3, 33), ==, TMEM_S_MISS);
    /* a second id of a for the same uuid: same pages */
    g_assert_cmpint(tmem_new_pool(a, SHARED, u1, &sa2), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(a, sa2, 3, 3, 33), ==, TMEM_S_OK);
    /* a leaves: the pool stays for b */
    tmem_client_free(a);
    g_assert_cmpint(get_cmp(b, sb, 3, 3, 33), ==, TMEM_S_OK);
    g_assert_true(tmem_pool_get_info(b, sb, &info));
    g_assert_cmpuint(info.attached, ==, 1);
    check(s);
    /* b destroys it: a new pool with that uuid starts empty */
    g_assert_cmpint(tmem_destroy_pool(b, sb), ==, TMEM_S_OK);
    g_assert_cmpint(tmem_new_pool(b, SHARED, u1, &sb), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(b, sb, 3, 3, 33), ==, TMEM_S_MISS);
    check(s);
    tmem_client_free(b);
    tmem_client_free(x);
    tmem_store_free(s);
    tmem_store_free(off);
}

/* ---- the request layer ---- */

typedef struct Req {
    TmemReqHeader h;
    size_t hdr_len;
    const void *in;
    size_t in_len;
    void *out;
    size_t out_len;
} Req;

static TmemStatus run(TmemClient *c, const Req *r, size_t *written)
{
    uint8_t hdr[VIRTIO_TMEM_HDR_SIZE + 8];
    size_t w;

    memset(hdr, 0, sizeof(hdr));
    tmem_req_header_encode(&r->h, hdr);
    return tmem_handle_request(c, hdr, r->hdr_len, r->in, r->in_len,
                               r->out, r->out_len, written ? written : &w);
}

static Req req(uint32_t op, uint32_t pool, uint64_t obj, uint32_t index)
{
    Req r = { .hdr_len = VIRTIO_TMEM_HDR_SIZE };

    r.h.op = op;
    r.h.pool_id = pool;
    if (obj) {
        r.h.oid = oid_of(obj);
    }
    r.h.index = index;
    return r;
}

static uint32_t req_new_pool(TmemClient *c, uint32_t flags,
                             const uint8_t *uuid, TmemStatus want)
{
    uint8_t res[8];
    Req r = req(VIRTIO_TMEM_OP_NEW_POOL, 0, 0, 0);
    size_t w = 99;

    memset(res, 0xff, sizeof(res));
    r.h.flags = flags;
    if (uuid) {
        memcpy(r.h.uuid, uuid, TMEM_UUID_SIZE);
    }
    r.out = res;
    r.out_len = sizeof(res);
    g_assert_cmpint(run(c, &r, &w), ==, want);
    if (want != TMEM_S_OK) {
        g_assert_cmpuint(w, ==, 0);
        return UINT32_MAX;
    }
    g_assert_cmpuint(w, ==, 8);
    g_assert_cmpuint(res[4] | res[5] | res[6] | res[7], ==, 0);
    return res[0] | res[1] << 8 | res[2] << 16 | (uint32_t)res[3] << 24;
}

static void test_proto_header_layout(void)
{
    TmemReqHeader h = {
        .op = 0x04030201, .pool_id = 0x08070605,
        .oid = { { 0x1011121314151617ULL, 0x2021222324252627ULL,
                   0x3031323334353637ULL } },
        .index = 0x44434241, .flags = 0x48474645,
    };
    uint8_t b[VIRTIO_TMEM_HDR_SIZE];
    TmemReqHeader back;
    int i;

    for (i = 0; i < TMEM_UUID_SIZE; i++) {
        h.uuid[i] = 0x80 + i;
    }
    tmem_req_header_encode(&h, b);
    g_assert_cmpuint(b[0], ==, 0x01);
    g_assert_cmpuint(b[3], ==, 0x04);
    g_assert_cmpuint(b[4], ==, 0x05);
    g_assert_cmpuint(b[8], ==, 0x17);
    g_assert_cmpuint(b[15], ==, 0x10);
    g_assert_cmpuint(b[16], ==, 0x27);
    g_assert_cmpuint(b[24], ==, 0x37);
    g_assert_cmpuint(b[31], ==, 0x30);
    g_assert_cmpuint(b[32], ==, 0x41);
    g_assert_cmpuint(b[36], ==, 0x45);
    g_assert_cmpuint(b[40], ==, 0x80);
    g_assert_cmpuint(b[55], ==, 0x8f);
    tmem_req_header_decode(b, &back);
    g_assert_cmpmem(&back, sizeof(back), &h, sizeof(h));
}

static void test_proto_config(void)
{
    TmemStore *s = store_new(123 * DCOST, true, 7, 5 * DCOST);
    TmemClient *c = tmem_client_new(s, "c", 50 * DCOST);
    uint8_t cfg[VIRTIO_TMEM_CONFIG_SIZE + 4];
    uint32_t p = pool_new(c, PERS);
    uint64_t v;
    uint32_t w;

    g_assert_cmpuint(tmem_host_features(s), ==, all_features);
    g_assert_cmpint(put(c, p, 1, 1, 1), ==, TMEM_S_OK);
    memset(cfg, 0xcc, sizeof(cfg));
    tmem_fill_config(c, cfg, sizeof(cfg));
    g_assert_cmpuint(cfg[VIRTIO_TMEM_CONFIG_SIZE], ==, 0xcc);
    memcpy(&w, cfg + 0, 4);
    g_assert_cmpuint(GUINT32_FROM_LE(w), ==, 4096);
    memcpy(&w, cfg + 4, 4);
    g_assert_cmpuint(GUINT32_FROM_LE(w), ==, 7);
    memcpy(&v, cfg + 8, 8);
    g_assert_cmpuint(GUINT64_FROM_LE(v), ==, 123 * DCOST);
    memcpy(&v, cfg + 16, 8);
    g_assert_cmpuint(GUINT64_FROM_LE(v), ==, 50 * DCOST);
    memcpy(&v, cfg + 24, 8);
    g_assert_cmpuint(GUINT64_FROM_LE(v), ==, 5 * DCOST);
    memcpy(&w, cfg + 32, 4);
    g_assert_cmpuint(GUINT32_FROM_LE(w), ==, DCOST);
    memcpy(&w, cfg + 36, 4);
    g_assert_cmpuint(GUINT32_FROM_LE(w), ==, MCOST);
    memcpy(&v, cfg + 40, 8);
    g_assert_cmpuint(GUINT64_FROM_LE(v), ==, 49 * DCOST);
    /* a short read gets the start only */
    memset(cfg, 0xcc, sizeof(cfg));
    tmem_fill_config(c, cfg, 2);
    g_assert_cmpuint(cfg[1], ==, 0x10);
    g_assert_cmpuint(cfg[2], ==, 0xcc);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_proto_ops(void)
{
    TmemStore *s = store_new(100 * DCOST, true, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint8_t page[PG], got[PG], uuid[TMEM_UUID_SIZE] = { 7 };
    uint32_t pp, ep, sp;
    size_t w;
    Req r;

    tmem_client_set_features(c, all_features);
    pp = req_new_pool(c, PERS, NULL, TMEM_S_OK);
    ep = req_new_pool(c, 0, NULL, TMEM_S_OK);
    sp = req_new_pool(c, SHARED, uuid, TMEM_S_OK);
    g_assert_cmpuint(pp, ==, 0);
    g_assert_cmpuint(ep, ==, 1);
    g_assert_cmpuint(sp, ==, 2);

    fill_page(page, 42);
    r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 3, 9);
    r.in = page;
    r.in_len = PG;
    g_assert_cmpint(run(c, &r, &w), ==, TMEM_S_OK);
    g_assert_cmpuint(w, ==, 0);

    r = req(VIRTIO_TMEM_OP_GET_PAGE, pp, 3, 9);
    r.out = got;
    r.out_len = PG;
    g_assert_cmpint(run(c, &r, &w), ==, TMEM_S_OK);
    g_assert_cmpuint(w, ==, PG);
    g_assert_cmpmem(got, PG, page, PG);
    /* a miss zero-fills the buffer */
    r.h.index = 10;
    memset(got, 0x77, PG);
    g_assert_cmpint(run(c, &r, &w), ==, TMEM_S_MISS);
    g_assert_cmpuint(w, ==, PG);
    g_assert_cmpuint(page_classify(got, PG, NULL), ==, PAGE_CLASS_ZERO);

    r = req(VIRTIO_TMEM_OP_FLUSH_PAGE, pp, 3, 9);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_OK);
    r = req(VIRTIO_TMEM_OP_FLUSH_OBJECT, pp, 3, 0);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_OK);
    g_assert_cmpuint(pool_stats(c, pp).pages, ==, 0);
    r = req(VIRTIO_TMEM_OP_DESTROY_POOL, ep, 0, 0);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_OK);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_BAD_POOL);
    /* the freed id is handed out again */
    g_assert_cmpuint(req_new_pool(c, 0, NULL, TMEM_S_OK), ==, ep);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_proto_hostile(void)
{
    TmemStore *s = store_new(100 * DCOST, true, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    TmemClient *nofeat = tmem_client_new(s, "nofeat", 0);
    uint8_t page[PG + 1], big[2 * PG], uuid[TMEM_UUID_SIZE] = { 3 };
    uint8_t hdr[VIRTIO_TMEM_HDR_SIZE];
    static const uint32_t bad_ops[] = { 0, 7, 8, 255, 0x100, 0x80000003,
                                        UINT32_MAX };
    uint32_t pp, i;
    size_t w;
    Req r;

    tmem_client_set_features(c, all_features);
    pp = req_new_pool(c, PERS, NULL, TMEM_S_OK);
    fill_page(page, 1);

    /* header length */
    r = req(VIRTIO_TMEM_OP_FLUSH_PAGE, pp, 1, 1);
    for (i = 0; i < VIRTIO_TMEM_HDR_SIZE + 8; i++) {
        r.hdr_len = i;
        g_assert_cmpint(run(c, &r, NULL),
                        ==, i == VIRTIO_TMEM_HDR_SIZE ? TMEM_S_OK
                                                      : TMEM_S_INVALID);
    }
    g_assert_cmpint(tmem_handle_request(c, NULL, VIRTIO_TMEM_HDR_SIZE, NULL, 0,
                                        NULL, 0, &w), ==, TMEM_S_INVALID);

    /* unknown ops, whatever the buffers */
    for (i = 0; i < G_N_ELEMENTS(bad_ops); i++) {
        r = req(bad_ops[i], pp, 1, 1);
        g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_UNSUPPORTED);
        r.in = page;
        r.in_len = PG;
        g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_UNSUPPORTED);
    }

    /* PUT: exactly one page in, nothing out */
    {
        static const size_t lens[] = { 0, 1, 8, PG - 1, PG + 1, 2 * PG };

        for (i = 0; i < G_N_ELEMENTS(lens); i++) {
            r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 1, 1);
            r.in = big;
            r.in_len = lens[i];
            g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
            /* GET the same way round */
            r = req(VIRTIO_TMEM_OP_GET_PAGE, pp, 1, 1);
            r.out = big;
            r.out_len = lens[i];
            g_assert_cmpint(run(c, &r, &w), ==, TMEM_S_INVALID);
            g_assert_cmpuint(w, ==, 0);
        }
    }
    /* wrong direction */
    r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 1, 1);
    r.out = big;
    r.out_len = PG;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r = req(VIRTIO_TMEM_OP_GET_PAGE, pp, 1, 1);
    r.in = page;
    r.in_len = PG;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    /* PUT with both */
    r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 1, 1);
    r.in = page;
    r.in_len = PG;
    r.out = big;
    r.out_len = 1;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    /* the right length but no buffer */
    r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 1, 1);
    r.in_len = PG;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    /* data for ops that take none */
    r = req(VIRTIO_TMEM_OP_FLUSH_PAGE, pp, 1, 1);
    r.in = page;
    r.in_len = 1;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r = req(VIRTIO_TMEM_OP_DESTROY_POOL, pp, 0, 0);
    r.out = big;
    r.out_len = 8;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    /* NEW_POOL: the result buffer is 8 bytes, nothing else */
    r = req(VIRTIO_TMEM_OP_NEW_POOL, 0, 0, 0);
    r.out = big;
    r.out_len = 4;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r.out_len = 8;
    r.in = page;
    r.in_len = 16;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);

    /* fields the op does not use must be zero */
    r = req(VIRTIO_TMEM_OP_PUT_PAGE, pp, 1, 1);
    r.in = page;
    r.in_len = PG;
    r.h.flags = 1;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r.h.flags = 0;
    r.h.uuid[15] = 1;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r = req(VIRTIO_TMEM_OP_FLUSH_OBJECT, pp, 1, 5);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r = req(VIRTIO_TMEM_OP_DESTROY_POOL, pp, 1, 0);
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    r = req(VIRTIO_TMEM_OP_NEW_POOL, 3, 0, 0);
    r.out = big;
    r.out_len = 8;
    g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_INVALID);
    /* NEW_POOL flags and uuid */
    req_new_pool(c, 4, NULL, TMEM_S_INVALID);
    req_new_pool(c, 0x80000000, NULL, TMEM_S_INVALID);
    req_new_pool(c, PERS, uuid, TMEM_S_INVALID);
    req_new_pool(c, SHARED, NULL, TMEM_S_INVALID);
    req_new_pool(c, SHARED | PERS, uuid, TMEM_S_UNSUPPORTED);
    /* features not negotiated */
    req_new_pool(nofeat, SHARED, uuid, TMEM_S_UNSUPPORTED);
    req_new_pool(nofeat, PERS, NULL, TMEM_S_UNSUPPORTED);
    g_assert_cmpuint(req_new_pool(nofeat, 0, NULL, TMEM_S_OK), ==, 0);

    /* bad pool ids for every pool op */
    {
        static const uint32_t ids[] = { 1, 15, 16, 17, 1000, UINT32_MAX };
        static const uint32_t ops[] = {
            VIRTIO_TMEM_OP_DESTROY_POOL, VIRTIO_TMEM_OP_PUT_PAGE,
            VIRTIO_TMEM_OP_GET_PAGE, VIRTIO_TMEM_OP_FLUSH_PAGE,
            VIRTIO_TMEM_OP_FLUSH_OBJECT,
        };
        unsigned j;

        for (i = 0; i < G_N_ELEMENTS(ids); i++) {
            for (j = 0; j < G_N_ELEMENTS(ops); j++) {
                bool objless = ops[j] == VIRTIO_TMEM_OP_DESTROY_POOL;

                r = req(ops[j], ids[i], objless ? 0 : 1,
                        ops[j] == VIRTIO_TMEM_OP_FLUSH_OBJECT || objless ?
                        0 : 1);
                if (ops[j] == VIRTIO_TMEM_OP_PUT_PAGE) {
                    r.in = page;
                    r.in_len = PG;
                } else if (ops[j] == VIRTIO_TMEM_OP_GET_PAGE) {
                    r.out = big;
                    r.out_len = PG;
                }
                g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_BAD_POOL);
            }
        }
    }

    /* raw garbage headers never crash and never succeed by accident */
    for (i = 0; i < 10000; i++) {
        uint32_t op;

        fill_page(big, i);
        memcpy(hdr, big, sizeof(hdr));
        memcpy(&op, hdr, 4);
        op = GUINT32_FROM_LE(op);
        if (op >= VIRTIO_TMEM_OP_NEW_POOL &&
            op <= VIRTIO_TMEM_OP_FLUSH_OBJECT) {
            continue;
        }
        g_assert_cmpint(tmem_handle_request(c, hdr, sizeof(hdr), big + 64,
                                            i % 3 ? PG : 0, big + 64, i % 2 ?
                                            PG : 8, &w),
                        ==, TMEM_S_UNSUPPORTED);
    }
    check(s);
    tmem_client_free(nofeat);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* A flood of NEW_POOL: refused past the limit, nothing grows. */
static void test_proto_new_pool_flood(void)
{
    TmemStore *s = store_new(100 * DCOST, true, 32, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint8_t uuid[TMEM_UUID_SIZE] = { 0 };
    TmemStoreInfo a, b;
    uint32_t i;

    tmem_client_set_features(c, all_features);
    for (i = 0; i < 32; i++) {
        uuid[0] = i;
        uuid[1] = 1;
        g_assert_cmpuint(req_new_pool(c, i % 3 == 2 ? SHARED : i % 2,
                                      i % 3 == 2 ? uuid : NULL, TMEM_S_OK),
                         ==, i);
    }
    tmem_store_get_info(s, &a);
    for (i = 0; i < 100000; i++) {
        uuid[0] = i;
        uuid[2] = i >> 8;
        uuid[3] = i >> 16;
        req_new_pool(c, i % 3 == 2 ? SHARED : i % 2,
                     i % 3 == 2 ? uuid : NULL, TMEM_S_NOSPACE);
    }
    tmem_store_get_info(s, &b);
    g_assert_cmpuint(b.pools, ==, 32);
    g_assert_cmpuint(b.meta_bytes, ==, a.meta_bytes);
    /* churn: destroy and create again, still bounded */
    for (i = 0; i < 10000; i++) {
        Req r = req(VIRTIO_TMEM_OP_DESTROY_POOL, i % 32, 0, 0);

        g_assert_cmpint(run(c, &r, NULL), ==, TMEM_S_OK);
        g_assert_cmpuint(req_new_pool(c, 0, NULL, TMEM_S_OK), ==, i % 32);
    }
    tmem_store_get_info(s, &b);
    g_assert_cmpuint(b.pools, ==, 32);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* tmem_handle_iov: any framing gives the same result as a flat one. */
static void test_proto_iov(void)
{
    TmemStore *s = store_new(100 * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint8_t req_buf[VIRTIO_TMEM_HDR_SIZE + PG], resp[PG + 1];
    uint8_t page[PG];
    TmemReqHeader h = { 0 };
    TmemStatus st;
    struct iovec rd[8], wr[8];
    uint32_t p;
    size_t used;
    int split;

    tmem_client_set_features(c, all_features);
    p = pool_new(c, PERS);
    fill_page(page, 5);

    for (split = 0; split < 6; split++) {
        /* PUT, the readable part cut in pieces */
        static const size_t cuts[][3] = {
            { 56, 4152, 4152 }, { 1, 56, 4152 }, { 30, 57, 4000 },
            { 56, 56, 4152 }, { 0, 100, 4151 }, { 55, 2000, 4152 },
        };
        size_t a = cuts[split][0], b = cuts[split][1], e = cuts[split][2];

        h.op = VIRTIO_TMEM_OP_PUT_PAGE;
        h.pool_id = p;
        h.oid = oid_of(split);
        h.index = split;
        tmem_req_header_encode(&h, req_buf);
        memcpy(req_buf + VIRTIO_TMEM_HDR_SIZE, page, PG);
        rd[0] = (struct iovec) { req_buf, a };
        rd[1] = (struct iovec) { req_buf + a, b - a };
        rd[2] = (struct iovec) { req_buf + b, e - b };
        rd[3] = (struct iovec) { req_buf + e, sizeof(req_buf) - e };
        resp[0] = 0xff;
        wr[0] = (struct iovec) { resp, 1 };
        used = tmem_handle_iov(c, rd, 4, wr, 1, &st);
        g_assert_cmpint(st, ==, TMEM_S_OK);
        g_assert_cmpuint(used, ==, 1);
        g_assert_cmpuint(resp[0], ==, TMEM_S_OK);

        /* GET, the writable part cut in pieces */
        h.op = VIRTIO_TMEM_OP_GET_PAGE;
        tmem_req_header_encode(&h, req_buf);
        rd[0] = (struct iovec) { req_buf, 20 };
        rd[1] = (struct iovec) { req_buf + 20, 36 };
        memset(resp, 0xee, sizeof(resp));
        a = MIN(a, sizeof(resp));
        b = MIN(b, sizeof(resp));
        wr[0] = (struct iovec) { resp, a };
        wr[1] = (struct iovec) { resp + a, b - a };
        wr[2] = (struct iovec) { resp + b, sizeof(resp) - b };
        used = tmem_handle_iov(c, rd, 2, wr, 3, &st);
        g_assert_cmpint(st, ==, TMEM_S_OK);
        g_assert_cmpuint(used, ==, PG + 1);
        g_assert_cmpmem(resp, PG, page, PG);
        g_assert_cmpuint(resp[PG], ==, TMEM_S_OK);
    }

    /* a miss through a bounce buffer zero-fills the page */
    h.oid = oid_of(100);
    tmem_req_header_encode(&h, req_buf);
    rd[0] = (struct iovec) { req_buf, VIRTIO_TMEM_HDR_SIZE };
    memset(resp, 0xee, sizeof(resp));
    wr[0] = (struct iovec) { resp, 100 };
    wr[1] = (struct iovec) { resp + 100, sizeof(resp) - 100 };
    used = tmem_handle_iov(c, rd, 1, wr, 2, &st);
    g_assert_cmpint(st, ==, TMEM_S_MISS);
    g_assert_cmpuint(used, ==, PG + 1);
    g_assert_cmpuint(page_classify(resp, PG, NULL), ==, PAGE_CLASS_ZERO);
    g_assert_cmpuint(resp[PG], ==, TMEM_S_MISS);

    /* no writable byte: nothing can be reported, nothing is done */
    h.op = VIRTIO_TMEM_OP_DESTROY_POOL;
    h.oid = oid_of(0);
    memset(&h.oid, 0, sizeof(h.oid));
    h.index = 0;
    tmem_req_header_encode(&h, req_buf);
    used = tmem_handle_iov(c, rd, 1, wr, 0, &st);
    g_assert_cmpuint(used, ==, 0);
    g_assert_cmpint(st, ==, TMEM_S_INVALID);
    g_assert_cmpuint(pool_stats(c, p).pages, ==, 6);

    /* short header */
    rd[0] = (struct iovec) { req_buf, VIRTIO_TMEM_HDR_SIZE - 1 };
    wr[0] = (struct iovec) { resp, 1 };
    used = tmem_handle_iov(c, rd, 1, wr, 1, &st);
    g_assert_cmpuint(used, ==, 1);
    g_assert_cmpuint(resp[0], ==, TMEM_S_INVALID);
    /* no readable part at all */
    used = tmem_handle_iov(c, rd, 0, wr, 1, &st);
    g_assert_cmpuint(resp[0], ==, TMEM_S_INVALID);

    /* oversized writable part: status goes in its last byte */
    {
        g_autofree uint8_t *huge = g_malloc0(3 * PG);

        h.op = VIRTIO_TMEM_OP_GET_PAGE;
        h.oid = oid_of(0);
        h.index = 0;
        tmem_req_header_encode(&h, req_buf);
        rd[0] = (struct iovec) { req_buf, VIRTIO_TMEM_HDR_SIZE };
        wr[0] = (struct iovec) { huge, 3 * PG };
        used = tmem_handle_iov(c, rd, 1, wr, 1, &st);
        g_assert_cmpint(st, ==, TMEM_S_INVALID);
        g_assert_cmpuint(used, ==, 3 * PG);
        g_assert_cmpuint(huge[3 * PG - 1], ==, TMEM_S_INVALID);
        g_assert_cmpuint(huge[0], ==, 0);
        /* oversized readable part */
        rd[1] = (struct iovec) { huge, 3 * PG };
        h.op = VIRTIO_TMEM_OP_PUT_PAGE;
        tmem_req_header_encode(&h, req_buf);
        wr[0] = (struct iovec) { resp, 1 };
        used = tmem_handle_iov(c, rd, 2, wr, 1, &st);
        g_assert_cmpint(st, ==, TMEM_S_INVALID);
    }
    /* the pages put earlier are all still there, intact */
    g_assert_cmpuint(pool_stats(c, p).pages, ==, 6);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* ---- migration ---- */

typedef struct SavedPage {
    uint32_t pool;
    TmemOid oid;
    uint32_t index;
    bool pattern;
    uint64_t value;
    uint8_t data[PG];
} SavedPage;

typedef struct Saved {
    GArray *pools;    /* TmemPoolInfo */
    GArray *pages;    /* SavedPage */
} Saved;

static void save_pool(const TmemPoolInfo *info, void *opaque)
{
    Saved *sv = opaque;

    g_array_append_val(sv->pools, *info);
}

static int save_page(uint32_t pool, const TmemOid *oid, uint32_t index,
                     const void *data, uint64_t pattern, void *opaque)
{
    Saved *sv = opaque;
    SavedPage pg = { .pool = pool, .oid = *oid, .index = index };

    if (data) {
        memcpy(pg.data, data, PG);
    } else {
        pg.pattern = true;
        pg.value = pattern;
    }
    g_array_append_val(sv->pages, pg);
    return 0;
}

static int stop_after_3(uint32_t pool, const TmemOid *oid, uint32_t index,
                        const void *data, uint64_t pattern, void *opaque)
{
    int *n = opaque;

    return ++*n == 3 ? 42 : 0;
}

static void saved_restore(const Saved *sv, TmemClient *dst, TmemStatus want)
{
    TmemStatus worst = TMEM_S_OK;
    guint i;

    for (i = 0; i < sv->pools->len; i++) {
        TmemPoolInfo *pi = &g_array_index(sv->pools, TmemPoolInfo, i);

        g_assert_cmpint(tmem_restore_pool(dst, pi->pool_id, pi->flags,
                                          pi->uuid), ==, TMEM_S_OK);
    }
    for (i = 0; i < sv->pages->len; i++) {
        SavedPage *pg = &g_array_index(sv->pages, SavedPage, i);
        TmemStatus st = tmem_restore_page(dst, pg->pool, &pg->oid, pg->index,
                                          pg->pattern ? NULL : pg->data,
                                          pg->value);

        if (st != TMEM_S_OK) {
            worst = st;
        }
    }
    g_assert_cmpint(worst, ==, want);
}

static void test_migration_round_trip(void)
{
    TmemStore *src = store_new(1000 * DCOST, true, 8, 0);
    TmemStoreConfig cfg = { .size = 1000 * DCOST, .allow_shared = true,
                            .max_pools_per_client = 8,
                            .hash_key = { 1, 2 } };
    const char *why;
    TmemStore *dst = tmem_store_new(&cfg, &why);
    TmemStore *tiny = store_new(10 * DCOST, true, 8, 0);
    TmemClient *c = tmem_client_new(src, "src", 0);
    TmemClient *d = tmem_client_new(dst, "dst", 0);
    TmemClient *t = tmem_client_new(tiny, "tiny", 0);
    uint8_t uuid[TMEM_UUID_SIZE] = { 0x42 };
    Saved sv = { g_array_new(false, false, sizeof(TmemPoolInfo)),
                 g_array_new(false, false, sizeof(SavedPage)) };
    uint32_t pp, ep, sp, pp2, i;
    uint8_t page[PG];
    TmemPoolInfo info;
    int n = 0;

    pp = pool_new(c, PERS);
    ep = pool_new(c, EPH);
    g_assert_cmpint(tmem_new_pool(c, SHARED, uuid, &sp), ==, TMEM_S_OK);
    pp2 = pool_new(c, PERS);
    g_assert_cmpint(tmem_destroy_pool(c, ep), ==, TMEM_S_OK);
    ep = pool_new(c, EPH);
    g_assert_cmpint(tmem_destroy_pool(c, 0), ==, TMEM_S_OK);
    pp = pool_new(c, PERS);
    for (i = 0; i < 200; i++) {
        g_assert_cmpint(put(c, pp, i % 7, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(c, ep, i % 7, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(put(c, sp, i % 7, i, i), ==, TMEM_S_OK);
    }
    for (i = 0; i < 50; i++) {
        TmemOid o = oid_of(1000 + i);

        page_fill_pattern(page, PG, i * 0x0101010101010101ULL);
        g_assert_cmpint(tmem_put_page(c, pp2, &o, i, page), ==, TMEM_S_OK);
    }
    tmem_client_foreach_pool(c, save_pool, &sv);
    g_assert_cmpuint(sv.pools->len, ==, 4);
    g_assert_cmpint(tmem_client_foreach_persistent_page(c, save_page, &sv),
                    ==, 0);
    g_assert_cmpuint(sv.pages->len, ==, 250);
    g_assert_cmpint(tmem_client_foreach_persistent_page(c, stop_after_3, &n),
                    ==, 42);
    g_assert_cmpint(n, ==, 3);

    saved_restore(&sv, d, TMEM_S_OK);
    check(dst);
    for (i = 0; i < 200; i++) {
        g_assert_cmpint(get_cmp(d, pp, i % 7, i, i), ==, TMEM_S_OK);
        g_assert_cmpint(get_cmp(d, ep, i % 7, i, i), ==, TMEM_S_MISS);
        g_assert_cmpint(get_cmp(d, sp, i % 7, i, i), ==, TMEM_S_MISS);
    }
    for (i = 0; i < 50; i++) {
        TmemOid o = oid_of(1000 + i);
        uint8_t want[PG];

        page_fill_pattern(want, PG, i * 0x0101010101010101ULL);
        g_assert_cmpint(tmem_get_page(d, pp2, &o, i, page), ==, TMEM_S_OK);
        g_assert_cmpmem(page, PG, want, PG);
    }
    g_assert_cmpuint(pool_stats(d, pp2).pattern_pages, ==, 50);
    g_assert_cmpuint(pool_stats(d, pp2).bytes, ==, 50 * MCOST);
    g_assert_cmpuint(pool_stats(d, pp).puts, ==, 0);
    g_assert_true(tmem_pool_get_info(d, sp, &info));
    g_assert_cmpuint(info.flags, ==, SHARED);
    g_assert_cmpmem(info.uuid, TMEM_UUID_SIZE, uuid, TMEM_UUID_SIZE);
    /* ids are those of the source: the next new pool takes the free one */
    g_assert_cmpuint(pool_new(d, EPH), ==, 4);
    /* restoring into a used id or into an ephemeral pool is refused */
    g_assert_cmpint(tmem_restore_pool(d, pp, PERS, NULL), ==, TMEM_S_BAD_POOL);
    g_assert_cmpint(tmem_restore_pool(d, 8, PERS, NULL), ==, TMEM_S_BAD_POOL);
    {
        TmemOid o = oid_of(1);

        g_assert_cmpint(tmem_restore_page(d, ep, &o, 0, NULL, 0),
                        ==, TMEM_S_INVALID);
    }
    check(dst);

    /* a destination too small fails rather than losing pages */
    saved_restore(&sv, t, TMEM_S_NOSPACE);
    check(tiny);

    g_array_free(sv.pools, true);
    g_array_free(sv.pages, true);
    tmem_client_free(c);
    tmem_client_free(d);
    tmem_client_free(t);
    tmem_store_free(src);
    tmem_store_free(dst);
    tmem_store_free(tiny);
}

/* ---- scale: tables grow and shrink, metadata per page ---- */

static void test_many_pages(void)
{
    const uint32_t n = 60000;
    TmemStore *s = store_new((uint64_t)n * DCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t p = pool_new(c, PERS), e = pool_new(c, EPH), i;
    GRand *r = g_rand_new_with_seed(7);
    /* model of the persistent pool: key k is object k % 100, index k / 100 */
    g_autofree bool *present = g_new0(bool, 2 * n);

    for (i = 0; i < n; i++) {
        g_assert_cmpint(put(c, i & 1 ? p : e, i % 100, i / 100, i), ==,
                        TMEM_S_OK);
        present[i] = i & 1;
    }
    check(s);
    for (i = 0; i < 200000; i++) {
        uint32_t k = g_rand_int_range(r, 0, 2 * n);
        uint32_t pool = k & 1 ? p : e;
        TmemOid o = oid_of(k % 100);

        switch (g_rand_int_range(r, 0, 4)) {
        case 0:
            if (put(c, pool, k % 100, k / 100, k) == TMEM_S_OK && pool == p) {
                present[k] = true;
            }
            break;
        case 1:
            get_cmp(c, pool, k % 100, k / 100, k);
            break;
        case 2:
            tmem_flush_page(c, pool, &o, k / 100);
            if (pool == p) {
                present[k] = false;
            }
            break;
        default:
            if (k % 1000 == 0) {
                tmem_flush_object(c, pool, &o);
                for (uint32_t j = k % 100; pool == p && j < 2 * n; j += 100) {
                    present[j] = false;
                }
            }
        }
    }
    check(s);
    /* persistent pages: exactly those the model holds, never altered */
    for (i = 1; i < 2 * n; i += 2) {
        TmemStatus st = get_cmp(c, p, i % 100, i / 100, i);

        if (st != (present[i] ? TMEM_S_OK : TMEM_S_MISS)) {
            g_error("persistent key %u: status %d, model says %s", i, st,
                    present[i] ? "present" : "absent");
        }
    }
    g_rand_free(r);
    tmem_client_free(c);
    tmem_store_free(s);
}

/*
 * Metadata per stored page, as the store counts it (slab chunks,
 * tables, pools, clients, malloc headers): at most 64 bytes once the
 * fixed costs are spread, in the worst case of one page per object,
 * wherever the table growth stands.
 */
static void test_meta_per_page(void)
{
    const uint32_t step = 1000, max = 400000;
    TmemStore *s = store_new((uint64_t)max * MCOST, false, 0, 0);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t p = pool_new(c, PERS), q = pool_new(c, PERS), i;
    uint8_t page[PG];
    double worst = 0, worst_dense = 0;
    TmemStoreInfo si;

    for (i = 1; i <= max; i++) {
        TmemOid o = oid_of(i);

        page_fill_pattern(page, PG, 0x0101010101010101ULL * (i % 200 + 1));
        g_assert_cmpint(tmem_put_page(c, p, &o, 0, page), ==, TMEM_S_OK);
        if (i >= 100000 && i % step == 0) {
            tmem_store_get_info(s, &si);
            worst = MAX(worst, (double)si.meta_bytes / si.stats.pages);
        }
    }
    g_test_message("one page per object: worst %.2f bytes/page", worst);
    g_assert_cmpfloat(worst, <=, 64.0);
    tmem_destroy_pool(c, p);
    for (i = 1; i <= max; i++) {
        TmemOid o = oid_of(i / 512);

        page_fill_pattern(page, PG, 0x0101010101010101ULL * (i % 200 + 1));
        g_assert_cmpint(tmem_put_page(c, q, &o, i, page), ==, TMEM_S_OK);
        if (i >= 100000 && i % step == 0) {
            tmem_store_get_info(s, &si);
            worst_dense = MAX(worst_dense,
                              (double)si.meta_bytes / si.stats.pages);
        }
    }
    g_test_message("512 pages per object: worst %.2f bytes/page",
                   worst_dense);
    g_assert_cmpfloat(worst_dense, <, worst);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

/* A single-threaded store (no lock) behaves the same. */
static void test_single_threaded(void)
{
    TmemStoreConfig cfg = { .size = 4 * DCOST, .single_threaded = true };
    const char *why;
    TmemStore *s = tmem_store_new(&cfg, &why);
    TmemClient *c = tmem_client_new(s, "c", 0);
    uint32_t e = pool_new(c, EPH), p = pool_new(c, PERS), i;

    for (i = 0; i < 6; i++) {
        g_assert_cmpint(put(c, e, 1, i, i), ==, TMEM_S_OK);
    }
    g_assert_cmpuint(pool_stats(c, e).evictions, ==, 2);
    g_assert_cmpint(put(c, p, 1, 0, 9), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, e, 1, 2, 2), ==, TMEM_S_MISS);
    g_assert_cmpint(get_cmp(c, e, 1, 5, 5), ==, TMEM_S_OK);
    g_assert_cmpint(get_cmp(c, p, 1, 0, 9), ==, TMEM_S_OK);
    check(s);
    tmem_client_free(c);
    tmem_store_free(s);
}

static void test_bad_config(void)
{
    TmemStoreConfig cfg = { .size = 1, .max_pools_per_client = 1025 };
    const char *why = NULL;

    g_assert_null(tmem_store_new(&cfg, &why));
    g_assert_nonnull(why);
    g_assert_cmpstr(tmem_status_name(TMEM_S_NOSPACE), ==, "no-space");
    g_assert_cmpstr(tmem_status_name(99), ==, "?");
    g_assert_cmpstr(tmem_op_name(VIRTIO_TMEM_OP_FLUSH_OBJECT), ==,
                    "flush-object");
    g_assert_cmpuint(VIRTIO_TMEM_PCI_DEVICE_ID, ==, 0x107b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tmem/put-get-flush", test_put_get_flush);
    g_test_add_func("/tmem/flush-object", test_flush_object);
    g_test_add_func("/tmem/ephemeral-get", test_ephemeral_get);
    g_test_add_func("/tmem/lru-order", test_lru_order);
    g_test_add_func("/tmem/persistent-refused", test_persistent_refused);
    g_test_add_func("/tmem/pool-quota", test_pool_quota);
    g_test_add_func("/tmem/client-quota", test_client_quota);
    g_test_add_func("/tmem/store-eviction-fairness",
                    test_store_eviction_fairness);
    g_test_add_func("/tmem/resize", test_resize);
    g_test_add_func("/tmem/pattern-pages", test_pattern_pages);
    g_test_add_func("/tmem/destroy-frees-all", test_destroy_frees_all);
    g_test_add_func("/tmem/isolation", test_isolation);
    g_test_add_func("/tmem/shared", test_shared);
    g_test_add_func("/tmem/proto/header-layout", test_proto_header_layout);
    g_test_add_func("/tmem/proto/config", test_proto_config);
    g_test_add_func("/tmem/proto/ops", test_proto_ops);
    g_test_add_func("/tmem/proto/hostile", test_proto_hostile);
    g_test_add_func("/tmem/proto/new-pool-flood", test_proto_new_pool_flood);
    g_test_add_func("/tmem/proto/iov", test_proto_iov);
    g_test_add_func("/tmem/migration-round-trip", test_migration_round_trip);
    g_test_add_func("/tmem/many-pages", test_many_pages);
    g_test_add_func("/tmem/meta-per-page", test_meta_per_page);
    g_test_add_func("/tmem/single-threaded", test_single_threaded);
    g_test_add_func("/tmem/bad-config", test_bad_config);
    return g_test_run();
}
