#!/usr/bin/env bash
# Scores the systemd unit offline: `systemd-analyze security --offline=true` must rate it at
# most 2.0 ("OK" or better). (`systemd-analyze verify` needs the unit's binary installed, so
# packaging/test.sh runs it against the scratch root the .deb is installed into.)
set -euo pipefail
cd "$(dirname "$0")/.."
max=2.0
for unit in systemd/*.service; do
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
