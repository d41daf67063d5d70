/*
 * Host page pool of virtio-tmem: pages under (pool, oid, index) keys.
 *
 * Layout, chosen so that the metadata of a stored page stays under 64
 * bytes with every table slot and allocation counted:
 *
 * - Every stored page is one 52-byte TmemEntry in a slab of its pool:
 *   128-entry chunks, the entry named by a 26-bit number within the pool.
 *   The entry holds the key, the data pointer or pattern value, and
 *   26-bit links: a doubly linked LRU list (ephemeral pools) and a doubly
 *   linked list of the pages of its object (FLUSH_OBJECT).  The spare top
 *   bits of a link carry the pattern and free flags.  Chunks that empty
 *   out are freed.
 * - Each pool has two open-addressing hash tables of 32-bit slots
 *   (Robin Hood linear probing, slot = probe distance << 26 | entry):
 *   "pages" maps (oid, index) to the entry, "objects" maps an oid to
 *   the first entry of its list.  They grow by 1/5 at a load of 7/8 and
 *   shrink below 3/8, so they cost 4.6 to 5.5 bytes per page each while
 *   growing.  A rehash scans the pool's slab in memory order (entries
 *   read at random cost a TLB miss each), hashing each oid once per run
 *   of entries of the same object.
 * - Keys are guest-controlled, so the hash is keyed: SipHash-1-3 of the
 *   oid under a per-store random key, then the index mixed in by a
 *   bijective 64-bit finaliser.  Without the key a guest cannot aim
 *   collisions at one bucket; a probe is at most 63 slots long in any
 *   case (a longer one grows the table).
 *
 * Eviction: each ephemeral pool keeps its pages in LRU order.  When a
 * put needs room, the store takes the least recently used page of the
 * ephemeral pool holding the most bytes (in the scope that is full: the
 * pool itself, the client's private pools, or the whole store).
 * Persistent pages are never evicted.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-pool.h"
#include "memdedup/page-classify.h"

#include <glib.h>
#include <string.h>

#define IDX_BITS 26
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define NIL IDX_MASK                 /* "no entry" in a link */
#define F_PATTERN (1u << 31)         /* in obj_prev: a pattern page */
#define F_FREE (1u << 30)            /* in obj_prev: not in use */

#define CHUNK_SHIFT 7
#define CHUNK_ENTRIES (1u << CHUNK_SHIFT)
/* The last chunk number would hold NIL: never used. */
#define MAX_CHUNKS ((1u << IDX_BITS) / CHUNK_ENTRIES - 1)

#define DIST_MAX 62                  /* slot distance field holds 1..63 */
#define TABLE_MIN 8
#define NO_SLOT UINT32_MAX

/* Estimated malloc bookkeeping per allocation, for meta_bytes. */
#define MALLOC_OVERHEAD 16

/* Freed data pages kept for the next put instead of going to malloc */
#define PAGE_CACHE_MAX 256

G_STATIC_ASSERT(TMEM_MAX_PAGES == MAX_CHUNKS * CHUNK_ENTRIES);

typedef struct TmemEntry {
    uint32_t oid[6];                 /* TmemOid, 4-byte aligned copy */
    uint32_t index;
    uint32_t val[2];                 /* data pointer or pattern value */
    uint32_t lru_prev;               /* towards the most recently used */
    uint32_t lru_next;
    uint32_t obj_prev;               /* | F_PATTERN, F_FREE */
    uint32_t obj_next;               /* also the chunk's free list */
} TmemEntry;

G_STATIC_ASSERT(sizeof(TmemEntry) == 52);

typedef struct TmemChunk {
    uint32_t nfree;
    uint32_t free_head;              /* entry number or NIL */
    uint32_t prev, next;             /* partial-chunk list, chunk numbers */
    TmemEntry e[CHUNK_ENTRIES];
} TmemChunk;

typedef struct TmemTable {
    uint32_t *slot;
    uint32_t size;
    uint32_t used;
} TmemTable;

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

    /* the slab of entries */
    TmemChunk **chunk;               /* [chunk_cap], NULL: released */
    uint32_t chunk_cap;
    uint32_t chunk_hi;               /* numbers below are or were used */
    uint32_t *free_num;              /* released chunk numbers */
    uint32_t nfree_num;
    uint32_t partial;                /* chunks with free entries */
    uint32_t empty_chunks;
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

    uint64_t live_chunks;            /* of all pools */
    uint64_t chunk_array_bytes;      /* chunk and free_num arrays */
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

/* ---- keyed hash ---- */

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                               \
    do {                                                        \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0;                \
        v0 = rotl64(v0, 32);                                    \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2;                \
        v2 = rotl64(v2, 32);                                    \
    } while (0)

/* SipHash-1-3 of the 24-byte oid under the store's key. */
static uint64_t hash_oid(const TmemStore *s, const TmemOid *oid)
{
    uint64_t v0 = s->k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = s->k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = s->k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = s->k1 ^ 0x7465646279746573ULL;
    uint64_t last = (uint64_t)24 << 56;
    int i;

    for (i = 0; i < 3; i++) {
        v3 ^= oid->v[i];
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= oid->v[i];
    }
    v3 ^= last;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * Mix the index into the (secret) object hash.  Every step is a
 * bijection, so two indices of one object never share a 64-bit hash.
 */
static inline uint64_t hash_page(uint64_t hobj, uint32_t index)
{
    uint64_t h = hobj ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL);

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint32_t home_slot(uint64_t h, uint32_t size)
{
    return (uint32_t)(((h >> 32) * (uint64_t)size) >> 32);
}

/* ---- entries ---- */

static inline TmemEntry *entry_at(const TmemPool *p, uint32_t idx)
{
    return &p->chunk[idx >> CHUNK_SHIFT]->e[idx & (CHUNK_ENTRIES - 1)];
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
    return e->obj_prev & F_PATTERN;
}

static inline bool entry_is_free(const TmemEntry *e)
{
    return e->obj_prev & F_FREE;
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

/* ---- the slab of a pool ---- */

static void partial_push(TmemPool *p, uint32_t num)
{
    TmemChunk *c = p->chunk[num];

    c->prev = NIL;
    c->next = p->partial;
    if (p->partial != NIL) {
        p->chunk[p->partial]->prev = num;
    }
    p->partial = num;
}

static void partial_unlink(TmemPool *p, uint32_t num)
{
    TmemChunk *c = p->chunk[num];

    if (c->prev != NIL) {
        p->chunk[c->prev]->next = c->next;
    } else {
        p->partial = c->next;
    }
    if (c->next != NIL) {
        p->chunk[c->next]->prev = c->prev;
    }
}

static bool chunk_new(TmemPool *p)
{
    TmemStore *s = p->store;
    uint32_t num, i, base;
    TmemChunk *c;

    if (p->nfree_num) {
        num = p->free_num[p->nfree_num - 1];
    } else if (p->chunk_hi < MAX_CHUNKS) {
        num = p->chunk_hi;
    } else {
        return false;
    }
    c = g_try_malloc(sizeof(*c));
    if (!c) {
        return false;
    }
    if (p->nfree_num) {
        p->nfree_num--;
    } else {
        if (p->chunk_hi == p->chunk_cap) {
            uint32_t cap = MAX(4, p->chunk_cap * 2);

            p->chunk = g_renew(TmemChunk *, p->chunk, cap);
            memset(p->chunk + p->chunk_cap, 0,
                   (cap - p->chunk_cap) * sizeof(*p->chunk));
            p->free_num = g_renew(uint32_t, p->free_num, cap);
            s->chunk_array_bytes += (uint64_t)(cap - p->chunk_cap) *
                                    (sizeof(TmemChunk *) + sizeof(uint32_t));
            p->chunk_cap = cap;
        }
        p->chunk_hi++;
    }
    base = num << CHUNK_SHIFT;
    for (i = 0; i < CHUNK_ENTRIES; i++) {
        c->e[i].obj_prev = F_FREE | NIL;
        c->e[i].obj_next = i + 1 < CHUNK_ENTRIES ? base + i + 1 : NIL;
    }
    c->nfree = CHUNK_ENTRIES;
    c->free_head = base;
    p->chunk[num] = c;
    s->live_chunks++;
    p->empty_chunks++;
    partial_push(p, num);
    return true;
}

static void chunk_release(TmemPool *p, uint32_t num)
{
    partial_unlink(p, num);
    g_free(p->chunk[num]);
    p->chunk[num] = NULL;
    p->free_num[p->nfree_num++] = num;
    p->store->live_chunks--;
    p->empty_chunks--;
}

static uint32_t entry_alloc(TmemPool *p)
{
    TmemChunk *c;
    TmemEntry *e;
    uint32_t idx;

    if (p->partial == NIL && !chunk_new(p)) {
        return NIL;
    }
    c = p->chunk[p->partial];
    idx = c->free_head;
    e = entry_at(p, idx);
    c->free_head = e->obj_next;
    e->obj_prev = NIL;
    if (c->nfree-- == CHUNK_ENTRIES) {
        p->empty_chunks--;
    }
    if (c->nfree == 0) {
        partial_unlink(p, p->partial);
    }
    return idx;
}

static void entry_free(TmemPool *p, uint32_t idx)
{
    uint32_t num = idx >> CHUNK_SHIFT;
    TmemChunk *c = p->chunk[num];
    TmemEntry *e = entry_at(p, idx);

    e->obj_prev = F_FREE | NIL;
    e->obj_next = c->free_head;
    c->free_head = idx;
    if (c->nfree++ == 0) {
        partial_push(p, num);
    }
    if (c->nfree == CHUNK_ENTRIES) {
        /* Keep one empty chunk so that a put/flush cycle does not thrash */
        p->empty_chunks++;
        if (p->empty_chunks > 1) {
            chunk_release(p, num);
        }
    }
}

static void slab_destroy(TmemPool *p)
{
    uint32_t i;

    for (i = 0; i < p->chunk_hi; i++) {
        p->store->live_chunks -= p->chunk[i] != NULL;
        g_free(p->chunk[i]);
    }
    p->store->chunk_array_bytes -= (uint64_t)p->chunk_cap *
                                   (sizeof(TmemChunk *) + sizeof(uint32_t));
    g_free(p->chunk);
    g_free(p->free_num);
}

static void *page_alloc(TmemStore *s)
{
    return s->ncached ? s->page_cache[--s->ncached]
                      : g_try_malloc(TMEM_PAGE_SIZE);
}

static void page_release(TmemStore *s, void *page)
{
    if (s->ncached < PAGE_CACHE_MAX) {
        s->page_cache[s->ncached++] = page;
    } else {
        g_free(page);
    }
}

/* ---- Robin Hood tables ---- */

static inline uint32_t slot_dist(uint32_t sl)
{
    return (sl >> IDX_BITS) - 1;
}

static inline uint32_t make_slot(uint32_t dist, uint32_t idx)
{
    return ((dist + 1) << IDX_BITS) | idx;
}

static void table_init(TmemStore *s, TmemTable *t)
{
    t->size = TABLE_MIN;
    t->used = 0;
    t->slot = g_new0(uint32_t, t->size);
    s->table_bytes += t->size * sizeof(uint32_t);
}

static void table_destroy(TmemStore *s, TmemTable *t)
{
    s->table_bytes -= t->size * sizeof(uint32_t);
    g_free(t->slot);
    t->slot = NULL;
    t->size = t->used = 0;
}

static inline uint32_t grown(const TmemTable *t)
{
    return t->size + t->size / 5 + 1;
}

static inline bool too_full(const TmemTable *t)
{
    return (uint64_t)(t->used + 1) * 8 > (uint64_t)t->size * 7;
}

static inline bool too_sparse(const TmemTable *t)
{
    return t->size > TABLE_MIN &&
           (uint64_t)t->used * 8 < (uint64_t)t->size * 3;
}

static inline uint32_t shrunk(const TmemTable *t)
{
    return MAX(TABLE_MIN, (uint32_t)((uint64_t)t->used * 10 / 7 + 1));
}

/*
 * Put @idx (hash @h) in @slot[@size].  Returns NIL, or the entry left
 * over when a probe would pass DIST_MAX (the others are all placed).
 */
static uint32_t table_place(uint32_t *slot, uint32_t size, uint64_t h,
                            uint32_t idx)
{
    uint32_t pos = home_slot(h, size);
    uint32_t d = 0;

    for (;;) {
        uint32_t sl = slot[pos];

        if (!sl) {
            slot[pos] = make_slot(d, idx);
            return NIL;
        }
        if (slot_dist(sl) < d) {
            slot[pos] = make_slot(d, idx);
            idx = sl & IDX_MASK;
            d = slot_dist(sl);
        }
        if (++pos == size) {
            pos = 0;
        }
        if (++d > DIST_MAX) {
            return idx;
        }
    }
}

/*
 * Position of the slot whose entry matches @oid (and @index unless
 * @obj), or NO_SLOT.
 */
static uint32_t table_find(const TmemPool *p, const TmemTable *t, uint64_t h,
                           const TmemOid *oid, uint32_t index, bool obj)
{
    uint32_t pos, d;

    if (!t->used) {
        return NO_SLOT;
    }
    pos = home_slot(h, t->size);
    for (d = 0; d <= DIST_MAX; d++) {
        uint32_t sl = t->slot[pos];

        if (!sl || slot_dist(sl) < d) {
            return NO_SLOT;
        }
        if (slot_dist(sl) == d) {
            const TmemEntry *e = entry_at(p, sl & IDX_MASK);

            if ((obj || e->index == index) && entry_oid_eq(e, oid)) {
                return pos;
            }
        }
        if (++pos == t->size) {
            pos = 0;
        }
    }
    return NO_SLOT;
}

/* Empty the slot at @pos by shifting its followers back. */
static void table_clear_at(TmemTable *t, uint32_t pos)
{
    uint32_t next = pos + 1 == t->size ? 0 : pos + 1;

    while (t->slot[next] && slot_dist(t->slot[next]) > 0) {
        t->slot[pos] = t->slot[next] - (1u << IDX_BITS);
        pos = next;
        next = next + 1 == t->size ? 0 : next + 1;
    }
    t->slot[pos] = 0;
    t->used--;
}

/*
 * Rebuild one table of @p at (at least) @size slots from the slab: every
 * entry in use goes into the pages table, every first entry of an object
 * into the objects table.  So the slab must agree with the table's
 * contents: entries join the slab before their table, and leave it first.
 */
static void table_rebuild(TmemPool *p, bool obj, uint32_t size)
{
    TmemTable *t = obj ? &p->objects : &p->pages;
    TmemStore *s = p->store;
    uint32_t *slot, n;

    for (;; size += size / 5 + 1) {
        uint32_t left = NIL, num, i;
        TmemOid last = { { 0 } };
        uint64_t hobj = 0;
        bool have = false;

        slot = g_new0(uint32_t, size);
        n = 0;
        for (num = 0; num < p->chunk_hi && left == NIL; num++) {
            const TmemChunk *c = p->chunk[num];

            if (!c || c->nfree == CHUNK_ENTRIES) {
                continue;
            }
            for (i = 0; i < CHUNK_ENTRIES && left == NIL; i++) {
                const TmemEntry *e = &c->e[i];

                if (entry_is_free(e) || (obj && obj_prev(e) != NIL)) {
                    continue;
                }
                /* runs of pages of one object share the SipHash */
                if (!have || !entry_oid_eq(e, &last)) {
                    entry_oid(e, &last);
                    hobj = hash_oid(s, &last);
                    have = true;
                }
                left = table_place(slot, size,
                                   obj ? hobj : hash_page(hobj, e->index),
                                   (num << CHUNK_SHIFT) | i);
                n++;
            }
        }
        if (left == NIL) {
            break;
        }
        g_free(slot);
    }
    s->table_bytes += (uint64_t)size * sizeof(uint32_t);
    s->table_bytes -= (uint64_t)t->size * sizeof(uint32_t);
    g_free(t->slot);
    t->slot = slot;
    t->size = size;
    t->used = n;
}

/* Add @idx, which the slab already holds (see table_rebuild). */
static void table_insert(TmemPool *p, bool obj, uint64_t h, uint32_t idx)
{
    TmemTable *t = obj ? &p->objects : &p->pages;

    if (too_full(t) || table_place(t->slot, t->size, h, idx) != NIL) {
        /* too full, or a probe overflowed: the rebuild includes @idx */
        table_rebuild(p, obj, grown(t));
    } else {
        t->used++;
    }
}

/* The entry at @pos must be out of the slab (or not a first) already. */
static void table_remove_at(TmemPool *p, bool obj, uint32_t pos,
                            bool may_shrink)
{
    TmemTable *t = obj ? &p->objects : &p->pages;

    table_clear_at(t, pos);
    if (may_shrink && too_sparse(t)) {
        table_rebuild(p, obj, shrunk(t));
    }
}

/* ---- accounting ---- */

static inline bool pool_is_eph(const TmemPool *p)
{
    return !(p->flags & TMEM_POOL_PERSISTENT);
}

/* Count one page in (@sign 1) or out (@sign -1) of @st. */
static void stats_update(TmemStats *st, bool pattern, uint64_t cost, int sign)
{
    st->pages += sign;
    st->bytes += sign * cost;           /* modulo 2^64: subtracts for -1 */
    st->pattern_pages += sign * pattern;
}

static void stats_add(TmemStats *st, bool pattern, uint64_t cost)
{
    stats_update(st, pattern, cost, 1);
}

/*
 * Charge (@sign 1) or release (@sign -1) one stored page against its
 * pool, the store and the owning client.
 */
static void account(TmemPool *p, bool pattern, int sign)
{
    TmemStore *s = p->store;
    uint64_t cost = pattern ? TMEM_META_COST : TMEM_DATA_PAGE_COST;

    stats_update(&p->st, pattern, cost, sign);
    stats_update(&s->st, pattern, cost, sign);
    if (p->owner) {
        stats_update(&p->owner->st, pattern, cost, sign);
    }
    if (pool_is_eph(p)) {
        s->eph_bytes += sign * cost;
        s->eph_pages += sign;
        if (p->owner) {
            p->owner->eph_bytes += sign * cost;
        }
    }
}

static void charge(TmemPool *p, bool pattern)
{
    account(p, pattern, 1);
}

static void uncharge(TmemPool *p, bool pattern)
{
    account(p, pattern, -1);
}

/* ---- lists ---- */

static void lru_push_head(TmemPool *p, uint32_t idx)
{
    TmemEntry *e = entry_at(p, idx);

    e->lru_prev = NIL;
    e->lru_next = p->lru_head;
    if (p->lru_head != NIL) {
        entry_at(p, p->lru_head)->lru_prev = idx;
    } else {
        p->lru_tail = idx;
    }
    p->lru_head = idx;
}

static void lru_unlink(TmemPool *p, uint32_t idx)
{
    TmemEntry *e = entry_at(p, idx);

    if (e->lru_prev != NIL) {
        entry_at(p, e->lru_prev)->lru_next = e->lru_next;
    } else {
        p->lru_head = e->lru_next;
    }
    if (e->lru_next != NIL) {
        entry_at(p, e->lru_next)->lru_prev = e->lru_prev;
    } else {
        p->lru_tail = e->lru_prev;
    }
}

/*
 * Take entry @idx off the LRU list, give back its data page and its
 * charge, and free it in the slab.  The caller unlinks it from its object
 * list before and from the tables after.
 */
static void entry_release(TmemPool *p, uint32_t idx)
{
    TmemEntry *e = entry_at(p, idx);
    bool pattern = entry_is_pattern(e);

    if (pool_is_eph(p)) {
        lru_unlink(p, idx);
    }
    if (!pattern) {
        page_release(p->store, entry_data(e));
    }
    uncharge(p, pattern);
    entry_free(p, idx);
}

/*
 * Remove the entry in slot @ppos of @p's pages table from every structure
 * and free it.  The order keeps table_rebuild's rule: lists first, then
 * the slab, then the tables.
 */
static void entry_remove_at(TmemPool *p, uint32_t ppos, uint64_t hobj)
{
    uint32_t idx = p->pages.slot[ppos] & IDX_MASK;
    TmemEntry *e = entry_at(p, idx);
    uint32_t prev = obj_prev(e), next = e->obj_next;
    uint32_t opos = NO_SLOT;
    TmemOid oid;

    if (prev == NIL) {
        entry_oid(e, &oid);
        opos = table_find(p, &p->objects, hobj, &oid, 0, true);
        g_assert(opos != NO_SLOT &&
                 (p->objects.slot[opos] & IDX_MASK) == idx);
        if (next != NIL) {
            /* the next page becomes the object's first */
            p->objects.slot[opos] = (p->objects.slot[opos] & ~IDX_MASK) |
                                    next;
            set_obj_prev(entry_at(p, next), NIL);
            opos = NO_SLOT;
        }
    } else {
        entry_at(p, prev)->obj_next = next;
        if (next != NIL) {
            set_obj_prev(entry_at(p, next), prev);
        }
    }
    entry_release(p, idx);
    /* positions in one table do not move when the other changes */
    table_remove_at(p, false, ppos, true);
    if (opos != NO_SLOT) {
        table_remove_at(p, true, opos, true);
    }
}

/* The same, finding the slot from the entry. */
static void entry_remove(TmemPool *p, uint32_t idx, uint64_t hobj)
{
    const TmemEntry *e = entry_at(p, idx);
    uint32_t ppos;
    TmemOid oid;

    entry_oid(e, &oid);
    ppos = table_find(p, &p->pages, hash_page(hobj, e->index), &oid,
                      e->index, false);
    g_assert(ppos != NO_SLOT && (p->pages.slot[ppos] & IDX_MASK) == idx);
    entry_remove_at(p, ppos, hobj);
}

/* ---- eviction ---- */

static void evict_one(TmemStore *s, TmemPool *p)
{
    uint32_t idx = p->lru_tail;
    TmemOid oid;

    g_assert(pool_is_eph(p) && idx != NIL);
    entry_oid(entry_at(p, idx), &oid);
    p->st.evictions++;
    s->st.evictions++;
    if (p->owner) {
        p->owner->st.evictions++;
    }
    entry_remove(p, idx, hash_oid(s, &oid));
}

/* The ephemeral pool of the store holding the most bytes (or NULL). */
static TmemPool *store_victim(TmemStore *s)
{
    TmemPool *p, *best = NULL;

    for (p = s->pools; p; p = p->next) {
        if (pool_is_eph(p) && p->st.pages &&
            (!best || p->st.bytes > best->st.bytes)) {
            best = p;
        }
    }
    return best;
}

/* The private ephemeral pool of @c holding the most bytes (or NULL). */
static TmemPool *client_victim(TmemClient *c)
{
    TmemPool *best = NULL;
    unsigned i;

    for (i = 0; i < c->max_pools; i++) {
        TmemPool *p = c->pool[i];

        if (p && p->owner == c && pool_is_eph(p) && p->st.pages &&
            (!best || p->st.bytes > best->st.bytes)) {
            best = p;
        }
    }
    return best;
}

/* Evict until the store holds at most @limit bytes (or nothing is left). */
static void store_shrink_to(TmemStore *s, uint64_t limit)
{
    while (s->st.bytes > limit && s->eph_pages) {
        evict_one(s, store_victim(s));
    }
}

static void client_shrink_to(TmemClient *c, uint64_t quota)
{
    while (c->st.bytes > quota && c->eph_bytes) {
        evict_one(c->store, client_victim(c));
    }
}

static void pool_shrink_to(TmemPool *p, uint64_t quota)
{
    while (p->st.bytes > quota && pool_is_eph(p) && p->st.pages) {
        evict_one(p->store, p);
    }
}

/* ---- pools ---- */

static TmemPool *pool_create(TmemStore *s, TmemClient *owner, uint32_t flags,
                             const uint8_t *uuid)
{
    TmemPool *p = g_new0(TmemPool, 1);

    p->store = s;
    p->owner = owner;
    p->flags = flags;
    if (uuid && (flags & TMEM_POOL_SHARED)) {
        memcpy(p->uuid, uuid, TMEM_UUID_SIZE);
    }
    p->quota = s->pool_quota;
    table_init(s, &p->pages);
    table_init(s, &p->objects);
    p->lru_head = p->lru_tail = NIL;
    p->partial = NIL;
    p->next = s->pools;
    if (s->pools) {
        s->pools->prev = p;
    }
    s->pools = p;
    s->npools++;
    return p;
}

static void pool_free(TmemStore *s, TmemPool *p)
{
    uint32_t i;

    for (i = 0; i < p->pages.size; i++) {
        uint32_t sl = p->pages.slot[i];

        if (sl) {
            TmemEntry *e = entry_at(p, sl & IDX_MASK);

            if (!entry_is_pattern(e)) {
                page_release(s, entry_data(e));
            }
            uncharge(p, entry_is_pattern(e));
        }
    }
    slab_destroy(p);
    table_destroy(s, &p->pages);
    table_destroy(s, &p->objects);
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        s->pools = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    }
    s->npools--;
    g_free(p);
}

static bool uuid_is_zero(const uint8_t *uuid)
{
    static const uint8_t zero[TMEM_UUID_SIZE];

    return !uuid || !memcmp(uuid, zero, TMEM_UUID_SIZE);
}

static TmemStatus new_pool_locked(TmemClient *c, uint32_t flags,
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
        p = pool_create(s, (flags & TMEM_POOL_SHARED) ? NULL : c, flags,
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
        pool_free(c->store, p);
    }
}

static TmemPool *client_pool(TmemClient *c, uint32_t pool_id)
{
    return pool_id < c->max_pools ? c->pool[pool_id] : NULL;
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
    store_shrink_to(s, size);
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
            pool_shrink_to(p, quota);
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

    n += s->live_chunks * (sizeof(TmemChunk) + MALLOC_OVERHEAD);
    n += s->chunk_array_bytes;
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
        client_shrink_to(c, quota);
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

/* ---- operations ---- */

TmemStatus tmem_new_pool(TmemClient *c, uint32_t flags, const uint8_t *uuid,
                         uint32_t *pool_id)
{
    TmemStatus st;

    store_lock(c->store);
    st = new_pool_locked(c, flags, uuid, UINT32_MAX, pool_id);
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

/*
 * Store one page in @p: the data at @data, or the pattern @pattern when
 * @data is NULL.  A page that costs no more than the one under the key
 * replaces it in place (this always fits); otherwise the old page goes
 * first, so a refusal leaves nothing under the key.
 */
static TmemStatus store_page(TmemStore *s, TmemPool *p, const TmemOid *oid,
                             uint32_t index, const void *data,
                             uint64_t pattern)
{
    uint64_t hobj = hash_oid(s, oid);
    uint64_t hpage = hash_page(hobj, index);
    bool is_pattern = data == NULL;
    uint64_t cost = is_pattern ? TMEM_META_COST : TMEM_DATA_PAGE_COST;
    TmemClient *owner = p->owner;
    bool eph = pool_is_eph(p);
    TmemEntry *e;
    uint32_t pos, idx;
    void *copy = NULL;

    pos = table_find(p, &p->pages, hpage, oid, index, false);
    if (pos != NO_SLOT) {
        idx = p->pages.slot[pos] & IDX_MASK;
        e = entry_at(p, idx);
        if (!is_pattern && !entry_is_pattern(e)) {
            memcpy(entry_data(e), data, TMEM_PAGE_SIZE);
        } else if (is_pattern) {
            if (!entry_is_pattern(e)) {
                page_release(s, entry_data(e));
                uncharge(p, false);
                charge(p, true);
                e->obj_prev |= F_PATTERN;
            }
            entry_set_val(e, pattern);
        } else {
            entry_remove_at(p, pos, hobj);
            goto insert;
        }
        if (eph) {
            lru_unlink(p, idx);
            lru_push_head(p, idx);
        }
        return TMEM_S_OK;
    }

insert:
    /* Would it fit, counting only what may be evicted? */
    if (p->quota && (cost > p->quota ||
                     (!eph && p->st.bytes + cost > p->quota))) {
        return TMEM_S_NOSPACE;
    }
    if (owner && owner->quota &&
        owner->st.bytes - owner->eph_bytes + cost > owner->quota) {
        return TMEM_S_NOSPACE;
    }
    if (s->st.bytes - s->eph_bytes + cost > s->limit) {
        return TMEM_S_NOSPACE;
    }
    if (p->st.pages >= TMEM_MAX_PAGES && !eph) {
        return TMEM_S_NOSPACE;
    }

    /* Make room: the pool, then its client, then the store */
    if (p->quota) {
        pool_shrink_to(p, p->quota - cost);
    }
    if (owner && owner->quota) {
        client_shrink_to(owner, owner->quota - cost);
    }
    store_shrink_to(s, s->limit - cost);
    if (p->st.pages >= TMEM_MAX_PAGES) {
        evict_one(s, p);
    }
    if (!is_pattern) {
        copy = page_alloc(s);
        if (!copy) {
            return TMEM_S_NOSPACE;
        }
        memcpy(copy, data, TMEM_PAGE_SIZE);
    }
    idx = entry_alloc(p);
    if (idx == NIL) {
        if (copy) {
            page_release(s, copy);
        }
        return TMEM_S_NOSPACE;
    }

    e = entry_at(p, idx);
    memcpy(e->oid, oid->v, sizeof(e->oid));
    e->index = index;
    entry_set_val(e, is_pattern ? pattern : (uint64_t)(uintptr_t)copy);
    e->obj_prev = NIL | (is_pattern ? F_PATTERN : 0);
    e->obj_next = NIL;
    e->lru_prev = e->lru_next = NIL;

    pos = table_find(p, &p->objects, hobj, oid, 0, true);
    if (pos == NO_SLOT) {
        table_insert(p, true, hobj, idx);
    } else {
        /* link in second, so the objects table keeps its entry */
        uint32_t head = p->objects.slot[pos] & IDX_MASK;
        TmemEntry *h = entry_at(p, head);

        e->obj_next = h->obj_next;
        set_obj_prev(e, head);
        if (h->obj_next != NIL) {
            set_obj_prev(entry_at(p, h->obj_next), idx);
        }
        h->obj_next = idx;
    }
    table_insert(p, false, hpage, idx);
    if (eph) {
        lru_push_head(p, idx);
    }
    charge(p, is_pattern);
    return TMEM_S_OK;
}

TmemStatus tmem_put_page(TmemClient *c, uint32_t pool_id, const TmemOid *oid,
                         uint32_t index, const void *page)
{
    TmemStore *s = c->store;
    uint64_t pattern = 0;
    bool uniform = page_is_uniform(page, TMEM_PAGE_SIZE, &pattern);
    TmemStatus st = TMEM_S_BAD_POOL;
    TmemPool *p;

    store_lock(s);
    p = client_pool(c, pool_id);
    if (p) {
        p->st.puts++;
        c->st.puts++;
        s->st.puts++;
        st = store_page(s, p, oid, index, uniform ? NULL : page, pattern);
        if (st != TMEM_S_OK) {
            p->st.puts_refused++;
            c->st.puts_refused++;
            s->st.puts_refused++;
        }
    }
    store_unlock(s);
    return st;
}

TmemStatus tmem_get_page(TmemClient *c, uint32_t pool_id, const TmemOid *oid,
                         uint32_t index, void *page)
{
    TmemStore *s = c->store;
    TmemStatus st = TMEM_S_BAD_POOL;
    TmemPool *p;

    store_lock(s);
    p = client_pool(c, pool_id);
    if (p) {
        uint64_t hobj = hash_oid(s, oid);
        uint32_t pos = table_find(p, &p->pages, hash_page(hobj, index), oid,
                                  index, false);

        p->st.gets++;
        c->st.gets++;
        s->st.gets++;
        if (pos == NO_SLOT) {
            p->st.misses++;
            c->st.misses++;
            s->st.misses++;
            st = TMEM_S_MISS;
        } else {
            uint32_t idx = p->pages.slot[pos] & IDX_MASK;
            TmemEntry *e = entry_at(p, idx);

            if (entry_is_pattern(e)) {
                page_fill_pattern(page, TMEM_PAGE_SIZE, entry_val(e));
            } else {
                memcpy(page, entry_data(e), TMEM_PAGE_SIZE);
            }
            p->st.hits++;
            c->st.hits++;
            s->st.hits++;
            if (pool_is_eph(p)) {
                if (p->flags & TMEM_POOL_SHARED) {
                    lru_unlink(p, idx);
                    lru_push_head(p, idx);
                } else {
                    entry_remove_at(p, pos, hobj);
                }
            }
            st = TMEM_S_OK;
        }
    }
    store_unlock(s);
    return st;
}

static void count_flushes(TmemStore *s, TmemClient *c, TmemPool *p,
                          uint64_t n)
{
    p->st.flushes += n;
    c->st.flushes += n;
    s->st.flushes += n;
}

TmemStatus tmem_flush_page(TmemClient *c, uint32_t pool_id, const TmemOid *oid,
                           uint32_t index)
{
    TmemStore *s = c->store;
    TmemStatus st = TMEM_S_BAD_POOL;
    TmemPool *p;

    store_lock(s);
    p = client_pool(c, pool_id);
    if (p) {
        uint64_t hobj = hash_oid(s, oid);
        uint32_t pos = table_find(p, &p->pages, hash_page(hobj, index), oid,
                                  index, false);

        if (pos != NO_SLOT) {
            entry_remove_at(p, pos, hobj);
            count_flushes(s, c, p, 1);
        }
        st = TMEM_S_OK;
    }
    store_unlock(s);
    return st;
}

TmemStatus tmem_flush_object(TmemClient *c, uint32_t pool_id,
                             const TmemOid *oid)
{
    TmemStore *s = c->store;
    TmemStatus st = TMEM_S_BAD_POOL;
    TmemPool *p;

    store_lock(s);
    p = client_pool(c, pool_id);
    if (p) {
        uint64_t hobj = hash_oid(s, oid);
        uint32_t opos = table_find(p, &p->objects, hobj, oid, 0, true);
        uint64_t n = 0;

        if (opos != NO_SLOT) {
            uint32_t idx = p->objects.slot[opos] & IDX_MASK;

            /*
             * Free every page, clearing its pages slot without letting the
             * table shrink (a rebuild would miss the object's pages still
             * in the slab), then drop the object and let both shrink.
             */
            while (idx != NIL) {
                TmemEntry *e = entry_at(p, idx);
                uint32_t next = e->obj_next;
                uint32_t pos = table_find(p, &p->pages,
                                          hash_page(hobj, e->index), oid,
                                          e->index, false);

                g_assert(pos != NO_SLOT);
                entry_release(p, idx);
                table_remove_at(p, false, pos, false);
                n++;
                idx = next;
            }
            table_remove_at(p, true, opos, true);
            if (too_sparse(&p->pages)) {
                table_rebuild(p, false, shrunk(&p->pages));
            }
            count_flushes(s, c, p, n);
        }
        st = TMEM_S_OK;
    }
    store_unlock(s);
    return st;
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

/* ---- migration ---- */

int tmem_client_foreach_persistent_page(TmemClient *c, TmemPageFn fn,
                                        void *opaque)
{
    TmemStore *s = c->store;
    int ret = 0;
    unsigned i;

    store_lock(s);
    for (i = 0; i < c->max_pools && !ret; i++) {
        TmemPool *p = c->pool[i];
        uint32_t num, j;

        if (!p || pool_is_eph(p)) {
            continue;
        }
        /* the slab, in memory order */
        for (num = 0; num < p->chunk_hi && !ret; num++) {
            const TmemChunk *ch = p->chunk[num];

            for (j = 0; ch && j < CHUNK_ENTRIES && !ret; j++) {
                const TmemEntry *e = &ch->e[j];
                TmemOid oid;

                if (entry_is_free(e)) {
                    continue;
                }
                entry_oid(e, &oid);
                if (entry_is_pattern(e)) {
                    ret = fn(i, &oid, e->index, NULL, entry_val(e), opaque);
                } else {
                    ret = fn(i, &oid, e->index, entry_data(e), 0, opaque);
                }
            }
        }
    }
    store_unlock(s);
    return ret;
}

TmemStatus tmem_restore_pool(TmemClient *c, uint32_t pool_id, uint32_t flags,
                             const uint8_t *uuid)
{
    TmemStatus st;
    uint32_t id;

    if (pool_id == UINT32_MAX) {
        return TMEM_S_BAD_POOL;
    }
    store_lock(c->store);
    st = new_pool_locked(c, flags, uuid, pool_id, &id);
    store_unlock(c->store);
    return st;
}

TmemStatus tmem_restore_page(TmemClient *c, uint32_t pool_id,
                             const TmemOid *oid, uint32_t index,
                             const void *data, uint64_t pattern)
{
    TmemStore *s = c->store;
    TmemStatus st = TMEM_S_BAD_POOL;
    TmemPool *p;

    if (data && page_is_uniform(data, TMEM_PAGE_SIZE, &pattern)) {
        data = NULL;
    }
    store_lock(s);
    p = client_pool(c, pool_id);
    if (p) {
        st = pool_is_eph(p) ? TMEM_S_INVALID :
             store_page(s, p, oid, index, data, pattern);
    }
    store_unlock(s);
    return st;
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

/* ---- consistency check (tests, fuzzing) ---- */

static bool valid_idx(const TmemPool *p, uint32_t idx)
{
    return (idx >> CHUNK_SHIFT) < p->chunk_hi && p->chunk[idx >> CHUNK_SHIFT] &&
           !entry_is_free(entry_at(p, idx));
}

/* Check that the slot at @i holds a live entry at its right distance. */
static const char *check_slot(TmemStore *s, TmemPool *p, const TmemTable *t,
                              uint32_t i, bool obj)
{
    uint32_t sl = t->slot[i], idx = sl & IDX_MASK;
    const TmemEntry *e;
    TmemOid oid;
    uint64_t h;

    if (!valid_idx(p, idx)) {
        return "table: slot names no live entry";
    }
    e = entry_at(p, idx);
    entry_oid(e, &oid);
    h = hash_oid(s, &oid);
    if (!obj) {
        h = hash_page(h, e->index);
    }
    if ((i + t->size - home_slot(h, t->size)) % t->size != slot_dist(sl)) {
        return "table: wrong probe distance";
    }
    if (obj && obj_prev(e) != NIL) {
        return "objects table: not the first entry";
    }
    return NULL;
}

static const char *check_pool(TmemStore *s, TmemPool *p, TmemStats *sum)
{
    TmemStats st = { 0 };
    uint64_t listed = 0, live = 0;
    uint32_t i, n, idx, prev, empty = 0;
    const char *why;

    if (p->st.gets != p->st.hits + p->st.misses) {
        return "pool: gets != hits + misses";
    }
    if (p->attached == 0 || (!p->owner) != !!(p->flags & TMEM_POOL_SHARED)) {
        return "pool: attachment or owner wrong";
    }
    for (i = 0, n = 0; i < p->pages.size; i++) {
        const TmemEntry *e;

        if (!p->pages.slot[i]) {
            continue;
        }
        n++;
        why = check_slot(s, p, &p->pages, i, false);
        if (why) {
            return why;
        }
        e = entry_at(p, p->pages.slot[i] & IDX_MASK);
        stats_add(&st, entry_is_pattern(e), entry_cost(e));
        if (!entry_is_pattern(e) && !entry_data(e)) {
            return "data entry: no data page";
        }
    }
    if (n != p->pages.used) {
        return "pages table: used count wrong";
    }
    if (st.pages != p->st.pages || st.bytes != p->st.bytes ||
        st.pattern_pages != p->st.pattern_pages) {
        return "pool: page/byte counters disagree with contents";
    }
    if (p->quota && p->st.bytes > p->quota && pool_is_eph(p)) {
        return "pool: ephemeral pool above its quota";
    }
    /* the slab holds exactly the pages */
    for (i = 0; i < p->chunk_hi; i++) {
        const TmemChunk *c = p->chunk[i];
        uint32_t j, nfree = 0;

        if (!c) {
            continue;
        }
        for (j = 0; j < CHUNK_ENTRIES; j++) {
            nfree += entry_is_free(&c->e[j]);
        }
        if (nfree != c->nfree) {
            return "slab: free count wrong";
        }
        live += CHUNK_ENTRIES - nfree;
        empty += nfree == CHUNK_ENTRIES;
    }
    if (live != p->st.pages || empty != p->empty_chunks || empty > 1) {
        return "slab: live entries differ from pages";
    }
    /* objects: every list consistent, lists cover every page */
    for (i = 0, n = 0; i < p->objects.size; i++) {
        TmemOid oid;
        uint64_t hobj;

        if (!p->objects.slot[i]) {
            continue;
        }
        n++;
        why = check_slot(s, p, &p->objects, i, true);
        if (why) {
            return why;
        }
        idx = p->objects.slot[i] & IDX_MASK;
        entry_oid(entry_at(p, idx), &oid);
        hobj = hash_oid(s, &oid);
        prev = NIL;
        while (idx != NIL) {
            const TmemEntry *e;

            if (!valid_idx(p, idx)) {
                return "object list: link to no live entry";
            }
            e = entry_at(p, idx);
            if (obj_prev(e) != prev || !entry_oid_eq(e, &oid)) {
                return "object list: broken link or foreign entry";
            }
            if (table_find(p, &p->pages, hash_page(hobj, e->index), &oid,
                           e->index, false) == NO_SLOT) {
                return "object list: entry not in pages table";
            }
            if (++listed > p->st.pages) {
                return "object list: too long";
            }
            prev = idx;
            idx = e->obj_next;
        }
    }
    if (n != p->objects.used || listed != p->st.pages) {
        return "objects table: does not cover the pages";
    }
    /* LRU */
    listed = 0;
    for (prev = NIL, idx = p->lru_head; idx != NIL;
         prev = idx, idx = entry_at(p, idx)->lru_next) {
        if (!valid_idx(p, idx) || entry_at(p, idx)->lru_prev != prev ||
            ++listed > p->st.pages) {
            return "lru list: broken";
        }
    }
    if (prev != p->lru_tail ||
        listed != (pool_is_eph(p) ? p->st.pages : 0)) {
        return "lru list: wrong length or tail";
    }
    sum->pages += p->st.pages;
    sum->bytes += p->st.bytes;
    sum->pattern_pages += p->st.pattern_pages;
    return NULL;
}

const char *tmem_store_check(TmemStore *s)
{
    const char *why = NULL;
    TmemStats sum = { 0 }, csum;
    uint64_t eph = 0, eph_pages = 0, ceph, chunks = 0;
    TmemClient *c;
    TmemPool *p;
    uint32_t i, npools = 0, nclients = 0;

    store_lock(s);
    for (p = s->pools; p && !why; p = p->next) {
        why = check_pool(s, p, &sum);
        npools++;
        if (pool_is_eph(p)) {
            eph += p->st.bytes;
            eph_pages += p->st.pages;
        }
        for (i = 0; i < p->chunk_hi; i++) {
            chunks += p->chunk[i] != NULL;
        }
    }
    if (why) {
        goto out;
    }
    why = "store: counters disagree with pools";
    if (npools != s->npools || sum.pages != s->st.pages ||
        sum.bytes != s->st.bytes || sum.pattern_pages != s->st.pattern_pages ||
        eph != s->eph_bytes || eph_pages != s->eph_pages ||
        chunks != s->live_chunks ||
        s->st.gets != s->st.hits + s->st.misses) {
        goto out;
    }
    why = "store: above its limit with ephemeral pages left";
    if (s->st.bytes > s->limit && s->eph_bytes) {
        goto out;
    }
    for (c = s->clients; c; c = c->next) {
        unsigned n = 0;

        nclients++;
        memset(&csum, 0, sizeof(csum));
        ceph = 0;
        for (i = 0; i < c->max_pools; i++) {
            p = c->pool[i];
            if (!p) {
                continue;
            }
            n++;
            if (p->owner == c) {
                csum.pages += p->st.pages;
                csum.bytes += p->st.bytes;
                csum.pattern_pages += p->st.pattern_pages;
                ceph += pool_is_eph(p) ? p->st.bytes : 0;
            } else if (p->owner) {
                why = "client: holds another client's private pool";
                goto out;
            }
        }
        why = "client: counters disagree with its pools";
        if (n != c->npools || csum.pages != c->st.pages ||
            csum.bytes != c->st.bytes ||
            csum.pattern_pages != c->st.pattern_pages ||
            ceph != c->eph_bytes || c->st.gets != c->st.hits + c->st.misses) {
            goto out;
        }
        why = "client: above its quota with ephemeral pages left";
        if (c->quota && c->st.bytes > c->quota && c->eph_bytes) {
            goto out;
        }
    }
    why = nclients != s->nclients ? "store: client count wrong" : NULL;
out:
    store_unlock(s);
    return why;
}
