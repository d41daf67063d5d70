#!/usr/bin/env python3
"""How few remote page requests any push order can reach after the switch
to postcopy, for a guest like memx-workload's hot-writer.

A simulation in time, fed with what a real run measured:

- the guest does one operation every `op_us` when the page it picks is
  on the destination; its picks are `pct`% uniform over the core pages,
  the rest uniform over the other pages of the hot set;
- a pick of a page not there yet is a remote request: the vCPU waits
  `blocked_us` (the destination's postcopy-blocktime per request) and the
  page is then there;
- the source pushes the pages still missing at `link_bytes_s`, in one of
  three orders:
    address  a fixed order unrelated to the guest's picks (upstream)
    recency  the pages picked in the last `period_ms` first (the tracker's
             page-granular hot class), then the rest
    oracle   every missing core page first, then the rest: no order
             knowing only which pages are hot can do better
- at the switch `dirty_share` of the hot set is missing.

It prints the remote requests of each order (median of `--seeds` runs)
and their ratio to address order.  The point it makes: when the guest
touches missing pages faster than they can arrive, each request stalls
the guest for about the same time whatever the order, so requests are
bounded by the push's duration over `blocked_us`; an order can only make
the guest's operations between requests more numerous.

With --precopy it models the precopy passes before the switch instead:
the core pages are rewritten `pct`% of `ops_s` operations a second over
`core_mib`, the rest of the hot set the remainder; each pass sends the
dirty pages at `link_bytes_s` in one of four orders (address; cold
first, the core last; hot first, the core first; held back, the core
never sent after the first pass) and a page is dirty at the next sync
if the guest wrote it after it was sent.  It prints the dirty pages at
a sync and the pages sent per pass, in the steady state.

  postcopy_model.py [--op-us 4] [--blocked-us 230] [--dirty-pages 27000]
                    [--hot-mib 128] [--core-mib 32] [--pct 80] [--json]
  postcopy_model.py --precopy [--ops-s 240000] [--passes 10] [...]
"""

import argparse
import json
import math
import random
import statistics
import sys

PAGE = 4096


def simulate(order, a, seed):
    rnd = random.Random(seed)
    core = a.core_mib * (1 << 20) // PAGE
    hot = a.hot_mib * (1 << 20) // PAGE
    share = min(1.0, a.dirty_pages / hot)
    missing = {p for p in range(hot) if rnd.random() < share}
    pages = list(missing)
    rnd.shuffle(pages)
    pct = a.pct / 100

    def pick():
        if rnd.random() < pct:
            return rnd.randrange(core)
        return core + rnd.randrange(hot - core)

    if order == "oracle":
        pages.sort(key=lambda p: p >= core)
    elif order == "recency":
        # which pages the guest picked in the last period before the switch
        picks = int(a.period_ms / 1000 * 1e6 / a.op_us)
        p_core = 1 - (1 - pct / core) ** picks
        p_rest = 1 - (1 - (1 - pct) / (hot - core)) ** picks
        seen = {p for p in pages
                if rnd.random() < (p_core if p < core else p_rest)}
        pages.sort(key=lambda p: p not in seen)
    push_s = PAGE / a.link_bytes_s
    op_s, blocked_s = a.op_us / 1e6, a.blocked_us / 1e6
    now = next_push = 0.0
    i = requests = ops = 0
    while missing:
        while next_push <= now and i < len(pages):
            if pages[i] in missing:
                missing.discard(pages[i])
                next_push += push_s
            i += 1
        if not missing:
            break
        p = pick()
        if p in missing:
            missing.discard(p)
            requests += 1
            now += blocked_s
        else:
            now += op_s
        ops += 1
    return requests, now, ops


def precopy_passes(order, a, seed):
    """(dirty pages at the last sync, pages sent in the last pass)."""
    rnd = random.Random(seed)
    core = a.core_mib * (1 << 20) // PAGE
    hot = a.hot_mib * (1 << 20) // PAGE
    pct = a.pct / 100
    rate = [pct * a.ops_s / core] * core + \
        [(1 - pct) * a.ops_s / (hot - core)] * (hot - core)
    dirty = set(range(hot))
    sent = 0
    for n in range(a.passes):
        pages = list(dirty)
        rnd.shuffle(pages)
        held = set()
        if order == "cold-first":
            pages.sort(key=lambda p: p < core)
        elif order == "hot-first":
            pages.sort(key=lambda p: p >= core)
        elif order == "held-back" and n > 0:
            held = {p for p in pages if p < core}
            pages = [p for p in pages if p >= core]
        pass_s = len(pages) * PAGE / a.link_bytes_s
        when = {p: pass_s - (i + 1) * PAGE / a.link_bytes_s
                for i, p in enumerate(pages)}
        dirty = set(held)
        for p in range(hot):
            if p in held:
                continue
            exposed = when.get(p, pass_s)   # unsent pages: the whole pass
            if rnd.random() < 1 - math.exp(-rate[p] * exposed):
                dirty.add(p)
        sent = len(pages)
    return len(dirty), sent


def precopy_model(a):
    out = {}
    for order in ("address", "cold-first", "hot-first", "held-back"):
        runs = [precopy_passes(order, a, seed) for seed in range(a.seeds)]
        out[order] = {"dirty_at_sync": statistics.median(d for d, _ in runs),
                      "sent_per_pass": statistics.median(s for _, s in runs)}
    return out


def model(a):
    out = {}
    for order in ("address", "recency", "oracle"):
        runs = [simulate(order, a, seed) for seed in range(a.seeds)]
        out[order] = {"requests": statistics.median(r for r, _, _ in runs),
                      "postcopy_s": round(statistics.median(t for _, t, _ in runs), 3),
                      "guest_ops": statistics.median(o for _, _, o in runs)}
    for order in out:
        out[order]["ratio"] = round(out[order]["requests"] /
                                    out["address"]["requests"], 3)
    return out


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--op-us", type=float, default=4.0,
                   help="guest time per operation on a present page")
    p.add_argument("--blocked-us", type=float, default=230.0,
                   help="vCPU time blocked per remote request")
    p.add_argument("--link-bytes-s", type=float, default=125e6)
    p.add_argument("--dirty-pages", type=int, default=27000,
                   help="pages of the hot set missing at the switch")
    p.add_argument("--hot-mib", type=int, default=128)
    p.add_argument("--core-mib", type=int, default=32)
    p.add_argument("--pct", type=int, default=80)
    p.add_argument("--period-ms", type=float, default=200)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--precopy", action="store_true",
                   help="model the precopy passes instead")
    p.add_argument("--ops-s", type=float, default=240000,
                   help="--precopy: the guest's page writes per second")
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--json", action="store_true")
    return p


def main():
    a = parser().parse_args()
    out = precopy_model(a) if a.precopy else model(a)
    if a.json:
        print(json.dumps(out))
        return 0
    if a.precopy:
        for order, r in out.items():
            print(f"{order:10} {r['dirty_at_sync']:7.0f} pages dirty at a sync, "
                  f"{r['sent_per_pass']:7.0f} sent per pass")
        return 0
    for order, r in out.items():
        print(f"{order:8} {r['requests']:7.0f} requests ({r['ratio']:.2f}x "
              f"address order), postcopy {r['postcopy_s']:.2f} s, "
              f"{r['guest_ops']:.0f} guest operations meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
