/*
 * libqos driver for qemu-memx's virtio-tmem-pci (see virtio-tmem.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "qgraph.h"
#include "pci-pc.h"
#include "standard-headers/linux/virtio_config.h"
#include "virtio-tmem.h"

#define QVIRTIO_TMEM_TIMEOUT_US (30 * 1000 * 1000)

static void *qvirtio_tmem_get_driver(QVirtioTmem *t, const char *interface)
{
    if (!g_strcmp0(interface, "virtio-tmem")) {
        return t;
    }
    if (!g_strcmp0(interface, "virtio")) {
        return t->vdev;
    }
    fprintf(stderr, "%s not present in virtio-tmem\n", interface);
    g_assert_not_reached();
}

static void *qvirtio_tmem_pci_get_driver(void *object, const char *interface)
{
    QVirtioTmemPCI *dev = object;

    if (!g_strcmp0(interface, "pci-device")) {
        return dev->pci_vdev.pdev;
    }
    return qvirtio_tmem_get_driver(&dev->tmem, interface);
}

static void qvirtio_tmem_setup(QVirtioTmem *t)
{
    uint64_t features = qvirtio_get_features(t->vdev);

    features &= (1ull << VIRTIO_F_VERSION_1) |
                (1ull << QVIRTIO_TMEM_F_PERSISTENT) |
                (1ull << QVIRTIO_TMEM_F_SHARED);
    qvirtio_set_features(t->vdev, features);
    t->vq = qvirtqueue_setup(t->vdev, t->alloc, 0);
    qvirtio_set_driver_ok(t->vdev);
}

static void qvirtio_tmem_pci_start_hw(QOSGraphObject *obj)
{
    QVirtioTmemPCI *dev = (QVirtioTmemPCI *)obj;

    qvirtio_pci_start_hw(&dev->pci_vdev.obj);
    dev->tmem.qts = dev->pci_vdev.pdev->bus->qts;
    qvirtio_tmem_setup(&dev->tmem);
}

static void qvirtio_tmem_pci_destructor(QOSGraphObject *obj)
{
    QVirtioTmemPCI *dev = (QVirtioTmemPCI *)obj;

    qvirtqueue_cleanup(dev->tmem.vdev->bus, dev->tmem.vq, dev->tmem.alloc);
    qvirtio_pci_destructor(&dev->pci_vdev.obj);
}

static void *qvirtio_tmem_pci_create(void *pci_bus, QGuestAllocator *alloc,
                                     void *addr)
{
    QVirtioTmemPCI *dev = g_new0(QVirtioTmemPCI, 1);
    QOSGraphObject *obj = &dev->pci_vdev.obj;

    virtio_pci_init(&dev->pci_vdev, pci_bus, addr);
    dev->tmem.vdev = &dev->pci_vdev.vdev;
    dev->tmem.alloc = alloc;
    obj->get_driver = qvirtio_tmem_pci_get_driver;
    obj->start_hw = qvirtio_tmem_pci_start_hw;
    obj->destructor = qvirtio_tmem_pci_destructor;
    return obj;
}

static void encode_header(const QVirtioTmemReq *req, uint8_t *hdr)
{
    uint32_t w32;
    uint64_t w64;

    memset(hdr, 0, QVIRTIO_TMEM_HDR_SIZE);
    w32 = cpu_to_le32(req->op);
    memcpy(hdr + 0, &w32, 4);
    w32 = cpu_to_le32(req->pool_id);
    memcpy(hdr + 4, &w32, 4);
    for (int i = 0; i < 3; i++) {
        w64 = cpu_to_le64(req->oid[i]);
        memcpy(hdr + 8 + 8 * i, &w64, 8);
    }
    w32 = cpu_to_le32(req->index);
    memcpy(hdr + 32, &w32, 4);
    w32 = cpu_to_le32(req->flags);
    memcpy(hdr + 36, &w32, 4);
    memcpy(hdr + 40, req->uuid, 16);
}

uint32_t qvirtio_tmem_chain(QVirtioTmem *t, const QVirtioTmemDesc *desc,
                            unsigned n, uint8_t *status)
{
    QTestState *qts = t->qts;
    uint64_t gpa[16], last_write = 0;
    uint32_t head = 0, len = 0;

    g_assert(n > 0 && n <= G_N_ELEMENTS(gpa));
    /* one request at a time: reuse the descriptor table from the start */
    qvirtqueue_reset_pool(t->vq);
    for (unsigned i = 0; i < n; i++) {
        gpa[i] = desc[i].gpa;
        if (!gpa[i]) {
            gpa[i] = guest_alloc(t->alloc, MAX(desc[i].len, 1));
            if (desc[i].data) {
                qtest_memwrite(qts, gpa[i], desc[i].data, desc[i].len);
            } else {
                qtest_memset(qts, gpa[i], 0xee, desc[i].len);
            }
        }
        if (desc[i].write) {
            last_write = gpa[i] + desc[i].len - 1;
        }
        if (i == 0) {
            head = qvirtqueue_add(qts, t->vq, gpa[i], desc[i].len,
                                  desc[i].write, i + 1 < n);
        } else {
            qvirtqueue_add(qts, t->vq, gpa[i], desc[i].len, desc[i].write,
                           i + 1 < n);
        }
    }
    qvirtqueue_kick(qts, t->vdev, t->vq, head);
    qvirtio_wait_used_elem(qts, t->vdev, t->vq, head, &len,
                           QVIRTIO_TMEM_TIMEOUT_US);
    if (status) {
        *status = last_write ? qtest_readb(qts, last_write) : 0xff;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!desc[i].gpa) {
            guest_free(t->alloc, gpa[i]);
        }
    }
    return len;
}

uint8_t qvirtio_tmem_request(QVirtioTmem *t, const QVirtioTmemReq *req,
                             const void *in, size_t in_len,
                             void *out, size_t out_len)
{
    uint8_t hdr[QVIRTIO_TMEM_HDR_SIZE], status;
    QVirtioTmemDesc desc[4];
    unsigned n = 0;
    uint64_t out_gpa = 0;

    encode_header(req, hdr);
    desc[n++] = (QVirtioTmemDesc) { .len = sizeof(hdr), .data = hdr };
    if (in_len) {
        desc[n++] = (QVirtioTmemDesc) { .len = in_len, .data = in };
    }
    if (out_len) {
        out_gpa = guest_alloc(t->alloc, out_len);
        desc[n++] = (QVirtioTmemDesc) { .gpa = out_gpa, .len = out_len,
                                        .write = true };
    }
    desc[n++] = (QVirtioTmemDesc) { .len = 1, .write = true };
    qvirtio_tmem_chain(t, desc, n, &status);
    if (out_len) {
        qtest_memread(t->qts, out_gpa, out, out_len);
        guest_free(t->alloc, out_gpa);
    }
    return status;
}

uint8_t qvirtio_tmem_new_pool(QVirtioTmem *t, uint32_t flags,
                              uint32_t *pool_id)
{
    QVirtioTmemReq req = { .op = QVIRTIO_TMEM_OP_NEW_POOL, .flags = flags };
    uint8_t result[8];
    uint8_t st;

    if (flags & QVIRTIO_TMEM_POOL_SHARED) {
        memset(req.uuid, 0x5a, sizeof(req.uuid));
    }
    st = qvirtio_tmem_request(t, &req, NULL, 0, result, sizeof(result));
    *pool_id = ldl_le_p(result);
    return st;
}

static void virtio_tmem_register_nodes(void)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "addr=04.0,store=tm0,quota=512K",
        .before_cmd_line = "-object x-memx-tmem-store,id=tm0,size=1M",
    };

    add_qpci_address(&opts, &addr);
    qos_node_create_driver("virtio-tmem-pci", qvirtio_tmem_pci_create);
    qos_node_consumes("virtio-tmem-pci", "pci-bus", &opts);
    qos_node_produces("virtio-tmem-pci", "pci-device");
    qos_node_produces("virtio-tmem-pci", "virtio");
    qos_node_produces("virtio-tmem-pci", "virtio-tmem");
}

libqos_init(virtio_tmem_register_nodes);
