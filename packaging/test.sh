#!/usr/bin/env bash
# Checks the packages of packaging/build.sh (in target/packages/):
#  - every .deb and .rpm lists the expected files, with ra.toml marked as a conffile
#    (DEBIAN/conffiles; rpm %config(noreplace)) and the maintainer scripts present;
#  - the amd64 .deb installs into a scratch root with `dpkg --root` (scripts run
#    chroot-less with $DPKG_ROOT): the upki-ra user, the 0700 state directory, the config and
#    the unit are there; the installed config passes `upki-ra config check`; the installed
#    unit passes systemd/check.sh (verify + security); an operator's edit of ra.toml survives
#    a reinstall; purge removes the state;
#  - the arm64 and armhf .debs install the same way and their binary answers --version under
#    qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=target/packages
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
fail() { echo "packaging/test.sh: FAIL: $*" >&2; exit 1; }
checks=0
ok() { checks=$((checks + 1)); echo "ok: $*"; }

want_files=(./usr/bin/upki-ra ./etc/upki-ra/ra.toml ./lib/systemd/system/upki-ra.service
    ./lib/systemd/system/upki-ca.service ./usr/lib/sysusers.d/upki-ra.conf)
for arch in amd64 arm64 armhf; do
    deb="$pkgs/upki-ra_${version}-1_${arch}.deb"
    [ -f "$deb" ] || fail "$deb missing"
    echo "--- $deb ---"
    dpkg-deb -c "$deb"
    list=$(dpkg-deb -c "$deb" | awk '{print $6}')
    for f in "${want_files[@]}"; do
        grep -qx "$f" <<<"$list" || fail "$deb lacks $f"
    done
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb architecture"
    dpkg-deb -f "$deb" Depends | grep '^libc6 (>= 2\.[0-9]*), libgcc-s1$' >/dev/null || fail "$deb Depends"
    ctl=$(mktemp -d)
    dpkg-deb -e "$deb" "$ctl"
    [ "$(cat "$ctl/conffiles")" = "/etc/upki-ra/ra.toml" ] || fail "$deb conffiles"
    for s in postinst prerm postrm; do [ -x "$ctl/$s" ] || fail "$deb lacks $s"; done
    rm -rf "$ctl"
    ok "$deb: files, conffile, scripts, Depends $(dpkg-deb -f "$deb" Depends)"
done

declare -A rpmarch=([x86_64]=x86_64 [aarch64]=aarch64 [armv7hl]=armv7hl)
for arch in "${!rpmarch[@]}"; do
    rpm=$(ls "$pkgs"/upki-ra-"$version"-1."$arch".rpm 2>/dev/null) || fail "no $arch .rpm"
    echo "--- $rpm ---"
    rpm -qlp "$rpm"
    # The list is read once: `rpm … | grep -q` can fail under pipefail when grep exits early.
    listing=$(rpm -qlp "$rpm" 2>/dev/null)
    for f in /usr/bin/upki-ra /etc/upki-ra/ra.toml /usr/lib/systemd/system/upki-ra.service \
        /usr/lib/systemd/system/upki-ca.service /usr/lib/sysusers.d/upki-ra.conf; do
        grep -qx "$f" <<<"$listing" || fail "$rpm lacks $f"
    done
    [ "$(rpm -qp --configfiles "$rpm" 2>/dev/null)" = "/etc/upki-ra/ra.toml" ] || fail "$rpm %config"
    rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null \
        | grep '^cn /etc/upki-ra/ra.toml$' >/dev/null || fail "$rpm: ra.toml not %config(noreplace)"
    [ "$(rpm -qp --qf '%{ARCH}' "$rpm" 2>/dev/null)" = "$arch" ] || fail "$rpm arch"
    rpm -qp --scripts "$rpm" 2>/dev/null | grep systemd-sysusers >/dev/null || fail "$rpm %post"
    ok "$rpm: files, %config(noreplace), arch, scripts, requires $(rpm -qp --requires "$rpm" 2>/dev/null | grep glibc)"
done

# A scratch root with an empty dpkg database.
scratch_root() {
    local r
    r=$(mktemp -d)
    mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc"
    touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
    echo "$r"
}
dpkg_root() {
    local r=$1
    shift
    # Scripts run without chroot (the scratch root has no shell), with DPKG_ROOT=$r;
    # libc6 is not "installed" in the scratch database, hence --force-depends.
    dpkg --root="$r" --force-script-chrootless --force-depends --force-confold \
        --log="$r/dpkg.log" "$@"
}

r=$(scratch_root)
deb="$pkgs/upki-ra_${version}-1_amd64.deb"
dpkg_root "$r" -i "$deb"
grep -q '^upki-ra:' "$r/etc/passwd" || fail "no upki-ra user in the scratch root"
uid=$(awk -F: '$1 == "upki-ra" { print $3 }' "$r/etc/passwd")
[ "$(stat -c '%a %u' "$r/var/lib/upki-ra")" = "700 $uid" ] || fail "state directory $(stat -c '%a %u' "$r/var/lib/upki-ra")"
[ -f "$r/etc/upki-ra/ra.toml" ] || fail "no config"
[ -f "$r/lib/systemd/system/upki-ra.service" ] || fail "no unit"
dpkg --root="$r" -s upki-ra | grep '^Status: install ok installed' >/dev/null || fail "not installed"
ok "amd64 .deb installed into $r: user upki-ra (uid $uid), /var/lib/upki-ra 0700, config, unit"
"$r/usr/bin/upki-ra" --version
"$r/usr/bin/upki-ra" config check "$r/etc/upki-ra/ra.toml"
ok "installed binary runs, installed config checks"
systemd/check.sh "$r/usr/bin/upki-ra" "$r/lib/systemd/system/upki-ra.service" \
    "$r/lib/systemd/system/upki-ca.service"
ok "installed units: systemd-analyze verify clean (with the installed binary), exposure <= 2.0"

# Conffile: the operator's edit survives a reinstall/upgrade.
sed -i 's/^#level = "info"$/level = "debug"/' "$r/etc/upki-ra/ra.toml"
dpkg_root "$r" -i "$deb"
grep -q '^level = "debug"$' "$r/etc/upki-ra/ra.toml" || fail "reinstall lost the config edit"
ok "conffile edit kept across reinstall"
dpkg_root "$r" --purge upki-ra
[ ! -e "$r/var/lib/upki-ra" ] || fail "purge left /var/lib/upki-ra"
[ ! -e "$r/usr/bin/upki-ra" ] || fail "purge left the binary"
ok "purge removed binary and state"
rm -rf "$r"

for spec in "arm64 qemu-aarch64-static /usr/aarch64-linux-gnu" "armhf qemu-arm-static /usr/arm-linux-gnueabihf"; do
    read -r arch qemu sysroot <<<"$spec"
    r=$(scratch_root)
    dpkg_root "$r" --force-architecture -i "$pkgs/upki-ra_${version}-1_${arch}.deb"
    [ -d "$r/var/lib/upki-ra" ] || fail "$arch: no state directory"
    "$qemu" -L "$sysroot" "$r/usr/bin/upki-ra" --version | grep "^upki-ra $version$" >/dev/null \
        || fail "$arch binary --version under $qemu"
    "$qemu" -L "$sysroot" "$r/usr/bin/upki-ra" config check "$r/etc/upki-ra/ra.toml" >/dev/null \
        || fail "$arch binary config check"
    ok "$arch .deb installed into a scratch root; its binary answers --version under $qemu"
    rm -rf "$r"
done
echo "packaging: $checks passed, 0 failed"
