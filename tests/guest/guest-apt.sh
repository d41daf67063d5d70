#!/bin/bash
# A private apt for the guest kernels: their packages come from whichever
# Debian suite tests/guest/KERNELS names (bullseye, bookworm-security,
# trixie-backports, ...), but the host's own apt configuration is never
# changed, so a newer suite can never upgrade a host package. The entries
# are derived from the machine's bookworm and bookworm-security entries;
# the indexes live in the cache, beside the downloaded packages.
#
# Usage: tests/guest/guest-apt.sh apt-get|apt-cache ARGS...
#        tests/guest/guest-apt.sh mirror SUITE    the URI SUITE comes from
#        tests/guest/guest-apt.sh suite PKG VER   the suite that serves PKG VER
#   The first call after KERNELS changes (or after a day) runs
#   'apt-get update' on the private state.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
# shellcheck source=scripts/debian-uri.sh
. "$here/../../scripts/debian-uri.sh"

state=${QEMU_MEMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-memx}/guest-apt
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The archive URI of Debian suite $1, from the machine's own entries.
mirror() {
    local uri
    case $1 in
    *-security)
        uri=$(debian_uri bookworm-security | head -n1)
        [ -n "$uri" ] || die "tests/guest/KERNELS needs $1, but this machine has \
no bookworm-security entry to derive it from" ;;
    *)
        uri=$(debian_uri bookworm | head -n1)
        [ -n "$uri" ] || die "no Debian 'bookworm' entry in /etc/apt/sources.list{,.d}: \
the guest kernels' apt entries are derived from it" ;;
    esac
    echo "$uri"
}

write_sources() {
    local suite
    echo "# Written by tests/guest/guest-apt.sh from this machine's own entries."
    for suite in $(awk '!/^#/ && NF >= 2 { print $2 }' "$here/KERNELS" | sort -u); do
        echo "deb [signed-by=$keyring] $(mirror "$suite") $suite main"
    done
}

if [ "${1:-}" = mirror ]; then
    mirror "$2"
    exit 0
fi

opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o "Dir::State=$state" -o "Dir::State::status=$state/status"
      -o "Dir::Cache=$state/cache" -o APT::Architecture=amd64 -o Acquire::Languages=none
      -o APT::Sandbox::User=root -q)

mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
touch "$state/status"
want=$(write_sources)
if [ ! -f "$state/sources.list" ] || [ "$(cat "$state/sources.list")" != "$want" ] ||
        [ ! -f "$state/updated" ] || [ -n "$(find "$state/updated" -mmin +1440)" ]; then
    printf '%s\n' "$want" > "$state/sources.list"
    apt-get "${opts[@]}" update >"$state/update.log" 2>&1 || {
        tail -n 10 "$state/update.log" >&2
        die "apt-get update of the guest kernels' suites failed (log: $state/update.log)"
    }
    if grep -qE '^(W|E): .*(Failed to fetch|Could not resolve|unreachable)' "$state/update.log"; then
        grep -E '^(W|E):' "$state/update.log" >&2
        die "apt-get update could not reach the archive for the guest kernels"
    fi
    touch "$state/updated"
fi

tool=$1; shift
case $tool in
apt-get|apt-cache) exec "$tool" "${opts[@]}" "$@" ;;
suite)
    # madison: "pkg | version | URI suite/main amd64 Packages"
    apt-cache "${opts[@]}" madison "$1" |
        awk -F'|' -v v="$2" '{ gsub(/ /, "", $2) } $2 == v { split($3, w, " ");
                             sub(/\/.*/, "", w[2]); print w[2]; exit }' ;;
*) die "usage: $0 apt-get|apt-cache ARGS... | mirror SUITE | suite PKG VER" ;;
esac
