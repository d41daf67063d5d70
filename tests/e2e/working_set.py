#!/usr/bin/env python3
"""The working-set estimate (__org.qemu-memx_query-working-set) against
guests whose working set is known.

The `hotset` guest (tests/numa/hotset-guest.c) touches exactly its hot
set, W MiB at the top of its RAM, every page in every sweep; it writes
it, or with 'r' only reads it, and 'h<MiB>' changes W at run time. Its
code and stack add a few pages. Cases (TAP):

  tcg       tcg-tlb provider, 1 GiB guest: for W = 64, 256 and 512 MiB,
            set at run time, the working set over the last two periods is
            within 10% of W three periods after the change, and the miss-rate curve's
            knee is within 10% of W once the curve covers only the new W;
            in the read phase too (tcg-tlb sees reads); the guest's own
            memory check passes at the end
  dirty-log dirty-log provider: the write phase's working set is within
            10% of W and the query says it sees writes only; in the read
            phase the working set falls below 10% of W (reads are not
            seen); then the provider is switched at run time (object-del,
            object-add tcg-tlb) and the read phase's W is seen again
  refusals  no tracker: the query answers inactive and says how to add
            one; windows
            out of range or too many are refused; page_idle is listed as
            unavailable with its reason, and DAMON too (with the host's
            kdamond named) unless the host has no kdamond
  linux     a Debian 6.12 guest: each backend reports the guest's free
            memory beside the working set (in use + free = size), and
            `info memx-working-set` prints it with the curve

Usage: working_set.py [CASE...]    (default: all)
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "numa"))
from guestcase import tap_main  # noqa: E402
from memxvm import QMPError  # noqa: E402
from numa_move_test import Hotset  # noqa: E402

MIB = 1 << 20
GUEST_MIB = 1024
PERIOD_MS = 1000
CURVE_S = 10        # the curve covers the last 10 s (memx/page-activity.c)
TOLERANCE = 0.10
QUERY = "__org.qemu-memx_query-working-set"


class HotsetVm(Hotset):
    """A hotset guest as one of a case's VMs (stopped by Case.close)."""

    def cleanup(self, keep=False):
        if getattr(self, "proc", None) and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def command(self, text, expect):
        with self.cond:
            since = len(self.lines)
        self.serial.sendall(text.encode())
        return self.expect(expect, 120, since)


def hotset(c, hot_mib, provider):
    if not os.path.exists(os.path.join(ROOT, "build", "numa", "hotset.elf")):
        subprocess.run([os.path.join(ROOT, "tests", "numa", "build-hotset.sh"),
                        os.path.join(ROOT, "build", "numa")], check=True,
                       stdout=subprocess.DEVNULL)
    vm = HotsetVm(tempfile.mkdtemp(dir=c.work), period_ms=PERIOD_MS,
                  mem_mib=GUEST_MIB, hot_mib=hot_mib, provider=provider)
    c.vms.append(vm)
    return vm.start()


def backend(vm, windows=(1,)):
    """The query's one backend; a tracker finds the backends at the end of
    its first period."""
    deadline = time.monotonic() + 3 * PERIOD_MS / 1000
    while True:
        info = vm.qmp.cmd(QUERY, {"windows": list(windows), "guest-free": False})
        if len(info["backends"]) == 1:
            return info, info["backends"][0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected one backend, got {info['backends']}")
        time.sleep(0.2)


def within(what, value, want, tolerance=TOLERANCE):
    if abs(value - want) > tolerance * want:
        raise RuntimeError(f"{what}: {value / MIB:.1f} MiB, want {want / MIB:.0f} "
                           f"MiB within {tolerance:.0%}")
    return f"{what} {value / MIB:.1f}"


def wait_periods(n):
    time.sleep(n * PERIOD_MS / 1000 + 0.3)


def estimate_after_change(vm, w_mib):
    """The two-period working set 3 periods after W became w_mib: two
    periods, so that a sweep slowed down by a busy host (512 MiB take
    about 0.5 s alone here) still fits in the window."""
    wait_periods(3)
    _, b = backend(vm, windows=(2 * PERIOD_MS // 1000,))
    return within(f"W={w_mib}: 2-period working set", b["windows"][0]["bytes"],
                  w_mib * MIB)


def knee_after_curve(vm, w_mib):
    """The knee once the curve's 10 s hold only references of this W."""
    time.sleep(CURVE_S + PERIOD_MS / 1000)
    _, b = backend(vm)
    return within(f"knee", b["knee"], w_mib * MIB)


def case_tcg(c):
    vm = hotset(c, 64, "tcg-tlb")
    info, _ = backend(vm)
    if info["provider"] != "tcg-tlb" or info["sees"] != "reads-and-writes":
        raise RuntimeError(f"provider {info['provider']} sees {info['sees']}")
    notes = []
    for w in (64, 256, 512):
        if w != 64:
            vm.command(f"h{w}\n", "HOTSET-READY")
        notes.append(estimate_after_change(vm, w))
        notes.append(knee_after_curve(vm, w))
    vm.command("r", "HOTSET-PHASE read")
    notes.append("read phase: " + estimate_after_change(vm, 512))
    vm.command("w", "HOTSET-PHASE write")
    vm.verify()
    return ", ".join(notes)


def case_dirty_log(c):
    w = 128
    vm = hotset(c, w, "dirty-log")
    info, _ = backend(vm)
    if info["provider"] != "dirty-log" or info["sees"] != "writes":
        raise RuntimeError(f"provider {info['provider']} sees {info['sees']}")
    notes = [estimate_after_change(vm, w)]
    vm.command("r", "HOTSET-PHASE read")
    wait_periods(3)
    _, b = backend(vm)
    if b["windows"][0]["bytes"] > TOLERANCE * w * MIB:
        raise RuntimeError(f"read phase: dirty-log saw {b['windows'][0]['bytes']} "
                           f"bytes written; it cannot see reads")
    notes.append(f"read phase {b['windows'][0]['bytes'] / MIB:.1f} MiB (writes only)")
    # switch providers at run time
    vm.qmp.cmd("object-del", {"id": "pa0"})
    vm.qmp.cmd("object-add", {"qom-type": "x-memx-page-activity", "id": "pa1",
                              "provider": "tcg-tlb", "period-ms": PERIOD_MS})
    info, _ = backend(vm)
    if info["provider"] != "tcg-tlb":
        raise RuntimeError(f"after the switch the provider is {info['provider']}")
    notes.append("after switching to tcg-tlb: " + estimate_after_change(vm, w))
    vm.command("w", "HOTSET-PHASE write")
    vm.verify()
    return ", ".join(notes)


def expect_error(vm, args, words):
    try:
        vm.qmp.cmd(QUERY, args)
    except QMPError as e:
        text = str(e)
        if not all(wd in text for wd in words):
            raise RuntimeError(f"error {text!r} lacks {words}")
        return
    raise RuntimeError(f"{QUERY} {args} was accepted")


def case_refusals(c):
    vm = hotset(c, 16, None)
    vm.qmp.cmd("object-del", {"id": "pa0"})
    info = vm.qmp.cmd(QUERY)
    if info["active"] or info["backends"] or "-object x-memx-page-activity" \
            not in info.get("reason", ""):
        raise RuntimeError(f"without a tracker: {info}")
    vm.qmp.cmd("object-add", {"qom-type": "x-memx-page-activity", "id": "pa1"})
    expect_error(vm, {"windows": [0]}, ["1 to 86400 seconds"])
    expect_error(vm, {"windows": [86401]}, ["1 to 86400 seconds"])
    expect_error(vm, {"windows": list(range(1, 10))}, ["at most 8 windows"])
    sources = {s["name"]: s for s in
               vm.qmp.cmd("__org.qemu-memx_query-page-activity")["sources"]}
    if sources["page-idle"]["available"] or not sources["page-idle"].get("reason"):
        raise RuntimeError(f"provider page-idle: {sources['page-idle']}")
    damon = sources["damon"]
    if damon["available"]:
        # only where no kdamond exists (the test machines run their own)
        with open("/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds") as f:
            if f.read().strip() != "0":
                raise RuntimeError(f"damon available beside a kdamond: {damon}")
    elif not damon.get("reason"):
        raise RuntimeError(f"provider damon unavailable without a reason: {damon}")
    return "no tracker: inactive with a reason; bad windows, too many refused"


def case_linux(c):
    vm = c.vm("src", "6.12", ["-object", "x-memx-page-activity,id=pa0,period-ms=500"],
              mem="512M")
    time.sleep(2)
    info = vm.qmp.cmd(QUERY, {"windows": [1, 10]})
    if info.get("guest-free-reason"):
        raise RuntimeError(f"guest free memory unknown: {info['guest-free-reason']}")
    total_free = 0
    for b in info["backends"]:
        if "guest-free" not in b:
            raise RuntimeError(f"backend {b['memdev']} has no guest-free")
        if not 0 < b["guest-free"] < b["size"]:
            raise RuntimeError(f"backend {b['memdev']}: guest-free {b['guest-free']} "
                               f"of {b['size']}")
        if b["windows"][1]["bytes"] > b["size"]:
            raise RuntimeError(f"working set larger than the backend: {b}")
        total_free += b["guest-free"]
    text = vm.qmp.hmp("info memx-working-set")
    for word in ("guest-free", "knee at", "miss-rate curve"):
        if word not in text:
            raise RuntimeError(f"info memx-working-set lacks {word!r}: {text}")
    return f"guest-free {total_free / MIB:.0f} MiB beside the working set"


CASES = {
    "tcg": case_tcg,
    "dirty-log": case_dirty_log,
    "refusals": case_refusals,
    "linux": case_linux,
}

if __name__ == "__main__":
    sys.exit(tap_main("working-set", __doc__, CASES, "512M"))
