/*
 * Host page pool of virtio-tmem: the pages of a pool, under
 * (pool, oid, index) keys.  Puts, gets and flushes, the byte accounting
 * of pools, clients and the store, and eviction to keep them within
 * their limit and quotas.  The structures are described in
 * tmem-pool-internal.h.
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

#include "memdedup/tmem/tmem-pool-internal.h"
#include "memdedup/classify/page-classify.h"

/* ---- the pool's tables ---- */

typedef struct SlabFill {
    const TmemPool *p;
    bool obj;
} SlabFill;

/*
 * TmemTableFill of a pool's table: every entry in use goes into the
 * pages table, every first entry of an object into the objects table.
 */
static bool fill_from_slab(void *opaque, uint32_t *slot, uint32_t size,
                           uint32_t *n)
{
    const SlabFill *f = opaque;
    const TmemPool *p = f->p;
    TmemOid last = { { 0 } };
    uint64_t hobj = 0;
    bool have = false;
    uint32_t num, i;

    for (num = 0; num < p->slab.chunk_hi; num++) {
        const TmemChunk *c = tmem_slab_chunk(&p->slab, num);

        for (i = 0; c && i < TMEM_CHUNK_ENTRIES; i++) {
            const TmemEntry *e = &c->e[i];

            if (tmem_entry_is_free(e) || (f->obj && obj_prev(e) != NIL)) {
                continue;
            }
            /* runs of pages of one object share the SipHash */
            if (!have || !entry_oid_eq(e, &last)) {
                entry_oid(e, &last);
                hobj = hash_oid(p->store, &last);
                have = true;
            }
            if (tmem_table_place(slot, size,
                                 f->obj ? hobj : tmem_hash_page(hobj, e->index),
                                 (num << TMEM_CHUNK_SHIFT) | i) !=
                TMEM_TABLE_NONE) {
                return false;
            }
            (*n)++;
        }
    }
    return true;
}

/*
 * Rebuild one table of @p at (at least) @size slots from the slab.  So
 * the slab must agree with the table's contents: entries join the slab
 * before their table, and leave it first.
 */
static void table_rebuild(TmemPool *p, bool obj, uint32_t size)
{
    SlabFill f = { p, obj };

    tmem_table_rebuild(obj ? &p->objects : &p->pages, size, fill_from_slab,
                       &f, &p->store->table_bytes);
}

/* Add @idx, which the slab already holds (see table_rebuild). */
static void table_insert(TmemPool *p, bool obj, uint64_t h, uint32_t idx)
{
    TmemTable *t = obj ? &p->objects : &p->pages;

    if (!tmem_table_insert(t, h, idx)) {
        /* too full, or a probe overflowed: the rebuild includes @idx */
        table_rebuild(p, obj, tmem_table_grown(t));
    }
}

/* The entry at @pos must be out of the slab (or not a first) already. */
static void table_remove_at(TmemPool *p, bool obj, uint32_t pos,
                            bool may_shrink)
{
    TmemTable *t = obj ? &p->objects : &p->pages;

    tmem_table_remove_at(t, pos);
    if (may_shrink && tmem_table_too_sparse(t)) {
        table_rebuild(p, obj, tmem_table_shrunk(t));
    }
}

/* ---- accounting ---- */

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

/* ---- data pages ---- */

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
    tmem_slab_free(&p->slab, &p->store->slab_mem, idx);
}

/*
 * Remove the entry in slot @ppos of @p's pages table from every structure
 * and free it.  The order keeps table_rebuild's rule: lists first, then
 * the slab, then the tables.
 */
static void entry_remove_at(TmemPool *p, uint32_t ppos, uint64_t hobj)
{
    uint32_t idx = tmem_table_at(&p->pages, ppos);
    TmemEntry *e = entry_at(p, idx);
    uint32_t prev = obj_prev(e), next = e->obj_next;
    uint32_t opos = NO_SLOT;
    TmemOid oid;

    if (prev == NIL) {
        entry_oid(e, &oid);
        opos = find_object(p, hobj, &oid);
        g_assert(opos != NO_SLOT && tmem_table_at(&p->objects, opos) == idx);
        if (next != NIL) {
            /* the next page becomes the object's first */
            tmem_table_set_at(&p->objects, opos, next);
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
    ppos = find_page(p, tmem_hash_page(hobj, e->index), &oid, e->index);
    g_assert(ppos != NO_SLOT && tmem_table_at(&p->pages, ppos) == idx);
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

void tmem_store_shrink_to(TmemStore *s, uint64_t limit)
{
    while (s->st.bytes > limit && s->eph_pages) {
        evict_one(s, store_victim(s));
    }
}

void tmem_client_shrink_to(TmemClient *c, uint64_t quota)
{
    while (c->st.bytes > quota && c->eph_bytes) {
        evict_one(c->store, client_victim(c));
    }
}

void tmem_pool_shrink_to(TmemPool *p, uint64_t quota)
{
    while (p->st.bytes > quota && pool_is_eph(p) && p->st.pages) {
        evict_one(p->store, p);
    }
}

/* ---- pools ---- */

TmemPool *tmem_pool_create(TmemStore *s, TmemClient *owner, uint32_t flags,
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
    tmem_table_init(&p->pages, &s->table_bytes);
    tmem_table_init(&p->objects, &s->table_bytes);
    p->lru_head = p->lru_tail = NIL;
    tmem_slab_init(&p->slab);
    p->next = s->pools;
    if (s->pools) {
        s->pools->prev = p;
    }
    s->pools = p;
    s->npools++;
    return p;
}

void tmem_pool_free(TmemStore *s, TmemPool *p)
{
    uint32_t i;

    for (i = 0; i < p->pages.size; i++) {
        if (p->pages.slot[i]) {
            TmemEntry *e = entry_at(p, tmem_table_at(&p->pages, i));

            if (!entry_is_pattern(e)) {
                page_release(s, entry_data(e));
            }
            uncharge(p, entry_is_pattern(e));
        }
    }
    tmem_slab_destroy(&p->slab, &s->slab_mem);
    tmem_table_destroy(&p->pages, &s->table_bytes);
    tmem_table_destroy(&p->objects, &s->table_bytes);
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

/* ---- operations ---- */

/*
 * A page that costs no more than the one under the key replaces it in
 * place (this always fits); otherwise the old page goes first, so a
 * refusal leaves nothing under the key.
 */
TmemStatus tmem_pool_store_page(TmemStore *s, TmemPool *p,
                                const TmemOid *oid, uint32_t index,
                                const void *data, uint64_t pattern)
{
    uint64_t hobj = hash_oid(s, oid);
    uint64_t hpage = tmem_hash_page(hobj, index);
    bool is_pattern = data == NULL;
    uint64_t cost = is_pattern ? TMEM_META_COST : TMEM_DATA_PAGE_COST;
    TmemClient *owner = p->owner;
    bool eph = pool_is_eph(p);
    TmemEntry *e;
    uint32_t pos, idx;
    void *copy = NULL;

    pos = find_page(p, hpage, oid, index);
    if (pos != NO_SLOT) {
        idx = tmem_table_at(&p->pages, pos);
        e = entry_at(p, idx);
        if (!is_pattern && !entry_is_pattern(e)) {
            memcpy(entry_data(e), data, TMEM_PAGE_SIZE);
        } else if (is_pattern) {
            if (!entry_is_pattern(e)) {
                page_release(s, entry_data(e));
                uncharge(p, false);
                charge(p, true);
                e->obj_prev |= TMEM_ENTRY_F_PATTERN;
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
        tmem_pool_shrink_to(p, p->quota - cost);
    }
    if (owner && owner->quota) {
        tmem_client_shrink_to(owner, owner->quota - cost);
    }
    tmem_store_shrink_to(s, s->limit - cost);
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
    idx = tmem_slab_alloc(&p->slab, &s->slab_mem);
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
    e->obj_prev = NIL | (is_pattern ? TMEM_ENTRY_F_PATTERN : 0);
    e->obj_next = NIL;
    e->lru_prev = e->lru_next = NIL;

    pos = find_object(p, hobj, oid);
    if (pos == NO_SLOT) {
        table_insert(p, true, hobj, idx);
    } else {
        /* link in second, so the objects table keeps its entry */
        uint32_t head = tmem_table_at(&p->objects, pos);
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

/* Slot of (@oid, @index) in @p's pages table; *@hobj: the oid's hash. */
static uint32_t find_key(const TmemPool *p, const TmemOid *oid,
                         uint32_t index, uint64_t *hobj)
{
    *hobj = hash_oid(p->store, oid);
    return find_page(p, tmem_hash_page(*hobj, index), oid, index);
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
        st = tmem_pool_store_page(s, p, oid, index, uniform ? NULL : page,
                                  pattern);
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
        uint64_t hobj;
        uint32_t pos = find_key(p, oid, index, &hobj);

        p->st.gets++;
        c->st.gets++;
        s->st.gets++;
        if (pos == NO_SLOT) {
            p->st.misses++;
            c->st.misses++;
            s->st.misses++;
            st = TMEM_S_MISS;
        } else {
            uint32_t idx = tmem_table_at(&p->pages, pos);
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
        uint64_t hobj;
        uint32_t pos = find_key(p, oid, index, &hobj);

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
        uint32_t opos = find_object(p, hobj, oid);
        uint64_t n = 0;

        if (opos != NO_SLOT) {
            uint32_t idx = tmem_table_at(&p->objects, opos);

            /*
             * Free every page, clearing its pages slot without letting the
             * table shrink (a rebuild would miss the object's pages still
             * in the slab), then drop the object and let both shrink.
             */
            while (idx != NIL) {
                TmemEntry *e = entry_at(p, idx);
                uint32_t next = e->obj_next;
                uint32_t pos = find_page(p, tmem_hash_page(hobj, e->index),
                                         oid, e->index);

                g_assert(pos != NO_SLOT);
                entry_release(p, idx);
                table_remove_at(p, false, pos, false);
                n++;
                idx = next;
            }
            table_remove_at(p, true, opos, true);
            if (tmem_table_too_sparse(&p->pages)) {
                table_rebuild(p, false, tmem_table_shrunk(&p->pages));
            }
            count_flushes(s, c, p, n);
        }
        st = TMEM_S_OK;
    }
    store_unlock(s);
    return st;
}
