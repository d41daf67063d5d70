#!/bin/bash
# Adds the apt entries qemu-memx needs, derived from the machine's own
# Debian entries (no archive host is written down anywhere in this repo):
#   - deb-src for trixie: the pinned upstream QEMU source package
#   - deb for bookworm-backports: meson >= 1.5 and python3-pycotap
# Then installs the build and test dependencies.
#
# Usage: scripts/apt-setup.sh [--entries-only]
set -euo pipefail

die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }

LIST=/etc/apt/sources.list.d/qemu-memx.sources

# shellcheck source=scripts/debian-uri.sh
. "$(dirname "$0")/debian-uri.sh"

write_entries() {
    local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    uri=$(debian_uri bookworm | head -n1)
    [ -n "$uri" ] || die "no Debian 'bookworm' entry found in /etc/apt/sources.list{,.d}; \
qemu-memx derives its extra apt entries from it. Add your Debian mirror first."
    local want
    want="# Written by qemu-memx scripts/apt-setup.sh, derived from this machine's
# own bookworm entry.
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: $keyring

Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring"
    if [ -f "$LIST" ] && [ "$(cat "$LIST")" = "$want" ]; then
        return 1
    fi
    [ "$(id -u)" = 0 ] || die "apt entries for trixie sources and bookworm-backports \
are missing and adding them needs root. Run 'sudo ./configure' once, or add them yourself \
(see README.rst, 'Requirements')."
    printf '%s\n' "$want" > "$LIST"
    note "added apt entries in $LIST"
    return 0
}

apt_update() {
    note "running apt-get update"
    apt-get update -q >/tmp/qemu-memx-apt-update.log 2>&1 || {
        tail -n 20 /tmp/qemu-memx-apt-update.log >&2
        die "apt-get update failed (is the Debian archive reachable?). Log: /tmp/qemu-memx-apt-update.log"
    }
    if grep -qE '^(W|E): .*(Failed to fetch|Could not resolve|unreachable)' \
            /tmp/qemu-memx-apt-update.log; then
        grep -E '^(W|E):' /tmp/qemu-memx-apt-update.log >&2
        die "apt-get update could not reach the archive"
    fi
}

# Packages from bookworm itself (qemu-system-x86: the stock 7.2 peer for
# the interop tests; clang and its runtime: sanitizer build and libFuzzer;
# libvirt: the client most users drive QEMU through, for the libvirt test;
# gcc-12, libelf1 and bc: building virtio_tmem.ko against Debian's kernel
# header packages, whose objtool links libelf; iproute2: ip and tc for
# the tests' two hosts in network namespaces; libgnutls28-dev: TLS
# migration, which upstream's migration-test covers, and the crypto
# backend its unit suite tests; xorriso: the ISO images upstream's
# cdrom-test boots; kmod: depmod, which orders the guest kernels' modules;
# dwarves: pahole, the e2e tests' second reader of the guest kernels' BTF;
# debootstrap: a chroot of a newer Debian release, to build virtio_tmem.ko
# for its kernels with the compiler they were built with)
DEPS_MAIN="build-essential git ccache pkg-config python3 python3-venv ninja-build
flex bison dpkg-dev libglib2.0-dev zlib1g-dev libzstd-dev libpixman-1-dev libslirp-dev
libfdt-dev libnuma-dev gcc-multilib ipxe-qemu bzip2 xz-utils
busybox-static cpio socat numactl zstd file qemu-system-x86 clang
libclang-rt-14-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
gcc-12 libelf1 bc util-linux iproute2 libgnutls28-dev xorriso kmod dwarves
debootstrap"
# Packages that must come from bookworm-backports (libbpf-dev: 1.3 and
# later validate the guest BTF's type ids when they load it; seabios:
# this QEMU leaves an AHCI command that fails set in PxCI, as the AHCI
# spec says (hw/ide/ahci.c, ahci_clear_cmd_issue), and bookworm's
# SeaBIOS 1.16.2 then waits out its 32 s timeout, once per q35 boot with
# a disk or CD-ROM on AHCI; 1.16.3 handles it)
DEPS_BPO="meson python3-pycotap libbpf-dev seabios"

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
            echo "$p"
    done
}

meson_ok() {
    local v
    v=$(dpkg-query -W -f='${Version}' meson 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge 1.5
}

libbpf_ok() {
    local v
    v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge 1:1.3
}

seabios_ok() {
    local v
    v=$(dpkg-query -W -f='${Version}' seabios 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge 1.16.3
}

main() {
    local changed=0
    write_entries && changed=1 || true
    # shellcheck disable=SC2086
    local miss; miss=$(missing_pkgs $DEPS_MAIN $DEPS_BPO | xargs)
    if ! meson_ok && ! echo "$miss" | grep -qw meson; then miss="$miss meson"; fi
    if ! libbpf_ok && ! echo "$miss" | grep -qw libbpf-dev; then
        miss="$miss libbpf-dev"
    fi
    if ! seabios_ok && ! echo "$miss" | grep -qw seabios; then
        miss="$miss seabios"
    fi
    if [ -z "$miss" ] && [ $changed = 0 ]; then
        exit 0
    fi
    if [ -z "$miss" ]; then
        # entries changed but all packages present: refresh indexes for
        # the source fetch later on
        apt_update
        exit 0
    fi
    [ "$(id -u)" = 0 ] || die "missing packages: $miss. Install them as root \
('sudo ./configure' does it) or with apt-get yourself."
    apt_update
    note "installing: $miss"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        $(missing_pkgs $DEPS_MAIN | xargs) >/tmp/qemu-memx-apt-install.log 2>&1 || {
        tail -n 20 /tmp/qemu-memx-apt-install.log >&2
        die "apt-get install failed. Log: /tmp/qemu-memx-apt-install.log"
    }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -t bookworm-backports $DEPS_BPO >>/tmp/qemu-memx-apt-install.log 2>&1 || {
        tail -n 20 /tmp/qemu-memx-apt-install.log >&2
        die "apt-get install from bookworm-backports failed. Log: /tmp/qemu-memx-apt-install.log"
    }
    meson_ok || die "meson >= 1.5 still not installed (got $(meson --version 2>&1))"
    seabios_ok || die "seabios >= 1.16.3 still not installed"
}

main "$@"
