"""Two hosts on one machine: the source and the destination QEMU each in a
network namespace of its own, joined by a veth pair whose two ends are
shaped with tc (rate and delay), as named link profiles.

Shaping: netem (rate and delay) where the host kernel has it; otherwise
tbf, which shapes the rate but cannot delay.  The kernel of this
project's CI machines is built without sch_netem (CONFIG_NET_SCH_NETEM
is not set), so there the profiles' delay is not applied and
describe() says so.

Traffic stays inside the namespaces this creates; the names carry the
process id, and close() removes them (a veth pair goes with its
namespace).  Needs root and Debian's iproute2.

    with Link("lan-1g") as link:
        src = Vm(..., netns=link.src_ns)
        dst = Vm(..., netns=link.dst_ns)
        src migrates to f"tcp:{link.dst_addr}:{port}"
        link.cut(); link.restore()
"""

import os
import subprocess

# rate in bits/s, delay added on each end (the round trip is twice it)
PROFILES = {
    "lan-1g": (1_000_000_000, "0.1ms"),
    "dc-10g": (10_000_000_000, "0.05ms"),
    "wan": (200_000_000, "10ms"),
}

SUBNET = "10.231.{}."


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Link:
    """A veth pair between two fresh namespaces, shaped per @profile."""

    def __init__(self, profile):
        if profile not in PROFILES:
            raise ValueError(f"unknown link profile {profile!r}; "
                             f"known: {', '.join(sorted(PROFILES))}")
        self.profile = profile
        tag = os.getpid() % 100000
        self.src_ns, self.dst_ns = f"memx-src-{tag}", f"memx-dst-{tag}"
        self.src_if, self.dst_if = f"mxs{tag}", f"mxd{tag}"
        net = SUBNET.format(tag % 250 + 1)
        self.src_addr, self.dst_addr = net + "1", net + "2"
        self.up = False
        self.shaper = None

    def _shape(self, ns, dev):
        rate, delay = PROFILES[self.profile]
        netem = ["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "netem",
                 "rate", f"{rate}bit", "delay", delay, "limit", "100000"]
        # tbf: a burst of 10 ms at the rate, up to 100 ms queued
        tbf = ["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf",
               "rate", f"{rate}bit", "burst", str(max(rate // 8 // 100, 65536)),
               "latency", "100ms"]
        if self.shaper != "tbf":
            r = subprocess.run(netem, capture_output=True, text=True)
            if r.returncode == 0:
                self.shaper = "netem"
                return
            if "unknown" not in r.stderr:
                raise subprocess.CalledProcessError(r.returncode, netem,
                                                    r.stdout, r.stderr)
        subprocess.run(tbf, check=True, capture_output=True, text=True)
        self.shaper = "tbf"

    def open(self):
        try:
            _ip("netns", "add", self.src_ns)
            _ip("netns", "add", self.dst_ns)
            _ip("link", "add", self.src_if, "netns", self.src_ns, "type", "veth",
                "peer", "name", self.dst_if, "netns", self.dst_ns)
            for ns, dev, addr in ((self.src_ns, self.src_if, self.src_addr),
                                  (self.dst_ns, self.dst_if, self.dst_addr)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                self._shape(ns, dev)
        except subprocess.CalledProcessError as e:
            self.close()
            raise RuntimeError(f"cannot set up link {self.profile}: {e.cmd}: "
                               f"{e.stderr.strip()}") from e
        self.up = True
        return self

    def cut(self):
        """The link fails: both ends go down."""
        _ip("-n", self.src_ns, "link", "set", self.src_if, "down")
        _ip("-n", self.dst_ns, "link", "set", self.dst_if, "down")

    def restore(self):
        _ip("-n", self.src_ns, "link", "set", self.src_if, "up")
        _ip("-n", self.dst_ns, "link", "set", self.dst_if, "up")

    def close(self):
        for ns in (self.src_ns, self.dst_ns):
            _ip("netns", "del", ns, check=False)
        self.up = False

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        rate, delay = PROFILES[self.profile]
        if self.shaper == "netem":
            shape = f"netem {rate / 1e9:g} Gbit/s, {delay} each way"
        else:
            shape = (f"tbf {rate / 1e9:g} Gbit/s, no delay (this kernel has "
                     f"no sch_netem; the profile's is {delay} each way)")
        return f"{self.profile}: veth between two namespaces, {shape}"
