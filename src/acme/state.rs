//! The status state machine of RFC 8555 §7.1.6, as pure functions of records and the time.
//!
//! Expiry is enforced when a record is read (catalog #62), not only by a sweeper: the
//! effective status is computed from what is stored and `now`.

use crate::store::records::{AuthzRecord, AuthzStatus, OrderRecord, OrderStatus};

/// §7.1.6: a pending or valid authorization past its `expires` is `expired`.
pub(crate) fn authz_status(authz: &AuthzRecord, now: i64) -> AuthzStatus {
    match authz.status {
        AuthzStatus::Pending | AuthzStatus::Valid if authz.expires <= now => AuthzStatus::Expired,
        s => s,
    }
}

/// §7.1.6: an order is `ready` once every authorization is valid, `invalid` as soon as one is
/// not going to become valid, or when it expires before being finalized. `processing`, `valid`
/// and `invalid` are decided by finalization and stay as stored.
pub(crate) fn order_status(order: &OrderRecord, authzs: &[AuthzRecord], now: i64) -> OrderStatus {
    match order.status {
        OrderStatus::Pending | OrderStatus::Ready => {
            if order.expires <= now {
                return OrderStatus::Invalid;
            }
            // Catalog #46: each authorization is judged with its own data; a missing one
            // (count mismatch) can never make the order ready.
            if authzs.len() != order.authz_ids.len() {
                return OrderStatus::Invalid;
            }
            let mut all_valid = true;
            for a in authzs {
                match authz_status(a, now) {
                    AuthzStatus::Valid => {}
                    AuthzStatus::Pending => all_valid = false,
                    _ => return OrderStatus::Invalid,
                }
            }
            if all_valid {
                OrderStatus::Ready
            } else {
                OrderStatus::Pending
            }
        }
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{Identifier, SCHEMA_VERSION};

    fn authz(id: &str, status: AuthzStatus, expires: i64) -> AuthzRecord {
        AuthzRecord {
            v: SCHEMA_VERSION,
            id: id.into(),
            account_id: "acct".into(),
            order_id: "o".into(),
            identifier: Identifier {
                kind: "dns".into(),
                value: format!("{id}.lan"),
            },
            wildcard: false,
            status,
            expires,
            challenges: vec![],
        }
    }

    fn order(n: usize, status: OrderStatus, expires: i64) -> OrderRecord {
        OrderRecord {
            v: SCHEMA_VERSION,
            id: "o".into(),
            account_id: "acct".into(),
            status,
            expires,
            identifiers: vec![],
            not_before: None,
            not_after: None,
            authz_ids: (0..n).map(|i| i.to_string()).collect(),
            profile: "server".into(),
            error: None,
            cert_id: None,
            csr_sha256: None,
            created_at: 0,
            replaces: None,
        }
    }

    // RFC 8555 §7.1.6 / catalog #46 (the LE CAA bug): three identifiers, exactly one bad.
    #[test]
    fn one_bad_authorization_of_three() {
        let o = order(3, OrderStatus::Pending, 100);
        let good = |id| authz(id, AuthzStatus::Valid, 100);
        for bad in [
            AuthzStatus::Invalid,
            AuthzStatus::Deactivated,
            AuthzStatus::Revoked,
        ] {
            let set = [good("a"), authz("b", bad, 100), good("c")];
            assert_eq!(order_status(&o, &set, 10), OrderStatus::Invalid);
        }
        let expired = [good("a"), authz("b", AuthzStatus::Valid, 5), good("c")];
        assert_eq!(order_status(&o, &expired, 10), OrderStatus::Invalid);
        let pending = [good("a"), authz("b", AuthzStatus::Pending, 100), good("c")];
        assert_eq!(order_status(&o, &pending, 10), OrderStatus::Pending);
        assert_eq!(
            order_status(&o, &[good("a"), good("b"), good("c")], 10),
            OrderStatus::Ready
        );
        assert_eq!(
            order_status(&o, &[good("a"), good("b")], 10),
            OrderStatus::Invalid
        );
    }

    // RFC 8555 §7.1.6: an order that expires before finalization becomes invalid.
    #[test]
    fn expiry_on_read() {
        let o = order(1, OrderStatus::Ready, 10);
        assert_eq!(
            order_status(&o, &[authz("a", AuthzStatus::Valid, 100)], 10),
            OrderStatus::Invalid
        );
        let a = authz("a", AuthzStatus::Pending, 10);
        assert_eq!(authz_status(&a, 9), AuthzStatus::Pending);
        assert_eq!(authz_status(&a, 10), AuthzStatus::Expired);
        let done = order(1, OrderStatus::Valid, 10);
        assert_eq!(order_status(&done, &[], 50), OrderStatus::Valid);
    }
}
