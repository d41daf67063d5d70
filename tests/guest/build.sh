#!/bin/bash
# Builds the qemu-memx test guests from Debian packages ('make guest').
#
# Each line of tests/guest/KERNELS is one guest kernel: a flavour name, the
# Debian suite, and the pinned linux-image package and version. For each,
# this script downloads the packages with 'apt-get download' through a
# private apt (tests/guest/guest-apt.sh: the host's apt is never touched,
# nothing is installed), unpacks them with dpkg-deb, and writes
# OUT/<flavour>/:
#   bzImage           the Debian vmlinuz (KASLR boots through SeaBIOS)
#   vmlinux           its uncompressed ELF kernel (fast PVH boot)
#   initramfs.cpio    busybox-static + init.sh + memx-workload + modules,
#                     virtio_tmem.ko built for that kernel (guest-driver/linux)
#   kernel-release    e.g. 6.12.95+deb12-amd64
# The package layout differs between Debian releases, and the script takes
# it from the packages themselves:
#   - up to 6.x, linux-image-<release> holds the kernel, its config and
#     its modules under /lib/modules; from 7.x it is a metapackage whose
#     exact-version dependencies (linux-binary-, linux-modules-,
#     linux-base-<release>) hold them under /usr/lib/modules;
#   - which of the modules the tests need are built in, and which other
#     modules they need first, comes from modules.builtin and from the
#     modules.dep that depmod writes for the unpacked tree.
# A flavour is rebuilt only when its inputs change (stamp file).
#
# Usage: tests/guest/build.sh OUT [FLAVOUR...]   (default: every KERNELS line)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
driver=$here/../../guest-driver/linux
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }
guest_apt() { "$here/guest-apt.sh" "$@"; }

out=$(realpath -m "$1"); shift
flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || mapfile -t flavours < <(awk '!/^#/ && NF { print $1 }' "$here/KERNELS")
cache=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/guest
mkdir -p "$cache" "$out"

# The modules every guest loads at boot (init.sh), and those copied in for
# the tests that load them (zram: the swap bench). Names, not paths: a
# module the kernel builds in is skipped, and dependencies are added.
# The 9p modules serve tests/numa/nested.py (init.sh's memx.chroot mode:
# the host's root filesystem over virtio-9p).
boot_modules="virtio_pci virtio_balloon qemu_fw_cfg virtio_console virtio_blk
9pnet_virtio 9p"
zram_modules="lz4_compress lz4hc_compress zram"

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

# The pinned "suite package version" of flavour $1 (tests/guest/KERNELS),
# or, if apt no longer has that version, the newest linux-image of that
# suite, with a loud warning.
kernel_package() {
    local suite pkg ver newest meta
    read -r suite pkg ver < <(awk -v f="$1" '!/^#/ && $1 == f { print $2, $3, $4 }' \
                              "$here/KERNELS")
    [ -n "$pkg" ] || die "unknown guest flavour '$1' (tests/guest/KERNELS has: \
$(awk '!/^#/ && NF { printf "%s ", $1 }' "$here/KERNELS"))"
    if guest_apt apt-cache madison "$pkg" |
            awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | grep -qxF "$ver"; then
        echo "$suite $pkg $ver"
        return
    fi
    meta=$(guest_apt apt-cache madison linux-image-amd64 |
           awk -F'|' -v s=" $suite/main" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
    [ -n "$meta" ] || die "apt knows no linux-image-amd64 in $suite"
    newest=$(guest_apt apt-cache depends "linux-image-amd64=$meta" |
             awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$newest" ] || die "cannot tell the newest kernel of $suite"
    echo "qemu-memx: WARNING: guest kernel $pkg $ver (tests/guest/KERNELS) is" \
         "no longer in the archive; using $newest $meta instead. Update the pin." >&2
    echo "$suite $newest $meta"
}

# The packages that make up kernel package $1 at version $2: itself and
# those of its dependencies pinned to exactly that version (7.x's split).
kernel_debs() {
    echo "$1"
    guest_apt apt-cache show "$1=$2" | sed -n 's/^Depends: //p' | head -n1 |
        tr ',' '\n' | awk -v v="(= $2)" '{ if (NF == 3 && $2 " " $3 == v) print $1 }'
}

# The file of package $1 at version $2 in the cache, downloaded if need be.
cached_deb() {
    local f
    # a .deb file name carries the version with ':' as '%3a'
    f=$(ls "$cache/${1}_${2//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$f" ]; then
        note "downloading $1 $2"
        (cd "$cache" && guest_apt apt-get download "$1=$2" >"$cache/download.log" 2>&1) || {
            tail -n 5 "$cache/download.log" >&2
            die "apt-get download $1=$2 failed"
        }
        f=$(ls "$cache/${1}_${2//:/%3a}_"*.deb | head -n1)
    fi
    echo "$f"
}

# Copy module $2 (path relative to module directory $1) to $3, uncompressed.
copy_module() {
    case $2 in
    *.xz) xz -dc "$1/$2" > "$3" ;;
    *.zst) zstd -qdc "$1/$2" > "$3" ;;
    *.gz) gzip -dc "$1/$2" > "$3" ;;
    *) cp "$1/$2" "$3" ;;
    esac
}

for fl in "${flavours[@]}"; do
    read -r suite pkg ver < <(kernel_package "$fl")
    debs=()
    for p in $(kernel_debs "$pkg" "$ver"); do
        debs+=("$(cached_deb "$p" "$ver")")
    done
    dir=$out/$fl
    stamp=$(for deb in "${debs[@]}"; do
                cat "$deb.sha256" 2>/dev/null || sha256sum "$deb" | tee "$deb.sha256"
            done)
    stamp=$(printf '%s\n' "$stamp" "$boot_modules" "$zram_modules" |
            cat - "$here/init.sh" "$here/build.sh" "$here/modules.py" "$workload" "$kexec" \
                "$driver"/Kbuild "$driver"/*.[ch] "$driver"/build-debian.sh |
            sha256sum | cut -d' ' -f1)
    if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ]; then
        continue
    fi
    note "building guest $fl from $pkg $ver ($suite)"
    tmp=$(mktemp -d)
    for deb in "${debs[@]}"; do
        dpkg-deb -x "$deb" "$tmp/pkg"
    done
    # /lib/modules up to 6.x, /usr/lib/modules from 7.x
    base=$tmp/pkg
    [ -d "$base/lib/modules" ] || base=$tmp/pkg/usr
    krel=$(ls "$base/lib/modules")
    moddir=$base/lib/modules/$krel
    kernel=$tmp/pkg/boot/vmlinuz-$krel
    [ -f "$kernel" ] || kernel=$moddir/vmlinuz
    [ -f "$kernel" ] || die "no kernel image in ${debs[*]}"
    [ -f "$moddir/modules.builtin" ] || die "no modules.builtin in ${debs[*]}"
    depmod -b "$base" "$krel" || die "depmod failed for $krel"
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$kernel" "$dir/bzImage"
    "$here/extract-vmlinux.py" "$dir/bzImage" "$dir/vmlinux"

    root=$tmp/root
    mkdir -p "$root"/{bin,proc,sys,dev,modules}
    cp "$busybox" "$root/bin/busybox"
    cp "$workload" "$root/bin/memx-workload"
    cp "$kexec" "$root/bin/memx-kexec"
    install -m 0755 "$here/init.sh" "$root/init"
    # shellcheck disable=SC2086
    "$here/modules.py" "$moddir" $boot_modules > "$tmp/boot.list" ||
        die "the $krel kernel lacks a module the guests need"
    # shellcheck disable=SC2086
    "$here/modules.py" "$moddir" $zram_modules > "$tmp/zram.list" ||
        die "the $krel kernel lacks a module the swap bench needs"
    while read -r name path; do
        copy_module "$moddir" "$path" "$root/modules/$name.ko"
    done < <(cat "$tmp/boot.list" "$tmp/zram.list")
    cut -d' ' -f1 "$tmp/boot.list" > "$root/modules/order"
    cut -d' ' -f1 "$tmp/zram.list" > "$root/modules/zram.order"
    # virtio_tmem supports Linux 6.1 and later (guest-driver/linux/compat.h)
    if dpkg --compare-versions "$ver" ge 6.1; then
        "$driver/build-debian.sh" "$root/modules/virtio_tmem.ko" "$krel" "$ver" ||
            die "cannot build virtio_tmem.ko for $krel"
    fi
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$dir/initramfs.cpio"
    echo "$krel" > "$dir/kernel-release"
    rm -rf "$tmp"
    echo "$stamp" > "$dir/stamp"
done
