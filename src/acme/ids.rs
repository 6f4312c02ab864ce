//! Unpredictable identifiers for resources, tokens and nonces (RFC 8555 §10.5, §11.3).

use ring::rand::{SecureRandom, SystemRandom};

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The system RNG fails only if the kernel cannot provide randomness at all; then no secure
    // identifier can be made and continuing would be worse than stopping this request's task.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    crate::jose::b64::encode(&buf)
}

/// A 128-bit resource id (accounts, orders, authorizations, challenges, certificates).
pub(crate) fn new_id() -> String {
    random_b64(16)
}

/// A challenge token: 256 bits, more than the 128 RFC 8555 §8.1 requires.
pub(crate) fn new_token() -> String {
    random_b64(32)
}
