#!/usr/bin/env python3
"""make bench: skip-free across the guest kernels of tests/guest/KERNELS.

For each kernel, freed-garbage (1 GiB, 716 MiB freed) migrated with
skip-free and pattern pages: bytes sent against the floor (what the
stopped source holds that is neither free nor uniform, measured by the
dump tool; the per-CPU lists count as free where they can be walked,
which 5.10's VMCOREINFO does not allow), the free pages skipped, and
the time the free-page work took per GiB, content checks included.

Then the content checks' cost with and without the guest's free-page
state known: freed-garbage-8g (7400 MiB freed in 8 GiB) on a kernel
whose init_on_free and page-poisoning keys are read (6.12: neither on,
so no free page's content is read) and on one where they cannot be
(5.10: no kallsyms, so every free page's content is checked).

Usage: kernels_bench.py [--outdir build/bench] [--kernels 5.10 6.1 ...]
Writes kernels.json and kernels.txt.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import run  # noqa: E402

MIB = 1024 * 1024


def bench_migrate(argv):
    ns = run.parser().parse_args(["migrate"] + argv)
    return run.migrate(ns, lambda m: print("   " + m.lstrip("# "), flush=True))


def row(kernel, scen, mem, r):
    gib = run.mem_mib(mem) / 1024
    return {"kernel": kernel, "scenario": scen, "guest_mem": mem,
            "sent_mib": round(r["transferred_mib"], 1),
            "floor_mib": round(r["limit_bytes"] / MIB, 1),
            "x_floor": round(r["transferred_bytes"] / r["limit_bytes"], 3),
            "skipped_pages": r["skipped_pages"], "kept_uniform": r["free_pages_uniform"],
            "scans": r["free_page_scans"],
            "free_page_ms_per_gib": round(r["free_page_scan_us"] / 1000 / gib, 3),
            "bql_ms_per_gib": round(r["free_page_scan_bql_us"] / 1000 / gib, 3),
            "free_content": r.get("free_content"),
            "true_pause_ms": r["true_pause_ms"], "verified": r["verified"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outdir", default="build/bench")
    ap.add_argument("--kernels", nargs="*", default=run.guest_kernels())
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = []
    for k in a.kernels:
        print(f"bench: freed-garbage / skip-free-pattern / {k} ...", flush=True)
        rows.append(row(k, "freed-garbage", "1G", bench_migrate(
            ["--scenario", "freed-garbage", "--config", "skip-free-pattern",
             "--kernel", k, "--limit"])))
    for k in ("6.12", "5.10"):
        if k not in a.kernels:
            continue
        print(f"bench: freed-garbage-8g / skip-free / {k} ...", flush=True)
        rows.append(row(k, "freed-garbage-8g", "8G", bench_migrate(
            ["--scenario", "freed-garbage-8g", "--config", "skip-free",
             "--kernel", k, "--mem", "8G", "--limit"])))
    lines = [f"skip-free across the kernel matrix ({started})", "",
             f"{'kernel':6} {'scenario':17} {'sent MiB':>9} {'floor MiB':>9} "
             f"{'x floor':>7} {'skipped':>8} {'kept':>6} {'ms/GiB':>7} {'BQL':>6}  "
             f"free pages' content"]
    for r in rows:
        lines.append(f"{r['kernel']:6} {r['scenario']:17} {r['sent_mib']:9.1f} "
                     f"{r['floor_mib']:9.1f} {r['x_floor']:7.3f} {r['skipped_pages']:8} "
                     f"{r['kept_uniform']:6} {r['free_page_ms_per_gib']:7.2f} "
                     f"{r['bql_ms_per_gib']:6.2f}  {r['free_content']}"
                     f"{'' if r['verified'] else '  NOT VERIFIED'}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.outdir, "kernels.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.outdir, "kernels.json"), "w") as f:
        json.dump({"date": started, "rows": rows}, f, indent=1)
    return 0 if all(r["verified"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
