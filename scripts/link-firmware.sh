#!/bin/bash
# Makes firmware resolvable for the emulator.
#
# qemu-memx does not ship firmware: BIOS and VGA BIOS come from Debian's
# seabios package, NIC boot ROMs from ipxe-qemu, and the x86 option ROMs
# (pvh.bin, linuxboot_dma.bin, multiboot_dma.bin, kvmvapic.bin) are built
# from pc-bios/optionrom by the QEMU build.  The firmware path compiled in
# is PREFIX/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu.
#
#   link-firmware.sh QEMU_BUILD PREFIX
#       uninstalled build: an emulator run from QEMU_BUILD looks for each
#       firmware directory D under QEMU_BUILD/qemu-bundle/D; link them.
#   link-firmware.sh QEMU_BUILD PREFIX --install [DESTDIR]
#       installed: copy the option ROMs to DESTDIR/PREFIX/share/qemu.
set -euo pipefail

die() { echo "qemu-memx: error: $*" >&2; exit 1; }
qb=$(realpath "$1")
prefix=$2
mode=${3:-}
destdir=${4:-}

roms=()
for r in "$qb"/pc-bios/optionrom/*.bin; do
    [ -f "$r" ] && roms+=("$r")
done
[ ${#roms[@]} -gt 0 ] || die "no option ROMs were built in $qb/pc-bios/optionrom \
(pvh.bin etc.); is gcc-multilib installed? Re-run ./configure."
for need in /usr/share/seabios/bios-256k.bin /usr/lib/ipxe/qemu/efi-virtio.rom; do
    [ -f "$need" ] || die "$need is missing: install Debian's seabios and ipxe-qemu packages"
done

if [ "$mode" = --install ]; then
    install -d "$destdir$prefix/share/qemu"
    install -m 0644 "${roms[@]}" "$destdir$prefix/share/qemu/"
    exit 0
fi

bundle=$qb/qemu-bundle
for d in /usr/share/seabios /usr/lib/ipxe/qemu; do
    mkdir -p "$bundle$(dirname "$d")"
    ln -sfn "$d" "$bundle$d"
done
mkdir -p "$bundle$prefix/share/qemu"
for r in "${roms[@]}"; do
    ln -sfn "$r" "$bundle$prefix/share/qemu/$(basename "$r")"
done
