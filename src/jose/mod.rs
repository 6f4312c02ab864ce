//! JOSE for ACME request authentication: strict base64url (RFC 8555 §6.1), JSON Web Keys with
//! RFC 7638 thumbprints and SubjectPublicKeyInfo encoding, and flattened JWS parsing and
//! verification (RFC 8555 §6.2, RFC 7515, RFC 7518, RFC 8037).
//!
//! This module knows nothing of HTTP or storage: it turns request bytes into a [`ParsedJws`],
//! and only [`ParsedJws::verify`] turns that into a [`VerifiedJws`]. Nonce redemption, the `url`
//! comparison and the choice between `jwk` and `kid` per endpoint belong to `acme/`.
#![forbid(unsafe_code)]

use std::fmt;

pub(crate) mod b64;
mod ec;
mod jwk;
mod jws;
mod mac;
mod nested;
#[cfg(test)]
mod testkeys;
mod unique;

pub(crate) use jwk::Jwk;
// Not all of these are used until `acme/` is wired in.
#[allow(unused_imports)]
pub(crate) use jws::{KeyRef, ParsedJws, VerifiedJws};
pub(crate) use mac::{EabEnvelope, ParsedEab};
pub(crate) use nested::verify_key_change_inner;
pub(crate) use unique::has_unique_members;

/// The signature algorithms accepted on request JWS, as advertised in the `algorithms` field of a
/// `badSignatureAlgorithm` problem (RFC 8555 §6.2: "MUST include an 'algorithms' field").
pub(crate) const SUPPORTED_ALGS: &[&str] = &["ES256", "ES384", "EdDSA", "RS256"];

/// A JWS `alg` on the allow-list (RFC 8555 §6.2: never `none`, never a MAC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// ECDSA P-256 with SHA-256, signature `r || s` (RFC 7518 §3.4).
    ES256,
    /// ECDSA P-384 with SHA-384, signature `r || s` (RFC 7518 §3.4).
    ES384,
    /// Ed25519 (RFC 8037 §3.1).
    EdDSA,
}

impl Alg {
    /// Maps a header `alg` value to the allow-list; anything else is `BadSignatureAlgorithm`.
    pub(crate) fn from_name(name: &str) -> Result<Alg, JwsError> {
        match name {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            "ES384" => Ok(Alg::ES384),
            "EdDSA" => Ok(Alg::EdDSA),
            // The name is attacker-chosen and ends up in a problem detail: keep it short.
            other => Err(JwsError::BadSignatureAlgorithm(
                other.chars().take(32).collect(),
            )),
        }
    }

    /// The registered JWA name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// Why a JWS or a JWK was rejected; `acme::problem` maps each variant to a problem document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JwsError {
    /// The envelope, the JSON, the base64url or a header rule is broken (→ malformed).
    Malformed(&'static str),
    /// `alg` is not on the allow-list: none, HS*, RS512, PS256, ES512, … (→ badSignatureAlgorithm).
    BadSignatureAlgorithm(String),
    /// The key is weak, invalid or of an unsupported type, curve or size (→ badPublicKey).
    BadPublicKey(&'static str),
    /// `alg` does not fit the key type, or the JWK's own `alg` contradicts it (→ malformed).
    AlgKeyMismatch,
    /// The signature has the wrong length or does not verify (→ malformed).
    BadSignature,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwsError::Malformed(why) => write!(f, "malformed JWS: {why}"),
            JwsError::BadSignatureAlgorithm(alg) => {
                write!(f, "unsupported JWS algorithm {alg:?}")
            }
            JwsError::BadPublicKey(why) => write!(f, "bad public key: {why}"),
            JwsError::AlgKeyMismatch => f.write_str("JWS algorithm does not match the key type"),
            JwsError::BadSignature => f.write_str("JWS verification error"),
        }
    }
}

impl std::error::Error for JwsError {}
