// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio_tmem: the transport half of the guest driver for qemu-memx's
 * virtio-tmem device (docs/virtio-tmem.rst). It owns the one request
 * virtqueue: requests go in with vtmem_submit(), which waits for room
 * when the queue is full, and come back through the queue's interrupt,
 * where each request's done() runs. The swap block device on top of it
 * is tmemswap.c.
 *
 * Losing the device: on hot-unplug (remove) and when the device flags
 * NEEDS_RESET, the device is marked dead under the queue lock, so no
 * new request reaches it. On remove the requests it holds still complete
 * normally before it is reset; after NEEDS_RESET the device processes
 * nothing more, so it is reset at once and every request it held
 * completes with VIRTIO_TMEM_S_DEVICE_ERROR. tmemswap decides what such
 * a failure means for each of its modes.
 *
 * Copyright (c) 2026 qemu-memx developers
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include "virtio_tmem.h"
#include "compat.h"

static void vtmem_complete(struct vtmem *vt, struct vtmem_req *req)
{
	if (req->status > VIRTIO_TMEM_S_DEVICE_ERROR)
		req->status = VIRTIO_TMEM_S_DEVICE_ERROR;
	req->done(req);
	if (atomic_dec_and_test(&vt->inflight))
		wake_up_all(&vt->idle_wait);
}

static void vtmem_vq_done(struct virtqueue *vq)
{
	struct vtmem *vt = vq->vdev->priv;
	struct vtmem_req *req;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&vt->vq_lock, flags);
	do {
		virtqueue_disable_cb(vq);
		while ((req = virtqueue_get_buf(vq, &len))) {
			spin_unlock_irqrestore(&vt->vq_lock, flags);
			vtmem_complete(vt, req);
			spin_lock_irqsave(&vt->vq_lock, flags);
		}
	} while (!virtqueue_enable_cb(vq));
	spin_unlock_irqrestore(&vt->vq_lock, flags);
	wake_up_all(&vt->vq_wait);
}

void vtmem_req_init(struct vtmem_req *req, enum virtio_tmem_op op,
		    u32 pool_id)
{
	memset(&req->hdr, 0, sizeof(req->hdr));
	req->hdr.op = cpu_to_le32(op);
	req->hdr.pool_id = cpu_to_le32(pool_id);
	req->status = VIRTIO_TMEM_S_NONE;
}

static bool vtmem_room_or_dead(struct vtmem *vt)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&vt->vq_lock, flags);
	/* header, page, status: 3 descriptors without indirect ones */
	ret = vt->dead || vt->vq->num_free >= 3;
	spin_unlock_irqrestore(&vt->vq_lock, flags);
	return ret;
}

void vtmem_kick(struct vtmem *vt)
{
	unsigned long flags;
	bool notify = false;

	spin_lock_irqsave(&vt->vq_lock, flags);
	if (!vt->dead)
		notify = virtqueue_kick_prepare(vt->vq);
	spin_unlock_irqrestore(&vt->vq_lock, flags);
	if (notify)
		virtqueue_notify(vt->vq);
}

/*
 * Queue @req without notifying the device (vtmem_kick() does). With
 * @may_sleep, waits while the queue is full; without, fails with -ENOSPC.
 * -ENODEV: the device is gone; @req was not queued and done() not called.
 */
int vtmem_submit(struct vtmem *vt, struct vtmem_req *req, bool may_sleep)
{
	struct scatterlist hdr, page, result, status;
	struct scatterlist *sgs[4];
	unsigned int out = 0, in = 0;
	u32 op = le32_to_cpu(req->hdr.op);
	unsigned long flags;
	int err;

	sg_init_one(&hdr, &req->hdr, sizeof(req->hdr));
	sgs[out++] = &hdr;
	if (op == VIRTIO_TMEM_OP_PUT_PAGE) {
		sg_init_table(&page, 1);
		sg_set_page(&page, req->page, PAGE_SIZE, req->page_offset);
		sgs[out++] = &page;
	} else if (op == VIRTIO_TMEM_OP_GET_PAGE) {
		sg_init_table(&page, 1);
		sg_set_page(&page, req->page, PAGE_SIZE, req->page_offset);
		sgs[out + in++] = &page;
	} else if (op == VIRTIO_TMEM_OP_NEW_POOL) {
		sg_init_one(&result, &req->result, sizeof(req->result));
		sgs[out + in++] = &result;
	}
	sg_init_one(&status, &req->status, sizeof(req->status));
	sgs[out + in++] = &status;

	for (;;) {
		spin_lock_irqsave(&vt->vq_lock, flags);
		if (vt->dead) {
			spin_unlock_irqrestore(&vt->vq_lock, flags);
			return -ENODEV;
		}
		err = virtqueue_add_sgs(vt->vq, sgs, out, in, req, GFP_ATOMIC);
		if (!err)
			atomic_inc(&vt->inflight);
		spin_unlock_irqrestore(&vt->vq_lock, flags);
		if (err != -ENOSPC || !may_sleep)
			return err;
		atomic64_inc(&vt->queue_full);
		vtmem_kick(vt);
		wait_event(vt->vq_wait, vtmem_room_or_dead(vt));
	}
}

bool vtmem_has_feature(struct vtmem *vt, unsigned int fbit)
{
	return vt->vdev && virtio_has_feature(vt->vdev, fbit);
}

struct vtmem_sync {
	struct vtmem_req req;
	struct completion done;
};

static void vtmem_sync_done(struct vtmem_req *req)
{
	complete(&container_of(req, struct vtmem_sync, req)->done);
}

/* Runs a control request and waits for it; returns its status. */
static int vtmem_run_sync(struct vtmem *vt, struct vtmem_sync *s)
{
	init_completion(&s->done);
	s->req.done = vtmem_sync_done;
	if (vtmem_submit(vt, &s->req, true))
		return VIRTIO_TMEM_S_DEVICE_ERROR;
	vtmem_kick(vt);
	wait_for_completion(&s->done);
	return s->req.status;
}

int vtmem_new_pool(struct vtmem *vt, u32 flags, u32 *pool_id)
{
	struct vtmem_sync *s = kzalloc(sizeof(*s), GFP_KERNEL);
	int status;

	if (!s)
		return -ENOMEM;
	vtmem_req_init(&s->req, VIRTIO_TMEM_OP_NEW_POOL, 0);
	s->req.hdr.flags = cpu_to_le32(flags);
	status = vtmem_run_sync(vt, s);
	*pool_id = le32_to_cpu(s->req.result.pool_id);
	kfree(s);
	if (status != VIRTIO_TMEM_S_OK) {
		dev_err(&vt->vdev->dev, "NEW_POOL failed, status %d\n", status);
		return -EIO;
	}
	return 0;
}

void vtmem_destroy_pool(struct vtmem *vt, u32 pool_id)
{
	struct vtmem_sync *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return;	/* the device reset that follows destroys it too */
	vtmem_req_init(&s->req, VIRTIO_TMEM_OP_DESTROY_POOL, pool_id);
	vtmem_run_sync(vt, s);
	kfree(s);
}

static u64 vtmem_read_granted(struct vtmem *vt)
{
	struct virtio_device *vdev = vt->vdev;
	u64 limit = virtio_cread64(vdev, offsetof(struct virtio_tmem_config,
						  store_size));
	u64 quota;

	quota = virtio_cread64(vdev, offsetof(struct virtio_tmem_config,
					      device_quota));
	if (quota && quota < limit)
		limit = quota;
	quota = virtio_cread64(vdev, offsetof(struct virtio_tmem_config,
					      pool_quota));
	if (quota && quota < limit)
		limit = quota;
	return limit;
}

/* No more requests reach the device; returns true if it was alive. */
static bool vtmem_mark_dead(struct vtmem *vt)
{
	unsigned long flags;
	bool was_alive;

	spin_lock_irqsave(&vt->vq_lock, flags);
	was_alive = !vt->dead;
	vt->dead = true;
	spin_unlock_irqrestore(&vt->vq_lock, flags);
	wake_up_all(&vt->vq_wait);
	return was_alive;
}

/* Reset the device and fail every request it still holds. */
static void vtmem_reset_and_drain(struct vtmem *vt)
{
	struct vtmem_req *req;
	unsigned int len;

	virtio_reset_device(vt->vdev);
	spin_lock_irq(&vt->vq_lock);
	while ((req = virtqueue_get_buf(vt->vq, &len))) {
		spin_unlock_irq(&vt->vq_lock);
		vtmem_complete(vt, req);
		spin_lock_irq(&vt->vq_lock);
	}
	while ((req = virtqueue_detach_unused_buf(vt->vq))) {
		spin_unlock_irq(&vt->vq_lock);
		req->status = VIRTIO_TMEM_S_DEVICE_ERROR;
		vtmem_complete(vt, req);
		spin_lock_irq(&vt->vq_lock);
	}
	spin_unlock_irq(&vt->vq_lock);
}

static void vtmem_config_work(struct work_struct *work)
{
	struct vtmem *vt = container_of(work, struct vtmem, config_work);
	struct virtio_device *vdev = vt->vdev;

	if (vdev->config->get_status(vdev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
		if (vtmem_mark_dead(vt)) {
			dev_err(&vdev->dev,
				"device needs a reset: its pools are lost, tmemswap%d continues without it\n",
				vt->index);
			vtmem_reset_and_drain(vt);
		}
		return;
	}
	vt->granted = vtmem_read_granted(vt);
	dev_info(&vdev->dev, "limits changed: %llu bytes granted\n",
		 vt->granted);
}

static void vtmem_config_changed(struct virtio_device *vdev)
{
	struct vtmem *vt = vdev->priv;

	schedule_work(&vt->config_work);
}

static atomic_t vtmem_count = ATOMIC_INIT(0);

static int vtmem_probe(struct virtio_device *vdev)
{
	struct vtmem *vt;
	u32 page_size;
	int err;

	page_size = virtio_cread32(vdev, offsetof(struct virtio_tmem_config,
						  page_size));
	if (page_size != PAGE_SIZE) {
		dev_err(&vdev->dev, "page size %u, this kernel's is %lu\n",
			page_size, PAGE_SIZE);
		return -EINVAL;
	}
	vt = kzalloc(sizeof(*vt), GFP_KERNEL);
	if (!vt)
		return -ENOMEM;
	vt->vdev = vdev;
	vt->index = atomic_inc_return(&vtmem_count) - 1;
	spin_lock_init(&vt->vq_lock);
	init_waitqueue_head(&vt->vq_wait);
	init_waitqueue_head(&vt->idle_wait);
	INIT_WORK(&vt->config_work, vtmem_config_work);
	vt->page_cost = virtio_cread32(vdev, offsetof(struct virtio_tmem_config,
						      page_cost));
	if (vt->page_cost < PAGE_SIZE)
		vt->page_cost = PAGE_SIZE;
	vt->granted = vtmem_read_granted(vt);
	vdev->priv = vt;

	vt->vq = virtio_find_single_vq(vdev, vtmem_vq_done, "requestq");
	if (IS_ERR(vt->vq)) {
		err = PTR_ERR(vt->vq);
		goto err_free;
	}
	virtio_device_ready(vdev);

	err = tmemswap_attach(vt);
	if (err)
		goto err_reset;
	return 0;

err_reset:
	vtmem_mark_dead(vt);
	vtmem_reset_and_drain(vt);
	vdev->config->del_vqs(vdev);
err_free:
	kfree(vt);
	return err;
}

static void vtmem_remove(struct virtio_device *vdev)
{
	struct vtmem *vt = vdev->priv;

	cancel_work_sync(&vt->config_work);
	/* tmemswap stops using the device and may keep its disk */
	tmemswap_detach(vt);
	if (vtmem_mark_dead(vt))
		wait_event(vt->idle_wait, atomic_read(&vt->inflight) == 0);
	vtmem_reset_and_drain(vt);
	vdev->config->del_vqs(vdev);
	/* the disk, if tmemswap kept it, still reads vt (dead) */
	spin_lock_irq(&vt->vq_lock);
	vt->vdev = NULL;
	vt->vq = NULL;
	spin_unlock_irq(&vt->vq_lock);
	if (!vt->swap)
		kfree(vt);
}

static unsigned int vtmem_features[] = {
	VIRTIO_TMEM_F_PERSISTENT,
};

static const struct virtio_device_id vtmem_id_table[] = {
	{ VIRTIO_ID_TMEM, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, vtmem_id_table);

static struct virtio_driver vtmem_driver = {
	.feature_table = vtmem_features,
	.feature_table_size = ARRAY_SIZE(vtmem_features),
	.driver.name = KBUILD_MODNAME,
	.id_table = vtmem_id_table,
	.probe = vtmem_probe,
	.remove = vtmem_remove,
	.config_changed = vtmem_config_changed,
};

static int __init vtmem_init(void)
{
	int err = tmemswap_init();

	if (err)
		return err;
	err = register_virtio_driver(&vtmem_driver);
	if (err)
		tmemswap_exit();
	return err;
}

static void __exit vtmem_exit(void)
{
	unregister_virtio_driver(&vtmem_driver);
	tmemswap_exit();
}

module_init(vtmem_init);
module_exit(vtmem_exit);
MODULE_DESCRIPTION("virtio-tmem: swap into host memory pools (qemu-memx)");
MODULE_LICENSE("GPL");
