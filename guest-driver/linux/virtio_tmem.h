/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_tmem: the guest driver of qemu-memx's virtio-tmem device.
 *
 * This header holds the device's wire format, written from
 * docs/virtio-tmem.rst (the specification), and what the transport
 * (vtmem-core.c: one virtqueue, requests in and completions out) shares
 * with the swap block device built on it (tmemswap.c).
 *
 * Copyright (c) 2026 qemu-memx developers
 */
#ifndef VIRTIO_TMEM_H
#define VIRTIO_TMEM_H

#include <linux/types.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>

/* A placeholder ID, see "Choice of the device ID" in the specification. */
#define VIRTIO_ID_TMEM 59

#define VIRTIO_TMEM_F_PERSISTENT 0
#define VIRTIO_TMEM_F_SHARED 1

enum virtio_tmem_op {
	VIRTIO_TMEM_OP_NEW_POOL = 1,
	VIRTIO_TMEM_OP_DESTROY_POOL = 2,
	VIRTIO_TMEM_OP_PUT_PAGE = 3,
	VIRTIO_TMEM_OP_GET_PAGE = 4,
	VIRTIO_TMEM_OP_FLUSH_PAGE = 5,
	VIRTIO_TMEM_OP_FLUSH_OBJECT = 6,
};

enum virtio_tmem_status {
	VIRTIO_TMEM_S_OK = 0,
	VIRTIO_TMEM_S_MISS = 1,
	VIRTIO_TMEM_S_NOSPACE = 2,
	VIRTIO_TMEM_S_BAD_POOL = 3,
	VIRTIO_TMEM_S_INVALID = 4,
	VIRTIO_TMEM_S_UNSUPPORTED = 5,
	VIRTIO_TMEM_S_DEVICE_ERROR = 6,
	/* not on the wire: the device never wrote a status */
	VIRTIO_TMEM_S_NONE = 0xff,
};

#define VIRTIO_TMEM_POOL_PERSISTENT (1u << 0)

/* The device-readable header of every request: 56 bytes. */
struct virtio_tmem_req_hdr {
	__le32 op;
	__le32 pool_id;
	__le64 oid[3];
	__le32 index;
	__le32 flags;
	u8 uuid[16];
};

struct virtio_tmem_new_pool_result {
	__le32 pool_id;
	__le32 reserved;
};

struct virtio_tmem_config {
	__le32 page_size;
	__le32 max_pools;
	__le64 store_size;
	__le64 device_quota;
	__le64 pool_quota;
	__le32 page_cost;
	__le32 pattern_cost;
	__le64 free_hint;
};

/*
 * One request in flight. The device reads @hdr (and the page of a put)
 * and writes @result (NEW_POOL only), the page of a get, and @status.
 * @done runs in the virtqueue's interrupt handler once the device has
 * used the request, or in process context with VIRTIO_TMEM_S_DEVICE_ERROR
 * when the device went away before it could.
 */
struct vtmem_req {
	struct virtio_tmem_req_hdr hdr;
	struct virtio_tmem_new_pool_result result;
	u8 status;
	struct page *page;
	unsigned int page_offset;
	void (*done)(struct vtmem_req *req);
	void *owner;		/* what @done completes */
	u64 slot;		/* tmemswap: the page's index on the disk */
	struct work_struct work;	/* tmemswap: fallback to backing I/O */
};

struct tmemswap;

/* One virtio-tmem device. */
struct vtmem {
	struct virtio_device *vdev;	/* NULL once removed */
	struct virtqueue *vq;
	spinlock_t vq_lock;	/* vq, dead */
	bool dead;		/* removed or NEEDS_RESET: no more requests */
	wait_queue_head_t vq_wait;	/* room in the vq, or dead */
	atomic_t inflight;	/* requests the device holds */
	wait_queue_head_t idle_wait;	/* inflight reached 0 */
	struct work_struct config_work;
	struct tmemswap *swap;
	int index;
	u64 page_cost;
	u64 granted;		/* bytes the limits grant this device */
	atomic64_t queue_full;	/* submissions that waited for room */
};

int vtmem_submit(struct vtmem *vt, struct vtmem_req *req, bool may_sleep);
void vtmem_kick(struct vtmem *vt);
void vtmem_req_init(struct vtmem_req *req, enum virtio_tmem_op op,
		    u32 pool_id);
bool vtmem_has_feature(struct vtmem *vt, unsigned int fbit);
int vtmem_new_pool(struct vtmem *vt, u32 flags, u32 *pool_id);
void vtmem_destroy_pool(struct vtmem *vt, u32 pool_id);

/* tmemswap.c: one swap block device per virtio-tmem device */
int tmemswap_init(void);
void tmemswap_exit(void);
int tmemswap_attach(struct vtmem *vt);
void tmemswap_detach(struct vtmem *vt);

#endif
