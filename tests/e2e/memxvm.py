"""Small QMP client and VM driver for qemu-memx's end-to-end tests.

A Vm is one qemu-system-x86_64 process running a test guest from
tests/guest. It is driven over QMP (a unix socket) and talks to the guest
workload over the serial port (another unix socket): lines the guest
prints that start with "MEMX-" are collected, commands are sent as text.

Only the standard library is used.
"""

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


class QMPError(Exception):
    """A QMP command answered with an error."""

    def __init__(self, cmd, error):
        super().__init__(f"{cmd}: {error.get('class')}: {error.get('desc')}")
        self.error_class = error.get("class")
        self.desc = error.get("desc", "")


class QMP:
    """Synchronous QMP client over a unix socket; events are queued.
    A QEMU that stops answering fails the caller (socket.timeout) instead
    of hanging it: the greeting must come within @timeout, an answer
    within REPLY_TIMEOUT (dump-guest-memory of a big guest is the
    slowest command the tests send)."""

    REPLY_TIMEOUT = 600.0

    def __init__(self, path, timeout=30.0, alive=None):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline or (alive and not alive()):
                    raise
                time.sleep(0.05)
        self.sock.settimeout(max(deadline - time.monotonic(), 1.0))
        self.file = self.sock.makefile("rwb", buffering=0)
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"no QMP greeting: {greeting}")
        self.sock.settimeout(self.REPLY_TIMEOUT)
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return json.loads(line)

    def cmd_raw(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._read()
            if "event" in resp:
                self.events.append(resp)
                continue
            return resp

    def cmd(self, name, args=None):
        resp = self.cmd_raw(name, args)
        if "error" in resp:
            raise QMPError(name, resp["error"])
        return resp["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", {"command-line": line})

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def qemu_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("QEMU_MEMX_BINARY",
                          os.path.join(here, "..", "..", "build",
                                       "qemu-system-x86_64"))


def guest_kernels():
    """The guest kernel flavours, one per line of tests/guest/KERNELS."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "guest", "KERNELS")) as f:
        return [line.split()[0] for line in f
                if line.strip() and not line.startswith("#")]


def guest_dir(flavour):
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.environ.get("QEMU_MEMX_GUEST_DIR",
                                       os.path.join(here, "..", "..", "build",
                                                    "guest")), flavour)


class SerialConsole:
    """The workload's line protocol on a guest serial port (a unix socket
    where QEMU listens): commands out, MEMX- lines back."""

    def __init__(self, name, path, console_path, alive=lambda: True,
                 describe=lambda: ""):
        self.name = name
        self.path = path
        self.console_path = console_path
        self.alive = alive          # is the QEMU behind the port running?
        self.describe = describe    # what to add to an error: its log
        self.lines = queue.Queue()
        self.console = []
        self.rates = []     # (host monotonic time, "MEMX-RATE ...")
        self._sock = None

    def connect(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._sock = sock
        threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _reader(self):
        buf = b""
        with open(self.console_path, "ab") as con:
            while True:
                try:
                    data = self._sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                con.write(data)
                con.flush()
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode(errors="replace").strip("\r")
                    idx = text.find("MEMX-")
                    if idx >= 0 and text.startswith("MEMX-RATE", idx):
                        # the guest's work rate: kept apart, with when it came
                        self.rates.append((time.monotonic(), text[idx:]))
                    elif idx >= 0:
                        self.lines.put(text[idx:])
                        self.console.append(text[idx:])

    def expect(self, prefix, timeout=120):
        """Wait for a MEMX- line starting with prefix; MEMX-ERR fails."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no '{prefix}' within {timeout}s;"
                                   f" console: {self.console[-5:]} log: {self.describe()}")
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if not self.alive():
                    raise RuntimeError(f"{self.name}: QEMU exited: {self.describe()}")
                continue
            if line.startswith("MEMX-ERR"):
                raise RuntimeError(f"{self.name}: guest error: {line}")
            if line.startswith(prefix):
                return line

    def console_text(self):
        """Everything the guest printed on its console so far."""
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def send(self, command):
        self._sock.sendall(command.encode() + b"\n")

    def run(self, command, timeout=300):
        """Send a workload command and wait for its reply."""
        self.send(command)
        verb = command.split()[0]
        if verb == "verify":
            return self.expect("MEMX-VERIFY", timeout)
        return self.expect(f"MEMX-OK {verb}", timeout)

    def verify(self, timeout=300):
        line = self.run("verify", timeout)
        fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        return fields.get("status") == "ok", line

    def close(self):
        if self._sock:
            self._sock.close()


# A trace line of QEMU's log backend with -msg timestamp=on:
# "pid@seconds.microseconds:event arguments" (wall clock, gettimeofday)
TRACE_LINE = re.compile(r"^\d+@(\d+\.\d+):(\S+) ?(.*)$")


class Vm:
    """One QEMU process with QMP and a line-oriented serial console.
    trace: QEMU trace events to log, with wall-clock timestamps, into
    trace.log (read back with trace_events)."""

    def __init__(self, name, flavour="6.12", mem="1G", boot="pvh",
                 append="", machine="q35", binary=None, incoming=None,
                 extra_args=(), workdir=None, defaults=False, netns=None,
                 prefix=(), trace=(), smp=1):
        self.name = name
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"memx-{name}-")
        os.makedirs(self.workdir, exist_ok=True)
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        self.serial_path = os.path.join(self.workdir, "serial.sock")
        self.log_path = os.path.join(self.workdir, "qemu.log")
        self.console_path = os.path.join(self.workdir, "console.log")
        self.trace_path = os.path.join(self.workdir, "trace.log")
        gdir = guest_dir(flavour)
        kernel = os.path.join(gdir, "vmlinux" if boot == "pvh" else "bzImage")
        self.args = [
            binary or qemu_binary(),
            # debug-threads: named threads, so a vCPU's CPU time can be
            # told from the rest (run.migration_cpu_seconds)
            "-name", f"{name},debug-threads=on", "-M", machine, "-accel", "tcg",
            "-m", mem, "-smp", str(smp), "-display", "none", "-no-reboot",
            "-kernel", kernel,
            "-initrd", os.path.join(gdir, "initramfs.cpio"),
            "-append", f"console=ttyS0 quiet panic=-1 {append}".strip(),
            "-chardev", f"socket,id=ser0,path={self.serial_path},server=on,wait=off",
            "-serial", "chardev:ser0",
            "-device", "vmcoreinfo",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
        ]
        if defaults:
            # A VM as most users run it: the machine's default devices
            # (VGA, a NIC) with networking restricted to this host.
            self.args += ["-nic", "user,model=e1000e,restrict=on"]
        else:
            self.args += ["-nodefaults"]
        if incoming:
            self.args += ["-incoming", incoming]
        if trace:
            events = os.path.join(self.workdir, "trace-events")
            with open(events, "w") as f:
                f.write("\n".join(trace) + "\n")
            self.args += ["-msg", "timestamp=on", "-trace", f"events={events}",
                          "-D", self.trace_path]
        self.args += list(extra_args)
        if netns:
            # another host: QEMU in that network namespace (ip execs it,
            # so the process is QEMU's own); QMP and the console are unix
            # sockets, which namespaces do not separate
            self.args = ["ip", "netns", "exec", netns] + self.args
        # commands that exec what follows (a cgroup to run in, say)
        self.args = list(prefix) + self.args
        self.proc = None
        self.qmp = None
        self.serial = SerialConsole(name, self.serial_path, self.console_path,
                                    alive=self.running, describe=self.qemu_log)

    def start(self):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            # Generous: with both make check lanes busy on two cores, a
            # QEMU can take long to greet (a memdedup case once did not
            # within 30 s); one that exits is seen at once.
            self.qmp = QMP(self.qmp_path, timeout=120.0,
                           alive=lambda: self.proc.poll() is None)
        except Exception as e:
            self.proc.wait(timeout=5) if self.proc.poll() is not None else None
            rc = self.proc.poll()
            state = ("still running" if rc is None else
                     f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}")
            raise RuntimeError(f"{self.name}: QEMU did not start ({state}; QMP: "
                               f"{type(e).__name__}: {e}): {self.qemu_log()}")
        self.serial.connect()
        return self

    def qemu_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def trace_events(self, name):
        """Every logged trace event @name, as (wall-clock seconds, its
        arguments as text), oldest first; [] if none (or no trace log)."""
        try:
            with open(self.trace_path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        return [(float(m.group(1)), m.group(3)) for m in map(TRACE_LINE.match, lines)
                if m and m.group(2) == name]

    @property
    def console(self):
        return self.serial.console

    def expect(self, prefix, timeout=120):
        return self.serial.expect(prefix, timeout)

    def console_text(self):
        return self.serial.console_text()

    def send(self, command):
        self.serial.send(command)

    def run(self, command, timeout=300):
        return self.serial.run(command, timeout)

    def verify(self, timeout=300):
        return self.serial.verify(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.running():
            try:
                self.qmp.cmd("quit")
            except Exception:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.qmp:
            self.qmp.close()
        self.serial.close()

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def finish(vms, work, ok, log):
    """Stop the VMs; keep their logs and consoles only when the case failed
    (or MEMX_E2E_KEEP is set)."""
    ok = ok and not os.environ.get("MEMX_E2E_KEEP")
    for vm in vms:
        if vm:
            vm.cleanup(keep=not ok)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"# logs kept in {work}")
