//! Interop: Debian 12's lego 4.9.1 and IP identifiers (RFC 8738). lego 4.9.1 predates RFC 8738
//! support: it orders `127.0.0.1` as `{"type":"dns"}` and puts the address in the CSR's CN and
//! as a dNSName. With `identifiers.legacy_ip_identifiers = true` it obtains a certificate via
//! http-01 whose only SAN is the iPAddress (checked with `openssl x509 -text`); with the switch
//! off (set explicitly here; the default case is `lego_ip_sent_as_dns_is_refused_clearly` in
//! `tests/interop_challenges.rs`) newOrder is refused as `malformed`.
//!
//! `#[ignore]`d so that plain `cargo test` needs no external program; `.ci/run` installs lego
//! and runs `cargo test -- --include-ignored`. A missing program is a failure.

// Tests may unwrap and panic: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "it/support/mod.rs"]
#[allow(dead_code)] // only part of the support code is used here
mod support;

use std::path::Path;
use std::process::Command;

use support::programs::{openssl_verify, program, run, run_ok};
use support::server::{Server, ServerOptions, TempDir, free_port};

/// The server with `legacy_ip_identifiers` set to `on`, and the port it dials for http-01.
fn start(on: bool) -> (Server, u16) {
    let http01_port = free_port();
    let config = format!("[identifiers]\nlegacy_ip_identifiers = {on}\n");
    let server = Server::start_with(
        ServerOptions {
            http01_port: Some(http01_port),
            ..ServerOptions::default()
        },
        &[],
        Some(&config),
    );
    (server, http01_port)
}

/// `lego --http` for 127.0.0.1 against `server`, its responder on `http01_port`.
fn lego_ip(server: &Server, http01_port: u16, dir: &Path) -> Command {
    let mut cmd = Command::new(program("lego", "lego"));
    cmd.env("LEGO_CA_CERTIFICATES", server.ca_cert_path())
        .arg("--server")
        .arg(server.directory_url())
        .args(["--accept-tos", "--email", "a@b.test", "--path"])
        .arg(dir)
        .args(["--http", "--http.port"])
        .arg(format!("127.0.0.1:{http01_port}"))
        .args(["-d", "127.0.0.1", "run"]);
    cmd
}

/// RFC 8738 §3 + `legacy_ip_identifiers = true`: lego 4.9.1 obtains a certificate for
/// 127.0.0.1 through http-01; it names the address as an iPAddress SAN only.
#[test]
#[ignore = "interop: needs lego"]
fn lego_491_ip_certificate_with_legacy_switch_on() {
    let (server, port) = start(true);
    let tmp = TempDir::new("lego-legacy-ip");
    run_ok(lego_ip(&server, port, &tmp.path), "lego-ip-on", &tmp.path);
    let certs = tmp.path.join("certificates");
    let crt = certs.join("127.0.0.1.crt");
    openssl_verify(
        &server.ca_cert_path(),
        Some(&certs.join("127.0.0.1.issuer.crt")),
        &crt,
        &tmp.path,
    );
    let mut x509 = Command::new(program("openssl", "openssl"));
    x509.args(["x509", "-noout", "-text", "-in"]).arg(&crt);
    let text = run_ok(x509, "openssl-x509", &tmp.path);
    let san = text
        .lines()
        .skip_while(|l| !l.contains("X509v3 Subject Alternative Name"))
        .nth(1)
        .unwrap_or_else(|| panic!("no subjectAltName:\n{text}"))
        .trim();
    assert_eq!(san, "IP Address:127.0.0.1", "{text}");
    assert!(
        !text.contains("DNS:"),
        "a DNS SAN in an IP certificate:\n{text}"
    );
    let log = server.stderr();
    assert!(
        log.contains("127.0.0.1 requested as type \"dns\", treated as \"ip\""),
        "no warning for the legacy order:\n{log}"
    );
    assert!(
        log.contains("http-01 validation of 127.0.0.1: valid"),
        "{log}"
    );
}

/// Catalog #35 with the switch explicitly off: lego 4.9.1's IP-as-`dns` order is refused.
#[test]
#[ignore = "interop: needs lego"]
fn lego_491_ip_refused_with_legacy_switch_off() {
    let (server, port) = start(false);
    let tmp = TempDir::new("lego-legacy-ip-off");
    let (status, output) = run(lego_ip(&server, port, &tmp.path), "lego-ip-off", &tmp.path);
    assert!(!status.success(), "lego obtained a certificate:\n{output}");
    assert!(
        output.contains("urn:ietf:params:acme:error:malformed")
            && output.contains("an IP address must be ordered with type \"ip\""),
        "unclear refusal:\n{output}"
    );
    assert!(!tmp.path.join("certificates/127.0.0.1.crt").exists());
}
