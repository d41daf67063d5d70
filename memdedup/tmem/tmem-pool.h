/*
 * Host page pool of virtio-tmem (Transcendent Memory): the store behind
 * "-object x-memx-tmem-store" and the per-device client state with its
 * pools.  Pages are kept under (pool, object id, index) keys, with O(1)
 * keyed-hash lookup, a byte limit with least-recently-used eviction of
 * ephemeral pages, per-pool and per-client quotas, and pattern pages
 * (one repeated 8-byte value) kept as metadata only.  The semantics are
 * those of docs/virtio-tmem.rst; the wire format is in tmem-proto.h.
 *
 * Pure C11 + glib; no QEMU header.  Every function locks the store, so
 * clients of one store may be driven from different threads, unless the
 * store is made single_threaded (see TmemStoreConfig).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_TMEM_POOL_H
#define MEMDEDUP_TMEM_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The only page size the store handles. */
#define TMEM_PAGE_SIZE 4096

/*
 * What a stored page costs against limits and quotas: every page is
 * charged TMEM_META_COST bytes for its metadata, a page with data (not a
 * pattern) TMEM_PAGE_SIZE more.  Charging metadata bounds the host memory
 * a guest can pin with pattern pages, which hold no data page.
 */
#define TMEM_META_COST 64
#define TMEM_DATA_PAGE_COST (TMEM_PAGE_SIZE + TMEM_META_COST)

/* Pools per client: default and the largest value accepted. */
#define TMEM_DEFAULT_MAX_POOLS 16
#define TMEM_MAX_POOLS_LIMIT 1024

/* Pages per pool, whatever the limits (256 GiB of data pages). */
#define TMEM_MAX_PAGES ((1u << 26) - 128)

#define TMEM_UUID_SIZE 16

/* Pool flags (the wire values of NEW_POOL's flags). */
#define TMEM_POOL_PERSISTENT 0x1u   /* else ephemeral */
#define TMEM_POOL_SHARED     0x2u   /* shared by uuid; ephemeral only */

/* Request status: these are also the status byte values on the wire. */
typedef enum TmemStatus {
    TMEM_S_OK = 0,
    TMEM_S_MISS = 1,          /* GET_PAGE: no page under that key */
    TMEM_S_NOSPACE = 2,       /* limit, quota or pool ids exhausted */
    TMEM_S_BAD_POOL = 3,      /* pool id not a live pool of this client */
    TMEM_S_INVALID = 4,       /* malformed request */
    TMEM_S_UNSUPPORTED = 5,   /* unknown op or feature not available */
    TMEM_S_DEVICE_ERROR = 6,  /* the device failed (e.g. out of memory) */
} TmemStatus;

/* An object id: three 64-bit words, compared as a whole. */
typedef struct TmemOid {
    uint64_t v[3];
} TmemOid;

typedef struct TmemStore TmemStore;
typedef struct TmemClient TmemClient;

typedef struct TmemStoreConfig {
    uint64_t size;                 /* byte limit of the whole store */
    bool allow_shared;             /* shared pools may be created */
    bool ephemeral_only;           /* refuse persistent pools */
    unsigned max_pools_per_client; /* 0: TMEM_DEFAULT_MAX_POOLS */
    uint64_t pool_quota;           /* bytes per pool, 0: none */
    uint64_t hash_key[2];          /* both 0: a random key */
    /*
     * The caller serializes every call on this store and its clients (in
     * QEMU: everything runs under the BQL), so the store takes no lock.
     * Saves the lock's atomic operations, which after a 4 KiB copy cost
     * about a third of a put or get (tests/bench/tmem-pool-bench).
     */
    bool single_threaded;
} TmemStoreConfig;

/*
 * Counters.  pages/pattern_pages/bytes are current contents (bytes as
 * charged, see TMEM_META_COST); the rest count since creation.
 * gets == hits + misses.  flushes counts pages removed by FLUSH_PAGE and
 * FLUSH_OBJECT, evictions pages the store dropped to make room.
 */
typedef struct TmemStats {
    uint64_t pages;
    uint64_t pattern_pages;
    uint64_t bytes;
    uint64_t puts;
    uint64_t puts_refused;
    uint64_t gets;
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    uint64_t flushes;
} TmemStats;

typedef struct TmemPoolInfo {
    uint32_t pool_id;              /* in the client's numbering */
    uint32_t flags;                /* TMEM_POOL_* */
    uint8_t uuid[TMEM_UUID_SIZE];  /* zero for private pools */
    uint32_t attached;             /* pool ids referring to the pool */
    uint64_t quota;                /* bytes, 0: none */
    TmemStats stats;               /* of the pool, all clients' requests */
} TmemPoolInfo;

typedef struct TmemClientInfo {
    uint64_t quota;                /* bytes, 0: none */
    uint32_t pools;                /* pool ids in use */
    uint32_t max_pools;
    uint64_t ephemeral_bytes;      /* of its private pools */
    /*
     * pages/pattern_pages/bytes: contents of its private pools (what its
     * quota limits); the counters: its own requests, on any pool.
     */
    TmemStats stats;
} TmemClientInfo;

typedef struct TmemStoreInfo {
    uint64_t limit;
    uint64_t ephemeral_bytes;
    uint64_t persistent_bytes;
    uint64_t meta_bytes;           /* metadata allocated, see below */
    uint32_t clients;
    uint32_t pools;
    bool allow_shared;
    bool ephemeral_only;
    unsigned max_pools_per_client;
    uint64_t pool_quota;
    TmemStats stats;               /* totals since the store was made */
} TmemStoreInfo;

/* ---- the store (-object x-memx-tmem-store) ---- */

/*
 * Create a store.  Returns NULL with a static reason in *@why when @cfg
 * is not acceptable (max_pools_per_client above TMEM_MAX_POOLS_LIMIT).
 */
TmemStore *tmem_store_new(const TmemStoreConfig *cfg, const char **why);

/* Free a store.  Every client must have been freed before. */
void tmem_store_free(TmemStore *s);

/* Number of clients (a store with clients cannot be freed). */
unsigned tmem_store_clients(TmemStore *s);

/*
 * Change the byte limit at run time.  Ephemeral pages are evicted until
 * the contents fit; persistent pages are never dropped, so the contents
 * may stay above a smaller limit: the return value is by how many bytes
 * (0 when they fit).  While above, a put succeeds only if it replaces a
 * page by one that costs no more.  Every client's notifier is called
 * afterwards (without the store lock).
 */
uint64_t tmem_store_set_limit(TmemStore *s, uint64_t size);

/* Change the quota of every pool (0: none), evicting as needed. */
void tmem_store_set_pool_quota(TmemStore *s, uint64_t quota);

/*
 * Fill @info.  meta_bytes counts every byte the store allocated for
 * metadata: page entries (including free ones in partially used slabs),
 * hash tables, pools and clients; data pages are not included.
 */
void tmem_store_get_info(TmemStore *s, TmemStoreInfo *info);

/*
 * Walk every structure and check that lists, tables and counters agree.
 * Returns NULL when consistent, else a static description.  O(pages);
 * for tests and fuzzing.
 */
const char *tmem_store_check(TmemStore *s);

/* ---- clients: one per device ---- */

/*
 * Attach a new client (a device instance) to @s.  @name is used in
 * statistics only; @quota limits the bytes of its private pools (0:
 * none).
 */
TmemClient *tmem_client_new(TmemStore *s, const char *name, uint64_t quota);

/* Destroy every pool of @c and detach it (device unplug). */
void tmem_client_free(TmemClient *c);

/* Destroy every pool of @c, reset its features (device reset). */
void tmem_client_reset(TmemClient *c);

TmemStore *tmem_client_store(TmemClient *c);
const char *tmem_client_name(TmemClient *c);

/* Change the quota, evicting ephemeral pages of @c as needed. */
void tmem_client_set_quota(TmemClient *c, uint64_t quota);

/*
 * Feature bits the driver negotiated.  Not interpreted here: the request
 * layer (tmem-proto.h) checks them.  Reset by tmem_client_reset().
 */
void tmem_client_set_features(TmemClient *c, uint64_t features);
uint64_t tmem_client_features(TmemClient *c);

/*
 * @fn(@opaque) is called when the store limit or a quota changed (the
 * device then signals a configuration change).  Called without the
 * store lock held.
 */
void tmem_client_set_notify(TmemClient *c, void (*fn)(void *opaque),
                            void *opaque);

void tmem_client_get_info(TmemClient *c, TmemClientInfo *info);

/* ---- operations (docs/virtio-tmem.rst gives the exact semantics) ---- */

/*
 * Create a pool (@flags: TMEM_POOL_*) and return its id in *@pool_id:
 * the lowest free id of @c.  A shared pool joins the store's pool with
 * the same @uuid (not all zero), or creates it; @uuid is ignored for
 * private pools and may be NULL.  NOSPACE when @c has no free pool id,
 * UNSUPPORTED when the store does not allow that kind of pool, INVALID
 * for unknown flags or a zero uuid.
 */
TmemStatus tmem_new_pool(TmemClient *c, uint32_t flags,
                         const uint8_t *uuid, uint32_t *pool_id);

/* Release a pool id; the pool and its pages go with its last id. */
TmemStatus tmem_destroy_pool(TmemClient *c, uint32_t pool_id);

/*
 * Store TMEM_PAGE_SIZE bytes at @page under (@pool_id, @oid, @index),
 * replacing any page there.  Replacing a page by one that costs no more
 * (data by data, anything by a pattern) always succeeds.  A refused put
 * (NOSPACE) leaves no page under the key, not even the previous one.
 */
TmemStatus tmem_put_page(TmemClient *c, uint32_t pool_id,
                         const TmemOid *oid, uint32_t index,
                         const void *page);

/*
 * Copy the page under the key to @page (TMEM_PAGE_SIZE bytes).  MISS
 * leaves @page untouched.  A hit in a private ephemeral pool removes the
 * page (exclusive get).
 */
TmemStatus tmem_get_page(TmemClient *c, uint32_t pool_id,
                         const TmemOid *oid, uint32_t index, void *page);

/* Remove one page (OK whether or not it was there). */
TmemStatus tmem_flush_page(TmemClient *c, uint32_t pool_id,
                           const TmemOid *oid, uint32_t index);

/* Remove every page of one object (OK whether or not there were any). */
TmemStatus tmem_flush_object(TmemClient *c, uint32_t pool_id,
                             const TmemOid *oid);

/* ---- statistics ---- */

/* Fill @info for one pool id of @c; false if it is not in use. */
bool tmem_pool_get_info(TmemClient *c, uint32_t pool_id,
                        TmemPoolInfo *info);

/*
 * Call @fn for each pool id of @c in use, in increasing order, with the
 * store lock held: @fn must not call back into the store.
 */
void tmem_client_foreach_pool(TmemClient *c,
                              void (*fn)(const TmemPoolInfo *info,
                                         void *opaque),
                              void *opaque);

/* ---- migration ---- */

/*
 * Called for each page of a persistent pool: @data is the page, or NULL
 * for a pattern page whose value is @pattern (see page_fill_pattern()).
 * A non-zero return stops the walk and is returned by the walker.
 */
typedef int (*TmemPageFn)(uint32_t pool_id, const TmemOid *oid,
                          uint32_t index, const void *data,
                          uint64_t pattern, void *opaque);

/*
 * Save side: every page of @c's persistent pools, pool by pool in
 * increasing id order, with the store lock held (@fn must not call back
 * into the store).  Returns 0 or the first non-zero value of @fn.  The
 * pools themselves (all of them, ephemeral ones included, which migrate
 * empty) are listed by tmem_client_foreach_pool().
 */
int tmem_client_foreach_persistent_page(TmemClient *c, TmemPageFn fn,
                                        void *opaque);

/*
 * Load side: recreate pool @pool_id of @c as it was on the source
 * (shared pools are joined by uuid).  BAD_POOL if the id is out of range
 * or in use, otherwise like tmem_new_pool().
 */
TmemStatus tmem_restore_pool(TmemClient *c, uint32_t pool_id,
                             uint32_t flags, const uint8_t *uuid);

/*
 * Load side: put one page of a persistent pool back, from @data or, if
 * @data is NULL, from @pattern.  Obeys limits and quotas like a put (a
 * destination too small fails with NOSPACE: the migration must then
 * fail, persistent pages may not be lost); not counted as a put.
 */
TmemStatus tmem_restore_page(TmemClient *c, uint32_t pool_id,
                             const TmemOid *oid, uint32_t index,
                             const void *data, uint64_t pattern);

/* A short name for a status ("ok", "miss", ...). */
const char *tmem_status_name(TmemStatus st);

#endif /* MEMDEDUP_TMEM_POOL_H */
