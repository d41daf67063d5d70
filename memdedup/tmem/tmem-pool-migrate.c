/*
 * Host page pool of virtio-tmem, migration: the save side walks every
 * page of a client's persistent pools, the load side recreates pools
 * under their source ids and puts their pages back.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-pool-internal.h"
#include "memdedup/classify/page-classify.h"

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
        for (num = 0; num < p->slab.chunk_hi && !ret; num++) {
            const TmemChunk *ch = tmem_slab_chunk(&p->slab, num);

            for (j = 0; ch && j < TMEM_CHUNK_ENTRIES && !ret; j++) {
                const TmemEntry *e = &ch->e[j];
                TmemOid oid;

                if (tmem_entry_is_free(e)) {
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
    st = tmem_new_pool_locked(c, flags, uuid, pool_id, &id);
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
             tmem_pool_store_page(s, p, oid, index, data, pattern);
    }
    store_unlock(s);
    return st;
}
