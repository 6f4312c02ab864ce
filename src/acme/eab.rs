//! External Account Binding on newAccount (RFC 8555 §7.3.4): the operator hands a key id and an
//! HMAC key to whoever may get certificates (`upki-ra eab add`); the client MACs its new account
//! key with it. Security catalog #33: HMAC algorithms only, no inner nonce, inner `url` = outer
//! `url`, unknown key id or wrong MAC → unauthorized (the MAC is compared in constant time by
//! `jose`), inner payload = outer `jwk` compared as keys, and every key binds one account only
//! (consumed in the transaction that creates the account, see `account.rs`).

use crate::acme::Acme;
use crate::acme::problem::Problem;
use crate::jose::{EabEnvelope, Jwk, JwsError, ParsedEab, b64};

impl Acme {
    /// Checks an `externalAccountBinding` against the outer request (signed by `outer_key`
    /// for `outer_url`); returns the EAB key id to consume.
    pub(crate) fn check_eab(
        &self,
        env: EabEnvelope,
        outer_key: &Jwk,
        outer_url: &str,
    ) -> Result<String, Problem> {
        let parsed = ParsedEab::parse(env).map_err(|e| {
            let why = match e {
                JwsError::BadSignatureAlgorithm(alg) => {
                    format!("algorithm {alg:?} is not a MAC (use HS256, HS384 or HS512)")
                }
                other => other.to_string(),
            };
            Problem::malformed(format!("externalAccountBinding: {why}"))
        })?;
        let unknown = || {
            Problem::unauthorized(
                "externalAccountBinding: unknown, revoked or already used key id, or wrong MAC",
            )
        };
        let record = self
            .store
            .read(|r| r.eab_key(parsed.kid()))?
            .ok_or_else(unknown)?;
        if record.revoked || record.bound_account.is_some() {
            return Err(unknown());
        }
        let hmac_key = b64::decode(&record.hmac_key)
            .map_err(|_| Problem::internal("stored EAB key unreadable", &record.kid))?;
        let verified = parsed.verify(&hmac_key).map_err(|e| match e {
            JwsError::BadSignature => unknown(),
            other => Problem::malformed(format!("externalAccountBinding: {other}")),
        })?;
        // RFC 8555 §7.3.4: the EAB `url` MUST be the same as the outer JWS `url`.
        if verified.url() != outer_url {
            return Err(Problem::malformed(
                "externalAccountBinding url differs from the newAccount request url",
            ));
        }
        // RFC 8555 §7.3.4: the EAB payload is the account key being registered, so it must be
        // the key that signs the outer request (the binding is tied to this key, catalog I6).
        if verified.key() != outer_key {
            return Err(Problem::unauthorized(
                "externalAccountBinding payload is not the account key of this request",
            ));
        }
        Ok(verified.kid().to_owned())
    }
}
