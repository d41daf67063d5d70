"""The e2e guests' memory states: what memx-workload does before and
during a migration (SCENARIOS), and booting a guest into one. Used by
run.py and the benchmarks."""

import time


# Workload commands run before migration; "during" ones start background
# activity that keeps going while the guest migrates.
SCENARIOS = {
    "idle-fresh": {"setup": [], "during": []},
    # a little checksummed data, so the transport cases verify something
    "small-data": {"setup": ["fill-random 64"], "during": []},
    "freed-garbage": {"setup": ["fill-random 64", "free-garbage 716"],
                      "during": []},
    "pattern-heavy": {"setup": ["fill-pattern 512"], "during": []},
    "alloc-churn": {"setup": ["fill-random 64", "free-garbage 512"],
                    "during": ["churn 16"]},
    "busy-writer": {"setup": ["fill-random 64"], "during": ["dirty 64 16"]},
    # pages flipping between pattern and almost-pattern (XBZRLE coherence)
    # (flips for 8 s: long enough for many XBZRLE rounds, then converges)
    "pattern-flip": {"setup": ["fill-random 32"], "during": ["flip 32 128 8"]},
    # the scan-cost bench's large guests: nearly all of 4 or 8 GiB freed
    "freed-garbage-4g": {"setup": ["fill-random 64", "free-garbage 3600"],
                         "during": []},
    "freed-garbage-8g": {"setup": ["fill-random 64", "free-garbage 7400"],
                         "during": []},
    # make demo's realistic state: data in use, patterns, a lot freed
    "realistic": {"setup": ["fill-random 128", "fill-pattern 128",
                            "free-garbage 512"],
                  "during": ["churn 8"]},
}


def boot(vm, scenario, timeout=180, seed=None):
    t0 = time.monotonic()
    vm.start()
    vm.expect("MEMX-READY", timeout)
    boot_s = time.monotonic() - t0
    if seed is not None:
        vm.run(f"seed {seed}")
    for c in SCENARIOS[scenario]["setup"]:
        vm.run(c, timeout=600)
    for c in SCENARIOS[scenario]["during"]:
        vm.run(c)
    return boot_s
