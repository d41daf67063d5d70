"""The guest kernel's kallsyms as QEMU reads them from guest RAM
(__org.qemu-memx_query-guest-free-pages, symbols) against the guest's own
/proc/kallsyms, for the symbols the per-CPU free-list walk needs and a
per-CPU one (the absolute-percpu address encoding); and the per-CPU
lists' layout QEMU takes from the guest's BTF against what is known of
Debian's images (facts for this test only: the code reads them from BTF).
Used by run.py's introspect cases."""

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


# zone.per_cpu_pageset, per_cpu_pages.lists, lists, list size, sizeof(page)
DEBIAN_PCP_LAYOUT = {"6.1": (104, 24, 14, 16, 64), "6.12": (112, 32, 14, 16, 64)}


def check_pcp_layout(info, kernel):
    lay = info.get("pcp-layout")
    if not lay:
        raise RuntimeError(f"no per-CPU list layout from the guest's BTF: "
                           f"{info.get('btf-reason')}")
    got = (lay["zone-per-cpu-pageset"], lay["pcp-lists"], lay["pcp-nr-lists"],
           lay["pcp-list-size"], lay["page-size"])
    if got != DEBIAN_PCP_LAYOUT[kernel]:
        raise RuntimeError(f"BTF layout {got} is not Debian {kernel}'s "
                           f"{DEBIAN_PCP_LAYOUT[kernel]}")
    return f"BTF {info['btf-bytes']} bytes: pageset at {got[0]}, {got[2]} lists at {got[1]}"


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
