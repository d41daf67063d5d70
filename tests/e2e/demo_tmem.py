#!/usr/bin/env python3
"""make demo-tmem: a real Linux guest swapping into virtio-tmem.

Boots the test guest (256 MiB RAM, Debian's 6.12 kernel) with a 1 GiB
tmem store, loads the guest driver (guest-driver/linux, virtio_tmem.ko)
in persistent mode, turns /dev/tmemswap0 on as swap, writes a 512 MiB
checksummed working set, reads it all back, and prints the store's
statistics (__org.qemu-memx_query-tmem) after each step and the guest
driver's counters at the end.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memxvm import Vm  # noqa: E402
from tmemswap import QUERY, guest_stats, swapon, tmem_devices, verify  # noqa: E402


def show(vm, step, t0):
    st = vm.qmp.cmd(QUERY)[0]
    pools = st["pools"]
    p = pools[0] if pools else {}
    print(f"{step:34} {time.monotonic() - t0:6.1f}s  store {st['bytes'] / 2**20:7.1f} MiB"
          f"  pages {p.get('pages', 0):6}  puts {st['puts']:7}  gets {st['gets']:7}"
          f"  hits {st['hits']:7}  flushes {st['flushes']:7}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="6.12", choices=["6.1", "6.12"])
    args = ap.parse_args()
    print(f"qemu-memx demo-tmem: 256 MiB guest, kernel {args.kernel}, "
          "1 GiB store, tmemswap in persistent mode", flush=True)
    vm = Vm("demo-tmem", flavour=args.kernel, mem="256M", extra_args=tmem_devices())
    t0 = time.monotonic()
    try:
        vm.start()
        vm.expect("MEMX-READY", 120)
        swapon(vm, "persistent")
        show(vm, "insmod + swapon /dev/tmemswap0", t0)
        vm.run("fill-random 512", 600)
        show(vm, "wrote 512 MiB (RAM is 256 MiB)", t0)
        line = verify(vm)
        show(vm, "read it all back: " + line.split()[1], t0)
        st = guest_stats(vm)
        print("guest driver (/sys/block/tmemswap0/tmem_stats): " +
              " ".join(f"{k}={v}" for k, v in st.items()), flush=True)
    finally:
        vm.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
