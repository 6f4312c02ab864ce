//! Security catalog §B (spec/security-catalog.md #13–#31, the JWS envelope and request
//! authentication of RFC 8555 §6.2–§6.5) over the wire: JWS bodies crafted byte by byte and
//! signed with real keys (ring: P-256, P-384, Ed25519, RSA-2048), sent to the real `upki-ra`
//! binary. Every refusal is checked for its exact status, problem `type` and (RFC 8555 §6.5,
//! interop.md) a fresh `Replay-Nonce`; where an input could fool a lenient server into accepting
//! it, it is signed so that only the rule under test can refuse it. One test per catalog entry,
//! table-driven where an entry has several inputs; the unit tables are in `src/jose/` and
//! `src/acme/`.

use std::sync::{Arc, Barrier};

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde_json::{Value, json};

use crate::support::Env;
use crate::support::https::{Https, Response};
use crate::support::pki::{CertKey, Identifier};
use crate::support::raw::{RawConn, host};
use crate::support::server::{Server, ServerOptions};

const ACME_ERROR: &str = "urn:ietf:params:acme:error:";
/// A 2048-bit RSA key (PKCS#8 DER), the one the `jose` unit tests use.
const RSA2048_PKCS8: &[u8] = include_bytes!("../../src/jose/testdata/rsa2048.pk8.der");

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// An account key of one of the four accepted kinds (decision 7: ES256, ES384, EdDSA, RS256).
enum Key {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(Box<RsaKeyPair>),
}

impl Key {
    fn p256() -> Key {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Key::P256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
        )
    }

    fn p384() -> Key {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        Key::P384(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
        )
    }

    fn ed25519() -> Key {
        let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Key::Ed25519(Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap())
    }

    fn rsa() -> Key {
        Key::Rsa(Box::new(RsaKeyPair::from_pkcs8(RSA2048_PKCS8).unwrap()))
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::P256(_) => "ES256",
            Key::P384(_) => "ES384",
            Key::Ed25519(_) => "EdDSA",
            Key::Rsa(_) => "RS256",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Key::P256(k) | Key::P384(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])})
            }
            Key::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
            Key::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Key::P256(k) | Key::P384(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Key::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }
}

/// A flattened JWS from already-encoded protected header and payload texts (which may be
/// deliberately non-canonical): the signature covers exactly these texts.
fn jws_parts(key: &Key, protected_b64: &str, payload_b64: &str) -> Value {
    let sig = key.sign(format!("{protected_b64}.{payload_b64}").as_bytes());
    json!({"protected": protected_b64, "payload": payload_b64, "signature": b64(&sig)})
}

/// A flattened JWS over the protected header text `protected_json` and `payload` bytes.
fn jws_text(key: &Key, protected_json: &str, payload: &[u8]) -> Value {
    jws_parts(key, &b64(protected_json.as_bytes()), &b64(payload))
}

/// A flattened JWS over `protected` and `payload` (None: POST-as-GET, empty payload).
fn jws(key: &Key, protected: &Value, payload: Option<&Value>) -> Value {
    let payload = payload
        .map(|p| p.to_string().into_bytes())
        .unwrap_or_default();
    jws_text(key, &protected.to_string(), &payload)
}

fn server() -> Server {
    Server::start(ServerOptions::default())
}

/// A server, an HTTPS client trusting it and its directory.
struct Ctx<'s> {
    server: &'s Server,
    https: Https,
    directory: Value,
}

impl<'s> Ctx<'s> {
    fn new(server: &'s Server) -> Ctx<'s> {
        let https = server.https();
        let directory = https.get(&server.directory_url()).json();
        Ctx {
            server,
            https,
            directory,
        }
    }

    fn url(&self, resource: &str) -> String {
        self.directory[resource].as_str().unwrap().to_owned()
    }

    fn nonce(&self) -> String {
        let r = self.https.request("HEAD", &self.url("newNonce"), &[], b"");
        r.header("replay-nonce").unwrap().to_owned()
    }

    fn send(&self, url: &str, body: &[u8]) -> Response {
        self.https.request(
            "POST",
            url,
            &[("Content-Type", "application/jose+json")],
            body,
        )
    }

    fn send_json(&self, url: &str, body: &Value) -> Response {
        self.send(url, body.to_string().as_bytes())
    }

    /// A `jwk` protected header for `url` with a fresh nonce.
    fn jwk_header(&self, key: &Key, url: &str) -> Value {
        json!({"alg": key.alg(), "nonce": self.nonce(), "url": url, "jwk": key.jwk()})
    }

    /// A `kid` protected header for `url` with a fresh nonce.
    fn kid_header(&self, key: &Key, kid: &str, url: &str) -> Value {
        json!({"alg": key.alg(), "nonce": self.nonce(), "url": url, "kid": kid})
    }

    /// newAccount with `key`; returns the account URL.
    fn account(&self, key: &Key) -> String {
        let url = self.url("newAccount");
        let body = jws(
            key,
            &self.jwk_header(key, &url),
            Some(&json!({"termsOfServiceAgreed": true})),
        );
        let r = self.send_json(&url, &body);
        assert_eq!(r.status, 201, "newAccount with {}: {r}", key.alg());
        r.header("location").unwrap().to_owned()
    }

    /// A correctly signed `kid` request.
    fn post(&self, key: &Key, kid: &str, url: &str, payload: Option<&Value>) -> Response {
        self.send_json(url, &jws(key, &self.kid_header(key, kid, url), payload))
    }

    /// A new order for one name; returns (order URL, order).
    fn order(&self, key: &Key, kid: &str, name: &str) -> (String, Value) {
        let payload = json!({"identifiers": [{"type": "dns", "value": name}]});
        let r = self.post(key, kid, &self.url("newOrder"), Some(&payload));
        assert_eq!(r.status, 201, "{r}");
        (r.header("location").unwrap().to_owned(), r.json())
    }

    /// onlyReturnExisting (RFC 8555 §7.3.1) for `key`: the status of the lookup.
    fn lookup(&self, key: &Key) -> Response {
        let url = self.url("newAccount");
        self.send_json(
            &url,
            &jws(
                key,
                &self.jwk_header(key, &url),
                Some(&json!({"onlyReturnExisting": true})),
            ),
        )
    }
}

/// An ACME error: status, `application/problem+json` of `urn:…:kind`, its `status` member, and a
/// fresh Replay-Nonce (every response to a POST carries one).
#[track_caller]
fn assert_problem(r: &Response, status: u16, kind: &str, case: &str) {
    assert_eq!(
        r.status, status,
        "{case}: expected {status} {kind}, got: {r}"
    );
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "{case}: expected problem type {kind}: {r}"
    );
    assert_eq!(r.json()["status"], json!(status), "{case}: {r}");
    assert!(
        r.header("replay-nonce").is_some_and(|n| !n.is_empty()),
        "{case}: error response without Replay-Nonce: {r}"
    );
}

fn detail(r: &Response) -> String {
    r.json()["detail"].as_str().unwrap_or_default().to_owned()
}

fn with(mut v: Value, name: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(name.to_owned(), value);
    v
}

fn without(mut v: Value, name: &str) -> Value {
    v.as_object_mut().unwrap().remove(name);
    v
}

// Catalog #13 (RFC 8555 §6.2): only the flattened JSON serialization, one signature, no
// unprotected header, no detached payload, non-empty signature, nothing after the JSON → 400
// malformed. The same request in proper form is accepted (201), so each refusal is the form's.
#[test]
fn catalog_13_not_flattened_json_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    type Reshape = Box<dyn Fn(Value) -> Vec<u8>>;
    let variants: Vec<(&str, Reshape)> = vec![
        (
            "compact a.b.c",
            Box::new(|p: Value| {
                format!(
                    "{}.{}.{}",
                    p["protected"].as_str().unwrap(),
                    p["payload"].as_str().unwrap(),
                    p["signature"].as_str().unwrap()
                )
                .into_bytes()
            }),
        ),
        (
            "compact as a JSON string",
            Box::new(|p: Value| {
                json!(format!(
                    "{}.{}.{}",
                    p["protected"].as_str().unwrap(),
                    p["payload"].as_str().unwrap(),
                    p["signature"].as_str().unwrap()
                ))
                .to_string()
                .into_bytes()
            }),
        ),
        (
            "JSON array",
            Box::new(|p: Value| {
                json!([p["protected"], p["payload"], p["signature"]])
                    .to_string()
                    .into_bytes()
            }),
        ),
        (
            "general serialization",
            Box::new(|p: Value| {
                json!({"payload": p["payload"], "signatures": [{"protected": p["protected"], "signature": p["signature"]}]}).to_string().into_bytes()
            }),
        ),
        (
            "flattened + signatures",
            Box::new(|p: Value| with(p, "signatures", json!([])).to_string().into_bytes()),
        ),
        (
            "unprotected header",
            Box::new(|p: Value| {
                with(p, "header", json!({"kid": "x"}))
                    .to_string()
                    .into_bytes()
            }),
        ),
        (
            "detached payload (member absent)",
            Box::new(|p: Value| without(p, "payload").to_string().into_bytes()),
        ),
        (
            "null payload",
            Box::new(|p: Value| with(p, "payload", Value::Null).to_string().into_bytes()),
        ),
        (
            "empty signature",
            Box::new(|p: Value| with(p, "signature", json!("")).to_string().into_bytes()),
        ),
        (
            "no signature",
            Box::new(|p: Value| without(p, "signature").to_string().into_bytes()),
        ),
        (
            "no protected header",
            Box::new(|p: Value| without(p, "protected").to_string().into_bytes()),
        ),
        (
            "unknown envelope member",
            Box::new(|p: Value| with(p, "extra", json!(1)).to_string().into_bytes()),
        ),
        (
            "trailing JSON object",
            Box::new(|p: Value| [p.to_string().into_bytes(), b"{}".to_vec()].concat()),
        ),
        (
            "trailing garbage",
            Box::new(|p: Value| [p.to_string().into_bytes(), b" x".to_vec()].concat()),
        ),
        ("empty body", Box::new(|_| Vec::new())),
    ];
    for (case, make) in variants {
        let body = jws(&key, &ctx.jwk_header(&key, &url), Some(&payload));
        let r = ctx.send(&url, &make(body));
        assert_problem(&r, 400, "malformed", case);
    }
    assert_eq!(
        ctx.lookup(&key).status,
        400,
        "a refused request created an account"
    );
    ctx.account(&key);
}

/// Encodes `json_text` padded (with spaces inside the JSON object) until `pred` holds for the
/// base64url text; the spaces do not change the JSON value.
fn encode_until(json_text: &str, pred: impl Fn(&str) -> bool) -> String {
    for n in 0..200 {
        let text = format!(
            "{}{}",
            &json_text[..json_text.len() - 1],
            " ".repeat(n) + "}"
        );
        let enc = b64(text.as_bytes());
        if pred(&enc) {
            return enc;
        }
    }
    panic!("no padding gives the wanted encoding for {json_text}");
}

/// The non-canonical forms of a canonical base64url text `s` (which contains `-` or `_` and has
/// a length of 2 or 3 mod 4): padded, standard alphabet, whitespace, non-zero trailing bits.
/// Each decodes to the same bytes under a lenient decoder.
fn non_canonical(s: &str) -> Vec<(&'static str, String)> {
    assert!(s.contains(['-', '_']) && s.len() % 4 >= 2, "{s}");
    let padded = URL_SAFE.encode(URL_SAFE_NO_PAD.decode(s).unwrap());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *s.as_bytes().last().unwrap();
    let v = alphabet.iter().position(|&c| c == last).unwrap();
    assert_eq!(v & 1, 0, "canonical text has zero trailing bits");
    let trailing = format!("{}{}", &s[..s.len() - 1], alphabet[v | 1] as char);
    vec![
        ("'=' padding", padded),
        (
            "standard alphabet '+' '/'",
            s.replace('-', "+").replace('_', "/"),
        ),
        ("leading space", format!(" {s}")),
        ("trailing newline", format!("{s}\n")),
        ("space inside", format!("{} {}", &s[..4], &s[4..])),
        ("non-zero trailing bits", trailing),
    ]
}

// Catalog #14 (RFC 8555 §6.1): base64url that is not canonical — padding, `+`/`/`, whitespace,
// non-zero trailing bits — in the protected header, the payload or the signature → 400
// malformed. The signature is computed over the non-canonical texts, so a lenient decoder would
// accept every one of them; the canonical request is then accepted.
#[test]
fn catalog_14_non_canonical_base64url_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let url = ctx.url("newAccount");
    let wanted = |e: &str| e.contains(['-', '_']) && e.len() % 4 >= 2;
    let payload = encode_until(r#"{"termsOfServiceAgreed":true,"pad":"?>?~~~"}"#, wanted);
    for member in ["protected", "payload", "signature"] {
        // An ignored member (RFC 7515 §4) with '?', '>' and '~': only they give '-' or '_'.
        let header = with(ctx.jwk_header(&key, &url), "pad", json!("???>>>~~~"));
        let protected = encode_until(&header.to_string(), wanted);
        let canonical = loop {
            let body = jws_parts(&key, &protected, &payload);
            if wanted(body["signature"].as_str().unwrap()) {
                break body;
            }
        };
        let text = canonical[member].as_str().unwrap().to_owned();
        for (case, bad) in non_canonical(&text) {
            // The nonce of `protected` is still unused after each refusal: base64 comes first.
            let body = match member {
                "protected" => jws_parts(&key, &bad, &payload),
                "payload" => jws_parts(&key, &protected, &bad),
                _ => with(canonical.clone(), "signature", json!(bad)),
            };
            let r = ctx.send_json(&url, &body);
            assert_problem(&r, 400, "malformed", &format!("{member}: {case}"));
            assert!(detail(&r).contains("base64url"), "{member}: {case}: {r}");
        }
        if member == "signature" {
            let r = ctx.send_json(&url, &canonical);
            assert_eq!(r.status, 201, "the canonical request: {r}");
        }
    }
}

// Catalog #15 (RFC 7515 §5.2): duplicate members in the protected header or in the payload →
// 400 malformed, never "last one wins"; header values from the unprotected `header` are refused
// (#13). After the refusals the account is unchanged.
#[test]
fn catalog_15_duplicate_members_are_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let new_order = ctx.url("newOrder");
    let jwk = key.jwk().to_string();
    let jwk_dup = format!(r#"{},"ext":true,"ext":false}}"#, &jwk[..jwk.len() - 1]);
    for (case, header) in [
        (
            "alg twice",
            r#"{"alg":"ES256","alg":"ES256",URL,NONCE,KID}"#,
        ),
        (
            "alg none then ES256",
            r#"{"alg":"none","alg":"ES256",URL,NONCE,KID}"#,
        ),
        (
            "url twice",
            r#"{"alg":"ES256",URL,"url":"https://evil.example/",NONCE,KID}"#,
        ),
        (
            "nonce twice",
            r#"{"alg":"ES256",URL,NONCE,"nonce":"AAAA",KID}"#,
        ),
        (
            "kid twice",
            r#"{"alg":"ES256",URL,NONCE,KID,"kid":"https://evil.example/acme/account/x"}"#,
        ),
        (
            "jwk twice",
            r#"{"alg":"ES256",URL,NONCE,"jwk":JWK,"jwk":JWK}"#,
        ),
        (
            "ignored member twice",
            r#"{"alg":"ES256",URL,NONCE,KID,"typ":"a","typ":"b"}"#,
        ),
        (
            "ignored member twice inside the jwk",
            r#"{"alg":"ES256",URL,NONCE,"jwk":JWKDUP}"#,
        ),
    ] {
        let header = header
            .replace("URL", &format!("\"url\":{}", json!(new_order)))
            .replace("NONCE", &format!("\"nonce\":{}", json!(ctx.nonce())))
            .replace("KID", &format!("\"kid\":{}", json!(kid)))
            .replace("JWKDUP", &jwk_dup)
            .replace("JWK", &jwk);
        let body = jws_text(
            &key,
            &header,
            br#"{"identifiers":[{"type":"dns","value":"a.example.test"}]}"#,
        );
        let r = ctx.send_json(&new_order, &body);
        assert_problem(&r, 400, "malformed", case);
        assert!(detail(&r).contains("protected header"), "{case}: {r}");
    }
    // Duplicates in the payload of each kind of request.
    let (order_url, order) = ctx.order(&key, &kid, "b.example.test");
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let authz_obj = ctx.post(&key, &kid, &authz, None).json();
    let chall = authz_obj["challenges"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let csr = b64(&CertKey::generate().csr(None, &[Identifier::dns("b.example.test")]));
    for (case, url, payload) in [
        ("newOrder identifiers twice", new_order.clone(), r#"{"identifiers":[{"type":"dns","value":"c.example.test"}],"identifiers":[{"type":"dns","value":"d.example.test"}]}"#.to_owned()),
        ("identifier type twice", new_order.clone(), r#"{"identifiers":[{"type":"dns","type":"ip","value":"c.example.test"}]}"#.to_owned()),
        ("account status twice", kid.clone(), r#"{"status":"valid","status":"deactivated"}"#.to_owned()),
        ("account contact twice", kid.clone(), r#"{"contact":[],"contact":["mailto:a@example.test"]}"#.to_owned()),
        ("authz status twice", authz.clone(), r#"{"status":"deactivated","status":"deactivated"}"#.to_owned()),
        ("challenge member twice", chall.clone(), r#"{"a":1,"a":2}"#.to_owned()),
        ("finalize csr twice", finalize.clone(), format!(r#"{{"csr":"{csr}","csr":"{csr}"}}"#)),
        ("unknown member twice", new_order.clone(), r#"{"identifiers":[{"type":"dns","value":"c.example.test"}],"x":1,"x":2}"#.to_owned()),
    ] {
        let body = jws_text(&key, &ctx.kid_header(&key, &kid, &url).to_string(), payload.as_bytes());
        assert_problem(&ctx.send_json(&url, &body), 400, "malformed", case);
    }
    // The keyChange object inside the inner JWS (RFC 8555 §7.3.5): `oldKey` twice, the second
    // one being the account's real key (a last-one-wins reader would accept the rollover).
    let new_key = Key::p256();
    let key_change = ctx.url("keyChange");
    let inner_header = json!({"alg": "ES256", "jwk": new_key.jwk(), "url": key_change});
    let inner_payload = format!(
        r#"{{"account":{},"oldKey":{},"oldKey":{}}}"#,
        json!(kid),
        new_key.jwk(),
        key.jwk()
    );
    let inner = jws_text(
        &new_key,
        &inner_header.to_string(),
        inner_payload.as_bytes(),
    );
    let r = ctx.post(&key, &kid, &key_change, Some(&inner));
    assert_problem(&r, 400, "malformed", "keyChange oldKey twice");
    // An unprotected header cannot add or override anything.
    let body = jws(&key, &ctx.kid_header(&key, &kid, &kid), None);
    assert_problem(
        &ctx.send_json(&kid, &with(body, "header", json!({"alg": "none"}))),
        400,
        "malformed",
        "unprotected header",
    );
    // Nothing changed: account valid, authz pending, challenge pending.
    assert_eq!(ctx.post(&key, &kid, &kid, None).json()["status"], "valid");
    assert_eq!(
        ctx.post(&key, &kid, &authz, None).json()["status"],
        "pending"
    );
    assert_eq!(
        ctx.post(&key, &kid, &order_url, None).json()["status"],
        "pending"
    );
}

/// The `algorithms` member a badSignatureAlgorithm problem MUST carry (RFC 8555 §6.2).
#[track_caller]
fn assert_lists_algorithms(r: &Response, case: &str) {
    let mut algs: Vec<String> = r.json()["algorithms"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no algorithms member: {r}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "ES384", "EdDSA", "RS256"], "{case}");
}

// Catalog #16 (RFC 8555 §6.2): `alg` "none" or a MAC → 400 badSignatureAlgorithm listing the
// accepted algorithms; the `alg` check comes before the nonce check (a bad nonce does not change
// the answer), as in Boulder.
#[test]
fn catalog_16_alg_none_and_mac_are_bad_signature_algorithm() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    for alg in ["none", "HS256", "HS384", "HS512", "None", "NONE"] {
        for nonce in [Some(ctx.nonce()), Some("AAAA".to_owned()), None] {
            let mut header = with(ctx.jwk_header(&key, &url), "alg", json!(alg));
            match &nonce {
                Some(n) => header["nonce"] = json!(n),
                None => header = without(header, "nonce"),
            }
            let mut body = jws(&key, &header, Some(&payload));
            if alg == "none" {
                body["signature"] = json!(""); // what an alg:none token carries
            }
            let case = format!("alg {alg} nonce {nonce:?}");
            let r = ctx.send_json(&url, &body);
            assert_problem(&r, 400, "badSignatureAlgorithm", &case);
            assert_lists_algorithms(&r, &case);
        }
    }
    // An HS256 JWS really MACed with the public JWK's bytes (the RS/HS confusion) also fails.
    let secret = key.jwk().to_string();
    let protected = b64(with(ctx.jwk_header(&key, &url), "alg", json!("HS256"))
        .to_string()
        .as_bytes());
    let payload_b64 = b64(payload.to_string().as_bytes());
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
        format!("{protected}.{payload_b64}").as_bytes(),
    );
    let body =
        json!({"protected": protected, "payload": payload_b64, "signature": b64(tag.as_ref())});
    assert_problem(
        &ctx.send_json(&url, &body),
        400,
        "badSignatureAlgorithm",
        "HS256 with the JWK as secret",
    );
    assert_eq!(ctx.lookup(&key).status, 400, "no account was created");
}

// Catalog #17 (RFC 8555 §6.2): well-formed but unsupported algorithms → badSignatureAlgorithm
// (400, with `algorithms`); supported algorithm family but unsupported curve or key type →
// badPublicKey (400). Each of the four accepted kinds registers (201).
#[test]
fn catalog_17_unsupported_alg_or_key() {
    let s = server();
    let ctx = Ctx::new(&s);
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    let rsa = Key::rsa();
    for alg in [
        "RS512", "RS384", "PS256", "ES512", "ES256K", "Ed25519", "Ed448", "es256",
    ] {
        let body = jws(
            &rsa,
            &with(ctx.jwk_header(&rsa, &url), "alg", json!(alg)),
            Some(&payload),
        );
        let r = ctx.send_json(&url, &body);
        assert_problem(&r, 400, "badSignatureAlgorithm", alg);
        assert_lists_algorithms(&r, alg);
    }
    let p256 = Key::p256();
    for (case, alg, jwk) in [
        (
            "EdDSA with crv Ed448",
            "EdDSA",
            json!({"kty": "OKP", "crv": "Ed448", "x": b64(&[9; 57])}),
        ),
        (
            "EdDSA with crv X25519",
            "EdDSA",
            json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9; 32])}),
        ),
        (
            "ES256 with crv P-521",
            "ES256",
            json!({"kty": "EC", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66])}),
        ),
        (
            "ES256 with crv secp256k1",
            "ES256",
            json!({"kty": "EC", "crv": "secp256k1", "x": b64(&[1; 32]), "y": b64(&[1; 32])}),
        ),
        (
            "kty oct",
            "ES256",
            json!({"kty": "oct", "k": b64(&[1; 32])}),
        ),
        (
            "kty missing",
            "ES256",
            json!({"crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32])}),
        ),
    ] {
        let body = jws(
            &p256,
            &with(
                with(ctx.jwk_header(&p256, &url), "alg", json!(alg)),
                "jwk",
                jwk,
            ),
            Some(&payload),
        );
        assert_problem(&ctx.send_json(&url, &body), 400, "badPublicKey", case);
    }
    for key in [Key::p256(), Key::p384(), Key::ed25519(), Key::rsa()] {
        ctx.account(&key);
    }
}

// Catalog #18 (Boulder checkAlgorithm): `alg` must fit the key type → 400 malformed. Each JWS is
// signed correctly with the key's own algorithm, so a server that picked the algorithm from the
// key would accept it; a JWK `alg` member contradicting the header is refused too.
#[test]
fn catalog_18_alg_key_mismatch_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    for (case, key, alg) in [
        ("ES256 with a P-384 key", Key::p384(), "ES256"),
        ("ES256 with an Ed25519 key", Key::ed25519(), "ES256"),
        ("ES256 with an RSA key", Key::rsa(), "ES256"),
        ("ES384 with a P-256 key", Key::p256(), "ES384"),
        ("EdDSA with a P-256 key", Key::p256(), "EdDSA"),
        ("RS256 with a P-256 key", Key::p256(), "RS256"),
        ("RS256 with an Ed25519 key", Key::ed25519(), "RS256"),
    ] {
        let body = jws(
            &key,
            &with(ctx.jwk_header(&key, &url), "alg", json!(alg)),
            Some(&payload),
        );
        let r = ctx.send_json(&url, &body);
        assert_problem(&r, 400, "malformed", case);
        assert!(detail(&r).contains("does not match"), "{case}: {r}");
    }
    let key = Key::p256();
    for jwk_alg in ["ES384", "RS256", "none"] {
        let header = with(
            ctx.jwk_header(&key, &url),
            "jwk",
            with(key.jwk(), "alg", json!(jwk_alg)),
        );
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "malformed", &format!("JWK alg {jwk_alg}"));
    }
    assert_eq!(ctx.lookup(&key).status, 400, "no account was created");
}

// Catalog #19 (RFC 8555 §6.2 "Servers MUST reject requests that contain both"): both `jwk` and
// `kid`, or neither → 400 malformed, on a jwk endpoint and on a kid endpoint.
#[test]
fn catalog_19_both_or_neither_jwk_and_kid_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.test"}]});
    for resource in ["newAccount", "newOrder"] {
        let url = ctx.url(resource);
        let both = with(ctx.jwk_header(&key, &url), "kid", json!(kid));
        let neither = without(ctx.jwk_header(&key, &url), "jwk");
        let null_kid = with(ctx.jwk_header(&key, &url), "kid", Value::Null);
        let empty_kid = with(without(ctx.jwk_header(&key, &url), "jwk"), "kid", json!(""));
        for (case, header) in [
            ("both", both),
            ("neither", neither),
            ("jwk + kid null", null_kid),
            ("empty kid", empty_kid),
        ] {
            let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
            assert_problem(&r, 400, "malformed", &format!("{resource}: {case}"));
        }
    }
}

// Catalog #20 (RFC 8555 §6.2): `kid` on newAccount, `jwk` on any account-bound endpoint →
// 400 malformed, even when the `jwk` is the registered account's own key. (revokeCert takes
// either: tests/it/acme_flow.rs::s7_6_revoke_with_certificate_key.)
#[test]
fn catalog_20_wrong_authentication_style_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let (order_url, order) = ctx.order(&key, &kid, "a.example.test");
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz_obj = ctx.post(&key, &kid, &authz, None).json();
    let chall = authz_obj["challenges"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = ctx.url("newAccount");
    let r = ctx.post(
        &key,
        &kid,
        &url,
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    assert_problem(&r, 400, "malformed", "kid on newAccount");
    assert!(detail(&r).contains("jwk"), "{r}");
    for (case, url, payload) in [
        (
            "newOrder",
            ctx.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": "b.example.test"}]})),
        ),
        (
            "newAuthz",
            ctx.url("newAuthz"),
            Some(json!({"identifier": {"type": "dns", "value": "b.example.test"}})),
        ),
        ("keyChange", ctx.url("keyChange"), Some(json!({}))),
        ("account", kid.clone(), None),
        ("orders list", format!("{kid}/orders"), None),
        ("order", order_url.clone(), None),
        (
            "finalize",
            order["finalize"].as_str().unwrap().to_owned(),
            Some(json!({"csr": "AA"})),
        ),
        ("authz", authz.clone(), None),
        ("challenge", chall.clone(), Some(json!({}))),
        (
            "certificate",
            format!("{}/acme/cert/AAAAAAAAAAAAAAAAAAAAAA", ctx.server.base_url()),
            None,
        ),
    ] {
        let r = ctx.send_json(
            &url,
            &jws(&key, &ctx.jwk_header(&key, &url), payload.as_ref()),
        );
        assert_problem(&r, 400, "malformed", &format!("jwk on {case}"));
        assert!(detail(&r).contains("kid"), "{case}: {r}");
    }
    // Nothing was started: the challenge is still pending.
    assert_eq!(
        ctx.post(&key, &kid, &chall, None).json()["status"],
        "pending"
    );
}

// Catalog #21 (RFC 7515 §4.1.3): an embedded JWK with private members, or with certificate
// indirections, → 400 badPublicKey; `jku`/`x5u`/`x5c` in the header (never fetched) → 400
// malformed. Nothing is stored: the key has no account afterwards.
#[test]
fn catalog_21_private_or_indirect_jwk_is_refused() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let jwk = with(key.jwk(), member, json!(b64(&[7; 32])));
        let header = with(ctx.jwk_header(&key, &url), "jwk", jwk);
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "badPublicKey", &format!("private member {member}"));
    }
    for (member, value) in [
        ("x5c", json!(["MIIB"])),
        ("x5u", json!("https://evil.example/c.pem")),
        ("use", json!("enc")),
    ] {
        let header = with(
            ctx.jwk_header(&key, &url),
            "jwk",
            with(key.jwk(), member, value),
        );
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "badPublicKey", &format!("JWK member {member}"));
    }
    for member in ["jku", "x5u", "x5c"] {
        let header = with(
            ctx.jwk_header(&key, &url),
            member,
            json!("https://evil.example/k"),
        );
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "malformed", &format!("header member {member}"));
    }
    assert_problem(
        &ctx.lookup(&key),
        400,
        "accountDoesNotExist",
        "nothing stored",
    );
}

// Catalog #22 (RFC 8555 §6.2; decision 7): weak or invalid account keys → 400 badPublicKey:
// EC points off the curve, (0, 0), coordinates ≥ p or of the wrong length; Ed25519 keys of small
// order or not canonical; RSA moduli under 2048 bits, even, or an exponent other than 65537.
#[test]
fn catalog_22_weak_or_invalid_account_key_is_bad_public_key() {
    let s = server();
    let ctx = Ctx::new(&s);
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    let p256 = Key::p256();
    let jwk = p256.jwk();
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    let mut y_off = y.clone();
    y_off[31] ^= 1;
    // p of P-256: coordinates must be below it.
    let p = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    let mut x33 = vec![0];
    x33.extend_from_slice(&x);
    let p384 = Key::p384().jwk();
    let mut y384 = URL_SAFE_NO_PAD.decode(p384["y"].as_str().unwrap()).unwrap();
    y384[47] ^= 1;
    let rsa = Key::rsa().jwk();
    let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    let mut n_even = n.clone();
    *n_even.last_mut().unwrap() &= 0xfe;
    let mut identity = [0u8; 32];
    identity[0] = 1; // the Ed25519 neutral element (0, 1), order 1
    let ec = |x: &[u8], y: &[u8]| json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
    for (case, alg, bad) in [
        ("P-256 point off the curve", "ES256", ec(&x, &y_off)),
        ("P-256 (0, 0)", "ES256", ec(&[0; 32], &[0; 32])),
        ("P-256 x = p", "ES256", ec(&p, &y)),
        ("P-256 x of 31 bytes", "ES256", ec(&x[1..], &y)),
        ("P-256 x of 33 bytes", "ES256", ec(&x33, &y)),
        (
            "P-384 point off the curve",
            "ES384",
            json!({"kty": "EC", "crv": "P-384", "x": p384["x"], "y": b64(&y384)}),
        ),
        (
            "Ed25519 identity (small order)",
            "EdDSA",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&identity)}),
        ),
        (
            "Ed25519 y ≥ p (not canonical)",
            "EdDSA",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[0xff; 32])}),
        ),
        (
            "Ed25519 x of 31 bytes",
            "EdDSA",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[5; 31])}),
        ),
        (
            "RSA 1024-bit modulus",
            "RS256",
            json!({"kty": "RSA", "n": b64(&n[..128]), "e": "AQAB"}),
        ),
        (
            "RSA exponent 3",
            "RS256",
            json!({"kty": "RSA", "n": rsa["n"], "e": "Aw"}),
        ),
        (
            "RSA exponent 65539",
            "RS256",
            json!({"kty": "RSA", "n": rsa["n"], "e": "AQAD"}),
        ),
        (
            "RSA even modulus",
            "RS256",
            json!({"kty": "RSA", "n": b64(&n_even), "e": "AQAB"}),
        ),
    ] {
        let header = with(
            with(ctx.jwk_header(&p256, &url), "alg", json!(alg)),
            "jwk",
            bad,
        );
        let r = ctx.send_json(&url, &jws(&p256, &header, Some(&payload)));
        assert_problem(&r, 400, "badPublicKey", case);
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Catalog #23 (RFC 7518 §3.4; decision 2): a bad signature value → 400 malformed "JWS
// verification error", never a panic: ES256 of 63 bytes (what Apple clients send when r has a
// leading zero: no leniency switch), 65 bytes, DER instead of r‖s, r = s = 0, a flipped bit, a
// signature over another header; a flipped bit for Ed25519 and RS256 too.
#[test]
fn catalog_23_bad_signature_value_is_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    let rng = SystemRandom::new();
    let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let der_signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pk8.as_ref(), &rng).unwrap();
    let key = Key::P256(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
    );
    let sig_of = |body: &Value| {
        URL_SAFE_NO_PAD
            .decode(body["signature"].as_str().unwrap())
            .unwrap()
    };
    let signing_input = |body: &Value| {
        format!(
            "{}.{}",
            body["protected"].as_str().unwrap(),
            body["payload"].as_str().unwrap()
        )
    };

    // Apple's short form: a valid signature whose r starts with a zero byte, sent as 63 bytes.
    let header = ctx.jwk_header(&key, &url);
    let apple = loop {
        let body = jws(&key, &header, Some(&payload));
        if sig_of(&body)[0] == 0 {
            break with(body.clone(), "signature", json!(b64(&sig_of(&body)[1..])));
        }
    };
    let r = ctx.send_json(&url, &apple);
    assert_problem(
        &r,
        400,
        "malformed",
        "ES256 of 63 bytes (r with a leading zero)",
    );
    assert!(detail(&r).contains("JWS verification error"), "{r}");

    type Tamper = Box<dyn Fn(&Value) -> Vec<u8>>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "ES256 of 65 bytes",
            Box::new(move |b: &Value| [sig_of(b), vec![0]].concat()),
        ),
        (
            "ES256 truncated to 63 bytes",
            Box::new(move |b: &Value| sig_of(b)[..63].to_vec()),
        ),
        (
            "ES256 DER-encoded",
            Box::new(move |b: &Value| {
                der_signer
                    .sign(&SystemRandom::new(), signing_input(b).as_bytes())
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }),
        ),
        ("ES256 r = s = 0", Box::new(|_: &Value| vec![0; 64])),
        (
            "ES256 r = s = n",
            Box::new(|_: &Value| {
                [
                    hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
                    hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
                ]
                .concat()
            }),
        ),
        (
            "ES256 a flipped bit",
            Box::new(move |b: &Value| {
                let mut s = sig_of(b);
                s[40] ^= 0x20;
                s
            }),
        ),
    ];
    for (case, tamper) in cases {
        let body = jws(&key, &ctx.jwk_header(&key, &url), Some(&payload));
        let body = with(body.clone(), "signature", json!(b64(&tamper(&body))));
        let r = ctx.send_json(&url, &body);
        assert_problem(&r, 400, "malformed", case);
        assert!(detail(&r).contains("JWS verification error"), "{case}: {r}");
    }
    // A valid signature moved onto another protected header (another nonce).
    let donor = jws(&key, &ctx.jwk_header(&key, &url), Some(&payload));
    let body = with(
        jws(&key, &ctx.jwk_header(&key, &url), Some(&payload)),
        "signature",
        donor["signature"].clone(),
    );
    assert_problem(
        &ctx.send_json(&url, &body),
        400,
        "malformed",
        "signature over another header",
    );
    // Ed25519 and RS256 with a flipped bit.
    for key in [Key::ed25519(), Key::rsa()] {
        let body = jws(&key, &ctx.jwk_header(&key, &url), Some(&payload));
        let mut sig = sig_of(&body);
        sig[10] ^= 1;
        let r = ctx.send_json(&url, &with(body, "signature", json!(b64(&sig))));
        assert_problem(
            &r,
            400,
            "malformed",
            &format!("{} a flipped bit", key.alg()),
        );
        assert_eq!(ctx.lookup(&key).status, 400, "no account for {}", key.alg());
    }
    assert_eq!(ctx.lookup(&key).status, 400, "no account was created");
    ctx.account(&key);
}

// Catalog #24 (RFC 7515 §4.1.11, RFC 7797 §6): `crit` with any value, or `b64` with any value →
// 400 malformed.
#[test]
fn catalog_24_crit_and_b64_are_malformed() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let url = ctx.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true});
    for (case, members) in [
        ("crit [b64]", vec![("crit", json!(["b64"]))]),
        ("crit []", vec![("crit", json!([]))]),
        (
            "crit [exp]",
            vec![("crit", json!(["exp"])), ("exp", json!(1))],
        ),
        ("b64 false", vec![("b64", json!(false))]),
        ("b64 true", vec![("b64", json!(true))]),
        (
            "b64 false + crit [b64]",
            vec![("b64", json!(false)), ("crit", json!(["b64"]))],
        ),
    ] {
        let mut header = ctx.jwk_header(&key, &url);
        for (name, value) in members {
            header = with(header, name, value);
        }
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "malformed", case);
    }
    // b64:false with the payload really unencoded (RFC 7797 §5.2 signing input).
    let header = with(
        with(ctx.jwk_header(&key, &url), "b64", json!(false)),
        "crit",
        json!(["b64"]),
    );
    let protected = b64(header.to_string().as_bytes());
    let raw = payload.to_string();
    let sig = key.sign(format!("{protected}.{raw}").as_bytes());
    let body = json!({"protected": protected, "payload": raw, "signature": b64(&sig)});
    assert_problem(
        &ctx.send_json(&url, &body),
        400,
        "malformed",
        "unencoded payload",
    );
    assert_eq!(ctx.lookup(&key).status, 400, "no account was created");
}

// Catalog #25 (RFC 8555 §6.5): a nonce missing, malformed, never issued, already used, evicted
// (more than the 4096 outstanding the server keeps), or from before a restart → 400 badNonce with
// a fresh Replay-Nonce, which then works.
#[test]
fn catalog_25_bad_nonce_gets_bad_nonce_and_a_fresh_nonce() {
    let mut s = server();
    let key = Key::p256();
    let (kid, before_restart) = {
        let ctx = Ctx::new(&s);
        let kid = ctx.account(&key);
        let used = ctx.nonce();
        let header = with(ctx.kid_header(&key, &kid, &kid), "nonce", json!(used));
        assert_eq!(ctx.send_json(&kid, &jws(&key, &header, None)).status, 200);
        let evicted = ctx.nonce();
        // Push it out: 4100 newer nonces, pipelined on one connection.
        let mut c = RawConn::open(&s);
        let burst = format!(
            "HEAD /acme/new-nonce HTTP/1.1\r\nHost: {}\r\n\r\n",
            host(&s)
        )
        .repeat(100);
        for _ in 0..41 {
            c.send(burst.as_bytes());
            for _ in 0..100 {
                assert_eq!(c.head_response().status, 200);
            }
        }
        // Checked before the restart, which would invalidate them anyway.
        for (case, nonce) in [("already used", used), ("evicted", evicted)] {
            let header = with(ctx.kid_header(&key, &kid, &kid), "nonce", json!(nonce));
            let r = ctx.send_json(&kid, &jws(&key, &header, None));
            assert_problem(&r, 400, "badNonce", case);
            let retry = with(header, "nonce", json!(r.header("replay-nonce").unwrap()));
            assert_eq!(
                ctx.send_json(&kid, &jws(&key, &retry, None)).status,
                200,
                "{case}: retry"
            );
        }
        (kid, ctx.nonce())
    };
    s.restart();
    let ctx = Ctx::new(&s);
    let header = ctx.kid_header(&key, &kid, &kid);
    for (case, nonce) in [
        ("missing", None),
        ("empty", Some(json!(""))),
        ("not base64url", Some(json!("!!not a nonce!!"))),
        ("padded", Some(json!(format!("{}=", ctx.nonce())))),
        ("2 KiB", Some(json!("A".repeat(2 * 1024)))),
        ("never issued", Some(json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"))),
        ("from before a restart", Some(json!(before_restart))),
    ] {
        let header = match nonce {
            Some(n) => with(header.clone(), "nonce", n),
            None => without(header.clone(), "nonce"),
        };
        let r = ctx.send_json(&kid, &jws(&key, &header, None));
        assert_problem(&r, 400, "badNonce", case);
        let fresh = r.header("replay-nonce").unwrap();
        let retry = with(header, "nonce", json!(fresh));
        assert_eq!(
            ctx.send_json(&kid, &jws(&key, &retry, None)).status,
            200,
            "{case}: retry with the fresh nonce"
        );
    }
}

// Catalog #26 (RFC 8555 §6.5): one nonce, two requests — sent at the same moment on two
// connections, or pipelined on one — exactly one succeeds and the other gets badNonce.
#[test]
fn catalog_26_nonce_replay_race_exactly_one_wins() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    for round in 0..10 {
        let body = jws(&key, &ctx.kid_header(&key, &kid, &kid), None).to_string();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (https, kid, body, barrier) = (
                    ctx.https.clone(),
                    kid.clone(),
                    body.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    https.request(
                        "POST",
                        &kid,
                        &[("Content-Type", "application/jose+json")],
                        body.as_bytes(),
                    )
                })
            })
            .collect();
        let mut results: Vec<Response> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort_by_key(|r| r.status);
        assert_eq!(results[0].status, 200, "round {round}: {}", results[0]);
        assert_problem(&results[1], 400, "badNonce", &format!("round {round}"));
    }
    // Pipelined on one connection.
    let body = jws(&key, &ctx.kid_header(&key, &kid, &kid), None).to_string();
    let path = kid.strip_prefix(&ctx.server.base_url()).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/jose+json\r\nContent-Length: {}\r\n\r\n{body}",
        host(ctx.server),
        body.len()
    );
    let mut c = RawConn::open(ctx.server);
    c.send(format!("{req}{req}").as_bytes());
    assert_eq!(c.response().status, 200);
    let r = c.response();
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:badNonce"),
        "{r}"
    );
}

// Catalog #27 (RFC 8555 §6.4; decision 1): a `url` that is not exactly the request URL → 403
// unauthorized (a missing `url` is a header error: 400 malformed). The expected URL is the
// configured base URL + the raw request target, never built from `Host` or `X-Forwarded-*`.
#[test]
fn catalog_27_url_mismatch_is_unauthorized() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let base = ctx.server.base_url();
    let port = ctx.server.port;
    let path = kid.strip_prefix(&base).unwrap().to_owned();
    let pct = path.replacen("account", "%61ccount", 1);
    for (case, url) in [
        ("another endpoint", ctx.url("newOrder")),
        ("http scheme", kid.replacen("https://", "http://", 1)),
        ("another host", format!("https://localhost:{port}{path}")),
        (
            "another port",
            format!("https://127.0.0.1:{}{path}", port + 1),
        ),
        ("no port", format!("https://127.0.0.1{path}")),
        ("trailing slash", format!("{kid}/")),
        ("percent-encoded path", format!("{base}{pct}")),
        ("query", format!("{kid}?x=1")),
        ("fragment", format!("{kid}#x")),
        ("upper-case scheme", kid.replacen("https://", "HTTPS://", 1)),
        ("path only", path.clone()),
        ("empty", String::new()),
    ] {
        let header = with(ctx.kid_header(&key, &kid, &kid), "url", json!(url));
        let r = ctx.send_json(&kid, &jws(&key, &header, None));
        assert_problem(&r, 403, "unauthorized", case);
    }
    let r = ctx.send_json(
        &kid,
        &jws(
            &key,
            &without(ctx.kid_header(&key, &kid, &kid), "url"),
            None,
        ),
    );
    assert_problem(&r, 400, "malformed", "url missing");

    // Host / X-Forwarded-* do not move the expected URL.
    let raw = |host_header: &str, extra: &str, url: &str| {
        let body = jws(&key, &ctx.kid_header(&key, &kid, url), None).to_string();
        let mut c = RawConn::open(ctx.server);
        c.send(
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host_header}\r\n{extra}Content-Type: application/jose+json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        c.response()
    };
    let evil = format!("https://evil.example{path}");
    let r = raw("evil.example", "", &evil);
    assert_eq!(
        (r.status, r.problem_type().as_deref()),
        (403, Some("urn:ietf:params:acme:error:unauthorized")),
        "url from Host: {r}"
    );
    let r = raw(
        "evil.example",
        "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example\r\n",
        &evil,
    );
    assert_eq!(r.status, 403, "url from X-Forwarded-*: {r}");
    let r = raw("evil.example", "X-Forwarded-Host: evil.example\r\n", &kid);
    assert_eq!(
        r.status, 200,
        "the configured URL is the one that counts: {r}"
    );
}

// Catalog #28 (RFC 8555 §6.2, §7.3.1; step-ca 7731edd8): a `kid` that is not exactly the URL of a
// stored account → 400 accountDoesNotExist, whatever it shares with a real one. Signed with the
// real account's key, so only the `kid` comparison can refuse it.
#[test]
fn catalog_28_unknown_or_inexact_kid_is_account_does_not_exist() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let base = ctx.server.base_url();
    let id = kid.rsplit('/').next().unwrap().to_owned();
    let (order_url, _) = ctx.order(&key, &kid, "a.example.test");
    let flipped_case: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let url = ctx.url("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "b.example.test"}]});
    for (case, bad) in [
        (
            "unknown id",
            format!("{base}/acme/account/AAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("http scheme", kid.replacen("https://", "http://", 1)),
        ("another host", kid.replacen("127.0.0.1", "localhost", 1)),
        (
            "another host, same suffix",
            format!("https://evil.example/acme/account/{id}"),
        ),
        ("our URL as a suffix", format!("https://evil.example/{kid}")),
        ("trailing slash", format!("{kid}/")),
        ("orders list URL", format!("{kid}/orders")),
        ("query", format!("{kid}?x")),
        ("percent-encoded", kid.replacen("account", "%61ccount", 1)),
        (
            "id case flipped",
            format!("{base}/acme/account/{flipped_case}"),
        ),
        ("bare id", id.clone()),
        ("an order URL", order_url.clone()),
        ("id prefix", kid[..kid.len() - 1].to_owned()),
    ] {
        let header = with(ctx.kid_header(&key, &kid, &url), "kid", json!(bad));
        let r = ctx.send_json(&url, &jws(&key, &header, Some(&payload)));
        assert_problem(&r, 400, "accountDoesNotExist", case);
    }
}

// Catalog #29 (RFC 8555 §7.3.6): after deactivation every request signed by the account → 401
// unauthorized, on every kind of endpoint; its orders cannot be used.
#[test]
fn catalog_29_deactivated_account_gets_401_everywhere() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let (order_url, order) = ctx.order(&key, &kid, "a.example.test");
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz_obj = ctx.post(&key, &kid, &authz, None).json();
    let chall = authz_obj["challenges"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ctx.post(&key, &kid, &kid, Some(&json!({"status": "deactivated"})));
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("deactivated")),
        "{r}"
    );
    let csr = b64(&CertKey::generate().csr(None, &[Identifier::dns("a.example.test")]));
    for (case, url, payload) in [
        ("account fetch", kid.clone(), None),
        (
            "account reactivation",
            kid.clone(),
            Some(json!({"status": "valid"})),
        ),
        ("orders list", format!("{kid}/orders"), None),
        (
            "newOrder",
            ctx.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": "b.example.test"}]})),
        ),
        (
            "newAuthz",
            ctx.url("newAuthz"),
            Some(json!({"identifier": {"type": "dns", "value": "b.example.test"}})),
        ),
        ("order", order_url.clone(), None),
        ("authz", authz.clone(), None),
        ("challenge", chall.clone(), Some(json!({}))),
        (
            "finalize",
            order["finalize"].as_str().unwrap().to_owned(),
            Some(json!({"csr": csr})),
        ),
        ("keyChange", ctx.url("keyChange"), Some(json!({}))),
        (
            "revokeCert",
            ctx.url("revokeCert"),
            Some(json!({"certificate": "AA"})),
        ),
    ] {
        assert_problem(
            &ctx.post(&key, &kid, &url, payload.as_ref()),
            401,
            "unauthorized",
            case,
        );
    }
}

// Catalog #30 (RFC 8555 §6.3): a non-empty payload on a fetch-only resource, an empty payload
// where an object is required, and JSON that is not an object → 400 malformed.
#[test]
fn catalog_30_payload_shape_is_checked() {
    let s = server();
    let ctx = Ctx::new(&s);
    let key = Key::p256();
    let kid = ctx.account(&key);
    let (order_url, order) = ctx.order(&key, &kid, "a.example.test");
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz_obj = ctx.post(&key, &kid, &authz, None).json();
    let chall = authz_obj["challenges"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let cert = format!("{}/acme/cert/AAAAAAAAAAAAAAAAAAAAAA", ctx.server.base_url());
    // Fetch-only: POST-as-GET must have an empty payload; `{}` is not empty.
    for (case, url) in [
        ("order", order_url.clone()),
        ("orders list", format!("{kid}/orders")),
        ("certificate", cert),
    ] {
        for payload in [&b"{}"[..], b"[]", b"null", b"\"\""] {
            let body = jws_text(&key, &ctx.kid_header(&key, &kid, &url).to_string(), payload);
            let r = ctx.send_json(&url, &body);
            assert_problem(
                &r,
                400,
                "malformed",
                &format!("{case} with payload {}", String::from_utf8_lossy(payload)),
            );
        }
    }
    // An object is required: empty payloads.
    for (case, url) in [
        ("newOrder", ctx.url("newOrder")),
        ("newAccount", ctx.url("newAccount")),
        ("newAuthz", ctx.url("newAuthz")),
        ("finalize", finalize.clone()),
        ("keyChange", ctx.url("keyChange")),
        ("revokeCert", ctx.url("revokeCert")),
    ] {
        let header = if case == "newAccount" {
            ctx.jwk_header(&key, &url)
        } else {
            ctx.kid_header(&key, &kid, &url)
        };
        assert_problem(
            &ctx.send_json(&url, &jws(&key, &header, None)),
            400,
            "malformed",
            &format!("{case} with an empty payload"),
        );
    }
    // JSON that is not an object, or not JSON.
    for (case, url) in [
        ("newOrder", ctx.url("newOrder")),
        ("account update", kid.clone()),
        ("authz update", authz.clone()),
        ("challenge response", chall.clone()),
        ("finalize", finalize.clone()),
    ] {
        for payload in [
            &b"[]"[..],
            b"1",
            b"\"x\"",
            b"null",
            b"true",
            b"not json",
            b"{",
        ] {
            let body = jws_text(&key, &ctx.kid_header(&key, &kid, &url).to_string(), payload);
            let r = ctx.send_json(&url, &body);
            assert_problem(
                &r,
                400,
                "malformed",
                &format!("{case} with payload {}", String::from_utf8_lossy(payload)),
            );
        }
    }
    // Nothing moved.
    assert_eq!(
        ctx.post(&key, &kid, &chall, None).json()["status"],
        "pending"
    );
    assert_eq!(
        ctx.post(&key, &kid, &order_url, None).json()["status"],
        "pending"
    );
}

/// The random part of an ACME resource URL carries at least 128 bits (decision 5).
#[track_caller]
fn assert_unguessable(url: &str) {
    let id = url
        .trim_end_matches("/finalize")
        .rsplit('/')
        .next()
        .unwrap();
    let bytes = URL_SAFE_NO_PAD
        .decode(id)
        .unwrap_or_else(|_| panic!("id of {url} is not base64url"));
    assert!(bytes.len() >= 16, "{url}: id of {} bits", bytes.len() * 8);
}

// Catalog #31 (RFC 8555 §10.5; decision 5): account B acting on account A's account, orders
// list, order, authorization, challenge, finalize, certificate or revocation → 403
// unauthorized, and nothing of A's changes; every resource id is ≥ 128 random bits.
#[test]
fn catalog_31_cross_account_access_is_unauthorized() {
    let env = Env::start();
    let ctx = Ctx::new(&env.server);
    let mut owner = crate::support::client::Acme::new(&env.server);
    owner.new_account();
    let a_kid = owner.kid.clone().unwrap();
    let issued = owner.issue(&[Identifier::dns("issued.example.test")], None, &env.http01);
    let (order_url, order) = owner.new_order(&[Identifier::dns("pending.example.test")]);
    let authz = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz_obj = owner.get_json(&authz);
    let chall = authz_obj["challenges"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    for url in [
        &a_kid,
        &order_url,
        &authz,
        &chall,
        &finalize,
        &issued.cert_url,
    ] {
        assert_unguessable(url);
    }

    let b = Key::p256();
    let b_kid = ctx.account(&b);
    let csr = b64(&CertKey::generate().csr(None, &[Identifier::dns("pending.example.test")]));
    for (case, url, payload) in [
        ("A's account fetch", a_kid.clone(), None),
        (
            "A's account deactivation",
            a_kid.clone(),
            Some(json!({"status": "deactivated"})),
        ),
        ("A's orders list", format!("{a_kid}/orders"), None),
        ("A's order", order_url.clone(), None),
        ("A's authz", authz.clone(), None),
        (
            "A's authz deactivation",
            authz.clone(),
            Some(json!({"status": "deactivated"})),
        ),
        ("A's challenge", chall.clone(), None),
        ("A's challenge response", chall.clone(), Some(json!({}))),
        ("A's finalize", finalize.clone(), Some(json!({"csr": csr}))),
        ("A's certificate", issued.cert_url.clone(), None),
        (
            "A's certificate revocation",
            ctx.url("revokeCert"),
            Some(json!({"certificate": b64(&issued.chain_der[0])})),
        ),
    ] {
        assert_problem(
            &ctx.post(&b, &b_kid, &url, payload.as_ref()),
            403,
            "unauthorized",
            case,
        );
    }
    // A's resources are untouched.
    assert_eq!(owner.get_json(&a_kid)["status"], "valid");
    assert_eq!(owner.get_json(&authz)["status"], "pending");
    assert_eq!(owner.get_json(&chall)["status"], "pending");
    assert_eq!(owner.get_json(&order_url)["status"], "pending");
    assert!(
        owner
            .download(&issued.cert_url)
            .contains("BEGIN CERTIFICATE")
    );
}
