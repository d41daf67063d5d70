/*
 * Host page pool of virtio-tmem: the store ("-object memx-tmem-store")
 * and its clients.  Creating and freeing them, their limit and quotas,
 * configuration-change notifiers, the pool ids of a client (new, shared
 * and destroyed pools) and the statistics of stores, clients and pools.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-pool-internal.h"

/* ---- pool ids ---- */

static bool uuid_is_zero(const uint8_t *uuid)
{
    static const uint8_t zero[TMEM_UUID_SIZE];

    return !uuid || !memcmp(uuid, zero, TMEM_UUID_SIZE);
}

TmemStatus tmem_new_pool_locked(TmemClient *c, uint32_t flags,
                                const uint8_t *uuid, uint32_t want,
                                uint32_t *pool_id)
{
    TmemStore *s = c->store;
    TmemPool *p = NULL;
    uint32_t id;

    if (flags & ~(TMEM_POOL_PERSISTENT | TMEM_POOL_SHARED)) {
        return TMEM_S_INVALID;
    }
    if ((flags & TMEM_POOL_PERSISTENT) && s->ephemeral_only) {
        return TMEM_S_UNSUPPORTED;
    }
    if (flags & TMEM_POOL_SHARED) {
        if (!s->allow_shared || (flags & TMEM_POOL_PERSISTENT)) {
            return TMEM_S_UNSUPPORTED;
        }
        if (uuid_is_zero(uuid)) {
            return TMEM_S_INVALID;
        }
    }
    if (want != UINT32_MAX) {
        if (want >= c->max_pools || c->pool[want]) {
            return TMEM_S_BAD_POOL;
        }
        id = want;
    } else {
        for (id = 0; id < c->max_pools && c->pool[id]; id++) {
            continue;
        }
        if (id == c->max_pools) {
            return TMEM_S_NOSPACE;
        }
    }
    if (flags & TMEM_POOL_SHARED) {
        for (p = s->pools; p; p = p->next) {
            if ((p->flags & TMEM_POOL_SHARED) &&
                !memcmp(p->uuid, uuid, TMEM_UUID_SIZE)) {
                break;
            }
        }
    }
    if (!p) {
        p = tmem_pool_create(s, (flags & TMEM_POOL_SHARED) ? NULL : c, flags,
                             uuid);
    }
    p->attached++;
    c->pool[id] = p;
    c->npools++;
    *pool_id = id;
    return TMEM_S_OK;
}

static void detach_locked(TmemClient *c, uint32_t id)
{
    TmemPool *p = c->pool[id];

    c->pool[id] = NULL;
    c->npools--;
    if (--p->attached == 0) {
        tmem_pool_free(c->store, p);
    }
}

TmemStatus tmem_new_pool(TmemClient *c, uint32_t flags, const uint8_t *uuid,
                         uint32_t *pool_id)
{
    TmemStatus st;

    store_lock(c->store);
    st = tmem_new_pool_locked(c, flags, uuid, UINT32_MAX, pool_id);
    store_unlock(c->store);
    return st;
}

TmemStatus tmem_destroy_pool(TmemClient *c, uint32_t pool_id)
{
    TmemStatus st = TMEM_S_BAD_POOL;

    store_lock(c->store);
    if (client_pool(c, pool_id)) {
        detach_locked(c, pool_id);
        st = TMEM_S_OK;
    }
    store_unlock(c->store);
    return st;
}

/* ---- store ---- */

static void random_key(uint64_t *k0, uint64_t *k1)
{
    /* GLib seeds its global generator from /dev/urandom when it can */
    *k0 = ((uint64_t)g_random_int() << 32) | g_random_int();
    *k1 = ((uint64_t)g_random_int() << 32) | g_random_int();
}

TmemStore *tmem_store_new(const TmemStoreConfig *cfg, const char **why)
{
    TmemStore *s;
    unsigned max_pools = cfg->max_pools_per_client ?
                         cfg->max_pools_per_client : TMEM_DEFAULT_MAX_POOLS;

    if (max_pools > TMEM_MAX_POOLS_LIMIT) {
        *why = "max-pools-per-client is above 1024";
        return NULL;
    }
    s = g_new0(TmemStore, 1);
    g_mutex_init(&s->lock);
    s->locking = !cfg->single_threaded;
    s->limit = cfg->size;
    s->pool_quota = cfg->pool_quota;
    s->allow_shared = cfg->allow_shared;
    s->ephemeral_only = cfg->ephemeral_only;
    s->max_pools = max_pools;
    if (cfg->hash_key[0] || cfg->hash_key[1]) {
        s->k0 = cfg->hash_key[0];
        s->k1 = cfg->hash_key[1];
    } else {
        random_key(&s->k0, &s->k1);
    }
    s->page_cache = g_new(void *, PAGE_CACHE_MAX);
    return s;
}

void tmem_store_free(TmemStore *s)
{
    if (!s) {
        return;
    }
    g_assert(!s->clients && !s->pools);
    while (s->ncached) {
        g_free(s->page_cache[--s->ncached]);
    }
    g_free(s->page_cache);
    g_mutex_clear(&s->lock);
    g_free(s);
}

unsigned tmem_store_clients(TmemStore *s)
{
    unsigned n;

    store_lock(s);
    n = s->nclients;
    store_unlock(s);
    return n;
}

typedef struct Notify {
    void (*fn)(void *opaque);
    void *opaque;
} Notify;

/* Collect the notifiers of all clients (or of @only), under the lock. */
static GArray *collect_notifiers(TmemStore *s, TmemClient *only)
{
    GArray *a = g_array_new(false, false, sizeof(Notify));
    TmemClient *c;

    for (c = s->clients; c; c = c->next) {
        if (c->notify && (!only || c == only)) {
            Notify n = { c->notify, c->notify_opaque };

            g_array_append_val(a, n);
        }
    }
    return a;
}

static void call_notifiers(GArray *a)
{
    guint i;

    for (i = 0; i < a->len; i++) {
        Notify *n = &g_array_index(a, Notify, i);

        n->fn(n->opaque);
    }
    g_array_free(a, true);
}

uint64_t tmem_store_set_limit(TmemStore *s, uint64_t size)
{
    uint64_t over;
    GArray *a;

    store_lock(s);
    s->limit = size;
    tmem_store_shrink_to(s, size);
    over = s->st.bytes > size ? s->st.bytes - size : 0;
    a = collect_notifiers(s, NULL);
    store_unlock(s);
    call_notifiers(a);
    return over;
}

void tmem_store_set_pool_quota(TmemStore *s, uint64_t quota)
{
    TmemPool *p;
    GArray *a;

    store_lock(s);
    s->pool_quota = quota;
    for (p = s->pools; p; p = p->next) {
        p->quota = quota;
        if (quota) {
            tmem_pool_shrink_to(p, quota);
        }
    }
    a = collect_notifiers(s, NULL);
    store_unlock(s);
    call_notifiers(a);
}

static uint64_t meta_bytes_locked(TmemStore *s)
{
    uint64_t n = sizeof(*s) + PAGE_CACHE_MAX * sizeof(void *) +
                 2 * MALLOC_OVERHEAD;
    TmemClient *c;

    n += s->slab_mem.live_chunks * (sizeof(TmemChunk) + MALLOC_OVERHEAD);
    n += s->slab_mem.array_bytes;
    /* per pool: itself, two tables, two chunk arrays */
    n += s->table_bytes + (uint64_t)s->npools *
         (sizeof(TmemPool) + 5 * MALLOC_OVERHEAD);
    for (c = s->clients; c; c = c->next) {
        n += sizeof(*c) + c->max_pools * sizeof(TmemPool *) +
             strlen(c->name) + 1 + 3 * MALLOC_OVERHEAD;
    }
    return n;
}

void tmem_store_get_info(TmemStore *s, TmemStoreInfo *info)
{
    store_lock(s);
    memset(info, 0, sizeof(*info));
    info->limit = s->limit;
    info->ephemeral_bytes = s->eph_bytes;
    info->persistent_bytes = s->st.bytes - s->eph_bytes;
    info->meta_bytes = meta_bytes_locked(s);
    info->clients = s->nclients;
    info->pools = s->npools;
    info->allow_shared = s->allow_shared;
    info->ephemeral_only = s->ephemeral_only;
    info->max_pools_per_client = s->max_pools;
    info->pool_quota = s->pool_quota;
    info->stats = s->st;
    store_unlock(s);
}

/* ---- clients ---- */

TmemClient *tmem_client_new(TmemStore *s, const char *name, uint64_t quota)
{
    TmemClient *c = g_new0(TmemClient, 1);

    c->store = s;
    c->name = g_strdup(name ? name : "");
    c->quota = quota;
    c->max_pools = s->max_pools;
    c->pool = g_new0(TmemPool *, c->max_pools);
    store_lock(s);
    c->next = s->clients;
    if (s->clients) {
        s->clients->prev = c;
    }
    s->clients = c;
    s->nclients++;
    store_unlock(s);
    return c;
}

static void client_detach_all(TmemClient *c)
{
    unsigned i;

    for (i = 0; i < c->max_pools; i++) {
        if (c->pool[i]) {
            detach_locked(c, i);
        }
    }
}

void tmem_client_free(TmemClient *c)
{
    TmemStore *s;

    if (!c) {
        return;
    }
    s = c->store;
    store_lock(s);
    client_detach_all(c);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    s->nclients--;
    store_unlock(s);
    g_free(c->pool);
    g_free(c->name);
    g_free(c);
}

void tmem_client_reset(TmemClient *c)
{
    store_lock(c->store);
    client_detach_all(c);
    __atomic_store_n(&c->features, 0, __ATOMIC_RELAXED);
    store_unlock(c->store);
}

TmemStore *tmem_client_store(TmemClient *c)
{
    return c->store;
}

const char *tmem_client_name(TmemClient *c)
{
    return c->name;
}

void tmem_client_set_quota(TmemClient *c, uint64_t quota)
{
    GArray *a;

    store_lock(c->store);
    c->quota = quota;
    if (quota) {
        tmem_client_shrink_to(c, quota);
    }
    a = collect_notifiers(c->store, c);
    store_unlock(c->store);
    call_notifiers(a);
}

/* Read on every request: atomic rather than under the store lock */
void tmem_client_set_features(TmemClient *c, uint64_t features)
{
    __atomic_store_n(&c->features, features, __ATOMIC_RELAXED);
}

uint64_t tmem_client_features(TmemClient *c)
{
    return __atomic_load_n(&c->features, __ATOMIC_RELAXED);
}

void tmem_client_set_notify(TmemClient *c, void (*fn)(void *opaque),
                            void *opaque)
{
    store_lock(c->store);
    c->notify = fn;
    c->notify_opaque = opaque;
    store_unlock(c->store);
}

void tmem_client_get_info(TmemClient *c, TmemClientInfo *info)
{
    store_lock(c->store);
    memset(info, 0, sizeof(*info));
    info->quota = c->quota;
    info->pools = c->npools;
    info->max_pools = c->max_pools;
    info->ephemeral_bytes = c->eph_bytes;
    info->stats = c->st;
    store_unlock(c->store);
}

/* ---- statistics ---- */

static void pool_info(TmemPool *p, uint32_t id, TmemPoolInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->pool_id = id;
    info->flags = p->flags;
    memcpy(info->uuid, p->uuid, TMEM_UUID_SIZE);
    info->attached = p->attached;
    info->quota = p->quota;
    info->stats = p->st;
}

bool tmem_pool_get_info(TmemClient *c, uint32_t pool_id, TmemPoolInfo *info)
{
    TmemPool *p;

    store_lock(c->store);
    p = client_pool(c, pool_id);
    if (p) {
        pool_info(p, pool_id, info);
    }
    store_unlock(c->store);
    return p != NULL;
}

void tmem_client_foreach_pool(TmemClient *c,
                              void (*fn)(const TmemPoolInfo *info,
                                         void *opaque),
                              void *opaque)
{
    TmemPoolInfo info;
    unsigned i;

    store_lock(c->store);
    for (i = 0; i < c->max_pools; i++) {
        if (c->pool[i]) {
            pool_info(c->pool[i], i, &info);
            fn(&info, opaque);
        }
    }
    store_unlock(c->store);
}

const char *tmem_status_name(TmemStatus st)
{
    static const char *const names[] = {
        [TMEM_S_OK] = "ok",
        [TMEM_S_MISS] = "miss",
        [TMEM_S_NOSPACE] = "no-space",
        [TMEM_S_BAD_POOL] = "bad-pool",
        [TMEM_S_INVALID] = "invalid",
        [TMEM_S_UNSUPPORTED] = "unsupported",
        [TMEM_S_DEVICE_ERROR] = "device-error",
    };

    if ((unsigned)st < G_N_ELEMENTS(names) && names[st]) {
        return names[st];
    }
    return "?";
}
