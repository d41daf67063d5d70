"""What a page of a stopped guest was, read from its memory dump by a
reader that shares nothing with QEMU's introspection: the struct page
layout comes from pahole (the guest image's BTF), the address of
vmemmap_base from the guest's own /proc/kallsyms, and addresses are
translated by walking the guest's page tables here, in Python.

Used by run.py's host-side memory comparison to explain every page that
differs between source and destination although QEMU did not hold it
free: a page in a free buddy block, a page with no reference that is not
in a buddy block (on a per-CPU free list, or being freed), or a page in
use, with its flags and counts. Only the last is lost data.
"""

import mmap
import os
import re
import struct
import subprocess

from memxvm import guest_dir

KERNEL_MAP = 0xffffffff80000000
PAGE = 4096
MAX_ORDER = 10


def elf_segments_and_note(path):
    """RAM segments (paddr, file offset, size) and the VMCOREINFO note's
    text of a dump-guest-memory ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        segs, note = [], ""
        for i in range(phnum):
            p_type, _, off, _, paddr, filesz, _, _ = struct.unpack_from(
                "<IIQQQQQQ", table, i * phentsize)
            if p_type == 1 and filesz:
                segs.append((paddr, off, filesz))
            elif p_type == 4:
                f.seek(off)
                data, pos = f.read(filesz), 0
                while pos + 12 <= len(data):
                    namesz, descsz, _ = struct.unpack_from("<III", data, pos)
                    pos += 12
                    name = data[pos:pos + namesz].rstrip(b"\0")
                    pos += (namesz + 3) & ~3
                    desc = data[pos:pos + descsz]
                    pos += (descsz + 3) & ~3
                    if name == b"VMCOREINFO":
                        note = desc.rstrip(b"\0").decode(errors="replace")
    return segs, note


def page_layout(kernel):
    """struct page's size and the offsets read here, from pahole."""
    vmlinux = os.path.join(guest_dir(kernel), "vmlinux")
    out = subprocess.run(["pahole", "-F", "btf", "-C", "page", vmlinux],
                         capture_output=True, text=True, check=True).stdout
    lay = {}
    # the word whose bit 0 marks a compound page's tail (7.1 renamed it)
    m = re.search(r"\scompound_(?:head|info);\s*/\*\s*(\d+)", out)
    if not m:
        raise RuntimeError(f"pahole shows no page.compound_head or compound_info "
                           f"in {vmlinux}")
    lay["compound"] = int(m.group(1))
    for member in ("flags", "private", "_mapcount", "_refcount"):
        m = re.search(rf"\s{member};\s*/\*\s*(\d+)", out)
        if not m:
            raise RuntimeError(f"pahole shows no page.{member} in {vmlinux}")
        lay[member] = int(m.group(1))
    lay["size"] = int(re.search(r"/\* size: (\d+),", out).group(1))
    # the list_head a per-CPU list links pages by: pcp_list (6.1+), lru
    m = (re.search(r"\spcp_list;\s*/\*\s*(\d+)", out) or
         re.search(r"\slru;\s*/\*\s*(\d+)", out))
    lay["pcp_list"] = int(m.group(1))
    return lay


# The symbols the per-CPU walk below needs, from the guest's /proc/kallsyms.
PCP_SYMBOLS = ["__per_cpu_offset", "nr_cpu_ids", "node_data", "nr_node_ids",
               "contig_page_data"]


def pcp_layout(kernel):
    """Where the per-CPU free lists are, from pahole: struct zone's
    pointer to them (per_cpu_pageset from 5.14, before that pageset,
    whose struct per_cpu_pageset holds struct per_cpu_pages as pcp),
    zone size and present_pages, pglist_data.node_zones, and the lists in
    struct per_cpu_pages."""
    vmlinux = os.path.join(guest_dir(kernel), "vmlinux")
    body = {}
    for name in ("zone", "per_cpu_pages", "per_cpu_pageset", "pglist_data"):
        # one at a time: pahole stops at a struct the kernel lacks
        out = subprocess.run(["pahole", "-F", "btf", "-C", name, vmlinux],
                             capture_output=True, text=True).stdout
        m = re.search(r"^struct \w+ \{\n(.*?)^\}", out, re.S | re.M)
        if m:
            body[name] = m.group(1)

    def offset(struct, member, kind=r"[\w\s\*]+?"):
        m = re.search(rf"{kind}\s\**{member}(?:\[(\d+)\])?;\s*/\*\s*(\d+)",
                      body.get(struct, ""))
        return (int(m.group(2)), int(m.group(1) or 1)) if m else (None, None)

    lay = {"zone_size": int(re.search(r"/\* size: (\d+),", body["zone"]).group(1))}
    lay["present"], _ = offset("zone", "present_pages")
    lay["pageset"], _ = offset("zone", "per_cpu_pageset")
    lay["pcp_in_pageset"] = 0
    if lay["pageset"] is None:              # before 5.14
        lay["pageset"], _ = offset("zone", "pageset")
        lay["pcp_in_pageset"], _ = offset("per_cpu_pageset", "pcp")
    lay["node_zones"], lay["nr_zones"] = offset("pglist_data", "node_zones")
    lay["lists"], lay["nr_lists"] = offset("per_cpu_pages", "lists")
    if None in lay.values():
        raise RuntimeError(f"pahole does not show the per-CPU lists' layout in {vmlinux}")
    return lay


def pcp_list_order(index, nr_lists):
    """The order of the blocks on list @index: the kernel's constant
    layout (mm/page_alloc.c), stated here for the test only. Before 5.14
    one list per migrate type (3), all order 0; since, 3 per order up to
    PAGE_ALLOC_COSTLY_ORDER (3), then the THP lists (order 9 on x86-64)."""
    if nr_lists == 3:
        return 0
    return index // 3 if index < 12 else 9


def page_flag_names(kernel):
    """Bit number -> name of enum pageflags, from pahole (the first name
    of each bit below __NR_PAGEFLAGS)."""
    vmlinux = os.path.join(guest_dir(kernel), "vmlinux")
    out = subprocess.run(["pahole", "-F", "btf", "-C", "pageflags", vmlinux],
                         capture_output=True, text=True).stdout
    names = {}
    for name, value in re.findall(r"(PG_\w+|__NR_PAGEFLAGS)\s*=\s*(\d+)", out):
        if name == "__NR_PAGEFLAGS":
            break
        names.setdefault(int(value), name[3:])
    return names


def content_class(data):
    """'zero', 'pattern' (one repeated 8-byte value) or 'data'."""
    if not data.strip(b"\0"):
        return "zero"
    return "pattern" if data == data[:8] * (len(data) // 8) else "data"


class DumpRam:
    """Guest-physical reads from a dump-guest-memory ELF file."""

    def __init__(self, dump_path):
        self.segs, note = elf_segments_and_note(dump_path)
        self.info = dict(line.split("=", 1) for line in note.splitlines()
                         if "=" in line)
        self.file = open(dump_path, "rb")
        self.mem = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self):
        self.mem.close()
        self.file.close()

    def read_pa(self, pa, n):
        for paddr, off, size in self.segs:
            if paddr <= pa and pa + n <= paddr + size:
                return self.mem[off + pa - paddr:off + pa - paddr + n]
        raise KeyError(f"guest-physical {pa:#x} is not in the dump")


class DumpPages(DumpRam):
    """The struct pages of a stopped guest's dump."""

    def __init__(self, dump_path, kernel, vmemmap_base_va):
        super().__init__(dump_path)
        self.layout = page_layout(kernel)
        self.flag_names = page_flag_names(kernel)
        phys_base = int(self.info.get("NUMBER(phys_base)", "0")) & (2**64 - 1)
        self.cr3 = (int(self.info["SYMBOL(init_top_pgt)"], 16) - KERNEL_MAP
                    + phys_base) & (2**64 - 1)
        self.l5 = self.info.get("NUMBER(pgtable_l5_enabled)") == "1"
        buddy = int(self.info["NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"]) & 0xffffffff
        self.buddy = buddy
        self.vmemmap = struct.unpack("<Q", self.read_va(vmemmap_base_va, 8))[0]

    def translate(self, va):
        table = self.cr3 & ~0xfff
        shifts = (48, 39, 30, 21, 12) if self.l5 else (39, 30, 21, 12)
        for level, shift in enumerate(shifts):
            entry, = struct.unpack("<Q", self.read_pa(table + ((va >> shift) & 511) * 8, 8))
            if not entry & 1:
                raise KeyError(f"{va:#x} is not mapped")
            frame = entry & 0x000ffffffffff000
            if shift in (21, 30) and entry & 0x80:        # 2 MiB or 1 GiB leaf
                return (frame & ~((1 << shift) - 1)) | (va & ((1 << shift) - 1))
            if shift == 12:
                return frame | (va & 0xfff)
            table = frame

    def read_va(self, va, n):
        return self.read_pa(self.translate(va), n)

    def page(self, pfn):
        """(flags, private, mapcount, refcount, tail) of frame @pfn."""
        lay = self.layout
        raw = self.read_va(self.vmemmap + pfn * lay["size"], lay["size"])
        return (struct.unpack_from("<Q", raw, lay["flags"])[0],
                struct.unpack_from("<Q", raw, lay["private"])[0],
                struct.unpack_from("<I", raw, lay["_mapcount"])[0],
                struct.unpack_from("<i", raw, lay["_refcount"])[0],
                struct.unpack_from("<Q", raw, lay["compound"])[0] & 1)

    def is_buddy(self, mapcount):
        if self.buddy & 0xffffff == 0:          # 6.12+: type in the top byte
            return mapcount >> 24 == self.buddy >> 24
        # older: PAGE_TYPE_BASE with the type's bit cleared
        bit = ~self.buddy & 0xffffffff
        return mapcount & (0xf0000000 | bit) == 0xf0000000

    def state(self, pfn, pcp=None):
        """The page's state at the source, as one phrase; the first word is
        'buddy', 'pcp' (in @pcp, from pcp_pages()), 'unreferenced' or
        'in-use'."""
        if pcp and pfn in pcp:
            return f"pcp: on a per-CPU free list, in an order-{pcp[pfn]} block"
        for order in range(MAX_ORDER + 1):
            head = pfn & ~((1 << order) - 1)
            try:
                _, private, mapcount, _, _ = self.page(head)
            except KeyError:
                break
            if self.is_buddy(mapcount) and private <= MAX_ORDER and \
                    pfn < head + (1 << private):
                return f"buddy: in a free order-{private} block at pfn {head:#x}"
        try:
            flags, private, mapcount, refcount, tail = self.page(pfn)
        except KeyError as e:
            return f"unknown: {e}"
        if tail:
            # a tail's refcount is 0: the compound page's is its head's
            return f"in-use: a tail page of a compound page; {self.flags_text(flags)}"
        if refcount == 0:
            return (f"unreferenced: refcount 0, not in a buddy block (a per-CPU "
                    f"free list, or being freed); {self.flags_text(flags)}")
        return (f"in-use: {self.flags_text(flags)}, refcount {refcount}, mapcount "
                f"{mapcount - 2**32 if mapcount >= 2**31 else mapcount}, "
                f"private {private:#x}")

    def flags_text(self, flags):
        """The page's flags, with the names of the bits below the node and
        zone fields (which sit in the top bits)."""
        names = [self.flag_names[b] for b in sorted(self.flag_names) if flags >> b & 1]
        return f"flags {flags:#x} ({','.join(names) or 'none'})"

    def u64(self, va):
        return struct.unpack("<Q", self.read_va(va, 8))[0]

    def u32(self, va):
        return struct.unpack("<I", self.read_va(va, 4))[0]

    def pcp_pages(self, kernel, syms):
        """{pfn: order of its block} of every page on a per-CPU free list
        of the stopped guest, walked here: every node, every populated
        zone, every CPU below nr_cpu_ids, each list from its head. @syms:
        name -> address of PCP_SYMBOLS, from the guest's /proc/kallsyms."""
        lay = pcp_layout(kernel)
        mask = 2**64 - 1
        offsets = [self.u64(syms["__per_cpu_offset"] + 8 * c)
                   for c in range(self.u32(syms["nr_cpu_ids"]))]
        if syms.get("node_data") and syms.get("nr_node_ids"):
            nodes = [self.u64(syms["node_data"] + 8 * n)
                     for n in range(self.u32(syms["nr_node_ids"]))]
        else:
            nodes = [syms["contig_page_data"]]
        pages = {}
        for pgdat in filter(None, nodes):
            for z in range(lay["nr_zones"]):
                zone = pgdat + lay["node_zones"] + z * lay["zone_size"]
                if not self.u64(zone + lay["present"]):
                    continue
                pageset = self.u64(zone + lay["pageset"])
                for pcp in {(pageset + off + lay["pcp_in_pageset"]) & mask
                            for off in offsets}:
                    for index in range(lay["nr_lists"]):
                        head = pcp + lay["lists"] + 16 * index
                        order = pcp_list_order(index, lay["nr_lists"])
                        entry, steps = self.u64(head), 0
                        while entry != head:
                            steps += 1
                            if steps > 1 << 20:
                                raise RuntimeError(f"per-CPU list at {head:#x} does not end")
                            pfn = (entry - self.layout["pcp_list"] - self.vmemmap) \
                                // self.layout["size"]
                            for p in range(pfn, pfn + (1 << order)):
                                pages[p] = order
                            entry = self.u64(entry)
        return pages
