#!/usr/bin/env bash
# Keeps the load generator working (called by .ci/run): starts a fresh upki-ra on loopback with
# validation pointed at the generator's own http-01 and DNS responders, runs upki-loadgen for a
# few seconds, and fails if any issuance failed or none completed. No timing is asserted.
#
# usage: benches/smoke.sh [SECONDS]      (binaries from target/debug, built here if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-3}"
PORT="${SMOKE_PORT:-18443}"
HTTP01="${SMOKE_HTTP01_PORT:-15002}"
DNS="${SMOKE_DNS_PORT:-15053}"

cargo build --locked --bin upki-ra --bin upki-loadgen
data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

target/debug/upki-ra serve --listen "127.0.0.1:$PORT" --data-dir "$data" \
    --http01-port "$HTTP01" --dns-resolver "127.0.0.1:$DNS" \
    --allow-validation-to 127.0.0.0/8 2>"$data/server.log" &
server_pid=$!

if ! target/debug/upki-loadgen --directory "https://127.0.0.1:$PORT/acme/directory" \
    --ca-file "$data/ca/ca.crt" --wait 60 --workers 4 --duration "$SECONDS_TO_RUN" \
    --validation http01 --http01-listen "127.0.0.1:$HTTP01" --dns-listen "127.0.0.1:$DNS" \
    --pid "$server_pid" --quiet; then
    echo "--- upki-ra stderr ---" >&2
    tail -n 50 "$data/server.log" >&2
    exit 1
fi
