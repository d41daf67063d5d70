/*
 * Unit tests for memdedup/tmem/tmem-table, the keyed Robin Hood hash
 * table of the virtio-tmem pool, on its own: the keyed hash, placement
 * and Robin Hood displacement, backward-shift deletion, growth and
 * shrinking through rebuilds, and hashes that collide on purpose.
 *
 * The table holds entry numbers; here entry i has the hash h[i] chosen
 * by the test, and a key matches only its own entry number.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/tmem/tmem-table.h"

#define MAX_KEYS 20000

typedef struct Keys {
    TmemTable t;
    uint64_t bytes;
    uint64_t h[MAX_KEYS];
    bool live[MAX_KEYS];
    unsigned rebuilds;
    unsigned shrinks;
    unsigned exact_shrinks;          /* to used * 10 / 7 + 1 slots */
} Keys;

static bool fill_keys(void *opaque, uint32_t *slot, uint32_t size,
                      uint32_t *n)
{
    Keys *k = opaque;
    uint32_t i;

    for (i = 0; i < MAX_KEYS; i++) {
        if (!k->live[i]) {
            continue;
        }
        if (tmem_table_place(slot, size, k->h[i], i) != TMEM_TABLE_NONE) {
            return false;
        }
        (*n)++;
    }
    return true;
}

static bool is_idx(const void *opaque, uint32_t idx)
{
    return idx == *(const uint32_t *)opaque;
}

static uint32_t find(Keys *k, uint32_t i)
{
    return tmem_table_find(&k->t, k->h[i], is_idx, &i);
}

static Keys *keys_new(void)
{
    Keys *k = g_new0(Keys, 1);

    tmem_table_init(&k->t, &k->bytes);
    g_assert_cmpuint(k->t.size, ==, TMEM_TABLE_MIN);
    g_assert_cmpuint(k->bytes, ==, TMEM_TABLE_MIN * sizeof(uint32_t));
    return k;
}

static void keys_free(Keys *k)
{
    tmem_table_destroy(&k->t, &k->bytes);
    g_assert_cmpuint(k->bytes, ==, 0);
    g_free(k);
}

/* Insert entry @i with hash @h the way the pool does. */
static void ins(Keys *k, uint32_t i, uint64_t h)
{
    k->h[i] = h;
    k->live[i] = true;
    if (!tmem_table_insert(&k->t, h, i)) {
        tmem_table_rebuild(&k->t, tmem_table_grown(&k->t), fill_keys, k,
                           &k->bytes);
        k->rebuilds++;
    }
}

/* Remove entry @i, shrinking the way the pool does. */
static void del(Keys *k, uint32_t i)
{
    uint32_t pos = find(k, i);

    g_assert_cmpuint(pos, !=, TMEM_TABLE_NO_SLOT);
    k->live[i] = false;
    tmem_table_remove_at(&k->t, pos);
    if (tmem_table_too_sparse(&k->t)) {
        uint32_t want = MAX(TMEM_TABLE_MIN, k->t.used * 10 / 7 + 1);

        tmem_table_rebuild(&k->t, tmem_table_shrunk(&k->t), fill_keys, k,
                           &k->bytes);
        k->rebuilds++;
        k->shrinks++;
        k->exact_shrinks += k->t.size == want;
    }
}

/*
 * Every slot at the distance from its home it says, the Robin Hood
 * order (a slot's distance at most one more than its predecessor's),
 * every live key found exactly where it is and no other key found.
 */
static void check_table(Keys *k)
{
    const TmemTable *t = &k->t;
    uint32_t i, n = 0, live = 0;

    g_assert_cmpuint(k->bytes, ==, (uint64_t)t->size * sizeof(uint32_t));
    for (i = 0; i < t->size; i++) {
        uint32_t sl = t->slot[i], prev = t->slot[(i + t->size - 1) % t->size];
        uint32_t idx;

        if (!sl) {
            continue;
        }
        n++;
        idx = tmem_table_at(t, i);
        g_assert_cmpuint(idx, <, MAX_KEYS);
        g_assert_true(k->live[idx]);
        g_assert_cmpuint(tmem_slot_dist(sl), <=, TMEM_TABLE_DIST_MAX);
        g_assert_cmpuint((i + t->size - tmem_table_home(k->h[idx], t->size)) %
                         t->size, ==, tmem_slot_dist(sl));
        if (tmem_slot_dist(sl) > 0) {
            g_assert_cmpuint(prev, !=, 0);
        }
        if (prev) {
            g_assert_cmpuint(tmem_slot_dist(sl), <=, tmem_slot_dist(prev) + 1);
        }
        g_assert_cmpuint(find(k, idx), ==, i);
    }
    g_assert_cmpuint(n, ==, t->used);
    for (i = 0; i < MAX_KEYS; i++) {
        if (k->live[i]) {
            live++;
        } else if (k->h[i]) {
            g_assert_cmpuint(find(k, i), ==, TMEM_TABLE_NO_SLOT);
        }
    }
    g_assert_cmpuint(live, ==, t->used);
}

/* A hash whose home is @home in a table of 8 slots. */
static uint64_t home8(uint32_t home, uint32_t salt)
{
    return ((uint64_t)home << 61) | salt;
}

/* Every slot as "entry:distance", or "-" when empty. */
static void assert_layout(Keys *k, const char *want)
{
    GString *got = g_string_new(NULL);
    uint32_t i;

    for (i = 0; i < k->t.size; i++) {
        uint32_t sl = k->t.slot[i];

        if (i) {
            g_string_append_c(got, ' ');
        }
        if (sl) {
            g_string_append_printf(got, "%u:%u", tmem_table_at(&k->t, i),
                                   tmem_slot_dist(sl));
        } else {
            g_string_append_c(got, '-');
        }
    }
    g_assert_cmpstr(got->str, ==, want);
    g_string_free(got, true);
}

static void test_hash(void)
{
    TmemOid o = { { 1, 2, 3 } }, z = { { 0, 0, 0 } };
    uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    uint64_t hobj = tmem_hash_oid(k0, k1, &o);
    GHashTable *seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    uint64_t *hs = g_new(uint64_t, 100000);
    uint32_t i;

    /* the values of the pool before it was split: the hash is unchanged */
    g_assert_cmphex(hobj, ==, 0x8294b6c0dcf24eceULL);
    g_assert_cmphex(tmem_hash_oid(k0, k1, &z), ==, 0xf98d94f1d11e1b56ULL);
    g_assert_cmphex(tmem_hash_page(hobj, 7), ==, 0xd74db6284ba8f9b7ULL);
    /* keyed: another key, another hash */
    g_assert_cmphex(tmem_hash_oid(k0 + 1, k1, &o), !=, hobj);
    g_assert_cmphex(tmem_hash_oid(k0, k1 ^ (1ull << 63), &o), !=, hobj);
    /* every word of the oid counts */
    for (i = 0; i < 3; i++) {
        TmemOid p = o;

        p.v[i] ^= 1;
        g_assert_cmphex(tmem_hash_oid(k0, k1, &p), !=, hobj);
    }
    /* indices of one object never share a hash */
    for (i = 0; i < 100000; i++) {
        hs[i] = tmem_hash_page(hobj, i);
        g_assert_false(g_hash_table_contains(seen, &hs[i]));
        g_hash_table_add(seen, &hs[i]);
    }
    g_hash_table_destroy(seen);
    g_free(hs);
}

static void test_home(void)
{
    g_assert_cmpuint(tmem_table_home(0, 1000), ==, 0);
    g_assert_cmpuint(tmem_table_home(UINT64_MAX, 1000), ==, 999);
    g_assert_cmpuint(tmem_table_home(1ull << 63, 1000), ==, 500);
    /* the low 32 bits do not count */
    g_assert_cmpuint(tmem_table_home(0xffffffffULL, 1000), ==, 0);
    g_assert_cmpuint(tmem_table_home(home8(5, 12345), 8), ==, 5);
}

static void test_robin_hood(void)
{
    Keys *k = keys_new();

    ins(k, 1, home8(0, 1));          /* A */
    ins(k, 2, home8(0, 2));          /* B */
    ins(k, 3, home8(1, 3));          /* C */
    ins(k, 4, home8(2, 4));          /* D */
    assert_layout(k, "1:0 2:1 3:1 4:1 - - - -");
    check_table(k);

    /* E (home 0) is further from home than C and D: it takes C's slot */
    ins(k, 5, home8(0, 5));
    assert_layout(k, "1:0 2:1 5:2 3:2 4:2 - - -");
    check_table(k);

    /* removing A shifts the whole run back by one */
    del(k, 1);
    assert_layout(k, "2:0 5:1 3:1 4:1 - - - -");
    check_table(k);

    /* probes wrap around the end: G (home 7) displaces B at slot 0 */
    ins(k, 6, home8(7, 6));          /* F */
    ins(k, 7, home8(7, 7));          /* G */
    assert_layout(k, "7:1 5:1 2:2 3:2 4:2 - - 6:0");
    g_assert_cmpuint(k->t.used, ==, 6);
    check_table(k);

    /* and the shift back wraps too */
    del(k, 6);
    assert_layout(k, "5:0 2:1 3:1 4:1 - - - 7:0");
    check_table(k);

    /* a miss stops at the first slot nearer its home than the probe */
    k->h[8] = home8(1, 8);
    g_assert_cmpuint(find(k, 8), ==, TMEM_TABLE_NO_SLOT);
    g_assert_cmpuint(k->rebuilds, ==, 0);
    keys_free(k);
}

static void test_grow_shrink(void)
{
    Keys *k = keys_new();
    uint64_t x = 0x1234567;
    uint32_t i, max_size;

    /* 7 entries fit in 8 slots, the 8th makes the table grow by 1/5 */
    for (i = 0; i < 7; i++) {
        ins(k, i, home8(i, i + 1));
    }
    g_assert_cmpuint(k->t.size, ==, 8);
    g_assert_cmpuint(k->rebuilds, ==, 0);
    ins(k, 7, home8(7, 8));
    g_assert_cmpuint(k->t.size, ==, 8 + 8 / 5 + 1);
    g_assert_cmpuint(k->rebuilds, ==, 1);
    check_table(k);

    for (i = 8; i < MAX_KEYS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ins(k, i, x);
        g_assert_cmpuint((uint64_t)k->t.used * 8, <=, (uint64_t)k->t.size * 7);
        if (i % 1999 == 0) {
            check_table(k);
        }
    }
    check_table(k);
    max_size = k->t.size;
    g_assert_cmpuint(max_size, >=, MAX_KEYS * 8 / 7);
    g_assert_cmpuint(max_size, <=, MAX_KEYS * 8 / 7 * 6 / 5 + 1);

    /* remove all but 100, in an order unrelated to the insertions */
    for (i = 0; i < MAX_KEYS - 100; i++) {
        del(k, (i * 7919u) % MAX_KEYS);
        if (k->t.size > TMEM_TABLE_MIN) {
            g_assert_cmpuint((uint64_t)k->t.used * 8, >=,
                             (uint64_t)k->t.size * 3);
        }
        if (i % 2001 == 0) {
            check_table(k);
        }
    }
    check_table(k);
    /* random hashes at a load of 7/10: no probe overflows */
    g_assert_cmpuint(k->shrinks, >=, 8);
    g_assert_cmpuint(k->exact_shrinks, ==, k->shrinks);
    g_assert_cmpuint(k->t.used, ==, 100);
    g_assert_cmpuint(k->t.size, <, max_size / 50);

    /* and down to the minimum */
    for (i = 0; i < MAX_KEYS; i++) {
        if (k->live[i]) {
            del(k, i);
        }
    }
    g_assert_cmpuint(k->t.used, ==, 0);
    g_assert_cmpuint(k->t.size, ==, TMEM_TABLE_MIN);
    check_table(k);
    keys_free(k);
}

/* Entries whose hashes share their top 32 bits share a home at any size */
static void test_same_home(void)
{
    Keys *k = keys_new();
    uint32_t i, pos;

    for (i = 0; i <= TMEM_TABLE_DIST_MAX; i++) {
        ins(k, i, 0xabcdef0100000000ULL | (i + 1));
    }
    check_table(k);
    pos = find(k, 0);
    for (i = 0; i <= TMEM_TABLE_DIST_MAX; i++) {
        uint32_t p = find(k, i);

        /* a run in insertion order, at distances 0..62 */
        g_assert_cmpuint(p, ==, (pos + i) % k->t.size);
        g_assert_cmpuint(tmem_slot_dist(k->t.slot[p]), ==, i);
    }

    /* one more cannot be placed: tmem_table_place gives it back */
    {
        uint32_t *copy = g_new(uint32_t, k->t.size);

        memcpy(copy, k->t.slot, k->t.size * sizeof(uint32_t));
        g_assert_cmpuint(tmem_table_place(copy, k->t.size,
                                          0xabcdef01ffffffffULL, 999),
                         ==, 999);
        g_assert_cmpmem(copy, k->t.size * sizeof(uint32_t),
                        k->t.slot, k->t.size * sizeof(uint32_t));
        g_free(copy);
    }

    /* removing the head moves every other one a slot closer */
    del(k, 0);
    for (i = 1; i <= TMEM_TABLE_DIST_MAX; i++) {
        g_assert_cmpuint(tmem_slot_dist(k->t.slot[find(k, i)]), ==, i - 1);
    }
    check_table(k);
    keys_free(k);
}

/*
 * Hashes close enough to share a home in tables up to 1024 slots: the
 * 64th such entry overflows a probe long before the table is full, and
 * the rebuild grows the table until the entries spread out.
 */
static void test_colliding(void)
{
    Keys *k = keys_new();
    uint32_t i, n = 70;

    for (i = 0; i < n; i++) {
        ins(k, i, ((0x40000000ULL + i * (1ull << 15)) << 32) | (i * 77 + 1));
    }
    check_table(k);
    g_assert_cmpuint(k->t.used, ==, n);
    /* much bigger than the load factor asks for (81 slots) */
    g_assert_cmpuint(k->t.size, >, 1024);
    for (i = 0; i < n; i++) {
        g_assert_cmpuint(find(k, i), !=, TMEM_TABLE_NO_SLOT);
    }
    /* add unrelated entries among them */
    for (i = n; i < n + 500; i++) {
        ins(k, i, (uint64_t)i * 0x9e3779b97f4a7c15ULL + 1);
    }
    check_table(k);
    /* shrinking past 1024 slots needs the probe-overflow growth again */
    for (i = n; i < n + 500; i++) {
        del(k, i);
    }
    check_table(k);
    g_assert_cmpuint(k->t.size, >, 1024);
    for (i = 0; i < n; i++) {
        del(k, i);
    }
    check_table(k);
    g_assert_cmpuint(k->t.size, ==, TMEM_TABLE_MIN);
    keys_free(k);
}

typedef struct Retry {
    uint32_t tried[16];
    unsigned n;
} Retry;

/* Fails (without placing anything) until the table has 300 slots */
static bool fill_until_300(void *opaque, uint32_t *slot, uint32_t size,
                           uint32_t *n)
{
    Retry *r = opaque;
    uint32_t i;

    g_assert_cmpuint(r->n, <, G_N_ELEMENTS(r->tried));
    r->tried[r->n++] = size;
    for (i = 0; i < size; i++) {
        g_assert_cmpuint(slot[i], ==, 0);
    }
    if (size < 300) {
        return false;
    }
    g_assert_cmpuint(tmem_table_place(slot, size, 1ull << 63, 5), ==,
                     TMEM_TABLE_NONE);
    *n = 1;
    return true;
}

/* A rebuild whose fill fails is retried 1/5 bigger each time */
static void test_rebuild_retry(void)
{
    static const uint32_t want[] = { 100, 121, 146, 176, 212, 255, 307 };
    Keys *k = keys_new();
    Retry r = { { 0 }, 0 };
    unsigned i;

    tmem_table_rebuild(&k->t, 100, fill_until_300, &r, &k->bytes);
    g_assert_cmpuint(r.n, ==, G_N_ELEMENTS(want));
    for (i = 0; i < r.n; i++) {
        g_assert_cmpuint(r.tried[i], ==, want[i]);
    }
    g_assert_cmpuint(k->t.size, ==, 307);
    g_assert_cmpuint(k->t.used, ==, 1);
    g_assert_cmpuint(k->bytes, ==, 307 * sizeof(uint32_t));
    k->h[5] = 1ull << 63;
    k->live[5] = true;
    check_table(k);
    g_assert_cmpuint(find(k, 5), ==, 153);
    keys_free(k);
}

/* tmem_table_set_at keeps the distance, only the entry changes */
static void test_set_at(void)
{
    Keys *k = keys_new();
    uint32_t pos;

    ins(k, 1, home8(3, 1));
    ins(k, 2, home8(3, 2));
    pos = find(k, 2);
    g_assert_cmpuint(pos, ==, 4);
    k->h[9] = k->h[2];
    k->live[9] = true;
    k->live[2] = false;
    tmem_table_set_at(&k->t, pos, 9);
    assert_layout(k, "- - - 1:0 9:1 - - -");
    g_assert_cmpuint(find(k, 9), ==, 4);
    g_assert_cmpuint(find(k, 2), ==, TMEM_TABLE_NO_SLOT);
    check_table(k);
    keys_free(k);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tmem-table/hash", test_hash);
    g_test_add_func("/tmem-table/home", test_home);
    g_test_add_func("/tmem-table/robin-hood", test_robin_hood);
    g_test_add_func("/tmem-table/grow-shrink", test_grow_shrink);
    g_test_add_func("/tmem-table/same-home", test_same_home);
    g_test_add_func("/tmem-table/colliding", test_colliding);
    g_test_add_func("/tmem-table/rebuild-retry", test_rebuild_retry);
    g_test_add_func("/tmem-table/set-at", test_set_at);
    return g_test_run();
}
