"""What the e2e tests check after a migration: the bytes pattern pages
must save, what skip-free must have done, the guest's free-page content
state, the true pause against what QEMU reports, and the host-side
comparison of the source's and destination's RAM (with page_state.py
explaining every page that differs)."""

import bisect
import mmap
import os
import struct

from configs import MIB, SKIP_CAP
from page_state import DumpPages, DumpRam, content_class
from scenarios import SCENARIOS


# Guest console lines that mean the guest saw its memory go wrong.
GUEST_ALARMS = ("memory corruption", "BUG:", "Kernel panic", "general protection")


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


def check_same_memory(src, dst, rec, conf, work, log, guest_syms):
    """The host-side check that does not trust the guest: the stopped
    source and the still-paused destination (-S) must hold the same bytes
    in every page, except pages the source skipped, each of which must be
    free in the source's final state and counted in its skipped pages.

    Free means free in QEMU's final scan; where QEMU cannot walk the
    per-CPU lists (pcp-reason: a kernel without kallsyms in VMCOREINFO),
    also on a per-CPU list as page_state.py walks them in the source's
    dump, a reader independent of QEMU's (@guest_syms: the guest's own
    /proc/kallsyms addresses). Any other page that differs is printed
    with its state at the source: in a buddy block, on a per-CPU list,
    unreferenced (being freed), or in use with its flags and counts. A
    page in use is lost data. Returns what failed, or None: the caller
    still has the guest verify its own data."""
    free, pcp_refused = [], None
    if SKIP_CAP in conf["caps"]:
        got = src.qmp.cmd("__org.qemu-memx_query-guest-free-pages", {"ranges": True})
        if not got["available"]:
            raise RuntimeError(f"source: free pages unavailable: {got.get('reason')}")
        free = [(r["start"], r["start"] + r["length"]) for r in got["free-ranges"]]
        pcp_refused = got.get("pcp-reason")
    src_dump, dst_dump = os.path.join(work, "src.elf"), os.path.join(work, "dst.elf")
    states, pcp = {}, {}
    try:
        src.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{src_dump}"})
        dst.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{dst_dump}"})
        pages = DumpPages(src_dump, rec["kernel"], guest_syms["vmemmap_base"])
        dst_ram = DumpRam(dst_dump)
        try:
            if pcp_refused:
                pcp = pages.pcp_pages(rec["kernel"], guest_syms)
                free = merge_runs(free + [(p * PAGE, (p + 1) * PAGE) for p in pcp])
            res = compare_dumps(src_dump, dst_dump, free)
            for gpa in res["in_use_differing"]:
                states[gpa] = (f"{pages.state(gpa // PAGE, pcp)}; holds "
                               f"{content_class(pages.read_pa(gpa, PAGE))} here, "
                               f"{content_class(dst_ram.read_pa(gpa, PAGE))} on "
                               f"the destination")
        finally:
            pages.close()
            dst_ram.close()
    finally:
        for path in (src_dump, dst_dump):
            if os.path.exists(path):
                os.unlink(path)
    skipped = rec["skipped_pages"] or 0
    log(f"# host-side comparison: {res['pages']} pages, {res['differing']} differ "
        f"({res['differing_free']} free at the source"
        f"{f', the per-CPU lists walked by page_state.py ({len(pcp)} pages)' if pcp_refused else ''}"
        f"; {skipped} reported skipped)")
    lost = [gpa for gpa, st in states.items()
            if not st.startswith(("buddy", "pcp", "unreferenced"))]
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


def merge_runs(runs):
    """Sorted, merged (start, end) runs."""
    out = []
    for start, end in sorted(runs):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
