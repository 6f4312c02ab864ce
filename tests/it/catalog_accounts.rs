//! Security catalog, section C (accounts, RFC 8555 §7.3): #32 newAccount edge cases, #33
//! External Account Binding, #34 key rollover abuse — each refusal checked for its exact status
//! and problem type against the real server, and for having changed nothing.

use serde_json::{Value, json};

use crate::catalog_common::{assert_problem, ready_order};
use crate::support::Env;
use crate::support::client::{AccountKey, Acme, b64};
use crate::support::pki::Identifier;

/// Catalog #32: a known key → 200 + the same Location, no duplicate; `onlyReturnExisting` with
/// an unknown key → 400 accountDoesNotExist; unknown fields ignored and not reflected; contact
/// URLs: unsupported scheme → unsupportedContact, hfields / several addresses / no address / too
/// many → invalidContact, not a string → malformed; a refused request creates nothing. (Terms of
/// service: `lifecycle.rs::s7_3_terms_of_service`.)
#[test]
fn catalog_32_new_account_edge_cases() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    let r = acme.new_account_with(&json!({"onlyReturnExisting": true}));
    assert_problem(
        &r,
        400,
        "accountDoesNotExist",
        "onlyReturnExisting, unknown key",
    );

    let r = acme.new_account_with(
        &json!({"termsOfServiceAgreed": true, "x-reflected": "reflect-me", "orders": "x"}),
    );
    assert_eq!(r.status, 201, "unknown fields are ignored: {r}");
    assert!(
        !r.text().contains("reflect-me") && !r.text().contains("x-reflected"),
        "unknown fields must not be reflected: {r}"
    );
    let location = r.header("location").unwrap().to_owned();
    assert_ne!(r.json()["orders"], "x", "{r}");

    // The same key again, with or without onlyReturnExisting: 200 and the same account.
    for payload in [
        json!({"termsOfServiceAgreed": true}),
        json!({"onlyReturnExisting": true}),
    ] {
        let r = acme.new_account_with(&payload);
        assert_eq!(r.status, 200, "{payload}: {r}");
        assert_eq!(r.header("location"), Some(location.as_str()), "{r}");
    }

    let many: Vec<String> = (0..11)
        .map(|i| format!("mailto:ops{i}@example.test"))
        .collect();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "tel: scheme",
            json!(["tel:+3312345678"]),
            400,
            "unsupportedContact",
        ),
        (
            "https: scheme",
            json!(["https://example.test/me"]),
            400,
            "unsupportedContact",
        ),
        (
            "mailto hfields",
            json!(["mailto:ops@example.test?subject=x"]),
            400,
            "invalidContact",
        ),
        (
            "two addresses",
            json!(["mailto:a@example.test,b@example.test"]),
            400,
            "invalidContact",
        ),
        ("no domain", json!(["mailto:nobody"]), 400, "invalidContact"),
        ("too many contacts", json!(many), 400, "invalidContact"),
        ("not a string", json!([42]), 400, "malformed"),
        (
            "not a list",
            json!("mailto:ops@example.test"),
            400,
            "malformed",
        ),
    ];
    for (what, contact, status, kind) in &cases {
        let mut fresh = Acme::new(&env.server);
        let r = fresh.new_account_with(&json!({"termsOfServiceAgreed": true, "contact": contact}));
        assert_problem(&r, *status, kind, what);
        // Nothing was created for the refused key.
        let r = fresh.new_account_with(&json!({"onlyReturnExisting": true}));
        assert_problem(&r, 400, "accountDoesNotExist", what);
        // The same rules on an update of an existing account (§7.3.2).
        let r = acme.post(&location, Some(&json!({"contact": contact})));
        assert_problem(&r, *status, kind, &format!("update: {what}"));
    }
    let account = acme.get_json(&location);
    assert_eq!(account["contact"], json!([]), "{account}");
}

/// An `externalAccountBinding` JWS over `payload` with a free-form protected header, MACed
/// HS256 under `hmac_b64`.
fn eab(protected: &Value, payload: &Value, hmac_b64: &str) -> Value {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(hmac_b64)
        .unwrap();
    let protected = b64(protected.to_string().as_bytes());
    let payload = b64(payload.to_string().as_bytes());
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
}

/// Catalog #33 (RFC 8555 §7.3.4): every broken binding is refused with its own type —
/// missing → externalAccountRequired; `alg` not a MAC, inner `nonce`, inner `url` ≠ outer,
/// `jwk` instead of `kid` → malformed; unknown `kid`, wrong MAC, payload ≠ outer key →
/// unauthorized — and none of them consumes the key, which then binds exactly one account.
/// (The `eab` CLI, revoked keys and HS512: `lifecycle.rs::s7_3_4_external_account_binding`.)
#[test]
fn catalog_33_eab_refusals() {
    let env = Env::with_config(Some("[acme]\nrequire_eab = true\n"));
    let (kid, hmac) = env.server.eab_add("catalog-33");
    let mut acme = Acme::new(&env.server);
    let url = acme.url("newAccount");
    let jwk = acme.key.jwk();
    let header = |extra: Value| {
        let mut h = json!({"alg": "HS256", "kid": kid, "url": url});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        h
    };
    let other_key = AccountKey::generate().jwk();
    let nonce = acme.fresh_nonce();
    let cases: Vec<(&str, Option<Value>, u16, &str)> = vec![
        ("missing", None, 400, "externalAccountRequired"),
        (
            "alg none",
            Some(eab(&header(json!({"alg": "none"})), &jwk, &hmac)),
            400,
            "malformed",
        ),
        (
            "alg ES256",
            Some(eab(&header(json!({"alg": "ES256"})), &jwk, &hmac)),
            400,
            "malformed",
        ),
        (
            "inner nonce",
            Some(eab(&header(json!({"nonce": nonce})), &jwk, &hmac)),
            400,
            "malformed",
        ),
        (
            "inner url ≠ outer url",
            Some(eab(
                &header(json!({"url": acme.url("newOrder")})),
                &jwk,
                &hmac,
            )),
            400,
            "malformed",
        ),
        (
            "jwk instead of kid",
            Some(eab(&header(json!({"kid": null, "jwk": jwk})), &jwk, &hmac)),
            400,
            "malformed",
        ),
        (
            "unknown kid",
            Some(eab(&header(json!({"kid": "no-such-kid"})), &jwk, &hmac)),
            403,
            "unauthorized",
        ),
        (
            "wrong MAC key",
            Some(eab(
                &header(json!({})),
                &jwk,
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )),
            403,
            "unauthorized",
        ),
        (
            "payload is another key",
            Some(eab(&header(json!({})), &other_key, &hmac)),
            403,
            "unauthorized",
        ),
    ];
    for (what, binding, status, kind) in cases {
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some(b) = binding {
            payload["externalAccountBinding"] = b;
        }
        let r = acme.new_account_with(&payload);
        assert_problem(&r, status, kind, what);
    }
    // None of the refusals consumed the key: the correct binding still works, once.
    let good = eab(&header(json!({})), &jwk, &hmac);
    let r = acme.new_account_with(&json!({"externalAccountBinding": good}));
    assert_eq!(r.status, 201, "{r}");
    let mut second = Acme::new(&env.server);
    let reuse = eab(
        &json!({"alg": "HS256", "kid": kid, "url": url}),
        &second.key.jwk(),
        &hmac,
    );
    let r = second.new_account_with(&json!({"externalAccountBinding": reuse}));
    assert_problem(&r, 403, "unauthorized", "second account with a used key");
}

/// Catalog #34 (RFC 8555 §7.3.5): every broken rule of a key rollover is malformed (inner
/// `nonce`, inner `url`, `kid` instead of `jwk`, `account` ≠ outer `kid`, `oldKey` ≠ the current
/// key, an inner signature by another key); the new key of another account → 409 + its
/// Location; after all of them the account still has its key and its pending order, and a
/// correct rollover then works and keeps that order.
#[test]
fn catalog_34_key_rollover_abuse() {
    let env = Env::start();
    let mut a = Acme::new(&env.server);
    a.new_account();
    let account_url = a.kid.clone().unwrap();
    let (order_url, _) = a.new_order(&[Identifier::dns("roll.example.test")]);
    let mut b = Acme::new(&env.server);
    b.new_account();
    let b_url = b.kid.clone().unwrap();
    let new_key = AccountKey::generate();
    let nonce = a.fresh_nonce();
    let mut forged = a.key_change_body(&new_key, |_, _| {});
    forged["signature"] =
        a.key_change_body(&AccountKey::generate(), |_, _| {})["signature"].clone();
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
            "inner kid",
            a.key_change_body(&new_key, |h, _| {
                h.as_object_mut().unwrap().remove("jwk");
                h["kid"] = json!(account_url);
            }),
        ),
        (
            "account ≠ kid",
            a.key_change_body(&new_key, |_, p| p["account"] = json!(b_url)),
        ),
        (
            "oldKey ≠ current",
            a.key_change_body(&new_key, |_, p| p["oldKey"] = b.key.jwk()),
        ),
        ("inner signature by another key", forged),
    ];
    for (what, inner) in cases {
        let r = a.post_key_change(&inner);
        assert_problem(&r, 400, "malformed", what);
    }
    let inner = a.key_change_body(&b.key, |_, _| {});
    let r = a.post_key_change(&inner);
    assert_eq!(r.status, 409, "new key of another account: {r}");
    assert_eq!(r.header("location"), Some(b_url.as_str()), "{r}");
    // Still the old key, still the pending order.
    assert_eq!(a.get_json(&account_url)["status"], "valid");
    assert_eq!(a.get_json(&order_url)["status"], "pending");
    let r = a.key_change(new_key);
    assert_eq!(r.status, 200, "correct rollover: {r}");
    assert_eq!(a.get_json(&order_url)["status"], "pending");
    // The order can be completed with the new key (key authorization of the current key).
    let (order_url2, _) = ready_order(&env, &mut a, &[Identifier::dns("roll2.example.test")]);
    assert_eq!(a.get_json(&order_url2)["status"], "ready");
}
