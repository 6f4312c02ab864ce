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
}
