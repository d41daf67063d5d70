#!/usr/bin/env python3
"""make demo: qemu-memx's main job, shown on a real guest.

Boots the default test guest (1 GiB RAM, Debian 6.12 kernel), puts it in a
realistic state (data in use, pattern pages, a large part freed after use,
allocation churn while it migrates), migrates it live over loopback TCP to
a second QEMU once per configuration, verifies every checksum on the
destination and prints one table row per configuration.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

# Each configuration's row. Feature issues add theirs here.
DEMO_CONFIGS = [
    ("stock precopy", "precopy"),
    ("stock multifd (2 ch)", "multifd"),
    ("virtio-balloon free-page-hint", "balloon-hint"),
    ("qemu-memx pattern pages", "pattern-pages"),
    ("qemu-memx pattern pages + multifd", "pattern-pages-multifd"),
    ("qemu-memx skip guest-free pages", "skip-free"),
    ("qemu-memx skip-free + pattern pages", "skip-free-pattern"),
    ("qemu-memx skip-free + pattern + multifd", "skip-free-pattern-multifd"),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kernel", default="6.12", choices=["6.1", "6.12"])
    p.add_argument("--scenario", default="realistic", choices=sorted(run.SCENARIOS))
    p.add_argument("--json", help="append result records here")
    a = p.parse_args()
    print(f"qemu-memx demo: 1 GiB guest, kernel {a.kernel}, scenario '{a.scenario}' "
          f"({'; '.join(run.SCENARIOS[a.scenario]['setup'] + run.SCENARIOS[a.scenario]['during'])})",
          flush=True)
    rows = []
    t_all = time.monotonic()
    for i, (label, config) in enumerate(DEMO_CONFIGS, 1):
        print(f"[{i}/{len(DEMO_CONFIGS)}] {label}: booting, preparing, migrating ...",
              flush=True)
        ns = run.parser().parse_args(["migrate", "--scenario", a.scenario,
                                      "--config", config, "--kernel", a.kernel])
        t0 = time.monotonic()
        try:
            rec = run.migrate(ns, lambda m: print("    " + m.lstrip("# "), flush=True))
        except Exception as e:  # keep going: show the failure in the table
            rec = {"verified": False, "error": str(e)}
            print(f"    FAILED: {e}", flush=True)
        rec["label"] = label
        rec["wall_s"] = round(time.monotonic() - t0, 1)
        rows.append(rec)
        if a.json:
            import json
            with open(a.json, "a") as f:
                f.write(json.dumps(rec) + "\n")

    hdr = (f"{'configuration':40} {'sent MiB':>9} {'time ms':>8} {'downtime':>8} "
           f"{'true ms':>8} {'pages sent':>10} {'zero':>7} {'skipped':>7} {'pattern':>7}"
           f"  verified")
    print()
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if "transferred_mib" not in r:
            print(f"{r['label']:40} {'-':>9} {'-':>8} {'-':>8} {'-':>8} {'-':>10} "
                  f"{'-':>7} {'-':>7} {'-':>7}  no ({r.get('error', '')[:60]})")
            continue
        print(f"{r['label']:40} {r['transferred_mib']:9.1f} {r['total_time_ms']:8} "
              f"{r['downtime_ms']:8} {run.fmt_ms(r.get('true_pause_ms')):>8} "
              f"{r['normal_pages']:10} {r['zero_pages']:7} "
              f"{r['skipped_pages'] or 0:7} {r['pattern_pages'] or 0:7}  "
              f"{'yes' if r['verified'] else 'NO'}")
    print(f"\n(demo took {time.monotonic() - t_all:.0f}s; 'downtime' = query-migrate's (the "
          f"source's view), 'true ms' = the\n source's stop of the VM to the destination's "
          f"start of it, from both QEMUs' trace logs;\n 'zero' = zero pages sent as "
          f"flags, 'pattern' = pages sent as an 8-byte pattern,\n 'skipped' = pages not sent because "
          f"the guest kernel held them free; docs/free-page-skipping.rst)")
    return 0 if all(r["verified"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
