/*
 * virtio-tmem wire format and request handling, independent of
 * virtqueues: the little-endian request header, op and status codes,
 * feature bits and configuration layout of docs/virtio-tmem.rst, and
 * the functions that validate a request and run it against a client of
 * the page pool (tmem-pool.h).  Everything a guest sends is checked
 * here; no length it gives is trusted.
 *
 * Pure C11 + glib (plus struct iovec); no QEMU header.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_TMEM_PROTO_H
#define MEMDEDUP_TMEM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "memdedup/tmem/tmem-pool.h"

/*
 * Virtio device ID.  None is assigned to tmem and the virtio spec has no
 * private range: see docs/virtio-tmem.rst, "Device ID", for why 59.  It
 * must be replaced by an OASIS-assigned ID before anything is upstreamed.
 */
#define VIRTIO_TMEM_DEVICE_ID 59
#define VIRTIO_TMEM_PCI_DEVICE_ID (0x1040 + VIRTIO_TMEM_DEVICE_ID)

/* Device feature bits */
#define VIRTIO_TMEM_F_PERSISTENT 0   /* persistent pools */
#define VIRTIO_TMEM_F_SHARED     1   /* shared (ephemeral) pools */

/* Operations */
enum {
    VIRTIO_TMEM_OP_NEW_POOL = 1,
    VIRTIO_TMEM_OP_DESTROY_POOL = 2,
    VIRTIO_TMEM_OP_PUT_PAGE = 3,
    VIRTIO_TMEM_OP_GET_PAGE = 4,
    VIRTIO_TMEM_OP_FLUSH_PAGE = 5,
    VIRTIO_TMEM_OP_FLUSH_OBJECT = 6,
};

/* Pool flags of NEW_POOL: TMEM_POOL_PERSISTENT, TMEM_POOL_SHARED. */

/*
 * Request header, 56 bytes, every field little-endian:
 *   0 le32 op          4 le32 pool_id
 *   8 le64 oid[0]     16 le64 oid[1]     24 le64 oid[2]
 *  32 le32 index      36 le32 flags      40 u8 uuid[16]
 * Fields an op does not use must be zero.
 */
#define VIRTIO_TMEM_HDR_SIZE 56
#define VIRTIO_TMEM_HDR_OP 0
#define VIRTIO_TMEM_HDR_POOL_ID 4
#define VIRTIO_TMEM_HDR_OID 8
#define VIRTIO_TMEM_HDR_INDEX 32
#define VIRTIO_TMEM_HDR_FLAGS 36
#define VIRTIO_TMEM_HDR_UUID 40

/* NEW_POOL's device-writable result: le32 pool_id, le32 reserved (0). */
#define VIRTIO_TMEM_NEW_POOL_RESULT_SIZE 8

/* The header, decoded (host byte order). */
typedef struct TmemReqHeader {
    uint32_t op;
    uint32_t pool_id;
    TmemOid oid;
    uint32_t index;
    uint32_t flags;
    uint8_t uuid[TMEM_UUID_SIZE];
} TmemReqHeader;

/*
 * Configuration space, 48 bytes, little-endian:
 *   0 le32 page_size         4 le32 max_pools
 *   8 le64 store_size       16 le64 device_quota     24 le64 pool_quota
 *  32 le32 page_cost        36 le32 pattern_cost     40 le64 free_hint
 */
#define VIRTIO_TMEM_CONFIG_SIZE 48

/* Decode / encode VIRTIO_TMEM_HDR_SIZE bytes at @buf. */
void tmem_req_header_decode(const void *buf, TmemReqHeader *h);
void tmem_req_header_encode(const TmemReqHeader *h, void *buf);

/* The feature bits a device on @s offers (device-specific bits only). */
uint64_t tmem_host_features(TmemStore *s);

/*
 * Write the configuration space as @c's driver sees it into @buf (at
 * most @len bytes of it).  Cheap: call it on every config read, so
 * free_hint is current.
 */
void tmem_fill_config(TmemClient *c, void *buf, size_t len);

/*
 * Validate and run one request.  @hdr/@hdr_len: the header (must be
 * VIRTIO_TMEM_HDR_SIZE bytes).  @in/@in_len: the device-readable data
 * after it.  @out/@out_len: the device-writable data before the status
 * byte.  The lengths must be exactly what the op needs (PUT_PAGE: in
 * TMEM_PAGE_SIZE, out 0; GET_PAGE: in 0, out TMEM_PAGE_SIZE; NEW_POOL:
 * in 0, out 8; others: 0 and 0), otherwise INVALID; a pointer is read or
 * written only when its length is right, so the caller may pass NULL
 * with any length.  *@out_written receives how many bytes of @out were
 * written (GET_PAGE writes the whole page, zeros on a miss).  Returns
 * the status for the status byte.
 */
TmemStatus tmem_handle_request(TmemClient *c, const void *hdr, size_t hdr_len,
                               const void *in, size_t in_len,
                               void *out, size_t out_len,
                               size_t *out_written);

/*
 * The same on a virtqueue element as QEMU's VirtQueueElement has it:
 * @rd: the device-readable buffers (out_sg), @wr: the device-writable
 * ones (in_sg), in any framing.  Gathers the header, hands page-sized
 * data over in place when it is contiguous (through a bounce buffer
 * otherwise), writes the data and, into the last device-writable byte,
 * the status.  Returns the used length to report: the total size of @wr
 * (0 if @wr is empty: then nothing could be reported and the request
 * was not run).  *@status (if not NULL) receives the status.
 */
size_t tmem_handle_iov(TmemClient *c, const struct iovec *rd,
                       unsigned rd_num, const struct iovec *wr,
                       unsigned wr_num, TmemStatus *status);

/* A short name for an op ("new-pool", ...), "?" if unknown. */
const char *tmem_op_name(uint32_t op);

#endif /* MEMDEDUP_TMEM_PROTO_H */
