/*
 * A synthetic x86-64 Linux guest for the introspection unit tests: a
 * buffer standing for 64 MiB of guest RAM, hand-built page tables (4 or
 * 5 levels, any leaf size), a struct page array mapped at vmemmap, and a
 * VmcoreInfo describing it (6.12's struct page layout).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_UNIT_FAKE_GUEST_H
#define TESTS_UNIT_FAKE_GUEST_H

#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-freepages.h"

#define RAM_SIZE (64ULL << 20)          /* 64 MiB of guest RAM */
#define NR_PFNS (RAM_SIZE >> 12)
#define KERNEL_MAP 0xffffffff80000000ULL
#define DIRECT_MAP 0xffff888000000000ULL
#define VMEMMAP 0xffffea0000000000ULL
#define P 0x1ULL                        /* present */
#define PS 0x80ULL                      /* page size */
#define BUDDY_612 0xf0000000u

typedef struct FakeGuest {
    unsigned char *ram;
    uint64_t next_table;                /* bump allocator for tables */
    uint64_t root;
    int levels;
    GuestMemory mem;
    VmcoreInfo info;
} FakeGuest;

static inline const void *fake_map(void *opaque, uint64_t gpa, uint64_t len)
{
    FakeGuest *g = opaque;

    if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa) {
        return NULL;
    }
    return g->ram + gpa;
}

static inline uint64_t *pte_at(FakeGuest *g, uint64_t gpa)
{
    return (uint64_t *)(g->ram + gpa);
}

static inline uint64_t alloc_table(FakeGuest *g)
{
    uint64_t t = g->next_table;

    g->next_table += 4096;
    g_assert_cmpuint(g->next_table, <=, 0x100000);  /* tables live below 1 MiB */
    return t;
}

/* Map @vaddr to @gpa with a leaf of 2^@leaf_shift bytes. */
static inline void map_page(FakeGuest *g, uint64_t vaddr, uint64_t gpa, int leaf_shift)
{
    uint64_t table = g->root;
    int top = g->levels == 5 ? 48 : 39;

    for (int shift = top; ; shift -= 9) {
        uint64_t *e = pte_at(g, table + ((vaddr >> shift) & 511) * 8);

        if (shift == leaf_shift) {
            *e = gpa | P | (shift > 12 ? PS : 0);
            return;
        }
        if (!(*e & P)) {
            *e = alloc_table(g) | P;
        }
        table = *e & 0x000ffffffffff000ULL;
    }
}

static inline void fake_guest_init(FakeGuest *g, int levels)
{
    memset(g, 0, sizeof(*g));
    g->ram = g_malloc0(RAM_SIZE);
    g->levels = levels;
    g->next_table = 0x1000;
    g->root = alloc_table(g);
    g->mem.map = fake_map;
    g->mem.opaque = g;
    g->info.page_size = 4096;
    g->info.init_top_pgt = KERNEL_MAP + g->root;   /* phys_base 0 */
    g->info.pgtable_l5_enabled = levels == 5;
    g->info.page_struct_size = 64;
    g->info.page_mapcount_off = 48;
    g->info.page_private_off = 40;
    g->info.max_order = 10;
    g->info.section_size_bits = 27;
    g->info.buddy_mapcount_value = BUDDY_612;
    g->info.buddy_type_in_top_byte = true;
}

/* The struct page array lives at gpa 32 MiB (1 MiB for 16384 pfns). */
#define MEMMAP_GPA (32ULL << 20)

static inline void map_vmemmap(FakeGuest *g, int leaf_shift)
{
    if (leaf_shift == 12) {
        for (uint64_t off = 0; off < NR_PFNS * 64; off += 4096) {
            map_page(g, VMEMMAP + off, MEMMAP_GPA + off, 12);
        }
    } else {
        map_page(g, VMEMMAP, MEMMAP_GPA, leaf_shift);
    }
    g->info.has_vmemmap = true;
    g->info.vmemmap = VMEMMAP;
}

static inline void set_page(FakeGuest *g, uint64_t pfn, uint32_t mapcount, uint64_t private)
{
    unsigned char *page = g->ram + MEMMAP_GPA + pfn * 64;

    memcpy(page + 48, &mapcount, 4);
    memcpy(page + 40, &private, 8);
}

static inline void fill_not_buddy(FakeGuest *g)
{
    for (uint64_t pfn = 0; pfn < NR_PFNS; pfn++) {
        set_page(g, pfn, 0xffffffff, 0x1234);   /* in use, unmapped */
    }
}

static inline bool is_set(const uint64_t *bm, uint64_t pfn)
{
    return bm[pfn / 64] >> (pfn % 64) & 1;
}

#endif
