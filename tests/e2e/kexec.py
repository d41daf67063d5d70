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
  smp65   65 vCPUs, and the kexec runs from the last one (vCPU 64) into a
          kernel on maxcpus=1 that stays off the old kernel's memory
          (memmap=), the old note intact as in 'before': vCPUs 0-63 stay
          halted on the old kernel's page tables, which agree with the
          stale note, and only vCPU 64 runs the new kernel; the
          introspection must look at every vCPU and refuse, and a memdedup
          pass gives nothing back

The kernel to kexec into (the flavour's bzImage) and its initramfs reach
the guest as two virtio-blk disks; memx-kexec (tests/guest/memx-kexec.c)
loads them with kexec_file_load(2).

Usage: kexec.py [CASE...]    (default: all; CASE as listed by --list)
"""

import os
import sys
import time

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


def kexec(vm, sizes, keep=None, cpu=None, append=""):
    """Replace the guest's kernel; returns when the new one's workload is
    up. @keep: the old note's guest-physical address; the new kernel is
    kept off its pages and off the old kernel image (memmap=), so the
    note and the tables it names stay intact but stale. @cpu: kexec from
    that CPU (the kernel reboots from its reboot CPU, /sys/kernel/reboot/
    cpu, whoever asks); @append: more of the new kernel's command line."""
    cmdline = f"{NEW_CMDLINE} {append}".strip()
    if keep is not None:
        # the note's pages and the old kernel image (PVH loads it at
        # 16 MiB), which holds its init_top_pgt: the check compares two
        # intact tables
        cmdline += f" memmap=8K${keep & ~0xfff:#x} memmap=64M$0x1000000"
    pin = ""
    if cpu is not None:
        pin = f"echo {cpu} > /sys/kernel/reboot/cpu && taskset -c {cpu} "
    vm.send(f"sh head -c {sizes[0]} /dev/vda > /kx-kernel && "
            f"head -c {sizes[1]} /dev/vdb > /kx-initrd && "
            f"{pin}memx-kexec /kx-kernel /kx-initrd '{cmdline}'")
    vm.expect("MEMX-READY", 180)
    vm.run("sh ! test -e /sys/firmware/qemu_fw_cfg && grep -q module_blacklist /proc/cmdline",
           30)


def source(c, extra=(), append="", accel=None):
    disks, sizes = kexec_disks()
    vm = Vm("source", flavour=FLAVOUR, workdir=c.path("source"), mem=c.guest_mem,
            extra_args=disks + dedup_object() + list(extra), append=append)
    if accel:
        vm.args[vm.args.index("-accel") + 1] = accel
    c.vms.append(vm)
    vm.start()
    vm.expect("MEMX-READY", 120)
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


def case_smp65(c):
    t0 = time.monotonic()
    # 65 vCPUs under TCG on two host cores: one TCG thread for them all
    # (multi-threaded, each IPI the kernel sends to all CPUs wakes 65
    # threads), and no per-CPU delay calibration or TSC sync check; the
    # guest then boots in about 30 s instead of 160. The -smp comes after
    # the Vm's own -smp 1: this one wins. movablecore: with 65 CPUs the
    # kernel puts its note near the top of RAM, where kexec_file_load
    # places the new kernel (top-down; some 60 MiB with its init_size) and
    # would overwrite it; the note, a kernel allocation, stays out of the
    # movable zone at the top.
    src, sizes = source(c, ["-smp", "65"],
                        append="lpj=9784000 tsc=reliable movablecore=256M",
                        accel="tcg,thread=single")
    boot_s = time.monotonic() - t0
    src.run("sh test $(nproc) = 65", 30)
    # kexec from the 65th vCPU, with the old note intact: from a CPU other
    # than 0 the old kernel cannot park the others in INIT, so vCPUs 0-63
    # stay halted in long mode on its page tables, which agree with the
    # stale note; the new kernel (maxcpus=1) runs on vCPU 64 alone, and
    # the check must look at that vCPU too
    note = note_address(src)
    t1 = time.monotonic()
    # The new kernel stays off what the old one held outside its movable
    # zone (16 MiB to 800 MiB: 1 GiB less the top 256 MiB, with a margin):
    # vCPUs that had run processes halt on those processes' tables, which
    # must stay intact for the old kernel to look alive on vCPUs 0-63
    kexec(src, sizes, keep=note, cpu=64, append="maxcpus=1 memmap=784M$0x1000000")
    kexec_s = time.monotonic() - t1
    src.run("sh test $(nproc) = 1", 30)
    free = src.qmp.cmd("__org.qemu-memx_query-guest-free-pages")
    if free["available"] or STALE not in free.get("reason", ""):
        # (a scan that trusted the note may still fail further on: the
        # new kernel sits where the old one had its struct pages)
        raise RuntimeError(f"the old kernel's note (at {note:#x}) passed the "
                           f"live-kernel check after a kexec from vCPU 64 (vCPUs "
                           f"0-63 still on its tables): available "
                           f"{free['available']}, reason {free.get('reason')!r}")
    passed = run_pass(src)
    if passed["last-given-back-bytes"] or not passed.get("reason"):
        raise RuntimeError(f"memdedup gave memory back after kexec: {passed}")
    return (f"65 vCPUs up in {boot_s:.1f}s, kexec from vCPU 64 in {kexec_s:.1f}s; "
            f"introspection refused: {free['reason']}; memdedup: {passed['reason']}")


CASES = {"before": case_before, "during": case_during, "smp65": case_smp65}


if __name__ == "__main__":
    sys.exit(tap_main("kexec", __doc__, CASES, "1G"))
