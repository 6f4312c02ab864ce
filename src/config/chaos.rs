//! `[chaos]`: the strict-server test mode, after Pebble's (its README: "Invalid Anti-Replay
//! Nonce Errors", "Valid Authorization Reuse", validation sleeps). TEST-ONLY: only debug builds
//! (`cfg(debug_assertions)`, what `cargo test` runs) act on it; a release build refuses the
//! section at load, so a packaged server can never be started with it.

use serde::Deserialize;

use super::{ConfigError, err};

/// Whether this build has the chaos mode: debug builds only, never release builds.
pub(crate) const COMPILED_IN: bool = cfg!(debug_assertions);

/// `[chaos]` (test-only): misbehaviours a strict ACME server may show, so that client
/// interop tests prove the clients cope with them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
// Release builds only parse the section (to refuse it); they never read its values.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub(crate) struct ChaosConfig {
    /// Share (0–100 %) of valid nonces refused with `badNonce` (consumed all the same; the
    /// error carries a fresh Replay-Nonce, RFC 8555 §6.5).
    pub(crate) bad_nonce_percent: u8,
    /// Refusals in a row for one client key before its next request passes (default 1:
    /// certbot's acme library retries `badNonce` exactly once; lego retries more).
    pub(crate) bad_nonce_max_in_a_row: u32,
    /// Each validation attempt waits a random 0..=N ms before it queries the client.
    pub(crate) validation_delay_max_ms: u64,
    /// Share (0–100 %) of new authorizations replaced by a still-valid authorization of the
    /// same account for the same identifier (RFC 8555 §7.4; catalog #46).
    pub(crate) authz_reuse_percent: u8,
    /// A request to exactly this target panics inside its handler (catalog #60 test).
    pub(crate) panic_path: Option<String>,
    /// Seed of the chaos random numbers (fixed = reproducible runs); default: random.
    pub(crate) seed: Option<u64>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            bad_nonce_percent: 0,
            bad_nonce_max_in_a_row: 1,
            validation_delay_max_ms: 0,
            authz_reuse_percent: 0,
            panic_path: None,
            seed: None,
        }
    }
}

/// Checks `[chaos]`; `compiled_in` is [`COMPILED_IN`] (a parameter so the release-build
/// refusal is testable from a debug build).
pub(crate) fn check(chaos: Option<&ChaosConfig>, compiled_in: bool) -> Result<(), ConfigError> {
    let Some(c) = chaos else {
        return Ok(());
    };
    if !compiled_in {
        return Err(err(
            "chaos",
            "test-only section: this is a release build, which has no chaos mode (remove \
             [chaos], or use a debug build for tests)",
        ));
    }
    if c.bad_nonce_percent > 100 {
        return Err(err("chaos.bad_nonce_percent", "must be between 0 and 100"));
    }
    if c.bad_nonce_max_in_a_row == 0 {
        return Err(err("chaos.bad_nonce_max_in_a_row", "must be at least 1"));
    }
    if c.authz_reuse_percent > 100 {
        return Err(err(
            "chaos.authz_reuse_percent",
            "must be between 0 and 100",
        ));
    }
    if c.validation_delay_max_ms > 60_000 {
        return Err(err(
            "chaos.validation_delay_max_ms",
            "must be between 0 and 60000",
        ));
    }
    if let Some(p) = &c.panic_path
        && !p.starts_with('/')
    {
        return Err(err(
            "chaos.panic_path",
            "must be a request target starting with /",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    // A release build (compiled_in = false) refuses the section with one clear line.
    #[test]
    fn release_build_refuses_chaos_section() {
        let chaos = ChaosConfig {
            bad_nonce_percent: 20,
            ..ChaosConfig::default()
        };
        let e = check(Some(&chaos), false).unwrap_err().to_string();
        assert!(e.starts_with("chaos: test-only section"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // An empty section is refused too: its mere presence asks for chaos.
        assert!(check(Some(&ChaosConfig::default()), false).is_err());
        // What this build does with it, end to end through the parser.
        let parsed = Config::parse("[chaos]\nbad_nonce_percent = 20\n");
        if COMPILED_IN {
            assert!(parsed.is_ok());
        } else {
            let e = parsed.unwrap_err().to_string();
            assert!(e.starts_with("chaos: test-only section"), "{e}");
        }
        // Without the section a release build has nothing to refuse.
        let plain = Config::parse("").unwrap();
        assert!(plain.chaos.is_none());
        assert!(check(plain.chaos.as_ref(), false).is_ok());
    }

    // Debug builds (where the tests run) accept it and check its values.
    #[test]
    #[cfg(debug_assertions)]
    fn debug_build_checks_values() {
        let ok = "[chaos]\nbad_nonce_percent = 20\nvalidation_delay_max_ms = 2000\n\
                  authz_reuse_percent = 50\npanic_path = \"/panic\"\nseed = 7\n";
        let c = Config::parse(ok).unwrap().chaos.unwrap();
        assert_eq!(
            (
                c.bad_nonce_percent,
                c.validation_delay_max_ms,
                c.authz_reuse_percent
            ),
            (20, 2000, 50)
        );
        for (text, key) in [
            ("bad_nonce_percent = 101", "chaos.bad_nonce_percent"),
            ("authz_reuse_percent = 101", "chaos.authz_reuse_percent"),
            ("bad_nonce_max_in_a_row = 0", "chaos.bad_nonce_max_in_a_row"),
            (
                "validation_delay_max_ms = 60001",
                "chaos.validation_delay_max_ms",
            ),
            ("panic_path = \"panic\"", "chaos.panic_path"),
        ] {
            let e = Config::parse(&format!("[chaos]\n{text}\n")).unwrap_err();
            assert_eq!(e.key, key, "{text}");
        }
        let e = Config::parse("[chaos]\nnonce_reject = 5\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }
}
