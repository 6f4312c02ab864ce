//! The appliance's operator side (issue 6) against the real binary: `upki-ra admin …` and
//! `upki-ra status` reading the store of a running server (LMDB multi-process readers),
//! `admin revoke` through the control socket, `/metrics` + `/healthz` on their own listener,
//! `config check`, and the graceful stop on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::pki::Identifier;
use crate::support::server::{TempDir, free_port};

fn upki_ra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upki-ra"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `upki-ra ARGS --json`, asserts success, parses stdout.
#[track_caller]
fn json_of(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = upki_ra(&all);
    assert!(
        out.status.success(),
        "upki-ra {all:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "upki-ra {all:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// One plain-HTTP GET; returns (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

/// The value of one exposition line `series value`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn write_config(dir: &Path, data_dir: &Path, metrics: SocketAddr) -> String {
    let path = dir.join("ra.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = {:?}\n[metrics]\nenabled = true\nlisten = \"{metrics}\"\n",
            data_dir.display().to_string()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Issue 6 "done means": `admin certs list` shows what a client just obtained, while the
/// server runs; status, metrics, operator revocation and a graceful SIGTERM stop.
#[test]
fn admin_cli_sees_issuance_while_serving_then_sigterm_stops_cleanly() {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut env = Env::with_config(Some(&format!(
        "[metrics]\nenabled = true\nlisten = \"{metrics}\"\n"
    )));
    let mut acme = Acme::new(&env.server);
    assert_eq!(acme.new_account().status, 201);
    let name = "router.example.test";
    acme.issue(&[Identifier::dns(name)], Some(name), &env.http01);

    let conf_dir = TempDir::new("upki-ra-admin-conf");
    let config = write_config(&conf_dir.path, env.server.data_dir(), metrics);
    let cfg = ["--config", config.as_str()];

    // The store, read by a second process while the server holds it open.
    let certs = json_of(&[&["admin", "certs", "list"][..], &cfg].concat());
    let list = certs.as_array().unwrap();
    assert_eq!(list.len(), 1, "{certs}");
    assert_eq!(list[0]["names"], serde_json::json!([name]), "{certs}");
    assert_eq!(list[0]["status"], "valid", "{certs}");
    let serial = list[0]["serial"].as_str().unwrap().to_owned();

    let none = json_of(&[&["admin", "certs", "list", "--name", "nomatch"][..], &cfg].concat());
    assert_eq!(none, serde_json::json!([]));
    let soon = json_of(
        &[
            &["admin", "certs", "list", "--expiring-within", "1h"][..],
            &cfg,
        ]
        .concat(),
    );
    assert_eq!(
        soon,
        serde_json::json!([]),
        "a fresh certificate does not expire within 1h"
    );
    let later = json_of(
        &[
            &["admin", "certs", "list", "--expiring-within", "100000d"][..],
            &cfg,
        ]
        .concat(),
    );
    assert_eq!(later.as_array().unwrap().len(), 1);
    let orders = json_of(&[&["admin", "orders", "list", "--status", "valid"][..], &cfg].concat());
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    let order_id = orders[0]["id"].as_str().unwrap();
    let order = json_of(&[&["admin", "orders", "show", order_id][..], &cfg].concat());
    assert_eq!(order["names"], serde_json::json!([name]));
    let accounts = json_of(&[&["admin", "accounts", "list"][..], &cfg].concat());
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    let shown = json_of(&[&["admin", "certs", "show", serial.as_str()][..], &cfg].concat());
    assert!(
        shown["chain_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    // Human output: a table with a header and the serial.
    let out = upki_ra(&[&["admin", "certs", "list"][..], &cfg].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("SERIAL") && text.contains(&serial),
        "{text}"
    );

    // status: up, CA reachable (live check through /healthz), counts from the store.
    let status = json_of(&[&["status"][..], &cfg].concat());
    assert_eq!(status["server"], "up", "{status}");
    assert_eq!(status["ca_reachable"], true, "{status}");
    assert_eq!(status["store"]["certificates"]["valid"], 1, "{status}");
    assert_eq!(status["store"]["accounts"], 1, "{status}");

    // /metrics: the issuance, its validation, its finalize request and CA round trips.
    let (code, text) = get(metrics, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(&text, "upki_ra_issuances_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "upki_ra_validations_total{type=\"http-01\",result=\"valid\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "upki_ra_requests_total{endpoint=\"finalize\",status=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "upki_ra_ca_request_duration_seconds_count").unwrap() >= 2.0,
        "get_ca and sign at least: {text}"
    );
    assert!(
        sample(&text, "upki_ra_lmdb_size_bytes").unwrap() > 0.0,
        "{text}"
    );
    let (code, body) = get(metrics, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        get(metrics, "/acme/directory").0,
        404,
        "ACME is not on the metrics port"
    );

    // Operator revocation goes through the server (its CA link) and is recorded.
    let revoked = json_of(
        &[
            &[
                "admin",
                "revoke",
                "--serial",
                serial.as_str(),
                "--reason",
                "superseded",
            ][..],
            &cfg,
        ]
        .concat(),
    );
    assert_eq!(revoked["ok"], true, "{revoked}");
    let listed = json_of(&[&["admin", "certs", "list", "--status", "revoked"][..], &cfg].concat());
    assert_eq!(listed[0]["serial"], serial.as_str(), "{listed}");
    assert_eq!(listed[0]["revocation_reason"], 4, "{listed}");
    let again = upki_ra(&[&["admin", "revoke", "--serial", serial.as_str()][..], &cfg].concat());
    assert!(!again.status.success(), "a second revocation must fail");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already revoked"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // SIGTERM: graceful stop, exit 0, store flushed; the store stays readable afterwards.
    let status = env.server.terminate(Duration::from_secs(20));
    let status =
        status.unwrap_or_else(|| panic!("no exit within 20 s of SIGTERM\n{}", env.server.stderr()));
    assert!(status.success(), "{status}\n{}", env.server.stderr());
    let log = env.server.stderr();
    assert!(
        log.contains("shutting down gracefully") && log.contains("stopped"),
        "{log}"
    );
    let after = json_of(&[&["admin", "certs", "list"][..], &cfg].concat());
    assert_eq!(after.as_array().unwrap().len(), 1);
    let down = upki_ra(&[&["status"][..], &cfg].concat());
    assert!(
        !down.status.success(),
        "status must fail when the server is down"
    );
}

/// `upki-ra config check FILE`: exit 0 for a good file, 1 with the line for a bad one.
#[test]
fn config_check_reports_line_of_error() {
    let dir = TempDir::new("upki-ra-config-check");
    let good = dir.path.join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:8443\"\n").unwrap();
    let out = upki_ra(&["config", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let bad = dir.path.join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"127.0.0.1:8443\"\nlisen = 1\n").unwrap();
    let out = upki_ra(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("lisen"), "{err}");
}
