#!/bin/busybox sh
# /init of the qemu-memx test guest (busybox-static initramfs).
# Loads the kernel modules the tests need (virtio, qemu_fw_cfg so that
# -device vmcoreinfo receives VMCOREINFO), prints what the host needs to
# know, then runs memx-workload on the serial console.  Arguments for the
# workload come from the kernel command line: memx.run=cmd:arg,cmd:arg
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/ttyS0 >/dev/ttyS0 2>&1

# Load modules in the order listed; retry to settle dependencies.
pending=$(cat /modules/order 2>/dev/null)
for round in 1 2 3 4 5 6 7 8; do
    left=
    for m in $pending; do
        insmod /modules/$m.ko 2>/dev/null || left="$left $m"
    done
    [ -z "$left" ] && break
    pending=$left
done
[ -n "$left" ] && echo "MEMX-WARN modules not loaded:$left"

run=
for arg in $(cat /proc/cmdline); do
    case $arg in
    memx.run=*) run=$(echo "${arg#memx.run=}" | tr ',' ' ') ;;
    esac
done
vmci=no
[ -e /sys/firmware/qemu_fw_cfg/by_name/etc/vmcoreinfo ] && vmci=yes
echo "MEMX-BOOTED kernel=$(uname -r) mem_kib=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) vmcoreinfo=$vmci uptime=$(cut -d' ' -f1 /proc/uptime)"
exec /bin/memx-workload $run
