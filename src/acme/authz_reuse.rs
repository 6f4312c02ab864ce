//! Reuse of valid authorizations in new orders. RFC 8555 §7.1.3 lets a server list
//! authorizations "from previous interactions" in an order, and §7.4 says clients must check
//! each one's status. This server reuses only pre-authorizations (§7.4.1, `new_authz.rs`) in
//! normal operation; the chaos mode (test-only, Pebble's `PEBBLE_AUTHZREUSE`) also reuses,
//! at random, valid authorizations of earlier orders, so interop tests prove that clients skip
//! authorizations that are already valid.
//!
//! Catalog #46 (Boulder's reuse rules): only an authorization of the same account, for the same
//! identifier (wildcard or not), and only while it is still valid.

use crate::acme::problem::Problem;
use crate::acme::{Acme, state};
use crate::store::records::{AuthzRecord, AuthzStatus};

impl Acme {
    /// Chaos mode: replaces some of the `fresh` authorizations of a new order (not stored yet;
    /// their ids in `ids`) by reusable valid ones. Returns what is left to store and the ids.
    pub(crate) fn chaos_reuse_authorizations(
        &self,
        account_id: &str,
        fresh: Vec<AuthzRecord>,
        mut ids: Vec<String>,
        now: i64,
    ) -> Result<(Vec<AuthzRecord>, Vec<String>), Problem> {
        let mut to_store = Vec::with_capacity(fresh.len());
        for a in fresh {
            let candidates = self.store.read(|r| {
                r.authzs_for_identifier(account_id, &a.identifier.kind, &a.identifier.value)
            })?;
            let reuse = reusable(&candidates, account_id, &a, now)
                .filter(|_| self.chaos.reuse_authz())
                .map(|r| r.id.clone());
            match reuse.and_then(|r| ids.iter_mut().find(|id| **id == a.id).map(|id| (id, r))) {
                Some((slot, reused)) => {
                    log::info!(
                        "chaos: order reuses valid authorization {reused} for {}",
                        a.identifier.value
                    );
                    *slot = reused;
                }
                None => to_store.push(a),
            }
        }
        Ok((to_store, ids))
    }
}

/// A valid authorization among `candidates` that may stand in for `wanted` in an order of
/// `account_id` at `now`: same account, same identifier, same wildcard flag, valid and not
/// expired (catalog #46).
pub(crate) fn reusable<'a>(
    candidates: &'a [AuthzRecord],
    account_id: &str,
    wanted: &AuthzRecord,
    now: i64,
) -> Option<&'a AuthzRecord> {
    candidates.iter().find(|c| {
        c.account_id == account_id
            && c.identifier == wanted.identifier
            && c.wildcard == wanted.wildcard
            && c.id != wanted.id
            && state::authz_status(c, now) == AuthzStatus::Valid
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{Identifier, SCHEMA_VERSION};

    fn authz(
        id: &str,
        account: &str,
        value: &str,
        wildcard: bool,
        status: AuthzStatus,
    ) -> AuthzRecord {
        AuthzRecord {
            v: SCHEMA_VERSION,
            id: id.into(),
            account_id: account.into(),
            order_id: "o".into(),
            identifier: Identifier {
                kind: "dns".into(),
                value: value.into(),
            },
            wildcard,
            status,
            expires: 1_000,
            challenges: Vec::new(),
        }
    }

    // Catalog #46: only the same account's authorization for the same identifier (wildcard
    // flag included), and only while valid and unexpired, is reused.
    #[test]
    fn catalog_46_reuse_same_account_still_valid_only() {
        let wanted = authz("new", "acct", "a.test", false, AuthzStatus::Pending);
        let other_account = authz("x1", "other", "a.test", false, AuthzStatus::Valid);
        let other_name = authz("x2", "acct", "b.test", false, AuthzStatus::Valid);
        let wildcard = authz("x3", "acct", "a.test", true, AuthzStatus::Valid);
        let pending = authz("x4", "acct", "a.test", false, AuthzStatus::Pending);
        let invalid = authz("x5", "acct", "a.test", false, AuthzStatus::Invalid);
        let deactivated = authz("x6", "acct", "a.test", false, AuthzStatus::Deactivated);
        let refused = [
            other_account,
            other_name,
            wildcard,
            pending,
            invalid,
            deactivated,
        ];
        assert!(reusable(&refused, "acct", &wanted, 500).is_none());
        let good = authz("ok", "acct", "a.test", false, AuthzStatus::Valid);
        let mut all = refused.to_vec();
        all.push(good);
        assert_eq!(
            reusable(&all, "acct", &wanted, 500).map(|a| a.id.as_str()),
            Some("ok")
        );
        // Expired (valid as stored, past `expires`): no longer reusable.
        assert!(reusable(&all, "acct", &wanted, 1_000).is_none());
        // A wildcard order reuses a wildcard authorization only.
        let wanted_wild = authz("new", "acct", "a.test", true, AuthzStatus::Pending);
        assert_eq!(
            reusable(&all, "acct", &wanted_wild, 500).map(|a| a.id.as_str()),
            Some("x3")
        );
    }
}
