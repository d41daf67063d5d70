#!/usr/bin/env python3
"""qemu-memx end-to-end live-migration runner.

Boots a real Linux test guest (tests/guest), puts its memory into a
scenario's state with memx-workload, migrates it live to a second QEMU and
has the guest verify every checksum on the destination. Statistics come
from query-migrate on the source; the true pause (true_pause_ms: the
source's stop of the VM to the destination's start of it) from both
QEMUs' trace logs.

  run.py migrate --scenario S --config C [--kernel 6.12] [--transport tcp]
  run.py fault   --case cancel|dest-killed|dest-refuses
  run.py interop --direction to-stock|from-stock
  run.py suite   NAME        a named list of the above (see SUITES)

Each test prints one TAP line ("ok N name" / "not ok N name"), so the
check driver can count results. --json FILE appends one JSON record per
migration (used by make demo and make bench).
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The seams: guest memory states, migration configurations, what is
# checked after a migration, and the kernel introspection oracle. Their
# names are re-exported here for the benchmarks and other tests.
from configs import (CONFIGS, DEFAULT_PARAMS,  # noqa: E402,F401
                     MIB, PATTERN_CAP, SKIP_CAP, free_tcp_port, mem_mib,
                     migration_cpu_seconds, ram_stats, set_migration,
                     transport_uris, wait_migration, wait_status)
from introspect import dump_stats, introspect  # noqa: E402
from kallsyms_check import guest_kallsyms  # noqa: E402
from page_state import PCP_SYMBOLS  # noqa: E402
from links import PROFILES as LINK_PROFILES, Link  # noqa: E402,F401
from memxvm import QMPError, Vm, finish, guest_kernels  # noqa: E402,F401
from scenarios import SCENARIOS, boot  # noqa: E402,F401
from verify import (GUEST_ALARMS, TRACE, check_free_content,  # noqa: E402,F401
                    check_pattern_bytes, check_pause_reports, check_same_memory,
                    check_skipping, destination_pause, fmt_ms, pause_text,
                    true_pause)


def migrate(args, log):
    """One live migration with verification; returns a result record."""
    scen, conf = args.scenario, CONFIGS[args.config]
    work = tempfile.mkdtemp(prefix="memx-e2e-")
    append = " ".join(filter(None, (args.append, conf.get("append"))))
    common = dict(flavour=args.kernel, mem=args.mem, boot=args.boot, smp=args.smp,
                  append=append, machine=args.machine,
                  extra_args=conf.get("devices", []), defaults=args.defaults)
    link = Link(args.link).open() if args.link else None
    src = Vm("source", workdir=os.path.join(work, "src"),
             netns=link.src_ns if link else None, trace=TRACE, **common)
    dst = None
    rec = {"scenario": scen, "config": args.config, "kernel": args.kernel,
           "guest_mib": mem_mib(args.mem), "transport": args.transport,
           "link": args.link, "verified": False, "limit_bytes": None,
           "true_pause_ms": None, "true_pause_note": "migration did not complete"}
    try:
        if link:
            rec["link_shape"] = link.describe()
            log(f"# link {rec['link_shape']}")
        rec["boot_s"] = round(boot(src, scen, seed=args.seed), 2)
        guest_syms = None
        if args.compare_memory:
            # for page_state.py: the guest's own word, not QEMU's kallsyms
            guest_syms = {k: min(v) for k, v in guest_kallsyms(
                src, ["vmemmap_base"] + PCP_SYMBOLS).items()}
        if args.start_delay:
            time.sleep(args.start_delay)
        src_uri, dst_uri, live = transport_uris(args.transport, work, link)
        params = dict(DEFAULT_PARAMS, **conf["params"])
        caps = dict(conf["caps"])
        if args.max_bandwidth:
            params["max-bandwidth"] = args.max_bandwidth
        if args.downtime_limit:
            params["downtime-limit"] = args.downtime_limit
        if args.return_path:
            caps["return-path"] = True
        rec.update(downtime_limit_ms=params["downtime-limit"],
                   max_bandwidth=params["max-bandwidth"],
                   return_path=caps.get("return-path", False))
        set_migration(src, caps, params)

        def start_dst():
            dst_args = dict(common)
            if args.compare_memory:
                # paused after migration, so its RAM can be dumped as received
                dst_args["extra_args"] = list(common["extra_args"]) + ["-S"]
            d = Vm("destination", workdir=os.path.join(work, "dst"),
                   incoming="defer", netns=link.dst_ns if link else None,
                   trace=TRACE, **dst_args)
            d.start()
            cpu0["dst"] = migration_cpu_seconds(d.proc.pid)
            set_migration(d, caps, {k: v for k, v in conf["params"].items()})
            d.qmp.cmd("migrate-incoming", {"uri": dst_uri})
            return d

        cpu0 = {}
        if live:
            dst = start_dst()
        if args.estimate:
            est = src.qmp.cmd("__org.qemu-memx_query-migration-estimate")
            rec["estimate_bytes"] = est["first-pass-bytes"]
            rec["estimate_us"] = est["estimate-time-us"]
        cpu0["src"] = migration_cpu_seconds(src.proc.pid)
        src.qmp.cmd("migrate", {"uri": src_uri})
        if conf.get("postcopy"):
            wait_migration(src, until=("active", "completed", "failed"))
            src.qmp.cmd("migrate-start-postcopy")
        info = wait_migration(src)
        # the source's part ends here; the dump below is not migration work
        src_cpu_s = migration_cpu_seconds(src.proc.pid) - cpu0["src"]
        rec.update(ram_stats(info))
        if info["status"] != "completed":
            raise RuntimeError(f"migration {info['status']}: {info.get('error-desc')}")
        if args.limit:
            # The source is stopped now: what it holds is what had to move.
            rec["limit_bytes"] = dump_stats(src, os.path.join(work, "src.elf"))["limit_bytes"]
        if not live:
            dst = start_dst()
        info = wait_migration(dst, until=("completed", "failed"))
        if info["status"] != "completed":
            raise RuntimeError(f"incoming migration {info['status']}")
        rec.update(destination_pause(info))
        # CPU of the migration on both sides, vCPU threads not counted
        rec["src_cpu_s"] = round(src_cpu_s, 3)
        rec["dst_cpu_s"] = round(migration_cpu_seconds(dst.proc.pid) - cpu0["dst"], 3)
        cpu = rec["src_cpu_s"] + rec["dst_cpu_s"]
        rec["bytes_per_cpu_s"] = round(rec["transferred_bytes"] / cpu) if cpu > 0 else None
        compare_error = None
        if args.compare_memory:
            compare_error = check_same_memory(src, dst, rec, conf, work, log,
                                              guest_syms)
        if dst.status() != "running":
            dst.qmp.cmd("cont")
        wait_status(dst, ("running",))
        caveat = None
        if args.compare_memory:
            caveat = ("until the destination was ready: it stayed paused (-S) for the "
                      "memory comparison")
        elif not live:
            caveat = (f"{args.transport} is not live: includes starting the destination "
                      "after the stream was written")
        rec.update(true_pause(src, dst, conf.get("postcopy", False), caveat))
        check_pause_reports(rec, args)
        if "page_poison=1" in append:
            # Allocate a quarter of RAM: the allocator checks the poison
            # of every free page it hands out (what pattern-heavy holds
            # plus this still fits in 1 GiB).
            dst.run("fill-random 256", timeout=600)
        ok, line = dst.verify()
        alarms = [a for a in GUEST_ALARMS if a in dst.console_text()]
        rec["verify"] = line
        rec["verified"] = ok and not alarms
        if compare_error:
            # the guest has verified (or not) its own data first
            rec["verified"] = False
            raise RuntimeError(f"{compare_error}; the guest says: {line}")
        if SKIP_CAP in conf["caps"] and not conf.get("skip_blocked"):
            # read again on the destination: set at boot, they cannot change
            for vm in (src, dst):
                rec["free_content"] = check_free_content(vm, args.kernel, append)
        if not ok:
            raise RuntimeError(f"destination verification failed: {line}")
        if alarms:
            raise RuntimeError(f"destination guest console reports {alarms}")
        for key, want in conf.get("expect", {}).items():
            if not rec.get(key):
                raise RuntimeError(f"query-migrate reports no {key} ({want})")
        if PATTERN_CAP in conf["caps"]:
            check_pattern_bytes(rec, scen, append)
        if SKIP_CAP in conf["caps"]:
            check_skipping(rec, scen, conf, append)
            log(f"# skipped {rec['skipped_pages']} free pages, kept "
                f"{rec['free_pages_uniform']} for their pattern, "
                f"{rec['free_page_scans']} scans in {rec['free_page_scan_us']} us; "
                f"{rec.get('free_content')}"
                f"{'; not skipped: ' + rec['skip_blocked'] if rec['skip_blocked'] else ''}")
        log(f"# {scen}/{args.config}/{args.kernel}/{args.transport}: "
            f"{rec['transferred_mib']:.1f} MiB in {rec['total_time_ms']} ms, "
            f"downtime {rec['downtime_ms']} ms, {pause_text(rec)}; {line}")
        return rec
    finally:
        finish((src, dst), work, rec["verified"], log)
        if link:
            link.close()


def fault(args, log):
    """A migration that fails must leave the source running, data intact;
    with --memx, skip-free and pattern pages are on, and cancel-retry
    migrates again after the cancel, verified on the destination."""
    work = tempfile.mkdtemp(prefix="memx-fault-")
    common = dict(flavour=args.kernel, mem=args.mem, boot=args.boot, smp=args.smp,
                  append=args.append)
    caps = {SKIP_CAP: True, PATTERN_CAP: True} if args.memx else {}
    src = Vm("source", workdir=os.path.join(work, "src"), machine="q35", **common)
    vms = [src]
    ok = False
    try:
        boot(src, "freed-garbage")
        src.run("fill-pattern 128")
        port = free_tcp_port()
        # Slow enough that the migration is surely still running.
        set_migration(src, caps, {"max-bandwidth": 64 * MIB})
        machine = "pc" if args.case == "dest-refuses" else "q35"
        dst = Vm("destination", workdir=os.path.join(work, "dst"),
                 machine=machine, incoming="defer", **common)
        vms.append(dst.start())
        dst.qmp.cmd("migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"})
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        if args.case in ("cancel", "dest-killed", "cancel-retry"):
            deadline = time.monotonic() + 60
            while src.qmp.cmd("query-migrate").get("ram", {}).get("transferred", 0) < 32 * MIB:
                if time.monotonic() > deadline:
                    raise TimeoutError("migration made no progress")
                time.sleep(0.1)
            if args.case == "dest-killed":
                dst.kill()
            else:
                src.qmp.cmd("migrate_cancel")
        info = wait_migration(src, timeout=120)
        expect = "failed" if args.case in ("dest-killed", "dest-refuses") else "cancelled"
        if info["status"] != expect:
            raise RuntimeError(f"migration ended {info['status']}, expected {expect}")
        wait_status(src, ("running",))
        good, line = src.verify()
        if not good:
            raise RuntimeError(f"source data damaged: {line}")
        log(f"# fault {args.case}{' (memx)' if args.memx else ''}: source "
            f"{src.status()}, error '{info.get('error-desc', '')}'; {line}")
        if args.case == "cancel-retry":
            dst.stop()
            port = free_tcp_port()
            set_migration(src, {}, DEFAULT_PARAMS)
            dst = Vm("destination2", workdir=os.path.join(work, "dst2"),
                     machine="q35", incoming="defer", **common)
            vms.append(dst.start())
            dst.qmp.cmd("migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"})
            src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
            info = wait_migration(src)
            if info["status"] != "completed":
                raise RuntimeError(f"retry {info['status']}: {info.get('error-desc')}")
            rec = ram_stats(info)
            if args.memx and not (rec["skipped_pages"] and rec["pattern_pages"]):
                raise RuntimeError(f"retry skipped {rec['skipped_pages']} and sent "
                                   f"{rec['pattern_pages']} pattern pages; expected both")
            wait_status(dst, ("running",))
            good, line = dst.verify()
            if not good:
                raise RuntimeError(f"destination verification after retry failed: {line}")
            log(f"# retry: {rec['transferred_mib']:.1f} MiB, {rec['skipped_pages']} "
                f"skipped, {rec['pattern_pages']} pattern pages; {line}")
        ok = True
        return {"case": args.case, "memx": args.memx, "verified": True}
    finally:
        finish(vms, work, ok, log)


STOCK_QEMU = "/usr/bin/qemu-system-x86_64"


def stream_fault(args, log):
    """Hostile or incompatible streams must fail cleanly: a destination
    fed a truncated or corrupted pattern-page stream reports a failed
    migration and keeps running (no crash), and stock Debian QEMU refuses
    a stream with pattern pages on at the start, the source still
    running with its data intact."""
    work = tempfile.mkdtemp(prefix="memx-stream-")
    stock = args.case == "stock-refuses-pattern"
    machine = "pc-q35-7.2" if stock else "q35"
    common = dict(flavour=args.kernel, mem=args.mem, boot=args.boot, smp=args.smp, machine=machine)
    src = Vm("source", workdir=os.path.join(work, "src"), **common)
    vms = [src]
    ok = False
    try:
        boot(src, "pattern-heavy")
        set_migration(src, {PATTERN_CAP: True}, dict(DEFAULT_PARAMS))
        if stock:
            port = free_tcp_port()
            dst = Vm("stock", workdir=os.path.join(work, "dst"), binary=STOCK_QEMU,
                     incoming="defer", **common)
            vms.append(dst.start())
            dst.qmp.cmd("migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"})
            src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
            info = wait_migration(src, timeout=60)
            if info["status"] != "failed":
                raise RuntimeError(f"stock destination accepted the stream: {info['status']}")
            if info.get("ram", {}).get("transferred", 0) > 16 * MIB:
                raise RuntimeError("the refusal came late: "
                                   f"{info['ram']['transferred']} bytes sent")
            dst.proc.wait(timeout=30)
            why = [line for line in dst.qemu_log().splitlines() if "capab" in line.lower()]
            log(f"# stock QEMU 7.2 said: {why[:2]}; source status {src.status()}")
            if not why:
                raise RuntimeError("stock QEMU did not name the capability")
        else:
            path = os.path.join(work, "stream")
            src.qmp.cmd("migrate", {"uri": f"file:{path}"})
            if wait_migration(src)["status"] != "completed":
                raise RuntimeError("saving the stream failed")
            src.qmp.cmd("cont")
            data = open(path, "rb").read()
            damaged = []
            for frac in (0.25, 0.5, 0.75, 0.999):
                cut = int(len(data) * frac)
                damaged.append((f"truncated at {cut}", data[:cut]))
            mid = len(data) // 2
            damaged.append(("8 KiB of noise mid-stream",
                            data[:mid] + os.urandom(8192) + data[mid + 8192:]))
            for name, blob in damaged:
                bad = os.path.join(work, "bad")
                with open(bad, "wb") as f:
                    f.write(blob)
                dst = Vm("destination", workdir=tempfile.mkdtemp(dir=work),
                         incoming="defer", **common)
                vms.append(dst.start())
                set_migration(dst, {PATTERN_CAP: True}, {})
                dst.qmp.cmd("migrate-incoming", {"uri": f"file:{bad}",
                                                 "exit-on-error": False})
                info = wait_migration(dst, until=("completed", "failed"))
                if not dst.running():
                    raise RuntimeError(f"{name}: destination died: {dst.qemu_log()}")
                log(f"# {name}: destination {info['status']}, still running"
                    f"{': ' + info.get('error-desc', '') if info['status'] == 'failed' else ''}")
                if name.startswith("truncated") and info["status"] != "failed":
                    raise RuntimeError(f"{name}: loaded without error")
                dst.cleanup()
        wait_status(src, ("running",))
        good, line = src.verify()
        if not good:
            raise RuntimeError(f"source data damaged: {line}")
        ok = True
        return {"case": args.case, "verified": True}
    finally:
        finish(vms, work, ok, log)


def interop(args, log):
    """Migrate between Debian's stock QEMU 7.2 and the fork."""
    if not os.path.exists(STOCK_QEMU):
        raise RuntimeError(f"{STOCK_QEMU} (Debian's qemu-system-x86) is not installed")
    fork = None
    stock = STOCK_QEMU
    src_bin, dst_bin = (fork, stock) if args.direction == "to-stock" else (stock, fork)
    work = tempfile.mkdtemp(prefix="memx-interop-")
    common = dict(flavour=args.kernel, mem=args.mem, boot=args.boot, smp=args.smp,
                  append=args.append, machine="pc-q35-7.2")
    src = Vm("source", workdir=os.path.join(work, "src"), binary=src_bin, trace=TRACE,
             **common)
    dst = None
    ok = False
    try:
        boot(src, "pattern-heavy")
        port = free_tcp_port()
        caps, params = {}, {}
        if args.compress:
            caps = {"multifd": True}
            params = {"multifd-channels": 2, "multifd-compression": args.compress}
        set_migration(src, caps, dict(params, **{"max-bandwidth": 10 * 1024 * MIB}))
        dst = Vm("destination", workdir=os.path.join(work, "dst"), binary=dst_bin,
                 incoming="defer", trace=TRACE, **common)
        dst.start()
        set_migration(dst, caps, params)
        dst.qmp.cmd("migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"})
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        info = wait_migration(src)
        if info["status"] != "completed":
            raise RuntimeError(f"migration {info['status']}: {info.get('error-desc')}")
        wait_status(dst, ("running",))
        rec = {"direction": args.direction, "downtime_ms": info.get("downtime"),
               **true_pause(src, dst)}
        good, line = dst.verify()
        if not good:
            raise RuntimeError(f"destination verification failed: {line}")
        if args.compress and not info["ram"].get("multifd-bytes"):
            raise RuntimeError("no bytes went through the multifd channels")
        log(f"# interop {args.direction}{' ' + args.compress if args.compress else ''}: "
            f"{info['ram']['transferred'] / MIB:.1f} MiB, downtime {rec['downtime_ms']} ms, "
            f"{pause_text(rec)}; {line}")
        ok = rec["verified"] = True
        return rec
    finally:
        finish((src, dst), work, ok, log)


# Named suites: lists of argument vectors.
SUITES = {
    "check": [
        ["migrate", "--scenario", "freed-garbage", "--config", "precopy", "--kernel", "6.12"],
        ["migrate", "--scenario", "alloc-churn", "--config", "multifd", "--kernel", "6.12"],
        ["migrate", "--scenario", "pattern-heavy", "--config", "multifd", "--kernel", "6.1"],
        ["migrate", "--scenario", "busy-writer", "--config", "precopy", "--kernel", "6.1",
         "--boot", "bzimage"],
        ["migrate", "--scenario", "small-data", "--config", "precopy", "--transport", "unix"],
        ["migrate", "--scenario", "small-data", "--config", "precopy", "--transport", "file"],
        ["migrate", "--scenario", "small-data", "--config", "precopy", "--transport", "exec"],
        ["fault", "--case", "cancel"],
        ["fault", "--case", "dest-killed"],
        ["fault", "--case", "dest-refuses"],
        ["fault", "--case", "cancel", "--memx"],
        ["fault", "--case", "dest-killed", "--memx"],
        ["fault", "--case", "cancel-retry", "--memx"],
        ["interop", "--direction", "from-stock"],
        ["interop", "--direction", "to-stock"],
        # pattern pages
        # (--compare-memory: every page of the destination's RAM against
        # the source's, on the host; only pages free at the source may differ)
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages",
         "--kernel", "6.12", "--compare-memory"],
        # the pause: at 1 Gbit/s with a return path, what the destination
        # and query-migrate report is the true pause (issue 26: the
        # destination used to apply a backlog of pattern pages after the
        # source's downtime had ended)
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages-multifd",
         "--kernel", "6.1", "--max-bandwidth", "125000000", "--return-path",
         "--check-pause", "10"],
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages-postcopy",
         "--kernel", "6.12", "--compare-memory"],
        ["migrate", "--scenario", "freed-garbage", "--config", "pattern-pages",
         "--kernel", "6.12", "--append", "page_poison=1"],
        ["migrate", "--scenario", "freed-garbage", "--config", "pattern-pages-multifd",
         "--kernel", "6.1", "--append", "page_poison=1"],
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages",
         "--kernel", "6.1", "--append", "page_poison=1"],
        ["migrate", "--scenario", "pattern-flip", "--config", "pattern-pages-xbzrle",
         "--kernel", "6.12"],
        ["stream-fault", "--case", "damaged-stream"],
        ["stream-fault", "--case", "stock-refuses-pattern"],
        # guest-free page skipping: checksums verified on the destination;
        # the churn allocates, writes and frees while the host scans
        # ... at downtime-limit 30, the pause stays under it plus 20 ms: the
        # device state's save and load take about 2 ms here, and 11 runs
        # measured 2.9-4.9 ms (docs/switchover-guard.rst); 20 ms leaves room
        # for a loaded machine, not for a switchover that spends the budget
        ["migrate", "--scenario", "realistic", "--config", "skip-free",
         "--kernel", "6.12", "--max-bandwidth", "125000000", "--downtime-limit", "30",
         "--return-path", "--check-pause", "10", "--max-pause", "50"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free-pattern-multifd",
         "--kernel", "6.1", "--boot", "bzimage", "--compare-memory"],
        ["migrate", "--scenario", "alloc-churn", "--config", "skip-free-throttled",
         "--kernel", "6.1"],
        ["migrate", "--scenario", "alloc-churn", "--config", "skip-free-multifd",
         "--kernel", "6.12", "--compare-memory"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free-pattern",
         "--kernel", "6.12", "--append", "page_poison=1"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free",
         "--kernel", "6.1", "--append", "init_on_free=1"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free-no-vmcoreinfo",
         "--kernel", "6.12"],
        # as users run VMs: default devices (VGA's RAM in a PCI BAR, a
        # NIC), and a guest told mem= below its RAM (struct pages only
        # for what it onlined)
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free",
         "--kernel", "6.12", "--defaults"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free",
         "--kernel", "6.1", "--mem", "1280M", "--append", "mem=1G"],
        # between two hosts: network namespaces joined by a 1 Gbit/s veth
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free-pattern",
         "--kernel", "6.12", "--link", "lan-1g"],
        # struct-page scan vs the guest's own /proc/buddyinfo (per order)
        # and /proc/kpageflags (per page, through QEMU's RAM map)
        ["introspect", "--kernel", "6.1", "--boot", "bzimage"],
        ["introspect", "--kernel", "6.12", "--boot", "bzimage", "--cpu", "max",
         "--mem", "3G"],
        ["introspect", "--kernel", "6.12", "--scenario", "pattern-heavy"],
    ],
    # the guest kernels of tests/guest/KERNELS beyond 6.1 and 6.12, which
    # "check" covers in full: the introspection oracle and a skip-free
    # migration with memory compared on each (make check's second lane).
    # 5.10's VMCOREINFO has no kallsyms (6.0 added them): buddy pages only,
    # and the walk's refusal must say so. 7.3: kallsyms with place-relative
    # offsets, per-CPU pointers not zero-based (two vCPUs).
    "kernels": [
        ["introspect", "--kernel", "5.10", "--pcp-refused",
         "none of the kallsyms table lines"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free",
         "--kernel", "5.10", "--compare-memory"],
        ["introspect", "--kernel", "7.3", "--smp", "2"],
        ["migrate", "--scenario", "freed-garbage", "--config", "skip-free-pattern",
         "--kernel", "7.3", "--smp", "2", "--compare-memory"],
        ["migrate", "--scenario", "alloc-churn", "--config", "skip-free-multifd",
         "--kernel", "7.3", "--smp", "2", "--compare-memory"],
    ],
    # multifd compression (make check runs it in its second lane)
    "compress": [
        # pattern pages and skip-free composed with multifd compression
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages-multifd-zstd",
         "--kernel", "6.12", "--compare-memory"],
        ["migrate", "--scenario", "pattern-heavy", "--config", "pattern-pages-multifd-zlib",
         "--kernel", "6.1"],
        ["migrate", "--scenario", "freed-garbage", "--config",
         "skip-free-pattern-multifd-zstd", "--kernel", "6.12", "--compare-memory"],
        # multifd+zstd against Debian's stock 7.2, which has it: the fork's
        # packets are upstream's with the capabilities off
        ["interop", "--direction", "from-stock", "--compress", "zstd"],
        ["interop", "--direction", "to-stock", "--compress", "zstd"],
    ],
}


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("action", choices=["migrate", "fault", "stream-fault", "interop",
                                      "introspect", "suite"])
    p.add_argument("suite", nargs="?")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="idle-fresh")
    p.add_argument("--config", choices=sorted(CONFIGS), default="precopy")
    p.add_argument("--kernel", choices=guest_kernels(), default="6.12")
    p.add_argument("--boot", choices=["pvh", "bzimage"], default="pvh")
    p.add_argument("--mem", default="1G")
    p.add_argument("--cpu", help="guest CPU model (max: 5-level paging)")
    p.add_argument("--machine", default="q35")
    p.add_argument("--append", default="", help="extra guest kernel command line")
    p.add_argument("--smp", type=int, default=1, help="guest vCPUs")
    p.add_argument("--pcp-refused", metavar="REASON",
                   help="introspect: the guest kernel's per-CPU lists cannot be "
                        "walked, and pcp-reason must contain REASON")
    p.add_argument("--defaults", action="store_true",
                   help="keep the machine's default devices (VGA, a NIC)")
    p.add_argument("--transport", choices=["tcp", "unix", "file", "exec"], default="tcp")
    p.add_argument("--link", choices=sorted(LINK_PROFILES),
                   help="migrate between two network namespaces over a veth "
                        "pair shaped like this (tests/e2e/links.py)")
    p.add_argument("--memx", action="store_true",
                   help="fault: with skip-free and pattern pages on")
    p.add_argument("--case", choices=["cancel", "dest-killed", "dest-refuses", "cancel-retry",
                                      "damaged-stream", "stock-refuses-pattern"])
    p.add_argument("--direction", choices=["to-stock", "from-stock"])
    p.add_argument("--compress", choices=["zstd", "zlib"],
                   help="interop: multifd (2 channels) with this compression")
    p.add_argument("--json", help="append result records to this file")
    p.add_argument("--compare-memory", action="store_true",
                   help="dump source and destination (-S) and compare every page")
    p.add_argument("--seed", type=int,
                   help="mix this into the workload's random data")
    p.add_argument("--start-delay", type=float, default=0,
                   help="seconds between the scenario's setup and the migration")
    p.add_argument("--estimate", action="store_true",
                   help="query the migration estimate just before migrating")
    p.add_argument("--limit", action="store_true",
                   help="measure limit_bytes: dump the stopped source after migration")
    p.add_argument("--max-bandwidth", type=int, metavar="BYTES_PER_S",
                   help="the source's max-bandwidth (default 10 GiB/s)")
    p.add_argument("--downtime-limit", type=int, metavar="MS",
                   help="the source's downtime-limit (default 300)")
    p.add_argument("--return-path", action="store_true",
                   help="turn the return-path capability on, on both sides")
    p.add_argument("--check-pause", type=float, metavar="MS",
                   help="fail unless the destination's reported pause and "
                        "query-migrate's downtime are within MS of the true pause")
    p.add_argument("--max-pause", type=float, metavar="MS",
                   help="fail if the pause the destination reports exceeds MS")
    return p


def describe(a):
    if a.action == "migrate":
        extra = f" boot={a.boot}" if a.boot != "pvh" else ""
        extra += f" append='{a.append}'" if a.append else ""
        extra += f" mem={a.mem}" if a.mem != "1G" else ""
        extra += " default-devices" if a.defaults else ""
        extra += f" smp={a.smp}" if a.smp != 1 else ""
        extra += " memory-compared" if a.compare_memory else ""
        extra += f" link={a.link}" if a.link else ""
        extra += f" max-bandwidth={a.max_bandwidth}" if a.max_bandwidth else ""
        extra += f" downtime-limit={a.downtime_limit}" if a.downtime_limit else ""
        extra += " return-path" if a.return_path else ""
        extra += " pause-checked" if a.check_pause is not None else ""
        return f"e2e/migrate {a.scenario} {a.config} kernel={a.kernel} {a.transport}{extra}"
    if a.action in ("fault", "stream-fault"):
        return f"e2e/{a.action} {a.case}{' memx' if a.memx else ''}"
    if a.action == "introspect":
        return (f"e2e/introspect kernel={a.kernel} boot={a.boot} mem={a.mem}"
                f"{' cpu=' + a.cpu if a.cpu else ''}"
                f"{f' smp={a.smp}' if a.smp != 1 else ''}"
                f"{' per-cpu-walk-refused' if a.pcp_refused else ''}")
    return f"e2e/interop {a.direction}{' multifd-' + a.compress if a.compress else ''}"


def main():
    args = parser().parse_args()
    runs = ([parser().parse_args(v) for v in SUITES[args.suite]]
            if args.action == "suite" else [args])
    if args.action == "suite":
        for r in runs:
            r.json = args.json
    print(f"1..{len(runs)}", flush=True)
    failed = 0
    for n, r in enumerate(runs, 1):
        def log(msg):
            print(msg, flush=True)
        t0 = time.monotonic()
        try:
            rec = {"migrate": migrate, "fault": fault, "interop": interop,
                   "introspect": introspect, "stream-fault": stream_fault}[r.action](r, log)
            rec["wall_s"] = round(time.monotonic() - t0, 1)
            if r.json:
                with open(r.json, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            print(f"ok {n} {describe(r)} ({rec['wall_s']}s)", flush=True)
        except (Exception, QMPError) as e:
            failed += 1
            for line in traceback.format_exc().splitlines():
                print(f"# {line}")
            print(f"not ok {n} {describe(r)}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
