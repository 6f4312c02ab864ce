//! RFC 8555 §6–§7 end to end against the real binary: issuance for DNS and IP (RFC 8738)
//! identifiers, chain validation with webpki, revocation, account lookup, nonces, and the
//! request-authentication and authorization refusals of §6.2, §6.3, §6.5, §7.4.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::support::Env;
use crate::support::client::{AccountKey, Acme};
use crate::support::https::Response;
use crate::support::pki::{CertKey, Identifier, summarize, verify_chain};

const ACME_ERROR: &str = "urn:ietf:params:acme:error:";

/// An ACME error: status, `application/problem+json`, the given type, and (§6.5, "every
/// response to a POST") a fresh `Replay-Nonce`.
#[track_caller]
fn assert_problem(r: &Response, status: u16, kind: &str) {
    assert_eq!(r.status, status, "expected {status} {kind}, got: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "expected problem type {kind}: {r}"
    );
    assert!(
        r.header("replay-nonce").is_some_and(|n| !n.is_empty()),
        "error response without Replay-Nonce: {r}"
    );
}

/// The Host header the responder saw names the identifier (RFC 8555 §8.3), port optional.
fn host_is(host: &str, identifier: &str) -> bool {
    host == identifier
        || host
            .strip_prefix(identifier)
            .is_some_and(|rest| rest.starts_with(':'))
}

fn has_link(r: &Response, url: &str, rel: &str) -> bool {
    r.headers_named("link").iter().any(|l| {
        l.split(',').any(|one| {
            one.trim().starts_with(&format!("<{url}>"))
                && one.replace(' ', "").contains(&format!("rel=\"{rel}\""))
        })
    })
}

/// RFC 8555 §7.1: the whole flow for two DNS names (§7.3 account, §7.4 order, §7.5
/// authorizations, §8.3 http-01, §7.4 finalize, §7.4.2 download), checked by an independent
/// validator: the leaf names exactly the identifiers, carries the CSR key, and chains to ca.crt.
#[test]
fn s7_1_issuance_for_dns_identifiers() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    for resource in ["newNonce", "newAccount", "newOrder", "revokeCert"] {
        let url = acme.url(resource);
        assert!(
            url.starts_with(&format!("{}/acme/", env.server.base_url())),
            "directory {resource} = {url}"
        );
    }
    let r = acme.new_account();
    assert_eq!(r.status, 201, "new account: {r}");
    assert_eq!(r.json()["status"], "valid", "new account: {r}");
    assert!(
        has_link(&r, &env.server.directory_url(), "index"),
        "§7.1: Link rel=\"index\" missing: {r}"
    );

    let names = ["app.example.test", "api.example.test"];
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::dns(n)).collect();
    let issued = acme.issue(&ids, Some(names[0]), &env.http01);

    // Identifiers are echoed as sent (interop: lego compares them).
    assert_eq!(
        issued.order["identifiers"],
        json!([{"type": "dns", "value": names[0]}, {"type": "dns", "value": names[1]}]),
        "order: {}",
        issued.order
    );
    // §8.3: the server itself fetched each token, with the identifier as Host.
    let hits = env.http01.hits();
    for name in names {
        assert!(
            hits.iter()
                .any(|h| host_is(&h.host, name)
                    && h.path.starts_with("/.well-known/acme-challenge/")),
            "no http-01 request for {name}: {hits:?}"
        );
    }

    let leaf = summarize(&issued.chain_der[0]);
    let mut got = leaf.dns_names.clone();
    got.sort();
    assert_eq!(got, vec!["api.example.test", "app.example.test"]);
    assert!(leaf.ip_addrs.is_empty(), "{leaf:?}");
    assert_eq!(
        leaf.spki_der,
        issued.cert_key.spki_der(),
        "leaf key is not the CSR key"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        leaf.not_after_unix > now + 86_400,
        "leaf expires too soon: {leaf:?}"
    );
    for name in names {
        verify_chain(&env.server.ca_cert_path(), &issued.chain_der, name);
    }
    assert!(issued.chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
}

/// RFC 8738 §3/§7.1: an "ip" identifier, validated by http-01 on the address itself, gives a
/// certificate with an iPAddress SAN and no dNSName; the CSR has no subject at all.
#[test]
fn rfc8738_issuance_for_ip_identifier() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let issued = acme.issue(&[Identifier::Ip(ip)], None, &env.http01);
    assert_eq!(
        issued.order["identifiers"],
        json!([{"type": "ip", "value": "127.0.0.1"}]),
        "order: {}",
        issued.order
    );
    assert!(
        env.http01
            .hits()
            .iter()
            .any(|h| host_is(&h.host, "127.0.0.1")),
        "no http-01 request with Host 127.0.0.1: {:?}",
        env.http01.hits()
    );
    let leaf = summarize(&issued.chain_der[0]);
    assert_eq!(leaf.ip_addrs, vec![ip], "{leaf:?}");
    assert!(
        leaf.dns_names.is_empty(),
        "IP certificate with dNSName: {leaf:?}"
    );
    verify_chain(&env.server.ca_cert_path(), &issued.chain_der, "127.0.0.1");
}

/// RFC 8555 §7.6: the account that owns a certificate revokes it (200); a second revocation is
/// refused with `alreadyRevoked`.
#[test]
fn s7_6_revoke_certificate() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let issued = acme.issue(&[Identifier::dns("app.example.test")], None, &env.http01);
    let r = acme.revoke(&issued.chain_der[0], Some(4));
    assert_eq!(r.status, 200, "revoke: {r}");
    assert!(
        r.header("replay-nonce").is_some(),
        "revoke without Replay-Nonce: {r}"
    );
    let r = acme.revoke(&issued.chain_der[0], None);
    assert_problem(&r, 400, "alreadyRevoked");
}

/// RFC 8555 §7.6: a revocation may instead be signed by the certificate's own key (with `jwk`).
#[test]
fn s7_6_revoke_with_certificate_key() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let issued = acme.issue(&[Identifier::dns("app.example.test")], None, &env.http01);
    let mut holder = Acme::with_key(
        &env.server,
        AccountKey::from_pair(issued.cert_key.jws_key()),
    );
    let r = holder.revoke(&issued.chain_der[0], None);
    assert_eq!(r.status, 200, "revoke signed by the certificate key: {r}");
    let r = acme.revoke(&issued.chain_der[0], None);
    assert_problem(&r, 400, "alreadyRevoked");
}

/// RFC 8555 §7.6: a revocation request signed by an account that neither owns the certificate
/// nor holds authorizations for its names is refused with 403 `unauthorized`.
#[test]
fn s7_6_revoke_by_stranger_unauthorized() {
    let env = Env::start();
    let mut owner = Acme::new(&env.server);
    owner.new_account();
    let issued = owner.issue(&[Identifier::dns("app.example.test")], None, &env.http01);
    let mut stranger = Acme::new(&env.server);
    stranger.new_account();
    let r = stranger.revoke(&issued.chain_der[0], None);
    assert_problem(&r, 403, "unauthorized");
}

/// RFC 8555 §7.3.1: a newAccount with a known key returns 200 and the existing account's
/// Location; `onlyReturnExisting` finds it, and with an unknown key fails `accountDoesNotExist`.
#[test]
fn s7_3_1_find_account_by_key() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    let r = acme.new_account();
    assert_eq!(r.status, 201, "{r}");
    let account_url = acme.kid.clone().unwrap();

    let again = acme.new_account();
    assert_eq!(again.status, 200, "existing key must give 200: {again}");
    assert_eq!(again.header("location"), Some(account_url.as_str()));

    acme.kid = None;
    let url = acme.url("newAccount");
    let r = acme.post(&url, Some(&json!({"onlyReturnExisting": true})));
    assert_eq!(r.status, 200, "onlyReturnExisting, known key: {r}");
    assert_eq!(r.header("location"), Some(account_url.as_str()), "{r}");

    let mut stranger = Acme::new(&env.server);
    let r = stranger.post(&url, Some(&json!({"onlyReturnExisting": true})));
    assert_problem(&r, 400, "accountDoesNotExist");

    // §7.3.2: POST-as-GET on the account URL returns the account.
    acme.kid = Some(account_url.clone());
    assert_eq!(acme.get_json(&account_url)["status"], "valid");
}

/// RFC 8555 §7.2: HEAD newNonce → 200, GET newNonce → 204, each with a fresh base64url
/// `Replay-Nonce` (§6.5.1) and `Cache-Control: no-store`.
#[test]
fn s7_2_new_nonce() {
    let env = Env::start();
    let acme = Acme::new(&env.server);
    let url = acme.url("newNonce");
    let mut seen = Vec::new();
    for (method, status) in [("HEAD", 200), ("GET", 204), ("HEAD", 200)] {
        let r = acme.http.request(method, &url, &[], b"");
        assert_eq!(r.status, status, "{method} newNonce: {r}");
        let nonce = r
            .header("replay-nonce")
            .unwrap_or_else(|| panic!("{method} newNonce without Replay-Nonce: {r}"))
            .to_owned();
        assert!(
            !nonce.is_empty()
                && nonce
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "nonce is not unpadded base64url: {nonce:?}"
        );
        assert!(
            r.header("cache-control")
                .is_some_and(|c| c.contains("no-store")),
            "{method} newNonce without Cache-Control: no-store: {r}"
        );
        assert!(!seen.contains(&nonce), "nonce {nonce} repeated");
        seen.push(nonce);
    }
}

/// RFC 8555 §6.5: an unknown nonce is refused with `badNonce`, whose response carries a fresh
/// nonce that then works; the detail carries the phrase acme.sh looks for.
#[test]
fn s6_5_bad_nonce() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account_url = acme.kid.clone().unwrap();
    let bogus = "AAAAAAAAAAAAAAAAAAAAAA";
    let body = acme
        .key
        .sign_jws(&acme.protected(&account_url, bogus), None);
    let r = acme.send_jws(&account_url, &body);
    assert_problem(&r, 400, "badNonce");
    let detail = r.json()["detail"].as_str().unwrap_or("").to_owned();
    assert!(
        detail.contains("JWS has an invalid anti-replay nonce"),
        "badNonce detail: {detail:?}"
    );
    let fresh = r.header("replay-nonce").unwrap().to_owned();
    let body = acme
        .key
        .sign_jws(&acme.protected(&account_url, &fresh), None);
    let r = acme.send_jws(&account_url, &body);
    assert_eq!(
        r.status, 200,
        "nonce from the badNonce response refused: {r}"
    );
}

/// RFC 8555 §6.5: "the server MUST ... reject" a nonce it has already seen: the very same signed
/// request sent twice fails the second time with `badNonce`.
#[test]
fn s6_5_replayed_nonce_refused() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account_url = acme.kid.clone().unwrap();
    let nonce = acme.fresh_nonce();
    let body = acme
        .key
        .sign_jws(&acme.protected(&account_url, &nonce), None);
    let r = acme.send_jws(&account_url, &body);
    assert_eq!(r.status, 200, "first use: {r}");
    let r = acme.send_jws(&account_url, &body);
    assert_problem(&r, 400, "badNonce");
}

/// RFC 8555 §6.2: the JWS signature must verify with the key of the account named by `kid`;
/// a request signed by another key with the first account's `kid` is refused (400 malformed)
/// and has no effect.
#[test]
fn s6_2_forged_signature_refused() {
    let env = Env::start();
    let mut victim = Acme::new(&env.server);
    victim.new_account();
    let mut forger = Acme::new(&env.server);
    forger.kid = victim.kid.clone();
    let url = forger.url("newOrder");
    let nonce = forger.fresh_nonce();
    let payload = json!({"identifiers": [{"type": "dns", "value": "evil.example.test"}]});
    let body = forger
        .key
        .sign_jws(&forger.protected(&url, &nonce), Some(&payload));
    let r = forger.send_jws(&url, &body);
    assert_problem(&r, 400, "malformed");
    assert!(
        r.header("location").is_none(),
        "forged request created something: {r}"
    );

    // A JWS whose `url` differs from the request URL (§6.4) is refused as well.
    let account_url = victim.kid.clone().unwrap();
    let nonce = victim.fresh_nonce();
    let body = victim.key.sign_jws(&victim.protected(&url, &nonce), None);
    let r = victim.send_jws(&account_url, &body);
    assert!(
        r.status == 401 || r.status == 403,
        "url mismatch must be refused as unauthorized: {r}"
    );
    assert_eq!(
        r.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:unauthorized"),
        "{r}"
    );
}

/// RFC 8555 §7.4: finalize on an order that is not `ready` → 403 `orderNotReady`.
#[test]
fn s7_4_finalize_before_ready() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let ids = [Identifier::dns("app.example.test")];
    let (_, order) = acme.new_order(&ids);
    assert_eq!(order["status"], "pending", "{order}");
    let csr = CertKey::generate().csr(None, &ids);
    let r = acme.finalize(order["finalize"].as_str().unwrap(), &csr);
    assert_problem(&r, 403, "orderNotReady");
}

/// RFC 8555 §6.2: requests "MUST have the Content-Type header field set to
/// application/jose+json"; anything else → 415 (malformed problem).
#[test]
fn s6_2_wrong_content_type() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account_url = acme.kid.clone().unwrap();
    let nonce = acme.fresh_nonce();
    let body = acme
        .key
        .sign_jws(&acme.protected(&account_url, &nonce), None);
    let r = acme.http.request(
        "POST",
        &account_url,
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_problem(&r, 415, "malformed");
}

/// RFC 8555 §7.4 / §6.3: newOrder accepts only POST; GET → 405 with `Allow` (RFC 9110 §15.5.6).
#[test]
fn s6_3_get_on_new_order_405() {
    let env = Env::start();
    let acme = Acme::new(&env.server);
    let r = acme.http.get(&acme.url("newOrder"));
    assert_eq!(r.status, 405, "{r}");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("POST")),
        "405 without Allow: POST: {r}"
    );
}

/// RFC 8555 §7.4, §10.5: an account may read only its own orders and authorizations;
/// another account gets 403 `unauthorized` and cannot finalize.
#[test]
fn s7_4_other_accounts_order_unauthorized() {
    let env = Env::start();
    let mut owner = Acme::new(&env.server);
    owner.new_account();
    let ids = [Identifier::dns("app.example.test")];
    let (order_url, order) = owner.new_order(&ids);
    let mut other = Acme::new(&env.server);
    other.new_account();
    let r = other.post(&order_url, None);
    assert_problem(&r, 403, "unauthorized");
    let authz_url = order["authorizations"][0].as_str().unwrap();
    let r = other.post(authz_url, None);
    assert_problem(&r, 403, "unauthorized");
    let csr = CertKey::generate().csr(None, &ids);
    let r = other.finalize(order["finalize"].as_str().unwrap(), &csr);
    assert_problem(&r, 403, "unauthorized");
    // The owner still sees it.
    assert_eq!(owner.get_json(&order_url)["status"], "pending");
}

/// RFC 8555 §7.5.1: the challenge response is 200 with `Link: <authz>;rel="up"`; a wrong
/// key authorization makes the challenge, the authorization and the order invalid (§7.1.6).
#[test]
fn s7_5_1_failed_challenge_invalidates() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let (order_url, order) = acme.new_order(&[Identifier::dns("app.example.test")]);
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = acme.get_json(&authz_url);
    let (chall_url, token, _) = acme.http01_of(&authz);
    let wrong = format!("{token}.{}", AccountKey::generate().thumbprint());
    env.http01.add(&token, &wrong);
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "{r}");
    assert!(
        has_link(&r, &authz_url, "up"),
        "challenge without Link rel=up: {r}"
    );
    let authz = acme.poll(&authz_url, &["invalid"]);
    let chall = authz["challenges"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
        .unwrap_or_else(|| panic!("no http-01 challenge: {authz}"));
    assert_eq!(chall["status"], "invalid", "{authz}");
    // §7.1.5 / §8.3: the challenge says why the body was refused (Boulder and Pebble say
    // `unauthorized`; `incorrectResponse` fits too).
    let error_type = chall["error"]["type"].as_str().unwrap_or("");
    assert!(
        error_type == "urn:ietf:params:acme:error:incorrectResponse"
            || error_type == "urn:ietf:params:acme:error:unauthorized",
        "failed challenge without a fitting error: {authz}"
    );
    assert_eq!(acme.poll(&order_url, &["invalid"])["status"], "invalid");
}
