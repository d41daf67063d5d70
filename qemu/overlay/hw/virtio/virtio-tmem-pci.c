/*
 * qemu-memx virtio-tmem over PCI: a modern-only (virtio 1.x) virtio-pci
 * proxy for virtio-tmem-device.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-tmem.h"
#include "qom/object.h"

#define TYPE_VIRTIO_TMEM_PCI "virtio-tmem-pci"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOTmemPCI, VIRTIO_TMEM_PCI)

struct VirtIOTmemPCI {
    VirtIOPCIProxy parent_obj;
    VirtIOTmem vdev;
};

static void virtio_tmem_pci_realize(VirtIOPCIProxy *vpci_dev, Error **errp)
{
    VirtIOTmemPCI *dev = VIRTIO_TMEM_PCI(vpci_dev);
    DeviceState *vdev = DEVICE(&dev->vdev);

    virtio_pci_force_virtio_1(vpci_dev);
    qdev_realize(vdev, BUS(&vpci_dev->bus), errp);
}

static void virtio_tmem_pci_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioPCIClass *k = VIRTIO_PCI_CLASS(klass);
    PCIDeviceClass *pcidev_k = PCI_DEVICE_CLASS(klass);

    k->realize = virtio_tmem_pci_realize;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    pcidev_k->class_id = PCI_CLASS_OTHERS;
}

static void virtio_tmem_pci_instance_init(Object *obj)
{
    VirtIOTmemPCI *dev = VIRTIO_TMEM_PCI(obj);

    virtio_instance_init_common(obj, &dev->vdev, sizeof(dev->vdev),
                                TYPE_VIRTIO_TMEM);
}

static const VirtioPCIDeviceTypeInfo virtio_tmem_pci_info = {
    .generic_name = TYPE_VIRTIO_TMEM_PCI,
    .instance_size = sizeof(VirtIOTmemPCI),
    .instance_init = virtio_tmem_pci_instance_init,
    .class_init = virtio_tmem_pci_class_init,
};

static void virtio_tmem_pci_register(void)
{
    virtio_pci_types_register(&virtio_tmem_pci_info);
}

type_init(virtio_tmem_pci_register)
