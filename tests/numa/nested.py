#!/usr/bin/env python3
"""Run a command inside a Linux VM that has two NUMA nodes.

qemu-memx's hot-first NUMA move sends a running VM's RAM to another host
NUMA node.  A machine with a single node cannot show that a page really
moved, so the tests that need two nodes run inside an "outer VM" instead:

* Debian's stock QEMU (/usr/bin/qemu-system-x86_64) on TCG, q35, two vCPUs
  and two NUMA nodes (node 0 = CPU 0 + the first half of RAM, node 1 =
  CPU 1 + the second half, distance 20);
* the 6.12 test guest from tests/guest (build/guest/6.12), booted through
  PVH.  Its /init, given memx.chroot=TAG on the kernel command line, mounts
  this host's root filesystem read-only over virtio-9p and runs the command
  chrooted into it (see tests/guest/init.sh).

The command therefore sees two NUMA nodes together with this host's whole
userland at the same absolute paths: python3, numactl, and this
repository's build (build/qemu-system-x86_64 and its shared libraries).
It starts in the repository root with stdin from /dev/null.  /tmp, /run,
/var/tmp and /dev/shm are empty tmpfs mounts; everything else is
read-only.  The outer VM has no network device.  The command's output
comes back over the outer VM's serial console and is streamed as it
arrives; results are meant to be printed.  The command travels on the
kernel command line (base64), so it must stay under about 1.4 KB: run a
script from the repository for anything longer.

Command line:
    python3 tests/numa/nested.py [--mem-per-node MIB] [--timeout S]
                                 [--kernel-options OPTS] -- CMD [ARG...]
exits with CMD's status, or with 125 if the outer VM failed (no guest,
did not boot, died, timed out).

From Python:
    run_nested(cmd, mem_per_node_mib=2048, timeout=1800, log=print) -> int
returns CMD's status and raises NestedVmError if the outer VM failed.

Environment: QEMU_MEMX_OUTER_QEMU (the outer QEMU, default
/usr/bin/qemu-system-x86_64) and QEMU_MEMX_GUEST_DIR (where the guests are,
default build/guest, as for tests/e2e).
"""

import argparse
import base64
import ctypes
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "..", ".."))
OUTER_QEMU = "/usr/bin/qemu-system-x86_64"
GUEST_FLAVOUR = "6.12"          # the flavour whose initramfs has the 9p modules
SHARE_TAG = "hostroot"
HARNESS_FAILED = 125            # our exit status when the outer VM failed

# x86's COMMAND_LINE_SIZE is 2048 bytes including the final NUL.
KERNEL_CMDLINE_MAX = 2047
# Kernel options besides ours: quiet boot, a panic ends QEMU (with
# -no-reboot), and no speculation mitigations (nothing to protect in a test
# VM; page-table isolation in particular makes syscalls slow under TCG).
KERNEL_OPTIONS = "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off"

RUN_LINE = re.compile(r"^MEMX-NESTED-RUN\b(.*)$")
EXIT_LINE = re.compile(r"^MEMX-NESTED-EXIT (\d+)$")
ERROR_LINE = re.compile(r"^MEMX-NESTED-ERROR (.*)$")
POWER_DOWN_LINE = re.compile(r"^\[ *[0-9.]+\] reboot: Power down$")


class NestedVmError(RuntimeError):
    """The outer VM did not run the command to completion."""


def guest_dir():
    base = os.environ.get("QEMU_MEMX_GUEST_DIR",
                          os.path.join(REPO_ROOT, "build", "guest"))
    return os.path.join(base, GUEST_FLAVOUR)


def kernel_command_line(command, cwd, extra_options=""):
    """The outer guest's kernel command line for running shell command
    `command` (a string) in host directory `cwd`, with `extra_options`
    for the kernel."""
    if not os.path.isabs(cwd) or re.search(r"\s", cwd):
        raise ValueError(f"the working directory must be an absolute path without"
                         f" whitespace (the kernel command line carries it): {cwd!r}")
    encoded = base64.b64encode(command.encode()).decode()
    line = (f"{KERNEL_OPTIONS} {extra_options} memx.chroot={SHARE_TAG} memx.cwd={cwd}"
            f" memx.cmd={encoded}")
    if len(line) > KERNEL_CMDLINE_MAX:
        raise ValueError(f"the command is too long for the kernel command line"
                         f" ({len(line)} > {KERNEL_CMDLINE_MAX} bytes once encoded);"
                         f" put it in a script under {REPO_ROOT} and run that")
    return line


def outer_vm_args(command_line, mem_per_node_mib, qemu=None):
    """The outer QEMU's argument list."""
    gdir = guest_dir()
    kernel = os.path.join(gdir, "vmlinux")
    initrd = os.path.join(gdir, "initramfs.cpio")
    node_mem = f"{mem_per_node_mib}M"
    return [
        qemu or os.environ.get("QEMU_MEMX_OUTER_QEMU", OUTER_QEMU),
        "-name", "memx-nested",
        # 'max' (TCG's full feature set: AVX2, 1G pages, ...) runs the
        # nested fork as fast as 'qemu64' does and hides nothing from it.
        "-accel", "tcg", "-M", "q35", "-cpu", "max",
        "-smp", "2", "-m", f"{2 * mem_per_node_mib}M",
        "-object", f"memory-backend-ram,id=m0,size={node_mem}",
        "-object", f"memory-backend-ram,id=m1,size={node_mem}",
        "-numa", "node,nodeid=0,cpus=0,memdev=m0",
        "-numa", "node,nodeid=1,cpus=1,memdev=m1",
        "-numa", "dist,src=0,dst=1,val=20",
        "-nodefaults", "-display", "none", "-no-reboot",
        "-kernel", kernel, "-initrd", initrd, "-append", command_line,
        "-virtfs", f"local,path=/,mount_tag={SHARE_TAG},security_model=none,"
                   "readonly=on,multidevs=remap",
        "-chardev", "stdio,id=console,signal=off",
        "-serial", "chardev:console",
    ]


def _die_with_parent():
    """In the child before exec: get SIGKILL when the parent dies, so that an
    outer VM never outlives the harness that started it.  (Linux ties this
    to the thread that started the child: call run_nested() from a thread
    that lives until it returns.)"""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stderr_note(text):
    print(f"nested: {text}", file=sys.stderr, flush=True)


def run_nested(cmd, mem_per_node_mib=2048, timeout=1800, log=print, *,
               note=_stderr_note, cwd=REPO_ROOT, kernel_options=""):
    """Run `cmd` in the two-node outer VM and return its exit status.

    cmd: a list of arguments (shell-quoted and joined) or one shell command
    string.  mem_per_node_mib: RAM of each NUMA node.  timeout: seconds for
    the whole run, boot included.  log(line) gets every line of the
    guest's console (the command's stdout and stderr, and any kernel
    message); note(text) gets the harness's own messages (timings).
    cwd: the host directory the command starts in (default: the repository
    root).  Raises NestedVmError if the outer VM fails or times out; the VM
    is always killed and its temporary files removed.
    """
    command = cmd if isinstance(cmd, str) else shlex.join(cmd)
    gdir = guest_dir()
    for name in ("vmlinux", "initramfs.cpio"):
        if not os.path.exists(os.path.join(gdir, name)):
            raise NestedVmError(f"no {os.path.join(gdir, name)}: build the guests"
                                " first (tests/guest/build.sh build/guest)")
    args = outer_vm_args(kernel_command_line(command, cwd, kernel_options),
                         mem_per_node_mib)
    workdir = tempfile.mkdtemp(prefix="memx-nested-")
    stderr_path = os.path.join(workdir, "qemu.stderr")
    proc = None
    try:
        with open(stderr_path, "wb") as stderr_file:
            started = time.monotonic()
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=stderr_file,
                                    preexec_fn=_die_with_parent)
        return _follow_console(proc, started, timeout, log, note,
                               lambda: _tail_of(stderr_path))
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _tail_of(path, size=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:].strip()
    except OSError:
        return ""


def _follow_console(proc, started, timeout, log, note, qemu_stderr):
    """Stream the outer VM's console until it powers off; return the
    command's status from the last MEMX-NESTED-EXIT line."""
    deadline = started + timeout
    recent = []             # the last console lines, for error messages
    command_started = False
    boot_error = None
    status = None
    exit_seen_at = None     # when the last exit line came (None: no exit line yet)
    exit_line = None
    pending = b""

    def failure(what):
        lines = "\n  ".join(recent[-15:]) or "(nothing)"
        err = qemu_stderr() or "(nothing)"
        return NestedVmError(f"{what}\nlast console lines:\n  {lines}\n"
                             f"outer QEMU's stderr:\n  {err}")

    def handle(line):
        nonlocal command_started, boot_error, status, exit_seen_at, exit_line
        recent.append(line)
        del recent[:-50]
        if not command_started:
            run = RUN_LINE.match(line)
            if run:
                command_started = True
                note(f"outer VM up, command started after"
                     f" {time.monotonic() - started:.1f} s ({run.group(1).strip()})")
                return
            error = ERROR_LINE.match(line)
            if error:
                boot_error = error.group(1)
                return
        if exit_seen_at is not None:
            if POWER_DOWN_LINE.match(line):
                return
            # More output after an exit line: that line was the command's
            # own output, not init's final report.
            log(exit_line)
            status = exit_seen_at = None
        exited = EXIT_LINE.match(line)
        if exited:
            status = int(exited.group(1))
            exit_seen_at = time.monotonic()
            exit_line = line
            return
        log(line)

    fd = proc.stdout.fileno()
    while True:
        now = time.monotonic()
        if now > deadline:
            raise failure(f"timed out after {timeout} s"
                          + ("" if command_started else " (the command never started)"))
        # After the exit line, the guest powers off at once; do not wait
        # long for a VM that hangs there.
        if exit_seen_at is not None and now > exit_seen_at + 30:
            break
        ready, _, _ = select.select([fd], [], [], min(1.0, deadline - now))
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            handle(raw.decode(errors="replace").rstrip("\r"))
    if pending:
        handle(pending.decode(errors="replace").rstrip("\r"))
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if boot_error is not None:
        raise failure(f"the outer VM could not run the command: {boot_error}")
    if status is None:
        raise failure(f"the outer VM stopped (QEMU exit status {proc.returncode})"
                      " before reporting the command's exit status")
    note(f"command exited with status {status} after"
         f" {time.monotonic() - started:.1f} s in total")
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run CMD inside a TCG VM with two NUMA nodes and this host's"
                    " userland (read-only, over 9p); exit with CMD's status"
                    f" ({HARNESS_FAILED} if the VM failed).",
        usage="%(prog)s [--mem-per-node MIB] [--timeout S] -- CMD [ARG...]")
    parser.add_argument("--mem-per-node", type=int, default=2048, metavar="MIB",
                        help="RAM of each of the two NUMA nodes (default 2048)")
    parser.add_argument("--timeout", type=float, default=1800, metavar="S",
                        help="seconds for the whole run, boot included"
                             " (default 1800)")
    parser.add_argument("--kernel-options", default="", metavar="OPTS",
                        help="more options for the outer VM's kernel")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD",
                        help="the command and its arguments")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given")
    if args.mem_per_node < 128:
        parser.error("--mem-per-node must be at least 128 (MiB)")
    # A SIGTERM unwinds run_nested() so that the outer VM is killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run_nested(cmd, mem_per_node_mib=args.mem_per_node,
                          timeout=args.timeout,
                          log=lambda line: print(line, flush=True),
                          kernel_options=args.kernel_options)
    except (NestedVmError, ValueError) as err:
        print(f"nested: error: {err}", file=sys.stderr)
        return HARNESS_FAILED


if __name__ == "__main__":
    sys.exit(main())
