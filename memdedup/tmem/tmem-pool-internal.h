/*
 * Private declarations shared by the files of the virtio-tmem page pool:
 * the store, client and pool structures, entry accessors and the
 * functions one file of the pool calls in another.  Not for users of
 * the pool (they have tmem-pool.h).
 *
 * Layout, chosen so that the metadata of a stored page stays under 64
 * bytes with every table slot and allocation counted:
 *
 * - Every stored page is one 52-byte TmemEntry in the slab of its pool
 *   (tmem-slab.h), named by a 26-bit number within the pool.  The entry
 *   holds the key, the data pointer or pattern value, and 26-bit links:
 *   a doubly linked LRU list (ephemeral pools) and a doubly linked list
 *   of the pages of its object (FLUSH_OBJECT).
 * - Each pool has two keyed Robin Hood hash tables of 32-bit slots
 *   (tmem-table.h): "pages" maps (oid, index) to the entry, "objects"
 *   maps an oid to the first entry of its list.  They grow by 1/5 at a
 *   load of 7/8 and shrink below 3/8, so they cost 4.6 to 5.5 bytes per
 *   page each while growing.  A rehash scans the pool's slab in memory
 *   order (entries read at random cost a TLB miss each), hashing each
 *   oid once per run of entries of the same object.
 *
 * The files: tmem-store.c (the store, its clients and their pool ids),
 * tmem-pool.c (pages: puts, gets, flushes, eviction, quotas and
 * accounting), tmem-pool-migrate.c (the migration walk and restore) and
 * tmem-pool-check.c (the consistency check).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_TMEM_POOL_INTERNAL_H
#define MEMDEDUP_TMEM_POOL_INTERNAL_H

#include <glib.h>
#include <string.h>

#include "memdedup/tmem/tmem-pool.h"
#include "memdedup/tmem/tmem-slab.h"
#include "memdedup/tmem/tmem-table.h"

#define IDX_MASK TMEM_SLAB_IDX_MASK
#define NIL TMEM_SLAB_NIL
#define NO_SLOT TMEM_TABLE_NO_SLOT

G_STATIC_ASSERT(TMEM_SLAB_IDX_BITS == TMEM_TABLE_IDX_BITS);
G_STATIC_ASSERT(TMEM_MAX_PAGES == TMEM_MAX_CHUNKS * TMEM_CHUNK_ENTRIES);

/* Estimated malloc bookkeeping per allocation, for meta_bytes. */
#define MALLOC_OVERHEAD 16

/* Freed data pages kept for the next put instead of going to malloc */
#define PAGE_CACHE_MAX 256

typedef struct TmemPool TmemPool;

struct TmemPool {
    TmemStore *store;
    TmemClient *owner;               /* NULL for a shared pool */
    TmemPool *prev, *next;           /* every pool of the store */
    uint32_t flags;
    uint32_t attached;
    uint8_t uuid[TMEM_UUID_SIZE];
    uint64_t quota;
    TmemTable pages;                 /* (oid, index) -> entry */
    TmemTable objects;               /* oid -> first entry of the object */
    uint32_t lru_head, lru_tail;     /* most / least recently used */
    TmemStats st;
    TmemSlab slab;                   /* the entries */
};

struct TmemClient {
    TmemStore *store;
    TmemClient *prev, *next;
    char *name;
    uint64_t quota;
    uint64_t features;
    uint64_t eph_bytes;              /* ephemeral bytes, private pools */
    unsigned max_pools;
    unsigned npools;
    TmemPool **pool;                 /* [max_pools], NULL: id free */
    TmemStats st;
    void (*notify)(void *opaque);
    void *notify_opaque;
};

struct TmemStore {
    GMutex lock;
    bool locking;                    /* false: the caller serializes */
    uint64_t limit;
    uint64_t pool_quota;
    bool allow_shared;
    bool ephemeral_only;
    unsigned max_pools;
    uint64_t k0, k1;                 /* hash key */
    uint64_t eph_bytes;
    uint64_t eph_pages;
    TmemStats st;

    TmemSlabMem slab_mem;            /* of all pools */
    uint64_t table_bytes;
    void **page_cache;               /* freed data pages kept for reuse */
    uint32_t ncached;

    TmemPool *pools;
    uint32_t npools;
    TmemClient *clients;
    uint32_t nclients;
};

static inline void store_lock(TmemStore *s)
{
    if (s->locking) {
        g_mutex_lock(&s->lock);
    }
}

static inline void store_unlock(TmemStore *s)
{
    if (s->locking) {
        g_mutex_unlock(&s->lock);
    }
}

static inline uint64_t hash_oid(const TmemStore *s, const TmemOid *oid)
{
    return tmem_hash_oid(s->k0, s->k1, oid);
}

/* ---- entries ---- */

static inline TmemEntry *entry_at(const TmemPool *p, uint32_t idx)
{
    return tmem_slab_entry(&p->slab, idx);
}

static inline void entry_oid(const TmemEntry *e, TmemOid *oid)
{
    memcpy(oid->v, e->oid, sizeof(oid->v));
}

static inline bool entry_oid_eq(const TmemEntry *e, const TmemOid *oid)
{
    return memcmp(e->oid, oid->v, sizeof(oid->v)) == 0;
}

static inline uint64_t entry_val(const TmemEntry *e)
{
    uint64_t v;

    memcpy(&v, e->val, sizeof(v));
    return v;
}

static inline void entry_set_val(TmemEntry *e, uint64_t v)
{
    memcpy(e->val, &v, sizeof(v));
}

static inline bool entry_is_pattern(const TmemEntry *e)
{
    return e->obj_prev & TMEM_ENTRY_F_PATTERN;
}

static inline void *entry_data(const TmemEntry *e)
{
    return (void *)(uintptr_t)entry_val(e);
}

static inline uint32_t obj_prev(const TmemEntry *e)
{
    return e->obj_prev & IDX_MASK;
}

static inline void set_obj_prev(TmemEntry *e, uint32_t idx)
{
    e->obj_prev = (e->obj_prev & ~IDX_MASK) | idx;
}

static inline uint64_t entry_cost(const TmemEntry *e)
{
    return entry_is_pattern(e) ? TMEM_META_COST : TMEM_DATA_PAGE_COST;
}

/* ---- lookups in a pool's tables ---- */

typedef struct PoolKey {
    const TmemPool *p;
    const TmemOid *oid;
    uint32_t index;
} PoolKey;

static inline bool page_matches(const void *opaque, uint32_t idx)
{
    const PoolKey *k = opaque;
    const TmemEntry *e = entry_at(k->p, idx);

    return e->index == k->index && entry_oid_eq(e, k->oid);
}

static inline bool object_matches(const void *opaque, uint32_t idx)
{
    const PoolKey *k = opaque;

    return entry_oid_eq(entry_at(k->p, idx), k->oid);
}

/* Slot of page (@oid, @index), hash @hpage, in the pages table. */
static inline uint32_t find_page(const TmemPool *p, uint64_t hpage,
                                 const TmemOid *oid, uint32_t index)
{
    PoolKey k = { p, oid, index };

    return tmem_table_find(&p->pages, hpage, page_matches, &k);
}

/* Slot of object @oid, hash @hobj, in the objects table. */
static inline uint32_t find_object(const TmemPool *p, uint64_t hobj,
                                   const TmemOid *oid)
{
    PoolKey k = { p, oid, 0 };

    return tmem_table_find(&p->objects, hobj, object_matches, &k);
}

/* ---- pools ---- */

static inline bool pool_is_eph(const TmemPool *p)
{
    return !(p->flags & TMEM_POOL_PERSISTENT);
}

static inline TmemPool *client_pool(TmemClient *c, uint32_t pool_id)
{
    return pool_id < c->max_pools ? c->pool[pool_id] : NULL;
}

/* Count one page in (@sign 1) or out (@sign -1) of @st. */
static inline void stats_update(TmemStats *st, bool pattern, uint64_t cost,
                                int sign)
{
    st->pages += sign;
    st->bytes += sign * cost;           /* modulo 2^64: subtracts for -1 */
    st->pattern_pages += sign * pattern;
}

/* tmem-pool.c */

TmemPool *tmem_pool_create(TmemStore *s, TmemClient *owner, uint32_t flags,
                           const uint8_t *uuid);
/* Free @p and every page in it. */
void tmem_pool_free(TmemStore *s, TmemPool *p);

/*
 * Store one page in @p: the data at @data, or the pattern @pattern when
 * @data is NULL, evicting what must go to make room.
 */
TmemStatus tmem_pool_store_page(TmemStore *s, TmemPool *p,
                                const TmemOid *oid, uint32_t index,
                                const void *data, uint64_t pattern);

/* Evict until the store holds at most @limit bytes (or none is left). */
void tmem_store_shrink_to(TmemStore *s, uint64_t limit);
/* The same for the private pools of @c, and for one pool. */
void tmem_client_shrink_to(TmemClient *c, uint64_t quota);
void tmem_pool_shrink_to(TmemPool *p, uint64_t quota);

/* tmem-store.c */

/*
 * Create or join a pool for @c under the lowest free id, or under @want
 * unless it is UINT32_MAX (see tmem_new_pool() and tmem_restore_pool()).
 */
TmemStatus tmem_new_pool_locked(TmemClient *c, uint32_t flags,
                                const uint8_t *uuid, uint32_t want,
                                uint32_t *pool_id);

#endif /* MEMDEDUP_TMEM_POOL_INTERNAL_H */
