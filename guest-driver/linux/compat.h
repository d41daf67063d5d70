/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_tmem: what differs between the kernels the driver is built for
 * (Debian's 6.1, 6.12 and 7.3), so that the rest of the source has no version
 * tests. Each helper names the interface it hides.
 *
 * - Allocating the disk: 6.1's blk_alloc_disk(node) returns NULL and the
 *   queue limits are set afterwards; since 6.9 the limits are passed in
 *   and the result is an ERR_PTR; since 6.11 the features (synchronous,
 *   rotational) are limits too.
 * - Synchronous swap-in: 6.1 takes a device with ->rw_page as synchronous
 *   (SWP_SYNCHRONOUS_IO); ->rw_page went in 6.3 and BLK_FEAT_SYNCHRONOUS
 *   says the same since 6.11.
 * - Opening the backing device: blkdev_get_by_path() until 6.8,
 *   bdev_file_open_by_path() (a struct file) since.
 * - Virtqueues: virtio_find_single_vq() is the same on both, so
 *   virtio_find_vqs()' change of arguments in 6.11 does not matter here.
 * - Shrinkers: the driver keeps no cache of its own in guest memory, so
 *   it registers none and the shrinker API's change in 6.7 does not
 *   apply.
 *
 * Copyright (c) 2026 qemu-memx developers
 */
#ifndef VIRTIO_TMEM_COMPAT_H
#define VIRTIO_TMEM_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/err.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
#define TMEMSWAP_HAVE_RW_PAGE 1
#endif

/*
 * A bio-based disk of @block_size blocks that takes discards; on 6.1,
 * synchronous means its fops have ->rw_page.
 */
static inline struct gendisk *tmemswap_alloc_disk(unsigned int block_size,
						  unsigned int max_discard,
						  bool synchronous)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	struct queue_limits lim = {
		.logical_block_size = block_size,
		.physical_block_size = block_size,
		.io_min = block_size,
		.discard_granularity = block_size,
		.max_hw_discard_sectors = max_discard,
		.features = synchronous ? BLK_FEAT_SYNCHRONOUS : 0,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
#else
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, block_size);
	blk_queue_physical_block_size(disk->queue, block_size);
	blk_queue_io_min(disk->queue, block_size);
	disk->queue->limits.discard_granularity = block_size;
	blk_queue_max_discard_sectors(disk->queue, max_discard);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	return disk;
#endif
}

/* An exclusively opened block device and how to close it. */
struct tmemswap_backing {
	struct block_device *bdev;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#endif
};

static inline int tmemswap_open_backing(struct tmemswap_backing *b,
					const char *path, void *holder)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	b->file = bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
					 holder, NULL);
	if (IS_ERR(b->file))
		return PTR_ERR(b->file);
	b->bdev = file_bdev(b->file);
#else
	b->bdev = blkdev_get_by_path(path, FMODE_READ | FMODE_WRITE | FMODE_EXCL,
				     holder);
	if (IS_ERR(b->bdev))
		return PTR_ERR(b->bdev);
#endif
	return 0;
}

static inline void tmemswap_close_backing(struct tmemswap_backing *b)
{
	if (!b->bdev)
		return;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	fput(b->file);
#else
	blkdev_put(b->bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
#endif
	b->bdev = NULL;
}

#endif
