#!/usr/bin/env python3
"""qemu-memx under Debian's libvirt: virsh save and restore with pattern
pages and guest-free page skipping, the guest's memory verified after
each restore.

The test runs its own libvirtd, virtlogd and virtlockd in a private mount
namespace: /etc/libvirt, /run/libvirt and libvirt's state, log and cache
directories are bind-mounted from a scratch directory, so the host's
libvirt setup (if any) is neither used nor changed. The domain boots the
test guest (tests/guest) from <kernel>/<initrd>, hands VMCOREINFO over
through -device vmcoreinfo in <qemu:commandline>, and has a serial port
on a unix socket for the workload's protocol.

Cases (TAP):
  1 virsh define + start: the guest boots, HMP 'info
    memx-guest-free-pages' answers through qemu-monitor-command
  2 stock save (capabilities off) + restore: the guest verifies
  3 save with __org.qemu-memx_pattern-pages and skip-free set through
    qemu-monitor-command, + restore (libvirt sets nothing on the
    restoring QEMU): the guest verifies
  4 that save file is far smaller than the stock one (pattern-heavy)

Usage: libvirt_save_restore.py [--kernel 6.12]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memxvm import SerialConsole, guest_dir, qemu_binary  # noqa: E402

NS_MARK = "QEMU_MEMX_LIBVIRT_NS"
DOMAIN = "memx-libvirt-test"
STATE_DIRS = ["/etc/libvirt", "/run/libvirt", "/var/lib/libvirt",
              "/var/log/libvirt", "/var/cache/libvirt"]
QEMU_CONF = """# qemu-memx libvirt test: QEMU as root, no confinement, no relabelling
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
# no private /dev per domain: tests/tcg-only.sh binds a file over /dev/kvm
namespaces = [ ]
"""
# pattern-heavy plus freed garbage, and data the guest checksums
SETUP = ["fill-random 64", "fill-pattern 512", "free-garbage 256"]
SMALLER_THAN = 0.3      # the pattern-pages save file against stock's


def sh(*cmd, check=True, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def virsh(*args, **kw):
    return sh("virsh", "-c", "qemu:///system", *args, **kw)


def enter_private_libvirt(work):
    """Bind scratch directories over libvirt's own; start its daemons."""
    for d in STATE_DIRS:
        os.makedirs(d, exist_ok=True)
        mine = os.path.join(work, "root", d.strip("/").replace("/", "_"))
        os.makedirs(mine, exist_ok=True)
        if d == "/etc/libvirt":
            shutil.copytree(d, mine, dirs_exist_ok=True)
            with open(os.path.join(mine, "qemu.conf"), "w") as f:
                f.write(QEMU_CONF)
        sh("mount", "--bind", mine, d)
    # libvirt-daemon-system would create them; we only need them to exist
    if subprocess.run(["getent", "group", "libvirt-qemu"],
                      capture_output=True).returncode:
        sh("groupadd", "--system", "libvirt-qemu")
    if subprocess.run(["getent", "passwd", "libvirt-qemu"],
                      capture_output=True).returncode:
        sh("useradd", "--system", "--no-create-home", "--gid", "libvirt-qemu",
           "--shell", "/usr/sbin/nologin", "libvirt-qemu")
    for daemon in ("virtlogd", "virtlockd", "libvirtd"):
        sh(daemon, "-d")
    deadline = time.monotonic() + 30
    while virsh("version", check=False, timeout=10) == "":
        if time.monotonic() > deadline:
            raise RuntimeError("libvirtd did not answer within 30 s")
        time.sleep(0.3)


def stop_daemons():
    for daemon in ("libvirtd", "virtlockd", "virtlogd"):
        pidfile = f"/run/{daemon}.pid"
        try:
            with open(pidfile) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass


def domain_xml(kernel, serial_path):
    gdir = guest_dir(kernel)
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{DOMAIN}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{os.path.join(gdir, 'vmlinux')}</kernel>
    <initrd>{os.path.join(gdir, 'initramfs.cpio')}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{os.path.realpath(qemu_binary())}</emulator>
    <controller type='usb' model='none'/>
    <serial type='unix'>
      <source mode='bind' path='{serial_path}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-device'/>
    <qemu:arg value='vmcoreinfo'/>
  </qemu:commandline>
</domain>
"""


def qemu_log():
    try:
        with open(f"/var/log/libvirt/qemu/{DOMAIN}.log", errors="replace") as f:
            return f.read()[-2000:]
    except OSError:
        return ""


def domain_running():
    return virsh("domstate", DOMAIN, check=False).strip() == "running"


def console(serial_path, console_path):
    return SerialConsole(DOMAIN, serial_path, console_path,
                         alive=domain_running, describe=qemu_log).connect()


def hmp(line):
    return virsh("qemu-monitor-command", DOMAIN, "--hmp", line)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kernel", choices=["6.1", "6.12"], default="6.12")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = p.parse_args()
    if os.environ.get(NS_MARK) != "1":
        if os.geteuid() != 0:
            print("1..1\nnot ok 1 e2e/libvirt: needs root (it runs its own libvirtd)")
            return 1
        os.environ[NS_MARK] = "1"
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private",
                              sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

    work = tempfile.mkdtemp(prefix="memx-libvirt-")
    serial_path = os.path.join(work, "serial.sock")
    console_path = os.path.join(work, "console.log")
    xml_path = os.path.join(work, "domain.xml")
    stock_file = os.path.join(work, "stock.save")
    memx_file = os.path.join(work, "memx.save")
    results = []

    def case(name, fn):
        n = len(results) + 1
        try:
            note = fn()
            results.append(True)
            print(f"ok {n} e2e/libvirt {name}{' # ' + note if note else ''}", flush=True)
        except Exception as e:     # report and go on to the summary
            results.append(False)
            print(f"not ok {n} e2e/libvirt {name}: {e}", flush=True)
            raise

    print("1..4", flush=True)
    ok = False
    try:
        enter_private_libvirt(work)
        print(f"# {virsh('version').splitlines()[0]}; emulator {qemu_binary()}", flush=True)
        with open(xml_path, "w") as f:
            f.write(domain_xml(a.kernel, serial_path))
        sizes = {}

        def start():
            virsh("define", xml_path)
            virsh("start", DOMAIN)
            con = console(serial_path, console_path)
            con.expect("MEMX-READY", 180)
            for c in SETUP:
                con.run(c, timeout=600)
            info = hmp("info memx-guest-free-pages")
            if "guest free pages: available" not in info:
                raise RuntimeError(f"introspection unavailable: {info.strip()}")
            con.close()
            return info.splitlines()[-2].strip()

        def save_restore(path, key):
            virsh("save", DOMAIN, path, timeout=600)
            sizes[key] = os.path.getsize(path)
            virsh("restore", path, timeout=600)
            con = console(serial_path, console_path)
            good, line = con.verify()
            con.close()
            if not good:
                raise RuntimeError(f"guest verification after restore failed: {line}")
            return f"save file {sizes[key] / 2**20:.1f} MiB; {line}"

        def memx_save_restore():
            hmp("migrate_set_capability __org.qemu-memx_pattern-pages on")
            hmp("migrate_set_capability __org.qemu-memx_skip-free-pages on")
            return save_restore(memx_file, "memx")

        def smaller():
            ratio = sizes["memx"] / sizes["stock"]
            note = (f"{sizes['memx'] / 2**20:.1f} MiB against stock "
                    f"{sizes['stock'] / 2**20:.1f} MiB ({ratio:.3f}x)")
            if ratio >= SMALLER_THAN:
                raise RuntimeError(f"save file not far smaller: {note}")
            return note

        case("define+start, HMP through qemu-monitor-command", start)
        case("stock save+restore, verified", lambda: save_restore(stock_file, "stock"))
        case("pattern-pages+skip-free save+restore, verified", memx_save_restore)
        case(f"save file below {SMALLER_THAN}x stock", smaller)
        ok = True
    except Exception:
        for _ in range(4 - len(results)):
            results.append(False)
            print(f"not ok {len(results)} e2e/libvirt (not reached)", flush=True)
        print(f"# QEMU log: {qemu_log()}", flush=True)
    finally:
        virsh("destroy", DOMAIN, check=False)
        virsh("undefine", DOMAIN, check=False)
        stop_daemons()
        if ok and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"# kept {work}", flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
