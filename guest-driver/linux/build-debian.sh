#!/bin/bash
# Builds virtio_tmem.ko for one Debian kernel from Debian's own header
# packages, without installing anything on the host. Two ways, chosen by
# the compiler the headers package asks for (gcc-12 for bookworm's 6.1
# and 6.12, gcc-14 for trixie's 7.x):
#
# - The host has that compiler: the header packages
#     linux-headers-<release>       (the flavour's config, Module.symvers)
#     linux-headers-<abi>-common    (the headers and Makefiles)
#     linux-kbuild-<version>        (the build tools)
#   are fetched with 'apt-get download' (cached outside the clone) and
#   unpacked with 'dpkg -x'. The -amd64 package's Makefile includes the
#   -common tree by an absolute /usr/src path; the unpacked copy points
#   it at the unpacked tree instead.
# - It does not (a kernel of a newer Debian release, whose build tools
#   also need a newer C library): a minimal chroot of that release is
#   made with debootstrap (cached), the headers package is installed in
#   it with apt, with the compiler it depends on, and the module is built
#   there, as a Debian user of that release builds one.
#
# The apt entries come from tests/guest/guest-apt.sh, derived from the
# machine's own.
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
guest_apt() { "$here/../../tests/guest/guest-apt.sh" "$@"; }

headers=linux-headers-$release
# The -common and kbuild package names, and the compiler, from the
# headers package itself.
deps=$(guest_apt apt-cache show "$headers=$version" 2>/dev/null | sed -n 's/^Depends: //p' |
       head -n1 | tr ',' '\n' | sed 's/^ *//; s/ .*//')
common=$(grep -E '^linux-headers-.*-common' <<<"$deps" | head -n1 || true)
kbuild=$(grep -E '^linux-kbuild-' <<<"$deps" | head -n1 || true)
[ -n "$common" ] && [ -n "$kbuild" ] ||
    die "apt knows no $headers=$version (or its dependencies); apt-get update?"
cc=$(grep -oE 'gcc-[0-9]+' <<<"$deps" | head -n1 || true)
[ -n "$cc" ] || die "$headers=$version names no gcc-N compiler"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/Kbuild "$here"/*.c "$here"/*.h "$work/"

finish() {
    grep -aqF "vermagic=$release " "$1" ||
        die "virtio_tmem.ko was built with the wrong vermagic (want $release)"
    mkdir -p "$(dirname "$out")"
    cp "$1" "$out"
    exit 0
}

if ! command -v "$cc" >/dev/null; then
    # A chroot of the kernel's own Debian release (trixie for
    # trixie-backports), made once and kept in the cache.
    suite=$(guest_apt suite "$headers" "$version")
    [ -n "$suite" ] || die "no suite serves $headers=$version"
    release_suite=${suite%%-*}
    uri=$(guest_apt mirror "$suite")
    root=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/chroot-$release_suite
    command -v debootstrap >/dev/null || die "debootstrap not found: run ./configure"
    [ "$(id -u)" = 0 ] || die "building virtio_tmem.ko for $release needs $cc, which \
this host lacks; making a $release_suite chroot for it needs root"
    if [ ! -f "$root/.ready" ]; then
        rm -rf "$root"
        echo "qemu-memx: making a $release_suite chroot for $cc (debootstrap)" >&2
        debootstrap --variant=minbase "$release_suite" "$root" "$uri" \
            >"$work/debootstrap.log" 2>&1 || {
            tail -n 10 "$work/debootstrap.log" >&2
            die "debootstrap $release_suite failed"
        }
        touch "$root/.ready"
    fi
    {
        echo "deb $uri $release_suite main"
        [ "$suite" = "$release_suite" ] || echo "deb $uri $suite main"
    } > "$root/etc/apt/sources.list"
    in_root() {
        unshare -m sh -c 'mount --bind /dev "$0/dev" && mount -t proc proc "$0/proc" &&
                          exec chroot "$0" "$@"' "$root" "$@"
    }
    if ! in_root dpkg-query -W -f='${Version}' "$headers" 2>/dev/null |
            grep -qxF "$version"; then
        in_root apt-get update -q >"$work/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q \
            --no-install-recommends make binutils "$headers=$version" \
            >>"$work/apt.log" 2>&1 || {
            tail -n 10 "$work/apt.log" >&2
            die "cannot install $headers=$version in the $release_suite chroot"
        }
    fi
    rm -rf "$root/build"
    cp -r "$work" "$root/build"
    in_root make -s -C "/usr/src/$headers" M=/build CONFIG_DEBUG_INFO_BTF_MODULES= \
        modules >"$work/build.log" 2>&1 || {
        cat "$work/build.log" >&2
        die "virtio_tmem.ko does not build for $release (in the $release_suite chroot)"
    }
    finish "$root/build/virtio_tmem.ko"
fi

tree=$cache/$release-$version
if [ ! -f "$tree/.unpacked" ]; then
    rm -rf "$tree"
    mkdir -p "$tree/debs"
    (cd "$tree/debs" &&
     guest_apt apt-get download "$headers=$version" "$common=$version" "$kbuild=$version" \
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

# No module BTF: it needs pahole and the kernel's vmlinux, and nothing
# reads it.
make -s -C "$tree/root/usr/src/$headers" M="$work" CC="$cc" \
    CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    die "virtio_tmem.ko does not build for $release"
}
finish "$work/virtio_tmem.ko"
