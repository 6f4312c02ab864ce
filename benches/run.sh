#!/usr/bin/env bash
# upki-ra and Pebble side by side, under identical conditions (issue 7, BENCHMARKS.md).
#
# Each server runs pinned to one core (SERVER_CPU) with `taskset`, the generator (upki-loadgen)
# and wrk on another (CLIENT_CPU); every measurement starts a fresh server on a fresh data
# directory; each figure is the median of RUNS runs. Prints one Markdown table and writes it,
# with the raw RESULT lines, to $OUT.
#
# usage: benches/run.sh               the full run (~45 min: the 100k-issuance RSS runs and the
#                                     1M-order fill dominate)
#        QUICK=1 benches/run.sh       a few-minute check of the script itself (short runs, 1 run
#                                     each, 1k/2k issuances, 20k stored orders): figures are not
#                                     comparable to a full run
# needs: pebble (Debian package), wrk, curl, taskset (util-linux), a Rust toolchain.
# knobs (environment): RUNS DURATION SERVER_CPU CLIENT_CPU WORKERS BIG_ISSUANCES FILL_ORDERS
#        OUT UPKI_PORT HTTP01_PORT DNS_PORT PEBBLE_PORT PEBBLE_ADMIN_PORT DISK_DIR SHM_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

QUICK="${QUICK:-0}"
if [ "$QUICK" = 1 ]; then
    RUNS="${RUNS:-1}" DURATION="${DURATION:-4}" WRK_SECONDS="${WRK_SECONDS:-3}"
    SMALL_ISSUANCES="${SMALL_ISSUANCES:-1000}" BIG_ISSUANCES="${BIG_ISSUANCES:-2000}"
    FILL_ORDERS="${FILL_ORDERS:-20000}"
else
    RUNS="${RUNS:-3}" DURATION="${DURATION:-20}" WRK_SECONDS="${WRK_SECONDS:-10}"
    SMALL_ISSUANCES="${SMALL_ISSUANCES:-10000}" BIG_ISSUANCES="${BIG_ISSUANCES:-100000}"
    FILL_ORDERS="${FILL_ORDERS:-1000000}"
fi
WORKERS="${WORKERS:-1 4 16 64}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
OUT="${OUT:-$ROOT/target/bench}"
UPKI_PORT="${UPKI_PORT:-18443}"
HTTP01_PORT="${HTTP01_PORT:-15002}"
DNS_PORT="${DNS_PORT:-15053}"
PEBBLE_PORT="${PEBBLE_PORT:-24000}"
PEBBLE_ADMIN_PORT="${PEBBLE_ADMIN_PORT:-25000}"
# Durable runs keep the store on the disk of $OUT; no-sync runs on tmpfs, where fsync is a no-op
# (upki-ra itself only ever opens LMDB with the durable flags).
DISK_DIR="${DISK_DIR:-$OUT/data}"
SHM_DIR="${SHM_DIR:-/dev/shm/upki-ra-bench}"

for tool in pebble wrk curl taskset; do
    command -v "$tool" >/dev/null || { echo "benches/run.sh: $tool is not installed" >&2; exit 1; }
done
mkdir -p "$OUT"
RAW="$OUT/raw.txt"
: >"$RAW"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building release binaries"
# upki-ra is measured as the amd64 package ships it (packaging/build.sh → cross/build.sh):
# cross/config.toml links libstdc++ (for libzmq) statically, which the plain host build does
# not. Other hosts measure the plain release build.
if [ "$(rustc -vV | sed -n 's/^host: //p')" = x86_64-unknown-linux-gnu ]; then
    cargo --config cross/config.toml build --release --locked \
        --target x86_64-unknown-linux-gnu --bin upki-ra >&2
    UPKI="$ROOT/target/x86_64-unknown-linux-gnu/release/upki-ra"
else
    cargo build --release --locked --bin upki-ra >&2
    UPKI="$ROOT/target/release/upki-ra"
fi
cargo build --release --locked --bin upki-loadgen >&2
LOADGEN="$ROOT/target/release/upki-loadgen"

# ---------------------------------------------------------------- servers
SERVER_PID=""
SERVER_DIR=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [ -n "$SERVER_DIR" ]; then rm -rf "$SERVER_DIR"; SERVER_DIR=""; fi
}
trap stop_server EXIT

# start_upki [DATA_PARENT [KEEP_DIR]]: fresh data dir under DATA_PARENT (default: disk), or the
# existing KEEP_DIR (kept afterwards).
start_upki() {
    local parent="${1:-$DISK_DIR}" keep="${2:-}" dir
    if [ -n "$keep" ]; then dir="$keep"; else
        mkdir -p "$parent"; dir="$(mktemp -d "$parent/upki.XXXXXX")"; SERVER_DIR="$dir"
    fi
    printf '[server]\nmap_size_mib = 16384\n' >"$OUT/upki-ra.toml"
    taskset -c "$SERVER_CPU" "$UPKI" serve --config "$OUT/upki-ra.toml" \
        --listen "127.0.0.1:$UPKI_PORT" --data-dir "$dir" \
        --http01-port "$HTTP01_PORT" --dns-resolver "127.0.0.1:$DNS_PORT" \
        --allow-validation-to 127.0.0.0/8 2>"$OUT/upki-ra.log" &
    SERVER_PID=$!
    UPKI_CA="$dir/ca/ca.crt"
    wait_ready "https://127.0.0.1:$UPKI_PORT/acme/directory" "$UPKI_CA"
}

PEBBLE_DIR="$OUT/pebble"
pebble_setup() {
    mkdir -p "$PEBBLE_DIR"
    cd "$PEBBLE_DIR"
    if [ ! -s cert.pem ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
            -out ca.pem -days 365 -subj /CN=bench-ca 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
            -out leaf.csr -subj /CN=localhost 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
            -days 365 -extfile ext 2>/dev/null
    fi
    cat >pebble.json <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT",
 "managementListenAddress": "127.0.0.1:$PEBBLE_ADMIN_PORT",
 "certificate": "$PEBBLE_DIR/cert.pem", "privateKey": "$PEBBLE_DIR/key.pem",
 "httpPort": $HTTP01_PORT, "tlsPort": 5001, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF
    cd "$ROOT"
}

# The environment of issue 7: one Go thread, validation skipped, no artificial sleeps, no
# random nonce rejection, no authorization reuse.
start_pebble() {
    GOMAXPROCS=1 PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
        PEBBLE_AUTHZREUSE=0 taskset -c "$SERVER_CPU" pebble -config "$PEBBLE_DIR/pebble.json" \
        >"$OUT/pebble.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "https://127.0.0.1:$PEBBLE_PORT/dir" "$PEBBLE_DIR/ca.pem"
}

wait_ready() { # URL CA_FILE
    for _ in $(seq 300); do
        if [ -s "$2" ] && curl -sf --cacert "$2" -o /dev/null "$1"; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died; see $OUT/*.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "server not ready: $1" >&2; exit 1
}

start() { # upki|pebble
    if [ "$1" = upki ]; then start_upki; else start_pebble; fi
    sleep 1
}

# loadgen SERVER WORKERS ARGS... → prints the RESULT line (also appended to $RAW)
loadgen() {
    local server="$1" workers="$2"; shift 2
    local target
    if [ "$server" = upki ]; then
        target=(--directory "https://127.0.0.1:$UPKI_PORT/acme/directory" --ca-file "$UPKI_CA"
            --validation http01 --http01-listen "127.0.0.1:$HTTP01_PORT"
            --dns-listen "127.0.0.1:$DNS_PORT")
    else
        target=(--directory "https://127.0.0.1:$PEBBLE_PORT/dir" --ca-file "$PEBBLE_DIR/ca.pem"
            --validation none)
    fi
    local line
    # A run with errors or a stall (no issuance for 60 s: Pebble's in-memory store has been seen
    # to deadlock) still reports; it is counted in the table's last line.
    line="$(taskset -c "$CLIENT_CPU" "$LOADGEN" "${target[@]}" --workers "$workers" \
        --pid "$SERVER_PID" --quiet --stall 60 "$@" | grep '^RESULT' || true)"
    [ -n "$line" ] || { echo "loadgen gave no result against $server" >&2; exit 1; }
    echo "$server $line" >>"$RAW"
    echo "$line"
}
# " (stalled after N)" when the run of RESULT line $1 stalled.
stall_note() {
    [ "$(field stalled "$1")" = 1 ] && printf ' (stalled after %s)' "$(field issuances "$1")"
    return 0
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
# VmRSS, and in parentheses RssAnon (heap + stacks: without the binary and the LMDB map pages).
mem() { awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} END {printf "%.1f (%.1f)", r/1024, a/1024}' "/proc/$1/status"; }

declare -A R   # R[server,key] = value

# ---------------------------------------------------------------- 1. issuance throughput
pebble_setup
for server in upki pebble; do
    for w in $WORKERS; do
        rates="" p50s="" p99s="" cpus=""
        for _ in $(seq "$RUNS"); do
            log "$server: $w workers, ${DURATION}s"
            start "$server"
            line="$(loadgen "$server" "$w" --duration "$DURATION")"
            stop_server
            rates+=" $(field rate "$line")" p50s+=" $(field p50_ms "$line")"
            p99s+=" $(field p99_ms "$line")" cpus+=" $(field server_cpu_ms "$line")"
        done
        R[$server,rate$w]="$(median <<<"$rates")"
        R[$server,p50_$w]="$(median <<<"$p50s")"
        R[$server,p99_$w]="$(median <<<"$p99s")"
        R[$server,cpu$w]="$(median <<<"$cpus")"
    done
done

# ---------------------------------------------------------------- 2. new-nonce and directory
for server in upki pebble; do
    if [ "$server" = upki ]; then
        base="https://127.0.0.1:$UPKI_PORT/acme"; nonce="$base/new-nonce"; dir="$base/directory"
    else
        base="https://127.0.0.1:$PEBBLE_PORT"; nonce="$base/nonce-plz"; dir="$base/dir"
    fi
    for ep in nonce dir; do
        url="$nonce"; [ "$ep" = dir ] && url="$dir"
        vals=""
        for _ in $(seq "$RUNS"); do
            log "$server: wrk $url"
            start "$server"
            # One wrk thread, 16 keep-alive connections, on the client core.
            rps="$(taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"${WRK_SECONDS}s" "$url" |
                awk '/^Requests\/sec/ {printf "%d", $2}')"
            stop_server
            echo "$server wrk $ep $rps" >>"$RAW"
            vals+=" $rps"
        done
        R[$server,wrk_$ep]="$(median <<<"$vals")"
    done
done

# ---------------------------------------------------------------- 3. memory
for server in upki pebble; do
    log "$server: idle RSS, then RSS after $SMALL_ISSUANCES and $BIG_ISSUANCES issuances"
    start "$server"
    sleep 2
    R[$server,idle]="$(mem "$SERVER_PID")"
    line="$(loadgen "$server" 16 --issuances "$SMALL_ISSUANCES")"
    R[$server,rss_small]="$(mem "$SERVER_PID")$(stall_note "$line")"
    if [ "$(field stalled "$line")" = 1 ]; then
        R[$server,rss_big]="-"
    else
        line="$(loadgen "$server" 16 --issuances "$((BIG_ISSUANCES - SMALL_ISSUANCES))")"
        R[$server,rss_big]="$(mem "$SERVER_PID")$(stall_note "$line")"
    fi
    stop_server
done

# ---------------------------------------------------------------- 4. binary size
R[upki,size]="$(mib "$(( $(stat -c %s "$UPKI") / 1024 ))")"
R[upki,stripped]="$(file -b "$UPKI" | grep -o 'not stripped\|stripped' || true)"
R[pebble,size]="$(mib "$(( $(stat -c %s "$(command -v pebble)") / 1024 ))")"
R[pebble,stripped]="$(file -b "$(command -v pebble)" | grep -o 'not stripped\|stripped' || true)"

# ---------------------------------------------------------------- 5. durable vs no-sync
for place in disk shm; do
    parent="$DISK_DIR"; [ "$place" = shm ] && parent="$SHM_DIR"
    vals=""
    for _ in $(seq "$RUNS"); do
        log "upki: 16 workers, store on $place"
        start_upki "$parent"; sleep 1
        line="$(loadgen upki 16 --duration "$DURATION")"
        stop_server
        vals+=" $(field rate "$line")"
    done
    R[upki,sync_$place]="$(median <<<"$vals")"
done
rm -rf "$SHM_DIR"

# ---------------------------------------------------------------- 6. 0 vs N stored orders
filled="$DISK_DIR/filled"
rm -rf "$filled"
log "upki: filling a store with $FILL_ORDERS orders"
start_upki "$DISK_DIR" "$filled"; stop_server   # creates the CA and the store
taskset -c "$SERVER_CPU" "$UPKI" bench-fill --data-dir "$filled" --orders "$FILL_ORDERS" \
    --map-size-mib 16384 >&2
R[upki,filled_du]="$(du -sh "$filled/db" | cut -f1)"
for store in empty filled; do
    p50s="" p99s=""
    for _ in $(seq "$RUNS"); do
        log "upki: 1 worker, $store store"
        if [ "$store" = filled ]; then start_upki "$DISK_DIR" "$filled"; else start_upki; fi
        sleep 1
        line="$(loadgen upki 1 --duration "$DURATION")"
        stop_server
        p50s+=" $(field p50_ms "$line")" p99s+=" $(field p99_ms "$line")"
    done
    R[upki,lat_$store]="$(median <<<"$p50s")/$(median <<<"$p99s")"
done
rm -rf "$filled"

# ---------------------------------------------------------------- table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
{
    echo "Date: $(date -u +%Y-%m-%dT%H:%MZ); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel $(uname -r)"
    echo "upki-ra $(git -C "$ROOT" describe --always --dirty) (${UPKI#"$ROOT"/}), pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null || echo '?')"
    echo "RUNS=$RUNS DURATION=${DURATION}s server on CPU $SERVER_CPU, generator on CPU $CLIENT_CPU; medians of $RUNS"
    echo
    echo "| measure | upki-ra | Pebble | upki-ra target |"
    echo "|---|---|---|---|"
    echo "| server CPU ms per issuance (16 workers) | ${R[upki,cpu16]} | ${R[pebble,cpu16]} | ≤ 1.0 |"
    for w in $WORKERS; do
        echo "| issuances/s, $w workers (p50 / p99 ms) | ${R[upki,rate$w]} (${R[upki,p50_$w]} / ${R[upki,p99_$w]}) | ${R[pebble,rate$w]} (${R[pebble,p50_$w]} / ${R[pebble,p99_$w]}) | |"
    done
    echo "| new-nonce req/s (wrk, 16 keep-alive conns) | ${R[upki,wrk_nonce]} | ${R[pebble,wrk_nonce]} | ≥ 60000 |"
    echo "| directory req/s (wrk, 16 keep-alive conns) | ${R[upki,wrk_dir]} | ${R[pebble,wrk_dir]} | ≥ 60000 |"
    echo "| idle RSS MiB (anonymous) | ${R[upki,idle]} | ${R[pebble,idle]} | ≤ 5 |"
    echo "| RSS MiB (anonymous) after $SMALL_ISSUANCES issuances | ${R[upki,rss_small]} | ${R[pebble,rss_small]} | |"
    echo "| RSS MiB (anonymous) after $BIG_ISSUANCES issuances | ${R[upki,rss_big]} | ${R[pebble,rss_big]} | ≤ 16 |"
    echo "| binary MiB (${R[upki,stripped]} / ${R[pebble,stripped]}) | ${R[upki,size]} | ${R[pebble,size]} | ≤ 6 |"
    echo "| issuances/s durable vs no-sync (tmpfs), 16 workers | ${R[upki,sync_disk]} vs ${R[upki,sync_shm]} (×$(ratio "${R[upki,sync_disk]}" "${R[upki,sync_shm]}")) | n/a (state in memory) | ≥ ×0.8 |"
    echo "| latency p50/p99 ms, 1 worker: empty vs $FILL_ORDERS stored orders (${R[upki,filled_du]}) | ${R[upki,lat_empty]} vs ${R[upki,lat_filled]} (×$(ratio "${R[upki,lat_filled]%%/*}" "${R[upki,lat_empty]%%/*}")) | n/a | ≤ ×1.2 |"
    echo
    for server in upki pebble; do
        bad="$(grep "^$server RESULT" "$RAW" | grep -cv ' stalled=0 .* errors=0 ' || true)"
        echo "$server: $bad of $(grep -c "^$server RESULT" "$RAW") generator runs had errors or stalled (see raw.txt)."
    done
} | tee "$OUT/table.md"
log "raw RESULT lines in $RAW"
