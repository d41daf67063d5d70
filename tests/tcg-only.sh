#!/bin/bash
# Runs a command so that any QEMU it starts uses a working accelerator.
#
# On hosts whose /dev/kvm is present but unusable (a paravirtual stub with
# no vmx/svm in the CPU flags), QEMU and upstream's qtests would pick KVM
# (qtests do whenever /dev/kvm is read-write) and guests then crawl or die.
# Here the command runs in a private mount namespace where /dev/kvm is an
# empty file, so everything falls back to TCG.  Hosts with real VMX/SVM
# keep KVM.  Says so once per run (QEMU_MEMX_TCG_NOTED is exported).
#
# Usage: tests/tcg-only.sh CMD [ARGS...]
set -euo pipefail

kvm_unusable() {
    [ -e /dev/kvm ] || return 1
    ! grep -qwE 'vmx|svm' /proc/cpuinfo
}

if ! kvm_unusable || [ -n "${QEMU_MEMX_IN_TCG_NS:-}" ]; then
    exec "$@"
fi
if [ -z "${QEMU_MEMX_TCG_NOTED:-}" ]; then
    echo "qemu-memx: /dev/kvm exists but this CPU has no vmx/svm: KVM is not usable here, running guests on TCG" >&2
    export QEMU_MEMX_TCG_NOTED=1
fi
export QEMU_MEMX_IN_TCG_NS=1
empty=${TMPDIR:-/tmp}/qemu-memx-no-kvm
: > "$empty"
if [ "$(id -u)" = 0 ]; then
    exec unshare -m -- sh -c 'mount --bind "$0" /dev/kvm && exec "$@"' "$empty" "$@"
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    exec "$@"   # qtests will not pick KVM for us anyway
fi
# Unprivileged, but /dev/kvm is usable by us: hide it in a user namespace.
exec unshare -U -r -m -- sh -c 'mount --bind "$0" /dev/kvm && exec "$@"' "$empty" "$@"
