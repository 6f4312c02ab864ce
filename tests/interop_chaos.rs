//! Interop under the strict-server chaos mode (test-only `[chaos]`, debug builds): certbot and
//! lego each obtain and renew a certificate for two names through http-01 while the server
//! refuses 20 % of valid nonces with `badNonce` (RFC 8555 §6.5), delays every validation attempt
//! by 0–2 s, and reuses the account's valid authorizations in 50 % of the cases (§7.4) — what
//! Pebble does to keep clients honest. Certificates are checked with `openssl verify`.
//!
//! certbot's acme library (2.1) retries a `badNonce` exactly once and gives up on the second
//! in a row ("Unable to register an account…", then Debian's certbot 2.1 crashes printing the
//! error); so the server never refuses one client twice in a row (`bad_nonce_max_in_a_row = 1`,
//! the default). lego retries with a back-off and copes with more.
//!
//! The seed is fixed so that a run can be replayed: with seed 22 the first nonce the client
//! uses (newAccount) is refused and the renewal order reuses both authorizations, so each
//! client meets each misbehaviour at least once.
//!
//! `#[ignore]`d like every test that needs an outside program; `.ci/run` installs certbot and
//! lego and runs `cargo test -- --include-ignored`.

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
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::dns::MockDns;
use support::pki::{pem_to_ders, summarize};
use support::programs::{openssl_verify, program, run_ok};
use support::server::{Server, ServerOptions, TempDir, free_port};

const NAMES: [&str; 2] = ["chaos1.example.test", "chaos2.example.test"];

const CHAOS: &str = "[chaos]
bad_nonce_percent = 20
bad_nonce_max_in_a_row = 1
validation_delay_max_ms = 2000
authz_reuse_percent = 50
seed = 22
";

/// The real server in chaos mode, a mock DNS (every name → 127.0.0.1) and a free http-01 port.
struct Upki {
    server: Server,
    _dns: MockDns,
    http01_port: u16,
}

impl Upki {
    fn start() -> Upki {
        let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let http01_port = free_port();
        let server = Server::start_with(
            ServerOptions {
                http01_port: Some(http01_port),
                dns_resolver: Some(dns.addr),
                config: None,
            },
            &[],
            Some(CHAOS),
        );
        Upki {
            server,
            _dns: dns,
            http01_port,
        }
    }

    /// What chaos did so far, from the server's log.
    fn figures(&self) -> Figures {
        let log = self.server.stderr();
        Figures {
            refused: log.matches("chaos: refusing a valid nonce").count(),
            delayed: log.matches("chaos: validation attempt delayed").count(),
            reused: log
                .matches("chaos: order reuses valid authorization")
                .count(),
            validations: log.matches("http-01 validation of").count(),
        }
    }
}

#[derive(Debug)]
struct Figures {
    refused: usize,
    delayed: usize,
    reused: usize,
    validations: usize,
}

/// The two names of the leaf in `pem_file`, sorted, and its serial.
fn leaf(pem_file: &Path) -> (Vec<String>, String) {
    let pem = std::fs::read_to_string(pem_file).unwrap();
    let s = summarize(&pem_to_ders(&pem)[0]);
    let mut names = s.dns_names.clone();
    names.sort();
    (names, format!("{:?}", s.serial))
}

fn check_chaos_was_met(upki: &Upki, client: &str, retried: usize, took: Duration) -> Figures {
    let f = upki.figures();
    eprintln!(
        "{client} under chaos: {} valid nonces refused, {} retried by the client, {} \
         validation attempts delayed ({} validations), {} authorizations reused; {:.1} s",
        f.refused,
        retried,
        f.delayed,
        f.validations,
        f.reused,
        took.as_secs_f64()
    );
    assert!(f.refused >= 1, "{client}: no nonce was refused: {f:?}");
    assert!(f.delayed >= 1, "{client}: no validation was delayed: {f:?}");
    assert!(
        f.reused >= 1,
        "{client}: no authorization was reused: {f:?}"
    );
    f
}

#[test]
#[ignore = "interop: needs certbot"]
fn certbot_obtains_and_renews_under_chaos() {
    let upki = Upki::start();
    let tmp = TempDir::new("certbot-chaos");
    let dir = &tmp.path;
    let port = upki.http01_port.to_string();
    let certbot = |args: &[&str]| {
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
            .args(["--non-interactive", "--standalone", "--http-01-port", &port])
            .args(["--http-01-address", "127.0.0.1", "--cert-name", "app"])
            .args(args);
        cmd
    };
    let started = Instant::now();
    let cmd = certbot(&[
        "certonly",
        "--agree-tos",
        "--register-unsafely-without-email",
        "-d",
        NAMES[0],
        "-d",
        NAMES[1],
    ]);
    run_ok(cmd, "certbot-certonly", dir);
    let live = dir.join("config/live/app");
    let (names, first_serial) = leaf(&live.join("cert.pem"));
    assert_eq!(names, NAMES);
    openssl_verify(
        &upki.server.ca_cert_path(),
        Some(&live.join("chain.pem")),
        &live.join("cert.pem"),
        dir,
    );
    // Renewal: a new order for the same names; chaos may hand back the valid authorizations.
    let cmd = certbot(&["renew", "--force-renewal", "--no-random-sleep-on-renew"]);
    run_ok(cmd, "certbot-renew", dir);
    let (names, serial) = leaf(&live.join("cert.pem"));
    assert_eq!(names, NAMES);
    assert_ne!(serial, first_serial, "renewal kept the serial");
    openssl_verify(
        &upki.server.ca_cert_path(),
        Some(&live.join("chain.pem")),
        &live.join("cert.pem"),
        dir,
    );
    // certbot's acme library logs each badNonce retry in its debug log (one file per run).
    let mut retried = 0;
    for entry in std::fs::read_dir(dir.join("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        retried += text.matches("Retrying request after error").count();
    }
    let f = check_chaos_was_met(&upki, "certbot", retried, started.elapsed());
    assert_eq!(retried, f.refused, "certbot retried every refused nonce");
}

#[test]
#[ignore = "interop: needs lego"]
fn lego_obtains_and_renews_under_chaos() {
    let upki = Upki::start();
    let tmp = TempDir::new("lego-chaos");
    let dir = &tmp.path;
    let lego = |args: &[&str]| {
        let mut cmd = Command::new(program("lego", "lego"));
        cmd.env("LEGO_CA_CERTIFICATES", upki.server.ca_cert_path())
            .arg("--server")
            .arg(upki.server.directory_url())
            .args(["--accept-tos", "--email", "a@b.test", "--path"])
            .arg(dir)
            .arg("--http")
            .arg("--http.port")
            .arg(format!("127.0.0.1:{}", upki.http01_port))
            .args(["-d", NAMES[0], "-d", NAMES[1]])
            .args(args);
        cmd
    };
    let started = Instant::now();
    let mut output = run_ok(lego(&["run"]), "lego-run", dir);
    let crt = dir.join("certificates").join(format!("{}.crt", NAMES[0]));
    let issuer = dir
        .join("certificates")
        .join(format!("{}.issuer.crt", NAMES[0]));
    let (names, first_serial) = leaf(&crt);
    assert_eq!(names, NAMES);
    openssl_verify(&upki.server.ca_cert_path(), Some(&issuer), &crt, dir);
    // Renew when fewer than `days` days are left: more than the certificate has, so it renews.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pem = std::fs::read_to_string(&crt).unwrap();
    let not_after = summarize(&pem_to_ders(&pem)[0]).not_after_unix;
    let days = (not_after.saturating_sub(now) / 86_400 + 2)
        .max(90)
        .to_string();
    output += &run_ok(
        lego(&["renew", "--no-random-sleep", "--days", &days]),
        "lego-renew",
        dir,
    );
    let (names, serial) = leaf(&crt);
    assert_eq!(names, NAMES);
    assert_ne!(serial, first_serial, "renewal kept the serial");
    openssl_verify(&upki.server.ca_cert_path(), Some(&issuer), &crt, dir);
    // lego 4.9 retries badNonce with a back-off and logs each retry ("retry due to: …").
    let retried = output
        .lines()
        .filter(|l| l.contains("retry due to") && l.contains("badNonce"))
        .count();
    for l in output.lines().filter(|l| l.contains("badNonce")).take(2) {
        eprintln!("lego: {l}");
    }
    let f = check_chaos_was_met(&upki, "lego", retried, started.elapsed());
    assert_eq!(retried, f.refused, "lego retried every refused nonce");
}
