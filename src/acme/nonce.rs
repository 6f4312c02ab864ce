//! Anti-replay nonces (RFC 8555 §6.5, §7.2): issued by every response, redeemed at most once.
//!
//! Nonces live in memory only: a restart invalidates them all, which clients handle because
//! `badNonce` is retryable (§6.5). Memory is bounded: past `capacity` outstanding nonces the oldest
//! are forgotten (a client holding one gets `badNonce` and retries).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::acme::ids::random_b64;

/// Outstanding nonces; `redeem` is an atomic check-and-remove (catalog #26).
pub(crate) struct NonceStore {
    prefix: String,
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    live: HashSet<String>,
    order: VecDeque<String>,
}

impl NonceStore {
    /// A store for this process; the random prefix tells this instance's nonces apart.
    pub(crate) fn new(capacity: usize) -> NonceStore {
        NonceStore {
            prefix: random_b64(3),
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                live: HashSet::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// A fresh nonce: unpadded base64url (certbot decodes it), ≥ 128 random bits.
    pub(crate) fn issue(&self) -> String {
        let nonce = format!("{}{}", self.prefix, random_b64(16));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while inner.order.len() >= self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.live.remove(&old);
            }
        }
        inner.live.insert(nonce.clone());
        inner.order.push_back(nonce.clone());
        nonce
    }

    /// RFC 8555 §6.5: true exactly once for a nonce this instance issued and has not forgotten.
    pub(crate) fn redeem(&self, nonce: &str) -> bool {
        if !nonce.starts_with(&self.prefix) {
            return false;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.live.remove(nonce)
        // The stale entry left in `order` is dropped when it reaches the front.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §6.5 / catalog #25, #26: a nonce is good exactly once.
    #[test]
    fn single_use() {
        let s = NonceStore::new(10);
        let n = s.issue();
        assert!(s.redeem(&n));
        assert!(!s.redeem(&n));
        assert!(!s.redeem("never-issued"));
    }

    // Catalog #25: a nonce of another instance (or of this one before a restart) is refused.
    #[test]
    fn other_instance_refused() {
        let a = NonceStore::new(10);
        let b = NonceStore::new(10);
        assert!(!b.redeem(&a.issue()));
    }

    // Memory stays bounded; the oldest nonces are forgotten first.
    #[test]
    fn bounded() {
        let s = NonceStore::new(3);
        let first = s.issue();
        let rest: Vec<_> = (0..3).map(|_| s.issue()).collect();
        assert!(!s.redeem(&first));
        assert!(rest.iter().all(|n| s.redeem(n)));
        let inner = s.inner.lock().unwrap();
        assert!(inner.order.len() <= 3);
    }

    // RFC 8555 §6.5.1: nonces are base64url without padding.
    #[test]
    fn encoding() {
        let n = NonceStore::new(2).issue();
        assert!(n.len() >= 22);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
