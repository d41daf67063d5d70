#!/usr/bin/env python3
"""Extract the uncompressed ELF vmlinux from an x86 bzImage.

The bzImage boot header says where the compressed kernel payload starts
(setup_sects at 0x1f1, payload_offset at 0x248, payload_length at 0x24c;
see Documentation/arch/x86/boot.rst).  The payload is decompressed with
the matching host tool (xz, zstd, gzip).  The result boots through QEMU's
PVH entry (-kernel vmlinux), which skips the in-guest decompression.

Usage: extract-vmlinux.py BZIMAGE OUTPUT
"""
import struct
import subprocess
import sys

DECOMPRESSORS = [
    (b"\xfd7zXZ\x00", ["xz", "-dc", "--single-stream"]),
    (b"\x28\xb5\x2f\xfd", ["zstd", "-dcq"]),
    (b"\x1f\x8b\x08", ["gzip", "-dc"]),
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        sys.exit(f"{sys.argv[1]}: not an x86 bzImage")
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start:start + payload_length]
    if len(payload) != payload_length:
        sys.exit(f"{sys.argv[1]}: payload runs past the end of the file")
    for magic, cmd in DECOMPRESSORS:
        if payload.startswith(magic):
            out = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            # Trailing size words after the stream make some tools
            # complain; the ELF check below decides.
            if out.stdout[:4] != b"\x7fELF":
                sys.exit(f"{sys.argv[1]}: {cmd[0]} did not yield an ELF "
                         f"kernel: {out.stderr.decode(errors='replace')}")
            with open(sys.argv[2], "wb") as f:
                f.write(out.stdout)
            return
    sys.exit(f"{sys.argv[1]}: unknown payload compression {payload[:4].hex()}")


if __name__ == "__main__":
    main()
