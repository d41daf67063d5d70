/*
 * Keyed Robin Hood hash table of the virtio-tmem page pool.
 *
 * An open-addressing table of 32-bit slots, each 0 (empty) or
 * (probe distance + 1) << 26 | entry number, with linear probing, Robin
 * Hood displacement and backward-shift deletion.  The table stores entry
 * numbers only, never keys: its owner compares keys (the match function
 * of tmem_table_find()) and refills a table that must be rebuilt
 * (TmemTableFill), so the pool rebuilds its tables straight from its
 * slab.  A probe is at most TMEM_TABLE_DIST_MAX + 1 slots long: a longer
 * one makes the owner rebuild the table bigger.
 *
 * Keys are guest-controlled, so the hash is keyed: SipHash-1-3 of the
 * object id under a per-store random key, then the page index mixed in
 * by a bijective 64-bit finaliser.  Without the key a guest cannot aim
 * collisions at one bucket.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_TMEM_TABLE_H
#define MEMDEDUP_TMEM_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "memdedup/tmem/tmem-pool.h"

/* Entry numbers are below 1 << TMEM_TABLE_IDX_BITS */
#define TMEM_TABLE_IDX_BITS 26
#define TMEM_TABLE_IDX_MASK ((1u << TMEM_TABLE_IDX_BITS) - 1)
/* Not an entry number: tmem_table_place() placed everything */
#define TMEM_TABLE_NONE TMEM_TABLE_IDX_MASK
/* The distance field of a slot holds 1..63 */
#define TMEM_TABLE_DIST_MAX 62
#define TMEM_TABLE_MIN 8
/* tmem_table_find(): no such entry */
#define TMEM_TABLE_NO_SLOT UINT32_MAX

typedef struct TmemTable {
    uint32_t *slot;
    uint32_t size;
    uint32_t used;
} TmemTable;

/*
 * Refill @slot[@size] (all zero) with every entry the table must hold,
 * each by tmem_table_place(), counting them in *@n.  Returns false as
 * soon as a placement leaves an entry over: the table is then retried
 * bigger.
 */
typedef bool (*TmemTableFill)(void *opaque, uint32_t *slot, uint32_t size,
                              uint32_t *n);

/* ---- the keyed hash ---- */

/* SipHash-1-3 of the 24-byte @oid under the key (@k0, @k1). */
uint64_t tmem_hash_oid(uint64_t k0, uint64_t k1, const TmemOid *oid);

/*
 * Mix the index into the (secret) object hash.  Every step is a
 * bijection, so two indices of one object never share a 64-bit hash.
 */
static inline uint64_t tmem_hash_page(uint64_t hobj, uint32_t index)
{
    uint64_t h = hobj ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL);

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* ---- slots ---- */

/* The slot where a probe for @h starts: from the top 32 bits of @h. */
static inline uint32_t tmem_table_home(uint64_t h, uint32_t size)
{
    return (uint32_t)(((h >> 32) * (uint64_t)size) >> 32);
}

/* Probe distance of a full slot from its entry's home slot. */
static inline uint32_t tmem_slot_dist(uint32_t sl)
{
    return (sl >> TMEM_TABLE_IDX_BITS) - 1;
}

/* The entry number in the (full) slot at @pos. */
static inline uint32_t tmem_table_at(const TmemTable *t, uint32_t pos)
{
    return t->slot[pos] & TMEM_TABLE_IDX_MASK;
}

/* Replace the entry at @pos by @idx, which must have the same hash. */
static inline void tmem_table_set_at(TmemTable *t, uint32_t pos,
                                     uint32_t idx)
{
    t->slot[pos] = (t->slot[pos] & ~TMEM_TABLE_IDX_MASK) | idx;
}

/*
 * Position of the slot of the entry with hash @h for which
 * @match(@opaque, entry) is true, or TMEM_TABLE_NO_SLOT.  Inline, so
 * that a constant @match is inlined into the probe loop.
 */
static inline uint32_t tmem_table_find(const TmemTable *t, uint64_t h,
                                       bool (*match)(const void *opaque,
                                                     uint32_t idx),
                                       const void *opaque)
{
    uint32_t pos, d;

    if (!t->used) {
        return TMEM_TABLE_NO_SLOT;
    }
    pos = tmem_table_home(h, t->size);
    for (d = 0; d <= TMEM_TABLE_DIST_MAX; d++) {
        uint32_t sl = t->slot[pos];

        if (!sl || tmem_slot_dist(sl) < d) {
            return TMEM_TABLE_NO_SLOT;
        }
        if (tmem_slot_dist(sl) == d &&
            match(opaque, sl & TMEM_TABLE_IDX_MASK)) {
            return pos;
        }
        if (++pos == t->size) {
            pos = 0;
        }
    }
    return TMEM_TABLE_NO_SLOT;
}

/* ---- sizing: grow by 1/5 at a load of 7/8, shrink below 3/8 ---- */

static inline uint32_t tmem_table_grown(const TmemTable *t)
{
    return t->size + t->size / 5 + 1;
}

static inline bool tmem_table_too_full(const TmemTable *t)
{
    return (uint64_t)(t->used + 1) * 8 > (uint64_t)t->size * 7;
}

static inline bool tmem_table_too_sparse(const TmemTable *t)
{
    return t->size > TMEM_TABLE_MIN &&
           (uint64_t)t->used * 8 < (uint64_t)t->size * 3;
}

static inline uint32_t tmem_table_shrunk(const TmemTable *t)
{
    uint32_t size = (uint32_t)((uint64_t)t->used * 10 / 7 + 1);

    return size > TMEM_TABLE_MIN ? size : TMEM_TABLE_MIN;
}

/* ---- operations ---- */

/*
 * The slot arrays' bytes are added to and taken from *@bytes, the
 * owner's count of the memory its tables take.
 */
void tmem_table_init(TmemTable *t, uint64_t *bytes);
void tmem_table_destroy(TmemTable *t, uint64_t *bytes);

/*
 * Put @idx (hash @h) in @slot[@size].  Returns TMEM_TABLE_NONE, or the
 * entry left over when a probe would pass TMEM_TABLE_DIST_MAX (the
 * others are all placed).
 */
uint32_t tmem_table_place(uint32_t *slot, uint32_t size, uint64_t h,
                          uint32_t idx);

/*
 * Add @idx (hash @h).  False when the table is too full or a probe
 * overflowed: then the table misses @idx or another entry, and the
 * caller must rebuild it at tmem_table_grown() slots.
 */
bool tmem_table_insert(TmemTable *t, uint64_t h, uint32_t idx);

/* Empty the slot at @pos (shifting its followers back). */
void tmem_table_remove_at(TmemTable *t, uint32_t pos);

/*
 * Replace the contents of @t by what @fill(@opaque) places, in a table
 * of at least @size slots: 1/5 more each time a probe overflows.
 */
void tmem_table_rebuild(TmemTable *t, uint32_t size, TmemTableFill fill,
                        void *opaque, uint64_t *bytes);

#endif /* MEMDEDUP_TMEM_TABLE_H */
