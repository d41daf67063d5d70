#!/usr/bin/env python3
"""qemu-memx under libvirt between two hosts: two private instances of
Debian's libvirt daemons on one machine, and virsh migrate --live from one
to the other with pattern pages and guest-free page skipping on both
sides; the guest verifies its memory on the destination.

Each "host" is virtlogd, virtlockd and libvirtd in a mount and UTS
namespace of their own (libvirt refuses to migrate to a host with its own
hostname or host UUID): /etc/libvirt (with its own host_uuid),
/run/libvirt and libvirt's state, log and cache directories are
bind-mounted from a scratch directory, and virsh reaches each daemon
through its socket there, so the machine's own libvirt setup is neither
used nor changed.  The domain is tests/e2e/libvirt_save_restore.py's,
with the features on from the start through -global, which both hosts'
QEMU get from the domain XML; the destination's XML (virsh migrate
--xml, from virsh dumpxml --migratable) differs only in its serial
socket.

Cases (TAP):
  1 both hosts up, the domain started on the first, the estimate and the
    guest's free pages through qemu-monitor-command
  2 virsh migrate --live to the second host; the guest verifies there,
    and the destination's QEMU reports the features on

Usage: libvirt_migrate.py [--kernel 6.12] [--keep]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libvirt_save_restore as lsr  # noqa: E402
from memxvm import SerialConsole, qemu_binary  # noqa: E402

DOMAIN = lsr.DOMAIN
# below the ephemeral range, where the other suites take their ports
MIGRATION_PORT = 31777
FEATURES = ["-global", "migration.x-memx-pattern-pages=on",
            "-global", "migration.x-memx-skip-free-pages=on"]


def host_main(root, name, host_uuid):
    """In the new namespaces: this host's name, directories and daemons."""
    lsr.sh("hostname", name)
    for d in lsr.STATE_DIRS:
        os.makedirs(d, exist_ok=True)
        mine = os.path.join(root, d.strip("/").replace("/", "_"))
        os.makedirs(mine, exist_ok=True)
        if d == "/etc/libvirt":
            shutil.copytree(d, mine, dirs_exist_ok=True)
            with open(os.path.join(mine, "qemu.conf"), "w") as f:
                f.write(lsr.QEMU_CONF)
            with open(os.path.join(mine, "libvirtd.conf"), "a") as f:
                f.write(f'\nhost_uuid = "{host_uuid}"\n')
        lsr.sh("mount", "--bind", mine, d)
    for daemon in ("virtlogd", "virtlockd", "libvirtd"):
        lsr.sh(daemon, "-d", "-p", os.path.join(root, f"{daemon}.pid"))


class Host:
    def __init__(self, work, name):
        self.name = name
        self.root = os.path.join(work, name)
        os.makedirs(self.root)
        subprocess.run(["unshare", "-m", "-u", "--propagation", "private",
                        sys.executable, os.path.abspath(__file__), "--host",
                        self.root, name, str(uuid.uuid4())], check=True, timeout=60)
        sock = os.path.join(self.root, "run_libvirt", "libvirt-sock")
        self.uri = f"qemu:///system?socket={sock}"
        deadline = time.monotonic() + 30
        while self.virsh("version", check=False, timeout=10) == "":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: libvirtd did not answer within 30 s")
            time.sleep(0.3)

    def virsh(self, *args, **kw):
        return lsr.sh("virsh", "-c", self.uri, *args, **kw)

    def hmp(self, line):
        return self.virsh("qemu-monitor-command", DOMAIN, "--hmp", line)

    def stop(self):
        self.virsh("destroy", DOMAIN, check=False)
        self.virsh("undefine", DOMAIN, check=False)
        for daemon in ("libvirtd", "virtlockd", "virtlogd"):
            try:
                with open(os.path.join(self.root, f"{daemon}.pid")) as f:
                    os.kill(int(f.read().strip()), 15)
            except (OSError, ValueError):
                pass


def domain_xml(kernel, serial_path):
    xml = lsr.domain_xml(kernel, serial_path)
    args = "".join(f"    <qemu:arg value='{a}'/>\n" for a in FEATURES)
    return xml.replace("  </qemu:commandline>", args + "  </qemu:commandline>")


def console(serial_path, log_path):
    return SerialConsole(DOMAIN, serial_path, log_path).connect()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kernel", choices=["6.1", "6.12"], default="6.12")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--host", nargs=3, metavar=("ROOT", "NAME", "UUID"),
                   help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.host:
        host_main(*a.host)
        return 0
    if os.geteuid() != 0:
        print("1..1\nnot ok 1 e2e/libvirt-migrate: needs root (it runs libvirt daemons)")
        return 1
    work = tempfile.mkdtemp(prefix="memx-libvirt-migrate-")
    src_serial, dst_serial = (os.path.join(work, f"{s}-serial.sock") for s in ("src", "dst"))
    hosts, results = [], []

    def case(name, fn):
        try:
            note = fn()
            results.append(True)
            print(f"ok {len(results)} e2e/libvirt-migrate {name}"
                  f"{' # ' + note if note else ''}", flush=True)
        except Exception as e:  # report, then stop
            results.append(False)
            print(f"not ok {len(results)} e2e/libvirt-migrate {name}: {e}", flush=True)
            raise

    print("1..2", flush=True)
    try:
        src, dst = Host(work, "memx-host-a"), Host(work, "memx-host-b")
        hosts += [src, dst]
        with open(os.path.join(work, "src.xml"), "w") as f:
            f.write(domain_xml(a.kernel, src_serial))

        def start():
            src.virsh("define", os.path.join(work, "src.xml"))
            src.virsh("start", DOMAIN)
            con = console(src_serial, os.path.join(work, "src-console.log"))
            con.expect("MEMX-READY", 180)
            for c in lsr.SETUP:
                con.run(c, timeout=600)
            con.close()
            free = src.hmp("info memx-guest-free-pages")
            est = src.hmp("info memx-migration-estimate")
            if "available" not in free or "skip-free-pages on, pattern-pages on" not in est:
                raise RuntimeError(f"features not on: {free.strip()} / {est.strip()}")
            return [line for line in est.splitlines() if "first pass" in line][0].strip()

        def migrate():
            # the running domain's own XML (its UUID), with the
            # destination's serial socket
            xml = src.virsh("dumpxml", "--migratable", DOMAIN)
            with open(os.path.join(work, "dst.xml"), "w") as f:
                f.write(xml.replace(src_serial, dst_serial))
            t0 = time.monotonic()
            src.virsh("migrate", "--live", DOMAIN, dst.uri, "--xml",
                      os.path.join(work, "dst.xml"),
                      "--migrateuri", f"tcp://127.0.0.1:{MIGRATION_PORT}", timeout=600)
            took = time.monotonic() - t0
            con = console(dst_serial, os.path.join(work, "dst-console.log"))
            good, line = con.verify()
            con.close()
            if not good:
                raise RuntimeError(f"guest verification on the destination failed: {line}")
            caps = dst.hmp("info migrate_capabilities")
            for cap in ("__org.qemu-memx_pattern-pages: on",
                        "__org.qemu-memx_skip-free-pages: on"):
                if cap not in caps:
                    raise RuntimeError(f"destination: {cap} not set")
            return f"{took:.1f} s; {line}"

        case(f"two hosts, start on {src.name}, estimate through qemu-monitor-command",
             start)
        case(f"virsh migrate --live to {dst.name}, verified", migrate)
    except Exception:
        while len(results) < 2:
            results.append(False)
            print(f"not ok {len(results)} e2e/libvirt-migrate (not reached)", flush=True)
    finally:
        for h in hosts:
            h.stop()
        if all(results) and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"# kept {work}", flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
