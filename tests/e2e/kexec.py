#!/usr/bin/env python3
"""A guest that kexecs into a new kernel: the introspection must notice
that the VMCOREINFO note it holds is the old kernel's, and skip nothing.

kexec replaces the kernel with no machine reset. The new kernel boots with
module_blacklist=qemu_fw_cfg, so it never sends a note of its own, and
fw_cfg still points at the old kernel's, whose memory, page tables and
struct pages may sit intact but stale. A scan that trusted them would skip
or discard pages the new kernel uses. Cases (TAP):

  before  kexec, with the old kernel's note left intact (memmap= keeps the
          new kernel off its pages), then the new kernel fills and
          checksums memory and frees some: the introspection refuses the
          stale note because the vCPUs' page tables are not its kernel's;
          a memdedup pass gives nothing back and says why, and a migration
          with skip-free on skips nothing and says why; the destination
          verifies everything
  during  a skip-free migration (slowed down) is running when the guest
          kexecs; the new kernel fills memory, the migration completes and
          the destination verifies everything

The kernel to kexec into (the flavour's bzImage) and its initramfs reach
the guest as two virtio-blk disks; memx-kexec (tests/guest/memx-kexec.c)
loads them with kexec_file_load(2).

Usage: kexec.py [CASE...]    (default: all; CASE as listed by --list)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestcase import at_least, tap_main, verify  # noqa: E402
from memdedup import dedup_object, run_pass  # noqa: E402
from memxvm import Vm, guest_dir  # noqa: E402
from run import (DEFAULT_PARAMS, SKIP_CAP, free_tcp_port, set_migration,  # noqa: E402
                 wait_migration, wait_status)

MIB = 1024 * 1024
FLAVOUR = "6.12"
NEW_CMDLINE = "console=ttyS0 quiet panic=-1 module_blacklist=qemu_fw_cfg"
STALE = "does not describe the running kernel"


def kexec_disks():
    gdir = guest_dir(FLAVOUR)
    files = [os.path.join(gdir, "bzImage"), os.path.join(gdir, "initramfs.cpio")]
    args = []
    for i, path in enumerate(files):
        args += ["-blockdev", f"driver=file,filename={path},node-name=kx{i},read-only=on",
                 "-device", f"virtio-blk-pci,drive=kx{i}"]
    return args, [os.path.getsize(f) for f in files]


def note_address(vm):
    """Where the running kernel keeps its VMCOREINFO note (guest-physical)."""
    # MEMX-""NOTE: the console echoes the command, which must not match
    vm.send('sh echo MEMX-""NOTE $(cat /sys/kernel/vmcoreinfo)')
    line = vm.expect("MEMX-NOTE", 30)
    vm.expect("MEMX-OK sh", 30)
    return int(line.split()[1], 16)


def kexec(vm, sizes, keep=None):
    """Replace the guest's kernel; returns when the new one's workload is
    up. @keep: the old note's guest-physical address; the new kernel is
    kept off its pages and off the old kernel image (memmap=), so the
    note and the tables it names stay intact but stale."""
    cmdline = NEW_CMDLINE
    if keep is not None:
        # the note's pages and the old kernel image (PVH loads it at
        # 16 MiB), which holds its init_top_pgt: the check compares two
        # intact tables
        cmdline += f" memmap=8K${keep & ~0xfff:#x} memmap=64M$0x1000000"
    vm.send(f"sh head -c {sizes[0]} /dev/vda > /kx-kernel && "
            f"head -c {sizes[1]} /dev/vdb > /kx-initrd && "
            f"memx-kexec /kx-kernel /kx-initrd '{cmdline}'")
    vm.expect("MEMX-READY", 180)
    vm.run("sh ! test -e /sys/firmware/qemu_fw_cfg && grep -q module_blacklist /proc/cmdline",
           30)


def source(c):
    disks, sizes = kexec_disks()
    vm = c.vm("source", FLAVOUR, disks + dedup_object())
    vm.run("fill-random 64", 300)
    # the first kernel's note works
    info = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages")
    if not info["available"]:
        raise RuntimeError(f"the first kernel cannot be introspected: {info}")
    return vm, sizes


def migrate_and_verify(c, src, slow=False, between=None):
    port = free_tcp_port()
    disks, _ = kexec_disks()
    dst = Vm("destination", flavour=FLAVOUR, workdir=c.path("destination"),
             extra_args=disks + dedup_object(), incoming=f"tcp:127.0.0.1:{port}")
    c.vms.append(dst)
    dst.start()
    params = dict(DEFAULT_PARAMS)
    if slow:
        params["max-bandwidth"] = 8 * MIB
    set_migration(src, {SKIP_CAP: True}, params)
    set_migration(dst, {SKIP_CAP: True}, {})
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
    if between:
        between()
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": DEFAULT_PARAMS["max-bandwidth"]})
    mig = wait_migration(src)
    if mig["status"] != "completed":
        raise RuntimeError(f"migration {mig['status']}: {mig.get('error-desc')}")
    wait_status(dst, ("running",), 60)
    line = verify(dst)
    return mig, line


def case_before(c):
    src, sizes = source(c)
    # the old note survives the kexec, so only the check of the vCPUs'
    # page tables can tell it is stale
    kexec(src, sizes, keep=note_address(src))
    src.run("fill-random 256", 300)
    src.run("free-garbage 256", 300)
    free = src.qmp.cmd("__org.qemu-memx_query-guest-free-pages")
    if free["available"] or STALE not in free.get("reason", ""):
        raise RuntimeError(f"the old kernel's note was trusted after kexec: {free}")
    passed = run_pass(src)
    if passed["last-given-back-bytes"] or not passed.get("reason"):
        raise RuntimeError(f"memdedup gave memory back after kexec: {passed}")
    mig, line = migrate_and_verify(c, src)
    ram = mig["ram"]
    skipped = ram.get("__org.qemu-memx_free-pages-skipped", 0)
    blocked = ram.get("__org.qemu-memx_free-page-skip-blocked")
    if skipped or not blocked:
        raise RuntimeError(f"skip-free skipped {skipped} pages after kexec "
                           f"(blocked: {blocked})")
    at_least("MiB sent", ram["transferred"] // MIB, 256)
    return (f"introspection refused: {free['reason']}; memdedup: {passed['reason']}; "
            f"migration skipped nothing, destination {line.split()[1]}")


def case_during(c):
    src, sizes = source(c)
    src.run("free-garbage 512", 300)

    def kexec_and_fill():
        kexec(src, sizes)
        src.run("fill-random 256", 300)
    mig, line = migrate_and_verify(c, src, slow=True, between=kexec_and_fill)
    blocked = mig["ram"].get("__org.qemu-memx_free-page-skip-blocked")
    return (f"kexec during the migration; skipped "
            f"{mig['ram'].get('__org.qemu-memx_free-pages-skipped', 0)} pages before it, "
            f"then: {blocked}; destination {line.split()[1]}")


CASES = {"before": case_before, "during": case_during}


if __name__ == "__main__":
    sys.exit(tap_main("kexec", __doc__, CASES, "1G"))
