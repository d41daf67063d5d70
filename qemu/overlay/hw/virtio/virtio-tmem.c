/*
 * qemu-memx virtio-tmem device: Transcendent Memory over virtio.
 *
 * One request virtqueue.  Each request is a descriptor chain: a
 * device-readable header (and, for PUT_PAGE, the page), then, for
 * GET_PAGE and NEW_POOL, a device-writable buffer, and last a
 * device-writable status byte (docs/virtio-tmem.rst).  Parsing and
 * validation of the chain's contents and the pools themselves are
 * memdedup/tmem/tmem-proto.c and memdedup/tmem/; this file moves
 * elements between the virtqueue and them, and migrates persistent
 * pools.  virtqueue_pop() maps descriptors only within guest memory.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-memx.h"
#include "qapi/qapi-visit-memx.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "qom/object_interfaces.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-tmem.h"
#include "migration/qemu-file-types.h"
#include "migration/vmstate.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qobject/qdict.h"
#include "memdedup/classify/page-classify.h"
#include "memdedup/tmem/tmem-proto.h"

#define VIRTIO_TMEM_QUEUE_SIZE 128

static void virtio_tmem_handle_requests(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOTmem *tmem = VIRTIO_TMEM(vdev);
    VirtQueueElement *elem;

    while ((elem = virtqueue_pop(vq, sizeof(VirtQueueElement)))) {
        size_t used;

        if (!elem->in_num) {
            virtio_error(vdev, "virtio-tmem: request without a status byte");
            virtqueue_detach_element(vq, elem, 0);
            g_free(elem);
            break;
        }
        used = tmem_handle_iov(tmem->client, elem->out_sg, elem->out_num,
                               elem->in_sg, elem->in_num, NULL);
        virtqueue_push(vq, elem, used);
        g_free(elem);
    }
    virtio_notify(vdev, vq);
}

static void virtio_tmem_get_config(VirtIODevice *vdev, uint8_t *config)
{
    tmem_fill_config(VIRTIO_TMEM(vdev)->client, config,
                     VIRTIO_TMEM_CONFIG_SIZE);
}

static uint64_t virtio_tmem_get_features(VirtIODevice *vdev, uint64_t f,
                                         Error **errp)
{
    return f | tmem_host_features(VIRTIO_TMEM(vdev)->store->core);
}

static void virtio_tmem_set_features(VirtIODevice *vdev, uint64_t features)
{
    tmem_client_set_features(VIRTIO_TMEM(vdev)->client, features);
}

static void virtio_tmem_config_changed(void *opaque)
{
    virtio_notify_config(VIRTIO_DEVICE(opaque));
}

static void virtio_tmem_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOTmem *tmem = VIRTIO_TMEM(dev);
    g_autofree char *name = NULL;

    if (!tmem->store) {
        error_setg(errp, "virtio-tmem needs store=<id>, the id of an "
                   "-object " TYPE_MEMX_TMEM_STORE);
        return;
    }
    name = object_get_canonical_path(OBJECT(dev));
    tmem->client = tmem_client_new(tmem->store->core, name, tmem->quota);
    tmem_client_set_notify(tmem->client, virtio_tmem_config_changed, vdev);
    tmem->store->devices = g_slist_append(tmem->store->devices, tmem);
    virtio_init(vdev, VIRTIO_TMEM_DEVICE_ID, VIRTIO_TMEM_CONFIG_SIZE);
    tmem->vq = virtio_add_queue(vdev, VIRTIO_TMEM_QUEUE_SIZE,
                                virtio_tmem_handle_requests);
}

static void virtio_tmem_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOTmem *tmem = VIRTIO_TMEM(dev);

    virtio_delete_queue(tmem->vq);
    tmem->store->devices = g_slist_remove(tmem->store->devices, tmem);
    tmem_client_free(tmem->client);     /* frees every pool and page */
    tmem->client = NULL;
    virtio_cleanup(vdev);
}

static void virtio_tmem_reset(VirtIODevice *vdev)
{
    tmem_client_reset(VIRTIO_TMEM(vdev)->client);
}

/*
 * Migration: the pools (ephemeral ones migrate empty, as the
 * specification allows), then every page of the persistent pools.
 *
 *   be32 pool count, per pool: be32 id, be32 flags, 16 bytes uuid
 *   per page: u8 1 (data) or 2 (pattern), be32 pool id, 3 x be64 oid,
 *             be32 index, then 4096 bytes or be64 pattern
 *   u8 0: end
 */
enum { TMEM_MIG_END, TMEM_MIG_DATA, TMEM_MIG_PATTERN };

typedef struct TmemPoolList {
    uint32_t count;
    QEMUFile *f;
} TmemPoolList;

static void tmem_save_pool(const TmemPoolInfo *info, void *opaque)
{
    TmemPoolList *l = opaque;

    if (l->f) {
        qemu_put_be32(l->f, info->pool_id);
        qemu_put_be32(l->f, info->flags);
        qemu_put_buffer(l->f, info->uuid, TMEM_UUID_SIZE);
    } else {
        l->count++;
    }
}

static int tmem_save_page(uint32_t pool_id, const TmemOid *oid,
                          uint32_t index, const void *data,
                          uint64_t pattern, void *opaque)
{
    QEMUFile *f = opaque;

    qemu_put_byte(f, data ? TMEM_MIG_DATA : TMEM_MIG_PATTERN);
    qemu_put_be32(f, pool_id);
    for (int i = 0; i < 3; i++) {
        qemu_put_be64(f, oid->v[i]);
    }
    qemu_put_be32(f, index);
    if (data) {
        qemu_put_buffer(f, data, TMEM_PAGE_SIZE);
    } else {
        qemu_put_be64(f, pattern);
    }
    return 0;
}

static int tmem_pools_put(QEMUFile *f, void *pv, size_t size,
                          const VMStateField *field, JSONWriter *vmdesc)
{
    VirtIOTmem *tmem = pv;
    TmemPoolList l = { 0 };

    tmem_client_foreach_pool(tmem->client, tmem_save_pool, &l);
    qemu_put_be32(f, l.count);
    l.f = f;
    tmem_client_foreach_pool(tmem->client, tmem_save_pool, &l);
    tmem_client_foreach_persistent_page(tmem->client, tmem_save_page, f);
    qemu_put_byte(f, TMEM_MIG_END);
    return 0;
}

static int tmem_pools_get(QEMUFile *f, void *pv, size_t size,
                          const VMStateField *field)
{
    VirtIOTmem *tmem = pv;
    g_autofree uint8_t *page = g_malloc(TMEM_PAGE_SIZE);
    uint32_t count = qemu_get_be32(f);
    TmemStatus st;

    tmem_client_reset(tmem->client);
    if (count > TMEM_MAX_POOLS_LIMIT) {
        error_report("virtio-tmem: migration stream has %u pools", count);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint8_t uuid[TMEM_UUID_SIZE];
        uint32_t id = qemu_get_be32(f), flags = qemu_get_be32(f);

        qemu_get_buffer(f, uuid, sizeof(uuid));
        st = tmem_restore_pool(tmem->client, id, flags, uuid);
        if (st != TMEM_S_OK) {
            error_report("virtio-tmem: cannot restore pool %u: %s", id,
                         tmem_status_name(st));
            return -EINVAL;
        }
    }
    for (;;) {
        uint8_t kind = qemu_get_byte(f);
        uint32_t pool_id, index;
        uint64_t pattern = 0;
        TmemOid oid;

        if (kind == TMEM_MIG_END) {
            break;
        }
        if (kind != TMEM_MIG_DATA && kind != TMEM_MIG_PATTERN) {
            error_report("virtio-tmem: bad page record %u in the migration "
                         "stream", kind);
            return -EINVAL;
        }
        pool_id = qemu_get_be32(f);
        for (int i = 0; i < 3; i++) {
            oid.v[i] = qemu_get_be64(f);
        }
        index = qemu_get_be32(f);
        if (kind == TMEM_MIG_DATA) {
            qemu_get_buffer(f, page, TMEM_PAGE_SIZE);
        } else {
            pattern = qemu_get_be64(f);
        }
        if (qemu_file_get_error(f)) {
            return qemu_file_get_error(f);
        }
        st = tmem_restore_page(tmem->client, pool_id, &oid, index,
                               kind == TMEM_MIG_DATA ? page : NULL, pattern);
        if (st != TMEM_S_OK) {
            /* Persistent pages may not be lost: fail the migration. */
            error_report("virtio-tmem: cannot restore a persistent page of "
                         "pool %u: %s (is the destination's store smaller?)",
                         pool_id, tmem_status_name(st));
            return -ENOSPC;
        }
    }
    return qemu_file_get_error(f);
}

static const VMStateInfo vmstate_info_tmem_pools = {
    .name = "virtio-tmem-pools",
    .get = tmem_pools_get,
    .put = tmem_pools_put,
};

static const VMStateDescription vmstate_virtio_tmem_device = {
    .name = "virtio-tmem-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        {
            .name = "pools",
            .info = &vmstate_info_tmem_pools,
            .flags = VMS_SINGLE,
        },
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_virtio_tmem = {
    .name = "virtio-tmem",
    .minimum_version_id = 1,
    .version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_VIRTIO_DEVICE,
        VMSTATE_END_OF_LIST()
    },
};

static const Property virtio_tmem_properties[] = {
    DEFINE_PROP_LINK("store", VirtIOTmem, store, TYPE_MEMX_TMEM_STORE,
                     MemxTmemStore *),
    DEFINE_PROP_SIZE("quota", VirtIOTmem, quota, 0),
};

static void virtio_tmem_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_tmem_properties);
    dc->vmsd = &vmstate_virtio_tmem;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    vdc->realize = virtio_tmem_realize;
    vdc->unrealize = virtio_tmem_unrealize;
    vdc->get_config = virtio_tmem_get_config;
    vdc->get_features = virtio_tmem_get_features;
    vdc->set_features = virtio_tmem_set_features;
    vdc->reset = virtio_tmem_reset;
    vdc->vmsd = &vmstate_virtio_tmem_device;
}

/* ---- -object x-memx-tmem-store ---- */

static void memx_tmem_store_complete(UserCreatable *uc, Error **errp)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(uc);
    TmemStoreConfig cfg = {
        .size = s->size,
        .allow_shared = s->allow_shared,
        .max_pools_per_client = s->max_pools_per_client,
        .pool_quota = s->pool_quota,
        /* every request and command runs under the BQL */
        .single_threaded = true,
    };
    const char *why = NULL;

    if (!s->size) {
        error_setg(errp, "%s: size must be set, e.g. size=256M",
                   TYPE_MEMX_TMEM_STORE);
        return;
    }
    s->core = tmem_store_new(&cfg, &why);
    if (!s->core) {
        error_setg(errp, "%s: %s", TYPE_MEMX_TMEM_STORE, why);
    }
}

static bool memx_tmem_store_can_be_deleted(UserCreatable *uc)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(uc);

    return !s->core || !tmem_store_clients(s->core);
}

static void memx_tmem_store_get_size(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    visit_type_size(v, name, &MEMX_TMEM_STORE(obj)->size, errp);
}

static void memx_tmem_store_set_size(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(obj);
    uint64_t size;

    if (!visit_type_size(v, name, &size, errp)) {
        return;
    }
    if (s->core) {
        tmem_store_set_limit(s->core, size);
    }
    s->size = size;
}

static void memx_tmem_store_get_pool_quota(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    visit_type_size(v, name, &MEMX_TMEM_STORE(obj)->pool_quota, errp);
}

static void memx_tmem_store_set_pool_quota(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(obj);
    uint64_t quota;

    if (!visit_type_size(v, name, &quota, errp)) {
        return;
    }
    if (s->core) {
        tmem_store_set_pool_quota(s->core, quota);
    }
    s->pool_quota = quota;
}

static bool memx_tmem_store_get_allow_shared(Object *obj, Error **errp)
{
    return MEMX_TMEM_STORE(obj)->allow_shared;
}

static void memx_tmem_store_set_allow_shared(Object *obj, bool value,
                                             Error **errp)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(obj);

    if (s->core) {
        error_setg(errp, "allow-shared cannot change once the store exists");
        return;
    }
    s->allow_shared = value;
}

static void memx_tmem_store_get_max_pools(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    visit_type_uint32(v, name, &MEMX_TMEM_STORE(obj)->max_pools_per_client,
                      errp);
}

static void memx_tmem_store_set_max_pools(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(obj);

    if (s->core) {
        error_setg(errp, "max-pools-per-client cannot change once the "
                   "store exists");
        return;
    }
    visit_type_uint32(v, name, &s->max_pools_per_client, errp);
}

static void memx_tmem_store_finalize(Object *obj)
{
    MemxTmemStore *s = MEMX_TMEM_STORE(obj);

    if (s->core) {
        tmem_store_free(s->core);
    }
}

static void memx_tmem_store_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = memx_tmem_store_complete;
    ucc->can_be_deleted = memx_tmem_store_can_be_deleted;
    object_class_property_add(oc, "size", "size", memx_tmem_store_get_size,
                              memx_tmem_store_set_size, NULL, NULL);
    object_class_property_set_description(oc, "size",
        "byte limit of the store; ephemeral pages are evicted to keep it");
    object_class_property_add(oc, "pool-quota", "size",
                              memx_tmem_store_get_pool_quota,
                              memx_tmem_store_set_pool_quota, NULL, NULL);
    object_class_property_set_description(oc, "pool-quota",
        "bytes each pool may hold (0: no limit but the store's)");
    object_class_property_add_bool(oc, "allow-shared",
                                   memx_tmem_store_get_allow_shared,
                                   memx_tmem_store_set_allow_shared);
    object_class_property_set_description(oc, "allow-shared",
        "let guests create pools shared by uuid (default off)");
    object_class_property_add(oc, "max-pools-per-client", "uint32",
                              memx_tmem_store_get_max_pools,
                              memx_tmem_store_set_max_pools, NULL, NULL);
    object_class_property_set_description(oc, "max-pools-per-client",
        "pools each device may have at once (default 16)");
}

/* ---- QMP and HMP ---- */

static void tmem_fill_counters(const TmemStats *st, uint64_t *pages,
                               uint64_t *bytes, uint64_t *puts,
                               uint64_t *gets, uint64_t *hits,
                               uint64_t *misses, uint64_t *evictions,
                               uint64_t *flushes)
{
    *pages = st->pages;
    *bytes = st->bytes;
    *puts = st->puts;
    *gets = st->gets;
    *hits = st->hits;
    *misses = st->misses;
    *evictions = st->evictions;
    *flushes = st->flushes;
}

typedef struct TmemPoolCollect {
    const char *device;
    __org_qemu_memx_TmemPoolInfoList **tail;
} TmemPoolCollect;

static void tmem_collect_pool(const TmemPoolInfo *info, void *opaque)
{
    TmemPoolCollect *c = opaque;
    __org_qemu_memx_TmemPoolInfo *p = g_new0(__org_qemu_memx_TmemPoolInfo, 1);

    p->device = g_strdup(c->device);
    p->pool_id = info->pool_id;
    p->type = info->flags & TMEM_POOL_PERSISTENT ?
              ORG_QEMU_MEMX_TMEM_POOL_TYPE_PERSISTENT :
              ORG_QEMU_MEMX_TMEM_POOL_TYPE_EPHEMERAL;
    p->shared = info->flags & TMEM_POOL_SHARED;
    p->pattern_pages = info->stats.pattern_pages;
    tmem_fill_counters(&info->stats, &p->pages, &p->bytes, &p->puts,
                       &p->gets, &p->hits, &p->misses, &p->evictions,
                       &p->flushes);
    QAPI_LIST_APPEND(c->tail, p);
}

/*
 * The name users gave the device: its own id (virtio-tmem-device on a
 * virtio-mmio or ccw bus), else that of the transport proxy that holds it
 * (virtio-tmem-pci), else @path.
 */
static const char *tmem_device_name(VirtIOTmem *tmem, const char *path)
{
    Object *parent = OBJECT(tmem)->parent;
    DeviceState *proxy = parent ?
        (DeviceState *)object_dynamic_cast(parent, TYPE_DEVICE) : NULL;

    if (DEVICE(tmem)->id) {
        return DEVICE(tmem)->id;
    }
    if (proxy && proxy->id) {
        return proxy->id;
    }
    return path;
}

static int tmem_collect_store(Object *obj, void *opaque)
{
    __org_qemu_memx_TmemStoreInfoList ***tail = opaque;
    __org_qemu_memx_TmemStoreInfo *info;
    MemxTmemStore *s;
    TmemStoreInfo si;

    if (!object_dynamic_cast(obj, TYPE_MEMX_TMEM_STORE)) {
        return 0;
    }
    s = MEMX_TMEM_STORE(obj);
    if (!s->core) {
        return 0;
    }
    tmem_store_get_info(s->core, &si);
    info = g_new0(__org_qemu_memx_TmemStoreInfo, 1);
    info->id = g_strdup(object_get_canonical_path_component(obj));
    info->size = si.limit;
    info->ephemeral_bytes = si.ephemeral_bytes;
    info->persistent_bytes = si.persistent_bytes;
    info->metadata_bytes = si.meta_bytes;
    info->devices = si.clients;
    info->allow_shared = si.allow_shared;
    tmem_fill_counters(&si.stats, &info->pages, &info->bytes, &info->puts,
                       &info->gets, &info->hits, &info->misses,
                       &info->evictions, &info->flushes);
    {
        TmemPoolCollect c = { .tail = &info->pools };

        for (GSList *l = s->devices; l; l = l->next) {
            VirtIOTmem *tmem = l->data;
            g_autofree char *path = object_get_canonical_path(OBJECT(tmem));

            c.device = tmem_device_name(tmem, path);
            tmem_client_foreach_pool(tmem->client, tmem_collect_pool, &c);
        }
    }
    QAPI_LIST_APPEND(*tail, info);
    return 0;
}

__org_qemu_memx_TmemStoreInfoList *qmp___org_qemu_memx_query_tmem(Error **errp)
{
    __org_qemu_memx_TmemStoreInfoList *head = NULL, **tail = &head;

    object_child_foreach(object_get_objects_root(), tmem_collect_store,
                         &tail);
    return head;
}

void qmp___org_qemu_memx_tmem_store_resize(const char *id, uint64_t size,
                                           Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);
    MemxTmemStore *s;
    uint64_t over;

    if (!obj || !object_dynamic_cast(obj, TYPE_MEMX_TMEM_STORE)) {
        error_setg(errp, "'%s' is not a " TYPE_MEMX_TMEM_STORE " object", id);
        return;
    }
    if (!size) {
        error_setg(errp, "size must be at least one page");
        return;
    }
    s = MEMX_TMEM_STORE(obj);
    s->size = size;
    over = tmem_store_set_limit(s->core, size);
    if (over) {
        warn_report("tmem store '%s': persistent pages keep %" PRIu64
                    " bytes above the new limit; puts fail until they are "
                    "flushed", id, over);
    }
}

void hmp_info_memx_tmem(Monitor *mon, const QDict *qdict)
{
    g_autoptr(__org_qemu_memx_TmemStoreInfoList) list =
        qmp___org_qemu_memx_query_tmem(NULL);

    if (!list) {
        monitor_printf(mon, "no " TYPE_MEMX_TMEM_STORE " objects\n");
    }
    for (__org_qemu_memx_TmemStoreInfoList *l = list; l; l = l->next) {
        __org_qemu_memx_TmemStoreInfo *s = l->value;

        monitor_printf(mon, "store %s: %" PRIu64 " of %" PRIu64 " bytes used "
                       "(ephemeral %" PRIu64 ", persistent %" PRIu64
                       ", metadata %" PRIu64 "), %" PRIu64 " pages, %" PRIu64
                       " devices, shared pools %s\n", s->id, s->bytes, s->size,
                       s->ephemeral_bytes, s->persistent_bytes,
                       s->metadata_bytes, s->pages, s->devices,
                       s->allow_shared ? "allowed" : "off");
        monitor_printf(mon, "  puts %" PRIu64 " gets %" PRIu64 " hits %" PRIu64
                       " misses %" PRIu64 " evictions %" PRIu64 " flushes %"
                       PRIu64 "\n", s->puts, s->gets, s->hits, s->misses,
                       s->evictions, s->flushes);
        for (__org_qemu_memx_TmemPoolInfoList *p = s->pools; p; p = p->next) {
            __org_qemu_memx_TmemPoolInfo *i = p->value;

            monitor_printf(mon, "  %s pool %" PRIu32 ": %s%s, %" PRIu64
                           " pages (%" PRIu64 " pattern), %" PRIu64 " bytes, "
                           "puts %" PRIu64 " gets %" PRIu64 " hits %" PRIu64
                           " misses %" PRIu64 " evictions %" PRIu64
                           " flushes %" PRIu64 "\n", i->device, i->pool_id,
                           __org_qemu_memx_TmemPoolType_str(i->type),
                           i->shared ? " shared" : "", i->pages,
                           i->pattern_pages, i->bytes, i->puts, i->gets,
                           i->hits, i->misses, i->evictions, i->flushes);
        }
    }
}

void hmp_memx_tmem_store_resize(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp___org_qemu_memx_tmem_store_resize(qdict_get_str(qdict, "id"),
                                          qdict_get_int(qdict, "size"), &err);
    hmp_handle_error(mon, err);
}

static const TypeInfo virtio_tmem_types[] = {
    {
        .name = TYPE_VIRTIO_TMEM,
        .parent = TYPE_VIRTIO_DEVICE,
        .instance_size = sizeof(VirtIOTmem),
        .class_init = virtio_tmem_class_init,
    }, {
        .name = TYPE_MEMX_TMEM_STORE,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(MemxTmemStore),
        .instance_finalize = memx_tmem_store_finalize,
        .class_init = memx_tmem_store_class_init,
        .interfaces = (InterfaceInfo[]) {
            { TYPE_USER_CREATABLE },
            { }
        },
    },
};

DEFINE_TYPES(virtio_tmem_types)
