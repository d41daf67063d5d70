/*
 * qos tests of qemu-memx's virtio-tmem-pci device: every operation of
 * docs/virtio-tmem.rst through the virtqueue, checked against the bytes
 * and statuses the device returns and the statistics QMP reports, plus
 * hostile requests (malformed chains, bad ids, buffers outside guest
 * RAM), which must get an error status or break only the device.
 *
 * The device under test: -object x-memx-tmem-store,id=tm0,size=1M and
 * virtio-tmem-pci,store=tm0,quota=512K (libqos/virtio-tmem.c).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "standard-headers/linux/virtio_config.h"
#include "libqos/qgraph.h"
#include "libqos/virtio-tmem.h"
#include "libqos/virtio-pci.h"
#include "libqos/pci-pc.h"

#define PAGE QVIRTIO_TMEM_PAGE
/* What a page with data costs against limits: page plus metadata */
#define DATA_PAGE_COST (PAGE + 64)
#define QUOTA (512 * 1024)

static void fill(uint8_t *page, unsigned seed)
{
    for (unsigned i = 0; i < PAGE; i++) {
        page[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8) * seed + 1);
    }
}

static uint8_t put(QVirtioTmem *t, uint32_t pool, uint64_t oid,
                   uint32_t index, const uint8_t *page)
{
    QVirtioTmemReq req = { .op = QVIRTIO_TMEM_OP_PUT_PAGE, .pool_id = pool,
                           .oid = { oid, 0, 0 }, .index = index };

    return qvirtio_tmem_request(t, &req, page, PAGE, NULL, 0);
}

static uint8_t get(QVirtioTmem *t, uint32_t pool, uint64_t oid,
                   uint32_t index, uint8_t *page)
{
    QVirtioTmemReq req = { .op = QVIRTIO_TMEM_OP_GET_PAGE, .pool_id = pool,
                           .oid = { oid, 0, 0 }, .index = index };

    return qvirtio_tmem_request(t, &req, NULL, 0, page, PAGE);
}

static uint8_t simple(QVirtioTmem *t, uint32_t op, uint32_t pool,
                      uint64_t oid, uint32_t index)
{
    QVirtioTmemReq req = { .op = op, .pool_id = pool, .oid = { oid, 0, 0 },
                           .index = index };

    return qvirtio_tmem_request(t, &req, NULL, 0, NULL, 0);
}

static uint32_t new_pool(QVirtioTmem *t, uint32_t flags)
{
    uint32_t id;

    g_assert_cmpint(qvirtio_tmem_new_pool(t, flags, &id), ==,
                    QVIRTIO_TMEM_S_OK);
    return id;
}

/* query-tmem's only store, and its pool with @pool_id (NULL if none). */
static QDict *query_store(QVirtioTmem *t, uint32_t pool_id, QDict **pool)
{
    QDict *rsp = qtest_qmp(t->qts, "{'execute': '__org.qemu-memx_query-tmem'}");
    QList *stores = qdict_get_qlist(rsp, "return");
    QDict *store = qobject_to(QDict, qlist_peek(stores));
    QListEntry *e;

    g_assert_nonnull(store);
    qobject_ref(store);
    qobject_unref(rsp);
    *pool = NULL;
    QLIST_FOREACH_ENTRY(qdict_get_qlist(store, "pools"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(p, "pool-id") == pool_id) {
            *pool = p;
        }
    }
    return store;
}

static void test_put_get(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, 0);
    QDict *store, *p;

    fill(page, 1);
    g_assert_cmpint(put(t, pool, 42, 7, page), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpint(get(t, pool, 42, 7, back), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpmem(back, PAGE, page, PAGE);
    /* A private ephemeral get takes the page away */
    g_assert_cmpint(get(t, pool, 42, 7, back), ==, QVIRTIO_TMEM_S_MISS);
    /* Other keys miss */
    g_assert_cmpint(get(t, pool, 42, 8, back), ==, QVIRTIO_TMEM_S_MISS);

    store = query_store(t, pool, &p);
    g_assert_nonnull(p);
    g_assert_cmpstr(qdict_get_str(p, "type"), ==, "ephemeral");
    g_assert_cmpint(qdict_get_int(p, "puts"), ==, 1);
    g_assert_cmpint(qdict_get_int(p, "gets"), ==, 3);
    g_assert_cmpint(qdict_get_int(p, "hits"), ==, 1);
    g_assert_cmpint(qdict_get_int(p, "misses"), ==, 2);
    g_assert_cmpint(qdict_get_int(p, "pages"), ==, 0);
    qobject_unref(store);
}

static void test_persistent_get_keeps(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);

    fill(page, 2);
    g_assert_cmpint(put(t, pool, 1, 0, page), ==, QVIRTIO_TMEM_S_OK);
    for (int i = 0; i < 2; i++) {
        memset(back, 0, PAGE);
        g_assert_cmpint(get(t, pool, 1, 0, back), ==, QVIRTIO_TMEM_S_OK);
        g_assert_cmpmem(back, PAGE, page, PAGE);
    }
}

static void test_flush(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    QDict *store, *p;

    fill(page, 3);
    g_assert_cmpint(put(t, pool, 5, 0, page), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_FLUSH_PAGE, pool, 5, 0), ==,
                    QVIRTIO_TMEM_S_OK);
    g_assert_cmpint(get(t, pool, 5, 0, back), ==, QVIRTIO_TMEM_S_MISS);
    /* flushing what is not there is fine */
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_FLUSH_PAGE, pool, 5, 0), ==,
                    QVIRTIO_TMEM_S_OK);

    for (uint32_t i = 0; i < 3; i++) {
        g_assert_cmpint(put(t, pool, 6, i, page), ==, QVIRTIO_TMEM_S_OK);
    }
    g_assert_cmpint(put(t, pool, 7, 0, page), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_FLUSH_OBJECT, pool, 6, 0), ==,
                    QVIRTIO_TMEM_S_OK);
    for (uint32_t i = 0; i < 3; i++) {
        g_assert_cmpint(get(t, pool, 6, i, back), ==, QVIRTIO_TMEM_S_MISS);
    }
    g_assert_cmpint(get(t, pool, 7, 0, back), ==, QVIRTIO_TMEM_S_OK);

    store = query_store(t, pool, &p);
    g_assert_cmpint(qdict_get_int(p, "flushes"), ==, 4);
    g_assert_cmpint(qdict_get_int(p, "pages"), ==, 1);
    qobject_unref(store);
}

/* The device quota (512K) holds: the least recently used pages go. */
static void test_eviction(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, 0), n = 200;
    QDict *store, *p;

    for (uint32_t i = 0; i < n; i++) {
        fill(page, i);
        g_assert_cmpint(put(t, pool, 9, i, page), ==, QVIRTIO_TMEM_S_OK);
    }
    store = query_store(t, pool, &p);
    g_assert_cmpint(qdict_get_int(p, "bytes"), <=, QUOTA);
    g_assert_cmpint(qdict_get_int(p, "pages"), >=, QUOTA / DATA_PAGE_COST - 1);
    g_assert_cmpint(qdict_get_int(p, "evictions"), ==,
                    n - qdict_get_int(p, "pages"));
    g_assert_cmpint(qdict_get_int(store, "bytes"), <=,
                    qdict_get_int(store, "size"));
    qobject_unref(store);
    /* the oldest is gone, the newest is there */
    g_assert_cmpint(get(t, pool, 9, 0, back), ==, QVIRTIO_TMEM_S_MISS);
    fill(page, n - 1);
    g_assert_cmpint(get(t, pool, 9, n - 1, back), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpmem(back, PAGE, page, PAGE);
}

/* Persistent pools refuse rather than evict, and keep what they hold. */
static void test_persistent_refuses(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT), stored = 0;
    QDict *store, *p;
    uint8_t st;

    for (;;) {
        fill(page, stored);
        st = put(t, pool, 3, stored, page);
        if (st != QVIRTIO_TMEM_S_OK) {
            break;
        }
        stored++;
        g_assert_cmpint(stored, <, 1000);
    }
    g_assert_cmpint(st, ==, QVIRTIO_TMEM_S_NOSPACE);
    g_assert_cmpint(stored, <=, QUOTA / DATA_PAGE_COST);
    g_assert_cmpint(stored, >=, QUOTA / DATA_PAGE_COST - 1);
    store = query_store(t, pool, &p);
    g_assert_cmpint(qdict_get_int(p, "evictions"), ==, 0);
    g_assert_cmpint(qdict_get_int(p, "pages"), ==, stored);
    qobject_unref(store);
    for (uint32_t i = 0; i < stored; i += stored - 1) {
        fill(page, i);
        g_assert_cmpint(get(t, pool, 3, i, back), ==, QVIRTIO_TMEM_S_OK);
        g_assert_cmpmem(back, PAGE, page, PAGE);
    }
}

/* A smaller store limit at run time evicts ephemeral pages to fit. */
static void test_resize(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE];
    uint32_t pool = new_pool(t, 0);
    QDict *store, *p, *rsp;

    for (uint32_t i = 0; i < 100; i++) {
        fill(page, i);
        g_assert_cmpint(put(t, pool, 1, i, page), ==, QVIRTIO_TMEM_S_OK);
    }
    rsp = qtest_qmp(t->qts, "{'execute': '__org.qemu-memx_tmem-store-resize',"
                    " 'arguments': {'id': 'tm0', 'size': 131072}}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    store = query_store(t, pool, &p);
    g_assert_cmpint(qdict_get_int(store, "size"), ==, 131072);
    g_assert_cmpint(qdict_get_int(store, "bytes"), <=, 131072);
    g_assert_cmpint(qdict_get_int(p, "evictions"), >=, 100 - 131072 / PAGE);
    qobject_unref(store);
    rsp = qtest_qmp(t->qts, "{'execute': '__org.qemu-memx_tmem-store-resize',"
                    " 'arguments': {'id': 'nope', 'size': 131072}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    /* the store outlives device resets: start the next test afresh */
    qos_invalidate_command_line();
}

/* Pattern pages are stored without a data page and come back intact. */
static void test_pattern_page(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t pool = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    QDict *store, *p;

    memset(page, 0xaa, PAGE);
    g_assert_cmpint(put(t, pool, 2, 0, page), ==, QVIRTIO_TMEM_S_OK);
    store = query_store(t, pool, &p);
    g_assert_cmpint(qdict_get_int(p, "pattern-pages"), ==, 1);
    g_assert_cmpint(qdict_get_int(p, "bytes"), <, PAGE);
    qobject_unref(store);
    g_assert_cmpint(get(t, pool, 2, 0, back), ==, QVIRTIO_TMEM_S_OK);
    g_assert_cmpmem(back, PAGE, page, PAGE);
}

static void test_destroy_frees(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE];
    uint32_t eph = new_pool(t, 0);
    uint32_t pers = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    QDict *store, *p;

    for (uint32_t i = 0; i < 20; i++) {
        fill(page, i);
        g_assert_cmpint(put(t, eph, 1, i, page), ==, QVIRTIO_TMEM_S_OK);
        g_assert_cmpint(put(t, pers, 1, i, page), ==, QVIRTIO_TMEM_S_OK);
    }
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_DESTROY_POOL, eph, 0, 0), ==,
                    QVIRTIO_TMEM_S_OK);
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_DESTROY_POOL, pers, 0, 0), ==,
                    QVIRTIO_TMEM_S_OK);
    store = query_store(t, eph, &p);
    g_assert_null(p);
    g_assert_cmpint(qdict_get_int(store, "pages"), ==, 0);
    g_assert_cmpint(qdict_get_int(store, "bytes"), ==, 0);
    qobject_unref(store);
    g_assert_cmpint(put(t, eph, 1, 0, page), ==, QVIRTIO_TMEM_S_BAD_POOL);
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_DESTROY_POOL, pers, 0, 0), ==,
                    QVIRTIO_TMEM_S_BAD_POOL);
}

/* Malformed requests get an error status; the device keeps working. */
static void test_hostile_requests(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], big[2 * PAGE] = { 0 }, hdr[QVIRTIO_TMEM_HDR_SIZE];
    uint32_t pool = new_pool(t, 0), ids[32], n = 0;
    QVirtioTmemReq req = { .op = 99 };
    uint8_t st;

    fill(page, 9);
    g_assert_cmpint(qvirtio_tmem_request(t, &req, NULL, 0, NULL, 0), ==,
                    QVIRTIO_TMEM_S_UNSUPPORTED);
    g_assert_cmpint(put(t, 77, 1, 0, page), ==, QVIRTIO_TMEM_S_BAD_POOL);
    g_assert_cmpint(put(t, UINT32_MAX, 1, 0, page), ==,
                    QVIRTIO_TMEM_S_BAD_POOL);

    /* oversized and short data */
    req = (QVirtioTmemReq) { .op = QVIRTIO_TMEM_OP_PUT_PAGE, .pool_id = pool };
    g_assert_cmpint(qvirtio_tmem_request(t, &req, big, sizeof(big), NULL, 0),
                    ==, QVIRTIO_TMEM_S_INVALID);
    g_assert_cmpint(qvirtio_tmem_request(t, &req, big, 100, NULL, 0),
                    ==, QVIRTIO_TMEM_S_INVALID);
    /* PUT whose page is device-writable: the wrong direction */
    g_assert_cmpint(qvirtio_tmem_request(t, &req, NULL, 0, big, PAGE),
                    ==, QVIRTIO_TMEM_S_INVALID);
    /* GET with a short buffer, GET with a readable one */
    req.op = QVIRTIO_TMEM_OP_GET_PAGE;
    g_assert_cmpint(qvirtio_tmem_request(t, &req, NULL, 0, big, 100),
                    ==, QVIRTIO_TMEM_S_INVALID);
    g_assert_cmpint(qvirtio_tmem_request(t, &req, page, PAGE, NULL, 0),
                    ==, QVIRTIO_TMEM_S_INVALID);
    /* a 20-byte header */
    memset(hdr, 0, sizeof(hdr));
    hdr[0] = QVIRTIO_TMEM_OP_FLUSH_PAGE;
    {
        QVirtioTmemDesc d[2] = {
            { .len = 20, .data = hdr },
            { .len = 1, .write = true },
        };

        qvirtio_tmem_chain(t, d, 2, &st);
        g_assert_cmpint(st, ==, QVIRTIO_TMEM_S_INVALID);
    }

    /* A flood of NEW_POOL ends with NOSPACE, and destroying recovers */
    while (qvirtio_tmem_new_pool(t, 0, &ids[n]) == QVIRTIO_TMEM_S_OK) {
        n++;
        g_assert_cmpint(n, <, G_N_ELEMENTS(ids));
    }
    g_assert_cmpint(n, ==, 15);     /* 16 per device, one already in use */
    for (uint32_t i = 0; i < n; i++) {
        g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_DESTROY_POOL, ids[i], 0, 0),
                        ==, QVIRTIO_TMEM_S_OK);
    }
    new_pool(t, 0);

    /* still serving */
    g_assert_cmpint(put(t, pool, 1, 1, page), ==, QVIRTIO_TMEM_S_OK);
}

/*
 * Descriptors pointing outside guest RAM: QEMU must not touch host
 * memory for them.  Depending on where they point, the request is either
 * completed (unassigned guest-physical space reads as a bounce buffer)
 * with a status, or refused by flagging the device broken
 * (NEEDS_RESET); either way QEMU stays up and keeps answering.
 */
static void send_outside(QVirtioTmem *t, QGuestAllocator *alloc,
                         uint64_t gpa, uint32_t len)
{
    uint8_t hdr[QVIRTIO_TMEM_HDR_SIZE] = { QVIRTIO_TMEM_OP_PUT_PAGE };
    uint64_t hdr_gpa = guest_alloc(alloc, sizeof(hdr));
    uint64_t st_gpa = guest_alloc(alloc, 1);
    uint32_t head, desc_idx, used_len;
    bool done = false;
    QDict *rsp;

    qtest_memwrite(t->qts, hdr_gpa, hdr, sizeof(hdr));
    qtest_writeb(t->qts, st_gpa, 0xee);
    head = qvirtqueue_add(t->qts, t->vq, hdr_gpa, sizeof(hdr), false, true);
    qvirtqueue_add(t->qts, t->vq, gpa, len, false, true);
    qvirtqueue_add(t->qts, t->vq, st_gpa, 1, true, false);
    qvirtqueue_kick(t->qts, t->vdev, t->vq, head);
    for (int i = 0; i < 2000 && !done; i++) {
        if (t->vdev->bus->get_status(t->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
            done = true;
        } else if (qvirtqueue_get_buf(t->qts, t->vq, &desc_idx, &used_len)) {
            g_assert_cmpint(desc_idx, ==, head);
            /*
             * completed: an error status was written; a page from outside
             * RAM is never stored
             */
            g_assert_cmpint(qtest_readb(t->qts, st_gpa), >, QVIRTIO_TMEM_S_OK);
            g_assert_cmpint(qtest_readb(t->qts, st_gpa), <=,
                            QVIRTIO_TMEM_S_UNSUPPORTED);
            done = true;
        } else {
            g_usleep(1000);
        }
    }
    g_assert_true(done);
    rsp = qtest_qmp(t->qts, "{'execute': '__org.qemu-memx_query-tmem'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    qos_invalidate_command_line();
}

static void test_outside_ram_unassigned(void *obj, void *data,
                                        QGuestAllocator *alloc)
{
    send_outside(obj, alloc, 0x7ff00000000ULL, PAGE);
}

static void test_outside_ram_straddling(void *obj, void *data,
                                       QGuestAllocator *alloc)
{
    /* starts in RAM, runs 4 GiB past its end */
    send_outside(obj, alloc, 0x100000, UINT32_MAX);
}

static void wait_migration_done(QTestState *who)
{
    for (int i = 0; i < 3000; i++) {
        QDict *rsp = qtest_qmp(who, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *st = qdict_get_try_str(ret, "status");
        bool done = st && !strcmp(st, "completed");

        g_assert(!st || strcmp(st, "failed"));
        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_usleep(10000);
    }
    g_assert_not_reached();
}

/*
 * Migrate to a second QEMU: a persistent pool's pages arrive byte for
 * byte (pattern pages included), an ephemeral pool arrives empty, as
 * docs/virtio-tmem.rst allows.  The driver then talks to the
 * destination's device, which holds the same guest memory and rings.
 */
static void test_migration(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    QPCIBus *bus = container_of(t->vdev, QVirtioPCIDevice, vdev)->pdev->bus;
    QTestState *src = t->qts, *dst;
    g_autofree char *dir = g_dir_make_tmp("virtio-tmem-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s/stream", dir);
    uint32_t pers = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    uint32_t eph = new_pool(t, 0);
    uint8_t page[PAGE], back[PAGE];
    QDict *store, *p;

    for (uint32_t i = 0; i < 50; i++) {
        if (i == 7) {
            memset(page, 0x5a, PAGE);
        } else {
            fill(page, i + 100);
        }
        g_assert_cmpint(put(t, pers, 11, i, page), ==, QVIRTIO_TMEM_S_OK);
        g_assert_cmpint(put(t, eph, 12, i, page), ==, QVIRTIO_TMEM_S_OK);
    }
    dst = qtest_initf("-M pc -object x-memx-tmem-store,id=tm0,size=1M "
                      "-device virtio-tmem-pci,addr=04.0,store=tm0,"
                      "quota=512K -incoming defer");
    qtest_qmp_assert_success(src, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    wait_migration_done(src);
    qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    wait_migration_done(dst);

    bus->qts = dst;
    t->qts = dst;
    for (uint32_t i = 0; i < 50; i++) {
        if (i == 7) {
            memset(page, 0x5a, PAGE);
        } else {
            fill(page, i + 100);
        }
        g_assert_cmpint(get(t, pers, 11, i, back), ==, QVIRTIO_TMEM_S_OK);
        g_assert_cmpmem(back, PAGE, page, PAGE);
    }
    g_assert_cmpint(get(t, eph, 12, 0, back), ==, QVIRTIO_TMEM_S_MISS);
    store = query_store(t, pers, &p);
    g_assert_cmpint(qdict_get_int(p, "pages"), ==, 50);
    g_assert_cmpint(qdict_get_int(p, "pattern-pages"), ==, 1);
    qobject_unref(store);
    bus->qts = src;
    t->qts = src;
    qtest_quit(dst);
    qos_invalidate_command_line();
    g_autofree char *stream = g_strdup_printf("%s/stream", dir);
    unlink(stream);
    rmdir(dir);
}

/* Hotplug a second device on the same store, then unplug it. */
static void test_hotplug(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    QDict *store, *p;

    qtest_qmp_device_add(t->qts, "virtio-tmem-pci", "tmem1",
                         "{'addr': '06', 'store': 'tm0'}");
    store = query_store(t, 0, &p);
    g_assert_cmpint(qdict_get_int(store, "devices"), ==, 2);
    qobject_unref(store);
    qpci_unplug_acpi_device_test(t->qts, "tmem1", 6);
    store = query_store(t, 0, &p);
    g_assert_cmpint(qdict_get_int(store, "devices"), ==, 1);
    qobject_unref(store);
    qos_invalidate_command_line();
}

static void print_stats(QVirtioTmem *t, const char *phase)
{
    QDict *store, *p;

    store = query_store(t, 0, &p);
    g_test_message("%-40s store: %4" PRId64 " pages %8" PRId64 " bytes | "
                   "puts %4" PRId64 " gets %4" PRId64 " hits %4" PRId64
                   " misses %4" PRId64 " evictions %4" PRId64 " flushes %4"
                   PRId64, phase, qdict_get_int(store, "pages"),
                   qdict_get_int(store, "bytes"), qdict_get_int(store, "puts"),
                   qdict_get_int(store, "gets"), qdict_get_int(store, "hits"),
                   qdict_get_int(store, "misses"),
                   qdict_get_int(store, "evictions"),
                   qdict_get_int(store, "flushes"));
    qobject_unref(store);
}

/*
 * The device-level demo (make demo-tmem's before the Linux driver): the
 * libqos driver plays a guest's cleancache and frontswap, and the
 * statistics move (also a test: the counts are checked).
 */
static void test_demo(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE], back[PAGE];
    uint32_t cache = new_pool(t, 0);
    uint32_t swap = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    uint32_t hits = 0, stored = 0;
    QDict *store, *p;

    print_stats(t, "two pools created");
    for (uint32_t i = 0; i < 200; i++) {
        fill(page, i);
        put(t, cache, i / 16, i % 16, page);
    }
    print_stats(t, "200 clean pages put (quota 126)");
    for (uint32_t i = 0; i < 200; i += 2) {
        hits += get(t, cache, i / 16, i % 16, back) == QVIRTIO_TMEM_S_OK;
    }
    g_test_message("re-read 100 of them: %u hits (older ones were evicted)",
                   hits);
    print_stats(t, "after the re-reads");
    for (uint32_t i = 0; i < 64; i++) {
        memset(page, i % 4 ? 0 : 0xaa, PAGE);
        if (i % 3) {
            fill(page, 1000 + i);
        }
        stored += put(t, swap, 7, i, page) == QVIRTIO_TMEM_S_OK;
    }
    g_test_message("64 pages swapped out to the persistent pool: %u stored",
                   stored);
    print_stats(t, "after swap-out");
    g_assert_cmpint(simple(t, QVIRTIO_TMEM_OP_FLUSH_OBJECT, swap, 7, 0), ==,
                    QVIRTIO_TMEM_S_OK);
    print_stats(t, "persistent object flushed");
    store = query_store(t, cache, &p);
    g_assert_cmpint(qdict_get_int(p, "hits"), ==, hits);
    g_assert_cmpint(qdict_get_int(p, "evictions"), >, 0);
    qobject_unref(store);
    {
        g_autofree char *hmp = qtest_hmp(t->qts, "info memx-tmem");

        g_test_message("HMP info memx-tmem:");
        g_test_message("%s", hmp);
        g_assert_nonnull(strstr(hmp, "store tm0"));
    }
}

/* The per-pool quota (a store property, settable at run time) holds. */
static void test_pool_quota(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioTmem *t = obj;
    uint8_t page[PAGE];
    uint32_t eph = new_pool(t, 0);
    uint32_t pers = new_pool(t, QVIRTIO_TMEM_POOL_PERSISTENT);
    uint32_t stored = 0;
    QDict *store, *p;

    qtest_qmp_assert_success(t->qts, "{'execute': 'qom-set', 'arguments':"
                             " {'path': '/objects/tm0',"
                             "  'property': 'pool-quota', 'value': 65536}}");
    for (uint32_t i = 0; i < 40; i++) {
        fill(page, i);
        g_assert_cmpint(put(t, eph, 1, i, page), ==, QVIRTIO_TMEM_S_OK);
        stored += put(t, pers, 1, i, page) == QVIRTIO_TMEM_S_OK;
    }
    g_assert_cmpint(stored, ==, 65536 / DATA_PAGE_COST);
    store = query_store(t, eph, &p);
    g_assert_cmpint(qdict_get_int(p, "bytes"), <=, 65536);
    g_assert_cmpint(qdict_get_int(p, "evictions"), ==,
                    40 - 65536 / DATA_PAGE_COST);
    qobject_unref(store);
    qos_invalidate_command_line();
}

static void register_virtio_tmem_test(void)
{
    qos_add_test("put-get", "virtio-tmem", test_put_get, NULL);
    qos_add_test("persistent-get-keeps", "virtio-tmem",
                 test_persistent_get_keeps, NULL);
    qos_add_test("flush", "virtio-tmem", test_flush, NULL);
    qos_add_test("eviction", "virtio-tmem", test_eviction, NULL);
    qos_add_test("persistent-refuses", "virtio-tmem",
                 test_persistent_refuses, NULL);
    qos_add_test("resize", "virtio-tmem", test_resize, NULL);
    qos_add_test("pool-quota", "virtio-tmem", test_pool_quota, NULL);
    qos_add_test("pattern-page", "virtio-tmem", test_pattern_page, NULL);
    qos_add_test("destroy-frees", "virtio-tmem", test_destroy_frees, NULL);
    qos_add_test("hostile-requests", "virtio-tmem", test_hostile_requests,
                 NULL);
    qos_add_test("outside-ram-unassigned", "virtio-tmem",
                 test_outside_ram_unassigned, NULL);
    qos_add_test("outside-ram-straddling", "virtio-tmem",
                 test_outside_ram_straddling, NULL);
    qos_add_test("migration", "virtio-tmem", test_migration, NULL);
    qos_add_test("hotplug", "virtio-tmem", test_hotplug, NULL);
    qos_add_test("demo", "virtio-tmem", test_demo, NULL);
}

libqos_init(register_virtio_tmem_test);
