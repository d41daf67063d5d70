/*
 * qemu-memx virtio-tmem: a Transcendent Memory virtio device and the
 * host page store behind it (docs/virtio-tmem.rst).  The pool logic is
 * in memdedup/tmem/; this is the QEMU side.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_VIRTIO_TMEM_H
#define QEMU_VIRTIO_TMEM_H

#include "hw/virtio/virtio.h"
#include "qom/object.h"
#include "memdedup/tmem/tmem-pool.h"

#define TYPE_MEMX_TMEM_STORE "x-memx-tmem-store"
OBJECT_DECLARE_SIMPLE_TYPE(MemxTmemStore, MEMX_TMEM_STORE)

#define TYPE_VIRTIO_TMEM "virtio-tmem-device"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOTmem, VIRTIO_TMEM)

/* -object x-memx-tmem-store: a page store devices share. */
struct MemxTmemStore {
    Object parent_obj;

    uint64_t size;
    uint64_t pool_quota;    /* bytes per pool, 0: none */
    bool allow_shared;
    uint32_t max_pools_per_client;

    TmemStore *core;
    GSList *devices;        /* VirtIOTmem attached, for statistics */
};

struct VirtIOTmem {
    VirtIODevice parent_obj;

    MemxTmemStore *store;   /* link property "store" */
    uint64_t quota;         /* bytes of private pools, 0: none */

    VirtQueue *vq;
    TmemClient *client;
};

#endif
