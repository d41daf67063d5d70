/*
 * Entry slab of the virtio-tmem page pool: chunk allocation and
 * release, the partial-chunk list and the per-chunk free lists (see
 * tmem-slab.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-slab.h"

#include <glib.h>
#include <string.h>

#define NIL TMEM_SLAB_NIL

G_STATIC_ASSERT(sizeof(TmemEntry) == 52);

void tmem_slab_init(TmemSlab *sl)
{
    memset(sl, 0, sizeof(*sl));
    sl->partial = NIL;
}

static void partial_push(TmemSlab *sl, uint32_t num)
{
    TmemChunk *c = sl->chunk[num];

    c->prev = NIL;
    c->next = sl->partial;
    if (sl->partial != NIL) {
        sl->chunk[sl->partial]->prev = num;
    }
    sl->partial = num;
}

static void partial_unlink(TmemSlab *sl, uint32_t num)
{
    TmemChunk *c = sl->chunk[num];

    if (c->prev != NIL) {
        sl->chunk[c->prev]->next = c->next;
    } else {
        sl->partial = c->next;
    }
    if (c->next != NIL) {
        sl->chunk[c->next]->prev = c->prev;
    }
}

static bool chunk_new(TmemSlab *sl, TmemSlabMem *mem)
{
    uint32_t num, i, base;
    TmemChunk *c;

    if (sl->nfree_num) {
        num = sl->free_num[sl->nfree_num - 1];
    } else if (sl->chunk_hi < TMEM_MAX_CHUNKS) {
        num = sl->chunk_hi;
    } else {
        return false;
    }
    c = g_try_malloc(sizeof(*c));
    if (!c) {
        return false;
    }
    if (sl->nfree_num) {
        sl->nfree_num--;
    } else {
        if (sl->chunk_hi == sl->chunk_cap) {
            uint32_t cap = MAX(4, sl->chunk_cap * 2);

            sl->chunk = g_renew(TmemChunk *, sl->chunk, cap);
            memset(sl->chunk + sl->chunk_cap, 0,
                   (cap - sl->chunk_cap) * sizeof(*sl->chunk));
            sl->free_num = g_renew(uint32_t, sl->free_num, cap);
            mem->array_bytes += (uint64_t)(cap - sl->chunk_cap) *
                                (sizeof(TmemChunk *) + sizeof(uint32_t));
            sl->chunk_cap = cap;
        }
        sl->chunk_hi++;
    }
    base = num << TMEM_CHUNK_SHIFT;
    for (i = 0; i < TMEM_CHUNK_ENTRIES; i++) {
        c->e[i].obj_prev = TMEM_ENTRY_F_FREE | NIL;
        c->e[i].obj_next = i + 1 < TMEM_CHUNK_ENTRIES ? base + i + 1 : NIL;
    }
    c->nfree = TMEM_CHUNK_ENTRIES;
    c->free_head = base;
    sl->chunk[num] = c;
    mem->live_chunks++;
    sl->empty_chunks++;
    partial_push(sl, num);
    return true;
}

static void chunk_release(TmemSlab *sl, TmemSlabMem *mem, uint32_t num)
{
    partial_unlink(sl, num);
    g_free(sl->chunk[num]);
    sl->chunk[num] = NULL;
    sl->free_num[sl->nfree_num++] = num;
    mem->live_chunks--;
    sl->empty_chunks--;
}

uint32_t tmem_slab_alloc(TmemSlab *sl, TmemSlabMem *mem)
{
    TmemChunk *c;
    TmemEntry *e;
    uint32_t idx;

    if (sl->partial == NIL && !chunk_new(sl, mem)) {
        return NIL;
    }
    c = sl->chunk[sl->partial];
    idx = c->free_head;
    e = tmem_slab_entry(sl, idx);
    c->free_head = e->obj_next;
    e->obj_prev = NIL;
    if (c->nfree-- == TMEM_CHUNK_ENTRIES) {
        sl->empty_chunks--;
    }
    if (c->nfree == 0) {
        partial_unlink(sl, sl->partial);
    }
    return idx;
}

void tmem_slab_free(TmemSlab *sl, TmemSlabMem *mem, uint32_t idx)
{
    uint32_t num = idx >> TMEM_CHUNK_SHIFT;
    TmemChunk *c = sl->chunk[num];
    TmemEntry *e = tmem_slab_entry(sl, idx);

    e->obj_prev = TMEM_ENTRY_F_FREE | NIL;
    e->obj_next = c->free_head;
    c->free_head = idx;
    if (c->nfree++ == 0) {
        partial_push(sl, num);
    }
    if (c->nfree == TMEM_CHUNK_ENTRIES) {
        /* Keep one empty chunk so that a put/flush cycle does not thrash */
        sl->empty_chunks++;
        if (sl->empty_chunks > 1) {
            chunk_release(sl, mem, num);
        }
    }
}

void tmem_slab_destroy(TmemSlab *sl, TmemSlabMem *mem)
{
    uint32_t i;

    for (i = 0; i < sl->chunk_hi; i++) {
        mem->live_chunks -= sl->chunk[i] != NULL;
        g_free(sl->chunk[i]);
    }
    mem->array_bytes -= (uint64_t)sl->chunk_cap *
                        (sizeof(TmemChunk *) + sizeof(uint32_t));
    g_free(sl->chunk);
    g_free(sl->free_num);
}

const char *tmem_slab_check(const TmemSlab *sl, uint64_t *live,
                            uint64_t *chunks)
{
    uint32_t i, empty = 0;

    *live = *chunks = 0;
    for (i = 0; i < sl->chunk_hi; i++) {
        const TmemChunk *c = sl->chunk[i];
        uint32_t j, nfree = 0;

        if (!c) {
            continue;
        }
        for (j = 0; j < TMEM_CHUNK_ENTRIES; j++) {
            nfree += tmem_entry_is_free(&c->e[j]);
        }
        if (nfree != c->nfree) {
            return "slab: free count wrong";
        }
        *live += TMEM_CHUNK_ENTRIES - nfree;
        *chunks += 1;
        empty += nfree == TMEM_CHUNK_ENTRIES;
    }
    if (empty != sl->empty_chunks || empty > 1) {
        return "slab: empty chunk count wrong";
    }
    return NULL;
}
