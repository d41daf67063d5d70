#!/usr/bin/env python3
"""Turns the results of upstream QEMU's own test runner into TAP.

make check runs upstream's meson suites (qtest-x86_64, unit) with
`meson test`, unmodified; meson writes one JSON object per test to
meson-logs/testlog.json. This prints one TAP line per test of SUITE, so
that tests/run-checks.sh counts them like every other suite, and gives
each skip its reason, taken from the test's own TAP output ("# SKIP
...").

Usage: upstream-tap.py TESTLOG.json SUITE [--list]
       upstream-tap.py --targets|--names QEMU_BUILD SUITE...
  --list     print "RESULT NAME" lines instead (for check-upstream-diff)
  --targets  print the ninja targets that build SUITE's test programs
  --names    print the meson names of SUITE's tests
Both leave out the programs make check runs elsewhere (RUN_ELSEWHERE).
"""

import json
import os
import re
import subprocess
import sys

SKIP_RE = re.compile(r"#\s*SKIP\b:?\s*(.*)", re.IGNORECASE)

# Tests that register no case at all ("1..0") print no reason; why, read
# from their source, for the ones known to do it on this build.
EMPTY_PLAN_REASONS = {
    "qtest-x86_64/am53c974-test":
        "upstream registers its cases for qemu-system-i386 only "
        "(tests/qtest/am53c974-test.c, main)",
}


def skip_reason(test):
    for line in (test.get("stdout") or "").splitlines():
        m = SKIP_RE.search(line)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return EMPTY_PLAN_REASONS.get(
        test["name"], "the test ran no case and gave no reason (see its log)")


def load(path, suite):
    tests = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            # meson names a test "<project>:<suite>+<suite> / <name>"
            prefix, _, name = t["name"].partition(" / ")
            if suite in prefix.partition(":")[2].split("+"):
                t["name"] = name
                tests.append(t)
    return tests


# Programs of qtest-x86_64 that make check runs elsewhere: qemu-memx's
# own (memx-*, which our build patch adds to the suite) in its qtest
# suite, and migration-test, whose default (quick) set is a subset of
# the migration-test --full run of the peer suite.
RUN_ELSEWHERE = ("memx-", "migration-test")


def upstream_tests(build, suites):
    """The tests of @suites that make check runs through meson."""
    out = subprocess.run(["meson", "introspect", "--tests", build],
                         check=True, capture_output=True, text=True).stdout
    return [t for t in json.loads(out)
            if set(suites) & {s.split(":")[-1] for s in t["suite"]} and
            not os.path.basename(t["cmd"][0]).startswith(RUN_ELSEWHERE)]


def targets(build, suites):
    """The test programs of @suites, as ninja targets of @build."""
    seen = []
    for t in upstream_tests(build, suites):
        prog = t["cmd"][0]
        if prog.startswith(build + "/tests/") and prog not in seen:
            seen.append(prog)
    return [p[len(build) + 1:] for p in seen]


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--targets":
        print("\n".join(targets(sys.argv[2].rstrip("/"), sys.argv[3:])))
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "--names":
        print("\n".join(t["name"] for t in
                        upstream_tests(sys.argv[2].rstrip("/"), sys.argv[3:])))
        return
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tests = load(sys.argv[1], sys.argv[2])
    if "--list" in sys.argv[3:]:
        for t in sorted(tests, key=lambda t: t["name"]):
            print(t["result"], t["name"])
        return
    print(f"1..{len(tests)}")
    for i, t in enumerate(tests, 1):
        name = t["name"]
        took = f"({t.get('duration', 0):.1f}s)"
        if t["result"] == "OK" or t["result"] == "EXPECTEDFAIL":
            print(f"ok {i} {name} {took}")
        elif t["result"] == "SKIP":
            print(f"ok {i} {name} # SKIP {skip_reason(t)}")
        else:
            print(f"not ok {i} {name} {t['result']} {took}")
            for line in (t.get("stdout") or "").splitlines()[-15:]:
                print(f"# {line}")


if __name__ == "__main__":
    main()
