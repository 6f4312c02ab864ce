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
    kid: Option<String>,
    url: String,
    nonce: Option<String>,
    payload: Vec<u8>,
    _verified: SignatureVerified,
}

/// The flattened serialization, and nothing else: `deny_unknown_fields` rejects the unprotected
/// `header` and the general serialization's `signatures` (RFC 8555 §6.2; security catalog #13).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    protected: String,
    payload: String,
    signature: String,
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
struct Object<T>(T);

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

    pub(crate) fn alg(&self) -> Alg {
        self.alg
    }

    pub(crate) fn key(&self) -> &KeyRef {
        &self.key
    }

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
        let kid = match self.key {
            KeyRef::Kid(kid) => Some(kid),
            KeyRef::Jwk(_) => None,
        };
        Ok(VerifiedJws {
            key: key.clone(),
            kid,
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

    /// The `kid` header, if the request named its key by account URL.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether the request embedded its key as `jwk`.
    pub(crate) fn has_jwk(&self) -> bool {
        self.kid.is_none()
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
