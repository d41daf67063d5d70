# shellcheck shell=bash
# debian_uri SUITE: the URI of the first enabled apt entry on this machine
# that carries SUITE (for example "bookworm" or "bookworm-security"), read
# from deb822 .sources files or one-line .list files. qemu-memx derives
# every apt entry it needs from these, so that no archive host is written
# down in the repository. Sourced by scripts/apt-setup.sh and
# tests/guest/guest-apt.sh.
debian_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case $f in */qemu-memx*.sources) continue ;; esac
        awk -v RS= -v s="$suite" '
            {
                n = split($0, l, "\n"); uri = ""; has = 0; off = 0
                for (i = 1; i <= n; i++) {
                    if (l[i] ~ /^URIs:/) {
                        sub(/^URIs:[ \t]*/, "", l[i]); split(l[i], u, /[ \t]+/)
                        uri = u[1]
                    } else if (l[i] ~ /^Suites:/) {
                        m = split(l[i], w, /[ \t]+/)
                        for (j = 2; j <= m; j++) if (w[j] == s) has = 1
                    } else if (l[i] ~ /^Enabled:[ \t]*no/) {
                        off = 1
                    }
                }
                if (has && !off && uri != "") { print uri; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i+1) == s) { print $i; exit } }' "$f"
    done
}
