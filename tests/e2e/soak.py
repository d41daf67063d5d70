#!/usr/bin/env python3
"""make soak: live migrations of real guests, over and over, every one
verified on the destination.

Each run takes the next of every feature combination x scenario x kernel
(shuffled once, then round-robin), a random workload seed (the guest's
"seed" command, mixed into all the random data it writes) and a random
delay between the scenario's setup and the migration, and migrates with
tests/e2e/run.py's migrate (the guest re-checksums every page it owns on
the destination; skip-free cases also check what was skipped).  A run
that fails is recorded with its seed and delay, so it can be replayed,
and the soak goes on.  It ends with a table of runs and failures per
combination and the slowest runs, written also as JSON.

  soak.py [--minutes 30 | --runs N] [--json FILE] [--random-seed S]
          [--stress]

make soak runs it for SOAK_MINUTES (30 by default); make check runs a
short slice (--runs 3).

--stress: the skip-free stress across the kernel matrix instead: every
run is alloc-churn with skip-free throttled (many passes while the guest
allocates and frees), on 2 vCPUs, on each kernel of tests/guest/KERNELS
in turn, with the host-side memory comparison. Every page that differs
although QEMU did not hold it free is listed with its state at the
source (run.py's check_same_memory, page_state.py); a page in use fails
the run.
"""

import argparse
import itertools
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

CONFIGS = ["precopy", "pattern-pages", "skip-free", "skip-free-pattern",
           "skip-free-pattern-multifd", "pattern-pages-multifd-zstd",
           "skip-free-pattern-multifd-zstd"]
SCENARIOS = ["freed-garbage", "pattern-heavy", "alloc-churn", "busy-writer"]
KERNELS = run.guest_kernels()
MAX_START_DELAY_S = 3.0


def one_run(combo, seed, delay, stress=False):
    config, scenario, kernel = combo
    argv = ["migrate", "--scenario", scenario, "--config", config, "--kernel", kernel,
            "--seed", str(seed), "--start-delay", f"{delay:.2f}"]
    if stress:
        argv += ["--smp", "2", "--compare-memory"]
    t0 = time.monotonic()
    row = {"config": config, "scenario": scenario, "kernel": kernel, "seed": seed,
           "start_delay_s": round(delay, 2)}
    flagged = []

    def log(line):
        if "differs, not free in QEMU's scan" in line:
            flagged.append(line.split(": ", 1)[1])
    try:
        rec = run.migrate(run.parser().parse_args(argv), log)
        row.update(verified=rec["verified"], sent_mib=round(rec["transferred_mib"], 1),
                   total_time_ms=rec["total_time_ms"], downtime_ms=rec["downtime_ms"],
                   true_pause_ms=rec["true_pause_ms"])
        if "memory_compared" in rec:
            row["memory_compared"] = rec["memory_compared"]
    except Exception as e:  # noqa: BLE001 - a failure is a result here
        row.update(verified=False, error=f"{type(e).__name__}: {e}")
    row["flagged_pages"] = flagged
    row["wall_s"] = round(time.monotonic() - t0, 1)
    return row


def report(rows, started, args):
    fails = [r for r in rows if not r["verified"]]
    lines = [f"soak: {len(rows)} migrations, {len(rows) - len(fails)} verified, "
             f"{len(fails)} failed, in {(time.monotonic() - started) / 60:.1f} min "
             f"(random seed {args.random_seed})", "",
             f"{'config':32} {'scenario':14} {'kernel':6} {'runs':>5} {'failed':>6} "
             f"{'max s':>6}"]
    by = {}
    for r in rows:
        by.setdefault((r["config"], r["scenario"], r["kernel"]), []).append(r)
    for (config, scenario, kernel), rs in sorted(by.items()):
        lines.append(f"{config:32} {scenario:14} {kernel:6} {len(rs):5} "
                     f"{sum(not r['verified'] for r in rs):6} "
                     f"{max(r['wall_s'] for r in rs):6.1f}")
    lines += ["", "slowest runs (wall seconds, migration total ms):"]
    for r in sorted(rows, key=lambda r: -r["wall_s"])[:5]:
        lines.append(f"  {r['wall_s']:6.1f} s  {r.get('total_time_ms')} ms  "
                     f"{r['config']} {r['scenario']} {r['kernel']} seed={r['seed']} "
                     f"delay={r['start_delay_s']}")
    flagged = [(r, p) for r in rows for p in r.get("flagged_pages", [])]
    if flagged:
        lines += ["", f"pages that differed although QEMU did not hold them free "
                      f"({len(flagged)}), with their state at the source:"]
        for r, p in flagged:
            lines.append(f"  {r['kernel']} seed={r['seed']}: {p}")
    for r in fails:
        lines.append(f"FAILED {r['config']} {r['scenario']} {r['kernel']} "
                     f"seed={r['seed']} delay={r['start_delay_s']}: {r['error']}")
    return "\n".join(lines), fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--runs", type=int, help="stop after this many runs instead")
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--random-seed", type=int, default=int(time.time()))
    ap.add_argument("--tap", action="store_true", help="one TAP line per run")
    ap.add_argument("--stress", action="store_true",
                    help="skip-free throttled under alloc-churn, 2 vCPUs, memory "
                         "compared, across tests/guest/KERNELS")
    args = ap.parse_args()
    rng = random.Random(args.random_seed)
    if args.stress:
        combos = [("skip-free-throttled", "alloc-churn", k) for k in KERNELS]
    else:
        combos = list(itertools.product(CONFIGS, SCENARIOS, KERNELS))
        rng.shuffle(combos)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    rows = []
    if args.tap and args.runs:
        print(f"1..{args.runs}", flush=True)
    for n, combo in enumerate(itertools.cycle(combos), 1):
        if args.runs is not None and n > args.runs:
            break
        if args.runs is None and time.monotonic() > deadline:
            break
        row = one_run(combo, rng.randrange(1, 1 << 32), rng.uniform(0, MAX_START_DELAY_S),
                      args.stress)
        rows.append(row)
        status = "ok" if row["verified"] else "not ok"
        print(f"{status} {n} soak {row['config']} {row['scenario']} {row['kernel']} "
              f"seed={row['seed']} delay={row['start_delay_s']} ({row['wall_s']} s)"
              f"{'' if row['verified'] else ': ' + row['error']}", flush=True)
    text, fails = report(rows, started, args)
    print("\n".join("# " + line for line in text.splitlines()), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "random_seed": args.random_seed, "runs": rows}, f, indent=1)
    return 1 if fails or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
