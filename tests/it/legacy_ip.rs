//! `identifiers.legacy_ip_identifiers` against the real binary, in both states, with the exact
//! request shapes of Debian 12's lego 4.9.1: the IP address sent as `{"type":"dns"}` in newOrder
//! (catalog #35) and a CSR whose CN and dNSName are the address (catalog #51, RFC 8738 §3).

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::https::Response;
use crate::support::pki::{CertKey, Identifier, pem_to_ders, summarize};

const ACME_ERROR: &str = "urn:ietf:params:acme:error:";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// newOrder with raw identifiers (the in-test client would send `ip` for an address).
fn new_order_raw(acme: &mut Acme, identifiers: Value) -> Response {
    let url = acme.url("newOrder");
    acme.post(&url, Some(&json!({ "identifiers": identifiers })))
}

#[track_caller]
fn assert_problem(r: &Response, status: u16, kind: &str) {
    assert_eq!(r.status, status, "expected {status} {kind}: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "{r}"
    );
}

/// The ready order of `ids` (http-01 solved): (order URL, order).
fn ready_order(acme: &mut Acme, env: &Env, ids: Value) -> (String, Value) {
    let r = new_order_raw(acme, ids);
    assert_eq!(r.status, 201, "newOrder: {r}");
    let url = r.header("location").unwrap().to_owned();
    acme.solve_http01(&r.json(), &env.http01);
    let order = acme.poll(&url, &["ready"]);
    (url, order)
}

/// Catalog #35, #51 and RFC 8738 §3 with the switch off (the default): the IP sent as `dns` is
/// refused; for a proper `ip` order, a CSR with the IP as a dNSName is badCSR and the order
/// stays ready; a CSR with the IP in the CN and as an iPAddress SAN (what current lego, and so
/// Traefik, sends: interop.md "lego puts the first name in the CN. Accept both") is issued.
#[test]
fn catalog35_51_legacy_ip_shapes_refused_by_default() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let r = new_order_raw(&mut acme, json!([{"type": "dns", "value": "127.0.0.1"}]));
    assert_problem(&r, 400, "malformed");
    assert!(r.text().contains("type \\\"ip\\\""), "{r}");

    let ip = [Identifier::Ip(LOCALHOST)];
    let (url, order) = ready_order(
        &mut acme,
        &env,
        json!([{"type": "ip", "value": "127.0.0.1"}]),
    );
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let key = CertKey::generate();
    let cn_ip = key.csr(Some("127.0.0.1"), &ip);
    let lego = key.csr(Some("127.0.0.1"), &[Identifier::dns("127.0.0.1")]);
    assert_problem(&acme.finalize(&finalize, &lego), 400, "badCSR");
    let dns_san = key.csr(None, &[Identifier::dns("127.0.0.1")]);
    assert_problem(&acme.finalize(&finalize, &dns_san), 400, "badCSR");
    assert_eq!(acme.get_json(&url)["status"], "ready");
    let r = acme.finalize(&finalize, &cn_ip);
    assert_eq!(r.status, 200, "{r}");
    assert!(!env.server.stderr().contains("legacy_ip_identifiers"));
}

/// With `legacy_ip_identifiers = true`, lego 4.9.1's requests give an RFC 8738 order: type `ip`
/// in the order and authorization, only http-01 and tls-alpn-01 offered, and a certificate with
/// an iPAddress SAN and no dNSName; a warning names the order. Non-canonical IP text stays
/// refused, and a CN that is not one of the order's IPs is still badCSR.
#[test]
fn legacy_ip_identifiers_switch_on_accepts_lego_491_shapes() {
    let env = Env::with_config(Some("[identifiers]\nlegacy_ip_identifiers = true\n"));
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let r = new_order_raw(
        &mut acme,
        json!([
            {"type": "dns", "value": "127.000.0.1"},
            {"type": "dns", "value": "FD00::1"}
        ]),
    );
    assert_problem(&r, 400, "malformed");
    assert_eq!(r.json()["subproblems"].as_array().unwrap().len(), 2, "{r}");

    let (url, order) = ready_order(
        &mut acme,
        &env,
        json!([{"type": "dns", "value": "127.0.0.1"}]),
    );
    assert_eq!(
        order["identifiers"],
        json!([{"type": "ip", "value": "127.0.0.1"}])
    );
    let authz = acme.get_json(order["authorizations"][0].as_str().unwrap());
    assert_eq!(
        authz["identifier"],
        json!({"type": "ip", "value": "127.0.0.1"})
    );
    let kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["http-01", "tls-alpn-01"], "{authz}");

    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let key = CertKey::generate();
    let other_cn = key.csr(Some("127.0.0.2"), &[Identifier::dns("127.0.0.1")]);
    assert_problem(&acme.finalize(&finalize, &other_cn), 400, "badCSR");
    // lego 4.9.1: CN = the address, and the address as a dNSName.
    let lego = key.csr(Some("127.0.0.1"), &[Identifier::dns("127.0.0.1")]);
    let r = acme.finalize(&finalize, &lego);
    assert_eq!(r.status, 200, "{r}");
    let order = acme.poll(&url, &["valid"]);
    let chain = acme.download(order["certificate"].as_str().unwrap());
    let leaf = summarize(&pem_to_ders(&chain)[0]);
    assert_eq!(leaf.ip_addrs, [LOCALHOST]);
    assert!(
        leaf.dns_names.is_empty(),
        "dNSName in an IP certificate: {leaf:?}"
    );

    let log = env.server.stderr();
    let order_id = url.rsplit('/').next().unwrap();
    assert!(
        log.lines().any(|l| l.contains("[WARN]")
            && l.contains(order_id)
            && l.contains("legacy_ip_identifiers")),
        "no warning for the order:\n{log}"
    );
}
