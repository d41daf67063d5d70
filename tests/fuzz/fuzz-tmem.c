/*
 * libFuzzer target: the virtio-tmem request layer and page pool under a
 * hostile guest.  The input is a sequence of requests (well-formed,
 * misshapen or raw header bytes, flat or scattered over iovecs) from two
 * clients of one small store, mixed with host actions (resize, quotas,
 * reset, unplug, a migration round trip).  After every step the store
 * must be consistent (tmem_store_check), and a model of what the guest
 * put must agree with what it gets back: a hit returns the bytes last
 * put under that key, nothing comes back after a flush, and persistent
 * pages are never lost.  Everything is freed at the end, so LeakSanitizer
 * sees any leak.
 *
 * Seeds: tests/fuzz/make-seeds.py DIR tmem.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memdedup/classify/page-classify.h"
#include "memdedup/tmem/tmem-pool.h"
#include "memdedup/tmem/tmem-proto.h"

#define PG TMEM_PAGE_SIZE
#define SLOTS 6                  /* max pools per client */
#define LIMIT_PAGES 24
#define NSHARED (2 * SLOTS)      /* live shared attachments at most */
#define MAX_MODEL_POOLS 1024     /* NEW_POOLs in a 4 KiB input, at most */

/* What a model page holds: a pattern value or pseudo-random data. */
typedef struct ModelKey {
    int mp;                      /* model pool */
    TmemOid oid;
    uint32_t index;
} ModelKey;

typedef struct ModelVal {
    bool random;
    uint64_t v;                  /* pattern, or seed of the data */
} ModelVal;

typedef struct FClient {
    TmemClient *c;
    int mp[SLOTS];               /* model pool of each id, -1: free */
    int shared_of[SLOTS];        /* Fuzz.shared index, or -1 */
} FClient;

typedef struct SharedPool {
    uint8_t uuid[TMEM_UUID_SIZE];
    int mp;
    int refs;                    /* 0: slot free */
} SharedPool;

typedef struct Fuzz {
    const uint8_t *p, *end;
    TmemStore *s;
    FClient cl[2];
    GHashTable *pages;           /* ModelKey -> ModelVal */
    bool persistent[MAX_MODEL_POOLS];
    int next_mp;
    SharedPool shared[NSHARED];
    uint64_t seed;
} Fuzz;

static uint8_t byte(Fuzz *f)
{
    return f->p < f->end ? *f->p++ : 0;
}

static guint key_hash(gconstpointer k)
{
    const ModelKey *mk = k;

    return mk->mp * 31 + (guint)mk->oid.v[0] * 7 + (guint)mk->oid.v[1] +
           (guint)mk->oid.v[2] + mk->index * 131;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
    return !memcmp(a, b, sizeof(ModelKey));
}

static void make_page(uint8_t *buf, const ModelVal *v)
{
    uint64_t x = v->v * 0x9e3779b97f4a7c15ULL + 1;
    size_t i;

    if (!v->random) {
        page_fill_pattern(buf, PG, v->v);
        return;
    }
    for (i = 0; i < PG; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    buf[0] = 1;
    buf[8] = 2;
}

static void model_drop_pool(Fuzz *f, int mp)
{
    GHashTableIter it;
    gpointer k;

    g_hash_table_iter_init(&it, f->pages);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (((ModelKey *)k)->mp == mp) {
            g_hash_table_iter_remove(&it);
        }
    }
}

static void model_drop_object(Fuzz *f, int mp, const TmemOid *oid)
{
    GHashTableIter it;
    gpointer k;

    g_hash_table_iter_init(&it, f->pages);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        ModelKey *mk = k;

        if (mk->mp == mp && !memcmp(&mk->oid, oid, sizeof(*oid))) {
            g_hash_table_iter_remove(&it);
        }
    }
}

/* The model side of releasing pool id @id of client @fc. */
static void model_detach(Fuzz *f, FClient *fc, uint32_t id)
{
    int u = fc->shared_of[id];

    if (u >= 0) {
        if (--f->shared[u].refs == 0) {
            model_drop_pool(f, f->shared[u].mp);
        }
    } else {
        model_drop_pool(f, fc->mp[id]);
    }
    fc->mp[id] = -1;
    fc->shared_of[id] = -1;
}

static void check(Fuzz *f)
{
    const char *why = tmem_store_check(f->s);

    if (why) {
        fprintf(stderr, "inconsistent store: %s\n", why);
        abort();
    }
}

static void check_stats(TmemClient *c)
{
    TmemClientInfo ci;

    tmem_client_get_info(c, &ci);
    if (ci.stats.gets != ci.stats.hits + ci.stats.misses ||
        ci.stats.puts_refused > ci.stats.puts) {
        abort();
    }
}

/* Every persistent page the model knows must be there, intact. */
static void check_persistent(Fuzz *f, FClient *fc, TmemClient *via)
{
    uint8_t got[PG], want[PG];
    GHashTableIter it;
    gpointer k, v;
    uint32_t id;

    for (id = 0; id < SLOTS; id++) {
        int mp = fc->mp[id];

        if (mp < 0 || !f->persistent[mp]) {
            continue;
        }
        g_hash_table_iter_init(&it, f->pages);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            ModelKey *mk = k;

            if (mk->mp != mp) {
                continue;
            }
            if (tmem_get_page(via, id, &mk->oid, mk->index, got) !=
                TMEM_S_OK) {
                fprintf(stderr, "persistent page lost\n");
                abort();
            }
            make_page(want, v);
            if (memcmp(got, want, PG)) {
                abort();
            }
        }
    }
}

/*
 * Run one request (flat or through iovecs) and hold the model to it.
 * @hdr: VIRTIO_TMEM_HDR_SIZE bytes; @hdr_len what the device is told.
 */
static void request(Fuzz *f, FClient *fc, const uint8_t *hdr, size_t hdr_len,
                    const ModelVal *content, size_t in_len, size_t out_len,
                    bool iov, uint8_t split)
{
    static uint8_t in[PG + 64], out[PG + 64];
    TmemReqHeader h;
    TmemStatus st;
    size_t written = 0;
    ModelKey mk;
    int mp;

    if (content) {
        make_page(in, content);
    } else {
        memset(in, 0x5a, sizeof(in));
    }
    memset(out, 0xee, sizeof(out));
    if (!iov) {
        /* exact-size copies, so ASan sees any access past the end */
        void *ein = g_memdup2(in, in_len);
        void *eout = g_malloc(MAX(out_len, 1));
        void *ehdr = g_memdup2(hdr, hdr_len);

        st = tmem_handle_request(fc->c, ehdr, hdr_len, ein, in_len, eout,
                                 out_len, &written);
        memcpy(out, eout, out_len);
        g_free(ein);
        g_free(eout);
        g_free(ehdr);
    } else {
        /* header + data readable, data + status writable, cut at @split */
        static uint8_t rbuf[VIRTIO_TMEM_HDR_SIZE + PG + 64];
        static uint8_t wbuf[PG + 64 + 1];
        size_t rlen, wlen = out_len + 1, rcut, wcut;
        struct iovec rd[3], wr[2];
        size_t used;

        if (hdr_len != VIRTIO_TMEM_HDR_SIZE) {
            in_len = 0;      /* else data bytes would complete the header */
        }
        rlen = hdr_len + in_len;
        rcut = split * rlen / 256;
        wcut = split * wlen / 256;

        memcpy(rbuf, hdr, MIN(hdr_len, (size_t)VIRTIO_TMEM_HDR_SIZE));
        memcpy(rbuf + hdr_len, in, in_len);
        rd[0] = (struct iovec) { rbuf, rcut };
        rd[1] = (struct iovec) { rbuf + rcut, 0 };
        rd[2] = (struct iovec) { rbuf + rcut, rlen - rcut };
        memset(wbuf, 0xee, sizeof(wbuf));
        wr[0] = (struct iovec) { wbuf, wcut };
        wr[1] = (struct iovec) { wbuf + wcut, wlen - wcut };
        used = tmem_handle_iov(fc->c, rd, 3, wr, 2, &st);
        if (used != wlen || wbuf[wlen - 1] != st) {
            abort();
        }
        memcpy(out, wbuf, out_len);
        written = st == TMEM_S_OK || st == TMEM_S_MISS ? out_len : 0;
        if (hdr_len < VIRTIO_TMEM_HDR_SIZE) {
            hdr_len = 0;     /* the device saw no header */
        }
    }
    if ((unsigned)st > TMEM_S_DEVICE_ERROR || written > out_len) {
        abort();
    }
    if (st == TMEM_S_INVALID || st == TMEM_S_UNSUPPORTED ||
        hdr_len != VIRTIO_TMEM_HDR_SIZE) {
        return;              /* refused before anything happened */
    }
    tmem_req_header_decode(hdr, &h);
    mp = h.pool_id < SLOTS ? fc->mp[h.pool_id] : -1;
    if (st == TMEM_S_BAD_POOL) {
        if (mp >= 0) {
            abort();         /* a live pool was called bad */
        }
        return;
    }
    if (mp < 0 && h.op != VIRTIO_TMEM_OP_NEW_POOL) {
        abort();             /* a dead pool id was accepted */
    }
    mk.mp = mp;
    mk.oid = h.oid;
    mk.index = h.index;

    switch (h.op) {
    case VIRTIO_TMEM_OP_NEW_POOL: {
        uint32_t id;
        int u = -1;

        if (st != TMEM_S_OK) {
            return;
        }
        id = out[0] | out[1] << 8 | out[2] << 16 | (uint32_t)out[3] << 24;
        if (id >= SLOTS || fc->mp[id] >= 0 || written != 8) {
            abort();
        }
        if (f->next_mp >= MAX_MODEL_POOLS) {
            abort();         /* cannot happen with the input size limit */
        }
        if (h.flags & TMEM_POOL_SHARED) {
            int free_u = -1;

            for (u = 0; u < NSHARED; u++) {
                if (f->shared[u].refs &&
                    !memcmp(f->shared[u].uuid, h.uuid, TMEM_UUID_SIZE)) {
                    break;
                }
                if (!f->shared[u].refs && free_u < 0) {
                    free_u = u;
                }
            }
            if (u == NSHARED) {
                u = free_u;
                memcpy(f->shared[u].uuid, h.uuid, TMEM_UUID_SIZE);
                f->shared[u].mp = f->next_mp++;
            }
            f->shared[u].refs++;
            fc->mp[id] = f->shared[u].mp;
        } else {
            fc->mp[id] = f->next_mp++;
        }
        fc->shared_of[id] = u;
        f->persistent[fc->mp[id]] = h.flags & TMEM_POOL_PERSISTENT;
        return;
    }
    case VIRTIO_TMEM_OP_DESTROY_POOL:
        model_detach(f, fc, h.pool_id);
        return;
    case VIRTIO_TMEM_OP_PUT_PAGE:
        if (st == TMEM_S_OK) {
            ModelKey *k = g_memdup2(&mk, sizeof(mk));

            g_hash_table_replace(f->pages, k, g_memdup2(content,
                                                        sizeof(*content)));
        } else if (st == TMEM_S_NOSPACE) {
            g_hash_table_remove(f->pages, &mk);
        } else {
            abort();
        }
        return;
    case VIRTIO_TMEM_OP_GET_PAGE: {
        ModelVal *v = g_hash_table_lookup(f->pages, &mk);
        uint8_t want[PG];

        if (st == TMEM_S_MISS) {
            if (v && f->persistent[mp]) {
                abort();     /* persistent page lost */
            }
            for (size_t i = 0; i < PG; i++) {
                if (out[i]) {
                    abort(); /* a miss must zero the buffer */
                }
            }
            if (v) {
                g_hash_table_remove(f->pages, &mk);   /* was evicted */
            }
            return;
        }
        if (st != TMEM_S_OK || !v) {
            abort();         /* a page came back from nowhere */
        }
        make_page(want, v);
        if (memcmp(out, want, PG)) {
            abort();         /* wrong bytes */
        }
        if (!f->persistent[mp] && fc->shared_of[h.pool_id] < 0) {
            g_hash_table_remove(f->pages, &mk);   /* exclusive get */
        }
        return;
    }
    case VIRTIO_TMEM_OP_FLUSH_PAGE:
        if (st != TMEM_S_OK) {
            abort();
        }
        g_hash_table_remove(f->pages, &mk);
        return;
    case VIRTIO_TMEM_OP_FLUSH_OBJECT:
        if (st != TMEM_S_OK) {
            abort();
        }
        model_drop_object(f, mp, &h.oid);
        return;
    }
    abort();                 /* an unknown op succeeded */
}

/* One structured request from the input. */
static void fuzz_request(Fuzz *f, uint8_t cmd)
{
    static const uint32_t ops[] = {
        VIRTIO_TMEM_OP_NEW_POOL, VIRTIO_TMEM_OP_DESTROY_POOL,
        VIRTIO_TMEM_OP_PUT_PAGE, VIRTIO_TMEM_OP_GET_PAGE,
        VIRTIO_TMEM_OP_FLUSH_PAGE, VIRTIO_TMEM_OP_FLUSH_OBJECT,
    };
    FClient *fc = &f->cl[cmd & 1];
    unsigned sel = (cmd >> 1) & 7;
    uint8_t b_pool = byte(f), b_obj = byte(f), b_idx = byte(f);
    uint8_t b_flags = byte(f), b_content = byte(f), b_shape = byte(f);
    uint8_t hdr[VIRTIO_TMEM_HDR_SIZE];
    size_t hdr_len = VIRTIO_TMEM_HDR_SIZE, in_len = 0, out_len = 0;
    ModelVal content;
    TmemReqHeader h = { 0 };
    unsigned i;

    if (sel < 6) {
        h.op = ops[sel];
        h.pool_id = b_pool == 0xff ? UINT32_MAX : b_pool % (SLOTS + 2);
        if (h.op != VIRTIO_TMEM_OP_NEW_POOL &&
            h.op != VIRTIO_TMEM_OP_DESTROY_POOL) {
            h.oid.v[0] = b_obj & 7;
            h.oid.v[1] = b_obj & 8 ? 0x1234 : 0;
            h.oid.v[2] = b_obj & 16 ? UINT64_MAX : 0;
            if (h.op != VIRTIO_TMEM_OP_FLUSH_OBJECT) {
                h.index = b_idx & 0x80 ? UINT32_MAX - (b_idx & 7)
                                       : b_idx % 24;
            }
        }
        if (h.op == VIRTIO_TMEM_OP_NEW_POOL) {
            h.pool_id = 0;
            h.flags = b_flags & 3;
            if (h.flags & TMEM_POOL_SHARED) {
                h.uuid[0] = (b_flags >> 2) & 3;
                h.uuid[1] = b_flags & 0x80 ? 0 : 0x55;   /* may be zero */
            }
        }
    } else if (sel == 6) {
        h.op = b_flags | (uint32_t)b_obj << 8;       /* mostly unknown */
        h.pool_id = b_pool;
    }
    tmem_req_header_encode(&h, hdr);
    if (sel == 7) {
        for (i = 0; i < sizeof(hdr); i++) {
            hdr[i] = byte(f);
        }
        tmem_req_header_decode(hdr, &h);
    }

    switch (h.op) {
    case VIRTIO_TMEM_OP_PUT_PAGE:
        in_len = PG;
        break;
    case VIRTIO_TMEM_OP_GET_PAGE:
        out_len = PG;
        break;
    case VIRTIO_TMEM_OP_NEW_POOL:
        out_len = VIRTIO_TMEM_NEW_POOL_RESULT_SIZE;
        break;
    }
    switch (b_shape & 15) {
    case 10:
        hdr_len = b_shape >> 4 == 0 ? 0 : VIRTIO_TMEM_HDR_SIZE - 1;
        break;
    case 11:
        in_len += 1 + (b_shape >> 4);
        break;
    case 12: {
        size_t t = in_len;

        in_len = out_len;
        out_len = t;
        break;
    }
    case 13:
        out_len = b_shape >> 4;
        break;
    case 14:
        in_len = in_len ? PG - 1 : 8;
        break;
    case 15:
        hdr[VIRTIO_TMEM_HDR_FLAGS + (b_shape >> 6)] ^= 1 + (b_shape >> 4);
        break;
    }
    if (b_content < 64) {
        content.random = false;
        content.v = b_content ? 0x0101010101010101ULL * b_content : 0;
    } else {
        content.random = true;
        content.v = f->seed++;
    }
    request(f, fc, hdr, hdr_len, &content, in_len, out_len,
            b_shape & 0x10, b_obj ^ b_idx);
}

static void client_init(Fuzz *f, FClient *fc, int n)
{
    unsigned i;

    fc->c = tmem_client_new(f->s, n ? "b" : "a", n ? 10 * TMEM_DATA_PAGE_COST
                                                   : 0);
    /* client b did not negotiate shared pools */
    tmem_client_set_features(fc->c, n ? 1ull << VIRTIO_TMEM_F_PERSISTENT
                                      : tmem_host_features(f->s));
    for (i = 0; i < SLOTS; i++) {
        fc->mp[i] = -1;
        fc->shared_of[i] = -1;
    }
}

static void client_detach_all(Fuzz *f, FClient *fc)
{
    uint32_t i;

    for (i = 0; i < SLOTS; i++) {
        if (fc->mp[i] >= 0) {
            model_detach(f, fc, i);
        }
    }
}

typedef struct Saved {
    GArray *pools;
    GArray *pages;
} Saved;

typedef struct SavedPage {
    uint32_t pool;
    TmemOid oid;
    uint32_t index;
    const void *data;
    uint64_t pattern;
} SavedPage;

static void save_pool(const TmemPoolInfo *info, void *opaque)
{
    g_array_append_val(((Saved *)opaque)->pools, *info);
}

static int save_page(uint32_t pool, const TmemOid *oid, uint32_t index,
                     const void *data, uint64_t pattern, void *opaque)
{
    SavedPage sp = { pool, *oid, index,
                     data ? g_memdup2(data, PG) : NULL, pattern };

    g_array_append_val(((Saved *)opaque)->pages, sp);
    return 0;
}

/* Migrate client a to a new store and check what arrives. */
static void migrate(Fuzz *f)
{
    TmemStoreConfig cfg = { .allow_shared = true,
                            .max_pools_per_client = SLOTS,
                            .hash_key = { 3, 4 } };
    const char *why;
    TmemStoreInfo si;
    TmemStore *ds;
    TmemClient *dc;
    Saved sv = { g_array_new(false, false, sizeof(TmemPoolInfo)),
                 g_array_new(false, false, sizeof(SavedPage)) };
    FClient *fc = &f->cl[0];
    bool ok = true;
    guint i;

    /* a destination as big as the source's contents */
    tmem_store_get_info(f->s, &si);
    cfg.size = MAX(si.limit, si.ephemeral_bytes + si.persistent_bytes);
    ds = tmem_store_new(&cfg, &why);
    dc = tmem_client_new(ds, "dst", 0);
    tmem_client_foreach_pool(fc->c, save_pool, &sv);
    tmem_client_foreach_persistent_page(fc->c, save_page, &sv);
    for (i = 0; i < sv.pools->len; i++) {
        TmemPoolInfo *pi = &g_array_index(sv.pools, TmemPoolInfo, i);

        if (tmem_restore_pool(dc, pi->pool_id, pi->flags, pi->uuid) !=
            TMEM_S_OK) {
            abort();
        }
    }
    for (i = 0; i < sv.pages->len; i++) {
        SavedPage *sp = &g_array_index(sv.pages, SavedPage, i);

        /* the destination has the source's limit: everything fits */
        ok &= tmem_restore_page(dc, sp->pool, &sp->oid, sp->index, sp->data,
                                sp->pattern) == TMEM_S_OK;
        g_free((void *)sp->data);
    }
    if (!ok) {
        abort();
    }
    if (tmem_store_check(ds)) {
        abort();
    }
    check_persistent(f, fc, dc);
    g_array_free(sv.pools, true);
    g_array_free(sv.pages, true);
    tmem_client_free(dc);
    tmem_store_free(ds);
}

static void host_action(Fuzz *f, uint8_t cmd)
{
    FClient *fc = &f->cl[cmd & 1];
    uint8_t arg = byte(f);

    switch ((cmd >> 1) & 7) {
    case 0:                                  /* device reset */
        tmem_client_reset(fc->c);
        client_detach_all(f, fc);
        tmem_client_set_features(fc->c, (cmd & 1) ?
                                 1ull << VIRTIO_TMEM_F_PERSISTENT :
                                 tmem_host_features(f->s));
        break;
    case 1:                                  /* resize the store */
        tmem_store_set_limit(f->s, (uint64_t)(arg % 40) *
                                   TMEM_DATA_PAGE_COST + (arg >> 6) * 64);
        break;
    case 2:                                  /* client quota */
        tmem_client_set_quota(fc->c, (uint64_t)(arg % 20) *
                                     TMEM_DATA_PAGE_COST);
        break;
    case 3:                                  /* pool quota */
        tmem_store_set_pool_quota(f->s, (uint64_t)(arg % 8) *
                                        TMEM_DATA_PAGE_COST);
        break;
    case 4:
        if (f->cl[0].c) {
            migrate(f);
        }
        break;
    case 5:                                  /* unplug and replug */
        client_detach_all(f, fc);
        tmem_client_free(fc->c);
        client_init(f, fc, cmd & 1);
        break;
    default:
        check_persistent(f, &f->cl[0], f->cl[0].c);
        check_persistent(f, &f->cl[1], f->cl[1].c);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TmemStoreConfig cfg = { .size = LIMIT_PAGES * TMEM_DATA_PAGE_COST,
                            .allow_shared = true,
                            .max_pools_per_client = SLOTS,
                            .hash_key = { 1, 2 } };
    const char *why;
    Fuzz f = { .p = data, .end = data + size };

    /* at most 4 KiB of it: bounds the model's pool numbering */
    f.end = data + MIN(size, (size_t)4096);
    f.s = tmem_store_new(&cfg, &why);
    f.pages = g_hash_table_new_full(key_hash, key_equal, g_free, g_free);
    client_init(&f, &f.cl[0], 0);
    client_init(&f, &f.cl[1], 1);

    while (f.p < f.end) {
        uint8_t cmd = byte(&f);

        if (cmd & 0x80) {
            host_action(&f, cmd);
        } else {
            fuzz_request(&f, cmd);
        }
        check(&f);
        check_stats(f.cl[0].c);
        check_stats(f.cl[1].c);
    }
    check_persistent(&f, &f.cl[0], f.cl[0].c);
    check_persistent(&f, &f.cl[1], f.cl[1].c);

    tmem_client_free(f.cl[0].c);
    tmem_client_free(f.cl[1].c);
    if (tmem_store_clients(f.s)) {
        abort();
    }
    tmem_store_free(f.s);
    g_hash_table_destroy(f.pages);
    return 0;
}
