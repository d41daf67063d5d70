"""The guest kernel's kallsyms as QEMU reads them from guest RAM
(__org.qemu-memx_query-guest-free-pages, symbols) against the guest's own
/proc/kallsyms, for the symbols the per-CPU free-list walk needs and a
per-CPU one (the absolute-percpu address encoding); and the per-CPU
lists' layout QEMU takes from the guest's BTF against what pahole, a
reader independent of QEMU's, finds in the same kernel's vmlinux (the
image tests/guest/build.sh extracted). Used by run.py's introspect
cases."""

import os
import re
import subprocess

from memxvm import guest_dir

SYMBOLS = ["_stext", "__per_cpu_offset", "__cpu_possible_mask", "nr_cpu_ids",
           "__start_BTF", "__stop_BTF", "node_data", "contig_page_data",
           "__per_cpu_start", "init_top_pgt"]


def guest_kallsyms(vm, names):
    """name -> set of addresses, from the guest's /proc/kallsyms (kernel
    symbols only, addresses unhidden)."""
    pattern = "|".join(names)
    # MEMX-""KSYM: the console echoes the command, which must not match
    vm.send("sh echo 0 > /proc/sys/kernel/kptr_restrict && "
            f"grep -wE '{pattern}' /proc/kallsyms | sed \"s/^/MEMX-\"\"KSYM /\"")
    found = {}
    while True:
        line = vm.expect("MEMX-", 60)
        if line.startswith("MEMX-OK sh"):
            return found
        fields = line.split()
        if fields[0] == "MEMX-KSYM" and len(fields) == 4:    # no [module]
            found.setdefault(fields[3], set()).add(int(fields[1], 16))


def pahole_layout(kernel):
    """(zone.per_cpu_pageset, per_cpu_pages.lists, number of lists,
    sizeof(list_head), sizeof(page)) of guest kernel @kernel, as pahole
    reads them from its vmlinux's BTF."""
    vmlinux = os.path.join(guest_dir(kernel), "vmlinux")
    try:
        out = subprocess.run(["pahole", "-F", "btf", "-C",
                              "zone,per_cpu_pages,list_head,page", vmlinux],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(f"pahole cannot read {vmlinux}'s BTF ({e}): "
                           "install Debian's dwarves (./configure does)")
    structs = {}
    for m in re.finditer(r"^struct (\w+) \{\n(.*?)^\}", out, re.S | re.M):
        structs[m.group(1)] = m.group(2)

    def size(name):
        m = re.search(r"/\* size: (\d+),", structs.get(name, ""))
        if not m:
            raise RuntimeError(f"pahole printed no struct {name} for {vmlinux}")
        return int(m.group(1))

    pageset = re.search(r"\*\s*per_cpu_pageset;\s*/\*\s*(\d+)", structs.get("zone", ""))
    lists = re.search(r"struct list_head\s+lists\[(\d+)\];\s*/\*\s*(\d+)",
                      structs.get("per_cpu_pages", ""))
    if not pageset or not lists:
        raise RuntimeError(f"pahole shows no zone.per_cpu_pageset or "
                           f"per_cpu_pages.lists in {vmlinux}")
    return (int(pageset.group(1)), int(lists.group(2)), int(lists.group(1)),
            size("list_head"), size("page"))


def check_pcp_layout(info, kernel):
    lay = info.get("pcp-layout")
    if not lay:
        raise RuntimeError(f"no per-CPU list layout from the guest's BTF: "
                           f"{info.get('btf-reason')}")
    got = (lay["zone-per-cpu-pageset"], lay["pcp-lists"], lay["pcp-nr-lists"],
           lay["pcp-list-size"], lay["page-size"])
    want = pahole_layout(kernel)
    if got != want:
        raise RuntimeError(f"QEMU's BTF layout {got} is not what pahole reads "
                           f"in the {kernel} image: {want}")
    return (f"BTF {info['btf-bytes']} bytes: pageset at {got[0]}, {got[2]} lists "
            f"at {got[1]}, as pahole reads the image")


def check_kallsyms(vm, log, kernel):
    info = vm.qmp.cmd("__org.qemu-memx_query-guest-free-pages", {"symbols": SYMBOLS})
    if "kallsyms-symbols" not in info:
        raise RuntimeError(f"QEMU could not read the guest's kallsyms: "
                           f"{info.get('kallsyms-reason')}")
    guest = guest_kallsyms(vm, SYMBOLS)
    if not guest.get("_stext") or 0 in guest["_stext"]:
        raise RuntimeError(f"the guest hides its kallsyms addresses: {guest}")
    for sym in info["symbols"]:
        want = guest.get(sym["name"], set())
        got = sym.get("address")
        if (got is None) != (not want) or (got is not None and got not in want):
            raise RuntimeError(f"kallsyms {sym['name']}: QEMU read "
                               f"{'none' if got is None else hex(got)}, the guest has "
                               f"{sorted(hex(a) for a in want) or 'none'}")
    log(f"# {check_pcp_layout(info, kernel)}")
    log(f"# kallsyms: {info['kallsyms-symbols']} symbols; "
        + ", ".join(f"{s['name']}={hex(s['address']) if 'address' in s else 'absent'}"
                    for s in info["symbols"]) + " (as /proc/kallsyms)")
    return info["kallsyms-symbols"]
