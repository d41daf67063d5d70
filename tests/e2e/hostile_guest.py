#!/usr/bin/env python3
"""A real guest whose kernel data lie to the introspection: QEMU must
stay up, answer at once, and refuse what cannot be true.

The guest (6.12, PVH) runs with -device vmcoreinfo and a gdbstub. Its
symbols come from its own /proc/kallsyms; then the VM is stopped (QMP
stop, and it stays stopped for the queries, so nothing in it moves) and
its kernel data are rewritten from outside, at guest-virtual addresses,
through the gdbstub (GdbStub below: just enough of the GDB remote serial
protocol). Only btf-offset lets the guest run again afterwards. Cases
(TAP):

  btf-offset     before any introspection query (the parsed BTF is kept
                 per VMCOREINFO note), the guest's own .BTF in RAM is
                 changed: struct per_cpu_pages becomes 512 MiB large and
                 its count member sits at the end of it. The query must
                 answer, refuse that layout (pcp-reason) and still find
                 the buddy free pages
  aliased-cpus   -smp 2: nr_cpu_ids 8192, all 8192 CPUs possible, every
                 __per_cpu_offset[i] that of CPU 0: the query must answer
                 within 0.2 s and refuse nr_cpu_ids above the VM's CPUs
  aliased-cpus-64  -smp 2,maxcpus=64, nr_cpu_ids 64 (within the VM's
                 limits), all 64 CPUs' offsets that of CPU 0: the pages
                 on the per-CPU lists are CPU 0's (as when only CPU 0 is
                 possible), not 64 times them
  aliased-nodes  nr_node_ids 1024 and node_data[0..1023] all node 0's, in
                 a VM with one NUMA node: the query must answer within
                 0.2 s (an answer not within 10 s counts as a hang) and
                 refuse nr_node_ids above the VM's nodes

Usage: hostile_guest.py [CASE...]    (default: all; CASE as listed by --list)
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestcase import tap_main  # noqa: E402
from kallsyms_check import guest_kallsyms  # noqa: E402
from run import free_tcp_port  # noqa: E402

FLAVOUR = "6.12"
QUERY = "__org.qemu-memx_query-guest-free-pages"
# what a refusal must take at most, and how long a hang is waited for
FAST_S = 0.2
HANG_S = 10.0
SYMBOLS = ["nr_cpu_ids", "__per_cpu_offset", "__cpu_possible_mask",
           "nr_node_ids", "node_data", "__start_BTF", "__stop_BTF"]


class GdbStub:
    """A minimal client of QEMU's gdbstub (the GDB remote serial protocol):
    $payload#checksum packets with +/- acks; m (read) and M (write) of
    guest-virtual memory, through the current vCPU's page tables; D."""

    def __init__(self, port, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.packet_size = 4096
        for feature in self.cmd("qSupported").split(";"):
            if feature.startswith("PacketSize="):
                self.packet_size = int(feature.split("=", 1)[1], 16)
        # bytes of memory per m/M packet: two hex digits each, plus the
        # command, the address, the length and the framing
        self.chunk = (self.packet_size - 64) // 2 // 8 * 8
        self.stop_reason = self.cmd("?")

    def _byte(self):
        while not self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("gdbstub closed the connection")
            self.buf += data
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def _send(self, payload):
        data = payload.encode()
        frame = b"$" + data + b"#" + b"%02x" % (sum(data) % 256)
        for _ in range(5):
            self.sock.sendall(frame)
            ack = self._byte()
            while ack not in (b"+", b"-"):
                ack = self._byte()      # stray output: skip it
            if ack == b"+":
                return
        raise RuntimeError(f"gdbstub keeps refusing packet {payload[:40]}")

    def _recv(self):
        while self._byte() != b"$":
            pass
        payload = b""
        while True:
            b = self._byte()
            if b == b"#":
                break
            payload += b
        check = self._byte() + self._byte()
        if int(check, 16) != sum(payload) % 256:
            self.sock.sendall(b"-")
            return self._recv()
        self.sock.sendall(b"+")
        return payload.decode()

    def cmd(self, payload):
        self._send(payload)
        return self._recv()

    def read(self, addr, length):
        out = b""
        while len(out) < length:
            n = min(self.chunk, length - len(out))
            reply = self.cmd(f"m{addr + len(out):x},{n:x}")
            if not reply or reply.startswith("E") or len(reply) != 2 * n:
                raise RuntimeError(f"gdbstub cannot read {n} bytes at "
                                   f"{addr + len(out):#x}: {reply[:20]!r}")
            out += bytes.fromhex(reply)
        return out

    def write(self, addr, data):
        for off in range(0, len(data), self.chunk):
            part = data[off:off + self.chunk]
            reply = self.cmd(f"M{addr + off:x},{len(part):x}:{part.hex()}")
            if reply != "OK":
                raise RuntimeError(f"gdbstub cannot write {len(part)} bytes at "
                                   f"{addr + off:#x}: {reply!r}")
        if self.read(addr, len(data)) != data:
            raise RuntimeError(f"what was written at {addr:#x} does not read back")

    def u32(self, addr):
        return struct.unpack("<I", self.read(addr, 4))[0]

    def u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def detach(self):
        """Detach; QEMU's gdbstub then lets the VM run again."""
        try:
            self.cmd("D")
        finally:
            self.sock.close()

    def close(self):
        """Go without detaching: the VM stays stopped (a guest whose data
        were made up is not run again)."""
        self.sock.close()


def symbols(vm):
    """The symbols this suite needs, from the guest's /proc/kallsyms."""
    found = guest_kallsyms(vm, SYMBOLS)
    addrs = {}
    for name in SYMBOLS:
        got = found.get(name, set())
        if len(got) != 1 or 0 in got:
            raise RuntimeError(f"the guest's /proc/kallsyms has {name} at "
                               f"{sorted(hex(a) for a in got)}")
        addrs[name] = got.pop()
    return addrs


def boot(c, smp=None, name="guest"):
    """A 6.12 guest with a gdbstub; its symbols; then stopped, with the
    gdbstub attached. Returns (vm, gdb, symbols)."""
    port = free_tcp_port()
    extra = ["-gdb", f"tcp:127.0.0.1:{port}"]
    if smp:
        extra += ["-smp", smp]      # after the Vm's own -smp 1: this one wins
    vm = c.vm(name, FLAVOUR, extra)
    syms = symbols(vm)
    vm.qmp.cmd("stop")
    gdb = GdbStub(port)
    return vm, gdb, syms


def query(vm, timeout=HANG_S):
    """One query, timed; fails if QEMU dies or does not answer in time."""
    old = vm.qmp.sock.gettimeout()
    vm.qmp.sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        resp = vm.qmp.cmd_raw(QUERY)
    except (socket.timeout, TimeoutError):
        vm.kill()       # stuck under its big lock: no QMP quit would work
        raise RuntimeError(f"QEMU did not answer the query within {timeout:.0f}s "
                           "(still walking what the guest made up)") from None
    except (EOFError, OSError) as e:
        try:
            rc = vm.proc.wait(10)
        except Exception:       # noqa: BLE001
            rc = None
        sig = f" (signal {-rc})" if rc is not None and rc < 0 else ""
        raise RuntimeError(f"QEMU died during the query{sig}: exit status {rc}; "
                           f"{type(e).__name__}: {e}; log: {vm.qemu_log()[-300:]}") from None
    finally:
        if vm.running():
            vm.qmp.sock.settimeout(old)
    elapsed = time.monotonic() - t0
    if "error" in resp:
        raise RuntimeError(f"query failed: {resp['error']}")
    return resp["return"], elapsed


def alive(vm):
    if not vm.running():
        raise RuntimeError("QEMU is gone")
    return vm.status()


def assert_refused_fast(info, elapsed, word, what):
    reason = info.get("pcp-reason") or info.get("reason") or ""
    if word not in reason:
        walk = info.get("pcp-lists", {})
        raise RuntimeError(f"{what} was not refused (took {elapsed:.3f}s, walked "
                           f"{walk.get('cpus')} CPUs, {walk.get('walked')} lists, "
                           f"pcp-pages {info.get('pcp-pages')}): reason {reason!r}")
    if elapsed >= FAST_S:
        raise RuntimeError(f"{what} refused, but only after {elapsed:.3f}s "
                           f"(at most {FAST_S}s): {reason}")
    return reason


# --- BTF: just enough of the format to find one struct member ---------

BTF_MAGIC = 0xeb9f
BTF_KIND_STRUCT = 4
# bytes after struct btf_type, by kind: fixed, or per vlen entry
BTF_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
BTF_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


def btf_find_member(btf, struct_name, member_name):
    """(offset of the struct's btf_type record, offset of the member's
    btf_member record, kind_flag) in @btf, a BTF blob; hdr_len included."""
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
        struct.unpack_from("<HBBIIIII", btf, 0)
    if magic != BTF_MAGIC:
        raise RuntimeError(f"no BTF magic: {magic:#x}")
    types = hdr_len + type_off
    strings = hdr_len + str_off
    want_struct = struct_name.encode() + b"\0"
    want_member = member_name.encode() + b"\0"

    def name_is(off, want):
        return btf[strings + off:strings + off + len(want)] == want

    pos, end = types, types + type_len
    while pos < end:
        name_off, info, _size = struct.unpack_from("<III", btf, pos)
        kind, vlen = (info >> 24) & 0x1f, info & 0xffff
        rec = pos
        pos += 12 + BTF_FIXED.get(kind, 0) + vlen * BTF_PER_VLEN.get(kind, 0)
        if kind != BTF_KIND_STRUCT or not name_is(name_off, want_struct):
            continue
        for i in range(vlen):
            m = rec + 12 + 12 * i
            if name_is(struct.unpack_from("<I", btf, m)[0], want_member):
                return rec, m, bool(info >> 31)
        raise RuntimeError(f"BTF struct {struct_name} has no member {member_name}")
    raise RuntimeError(f"BTF has no struct {struct_name}")


def case_btf_offset(c):
    vm, gdb, syms = boot(c)
    start, stop = syms["__start_BTF"], syms["__stop_BTF"]
    hdr = gdb.read(start, 24)
    _m, _v, _f, hdr_len, _to, _tl, str_off, str_len = struct.unpack("<HBBIIIII", hdr)
    size = hdr_len + str_off + str_len
    if size > stop - start:
        raise RuntimeError(f"BTF header claims {size} bytes, the section has "
                           f"{stop - start}")
    # 5 MB is cheaper through QMP's memsave than 2 KiB gdb packets
    copy = c.path("btf")
    vm.qmp.cmd("memsave", {"val": start, "size": size, "filename": copy})
    with open(copy, "rb") as f:
        btf = f.read()
    os.unlink(copy)
    rec, member, kind_flag = btf_find_member(btf, "per_cpu_pages", "count")
    if kind_flag:
        raise RuntimeError("struct per_cpu_pages has bitfields in this kernel's BTF")
    gdb.write(start + rec + 8, struct.pack("<I", 0x20000000))           # size
    gdb.write(start + member + 8, struct.pack("<I", 0x1ffffff0 * 8))    # bits
    info, elapsed = query(vm)
    alive(vm)
    reason = info.get("pcp-reason") or ""
    if "per_cpu_pages" not in reason:
        raise RuntimeError(f"the BTF layout was not refused: pcp-reason {reason!r}, "
                           f"btf-reason {info.get('btf-reason')!r}")
    if not info["available"] or not info.get("buddy-pages"):
        raise RuntimeError(f"the buddy free pages were lost with the per-CPU "
                           f"lists: {info.get('reason')} (buddy-pages "
                           f"{info.get('buddy-pages')})")
    # the guest runs on (its kernel does not read its BTF) and the layout
    # stays refused
    gdb.detach()
    vm.run("sh true", 30)
    again, _ = query(vm)
    if again.get("pcp-reason") != reason or not again["available"]:
        raise RuntimeError(f"a query of the running guest differs: "
                           f"{again.get('pcp-reason')!r}")
    return (f"{size} bytes of BTF, per_cpu_pages at +{rec:#x}: answered in "
            f"{elapsed:.3f}s, {info['buddy-pages']} buddy pages, refused: {reason}")


def alias_cpus(gdb, syms, nr, mask_bits):
    """nr_cpu_ids = @nr, the first @mask_bits CPUs possible, every
    __per_cpu_offset[0..nr) CPU 0's."""
    mask = bytearray((nr + 7) // 8)
    for cpu in range(mask_bits):
        mask[cpu // 8] |= 1 << (cpu % 8)
    base = gdb.u64(syms["__per_cpu_offset"])
    gdb.write(syms["nr_cpu_ids"], struct.pack("<I", nr))
    gdb.write(syms["__cpu_possible_mask"], bytes(mask))
    gdb.write(syms["__per_cpu_offset"], struct.pack("<Q", base) * nr)


def case_aliased_cpus(c):
    # 8192 CPUs, far more than the VM's 2, all of them CPU 0
    vm, gdb, syms = boot(c, "2")
    before, _ = query(vm)       # reads kallsyms and BTF once: not timed below
    if gdb.u32(syms["nr_cpu_ids"]) != 2:
        raise RuntimeError(f"nr_cpu_ids is {gdb.u32(syms['nr_cpu_ids'])} with -smp 2")
    alias_cpus(gdb, syms, 8192, 8192)
    info, elapsed = query(vm)
    alive(vm)
    reason = assert_refused_fast(info, elapsed, "nr_cpu_ids",
                                 "nr_cpu_ids 8192 with 2 vCPUs")
    if not info["available"]:
        raise RuntimeError(f"the buddy free pages were lost with the per-CPU "
                           f"lists: {info.get('reason')}")
    gdb.close()
    return (f"refused in {elapsed:.3f}s: {reason} (before: {before.get('pcp-pages')} "
            f"per-CPU pages of 2 CPUs)")


def case_aliased_cpus_64(c):
    # 64 CPUs, as many as the VM can have, all of them CPU 0. The guest
    # itself has nr_cpu_ids 2: under TCG it sees no hypervisor, and a
    # kernel on what it takes for bare metal ignores QEMU's disabled MADT
    # entries (the CPUs maxcpus leaves to hotplug); so it is told 64 here.
    vm, gdb, syms = boot(c, "2,maxcpus=64")
    nr = gdb.u32(syms["nr_cpu_ids"])
    if nr not in (2, 64):
        raise RuntimeError(f"nr_cpu_ids is {nr} with -smp 2,maxcpus=64")
    # CPU 0's lists alone: only CPU 0 possible (the VM stays stopped, so
    # its lists hold still between the two queries)
    gdb.write(syms["__cpu_possible_mask"], struct.pack("<Q", 1))
    alone, _ = query(vm)
    if not alone["available"] or "pcp-lists" not in alone:
        raise RuntimeError(f"CPU 0's lists were not walked: {alone.get('reason')} "
                           f"{alone.get('pcp-reason')}")
    if not alone["pcp-pages"]:
        raise RuntimeError("CPU 0's per-CPU lists are empty: aliasing cannot be told")
    alias_cpus(gdb, syms, 64, 64)
    info, elapsed = query(vm)
    alive(vm)
    if not info["available"] or info.get("pcp-pages") != alone["pcp-pages"]:
        raise RuntimeError(f"64 CPUs aliased to CPU 0 give {info.get('pcp-pages')} "
                           f"per-CPU pages, CPU 0 alone {alone['pcp-pages']} "
                           f"(pcp-reason {info.get('pcp-reason')!r})")
    gdb.close()
    walk = info.get("pcp-lists", {})
    return (f"{info['pcp-pages']} per-CPU pages, as CPU 0's alone, in {elapsed:.3f}s "
            f"({walk.get('walked')} lists walked, {walk.get('aliased', '?')} aliased)")


def case_aliased_nodes(c):
    vm, gdb, syms = boot(c)
    query(vm)                   # reads kallsyms and BTF once: not timed below
    nodes = gdb.u32(syms["nr_node_ids"])
    if nodes != 1:
        raise RuntimeError(f"nr_node_ids is {nodes} without -numa")
    node0 = gdb.u64(syms["node_data"])
    gdb.write(syms["nr_node_ids"], struct.pack("<I", 1024))
    gdb.write(syms["node_data"], struct.pack("<Q", node0) * 1024)
    info, elapsed = query(vm)
    alive(vm)
    reason = assert_refused_fast(info, elapsed, "nr_node_ids",
                                 "nr_node_ids 1024 with one NUMA node")
    gdb.close()
    return f"refused in {elapsed:.3f}s: {reason}"


CASES = {"btf-offset": case_btf_offset, "aliased-cpus": case_aliased_cpus,
         "aliased-cpus-64": case_aliased_cpus_64, "aliased-nodes": case_aliased_nodes}


if __name__ == "__main__":
    sys.exit(tap_main("hostile-guest", __doc__, CASES, "1G"))
