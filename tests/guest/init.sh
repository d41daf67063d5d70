#!/bin/busybox sh
# /init of the qemu-memx test guest (busybox-static initramfs).
# Loads the kernel modules the tests need (virtio, qemu_fw_cfg so that
# -device vmcoreinfo receives VMCOREINFO), prints what the host needs to
# know, then runs memx-workload on the serial console.  Arguments for the
# workload come from the kernel command line: memx.run=cmd:arg,cmd:arg
#
# Second mode (tests/numa/nested.py), chosen by memx.chroot=TAG: mount the
# virtio-9p share TAG (the host's root filesystem, read-only) at /host, give
# it fresh proc, sysfs, dev and writable tmpfs mounts, and run the command
# memx.cmd=BASE64 there (chroot /host, in directory memx.cwd=PATH) with
# stdin from /dev/null.  The last line printed is "MEMX-NESTED-EXIT RC",
# then the VM powers off.
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
chroot_tag=
nested_cmd=
nested_cwd=/
for arg in $(cat /proc/cmdline); do
    case $arg in
    memx.run=*) run=$(echo "${arg#memx.run=}" | tr ',' ' ') ;;
    memx.chroot=*) chroot_tag=${arg#memx.chroot=} ;;
    memx.cmd=*) nested_cmd=${arg#memx.cmd=} ;;
    memx.cwd=*) nested_cwd=${arg#memx.cwd=} ;;
    esac
done

# Ends the nested mode: report RC, let the serial port drain, power off.
nested_exit() {
    echo "MEMX-NESTED-EXIT $1"
    # The last close of the tty waits until its output has been sent.
    exec </dev/null >/dev/null 2>&1
    sleep 0.2
    poweroff -f
}

if [ -n "$chroot_tag" ]; then
    h=/host
    mkdir -p $h
    if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 \
            "$chroot_tag" $h; then
        echo "MEMX-NESTED-ERROR cannot mount 9p share '$chroot_tag'"
        nested_exit 125
    fi
    # A working directory below a directory that gets an empty tmpfs here
    # (a clone in /tmp) is carried over onto the tmpfs.
    keep_cwd=
    case $nested_cwd/ in
    /tmp/*|/run/*|/var/tmp/*) keep_cwd=/kept-cwd ;;
    esac
    if [ -n "$keep_cwd" ]; then
        mkdir -p $keep_cwd
        mount --bind "$h$nested_cwd" $keep_cwd || {
            echo "MEMX-NESTED-ERROR no directory $nested_cwd on the host"
            nested_exit 125
        }
    fi
    mount -t proc proc $h/proc &&
        mount -t sysfs sysfs $h/sys &&
        mount -t devtmpfs devtmpfs $h/dev &&
        mkdir -p $h/dev/shm $h/dev/pts &&
        mount -t tmpfs -o mode=1777 tmpfs $h/dev/shm &&
        mount -t devpts -o ptmxmode=0666 devpts $h/dev/pts &&
        mount -t tmpfs -o mode=1777 tmpfs $h/tmp &&
        mount -t tmpfs -o mode=0755 tmpfs $h/run || {
        echo "MEMX-NESTED-ERROR cannot mount proc/sys/dev/tmp/run inside $h"
        nested_exit 125
    }
    if [ -d $h/var/tmp ]; then
        mount -t tmpfs -o mode=1777 tmpfs $h/var/tmp
    fi
    if [ -n "$keep_cwd" ]; then
        mkdir -p "$h$nested_cwd" && mount --move $keep_cwd "$h$nested_cwd" || {
            echo "MEMX-NESTED-ERROR cannot carry $nested_cwd over onto the tmpfs"
            nested_exit 125
        }
    fi
    ip link set lo up 2>/dev/null
    cmd=$(echo "$nested_cmd" | base64 -d) || {
        echo "MEMX-NESTED-ERROR memx.cmd is not valid base64"
        nested_exit 125
    }
    echo "MEMX-NESTED-RUN uptime=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc) nodes=$(ls -d /sys/devices/system/node/node* | wc -l)"
    # In a new session, without the console as controlling terminal: the
    # console has no input, nothing may wait for it (a pager, say).
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root TMPDIR=/tmp LANG=C.UTF-8 TERM=dumb PAGER=cat GIT_PAGER=cat \
        setsid chroot $h /bin/sh -c 'cd "$1" || exit 125; eval "$2"' memx-nested \
        "$nested_cwd" "$cmd" </dev/null
    nested_exit $?
fi
vmci=no
[ -e /sys/firmware/qemu_fw_cfg/by_name/etc/vmcoreinfo ] && vmci=yes
echo "MEMX-BOOTED kernel=$(uname -r) mem_kib=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) vmcoreinfo=$vmci uptime=$(cut -d' ' -f1 /proc/uptime)"
exec /bin/memx-workload $run
