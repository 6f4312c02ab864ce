//! Security catalog, sections F (finalize and CSR, RFC 8555 §7.4, §11.1), G (revocation, §7.6)
//! and H (what is observable over the wire of #61 unknown requests): #48 finalize when not
//! ready and the concurrent double finalize, #49–#54 every bad CSR (each refusal leaves the
//! order `ready`), #55 revocation refusals, #61 deny by default.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
use x509_cert::request::CertReq;

use crate::catalog_common::{assert_problem, dns_name, ready_order};
use crate::support::Env;
use crate::support::client::{Acme, b64};
use crate::support::https::Response;
use crate::support::pki::CertKey;
use crate::support::pki::{Identifier, pem_to_ders};

fn ids(names: &[&str]) -> Vec<Identifier> {
    names.iter().map(|n| Identifier::dns(n)).collect()
}

fn finalize_raw(acme: &mut Acme, order: &Value, payload: &Value) -> Response {
    let url = order["finalize"].as_str().unwrap().to_owned();
    acme.post(&url, Some(payload))
}

/// The OIDs of a certificate's extensions, in order.
fn extension_oids(der: &[u8]) -> Vec<ObjectIdentifier> {
    let cert = Certificate::from_der(der).unwrap();
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .map(|e| e.extn_id)
        .collect()
}

/// Catalog #48 (RFC 8555 §7.4): finalize on a `pending` order, on a `valid` one and (twice at
/// the same time) on a `ready` one: exactly one finalize wins, every other gets 403
/// orderNotReady. (An `invalid` order: `catalog_validation.rs::catalog_46_one_bad_identifier_of_three`.)
#[test]
fn catalog_48_finalize_not_ready_and_concurrent() {
    let env = Env::start();
    let key = CertKey::generate();
    let mut acme = Acme::with_key(&env.server, key.account_key());
    acme.new_account();
    let cert_key = CertKey::generate();
    let (_, pending) = acme.new_order(&ids(&["c48p.example.test"]));
    let csr = cert_key.csr_for(&["c48p.example.test"]);
    let r = finalize_raw(&mut acme, &pending, &json!({"csr": b64(&csr)}));
    assert_problem(&r, 403, "orderNotReady", "pending order");

    let names = ["c48.example.test"];
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&names));
    let csr = b64(&cert_key.csr_for(&names));
    let finalize_url = order["finalize"].as_str().unwrap().to_owned();
    let kid = acme.kid.clone().unwrap();
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let mut client = Acme::with_key(&env.server, key.account_key());
            client.kid = Some(kid.clone());
            // Both requests carry a nonce taken before either is sent.
            let nonce = client.take_nonce();
            let body = client.key.sign_jws(
                &json!({"alg": "ES256", "nonce": nonce, "url": finalize_url, "kid": kid}),
                Some(&json!({ "csr": csr })),
            );
            (client, body)
        })
        .collect();
    let results: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = racers
            .into_iter()
            .map(|(mut client, body)| {
                let url = finalize_url.clone();
                s.spawn(move || client.send_jws(&url, &body))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wins = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(wins, 1, "exactly one finalize wins: {results:?}");
    for r in results.iter().filter(|r| r.status != 200) {
        assert_problem(r, 403, "orderNotReady", "the concurrent finalize");
    }
    let done = acme.poll(&order_url, &["valid"]);
    let r = finalize_raw(&mut acme, &done, &json!({ "csr": csr }));
    assert_problem(&r, 403, "orderNotReady", "valid order");
}

/// Sends every `(what, payload, status, type)` to the finalize URL of the ready order, then
/// checks the order is still `ready` (catalog #51: "the order stays ready so the client can
/// retry").
fn refuse_all(
    acme: &mut Acme,
    order_url: &str,
    order: &Value,
    cases: Vec<(String, Value, u16, &str)>,
) {
    for (what, payload, status, kind) in cases {
        let r = finalize_raw(acme, order, &payload);
        assert_problem(&r, status, kind, &what);
        assert_eq!(acme.get_json(order_url)["status"], "ready", "after {what}");
    }
}

/// Catalog #49, #50: the `csr` member must be base64url DER of a CSR whose self-signature
/// verifies. PEM text, `=` padding, `+`/`/`, white space, a number → 400 malformed (the
/// base64url layer); the base64url of PEM bytes, trailing bytes after the DER, a truncated
/// SEQUENCE, empty → 400 badCSR; a flipped signature bit, or a valid signature under another
/// key → 400 badCSR. The order stays ready and then issues with a good CSR.
#[test]
fn catalog_49_50_undecodable_and_unsigned_csrs() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let names = ["c49.example.test"];
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&names));
    let key = CertKey::generate();
    // A CSR whose base64url form has '-' or '_' (so the standard alphabet differs).
    let der = loop {
        let d = key.csr_for(&names);
        let e = b64(&d);
        if e.contains('-') || e.contains('_') {
            break d;
        }
    };
    let good = b64(&der);
    let pem = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        STANDARD.encode(&der)
    );
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&der);
    let padded = if padded.ends_with('=') {
        padded
    } else {
        format!("{padded}=")
    };
    let mut trailing = der.clone();
    trailing.extend_from_slice(&[0, 0]);
    let mut bad_sig = der.clone();
    let last = bad_sig.len() - 2;
    bad_sig[last] ^= 0x01;
    // The request info of this CSR with the signature of another key's CSR for the same names.
    let other = CertReq::from_der(&CertKey::generate().csr_for(&names)).unwrap();
    let mut spliced = CertReq::from_der(&der).unwrap();
    spliced.signature = other.signature;
    let foreign_sig = spliced.to_der().unwrap();
    let m = |s: &str| s.to_owned();
    let cases = vec![
        (m("PEM text"), json!({ "csr": pem }), 400, "malformed"),
        (m("= padding"), json!({ "csr": padded }), 400, "malformed"),
        (
            m("standard alphabet"),
            json!({ "csr": good.replace('-', "+").replace('_', "/") }),
            400,
            "malformed",
        ),
        (
            m("white space"),
            json!({ "csr": format!("{} {}", &good[..10], &good[10..]) }),
            400,
            "malformed",
        ),
        (m("a number"), json!({ "csr": 42 }), 400, "malformed"),
        (m("no csr member"), json!({}), 400, "malformed"),
        (
            m("base64url of PEM"),
            json!({ "csr": b64(pem.as_bytes()) }),
            400,
            "badCSR",
        ),
        (
            m("trailing bytes"),
            json!({ "csr": b64(&trailing) }),
            400,
            "badCSR",
        ),
        (
            m("truncated"),
            json!({ "csr": b64(&der[..der.len() - 10]) }),
            400,
            "badCSR",
        ),
        (m("empty"), json!({ "csr": "" }), 400, "badCSR"),
        (
            m("flipped signature bit"),
            json!({ "csr": b64(&bad_sig) }),
            400,
            "badCSR",
        ),
        (
            m("signature of another key"),
            json!({ "csr": b64(&foreign_sig) }),
            400,
            "badCSR",
        ),
    ];
    refuse_all(&mut acme, &order_url, &order, cases);
    let r = finalize_raw(&mut acme, &order, &json!({ "csr": good }));
    assert_eq!(r.status, 200, "{r}");
    acme.poll(&order_url, &["valid"]);
}

/// Catalog #51 (RFC 8555 §7.4 "the exact same set of requested identifiers"): for an order of
/// two names, a missing name, an extra name, a case variant, a CN not among the SANs, an IP as
/// CN, an email or URI SAN, no name at all → 400 badCSR, and the order stays ready; then the
/// exact names (with the first as CN) issue.
#[test]
fn catalog_51_csr_names_differ_from_order() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let names = ["c51-a.example.test", "c51-b.example.test"];
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&names));
    let key = CertKey::generate();
    let csr = |cn: Option<&str>, sans: Vec<GeneralName>| json!({ "csr": b64(&key.csr_with(cn, sans, vec![])) });
    let both = || vec![dns_name(names[0]), dns_name(names[1])];
    let with = |extra: GeneralName| {
        let mut v = both();
        v.push(extra);
        v
    };
    let m = |s: &str| s.to_owned();
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let cases = vec![
        (
            m("missing name"),
            csr(None, vec![dns_name(names[0])]),
            400,
            "badCSR",
        ),
        (
            m("extra name"),
            csr(None, with(dns_name("c51-c.example.test"))),
            400,
            "badCSR",
        ),
        (
            m("case variant"),
            csr(
                None,
                vec![dns_name("C51-A.example.test"), dns_name(names[1])],
            ),
            400,
            "badCSR",
        ),
        (
            m("CN not among the SANs"),
            csr(Some("c51-c.example.test"), both()),
            400,
            "badCSR",
        ),
        (m("IP as CN"), csr(Some("127.0.0.1"), both()), 400, "badCSR"),
        (
            m("iPAddress SAN"),
            csr(None, with(GeneralName::from(localhost))),
            400,
            "badCSR",
        ),
        (
            m("email SAN"),
            csr(
                None,
                with(GeneralName::Rfc822Name(
                    der::asn1::Ia5String::new("a@example.test").unwrap(),
                )),
            ),
            400,
            "badCSR",
        ),
        (
            m("URI SAN"),
            csr(
                None,
                with(GeneralName::UniformResourceIdentifier(
                    der::asn1::Ia5String::new("https://example.test/").unwrap(),
                )),
            ),
            400,
            "badCSR",
        ),
        (m("no name at all"), csr(None, vec![]), 400, "badCSR"),
        (
            m("CN only, one of two names"),
            csr(Some(names[0]), vec![]),
            400,
            "badCSR",
        ),
    ];
    refuse_all(&mut acme, &order_url, &order, cases);
    let r = finalize_raw(&mut acme, &order, &csr(Some(names[0]), both()));
    assert_eq!(r.status, 200, "{r}");
    acme.poll(&order_url, &["valid"]);
}

/// Catalog #52 (RFC 8555 §11.1): a CSR for the account's own key, or for the key of another
/// account of this server → 400 badCSR; the order stays ready.
#[test]
fn catalog_52_csr_key_is_an_account_key() {
    let env = Env::start();
    let own = CertKey::generate();
    let mut acme = Acme::with_key(&env.server, own.account_key());
    acme.new_account();
    let theirs = CertKey::generate();
    let mut other = Acme::with_key(&env.server, theirs.account_key());
    other.new_account();
    let names = ["c52.example.test"];
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&names));
    let cases = vec![
        (
            "own account key".to_owned(),
            json!({ "csr": b64(&own.csr_for(&names)) }),
            400,
            "badCSR",
        ),
        (
            "another account's key".to_owned(),
            json!({ "csr": b64(&theirs.csr_for(&names)) }),
            400,
            "badCSR",
        ),
    ];
    refuse_all(&mut acme, &order_url, &order, cases);
}

/// Catalog #53 / decision 7: CSRs refused for their key or signature algorithm alone (each
/// correctly self-signed, from `src/pki/testdata/`): SHA-1, RSA-PSS, RSA-1024, e = 3, P-521,
/// secp256k1, and an RSA-2048 key with Fermat-close primes (`fermat.py`) for the very name
/// ordered → 400 badCSR naming the key or algorithm. An RSA account key with Fermat-close
/// primes → 400 badPublicKey on newAccount, while an honest RSA-2048 key registers.
#[test]
fn catalog_53_weak_csr_and_account_keys() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&["fermat.example.test"]));
    let fixtures: [(&str, &[u8]); 7] = [
        ("SHA-1", include_bytes!("../../src/pki/testdata/sha1.der")),
        (
            "RSA-PSS",
            include_bytes!("../../src/pki/testdata/rsa_pss.der"),
        ),
        (
            "RSA-1024",
            include_bytes!("../../src/pki/testdata/rsa1024.der"),
        ),
        (
            "RSA e=3",
            include_bytes!("../../src/pki/testdata/rsa_e3.der"),
        ),
        ("P-521", include_bytes!("../../src/pki/testdata/p521.der")),
        (
            "secp256k1",
            include_bytes!("../../src/pki/testdata/secp256k1.der"),
        ),
        (
            "Fermat-close RSA-2048",
            include_bytes!("../../src/pki/testdata/fermat.der"),
        ),
    ];
    for (what, der) in fixtures {
        let r = finalize_raw(&mut acme, &order, &json!({ "csr": b64(der) }));
        assert_problem(&r, 400, "badCSR", what);
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("public key") || detail.contains("signature algorithm"),
            "{what}: refused for another reason: {detail}"
        );
        assert_eq!(acme.get_json(&order_url)["status"], "ready", "after {what}");
    }

    let weak =
        RsaKeyPair::from_pkcs8(include_bytes!("../../src/pki/testdata/fermat.pk8.der")).unwrap();
    let r = rsa_new_account(&env, &weak);
    assert_problem(&r, 400, "badPublicKey", "Fermat-close RSA account key");
    assert!(r.text().contains("Fermat"), "{r}");
    let honest =
        RsaKeyPair::from_pkcs8(include_bytes!("../../src/jose/testdata/rsa2048.pk8.der")).unwrap();
    let r = rsa_new_account(&env, &honest);
    assert_eq!(r.status, 201, "honest RSA-2048 account key: {r}");
}

/// newAccount signed RS256 (RFC 7518 §3.3) with an RSA key pair, its public JWK embedded.
fn rsa_new_account(env: &Env, pair: &RsaKeyPair) -> Response {
    let mut acme = Acme::new(&env.server);
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
    let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
    let url = acme.url("newAccount");
    let nonce = acme.fresh_nonce();
    let protected = json!({"alg": "RS256", "nonce": nonce, "url": url, "jwk": jwk});
    let protected = b64(protected.to_string().as_bytes());
    let payload = b64(json!({"termsOfServiceAgreed": true}).to_string().as_bytes());
    let mut sig = vec![0u8; pair.public().modulus_len()];
    let signing_input = format!("{protected}.{payload}");
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let body = json!({"protected": protected, "payload": payload, "signature": b64(&sig)});
    acme.send_jws(&url, body.to_string().as_bytes())
}

/// Catalog #54 (RFC 8555 §7.4): extensions a CSR asks for are never copied: a CSR requesting
/// basicConstraints cA=FALSE, an extra EKU (codeSigning), nameConstraints and a private OID gets
/// a certificate with exactly the extensions of a plain CSR's certificate (the profile's);
/// basicConstraints cA=TRUE → 400 badCSR.
#[test]
fn catalog_54_csr_extensions_not_copied() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let key = CertKey::generate();
    let ext = |oid: &str, critical: bool, value: Vec<u8>| Extension {
        extn_id: ObjectIdentifier::new(oid).unwrap(),
        critical,
        extn_value: OctetString::new(value).unwrap(),
    };
    let bc = |ca: bool| {
        BasicConstraints {
            ca,
            path_len_constraint: None,
        }
        .to_der()
        .unwrap()
    };
    let code_signing = ExtendedKeyUsage(vec![ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3")])
        .to_der()
        .unwrap();
    let names = ["c54.example.test"];
    let (order_url, order) = ready_order(&env, &mut acme, &ids(&names));
    let ca_true = key.csr_with(
        None,
        vec![dns_name(names[0])],
        vec![ext("2.5.29.19", true, bc(true))],
    );
    let r = finalize_raw(&mut acme, &order, &json!({ "csr": b64(&ca_true) }));
    assert_problem(&r, 400, "badCSR", "basicConstraints cA=TRUE");
    assert_eq!(acme.get_json(&order_url)["status"], "ready");

    let asking = key.csr_with(
        None,
        vec![dns_name(names[0])],
        vec![
            ext("2.5.29.19", true, bc(false)),
            ext("2.5.29.37", false, code_signing),
            ext("2.5.29.30", true, vec![0x30, 0x00]),
            ext("1.3.6.1.4.1.99999.1", false, vec![0x05, 0x00]),
        ],
    );
    let r = finalize_raw(&mut acme, &order, &json!({ "csr": b64(&asking) }));
    assert_eq!(r.status, 200, "{r}");
    let done = acme.poll(&order_url, &["valid"]);
    let leaf = pem_to_ders(&acme.download(done["certificate"].as_str().unwrap()))[0].clone();
    let (_, plain_order) = ready_order(&env, &mut acme, &ids(&["c54-plain.example.test"]));
    let plain_url = plain_order["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(
        &plain_url,
        &CertKey::generate().csr_for(&["c54-plain.example.test"]),
    );
    assert_eq!(r.status, 200, "{r}");
    let plain_order_url = r.header("location").unwrap().to_owned();
    let plain_done = acme.poll(&plain_order_url, &["valid"]);
    let plain = pem_to_ders(&acme.download(plain_done["certificate"].as_str().unwrap()))[0].clone();
    assert_eq!(
        extension_oids(&leaf),
        extension_oids(&plain),
        "extensions differ from the profile's"
    );
    let cert = Certificate::from_der(&leaf).unwrap();
    let exts = cert.tbs_certificate().extensions().unwrap();
    let eku = exts.iter().find(|e| e.extn_id.to_string() == "2.5.29.37");
    if let Some(eku) = eku {
        let eku = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).unwrap();
        assert!(
            !eku.0.iter().any(|o| o.to_string() == "1.3.6.1.5.5.7.3.3"),
            "codeSigning copied from the CSR"
        );
    }
}

/// Catalog #55 (RFC 8555 §7.6): garbage or non-base64url → 400 malformed; a certificate this
/// server did not issue (its own root) → 404; a stranger account, or a `jwk` that is not the
/// certificate's key → 403 unauthorized; reasons outside {0,1,3,4,5} → 400 badRevocationReason
/// listing the allowed codes; after a revocation by the certificate's own key, a second one →
/// 400 alreadyRevoked. (Revocation by an account holding authorizations for every name, and
/// one missing name refused: `lifecycle.rs::s7_6_revoke_by_authorizations`.)
#[test]
fn catalog_55_revocation_refusals() {
    let env = Env::start();
    let mut owner = Acme::new(&env.server);
    owner.new_account();
    let names = ["c55.example.test"];
    let (order_url, order) = ready_order(&env, &mut owner, &ids(&names));
    let cert_key = CertKey::generate();
    let r = owner.finalize(
        order["finalize"].as_str().unwrap(),
        &cert_key.csr_for(&names),
    );
    assert_eq!(r.status, 200, "{r}");
    let done = owner.poll(&order_url, &["valid"]);
    let leaf = pem_to_ders(&owner.download(done["certificate"].as_str().unwrap()))[0].clone();
    let root = pem_to_ders(&std::fs::read_to_string(env.server.ca_cert_path()).unwrap())[0].clone();
    let revoke_url = owner.url("revokeCert");
    let raw = |acme: &mut Acme, payload: Value| acme.post(&revoke_url, Some(&payload));

    let r = raw(&mut owner, json!({"certificate": "AAAA"}));
    assert_problem(&r, 400, "malformed", "garbage certificate");
    let r = raw(
        &mut owner,
        json!({"certificate": STANDARD.encode(&leaf) + "=="}),
    );
    assert_problem(&r, 400, "malformed", "not base64url");
    let r = raw(&mut owner, json!({"certificate": 7}));
    assert_problem(&r, 400, "malformed", "not a string");
    let r = owner.revoke(&root, None);
    assert_problem(&r, 404, "malformed", "a certificate we did not issue");
    for reason in [2u8, 6, 7, 8, 9, 10] {
        let r = owner.revoke(&leaf, Some(reason));
        assert_problem(&r, 400, "badRevocationReason", &format!("reason {reason}"));
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("[0, 1, 3, 4, 5]"),
            "{r}"
        );
    }
    let mut stranger = Acme::new(&env.server);
    stranger.new_account();
    let r = stranger.revoke(&leaf, None);
    assert_problem(&r, 403, "unauthorized", "stranger account");
    // A jwk-signed request by a key that is not the certificate's.
    let mut wrong_key = Acme::with_key(&env.server, CertKey::generate().account_key());
    let r = wrong_key.revoke(&leaf, None);
    assert_problem(&r, 403, "unauthorized", "jwk ≠ certificate key");
    // The certificate's own key revokes it; the second request is alreadyRevoked.
    let mut by_cert_key = Acme::with_key(&env.server, cert_key.account_key());
    let r = by_cert_key.revoke(&leaf, Some(1));
    assert_eq!(r.status, 200, "revocation by the certificate key: {r}");
    let r = owner.revoke(&leaf, None);
    assert_problem(&r, 400, "alreadyRevoked", "second revocation");
}

/// Catalog #61 (I5, deny by default): unknown paths, unknown methods, a POST to a non-existent
/// resource id and an unknown profile all end in an error response before any state is
/// touched: POST unknown path → 404 malformed; GET/PUT/DELETE on a POST resource → 405
/// malformed with `Allow`; an unknown challenge or order id → 404; a profile not in the
/// directory → 400 invalidProfile; no order was created by any of them.
#[test]
fn catalog_61_unknown_requests_denied() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let base = env.server.base_url();
    for path in [
        "/acme/unknown",
        "/acme/order/x/unknown",
        "/acme/new-order/",
        "/other",
        "/acme/chall/AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let url = format!("{base}{path}");
        let r = acme.post(&url, Some(&json!({})));
        assert_problem(&r, 404, "malformed", path);
    }
    // A finalize of an order that does not exist (with a well-formed payload).
    let url = format!("{base}/acme/order/AAAAAAAAAAAAAAAAAAAAAA/finalize");
    let r = acme.post(&url, Some(&json!({"csr": "AAAA"})));
    assert_problem(&r, 404, "malformed", "finalize of an unknown order");
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let r = acme.http.request(method, &acme.url("newOrder"), &[], b"");
        assert_eq!(r.status, 405, "{method} newOrder: {r}");
        assert_eq!(
            r.problem_type().as_deref(),
            Some("urn:ietf:params:acme:error:malformed"),
            "{method}: {r}"
        );
        assert_eq!(r.header("allow"), Some("POST"), "{method}: {r}");
    }
    let url = acme.url("newOrder");
    let r = acme.post(&url, Some(&json!({"identifiers": [{"type": "dns", "value": "c61.example.test"}], "profile": "no-such-profile"})));
    assert_problem(&r, 400, "invalidProfile", "unknown profile");
    let account_url = acme.kid.clone().unwrap();
    let orders_url = acme.get_json(&account_url)["orders"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(acme.get_json(&orders_url)["orders"], json!([]));
}
