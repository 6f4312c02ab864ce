//! Account key rollover (RFC 8555 §7.3.5): the outer JWS is signed by the account (`kid`), its
//! payload is an inner JWS signed by the new key (`jwk`) whose payload names the account and its
//! old key. Orders, authorizations and certificates refer to the account id, never to the key,
//! so they all survive the rollover; key authorizations use the key current at challenge time.

use serde::Deserialize;

use crate::acme::Acme;
use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::http::{Request, Response};
use crate::jose::{self, Jwk};
use crate::store::records::{AccountRecord, AccountStatus};

/// The keyChange object of RFC 8555 §7.3.5 (unknown fields ignored, duplicates refused).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyChange {
    account: String,
    old_key: serde_json::Value,
}

/// What the write transaction decided.
enum Outcome {
    Rolled(AccountRecord),
    /// RFC 8555 §7.3.5: the new key already belongs to this other account.
    Conflict(String),
    /// The account changed under us (deactivated or rolled over concurrently).
    Stale,
}

impl Acme {
    /// POST /acme/key-change (RFC 8555 §7.3.5); security catalog #34.
    pub(crate) async fn key_change(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        // RFC 8555 §7.3.5 checks, in its order. The request belongs to an active account:
        // `authenticate` refused deactivated ones. Then the inner JWS: jwk, no nonce, signature.
        let inner = jose::verify_key_change_inner(auth.raw_payload()).map_err(|e| {
            // Same problem types as for an outer JWS (malformed, badPublicKey, …).
            let mut p: Problem = e.into();
            p.detail = format!("inner JWS of keyChange: {}", p.detail);
            p
        })?;
        // The inner and outer `url` are the same.
        if inner.url() != auth.url() {
            return Err(Problem::malformed(
                "the inner JWS url differs from the outer JWS url",
            ));
        }
        let payload = inner.payload();
        if payload.first() != Some(&b'{') {
            return Err(Problem::malformed(
                "the inner JWS payload must be a keyChange object",
            ));
        }
        // Catalog #15: no member name twice (`oldKey` is read as a JSON value).
        if !jose::has_unique_members(payload) {
            return Err(Problem::malformed(
                "the keyChange object repeats a member name",
            ));
        }
        let change: KeyChange = serde_json::from_slice(payload)
            .map_err(|e| Problem::malformed(format!("invalid keyChange object: {e}")))?;
        // `account` is the URL of the account of the old key (the outer `kid`).
        if change.account != self.urls.account(&account.id) {
            return Err(Problem::malformed(
                "keyChange.account is not the URL of the signing account",
            ));
        }
        // `oldKey` is the account's current key, compared as keys, not as JSON text.
        let old = Jwk::from_json(&change.old_key)
            .map_err(|_| Problem::malformed("keyChange.oldKey is not a valid public key"))?;
        if &old != auth.key() {
            return Err(Problem::malformed(
                "keyChange.oldKey is not the current account key",
            ));
        }
        let new_key = inner.key().clone();
        if &new_key == auth.key() {
            return Err(Problem::malformed(
                "the new key is the same as the current account key",
            ));
        }
        let thumbprint = new_key.thumbprint();
        let (id, old_thumbprint) = (account.id.clone(), account.thumbprint.clone());
        let new_jwk = new_key.to_json();
        let outcome = self
            .store
            .write(move |w| {
                if let Some(owner) = w.account_by_thumbprint(&thumbprint)? {
                    return Ok(Outcome::Conflict(owner.id));
                }
                let Some(mut acct) = w.account(&id)? else {
                    return Ok(Outcome::Stale);
                };
                if acct.status != AccountStatus::Valid || acct.thumbprint != old_thumbprint {
                    return Ok(Outcome::Stale);
                }
                acct.jwk = new_jwk;
                acct.thumbprint = thumbprint;
                w.put_account(&acct)?;
                Ok(Outcome::Rolled(acct))
            })
            .await?;
        match outcome {
            Outcome::Rolled(acct) => {
                log::info!("account {} rolled over to a new key", acct.id);
                Ok(self.account_view(&acct, 200))
            }
            // RFC 8555 §7.3.5: a new key already used by another account → 409 (Conflict) with
            // `Location` pointing to that account (interop.md).
            Outcome::Conflict(owner) => Ok(Problem::malformed(
                "the new key is already in use by another account",
            )
            .with_status(409)
            .into_response()
            .with_header("Location", self.urls.account(&owner))),
            Outcome::Stale => Err(Problem::unauthorized(
                "the account changed during the key rollover; fetch it and try again",
            )),
        }
    }
}
