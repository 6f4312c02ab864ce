#!/usr/bin/env bash
# Builds the six packages of upki-ra into target/packages/: .deb and .rpm for amd64/x86_64,
# arm64/aarch64 and armhf/armv7hl.
#
#   packaging/build.sh [--no-build]
#
# Binaries: cross/build.sh (release, libstdc++ and libzmq static, checked under qemu);
# --no-build packages the binaries already in target/<triple>/release/.
# .deb: staged tree + dpkg-deb (no cargo-deb: its `cargo install` takes ~7 minutes of CI on
#       2 cores and it would only do what the twenty lines below do).
# .rpm: cargo-generate-rpm from [package.metadata.generate-rpm] in Cargo.toml.
# Contents of both: /usr/bin/upki-ra, /etc/upki-ra/ra.toml (conffile / %config(noreplace)),
# the systemd unit, the sysusers.d entry, maintainer scripts (user + state directory).
# Dependencies: libc (version read from the binary's highest GLIBC_x.y symbol version) and
# libgcc_s (unwinding); libstdc++, libzmq and LMDB are inside the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(
    "x86_64-unknown-linux-gnu amd64 x86_64"
    "aarch64-unknown-linux-gnu arm64 aarch64"
    "armv7-unknown-linux-gnueabihf armhf armv7hl"
)
if [ "${1:-}" != "--no-build" ]; then
    cross/build.sh x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
out=target/packages
rm -rf "$out"
mkdir -p "$out"

# Highest GLIBC_x.y version the binary needs (its libc6/glibc dependency).
glibc_of() {
    readelf -V "$1" | sed -n 's/.*Name: GLIBC_\([0-9.]*\).*/\1/p' | sort -t. -k1,1n -k2,2n | tail -n1
}

for spec in "${targets[@]}"; do
    read -r triple debarch rpmarch <<<"$spec"
    bin="target/$triple/release/upki-ra"
    [ -x "$bin" ] || { echo "packaging/build.sh: $bin is missing (run without --no-build)" >&2; exit 1; }
    glibc=$(glibc_of "$bin")
    [ -n "$glibc" ] || { echo "packaging/build.sh: no GLIBC version in $bin" >&2; exit 1; }

    # --- .deb: a staged tree, built by dpkg-deb ---
    stage="$out/stage-$debarch"
    install -D -m 0755 "$bin" "$stage/usr/bin/upki-ra"
    install -D -m 0644 packaging/ra.toml "$stage/etc/upki-ra/ra.toml"
    install -D -m 0644 systemd/upki-ra.service "$stage/lib/systemd/system/upki-ra.service"
    install -D -m 0644 systemd/upki-ca.service "$stage/lib/systemd/system/upki-ca.service"
    install -D -m 0644 systemd/upki-ra.sysusers "$stage/usr/lib/sysusers.d/upki-ra.conf"
    install -d -m 0755 "$stage/usr/share/doc/upki-ra"
    cat > "$stage/usr/share/doc/upki-ra/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: upki-ra

Files: *
License: MIT
COPYRIGHT
    install -d -m 0755 "$stage/DEBIAN"
    for script in postinst prerm postrm; do
        install -m 0755 "packaging/deb/$script" "$stage/DEBIAN/$script"
    done
    echo "/etc/upki-ra/ra.toml" > "$stage/DEBIAN/conffiles"
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
        | xargs -0 md5sum > DEBIAN/md5sums)
    cat > "$stage/DEBIAN/control" <<CONTROL
Package: upki-ra
Version: $version-1
Architecture: $debarch
Maintainer: upki-ra developers <upki-ra@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: libc6 (>= $glibc), libgcc-s1
Recommends: systemd
Section: net
Priority: optional
Description: uPKI Registration Authority: ACME v2 (RFC 8555) server for private networks
 One binary that serves ACME over HTTPS, validates http-01 challenges, keeps its
 state in LMDB and signs through an embedded uPKI-compatible CA. Includes a
 hardened systemd unit, an operator CLI (upki-ra admin/status/config check) and
 Prometheus metrics.
CONTROL
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/upki-ra_${version}-1_${debarch}.deb" >/dev/null
    rm -rf "$stage"

    # --- .rpm: cargo-generate-rpm (assets in Cargo.toml; target/release → target/$triple/release) ---
    cargo generate-rpm --target "$triple" --arch "$rpmarch" -o "$out/" \
        --set-metadata "requires = { glibc = \">= $glibc\", libgcc = \"*\" }"
done
ls -l "$out"
