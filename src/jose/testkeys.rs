//! Test-only signing keys and a flattened-JWS builder (RFC 7515 §7.2.2), so that the tests of
//! `jwk` and `jws` sign real requests with ring.
#![allow(clippy::unwrap_used)]

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::{Value, json};

use crate::jose::b64;

/// A 2048-bit RSA key generated once with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER` (then
/// `openssl pkcs8 -topk8 -nocrypt`, as openssl writes the bare RSAPrivateKey form);
/// `rsa2048.spki.der` is its `openssl pkey -pubout -outform DER`.
pub(crate) const RSA2048_PKCS8: &[u8] = include_bytes!("testdata/rsa2048.pk8.der");

/// RFC 8037 Appendix A.1: the Ed25519 private key `d` and public key `x`.
pub(crate) const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
pub(crate) const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

pub(crate) enum TestKey {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(Box<RsaKeyPair>),
}

impl TestKey {
    pub(crate) fn p256() -> TestKey {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        TestKey::P256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
        )
    }

    pub(crate) fn p384() -> TestKey {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        TestKey::P384(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
        )
    }

    /// The RFC 8037 Appendix A.1 key.
    pub(crate) fn ed25519() -> TestKey {
        let d = b64::decode(RFC8037_D).unwrap();
        let x = b64::decode(RFC8037_X).unwrap();
        TestKey::Ed25519(Ed25519KeyPair::from_seed_and_public_key(&d, &x).unwrap())
    }

    pub(crate) fn rsa() -> TestKey {
        TestKey::Rsa(Box::new(RsaKeyPair::from_pkcs8(RSA2048_PKCS8).unwrap()))
    }

    pub(crate) fn alg(&self) -> &'static str {
        match self {
            TestKey::P256(_) => "ES256",
            TestKey::P384(_) => "ES384",
            TestKey::Ed25519(_) => "EdDSA",
            TestKey::Rsa(_) => "RS256",
        }
    }

    /// The public JWK, written directly from ring's view of the key (not from `Jwk::to_json`).
    pub(crate) fn jwk(&self) -> Value {
        match self {
            TestKey::P256(k) | TestKey::P384(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64::encode(&point[1..1 + len]),
                    "y": b64::encode(&point[1 + len..]),
                })
            }
            TestKey::Ed25519(k) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64::encode(k.public_key().as_ref()),
            }),
            TestKey::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                json!({ "kty": "RSA", "n": b64::encode(&c.n), "e": b64::encode(&c.e) })
            }
        }
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            TestKey::P256(k) | TestKey::P384(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            TestKey::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            TestKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }
}

/// The usual `jwk`-style protected header for `key`.
pub(crate) fn jwk_header(key: &TestKey) -> Value {
    json!({
        "alg": key.alg(),
        "nonce": "bm9uY2U",
        "url": "https://ra.example/acme/new-account",
        "jwk": key.jwk(),
    })
}

/// The usual `kid`-style protected header for `key`.
pub(crate) fn kid_header(key: &TestKey) -> Value {
    json!({
        "alg": key.alg(),
        "nonce": "bm9uY2U",
        "url": "https://ra.example/acme/new-order",
        "kid": "https://ra.example/acme/acct/1",
    })
}

/// Signs `protected_json` (raw header text) and `payload` with `key`; returns the three encoded
/// parts of the flattened JWS.
pub(crate) fn sign_parts(key: &TestKey, protected_json: &str, payload: &[u8]) -> [String; 3] {
    let protected = b64::encode(protected_json.as_bytes());
    let payload = b64::encode(payload);
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    [protected, payload, b64::encode(&sig)]
}

/// A flattened JWS body signed by `key`.
pub(crate) fn flattened(key: &TestKey, header: &Value, payload: &[u8]) -> Vec<u8> {
    let [protected, payload, signature] = sign_parts(key, &header.to_string(), payload);
    json!({ "protected": protected, "payload": payload, "signature": signature })
        .to_string()
        .into_bytes()
}
