//! Account resources (RFC 8555 §7.3): newAccount (create, look up, `onlyReturnExisting`, terms
//! of service §7.3.3, External Account Binding §7.3.4) and the account URL (POST-as-GET, contact
//! update, deactivation §7.3.6).

use serde::{Deserialize, Serialize};

use crate::acme::problem::{Problem, ProblemType};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, ids, json_response, now};
use crate::http::{Request, Response};
use crate::jose::EabEnvelope;
use crate::store::records::{
    AccountRecord, AccountStatus, AuthzStatus, OrderStatus, SCHEMA_VERSION,
};
use crate::store::{StoreError, Writer};

/// At most this many contact URLs per account (Boulder's limit is similar).
const MAX_CONTACTS: usize = 10;

/// RFC 8555 §7.3 newAccount payload; unknown fields are ignored and never reflected back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    only_return_existing: bool,
    #[serde(default)]
    terms_of_service_agreed: Option<bool>,
    /// RFC 8555 §7.3.4.
    #[serde(default)]
    external_account_binding: Option<EabEnvelope>,
}

/// RFC 8555 §7.3.2 / §7.3.6 update payload.
#[derive(Deserialize)]
struct AccountUpdate {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

/// The account object of RFC 8555 §7.1.2 (`status` first).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountView<'a> {
    status: AccountStatus,
    contact: &'a [String],
    /// RFC 8555 §7.1.2: "orders (required, string): A URL from which a list of orders
    /// submitted by this account can be fetched".
    orders: String,
}

/// Why the account-creating transaction did not create one.
enum NotCreated {
    /// The key already has this account (a concurrent newAccount won).
    Exists(AccountRecord),
    /// The EAB key was bound or revoked meanwhile (single use, catalog #33).
    EabUsed,
}

impl Acme {
    /// The account object with `Location` (RFC 8555 §7.3).
    pub(crate) fn account_view(&self, account: &AccountRecord, status: u16) -> Response {
        json_response(
            status,
            &AccountView {
                status: account.status,
                contact: &account.contact,
                orders: self.urls.orders(&account.id),
            },
        )
        .with_header("Location", self.urls.account(&account.id))
    }
}

/// Catalog #32: `mailto:` only, one plain address each, bounded count.
fn check_contacts(contacts: &[String]) -> Result<(), Problem> {
    if contacts.len() > MAX_CONTACTS {
        return Err(Problem::new(
            ProblemType::InvalidContact,
            format!("too many contacts (at most {MAX_CONTACTS})"),
        ));
    }
    for c in contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                "only mailto: contact URLs are supported",
            ));
        };
        let valid = addr.len() <= 254
            && !addr.contains(['?', ',', ' ', '<', '>', '%'])
            && addr.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if !valid {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                "a mailto: contact must hold exactly one plain e-mail address",
            ));
        }
    }
    Ok(())
}

impl Acme {
    /// RFC 8555 §7.3: 201 + Location for a new account, 200 + Location for an existing key.
    pub(crate) async fn new_account(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Jwk)?;
        let payload: NewAccount = auth.payload()?;
        let thumbprint = auth.key().thumbprint();
        if let Some(existing) = self.store.read(|r| r.account_by_thumbprint(&thumbprint))? {
            req.log.set("account", &existing.id);
            // RFC 8555 §7.3.6: "the server MUST NOT accept further requests authorized by
            // that account's key" — not even a lookup (catalog #29; Boulder does the same).
            if existing.status != AccountStatus::Valid {
                return Err(
                    Problem::unauthorized("the account of this key is deactivated")
                        .with_status(401),
                );
            }
            return Ok(self.account_view(&existing, 200));
        }
        if payload.only_return_existing {
            return Err(Problem::new(
                ProblemType::AccountDoesNotExist,
                "no account exists for this key",
            ));
        }
        // RFC 8555 §7.3 / catalog #32: with terms configured, the client must agree to them.
        if let Some(tos) = &self.settings.terms_of_service
            && payload.terms_of_service_agreed != Some(true)
        {
            return Ok(Problem::new(
                ProblemType::UserActionRequired,
                format!("you must agree to the terms of service at {tos} (termsOfServiceAgreed)"),
            )
            .into_response()
            .with_header("Link", format!("<{tos}>;rel=\"terms-of-service\"")));
        }
        let contact = payload.contact.unwrap_or_default();
        check_contacts(&contact)?;
        // RFC 8555 §7.3.4 / catalog #33: the binding is checked before anything is stored and
        // consumed in the same transaction that creates the account.
        let eab_kid = match payload.external_account_binding {
            Some(env) => Some(self.check_eab(env, auth.key(), auth.url())?),
            None if self.settings.require_eab => {
                return Err(Problem::new(
                    ProblemType::ExternalAccountRequired,
                    "this server requires an External Account Binding (RFC 8555 §7.3.4); ask \
                     the operator for a key id and HMAC key",
                ));
            }
            None => None,
        };
        let record = AccountRecord {
            v: SCHEMA_VERSION,
            id: ids::new_id(),
            jwk: auth.key().to_json(),
            thumbprint,
            contact,
            status: AccountStatus::Valid,
            created_at: now(),
        };
        let stored = record.clone();
        // The thumbprint index is unique: if a concurrent request created the account first,
        // answer with that one (200) instead of creating a duplicate.
        let bound_kid = eab_kid.clone();
        let outcome = self
            .store
            .write(move |w| {
                if let Some(existing) = w.account_by_thumbprint(&stored.thumbprint)? {
                    return Ok(Err(NotCreated::Exists(existing)));
                }
                if let Some(kid) = &bound_kid {
                    // Single use: re-checked inside the transaction, so two racing
                    // newAccount requests cannot both consume one key.
                    let Some(mut eab) = w.eab_key(kid)? else {
                        return Ok(Err(NotCreated::EabUsed));
                    };
                    if eab.revoked || eab.bound_account.is_some() {
                        return Ok(Err(NotCreated::EabUsed));
                    }
                    eab.bound_account = Some(stored.id.clone());
                    w.put_eab_key(&eab)?;
                }
                w.put_account(&stored).map(|()| Ok(stored))
            })
            .await;
        match outcome {
            Ok(Ok(created)) => {
                req.log.set("account", &created.id);
                match &eab_kid {
                    Some(kid) => {
                        log::info!("account {} created, bound to EAB key {kid}", created.id)
                    }
                    None => log::info!("account {} created", created.id),
                }
                Ok(self.account_view(&created, 201))
            }
            Ok(Err(NotCreated::Exists(existing))) => {
                req.log.set("account", &existing.id);
                Ok(self.account_view(&existing, 200))
            }
            Ok(Err(NotCreated::EabUsed)) => Err(Problem::unauthorized(
                "the External Account Binding key has already been used or was revoked",
            )),
            Err(StoreError::Conflict) => {
                let existing = self
                    .store
                    .read(|r| r.account_by_thumbprint(&record.thumbprint))?
                    .ok_or_else(|| Problem::internal("account index conflict", &"no account"))?;
                req.log.set("account", &existing.id);
                Ok(self.account_view(&existing, 200))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// POST to an account URL (RFC 8555 §7.3.2 update, §7.3.6 deactivation, POST-as-GET).
    pub(crate) async fn account(
        &self,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        if account.id != id {
            return Err(Problem::unauthorized(
                "the account URL does not belong to the signing key",
            ));
        }
        if auth.is_post_as_get() {
            return Ok(self.account_view(&account, 200));
        }
        let update: AccountUpdate = auth.payload()?;
        let mut changed = account.clone();
        if let Some(contact) = update.contact {
            check_contacts(&contact)?;
            changed.contact = contact;
        }
        match update.status.as_deref() {
            None => {}
            Some("deactivated") => changed.status = AccountStatus::Deactivated,
            Some(other) => {
                return Err(Problem::malformed(format!(
                    "an account can only be moved to \"deactivated\", not {other:?}"
                )));
            }
        }
        let to_store = changed.clone();
        let deactivating = changed.status == AccountStatus::Deactivated;
        let cancelled =
            Problem::unauthorized("the account that placed this order was deactivated").to_json();
        self.store
            .write(move |w| {
                w.put_account(&to_store)?;
                if deactivating {
                    cancel_pending(w, &to_store.id, &cancelled)?;
                }
                Ok(())
            })
            .await?;
        if changed.status == AccountStatus::Deactivated {
            log::info!("account {} deactivated", changed.id);
        } else if changed.contact != account.contact {
            log::info!("account {} contact updated", changed.id);
        }
        Ok(self.account_view(&changed, 200))
    }
}

/// RFC 8555 §7.3.6: after deactivation "the server … SHOULD cancel any pending operations
/// authorized by the account's key, such as certificate orders": pending and ready orders become
/// `invalid`, their pending authorizations `deactivated`. Orders already `processing` finish.
fn cancel_pending(
    w: &mut Writer<'_>,
    account_id: &str,
    error: &serde_json::Value,
) -> Result<(), StoreError> {
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let (orders, next) = w.orders_of_account(account_id, cursor.as_deref(), 256)?;
        for mut order in orders {
            if !matches!(order.status, OrderStatus::Pending | OrderStatus::Ready) {
                continue;
            }
            for id in &order.authz_ids {
                if let Some(mut authz) = w.authz(id)?
                    && authz.status == AuthzStatus::Pending
                {
                    authz.status = AuthzStatus::Deactivated;
                    w.put_authz(&authz)?;
                }
            }
            order.status = OrderStatus::Invalid;
            order.error = Some(error.clone());
            w.put_order(&order)?;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §7.3 / catalog #32: contact rules.
    #[test]
    fn contacts() {
        assert!(check_contacts(&["mailto:ops@home.lan".into()]).is_ok());
        let kind = |c: &str| check_contacts(&[c.into()]).err().map(|p| p.kind);
        assert_eq!(kind("tel:+123"), Some(ProblemType::UnsupportedContact));
        assert_eq!(
            kind("mailto:a@b?subject=x"),
            Some(ProblemType::InvalidContact)
        );
        assert_eq!(kind("mailto:a@b,c@d"), Some(ProblemType::InvalidContact));
        assert_eq!(kind("mailto:nobody"), Some(ProblemType::InvalidContact));
        let many: Vec<String> = (0..11).map(|i| format!("mailto:a{i}@b.lan")).collect();
        assert!(check_contacts(&many).is_err());
    }

    // RFC 8555 §7.3.6: deactivation cancels the account's pending orders and authorizations,
    // and leaves other accounts' orders and its own finished orders alone.
    #[test]
    fn s7_3_6_deactivation_cancels_pending_orders() {
        use crate::store::Store;
        use crate::store::records::{Identifier, OrderRecord};

        let dir = std::env::temp_dir().join(format!("upki-ra-deact-{}", std::process::id()));
        let store = Store::open(&dir, 1 << 20).unwrap();
        let authz = |id: &str, account: &str| crate::store::records::AuthzRecord {
            v: SCHEMA_VERSION,
            id: id.into(),
            account_id: account.into(),
            order_id: format!("o-{id}"),
            identifier: Identifier {
                kind: "dns".into(),
                value: format!("{id}.lan"),
            },
            wildcard: false,
            status: AuthzStatus::Pending,
            expires: i64::MAX / 2,
            challenges: vec![],
        };
        let order = |id: &str, account: &str, status: OrderStatus| OrderRecord {
            v: SCHEMA_VERSION,
            id: format!("o-{id}"),
            account_id: account.into(),
            status,
            expires: i64::MAX / 2,
            identifiers: vec![],
            not_before: None,
            not_after: None,
            authz_ids: vec![id.into()],
            profile: "server".into(),
            error: None,
            cert_id: None,
            csr_sha256: None,
            created_at: 0,
            replaces: None,
        };
        let error = Problem::unauthorized("deactivated").to_json();
        smol::block_on(store.write(move |w| {
            for (id, account, status) in [
                ("a", "mine", OrderStatus::Pending),
                ("b", "mine", OrderStatus::Valid),
                ("c", "other", OrderStatus::Pending),
            ] {
                w.put_authz(&authz(id, account))?;
                w.put_order(&order(id, account, status))?;
            }
            cancel_pending(w, "mine", &error)
        }))
        .unwrap();
        let status = |id: &str| {
            store
                .read(|r| {
                    Ok((
                        r.order(&format!("o-{id}"))?.unwrap().status,
                        r.authz(id)?.unwrap().status,
                    ))
                })
                .unwrap()
        };
        assert_eq!(
            status("a"),
            (OrderStatus::Invalid, AuthzStatus::Deactivated)
        );
        assert_eq!(status("b"), (OrderStatus::Valid, AuthzStatus::Pending));
        assert_eq!(status("c"), (OrderStatus::Pending, AuthzStatus::Pending));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
