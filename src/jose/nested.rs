//! The inner JWS of a key rollover (RFC 8555 §7.3.5): a flattened JWS carried as the payload of
//! the outer request, signed by the NEW key, which it embeds as `jwk`.
//!
//! Here, and only here, a JWS is verified with the key it carries itself: the inner signature is
//! the proof that the client holds the new key (the outer one, checked by `acme/request`, proves
//! it holds the account). The rules of RFC 8555 §7.3.5 on the inner header are checked before
//! the signature; the `url` and payload rules need the outer request and belong to `acme/`.

use crate::jose::{Jwk, JwsError, KeyRef, ParsedJws, VerifiedJws};

/// Parses and verifies the inner JWS of a keyChange request (security catalog #34).
pub(crate) fn verify_key_change_inner(bytes: &[u8]) -> Result<VerifiedJws, JwsError> {
    let parsed = ParsedJws::parse(bytes)?;
    // RFC 8555 §7.3.5: the inner JWS "MUST have a 'jwk' header parameter, containing the public
    // key of the new key pair", "MUST have the same 'url' header parameter as the outer JWS"
    // (checked by the caller, which knows the outer one) and "MUST omit the 'nonce' header
    // parameter" (security catalog #34).
    let key: Jwk = match parsed.key() {
        KeyRef::Jwk(jwk) => jwk.clone(),
        KeyRef::Kid(_) => {
            return Err(JwsError::Malformed(
                "the inner keyChange JWS must carry the new key as jwk",
            ));
        }
    };
    if parsed.nonce().is_some() {
        return Err(JwsError::Malformed(
            "the inner keyChange JWS must not carry a nonce",
        ));
    }
    parsed.verify(&key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jose::testkeys::{TestKey, flattened};

    const URL: &str = "https://ra.example/acme/key-change";

    // RFC 8555 §7.3.5: a well-formed inner JWS verifies with its own jwk.
    #[test]
    fn rfc8555_7_3_5_inner_jws_verifies() {
        let new = TestKey::p256();
        let header = json!({"alg": new.alg(), "jwk": new.jwk(), "url": URL});
        let body = flattened(&new, &header, br#"{"account":"a","oldKey":{}}"#);
        let v = verify_key_change_inner(&body).unwrap();
        assert_eq!(v.key(), &Jwk::from_json(&new.jwk()).unwrap());
        assert_eq!(v.url(), URL);
    }

    // Security catalog #34: no jwk (kid instead), a nonce, or a signature by another key.
    #[test]
    fn rfc8555_7_3_5_inner_jws_refusals() {
        let new = TestKey::p256();
        let kid = json!({"alg": new.alg(), "kid": "https://ra.example/acme/account/x", "url": URL});
        assert!(verify_key_change_inner(&flattened(&new, &kid, b"{}")).is_err());
        let nonce = json!({"alg": new.alg(), "jwk": new.jwk(), "url": URL, "nonce": "bm9uY2U"});
        assert!(verify_key_change_inner(&flattened(&new, &nonce, b"{}")).is_err());
        let other = TestKey::p256();
        let wrong = json!({"alg": new.alg(), "jwk": other.jwk(), "url": URL});
        assert_eq!(
            verify_key_change_inner(&flattened(&new, &wrong, b"{}")).err(),
            Some(JwsError::BadSignature)
        );
    }
}
