//! Request authentication (RFC 8555 §6.2–§6.5), in Boulder's order: media type → JWS envelope
//! and `alg` allow-list → key (`jwk` or `kid`, per endpoint) → signature → nonce → `url` →
//! account status. Only [`Acme::authenticate`] builds an [`Authenticated`].

use serde::de::DeserializeOwned;

use crate::acme::Acme;
use crate::acme::problem::{Problem, ProblemType};
use crate::http::Request;
use crate::jose::{Jwk, KeyRef, ParsedJws, VerifiedJws};
use crate::store::records::{AccountRecord, AccountStatus};

/// Which key reference an endpoint takes (RFC 8555 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyStyle {
    /// newAccount (and, later, revokeCert by certificate key): an embedded `jwk`.
    Jwk,
    /// Everything else: `kid` = the account URL.
    Kid,
    /// revokeCert (RFC 8555 §7.6): either the account (`kid`) or the certificate key (`jwk`).
    Either,
}

/// A request whose signature, nonce and url were checked; for `kid` requests, the account.
pub(crate) struct Authenticated {
    jws: VerifiedJws,
    account: Option<AccountRecord>,
    _proof: (),
}

impl Authenticated {
    pub(crate) fn key(&self) -> &Jwk {
        self.jws.key()
    }

    /// The signing account (always present for [`KeyStyle::Kid`]).
    pub(crate) fn account(&self) -> Result<&AccountRecord, Problem> {
        self.account
            .as_ref()
            .ok_or_else(|| Problem::malformed("this request must be signed with an account key id"))
    }

    /// The signing account, if the request was signed with a `kid`.
    pub(crate) fn signer_account(&self) -> Option<&AccountRecord> {
        self.account.as_ref()
    }

    /// The decoded payload bytes (keyChange: the inner JWS, RFC 8555 §7.3.5).
    pub(crate) fn raw_payload(&self) -> &[u8] {
        self.jws.payload()
    }

    /// The `url` the JWS was signed for (already checked equal to the request URL).
    pub(crate) fn url(&self) -> &str {
        self.jws.url()
    }

    /// RFC 8555 §6.3: POST-as-GET has an empty payload.
    pub(crate) fn is_post_as_get(&self) -> bool {
        self.jws.payload().is_empty()
    }

    /// Catalog #30: fetch-only resources take an empty payload, nothing else.
    pub(crate) fn require_post_as_get(&self) -> Result<(), Problem> {
        if self.is_post_as_get() {
            Ok(())
        } else {
            Err(Problem::malformed(
                "POST-as-GET requests must have an empty payload (RFC 8555 §6.3)",
            ))
        }
    }

    /// The payload as a JSON object of type `T` (unknown fields ignored per RFC 8555 §7.3,
    /// duplicate fields refused by serde).
    pub(crate) fn payload<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let bytes = self.jws.payload();
        if bytes.is_empty() {
            return Err(Problem::malformed(
                "this request needs a JSON object payload",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Problem::malformed(format!("payload is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(Problem::malformed("payload must be a JSON object"));
        }
        // Catalog #15: a repeated member name, at any depth, would be read "last one wins" by
        // a `Value` and ignored by a typed struct if unknown; refuse it instead.
        if !crate::jose::has_unique_members(bytes) {
            return Err(Problem::malformed("payload repeats a member name"));
        }
        // Parse from the bytes, not the Value: a Value keeps only the last of duplicate keys.
        serde_json::from_slice(bytes)
            .map_err(|e| Problem::malformed(format!("payload is not acceptable: {e}")))
    }
}

/// RFC 8555 §6.2: "application/jose+json", parameters allowed.
fn is_jose_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/jose+json"))
}

impl Acme {
    /// Authenticates a POST to `path` (the request target) for an endpoint taking `style`.
    pub(crate) fn authenticate(
        &self,
        req: &Request,
        path: &str,
        style: KeyStyle,
    ) -> Result<Authenticated, Problem> {
        if !is_jose_json(req.header("content-type")) {
            return Err(Problem::malformed(
                "requests must use Content-Type: application/jose+json",
            )
            .with_status(415));
        }
        let parsed = ParsedJws::parse(&req.body)?;
        let (key, account) = match (style, parsed.key()) {
            (KeyStyle::Jwk | KeyStyle::Either, KeyRef::Jwk(jwk)) => (jwk.clone(), None),
            (KeyStyle::Kid | KeyStyle::Either, KeyRef::Kid(kid)) => {
                let account = self.account_for_kid(kid)?;
                let jwk = Jwk::from_json(&account.jwk)
                    .map_err(|e| Problem::internal("stored account key unreadable", &e))?;
                (jwk, Some(account))
            }
            (KeyStyle::Jwk, KeyRef::Kid(_)) => {
                return Err(Problem::malformed(
                    "this endpoint requires a \"jwk\" in the protected header, not a \"kid\"",
                ));
            }
            (KeyStyle::Kid, KeyRef::Jwk(_)) => {
                return Err(Problem::malformed(
                    "this endpoint requires a \"kid\" (the account URL), not a \"jwk\"",
                ));
            }
        };
        let jws = parsed.verify(&key)?;
        // The access log names the account whose key signed this request (issue 6), never
        // anything from the JWS itself.
        if let Some(acct) = &account {
            req.log.set("account", &acct.id);
        }
        // RFC 8555 §6.5: "the server MUST … reject the request" with badNonce when the nonce
        // is missing or not one it issued and has not yet seen.
        let nonce_ok = jws.nonce().is_some_and(|n| self.nonces.redeem(n));
        // Chaos mode (test-only, Pebble's nonce rejection): a valid nonce, already consumed,
        // refused all the same; the error response carries a fresh Replay-Nonce.
        if !nonce_ok || self.chaos.reject_valid_nonce(|| jws.key().thumbprint()) {
            return Err(Problem::new(
                ProblemType::BadNonce,
                "JWS has an invalid anti-replay nonce",
            ));
        }
        // RFC 8555 §6.4: "the server MUST reject the request as unauthorized" when `url`
        // differs from the URL the request was sent to.
        let expected = self.urls.absolute(path);
        if jws.url() != expected {
            return Err(Problem::unauthorized(format!(
                "JWS url {:?} does not match the request URL {expected:?}",
                truncate(jws.url(), 200)
            )));
        }
        if let Some(acct) = &account {
            // RFC 8555 §7.3.6 / catalog #29: a deactivated account gets 401 from now on.
            if acct.status != AccountStatus::Valid {
                return Err(Problem::unauthorized(format!(
                    "account is {}",
                    if acct.status == AccountStatus::Deactivated {
                        "deactivated"
                    } else {
                        "revoked"
                    }
                ))
                .with_status(401));
            }
        }
        Ok(Authenticated {
            jws,
            account,
            _proof: (),
        })
    }

    /// Catalog #28: the full `kid` must be the canonical URL of a stored account.
    fn account_for_kid(&self, kid: &str) -> Result<AccountRecord, Problem> {
        let missing = || {
            Problem::new(
                ProblemType::AccountDoesNotExist,
                "no account exists with the given key id",
            )
        };
        let id = self.urls.account_id_of_kid(kid).ok_or_else(missing)?;
        let account = self.store.read(|r| r.account(id))?.ok_or_else(missing)?;
        if self.urls.account(&account.id) != kid {
            return Err(missing());
        }
        Ok(account)
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §6.2 / catalog #12: only application/jose+json is accepted.
    #[test]
    fn media_type() {
        assert!(is_jose_json(Some("application/jose+json")));
        assert!(is_jose_json(Some("Application/JOSE+JSON; charset=utf-8")));
        assert!(!is_jose_json(Some("application/json")));
        assert!(!is_jose_json(None));
    }
}
