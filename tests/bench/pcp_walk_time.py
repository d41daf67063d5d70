#!/usr/bin/env python3
"""How long the walk of a guest's per-CPU free lists takes.

Boots a 1 GiB Debian 6.12 test guest (tests/guest), frees 512 MiB after
use so its per-CPU lists are full, stops it, and asks
__org.qemu-memx_query-guest-free-pages ROUNDS times; prints the walk's
own time (pcp-lists time-us) as min / median / max and the list entries
it read.  The VM is stopped so every query walks the same lists.

Usage: tests/tcg-only.sh python3 tests/bench/pcp_walk_time.py [ROUNDS]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "e2e"))
from memxvm import Vm  # noqa: E402


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    vm = Vm("pcp-walk")
    try:
        vm.start()
        vm.expect("MEMX-READY", 180)
        vm.run("free-garbage 512", 300)
        vm.qmp.cmd("stop")
        times = []
        for _ in range(rounds + 1):
            walk = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages")["pcp-lists"]
            times.append(walk["time-us"])
        times = sorted(times[1:])     # the first query also loads BTF
        print(f"per-CPU walk over {walk['entries']} entries, {rounds} queries: "
              f"min {times[0]} us, median {times[len(times) // 2]} us, "
              f"max {times[-1]} us")
    finally:
        vm.cleanup()


if __name__ == "__main__":
    main()
