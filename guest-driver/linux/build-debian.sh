#!/bin/bash
# Builds virtio_tmem.ko for one Debian kernel from Debian's own header
# packages, without installing them on the host:
#   linux-headers-<release>       (the flavour's config, Module.symvers)
#   linux-headers-<abi>-common    (the headers and Makefiles)
#   linux-kbuild-<version>        (the build tools)
# are fetched with 'apt-get download' (cached outside the clone) and
# unpacked with 'dpkg -x'. The -amd64 package's Makefile includes the
# -common tree by an absolute /usr/src path; the unpacked copy points it
# at the unpacked tree instead. Built with gcc-12, as Debian's kernels
# are.
#
# Usage: guest-driver/linux/build-debian.sh OUT.ko RELEASE VERSION
#   e.g. build-debian.sh out/virtio_tmem.ko 6.1.0-57-amd64 6.1.192-3
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "qemu-memx: error: $*" >&2; exit 1; }

[ $# = 3 ] || die "usage: $0 OUT.ko RELEASE VERSION"
out=$(realpath -m "$1")
release=$2
version=$3
cache=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/kernel-headers
command -v gcc-12 >/dev/null || die "gcc-12 not found: run ./configure"

headers=linux-headers-$release
# The -common and kbuild package names, from the headers package itself.
deps=$(apt-cache show "$headers=$version" 2>/dev/null | sed -n 's/^Depends: //p' |
       head -n1 | tr ',' '\n' | sed 's/^ *//; s/ .*//')
common=$(grep -E '^linux-headers-.*-common' <<<"$deps" | head -n1 || true)
kbuild=$(grep -E '^linux-kbuild-' <<<"$deps" | head -n1 || true)
[ -n "$common" ] && [ -n "$kbuild" ] ||
    die "apt knows no $headers=$version (or its dependencies); apt-get update?"

tree=$cache/$release-$version
if [ ! -f "$tree/.unpacked" ]; then
    rm -rf "$tree"
    mkdir -p "$tree/debs"
    (cd "$tree/debs" &&
     apt-get download -q "$headers=$version" "$common=$version" "$kbuild=$version" \
        >"$tree/download.log" 2>&1) || {
        tail -n 5 "$tree/download.log" >&2
        die "apt-get download of the $release headers failed"
    }
    for deb in "$tree"/debs/*.deb; do
        dpkg -x "$deb" "$tree/root"
    done
    rm -rf "$tree/debs"
    sed -i "s|^include /usr/src/|include $tree/root/usr/src/|" \
        "$tree/root/usr/src/$headers/Makefile"
    touch "$tree/.unpacked"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/Kbuild "$here"/*.c "$here"/*.h "$work/"
# No module BTF: it needs pahole and the kernel's vmlinux, and nothing
# reads it.
make -s -C "$tree/root/usr/src/$headers" M="$work" CC=gcc-12 \
    CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    die "virtio_tmem.ko does not build for $release"
}
grep -aqF "vermagic=$release " "$work/virtio_tmem.ko" ||
    die "virtio_tmem.ko was built with the wrong vermagic (want $release)"
mkdir -p "$(dirname "$out")"
cp "$work/virtio_tmem.ko" "$out"
