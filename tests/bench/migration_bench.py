#!/usr/bin/env python3
"""make bench: migration benchmarks on real guests.

For each scenario (idle, freed-garbage, pattern-heavy) and configuration
(stock precopy, stock multifd, virtio-balloon free-page-hint), migrates a
1 GiB 6.12 guest over loopback TCP with checksums verified, and records
bytes sent (from query-migrate) and times. Writes build/bench/migration.json
and prints a table with ratios against stock precopy of the same run.
Times on shared 2-core machines vary up to 2x between runs; bytes repeat
to about 0.1%, so judge by bytes and by ratios within one run.
"""

import argparse
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "e2e"))
import run  # noqa: E402

SCENARIOS = ["idle", "freed-garbage", "pattern-heavy"]
CONFIGS = ["precopy", "multifd", "balloon-hint"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(here, "..", "..", "build", "bench",
                                                 "migration.json"))
    p.add_argument("--kernel", default="6.12")
    p.add_argument("--scenarios", nargs="*", default=SCENARIOS)
    p.add_argument("--configs", nargs="*", default=CONFIGS)
    a = p.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    results = []
    for scen in a.scenarios:
        for conf in a.configs:
            print(f"bench: {scen} / {conf} ...", flush=True)
            ns = run.parser().parse_args(["migrate", "--scenario", scen, "--config", conf,
                                          "--kernel", a.kernel])
            rec = run.migrate(ns, lambda m: print("   " + m.lstrip("# "), flush=True))
            results.append(rec)
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": os.uname().nodename, "kernel": a.kernel, "guest_mem": "1G",
           "results": results}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\n{'scenario':15} {'config':13} {'sent MiB':>9} {'x stock':>8} "
          f"{'time ms':>8} {'downtime':>8}  verified")
    for scen in a.scenarios:
        base = next((r for r in results if r["scenario"] == scen
                     and r["config"] == "precopy"), None)
        for r in (r for r in results if r["scenario"] == scen):
            ratio = r["transferred_mib"] / base["transferred_mib"] if base else float("nan")
            print(f"{scen:15} {r['config']:13} {r['transferred_mib']:9.1f} {ratio:8.3f} "
                  f"{r['total_time_ms']:8} {r['downtime_ms']:8}  "
                  f"{'yes' if r['verified'] else 'NO'}")
    print(f"\nwritten: {os.path.abspath(a.out)}")
    return 0 if all(r["verified"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
