//! The one place a MAC-signed JWS is accepted: the External Account Binding of RFC 8555 §7.3.4,
//! a flattened JWS inside the newAccount payload, signed with HMAC (RFC 7518 §3.2: HS256, HS384,
//! HS512) under a key the operator handed out, whose payload is the new account's public key.
//!
//! Request JWS never take a MAC (RFC 8555 §6.2; [`crate::jose::Alg`] has no HS* variant): this
//! type is separate so no request can reach HMAC verification by accident. The MAC is checked
//! with `ring::hmac::verify`, which compares in constant time (security catalog #33).

use serde::{Deserialize, Deserializer};

use crate::jose::jwk::{non_null, present};
use crate::jose::jws::{Envelope, Object};
use crate::jose::{Jwk, JwsError, b64};

/// Upper bound of the encoded protected header of an EAB JWS.
const MAX_PROTECTED: usize = 2 * 1024;
/// Upper bound of the encoded payload (an RSA-4096 JWK is about 0.8 KiB).
const MAX_PAYLOAD: usize = 4 * 1024;
/// Upper bound of the encoded signature (HS512: 86 characters).
const MAX_SIGNATURE: usize = 128;

/// The HMAC algorithms of RFC 7518 §3.2 (RFC 8555 §7.3.4: "MUST indicate a MAC-based algorithm").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacAlg {
    HS256,
    HS384,
    HS512,
}

impl MacAlg {
    fn from_name(name: &str) -> Result<MacAlg, JwsError> {
        match name {
            "HS256" => Ok(MacAlg::HS256),
            "HS384" => Ok(MacAlg::HS384),
            "HS512" => Ok(MacAlg::HS512),
            other => Err(JwsError::BadSignatureAlgorithm(
                other.chars().take(32).collect(),
            )),
        }
    }

    fn ring(self) -> ring::hmac::Algorithm {
        match self {
            MacAlg::HS256 => ring::hmac::HMAC_SHA256,
            MacAlg::HS384 => ring::hmac::HMAC_SHA384,
            MacAlg::HS512 => ring::hmac::HMAC_SHA512,
        }
    }
}

/// The `externalAccountBinding` member as it arrives: a flattened JWS JSON object (a typed
/// struct, so duplicate or unknown members are refused, security catalog #13, #15).
pub(crate) struct EabEnvelope(Envelope);

impl<'de> Deserialize<'de> for EabEnvelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Object::<Envelope>::deserialize(d).map(|Object(e)| EabEnvelope(e))
    }
}

/// The protected header of an EAB JWS (RFC 8555 §7.3.4): `alg`, `kid`, `url`, and no `nonce`.
#[derive(Deserialize)]
struct MacHeader {
    alg: String,
    #[serde(default, deserialize_with = "non_null")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    nonce: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

/// An EAB JWS whose structure obeys RFC 8555 §7.3.4; its MAC is NOT yet verified.
#[derive(Debug)]
pub(crate) struct ParsedEab {
    alg: MacAlg,
    kid: String,
    url: String,
    signing_input: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Zero-size proof that the MAC verified; only this file creates one.
#[derive(Debug)]
struct MacVerified(());

/// An EAB whose MAC verified under the operator's key and whose payload is a valid public JWK.
#[derive(Debug)]
pub(crate) struct VerifiedEab {
    kid: String,
    url: String,
    key: Jwk,
    _verified: MacVerified,
}

impl ParsedEab {
    /// Checks the envelope and the header rules of RFC 8555 §7.3.4.
    pub(crate) fn parse(env: EabEnvelope) -> Result<ParsedEab, JwsError> {
        let EabEnvelope(env) = env;
        if env.protected.len() > MAX_PROTECTED
            || env.payload.len() > MAX_PAYLOAD
            || env.signature.len() > MAX_SIGNATURE
        {
            return Err(JwsError::Malformed("externalAccountBinding too large"));
        }
        let header_json = b64::decode(&env.protected)?;
        let Object(header) = serde_json::from_slice::<Object<MacHeader>>(&header_json)
            .map_err(|_| JwsError::Malformed("invalid externalAccountBinding header"))?;
        // RFC 7515 §5.2 step 4 (security catalog #15): no repeated header member.
        if !super::has_unique_members(&header_json) {
            return Err(JwsError::Malformed(
                "externalAccountBinding header repeats a member name",
            ));
        }
        // RFC 8555 §7.3.4: "The 'alg' field MUST indicate a MAC-based algorithm".
        let alg = MacAlg::from_name(&header.alg)?;
        // RFC 8555 §7.3.4: "The 'nonce' field MUST NOT be present".
        if header.nonce {
            return Err(JwsError::Malformed(
                "externalAccountBinding must not carry a nonce",
            ));
        }
        if header.jwk {
            return Err(JwsError::Malformed(
                "externalAccountBinding must name its key with kid, not jwk",
            ));
        }
        if header.crit || header.b64 {
            return Err(JwsError::Malformed(
                "crit/b64 are not supported in externalAccountBinding",
            ));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(JwsError::Malformed("externalAccountBinding needs a kid"))?;
        let url = header
            .url
            .ok_or(JwsError::Malformed("externalAccountBinding needs a url"))?;
        let payload = b64::decode(&env.payload)?;
        let signature = b64::decode(&env.signature)?;
        if signature.is_empty() {
            return Err(JwsError::Malformed("empty externalAccountBinding MAC"));
        }
        let signing_input = [env.protected.as_bytes(), b".", env.payload.as_bytes()].concat();
        Ok(ParsedEab {
            alg,
            kid,
            url,
            signing_input,
            payload,
            signature,
        })
    }

    /// The EAB key id the operator issued (RFC 8555 §7.3.4 "kid").
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies the MAC with `hmac_key` in constant time, then parses the payload as a public
    /// JWK (the account key the binding vouches for).
    pub(crate) fn verify(self, hmac_key: &[u8]) -> Result<VerifiedEab, JwsError> {
        let key = ring::hmac::Key::new(self.alg.ring(), hmac_key);
        ring::hmac::verify(&key, &self.signing_input, &self.signature)
            .map_err(|_| JwsError::BadSignature)?;
        let value: serde_json::Value = serde_json::from_slice(&self.payload)
            .map_err(|_| JwsError::Malformed("externalAccountBinding payload is not JSON"))?;
        if !super::has_unique_members(&self.payload) {
            return Err(JwsError::Malformed(
                "externalAccountBinding payload repeats a member name",
            ));
        }
        let jwk = Jwk::from_json(&value)?;
        Ok(VerifiedEab {
            kid: self.kid,
            url: self.url,
            key: jwk,
            _verified: MacVerified(()),
        })
    }
}

impl VerifiedEab {
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The account key the binding names (compare it with the outer `jwk`, RFC 8555 §7.3.4).
    pub(crate) fn key(&self) -> &Jwk {
        &self.key
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::jose::testkeys::TestKey;

    const HMAC_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn eab(alg: &str, header: Value, payload: &[u8], key: &[u8]) -> EabEnvelope {
        let mut h = header;
        h["alg"] = json!(alg);
        let p = b64::encode(h.to_string().as_bytes());
        let pl = b64::encode(payload);
        let ring_alg = match alg {
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ => ring::hmac::HMAC_SHA256,
        };
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring_alg, key),
            format!("{p}.{pl}").as_bytes(),
        );
        let v = json!({"protected": p, "payload": pl, "signature": b64::encode(tag.as_ref())});
        serde_json::from_value(v).unwrap()
    }

    fn header() -> Value {
        json!({"kid": "kid-1", "url": "https://ra.example/acme/new-account"})
    }

    // RFC 8555 §7.3.4: an EAB MACed with each HMAC algorithm verifies and yields the payload key.
    #[test]
    fn rfc8555_7_3_4_eab_verifies() {
        let account = TestKey::p256();
        let jwk_json = account.jwk().to_string();
        for alg in ["HS256", "HS384", "HS512"] {
            let parsed =
                ParsedEab::parse(eab(alg, header(), jwk_json.as_bytes(), HMAC_KEY)).unwrap();
            assert_eq!(parsed.kid(), "kid-1");
            let v = parsed.verify(HMAC_KEY).unwrap();
            assert_eq!(v.url(), "https://ra.example/acme/new-account");
            assert_eq!(v.key(), &Jwk::from_json(&account.jwk()).unwrap());
        }
    }

    // Security catalog #33: a MAC under another key fails; a signature algorithm is refused.
    #[test]
    fn rfc8555_7_3_4_wrong_mac_and_non_mac_alg() {
        let jwk_json = TestKey::p256().jwk().to_string();
        let parsed = ParsedEab::parse(eab("HS256", header(), jwk_json.as_bytes(), b"other key"));
        assert_eq!(
            parsed.unwrap().verify(HMAC_KEY).err(),
            Some(JwsError::BadSignature)
        );
        for alg in ["ES256", "none", "RS256"] {
            assert!(matches!(
                ParsedEab::parse(eab(alg, header(), jwk_json.as_bytes(), HMAC_KEY)),
                Err(JwsError::BadSignatureAlgorithm(_))
            ));
        }
    }

    // RFC 8555 §7.3.4: no nonce, a kid and a url are required.
    #[test]
    fn rfc8555_7_3_4_header_rules() {
        let jwk_json = TestKey::p256().jwk().to_string();
        let mut with_nonce = header();
        with_nonce["nonce"] = json!("abc");
        let mut no_kid = header();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut no_url = header();
        no_url.as_object_mut().unwrap().remove("url");
        for h in [with_nonce, no_kid, no_url] {
            assert!(matches!(
                ParsedEab::parse(eab("HS256", h, jwk_json.as_bytes(), HMAC_KEY)),
                Err(JwsError::Malformed(_))
            ));
        }
        // A payload that is not a public key is refused after the MAC.
        let parsed = ParsedEab::parse(eab("HS256", header(), b"{\"kty\":\"oct\"}", HMAC_KEY));
        assert!(parsed.unwrap().verify(HMAC_KEY).is_err());
        // Unknown envelope members (an unprotected header) are refused.
        let v = json!({"protected": "e30", "payload": "", "signature": "AA", "header": {}});
        assert!(serde_json::from_value::<EabEnvelope>(v).is_err());
    }
}
