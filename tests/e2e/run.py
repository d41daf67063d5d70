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
import bisect
import json
import mmap
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kallsyms_check import check_kallsyms, guest_kallsyms  # noqa: E402
from page_state import DumpPages  # noqa: E402
from links import PROFILES as LINK_PROFILES, Link  # noqa: E402
from memxvm import QMPError, Vm, guest_kernels  # noqa: E402

MIB = 1024 * 1024

# Workload commands run before migration; "during" ones start background
# activity that keeps going while the guest migrates.
SCENARIOS = {
    "idle-fresh": {"setup": [], "during": []},
    # a little checksummed data, so the transport cases verify something
    "small-data": {"setup": ["fill-random 64"], "during": []},
    "freed-garbage": {"setup": ["fill-random 64", "free-garbage 716"],
                      "during": []},
    "pattern-heavy": {"setup": ["fill-pattern 512"], "during": []},
    "alloc-churn": {"setup": ["fill-random 64", "free-garbage 512"],
                    "during": ["churn 16"]},
    "busy-writer": {"setup": ["fill-random 64"], "during": ["dirty 64 16"]},
    # pages flipping between pattern and almost-pattern (XBZRLE coherence)
    # (flips for 8 s: long enough for many XBZRLE rounds, then converges)
    "pattern-flip": {"setup": ["fill-random 32"], "during": ["flip 32 128 8"]},
    # the scan-cost bench's large guests: nearly all of 4 or 8 GiB freed
    "freed-garbage-4g": {"setup": ["fill-random 64", "free-garbage 3600"],
                         "during": []},
    "freed-garbage-8g": {"setup": ["fill-random 64", "free-garbage 7400"],
                         "during": []},
    # make demo's realistic state: data in use, patterns, a lot freed
    "realistic": {"setup": ["fill-random 128", "fill-pattern 128",
                            "free-garbage 512"],
                  "during": ["churn 8"]},
}

PATTERN_CAP = "__org.qemu-memx_pattern-pages"
SKIP_CAP = "__org.qemu-memx_skip-free-pages"
GUARD_CAP = "__org.qemu-memx_switchover-guard"
SKIP_STAT = "__org.qemu-memx_free-pages-skipped"

BALLOON_HINT = ["-object", "iothread,id=io0", "-device",
                "virtio-balloon-pci,free-page-hint=on,iothread=io0"]

# Migration configurations: capabilities, parameters and extra devices.
CONFIGS = {
    "precopy": {"caps": {}, "params": {}},
    "multifd": {"caps": {"multifd": True}, "params": {"multifd-channels": 2},
                "expect": {"multifd_bytes": "bytes through multifd channels"}},
    "balloon-hint": {"caps": {}, "params": {}, "devices": BALLOON_HINT},
    # qemu-memx features
    "pattern-pages": {"caps": {PATTERN_CAP: True}, "params": {},
                      "expect": {"pattern_pages": "pattern pages"}},
    "pattern-pages-multifd": {"caps": {PATTERN_CAP: True, "multifd": True},
                              "params": {"multifd-channels": 2},
                              "expect": {"pattern_pages": "pattern pages",
                                         "multifd_bytes": "multifd bytes"}},
    # XBZRLE needs several rounds: cap bandwidth so the flips are resent
    "pattern-pages-xbzrle": {"caps": {PATTERN_CAP: True, "xbzrle": True},
                             "params": {"xbzrle-cache-size": 64 * MIB,
                                        "max-bandwidth": 64 * MIB,
                                        "downtime-limit": 100},
                             "expect": {"pattern_pages": "pattern pages",
                                        "xbzrle_pages": "XBZRLE pages"}},
    # switch to postcopy as soon as migration runs: most pages go postcopy
    # (precopy slowed down so that it has not finished by then; postcopy
    # itself runs at full speed)
    "pattern-pages-postcopy": {"caps": {PATTERN_CAP: True, "postcopy-ram": True},
                               "params": {"max-bandwidth": 16 * MIB},
                               "postcopy": True,
                               "expect": {"pattern_pages": "pattern pages",
                                          "postcopy_bytes": "postcopy bytes"}},
    # guest-free page skipping (docs/free-page-skipping.rst)
    "skip-free": {"caps": {SKIP_CAP: True}, "params": {}},
    # slow enough for many passes, each with a scan, while the guest churns
    "skip-free-throttled": {"caps": {SKIP_CAP: True},
                            "params": {"max-bandwidth": 96 * MIB},
                            "min_scans": 2},
    "skip-free-multifd": {"caps": {SKIP_CAP: True, "multifd": True},
                          "params": {"multifd-channels": 2},
                          "expect": {"multifd_bytes": "multifd bytes"}},
    "skip-free-pattern": {"caps": {SKIP_CAP: True, PATTERN_CAP: True}, "params": {}},
    "skip-free-pattern-multifd": {"caps": {SKIP_CAP: True, PATTERN_CAP: True,
                                           "multifd": True},
                                  "params": {"multifd-channels": 2},
                                  "expect": {"multifd_bytes": "multifd bytes"}},
    # multifd compression (zstd, zlib), alone and with qemu-memx's
    # features: pattern pages stay metadata and only normal pages go
    # through the compressor; skip-free drops pages before either
    # stock multifd with the switchover guard (its capability alone)
    "multifd-guard": {"caps": {"multifd": True, GUARD_CAP: True},
                      "params": {"multifd-channels": 2}},
    "multifd-zstd": {"caps": {"multifd": True},
                     "params": {"multifd-channels": 2, "multifd-compression": "zstd"},
                     "expect": {"multifd_bytes": "multifd bytes"}},
    "multifd-zlib": {"caps": {"multifd": True},
                     "params": {"multifd-channels": 2, "multifd-compression": "zlib"},
                     "expect": {"multifd_bytes": "multifd bytes"}},
    "pattern-pages-multifd-zstd": {"caps": {PATTERN_CAP: True, "multifd": True},
                                   "params": {"multifd-channels": 2,
                                              "multifd-compression": "zstd"},
                                   "expect": {"pattern_pages": "pattern pages",
                                              "multifd_bytes": "multifd bytes"}},
    "pattern-pages-multifd-zlib": {"caps": {PATTERN_CAP: True, "multifd": True},
                                   "params": {"multifd-channels": 2,
                                              "multifd-compression": "zlib"},
                                   "expect": {"pattern_pages": "pattern pages",
                                              "multifd_bytes": "multifd bytes"}},
    "skip-free-pattern-multifd-zstd": {"caps": {SKIP_CAP: True, PATTERN_CAP: True,
                                                "multifd": True},
                                       "params": {"multifd-channels": 2,
                                                  "multifd-compression": "zstd"},
                                       "expect": {"multifd_bytes": "multifd bytes"}},
    # the guest never hands over VMCOREINFO: nothing may be skipped
    "skip-free-no-vmcoreinfo": {"caps": {SKIP_CAP: True}, "params": {},
                                "append": "module_blacklist=qemu_fw_cfg",
                                "skip_blocked": True},
}

# Guest console lines that mean the guest saw its memory go wrong.
GUEST_ALARMS = ("memory corruption", "BUG:", "Kernel panic", "general protection")

DEFAULT_PARAMS = {"max-bandwidth": 10 * 1024 * MIB, "downtime-limit": 300}

# What stock precopy sends for a scenario (docs/benchmarks.rst, 1 GiB
# guests): with pattern pages on, pattern-heavy memory must cost at most
# PATTERN_MAX_X of it (measured: 0.127x; poisoned freed-garbage 0.127x).
STOCK_MIB = {"pattern-heavy": 502, "freed-garbage page_poison": 1016}
PATTERN_MAX_X = 0.3


def check_pattern_bytes(rec, scen, append):
    key = scen + (" page_poison" if "page_poison=1" in append else "")
    if key not in STOCK_MIB:
        return
    if rec["transferred_mib"] > PATTERN_MAX_X * STOCK_MIB[key]:
        raise RuntimeError(f"sent {rec['transferred_mib']:.1f} MiB, more than "
                           f"{PATTERN_MAX_X}x stock's {STOCK_MIB[key]} MiB")


def mem_mib(spec):
    units = {"M": 1, "G": 1024}
    return int(float(spec[:-1]) * units[spec[-1].upper()]) if spec[-1].isalpha() else int(spec)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_migration(vm, caps, params):
    if caps:
        vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": k, "state": v} for k, v in caps.items()]})
    if params:
        vm.qmp.cmd("migrate-set-parameters", params)


def wait_migration(vm, timeout=600, until=("completed", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while True:
        info = vm.qmp.cmd("query-migrate")
        if info.get("status") in until:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration still {info.get('status')} after {timeout}s")
        time.sleep(0.1)


def wait_status(vm, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        st = vm.status()
        if st in wanted:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"{vm.name}: status {st}, wanted {wanted}")
        time.sleep(0.05)


def boot(vm, scenario, timeout=180, seed=None):
    t0 = time.monotonic()
    vm.start()
    vm.expect("MEMX-READY", timeout)
    boot_s = time.monotonic() - t0
    if seed is not None:
        vm.run(f"seed {seed}")
    for c in SCENARIOS[scenario]["setup"]:
        vm.run(c, timeout=600)
    for c in SCENARIOS[scenario]["during"]:
        vm.run(c)
    return boot_s


def transport_uris(kind, workdir, link=None):
    if link:
        # the destination host's address on the link; its namespace is
        # fresh, so any port is free
        uri = f"tcp:{link.dst_addr}:4444"
        return uri, uri, True
    if kind == "tcp":
        port = free_tcp_port()
        return f"tcp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}", True
    if kind == "unix":
        path = os.path.join(workdir, "migrate.sock")
        return f"unix:{path}", f"unix:{path}", True
    if kind == "file":
        path = os.path.join(workdir, "migrate.img")
        return f"file:{path}", f"file:{path}", False
    if kind == "exec":
        path = os.path.join(workdir, "migrate.stream")
        return f"exec:cat > {path}", f"exec:cat {path}", False
    raise ValueError(f"unknown transport {kind}")


def ram_stats(info):
    """The record fields make bench and demo report (docs/benchmarks.rst).
    Feature fields stay None until a feature reports them."""
    ram = info.get("ram", {})
    return {
        "status": info.get("status"),
        "transferred_bytes": ram.get("transferred", 0),
        "transferred_mib": ram.get("transferred", 0) / MIB,
        "total_time_ms": info.get("total-time"),
        "downtime_ms": info.get("downtime"),
        "setup_time_ms": info.get("setup-time"),
        "normal_pages": ram.get("normal", 0),
        "zero_pages": ram.get("duplicate", 0),
        "dirty_sync_count": ram.get("dirty-sync-count"),
        "postcopy_bytes": ram.get("postcopy-bytes"),
        "multifd_bytes": ram.get("multifd-bytes"),
        "xbzrle_pages": info.get("xbzrle-cache", {}).get("pages"),
        "skipped_pages": ram.get(SKIP_STAT),
        "free_bytes_saved": ram.get("__org.qemu-memx_free-bytes-saved"),
        "free_pages_uniform": ram.get("__org.qemu-memx_free-pages-uniform"),
        "free_page_scans": ram.get("__org.qemu-memx_free-page-scans"),
        "free_page_scan_us": ram.get("__org.qemu-memx_free-page-scan-time-us"),
        "free_page_scan_max_us": ram.get("__org.qemu-memx_free-page-scan-max-us"),
        "free_page_scan_bql_us": ram.get("__org.qemu-memx_free-page-scan-bql-us"),
        "skip_blocked": ram.get("__org.qemu-memx_free-page-skip-blocked"),
        "first_pass_bytes": ram.get("__org.qemu-memx_first-pass-bytes"),
        "pattern_pages": ram.get(PATTERN_CAP),
        "pattern_bytes_saved": ram.get("__org.qemu-memx_pattern-bytes-saved"),
        "switchover_guard": info.get("__org.qemu-memx_switchover"),
    }


def destination_pause(info):
    """What the destination's query-migrate says of the pause it saw."""
    p = info.get("__org.qemu-memx_destination-pause")
    if not p:
        return {"dst_pause_ms": None}
    return {"dst_pause_ms": p["pause-us"] / 1000, "dst_pause_pages": p["pages"],
            "dst_pause_return_path": p["return-path"]}


# The true pause: the source's stop of the VM to the destination's start
# of it, from both QEMUs' trace logs (-msg timestamp=on). Both run on this
# machine, so their wall clocks agree. query-migrate's downtime is the
# source's view only.
DOWNTIME_EVENT = "vmstate_downtime_checkpoint"
# MEMX_E2E_TRACE: more events to log, comma-separated (kept with the
# logs of a case that fails)
TRACE = (DOWNTIME_EVENT, "memx_switchover_*", "memx_pause_*",
         *filter(None, os.environ.get("MEMX_E2E_TRACE", "").split(",")))


def true_pause(src, dst, postcopy=False, note=None):
    """true_pause_ms (None if a side logged no checkpoint) and
    true_pause_note (why it is None, or @note, a caveat). A negative pause
    means the logs were misread: that fails the case."""
    stamps = []
    for vm, checkpoint in ((src, "src-vm-stopped"),
                           (dst, "dst-postcopy-bh-vm-started" if postcopy
                            else "dst-precopy-bh-vm-started")):
        ts = [t for t, arg in vm.trace_events(DOWNTIME_EVENT) if arg == checkpoint]
        if not ts:
            why = f"no {DOWNTIME_EVENT} {checkpoint} in its trace log"
            if f"'{DOWNTIME_EVENT}' does not exist" in vm.qemu_log():
                try:
                    v = vm.qmp.cmd("query-version")
                    qemu = (f"QEMU {'{major}.{minor}.{micro}'.format(**v['qemu'])} "
                            f"({v['package']})")
                except Exception:  # noqa: BLE001 - only the note's detail
                    qemu = "its QEMU"
                why = f"{qemu} has no trace event {DOWNTIME_EVENT}"
            return {"true_pause_ms": None, "true_pause_note": f"{vm.name}: {why}"}
        stamps.append(ts[-1])
    ms = round((stamps[1] - stamps[0]) * 1000, 3)
    if ms < 0:
        raise RuntimeError(f"true pause {ms} ms < 0: the destination started the VM "
                           f"before the source stopped it? The trace logs are misread")
    # where the pause went: every checkpoint of both sides, in ms after the stop
    steps = sorted((round((t - stamps[0]) * 1000, 1), arg)
                   for vm in (src, dst) for t, arg in vm.trace_events(DOWNTIME_EVENT)
                   if t >= stamps[0] and t <= stamps[1])
    return {"true_pause_ms": ms, "true_pause_note": note, "pause_steps": steps}


def check_pause_reports(rec, args):
    """--check-pause and --max-pause: what the two QEMUs report of the
    pause, against the true one from their trace logs."""
    if args.check_pause is None and args.max_pause is None:
        return
    true_ms, dst_ms = rec.get("true_pause_ms"), rec.get("dst_pause_ms")
    if true_ms is None or dst_ms is None:
        raise RuntimeError(f"no pause to check: true {true_ms}, destination {dst_ms} "
                           f"({rec.get('true_pause_note')})")
    if args.check_pause is not None:
        for what, ms in (("the destination's reported pause", dst_ms),
                         ("query-migrate's downtime", rec["downtime_ms"])):
            if abs(ms - true_ms) > args.check_pause:
                raise RuntimeError(f"{what} {ms} ms is not within {args.check_pause} ms "
                                   f"of the true pause {true_ms} ms")
    if args.max_pause is not None and dst_ms > args.max_pause:
        raise RuntimeError(f"the destination reports a pause of {dst_ms} ms, over "
                           f"{args.max_pause} ms (true pause {true_ms} ms)")


def fmt_ms(ms):
    """A true pause for a table column: one decimal, or "-" if unknown."""
    return "-" if ms is None else f"{ms:.1f}"


def pause_text(rec):
    if rec.get("true_pause_ms") is None:
        return f"true pause unknown ({rec.get('true_pause_note')})"
    dst = (f", destination saw {rec['dst_pause_ms']:.1f} ms"
           if rec.get("dst_pause_ms") is not None else "")
    return (f"true pause {rec['true_pause_ms']:.1f} ms"
            f"{' (' + rec['true_pause_note'] + ')' if rec.get('true_pause_note') else ''}"
            f"{dst}")


def migration_cpu_seconds(pid):
    """CPU seconds a QEMU process has spent outside its vCPU threads (the
    vCPUs' time is the guest's, not the migration's). Whole-process time
    still counts threads that have exited, such as multifd's."""
    tick = os.sysconf("SC_CLK_TCK")

    def utime_stime(path):
        with open(path) as f:
            stat = f.read()
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        return name, int(fields[11]) + int(fields[12])

    _, total = utime_stime(f"/proc/{pid}/stat")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name, ticks = utime_stime(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        if name.endswith("/TCG") or name.endswith("/KVM"):
            total -= ticks
    return total / tick


def check_skipping(rec, scen, conf, append):
    """What a skip-free migration must have done, from query-migrate."""
    if conf.get("skip_blocked"):
        if rec["skipped_pages"] != 0 or not rec["skip_blocked"]:
            raise RuntimeError(f"expected no skipping and a reason, got "
                               f"{rec['skipped_pages']} skipped, "
                               f"reason {rec['skip_blocked']!r}")
        return
    if rec["skip_blocked"]:
        raise RuntimeError(f"skipping was blocked: {rec['skip_blocked']}")
    if (rec["free_page_scans"] or 0) < conf.get("min_scans", 1):
        raise RuntimeError(f"{rec['free_page_scans']} free-page scans, expected at "
                           f"least {conf.get('min_scans', 1)}")
    freed = any(c.startswith("free-garbage") for c in SCENARIOS[scen]["setup"])
    if "page_poison=1" in append:
        # Every free page holds 0xaa, which the allocator checks: every
        # one must be sent.
        if rec["skipped_pages"] != 0 or not rec["free_pages_uniform"]:
            raise RuntimeError(f"poisoned guest: {rec['skipped_pages']} skipped, "
                               f"{rec['free_pages_uniform']} kept; expected 0 and >0")
    elif "init_on_free=1" in append:
        # Free pages are zero. The first pass may skip them (the
        # destination reads zero there); later passes must send them.
        if not rec["free_pages_uniform"] and not rec["skipped_pages"]:
            raise RuntimeError("init_on_free guest: no free page seen")
    elif freed:
        # Most of what the guest freed must stay behind; the rest is on
        # the guest's per-CPU lists, which the scan cannot see yet.
        freed_mib = sum(int(c.split()[1]) for c in SCENARIOS[scen]["setup"]
                        if c.startswith("free-garbage"))
        skipped_mib = (rec["skipped_pages"] or 0) * 4096 / MIB
        if skipped_mib < 0.5 * freed_mib:
            raise RuntimeError(f"skipped {skipped_mib:.0f} MiB of the "
                               f"{freed_mib} MiB freed, expected at least half")


def expected_free_content(kernel, append):
    """What the guest does to freed pages, from how it was booted: the
    keys are readable where VMCOREINFO locates kallsyms (Linux 6.0+)."""
    known = int(kernel.split(".")[0]) >= 6
    zeroes = known and "init_on_free=1" in append
    poisons = known and "page_poison=1" in append
    return {"known": known, "zeroes": zeroes, "poisons": poisons,
            "content-checked": not known or zeroes or poisons}


def check_free_content(vm, kernel, append):
    """The guest's init_on_free and page poisoning keys as QEMU reads them
    (query-guest-free-pages' free-content) against its command line."""
    got = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages",
                     {"per-cpu-lists": False}).get("free-content")
    want = expected_free_content(kernel, append)
    seen = {k: got.get(k, False) for k in want} if got else None
    if seen != want:
        raise RuntimeError(f"{vm.name}: free-page content state {got}, expected {want}")
    if not want["known"]:
        return f"free pages' content checked: {got.get('reason')}"
    if not want["content-checked"]:
        return "free pages' content not read: the guest neither zeroes nor poisons them"
    return ("free pages' content checked: the guest "
            + " and ".join(w for w, on in (("zeroes", want["zeroes"]),
                                           ("poisons", want["poisons"])) if on)
            + " them")


PAGE = 4096


def elf_ram_segments(path):
    """The PT_LOAD segments of a dump-guest-memory ELF file, as
    (guest-physical address, file offset, size)."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if eh[:4] != b"\x7fELF" or eh[4] != 2:
            raise RuntimeError(f"{path}: not a 64-bit ELF dump")
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segs = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", table, i * phentsize)
        if p_type == 1 and filesz:
            if filesz != memsz:
                raise RuntimeError(f"{path}: a RAM segment is not all in the file")
            segs.append((paddr, off, filesz))
    return segs


def compare_dumps(src_path, dst_path, free_ranges):
    """Compare two guests' RAM page by page. Every page must match,
    except pages inside @free_ranges (sorted (start, end) guest-physical
    runs the source's scan found free). Returns counts and the first
    pages that differ although in use."""
    src_segs, dst_segs = elf_ram_segments(src_path), elf_ram_segments(dst_path)
    if [(a, n) for a, _, n in src_segs] != [(a, n) for a, _, n in dst_segs]:
        raise RuntimeError(f"the dumps map different RAM: {src_segs} vs {dst_segs}")
    starts = [r[0] for r in free_ranges]
    res = {"pages": 0, "differing": 0, "differing_free": 0, "in_use_differing": []}
    chunk = 256 * PAGE
    with open(src_path, "rb") as fs, open(dst_path, "rb") as fd, \
            mmap.mmap(fs.fileno(), 0, access=mmap.ACCESS_READ) as a, \
            mmap.mmap(fd.fileno(), 0, access=mmap.ACCESS_READ) as b:
        for (paddr, soff, size), (_, doff, _) in zip(src_segs, dst_segs):
            res["pages"] += size // PAGE
            for c in range(0, size, chunk):
                n = min(chunk, size - c)
                if a[soff + c:soff + c + n] == b[doff + c:doff + c + n]:
                    continue
                for o in range(c, c + n, PAGE):
                    if a[soff + o:soff + o + PAGE] == b[doff + o:doff + o + PAGE]:
                        continue
                    gpa = paddr + o
                    res["differing"] += 1
                    i = bisect.bisect_right(starts, gpa) - 1
                    if i >= 0 and gpa < free_ranges[i][1]:
                        res["differing_free"] += 1
                    elif len(res["in_use_differing"]) < 4096:
                        res["in_use_differing"].append(gpa)
    return res


def free_ranges_now(vm, per_cpu_lists=True):
    """The free pages QEMU's own scan finds now, as sorted (start, end):
    with per_cpu_lists=False, the buddy allocator's alone."""
    got = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages",
                     {"ranges": True, "per-cpu-lists": per_cpu_lists})
    if not got["available"]:
        raise RuntimeError(f"{vm.name}: free pages unavailable: {got.get('reason')}")
    return [(r["start"], r["start"] + r["length"]) for r in got["free-ranges"]]


def check_same_memory(src, dst, rec, conf, work, log, vmemmap_base):
    """The host-side check that does not trust the guest: the stopped
    source and the still-paused destination (-S) must hold the same bytes
    in every page, except pages the source skipped, each of which must be
    free in the source's final state and counted in its skipped pages.
    A differing page QEMU's scan does not hold free is looked up in the
    source's dump by page_state.py, a reader independent of QEMU's: a page
    in a buddy block, or with no reference (a per-CPU free list, which
    QEMU cannot walk on every kernel), is explained; a page in use is
    lost data. Returns what failed, or None: the caller still has the
    guest verify its data."""
    free = free_ranges_now(src) if SKIP_CAP in conf["caps"] else []
    src_dump, dst_dump = os.path.join(work, "src.elf"), os.path.join(work, "dst.elf")
    states = {}
    try:
        src.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{src_dump}"})
        dst.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{dst_dump}"})
        res = compare_dumps(src_dump, dst_dump, free)
        if res["in_use_differing"]:
            pages = DumpPages(src_dump, rec["kernel"], vmemmap_base)
            try:
                for gpa in res["in_use_differing"]:
                    states[gpa] = pages.state(gpa // PAGE)
            finally:
                pages.close()
    finally:
        for path in (src_dump, dst_dump):
            if os.path.exists(path):
                os.unlink(path)
    skipped = rec["skipped_pages"] or 0
    log(f"# host-side comparison: {res['pages']} pages, {res['differing']} differ "
        f"({res['differing_free']} free at the source; {skipped} reported skipped)")
    lost = [gpa for gpa, st in states.items() if not st.startswith(("buddy", "unreferenced"))]
    for gpa, st in sorted(states.items()):
        log(f"#   differs, not free in QEMU's scan: {gpa:#x}: {st}")
    rec["memory_compared"] = {k: res[k] for k in ("pages", "differing", "differing_free")}
    rec["memory_compared"].update(explained=len(states) - len(lost), lost=len(lost))
    if lost:
        return (f"destination RAM differs from the source's in {len(lost)} pages "
                f"the source held in use: {[hex(g) for g in lost[:8]]}")
    if res["differing"] > skipped:
        return (f"{res['differing']} pages differ but the source reports "
                f"only {skipped} skipped")
    return None


def finish(vms, work, ok, log):
    """Stop the VMs; keep their logs and consoles only when the case failed
    (or MEMX_E2E_KEEP is set)."""
    ok = ok and not os.environ.get("MEMX_E2E_KEEP")
    for vm in vms:
        if vm:
            vm.cleanup(keep=not ok)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"# logs kept in {work}")


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
        vmemmap_base = None
        if args.compare_memory:
            # for page_state.py: the guest's own word, not QEMU's kallsyms
            vmemmap_base = min(guest_kallsyms(src, ["vmemmap_base"]).get(
                "vmemmap_base", {0}))
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
                                              vmemmap_base)
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


def dumpstat_binary():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "build", "cores", "tests", "tools", "memx-dumpstat")


def dump_stats(vm, path):
    """Dump a stopped guest's RAM and classify it with memx-dumpstat."""
    vm.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{path}"})
    try:
        out = subprocess.run([dumpstat_binary(), path], capture_output=True,
                             text=True, check=False)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        raise RuntimeError(f"memx-dumpstat failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def parse_kpagebuddy(reply):
    """The free runs a kpagebuddy reply lists, as (start, end) addresses."""
    fields = dict(f.split("=", 1) for f in reply.split()[2:])
    runs, end = [], 0
    for item in filter(None, fields["list"].split(",")):
        gap, length = (int(x, 16) for x in item.split("+"))
        runs.append(((end + gap) * PAGE, (end + gap + length) * PAGE))
        end += gap + length
    if len(runs) != int(fields["runs"]) or \
            sum(e - s for s, e in runs) // PAGE != int(fields["pages"]):
        raise RuntimeError("the guest's kpagebuddy list is truncated")
    return runs


def first_differences(a, b, n=4):
    """Up to @n runs in one list of runs and not in the other, as text."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    return (f"guest only {[(hex(s), hex(e)) for s, e in only_a[:n]]}, "
            f"QEMU only {[(hex(s), hex(e)) for s, e in only_b[:n]]}")


def introspect(args, log):
    """The VMCOREINFO-driven free-page scan must find exactly the free
    blocks the guest kernel reports: per order against /proc/buddyinfo
    (through the dump tool), and per page against /proc/kpageflags
    (through QEMU's own RAM map, as migration scans it); the per-CPU
    lists' pages, walked through the guest's kallsyms and BTF, must be
    exactly the "count" lines of its /proc/zoneinfo (QEMU and the dump
    tool); and the kallsyms QEMU reads must match /proc/kallsyms."""
    work = tempfile.mkdtemp(prefix="memx-introspect-")
    extra = ["-cpu", args.cpu] if args.cpu else []
    vm = Vm("guest", workdir=os.path.join(work, "vm"), flavour=args.kernel,
            mem=args.mem, boot=args.boot, append=args.append, extra_args=extra,
            smp=args.smp)
    ok = False
    try:
        boot(vm, "freed-garbage" if args.scenario == "idle-fresh" else args.scenario)
        # The guest's lists move a little while it prints; a wrong scan
        # disagrees every time, a moving list only now and then.
        vm.run("freeinfo")      # opens its files once: their buffers stay
        for attempt in range(1, 6):
            if attempt > 1:
                vm.qmp.cmd("cont")
            guest_runs = parse_kpagebuddy(vm.run("kpagebuddy"))
            line = vm.run("freeinfo")
            vm.qmp.cmd("stop")
            buddy = free_ranges_now(vm, per_cpu_lists=False)
            scan = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages")
            log(f"# free pages per page: /proc/kpageflags {len(guest_runs)} runs, "
                f"QEMU's scan {len(buddy)} runs, "
                f"{'the same' if guest_runs == buddy else 'different'}")
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            guest = [int(x) for x in fields["orders"].split(",")]
            guest_pcp = int(fields["pcp"])
            stats = dump_stats(vm, os.path.join(work, "dump.elf"))
            host = stats["free_by_order"]
            buddy_pages = sum(e - s for s, e in buddy) // PAGE
            log(f"# guest /proc/buddyinfo per order: {guest}")
            log(f"# host struct-page scan per order: {host} "
                f"(vmemmap from {stats['vmemmap_source']}, "
                f"{stats['paging_levels']}-level, {stats['buddy_pages']} buddy pages, "
                f"{stats['rejected_blocks']} rejected)")
            log(f"# per-CPU lists: guest /proc/zoneinfo {guest_pcp} pages, QEMU "
                f"{scan.get('pcp-pages')} ({scan.get('pcp-lists')}), dump tool "
                f"{stats['pcp_pages']}; QEMU {scan.get('free-pages')} free pages "
                f"in all, dump tool {stats['free_pages']}")
            if args.pcp_refused:
                # a kernel the walk cannot read: it must say why, and
                # count only the buddy allocator's pages as free
                if args.pcp_refused not in (scan.get("pcp-reason") or ""):
                    raise RuntimeError(f"the per-CPU walk was not refused for "
                                       f"{args.pcp_refused!r}: pcp-reason "
                                       f"{scan.get('pcp-reason')!r}")
                pcp_ok = scan.get("pcp-pages", 0) == stats["pcp_pages"] == 0
            else:
                if scan.get("pcp-reason") or not scan.get("pcp-lists"):
                    raise RuntimeError(f"the per-CPU lists were not walked: "
                                       f"{scan.get('pcp-reason')}")
                pcp_ok = guest_pcp == scan["pcp-pages"] == stats["pcp_pages"]
            if guest == host and guest_runs == buddy and \
                    buddy_pages == stats["buddy_pages"] and pcp_ok and \
                    scan["free-pages"] == stats["free_pages"]:
                break
            log(f"# attempt {attempt} disagrees: {first_differences(guest_runs, buddy)}; "
                f"QEMU {buddy_pages} vs dump tool {stats['buddy_pages']} buddy pages")
        else:
            raise RuntimeError("host scan disagrees with the guest's kpageflags, "
                               "buddyinfo or zoneinfo five times")
        vm.qmp.cmd("cont")
        if args.pcp_refused:
            log(f"# per-CPU walk refused as expected: {scan['pcp-reason']}")
            nsyms = 0
        else:
            nsyms = check_kallsyms(vm, log, args.kernel)
        log(f"# {vm.console[0]}")
        ok = True
        return {"kernel": args.kernel, "boot": args.boot, "verified": True,
                "free_pages": stats["free_pages"], "pcp_pages": stats["pcp_pages"],
                "attempts": attempt,
                "kallsyms_symbols": nsyms}
    finally:
        finish((vm,), work, ok, log)


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
