#!/usr/bin/env python3
"""Write seed inputs for fuzz-guest-freepages into DIR: small synthetic
guests (64-byte header + RAM) whose page tables map a struct page array
with a few free buddy blocks, so the fuzzer starts from a guest the scan
accepts and mutates from there.  Usage: make-seeds.py DIR"""
import os
import struct
import sys

VMEMMAP = 0xffffea0000000000


def guest(levels, buddy_word, top_byte):
    ram = bytearray(64 * 1024)            # 16 pages
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
    hdr = bytearray(64)
    hdr[0] = (1 if levels == 5 else 0) | 2 | (4 if top_byte else 0)
    hdr[5], hdr[6], hdr[7] = 4, 12, 5     # SIZE(page)=64, offsets 48 / 40
    struct.pack_into("<Q", hdr, 8, tables[0])     # init_top_pgt - kernel map
    struct.pack_into("<Q", hdr, 24, VMEMMAP)
    hdr[40] = 10
    struct.pack_into("<I", hdr, 44, buddy_word)
    return bytes(hdr + ram)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for levels in (4, 5):
        for word, top in ((0xf0000000, True), (0xffffff7f, False)):
            with open(os.path.join(out, f"seed-l{levels}-{word:08x}"), "wb") as f:
                f.write(guest(levels, word, top))


if __name__ == "__main__":
    main()
