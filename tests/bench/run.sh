#!/bin/bash
# make bench: every benchmark of the project. Results land in build/bench/:
#   classifier.json   page classifier vs upstream buffer_is_zero
#   free-page-skip.json  free-page planner: content checks per GiB
#   tmem-pool.json    virtio-tmem page pool: put/get/flush vs memcpy,
#                     eviction cost, metadata bytes per page
#   swap.json         a swap-heavy guest on virtio-blk, zram and tmemswap
#   dedup.{json,txt}  memdedup against KSM and free page reporting
#   numa-move.json    NUMA move in a two-node nested VM: when the hot set is
#                     local (share of bytes and of time), total time against
#                     address order, medians and spread of 5 rounds, tracker
#                     overhead
#   damon.json        the working set from the DAMON provider in that VM
#   hot-writer.json   a guest that outwrites a 1 Gbit/s link: stock precopy,
#                     auto-converge, stock postcopy and auto-switch with
#                     hot-first push, 3 rounds: finish, remote requests,
#                     work rate, true pause, bytes
#   downtime.{json,txt,svg}    the true pause against query-migrate's and
#                     the destination's reports, every configuration x3
#                     settings x2 downtime limits x5 runs
#   kernels.{json,txt}  skip-free on each kernel of tests/guest/KERNELS:
#                     bytes against the floor, free-page work per GiB with
#                     and without the guest's free-page state known
#   migration.{json,txt,svg}   real-guest migrations, every scenario x config
#   migration-1g/migration.{json,txt,svg}   the same matrix at 1 Gbit/s
#                     (max-bandwidth), where compression trades CPU for bytes
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$here/build/bench
mkdir -p "$out"

echo "== page classifier vs buffer_is_zero (4 KiB pages)"
ninja -C "$here/build/qemu-build" tests/bench/memx-page-classify-bench >/dev/null
"$here/build/qemu-build/tests/bench/memx-page-classify-bench" | tee "$out/classifier.json"

echo "== free-page planner: checking free pages' contents (ms per GiB)"
ninja -C "$here/build/cores" tests/bench/free-page-skip-bench >/dev/null
"$here/build/cores/tests/bench/free-page-skip-bench" | tee "$out/free-page-skip.json"

echo "== tmem page pool vs memcpy (4 KiB pages)"
ninja -C "$here/build/cores" tests/bench/tmem-pool-bench >/dev/null
"$here/build/cores/tests/bench/tmem-pool-bench" | tee "$out/tmem-pool.json"

"$here/tests/guest/build.sh" "$here/build/guest"
echo "== NUMA move: hot-first vs address order vs migratepages (two-node nested VM)"
"$here/tests/numa/build-hotset.sh" "$here/build/numa" >/dev/null
/usr/bin/python3 "$here/tests/numa/nested.py" -- \
    python3 tests/numa/numa_move_test.py --bench - | tee "$out/numa-move.log"
grep '^NUMA-BENCH ' "$out/numa-move.log" | tail -n1 | cut -d' ' -f2- > "$out/numa-move.json"

echo "== swap: tmemswap vs virtio-blk and zram (256 MiB guest, 512 MiB working set)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/swap_bench.py" \
    --passes 2 --json "$out/swap.json"

echo "== memdedup vs KSM and free page reporting (freed-garbage, 1 GiB guest)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/dedup_bench.py" \
    --outdir "$out"

echo "== downtime: the true pause per configuration, 5 runs each (real guests)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/downtime_bench.py" \
    --outdir "$out"

echo "== working set and miss-rate curve against known working sets (hotset guest)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/working_set_bench.py" \
    --outdir "$out"

echo "== migrations under heavy writes: stock precopy, auto-converge, stock postcopy, ours (1 Gbit/s)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/e2e/hot_writer.py" bench \
    --runs 3 --json "$out/hot-writer.json"
echo "== the same on the lan-1g link (a veth pair between namespaces, tc at 1 Gbit/s)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/e2e/hot_writer.py" bench \
    --link lan-1g --runs 3 --json "$out/hot-writer-lan-1g.json"

echo "== working set with the DAMON provider (in the two-node nested VM, whose DAMON is ours)"
/usr/bin/python3 "$here/tests/numa/nested.py" -- \
    python3 tests/numa/damon_test.py --bench - | tee "$out/damon.log"
grep '^DAMON-BENCH ' "$out/damon.log" | tail -n1 | cut -d' ' -f2- > "$out/damon.json"

echo "== skip-free across the guest kernels (tests/guest/KERNELS)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/kernels_bench.py" \
    --outdir "$out"

echo "== migration benchmarks (real guests)"
"$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/migration_bench.py" "$@"

echo "== migration benchmarks at 1 Gbit/s (max-bandwidth 125000000)"
exec "$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/migration_bench.py" \
    --sections matrix --criteria-kernel 6.12 --max-bandwidth 125000000 \
    --outdir "$out/migration-1g" --configs precopy multifd balloon-hint \
    pattern-pages-multifd skip-free-pattern skip-free-pattern-multifd \
    multifd-zstd multifd-zlib pattern-pages-multifd-zstd skip-free-pattern-multifd-zstd "$@"
