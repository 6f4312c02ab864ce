//! Anti-replay nonces (RFC 8555 §6.5, §7.2): issued by every response, redeemed at most once.
//!
//! Nonces live in memory only: a restart invalidates them all, which clients handle because
//! `badNonce` is retryable (§6.5). Memory is bounded: past `capacity` outstanding nonces the oldest
//! are forgotten (a client holding one gets `badNonce` and retries).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use ring::rand::{SecureRandom, SystemRandom};

use crate::acme::ids::random_b64;
use crate::jose::b64;

/// The random part of a nonce: 128 bits.
type Secret = [u8; 16];

/// Outstanding nonces; `redeem` is an atomic check-and-remove (catalog #26).
///
/// The sets hold the 16 random bytes, not the text: no allocation per nonce kept, and
/// ~40 bytes per outstanding nonce instead of ~0.2 KiB (issue 7).
pub(crate) struct NonceStore {
    prefix: String,
    capacity: usize,
    rng: SystemRandom,
    inner: Mutex<Inner>,
}

struct Inner {
    live: HashSet<Secret>,
    order: VecDeque<Secret>,
}

impl NonceStore {
    /// A store for this process; the random prefix tells this instance's nonces apart.
    pub(crate) fn new(capacity: usize) -> NonceStore {
        NonceStore {
            prefix: random_b64(3),
            capacity: capacity.max(1),
            rng: SystemRandom::new(),
            inner: Mutex::new(Inner {
                live: HashSet::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// A fresh nonce: unpadded base64url (certbot decodes it), ≥ 128 random bits.
    pub(crate) fn issue(&self) -> String {
        let mut secret: Secret = [0; 16];
        // The system RNG fails only if the kernel cannot provide randomness at all; then no
        // unpredictable nonce can be made (RFC 8555 §6.5) and continuing would be worse than
        // stopping this request's task.
        #[allow(clippy::expect_used)]
        self.rng
            .fill(&mut secret)
            .expect("the operating system's random number generator failed");
        let mut nonce = String::with_capacity(self.prefix.len() + 22);
        nonce.push_str(&self.prefix);
        nonce.push_str(&b64::encode(&secret));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while inner.order.len() >= self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.live.remove(&old);
            }
        }
        inner.live.insert(secret);
        inner.order.push_back(secret);
        nonce
    }

    /// RFC 8555 §6.5: true exactly once for a nonce this instance issued and has not forgotten.
    pub(crate) fn redeem(&self, nonce: &str) -> bool {
        let Some(rest) = nonce.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        // Exactly the 22 characters of 16 bytes: anything else was never issued here.
        if rest.len() != 22 {
            return false;
        }
        let Some(secret) = b64::decode(rest)
            .ok()
            .and_then(|v| Secret::try_from(v).ok())
        else {
            return false;
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.live.remove(&secret)
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

    // Catalog #26: only the exact text issued redeems (not a longer, shorter or altered one).
    #[test]
    fn catalog_26_exact_text_only() {
        let s = NonceStore::new(10);
        let n = s.issue();
        let mut altered = n.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        for bad in [format!("{n}A"), n[..n.len() - 1].to_owned(), altered] {
            assert!(!s.redeem(&bad), "{bad}");
        }
        assert!(s.redeem(&n));
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
