"""The introspection oracle of run.py introspect: QEMU's free-page scan
of a real guest against the guest kernel's own /proc/buddyinfo,
/proc/kpageflags and /proc/zoneinfo, the dump tool, and (kallsyms_check)
its /proc/kallsyms and pahole's reading of its BTF."""

import bisect
import json
import os
import subprocess
import tempfile

from verify import PAGE, free_ranges_now

from kallsyms_check import check_kallsyms, guest_kallsyms
from memxvm import Vm, finish
from page_state import PCP_SYMBOLS, DumpPages
from scenarios import boot


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


def check_page_state_reader(vm, buddy, syms, work, kernel, pcp_count, step=29):
    """The host-side memory comparison explains differing pages with
    page_state.py; it must see the stopped guest's buddy pages exactly
    as QEMU's scan did (@buddy, runs), on every @step-th page, and its
    own walk of the per-CPU lists must find @pcp_count pages (the guest's
    /proc/zoneinfo). Returns the pages sampled."""
    path = os.path.join(work, "state.elf")
    vm.qmp.cmd("dump-guest-memory", {"paging": False, "protocol": f"file:{path}"})
    starts = [s for s, _ in buddy]
    pages = DumpPages(path, kernel, syms["vmemmap_base"])
    try:
        pcp = pages.pcp_pages(kernel, syms)
        if len(pcp) != pcp_count:
            raise RuntimeError(f"page_state.py's walk finds {len(pcp)} pages on the "
                               f"per-CPU lists, the guest's zoneinfo {pcp_count}")
        n = 0
        for gpa in range(0, pages.segs[-1][0] + pages.segs[-1][2], step * PAGE):
            try:
                pages.read_pa(gpa, 1)
            except KeyError:
                continue                # a hole in guest RAM
            i = bisect.bisect_right(starts, gpa) - 1
            qemu_free = i >= 0 and gpa < buddy[i][1]
            state = pages.state(gpa // PAGE)
            if state.startswith("buddy") != qemu_free:
                raise RuntimeError(f"page_state.py says {gpa:#x} is {state!r}, "
                                   f"QEMU's buddy scan {'free' if qemu_free else 'not free'}")
            n += 1
        return n
    finally:
        pages.close()
        os.unlink(path)


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
        syms = {k: min(v) for k, v in
                guest_kallsyms(vm, ["vmemmap_base"] + PCP_SYMBOLS).items()}
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
        sampled = check_page_state_reader(vm, buddy, syms, work, args.kernel, guest_pcp)
        log(f"# page_state.py (the memory comparison's own reader) agrees with "
            f"QEMU's buddy scan on {sampled} sampled pages, and its per-CPU "
            f"walk with the guest's zoneinfo: {guest_pcp} pages")
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
