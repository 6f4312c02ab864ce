#!/usr/bin/env bash
# Builds the release binary of upki-ra for the ARM targets (and the host) with Debian's cross
# gcc, using the cargo configuration in cross/config.toml (linkers, qemu runners, static
# libstdc++ for the libzmq that the zmq crate compiles from source; LMDB is compiled by heed).
#
#   cross/build.sh [--test] [TRIPLE...]
#
# Default triples: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf. Each binary is
# checked: right architecture, no dynamic libstdc++/libzmq, and it answers --version under
# qemu-user. With --test, the library's unit tests also run under qemu (`cargo test --lib`).
# Prerequisites (see .ci/run): rustup targets, gcc/g++ cross compilers, qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=0
if [ "${1:-}" = "--test" ]; then
    run_tests=1
    shift
fi
triples=("$@")
if [ ${#triples[@]} -eq 0 ]; then
    triples=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
fi

cargo_cross() { cargo --config cross/config.toml "$@"; }

for t in "${triples[@]}"; do
    case "$t" in
        aarch64-unknown-linux-gnu) qemu="qemu-aarch64-static -L /usr/aarch64-linux-gnu"; arch="ARM aarch64" ;;
        armv7-unknown-linux-gnueabihf) qemu="qemu-arm-static -L /usr/arm-linux-gnueabihf"; arch="ARM, EABI5" ;;
        x86_64-unknown-linux-gnu) qemu=""; arch="x86-64" ;;
        *) echo "cross/build.sh: unsupported target $t" >&2; exit 2 ;;
    esac
    echo "=== $t: release build ==="
    cargo_cross build --locked --release --target "$t"
    bin="target/$t/release/upki-ra"
    info=$(file -L "$bin")
    echo "$info"
    grep -q "$arch" <<<"$info" || { echo "cross/build.sh: $bin is not $arch" >&2; exit 1; }
    # The package must not depend on a libzmq or libstdc++ on the router.
    if readelf -d "$bin" | grep -E 'NEEDED.*(libzmq|libstdc\+\+|liblmdb)'; then
        echo "cross/build.sh: $bin links a C++/zmq/lmdb library dynamically" >&2
        exit 1
    fi
    echo "$t NEEDED: $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
    echo "$t stripped size: $(stat -c %s "$bin") bytes"
    # shellcheck disable=SC2086 # $qemu is a command with arguments
    $qemu "$bin" --version
    if [ "$run_tests" = 1 ]; then
        echo "=== $t: cargo test --lib under ${qemu:-the host} ==="
        cargo_cross test --locked --target "$t" --lib
    fi
done
