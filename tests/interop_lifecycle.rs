//! Interop tests of the account and certificate lifecycle with real clients against the real
//! `upki-ra` binary: certbot `update_account` and `unregister` (RFC 8555 §7.3.2, §7.3.6),
//! certbot `revoke --reason keycompromise` by the account and by the certificate key (§7.6),
//! and lego's External Account Binding (`--eab --kid --hmac`, §7.3.4) with keys made by
//! `upki-ra eab add`. Revocations are checked through the server's ACME Renewal Information
//! (RFC 9773): a revoked certificate's window lies in the past.
//!
//! lego 4.9.1 (Debian 12) has no ARI support (`lego renew --help` lists no ARI flag), so ARI is
//! tested with the in-test client (`tests/it/lifecycle.rs`).
//!
//! `#[ignore]`d so plain `cargo test` needs no external program; `.ci/run` installs certbot and
//! lego and runs them. A missing program is a failure, never a skip.

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

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use support::client::ari_cert_id;
use support::dns::MockDns;
use support::pki::pem_to_ders;
use support::programs::{program, run, run_ok};
use support::server::{Server, ServerOptions, TempDir, free_port};

const NAME: &str = "life.example.test";

/// The server with a mock DNS (every name → 127.0.0.1) and a free http-01 port.
struct Upki {
    server: Server,
    _dns: MockDns,
    http01_port: u16,
}

impl Upki {
    fn start(config: Option<&str>) -> Upki {
        let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let http01_port = free_port();
        let server = Server::start(ServerOptions {
            http01_port: Some(http01_port),
            dns_resolver: Some(dns.addr),
            config: config.map(str::to_owned),
        });
        Upki {
            server,
            _dns: dns,
            http01_port,
        }
    }

    /// RFC 9773 §4.2 `suggestedWindow.end` of a certificate (PEM file), as Unix seconds.
    fn ari_window_end(&self, cert_pem: &Path) -> i64 {
        let pem = std::fs::read_to_string(cert_pem).unwrap();
        let leaf = &pem_to_ders(&pem)[0];
        let http = self.server.https();
        let dir = http.get(&self.server.directory_url()).json();
        let url = format!(
            "{}/{}",
            dir["renewalInfo"].as_str().unwrap(),
            ari_cert_id(leaf)
        );
        let r = http.get(&url);
        assert_eq!(r.status, 200, "renewalInfo: {r}");
        let end = r.json()["suggestedWindow"]["end"]
            .as_str()
            .unwrap()
            .to_owned();
        time::OffsetDateTime::parse(&end, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn certbot(upki: &Upki, dir: &Path) -> Command {
    let mut cmd = Command::new(program("certbot", "certbot"));
    cmd.env("REQUESTS_CA_BUNDLE", upki.server.ca_cert_path())
        .arg("--config-dir")
        .arg(dir.join("config"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--logs-dir")
        .arg(dir.join("logs"))
        .arg("--server")
        .arg(upki.server.directory_url())
        .arg("--non-interactive");
    cmd
}

/// certbot certonly (standalone http-01) for NAME under `--cert-name life`.
fn certbot_issue(upki: &Upki, dir: &Path) -> PathBuf {
    let port = upki.http01_port.to_string();
    let mut cmd = certbot(upki, dir);
    cmd.arg("certonly")
        .args(["--standalone", "--http-01-port", &port])
        .args(["--http-01-address", "127.0.0.1"])
        .args(["--agree-tos", "--email", "ops@example.test"])
        .args(["--cert-name", "life", "-d", NAME]);
    run_ok(cmd, "certbot-certonly", dir);
    dir.join("config/live/life")
}

/// RFC 8555 §7.3.2 and §7.3.6 with certbot: `update_account` changes the contact, `unregister`
/// deactivates the account on the server.
#[test]
#[ignore = "interop: needs certbot"]
fn certbot_update_account_and_unregister() {
    let upki = Upki::start(None);
    let tmp = TempDir::new("certbot-acct");
    let dir = &tmp.path;
    let mut cmd = certbot(&upki, dir);
    cmd.args(["register", "--agree-tos", "--email", "first@example.test"]);
    run_ok(cmd, "certbot-register", dir);

    let mut cmd = certbot(&upki, dir);
    cmd.args(["update_account", "--email", "second@example.test"]);
    run_ok(cmd, "certbot-update-account", dir);
    let debug_log = std::fs::read_to_string(dir.join("logs/letsencrypt.log")).unwrap();
    assert!(
        debug_log.contains("mailto:second@example.test"),
        "the server's account object must show the new contact"
    );
    assert!(
        upki.server.stderr().contains("contact updated"),
        "{}",
        upki.server.stderr()
    );

    let mut cmd = certbot(&upki, dir);
    cmd.arg("unregister");
    run_ok(cmd, "certbot-unregister", dir);
    let debug_log = std::fs::read_to_string(dir.join("logs/letsencrypt.log")).unwrap();
    assert!(
        debug_log.contains("\"status\": \"deactivated\"")
            || debug_log.contains("\"status\":\"deactivated\""),
        "the server must answer the deactivation with status deactivated"
    );
    assert!(
        upki.server.stderr().contains("deactivated"),
        "{}",
        upki.server.stderr()
    );
}

/// RFC 8555 §7.6 with certbot: revocation signed by the account with reason keyCompromise
/// (1); the server marks the certificate revoked (its ARI window moves to the past).
#[test]
#[ignore = "interop: needs certbot"]
fn certbot_revoke_keycompromise_by_account() {
    let upki = Upki::start(None);
    let tmp = TempDir::new("certbot-revoke");
    let dir = &tmp.path;
    let live = certbot_issue(&upki, dir);
    let cert = live.join("cert.pem");
    assert!(upki.ari_window_end(&cert) > unix_now());
    let mut cmd = certbot(&upki, dir);
    cmd.arg("revoke").arg("--cert-path").arg(&cert).args([
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
    ]);
    run_ok(cmd, "certbot-revoke-keycompromise", dir);
    assert!(
        upki.server.stderr().contains("(reason 1)"),
        "{}",
        upki.server.stderr()
    );
    assert!(upki.ari_window_end(&cert) <= unix_now());
}

/// RFC 8555 §7.6 with certbot: `revoke --cert-path --key-path` signs with the certificate's
/// own key (`jwk` = its public key), from a certbot that has no account on the server.
#[test]
#[ignore = "interop: needs certbot"]
fn certbot_revoke_by_certificate_key() {
    let upki = Upki::start(None);
    let tmp = TempDir::new("certbot-issue");
    let live = certbot_issue(&upki, &tmp.path);
    let cert = live.join("cert.pem");
    let stranger = TempDir::new("certbot-keyholder");
    let mut cmd = certbot(&upki, &stranger.path);
    cmd.arg("revoke")
        .arg("--cert-path")
        .arg(&cert)
        .arg("--key-path")
        .arg(live.join("privkey.pem"))
        .args(["--reason", "keycompromise", "--no-delete-after-revoke"]);
    run_ok(cmd, "certbot-revoke-by-key", &stranger.path);
    assert!(
        !stranger.path.join("config/accounts").exists(),
        "revocation by certificate key must not need an account"
    );
    assert!(upki.ari_window_end(&cert) <= unix_now());
}

fn lego(upki: &Upki, dir: &Path) -> Command {
    let mut cmd = Command::new(program("lego", "lego"));
    cmd.env("LEGO_CA_CERTIFICATES", upki.server.ca_cert_path())
        .arg("--server")
        .arg(upki.server.directory_url())
        .args(["--accept-tos", "--email", "a@b.test", "--path"])
        .arg(dir)
        .arg("--http")
        .arg("--http.port")
        .arg(format!("127.0.0.1:{}", upki.http01_port))
        .args(["-d", NAME]);
    cmd
}

/// RFC 8555 §7.3.4 with lego: with `require_eab`, lego registers only with `--eab --kid
/// --hmac` from `upki-ra eab add` (run next to the live server), and each key works once.
#[test]
#[ignore = "interop: needs lego"]
fn lego_external_account_binding() {
    let upki = Upki::start(Some("[acme]\nrequire_eab = true\n"));
    let without = TempDir::new("lego-noeab");
    let mut cmd = lego(&upki, &without.path);
    cmd.arg("run");
    let (status, output) = run(cmd, "lego-run-without-eab", &without.path);
    // lego reads meta.externalAccountRequired from the directory and stops by itself.
    assert!(
        !status.success() && output.contains("External Account Binding"),
        "registration without EAB must fail ({status}):\n{output}"
    );

    let (kid, hmac) = upki.server.eab_add("lego");
    let first = TempDir::new("lego-eab");
    let mut cmd = lego(&upki, &first.path);
    cmd.args(["--eab", "--kid", &kid, "--hmac", &hmac, "run"]);
    run_ok(cmd, "lego-run-eab", &first.path);
    let crt = first.path.join(format!("certificates/{NAME}.crt"));
    assert!(upki.ari_window_end(&crt) > unix_now());

    // The same key for another account (another lego home, new account key): refused.
    let second = TempDir::new("lego-eab-reuse");
    let mut cmd = lego(&upki, &second.path);
    cmd.args(["--eab", "--kid", &kid, "--hmac", &hmac, "run"]);
    let (status, output) = run(cmd, "lego-run-eab-reuse", &second.path);
    assert!(
        !status.success() && output.contains("unauthorized"),
        "an EAB key is single use ({status}):\n{output}"
    );
}
