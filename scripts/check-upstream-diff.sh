#!/bin/bash
# Runs upstream's own test suites against pristine upstream QEMU and
# against the fork, and prints every test whose result differs, so that a
# failure is blamed on a qemu-memx patch only once pristine upstream is
# shown to pass it.
#
# Pristine means: the same verified orig tarball the fork is built from
# (scripts/fetch-upstream.sh), with only the build fix every build of it
# needs on these machines (qemu/patches/build/0001: the +ds tarball lacks
# the edk2 blobs its pc-bios/meson.build would unpack), configured with
# the same QEMU configure arguments as the fork (build/qemu-build's
# config.status), built into build/pristine with the same ccache.
#
# Suites: meson's qtest-x86_64 and unit, and migration-test --full, each
# run through tests/tcg-only.sh exactly as make check runs them.
#
# Usage: scripts/check-upstream-diff.sh [BUILD]   (make check-upstream-diff)
# Output: BUILD/upstream-diff/{pristine,fork}.txt ("RESULT NAME" lines)
# and the differences on stdout; exits non-zero if any test differs.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$here/build}")
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }

fork=$build/qemu-build
[ -x "$fork/qemu-system-x86_64" ] || die "build the fork first (make build)"
pristine_src=$build/pristine/qemu
pristine=$build/pristine/qemu-build
out=$build/upstream-diff
mkdir -p "$out"

tarball=$("$here/scripts/fetch-upstream.sh")
stamp=$pristine_src/.memx-pristine
want=$(sha256sum "$tarball" "$here/qemu/patches/build/0001-"*.patch | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    note "unpacking pristine upstream into $pristine_src"
    rm -rf "$pristine_src" "$pristine"
    mkdir -p "$pristine_src"
    tar -xf "$tarball" -C "$pristine_src" --strip-components=1
    patch -d "$pristine_src" -p1 -s < "$here"/qemu/patches/build/0001-*.patch
    echo "$want" > "$stamp"
fi

# The fork's own QEMU configure arguments, word for word.
if [ ! -f "$pristine/build.ninja" ]; then
    mkdir -p "$pristine"
    # (less the trailing "$@", and a version string that says what it is)
    args=$(sed -n "s/^ *exec '[^']*configure' \(.*\) \"\$@\"\$/\1/p" "$fork/config.status" |
           head -n1 | sed "s/'--with-pkgversion=[^']*'/'--with-pkgversion=pristine upstream'/")
    [ -n "$args" ] || die "cannot read the fork's configure arguments from $fork/config.status"
    note "configuring pristine upstream with the fork's arguments"
    (cd "$pristine" && eval "'$pristine_src/configure' $args") \
        > "$build/pristine/configure.log" 2>&1 ||
        { tail -n 20 "$build/pristine/configure.log"; die "pristine configure failed"; }
fi

export CCACHE_BASEDIR=$build CCACHE_NOHASHDIR=1
note "building pristine upstream (log: $build/pristine/build.log)"
{ make -C "$pristine" -j"$(nproc)" &&
  ninja -C "$pristine" tests/qtest/migration-test &&
  "$here/scripts/link-firmware.sh" "$pristine" "$(sed -n 's/^PREFIX := //p' "$build/config.mk")"; } \
    > "$build/pristine/build.log" 2>&1 ||
    { tail -n 30 "$build/pristine/build.log"; die "pristine build failed"; }

# run_suites QEMU_BUILD SOURCE_TREE NAME: every suite, as "RESULT NAME" lines
run_suites() {
    local qb=$1 src=$2 name=$3 targets
    targets=$(python3 "$here/tests/upstream-tap.py" --targets "$qb" qtest-x86_64 unit)
    # shellcheck disable=SC2086
    ninja -C "$qb" $targets >> "$out/$name-build.log" 2>&1
    (cd "$qb" && "$here/tests/tcg-only.sh" meson test --no-rebuild \
        $(python3 "$here/tests/upstream-tap.py" --names "$qb" qtest-x86_64 unit)) > "$out/$name-meson.log" 2>&1 || true
    for s in qtest-x86_64 unit; do
        python3 "$here/tests/upstream-tap.py" "$qb/meson-logs/testlog.json" "$s" --list |
            sed "s|^\([A-Z]*\) |\1 $s/|"
    done
    (cd "$src" && env QTEST_QEMU_BINARY="$qb/qemu-system-x86_64" PYTHON=/usr/bin/python3 \
        "$here/tests/tcg-only.sh" "$qb/tests/qtest/migration-test" --tap -k --full) \
        > "$out/$name-migration-test.log" 2>&1 || true
    sed -nE -e 's/^ok [0-9]+ (\S+).*# *SKIP.*/SKIP migration-test\1/p' \
        -e '/# *SKIP/!s/^ok [0-9]+ (\S+).*/OK migration-test\1/p' \
        -e 's/^not ok [0-9]+ (\S+).*/FAIL migration-test\1/p' "$out/$name-migration-test.log"
}

t0=$SECONDS
note "running upstream's suites against pristine upstream"
run_suites "$pristine" "$pristine_src" pristine | sort > "$out/pristine.txt"
note "running upstream's suites against the fork"
run_suites "$fork" "$build/qemu" fork | sort > "$out/fork.txt"

for f in pristine fork; do
    printf '%-9s %s\n' "$f:" "$(cut -d' ' -f1 "$out/$f.txt" | sort | uniq -c | xargs)"
done
# Tests only the fork has (qemu-memx's own qtests in qtest-x86_64) are
# listed, not compared.
rm -f "$out/fork-only.txt"
awk -v only="$out/fork-only.txt" 'NR == FNR { seen[$2] = 1; next }
    !($2 in seen) { print $2 > only; next } { print }' \
    "$out/pristine.txt" "$out/fork.txt" > "$out/fork-common.txt"
[ -s "$out/fork-only.txt" ] && echo "only in the fork: $(xargs < "$out/fork-only.txt")"
if diff -u "$out/pristine.txt" "$out/fork-common.txt" > "$out/diff.txt"; then
    echo "upstream's suites: pristine and fork give the same result for all" \
         "$(wc -l < "$out/pristine.txt") tests they share ($((SECONDS - t0)) s)"
else
    echo "upstream's suites: results that differ (- pristine, + fork):"
    grep -E '^[-+][A-Z]' "$out/diff.txt"
    exit 1
fi
