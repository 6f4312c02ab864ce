//! Strict-server chaos mode (TEST-ONLY), after Pebble: refuse a share of valid nonces with
//! `badNonce` (RFC 8555 §6.5 makes it retryable), delay validation attempts by a random time
//! (clients must poll, §7.5.1), reuse valid authorizations of the same account (§7.1.3, §7.4),
//! and panic on one request target (catalog #60). Configured by `[chaos]`
//! ([`crate::config::ChaosConfig`]).
//!
//! Only debug builds contain it: in a release build [`Chaos`] is an empty type whose answers
//! are constant "no", and the config parser refuses `[chaos]` before a server starts.
#![forbid(unsafe_code)]

#[cfg(debug_assertions)]
pub(crate) use active::Chaos;
#[cfg(not(debug_assertions))]
pub(crate) use inert::Chaos;

/// The release-build stand-in: no state, every answer "no".
#[cfg(not(debug_assertions))]
mod inert {
    use std::time::Duration;

    use crate::config::ChaosConfig;

    /// Chaos mode compiled out: nothing ever misbehaves.
    pub(crate) struct Chaos;

    impl Chaos {
        pub(crate) fn from_config(_config: Option<&ChaosConfig>) -> Chaos {
            Chaos
        }
        #[inline(always)]
        pub(crate) fn reject_valid_nonce(&self, _client: impl FnOnce() -> String) -> bool {
            false
        }
        #[inline(always)]
        pub(crate) fn validation_delay(&self) -> Option<Duration> {
            None
        }
        #[inline(always)]
        pub(crate) fn reuse_authz(&self) -> bool {
            false
        }
        #[inline(always)]
        pub(crate) fn panic_if_targeted(&self, _target: &str) {}
    }
}

#[cfg(debug_assertions)]
mod active {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use ring::rand::{SecureRandom, SystemRandom};

    use crate::config::ChaosConfig;

    /// The chaos knobs and one random stream per knob (so that, with a fixed seed, the
    /// decisions of one knob do not depend on how often the others were asked).
    pub(crate) struct Chaos {
        bad_nonce_percent: u8,
        bad_nonce_max_in_a_row: u32,
        /// Refusals in a row per client key (reset by a request that passes).
        refused_in_a_row: Mutex<HashMap<String, u32>>,
        validation_delay_max_ms: u64,
        authz_reuse_percent: u8,
        panic_path: Option<String>,
        nonce_rng: Mutex<SplitMix64>,
        delay_rng: Mutex<SplitMix64>,
        reuse_rng: Mutex<SplitMix64>,
    }

    impl Chaos {
        /// Chaos as configured; `None` (no `[chaos]` section) = off.
        pub(crate) fn from_config(config: Option<&ChaosConfig>) -> Chaos {
            let c = config.cloned().unwrap_or_default();
            let seed = c.seed.unwrap_or_else(random_seed);
            if config.is_some() {
                log::warn!(
                    "CHAOS MODE (test-only): {}% of valid nonces refused (at most {} in a row \
                     per client), validations delayed 0-{} ms, {}% authorization reuse, panic \
                     path {:?}, seed {seed}",
                    c.bad_nonce_percent,
                    c.bad_nonce_max_in_a_row,
                    c.validation_delay_max_ms,
                    c.authz_reuse_percent,
                    c.panic_path.as_deref().unwrap_or("none"),
                );
            }
            Chaos {
                bad_nonce_percent: c.bad_nonce_percent.min(100),
                bad_nonce_max_in_a_row: c.bad_nonce_max_in_a_row.max(1),
                refused_in_a_row: Mutex::new(HashMap::new()),
                validation_delay_max_ms: c.validation_delay_max_ms,
                authz_reuse_percent: c.authz_reuse_percent.min(100),
                panic_path: c.panic_path,
                nonce_rng: Mutex::new(SplitMix64(seed ^ 0x006e_6f6e_6365)),
                delay_rng: Mutex::new(SplitMix64(seed ^ 0x0064_656c_6179)),
                reuse_rng: Mutex::new(SplitMix64(seed ^ 0x0072_6575_7365)),
            }
        }

        /// Whether to refuse this valid (already redeemed) nonce with `badNonce`. `client`
        /// names the signing key (its thumbprint; asked only when refusals are on): after
        /// `bad_nonce_max_in_a_row` refusals in a row, that key's next request passes.
        pub(crate) fn reject_valid_nonce(&self, client: impl FnOnce() -> String) -> bool {
            if self.bad_nonce_percent == 0 {
                return false;
            }
            let client = client();
            let mut counts = self
                .refused_in_a_row
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let in_a_row = counts.get(&client).copied().unwrap_or(0);
            if in_a_row >= self.bad_nonce_max_in_a_row
                || !roll(&self.nonce_rng, self.bad_nonce_percent)
            {
                counts.remove(&client);
                return false;
            }
            // Bounded memory: test servers see few clients; forgetting only allows one more.
            if counts.len() >= 4096 {
                counts.clear();
            }
            counts.insert(client, in_a_row + 1);
            log::info!("chaos: refusing a valid nonce with badNonce");
            true
        }

        /// How long a validation attempt waits first (`None`: delays are off).
        pub(crate) fn validation_delay(&self) -> Option<Duration> {
            if self.validation_delay_max_ms == 0 {
                return None;
            }
            let r = next(&self.delay_rng);
            let ms = r % (self.validation_delay_max_ms + 1);
            log::info!("chaos: validation attempt delayed {ms} ms");
            Some(Duration::from_millis(ms))
        }

        /// Whether a new authorization should be replaced by a reusable valid one.
        pub(crate) fn reuse_authz(&self) -> bool {
            roll(&self.reuse_rng, self.authz_reuse_percent)
        }

        /// Whether a request to `target` must panic in its handler (catalog #60 tests).
        pub(crate) fn panics_on(&self, target: &str) -> bool {
            self.panic_path.as_deref() == Some(target)
        }

        /// Panics when `target` is the configured panic path: the over-the-wire proof that a
        /// panicking handler costs its connection only (catalog #60). Debug builds only.
        pub(crate) fn panic_if_targeted(&self, target: &str) {
            if self.panics_on(target) {
                #[allow(clippy::panic)] // the purpose of this test-only hook
                {
                    panic!("chaos: panic requested by a request to {target}");
                }
            }
        }
    }

    /// `percent` % true (0 = never, 100 = always).
    fn roll(rng: &Mutex<SplitMix64>, percent: u8) -> bool {
        match percent {
            0 => false,
            p => next(rng) % 100 < u64::from(p),
        }
    }

    fn next(rng: &Mutex<SplitMix64>) -> u64 {
        rng.lock().unwrap_or_else(|p| p.into_inner()).next()
    }

    fn random_seed() -> u64 {
        let mut b = [0u8; 8];
        // Only chaos decisions depend on it: a failed fill leaves a fixed seed, nothing worse.
        let _ = SystemRandom::new().fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator — for test
    /// misbehaviour only, never for anything secret.
    pub(super) struct SplitMix64(pub(super) u64);

    impl SplitMix64 {
        pub(super) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn chaos(f: impl FnOnce(&mut ChaosConfig)) -> Chaos {
            let mut c = ChaosConfig {
                seed: Some(42),
                ..ChaosConfig::default()
            };
            f(&mut c);
            Chaos::from_config(Some(&c))
        }

        // No [chaos] section: nothing misbehaves.
        #[test]
        fn off_by_default() {
            let c = Chaos::from_config(None);
            assert!((0..1000).all(|_| !c.reject_valid_nonce(|| "k".into()) && !c.reuse_authz()));
            assert_eq!(c.validation_delay(), None);
            assert!(!c.panics_on("/"));
            c.panic_if_targeted("/");
        }

        // The share of refused nonces and reused authorizations follows the percentage. With a
        // fixed seed the count is deterministic; the bounds (±3 points over 10,000 draws, about
        // 7 standard deviations) hold for any seed with overwhelming odds and for seed 42 always.
        #[test]
        fn shares_follow_the_percentages() {
            for pct in [0u8, 5, 20, 50, 90, 100] {
                let c = chaos(|c| {
                    c.bad_nonce_percent = pct;
                    c.bad_nonce_max_in_a_row = 10_000;
                    c.authz_reuse_percent = pct;
                });
                let nonces = (0..10_000)
                    .filter(|_| c.reject_valid_nonce(|| "k".into()))
                    .count();
                let reuses = (0..10_000).filter(|_| c.reuse_authz()).count();
                let want = usize::from(pct) * 100;
                for got in [nonces, reuses] {
                    assert!(got.abs_diff(want) <= 300, "{pct}%: {got} of 10000");
                }
                if pct == 0 || pct == 100 {
                    assert_eq!((nonces, reuses), (want, want), "{pct}% is exact");
                }
            }
        }

        // RFC 8555 §6.5 says clients retry; certbot's acme library retries exactly once. With
        // `bad_nonce_max_in_a_row = 1` a key is never refused twice in a row, even at 100 %;
        // other keys keep their own count.
        #[test]
        fn refusals_in_a_row_are_capped_per_client() {
            let c = chaos(|c| c.bad_nonce_percent = 100);
            let a: Vec<bool> = (0..6)
                .map(|_| c.reject_valid_nonce(|| "a".into()))
                .collect();
            assert_eq!(a, [true, false, true, false, true, false]);
            assert!(c.reject_valid_nonce(|| "b".into()));
            assert!(c.reject_valid_nonce(|| "a".into()));
            assert!(!c.reject_valid_nonce(|| "b".into()));
            let c = chaos(|c| {
                c.bad_nonce_percent = 100;
                c.bad_nonce_max_in_a_row = 3;
            });
            let a: Vec<bool> = (0..8)
                .map(|_| c.reject_valid_nonce(|| "a".into()))
                .collect();
            assert_eq!(a, [true, true, true, false, true, true, true, false]);
            // Off: the client key is never even computed.
            let off = chaos(|_| ());
            assert!(!off.reject_valid_nonce(|| unreachable!("not asked when off")));
        }

        // Same seed, same decisions: a failing chaos run can be replayed.
        #[test]
        fn seeded_runs_repeat() {
            let run = || {
                let c = chaos(|c| {
                    c.bad_nonce_percent = 30;
                    c.bad_nonce_max_in_a_row = 3;
                    c.validation_delay_max_ms = 500;
                });
                (0..64)
                    .map(|_| (c.reject_valid_nonce(|| "k".into()), c.validation_delay()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(), run());
        }

        // Delays stay within 0..=max and spread over the range.
        #[test]
        fn delays_within_bounds() {
            let c = chaos(|c| c.validation_delay_max_ms = 2000);
            let ds: Vec<u128> = (0..2000)
                .map(|_| c.validation_delay().unwrap().as_millis())
                .collect();
            assert!(ds.iter().all(|&d| d <= 2000));
            assert!(ds.iter().any(|&d| d < 200) && ds.iter().any(|&d| d > 1800));
            assert_eq!(chaos(|_| ()).validation_delay(), None);
        }

        // Only the exact configured target panics.
        #[test]
        fn panic_path_is_exact() {
            let c = chaos(|c| c.panic_path = Some("/chaos/panic".into()));
            assert!(c.panics_on("/chaos/panic"));
            assert!(!c.panics_on("/chaos/panic/"));
            assert!(!c.panics_on("/acme/directory"));
            c.panic_if_targeted("/acme/directory");
            let caught = std::panic::catch_unwind(|| c.panic_if_targeted("/chaos/panic"));
            assert!(caught.is_err(), "the configured path panics");
        }
    }
}
