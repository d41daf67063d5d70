// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tmemswap: a swap block device on a virtio-tmem device, one disk
 * (tmemswapN) per device. The guest uses it as any swap device:
 * mkswap /dev/tmemswap0 && swapon /dev/tmemswap0.
 *
 * Keys. The disk's page number ("slot"; for swap, the swap offset) names
 * the tmem page: object id slot / 512, index slot % 512. A 2 MiB area,
 * the unit swap frees and discards in, is one object, so discarding it is
 * one FLUSH_OBJECT.
 *
 * Two modes (module parameter mode=):
 *
 * persistent  Frontswap's semantics. A write is a PUT into a private
 *             persistent pool, a read a GET, a discard or a freed swap
 *             slot a flush. If the host refuses a put (the limits are
 *             reached), the page goes to the backing device when one is
 *             set (backing=), else the write fails as a swap write error
 *             (the kernel keeps the page in memory). The refused put left
 *             no page under the key (the specification's rule), so a
 *             later GET misses and the read falls through to the backing
 *             device, which holds the newest copy. Without a backing
 *             device the disk is no larger than the bytes the host's
 *             limits grant, so it never claims space the host did not
 *             grant.
 * ephemeral   Write-through: every write goes to the backing device
 *             (required) and a copy into a private ephemeral pool. A read
 *             tries the pool first and reads the backing device on a miss
 *             (the host evicted the page). The host may drop the whole
 *             pool at any time and nothing is lost.
 *
 * I/O path. A bio is served page by page, one request each, all queued
 * before one notification (not one per plug: the host answers at once,
 * and a page whose put completes sooner leaves writeback sooner, which
 * measured 25% more pages per second than batching per plug under
 * reclaim); the bio completes when its last request does,
 * from the virtqueue's interrupt. Requests come from a mempool (this runs
 * in reclaim: GFP_NOIO, no other allocation). What needs the backing
 * device after a request completed (a miss, a refused put) runs on a
 * WQ_MEM_RECLAIM workqueue, since bios cannot be submitted from the
 * interrupt.
 *
 * Losing the device (hot-unplug, NEEDS_RESET). Its pools are gone. An
 * ephemeral disk then serves everything from the backing device, and a
 * disk in use survives the device's removal (it is deleted when the
 * module is unloaded, after swapoff). A persistent disk in use holds up
 * a hot-unplug until swapoff, with the device still serving it. After
 * NEEDS_RESET, a persistent disk fails every request: its pages were
 * only in the host's pool, and reading the backing device would return
 * stale data.
 *
 * Copyright (c) 2026 qemu-memx developers
 */
#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/mempool.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include "virtio_tmem.h"
#include "compat.h"

#define TMEMSWAP_OBJECT_SHIFT 9	/* 512 pages, 2 MiB per object */
#define TMEMSWAP_SECTORS_PER_PAGE (PAGE_SIZE >> SECTOR_SHIFT)
#define TMEMSWAP_MIN_REQS 64

static char *mode = "persistent";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "persistent (default) or ephemeral");
static char *backing;
module_param(backing, charp, 0444);
MODULE_PARM_DESC(backing,
		 "block device(s) behind tmemswap0,1,...: comma-separated paths");
static unsigned long size_mb;
module_param(size_mb, ulong, 0444);
MODULE_PARM_DESC(size_mb,
		 "disk size in MiB (default: the backing device's, or what the host grants)");

enum tmemswap_stat {
	TS_PUTS, TS_PUTS_REFUSED, TS_GETS, TS_HITS, TS_MISSES,
	TS_BACKING_READS, TS_BACKING_WRITES, TS_FLUSHES, TS_FLUSHES_DROPPED,
	TS_ERRORS, TS_NR_STATS
};

static const char *const tmemswap_stat_names[TS_NR_STATS] = {
	"puts", "puts_refused", "gets", "hits", "misses", "backing_reads",
	"backing_writes", "flushes", "flushes_dropped", "errors",
};

struct tmemswap {
	struct vtmem *vt;
	struct gendisk *disk;
	bool persistent;
	u32 pool_id;
	bool have_pool;
	struct tmemswap_backing backing;
	struct bio_set bioset;
	mempool_t *req_pool;
	mempool_t *io_pool;
	struct workqueue_struct *wq;
	atomic_t ios;		/* struct tmemswap_io alive */
	wait_queue_head_t ios_wait;
	struct list_head orphan;	/* on tmemswap_orphans once vt is gone */
	atomic64_t stats[TS_NR_STATS];
};

/* One bio (or, on 6.1, one ->rw_page read) being served. */
struct tmemswap_io {
	struct tmemswap *ts;
	struct bio *bio;
	struct page *page;	/* ->rw_page */
	atomic_t pending;
	blk_status_t status;
};

static int tmemswap_major;
static LIST_HEAD(tmemswap_orphans);
static DEFINE_MUTEX(tmemswap_orphans_lock);
static struct kmem_cache *tmemswap_req_cache;

static void ts_count(struct tmemswap *ts, enum tmemswap_stat s)
{
	atomic64_inc(&ts->stats[s]);
}

static bool ts_device_usable(struct tmemswap *ts)
{
	return ts->have_pool && !READ_ONCE(ts->vt->dead);
}

static void tmemswap_io_put(struct tmemswap_io *io)
{
	struct tmemswap *ts = io->ts;

	if (!atomic_dec_and_test(&io->pending))
		return;
	if (io->status)
		ts_count(ts, TS_ERRORS);
	if (io->bio) {
		io->bio->bi_status = io->status;
		bio_endio(io->bio);
	}
#ifdef TMEMSWAP_HAVE_RW_PAGE
	else
		page_endio(io->page, false, blk_status_to_errno(io->status));
#endif
	mempool_free(io, ts->io_pool);
	if (atomic_dec_and_test(&ts->ios))
		wake_up_all(&ts->ios_wait);
}

static struct tmemswap_io *tmemswap_io_new(struct tmemswap *ts,
					   struct bio *bio, struct page *page)
{
	struct tmemswap_io *io = mempool_alloc(ts->io_pool, GFP_NOIO);

	io->ts = ts;
	io->bio = bio;
	io->page = page;
	io->status = BLK_STS_OK;
	atomic_set(&io->pending, 1);	/* the submitter's */
	atomic_inc(&ts->ios);
	return io;
}

static void tmemswap_req_finish(struct vtmem_req *req, blk_status_t status)
{
	struct tmemswap_io *io = req->owner;

	if (status)
		cmpxchg(&io->status, BLK_STS_OK, status);
	mempool_free(req, io->ts->req_pool);
	tmemswap_io_put(io);
}

static void tmemswap_backing_end(struct bio *bio)
{
	struct vtmem_req *req = bio->bi_private;
	blk_status_t status = bio->bi_status;

	bio_put(bio);
	tmemswap_req_finish(req, status);
}

/* Process context: read or write the page of @req on the backing device. */
static void tmemswap_backing_work(struct work_struct *work)
{
	struct vtmem_req *req = container_of(work, struct vtmem_req, work);
	struct tmemswap_io *io = req->owner;
	struct tmemswap *ts = io->ts;
	bool write = le32_to_cpu(req->hdr.op) == VIRTIO_TMEM_OP_PUT_PAGE;
	struct bio *bio;

	bio = bio_alloc_bioset(ts->backing.bdev, 1,
			       (write ? REQ_OP_WRITE : REQ_OP_READ) | REQ_SYNC,
			       GFP_NOIO, &ts->bioset);
	bio->bi_iter.bi_sector = req->slot * TMEMSWAP_SECTORS_PER_PAGE;
	__bio_add_page(bio, req->page, PAGE_SIZE, req->page_offset);
	bio->bi_private = req;
	bio->bi_end_io = tmemswap_backing_end;
	ts_count(ts, write ? TS_BACKING_WRITES : TS_BACKING_READS);
	submit_bio(bio);
}

static void tmemswap_to_backing(struct tmemswap *ts, struct vtmem_req *req)
{
	INIT_WORK(&req->work, tmemswap_backing_work);
	queue_work(ts->wq, &req->work);
}

/*
 * A page request is done (interrupt context, or the submitter's context
 * with VIRTIO_TMEM_S_DEVICE_ERROR when the device is gone).
 */
static void tmemswap_page_done(struct vtmem_req *req)
{
	struct tmemswap *ts = ((struct tmemswap_io *)req->owner)->ts;
	bool have_backing = ts->backing.bdev != NULL;
	u8 status = req->status;

	if (le32_to_cpu(req->hdr.op) == VIRTIO_TMEM_OP_PUT_PAGE) {
		if (status == VIRTIO_TMEM_S_OK) {
			tmemswap_req_finish(req, BLK_STS_OK);
			return;
		}
		ts_count(ts, TS_PUTS_REFUSED);
		if (!ts->persistent) {
			/* the backing device has the page (write-through) */
			tmemswap_req_finish(req, BLK_STS_OK);
		} else if (have_backing && !READ_ONCE(ts->vt->dead)) {
			tmemswap_to_backing(ts, req);
		} else {
			tmemswap_req_finish(req, status == VIRTIO_TMEM_S_NOSPACE ?
					    BLK_STS_NOSPC : BLK_STS_IOERR);
		}
		return;
	}

	/* GET_PAGE */
	if (status == VIRTIO_TMEM_S_OK) {
		ts_count(ts, TS_HITS);
		tmemswap_req_finish(req, BLK_STS_OK);
		return;
	}
	if (status == VIRTIO_TMEM_S_MISS)
		ts_count(ts, TS_MISSES);
	if (have_backing &&
	    (!ts->persistent ||
	     (status == VIRTIO_TMEM_S_MISS && !READ_ONCE(ts->vt->dead)))) {
		tmemswap_to_backing(ts, req);
	} else if (status == VIRTIO_TMEM_S_MISS) {
		/* never written: the device returned zeros */
		tmemswap_req_finish(req, BLK_STS_OK);
	} else {
		tmemswap_req_finish(req, BLK_STS_IOERR);
	}
}

/* Serve one page of @io: a put or a get, or the backing device alone. */
static void tmemswap_page(struct tmemswap *ts, struct tmemswap_io *io,
			  struct page *page, unsigned int offset, u64 slot,
			  bool write)
{
	struct vtmem_req *req = mempool_alloc(ts->req_pool, GFP_NOIO);

	vtmem_req_init(req, write ? VIRTIO_TMEM_OP_PUT_PAGE :
		       VIRTIO_TMEM_OP_GET_PAGE, ts->pool_id);
	req->hdr.oid[0] = cpu_to_le64(slot >> TMEMSWAP_OBJECT_SHIFT);
	req->hdr.index = cpu_to_le32(slot & ((1u << TMEMSWAP_OBJECT_SHIFT) - 1));
	req->page = page;
	req->page_offset = offset;
	req->slot = slot;
	req->owner = io;
	req->done = tmemswap_page_done;
	atomic_inc(&io->pending);
	ts_count(ts, write ? TS_PUTS : TS_GETS);
	if (!ts_device_usable(ts) || vtmem_submit(ts->vt, req, true)) {
		req->status = VIRTIO_TMEM_S_DEVICE_ERROR;
		tmemswap_page_done(req);
	}
}

static void tmemswap_clone_end(struct bio *clone)
{
	struct tmemswap_io *io = clone->bi_private;

	if (clone->bi_status)
		cmpxchg(&io->status, BLK_STS_OK, clone->bi_status);
	bio_put(clone);
	tmemswap_io_put(io);
}

static void tmemswap_flush_done(struct vtmem_req *req)
{
	struct tmemswap *ts = req->owner;

	mempool_free(req, ts->req_pool);
}

/*
 * Queue a flush of one page (@whole_object: of the object of @slot).
 * From swap_slot_free_notify() this runs under a spinlock: then it takes
 * no sleep and drops the flush when the queue is full. A dropped flush
 * costs host memory, never data: the slot is written again before it is
 * read, and that put replaces the page.
 */
static void tmemswap_flush(struct tmemswap *ts, u64 slot, bool whole_object,
			   bool may_sleep)
{
	struct vtmem_req *req;

	if (!ts_device_usable(ts))
		return;
	req = mempool_alloc(ts->req_pool, may_sleep ? GFP_NOIO : GFP_ATOMIC);
	if (!req) {
		ts_count(ts, TS_FLUSHES_DROPPED);
		return;
	}
	vtmem_req_init(req, whole_object ? VIRTIO_TMEM_OP_FLUSH_OBJECT :
		       VIRTIO_TMEM_OP_FLUSH_PAGE, ts->pool_id);
	req->hdr.oid[0] = cpu_to_le64(slot >> TMEMSWAP_OBJECT_SHIFT);
	if (!whole_object)
		req->hdr.index =
			cpu_to_le32(slot & ((1u << TMEMSWAP_OBJECT_SHIFT) - 1));
	req->owner = ts;
	req->done = tmemswap_flush_done;
	if (vtmem_submit(ts->vt, req, may_sleep)) {
		mempool_free(req, ts->req_pool);
		ts_count(ts, TS_FLUSHES_DROPPED);
		return;
	}
	ts_count(ts, TS_FLUSHES);
}

static void tmemswap_discard(struct tmemswap *ts, struct bio *bio)
{
	u64 first = DIV_ROUND_UP_ULL(bio->bi_iter.bi_sector,
				     TMEMSWAP_SECTORS_PER_PAGE);
	u64 end = bio_end_sector(bio) / TMEMSWAP_SECTORS_PER_PAGE;
	u64 object = 1ull << TMEMSWAP_OBJECT_SHIFT;
	u64 slot = first;

	while (slot < end) {
		if (!(slot & (object - 1)) && end - slot >= object) {
			tmemswap_flush(ts, slot, true, true);
			slot += object;
		} else {
			tmemswap_flush(ts, slot, false, true);
			slot++;
		}
	}
	vtmem_kick(ts->vt);
	bio_endio(bio);
}

static void tmemswap_submit_bio(struct bio *bio)
{
	struct tmemswap *ts = bio->bi_bdev->bd_disk->private_data;
	bool write = op_is_write(bio_op(bio));
	struct tmemswap_io *io;
	struct bvec_iter iter;
	struct bio_vec bv;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		break;
	case REQ_OP_DISCARD:
		tmemswap_discard(ts, bio);
		return;
	case REQ_OP_FLUSH:
		bio_endio(bio);	/* no volatile cache of our own */
		return;
	default:
		bio_io_error(bio);
		return;
	}

	/* Every segment must be one whole page (swap's I/O always is). */
	bio_for_each_segment(bv, bio, iter) {
		if (bv.bv_len != PAGE_SIZE || bv.bv_offset ||
		    iter.bi_sector % TMEMSWAP_SECTORS_PER_PAGE) {
			pr_warn_ratelimited("%s: I/O not in whole pages refused\n",
					    ts->disk->disk_name);
			bio_io_error(bio);
			return;
		}
	}

	io = tmemswap_io_new(ts, bio, NULL);
	if (write && !ts->persistent) {
		/* write-through: the backing device always has the page */
		struct bio *clone = bio_alloc_clone(ts->backing.bdev, bio,
						    GFP_NOIO, &ts->bioset);

		clone->bi_private = io;
		clone->bi_end_io = tmemswap_clone_end;
		atomic_inc(&io->pending);
		atomic64_add(bio_sectors(bio) / TMEMSWAP_SECTORS_PER_PAGE,
			     &ts->stats[TS_BACKING_WRITES]);
		submit_bio_noacct(clone);
	}
	bio_for_each_segment(bv, bio, iter)
		tmemswap_page(ts, io, bv.bv_page, bv.bv_offset,
			      iter.bi_sector / TMEMSWAP_SECTORS_PER_PAGE, write);
	vtmem_kick(ts->vt);
	tmemswap_io_put(io);
}

#ifdef TMEMSWAP_HAVE_RW_PAGE
/*
 * 6.1 swaps in synchronously (SWP_SYNCHRONOUS_IO) from a device with
 * ->rw_page. Only reads take it: a write that fails here would end the
 * page's writeback without redirtying it, so writes return -EOPNOTSUPP
 * and take the bio path, whose write errors keep the page in memory.
 */
static int tmemswap_rw_page(struct block_device *bdev, sector_t sector,
			    struct page *page, enum req_op op)
{
	struct tmemswap *ts = bdev->bd_disk->private_data;
	struct tmemswap_io *io;

	if (op_is_write(op) || sector % TMEMSWAP_SECTORS_PER_PAGE ||
	    PageTransHuge(page))
		return -EOPNOTSUPP;
	io = tmemswap_io_new(ts, NULL, page);
	tmemswap_page(ts, io, page, 0, sector / TMEMSWAP_SECTORS_PER_PAGE,
		      false);
	vtmem_kick(ts->vt);
	tmemswap_io_put(io);
	return 0;
}
#endif

static void tmemswap_slot_free_notify(struct block_device *bdev,
				      unsigned long offset)
{
	struct tmemswap *ts = bdev->bd_disk->private_data;

	tmemswap_flush(ts, offset, false, false);
	vtmem_kick(ts->vt);
}

/*
 * A persistent disk is synchronous: a swap-in is one get, which the host
 * answers at once, so the kernel skips the swap cache and readahead. An
 * ephemeral disk is not: a miss reads the backing disk, where readahead
 * pays.
 */
static const struct block_device_operations tmemswap_persistent_fops = {
	.owner = THIS_MODULE,
	.submit_bio = tmemswap_submit_bio,
#ifdef TMEMSWAP_HAVE_RW_PAGE
	.rw_page = tmemswap_rw_page,
#endif
	.swap_slot_free_notify = tmemswap_slot_free_notify,
};

static const struct block_device_operations tmemswap_ephemeral_fops = {
	.owner = THIS_MODULE,
	.submit_bio = tmemswap_submit_bio,
	.swap_slot_free_notify = tmemswap_slot_free_notify,
};

static ssize_t tmem_stats_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct tmemswap *ts = dev_to_disk(dev)->private_data;
	int len = 0;
	int i;

	for (i = 0; i < TS_NR_STATS; i++)
		len += sysfs_emit_at(buf, len, "%s%s=%lld", i ? " " : "",
				     tmemswap_stat_names[i],
				     (long long)atomic64_read(&ts->stats[i]));
	len += sysfs_emit_at(buf, len, " queue_full=%lld\n",
			     (long long)atomic64_read(&ts->vt->queue_full));
	return len;
}
static DEVICE_ATTR_RO(tmem_stats);

static ssize_t tmem_mode_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct tmemswap *ts = dev_to_disk(dev)->private_data;

	return sysfs_emit(buf, "%s%s\n",
			  ts->persistent ? "persistent" : "ephemeral",
			  ts_device_usable(ts) ? "" : " (device gone)");
}
static DEVICE_ATTR_RO(tmem_mode);

static struct attribute *tmemswap_attrs[] = {
	&dev_attr_tmem_stats.attr,
	&dev_attr_tmem_mode.attr,
	NULL,
};

static const struct attribute_group tmemswap_attr_group = {
	.attrs = tmemswap_attrs,
};

static const struct attribute_group *tmemswap_attr_groups[] = {
	&tmemswap_attr_group,
	NULL,
};

/* The backing device path for disk @index from backing=, or NULL. */
static char *tmemswap_backing_path(int index)
{
	const char *p = backing;
	int i;

	for (i = 0; p && i < index; i++) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p || !*p || *p == ',')
		return NULL;
	return kstrndup(p, strchrnul(p, ',') - p, GFP_KERNEL);
}

static int tmemswap_open_backing_of(struct tmemswap *ts, int index)
{
	char *path = tmemswap_backing_path(index);
	int err;

	if (!path)
		return 0;
	err = tmemswap_open_backing(&ts->backing, path, ts);
	if (err)
		pr_err("tmemswap%d: cannot open backing device %s: %d\n",
		       index, path, err);
	kfree(path);
	return err;
}

/* The disk's size in pages. */
static int tmemswap_size(struct tmemswap *ts, int index, u64 *pages)
{
	u64 granted = div64_u64(ts->vt->granted, ts->vt->page_cost);
	u64 wanted = (u64)size_mb << (20 - PAGE_SHIFT);
	u64 limit;

	if (ts->backing.bdev)
		limit = bdev_nr_sectors(ts->backing.bdev) /
			TMEMSWAP_SECTORS_PER_PAGE;
	else
		limit = granted;
	if (wanted > limit) {
		pr_err("tmemswap%d: size_mb=%lu exceeds the %llu MiB %s\n",
		       index, size_mb, limit >> (20 - PAGE_SHIFT),
		       ts->backing.bdev ? "of the backing device" :
		       "the host grants");
		return -EINVAL;
	}
	*pages = wanted ? wanted : limit;
	return *pages ? 0 : -ENOSPC;
}

static void tmemswap_free(struct tmemswap *ts)
{
	if (ts->wq)
		destroy_workqueue(ts->wq);
	mempool_destroy(ts->io_pool);
	mempool_destroy(ts->req_pool);
	if (bioset_initialized(&ts->bioset))
		bioset_exit(&ts->bioset);
	tmemswap_close_backing(&ts->backing);
	kfree(ts);
}

int tmemswap_attach(struct vtmem *vt)
{
	int index = vt->index;
	struct tmemswap *ts;
	u64 pages;
	int err;

	ts = kzalloc(sizeof(*ts), GFP_KERNEL);
	if (!ts)
		return -ENOMEM;
	ts->vt = vt;
	init_waitqueue_head(&ts->ios_wait);
	INIT_LIST_HEAD(&ts->orphan);
	if (!strcmp(mode, "persistent")) {
		ts->persistent = true;
	} else if (strcmp(mode, "ephemeral")) {
		pr_err("tmemswap: mode=%s: use persistent or ephemeral\n", mode);
		err = -EINVAL;
		goto err_free;
	}
	if (ts->persistent &&
	    !vtmem_has_feature(vt, VIRTIO_TMEM_F_PERSISTENT)) {
		pr_err("tmemswap%d: the device offers no persistent pools\n",
		       index);
		err = -ENODEV;
		goto err_free;
	}
	err = tmemswap_open_backing_of(ts, index);
	if (err)
		goto err_free;
	if (!ts->persistent && !ts->backing.bdev) {
		pr_err("tmemswap%d: ephemeral mode needs a backing device (backing=)\n",
		       index);
		err = -EINVAL;
		goto err_free;
	}
	err = tmemswap_size(ts, index, &pages);
	if (err)
		goto err_free;

	err = -ENOMEM;
	ts->req_pool = mempool_create_slab_pool(TMEMSWAP_MIN_REQS,
						tmemswap_req_cache);
	ts->io_pool = mempool_create_kmalloc_pool(TMEMSWAP_MIN_REQS,
						  sizeof(struct tmemswap_io));
	ts->wq = alloc_workqueue("tmemswap%d", WQ_MEM_RECLAIM, 0, index);
	if (!ts->req_pool || !ts->io_pool || !ts->wq ||
	    bioset_init(&ts->bioset, TMEMSWAP_MIN_REQS, 0, BIOSET_NEED_BVECS))
		goto err_free;

	err = vtmem_new_pool(vt, ts->persistent ?
			     VIRTIO_TMEM_POOL_PERSISTENT : 0, &ts->pool_id);
	if (err)
		goto err_free;
	ts->have_pool = true;

	ts->disk = tmemswap_alloc_disk(PAGE_SIZE, UINT_MAX >> SECTOR_SHIFT,
				       ts->persistent);
	if (IS_ERR(ts->disk)) {
		err = PTR_ERR(ts->disk);
		ts->disk = NULL;
		goto err_pool;
	}
	ts->disk->major = tmemswap_major;
	ts->disk->first_minor = index;
	ts->disk->minors = 1;
	ts->disk->fops = ts->persistent ? &tmemswap_persistent_fops :
			 &tmemswap_ephemeral_fops;
	ts->disk->private_data = ts;
	snprintf(ts->disk->disk_name, DISK_NAME_LEN, "tmemswap%d", index);
	set_capacity(ts->disk, pages * TMEMSWAP_SECTORS_PER_PAGE);
	vt->swap = ts;
	/*
	 * No parent device: an ephemeral disk may outlive the virtio device
	 * (see tmemswap_detach()), and its sysfs directory with it.
	 */
	err = device_add_disk(NULL, ts->disk, tmemswap_attr_groups);
	if (err)
		goto err_disk;
	pr_info("%s: %s, %llu MiB%s%s\n", ts->disk->disk_name,
		ts->persistent ? "persistent" : "ephemeral",
		pages >> (20 - PAGE_SHIFT),
		ts->backing.bdev ? ", backing " : "",
		ts->backing.bdev ? ts->backing.bdev->bd_disk->disk_name : "");
	return 0;

err_disk:
	vt->swap = NULL;
	put_disk(ts->disk);
err_pool:
	vtmem_destroy_pool(vt, ts->pool_id);
err_free:
	tmemswap_free(ts);
	return err;
}

static void tmemswap_destroy(struct tmemswap *ts)
{
	del_gendisk(ts->disk);
	wait_event(ts->ios_wait, atomic_read(&ts->ios) == 0);
	flush_workqueue(ts->wq);
	put_disk(ts->disk);
	tmemswap_free(ts);
}

/*
 * The virtio device goes away (module unload or hot-unplug). An
 * ephemeral disk in use stays, served by its backing device alone, until
 * the module is unloaded. A persistent disk in use holds the removal
 * until it is closed, since its pages exist only in the host's pool; the
 * device keeps serving meanwhile. Then the disk goes with the device.
 */
void tmemswap_detach(struct vtmem *vt)
{
	struct tmemswap *ts = vt->swap;

	if (!ts)
		return;
	if (!ts->persistent && disk_openers(ts->disk)) {
		pr_warn("%s: device removed while in use: serving from %s alone\n",
			ts->disk->disk_name,
			ts->backing.bdev->bd_disk->disk_name);
		WRITE_ONCE(ts->have_pool, false);
		mutex_lock(&tmemswap_orphans_lock);
		list_add(&ts->orphan, &tmemswap_orphans);
		mutex_unlock(&tmemswap_orphans_lock);
		return;
	}
	if (ts->persistent && disk_openers(ts->disk) && !vt->dead) {
		/*
		 * The pages are only in the host's pool: the removal waits
		 * until the disk is closed (swapoff reads them back).
		 */
		pr_warn("%s: device removal waits for swapoff\n",
			ts->disk->disk_name);
		while (disk_openers(ts->disk))
			msleep(200);
		pr_info("%s: closed, device removal continues\n",
			ts->disk->disk_name);
	}
	if (disk_openers(ts->disk))
		pr_err("%s: device lost while in use: its pages are lost\n",
		       ts->disk->disk_name);
	if (!vt->dead)
		vtmem_destroy_pool(vt, ts->pool_id);
	WRITE_ONCE(ts->have_pool, false);
	tmemswap_destroy(ts);
	vt->swap = NULL;
}

int tmemswap_init(void)
{
	tmemswap_req_cache = KMEM_CACHE(vtmem_req, 0);
	if (!tmemswap_req_cache)
		return -ENOMEM;
	tmemswap_major = register_blkdev(0, "tmemswap");
	if (tmemswap_major < 0) {
		kmem_cache_destroy(tmemswap_req_cache);
		return tmemswap_major;
	}
	return 0;
}

void tmemswap_exit(void)
{
	struct tmemswap *ts, *next;

	/* the module is unused: every orphaned disk is closed */
	list_for_each_entry_safe(ts, next, &tmemswap_orphans, orphan) {
		struct vtmem *vt = ts->vt;

		list_del(&ts->orphan);
		tmemswap_destroy(ts);
		kfree(vt);
	}
	unregister_blkdev(tmemswap_major, "tmemswap");
	kmem_cache_destroy(tmemswap_req_cache);
}
