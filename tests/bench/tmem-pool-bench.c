/*
 * Micro-benchmark of the virtio-tmem page pool (memdedup/tmem/):
 * put/get/flush throughput of 4 KiB pages against memcpy() of the same
 * pages, the cost of evicting a page when putting into a full ephemeral
 * store, and the metadata bytes per stored page.
 *
 * Working set: 16384 distinct pages of random data (64 MiB) in one
 * buffer, put under 16384 keys (64 pages per object), so the store holds
 * another 64 MiB: twice the L3 cache of the development machine.  The
 * memcpy() baseline copies the same 16384 pages between that buffer and
 * 16384 separately allocated 4 KiB pages, in the same order.  Each figure
 * is the median of 5 rounds.
 *
 * Prints one JSON object on stdout (build/bench/tmem-pool.json from make
 * bench) and a readable summary on stderr.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "memdedup/classify/page-classify.h"
#include "memdedup/tmem/tmem-pool.h"

#define PG TMEM_PAGE_SIZE
#define N 16384
#define ROUNDS 5
#define META_PAGES 262144

static uint8_t *src;
static uint8_t *dst[N];
/* volatile: keeps the compiler from dropping the copies it is fed from */
static volatile uint64_t sink;

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static TmemOid key_oid(uint32_t i)
{
    TmemOid o = { { i / 64, 0x7ead, 0 } };

    return o;
}

static bool single_threaded;

static TmemStore *store(uint64_t size)
{
    TmemStoreConfig cfg = { .size = size, .max_pools_per_client = 64,
                            .single_threaded = single_threaded };
    const char *why;

    return tmem_store_new(&cfg, &why);
}

/*
 * ns per page of memcpy() from the buffer to the pages and back, and of
 * malloc() + memcpy() into pages just freed (what a put of a new key
 * does after a flush has given the memory back).
 */
static void bench_memcpy(double *to_pages, double *from_pages,
                         double *to_fresh)
{
    double a[ROUNDS], b[ROUNDS], c[ROUNDS];
    int r;
    uint32_t i;

    for (r = 0; r < ROUNDS; r++) {
        double t0;

        for (i = 0; i < N; i++) {
            g_free(dst[i]);
        }
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            dst[i] = g_malloc(PG);
            memcpy(dst[i], src + (size_t)i * PG, PG);
        }
        c[r] = (now_ns() - t0) / N;
        t0 = now_ns();

        for (i = 0; i < N; i++) {
            memcpy(dst[i], src + (size_t)i * PG, PG);
        }
        a[r] = (now_ns() - t0) / N;
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            memcpy(src + (size_t)i * PG, dst[i], PG);
        }
        b[r] = (now_ns() - t0) / N;
        sink += src[r];
    }
    *to_pages = median(a, ROUNDS);
    *from_pages = median(b, ROUNDS);
    *to_fresh = median(c, ROUNDS);
}

typedef struct Tput {
    double fill, put, reput, get_pers, get_eph, flush, pattern_put;
} Tput;

/* What clock_gettime() itself costs, subtracted from per-put timings. */
static double timer_ns;

static void measure_timer(void)
{
    double v[ROUNDS];
    int r, i;

    for (r = 0; r < ROUNDS; r++) {
        double sum = 0;

        for (i = 0; i < 10000; i++) {
            double t0 = now_ns();

            sum += now_ns() - t0;
        }
        v[r] = sum / 10000;
    }
    timer_ns = median(v, ROUNDS);
}

/*
 * Per round: fill an empty persistent pool with the N pages (new keys,
 * the tables grow, the memory comes fresh from malloc), overwrite them,
 * get them; then the steady state: N puts of new keys into the pool of N
 * pages, each followed by a flush of the oldest key (not timed), so the
 * pool keeps its size; then flush them all.  Ephemeral pool: exclusive
 * gets.  Last, N pattern (zero) pages.
 */
static void bench_ops(Tput *t)
{
    double fill[ROUNDS], put[ROUNDS], reput[ROUNDS], getp[ROUNDS];
    double gete[ROUNDS], flush[ROUNDS], pat[ROUNDS];
    TmemStore *s = store((uint64_t)4 * N * TMEM_DATA_PAGE_COST);
    TmemClient *c = tmem_client_new(s, "bench", 0);
    uint32_t pp, ep, zp, i;
    uint8_t *zero = g_malloc0(PG);
    int r;

    tmem_new_pool(c, TMEM_POOL_PERSISTENT, NULL, &pp);
    tmem_new_pool(c, 0, NULL, &ep);
    tmem_new_pool(c, TMEM_POOL_PERSISTENT, NULL, &zp);
    for (r = 0; r < ROUNDS; r++) {
        double t0 = now_ns(), sum = 0;

        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_put_page(c, pp, &o, i, src + (size_t)i * PG);
        }
        fill[r] = (now_ns() - t0) / N;
        /* overwrite every key: the tables do not grow any more */
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_put_page(c, pp, &o, i, src + (size_t)i * PG);
        }
        reput[r] = (now_ns() - t0) / N;
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_get_page(c, pp, &o, i, dst[i]);
        }
        getp[r] = (now_ns() - t0) / N;
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(N + i), old = key_oid(i);

            t0 = now_ns();
            tmem_put_page(c, pp, &o, N + i, src + (size_t)i * PG);
            sum += now_ns() - t0;
            tmem_flush_page(c, pp, &old, i);
        }
        put[r] = sum / N - timer_ns;
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(N + i);

            tmem_flush_page(c, pp, &o, N + i);
        }
        flush[r] = (now_ns() - t0) / N;

        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_put_page(c, ep, &o, i, src + (size_t)i * PG);
        }
        /* exclusive gets: each one also frees the page */
        t0 = now_ns();
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_get_page(c, ep, &o, i, dst[i]);
        }
        gete[r] = (now_ns() - t0) / N;

        t0 = now_ns();
        for (i = 0; i < N; i++) {
            TmemOid o = key_oid(i);

            tmem_put_page(c, zp, &o, i, zero);
        }
        pat[r] = (now_ns() - t0) / N;
        tmem_destroy_pool(c, zp);
        tmem_new_pool(c, TMEM_POOL_PERSISTENT, NULL, &zp);
    }
    /* the bytes must have made the round trip */
    for (i = 0; i < N; i += 1021) {
        if (memcmp(dst[i], src + (size_t)i * PG, PG)) {
            fprintf(stderr, "tmem-pool-bench: data mismatch\n");
            exit(1);
        }
    }
    t->fill = median(fill, ROUNDS);
    t->put = median(put, ROUNDS);
    t->reput = median(reput, ROUNDS);
    t->get_pers = median(getp, ROUNDS);
    t->get_eph = median(gete, ROUNDS);
    t->flush = median(flush, ROUNDS);
    t->pattern_put = median(pat, ROUNDS);
    tmem_client_free(c);
    tmem_store_free(s);
    g_free(zero);
}

/*
 * ns per put into an ephemeral store holding N pages: full (each put
 * evicts the least recently used page) and with room (the oldest page
 * flushed after each put, outside the timing).  @pools ephemeral pools
 * share the pages, so victim selection scans them all.
 */
static void bench_evict(unsigned pools, double *full, double *room)
{
    double f[ROUNDS], g[ROUNDS];
    int r, mode;

    for (mode = 0; mode < 2; mode++) {
        for (r = 0; r < ROUNDS; r++) {
            TmemStore *s = store((uint64_t)N * (mode ? 2 : 1) *
                                 TMEM_DATA_PAGE_COST);
            TmemClient *c = tmem_client_new(s, "bench", 0);
            uint32_t id[64], i;
            double sum = 0;

            for (i = 0; i < pools; i++) {
                tmem_new_pool(c, 0, NULL, &id[i]);
            }
            for (i = 0; i < N; i++) {
                TmemOid o = key_oid(i);

                tmem_put_page(c, id[i % pools], &o, i, src + (size_t)i * PG);
            }
            for (i = N; i < 2 * N; i++) {
                TmemOid o = key_oid(i), old = key_oid(i - N);
                double t0 = now_ns();

                tmem_put_page(c, id[i % pools], &o, i,
                              src + (size_t)(i - N) * PG);
                sum += now_ns() - t0;
                if (mode) {
                    tmem_flush_page(c, id[(i - N) % pools], &old, i - N);
                }
            }
            (mode ? g : f)[r] = sum / N - timer_ns;
            if (!mode) {
                TmemPoolInfo info;

                tmem_pool_get_info(c, id[0], &info);
                if (info.stats.evictions < N / pools - 1) {
                    fprintf(stderr, "tmem-pool-bench: no eviction?\n");
                    exit(1);
                }
            }
            tmem_client_free(c);
            tmem_store_free(s);
        }
    }
    *full = median(f, ROUNDS);
    *room = median(g, ROUNDS);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

typedef struct Meta {
    double acct_sparse, acct_dense, malloc_sparse, max_put_us;
    double data_malloc_overhead;
} Meta;

/*
 * Metadata per page for META_PAGES pattern pages (no data pages), one
 * page per object (the worst case) and 512 per object: as the store
 * accounts it, and as malloc sees it (mallinfo2 before/after).
 */
static void bench_meta(Meta *m)
{
    TmemStore *s;
    TmemClient *c;
    TmemStoreInfo si;
    uint8_t *page = g_malloc(PG);
    uint32_t p, i;
    size_t before;
    int dense;

    for (dense = 0; dense < 2; dense++) {
        double max_put = 0;

        malloc_trim(0);
        before = heap_in_use();
        s = store((uint64_t)META_PAGES * TMEM_META_COST);
        c = tmem_client_new(s, "meta", 0);
        tmem_new_pool(c, TMEM_POOL_PERSISTENT, NULL, &p);
        for (i = 0; i < META_PAGES; i++) {
            TmemOid o = { { dense ? i / 512 : i, 1, 2 } };
            double t0;

            page_fill_pattern(page, PG, 0x0101010101010101ULL * (i % 250 + 1));
            t0 = now_ns();
            tmem_put_page(c, p, &o, i, page);
            max_put = MAX(max_put, now_ns() - t0);
        }
        tmem_store_get_info(s, &si);
        if (dense) {
            m->acct_dense = (double)si.meta_bytes / si.stats.pages;
        } else {
            m->acct_sparse = (double)si.meta_bytes / si.stats.pages;
            m->malloc_sparse = (double)(heap_in_use() - before) /
                               si.stats.pages;
            m->max_put_us = max_put / 1000;
        }
        tmem_client_free(c);
        tmem_store_free(s);
    }

    /* data pages: what malloc adds to each 4 KiB page */
    malloc_trim(0);
    before = heap_in_use();
    s = store((uint64_t)N * TMEM_DATA_PAGE_COST);
    c = tmem_client_new(s, "meta", 0);
    tmem_new_pool(c, TMEM_POOL_PERSISTENT, NULL, &p);
    for (i = 0; i < N; i++) {
        TmemOid o = key_oid(i);

        tmem_put_page(c, p, &o, i, src + (size_t)i * PG);
    }
    tmem_store_get_info(s, &si);
    m->data_malloc_overhead = ((double)(heap_in_use() - before) -
                               (double)si.meta_bytes) / N - PG;
    tmem_client_free(c);
    tmem_store_free(s);
    g_free(page);
}

static void print_ops(const char *name, const Tput *t, double mc_to,
                      double mc_from, double mc_fresh, bool last)
{
    printf("  \"%s\": {\n"
           "    \"ns_per_page\": {\"put_new_key\": %.1f, "
           "\"put_overwrite\": %.1f, \"get_persistent\": %.1f, "
           "\"get_ephemeral_exclusive\": %.1f, \"flush_page\": %.1f, "
           "\"put_pattern_page\": %.1f, \"put_fill_empty_pool\": %.1f},\n"
           "    \"throughput_vs_memcpy\": {\"put_new_key\": %.2f, "
           "\"put_overwrite\": %.2f, \"get_persistent\": %.2f, "
           "\"get_ephemeral_exclusive\": %.2f, \"flush_page\": %.2f, "
           "\"put_pattern_page\": %.2f, "
           "\"put_fill_empty_pool_vs_malloc_memcpy\": %.2f}\n"
           "  }%s\n",
           name, t->put, t->reput, t->get_pers, t->get_eph, t->flush,
           t->pattern_put, t->fill, mc_to / t->put, mc_to / t->reput,
           mc_from / t->get_pers, mc_from / t->get_eph, mc_to / t->flush,
           mc_to / t->pattern_put, mc_fresh / t->fill, last ? "" : ",");
    fprintf(stderr,
            "  %s: put %.0f ns (%.2fx memcpy), overwrite %.0f (%.2fx), "
            "get %.0f (%.2fx), exclusive get %.0f (%.2fx), flush %.0f "
            "(%.2fx), pattern put %.0f; filling an empty pool %.0f "
            "(%.2fx malloc+memcpy)\n",
            name, t->put, mc_to / t->put, t->reput, mc_to / t->reput,
            t->get_pers, mc_from / t->get_pers, t->get_eph,
            mc_from / t->get_eph, t->flush, mc_to / t->flush,
            t->pattern_put, t->fill, mc_fresh / t->fill);
}

int main(void)
{
    double mc_to, mc_from, mc_fresh, ev1_full, ev1_room, ev16_full, ev16_room;
    Tput locked = { 0 }, single = { 0 };
    Meta m = { 0 };
    uint32_t i;
    GRand *rnd = g_rand_new_with_seed(1);

    src = g_malloc((size_t)N * PG);
    for (i = 0; i < N * PG / 4; i++) {
        ((uint32_t *)src)[i] = g_rand_int(rnd);
    }
    for (i = 0; i < N; i++) {
        dst[i] = g_malloc(PG);
        memset(dst[i], 1, PG);
    }
    g_rand_free(rnd);

    measure_timer();
    bench_memcpy(&mc_to, &mc_from, &mc_fresh);
    bench_ops(&locked);
    single_threaded = true;
    bench_ops(&single);
    single_threaded = false;
    bench_evict(1, &ev1_full, &ev1_room);
    bench_evict(16, &ev16_full, &ev16_room);
    bench_meta(&m);

    fprintf(stderr, "tmem pool, %d x 4 KiB random pages (%zu MiB working "
            "set): memcpy %.0f ns/page into pages, %.0f out of them, %.0f "
            "malloc+memcpy\n", N, (size_t)N * PG >> 20, mc_to, mc_from,
            mc_fresh);
    printf("{\n"
           "  \"working_set\": {\"pages\": %d, \"bytes\": %zu, "
           "\"pages_per_object\": 64},\n"
           "  \"timer_overhead_ns\": %.1f,\n"
           "  \"memcpy_ns_per_page\": {\"into_pages\": %.1f, "
           "\"out_of_pages\": %.1f, \"malloc_and_copy\": %.1f},\n",
           N, (size_t)N * PG, timer_ns, mc_to, mc_from, mc_fresh);
    print_ops("locked", &locked, mc_to, mc_from, mc_fresh, false);
    print_ops("single_threaded", &single, mc_to, mc_from, mc_fresh, false);
    printf("  \"eviction\": {\n"
           "    \"put_full_store_ns\": %.1f,\n"
           "    \"put_with_room_ns\": %.1f,\n"
           "    \"ns_per_evicted_page\": %.1f,\n"
           "    \"16_pools_put_full_store_ns\": %.1f,\n"
           "    \"16_pools_put_with_room_ns\": %.1f,\n"
           "    \"16_pools_ns_per_evicted_page\": %.1f\n"
           "  },\n"
           "  \"metadata_bytes_per_page\": {\n"
           "    \"pages\": %d,\n"
           "    \"accounted_one_page_per_object\": %.2f,\n"
           "    \"accounted_512_pages_per_object\": %.2f,\n"
           "    \"malloc_one_page_per_object\": %.2f,\n"
           "    \"malloc_overhead_per_data_page\": %.2f\n"
           "  },\n"
           "  \"max_put_latency_us_while_growing\": %.1f\n"
           "}\n",
           ev1_full, ev1_room, ev1_full - ev1_room,
           ev16_full, ev16_room, ev16_full - ev16_room,
           META_PAGES, m.acct_sparse, m.acct_dense, m.malloc_sparse,
           m.data_malloc_overhead, m.max_put_us);
    fprintf(stderr,
            "  eviction: %.0f ns per evicted page (1 pool), %.0f (16 pools)\n"
            "  metadata: %.2f bytes/page worst case (malloc: %.2f), %.2f "
            "dense; max put latency %.0f us\n",
            ev1_full - ev1_room, ev16_full - ev16_room, m.acct_sparse,
            m.malloc_sparse, m.acct_dense, m.max_put_us);
    for (i = 0; i < N; i++) {
        g_free(dst[i]);
    }
    g_free(src);
    return (int)(sink & 0);
}
