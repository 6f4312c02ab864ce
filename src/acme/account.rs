//! Account resources (RFC 8555 §7.3): newAccount (create, look up, `onlyReturnExisting`) and
//! the account URL (POST-as-GET, contact update, deactivation §7.3.6).

use serde::{Deserialize, Serialize};

use crate::acme::problem::{Problem, ProblemType};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, ids, json_response, now};
use crate::http::{Request, Response};
use crate::store::StoreError;
use crate::store::records::{AccountRecord, AccountStatus, SCHEMA_VERSION};

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
    #[allow(dead_code)]
    terms_of_service_agreed: Option<bool>,
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
struct AccountView<'a> {
    status: AccountStatus,
    contact: &'a [String],
}

fn view(account: &AccountRecord, status: u16, location: String) -> Response {
    json_response(
        status,
        &AccountView {
            status: account.status,
            contact: &account.contact,
        },
    )
    .with_header("Location", location)
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
            return Ok(view(&existing, 200, self.urls.account(&existing.id)));
        }
        if payload.only_return_existing {
            return Err(Problem::new(
                ProblemType::AccountDoesNotExist,
                "no account exists for this key",
            ));
        }
        let contact = payload.contact.unwrap_or_default();
        check_contacts(&contact)?;
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
        let outcome = self
            .store
            .write(
                move |w| match w.account_by_thumbprint(&stored.thumbprint)? {
                    Some(existing) => Ok(Err(existing)),
                    None => w.put_account(&stored).map(|()| Ok(stored)),
                },
            )
            .await;
        match outcome {
            Ok(Ok(created)) => {
                log::info!("account {} created", created.id);
                Ok(view(&created, 201, self.urls.account(&created.id)))
            }
            Ok(Err(existing)) => Ok(view(&existing, 200, self.urls.account(&existing.id))),
            Err(StoreError::Conflict) => {
                let existing = self
                    .store
                    .read(|r| r.account_by_thumbprint(&record.thumbprint))?
                    .ok_or_else(|| Problem::internal("account index conflict", &"no account"))?;
                Ok(view(&existing, 200, self.urls.account(&existing.id)))
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
            return Ok(view(&account, 200, self.urls.account(id)));
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
        self.store.write(move |w| w.put_account(&to_store)).await?;
        if changed.status == AccountStatus::Deactivated {
            log::info!("account {} deactivated", changed.id);
        }
        Ok(view(&changed, 200, self.urls.account(id)))
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
}
