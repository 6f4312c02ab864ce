#!/usr/bin/env bash
# Instruction counts of the release server under callgrind: the figure that does not depend on
# how loaded the machine is (BENCHMARKS.md). Prints one line per measurement:
#   issuance  Ir per issuance (all server threads; N issuances at 4 workers after a warm-up)
#   directory Ir per GET /acme/directory (wrk, 1 keep-alive connection)
#   new-nonce Ir per GET /acme/new-nonce (wrk, 1 keep-alive connection)
# The counters are zeroed after the warm-up (callgrind_control -z) and dumped after the load
# (-d), so start-up, account creation and the TLS handshakes stay (nearly) out of the figure.
#
# usage: benches/instructions.sh [ISSUANCES]   (default 200; needs valgrind, wrk, curl)
# Binaries: $BIN_DIR/{upki-ra,upki-loadgen}, default target/release (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${1:-200}"
PORT="${CG_PORT:-18643}"
HTTP01="${CG_HTTP01_PORT:-15202}"
DNS="${CG_DNS_PORT:-15253}"
WRK_SECONDS="${CG_WRK_SECONDS:-15}"
BIN="${BIN_DIR:-target/release}"
[ -x "$BIN/upki-ra" ] && [ -x "$BIN/upki-loadgen" ] ||
    cargo build --release --locked --bin upki-ra --bin upki-loadgen

data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$data/cg.%p" \
    "$BIN/upki-ra" serve --listen "127.0.0.1:$PORT" --data-dir "$data/d" \
    --http01-port "$HTTP01" --dns-resolver "127.0.0.1:$DNS" \
    --allow-validation-to 127.0.0.0/8 2>"$data/server.log" &
server_pid=$!
base="https://127.0.0.1:$PORT/acme"
for _ in $(seq 1 300); do
    curl -sk -o /dev/null "$base/directory" && break
    sleep 0.2
done

# Zeroes the counters, runs "$@", dumps, prints the instructions counted in between.
measure() {
    callgrind_control -z "$server_pid" >/dev/null 2>&1
    "$@"
    callgrind_control -d "$server_pid" >/dev/null 2>&1
    sleep 0.5
    local f
    f="$(ls -t "$data"/cg."$server_pid".* | head -n1)"
    awk '/^summary:/ {print $2}' "$f"
}
loadgen() {
    "$BIN/upki-loadgen" --directory "$base/directory" --ca-file "$data/d/ca/ca.crt" \
        --wait 60 --workers 4 --issuances "$1" --validation http01 \
        --http01-listen "127.0.0.1:$HTTP01" --dns-listen "127.0.0.1:$DNS" --quiet >/dev/null
}
loadgen 20 # warm-up: accounts, connections, LMDB pages
ir="$(measure loadgen "$N")"
echo "issuance $((ir / N)) Ir ($N issuances, 4 workers)"

wrk_count() { # prints nothing; leaves the request count in $data/wrk
    wrk -t1 -c1 -d"${WRK_SECONDS}s" "$1" | awk '/requests in/ {print $1}' >"$data/wrk"
}
for ep in directory new-nonce; do
    ir="$(measure wrk_count "$base/$ep")"
    reqs="$(cat "$data/wrk")"
    echo "$ep $((ir / reqs)) Ir per request ($reqs requests, 1 keep-alive connection)"
done
