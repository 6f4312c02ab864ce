//! Flattened JWS JSON serialization (RFC 7515 §7.2.2) as RFC 8555 §6.2 restricts it: parsing the
//! envelope and the protected header, and verifying the signature.
//!
//! The order of checks follows Boulder (`wfe2/verify.go`): envelope → protected header →
//! `alg` allow-list → header rules → key → (in `verify`) algorithm/key match → signature.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};

use crate::jose::jwk::{RawJwk, non_null, present};
use crate::jose::{Alg, Jwk, JwsError, b64};

/// Upper bound of a request body (the HTTP layer already caps bodies at 64 KiB).
const MAX_BODY: usize = 64 * 1024;
/// Upper bound of the encoded protected header (an RSA-4096 `jwk` header is about 1.6 KiB).
const MAX_PROTECTED: usize = 8 * 1024;
/// Upper bound of the encoded signature (an RSA-4096 signature is 683 characters).
const MAX_SIGNATURE: usize = 1024;

/// How the request names its key (RFC 8555 §6.2: exactly one of `jwk` and `kid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// An embedded, already validated public key (newAccount, revokeCert by certificate key).
    Jwk(Jwk),
    /// An account URL, to be looked up by the caller.
    Kid(String),
}

/// A flattened JWS whose envelope and protected header obey RFC 8555 §6.2, and whose embedded
/// `jwk` (if any) is a valid public key; the signature is NOT yet verified.
#[derive(Debug)]
pub(crate) struct ParsedJws {
    alg: Alg,
    key: KeyRef,
    url: String,
    nonce: Option<String>,
    /// ASCII(BASE64URL(protected) || '.' || BASE64URL(payload)) (RFC 7515 §5.2 step 8).
    signing_input: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Zero-size proof that a signature check succeeded; only this file can create one.
#[derive(Debug)]
struct SignatureVerified(());

/// A JWS whose signature verified with `key` under an allow-listed `alg` matching the key type.
/// Only [`ParsedJws::verify`] builds one.
#[derive(Debug)]
pub(crate) struct VerifiedJws {
    key: Jwk,
    url: String,
    nonce: Option<String>,
    payload: Vec<u8>,
    _verified: SignatureVerified,
}

/// The flattened serialization, and nothing else: `deny_unknown_fields` rejects the unprotected
/// `header` and the general serialization's `signatures` (RFC 8555 §6.2; security catalog #13).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Envelope {
    pub(super) protected: String,
    pub(super) payload: String,
    pub(super) signature: String,
}

/// The protected header (RFC 7515 §4.1, RFC 8555 §6.2–§6.5), typed so that a duplicate member
/// is an error rather than "last one wins" (RFC 7515 §5.2 step 4; security catalog #15).
/// Unknown members are ignored unless listed below (RFC 7515 §4).
#[derive(Deserialize)]
struct ProtectedHeader {
    alg: String,
    #[serde(default, deserialize_with = "non_null")]
    nonce: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    jwk: Option<Object<RawJwk>>,
    #[serde(default, deserialize_with = "non_null")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// A `T` that must be written as a JSON object: serde's derived structs also accept a JSON array
/// (fields by position), which no JOSE structure allows.
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(ObjectVisitor(PhantomData))
    }
}

impl ParsedJws {
    /// Parses a request body as a flattened JWS and checks every rule that does not need the
    /// account's key.
    pub(crate) fn parse(body: &[u8]) -> Result<ParsedJws, JwsError> {
        if body.len() > MAX_BODY {
            return Err(JwsError::Malformed("request body too large"));
        }
        // RFC 8555 §6.2: "a JSON Web Signature object" in "the Flattened JSON Serialization".
        // A compact serialization, trailing bytes, missing or extra members all fail here.
        let Object(env) = serde_json::from_slice::<Object<Envelope>>(body)
            .map_err(|_| JwsError::Malformed("request body is not a flattened JWS"))?;
        if env.protected.len() > MAX_PROTECTED {
            return Err(JwsError::Malformed("protected header too large"));
        }
        if env.signature.len() > MAX_SIGNATURE {
            return Err(JwsError::Malformed("signature too large"));
        }

        let header_json = b64::decode(&env.protected)?;
        let Object(header) = serde_json::from_slice::<Object<ProtectedHeader>>(&header_json)
            .map_err(|_| JwsError::Malformed("invalid protected header"))?;
        // RFC 7515 §5.2 step 4: a repeated Header Parameter name (one we ignore, or one inside
        // the `jwk`) makes the JWS invalid (security catalog #15).
        if !super::has_unique_members(&header_json) {
            return Err(JwsError::Malformed(
                "protected header repeats a member name",
            ));
        }

        // RFC 8555 §6.2: "MUST NOT be 'none'" nor "a MAC algorithm" (security catalog #16, #17).
        let alg = Alg::from_name(&header.alg)?;

        // RFC 7515 §4.1.11: we understand no extension, so any "crit" makes the JWS invalid;
        // RFC 7797 §6: the unencoded payload option needs "crit" and is not allowed here
        // (security catalog #24).
        if header.crit {
            return Err(JwsError::Malformed(
                "crit header parameter is not supported",
            ));
        }
        if header.b64 {
            return Err(JwsError::Malformed("b64 header parameter is not supported"));
        }
        // Security catalog #21: never fetch keys or certificates the client points to.
        if header.jku || header.x5u || header.x5c {
            return Err(JwsError::Malformed(
                "jku/x5u/x5c header parameters are not supported",
            ));
        }
        // RFC 8555 §6.4: "The 'url' header parameter ... MUST be present".
        let url = header
            .url
            .ok_or(JwsError::Malformed("url header parameter missing"))?;
        // RFC 8555 §6.2: "The 'jwk' and 'kid' fields are mutually exclusive. Servers MUST
        // reject requests that contain both." (security catalog #19).
        let key = match (header.jwk, header.kid) {
            (Some(Object(raw)), None) => KeyRef::Jwk(Jwk::from_raw(&raw)?),
            (None, Some(kid)) if !kid.is_empty() => KeyRef::Kid(kid),
            (None, Some(_)) => return Err(JwsError::Malformed("empty kid")),
            (Some(_), Some(_)) => return Err(JwsError::Malformed("both jwk and kid present")),
            (None, None) => return Err(JwsError::Malformed("neither jwk nor kid present")),
        };

        // RFC 8555 §6.3: the payload is empty for POST-as-GET, so only the signature must not be.
        let payload = b64::decode(&env.payload)?;
        let signature = b64::decode(&env.signature)?;
        if signature.is_empty() {
            return Err(JwsError::Malformed("empty signature"));
        }
        let signing_input = [env.protected.as_bytes(), b".", env.payload.as_bytes()].concat();
        Ok(ParsedJws {
            alg,
            key,
            url,
            nonce: header.nonce,
            signing_input,
            payload,
            signature,
        })
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn alg(&self) -> Alg {
        self.alg
    }

    pub(crate) fn key(&self) -> &KeyRef {
        &self.key
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// Verifies the signature with `key` (the embedded `jwk`, or the account key that `kid`
    /// names): the algorithm must match the key type, and the signature must be valid.
    pub(crate) fn verify(self, key: &Jwk) -> Result<VerifiedJws, JwsError> {
        key.verify(self.alg, &self.signing_input, &self.signature)?;
        Ok(VerifiedJws {
            key: key.clone(),
            url: self.url,
            nonce: self.nonce,
            payload: self.payload,
            _verified: SignatureVerified(()),
        })
    }
}

impl VerifiedJws {
    /// The key the signature verified with.
    pub(crate) fn key(&self) -> &Jwk {
        &self.key
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// The decoded payload (empty for POST-as-GET).
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jose::testkeys::{TestKey, flattened, jwk_header, kid_header, sign_parts};

    /// A flattened body from raw protected-header text, signed by `key`.
    fn raw_body(key: &TestKey, protected_json: &str, payload: &[u8]) -> Vec<u8> {
        let [p, pl, s] = sign_parts(key, protected_json, payload);
        json!({"protected": p, "payload": pl, "signature": s})
            .to_string()
            .into_bytes()
    }

    fn parts(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    fn malformed(body: &[u8]) -> &'static str {
        match ParsedJws::parse(body) {
            Err(JwsError::Malformed(why)) => why,
            other => panic!(
                "expected Malformed for {}, got {other:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }

    fn with(mut v: Value, name: &str, value: Value) -> Value {
        v.as_object_mut().unwrap().insert(name.to_owned(), value);
        v
    }

    fn without(mut v: Value, name: &str) -> Value {
        v.as_object_mut().unwrap().remove(name);
        v
    }

    // RFC 8555 §6.2: a `jwk` request signed with each supported algorithm parses and verifies.
    #[test]
    fn rfc8555_6_2_jwk_requests_verify() {
        for key in [
            TestKey::p256(),
            TestKey::p384(),
            TestKey::ed25519(),
            TestKey::rsa(),
        ] {
            let body = flattened(&key, &jwk_header(&key), br#"{"termsOfServiceAgreed":true}"#);
            let parsed = ParsedJws::parse(&body).unwrap();
            assert_eq!(parsed.alg().name(), key.alg());
            assert_eq!(parsed.url(), "https://ra.example/acme/new-account");
            assert_eq!(parsed.nonce(), Some("bm9uY2U"));
            let KeyRef::Jwk(jwk) = parsed.key().clone() else {
                panic!("expected an embedded jwk")
            };
            let verified = parsed.verify(&jwk).unwrap();
            assert_eq!(verified.key(), &jwk);
            assert_eq!(verified.url(), "https://ra.example/acme/new-account");
            assert_eq!(verified.nonce(), Some("bm9uY2U"));
            assert_eq!(verified.payload(), br#"{"termsOfServiceAgreed":true}"#);
        }
    }

    // RFC 8555 §6.2 and §6.3: a `kid` request, POST-as-GET (empty payload), verified with the
    // stored account key; another key does not verify it.
    #[test]
    fn rfc8555_6_3_kid_post_as_get_verifies() {
        let key = TestKey::p256();
        let stored = Jwk::from_json(&key.jwk()).unwrap();
        let body = flattened(&key, &kid_header(&key), b"");
        let parsed = ParsedJws::parse(&body).unwrap();
        assert_eq!(
            parsed.key(),
            &KeyRef::Kid("https://ra.example/acme/acct/1".to_owned())
        );
        let verified = parsed.verify(&stored).unwrap();
        assert_eq!(verified.payload(), b"");

        let other = Jwk::from_json(&TestKey::p256().jwk()).unwrap();
        let parsed = ParsedJws::parse(&body).unwrap();
        assert_eq!(parsed.verify(&other).err(), Some(JwsError::BadSignature));
    }

    // Security catalog #13: compact serialization, JSON that is not an object, trailing bytes.
    #[test]
    fn catalog_13_not_flattened_json() {
        let key = TestKey::p256();
        let body = flattened(&key, &kid_header(&key), b"{}");
        let p = parts(&body);
        let compact = format!(
            "{}.{}.{}",
            p["protected"].as_str().unwrap(),
            p["payload"].as_str().unwrap(),
            p["signature"].as_str().unwrap()
        );
        malformed(compact.as_bytes());
        malformed(format!("\"{compact}\"").as_bytes());
        malformed(
            json!([p["protected"], p["payload"], p["signature"]])
                .to_string()
                .as_bytes(),
        );
        malformed(&[&body[..], b"{}"].concat());
        malformed(&[&body[..], b" x"].concat());
        malformed(b"");
        // Trailing whitespace is still one JSON text.
        assert!(ParsedJws::parse(&[&body[..], b"\r\n"].concat()).is_ok());
    }

    // Security catalog #13, RFC 8555 §6.2: general serialization, unprotected header, missing
    // (detached) payload, empty signature, unknown or duplicate envelope members.
    #[test]
    fn catalog_13_envelope_members() {
        let key = TestKey::p256();
        let p = parts(&flattened(&key, &kid_header(&key), b"{}"));
        let general = json!({
            "payload": p["payload"],
            "signatures": [{"protected": p["protected"], "signature": p["signature"]}],
        });
        malformed(general.to_string().as_bytes());
        let header = with(p.clone(), "header", json!({"alg": "ES256"}));
        malformed(header.to_string().as_bytes());
        let extra = with(p.clone(), "signatures", json!([]));
        malformed(extra.to_string().as_bytes());
        malformed(without(p.clone(), "payload").to_string().as_bytes());
        malformed(without(p.clone(), "signature").to_string().as_bytes());
        malformed(without(p.clone(), "protected").to_string().as_bytes());
        let empty_sig = with(p.clone(), "signature", json!(""));
        assert_eq!(
            malformed(empty_sig.to_string().as_bytes()),
            "empty signature"
        );
        let null_payload = with(p.clone(), "payload", json!(null));
        malformed(null_payload.to_string().as_bytes());
        let dup = format!(
            r#"{{"protected":{},"payload":{},"signature":{},"protected":{}}}"#,
            p["protected"], p["payload"], p["signature"], p["protected"]
        );
        malformed(dup.as_bytes());
    }

    // Security catalog #14, RFC 8555 §6.1: '=' padding, '+'/'/' and whitespace in any part.
    #[test]
    fn catalog_14_non_canonical_base64url() {
        let key = TestKey::p256();
        // This payload encodes to "-_8", which uses both URL-safe characters.
        let p = parts(&flattened(&key, &kid_header(&key), &[0xfb, 0xff]));
        assert_eq!(p["payload"], "-_8");
        assert!(ParsedJws::parse(p.to_string().as_bytes()).is_ok());
        for member in ["protected", "payload", "signature"] {
            let v = p[member].as_str().unwrap();
            for bad in [
                format!("{v}="),
                format!("{v}=="),
                format!(" {v}"),
                format!("{v}\n"),
            ] {
                let body = with(p.clone(), member, json!(bad));
                malformed(body.to_string().as_bytes());
            }
        }
        let body = with(p.clone(), "payload", json!("+/8"));
        malformed(body.to_string().as_bytes());
    }

    // Security catalog #15, RFC 7515 §5.2: duplicate protected-header members are rejected,
    // never resolved by "last one wins".
    #[test]
    fn catalog_15_duplicate_header_members() {
        let key = TestKey::p256();
        let jwk = key.jwk().to_string();
        let url = r#""url":"https://ra.example/acme/new-order""#;
        let kid = r#""kid":"https://ra.example/acme/acct/1""#;
        let ok = format!(r#"{{"alg":"ES256",{url},{kid}}}"#);
        assert!(ParsedJws::parse(&raw_body(&key, &ok, b"")).is_ok());
        for header in [
            format!(r#"{{"alg":"ES256","alg":"ES256",{url},{kid}}}"#),
            format!(r#"{{"alg":"none","alg":"ES256",{url},{kid}}}"#),
            format!(r#"{{"alg":"ES256",{url},{url},{kid}}}"#),
            format!(r#"{{"alg":"ES256",{url},{kid},{kid}}}"#),
            format!(r#"{{"alg":"ES256","nonce":"a","nonce":"b",{url},{kid}}}"#),
            format!(r#"{{"alg":"ES256",{url},"jwk":{jwk},"jwk":{jwk}}}"#),
        ] {
            malformed(&raw_body(&key, &header, b""));
        }
        // A duplicate member inside the embedded JWK.
        let o = key.jwk();
        let dup_x = format!(
            r#"{{"alg":"ES256",{url},"jwk":{{"kty":"EC","crv":"P-256","x":{},"x":{},"y":{}}}}}"#,
            o["x"], o["x"], o["y"]
        );
        malformed(&raw_body(&key, &dup_x, b""));
        // A header (or an embedded JWK) written as a JSON array is not an object.
        malformed(&raw_body(
            &key,
            r#"["ES256",null,"https://ra.example/"]"#,
            b"",
        ));
        let jwk_array = format!(
            r#"{{"alg":"ES256",{url},"jwk":["EC","P-256",{},{}]}}"#,
            o["x"], o["y"]
        );
        malformed(&raw_body(&key, &jwk_array, b""));
        malformed(&raw_body(&key, "not json", b""));
    }

    // Security catalog #16, RFC 8555 §6.2: "none" and MAC algorithms.
    #[test]
    fn catalog_16_alg_none_and_mac() {
        let key = TestKey::p256();
        for alg in ["none", "HS256", "HS384", "HS512"] {
            let body = flattened(&key, &with(kid_header(&key), "alg", json!(alg)), b"");
            assert_eq!(
                ParsedJws::parse(&body).err(),
                Some(JwsError::BadSignatureAlgorithm(alg.to_owned()))
            );
        }
        malformed(&flattened(&key, &without(kid_header(&key), "alg"), b""));
        malformed(&flattened(
            &key,
            &with(kid_header(&key), "alg", json!(null)),
            b"",
        ));
    }

    // Security catalog #17, RFC 8555 §6.2: well-formed but unsupported algorithms; an EdDSA key
    // on an unsupported curve is badPublicKey.
    #[test]
    fn catalog_17_unsupported_alg_and_curve() {
        let key = TestKey::rsa();
        for alg in [
            "RS512", "RS384", "PS256", "ES512", "ES256K", "Ed25519", "es256",
        ] {
            let body = flattened(&key, &with(jwk_header(&key), "alg", json!(alg)), b"");
            assert_eq!(
                ParsedJws::parse(&body).err(),
                Some(JwsError::BadSignatureAlgorithm(alg.to_owned()))
            );
        }
        let long = "X".repeat(1000);
        let body = flattened(&key, &with(kid_header(&key), "alg", json!(long)), b"");
        assert_eq!(
            ParsedJws::parse(&body).err(),
            Some(JwsError::BadSignatureAlgorithm("X".repeat(32)))
        );
        let ed448 = json!({"kty": "OKP", "crv": "Ed448", "x": b64::encode(&[9; 57])});
        let body = flattened(&key, &with(jwk_header(&key), "jwk", ed448), b"");
        assert!(matches!(
            ParsedJws::parse(&body),
            Err(JwsError::BadPublicKey(_))
        ));
    }

    // Security catalog #18: ES256 with a P-384 or an Ed25519 key; a JWK `alg` contradicting the
    // header's.
    #[test]
    fn catalog_18_alg_key_mismatch() {
        for key in [TestKey::p384(), TestKey::ed25519(), TestKey::rsa()] {
            let header = with(jwk_header(&key), "alg", json!("ES256"));
            let parsed = ParsedJws::parse(&flattened(&key, &header, b"")).unwrap();
            let KeyRef::Jwk(jwk) = parsed.key().clone() else {
                panic!()
            };
            assert_eq!(parsed.verify(&jwk).err(), Some(JwsError::AlgKeyMismatch));
        }
        let key = TestKey::p256();
        let header = with(
            jwk_header(&key),
            "jwk",
            with(key.jwk(), "alg", json!("ES384")),
        );
        assert_eq!(
            ParsedJws::parse(&flattened(&key, &header, b"")).err(),
            Some(JwsError::AlgKeyMismatch)
        );
    }

    // Security catalog #19, RFC 8555 §6.2: "Servers MUST reject requests that contain both";
    // exactly one of `jwk` and `kid`.
    #[test]
    fn catalog_19_jwk_and_kid() {
        let key = TestKey::p256();
        let both = with(
            jwk_header(&key),
            "kid",
            json!("https://ra.example/acme/acct/1"),
        );
        assert_eq!(
            malformed(&flattened(&key, &both, b"")),
            "both jwk and kid present"
        );
        let neither = without(kid_header(&key), "kid");
        assert_eq!(
            malformed(&flattened(&key, &neither, b"")),
            "neither jwk nor kid present"
        );
        let empty = with(kid_header(&key), "kid", json!(""));
        malformed(&flattened(&key, &empty, b""));
        let null_kid = with(jwk_header(&key), "kid", json!(null));
        malformed(&flattened(&key, &null_kid, b""));
        let numeric = with(kid_header(&key), "kid", json!(1));
        malformed(&flattened(&key, &numeric, b""));
    }

    // Security catalog #21: an embedded JWK with a private member; key indirections in the header.
    #[test]
    fn catalog_21_private_jwk_and_indirections() {
        let key = TestKey::p256();
        let private = with(jwk_header(&key), "jwk", with(key.jwk(), "d", json!("AAAA")));
        assert!(matches!(
            ParsedJws::parse(&flattened(&key, &private, b"")),
            Err(JwsError::BadPublicKey(_))
        ));
        for member in ["jku", "x5u", "x5c"] {
            let header = with(kid_header(&key), member, json!("https://evil.example/"));
            malformed(&flattened(&key, &header, b""));
        }
    }

    // Security catalog #22, RFC 8555 §6.2: a 31-byte x and an off-curve point are badPublicKey.
    #[test]
    fn catalog_22_invalid_embedded_keys() {
        let key = TestKey::p256();
        let jwk = key.jwk();
        let x = b64::decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = b64::decode(jwk["y"].as_str().unwrap()).unwrap();
        let short = with(jwk.clone(), "x", json!(b64::encode(&x[1..])));
        let mut off = y.clone();
        off[0] ^= 1;
        let off = with(jwk.clone(), "y", json!(b64::encode(&off)));
        for bad in [short, off] {
            let header = with(jwk_header(&key), "jwk", bad);
            assert!(matches!(
                ParsedJws::parse(&flattened(&key, &header, b"")),
                Err(JwsError::BadPublicKey(_))
            ));
        }
    }

    // Security catalog #23, RFC 7518 §3.4: 63-byte and r = s = 0 ES256 signatures, a flipped bit,
    // and a signature moved onto another protected header.
    #[test]
    fn catalog_23_bad_signatures() {
        let key = TestKey::p256();
        let jwk = Jwk::from_json(&key.jwk()).unwrap();
        let p = parts(&flattened(&key, &kid_header(&key), b"{}"));
        let sig = b64::decode(p["signature"].as_str().unwrap()).unwrap();
        let mut flipped = sig.clone();
        flipped[40] ^= 0x20;
        for bad in [sig[..63].to_vec(), vec![0u8; 64], flipped] {
            let body = with(p.clone(), "signature", json!(b64::encode(&bad)));
            let parsed = ParsedJws::parse(body.to_string().as_bytes()).unwrap();
            assert_eq!(parsed.verify(&jwk).err(), Some(JwsError::BadSignature));
        }
        let other_header = with(
            kid_header(&key),
            "url",
            json!("https://ra.example/acme/revoke-cert"),
        );
        let q = parts(&flattened(&key, &other_header, b"{}"));
        let moved = with(q, "signature", p["signature"].clone());
        let parsed = ParsedJws::parse(moved.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.verify(&jwk).err(), Some(JwsError::BadSignature));
        // The payload is covered too.
        let swapped = with(p.clone(), "payload", json!(b64::encode(b"{\"a\":1}")));
        let parsed = ParsedJws::parse(swapped.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.verify(&jwk).err(), Some(JwsError::BadSignature));
    }

    // Security catalog #24, RFC 7515 §4.1.11 and RFC 7797 §6: `crit` (any value) and `b64`.
    #[test]
    fn catalog_24_crit_and_b64() {
        let key = TestKey::p256();
        for (name, value) in [
            ("crit", json!(["b64"])),
            ("crit", json!([])),
            ("crit", json!(null)),
            ("b64", json!(false)),
            ("b64", json!(true)),
        ] {
            let header = with(kid_header(&key), name, value);
            malformed(&flattened(&key, &header, b""));
        }
        let both = with(
            with(kid_header(&key), "b64", json!(false)),
            "crit",
            json!(["b64"]),
        );
        malformed(&flattened(&key, &both, b"{}"));
    }

    // RFC 8555 §6.4: "url" MUST be present (and be a string).
    #[test]
    fn rfc8555_6_4_url_required() {
        let key = TestKey::p256();
        assert_eq!(
            malformed(&flattened(&key, &without(kid_header(&key), "url"), b"")),
            "url header parameter missing"
        );
        malformed(&flattened(
            &key,
            &with(kid_header(&key), "url", json!(null)),
            b"",
        ));
        malformed(&flattened(
            &key,
            &with(kid_header(&key), "url", json!(["x"])),
            b"",
        ));
        // The nonce is optional here (its absence is badNonce, decided by acme/).
        let parsed = ParsedJws::parse(&flattened(&key, &without(kid_header(&key), "nonce"), b""));
        assert_eq!(parsed.unwrap().nonce(), None);
    }

    // Size caps on the whole body, the protected header and the signature.
    #[test]
    fn size_caps() {
        let key = TestKey::p256();
        let big = "a".repeat(MAX_PROTECTED);
        let header = with(kid_header(&key), "pad", json!(big));
        assert_eq!(
            malformed(&flattened(&key, &header, b"")),
            "protected header too large"
        );
        let p = parts(&flattened(&key, &kid_header(&key), b""));
        let long_sig = with(p.clone(), "signature", json!("A".repeat(MAX_SIGNATURE + 4)));
        assert_eq!(
            malformed(long_sig.to_string().as_bytes()),
            "signature too large"
        );
        let huge = flattened(&key, &kid_header(&key), &vec![b'x'; MAX_BODY]);
        assert_eq!(malformed(&huge), "request body too large");
        // Unknown header members are ignored (RFC 7515 §4) when small.
        let header = with(kid_header(&key), "typ", json!("JOSE+JSON"));
        assert!(ParsedJws::parse(&flattened(&key, &header, b"")).is_ok());
    }
}
