#!/bin/bash
# The qemu-memx test driver behind 'make check'. Runs each suite, collects
# TAP results and ends with one summary line:
#     N passed, N failed, N skipped
# Exits non-zero when anything failed.
#
# Usage: tests/run-checks.sh [all|unit|peer|tmem|...]...
# Suites:
#   unit   the stand-alone cores' unit tests (build/cores)
#   peer   upstream's tests/qtest/migration-test --full, unmodified,
#          against our qemu-system-x86_64 (our peer suite)
#   upstream  upstream's own meson suites qtest-x86_64 (all of it) and
#          unit, unmodified, run by upstream's runner (meson test) against
#          the fork's build; results from meson-logs/testlog.json
#   sanitize  the cores' unit tests again under ASan+UBSan (clang), and
#          each libFuzzer target for FUZZ_SECONDS (default 6) from its
#          seeds (build/sanitize)
#   qtest  qemu-memx's own qtests (memx-migration-test: pattern pages,
#          guest-free page skipping incl. hostile VMCOREINFO) and the
#          virtio-tmem qos tests (qos-test, virtio-tmem-pci subtree)
#   e2e    live migration of real Linux guests (tests/e2e), checksums
#          verified in the guest on the destination; fault cases; interop
#          with Debian's stock QEMU 7.2 in both directions
#   kernels  the other kernels of tests/guest/KERNELS (5.10, 7.3): the
#          introspection oracle and skip-free migrations with memory
#          compared (run.py suite kernels)
#   working-set  the working-set estimate and miss-rate curve against a
#          guest with a known working set (hotset) and a Linux guest's
#          free memory (tests/e2e/working_set.py)
#   tmem   virtio-tmem's Linux driver in real 6.1, 6.12 and 7.3 guests: swap
#          through tmemswap in both modes, store shrink, quota fallback,
#          refused puts, migration, unload, unplug (tests/e2e/tmemswap.py)
#   compress  multifd zstd/zlib composed with pattern pages and skip-free,
#          and multifd+zstd interop with Debian's stock QEMU 7.2
#   memdedup  memdedup in real 6.1 and 6.12 guests: freed memory given back
#          and then allocated and verified, churn under passes, page_poison,
#          init_on_free, a migration after passes (tests/e2e/memdedup.py)
#   kexec  a guest that kexecs into a new kernel, before and during a
#          skip-free migration, and from its 65th vCPU: the old kernel's
#          note must not be trusted (tests/e2e/kexec.py)
#   hostile  a real guest whose kernel data are rewritten through the
#          gdbstub while it is stopped (its BTF's per_cpu_pages layout,
#          nr_cpu_ids and nr_node_ids with aliased per-CPU offsets and
#          node_data): the introspection must not crash, hang or count a
#          list twice (tests/e2e/hostile_guest.py)
#   link-faults  between two hosts (network namespaces and a shaped veth
#          pair): the link cut mid-precopy and mid-postcopy (recovered),
#          the destination out of memory (tests/e2e/link_faults.py)
#   soak   three runs of make soak (tests/e2e/soak.py)
#   numa   the hot-first NUMA move, inside a TCG VM with two NUMA nodes
#          (tests/numa/nested.py running tests/numa/numa_move_test.py)
#   hot-writer  a guest rewriting a hot set faster than a 1 Gbit/s link:
#          auto-switch plus hot-first, and stock postcopy switched at the
#          same moment, both verified (tests/e2e/hot_writer.py)
#   damon  the page-activity tracker's DAMON provider in that VM, whose
#          DAMON is ours to use (tests/numa/damon_test.py): it runs, and
#          it never touches a kdamond it did not create
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${QEMU_MEMX_BUILD:-$here/build}
qb=$build/qemu-build
logs=$build/test-logs
mkdir -p "$logs"

passed=0 failed=0 skipped=0
failures=()

# run_tap NAME LOG CMD... : run a TAP producer, count its results.
run_tap() {
    local name=$1 log=$2 rc p f s
    shift 2
    local t0=$SECONDS
    "$@" > "$log" 2>&1
    rc=$?
    p=$(grep -cE '^ok [0-9]+' "$log" | head -n1)
    s=$(grep -cE '^ok [0-9]+.*# *SKIP' "$log" | head -n1)
    f=$(grep -cE '^not ok [0-9]+' "$log" | head -n1)
    p=$((p - s))
    plan=$(grep -oE '^1\.\.[0-9]+' "$log" | tail -n1 | cut -d. -f3)
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1  # crashed or bailed out without a 'not ok'
    fi
    # A suite that ran nothing, or not what it planned, did not pass.
    if [ $((p + s + f)) = 0 ]; then
        echo "  $name: no test ran (TAP plan '1..${plan:-?}')" >> "$log"
        f=1
    elif [ "$f" = 0 ] && { [ -z "$plan" ] || [ "$plan" != $((p + s)) ]; }; then
        echo "  $name: $((p + s + f)) results for a TAP plan of '${plan:-none}'" >> "$log"
        f=$((f + 1))
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    printf '  %-46s %3d passed, %d failed, %d skipped  (%ds)\n' "$name" "$p" "$f" "$s" \
        $((SECONDS - t0))
    if [ "$f" != 0 ]; then
        failures+=("$name: see $log")
        grep -E '^not ok|^Bail out|ERROR|assert|TAP plan' "$log" | head -n 10 | sed 's/^/      /'
    fi
}

suite_unit() {
    echo "== unit tests (stand-alone cores)"
    ninja -C "$build/cores" >/dev/null || { failed=$((failed + 1)); failures+=("cores build"); return; }
    run_meson_tests "$build/cores" unit
}

# run_meson_tests BUILD PREFIX: run every test a meson build declares,
# with its environment, as a TAP producer.
run_meson_tests() {
    local name envs cmd
    while IFS=$'\t' read -r name envs cmd; do
        # shellcheck disable=SC2086
        run_tap "$2/$name" "$logs/$2-$name.log" env $envs $cmd --tap
    done < <(meson introspect --tests "$1" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    env = " ".join(f"{k}={v}" for k, v in t["env"].items())
    print(t["name"], env, " ".join(t["cmd"][:1]), sep="\t")')
}

suite_peer() {
    echo "== upstream migration-test --full (peer suite, unmodified)"
    local bin=$qb/qemu-system-x86_64
    [ -x "$bin" ] && [ -x "$qb/tests/qtest/migration-test" ] || {
        echo "  missing $bin or migration-test: run 'make build'"; failed=$((failed + 1))
        failures+=("peer: not built"); return
    }
    # PYTHON and the source-tree cwd let the analyze-script test run
    # instead of skipping.
    pushd "$build/qemu" >/dev/null
    run_tap "qtest/migration-test --full" "$logs/migration-test.log" \
        env QTEST_QEMU_BINARY="$bin" PYTHON=/usr/bin/python3 "$here/tests/tcg-only.sh" \
        "$qb/tests/qtest/migration-test" --tap -k --full
    popd >/dev/null
    skip_reasons "$logs/migration-test.log"
}

# skip_reasons LOG: print every skipped test of a TAP log with its reason.
skip_reasons() {
    grep -E '^ok [0-9]+.*# *SKIP' "$1" | sed -E 's/^ok [0-9]+ /      skipped: /'
}

# Upstream's own meson suites, unmodified, run by upstream's runner
# against the fork's build: all of qtest-x86_64, and unit.
suite_upstream() {
    echo "== upstream's meson suites (qtest-x86_64, unit), unmodified"
    local s t0=$SECONDS
    # shellcheck disable=SC2046
    ninja -C "$qb" $(python3 "$here/tests/upstream-tap.py" --targets "$qb" \
        qtest-x86_64 unit) > "$logs/upstream-build.log" 2>&1 || {
        failed=$((failed + 1)); failures+=("upstream: test build, see $logs/upstream-build.log")
        return; }
    # tcg-only.sh: upstream's qtests would pick this machine's stub KVM
    (cd "$qb" && "$here/tests/tcg-only.sh" meson test --no-rebuild --print-errorlogs \
        $(python3 "$here/tests/upstream-tap.py" --names "$qb" qtest-x86_64 unit)) > "$logs/upstream-meson.log" 2>&1
    echo "  (meson test: both suites in $((SECONDS - t0))s, log $logs/upstream-meson.log)"
    for s in qtest-x86_64 unit; do
        run_tap "upstream/$s" "$logs/upstream-$s.log" \
            python3 "$here/tests/upstream-tap.py" "$qb/meson-logs/testlog.json" "$s"
        skip_reasons "$logs/upstream-$s.log"
    done
}

suite_sanitize() {
    echo "== sanitizer build: unit tests under ASan+UBSan, fuzzers"
    local sb=$build/sanitize f
    if [ ! -f "$sb/build.ninja" ]; then
        CC=clang meson setup "$sb" "$here" -Dfuzzing=true \
            -Db_sanitize=address,undefined -Db_lundef=false \
            -Dc_args=-fno-sanitize-recover=all >"$logs/sanitize-setup.log" 2>&1 || {
            failed=$((failed + 1)); failures+=("sanitize: setup, see $logs/sanitize-setup.log")
            return; }
    fi
    ninja -C "$sb" >"$logs/sanitize-build.log" 2>&1 || {
        failed=$((failed + 1)); failures+=("sanitize: build, see $logs/sanitize-build.log")
        return; }
    run_meson_tests "$sb" asan
    rm -rf "$sb/corpus"
    mkdir -p "$sb/corpus/fuzz-vmcoreinfo" "$sb/corpus/fuzz-guest-freepages" \
        "$sb/corpus/fuzz-tmem" "$sb/corpus/fuzz-kallsyms" "$sb/corpus/fuzz-pcp"
    cp "$here"/tests/unit/data/vmcoreinfo-*.txt "$sb/corpus/fuzz-vmcoreinfo/"
    python3 "$here/tests/fuzz/make-seeds.py" "$sb/corpus/fuzz-guest-freepages"
    python3 "$here/tests/fuzz/make-seeds.py" "$sb/corpus/fuzz-tmem" tmem
    python3 "$here/tests/fuzz/make-seeds.py" "$sb/corpus/fuzz-kallsyms" kallsyms
    python3 "$here/tests/fuzz/make-seeds.py" "$sb/corpus/fuzz-pcp" pcp
    for f in fuzz-vmcoreinfo fuzz-guest-freepages fuzz-tmem fuzz-kallsyms fuzz-pcp; do
        fuzz_one "$sb" "$f" "${FUZZ_SECONDS:-6}"
    done
}

# fuzz_one BUILD NAME SECONDS: one libFuzzer run, counted as one test.
fuzz_one() {
    local sb=$1 f=$2 secs=$3 t0=$SECONDS
    # -timeout: an input that runs longer than 10 s is a hang, reported
    # as a failure with its input saved (a spinning scan once went unseen).
    if "$sb/tests/fuzz/$f" -max_total_time="$secs" -max_len=70000 -timeout=10 \
            -artifact_prefix="$logs/$f-" "$sb/corpus/$f" >"$logs/$f.log" 2>&1; then
        passed=$((passed + 1))
        printf '  %-46s %3d passed, %d failed, %d skipped  (%ds, %s)\n' "fuzz/$f" 1 0 0 \
            $((SECONDS - t0)) "$(grep -o 'Done [0-9]* runs' "$logs/$f.log" | tail -n1)"
    else
        failed=$((failed + 1))
        failures+=("fuzz/$f: crash, see $logs/$f.log and $logs/$f-*")
        printf '  %-46s %3d passed, %d failed, %d skipped\n' "fuzz/$f" 0 1 0
        grep -E 'ERROR|SUMMARY' "$logs/$f.log" | head -n 5 | sed 's/^/      /'
    fi
}

suite_qtest() {
    echo "== qemu-memx qtests"
    local bin=$qb/qemu-system-x86_64 t
    for t in memx-migration-test; do
        [ -x "$qb/tests/qtest/$t" ] || {
            echo "  missing $qb/tests/qtest/$t: run 'make build'"
            failed=$((failed + 1)); failures+=("qtest: $t not built"); continue
        }
        pushd "$build/qemu" >/dev/null
        run_tap "qtest/$t" "$logs/$t.log" \
            env QTEST_QEMU_BINARY="$bin" "$here/tests/tcg-only.sh" "$qb/tests/qtest/$t" --tap -k
        popd >/dev/null
    done
    # virtio-tmem: the libqos driver's qos tests (every operation, quotas,
    # eviction, hostile requests, migration of a persistent pool)
    pushd "$build/qemu" >/dev/null
    run_tap "qtest/qos-test virtio-tmem" "$logs/qos-virtio-tmem.log" \
        env QTEST_QEMU_BINARY="$bin" "$here/tests/tcg-only.sh" "$qb/tests/qtest/qos-test" \
        --tap -k -r /x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-tmem-pci
    popd >/dev/null
}

suite_e2e() {
    echo "== end-to-end live migration with real guests"
    "$here/tests/guest/build.sh" "$build/guest" >/dev/null || {
        failed=$((failed + 1)); failures+=("e2e: guest build failed"); return; }
    # the kallsyms and BTF readers on Debian's images and recorded notes
    run_tap "unit/guest-images" "$logs/unit-guest-images.log" \
        env MEMX_GUEST_DIR="$build/guest" G_TEST_SRCDIR="$here/tests/unit" \
        "$build/cores/tests/unit/test-guest-images" --tap
    run_tap "e2e/suite check" "$logs/e2e.log" \
        "$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/e2e/run.py" suite check
    grep -E '^(ok|not ok) ' "$logs/e2e.log" | sed 's/^/      /'
    # libvirt as the client, starting the emulator as 'make install' puts
    # it (staged under DESTDIR: it finds its data relative to itself)
    local inst=$build/libvirt-install prefix
    prefix=$(sed -n 's/^PREFIX := //p' "$build/config.mk")
    rm -rf "$inst"
    { make -C "$qb" install DESTDIR="$inst" &&
      "$here/scripts/link-firmware.sh" "$qb" "$prefix" --install "$inst"; } \
        > "$logs/libvirt-install.log" 2>&1 || {
        failed=$((failed + 1)); failures+=("libvirt: make install failed, see $logs/libvirt-install.log")
        return; }
    export QEMU_MEMX_BINARY=$inst$prefix/bin/qemu-system-x86_64
    # virsh save/restore with our capabilities
    run_tap "e2e/libvirt save+restore" "$logs/e2e-libvirt.log" \
        "$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/e2e/libvirt_save_restore.py"
    grep -E '^(ok|not ok) ' "$logs/e2e-libvirt.log" | sed 's/^/      /'
    # and between two libvirt hosts: virsh migrate --live
    run_tap "e2e/libvirt migrate between two hosts" "$logs/e2e-libvirt-migrate.log" \
        "$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/e2e/libvirt_migrate.py"
    grep -E '^(ok|not ok) ' "$logs/e2e-libvirt-migrate.log" | sed 's/^/      /'
    unset QEMU_MEMX_BINARY
}

# guest_suite SUITE NAME LOG SCRIPT [ARGS...]: a TAP suite of real guests
# under TCG (tests/e2e), after making sure the test guests are built.
guest_suite() {
    local suite=$1 name=$2 log=$3
    shift 3
    "$here/tests/guest/build.sh" "$build/guest" >/dev/null || {
        failed=$((failed + 1)); failures+=("$suite: guest or driver build failed"); return; }
    run_tap "$name" "$log" "$here/tests/tcg-only.sh" /usr/bin/python3 "$@"
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/      /'
}

suite_tmem() {
    echo "== virtio-tmem in real guests: tmemswap (guest-driver/linux)"
    guest_suite tmem "e2e/tmemswap" "$logs/tmemswap.log" "$here/tests/e2e/tmemswap.py"
}

suite_compress() {
    echo "== multifd compression (zstd, zlib) with and without qemu-memx's features"
    guest_suite compress "e2e/suite compress" "$logs/e2e-compress.log" \
        "$here/tests/e2e/run.py" suite compress
}

suite_kernels() {
    echo "== the guest kernel matrix: Debian's 5.10 and 7.3 beside 6.1 and 6.12"
    guest_suite kernels "e2e/suite kernels" "$logs/e2e-kernels.log" \
        "$here/tests/e2e/run.py" suite kernels
}

suite_working_set() {
    echo "== working set and miss-rate curve against known working sets"
    "$here/tests/numa/build-hotset.sh" "$build/numa" >/dev/null || {
        failed=$((failed + 1)); failures+=("working-set: hotset build failed"); return; }
    guest_suite working-set "e2e/working-set" "$logs/working-set.log" \
        "$here/tests/e2e/working_set.py"
}

suite_hot_writer() {
    echo "== migrations under heavy writes: auto-switch to postcopy, hot pages first"
    guest_suite hot-writer "e2e/hot-writer" "$logs/hot-writer.log" \
        "$here/tests/e2e/hot_writer.py" check
}

suite_damon() {
    echo "== the DAMON provider, in the two-node TCG VM (the host's DAMON is not ours)"
    { [ -x "$build/qemu-build/qemu-system-x86_64" ] &&
      "$here/tests/numa/build-hotset.sh" "$build/numa" >/dev/null; } || {
        failed=$((failed + 1)); failures+=("damon: not built"); return; }
    run_tap "working-set/damon (nested VM)" "$logs/damon.log" \
        /usr/bin/python3 "$here/tests/numa/nested.py" -- \
        python3 tests/numa/damon_test.py
    grep -E '^(ok|not ok) ' "$logs/damon.log" | sed 's/^/      /'
}

suite_memdedup() {
    echo "== memdedup in real guests: free memory back to the host, no guest driver"
    guest_suite memdedup "e2e/memdedup" "$logs/memdedup.log" "$here/tests/e2e/memdedup.py"
}

suite_kexec() {
    echo "== kexec: the introspection must not trust the old kernel's note"
    guest_suite kexec "e2e/kexec" "$logs/kexec.log" "$here/tests/e2e/kexec.py"
}

suite_hostile() {
    echo "== a hostile guest: kernel data rewritten from outside (gdbstub)"
    guest_suite hostile "e2e/hostile-guest" "$logs/hostile-guest.log" \
        "$here/tests/e2e/hostile_guest.py"
}

suite_link_faults() {
    echo "== link faults between two hosts (network namespaces, a 1 Gbit/s veth pair)"
    guest_suite link-faults "e2e/link-faults" "$logs/link-faults.log" \
        "$here/tests/e2e/link_faults.py"
}

suite_soak() {
    echo "== a slice of make soak: random combinations, seeds and start delays"
    guest_suite soak "e2e/soak (3 runs)" "$logs/soak.log" \
        "$here/tests/e2e/soak.py" --runs 3 --tap --json "$logs/soak.json"
}

suite_numa() {
    echo "== NUMA move on a two-node host (a nested TCG VM)"
    { "$here/tests/guest/build.sh" "$build/guest" >/dev/null &&
      "$here/tests/numa/build-hotset.sh" "$build/numa" >/dev/null; } || {
        failed=$((failed + 1)); failures+=("numa: guest build failed"); return; }
    run_tap "numa/two-node move" "$logs/numa.log" \
        /usr/bin/python3 "$here/tests/numa/nested.py" -- \
        python3 tests/numa/numa_move_test.py
    grep -E '^(ok|not ok) ' "$logs/numa.log" | sed 's/^/      /'
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(all)
t0=$SECONDS
if [ "${suites[0]}" = all ]; then
    # The guests (and the guest driver) are built once, before two suites
    # that use them run at the same time.
    "$here/tests/guest/build.sh" "$build/guest" > "$logs/guest-build.log" 2>&1 || {
        cat "$logs/guest-build.log"; echo "guest build failed"; exit 1; }
    # The peer suite is the longest and mostly waits on TCG guests: run it,
    # then the tmem, compress, memdedup, kexec, link-faults, hostile, soak,
    # damon and hot-writer suites, beside the others (2 cores); collect
    # their results at the end. The two lanes take about the same time
    # (2026-12-05: the first starts 2.4 minutes later, after building
    # upstream's tests, and ended 78 s after the second with hot-writer
    # in it).
    "$0" peer tmem compress memdedup kexec link-faults hostile soak damon \
        hot-writer > "$logs/peer-suite.out" 2>&1 &
    peer_pid=$!
    suites=(unit sanitize qtest upstream e2e kernels working-set numa)
fi
for s in "${suites[@]}"; do
    case $s in
    unit) suite_unit ;;
    peer) suite_peer ;;
    upstream) suite_upstream ;;
    e2e) suite_e2e ;;
    numa) suite_numa ;;
    qtest) suite_qtest ;;
    tmem) suite_tmem ;;
    compress) suite_compress ;;
    kernels) suite_kernels ;;
    working-set) suite_working_set ;;
    damon) suite_damon ;;
    hot-writer) suite_hot_writer ;;
    memdedup) suite_memdedup ;;
    kexec) suite_kexec ;;
    hostile) suite_hostile ;;
    link-faults) suite_link_faults ;;
    soak) suite_soak ;;
    sanitize) suite_sanitize ;;
    fuzz) FUZZ_SECONDS=${FUZZ_SECONDS:-600} suite_sanitize ;;
    *) echo "unknown suite $s" >&2; exit 2 ;;
    esac
done
if [ -n "${peer_pid:-}" ]; then
    wait "$peer_pid"
    grep -vE '^qemu-memx check finished|^[0-9]+ passed, |^guest kernels: ' "$logs/peer-suite.out" |
        sed '/^$/d'
    read -r p _ f _ k _ < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logs/peer-suite.out" |
                             tail -n1 | tr -d ',')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1})); skipped=$((skipped + ${k:-0}))
    [ "${f:-1}" = 0 ] || failures+=("peer, tmem, compress, memdedup, kexec, link-faults, hostile, soak, damon, hot-writer: see $logs/peer-suite.out")
fi
echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
if ls "$build"/guest/*/kernel-release >/dev/null 2>&1; then
    echo "guest kernels: $(cat "$build"/guest/*/kernel-release | tr '\n' ' ')"
fi
echo "qemu-memx check finished in $((SECONDS - t0))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
