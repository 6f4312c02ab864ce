//! Pre-authorization (RFC 8555 §7.4.1): `newAuthz` creates an authorization for one identifier
//! outside any order; once valid, a later newOrder of the same account uses it instead of a new
//! one, and it also counts for revocation by authorization (§7.6).
//!
//! RFC 8555 §7.4.1: "Note that because the identifier in a pre-authorization request is the
//! exact identifier to be included in the authorization object, pre-authorization cannot be used
//! to authorize issuance of certificates containing wildcard domain names." — so `*` is refused.

use serde::Deserialize;

use crate::acme::order::{new_authz, secs};
use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, now, state};
use crate::http::{Request, Response};
use crate::store::records::{AuthzRecord, AuthzStatus, Identifier};

/// The newAuthz payload (RFC 8555 §7.4.1).
#[derive(Deserialize)]
struct NewAuthz {
    identifier: Identifier,
}

impl Acme {
    /// POST /acme/new-authz: 201 + Location of the new authorization.
    pub(crate) async fn new_authz(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        let payload: NewAuthz = auth.payload()?;
        if payload.identifier.value.starts_with("*.") || payload.identifier.value.contains('*') {
            return Err(Problem::malformed(
                "pre-authorization cannot be used for wildcard names (RFC 8555 §7.4.1)",
            ));
        }
        let normalized = self.check_identifiers(std::slice::from_ref(&payload.identifier))?;
        let ident = normalized
            .first()
            .ok_or_else(|| Problem::malformed("newAuthz needs one identifier"))?;
        let expires = now() + secs(self.settings.authz_lifetime);
        // No order: `order_id` stays empty, so validation moves no order along.
        let authz = new_authz(&account.id, "", ident, expires);
        let stored = authz.clone();
        self.store.write(move |w| w.put_authz(&stored)).await?;
        log::info!(
            "pre-authorization {} created for account {}",
            authz.id,
            account.id
        );
        Ok(self
            .authz_view_response(&authz, 201)
            .with_header("Location", self.urls.authz(&authz.id)))
    }

    /// For each fresh authorization of a new order, a valid pre-authorization of the account
    /// for the same identifier (not wildcard) replaces it. Returns the authorizations to store
    /// and the authorization ids of the order, in identifier order.
    pub(crate) fn use_pre_authorizations(
        &self,
        account_id: &str,
        fresh: Vec<AuthzRecord>,
        now: i64,
    ) -> Result<(Vec<AuthzRecord>, Vec<String>), Problem> {
        let mut to_store = Vec::with_capacity(fresh.len());
        let mut ids = Vec::with_capacity(fresh.len());
        for a in fresh {
            let pre = if a.wildcard {
                None
            } else {
                self.store
                    .read(|r| {
                        r.authzs_for_identifier(account_id, &a.identifier.kind, &a.identifier.value)
                    })?
                    .into_iter()
                    .filter(|p| p.order_id.is_empty() && !p.wildcard)
                    .find(|p| state::authz_status(p, now) == AuthzStatus::Valid)
            };
            match pre {
                Some(p) => ids.push(p.id),
                None => {
                    ids.push(a.id.clone());
                    to_store.push(a);
                }
            }
        }
        Ok((to_store, ids))
    }
}
