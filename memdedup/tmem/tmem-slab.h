/*
 * Entry slab of the virtio-tmem page pool: each pool keeps one
 * TmemEntry per stored page in 128-entry chunks, an entry named by its
 * 26-bit number within the pool (chunk number << 7 | slot in the chunk),
 * which stays valid for as long as the entry is allocated.  Allocation
 * takes the most recently freed entry of the first chunk on a list of
 * chunks with free entries (a chunk joins it at the head when it is made
 * or gets its first free entry).  A chunk that empties out is released,
 * except for one kept so that a put/flush cycle does not allocate and
 * free a chunk every time; released chunk numbers are reused first.
 *
 * The slab owns two bits of an entry: TMEM_ENTRY_F_FREE in obj_prev,
 * and obj_next as the chunk's free list while the entry is free.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_TMEM_SLAB_H
#define MEMDEDUP_TMEM_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TMEM_SLAB_IDX_BITS 26
#define TMEM_SLAB_IDX_MASK ((1u << TMEM_SLAB_IDX_BITS) - 1)
#define TMEM_SLAB_NIL TMEM_SLAB_IDX_MASK    /* "no entry" in a link */
#define TMEM_ENTRY_F_PATTERN (1u << 31)     /* in obj_prev: for the pool */
#define TMEM_ENTRY_F_FREE (1u << 30)        /* in obj_prev: not in use */

#define TMEM_CHUNK_SHIFT 7
#define TMEM_CHUNK_ENTRIES (1u << TMEM_CHUNK_SHIFT)
/* The last chunk number would hold TMEM_SLAB_NIL: never used. */
#define TMEM_MAX_CHUNKS ((1u << TMEM_SLAB_IDX_BITS) / TMEM_CHUNK_ENTRIES - 1)

/*
 * One stored page, 52 bytes: the key, the data pointer or pattern value,
 * and 26-bit links of a doubly linked LRU list and of the doubly linked
 * list of the pages of its object.  The spare top bits of obj_prev
 * carry the pattern and free flags.
 */
typedef struct TmemEntry {
    uint32_t oid[6];                 /* TmemOid, 4-byte aligned copy */
    uint32_t index;
    uint32_t val[2];                 /* data pointer or pattern value */
    uint32_t lru_prev;               /* towards the most recently used */
    uint32_t lru_next;
    uint32_t obj_prev;               /* | TMEM_ENTRY_F_* */
    uint32_t obj_next;               /* also the chunk's free list */
} TmemEntry;

typedef struct TmemChunk {
    uint32_t nfree;
    uint32_t free_head;              /* entry number or TMEM_SLAB_NIL */
    uint32_t prev, next;             /* partial-chunk list, chunk numbers */
    TmemEntry e[TMEM_CHUNK_ENTRIES];
} TmemChunk;

typedef struct TmemSlab {
    TmemChunk **chunk;               /* [chunk_cap], NULL: released */
    uint32_t chunk_cap;
    uint32_t chunk_hi;               /* numbers below are or were used */
    uint32_t *free_num;              /* released chunk numbers */
    uint32_t nfree_num;
    uint32_t partial;                /* chunks with free entries */
    uint32_t empty_chunks;
} TmemSlab;

/* What the slabs of a store take, for its metadata count */
typedef struct TmemSlabMem {
    uint64_t live_chunks;            /* of all slabs */
    uint64_t array_bytes;            /* chunk and free_num arrays */
} TmemSlabMem;

static inline TmemEntry *tmem_slab_entry(const TmemSlab *sl, uint32_t idx)
{
    return &sl->chunk[idx >> TMEM_CHUNK_SHIFT]->e[idx &
                                                 (TMEM_CHUNK_ENTRIES - 1)];
}

static inline bool tmem_entry_is_free(const TmemEntry *e)
{
    return e->obj_prev & TMEM_ENTRY_F_FREE;
}

/* Whether @idx names an entry in use. */
static inline bool tmem_slab_valid(const TmemSlab *sl, uint32_t idx)
{
    uint32_t num = idx >> TMEM_CHUNK_SHIFT;

    return num < sl->chunk_hi && sl->chunk[num] &&
           !tmem_entry_is_free(tmem_slab_entry(sl, idx));
}

/*
 * Chunk @num (below chunk_hi) if it holds entries in use, else NULL.
 * For walks of the slab in memory order, which loop over the chunks and
 * then over the entries of each that are not tmem_entry_is_free(): the
 * fastest walk, and a rebuild of a pool's tables is one.
 */
static inline const TmemChunk *tmem_slab_chunk(const TmemSlab *sl,
                                               uint32_t num)
{
    const TmemChunk *c = sl->chunk[num];

    return c && c->nfree < TMEM_CHUNK_ENTRIES ? c : NULL;
}

/* An empty slab. */
void tmem_slab_init(TmemSlab *sl);

/* Free the chunks and arrays of @sl, whatever is still allocated. */
void tmem_slab_destroy(TmemSlab *sl, TmemSlabMem *mem);

/*
 * Allocate an entry: its number, or TMEM_SLAB_NIL when the slab has
 * TMEM_MAX_CHUNKS chunks or memory is short.  The entry's obj_prev is
 * TMEM_SLAB_NIL (no flag); its other fields are undefined.
 */
uint32_t tmem_slab_alloc(TmemSlab *sl, TmemSlabMem *mem);

/* Free the entry @idx, which must be in use. */
void tmem_slab_free(TmemSlab *sl, TmemSlabMem *mem, uint32_t idx);

/*
 * Check the free counts and the empty chunk count of @sl.  Returns NULL
 * and the entries in use in *@live and the chunks allocated in *@chunks
 * when consistent, else a static description.
 */
const char *tmem_slab_check(const TmemSlab *sl, uint64_t *live,
                            uint64_t *chunks);

#endif /* MEMDEDUP_TMEM_SLAB_H */
