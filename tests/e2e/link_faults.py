"""Link faults between two hosts: the source and the destination QEMU in
two network namespaces joined by a 1 Gbit/s veth pair (links.py), and the
link fails under a migration.

  precopy-cut        the link goes down mid-precopy (skip-free and pattern
                     pages on): the migration fails within a bounded time,
                     the source keeps running and its data verify; with
                     the link back, a new migration completes and the
                     destination verifies
  postcopy-recover   the link goes down mid-postcopy (pattern pages on):
                     both sides pause (migrate-pause), the link comes
                     back, migrate-recover and migrate with resume finish
                     the migration, and the destination verifies
  dst-oom            the destination host runs out of memory (its QEMU in
                     a memory cgroup limited to 400 MiB, swap included,
                     for a guest of 1 GiB that holds more in use): the
                     destination is killed, the migration fails cleanly,
                     the source keeps running and its data verify

"Bounded" needs the source host to give up on a dead peer: the source's
namespace sets net.ipv4.tcp_retries2 to 4, which makes TCP fail a
connection whose data goes unacknowledged for about 6 s (Linux's default,
15, takes about 15 minutes; QEMU's migration has no timeout of its own).
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestcase import at_least, tap_main, verify  # noqa: E402
from links import Link  # noqa: E402
from memxvm import Vm  # noqa: E402
from run import (DEFAULT_PARAMS, MIB, PATTERN_CAP, SKIP_CAP,  # noqa: E402
                 set_migration, wait_migration, wait_status)

PORT = 4444
FAIL_WITHIN_S = 60


def vm(c, link, name, side, **kw):
    v = Vm(name, flavour="6.12", workdir=c.path(name), mem="1G",
           netns=link.src_ns if side == "src" else link.dst_ns, **kw)
    c.vms.append(v)
    v.start()
    return v


def source(c, link):
    src = vm(c, link, "source", "src")
    src.expect("MEMX-READY", 120)
    src.run("fill-random 256", 300)
    src.run("fill-pattern 128", 300)
    src.run("free-garbage 256", 300)
    return src


def destination(c, link, name, port, caps, prefix=()):
    dst = vm(c, link, name, "dst", incoming="defer", prefix=prefix)
    set_migration(dst, caps, {})
    dst.qmp.cmd("migrate-incoming", {"uri": f"tcp:{link.dst_addr}:{port}"})
    return dst


def wait_transferred(vm_, nbytes, timeout=60):
    deadline = time.monotonic() + timeout
    while vm_.qmp.cmd("query-migrate").get("ram", {}).get("transferred", 0) < nbytes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{vm_.name}: migration made no progress")
        time.sleep(0.05)


def give_up_on_dead_peers(link):
    subprocess.run(["ip", "netns", "exec", link.src_ns, "sysctl", "-q", "-w",
                    "net.ipv4.tcp_retries2=4"], check=True)


def case_precopy_cut(c):
    caps = {SKIP_CAP: True, PATTERN_CAP: True}
    with Link("lan-1g") as link:
        give_up_on_dead_peers(link)
        src = source(c, link)
        dst = destination(c, link, "destination", PORT, caps)
        # slow enough to be mid-precopy when the link goes
        set_migration(src, caps, dict(DEFAULT_PARAMS, **{"max-bandwidth": 16 * MIB}))
        src.qmp.cmd("migrate", {"uri": f"tcp:{link.dst_addr}:{PORT}"})
        wait_transferred(src, 32 * MIB)
        link.cut()
        t0 = time.monotonic()
        info = wait_migration(src, timeout=FAIL_WITHIN_S)
        failed_after = time.monotonic() - t0
        if info["status"] != "failed":
            raise RuntimeError(f"migration {info['status']} after the link went down")
        wait_status(src, ("running",))
        line = verify(src)
        dst.kill()
        # the link comes back: a new migration to a new destination
        link.restore()
        dst2 = destination(c, link, "destination2", PORT + 1, caps)
        set_migration(src, caps, DEFAULT_PARAMS)
        src.qmp.cmd("migrate", {"uri": f"tcp:{link.dst_addr}:{PORT + 1}"})
        again = wait_migration(src)
        if again["status"] != "completed":
            raise RuntimeError(f"migration after the link came back: {again['status']}: "
                               f"{again.get('error-desc')}")
        wait_status(dst2, ("running",), 60)
        line2 = verify(dst2)
        return (f"failed {failed_after:.1f} s after the cut ('{info.get('error-desc')}'), "
                f"source {line.split()[1]}; after the link came back "
                f"{again['ram']['transferred'] / MIB:.1f} MiB, destination "
                f"{line2.split()[1]}")


def case_postcopy_recover(c):
    caps = {PATTERN_CAP: True, "postcopy-ram": True}
    with Link("lan-1g") as link:
        src = source(c, link)
        dst = destination(c, link, "destination", PORT, caps)
        set_migration(src, caps, dict(DEFAULT_PARAMS, **{"max-bandwidth": 16 * MIB}))
        src.qmp.cmd("migrate", {"uri": f"tcp:{link.dst_addr}:{PORT}"})
        wait_transferred(src, 16 * MIB)
        src.qmp.cmd("migrate-start-postcopy")
        wait_migration(src, until=("postcopy-active", "failed"), timeout=60)
        wait_transferred(src, 96 * MIB)
        link.cut()
        # neither side can tell a dead link from a slow one: pause both
        dst.qmp.cmd("migrate-pause")
        src.qmp.cmd("migrate-pause")
        for v in (src, dst):
            paused = wait_migration(v, until=("postcopy-paused", "failed", "completed"),
                                    timeout=60)
            if paused["status"] != "postcopy-paused":
                raise RuntimeError(f"{v.name}: {paused['status']} instead of "
                                   f"postcopy-paused")
        link.restore()
        dst.qmp.cmd("migrate-recover", {"uri": f"tcp:{link.dst_addr}:{PORT + 1}"})
        src.qmp.cmd("migrate-set-parameters",
                    {"max-bandwidth": DEFAULT_PARAMS["max-bandwidth"]})
        src.qmp.cmd("migrate", {"uri": f"tcp:{link.dst_addr}:{PORT + 1}",
                                "resume": True})
        info = wait_migration(src)
        if info["status"] != "completed":
            raise RuntimeError(f"resumed migration {info['status']}: "
                               f"{info.get('error-desc')}")
        wait_status(dst, ("running",), 60)
        line = verify(dst)
        at_least("pattern pages", info["ram"].get(PATTERN_CAP, 0), 1)
        return (f"paused on both sides, recovered; {info['ram']['transferred'] / MIB:.1f} "
                f"MiB in all, {info['ram'].get(PATTERN_CAP)} pattern pages; "
                f"destination {line.split()[1]}")


class MemoryCgroup:
    """A memory cgroup (v2, or v1's memory controller) limited to @limit
    bytes with no swap; prefix() runs a command in it."""

    def __init__(self, name, limit):
        v2 = "/sys/fs/cgroup"
        if os.path.exists(os.path.join(v2, "cgroup.controllers")):
            self.path = os.path.join(v2, name)
            os.mkdir(self.path)
            self._write("memory.max", limit)
            self._write("memory.swap.max", 0)
        else:
            self.path = os.path.join(v2, "memory", name)
            os.mkdir(self.path)
            self._write("memory.limit_in_bytes", limit)
            self._write("memory.memsw.limit_in_bytes", limit)

    def _write(self, key, value):
        with open(os.path.join(self.path, key), "w") as f:
            f.write(str(value))

    def prefix(self):
        procs = os.path.join(self.path, "cgroup.procs")
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]

    def close(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)     # its last process is still exiting


def case_dst_oom(c):
    caps = {SKIP_CAP: True, PATTERN_CAP: True}
    cgroup = MemoryCgroup(f"memx-dst-oom-{os.getpid()}", 400 * MIB)
    try:
        with Link("lan-1g") as link:
            src = source(c, link)
            src.run("fill-random 384", 300)
            dst = destination(c, link, "destination", PORT, caps,
                              prefix=cgroup.prefix())
            set_migration(src, caps, DEFAULT_PARAMS)
            src.qmp.cmd("migrate", {"uri": f"tcp:{link.dst_addr}:{PORT}"})
            info = wait_migration(src, timeout=FAIL_WITHIN_S)
            if info["status"] != "failed":
                raise RuntimeError(f"migration {info['status']} into a destination "
                                   f"limited to 400 MiB")
            dst.proc.wait(30)
            if dst.proc.returncode != -9:
                raise RuntimeError(f"destination ended with {dst.proc.returncode}, "
                                   f"not killed for memory")
            wait_status(src, ("running",))
            line = verify(src)
            return (f"destination killed for memory; migration failed "
                    f"('{info.get('error-desc')}'), source {line.split()[1]}")
    finally:
        cgroup.close()


CASES = {"precopy-cut": case_precopy_cut, "postcopy-recover": case_postcopy_recover,
         "dst-oom": case_dst_oom}


if __name__ == "__main__":
    sys.exit(tap_main("link-faults", __doc__, CASES, "1G"))
