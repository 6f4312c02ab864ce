//! Identifier syntax (RFC 8555 §7.1.3, §7.1.4; RFC 8738 §3): what may be ordered, and its
//! internal normal form. Orders echo the identifiers exactly as sent (lego compares them); the
//! normal form is only used for matching CSRs, authorizations and validation.

use std::net::IpAddr;

/// An identifier that passed the syntax rules, in normal form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Normalized {
    /// A DNS name, lower case, without the wildcard label.
    Dns { name: String, wildcard: bool },
    /// An IP address (RFC 8738), canonical text form.
    Ip(IpAddr),
}

impl Normalized {
    /// The value the authorization is for (the base name of a wildcard).
    pub(crate) fn authz_value(&self) -> String {
        match self {
            Normalized::Dns { name, .. } => name.clone(),
            Normalized::Ip(ip) => ip.to_string(),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Normalized::Dns { .. } => "dns",
            Normalized::Ip(_) => "ip",
        }
    }

    /// The name as it must appear in the certificate (`*.` kept for wildcards).
    pub(crate) fn cert_name(&self) -> String {
        match self {
            Normalized::Dns {
                name,
                wildcard: true,
            } => format!("*.{name}"),
            Normalized::Dns { name, .. } => name.clone(),
            Normalized::Ip(ip) => ip.to_string(),
        }
    }
}

/// Why an identifier was refused; becomes a subproblem naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdentifierError {
    /// `type` is neither `dns` nor `ip` → unsupportedIdentifier.
    UnsupportedType(String),
    /// Syntax broken → malformed (RFC 8555 §7.1.4 wildcard rules, RFC 8738 canonical text).
    Malformed(&'static str),
}

impl std::fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentifierError::UnsupportedType(t) => {
                write!(f, "identifier type {t:?} is not supported")
            }
            IdentifierError::Malformed(why) => f.write_str(why),
        }
    }
}

/// Checks one identifier of a newOrder and returns its normal form.
pub(crate) fn normalize(kind: &str, value: &str) -> Result<Normalized, IdentifierError> {
    match kind {
        "dns" => normalize_dns(value),
        "ip" => normalize_ip(value).map(Normalized::Ip),
        other => Err(IdentifierError::UnsupportedType(
            other.chars().take(32).collect(),
        )),
    }
}

/// RFC 8738 §3: the textual form of RFC 1123 §2.1 (IPv4) or RFC 5952 §4 (IPv6), nothing else.
fn normalize_ip(value: &str) -> Result<IpAddr, IdentifierError> {
    let ip: IpAddr = value
        .parse()
        .map_err(|_| IdentifierError::Malformed("not an IP address in canonical text form"))?;
    if ip.to_string() != value {
        // Rust prints RFC 5952 form (lower case, compressed) and dotted decimal without zeros.
        return Err(IdentifierError::Malformed(
            "IP address must be in canonical form (RFC 5952 / RFC 1123)",
        ));
    }
    if let IpAddr::V6(v6) = ip
        && v6.to_ipv4_mapped().is_some()
    {
        return Err(IdentifierError::Malformed(
            "IPv4-mapped IPv6 addresses are not accepted; order the IPv4 address",
        ));
    }
    Ok(ip)
}

fn normalize_dns(value: &str) -> Result<Normalized, IdentifierError> {
    use IdentifierError::Malformed;
    let (wildcard, base) = match value.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if base.contains('*') {
        return Err(Malformed(
            "a wildcard is allowed only as the whole leftmost label (\"*.\")",
        ));
    }
    if base.is_empty() {
        return Err(Malformed("empty DNS name"));
    }
    if base.len() > 253 {
        return Err(Malformed("DNS name longer than 253 characters"));
    }
    if base.ends_with('.') {
        return Err(Malformed("DNS name must not end with a dot"));
    }
    if base.parse::<IpAddr>().is_ok() {
        return Err(Malformed("an IP address must be ordered with type \"ip\""));
    }
    let name = base.to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        check_label(label)?;
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Malformed(
            "the last label of a DNS name cannot be all digits",
        ));
    }
    if wildcard && labels.len() < 2 {
        return Err(Malformed(
            "a wildcard directly under a top-level label is not allowed",
        ));
    }
    Ok(Normalized::Dns { name, wildcard })
}

/// RFC 1035 §2.3.1 LDH labels; RFC 5890 reserved "??--" labels only as `xn--` A-labels.
fn check_label(label: &str) -> Result<(), IdentifierError> {
    use IdentifierError::Malformed;
    if label.is_empty() {
        return Err(Malformed("DNS name has an empty label"));
    }
    if label.len() > 63 {
        return Err(Malformed("DNS label longer than 63 characters"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Malformed(
            "DNS name may contain only letters, digits and hyphens (use A-labels for IDNs)",
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Malformed("DNS label must not start or end with a hyphen"));
    }
    if label.get(2..4) == Some("--") {
        // RFC 8555 §7.1.4 asks servers to validate "xn--" labels: only the xn-- prefix is
        // allowed there, and what follows must decode as Punycode (RFC 3492) into a non-ASCII
        // label (catalog #35).
        if !label.starts_with("xn--") || !crate::acme::punycode::is_valid_a_label(label) {
            return Err(Malformed(
                "DNS label with \"--\" in positions 3-4 must be a valid \"xn--\" A-label",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catalog #35: malformed DNS names are refused, valid ones lower-cased.
    #[test]
    fn dns_names() {
        assert_eq!(
            normalize("dns", "App.Example.Test"),
            Ok(Normalized::Dns {
                name: "app.example.test".into(),
                wildcard: false
            })
        );
        for bad in [
            "",
            "a..b",
            "a.b.",
            "-a.b",
            "a-.b",
            "a_b.lan",
            "a b.lan",
            "ab--c.lan",
            "xn--.lan",
            "xn--a.lan",
            "xn--abc-.lan",
            "1.2.3.4",
            "a.123",
        ] {
            assert!(normalize("dns", bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize("dns", &format!("{}.lan", "a".repeat(64))).is_err());
        assert!(normalize("dns", "a.".repeat(128).trim_end_matches('.')).is_err());
        assert!(normalize("dns", "xn--bcher-kva.lan").is_ok());
    }

    // RFC 8555 §7.1.3 / catalog #36: wildcard syntax.
    #[test]
    fn wildcards() {
        assert_eq!(
            normalize("dns", "*.x.lan"),
            Ok(Normalized::Dns {
                name: "x.lan".into(),
                wildcard: true
            })
        );
        for bad in ["*.lan", "a.*.lan", "*a.lan", "*.*.lan", "*"] {
            assert!(normalize("dns", bad).is_err(), "{bad:?} accepted");
        }
    }

    // RFC 8738 §3 / catalog #37: only canonical IP text.
    #[test]
    fn ip_addresses() {
        assert!(normalize("ip", "192.168.1.10").is_ok());
        assert!(normalize("ip", "fd00::1").is_ok());
        for bad in [
            "010.0.0.1",
            "FD00::1",
            "fd00:0:0:0:0:0:0:1",
            "::ffff:10.0.0.1",
            "fe80::1%eth0",
            "x",
        ] {
            assert!(normalize("ip", bad).is_err(), "{bad:?} accepted");
        }
    }

    // Catalog #35: unknown identifier types are unsupportedIdentifier, not malformed.
    #[test]
    fn unsupported_type() {
        assert!(matches!(
            normalize("email", "a@b"),
            Err(IdentifierError::UnsupportedType(_))
        ));
    }
}
