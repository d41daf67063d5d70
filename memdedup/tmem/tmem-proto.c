/*
 * virtio-tmem request parsing and dispatch: checks every length, field
 * and feature of a request before the page pool sees it, and moves data
 * between virtqueue buffers of any framing and the pool.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/tmem/tmem-proto.h"

#include <glib.h>
#include <string.h>

static uint32_t ld32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_LE(v);
}

static void st32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

static void st64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

void tmem_req_header_decode(const void *buf, TmemReqHeader *h)
{
    const uint8_t *b = buf;
    int i;

    h->op = ld32(b + VIRTIO_TMEM_HDR_OP);
    h->pool_id = ld32(b + VIRTIO_TMEM_HDR_POOL_ID);
    for (i = 0; i < 3; i++) {
        h->oid.v[i] = ld64(b + VIRTIO_TMEM_HDR_OID + 8 * i);
    }
    h->index = ld32(b + VIRTIO_TMEM_HDR_INDEX);
    h->flags = ld32(b + VIRTIO_TMEM_HDR_FLAGS);
    memcpy(h->uuid, b + VIRTIO_TMEM_HDR_UUID, TMEM_UUID_SIZE);
}

void tmem_req_header_encode(const TmemReqHeader *h, void *buf)
{
    uint8_t *b = buf;
    int i;

    st32(b + VIRTIO_TMEM_HDR_OP, h->op);
    st32(b + VIRTIO_TMEM_HDR_POOL_ID, h->pool_id);
    for (i = 0; i < 3; i++) {
        st64(b + VIRTIO_TMEM_HDR_OID + 8 * i, h->oid.v[i]);
    }
    st32(b + VIRTIO_TMEM_HDR_INDEX, h->index);
    st32(b + VIRTIO_TMEM_HDR_FLAGS, h->flags);
    memcpy(b + VIRTIO_TMEM_HDR_UUID, h->uuid, TMEM_UUID_SIZE);
}

uint64_t tmem_host_features(TmemStore *s)
{
    TmemStoreInfo si;
    uint64_t f = 0;

    tmem_store_get_info(s, &si);
    if (!si.ephemeral_only) {
        f |= 1ull << VIRTIO_TMEM_F_PERSISTENT;
    }
    if (si.allow_shared) {
        f |= 1ull << VIRTIO_TMEM_F_SHARED;
    }
    return f;
}

void tmem_fill_config(TmemClient *c, void *buf, size_t len)
{
    uint8_t cfg[VIRTIO_TMEM_CONFIG_SIZE];
    TmemStoreInfo si;
    TmemClientInfo ci;
    uint64_t used, free_hint;

    tmem_store_get_info(tmem_client_store(c), &si);
    tmem_client_get_info(c, &ci);
    used = si.ephemeral_bytes + si.persistent_bytes;
    free_hint = si.limit > used ? si.limit - used : 0;
    if (ci.quota) {
        free_hint = MIN(free_hint, ci.quota > ci.stats.bytes ?
                                   ci.quota - ci.stats.bytes : 0);
    }
    st32(cfg + 0, TMEM_PAGE_SIZE);
    st32(cfg + 4, ci.max_pools);
    st64(cfg + 8, si.limit);
    st64(cfg + 16, ci.quota);
    st64(cfg + 24, si.pool_quota);
    st32(cfg + 32, TMEM_DATA_PAGE_COST);
    st32(cfg + 36, TMEM_META_COST);
    st64(cfg + 40, free_hint);
    memcpy(buf, cfg, MIN(len, sizeof(cfg)));
}

static bool oid_is_zero(const TmemOid *oid)
{
    return !oid->v[0] && !oid->v[1] && !oid->v[2];
}

static bool uuid_is_zero(const uint8_t *uuid)
{
    static const uint8_t zero[TMEM_UUID_SIZE];

    return !memcmp(uuid, zero, TMEM_UUID_SIZE);
}

TmemStatus tmem_handle_request(TmemClient *c, const void *hdr, size_t hdr_len,
                               const void *in, size_t in_len,
                               void *out, size_t out_len,
                               size_t *out_written)
{
    uint64_t features = tmem_client_features(c);
    size_t need_in = 0, need_out = 0;
    TmemReqHeader h;
    TmemStatus st;

    *out_written = 0;
    if (!hdr || hdr_len != VIRTIO_TMEM_HDR_SIZE) {
        return TMEM_S_INVALID;
    }
    tmem_req_header_decode(hdr, &h);

    /* The op first: an unknown one is unsupported, whatever its shape */
    switch (h.op) {
    case VIRTIO_TMEM_OP_NEW_POOL:
        need_out = VIRTIO_TMEM_NEW_POOL_RESULT_SIZE;
        break;
    case VIRTIO_TMEM_OP_PUT_PAGE:
        need_in = TMEM_PAGE_SIZE;
        break;
    case VIRTIO_TMEM_OP_GET_PAGE:
        need_out = TMEM_PAGE_SIZE;
        break;
    case VIRTIO_TMEM_OP_DESTROY_POOL:
    case VIRTIO_TMEM_OP_FLUSH_PAGE:
    case VIRTIO_TMEM_OP_FLUSH_OBJECT:
        break;
    default:
        return TMEM_S_UNSUPPORTED;
    }
    /* Exact sizes; this also settles the direction of the data */
    if (in_len != need_in || out_len != need_out ||
        (need_in && !in) || (need_out && !out)) {
        return TMEM_S_INVALID;
    }
    /* Fields the op does not use must be zero */
    if (h.op != VIRTIO_TMEM_OP_NEW_POOL &&
        (h.flags || !uuid_is_zero(h.uuid))) {
        return TMEM_S_INVALID;
    }

    switch (h.op) {
    case VIRTIO_TMEM_OP_NEW_POOL: {
        uint32_t id = 0;
        uint8_t *res = out;

        if (h.pool_id || !oid_is_zero(&h.oid) || h.index) {
            return TMEM_S_INVALID;
        }
        if (h.flags & ~(TMEM_POOL_PERSISTENT | TMEM_POOL_SHARED)) {
            return TMEM_S_INVALID;
        }
        if ((h.flags & TMEM_POOL_SHARED) ? uuid_is_zero(h.uuid)
                                         : !uuid_is_zero(h.uuid)) {
            return TMEM_S_INVALID;
        }
        if (((h.flags & TMEM_POOL_PERSISTENT) &&
             !(features & (1ull << VIRTIO_TMEM_F_PERSISTENT))) ||
            ((h.flags & TMEM_POOL_SHARED) &&
             !(features & (1ull << VIRTIO_TMEM_F_SHARED)))) {
            return TMEM_S_UNSUPPORTED;
        }
        st = tmem_new_pool(c, h.flags, h.uuid, &id);
        if (st == TMEM_S_OK) {
            st32(res, id);
            st32(res + 4, 0);
            *out_written = VIRTIO_TMEM_NEW_POOL_RESULT_SIZE;
        }
        return st;
    }
    case VIRTIO_TMEM_OP_DESTROY_POOL:
        if (!oid_is_zero(&h.oid) || h.index) {
            return TMEM_S_INVALID;
        }
        return tmem_destroy_pool(c, h.pool_id);
    case VIRTIO_TMEM_OP_PUT_PAGE:
        return tmem_put_page(c, h.pool_id, &h.oid, h.index, in);
    case VIRTIO_TMEM_OP_GET_PAGE:
        st = tmem_get_page(c, h.pool_id, &h.oid, h.index, out);
        if (st == TMEM_S_MISS) {
            memset(out, 0, TMEM_PAGE_SIZE);
        }
        if (st == TMEM_S_OK || st == TMEM_S_MISS) {
            *out_written = TMEM_PAGE_SIZE;
        }
        return st;
    case VIRTIO_TMEM_OP_FLUSH_PAGE:
        return tmem_flush_page(c, h.pool_id, &h.oid, h.index);
    case VIRTIO_TMEM_OP_FLUSH_OBJECT:
        if (h.index) {
            return TMEM_S_INVALID;
        }
        return tmem_flush_object(c, h.pool_id, &h.oid);
    }
    g_assert_not_reached();
}

/* ---- scatter/gather ---- */

static size_t iov_total(const struct iovec *iov, unsigned num)
{
    size_t n = 0;
    unsigned i;

    for (i = 0; i < num; i++) {
        n = iov[i].iov_len > SIZE_MAX - n ? SIZE_MAX : n + iov[i].iov_len;
    }
    return n;
}

/* Pointer to [@off, @off + @len) if one buffer holds it all, else NULL. */
static void *iov_span(const struct iovec *iov, unsigned num, size_t off,
                      size_t len)
{
    unsigned i;

    for (i = 0; i < num; i++) {
        if (off < iov[i].iov_len) {
            return len <= iov[i].iov_len - off ?
                   (uint8_t *)iov[i].iov_base + off : NULL;
        }
        off -= iov[i].iov_len;
    }
    return NULL;
}

/* Copy between @buf and [@off, @off + @len) of the buffers. */
static void iov_copy(const struct iovec *iov, unsigned num, size_t off,
                     void *buf, size_t len, bool to_iov)
{
    uint8_t *b = buf;
    unsigned i;

    for (i = 0; i < num && len; i++) {
        size_t n;

        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        n = MIN(len, iov[i].iov_len - off);
        if (to_iov) {
            memcpy((uint8_t *)iov[i].iov_base + off, b, n);
        } else {
            memcpy(b, (uint8_t *)iov[i].iov_base + off, n);
        }
        b += n;
        len -= n;
        off = 0;
    }
}

size_t tmem_handle_iov(TmemClient *c, const struct iovec *rd,
                       unsigned rd_num, const struct iovec *wr,
                       unsigned wr_num, TmemStatus *status)
{
    size_t rd_len = iov_total(rd, rd_num);
    size_t wr_len = iov_total(wr, wr_num);
    uint8_t hdr[VIRTIO_TMEM_HDR_SIZE];
    uint8_t in_bounce[TMEM_PAGE_SIZE], out_bounce[TMEM_PAGE_SIZE];
    const void *in = NULL;
    void *out = NULL;
    size_t in_len, out_len, written = 0;
    uint8_t sb;
    TmemStatus st;

    if (wr_len == 0) {
        if (status) {
            *status = TMEM_S_INVALID;
        }
        return 0;
    }
    out_len = wr_len - 1;
    if (rd_len < VIRTIO_TMEM_HDR_SIZE) {
        st = TMEM_S_INVALID;
    } else {
        iov_copy(rd, rd_num, 0, hdr, sizeof(hdr), false);
        in_len = rd_len - VIRTIO_TMEM_HDR_SIZE;
        if (in_len && in_len <= TMEM_PAGE_SIZE) {
            in = iov_span(rd, rd_num, VIRTIO_TMEM_HDR_SIZE, in_len);
            if (!in) {
                iov_copy(rd, rd_num, VIRTIO_TMEM_HDR_SIZE, in_bounce, in_len,
                         false);
                in = in_bounce;
            }
        }
        if (out_len && out_len <= TMEM_PAGE_SIZE) {
            out = iov_span(wr, wr_num, 0, out_len);
            if (!out) {
                out = out_bounce;
            }
        }
        st = tmem_handle_request(c, hdr, sizeof(hdr), in, in_len,
                                 out, out_len, &written);
    }
    if (out) {
        /* Whatever the op did not write is zeroed: no stale bytes */
        memset((uint8_t *)out + written, 0, out_len - written);
        if (out == out_bounce) {
            iov_copy(wr, wr_num, 0, out_bounce, out_len, true);
        }
    }
    sb = st;
    iov_copy(wr, wr_num, wr_len - 1, &sb, 1, true);
    if (status) {
        *status = st;
    }
    return wr_len;
}

const char *tmem_op_name(uint32_t op)
{
    switch (op) {
    case VIRTIO_TMEM_OP_NEW_POOL:
        return "new-pool";
    case VIRTIO_TMEM_OP_DESTROY_POOL:
        return "destroy-pool";
    case VIRTIO_TMEM_OP_PUT_PAGE:
        return "put-page";
    case VIRTIO_TMEM_OP_GET_PAGE:
        return "get-page";
    case VIRTIO_TMEM_OP_FLUSH_PAGE:
        return "flush-page";
    case VIRTIO_TMEM_OP_FLUSH_OBJECT:
        return "flush-object";
    }
    return "?";
}
