"""The migration configurations the e2e tests and benchmarks run
(CONFIGS: capabilities, parameters, devices), and the plumbing around a
migration: setting it up, waiting for it, its transports, and the
statistics a record keeps from query-migrate."""

import os
import socket
import time

MIB = 1024 * 1024


PATTERN_CAP = "__org.qemu-memx_pattern-pages"
SKIP_CAP = "__org.qemu-memx_skip-free-pages"


GUARD_CAP = "__org.qemu-memx_switchover-guard"
SKIP_STAT = "__org.qemu-memx_free-pages-skipped"


BALLOON_HINT = ["-object", "iothread,id=io0", "-device",
                "virtio-balloon-pci,free-page-hint=on,iothread=io0"]


# Migration configurations: capabilities, parameters and extra devices.
CONFIGS = {
    "precopy": {"caps": {}, "params": {}},
    "multifd": {"caps": {"multifd": True}, "params": {"multifd-channels": 2},
                "expect": {"multifd_bytes": "bytes through multifd channels"}},
    "balloon-hint": {"caps": {}, "params": {}, "devices": BALLOON_HINT},
    # qemu-memx features
    "pattern-pages": {"caps": {PATTERN_CAP: True}, "params": {},
                      "expect": {"pattern_pages": "pattern pages"}},
    "pattern-pages-multifd": {"caps": {PATTERN_CAP: True, "multifd": True},
                              "params": {"multifd-channels": 2},
                              "expect": {"pattern_pages": "pattern pages",
                                         "multifd_bytes": "multifd bytes"}},
    # XBZRLE needs several rounds: cap bandwidth so the flips are resent
    "pattern-pages-xbzrle": {"caps": {PATTERN_CAP: True, "xbzrle": True},
                             "params": {"xbzrle-cache-size": 64 * MIB,
                                        "max-bandwidth": 64 * MIB,
                                        "downtime-limit": 100},
                             "expect": {"pattern_pages": "pattern pages",
                                        "xbzrle_pages": "XBZRLE pages"}},
    # switch to postcopy as soon as migration runs: most pages go postcopy
    # (precopy slowed down so that it has not finished by then; postcopy
    # itself runs at full speed)
    "pattern-pages-postcopy": {"caps": {PATTERN_CAP: True, "postcopy-ram": True},
                               "params": {"max-bandwidth": 16 * MIB},
                               "postcopy": True,
                               "expect": {"pattern_pages": "pattern pages",
                                          "postcopy_bytes": "postcopy bytes"}},
    # guest-free page skipping (docs/free-page-skipping.rst)
    "skip-free": {"caps": {SKIP_CAP: True}, "params": {}},
    # slow enough for many passes, each with a scan, while the guest churns
    "skip-free-throttled": {"caps": {SKIP_CAP: True},
                            "params": {"max-bandwidth": 96 * MIB},
                            "min_scans": 2},
    "skip-free-multifd": {"caps": {SKIP_CAP: True, "multifd": True},
                          "params": {"multifd-channels": 2},
                          "expect": {"multifd_bytes": "multifd bytes"}},
    "skip-free-pattern": {"caps": {SKIP_CAP: True, PATTERN_CAP: True}, "params": {}},
    "skip-free-pattern-multifd": {"caps": {SKIP_CAP: True, PATTERN_CAP: True,
                                           "multifd": True},
                                  "params": {"multifd-channels": 2},
                                  "expect": {"multifd_bytes": "multifd bytes"}},
    # multifd compression (zstd, zlib), alone and with qemu-memx's
    # features: pattern pages stay metadata and only normal pages go
    # through the compressor; skip-free drops pages before either
    # stock multifd with the switchover guard (its capability alone)
    "multifd-guard": {"caps": {"multifd": True, GUARD_CAP: True},
                      "params": {"multifd-channels": 2}},
    "multifd-zstd": {"caps": {"multifd": True},
                     "params": {"multifd-channels": 2, "multifd-compression": "zstd"},
                     "expect": {"multifd_bytes": "multifd bytes"}},
    "multifd-zlib": {"caps": {"multifd": True},
                     "params": {"multifd-channels": 2, "multifd-compression": "zlib"},
                     "expect": {"multifd_bytes": "multifd bytes"}},
    "pattern-pages-multifd-zstd": {"caps": {PATTERN_CAP: True, "multifd": True},
                                   "params": {"multifd-channels": 2,
                                              "multifd-compression": "zstd"},
                                   "expect": {"pattern_pages": "pattern pages",
                                              "multifd_bytes": "multifd bytes"}},
    "pattern-pages-multifd-zlib": {"caps": {PATTERN_CAP: True, "multifd": True},
                                   "params": {"multifd-channels": 2,
                                              "multifd-compression": "zlib"},
                                   "expect": {"pattern_pages": "pattern pages",
                                              "multifd_bytes": "multifd bytes"}},
    "skip-free-pattern-multifd-zstd": {"caps": {SKIP_CAP: True, PATTERN_CAP: True,
                                                "multifd": True},
                                       "params": {"multifd-channels": 2,
                                                  "multifd-compression": "zstd"},
                                       "expect": {"multifd_bytes": "multifd bytes"}},
    # the guest never hands over VMCOREINFO: nothing may be skipped
    "skip-free-no-vmcoreinfo": {"caps": {SKIP_CAP: True}, "params": {},
                                "append": "module_blacklist=qemu_fw_cfg",
                                "skip_blocked": True},
}


DEFAULT_PARAMS = {"max-bandwidth": 10 * 1024 * MIB, "downtime-limit": 300}


def mem_mib(spec):
    units = {"M": 1, "G": 1024}
    return int(float(spec[:-1]) * units[spec[-1].upper()]) if spec[-1].isalpha() else int(spec)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_migration(vm, caps, params):
    if caps:
        vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": k, "state": v} for k, v in caps.items()]})
    if params:
        vm.qmp.cmd("migrate-set-parameters", params)


def wait_migration(vm, timeout=600, until=("completed", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while True:
        info = vm.qmp.cmd("query-migrate")
        if info.get("status") in until:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration still {info.get('status')} after {timeout}s")
        time.sleep(0.1)


def wait_status(vm, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        st = vm.status()
        if st in wanted:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"{vm.name}: status {st}, wanted {wanted}")
        time.sleep(0.05)


def transport_uris(kind, workdir, link=None):
    if link:
        # the destination host's address on the link; its namespace is
        # fresh, so any port is free
        uri = f"tcp:{link.dst_addr}:4444"
        return uri, uri, True
    if kind == "tcp":
        port = free_tcp_port()
        return f"tcp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}", True
    if kind == "unix":
        path = os.path.join(workdir, "migrate.sock")
        return f"unix:{path}", f"unix:{path}", True
    if kind == "file":
        path = os.path.join(workdir, "migrate.img")
        return f"file:{path}", f"file:{path}", False
    if kind == "exec":
        path = os.path.join(workdir, "migrate.stream")
        return f"exec:cat > {path}", f"exec:cat {path}", False
    raise ValueError(f"unknown transport {kind}")


def ram_stats(info):
    """The record fields make bench and demo report (docs/benchmarks.rst).
    Feature fields stay None until a feature reports them."""
    ram = info.get("ram", {})
    return {
        "status": info.get("status"),
        "transferred_bytes": ram.get("transferred", 0),
        "transferred_mib": ram.get("transferred", 0) / MIB,
        "total_time_ms": info.get("total-time"),
        "downtime_ms": info.get("downtime"),
        "setup_time_ms": info.get("setup-time"),
        "normal_pages": ram.get("normal", 0),
        "zero_pages": ram.get("duplicate", 0),
        "dirty_sync_count": ram.get("dirty-sync-count"),
        "postcopy_bytes": ram.get("postcopy-bytes"),
        "multifd_bytes": ram.get("multifd-bytes"),
        "xbzrle_pages": info.get("xbzrle-cache", {}).get("pages"),
        "skipped_pages": ram.get(SKIP_STAT),
        "free_bytes_saved": ram.get("__org.qemu-memx_free-bytes-saved"),
        "free_pages_uniform": ram.get("__org.qemu-memx_free-pages-uniform"),
        "free_page_scans": ram.get("__org.qemu-memx_free-page-scans"),
        "free_page_scan_us": ram.get("__org.qemu-memx_free-page-scan-time-us"),
        "free_page_scan_max_us": ram.get("__org.qemu-memx_free-page-scan-max-us"),
        "free_page_scan_bql_us": ram.get("__org.qemu-memx_free-page-scan-bql-us"),
        "skip_blocked": ram.get("__org.qemu-memx_free-page-skip-blocked"),
        "first_pass_bytes": ram.get("__org.qemu-memx_first-pass-bytes"),
        "pattern_pages": ram.get(PATTERN_CAP),
        "pattern_bytes_saved": ram.get("__org.qemu-memx_pattern-bytes-saved"),
        "switchover_guard": info.get("__org.qemu-memx_switchover"),
    }


def migration_cpu_seconds(pid):
    """CPU seconds a QEMU process has spent outside its vCPU threads (the
    vCPUs' time is the guest's, not the migration's). Whole-process time
    still counts threads that have exited, such as multifd's."""
    tick = os.sysconf("SC_CLK_TCK")

    def utime_stime(path):
        with open(path) as f:
            stat = f.read()
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        return name, int(fields[11]) + int(fields[12])

    _, total = utime_stime(f"/proc/{pid}/stat")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name, ticks = utime_stime(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        if name.endswith("/TCG") or name.endswith("/KVM"):
            total -= ticks
    return total / tick
