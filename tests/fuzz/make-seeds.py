#!/usr/bin/env python3
"""Write seed inputs for a libFuzzer target into DIR.

make-seeds.py DIR: for fuzz-guest-freepages, small synthetic guests
(2-byte length, VMCOREINFO text, RAM) whose page tables map a struct page
array with a few free buddy blocks, so the fuzzer starts from a guest the
parser and the scan accept and mutates from there.

make-seeds.py DIR pcp: for fuzz-pcp, a header, the BTF of a Debian
6.12-like kernel and a guest with per-CPU lists of every kind; and the
same guest with every CPU's and node's lists aliased (see
tests/fuzz/fuzz-pcp.c).

make-seeds.py DIR kallsyms: for fuzz-kallsyms, a 56-byte header of table
addresses and a small kernel image holding a valid kallsyms table in both
address encodings (see tests/fuzz/fuzz-kallsyms.c).

make-seeds.py DIR tmem: for fuzz-tmem, request sequences in its input
format (see tests/fuzz/fuzz-tmem.c) that create pools of each kind, put,
get and flush pages until the small store evicts, and mix in host
actions, scattered buffers and raw headers."""
import os
import struct
import sys

VMEMMAP = 0xffffea0000000000


def guest(levels, buddy_word, top_byte, vmemmap=VMEMMAP, extra=(), pages=16):
    ram = bytearray(pages * 4096)
    tables = [0x1000 + i * 0x1000 for i in range(levels)]
    memmap = 0x1000 + levels * 0x1000
    va = VMEMMAP
    shifts = [48, 39, 30, 21, 12][5 - levels:]
    for i, shift in enumerate(shifts):
        idx = (va >> shift) & 511
        if i + 1 < len(shifts):
            entry = tables[i + 1] | 1
        else:
            entry = memmap | 1
        struct.pack_into("<Q", ram, tables[i] + idx * 8, entry)
    for pfn in range(16):                  # in use by default
        struct.pack_into("<I", ram, memmap + pfn * 64 + 48, 0xffffffff)
    for pfn, order in ((8, 2), (12, 1), (14, 0)):
        struct.pack_into("<I", ram, memmap + pfn * 64 + 48, buddy_word)
        struct.pack_into("<Q", ram, memmap + pfn * 64 + 40, order)
    buddy = buddy_word if buddy_word < 0x80000000 else buddy_word - (1 << 32)
    lines = [
        "OSRELEASE=6.12.0-seed",
        "PAGESIZE=4096",
        f"SYMBOL(init_top_pgt)={0xffffffff80000000 + tables[0]:x}",
        "NUMBER(phys_base)=0",
        f"NUMBER(pgtable_l5_enabled)={1 if levels == 5 else 0}",
        f"SYMBOL(vmemmap)={vmemmap:x}",
        "NUMBER(SECTION_SIZE_BITS)=27",
        "SIZE(page)=64",
        "OFFSET(page._mapcount)=48",
        "OFFSET(page.private)=40",
        "LENGTH(zone.free_area)=11",
        f"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)={buddy}",
    ]
    if not top_byte:                      # 6.1 style: the tables too
        lines += ["SYMBOL(mem_section)=ffff888000010000",
                  "LENGTH(mem_section)=4096", "SIZE(mem_section)=32",
                  "OFFSET(mem_section.section_mem_map)=0"]
    lines += extra
    note = ("\n".join(lines) + "\n").encode()
    return struct.pack("<H", len(note)) + note + bytes(ram)


# fuzz-tmem input: a request is 7 bytes, cmd (bit 0: client, bits 1-3:
# op 0 NEW_POOL 1 DESTROY_POOL 2 PUT 3 GET 4 FLUSH_PAGE 5 FLUSH_OBJECT,
# 6 odd op, 7 raw header) then pool, object, index, flags, content (<64:
# a pattern page, else random data) and shape (low 4 bits < 10: well
# formed; 0x10: through iovecs).  A byte with bit 7 set is a host action
# (bits 1-3) with one argument byte.
NEW_POOL, DESTROY, PUT, GET, FLUSH_PAGE, FLUSH_OBJECT, ODD_OP, RAW = range(8)
RESET, RESIZE, CLIENT_QUOTA, POOL_QUOTA, MIGRATE, REPLUG, CHECK = range(7)


def req(op, client=0, pool=0, obj=1, idx=0, flags=0, content=0x80, shape=0):
    return bytes([op << 1 | client, pool, obj, idx, flags, content, shape])


def host(action, client=0, arg=0):
    return bytes([0x80 | action << 1 | client, arg])


def raw_put(pool, obj, idx):
    hdr = struct.pack("<II3QII16s", 3, pool, obj, 0, 0, idx, 0, bytes(16))
    return req(RAW, content=0x90) + hdr


def tmem_seeds():
    s = {}
    s["persistent"] = (req(NEW_POOL, flags=1) + req(PUT, idx=2) +
                       req(GET, idx=2) + req(PUT, idx=3, content=5) +
                       req(FLUSH_PAGE, idx=2) + req(GET, idx=2) +
                       req(GET, idx=3) + req(FLUSH_OBJECT) +
                       req(GET, idx=3) + req(DESTROY))
    s["ephemeral-evict"] = (req(NEW_POOL) + req(NEW_POOL, client=1) +
                            b"".join(req(PUT, obj=i % 5, idx=i,
                                         content=0x40 + i)
                                     for i in range(30)) +
                            b"".join(req(GET, obj=i % 5, idx=i)
                                     for i in range(30)))
    s["shared"] = (req(NEW_POOL, flags=2 | 1 << 2) +
                   req(NEW_POOL, client=1, flags=2 | 1 << 2) +
                   req(NEW_POOL, flags=2 | 1 << 2) +
                   req(PUT, obj=2, idx=1) + req(GET, pool=1, obj=2, idx=1) +
                   req(GET, obj=2, idx=1) + req(DESTROY) +
                   req(GET, pool=1, obj=2, idx=1))
    s["host"] = (req(NEW_POOL, flags=1) + req(NEW_POOL) +
                 req(NEW_POOL, client=1, flags=1) +
                 b"".join(req(PUT, pool=i % 2, obj=3, idx=i, content=i * 9)
                          for i in range(20)) +
                 req(PUT, client=1, idx=4) +
                 host(MIGRATE) + host(RESIZE, arg=10) +
                 host(CLIENT_QUOTA, client=1, arg=1) +
                 host(POOL_QUOTA, arg=3) + host(CHECK) +
                 host(RESET, client=1) + host(REPLUG) + host(RESIZE, arg=39))
    s["iov"] = (req(NEW_POOL, flags=1, shape=0x10) +
                req(PUT, obj=0x11, idx=0x40, shape=0x10) +
                req(GET, obj=0x11, idx=0x40, shape=0x10) +
                req(GET, obj=0x11, idx=0x41, shape=0x10) +
                req(PUT, obj=1, idx=2, shape=0x1b) +
                req(GET, obj=1, idx=2, shape=0x1a))
    s["hostile"] = (req(NEW_POOL, flags=1) +
                    req(PUT, shape=10) + req(PUT, shape=11) +
                    req(PUT, shape=12) + req(GET, shape=13) +
                    req(GET, shape=14) + req(PUT, shape=15) +
                    req(ODD_OP, flags=7) + req(PUT, pool=0xff) +
                    b"".join(req(NEW_POOL, flags=i & 3) for i in range(10)) +
                    raw_put(0, 1, 5) + req(GET, idx=5))
    return s


def kallsyms_seed(absolute_percpu):
    """A kernel image with a kallsyms table at fixed places, encoded as
    scripts/kallsyms does: token 0 is "ab", token t the character t."""
    base = 0xffffffff81000000
    syms = [("T", "_stext", base), ("D", "__per_cpu_offset", base + 0x1a01000),
            ("A", "fixed_percpu_data", 0), ("d", "abababx", base + 0x1b00000),
            ("t", "x" * 200, base + 0x234560), ("B", "nr_cpu_ids", base + 0x2000040)]
    pa = {"num": 0x0, "base": 0x8, "tindex": 0x100, "ttable": 0x400,
          "offsets": 0x1000, "names": 0x1100}
    ram = bytearray(0x3000)
    struct.pack_into("<I", ram, pa["num"], len(syms))
    struct.pack_into("<Q", ram, pa["base"], base)
    pos = pa["ttable"]
    index = [0]
    ram[pos:pos + 3] = b"ab\0"
    pos += 3
    for t in range(1, 256):
        index.append(pos - pa["ttable"])
        ram[pos:pos + 2] = bytes([t, 0])
        pos += 2
    struct.pack_into("<256H", ram, pa["tindex"], *index)
    npos = pa["names"]
    for i, (typ, name, addr) in enumerate(syms):
        if absolute_percpu:
            off = addr if addr < base else -(addr - base) - 1
        else:
            off = (addr - base) & 0xffffffff
            off = off - (1 << 32) if off >= 1 << 31 else off
        struct.pack_into("<i", ram, pa["offsets"] + 4 * i, off)
        full, toks, j = typ + name, [], 0
        while j < len(full):
            if full[j:j + 2] == "ab":
                toks.append(0)
                j += 2
            else:
                toks.append(ord(full[j]))
                j += 1
        head = bytes([len(toks)]) if len(toks) < 0x80 else \
            bytes([0x80 | (len(toks) & 0x7f), len(toks) >> 7])
        ram[npos:npos + len(head) + len(toks)] = head + bytes(toks)
        npos += len(head) + len(toks)
    header = struct.pack("<7Q", pa["num"], pa["base"], pa["tindex"], pa["ttable"],
                         pa["offsets"], pa["names"], base)
    return header + bytes(ram)


class Btf:
    """A BTF blob as the kernel's .BTF section holds it (little-endian,
    version 1): the types in order, ids from 1, then the strings."""
    INT, PTR, ARRAY, STRUCT, UNION, ENUM = 1, 2, 3, 4, 5, 6

    def __init__(self):
        self.types, self.strings = [], bytearray(b"\0")

    def name(self, s):
        if not s:
            return 0
        self.strings += s.encode() + b"\0"
        return len(self.strings) - len(s) - 1

    def add(self, kind, name, vlen, size_or_type, tail=b""):
        self.types.append(struct.pack("<III", self.name(name),
                                      kind << 24 | vlen, size_or_type) + tail)
        return len(self.types)

    def int(self, name, size):
        return self.add(self.INT, name, 0, size,
                        struct.pack("<I", 1 << 24 | size * 8))  # signed

    def array(self, elem, index, nelems):
        return self.add(self.ARRAY, None, 0, 0,
                        struct.pack("<III", elem, index, nelems))

    def struct(self, name, size, members, kind=STRUCT):
        """members: (name, type id, byte offset)"""
        tail = b"".join(struct.pack("<III", self.name(n), t, off * 8)
                        for n, t, off in members)
        return self.add(kind, name, len(members), size, tail)

    def enum(self, name, values):
        tail = b"".join(struct.pack("<Ii", self.name(n), v) for n, v in values)
        return self.add(self.ENUM, name, len(values), 4, tail)

    def raw(self):
        types = b"".join(self.types)
        return struct.pack("<HBBIIIII", 0xeb9f, 1, 0, 24, 0, len(types),
                           len(types), len(self.strings)) + types + \
            bytes(self.strings)


def btf_612():
    """The structs the walk reads, as Debian's 6.12 lays them out (what
    tests/unit/fake-btf.h builds with libbpf for the unit tests)."""
    b = Btf()
    int_t, long_t = b.int("int", 4), b.int("long", 8)
    list_t = b.struct("list_head", 16, [("next", long_t, 0),
                                        ("prev", long_t, 8)])
    atomic_t = b.struct("atomic_t", 4, [("counter", int_t, 0)])
    lru = b.struct(None, 16, [("lru", list_t, 0)])
    pcp_list = b.struct(None, 16, [("pcp_list", list_t, 0)])
    union = b.struct(None, 16, [(None, lru, 0), (None, pcp_list, 0)],
                     Btf.UNION)
    b.struct("page", 64, [("flags", long_t, 0), (None, union, 8),
                          ("_mapcount", atomic_t, 48),
                          ("_refcount", atomic_t, 52)])
    lists = b.array(list_t, int_t, 14)
    pcp = b.struct("per_cpu_pages", 256, [("count", int_t, 0),
                                          ("lists", lists, 32)])
    pcp_ptr = b.add(Btf.PTR, None, 0, pcp)
    area = b.array(long_t, int_t, 11 * 13)
    zone = b.struct("zone", 1536, [("per_cpu_pageset", pcp_ptr, 112),
                                   ("zone_start_pfn", long_t, 152),
                                   ("spanned_pages", long_t, 160),
                                   ("present_pages", long_t, 168),
                                   ("free_area", area, 256)])
    zones = b.array(zone, int_t, 5)
    b.struct("pglist_data", 5 * 1536 + 64, [("node_zones", zones, 0)])
    b.enum("migratetype", [("MIGRATE_UNMOVABLE", 0), ("MIGRATE_MOVABLE", 1),
                           ("MIGRATE_RECLAIMABLE", 2),
                           ("MIGRATE_PCPTYPES", 3)])
    return b.raw()


def pcp_seed(aliased=False):
    """For fuzz-pcp: the header (BTF length, SIZE(page) 64,
    OFFSET(page._mapcount) 48, default limits), the BTF, and what the
    harness copies to guest-physical 0x8000 on: two CPUs, one node whose
    zone 1 holds all 512 pfns, and per-CPU lists of order 0, order 1 and
    THP blocks, linked as the kernel links them (see tests/fuzz/fuzz-pcp.c
    for the fixed places).  @aliased: eight CPUs all at CPU 0's offset and
    eight nodes all naming the one pg_data_t."""
    data_gpa, kva = 0x8000, lambda gpa: 0xffffffff80000000 + gpa
    vmemmap_gpa, pgdat, pcpu, pageset = 0x10000, 0x9000, 0xb000, 0x100
    ram = bytearray(0x18000)

    def u32(gpa, v):
        struct.pack_into("<I", ram, gpa, v)

    def u64(gpa, v):
        struct.pack_into("<Q", ram, gpa, v)

    def rd(gpa):
        return struct.unpack_from("<Q", ram, gpa)[0]

    cpus, nodes = (8, 8) if aliased else (2, 1)
    u32(data_gpa, cpus)                     # nr_cpu_ids
    u64(data_gpa + 0x8, (1 << cpus) - 1)    # __cpu_possible_mask
    for cpu in range(cpus):
        u64(data_gpa + 0x10 + 8 * cpu,
            kva(pcpu + 0x400 * (0 if aliased else cpu)) - pageset)
    u32(data_gpa + 0x50, nodes)             # nr_node_ids
    for node in range(nodes):
        u64(data_gpa + 0x58 + 8 * node, kva(pgdat))     # node_data[]
    for z in range(3):
        zone = pgdat + 1536 * z
        u64(zone + 112, pageset)
        u64(zone + 152, 0)
        u64(zone + 160, 512)
        u64(zone + 168, 512 if z == 1 else 0)
    for cpu in range(2):
        for i in range(14):
            head = pcpu + 0x400 * cpu + 32 + 16 * i
            u64(head, kva(head))
            u64(head + 8, kva(head))

    def append(cpu, index, pfn, pages):
        pcp = pcpu + 0x400 * cpu
        head = pcp + 32 + 16 * index
        entry = 0xffffea0000000000 + vmemmap_gpa + 64 * pfn + 8
        last = rd(head + 8)
        u64(vmemmap_gpa + 64 * pfn + 8, kva(head))
        u64(vmemmap_gpa + 64 * pfn + 16, last)
        if last == kva(head):
            u64(head, entry)
        else:
            u64(last - 0xffffea0000000000, entry)
        u64(head + 8, entry)
        u32(pcp, struct.unpack_from("<I", ram, pcp)[0] + pages)

    append(0, 0, 100, 1)
    append(0, 0, 101, 1)
    append(0, 3, 200, 2)
    append(0, 12, 0, 512)
    append(1, 1, 300, 1)
    btf = btf_612()
    header = struct.pack("<6H", len(btf), 64, 48, 0, 0, 0)
    return header + btf + bytes(ram[data_gpa:])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    if sys.argv[2:] == ["pcp"]:
        for name, aliased in (("lists", False), ("aliased", True)):
            with open(os.path.join(out, f"seed-{name}"), "wb") as f:
                f.write(pcp_seed(aliased))
        return
    if sys.argv[2:] == ["kallsyms"]:
        for absolute in (True, False):
            with open(os.path.join(out, f"seed-{'abs' if absolute else 'plain'}"),
                      "wb") as f:
                f.write(kallsyms_seed(absolute))
        return
    if sys.argv[2:] == ["tmem"]:
        for name, data in tmem_seeds().items():
            with open(os.path.join(out, f"seed-{name}"), "wb") as f:
                f.write(data)
        return
    for levels in (4, 5):
        for word, top in ((0xf0000000, True), (0xffffff7f, False)):
            with open(os.path.join(out, f"seed-l{levels}-{word:08x}"), "wb") as f:
                f.write(guest(levels, word, top))
    # Regressions: a vmemmap off SIZE(page) once made the scan spin, and
    # an 8 KiB mem_section entry next to SYMBOL(vmemmap) divided by zero.
    with open(os.path.join(out, "seed-misaligned-vmemmap"), "wb") as f:
        f.write(guest(4, 0xf0000000, True, vmemmap=VMEMMAP + 32, pages=64))
    with open(os.path.join(out, "seed-mem-section-8k"), "wb") as f:
        f.write(guest(4, 0xf0000000, True, extra=(
            "SYMBOL(mem_section)=ffff888000010000", "LENGTH(mem_section)=1",
            "SIZE(mem_section)=8192", "OFFSET(mem_section.section_mem_map)=0")))


if __name__ == "__main__":
    main()
