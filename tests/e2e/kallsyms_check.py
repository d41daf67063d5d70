"""The guest kernel's kallsyms as QEMU reads them from guest RAM
(__org.qemu-memx_query-guest-free-pages, symbols) against the guest's own
/proc/kallsyms, for the symbols the per-CPU free-list walk needs and a
per-CPU one (the absolute-percpu address encoding). Used by run.py's
introspect cases."""

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


def check_kallsyms(vm, log):
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
    log(f"# kallsyms: {info['kallsyms-symbols']} symbols; "
        + ", ".join(f"{s['name']}={hex(s['address']) if 'address' in s else 'absent'}"
                    for s in info["symbols"]) + " (as /proc/kallsyms)")
    return info["kallsyms-symbols"]
