//! Tests of the configuration file the packages install as `/etc/upki-ra/ra.toml`
//! (`packaging/ra.toml`, CONVENTIONS #11: every shipped example parses).

use super::Config;

const SHIPPED: &str = include_str!("../../packaging/ra.toml");

#[test]
fn shipped_ra_toml_parses() {
    let c = Config::parse(SHIPPED).unwrap_or_else(|e| panic!("packaging/ra.toml: {e}"));
    assert_eq!(c.server.data_dir, std::path::Path::new("/var/lib/upki-ra"));
    assert!(
        c.metrics.enabled,
        "the package turns the metrics listener on"
    );
}

/// The commented `#key = value` lines document real keys with valid values: uncommenting all
/// of them must still give a configuration that loads.
#[test]
fn shipped_ra_toml_commented_keys_are_valid() {
    let mut uncommented = 0;
    let text: String = SHIPPED
        .lines()
        .map(|line| {
            let is_key = line
                .strip_prefix('#')
                .and_then(|rest| rest.split_once(" = "))
                .is_some_and(|(k, _)| {
                    !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                });
            if is_key {
                uncommented += 1;
                format!("{}\n", &line[1..])
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(uncommented >= 20, "only {uncommented} commented keys found");
    let c = Config::parse(&text).unwrap_or_else(|e| panic!("uncommented packaging/ra.toml: {e}"));
    // The commented values are the defaults (except the examples of optional keys).
    let d = Config::default();
    assert_eq!(c.server.listen, d.server.listen);
    assert_eq!(c.validation.allow_networks, d.validation.allow_networks);
    assert_eq!(c.metrics.listen, d.metrics.listen);
    assert_eq!(c.acme.order_lifetime_hours, d.acme.order_lifetime_hours);
    assert_eq!(c.validation.retry_delay_secs, d.validation.retry_delay_secs);
    assert_eq!(
        c.validation.attempt_timeout_secs,
        d.validation.attempt_timeout_secs
    );
    assert!(
        !c.identifiers.legacy_ip_identifiers,
        "the switch is off by default"
    );
}

/// Issue 4: challenges are "retried a bounded number of times (configurable; default 3
/// within ~30 s)": the default schedule, which the shipped file documents, settles a challenge
/// within 30 s in the worst case (every attempt timing out).
#[test]
fn s8_2_default_retry_window_fits_30s() {
    for (what, c) in [
        ("defaults", Config::default()),
        ("packaging/ra.toml", Config::parse(SHIPPED).unwrap()),
    ] {
        let v = &c.validation;
        assert_eq!(v.attempts, 3, "{what}");
        let window = crate::validate::retry::retry_window(
            v.attempts,
            std::time::Duration::from_secs(v.attempt_timeout_secs),
            std::time::Duration::from_secs(v.retry_delay_secs),
        );
        assert!(window.as_secs() <= 30, "{what}: worst case {window:?}");
    }
}

/// `identifiers.legacy_ip_identifiers` is off unless set, and parses when set.
#[test]
fn legacy_ip_identifiers_off_by_default() {
    assert!(!Config::default().identifiers.legacy_ip_identifiers);
    assert!(
        !Config::parse(SHIPPED)
            .unwrap()
            .identifiers
            .legacy_ip_identifiers
    );
    let on = Config::parse("[identifiers]\nlegacy_ip_identifiers = true\n").unwrap();
    assert!(on.identifiers.legacy_ip_identifiers);
    assert!(Config::parse("[identifiers]\nlegacy_ip_identifiers = \"yes\"\n").is_err());
    let remote = "[ca]\nendpoint = \"tcp://10.0.0.2:5000\"\n\
                  [identifiers]\nlegacy_ip_identifiers = true\n";
    let e = Config::parse(remote).unwrap_err();
    assert_eq!(e.key, "identifiers.legacy_ip_identifiers", "{e}");
}
