//! The account and certificate lifecycle against the real binary: key rollover (RFC 8555
//! §7.3.5), account deactivation (§7.3.6), the orders list (§7.1.2.1), authorization
//! deactivation (§7.5.2), pre-authorization (§7.4.1), revocation by authorizations (§7.6),
//! External Account Binding (§7.3.4) with the `upki-ra eab` command, terms of service (§7.3),
//! certificate download variants (§7.4.2) and ACME Renewal Information (RFC 9773).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::Env;
use crate::support::client::{AccountKey, Acme};
use crate::support::https::Response;
use crate::support::pki::{Identifier, pem_to_ders};

const ACME_ERROR: &str = "urn:ietf:params:acme:error:";

#[track_caller]
fn assert_problem(r: &Response, status: u16, kind: &str) {
    assert_eq!(r.status, status, "expected {status} {kind}, got: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "expected problem type {kind}: {r}"
    );
}

fn link_targets(r: &Response, rel: &str) -> Vec<String> {
    r.headers_named("link")
        .iter()
        .flat_map(|l| l.split(','))
        .filter(|one| one.replace(' ', "").contains(&format!("rel=\"{rel}\"")))
        .filter_map(|one| {
            let one = one.trim();
            one.strip_prefix('<')
                .and_then(|rest| rest.split_once('>'))
                .map(|(url, _)| url.to_owned())
        })
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unix_of(rfc3339: &Value) -> i64 {
    let text = rfc3339
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {rfc3339}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .unix_timestamp()
}

fn dns(name: &str) -> Vec<Identifier> {
    vec![Identifier::dns(name)]
}

/// RFC 8555 §7.3.5: after a rollover the account answers to the new key only, and an order
/// created before it is completed (challenge, finalize) with the new key.
#[test]
fn s7_3_5_key_rollover_keeps_orders() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account_url = acme.kid.clone().unwrap();
    let old_jwk = acme.key.jwk();
    let (order_url, order) = acme.new_order(&dns("roll.example.test"));

    let r = acme.key_change(AccountKey::generate());
    assert_eq!(r.status, 200, "keyChange: {r}");
    assert_eq!(r.header("location"), Some(account_url.as_str()), "{r}");

    // The pending order survived; the challenge's key authorization uses the new key.
    acme.solve_http01(&order, &env.http01);
    acme.poll(&order_url, &["ready"]);
    let cert_key = crate::support::pki::CertKey::generate();
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(&finalize, &cert_key.csr(None, &dns("roll.example.test")));
    assert_eq!(r.status, 200, "finalize after rollover: {r}");
    acme.poll(&order_url, &["valid"]);

    // The new key finds the account; the old one no longer does.
    let mut again = Acme::with_key(
        &env.server,
        std::mem::replace(&mut acme.key, AccountKey::generate()),
    );
    let r = again.new_account_with(&json!({"onlyReturnExisting": true}));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("location"), Some(account_url.as_str()));
    let mut old = Acme::new(&env.server);
    let r = old.new_account_with(&json!({"onlyReturnExisting": true}));
    assert_problem(&r, 400, "accountDoesNotExist");
    assert_ne!(again.key.jwk(), old_jwk);
}

/// RFC 8555 §7.3.5 / interop.md: a new key that already has an account → 409 + Location of it.
#[test]
fn s7_3_5_key_change_conflict_409() {
    let env = Env::start();
    let mut a = Acme::new(&env.server);
    a.new_account();
    let mut b = Acme::new(&env.server);
    b.new_account();
    let b_url = b.kid.clone().unwrap();
    let inner = a.key_change_body(&b.key, |_, _| {});
    let r = a.post_key_change(&inner);
    assert_eq!(r.status, 409, "{r}");
    assert_eq!(r.header("location"), Some(b_url.as_str()), "{r}");
}

/// Security catalog #34: every broken rule of the inner JWS or keyChange object is refused and
/// the account keeps its key.
#[test]
fn s7_3_5_key_change_refusals() {
    let env = Env::start();
    let mut a = Acme::new(&env.server);
    a.new_account();
    let other = Acme::new(&env.server);
    let new_key = AccountKey::generate();
    let nonce = a.fresh_nonce();
    let cases: Vec<(&str, Value)> = vec![
        (
            "inner nonce",
            a.key_change_body(&new_key, |h, _| h["nonce"] = json!(nonce)),
        ),
        (
            "inner url",
            a.key_change_body(&new_key, |h, _| h["url"] = json!(a.url("newOrder"))),
        ),
        (
            "account",
            a.key_change_body(&new_key, |_, p| {
                p["account"] = json!("https://x/acme/account/y")
            }),
        ),
        (
            "oldKey",
            a.key_change_body(&new_key, |_, p| p["oldKey"] = other.key.jwk()),
        ),
        (
            "inner kid",
            a.key_change_body(&new_key, |h, _| {
                h.as_object_mut().unwrap().remove("jwk");
                h["kid"] = json!(a.kid.clone().unwrap());
            }),
        ),
    ];
    for (what, inner) in cases {
        let r = a.post_key_change(&inner);
        assert_eq!(r.status, 400, "{what}: {r}");
        assert_eq!(
            r.problem_type().as_deref(),
            Some("urn:ietf:params:acme:error:malformed"),
            "{what}: {r}"
        );
    }
    // The inner JWS signed by a key other than its jwk.
    let mut forged = a.key_change_body(&new_key, |_, _| {});
    let good = a.key_change_body(&AccountKey::generate(), |_, _| {});
    forged["signature"] = good["signature"].clone();
    let r = a.post_key_change(&forged);
    assert_eq!(r.status, 400, "forged inner signature: {r}");
    // Still the old key.
    let account = a.kid.clone().unwrap();
    assert_eq!(a.get_json(&account)["status"], "valid");
}

/// RFC 8555 §7.3.6 / catalog #29: a deactivated account gets 401 on every later request.
#[test]
fn s7_3_6_deactivated_account_gets_401() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account = acme.kid.clone().unwrap();
    let r = acme.post(&account, Some(&json!({"status": "deactivated"})));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["status"], "deactivated");
    let r = acme.post(&account, None);
    assert_problem(&r, 401, "unauthorized");
    let url = acme.url("newOrder");
    let r = acme.post(
        &url,
        Some(&json!({"identifiers": [{"type": "dns", "value": "a.test"}]})),
    );
    assert_problem(&r, 401, "unauthorized");
}

/// RFC 8555 §7.1.2.1: the account's `orders` URL lists its orders, 50 per page, with
/// `Link: rel="next"`; another account may not read it.
#[test]
fn s7_1_2_1_orders_list_paginated() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    let account = acme.new_account().json();
    let orders_url = account["orders"].as_str().unwrap().to_owned();
    let mut created = Vec::new();
    for i in 0..51 {
        created.push(acme.new_order(&dns(&format!("o{i}.example.test"))).0);
    }
    let r = acme.post(&orders_url, None);
    assert_eq!(r.status, 200, "{r}");
    let first: Vec<String> = serde_json::from_value(r.json()["orders"].clone()).unwrap();
    assert_eq!(first.len(), 50);
    let next = link_targets(&r, "next");
    assert_eq!(next.len(), 1, "{r}");
    let r = acme.post(&next[0], None);
    assert_eq!(r.status, 200, "{r}");
    let second: Vec<String> = serde_json::from_value(r.json()["orders"].clone()).unwrap();
    assert!(link_targets(&r, "next").is_empty(), "{r}");
    let mut all: Vec<String> = first.into_iter().chain(second).collect();
    all.sort();
    created.sort();
    assert_eq!(all, created);

    let mut other = Acme::new(&env.server);
    other.new_account();
    let r = other.post(&orders_url, None);
    assert_problem(&r, 403, "unauthorized");
}

/// RFC 8555 §7.5.2: a pending authorization is deactivated by its account, its order becomes
/// invalid, and it cannot be deactivated twice.
#[test]
fn s7_5_2_authorization_deactivation() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let (order_url, order) = acme.new_order(&dns("deact.example.test"));
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let r = acme.post(&authz_url, Some(&json!({"status": "valid"})));
    assert_problem(&r, 400, "malformed");
    let r = acme.post(&authz_url, Some(&json!({"status": "deactivated"})));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["status"], "deactivated");
    assert_eq!(acme.get_json(&order_url)["status"], "invalid");
    let r = acme.post(&authz_url, Some(&json!({"status": "deactivated"})));
    assert_problem(&r, 400, "malformed");
    let mut other = Acme::new(&env.server);
    other.new_account();
    let r = other.post(&authz_url, Some(&json!({"status": "deactivated"})));
    assert_problem(&r, 403, "unauthorized");
}

/// RFC 8555 §7.4.1: newAuthz is advertised, refuses wildcards, and a validated
/// pre-authorization is used by a later order, which is then ready at once.
#[test]
fn s7_4_1_pre_authorization() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let url = acme.url("newAuthz");
    let r = acme.post(
        &url,
        Some(&json!({"identifier": {"type": "dns", "value": "*.pre.example.test"}})),
    );
    assert_problem(&r, 400, "malformed");
    let r = acme.post(
        &url,
        Some(&json!({"identifier": {"type": "dns", "value": "pre.example.test"}})),
    );
    assert_eq!(r.status, 201, "{r}");
    let authz_url = r.header("location").unwrap().to_owned();
    let authz = r.json();
    assert_eq!(authz["status"], "pending");
    let (chall_url, token, key_auth) = acme.http01_of(&authz);
    env.http01.add(&token, &key_auth);
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "{r}");
    acme.poll(&authz_url, &["valid"]);
    let (order_url, order) = acme.new_order(&dns("pre.example.test"));
    assert_eq!(order["authorizations"], json!([authz_url]), "{order}");
    assert_eq!(acme.get_json(&order_url)["status"], "ready");
}

/// RFC 8555 §7.6: an account holding valid authorizations for every identifier of a
/// certificate may revoke it, even if another account ordered it; one missing identifier is
/// enough to refuse (catalog #46); reason codes outside the allowed set are refused.
#[test]
fn s7_6_revoke_by_authorizations() {
    let env = Env::start();
    let mut owner = Acme::new(&env.server);
    owner.new_account();
    let names = ["r1.example.test", "r2.example.test"];
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::dns(n)).collect();
    let issued = owner.issue(&ids, None, &env.http01);

    let mut holder = Acme::new(&env.server);
    holder.new_account();
    // Authorized for one of the two names only: refused.
    let one = holder.issue(&dns(names[0]), None, &env.http01);
    let r = holder.revoke(&issued.chain_der[0], None);
    assert_problem(&r, 403, "unauthorized");
    // Now for both (a second order validates the other name).
    holder.issue(&dns(names[1]), None, &env.http01);
    let r = holder.revoke(&issued.chain_der[0], Some(2));
    assert_problem(&r, 400, "badRevocationReason");
    let r = holder.revoke(&issued.chain_der[0], Some(1));
    assert_eq!(r.status, 200, "revocation by authorizations: {r}");
    let r = owner.revoke(&issued.chain_der[0], None);
    assert_problem(&r, 400, "alreadyRevoked");
    assert_eq!(one.chain_der.len(), issued.chain_der.len());
}

/// RFC 8555 §7.3.4 / catalog #33, with keys made by `upki-ra eab add` while the server runs:
/// required when configured, wrong MAC or foreign payload refused, single use, revocable.
#[test]
fn s7_3_4_external_account_binding() {
    let env = Env::with_config(Some("[acme]\nrequire_eab = true\n"));
    let mut acme = Acme::new(&env.server);
    assert_eq!(acme.directory["meta"]["externalAccountRequired"], true);
    let r = acme.new_account_with(&json!({"termsOfServiceAgreed": true}));
    assert_problem(&r, 400, "externalAccountRequired");

    let (kid, hmac) = env.server.eab_add("printer");
    // Wrong MAC key.
    let wrong = acme.eab_jws(&kid, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "HS256");
    let r = acme.new_account_with(&json!({"externalAccountBinding": wrong}));
    assert_problem(&r, 403, "unauthorized");
    // A binding made for another key.
    let other = Acme::new(&env.server);
    let foreign = other.eab_jws(&kid, &hmac, "HS256");
    let r = acme.new_account_with(&json!({"externalAccountBinding": foreign}));
    assert_problem(&r, 403, "unauthorized");
    // A signature algorithm instead of a MAC.
    let mut not_mac = acme.eab_jws(&kid, &hmac, "HS256");
    not_mac["protected"] = json!(crate::support::client::b64(
        json!({"alg": "ES256", "kid": kid, "url": acme.url("newAccount")})
            .to_string()
            .as_bytes()
    ));
    let r = acme.new_account_with(&json!({"externalAccountBinding": not_mac}));
    assert_problem(&r, 400, "malformed");
    // The right one (HS512): 201.
    let good = acme.eab_jws(&kid, &hmac, "HS512");
    let r = acme.new_account_with(&json!({"externalAccountBinding": good}));
    assert_eq!(r.status, 201, "{r}");
    let account = r.header("location").unwrap().to_owned();
    // Single use: another key cannot reuse it.
    let mut second = Acme::new(&env.server);
    let reuse = second.eab_jws(&kid, &hmac, "HS256");
    let r = second.new_account_with(&json!({"externalAccountBinding": reuse}));
    assert_problem(&r, 403, "unauthorized");
    let listing = env.server.eab(&["list"]);
    let id = account.rsplit('/').next().unwrap();
    assert!(listing.contains(&format!("used by {id}")), "{listing}");
    assert!(
        !listing.contains(&hmac),
        "list must not show HMAC keys: {listing}"
    );
    // A revoked key binds nothing.
    let (kid2, hmac2) = env.server.eab_add("revoked");
    env.server.eab(&["revoke", &kid2]);
    let revoked = second.eab_jws(&kid2, &hmac2, "HS256");
    let r = second.new_account_with(&json!({"externalAccountBinding": revoked}));
    assert_problem(&r, 403, "unauthorized");
}

/// RFC 8555 §7.3 / catalog #32: configured terms are advertised and must be agreed to.
#[test]
fn s7_3_terms_of_service() {
    let tos = "https://ra.example.test/terms";
    let env = Env::with_config(Some(&format!(
        "[acme]\nterms_of_service = \"{tos}\"\nwebsite = \"https://ra.example.test\"\n"
    )));
    let mut acme = Acme::new(&env.server);
    assert_eq!(acme.directory["meta"]["termsOfService"], tos);
    assert_eq!(acme.directory["meta"]["website"], "https://ra.example.test");
    let r = acme.new_account_with(&json!({}));
    assert_problem(&r, 403, "userActionRequired");
    assert_eq!(link_targets(&r, "terms-of-service"), vec![tos.to_owned()]);
    let r = acme.new_account_with(&json!({"termsOfServiceAgreed": true}));
    assert_eq!(r.status, 201, "{r}");

    // Without configured terms, nothing is advertised.
    let plain = Env::start();
    let acme = Acme::new(&plain.server);
    assert!(acme.directory["meta"].get("termsOfService").is_none());
    assert!(
        acme.directory["meta"]
            .get("externalAccountRequired")
            .is_none()
    );
}

/// RFC 8555 §7.4.2: `Link: rel="up"` leads to the issuer (the certificate's signer), one chain
/// only (no `rel="alternate"`), and `Accept: application/pkix-cert` gives the DER leaf.
#[test]
fn s7_4_2_certificate_links_and_der() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let issued = acme.issue(&dns("der.example.test"), None, &env.http01);
    let r = acme.post(&issued.cert_url, None);
    assert_eq!(r.status, 200, "{r}");
    let up = link_targets(&r, "up");
    assert_eq!(up.len(), 1, "{r}");
    assert!(link_targets(&r, "alternate").is_empty(), "{r}");
    let issuer = acme.http.get(&up[0]);
    assert_eq!(issuer.status, 200, "{issuer}");
    assert_eq!(issuer.header("content-type"), Some("application/pkix-cert"));
    assert_eq!(
        Some(&issuer.body),
        issued.chain_der.get(1),
        "rel=up is the chain's issuer"
    );

    let nonce = acme.take_nonce();
    let body = acme
        .key
        .sign_jws(&acme.protected(&issued.cert_url, &nonce), None);
    let r = acme.http.request(
        "POST",
        &issued.cert_url,
        &[
            ("Content-Type", "application/jose+json"),
            ("Accept", "application/pkix-cert"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("content-type"), Some("application/pkix-cert"));
    assert_eq!(r.body, issued.chain_der[0]);
    assert_eq!(pem_to_ders(&issued.chain_pem)[0], r.body);
}

/// RFC 9773 §4.2, §5: the renewal window lies in the last third of the validity; `replaces`
/// needs the same account and a shared identifier, and is refused with `alreadyReplaced` once a
/// replacement order was finalized; after revocation the window moves to the past ("renew now").
#[test]
fn rfc9773_renewal_information() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let issued = acme.issue(&dns("ari.example.test"), None, &env.http01);
    let leaf = crate::support::pki::summarize(&issued.chain_der[0]);
    let r = acme.renewal_info(&issued.chain_der[0]);
    assert_eq!(r.status, 200, "{r}");
    assert!(
        r.header("retry-after")
            .is_some_and(|v| v.parse::<u32>().is_ok()),
        "{r}"
    );
    let w = &r.json()["suggestedWindow"];
    let (start, end) = (unix_of(&w["start"]), unix_of(&w["end"]));
    let not_after = leaf.not_after_unix as i64;
    assert!(
        start < end && end < not_after,
        "window {w} vs notAfter {not_after}"
    );
    assert!(
        start > unix_now(),
        "a fresh certificate is not due yet: {w}"
    );

    let cert_id = crate::support::client::ari_cert_id(&issued.chain_der[0]);
    let url = acme.url("newOrder");
    let order =
        json!({"identifiers": [{"type": "dns", "value": "ari.example.test"}], "replaces": cert_id});
    let mut stranger = Acme::new(&env.server);
    stranger.new_account();
    let r = stranger.post(&url, Some(&order));
    assert_problem(&r, 403, "unauthorized");
    let unrelated = json!({"identifiers": [{"type": "dns", "value": "other.example.test"}], "replaces": cert_id});
    let r = acme.post(&url, Some(&unrelated));
    assert_problem(&r, 400, "malformed");
    // An abandoned (pending) replacement order does not block a retry…
    let r = acme.post(&url, Some(&order));
    assert_eq!(r.status, 201, "{r}");
    let r = acme.post(&url, Some(&order));
    assert_eq!(r.status, 201, "{r}");
    // …but once a replacement is finalized, the certificate is replaced.
    let order_url = r.header("location").unwrap().to_owned();
    let body = r.json();
    acme.solve_http01(&body, &env.http01);
    acme.poll(&order_url, &["ready"]);
    let key = crate::support::pki::CertKey::generate();
    let finalize = body["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(&finalize, &key.csr(None, &dns("ari.example.test")));
    assert_eq!(r.status, 200, "{r}");
    acme.poll(&order_url, &["valid"]);
    let r = acme.post(&url, Some(&order));
    assert_problem(&r, 409, "alreadyReplaced");

    let r = acme.revoke(&issued.chain_der[0], Some(4));
    assert_eq!(r.status, 200, "{r}");
    let w = acme.renewal_info(&issued.chain_der[0]).json()["suggestedWindow"].clone();
    assert!(unix_of(&w["end"]) <= unix_now(), "revoked: renew now: {w}");

    let bad = acme
        .http
        .get(&format!("{}/AAAA.AQ", acme.url("renewalInfo")));
    assert_eq!(bad.status, 404, "{bad}");
}
