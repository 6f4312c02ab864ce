//! dns-01 validation (RFC 8555 §8.4; security catalog #44, #45).
//!
//! Owns one attempt: ask our own resolver (the servers of the longest configured zone, see
//! [`super::zones`]) for the TXT records of `_acme-challenge.<name>` — the base name for a
//! wildcard authorization, whose identifier is already the base name (RFC 8555 §7.1.3) — and
//! succeed when any record equals base64url(SHA-256(key authorization)). Transport, CNAME
//! bounds, truncation and record-count limits are the DNS client's ([`super::dns`]).

use async_io::Timer;
use base64::Engine as _;
use futures_lite::FutureExt;

use super::{DnsError, ValidationError, Validator};

/// RFC 8555 §8.4: the label prepended to the name being validated.
pub(crate) const CHALLENGE_LABEL: &str = "_acme-challenge";
/// Characters of a wrong TXT value quoted back to the client.
const EXCERPT_CHARS: usize = 64;

/// RFC 8555 §8.4: the TXT record value, "the base64url encoding of the SHA-256 digest" of the
/// key authorization.
pub(crate) fn txt_value(key_authorization: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// RFC 8555 §8.4: the outcome for the TXT records found at `query`.
pub(crate) fn check_records(
    query: &str,
    records: &[String],
    key_authorization: &str,
) -> Result<(), ValidationError> {
    let want = txt_value(key_authorization);
    // "verify that the contents of one of the TXT records match the digest value"
    if records.iter().any(|r| r == &want) {
        return Ok(());
    }
    let first: String = records
        .first()
        .map(|r| {
            r.chars()
                .take(EXCERPT_CHARS)
                .flat_map(char::escape_debug)
                .collect()
        })
        .unwrap_or_default();
    Err(ValidationError::Unauthorized(format!(
        "Incorrect TXT record \"{first}\" found at {query} ({} record(s), none matches)",
        records.len()
    )))
}

impl Validator {
    /// One dns-01 attempt for the DNS identifier `name` (lower case; for a wildcard order the
    /// base name).
    pub(crate) async fn dns01(
        &self,
        kind: &str,
        name: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        // RFC 8738 §7: dns-01 is never used for IP identifiers.
        if kind != "dns" {
            return Err(ValidationError::Connection(format!(
                "dns-01 cannot validate a {kind:?} identifier"
            )));
        }
        let query = format!("{CHALLENGE_LABEL}.{}", name.trim_end_matches('.'));
        let lookup = async {
            self.resolvers
                .for_name(&query)
                .lookup_txt(&query)
                .await
                .map_err(|e| match e {
                    DnsError::NoData(_) => {
                        ValidationError::Unauthorized(format!("No TXT record found at {query}"))
                    }
                    other => ValidationError::Dns(format!("{query}: {other}")),
                })
        };
        let deadline = async {
            Timer::after(self.attempt_timeout).await;
            Err(ValidationError::Dns(format!(
                "no DNS answer for {query} within {} ms",
                self.attempt_timeout.as_millis()
            )))
        };
        let records = lookup.or(deadline).await?;
        check_records(&query, &records, key_authorization)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;
    use crate::validate::mock_dns::{MockDns, MockDnsConfig};
    use crate::validate::{AddressPolicy, Resolver, Resolvers};

    const KEY_AUTH: &str =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

    fn validator(dns: &MockDns) -> Validator {
        Validator::new(
            Resolver::new(vec![dns.addr], Duration::from_secs(2)),
            AddressPolicy::new(vec![]),
            80,
            Duration::from_secs(5),
        )
    }

    fn txt(name: &str, values: &[&str]) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            name.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        )])
    }

    // RFC 8555 §8.4: the value is base64url(SHA-256(key authorization)), unpadded (43 chars).
    #[test]
    fn txt_value_is_unpadded_base64url_sha256() {
        let v = txt_value(KEY_AUTH);
        assert_eq!(v.len(), 43);
        assert!(!v.contains(['=', '+', '/']));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&v)
            .unwrap();
        assert_eq!(
            raw,
            ring::digest::digest(&ring::digest::SHA256, KEY_AUTH.as_bytes()).as_ref()
        );
    }

    // RFC 8555 §8.4: one matching record among others is enough.
    #[test]
    fn any_matching_record_validates() {
        let dns = MockDns::start_with_txt(
            HashMap::new(),
            None,
            txt("_acme-challenge.x.lan", &["stale", &txt_value(KEY_AUTH)]),
        );
        smol::block_on(validator(&dns).dns01("dns", "x.lan", KEY_AUTH)).unwrap();
    }

    // Catalog #44: a wrong value is unauthorized and quotes (a sanitised excerpt of) it.
    #[test]
    fn wrong_value_is_unauthorized() {
        let dns = MockDns::start_with_txt(
            HashMap::new(),
            None,
            txt("_acme-challenge.x.lan", &["not-it\u{7}"]),
        );
        let e = smol::block_on(validator(&dns).dns01("dns", "x.lan", KEY_AUTH)).unwrap_err();
        let ValidationError::Unauthorized(detail) = e else {
            panic!("{e:?}")
        };
        assert!(detail.contains("not-it\\u{7}"), "{detail}");
    }

    // Catalog #44: NXDOMAIN → dns; a name with no TXT → unauthorized "No TXT record".
    #[test]
    fn nxdomain_and_nodata() {
        let dns = MockDns::start_with_txt(
            HashMap::from([(
                "_acme-challenge.empty.lan".to_owned(),
                vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
            )]),
            None,
            HashMap::new(),
        );
        let v = validator(&dns);
        let e = smol::block_on(v.dns01("dns", "gone.lan", KEY_AUTH)).unwrap_err();
        assert!(
            matches!(e, ValidationError::Dns(ref d) if d.contains("NXDOMAIN")),
            "{e:?}"
        );
        let e = smol::block_on(v.dns01("dns", "empty.lan", KEY_AUTH)).unwrap_err();
        assert!(
            matches!(e, ValidationError::Unauthorized(ref d) if d.contains("No TXT record")),
            "{e:?}"
        );
    }

    // Catalog #44: SERVFAIL from every server → dns error, not success.
    #[test]
    fn servfail_is_dns_error() {
        let dns = MockDns::start_with(MockDnsConfig {
            servfail: true,
            ..MockDnsConfig::default()
        });
        let e = smol::block_on(validator(&dns).dns01("dns", "x.lan", KEY_AUTH)).unwrap_err();
        assert!(matches!(e, ValidationError::Dns(_)), "{e:?}");
    }

    // RFC 8555 §8.4 + CNAME: a delegated _acme-challenge (CNAME to another zone) is followed.
    #[test]
    fn cname_delegation_followed() {
        let dns = MockDns::start_with(MockDnsConfig {
            cnames: HashMap::from([("_acme-challenge.x.lan".to_owned(), "x.acme.lan".to_owned())]),
            txt: txt("x.acme.lan", &[&txt_value(KEY_AUTH)]),
            ..MockDnsConfig::default()
        });
        smol::block_on(validator(&dns).dns01("dns", "x.lan", KEY_AUTH)).unwrap();
    }

    // Split horizon: a zone's own server is asked for names in it (the default knows nothing).
    #[test]
    fn per_zone_resolver_is_used() {
        let empty = MockDns::start_with(MockDnsConfig::default());
        let home = MockDns::start_with_txt(
            HashMap::new(),
            None,
            txt("_acme-challenge.nas.home.lan", &[&txt_value(KEY_AUTH)]),
        );
        let v = validator(&empty).with_resolvers(
            Resolvers::new(Resolver::new(vec![empty.addr], Duration::from_secs(2))).with_zone(
                "home.lan",
                Resolver::new(vec![home.addr], Duration::from_secs(2)),
            ),
        );
        smol::block_on(v.dns01("dns", "nas.home.lan", KEY_AUTH)).unwrap();
        assert!(smol::block_on(validator(&empty).dns01("dns", "nas.home.lan", KEY_AUTH)).is_err());
    }

    // A record published after the first lookup (a client's hook) is seen by the next one.
    #[test]
    fn record_set_at_run_time_is_seen() {
        let dir = std::env::temp_dir().join(format!("upki-ra-dns01-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("txt");
        let _ = std::fs::remove_file(&file);
        let dns = MockDns::start_with(MockDnsConfig {
            txt_file: Some(file.clone()),
            ..MockDnsConfig::default()
        });
        let v = validator(&dns);
        assert!(smol::block_on(v.dns01("dns", "late.lan", KEY_AUTH)).is_err());
        std::fs::write(
            &file,
            format!("_acme-challenge.late.lan. {}\n", txt_value(KEY_AUTH)),
        )
        .unwrap();
        smol::block_on(v.dns01("dns", "late.lan", KEY_AUTH)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    // RFC 8738 §7: never for IP identifiers.
    #[test]
    fn ip_identifier_refused() {
        let dns = MockDns::start_with(MockDnsConfig::default());
        assert!(smol::block_on(validator(&dns).dns01("ip", "10.0.0.1", KEY_AUTH)).is_err());
    }
}
