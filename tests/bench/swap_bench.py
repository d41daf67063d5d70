#!/usr/bin/env python3
"""make bench: a swap-heavy guest on each kind of swap device, in one run.

A 256 MiB guest (Debian's 6.12 kernel by default) runs a child process
that writes a 512 MiB checksummed working set of random pages
(memx-workload fill-random 512), then makes PASSES passes over it, each
page checked and rewritten (touch): every touch swaps a page in and, soon
after, another out. Reported per swap device: pages touched per second in
the touch passes, seconds of the fill, and the host memory the guest's
swap costs at the end: the QEMU process's resident memory above a guest
without swap traffic (which holds the tmem store) plus the backing
file's pages in the host's page cache (fincore).

Devices:
  virtio-blk-none       swap on virtio-blk, host file, cache=none (O_DIRECT)
  virtio-blk-writeback  the same with the host page cache (cache=writeback)
  zram                  zram in the guest (lzo-rle), 1 GiB disk
  tmemswap-persistent   tmemswap, persistent pool (1 GiB store)
  tmemswap-ephemeral    tmemswap, ephemeral pool, backing virtio-blk
                        with cache=none

Random pages do not compress, so zram has to keep them in the guest's own
RAM; with a working set twice the RAM the child is expected to be killed
by the guest's OOM killer, and that is what the row then says.

Usage: swap_bench.py [--kernel 6.12] [--passes 2] [--json OUT]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "e2e"))
from memxvm import Vm  # noqa: E402

MIB = 1024 * 1024
WORKING_SET_MIB = 512


def blk(path, direct):
    with open(path, "wb") as f:
        f.truncate(1 << 30)
    return ["-blockdev", f"driver=file,filename={path},node-name=back0,"
            f"cache.direct={'on' if direct else 'off'}",
            "-device", "virtio-blk-pci,drive=back0,id=vb0"]


TMEM = ["-object", "x-memx-tmem-store,id=ts0,size=1G",
        "-device", "virtio-tmem-pci,store=ts0,id=tm0"]
MKSWAP = "mkswap {dev} >/dev/null && swapon {dev}"
DEVICES = {
    "virtio-blk-none": (lambda w: blk(w, True), MKSWAP.format(dev="/dev/vda")),
    "virtio-blk-writeback": (lambda w: blk(w, False), MKSWAP.format(dev="/dev/vda")),
    "zram": (lambda w: [],
             "for m in $(cat /modules/zram.order); do "
             "insmod /modules/$m.ko || exit 1; done && "
             "echo 1G > /sys/block/zram0/disksize && " + MKSWAP.format(dev="/dev/zram0")),
    "tmemswap-persistent": (lambda w: TMEM,
                            "insmod /modules/virtio_tmem.ko mode=persistent && " +
                            MKSWAP.format(dev="/dev/tmemswap0")),
    "tmemswap-ephemeral": (lambda w: TMEM + blk(w, True),
                           "insmod /modules/virtio_tmem.ko mode=ephemeral "
                           "backing=/dev/vda && " + MKSWAP.format(dev="/dev/tmemswap0")),
}


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cached_bytes(path):
    if not os.path.exists(path):
        return 0
    r = subprocess.run(["fincore", "-b", "-n", "-o", "RES", path],
                       capture_output=True, text=True)
    return int(r.stdout.split()[0]) if r.returncode == 0 and r.stdout.strip() else 0


def run_device(name, kernel, passes, work):
    devices, setup = DEVICES[name]
    backing = os.path.join(work, f"{name}.img")
    vm = Vm(name, flavour=kernel, mem="256M", workdir=os.path.join(work, name),
            extra_args=devices(backing))
    row = {"device": name, "kernel": kernel, "passes": passes}
    try:
        vm.start()
        vm.expect("MEMX-READY", 120)
        base_rss = rss_bytes(vm.proc.pid)
        vm.run("sh " + setup, 60)
        t0 = time.monotonic()
        vm.send(f"sh memx-workload fill-random:{WORKING_SET_MIB} touch:{passes} "
                "</dev/null")
        try:
            vm.expect("MEMX-OK fill-random", 1800)
            row["fill_s"] = round(time.monotonic() - t0, 2)
            if name.startswith("tmemswap"):
                # what the store holds with the working set in place
                st = vm.qmp.cmd("__org.qemu-memx_query-tmem")[0]
                row["tmem_live_mib"] = round(st["bytes"] / MIB, 1)
            line = vm.expect("MEMX-OK touch", 3600)
            fields = dict(kv.split("=") for kv in line.split()[2:])
            row["pages_per_s"] = float(fields["pps"])
            row["touch_s"] = float(fields["seconds"])
            row["bad_pages"] = int(fields["bad"])
            vm.expect("MEMX-OK sh", 120)
            row["result"] = "ok"
        except RuntimeError as e:   # MEMX-ERR: the child failed or was killed
            row["result"] = f"failed: {str(e).split('guest error: ')[-1]}"
            row["pages_per_s"] = 0.0
        row["host_rss_mib"] = round((rss_bytes(vm.proc.pid) - base_rss) / MIB, 1)
        row["host_cache_mib"] = round(cached_bytes(backing) / MIB, 1)
        row["host_mib"] = round(row["host_rss_mib"] + row["host_cache_mib"], 1)
        if name.startswith("tmemswap"):
            st = vm.qmp.cmd("__org.qemu-memx_query-tmem")[0]
            row["tmem_end_mib"] = round(st["bytes"] / MIB, 1)
            row["tmem_hits"] = st["hits"]
            row["tmem_gets"] = st["gets"]
    finally:
        vm.cleanup()
        if os.path.exists(backing):
            os.unlink(backing)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("devices", nargs="*")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="memx-swap-bench-")
    rows = []
    for name in args.devices or list(DEVICES):
        row = run_device(name, args.kernel, args.passes, work)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = next((r["pages_per_s"] for r in rows
                 if r["device"] == "virtio-blk-none" and r["pages_per_s"]), None)
    for r in rows:
        r["vs_virtio_blk_none"] = round(r["pages_per_s"] / base, 2) if base else None
    print(f"{'device':22} {'pages/s':>9} {'x none':>7} {'fill s':>7} "
          f"{'host MiB':>9}  result")
    for r in rows:
        print(f"{r['device']:22} {r['pages_per_s']:9.0f} "
              f"{r['vs_virtio_blk_none'] or 0:7.2f} {r.get('fill_s', 0):7.1f} "
              f"{r.get('host_mib', 0):9.1f}  {r['result']}")
    result = {"bench": "swap", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "guest_mib": 256, "working_set_mib": WORKING_SET_MIB, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    os.rmdir(work) if not os.listdir(work) else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
