#!/usr/bin/env python3
"""make bench: migration benchmarks on real guests.

Every scenario (idle-fresh, freed-garbage, pattern-heavy, busy-writer,
alloc-churn) is migrated with every configuration (stock precopy, stock
multifd, virtio-balloon free-page-hint, and the qemu-memx features as they
land): a 1 GiB 6.12 guest over loopback TCP, checksums verified in the
guest on the destination. Bytes come from query-migrate on the source;
true_pause_ms (the source's stop of the VM to the destination's start of
it) from both QEMUs' trace logs, beside query-migrate's downtime_ms.
limit_bytes is measured by dumping the stopped source after migration and
counting its in-use, non-pattern pages (tests/tools/memx-dumpstat).

Writes build/bench/migration.json (one record per scenario and config),
build/bench/migration.txt (the table) and build/bench/migration.svg (bytes
and time per config). Times on shared 2-core machines vary up to 2x
between runs; bytes repeat closely, so judge by bytes and by ratios within
one run.
"""

import argparse
import json
import os
import platform
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "e2e"))
import run  # noqa: E402

SCENARIOS = ["idle-fresh", "freed-garbage", "pattern-heavy", "busy-writer", "alloc-churn"]
CONFIGS = ["precopy", "multifd", "balloon-hint", "pattern-pages", "pattern-pages-multifd",
           "skip-free", "skip-free-pattern", "skip-free-multifd",
           "skip-free-pattern-multifd",
           # the peer users would pick: Debian's QEMU has multifd+zstd
           "multifd-zstd", "multifd-zlib", "pattern-pages-multifd-zstd",
           "skip-free-pattern-multifd-zstd"]
# Guest-free page skipping is judged on freed-garbage with both kernels
# (docs/free-page-skipping.rst): the 6.12 runs come from the matrix above,
# the 6.1 ones from here.
SKIP_CRITERIA_CONFIGS = ["precopy", "balloon-hint", "skip-free", "skip-free-pattern",
                         "skip-free-multifd", "skip-free-pattern-multifd"]
MIB = 1024 * 1024
GIB = 1024 * MIB


def table(results, scenarios):
    lines = [f"{'scenario':14} {'config':30} {'sent MiB':>9} {'x stock':>8} "
             f"{'x limit':>8} {'time ms':>8} {'downtime':>8} {'true ms':>8} {'normal':>8} "
             f"{'zero':>7} {'pattern':>7} {'skipped':>7} {'src CPU':>7} "
             f"{'dst CPU':>7} {'MiB/CPU-s':>9}  verified"]
    for scen in scenarios:
        base = next((r for r in results if r["scenario"] == scen
                     and r["config"] == "precopy"), None)
        for r in (r for r in results if r["scenario"] == scen):
            x_stock = r["transferred_bytes"] / base["transferred_bytes"] if base else float("nan")
            x_limit = (r["transferred_bytes"] / r["limit_bytes"]
                       if r.get("limit_bytes") else float("nan"))
            lines.append(
                f"{scen:14} {r['config']:30} {r['transferred_bytes'] / MIB:9.1f} "
                f"{x_stock:8.3f} {x_limit:8.2f} {r['total_time_ms']:8} "
                f"{r['downtime_ms']:8} {run.fmt_ms(r.get('true_pause_ms')):>8} "
                f"{r['normal_pages']:8} {r['zero_pages']:7} "
                f"{r['pattern_pages'] or 0:7} {r['skipped_pages'] or 0:7} "
                f"{r.get('src_cpu_s') or 0:7.2f} {r.get('dst_cpu_s') or 0:7.2f} "
                f"{(r.get('bytes_per_cpu_s') or 0) / MIB:9.1f}  "
                f"{'yes' if r['verified'] else 'NO'}")
    return "\n".join(lines)


def skip_criteria(results):
    """The freed-garbage figures guest-free page skipping is judged by, per
    kernel: bytes against limit_bytes (per-CPU list pages count as free),
    time against stock, bytes against the free-page-hint of the same
    run."""
    rows, lines = [], []
    for kernel in sorted({r["kernel"] for r in results}):
        runs = {r["config"]: r for r in results
                if r["kernel"] == kernel and r["scenario"] == "freed-garbage"}
        stock, hint = runs.get("precopy"), runs.get("balloon-hint")
        if not stock or not hint:
            continue
        for conf in (c for c in SKIP_CRITERIA_CONFIGS if c.startswith("skip-free")):
            r = runs.get(conf)
            if not r:
                continue
            row = {"kernel": kernel, "config": conf,
                   "sent_mib": round(r["transferred_bytes"] / MIB, 1),
                   "x_limit": round(r["transferred_bytes"] / r["limit_bytes"], 3),
                   "x_stock_time": round(r["total_time_ms"] / stock["total_time_ms"], 3),
                   "x_hint_bytes": round(r["transferred_bytes"] / hint["transferred_bytes"], 3),
                   "verified": r["verified"]}
            rows.append(row)
            lines.append(f"{kernel:5} {conf:26} {row['sent_mib']:8.1f} MiB  "
                         f"{row['x_limit']:6.3f}x limit (<=1.15)  "
                         f"{row['x_stock_time']:6.3f}x stock time (<=0.5)  "
                         f"{row['x_hint_bytes']:6.3f}x hint bytes (<=0.55)  "
                         f"{'verified' if row['verified'] else 'NOT VERIFIED'}")
    return rows, "\n".join(lines)


# Guest-free page skipping in VMs as users configure them, against the
# -nodefaults guest of the same run (target: >= 0.9 of its skipped pages).
REAL_VM_CASES = [
    ("nodefaults", []),
    ("default devices (VGA, NIC)", ["--defaults"]),
    ("mem=1G in 1280M", ["--mem", "1280M", "--append", "mem=1G"]),
]
# What the free-page scan costs while migrating: total scan time and the
# longest single scan (held under the BQL) per guest size; and, as RAM
# grows, what freed-garbage with the best configuration sends against
# the floor (skip-free-pattern, limit_bytes measured).
SCAN_COST_CASES = [("idle-fresh", "1G", "skip-free"), ("idle-fresh", "4G", "skip-free"),
                   ("idle-fresh", "8G", "skip-free"),
                   ("freed-garbage-4g", "4G", "skip-free-pattern"),
                   ("freed-garbage-8g", "8G", "skip-free-pattern")]


def bench_migrate(argv):
    ns = run.parser().parse_args(["migrate"] + argv)
    return run.migrate(ns, lambda m: print("   " + m.lstrip("# "), flush=True))


def real_vm_skipping(kernel):
    rows = []
    for name, extra in REAL_VM_CASES:
        print(f"bench: freed-garbage / skip-free / {name} ...", flush=True)
        r = bench_migrate(["--scenario", "freed-garbage", "--config", "skip-free",
                           "--kernel", kernel] + extra)
        rows.append({"vm": name, "skipped_pages": r["skipped_pages"] or 0,
                     "sent_mib": round(r["transferred_mib"], 1),
                     "skip_blocked": r["skip_blocked"], "downtime_ms": r["downtime_ms"],
                     "true_pause_ms": r["true_pause_ms"], "verified": r["verified"]})
    base = rows[0]["skipped_pages"] or 1
    for row in rows:
        row["x_nodefaults"] = round(row["skipped_pages"] / base, 3)
    return rows


def page_poison(kernel):
    """freed-garbage in a page_poison=1 guest: its free pages hold 0xaa,
    so pattern pages send them as metadata (and skip-free must not drop
    them)."""
    rows = []
    for conf in ("precopy", "pattern-pages"):
        print(f"bench: freed-garbage page_poison=1 / {conf} ...", flush=True)
        r = bench_migrate(["--scenario", "freed-garbage", "--config", conf,
                           "--kernel", kernel, "--append", "page_poison=1"])
        rows.append({"config": conf, "sent_mib": round(r["transferred_mib"], 1),
                     "pattern_pages": r["pattern_pages"] or 0,
                     "downtime_ms": r["downtime_ms"], "true_pause_ms": r["true_pause_ms"],
                     "verified": r["verified"]})
    return rows


def scan_cost(kernel):
    rows = []
    for scen, mem, conf in SCAN_COST_CASES:
        print(f"bench: scan cost {scen} {mem} {conf} ...", flush=True)
        limit = ["--limit"] if scen.startswith("freed-garbage") else []
        r = bench_migrate(["--scenario", scen, "--config", conf,
                           "--kernel", kernel, "--mem", mem] + limit)
        gib = run.mem_mib(mem) / 1024
        rows.append({"scenario": scen, "guest_mem": mem, "config": conf,
                     "sent_mib": round(r["transferred_mib"], 1),
                     "limit_mib": (round(r["limit_bytes"] / MIB, 1)
                                   if r.get("limit_bytes") else None),
                     "x_limit": (round(r["transferred_bytes"] / r["limit_bytes"], 3)
                                 if r.get("limit_bytes") else None),
                     "max_ms_per_gib": round(r["free_page_scan_max_us"] / 1000 / gib, 3),
                     "scans": r["free_page_scans"],
                     "total_scan_us": r["free_page_scan_us"],
                     "max_scan_us": r["free_page_scan_max_us"],
                     "bql_scan_us": r["free_page_scan_bql_us"],
                     "bql_ms_per_gib": round(r["free_page_scan_bql_us"] / 1000 / gib, 3),
                     "total_ms_per_gib": round(r["free_page_scan_us"] / 1000 / gib, 3),
                     "skipped_pages": r["skipped_pages"],
                     "kept_uniform": r["free_pages_uniform"],
                     "downtime_ms": r["downtime_ms"], "true_pause_ms": r["true_pause_ms"],
                     "verified": r["verified"]})
    return rows


# Between two hosts: where time follows bytes, over a link between two
# network namespaces (tests/e2e/links.py)
LINK_SCENARIOS = ["freed-garbage", "pattern-heavy", "alloc-churn"]
LINK_CONFIGS = ["precopy", "multifd", "balloon-hint", "skip-free-pattern"]


def link_bench(kernel, profile):
    results = []
    for scen in LINK_SCENARIOS:
        for conf in LINK_CONFIGS:
            print(f"bench: {scen} / {conf} / {kernel} over {profile} ...", flush=True)
            results.append(bench_migrate(["--scenario", scen, "--config", conf,
                                          "--kernel", kernel, "--link", profile]))
    return results


def link_table(results):
    lines = [f"{'scenario':14} {'config':18} {'sent MiB':>9} {'time ms':>8} "
             f"{'x stock':>8} {'downtime':>8} {'x stock':>8} {'true ms':>8}  verified"]
    for scen in LINK_SCENARIOS:
        rows = [r for r in results if r["scenario"] == scen]
        stock = next((r for r in rows if r["config"] == "precopy"), None)
        for r in rows:
            xt = r["total_time_ms"] / stock["total_time_ms"] if stock else float("nan")
            xd = (r["downtime_ms"] / stock["downtime_ms"]
                  if stock and stock["downtime_ms"] else float("nan"))
            lines.append(f"{scen:14} {r['config']:18} {r['transferred_mib']:9.1f} "
                         f"{r['total_time_ms']:8} {xt:8.3f} {r['downtime_ms']:8} "
                         f"{xd:8.3f} {run.fmt_ms(r.get('true_pause_ms')):>8}  "
                         f"{'yes' if r['verified'] else 'NO'}")
    return "\n".join(lines)


# The migration estimate against the first pass it foresees
ESTIMATE_CASES = [("freed-garbage", "skip-free-pattern"), ("pattern-heavy", "skip-free-pattern"),
                  ("freed-garbage", "precopy")]


def estimate_error(kernel):
    rows = []
    for scen, conf in ESTIMATE_CASES:
        print(f"bench: estimate {scen} / {conf} ...", flush=True)
        r = bench_migrate(["--scenario", scen, "--config", conf, "--kernel", kernel,
                           "--estimate"])
        err = (r["estimate_bytes"] - r["first_pass_bytes"]) / r["first_pass_bytes"]
        rows.append({"scenario": scen, "config": conf,
                     "estimate_mib": round(r["estimate_bytes"] / MIB, 1),
                     "first_pass_mib": round(r["first_pass_bytes"] / MIB, 1),
                     "sent_mib": round(r["transferred_mib"], 1),
                     "error": round(err, 4), "estimate_ms": r["estimate_us"] / 1000,
                     "downtime_ms": r["downtime_ms"], "true_pause_ms": r["true_pause_ms"],
                     "verified": r["verified"]})
    return rows


def scan_speed(kernel, mem, boots=1, queries=20):
    """Time the struct-page scan inside QEMU (query-guest-free-pages) on a
    booted guest after freed-garbage; median of @queries scans."""
    import tempfile
    from memxvm import Vm
    work = tempfile.mkdtemp(prefix="memx-scan-")
    vm = Vm("scan", workdir=work, flavour=kernel, mem=mem)
    try:
        run.boot(vm, "freed-garbage")
        times, last = [], None
        for _ in range(queries):
            last = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages")
            times.append(last["scan-time-us"])
        times.sort()
        ram_gib = last["ram-bytes"] / GIB
        return {"kernel": kernel, "guest_mem": mem, "ram_bytes": last["ram-bytes"],
                "free_pages": last["free-pages"], "pcp_pages": last.get("pcp-pages"),
                "scans": queries,
                "median_scan_us": times[len(times) // 2], "max_scan_us": times[-1],
                "ms_per_gib": round(times[len(times) // 2] / 1000 / ram_gib, 3)}
    finally:
        run.finish((vm,), work, True, print)


def svg(results, scenarios, configs):
    """Grouped bars: MiB sent, total time and the source's CPU seconds."""
    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
              "#edc948", "#ff9da7", "#9c755f", "#bab0ac", "#1f3b5c", "#8c564b",
              "#17becf"]
    panels = [("transferred_bytes", "MiB sent", MIB), ("total_time_ms", "total time (ms)", 1),
              ("src_cpu_s", "source CPU s (not vCPUs)", 1)]
    pad, panel_w, H = 50, 430, 440
    W = pad + len(panels) * (panel_w + pad)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for p, (key, title, scale) in enumerate(panels):
        x0 = pad + p * (panel_w + pad)
        vals = [r[key] / scale for r in results if r.get(key) is not None]
        top = max(vals) * 1.1 if vals else 1
        out.append(f'<text x="{x0 + panel_w / 2}" y="20" text-anchor="middle" '
                   f'font-size="14">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{H - 60}" x2="{x0 + panel_w}" y2="{H - 60}" '
                   f'stroke="black"/>')
        group_w = panel_w / len(scenarios)
        bar_w = group_w * 0.8 / len(configs)
        for si, scen in enumerate(scenarios):
            gx = x0 + si * group_w + group_w * 0.1
            out.append(f'<text x="{gx + group_w * 0.4}" y="{H - 45}" '
                       f'text-anchor="middle">{scen}</text>')
            for ci, conf in enumerate(configs):
                r = next((r for r in results if r["scenario"] == scen
                          and r["config"] == conf), None)
                if not r or r.get(key) is None:
                    continue
                v = r[key] / scale
                h = (H - 90) * v / top
                out.append(f'<rect x="{gx + ci * bar_w:.1f}" y="{H - 60 - h:.1f}" '
                           f'width="{bar_w * 0.9:.1f}" height="{h:.1f}" '
                           f'fill="{colors[ci % len(colors)]}"><title>{scen} {conf}: '
                           f'{v:.1f}</title></rect>')
                out.append(f'<text x="{gx + ci * bar_w + bar_w * 0.45:.1f}" '
                           f'y="{H - 63 - h:.1f}" text-anchor="middle" font-size="7">'
                           f'{v:.0f}</text>' if v >= 10 else
                           f'<text x="{gx + ci * bar_w + bar_w * 0.45:.1f}" '
                           f'y="{H - 63 - h:.1f}" text-anchor="middle" font-size="7">'
                           f'{v:.1f}</text>')
    per_row = 7
    for ci, conf in enumerate(configs):
        x, y = pad + (ci % per_row) * 200, H - 30 + (ci // per_row) * 16
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" '
                   f'fill="{colors[ci % len(colors)]}"/>')
        out.append(f'<text x="{x + 16}" y="{y}">{conf}</text>')
    out.append("</svg>")
    return "\n".join(out)


def replot(path, outdir):
    with open(path) as f:
        doc = json.load(f)
    kernel = doc["guest"]["kernel"]
    results = [r for r in doc["results"] if r["kernel"] == kernel]
    scenarios = list(dict.fromkeys(r["scenario"] for r in results))
    configs = list(dict.fromkeys(r["config"] for r in results))
    txt = table(results, scenarios)
    with open(os.path.join(outdir, "migration.txt"), "w") as f:
        f.write(txt + "\n")
    with open(os.path.join(outdir, "migration.svg"), "w") as f:
        f.write(svg(results, scenarios, configs))
    print(txt)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--outdir", default=os.path.join(here, "..", "..", "build", "bench"))
    p.add_argument("--kernel", default="6.12")
    p.add_argument("--scenarios", nargs="*", default=SCENARIOS)
    p.add_argument("--configs", nargs="*", default=CONFIGS)
    p.add_argument("--criteria-kernel", default="6.1",
                   help="second kernel for the freed-garbage skip-free criteria")
    p.add_argument("--sections", nargs="*",
                   default=["matrix", "real-vm", "scan-cost", "scan-speed", "poison",
                            "estimate", "link"],
                   help="which parts to run (default: all)")
    p.add_argument("--max-bandwidth", type=int, metavar="BYTES_PER_S",
                   help="cap every matrix migration (default: run.py's 10 GiB/s); "
                        "125000000 is a 1 Gbit/s link")
    p.add_argument("--link", default="lan-1g", choices=sorted(run.LINK_PROFILES),
                   help="the link profile of the 'link' section")
    p.add_argument("--replot", metavar="MIGRATION_JSON",
                   help="only redraw the table and plot of an earlier run's "
                        "migration.json into --outdir")
    a = p.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    if a.replot:
        return replot(a.replot, a.outdir)
    if a.max_bandwidth:
        run.DEFAULT_PARAMS["max-bandwidth"] = a.max_bandwidth
    results = []
    runs = [(a.kernel, scen, conf) for scen in a.scenarios for conf in a.configs
            if "matrix" in a.sections]
    if ("matrix" in a.sections and "freed-garbage" in a.scenarios and
            a.criteria_kernel != a.kernel):
        runs += [(a.criteria_kernel, "freed-garbage", conf)
                 for conf in SKIP_CRITERIA_CONFIGS if conf in a.configs]
    for kernel, scen, conf in runs:
        print(f"bench: {scen} / {conf} / {kernel} ...", flush=True)
        ns = run.parser().parse_args(["migrate", "--scenario", scen, "--config", conf,
                                      "--kernel", kernel, "--limit"])
        results.append(run.migrate(ns, lambda m: print("   " + m.lstrip("# "),
                                                       flush=True)))
    criteria, criteria_txt = skip_criteria(results)
    real_vm = real_vm_skipping(a.kernel) if "real-vm" in a.sections else []
    cost = scan_cost(a.kernel) if "scan-cost" in a.sections else []
    poison = page_poison(a.kernel) if "poison" in a.sections else []
    estimate = estimate_error(a.kernel) if "estimate" in a.sections else []
    linked = link_bench(a.kernel, a.link) if "link" in a.sections else []
    scans = []
    if "scan-speed" in a.sections:
        print("bench: struct-page scan speed ...", flush=True)
        scans = [scan_speed(k, m) for k, m in ((a.kernel, "1G"), (a.kernel, "4G"),
                                               (a.kernel, "8G"),
                                               (a.criteria_kernel, "1G"))]
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                    "kernel": platform.release()},
           "guest": {"kernel": a.kernel, "mem_mib": 1024, "accel": "tcg"},
           "command": "make bench", "max_bandwidth": run.DEFAULT_PARAMS["max-bandwidth"],
           "results": results,
           "skip_free_criteria": criteria, "free_page_scan": scans,
           "skip_free_real_vms": real_vm, "free_page_scan_cost": cost,
           "page_poison": poison, "migration_estimate": estimate,
           "link": {"profile": a.link,
                    "shape": linked[0].get("link_shape") if linked else None,
                    "results": linked}}
    boots = sorted(r["boot_s"] for r in results if r["kernel"] == a.kernel)
    if boots:
        doc["boot_s"] = {"runs": len(boots), "min": boots[0], "max": boots[-1],
                         "median": boots[len(boots) // 2]}
    txt = table([r for r in results if r["kernel"] == a.kernel], a.scenarios)
    txt += "\n\nfreed-garbage, guest-free page skipping against its targets:\n"
    txt += criteria_txt
    txt += ("\n\nfree-page scan inside QEMU, struct pages and per-CPU lists "
            "(__org.qemu-memx_query-guest-free-pages):\n")
    txt += "\n".join(f"{s['kernel']:5} {s['guest_mem']:3} guest: median {s['median_scan_us']} us "
                     f"(max {s['max_scan_us']}) over {s['ram_bytes'] / GIB:.2f} GiB = "
                     f"{s['ms_per_gib']} ms/GiB (target <= 2), {s['pcp_pages']} pages "
                     f"on per-CPU lists" for s in scans)
    txt += "\n\nfreed-garbage with skip-free in real VM configurations (target >= 0.9x):\n"
    txt += "\n".join(f"{r['vm']:28} skipped {r['skipped_pages']:8} pages "
                     f"({r['x_nodefaults']:.3f}x nodefaults), sent {r['sent_mib']} MiB, "
                     f"{'verified' if r['verified'] else 'NOT VERIFIED'}"
                     f"{'; blocked: ' + r['skip_blocked'] if r['skip_blocked'] else ''}"
                     for r in real_vm)
    txt += ("\n\nfree-page scan cost during migration (targets: longest scan <= 2 ms "
            "per GiB; freed-garbage sends <= 1.15x the floor):\n")
    txt += "\n".join(f"{r['scenario']:17} {r['guest_mem']:3} {r['config']:17} {r['scans']} "
                     f"scans: under the BQL {r['bql_scan_us']} us = {r['bql_ms_per_gib']} "
                     f"ms/GiB, longest {r['max_scan_us']} us = {r['max_ms_per_gib']} ms/GiB; "
                     f"with the content checks after it {r['total_scan_us']} us = "
                     f"{r['total_ms_per_gib']} ms/GiB; skipped {r['skipped_pages']}, kept "
                     f"{r['kept_uniform']}; sent {r['sent_mib']} MiB"
                     + (f" = {r['x_limit']}x the floor ({r['limit_mib']} MiB)"
                        if r["x_limit"] else "") for r in cost)
    txt += ("\n\n__org.qemu-memx_query-migration-estimate just before migrating, against "
            "the first pass (target: within 10%):\n")
    txt += "\n".join(f"{r['scenario']:14} {r['config']:18} estimate {r['estimate_mib']} MiB, "
                     f"first pass {r['first_pass_mib']} MiB ({r['error'] * 100:+.1f}%), "
                     f"all passes {r['sent_mib']} MiB; the estimate took "
                     f"{r['estimate_ms']:.1f} ms" for r in estimate)
    if linked:
        txt += (f"\n\nbetween two hosts, {linked[0].get('link_shape')} (x stock: "
                f"ratios to stock precopy in this run):\n")
        txt += link_table(linked)
        with open(os.path.join(a.outdir, "migration-link.svg"), "w") as f:
            f.write(svg(linked, LINK_SCENARIOS, LINK_CONFIGS))
    txt += "\n\nfreed-garbage in a page_poison=1 guest:\n"
    txt += "\n".join(f"{r['config']:14} sent {r['sent_mib']} MiB, {r['pattern_pages']} "
                     f"pattern pages, {'verified' if r['verified'] else 'NOT VERIFIED'}"
                     for r in poison)
    if boots:
        txt += (f"\n\nguest boot, {len(boots)} boots: {boots[0]} to {boots[-1]} s "
                f"(median {boots[len(boots) // 2]} s)")
    with open(os.path.join(a.outdir, "migration.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(a.outdir, "migration.txt"), "w") as f:
        f.write(txt + "\n")
    with open(os.path.join(a.outdir, "migration.svg"), "w") as f:
        f.write(svg([r for r in results if r["kernel"] == a.kernel], a.scenarios,
                    a.configs))
    print("\n" + txt)
    print(f"\nwritten: {os.path.abspath(a.outdir)}/migration.{{json,txt,svg}}")
    return 0 if all(r["verified"] for r in results + real_vm + cost + poison) else 1


if __name__ == "__main__":
    sys.exit(main())
