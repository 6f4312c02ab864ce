//! Security catalog, section D (orders and identifiers, RFC 8555 §7.4, §7.1.3–§7.1.4, RFC 8738):
//! #35 malformed newOrder, #36 wildcards, #37 IP identifiers, #38 notBefore/notAfter. Each bad
//! identifier is sent alone (exact type and status) and all together (one subproblem each).

use serde_json::{Value, json};

use crate::catalog_common::{ACME_ERROR, assert_problem};
use crate::support::Env;
use crate::support::client::Acme;

/// newOrder with raw identifier objects.
fn new_order_raw(acme: &mut Acme, identifiers: Value) -> crate::support::https::Response {
    let url = acme.url("newOrder");
    acme.post(&url, Some(&json!({ "identifiers": identifiers })))
}

/// Sends each `(type, value)` alone — expecting 400 + `kind` with exactly one subproblem naming
/// it (RFC 8555 §6.7.1) — then all together, expecting one subproblem per identifier, in order.
fn refuse_each_and_all(acme: &mut Acme, cases: &[(&str, String, &str)]) {
    for (kind_of_id, value, kind) in cases {
        let id = json!({"type": kind_of_id, "value": value});
        let r = new_order_raw(acme, json!([id]));
        assert_problem(&r, 400, kind, &format!("{kind_of_id} {value:?}"));
        let doc = r.json();
        assert_eq!(
            doc["subproblems"],
            json!([{"type": format!("{ACME_ERROR}{kind}"), "detail": doc["subproblems"][0]["detail"], "identifier": id}]),
            "{value:?}: {doc}"
        );
    }
    let all: Vec<Value> = cases
        .iter()
        .map(|(t, v, _)| json!({"type": t, "value": v}))
        .collect();
    let r = new_order_raw(acme, json!(all));
    assert_eq!(r.status, 400, "{r}");
    let doc = r.json();
    let subs = doc["subproblems"].as_array().unwrap();
    assert_eq!(
        subs.len(),
        cases.len(),
        "one subproblem per identifier: {doc}"
    );
    for (sub, (t, v, kind)) in subs.iter().zip(cases) {
        assert_eq!(sub["identifier"], json!({"type": t, "value": v}), "{doc}");
        assert_eq!(sub["type"], format!("{ACME_ERROR}{kind}"), "{doc}");
    }
}

/// Catalog #35: empty `identifiers` → malformed; more than `max_identifiers` → malformed
/// (the configured limit); a duplicate (also as a case variant) → malformed; type `email` →
/// unsupportedIdentifier; every malformed DNS name → malformed: trailing dot, `..`, a label of
/// 64 bytes, a name of 254 bytes, invalid characters, bad `xn--` Punycode, an R-LDH `ab--`
/// label, an IP address as type `dns`, an all-digit last label; one subproblem per identifier.
/// (Names outside the configured namespace → rejectedIdentifier:
/// `challenges.rs::identifier_policy_rejects_with_subproblems`.)
#[test]
fn catalog_35_malformed_new_order() {
    let env = Env::with_config(Some("[acme]\nmax_identifiers = 20\n"));
    let mut acme = Acme::new(&env.server);
    acme.new_account();

    let r = new_order_raw(&mut acme, json!([]));
    assert_problem(&r, 400, "malformed", "empty identifiers");
    let url = acme.url("newOrder");
    let r = acme.post(&url, Some(&json!({})));
    assert_problem(&r, 400, "malformed", "no identifiers member");
    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"type": "dns", "value": format!("n{i}.example.test")}))
        .collect();
    let r = new_order_raw(&mut acme, json!(too_many));
    assert_problem(&r, 400, "malformed", "more than max_identifiers");
    let r = new_order_raw(
        &mut acme,
        json!([{"type": "dns", "value": "dup.example.test"}, {"type": "dns", "value": "DUP.example.test"}]),
    );
    assert_problem(&r, 400, "malformed", "duplicate (case variant)");
    assert_eq!(
        r.json()["subproblems"][0]["identifier"]["value"],
        "DUP.example.test",
        "{r}"
    );

    let long_label = format!("{}.example.test", "a".repeat(64));
    let long_name = format!("{}.test", vec!["a".repeat(62); 4].join("."));
    assert_eq!(long_name.len(), 256);
    let cases: Vec<(&str, String, &str)> = vec![
        ("email", "ops@example.test".into(), "unsupportedIdentifier"),
        ("dns", "trailing.example.test.".into(), "malformed"),
        ("dns", "double..example.test".into(), "malformed"),
        ("dns", long_label, "malformed"),
        ("dns", long_name, "malformed"),
        ("dns", "under_score.example.test".into(), "malformed"),
        ("dns", "sp ace.example.test".into(), "malformed"),
        ("dns", "-hyphen.example.test".into(), "malformed"),
        ("dns", "xn--.example.test".into(), "malformed"),
        ("dns", "xn--a.example.test".into(), "malformed"),
        ("dns", "xn--abc-.example.test".into(), "malformed"),
        ("dns", "xn--zzzzzzzzzzz.example.test".into(), "malformed"),
        ("dns", "ab--cd.example.test".into(), "malformed"),
        ("dns", "10.0.0.1".into(), "malformed"),
        ("dns", "host.123".into(), "malformed"),
        ("dns", "".into(), "malformed"),
    ];
    refuse_each_and_all(&mut acme, &cases);
    // A valid A-label is accepted (RFC 5891), echoed as sent.
    let r = new_order_raw(
        &mut acme,
        json!([{"type": "dns", "value": "xn--bcher-kva.example.test"}]),
    );
    assert_eq!(r.status, 201, "{r}");
}

/// Catalog #36 (RFC 8555 §7.1.3, §7.4.1): `*` not as the whole leftmost label, two `*`, a
/// wildcard directly under a top-level label → malformed, one subproblem each; wildcard
/// pre-authorization (newAuthz) → malformed. (A good wildcard gets an authorization for the base
/// name with `"wildcard": true` and only dns-01: `challenges.rs::s7_1_4_challenges_offered_per_identifier`.)
#[test]
fn catalog_36_malformed_wildcards() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let cases: Vec<(&str, String, &str)> = vec![
        ("dns", "a.*.example.test".into(), "malformed"),
        ("dns", "*a.example.test".into(), "malformed"),
        ("dns", "*.*.example.test".into(), "malformed"),
        ("dns", "*.test".into(), "malformed"),
        ("dns", "*".into(), "malformed"),
    ];
    refuse_each_and_all(&mut acme, &cases);
    let url = acme.url("newAuthz");
    let r = acme.post(
        &url,
        Some(&json!({"identifier": {"type": "dns", "value": "*.pre.example.test"}})),
    );
    assert_problem(&r, 400, "malformed", "wildcard pre-authorization");
}

/// Catalog #37 (RFC 8738 §3): IP identifiers only in RFC 1123 / RFC 5952 canonical text —
/// leading zeros, upper case, uncompressed IPv6, IPv4-mapped IPv6, a zone id, not an address →
/// malformed, one subproblem each. (dns-01 never offered for an IP:
/// `challenges.rs::s7_1_4_challenges_offered_per_identifier`.)
#[test]
fn catalog_37_non_canonical_ip_identifiers() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let cases: Vec<(&str, String, &str)> = vec![
        ("ip", "127.000.0.1".into(), "malformed"),
        ("ip", "0127.0.0.1".into(), "malformed"),
        ("ip", "FD00::1".into(), "malformed"),
        ("ip", "fd00:0:0:0:0:0:0:1".into(), "malformed"),
        ("ip", "::ffff:127.0.0.1".into(), "malformed"),
        ("ip", "fe80::1%eth0".into(), "malformed"),
        ("ip", "127.0.0.1/32".into(), "malformed"),
        ("ip", "localhost".into(), "malformed"),
    ];
    refuse_each_and_all(&mut acme, &cases);
    // The canonical form of the same address is accepted.
    let r = new_order_raw(&mut acme, json!([{"type": "ip", "value": "127.0.0.1"}]));
    assert_eq!(r.status, 201, "{r}");
}

/// Catalog #38 (RFC 8555 §7.4): the CA sets the validity from its profile, so a requested
/// `notBefore` or `notAfter` is refused (malformed) rather than silently ignored; nothing is
/// created.
#[test]
fn catalog_38_not_before_not_after_refused() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let id = json!([{"type": "dns", "value": "window.example.test"}]);
    for (what, extra) in [
        ("notBefore", json!({"notBefore": "2030-01-01T00:00:00Z"})),
        ("notAfter", json!({"notAfter": "2030-01-01T00:00:00Z"})),
        (
            "both",
            json!({"notBefore": "2030-01-01T00:00:00Z", "notAfter": "2030-02-01T00:00:00Z"}),
        ),
    ] {
        let mut payload = extra.clone();
        payload["identifiers"] = id.clone();
        let url = acme.url("newOrder");
        let r = acme.post(&url, Some(&payload));
        assert_problem(&r, 400, "malformed", what);
    }
    let account_url = acme.kid.clone().unwrap();
    let orders_url = acme.get_json(&account_url)["orders"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(acme.get_json(&orders_url)["orders"], json!([]));
}
