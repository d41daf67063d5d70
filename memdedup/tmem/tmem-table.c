/*
 * Keyed Robin Hood hash table of the virtio-tmem page pool: the keyed
 * hash, placement with Robin Hood displacement, backward-shift deletion
 * and rebuilds (see tmem-table.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-table.h"

#include <glib.h>

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

uint64_t tmem_hash_oid(uint64_t k0, uint64_t k1, const TmemOid *oid)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;
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

/* ---- tables ---- */

static inline uint32_t make_slot(uint32_t dist, uint32_t idx)
{
    return ((dist + 1) << TMEM_TABLE_IDX_BITS) | idx;
}

void tmem_table_init(TmemTable *t, uint64_t *bytes)
{
    t->size = TMEM_TABLE_MIN;
    t->used = 0;
    t->slot = g_new0(uint32_t, t->size);
    *bytes += t->size * sizeof(uint32_t);
}

void tmem_table_destroy(TmemTable *t, uint64_t *bytes)
{
    *bytes -= t->size * sizeof(uint32_t);
    g_free(t->slot);
    t->slot = NULL;
    t->size = t->used = 0;
}

uint32_t tmem_table_place(uint32_t *slot, uint32_t size, uint64_t h,
                          uint32_t idx)
{
    uint32_t pos = tmem_table_home(h, size);
    uint32_t d = 0;

    for (;;) {
        uint32_t sl = slot[pos];

        if (!sl) {
            slot[pos] = make_slot(d, idx);
            return TMEM_TABLE_NONE;
        }
        if (tmem_slot_dist(sl) < d) {
            slot[pos] = make_slot(d, idx);
            idx = sl & TMEM_TABLE_IDX_MASK;
            d = tmem_slot_dist(sl);
        }
        if (++pos == size) {
            pos = 0;
        }
        if (++d > TMEM_TABLE_DIST_MAX) {
            return idx;
        }
    }
}

bool tmem_table_insert(TmemTable *t, uint64_t h, uint32_t idx)
{
    if (tmem_table_too_full(t) ||
        tmem_table_place(t->slot, t->size, h, idx) != TMEM_TABLE_NONE) {
        return false;
    }
    t->used++;
    return true;
}

void tmem_table_remove_at(TmemTable *t, uint32_t pos)
{
    uint32_t next = pos + 1 == t->size ? 0 : pos + 1;

    while (t->slot[next] && tmem_slot_dist(t->slot[next]) > 0) {
        t->slot[pos] = t->slot[next] - (1u << TMEM_TABLE_IDX_BITS);
        pos = next;
        next = next + 1 == t->size ? 0 : next + 1;
    }
    t->slot[pos] = 0;
    t->used--;
}

void tmem_table_rebuild(TmemTable *t, uint32_t size, TmemTableFill fill,
                        void *opaque, uint64_t *bytes)
{
    uint32_t *slot, n;

    for (;; size += size / 5 + 1) {
        slot = g_new0(uint32_t, size);
        n = 0;
        if (fill(opaque, slot, size, &n)) {
            break;
        }
        g_free(slot);
    }
    *bytes += (uint64_t)size * sizeof(uint32_t);
    *bytes -= (uint64_t)t->size * sizeof(uint32_t);
    g_free(t->slot);
    t->slot = slot;
    t->size = size;
    t->used = n;
}
