#!/usr/bin/env python3
"""The page-activity tracker's DAMON provider, where DAMON is free to use.

DAMON has one set of kdamonds per host, and the machines this project is
tested on run one of their own, which must never be touched. So this runs
only inside the two-node VM of tests/numa/nested.py (Debian's 6.12 kernel,
CONFIG_DAMON_SYSFS, nothing else running a kdamond), as root. It refuses
to run where a kdamond exists at the start. Cases (TAP):

  estimate   the hotset guest (1 GiB) with provider=damon: the query says
             damon sees reads and writes and has an overhead; for W = 64,
             256 and 512 MiB, set at run time, the working set over the
             last two periods is reported three periods after each change
             and must lie within --tolerance of W (the bench reports the
             error; DAMON samples one page per region, so its view is
             statistical); in the read phase too; the guest's own memory
             check passes at the end.  Without --tolerance (make check)
             only W = 64 MiB and its read phase run: DAMON must see the
             guest at work, within its RAM
  ownership  a second QEMU asking for DAMON while the first runs is
             refused, naming the first; a kdamond made by "another user"
             (this script, through sysfs) makes QEMU refuse and is left
             exactly as it was; QEMU removes its kdamond and its record
             when it quits; after a SIGKILL the kdamond stays (off), and
             the next QEMU recognises it as its own, removes it and starts

  damon_test.py [--bench FILE] [--tolerance T] [CASE...]

--bench measures the estimate for W in 64/256/512 MiB (error against W,
periods until it settled, the guest's slowdown) and prints one
"DAMON-BENCH {...}" line (FILE "-") or writes FILE.
"""

import argparse
import errno
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from memxvm import qemu_binary  # noqa: E402
from numa_move_test import Hotset  # noqa: E402

MIB = 1 << 20
GUEST_MIB = 1024
PERIOD_MS = 2000
ADMIN = "/sys/kernel/mm/damon/admin"
RECORD = "/run/qemu-memx/damon-kdamond"
QUERY = "__org.qemu-memx_query-working-set"


def sysfs(rel, value=None):
    path = os.path.join(ADMIN, rel)
    if value is None:
        # while a kdamond answers a command, DAMON's files say EBUSY
        for _ in range(50):
            try:
                with open(path) as f:
                    return f.read().strip()
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.1)
        raise RuntimeError(f"{path} stayed busy for 5 s")
    with open(path, "w") as f:
        f.write(str(value))


def nr_kdamonds():
    return int(sysfs("kdamonds/nr_kdamonds"))


class DamonHotset(Hotset):
    def __init__(self, work, hot_mib=64, provider="damon", mem_mib=GUEST_MIB):
        super().__init__(tempfile.mkdtemp(dir=work), period_ms=PERIOD_MS,
                         mem_mib=mem_mib, hot_mib=hot_mib, provider=provider)
        # no host-nodes binding: this is about access, not placement
        i = self.args.index("-object") + 1
        self.args[i] = f"memory-backend-ram,id=ram0,size={mem_mib}M"

    def command(self, text, expect):
        with self.cond:
            since = len(self.lines)
        self.serial.sendall(text.encode())
        return self.expect(expect, 120, since)

    def window_bytes(self, periods=2):
        info = self.qmp.cmd(QUERY, {"windows": [periods * PERIOD_MS // 1000],
                                    "guest-free": False})
        return info, info["backends"][0]["windows"][0]["bytes"]


def settle(vm, w_mib, tolerance, periods=3):
    """The two-period working set `periods` periods after W changed, and
    the series of estimates on the way (one per period)."""
    series = []
    for _ in range(periods):
        time.sleep(PERIOD_MS / 1000)
        series.append(vm.window_bytes()[1] / MIB)
    est = series[-1]
    err = est / w_mib - 1
    return est, err, series


def case_estimate(work, log, tolerance):
    vm = DamonHotset(work).start()
    try:
        time.sleep(PERIOD_MS / 1000 + 0.5)
        info, _ = vm.window_bytes()
        if info["provider"] != "damon" or info["sees"] != "reads-and-writes":
            raise RuntimeError(f"provider {info['provider']} sees {info['sees']}")
        if nr_kdamonds() != 1 or sysfs("kdamonds/0/state") != "on":
            raise RuntimeError("QEMU has no kdamond running")
        notes, bad = [], []
        # Without a tolerance (make check, where accessed bits cannot be
        # trusted) nothing depends on the size: one, then its read phase.
        steps = (64, 256, 512, "read") if tolerance is not None else (64, "read")
        hot = 64
        for step in steps:
            label = f"W={hot} read" if step == "read" else f"W={step}"
            if step == "read":
                vm.command("r", "HOTSET-PHASE read")
            elif step != hot:
                vm.command(f"h{step}\n", "HOTSET-READY")
                hot = step
            w = hot
            est, err, series = settle(vm, w, tolerance)
            log(f"# {label}: per period {[round(x, 1) for x in series]} MiB")
            notes.append(f"{label}: {est:.1f} MiB ({err:+.1%})")
            if tolerance is not None and abs(err) > tolerance:
                bad.append(notes[-1])
            # whatever the accuracy, DAMON saw the guest at work and
            # nothing outside the guest's RAM
            if not 0 < max(series) <= GUEST_MIB:
                bad.append(f"{label}: estimates {series} MiB")
        vm.command("w", "HOTSET-PHASE write")
        vm.verify()
        info = vm.qmp.cmd("__org.qemu-memx_query-page-activity")
        if not info.get("overhead-us"):
            raise RuntimeError(f"no overhead reported: {info}")
        notes.append(f"overhead {info['overhead-us'] / 1000:.0f} ms over "
                     f"{info['periods']} periods")
        if bad:
            raise RuntimeError(f"estimates out of bounds: {', '.join(bad)}")
        return "; ".join(notes)
    finally:
        vm.stop()


# the ownership case only needs a guest that runs
SMALL = {"mem_mib": 128, "hot_mib": 16}


def qemu_refusal(work):
    """Start QEMU with provider=damon, expecting it to refuse; its error."""
    vm = DamonHotset(work, **SMALL)
    proc = subprocess.run(vm.args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        raise RuntimeError("QEMU started with provider=damon")
    return proc.stderr.strip()


def case_ownership(work, log):
    notes = []
    first = DamonHotset(work, **SMALL).start()
    try:
        err = qemu_refusal(work)
        if f"process {first.proc.pid}, which still runs" not in err:
            raise RuntimeError(f"second QEMU: {err!r}")
        notes.append("second QEMU refused")
        first.qmp.cmd("quit")
        first.proc.wait(timeout=60)
    finally:
        first.stop()
    if nr_kdamonds() != 0 or os.path.exists(RECORD):
        raise RuntimeError("QEMU left its kdamond or record behind at quit")
    notes.append("quit removed kdamond and record")

    # "another user": a vaddr kdamond on this very script
    sysfs("kdamonds/nr_kdamonds", 1)
    try:
        sysfs("kdamonds/0/contexts/nr_contexts", 1)
        sysfs("kdamonds/0/contexts/0/operations", "vaddr")
        sysfs("kdamonds/0/contexts/0/targets/nr_targets", 1)
        sysfs("kdamonds/0/contexts/0/targets/0/pid_target", os.getpid())
        sysfs("kdamonds/0/state", "on")
        before = (sysfs("kdamonds/0/state"), sysfs("kdamonds/0/pid"),
                  sysfs("kdamonds/0/contexts/0/targets/0/pid_target"))
        err = qemu_refusal(work)
        after = (sysfs("kdamonds/0/state"), sysfs("kdamonds/0/pid"),
                 sysfs("kdamonds/0/contexts/0/targets/0/pid_target"))
        if "did not create" not in err or before != after or nr_kdamonds() != 1:
            raise RuntimeError(f"foreign kdamond: {err!r}, {before} -> {after}")
        notes.append("foreign kdamond refused and untouched")
    finally:
        sysfs("kdamonds/0/state", "off")
        sysfs("kdamonds/nr_kdamonds", 0)

    killed = DamonHotset(work, **SMALL).start()
    time.sleep(1)
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait()
    deadline = time.monotonic() + 30
    while sysfs("kdamonds/0/state") != "off":
        if time.monotonic() > deadline:
            raise RuntimeError("the killed QEMU's kdamond did not stop")
        time.sleep(0.5)
    if nr_kdamonds() != 1 or not os.path.exists(RECORD):
        raise RuntimeError("no leftover after SIGKILL to test with")
    again = DamonHotset(work, **SMALL).start()
    try:
        time.sleep(PERIOD_MS / 1000 + 0.5)
        target = int(sysfs("kdamonds/0/contexts/0/targets/0/pid_target"))
        if target != again.proc.pid or sysfs("kdamonds/0/state") != "on":
            raise RuntimeError(f"after the leftover: target {target}, "
                               f"state {sysfs('kdamonds/0/state')}")
        notes.append("leftover of a killed QEMU removed by the next")
    finally:
        again.stop()
    return "; ".join(notes)


def bench(work, log):
    rows = []
    for w in (64, 256, 512):
        vm = DamonHotset(work, hot_mib=w).start()
        try:
            time.sleep(2 * PERIOD_MS / 1000)
            vm.command("h{}\n".format(w), "HOTSET-READY")
            t0 = time.monotonic()
            series = []
            for _ in range(8):
                time.sleep(PERIOD_MS / 1000)
                series.append(vm.window_bytes()[1] / MIB)
            settled = next((i + 1 for i in range(len(series))
                            if all(abs(x / w - 1) <= 0.10 for x in series[i:])), None)
            rows.append({"w_mib": w, "estimates_mib": [round(x, 1) for x in series],
                         "median_error": round(statistics.median(series) / w - 1, 3),
                         "error_after_3_periods": round(series[2] / w - 1, 3),
                         "periods_to_settle_within_10pct": settled,
                         "elapsed_s": round(time.monotonic() - t0, 1)})
            pa = vm.qmp.cmd("__org.qemu-memx_query-page-activity")
            rows[-1]["overhead_ms_per_period"] = round(pa["overhead-us"] / 1000 /
                                                       max(pa["periods"], 1), 1)
            log(f"# {rows[-1]}")
        finally:
            vm.stop()
    rates = {}
    for provider in (None, "damon"):
        vm = DamonHotset(work, hot_mib=64, provider=provider).start()
        try:
            time.sleep(2)
            s0, t0 = vm.sweeps(), time.monotonic()
            time.sleep(12)
            rates[provider or "none"] = (vm.sweeps() - s0) / (time.monotonic() - t0)
        finally:
            vm.stop()
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "guest_mib": GUEST_MIB, "period_ms": PERIOD_MS, "rows": rows,
            "sweeps_per_s": {k: round(v, 2) for k, v in rates.items()},
            "slowdown": round(1 - rates["damon"] / rates["none"], 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench")
    p.add_argument("--tolerance", type=float, default=None,
                   help="fail when an estimate is further than this share from W"
                        " (default: report the error only; see docs/working-set.rst)")
    p.add_argument("cases", nargs="*")
    a = p.parse_args()
    log = lambda m: print(m, flush=True)  # noqa: E731
    if not os.path.exists(ADMIN) or os.geteuid() != 0:
        print("1..0 # needs root and DAMON's sysfs: run inside tests/numa/nested.py")
        return 1
    if nr_kdamonds() != 0:
        print("1..0 # a kdamond exists already: this host's DAMON is not ours")
        return 1
    subprocess.run(["rm", "-f", RECORD], check=True)
    work = tempfile.mkdtemp(prefix="memx-damon-")
    if a.bench:
        doc = bench(work, log)
        log("DAMON-BENCH " + json.dumps(doc))
        if a.bench != "-":
            with open(a.bench, "w") as f:
                json.dump(doc, f, indent=1)
        return 0
    cases = {"estimate": lambda: case_estimate(work, log, a.tolerance),
             "ownership": lambda: case_ownership(work, log)}
    names = a.cases or list(cases)
    print(f"1..{len(names)}", flush=True)
    failed = 0
    for n, name in enumerate(names, 1):
        t0 = time.monotonic()
        try:
            what = cases[name]()
            print(f"ok {n} damon/{name} ({time.monotonic() - t0:.1f}s): {what}",
                  flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"not ok {n} damon/{name}: {type(e).__name__}: {e}", flush=True)
    if nr_kdamonds() != 0:
        print("# a kdamond was left behind", flush=True)
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
