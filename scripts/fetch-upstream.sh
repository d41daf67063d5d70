#!/bin/bash
# Fetches the pinned upstream QEMU source package (qemu/UPSTREAM) into a
# download cache outside the clone, verifies the orig tarball's sha256 and
# prints the path of the verified tarball on stdout.
#
# Cache: ${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/upstream
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }
warn() {
    {
        echo "qemu-memx: ********************************************************"
        echo "qemu-memx: WARNING: $*"
        echo "qemu-memx: ********************************************************"
    } >&2
}

# shellcheck source=/dev/null
. "$here/qemu/UPSTREAM"
cache=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/upstream
mkdir -p "$cache" || die "cannot create download cache $cache"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Already cached and verified?
if [ -f "$cache/$ORIG_TARBALL" ] && [ "$(sha256_of "$cache/$ORIG_TARBALL")" = "$ORIG_SHA256" ]; then
    echo "$cache/$ORIG_TARBALL"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: qemu-memx fetches upstream as a Debian source package"

# Which version does the archive offer?
available=$(apt-cache showsrc "$PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' | sort -u)
[ -n "$available" ] || die "apt knows no source package '$PACKAGE'. Are the deb-src \
entries for $SUITE present (run ./configure as root once) and was 'apt-get update' run?"

version=$VERSION
orig=$ORIG_TARBALL
pinned=1
if ! printf '%s\n' "$available" | grep -qxF "$VERSION"; then
    # shellcheck disable=SC2053
    newest=""
    for v in $available; do
        [[ $v == $FALLBACK_GLOB ]] || continue
        if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest"; then newest=$v; fi
    done
    [ -n "$newest" ] || die "pinned $PACKAGE $VERSION is not in the archive and no \
$FALLBACK_GLOB version is either (archive offers: $(echo $available))"
    warn "pinned upstream $PACKAGE $VERSION has left the archive.
qemu-memx: falling back to the newest $FALLBACK_GLOB: $newest.
qemu-memx: Its tarball cannot be checked against the pinned sha256; apt's
qemu-memx: signed indexes vouch for it. The patch series must still apply."
    version=$newest
    upver=${version#*:}; upver=${upver%-*}
    orig="${PACKAGE}_${upver}.orig.tar.xz"
    pinned=0
fi

note "fetching $PACKAGE=$version source into $cache"
(
    cd "$cache"
    apt-get source --download-only -q "$PACKAGE=$version" >"$cache/apt-source.log" 2>&1
) || {
    tail -n 15 "$cache/apt-source.log" >&2
    die "apt-get source --download-only $PACKAGE=$version failed (log: $cache/apt-source.log)"
}
[ -f "$cache/$orig" ] || die "apt-get source did not produce $orig in $cache"

if [ $pinned = 1 ]; then
    got=$(sha256_of "$cache/$orig")
    if [ "$got" != "$ORIG_SHA256" ]; then
        mv "$cache/$orig" "$cache/$orig.bad"
        die "sha256 mismatch for $orig: expected $ORIG_SHA256, got $got \
(moved aside to $cache/$orig.bad). The archive copy differs from the pinned one."
    fi
else
    # Verify against the signed .dsc at least.
    dsc=$(ls "$cache"/"${PACKAGE}_${version#*:}".dsc 2>/dev/null | head -n1)
    if [ -n "$dsc" ]; then
        want=$(awk -v f="$orig" '/^Checksums-Sha256:/{s=1;next} /^[^ ]/{s=0} s && $3==f {print $1}' "$dsc")
        [ "$want" = "$(sha256_of "$cache/$orig")" ] || die "sha256 of $orig does not match its .dsc"
    fi
fi
echo "$cache/$orig"
