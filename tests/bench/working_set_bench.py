#!/usr/bin/env python3
"""make bench: the working-set estimate against known working sets.

The hotset guest (1 GiB, tests/numa/hotset-guest.c) touches exactly W
MiB; for W in 64, 256 and 512 MiB, each provider's estimate (the working
set over the last two 1 s periods), its error against W, the time it
took to come within 10% of W after W changed (from 16 MiB, polled every
100 ms), and the miss-rate curve's knee once the curve covers only the
new W:

  tcg-tlb     reads and writes, in the read phase (the guest only reads)
  dirty-log   writes only, in the write phase

Beside them, as the peer a user has today, upstream's calc-dirty-rate
(2 s) on a guest without the tracker, in dirty-bitmap mode and in
page-sampling mode: its write working set is the dirty rate times the
time measured over.  Under TCG, dirty-bitmap mode reports 0: upstream
counts dirty pages for it only where the accelerator's dirty log is
synced into the bitmap (cpu_physical_memory_set_dirty_lebitmap, i.e.
KVM), not where TCG marks pages dirty itself.

The guest's slowdown: its sweep rate (MiB/s) over 10 s with the tcg-tlb
tracker against without, in alternating rounds, median of 3 each.

Writes working-set.json, working-set.txt and working-set.svg (the curves).

Usage: working_set_bench.py [--outdir build/bench] [--rounds 3]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "numa"))
from working_set import HotsetVm  # noqa: E402

MIB = 1 << 20
GUEST_MIB = 1024
PERIOD_MS = 1000
START_MIB = 16
CURVE_S = 10
QUERY = "__org.qemu-memx_query-working-set"


class Scratch:
    """Enough of guestcase.Case for HotsetVm: a directory and the VMs."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="memx-ws-bench-")
        self.vms = []

    def close(self):
        for vm in self.vms:
            vm.cleanup()
        self.vms = []


def start(scratch, hot_mib, provider, tracker=True):
    vm = HotsetVm(tempfile.mkdtemp(dir=scratch.work), tracker=tracker,
                  period_ms=PERIOD_MS, mem_mib=GUEST_MIB, hot_mib=hot_mib,
                  provider=provider)
    scratch.vms.append(vm)
    return vm.start()


def window_bytes(vm):
    info = vm.qmp.cmd(QUERY, {"windows": [2 * PERIOD_MS // 1000],
                              "guest-free": False})
    return info["backends"][0]["windows"][0]["bytes"] if info["backends"] else 0


def estimate(scratch, w_mib, provider):
    vm = start(scratch, START_MIB, provider)
    if provider == "tcg-tlb":
        vm.command("r", "HOTSET-PHASE read")
    time.sleep(4 * PERIOD_MS / 1000)
    vm.command(f"h{w_mib}\n", "HOTSET-READY")
    t0 = time.monotonic()
    converge_s = None
    while time.monotonic() - t0 < 10:
        if abs(window_bytes(vm) - w_mib * MIB) <= 0.1 * w_mib * MIB:
            converge_s = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.1)
    time.sleep(max(0, CURVE_S + 1.5 - (time.monotonic() - t0)))
    info = vm.qmp.cmd(QUERY, {"windows": [2 * PERIOD_MS // 1000],
                              "guest-free": False})
    b = info["backends"][0]
    est = b["windows"][0]["bytes"]
    row = {"provider": provider, "sees": info["sees"], "w_mib": w_mib,
           "phase": "read" if provider == "tcg-tlb" else "write",
           "estimate_mib": round(est / MIB, 2),
           "error": round((est - w_mib * MIB) / (w_mib * MIB), 4),
           "converge_s": converge_s, "knee_mib": round(b["knee"] / MIB, 2),
           "knee_error": round((b["knee"] - w_mib * MIB) / (w_mib * MIB), 4),
           "curve": [(p["size"] // MIB, round(p["miss-ratio"], 4)) for p in b["curve"]],
           "overhead_us_per_period": round(info["overhead-us"] / max(info["periods"], 1))}
    vm.verify()
    scratch.close()
    return row


def calc_dirty_rate(scratch, w_mib, mode, calc_s=2):
    vm = start(scratch, w_mib, None, tracker=False)
    time.sleep(2)
    vm.qmp.cmd("calc-dirty-rate", {"calc-time": calc_s, "mode": mode})
    deadline = time.monotonic() + calc_s + 30
    while True:
        r = vm.qmp.cmd("query-dirty-rate")
        if r["status"] == "measured":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"calc-dirty-rate did not finish: {r}")
        time.sleep(0.2)
    est = r["dirty-rate"] * MIB * calc_s
    scratch.close()
    return {"provider": f"calc-dirty-rate ({mode})", "sees": "writes", "w_mib": w_mib,
            "phase": "write", "estimate_mib": round(est / MIB, 2),
            "error": round((est - w_mib * MIB) / (w_mib * MIB), 4),
            "dirty_rate_mb_s": r["dirty-rate"], "calc_s": calc_s}


def sweep_rate(scratch, w_mib, tracker):
    vm = start(scratch, w_mib, "tcg-tlb", tracker=tracker)
    time.sleep(3)
    s0, t0 = vm.sweeps(), time.monotonic()
    time.sleep(10)
    s1, t1 = vm.sweeps(), time.monotonic()
    scratch.close()
    return (s1 - s0) * w_mib / (t1 - t0)


def slowdown(scratch, w_mib, rounds):
    on, off = [], []
    for _ in range(rounds):
        off.append(sweep_rate(scratch, w_mib, False))
        on.append(sweep_rate(scratch, w_mib, True))
    m_on, m_off = statistics.median(on), statistics.median(off)
    return {"w_mib": w_mib, "mib_s_without": [round(x, 1) for x in off],
            "mib_s_with": [round(x, 1) for x in on],
            "slowdown": round(1 - m_on / m_off, 4)}


def svg(rows):
    """Miss ratio against memory size, one line per W (tcg-tlb)."""
    colors = ["#4e79a7", "#f28e2b", "#59a14f"]
    x0, y0, pw, ph = 60, 30, 520, 260
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{pw + 100}" '
           f'height="{ph + 90}" font-family="sans-serif" font-size="11">',
           f'<rect width="{pw + 100}" height="{ph + 90}" fill="white"/>',
           f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for mib in range(0, GUEST_MIB + 1, 128):
        x = x0 + pw * mib / GUEST_MIB
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + ph}" '
                   f'stroke="#eee"/><text x="{x:.1f}" y="{y0 + ph + 14}" '
                   f'text-anchor="middle">{mib}</text>')
    for frac in (0, 0.5, 1):
        y = y0 + ph * (1 - frac)
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{frac:.1f}</text>')
    curves = [r for r in rows if r["provider"] == "tcg-tlb"]
    for i, r in enumerate(curves):
        pts = " ".join(f"{x0 + pw * s / GUEST_MIB:.1f},{y0 + ph * (1 - m):.1f}"
                       for s, m in r["curve"])
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[i % 3]}" '
                   f'stroke-width="2"/>')
        out.append(f'<text x="{x0 + pw - 4}" y="{y0 + 14 + 14 * i}" text-anchor="end" '
                   f'fill="{colors[i % 3]}">W = {r["w_mib"]} MiB: knee '
                   f'{r["knee_mib"]} MiB</text>')
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 32}" text-anchor="middle">memory '
               f'(MiB); y: miss ratio (tcg-tlb provider, last 10 s)</text>')
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outdir", default="build/bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="*", default=[64, 256, 512])
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    scratch = Scratch()
    rows, slow = [], []
    try:
        for w in a.sizes:
            for provider in ("tcg-tlb", "dirty-log"):
                print(f"bench: working set W={w} MiB, {provider} ...", flush=True)
                rows.append(estimate(scratch, w, provider))
            for mode in ("dirty-bitmap", "page-sampling"):
                print(f"bench: working set W={w} MiB, calc-dirty-rate {mode} ...",
                      flush=True)
                rows.append(calc_dirty_rate(scratch, w, mode))
            print(f"bench: guest slowdown W={w} MiB ...", flush=True)
            slow.append(slowdown(scratch, w, a.rounds))
    finally:
        scratch.close()
    lines = [f"working set against known W, 1 GiB hotset guest ({started})", "",
             f"{'W MiB':>6} {'provider':32} {'phase':5} {'estimate':>9} {'error':>7} "
             f"{'converge s':>10} {'knee MiB':>9} {'knee err':>8}"]
    for r in rows:
        lines.append(f"{r['w_mib']:6} {r['provider']:32} {r['phase']:5} "
                     f"{r['estimate_mib']:9.2f} {r['error']:+7.2%} "
                     f"{str(r.get('converge_s', '-')):>10} "
                     f"{str(r.get('knee_mib', '-')):>9} "
                     f"{(format(r['knee_error'], '+.2%') if 'knee_error' in r else '-'):>8}")
    lines += ["", "guest sweep rate with the tcg-tlb tracker (1 s periods) against "
              f"without, median of {a.rounds}:"]
    for s in slow:
        lines.append(f"  W={s['w_mib']:4} MiB: without {s['mib_s_without']} MiB/s, with "
                     f"{s['mib_s_with']} MiB/s: slowdown {s['slowdown']:+.2%}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.outdir, "working-set.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.outdir, "working-set.json"), "w") as f:
        json.dump({"date": started, "estimates": rows, "slowdown": slow}, f, indent=1)
    with open(os.path.join(a.outdir, "working-set.svg"), "w") as f:
        f.write(svg(rows))
    ok = all(abs(r["error"]) <= 0.1 for r in rows
             if not r["provider"].startswith("calc-dirty-rate"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
