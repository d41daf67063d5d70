#!/bin/sh
# Build hotset.elf, the PVH test guest of the nested NUMA test
# (tests/numa/hotset-guest.c), with Debian's gcc in 32-bit mode.
# Usage: tests/numa/build-hotset.sh OUTDIR   ->  OUTDIR/hotset.elf
# Rebuilds only when the source, linker script or this script is newer.
#
# SPDX-License-Identifier: GPL-2.0-or-later
# Copyright (c) 2026 qemu-memx developers

set -eu

die() {
    echo "build-hotset.sh: error: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"

src_dir=$(cd "$(dirname "$0")" && pwd) || die "cannot find the script's folder"
src="$src_dir/hotset-guest.c"
lds="$src_dir/hotset.ld"
out_dir=$1
out="$out_dir/hotset.elf"
cc=${CC:-gcc}

for f in "$src" "$lds"; do
    [ -f "$f" ] || die "missing input $f"
done
mkdir -p "$out_dir" || die "cannot create $out_dir"

if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$lds" ] &&
   [ "$out" -nt "$0" ]; then
    echo "build-hotset.sh: $out is up to date"
    exit 0
fi

command -v "$cc" >/dev/null 2>&1 ||
    die "compiler '$cc' not found (apt-get install gcc gcc-multilib)"

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# -mgeneral-regs-only: the guest never enables SSE/x87 (CR4.OSFXSR is off).
# -fno-tree-loop-distribute-patterns: no calls to memset/memcpy (no libc).
if ! "$cc" -m32 -march=i686 -mgeneral-regs-only \
        -ffreestanding -nostdlib -static -fno-pic -no-pie \
        -fno-stack-protector -fno-asynchronous-unwind-tables \
        -fno-tree-loop-distribute-patterns -fcf-protection=none \
        -O2 -Wall -Wextra -Werror \
        -Wl,-T,"$lds" -Wl,--build-id=none -Wl,-z,noexecstack \
        -Wl,--no-warn-rwx-segments \
        -o "$tmp" "$src"; then
    die "compiling $src failed (is gcc-multilib installed for -m32?)"
fi

# QEMU boots the ELF through PVH only if it carries the Xen PHYS32_ENTRY
# note; check it is there when readelf is available.
if command -v readelf >/dev/null 2>&1; then
    readelf -n "$tmp" | grep -q 'Xen.*(0x00000012)' ||
        die "$tmp has no Xen PVH entry note (type 18)"
fi

mv -f "$tmp" "$out" || die "cannot write $out"
trap - EXIT
echo "build-hotset.sh: built $out"
