"""What the real-guest suites (tmemswap.py, memdedup.py) share: a case's
scratch directory and VMs, the guest's own verdicts, and a TAP runner."""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memxvm import Vm  # noqa: E402
from run import GUEST_ALARMS, finish  # noqa: E402


def check_alarms(vm):
    alarms = [a for a in GUEST_ALARMS if a in vm.console_text()]
    if alarms:
        raise RuntimeError(f"{vm.name}: guest console reports {alarms}")


def verify(vm):
    """The guest checks every checksum it holds; raises unless all match
    and the kernel reported nothing alarming."""
    ok, line = vm.verify(600)
    check_alarms(vm)
    if not ok:
        raise RuntimeError(f"{vm.name}: verification failed: {line}")
    return line


def at_least(what, value, floor):
    if value < floor:
        raise RuntimeError(f"{what} is {value}, expected at least {floor}")


class Case:
    """One VM (or two) in a scratch directory, kept when the case fails."""

    def __init__(self, suite, name, guest_mem):
        self.work = tempfile.mkdtemp(prefix=f"memx-{suite}-{name}-")
        self.guest_mem = guest_mem
        self.vms = []
        self.ok = False

    def vm(self, name, flavour, extra, **kw):
        kw.setdefault("mem", self.guest_mem)
        vm = Vm(name, flavour=flavour, workdir=os.path.join(self.work, name),
                extra_args=extra, **kw)
        self.vms.append(vm)
        vm.start()
        vm.expect("MEMX-READY", 120)
        return vm

    def path(self, name):
        return os.path.join(self.work, name)

    def close(self, log):
        finish(self.vms, self.work, self.ok, log)


def tap_main(suite, doc, cases, guest_mem):
    """Run the named cases (default: all) as TAP; 1 if any failed."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(cases))
        return 0
    names = args.cases or list(cases)
    for n in names:
        if n not in cases:
            print(f"unknown case {n}; have: {' '.join(cases)}", file=sys.stderr)
            return 2
    print(f"1..{len(names)}", flush=True)
    failed = 0
    for number, name in enumerate(names, 1):
        c = Case(suite, name, guest_mem)
        t0 = time.monotonic()
        try:
            what = cases[name](c)
            c.ok = True
            print(f"ok {number} {suite} {name} ({time.monotonic() - t0:.1f}s): {what}",
                  flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a 'not ok'
            failed += 1
            print(f"not ok {number} {suite} {name}: {type(e).__name__}: {e}",
                  flush=True)
        finally:
            c.close(lambda m: print(m, flush=True))
    return 1 if failed else 0
