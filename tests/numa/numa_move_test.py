#!/usr/bin/env python3
"""qemu-memx's hot-first NUMA move, tested on a host with two NUMA nodes.

Runs where the host has at least two nodes: in `make check` that is the
two-node TCG VM of tests/numa/nested.py, which runs this script with the
host's userland. Each case starts the fork with the `hotset` guest
(tests/numa/hotset-guest.c: a known hot set at the top of its RAM,
checksummed memory), RAM bound to node 0, and the page-activity tracker
on; it moves the RAM with __org.qemu-memx_numa-move and checks the result
three ways: the job's own report, the kernel's /proc/PID/numa_maps for
the guest RAM mapping, and the guest's full memory check.

  numa_move_test.py [--bench FILE]     TAP on stdout

--bench also measures hot-first against address order (and numactl's
migratepages, what cpuset.mems and migratepages do) and writes one JSON
object to FILE, or only prints it (a "NUMA-BENCH {...}" line) with "-":
inside the nested VM nothing is writable for the host (make bench).
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from memxvm import QMP, QMPError, qemu_binary  # noqa: E402

MIB = 1 << 20
GUEST_MIB = 256
HOT_MIB = 24
BENCH_ROUNDS = 5


class Hotset:
    """The fork running the hotset guest, with QMP and its serial lines."""

    def __init__(self, workdir, node=0, tracker=True, period_ms=500,
                 mem_mib=GUEST_MIB, hot_mib=HOT_MIB, provider=None):
        self.workdir = tempfile.mkdtemp(dir=workdir)
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        self.serial_path = os.path.join(self.workdir, "serial.sock")
        self.log_path = os.path.join(self.workdir, "qemu.log")
        kernel = os.path.join(ROOT, "build", "numa", "hotset.elf")
        self.args = [
            qemu_binary(), "-M", "q35,memory-backend=ram0", "-accel", "tcg",
            "-m", f"{mem_mib}M", "-nodefaults", "-display", "none",
            "-L", os.path.join(ROOT, "build", "qemu-build", "pc-bios"),
            "-object", f"memory-backend-ram,id=ram0,size={mem_mib}M,"
                       f"host-nodes={node},policy=bind",
            "-kernel", kernel, "-append", f"mem={mem_mib} hot={hot_mib}",
            "-chardev", f"socket,id=s0,path={self.serial_path},server=on,wait=off",
            "-serial", "chardev:s0",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
        ]
        if tracker:
            self.args += ["-object", f"x-memx-page-activity,id=pa0,"
                                     f"period-ms={period_ms}" +
                                     (f",provider={provider}" if provider else "")]
        self.lines = []
        self.cond = threading.Condition()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT)
        self.qmp = QMP(self.qmp_path)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.serial = socket.socket(socket.AF_UNIX)
                self.serial.connect(self.serial_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        threading.Thread(target=self._reader, daemon=True).start()
        ready = self.expect("HOTSET-READY", 300)
        self.layout = dict(kv.split("=") for kv in ready.split()[1:])
        return self

    def _reader(self):
        buf = b""
        while True:
            try:
                data = self.serial.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.cond:
                    self.lines.append(line.decode(errors="replace").strip())
                    self.cond.notify_all()

    def expect(self, prefix, timeout=120, since=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    if line.startswith("HOTSET-ERR"):
                        raise RuntimeError(f"guest: {line}")
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no {prefix} from the guest; log: "
                                       f"{open(self.log_path).read()[-1000:]}")
                self.cond.wait(min(left, 1))

    def verify(self):
        """The guest checks every page of its data region."""
        with self.cond:
            since = len(self.lines)
        self.serial.sendall(b"v")
        line = self.expect("HOTSET-VERIFY", 300, since)
        if "status=ok" not in line:
            raise RuntimeError(f"guest memory check failed: {line}")
        return line

    def sweeps(self):
        with self.cond:
            since = len(self.lines)
        self.serial.sendall(b"s")
        line = self.expect("HOTSET-STATUS", 60, since)
        return int(re.search(r"sweeps=(\d+)", line).group(1))

    def ram_nodes(self):
        """Pages per host node of the guest RAM mapping, from the kernel's
        /proc/PID/numa_maps (the largest anonymous mapping)."""
        best = None
        with open(f"/proc/{self.proc.pid}/numa_maps") as f:
            for line in f:
                fields = line.split()
                nodes = {int(k[1:]): int(v) for k, v in
                         (x.split("=") for x in fields if re.match(r"N\d+=", x))}
                pages = sum(nodes.values())
                if "anon=" in line and (best is None or pages > best[0]):
                    best = (pages, nodes)
        return best[1] if best else {}

    def stop(self):
        try:
            self.qmp.cmd("quit")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_move(vm, timeout=600):
    """Wait for the NUMA move to end; return its final report."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = vm.qmp.cmd("__org.qemu-memx_query-numa-move")[0]
        if info["status"] == "concluded":
            return info
        time.sleep(0.1)
    raise TimeoutError("the NUMA move did not end")


def warm_up(vm, seconds=6.0):
    """Let the tracker see several periods of the guest's sweeps."""
    time.sleep(seconds)
    hot = vm.qmp.cmd("__org.qemu-memx_query-page-activity")["backends"][0]["hot-bytes"]
    if not (HOT_MIB - 2) * MIB <= hot <= (HOT_MIB + 8) * MIB:
        raise RuntimeError(f"the tracker finds {hot / MIB:.0f} MiB hot, the guest "
                           f"sweeps {HOT_MIB} MiB")
    return hot


def move(vm, node, order="hot-first", **extra):
    vm.qmp.cmd("__org.qemu-memx_numa-move",
               dict({"job-id": f"move-{order}-{node}", "node": node,
                     "order": order}, **extra))


def check_on_node(vm, info, node):
    """Everything on @node, by the job's report and by the kernel's."""
    if info.get("error") or info["cancelled"]:
        raise RuntimeError(f"the move failed: {info}")
    off = [r for r in info["residency"] if r["node"] not in (node, -1)]
    if off or info["remaining-bytes"]:
        raise RuntimeError(f"not all on node {node}: {info['residency']}")
    kernel = vm.ram_nodes()
    if any(n != node for n, pages in kernel.items() if pages):
        raise RuntimeError(f"numa_maps shows the guest RAM on {kernel}")
    nodes = vm.qmp.cmd("qom-get", {"path": "/objects/ram0", "property": "host-nodes"})
    policy = vm.qmp.cmd("qom-get", {"path": "/objects/ram0", "property": "policy"})
    if nodes != [node] or policy != "bind":
        raise RuntimeError(f"ram0 reports host-nodes {nodes}, policy {policy}")
    return kernel


def case_moves(work, log):
    """Hot-first to node 1, then address order back to node 0."""
    touch_node_memory()
    vm = Hotset(work).start()
    try:
        warm_up(vm)
        move(vm, 1)
        hot = wait_move(vm)
        kernel = check_on_node(vm, hot, 1)
        log(f"# hot-first: {hot['moved-bytes'] // MIB} MiB in {hot['elapsed-ms']} ms, "
            f"hot 90% local at {hot.get('hot-local-ms')} ms, {hot['rounds']} passes, "
            f"{hot['busy-pages']} busy; numa_maps {kernel}")
        vm.verify()
        move(vm, 0, "address")
        addr = wait_move(vm)
        kernel = check_on_node(vm, addr, 0)
        log(f"# address: {addr['moved-bytes'] // MIB} MiB in {addr['elapsed-ms']} ms, "
            f"hot 90% local at {addr.get('hot-local-ms')} ms, {addr['rounds']} passes, "
            f"{addr['busy-pages']} busy; numa_maps {kernel}")
        line = vm.verify()
        # Judged by bytes, which do not depend on the nested VM's scheduling.
        share_hot = hot["hot-local-bytes"] / max(hot["moved-bytes"], 1)
        share_addr = addr["hot-local-bytes"] / max(addr["moved-bytes"], 1)
        log(f"# hot memory 90% local after {share_hot:.1%} of the bytes (hot-first)"
            f" and {share_addr:.1%} (address order)")
        if not share_hot < 0.5 < share_addr:
            raise RuntimeError(f"hot memory local after {share_hot:.0%} of the "
                               f"bytes of the hot-first move and {share_addr:.0%} "
                               "of the address-order one")
        log(f"# {line}")
    finally:
        vm.stop()


def case_working_set(work, log):
    """Working-set order: the guest's last 10 s first.  The boot fill
    touched all of its data, so the move waits until that has left the
    window (12 s)."""
    touch_node_memory()
    vm = Hotset(work).start()
    try:
        warm_up(vm, 12.0)
        ws = vm.qmp.cmd("__org.qemu-memx_query-working-set",
                        {"windows": [10], "guest-free": False})
        in_window = ws["backends"][0]["windows"][0]["bytes"]
        if not HOT_MIB * MIB <= in_window <= (HOT_MIB + 8) * MIB:
            raise RuntimeError(f"working set {in_window / MIB:.1f} MiB, the guest "
                               f"sweeps {HOT_MIB} MiB")
        move(vm, 1, "working-set")
        info = wait_move(vm)
        kernel = check_on_node(vm, info, 1)
        share = info["hot-local-bytes"] / max(info["moved-bytes"], 1)
        log(f"# working-set order: {info['moved-bytes'] // MIB} MiB in "
            f"{info['elapsed-ms']} ms, hot 90% local at {info.get('hot-local-ms')} ms "
            f"and {share:.1%} of the bytes; numa_maps {kernel}")
        if share >= 0.5:
            raise RuntimeError(f"hot memory local only after {share:.0%} of the move")
        log(f"# {vm.verify()}")
    finally:
        vm.stop()


def case_pause_cancel(work, log):
    """A slow move paused (nothing moves), resumed, cancelled: the guest
    runs on and verifies, and the old policy is back."""
    vm = Hotset(work).start()
    try:
        warm_up(vm, 2)
        move(vm, 1, "address", **{"rate-limit": 16})
        time.sleep(2)
        vm.qmp.cmd("job-pause", {"id": "move-address-1"})
        time.sleep(0.5)
        before = vm.qmp.cmd("__org.qemu-memx_query-numa-move")[0]
        time.sleep(1.5)
        after = vm.qmp.cmd("__org.qemu-memx_query-numa-move")[0]
        jobs = vm.qmp.cmd("query-jobs")
        if jobs[0]["status"] != "paused" or after["moved-bytes"] != before["moved-bytes"]:
            raise RuntimeError(f"pause: {jobs}, moved {before['moved-bytes']} then "
                               f"{after['moved-bytes']}")
        try:
            vm.qmp.cmd("migrate", {"uri": "exec:cat > /dev/null"})
            raise RuntimeError("a migration started during the NUMA move")
        except QMPError as e:
            if "NUMA move" not in e.desc:
                raise
        vm.qmp.cmd("job-resume", {"id": "move-address-1"})
        time.sleep(1)
        vm.qmp.cmd("job-cancel", {"id": "move-address-1"})
        info = wait_move(vm)
        policy = vm.qmp.cmd("qom-get", {"path": "/objects/ram0", "property": "policy"})
        nodes = vm.qmp.cmd("qom-get", {"path": "/objects/ram0",
                                        "property": "host-nodes"})
        if not info["cancelled"] or not 0 < info["moved-bytes"] < GUEST_MIB * MIB:
            raise RuntimeError(f"cancel: {info}")
        if nodes != [0] or policy != "bind":
            raise RuntimeError(f"after cancel ram0 says {nodes} {policy}")
        if vm.qmp.cmd("query-status")["status"] != "running":
            raise RuntimeError("the guest stopped")
        line = vm.verify()
        log(f"# paused at {before['moved-bytes'] // MIB} MiB, cancelled at "
            f"{info['moved-bytes'] // MIB} MiB, residency {info['residency']}; {line}")
    finally:
        vm.stop()


def case_refusals(work, log):
    """Bad input and a running migration get clear errors."""
    vm = Hotset(work, tracker=False).start()
    try:
        checks = [
            ({"job-id": "m", "node": 7}, "does not exist"),
            ({"job-id": "m", "node": 1}, "needs a page-activity tracker"),
            ({"job-id": "m", "node": 1, "order": "address", "memdev": "nope"},
             "does not exist"),
        ]
        for args, want in checks:
            try:
                vm.qmp.cmd("__org.qemu-memx_numa-move", args)
                raise RuntimeError(f"{args} was accepted")
            except QMPError as e:
                if want not in e.desc:
                    raise RuntimeError(f"{args}: '{e.desc}' does not say '{want}'")
        vm.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 * MIB})
        vm.qmp.cmd("migrate", {"uri": "exec:cat > /dev/null"})
        try:
            vm.qmp.cmd("__org.qemu-memx_numa-move",
                       {"job-id": "m", "node": 1, "order": "address"})
            raise RuntimeError("a NUMA move started during a migration")
        except QMPError as e:
            if "migration" not in e.desc:
                raise
        vm.qmp.cmd("migrate_cancel")
        log("# refused: bad node, no tracker, unknown memdev, during migration")
    finally:
        vm.stop()


CASES = [("numa/move hot-first, then address order", case_moves),
         ("numa/move the working set first", case_working_set),
         ("numa/pause, migration refused, resume, cancel", case_pause_cancel),
         ("numa/refusals", case_refusals)]


def touch_node_memory(mib=768):
    """Write memory on every node once. In a fresh nested VM the first
    use of a guest-physical page is slow (the outer QEMU faults it in),
    which would slow whichever move ran first."""
    for node in (0, 1):
        subprocess.run(["numactl", f"--membind={node}", "python3", "-c",
                        f"b = b'\\x01' * ({mib} << 20)"], check=True)


def bench(work, out, log):
    """Hot-first against address order and numactl's migratepages, one
    run each from node 0 to node 1, plus the tracker's cost on the
    guest's sweep rate."""
    touch_node_memory()
    rows = []
    # Times inside a 2-vCPU TCG VM on a 2-core host swing by 3x from run
    # to run (the guest's vCPU, the move and the outer VM compete for the
    # cores): alternate the orders, five runs each, and report medians.
    for _ in range(BENCH_ROUNDS):
        for order in ("hot-first", "address"):
            vm = Hotset(work).start()
            try:
                warm_up(vm)
                move(vm, 1, order)
                info = wait_move(vm)
                check_on_node(vm, info, 1)
                vm.verify()
                rows.append({"method": order, "total_ms": info["elapsed-ms"],
                             "passes": info["rounds"],
                             "busy_pages": info["busy-pages"],
                             "hot_local_ms": info.get("hot-local-ms"),
                             "hot_local_share": round(info["hot-local-ms"] /
                                                      max(info["elapsed-ms"], 1), 3),
                             "hot_local_bytes_share": round(
                                 info["hot-local-bytes"] /
                                 max(info["moved-bytes"], 1), 3),
                             "moved_mib": info["moved-bytes"] // MIB})
                log(f"# {rows[-1]}")
            finally:
                vm.stop()
    vm = Hotset(work).start()
    try:
        warm_up(vm)
        t0 = time.monotonic()
        subprocess.run(["migratepages", str(vm.proc.pid), "0", "1"], check=True)
        rows.append({"method": "migratepages", "total_ms":
                     round((time.monotonic() - t0) * 1000), "hot_local_ms": None,
                     "hot_local_share": None, "hot_local_bytes_share": None,
                     "nodes_after": vm.ram_nodes()})
        vm.verify()
        log(f"# {rows[-1]}")
    finally:
        vm.stop()
    rates = {}
    for tracker in (False, True):
        vm = Hotset(work, tracker=tracker).start()
        try:
            time.sleep(2)
            s0, t0 = vm.sweeps(), time.monotonic()
            time.sleep(10)
            rates[tracker] = (vm.sweeps() - s0) / (time.monotonic() - t0)
            if tracker:
                pa = vm.qmp.cmd("__org.qemu-memx_query-page-activity")
        finally:
            vm.stop()
    medians, spread = {}, {}
    for order in ("hot-first", "address"):
        runs = [r for r in rows if r["method"] == order]
        keys = ("total_ms", "hot_local_ms", "hot_local_share", "hot_local_bytes_share")
        medians[order] = {k: statistics.median(r[k] for r in runs) for k in keys}
        spread[order] = {k: [min(r[k] for r in runs), max(r[k] for r in runs)]
                         for k in keys}
    # Each round ran hot-first and then address order back to back: the
    # ratio of the pair is less exposed to the nested VM's slow and fast
    # spells than the ratio of two medians.
    firsts = [r for r in rows if r["method"] == "hot-first"]
    addrs = [r for r in rows if r["method"] == "address"]
    ratios = [h["total_ms"] / max(a["total_ms"], 1) for h, a in zip(firsts, addrs)]
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "guest_mib": GUEST_MIB, "hot_mib": HOT_MIB, "moves": rows,
           "rounds": BENCH_ROUNDS, "medians": medians, "spread": spread,
           "hot_first_total_vs_address": round(medians["hot-first"]["total_ms"] /
                                               medians["address"]["total_ms"], 3),
           "hot_first_total_vs_address_per_round": {
               "median": round(statistics.median(ratios), 3),
               "min": round(min(ratios), 3), "max": round(max(ratios), 3)},
           "sweeps_per_s": {"no_tracker": round(rates[False], 1),
                            "tcg_tlb_tracker": round(rates[True], 1)},
           "tracker_rate_ratio": round(rates[True] / rates[False], 3),
           "tracker_overhead_us": pa["overhead-us"], "tracker_periods": pa["periods"]}
    if out != "-":
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)
    log("NUMA-BENCH " + json.dumps(doc))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench", help="write the bench's JSON here instead of testing")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="memx-numa-")
    log = lambda m: print(m, flush=True)  # noqa: E731
    nodes = [n for n in os.listdir("/sys/devices/system/node") if n.startswith("node")]
    if len(nodes) < 2:
        print("1..0 # needs a host with two NUMA nodes (tests/numa/nested.py)")
        return 1
    if not os.path.exists(os.path.join(ROOT, "build", "numa", "hotset.elf")):
        print("1..0 # build/numa/hotset.elf missing: run tests/numa/build-hotset.sh "
              "build/numa first (the nested VM sees the tree read-only)")
        return 1
    if a.bench:
        bench(work, a.bench, log)
        return 0
    print(f"1..{len(CASES)}", flush=True)
    failed = 0
    for n, (name, fn) in enumerate(CASES, 1):
        t0 = time.monotonic()
        try:
            fn(work, log)
            print(f"ok {n} {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"not ok {n} {name}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
