#!/bin/bash
# Builds the qemu-memx test guests from Debian packages ('make guest').
#
# For each kernel flavour, at the version pinned in tests/guest/KERNELS:
#   6.1    bookworm's linux-image-amd64
#   6.12   bookworm-backports' linux-image-amd64
# it downloads the kernel package with 'apt-get download' (cached outside
# the clone, never installed on the host), unpacks it with dpkg-deb, and
# writes OUT/<flavour>/:
#   bzImage           the Debian vmlinuz (KASLR boots through SeaBIOS)
#   vmlinux           its uncompressed ELF kernel (fast PVH boot)
#   initramfs.cpio    busybox-static + init.sh + memx-workload + modules,
#                     virtio_tmem.ko built for that kernel (guest-driver/linux)
#   kernel-release    e.g. 6.12.95+deb12-amd64
# A flavour is rebuilt only when its inputs change (stamp file).
#
# Usage: tests/guest/build.sh OUT [FLAVOUR...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
driver=$here/../../guest-driver/linux
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }

out=$(realpath -m "$1"); shift
flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(6.12 6.1)
cache=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/guest
mkdir -p "$cache" "$out"

# Modules each flavour needs, in dependency order. 6.12 has virtio and
# virtio_pci built in; its 9p modules serve tests/numa/nested.py (init.sh's
# memx.chroot mode: the host's root filesystem over virtio-9p).
modules_6_1="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
virtio_balloon qemu_fw_cfg virtio_console virtio_blk"
modules_6_12="virtio_balloon qemu_fw_cfg netfs 9pnet 9pnet_virtio 9p virtio_blk"
# Modules copied into /modules but loaded only by the tests that use
# them (the swap bench's zram). virtio_tmem.ko itself is built for each
# kernel from guest-driver/linux (build-debian.sh).
extra_6_1="zsmalloc zram"
extra_6_12="lz4_compress lz4hc_compress zram"

for tool in busybox cpio dpkg-deb apt-get xz zstd gcc; do
    command -v "$tool" >/dev/null || [ -x "/bin/$tool" ] ||
        die "$tool not found: run ./configure (it installs the guest build tools)"
done
busybox=/bin/busybox
file "$busybox" 2>/dev/null | grep -q 'statically linked' ||
    die "$busybox is not static: install Debian's busybox-static"

# The workload is shared by all flavours.
workload=$out/memx-workload
if [ ! -x "$workload" ] || [ "$here/memx-workload.c" -nt "$workload" ]; then
    gcc -O2 -static -pthread -Wall -Wextra -Werror -o "$workload.tmp" \
        "$here/memx-workload.c" || die "cannot build the static guest workload"
    mv "$workload.tmp" "$workload"
fi
kexec=$out/memx-kexec
if [ ! -x "$kexec" ] || [ "$here/memx-kexec.c" -nt "$kexec" ]; then
    gcc -O2 -static -Wall -Wextra -Werror -o "$kexec.tmp" \
        "$here/memx-kexec.c" || die "cannot build the static kexec helper"
    mv "$kexec.tmp" "$kexec"
fi

# The pinned package=version of flavour $1 (tests/guest/KERNELS), or, if
# apt no longer has that version, the newest one with a loud warning.
kernel_package() {
    local target=() pkg ver newest
    [ "$1" = 6.12 ] && target=(-t bookworm-backports)
    read -r pkg ver < <(awk -v f="$1" '$1 == f { print $2, $3 }' "$here/KERNELS")
    if [ -n "$pkg" ] && apt-cache madison "$pkg" 2>/dev/null |
            awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | grep -qxF "$ver"; then
        echo "$pkg=$ver"
        return
    fi
    newest=$(apt-cache depends "${target[@]}" linux-image-amd64 2>/dev/null |
             awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$newest" ] || return 0
    echo "qemu-memx: WARNING: guest kernel $pkg $ver (tests/guest/KERNELS) is" \
         "no longer in the archive; using $newest instead. Update the pin." >&2
    echo "$newest"
}

for fl in "${flavours[@]}"; do
    case $fl in
    6.1) mods=$modules_6_1; extra=$extra_6_1; rel=bookworm; target_suffix= ;;
    6.12) mods=$modules_6_12; extra=$extra_6_12; rel=bookworm-backports
          target_suffix=/bookworm-backports ;;
    *) die "unknown guest flavour '$fl' (have: 6.1 6.12)" ;;
    esac
    spec=$(kernel_package "$fl")
    [ -n "$spec" ] || die "apt knows no linux-image-amd64 for $rel; is the \
bookworm-backports entry present (./configure adds it) and apt-get update done?"
    pkg=${spec%%=*}
    ver=${spec#*=}
    [ "$ver" != "$spec" ] || ver=
    # a .deb file name carries the version with ':' as '%3a'
    deb=$(ls "$cache/${pkg}_${ver:+${ver//:/%3a}_}"*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        note "downloading $pkg ${ver:-(newest)} ($rel)"
        what=$pkg${target_suffix:-}
        [ -z "$ver" ] || what=$pkg=$ver
        (cd "$cache" && apt-get download -q "$what" >"$cache/download.log" 2>&1) || {
            tail -n 5 "$cache/download.log" >&2
            die "apt-get download $pkg failed"
        }
        deb=$(ls "$cache/${pkg}_"*.deb | head -n1)
    fi
    dir=$out/$fl
    stamp=$(cat "$deb.sha256" 2>/dev/null || sha256sum "$deb" | tee "$deb.sha256")
    stamp=$(printf '%s\n' "$stamp" "$mods" "$extra" |
            cat - "$here/init.sh" "$here/build.sh" "$workload" "$kexec" \
                "$driver"/Kbuild "$driver"/*.[ch] "$driver"/build-debian.sh |
            sha256sum | cut -d' ' -f1)
    if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ]; then
        continue
    fi
    note "building guest $fl from $(basename "$deb")"
    tmp=$(mktemp -d)
    dpkg-deb -x "$deb" "$tmp/pkg"
    krel=$(ls "$tmp/pkg/lib/modules")
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$tmp/pkg/boot/vmlinuz-$krel" "$dir/bzImage"
    "$here/extract-vmlinux.py" "$dir/bzImage" "$dir/vmlinux"

    root=$tmp/root
    mkdir -p "$root"/{bin,proc,sys,dev,modules}
    cp "$busybox" "$root/bin/busybox"
    cp "$workload" "$root/bin/memx-workload"
    cp "$kexec" "$root/bin/memx-kexec"
    install -m 0755 "$here/init.sh" "$root/init"
    : > "$root/modules/order"
    for m in $mods $extra; do
        f=$(find "$tmp/pkg/lib/modules/$krel" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
        [ -n "$f" ] || die "module $m not found in $pkg"
        case $f in
        *.xz) xz -dc "$f" > "$root/modules/$m.ko" ;;
        *) cp "$f" "$root/modules/$m.ko" ;;
        esac
        case " $extra " in
        *" $m "*) ;;
        *) echo "$m" >> "$root/modules/order" ;;
        esac
    done
    "$driver/build-debian.sh" "$root/modules/virtio_tmem.ko" "$krel" \
        "$(dpkg-deb -f "$deb" Version)" || die "cannot build virtio_tmem.ko for $krel"
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$dir/initramfs.cpio"
    echo "$krel" > "$dir/kernel-release"
    rm -rf "$tmp"
    echo "$stamp" > "$dir/stamp"
done
