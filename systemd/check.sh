#!/usr/bin/env bash
# Checks the systemd units offline:
#  - `systemd-analyze verify` must print nothing (it exits 0 on warnings). It needs ExecStart's
#    binary to exist, so the unit is verified as a copy whose /usr/bin/upki-ra is replaced by
#    BINARY (default: target/debug/upki-ra; packaging/test.sh passes the binary installed from
#    the .deb);
#  - `systemd-analyze security --offline=true` must rate each unit at most 2.0 ("OK").
#
#   systemd/check.sh [BINARY [UNIT...]]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/upki-ra}")
shift || true
units=("$@")
[ ${#units[@]} -gt 0 ] || units=(systemd/*.service)
[ -x "$bin" ] || { echo "systemd/check.sh: $bin is not an executable" >&2; exit 1; }
max=2.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "${units[@]}"; do
    name=$(basename "$unit")
    sed "s|^ExecStart=/usr/bin/upki-ra|ExecStart=$bin|" "$unit" > "$tmp/$name"
    if ! out=$(systemd-analyze verify "$tmp/$name" 2>&1) || [ -n "$out" ]; then
        echo "$out" >&2
        echo "systemd/check.sh: systemd-analyze verify $unit failed or warned" >&2
        exit 1
    fi
    echo "systemd-analyze verify $unit: clean"
    out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
    line=$(grep 'Overall exposure level' <<<"$out") || {
        echo "$out" >&2
        echo "systemd/check.sh: no exposure score for $unit" >&2
        exit 1
    }
    echo "$line"
    score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
    if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
        echo "$out" >&2
        echo "systemd/check.sh: $unit exposure $score > $max" >&2
        exit 1
    fi
done
