#!/usr/bin/env python3
"""make bench: host memory given back from a guest's freed memory.

One scenario, freed-garbage (1 GiB 6.12 guest, 64 MiB of checksummed data,
716 MiB allocated, filled with random data and freed), one fresh guest per
method, all in one run:

  ksm-default     host KSM at its defaults (100 pages per 20 ms)
  ksm-aggressive  host KSM at 4000 pages per 20 ms
  memdedup        memdedup passes (-object x-memx-dedup), one right away
                  and then one a second, as interval-ms=1000 runs them
  memdedup+ksm    the same passes with KSM at its defaults
  balloon-fpr     virtio-balloon free page reporting: the guest's own
                  driver reports free 2 MiB blocks (the cooperative bound)

For each: host memory given back (the fall of the guest RAM mapping's Pss,
which also counts KSM's merging, from /proc/PID/smaps), the CPU seconds
spent (ksmd's from /proc/PID/stat; memdedup's own from query-dedup; for
free page reporting the QEMU process outside its vCPU thread, the guest's
share not counted), pages given back per CPU-second, the time until the
memory is back (the last sample that fell by more than 1 MiB), vCPU pause
time, and THP splits (/proc/vmstat). The guest then fills 640 MiB and
verifies every checksum.

Writes build/bench/dedup.json and dedup.txt.
"""

import argparse
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "e2e"))
from guestcase import Case, verify  # noqa: E402
from memdedup import FREED_MIB, REFILL_MIB, dedup_object, guest_ram_kib, run_pass  # noqa: E402
from run import SCENARIOS, migration_cpu_seconds  # noqa: E402

KSM = "/sys/kernel/mm/ksm"
MIB = 1024 * 1024
PAGE = 4096
METHODS = ["ksm-default", "ksm-aggressive", "memdedup", "memdedup+ksm", "balloon-fpr"]
# how long each method is watched at most, and when a method counts as
# done: no fall of more than 1 MiB for this long
WATCH_S = {"ksm-default": 150, "ksm-aggressive": 60, "memdedup": 30,
           "memdedup+ksm": 150, "balloon-fpr": 40}
SETTLED_S = 20
PASS_EVERY_S = 1.0


def ksm_write(name, value):
    with open(os.path.join(KSM, name), "w") as f:
        f.write(str(value))


def ksm_read(name):
    with open(os.path.join(KSM, name)) as f:
        return int(f.read())


def ksmd_cpu_s():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == "ksmd":
            fields = stat[stat.rindex(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError("no ksmd thread: is KSM built into this host kernel?")


def thp_splits():
    with open("/proc/vmstat") as f:
        stats = dict(line.split() for line in f)
    return int(stats.get("thp_split_page", 0)) + int(stats.get("thp_split_pmd", 0))


def ksm_start(pages_to_scan):
    ksm_write("run", 2)          # unmerge whatever an earlier run left
    ksm_write("sleep_millisecs", 20)
    ksm_write("pages_to_scan", pages_to_scan)
    ksm_write("run", 1)


def ksm_stop():
    ksm_write("run", 2)
    ksm_write("pages_to_scan", 100)
    ksm_write("run", 0)


def watch(vm, seconds, t0, base_pss, passes, ksm):
    """Sample the guest RAM's Pss until it settles or @seconds pass, with
    a memdedup pass every PASS_EVERY_S if @passes (@ksm: never stop
    early); returns the final Pss
    and the time of the last fall > 1 MiB."""
    last_fall_s, best, next_pass = 0.0, base_pss, t0 + PASS_EVERY_S
    while time.monotonic() - t0 < seconds:
        time.sleep(0.5)
        if passes and time.monotonic() >= next_pass:
            run_pass(vm)
            next_pass = time.monotonic() + PASS_EVERY_S
        pss = guest_ram_kib(vm.proc.pid, 1024)["Pss"]
        if pss < best - 1024:
            best, last_fall_s = pss, time.monotonic() - t0
        # KSM needs two full scans to merge anything: it gets the whole window
        if not ksm and time.monotonic() - t0 - last_fall_s > SETTLED_S:
            break
    return guest_ram_kib(vm.proc.pid, 1024)["Pss"], last_fall_s


def measure(c, method, kernel):
    extra = dedup_object() if method.startswith("memdedup") else []
    if method == "balloon-fpr":
        extra = ["-device", "virtio-balloon-pci,free-page-reporting=on"]
    vm = c.vm("guest", kernel, extra)
    for cmd in SCENARIOS["freed-garbage"]["setup"]:
        vm.run(cmd, 600)
    time.sleep(1)
    before = guest_ram_kib(vm.proc.pid, 1024)
    splits0, ksmd0 = thp_splits(), ksmd_cpu_s()
    qemu0 = migration_cpu_seconds(vm.proc.pid)
    rec = {"method": method, "kernel": kernel, "pause_max_us": 0, "passes": 0,
           "memdedup_cpu_s": 0.0}
    t0 = time.monotonic()
    dedup = method.startswith("memdedup")
    if dedup:
        first = run_pass(vm)
        rec.update(first_pass_given_back_mib=round(first["last-given-back-bytes"] / MIB, 1),
                   first_pass_ms=round(first["last-pass-us"] / 1000, 1),
                   first_pass_pauses=first["last-pauses"])
    if "ksm" in method:
        ksm_start(4000 if method == "ksm-aggressive" else 100)
    try:
        pss, last_fall_s = watch(vm, WATCH_S[method], t0, before["Pss"], dedup,
                                 "ksm" in method)
        rec["ksm_pages_sharing"] = ksm_read("pages_sharing") if "ksm" in method else 0
    finally:
        if "ksm" in method:
            ksm_stop()
    if dedup:
        info = vm.qmp.cmd("__org.qemu-memx_query-dedup")
        rec.update(pause_max_us=info["max-pause-us"], passes=info["passes"],
                   memdedup_cpu_s=info["cpu-time-us"] / 1e6,
                   memdedup_reported_mib=round(info["total-given-back-bytes"] / MIB, 1))
    ksmd_s = ksmd_cpu_s() - ksmd0
    after = guest_ram_kib(vm.proc.pid, 1024)
    given = (before["Pss"] - pss) * 1024
    if method == "balloon-fpr":
        cpu_s = migration_cpu_seconds(vm.proc.pid) - qemu0
    else:
        cpu_s = ksmd_s + rec["memdedup_cpu_s"]
    rec.update({
        "rss_before_mib": round(before["Rss"] / 1024, 1),
        "pss_before_mib": round(before["Pss"] / 1024, 1),
        "pss_after_mib": round(pss / 1024, 1),
        "given_back_mib": round(given / MIB, 1),
        "x_freed": round(given / (FREED_MIB * MIB), 3),
        "ksmd_cpu_s": round(ksmd_s, 3), "cpu_s": round(cpu_s, 3),
        "pages_per_cpu_s": (round(max(given, 0) / PAGE / cpu_s)
                            if cpu_s > 0 else None),
        "time_to_back_s": round(last_fall_s, 2),
        "thp_before_mib": round(before["AnonHugePages"] / 1024, 1),
        "thp_after_mib": round(after["AnonHugePages"] / 1024, 1),
        "thp_splits": thp_splits() - splits0,
    })
    vm.run(f"fill-random {REFILL_MIB}", 600)
    rec["verify"] = verify(vm)     # raises unless every checksum matches
    rec["verified"] = True
    return rec


def against_baseline(recs):
    """Free page reporting starts giving memory back while the scenario
    is being set up, before the bench's first sample; so every method is
    also measured against the largest Pss any fresh guest had at that
    point (the untouched state)."""
    base = max(r["pss_before_mib"] for r in recs)
    for r in recs:
        given = base - r["pss_after_mib"]
        r["baseline_pss_mib"] = base
        r["given_back_vs_baseline_mib"] = round(given, 1)
        r["x_freed_vs_baseline"] = round(given / FREED_MIB, 3)
        r["pages_per_cpu_s_vs_baseline"] = (round(max(given, 0) * MIB / PAGE / r["cpu_s"])
                                            if r["cpu_s"] > 0 else None)


def table(recs):
    lines = [f"{'method':15} {'Pss after':>9} {'given back':>10} {'x freed':>7} "
             f"{'1st pass':>8} {'CPU s':>6} {'pages/CPU-s':>11} {'back in s':>9} "
             f"{'max pause':>9} {'THP splits':>10} verified"]
    for r in recs:
        pps = r["pages_per_cpu_s_vs_baseline"]
        pps = f"{pps:11d}" if pps is not None else f"{'-':>11}"
        first = r.get("first_pass_given_back_mib")
        first = f"{first:8.1f}" if first is not None else f"{'-':>8}"
        lines.append(f"{r['method']:15} {r['pss_after_mib']:5.0f} MiB "
                     f"{r['given_back_vs_baseline_mib']:6.1f} MiB "
                     f"{r['x_freed_vs_baseline']:7.3f} {first} "
                     f"{r['cpu_s']:6.3f} {pps} {r['time_to_back_s']:9.2f} "
                     f"{r['pause_max_us'] / 1000:6.2f} ms {r['thp_splits']:10d} "
                     f"{'yes' if r['verified'] else 'NO'}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outdir", default=os.path.join(here, "..", "..", "build", "bench"))
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--replot", metavar="DEDUP_JSON",
                    help="only redo the table of an earlier run's dedup.json")
    a = ap.parse_args()
    if a.replot:
        with open(a.replot) as f:
            doc = json.load(f)
        os.makedirs(a.outdir, exist_ok=True)
        return report(doc["results"], a.outdir, len(doc["results"]), doc["date"])
    if not os.path.isdir(KSM):
        print("dedup bench: this host kernel has no KSM", file=sys.stderr)
        return 1
    os.makedirs(a.outdir, exist_ok=True)
    recs = []
    for method in a.methods:
        print(f"bench: freed-garbage / {method} / {a.kernel} ...", flush=True)
        c = Case("dedup-bench", method, "1G")
        try:
            recs.append(measure(c, method, a.kernel))
            c.ok = True
            print("   " + json.dumps(recs[-1]), flush=True)
        finally:
            c.close(lambda m: print(m, flush=True))
    return report(recs, a.outdir, len(a.methods))


def report(recs, outdir, wanted, date=None):
    against_baseline(recs)
    ksm = next((r for r in recs if r["method"] == "ksm-default"), None)
    dd = next((r for r in recs if r["method"] == "memdedup"), None)
    txt = table(recs)
    if ksm and dd and dd["pages_per_cpu_s_vs_baseline"]:
        if ksm["pages_per_cpu_s_vs_baseline"]:
            ratio = (f"{dd['pages_per_cpu_s_vs_baseline'] / ksm['pages_per_cpu_s_vs_baseline']:.0f}"
                     "x")
        else:
            ratio = "unbounded (KSM gave back nothing)"
        txt += (f"\n\nmemdedup vs KSM at its defaults, pages given back per CPU-second: "
                f"{ratio} (target >= 50x)")
    if dd:
        txt += (f"\nmemdedup gave back {dd['x_freed_vs_baseline']:.3f} of the freed memory "
                f"(target >= 0.9); longest vCPU pause {dd['pause_max_us'] / 1000:.2f} ms "
                f"per GiB (target <= 20)")
    doc = {"date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "command": "make bench", "scenario": "freed-garbage", "guest_mib": 1024,
           "freed_mib": FREED_MIB, "results": recs}
    with open(os.path.join(outdir, "dedup.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(outdir, "dedup.txt"), "w") as f:
        f.write(txt + "\n")
    print("\n" + txt)
    return 0 if all(r["verified"] for r in recs) and len(recs) == wanted else 1


if __name__ == "__main__":
    sys.exit(main())
