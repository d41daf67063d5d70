/*
 * libqos driver for qemu-memx's virtio-tmem-pci: brings the device up and
 * sends requests as a guest driver would, following docs/virtio-tmem.rst
 * (the wire format is written out here again, from the specification, so
 * that the tests check the device against the document).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_LIBQOS_VIRTIO_TMEM_H
#define TESTS_LIBQOS_VIRTIO_TMEM_H

#include "qgraph.h"
#include "virtio.h"
#include "virtio-pci.h"

#define QVIRTIO_TMEM_PAGE 4096
#define QVIRTIO_TMEM_HDR_SIZE 56

#define QVIRTIO_TMEM_F_PERSISTENT 0
#define QVIRTIO_TMEM_F_SHARED 1

enum {
    QVIRTIO_TMEM_OP_NEW_POOL = 1,
    QVIRTIO_TMEM_OP_DESTROY_POOL = 2,
    QVIRTIO_TMEM_OP_PUT_PAGE = 3,
    QVIRTIO_TMEM_OP_GET_PAGE = 4,
    QVIRTIO_TMEM_OP_FLUSH_PAGE = 5,
    QVIRTIO_TMEM_OP_FLUSH_OBJECT = 6,
};

enum {
    QVIRTIO_TMEM_S_OK = 0,
    QVIRTIO_TMEM_S_MISS = 1,
    QVIRTIO_TMEM_S_NOSPACE = 2,
    QVIRTIO_TMEM_S_BAD_POOL = 3,
    QVIRTIO_TMEM_S_INVALID = 4,
    QVIRTIO_TMEM_S_UNSUPPORTED = 5,
};

#define QVIRTIO_TMEM_POOL_PERSISTENT 0x1
#define QVIRTIO_TMEM_POOL_SHARED 0x2

typedef struct QVirtioTmem {
    QTestState *qts;
    QVirtioDevice *vdev;
    QVirtQueue *vq;
    QGuestAllocator *alloc;
} QVirtioTmem;

typedef struct QVirtioTmemPCI {
    QVirtioPCIDevice pci_vdev;
    QVirtioTmem tmem;
} QVirtioTmemPCI;

/* A request's header fields (host order; encoded little-endian). */
typedef struct QVirtioTmemReq {
    uint32_t op;
    uint32_t pool_id;
    uint64_t oid[3];
    uint32_t index;
    uint32_t flags;
    uint8_t uuid[16];
} QVirtioTmemReq;

/*
 * One descriptor of a hand-built chain: @len bytes at guest address @gpa
 * (0: allocate and fill from @data), device-writable if @write.
 */
typedef struct QVirtioTmemDesc {
    uint64_t gpa;
    uint32_t len;
    bool write;
    const void *data;
} QVirtioTmemDesc;

/*
 * Send @req in the standard layout (header, PUT's page from @in, GET's
 * or NEW_POOL's device-writable buffer into @out, status byte) and
 * return the status byte.
 */
uint8_t qvirtio_tmem_request(QVirtioTmem *t, const QVirtioTmemReq *req,
                             const void *in, size_t in_len,
                             void *out, size_t out_len);

/*
 * Send an arbitrary chain (for hostile requests) and return the used
 * length the device reported; the last device-writable byte's content is
 * in *@status.
 */
uint32_t qvirtio_tmem_chain(QVirtioTmem *t, const QVirtioTmemDesc *desc,
                            unsigned n, uint8_t *status);

/* NEW_POOL: returns the status, the pool id in *@pool_id. */
uint8_t qvirtio_tmem_new_pool(QVirtioTmem *t, uint32_t flags,
                              uint32_t *pool_id);

#endif
