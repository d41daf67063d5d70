#!/bin/bash
# Prepares the patched upstream tree, the way Debian's gbp-pq and Proxmox's
# pve-qemu do it:
#   1. unpack the verified upstream tarball into TREE
#   2. make TREE a git repository whose first commit is pristine upstream
#   3. 'git am' every patch listed in qemu/patches/series (one commit each)
#   4. link our own sources in (qemu/overlay/** and the C cores under memx/)
#
# Usage: scripts/prepare-tree.sh TARBALL TREE [--force | --restamp]
# Re-running is cheap: if the stamp matches the inputs, nothing is done.
# A tree holding commits or edits not yet exported ('make export-patches')
# is never thrown away without --force.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "qemu-memx: error: $*" >&2; exit 1; }
note() { echo "qemu-memx: $*" >&2; }

tarball=$1
tree=$(realpath -m "$2")
mode=${3:-}
force=
[ "$mode" = --force ] && force=1
patches=$here/qemu/patches
stamp=$tree/.git/memx-prepared

# Everything that decides the tree's content.
inputs_hash() {
    {
        sha256sum "$tarball" | cut -d' ' -f1
        (cd "$patches" && cat series && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' series |
            xargs -r sha256sum)
        (cd "$here/qemu/overlay" && find . -type f | LC_ALL=C sort)
    } | sha256sum | cut -d' ' -f1
}

# Fixed identities and dates so every machine produces the same commits.
export GIT_AUTHOR_NAME="qemu-memx upstream import" GIT_AUTHOR_EMAIL="memx@localhost"
export GIT_COMMITTER_NAME="qemu-memx tree" GIT_COMMITTER_EMAIL="memx@localhost"
export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"

want=$(inputs_hash)
if [ "$mode" = --restamp ]; then
    # Called by export-patches: the series now describes HEAD exactly.
    git -C "$tree" update-ref refs/memx/prepared HEAD
    echo "$want" > "$stamp"
    exit 0
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -z "$force" ]; then
    exit 0
fi

if [ -d "$tree/.git" ] && [ -z "$force" ]; then
    exported=$(git -C "$tree" rev-parse -q --verify refs/memx/prepared || true)
    if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ] ||
       { [ -n "$exported" ] && [ "$(git -C "$tree" rev-parse HEAD)" != "$exported" ]; }; then
        die "$tree has commits or edits that are not in qemu/patches. \
Run 'make export-patches' first, or './configure --force-prepare' to discard them."
    fi
fi

note "preparing upstream tree in $tree"
rm -rf "$tree.new"
mkdir -p "$tree.new"
tar -xf "$tarball" -C "$tree.new" --strip-components=1 ||
    die "cannot unpack $tarball"

cd "$tree.new"
git init -q -b memx
git config core.autocrlf false
git config am.keepcr true
git add -A -f .
upver=$(sed -n 's/^VERSION=//p' "$here/qemu/UPSTREAM")
git commit -q -m "upstream: Debian source package qemu $upver (orig tarball)" \
    -m "Unpacked from $(basename "$tarball"), verified by sha256 (qemu/UPSTREAM)."
git tag upstream

n=0
while read -r p; do
    p=${p%%#*}; p=$(echo "$p" | xargs)
    [ -n "$p" ] || continue
    [ -f "$patches/$p" ] || die "qemu/patches/series lists $p but the file is missing"
    if ! git am -q --committer-date-is-author-date "$patches/$p" >/tmp/qemu-memx-am.log 2>&1; then
        cat /tmp/qemu-memx-am.log >&2
        git am --abort >/dev/null 2>&1 || true
        die "patch qemu/patches/$p does not apply to upstream $upver. \
Rebase it (see README.rst, 'Maintaining the patch series')."
    fi
    n=$((n + 1))
done < "$patches/series"

# Link our own files in. They are not part of any commit: edits made
# through the links land directly in the qemu-memx repository.
{
    echo "# qemu-memx: links to files that live in the qemu-memx repository"
    echo "/memx/migration-ext"
    echo "/memx/memdedup"
} > .git/info/exclude
mkdir -p memx
ln -sfn "$here/migration-ext" memx/migration-ext
ln -sfn "$here/memdedup" memx/memdedup
(cd "$here/qemu/overlay" && find . -type f | LC_ALL=C sort) | while read -r f; do
    f=${f#./}
    [ -e "$f" ] && [ ! -L "$f" ] && die "overlay file $f would shadow an upstream file; use a patch"
    mkdir -p "$(dirname "$f")"
    ln -sfn "$here/qemu/overlay/$f" "$f"
    echo "/$f" >> .git/info/exclude
done
git update-ref refs/memx/prepared HEAD
cd - >/dev/null

rm -rf "$tree"
mv "$tree.new" "$tree"
echo "$want" > "$stamp"
note "upstream tree ready: $n patches applied"
