/*
 * Host page pool of virtio-tmem, consistency check: walks every
 * structure of a store (tables, slabs, lists, counters of pools,
 * clients and the store) and reports the first disagreement.  For tests
 * and fuzzing (tmem_store_check()).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-pool-internal.h"

/* Check that the slot at @i holds a live entry at its right distance. */
static const char *check_slot(TmemStore *s, TmemPool *p, const TmemTable *t,
                              uint32_t i, bool obj)
{
    uint32_t sl = t->slot[i], idx = sl & IDX_MASK;
    const TmemEntry *e;
    TmemOid oid;
    uint64_t h;

    if (!tmem_slab_valid(&p->slab, idx)) {
        return "table: slot names no live entry";
    }
    e = entry_at(p, idx);
    entry_oid(e, &oid);
    h = hash_oid(s, &oid);
    if (!obj) {
        h = tmem_hash_page(h, e->index);
    }
    if ((i + t->size - tmem_table_home(h, t->size)) % t->size !=
        tmem_slot_dist(sl)) {
        return "table: wrong probe distance";
    }
    if (obj && obj_prev(e) != NIL) {
        return "objects table: not the first entry";
    }
    return NULL;
}

static const char *check_pool(TmemStore *s, TmemPool *p, TmemStats *sum,
                              uint64_t *chunks)
{
    TmemStats st = { 0 };
    uint64_t listed = 0, live, nchunks;
    uint32_t i, n, idx, prev;
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
        e = entry_at(p, tmem_table_at(&p->pages, i));
        stats_update(&st, entry_is_pattern(e), entry_cost(e), 1);
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
    why = tmem_slab_check(&p->slab, &live, &nchunks);
    if (why) {
        return why;
    }
    if (live != p->st.pages) {
        return "slab: live entries differ from pages";
    }
    *chunks += nchunks;
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
        idx = tmem_table_at(&p->objects, i);
        entry_oid(entry_at(p, idx), &oid);
        hobj = hash_oid(s, &oid);
        prev = NIL;
        while (idx != NIL) {
            const TmemEntry *e;

            if (!tmem_slab_valid(&p->slab, idx)) {
                return "object list: link to no live entry";
            }
            e = entry_at(p, idx);
            if (obj_prev(e) != prev || !entry_oid_eq(e, &oid)) {
                return "object list: broken link or foreign entry";
            }
            if (find_page(p, tmem_hash_page(hobj, e->index), &oid,
                          e->index) == NO_SLOT) {
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
        if (!tmem_slab_valid(&p->slab, idx) ||
            entry_at(p, idx)->lru_prev != prev ||
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
        why = check_pool(s, p, &sum, &chunks);
        npools++;
        if (pool_is_eph(p)) {
            eph += p->st.bytes;
            eph_pages += p->st.pages;
        }
    }
    if (why) {
        goto out;
    }
    why = "store: counters disagree with pools";
    if (npools != s->npools || sum.pages != s->st.pages ||
        sum.bytes != s->st.bytes || sum.pattern_pages != s->st.pattern_pages ||
        eph != s->eph_bytes || eph_pages != s->eph_pages ||
        chunks != s->slab_mem.live_chunks ||
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
