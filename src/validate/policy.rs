//! Which addresses the validator may dial (RFC 8555 §10.4, security catalog #42).
//!
//! RFC 8555 §10.4 warns that validation requests are made to addresses chosen by the client and
//! "could be used to attack ... servers behind a firewall". On a private network every target
//! is behind the firewall, so the validator dials only addresses inside an operator-chosen
//! allow-list of networks ([`AddressPolicy`]); everything else — loopback, link-local (cloud
//! metadata at 169.254.169.254), the RA's own services — is refused unless the operator lists
//! it explicitly. The check applies to every address of every hop, after DNS resolution, on the
//! address that is then dialled (no re-resolution between check and connect).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network in CIDR notation ("10.0.0.0/8", "fd00::/8"; a bare address is a /32 or /128).
///
/// Invariant: `prefix` ≤ the address width and `addr` has no bit set after the prefix. Text
/// with host bits set ("10.0.0.1/8") is *rejected* rather than masked: in a config file it is
/// more likely a typo than a wish, and the error names the network that was probably meant.
/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is stored as its IPv4 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CidrError {
    /// The part before `/` is not an IP address.
    BadAddress(String),
    /// The prefix length is not a number within the address width.
    BadPrefix(String),
    /// Bits after the prefix are set; `suggestion` is the masked network.
    HostBitsSet { input: String, suggestion: String },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::BadAddress(s) => {
                write!(f, "{s:?} is not an IP network (expected e.g. 10.0.0.0/8)")
            }
            CidrError::BadPrefix(s) => write!(f, "{s:?} has an invalid prefix length"),
            CidrError::HostBitsSet { input, suggestion } => {
                write!(
                    f,
                    "{input:?} has host bits set after the prefix (did you mean {suggestion}?)"
                )
            }
        }
    }
}

impl Cidr {
    /// The network of `addr` with `prefix` bits, host bits cleared.
    fn masked(addr: IpAddr, prefix: u8) -> Cidr {
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Cidr { addr, prefix }
    }

    /// Whether `ip` lies in this network (addresses of the other family never do).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::BadAddress(s.to_owned()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => width,
            // Digits only: no sign, no whitespace, no leading "+".
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .map_err(|_| CidrError::BadPrefix(s.to_owned()))?,
            Some(_) => return Err(CidrError::BadPrefix(s.to_owned())),
        };
        if prefix > width {
            return Err(CidrError::BadPrefix(s.to_owned()));
        }
        let net = Cidr::masked(addr, prefix);
        if net.addr != addr {
            return Err(CidrError::HostBitsSet {
                input: s.to_owned(),
                suggestion: net.to_string(),
            });
        }
        // ::ffff:a.b.c.d/p with p ≥ 96 is the IPv4 network a.b.c.d/(p-96): store it as such,
        // since `permits` checks mapped addresses as IPv4.
        if let IpAddr::V6(v6) = addr
            && let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96)
        {
            return Ok(Cidr {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(net)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// The private-network default: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared
/// space (100.64/10) and RFC 4193 unique-local IPv6 (fc00::/7). Never loopback, link-local,
/// multicast, unspecified or broadcast.
pub(crate) const LAN_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// The networks the validator may dial.
///
/// Invariant: an address is permitted iff some allowed network contains it (IPv4-mapped IPv6
/// addresses are checked as their IPv4 address), and it is never the unspecified address, a
/// multicast address or the IPv4 broadcast address — those are refused even if a listed network
/// covers them (e.g. `0.0.0.0/0`), because dialling `0.0.0.0` reaches the local host on Linux and
/// the others cannot be an http-01 responder.
#[derive(Clone, Debug)]
pub(crate) struct AddressPolicy {
    allow: Vec<Cidr>,
}

impl AddressPolicy {
    /// Exactly the networks in `allow` (minus the always-refused addresses above).
    pub(crate) fn new(allow: Vec<Cidr>) -> AddressPolicy {
        AddressPolicy { allow }
    }

    /// The private-network default ([`LAN_NETWORKS`]).
    #[cfg(test)]
    pub(crate) fn lan_default() -> AddressPolicy {
        AddressPolicy::new(LAN_NETWORKS.iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// Whether the validator may connect to `ip`.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let never = match ip {
            IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
            IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
        };
        !never && self.allow.iter().any(|net| net.contains(ip))
    }
}

/// Which identifiers may be ordered at all (security catalog #35, #42): the operator's private
/// namespace. Checked at newOrder, before any authorization exists; a refusal is a
/// `rejectedIdentifier` subproblem naming the identifier.
///
/// Invariant: `dns_suffixes` are lower-case LDH names without leading or trailing dots; an
/// empty list admits every DNS name. `localhost` and names under it are never admitted
/// (RFC 6761 §6.3: they always resolve to the local host, so no one can prove control).
#[derive(Clone, Debug)]
pub(crate) struct IdentifierPolicy {
    dns_suffixes: Vec<String>,
    ip_networks: Vec<Cidr>,
    wildcards: bool,
}

impl IdentifierPolicy {
    /// DNS names equal to or under one of `dns_suffixes` (any name when empty), IP addresses
    /// inside `ip_networks`, and wildcard names only if `wildcards`. Suffixes are normalised
    /// (case, surrounding dots).
    pub(crate) fn new(dns_suffixes: &[String], ip_networks: Vec<Cidr>, wildcards: bool) -> Self {
        IdentifierPolicy {
            dns_suffixes: dns_suffixes
                .iter()
                .map(|s| s.trim_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            ip_networks,
            wildcards,
        }
    }

    /// Whether the DNS name `name` (lower case; the base name of a wildcard) may be ordered.
    pub(crate) fn check_dns(&self, name: &str, wildcard: bool) -> Result<(), String> {
        if super::zones::in_zone(name, "localhost") {
            return Err("names under localhost cannot be validated (RFC 6761)".into());
        }
        if wildcard && !self.wildcards {
            return Err("wildcard names are not allowed by this server's policy".into());
        }
        if !self.dns_suffixes.is_empty()
            && !self
                .dns_suffixes
                .iter()
                .any(|suffix| super::zones::in_zone(name, suffix))
        {
            return Err(format!(
                "this server only issues for names under {}",
                self.dns_suffixes.join(", ")
            ));
        }
        Ok(())
    }

    /// Whether the IP address `ip` may be ordered (RFC 8738).
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if AddressPolicy::new(self.ip_networks.clone()).permits(ip) {
            Ok(())
        } else {
            Err("this IP address is outside the networks this server issues for".into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("fd00::/8").to_string(), "fd00::/8");
        assert_eq!(cidr("192.168.1.5").to_string(), "192.168.1.5/32");
        assert_eq!(cidr("::1").to_string(), "::1/128");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "host.lan/24",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err,
            CidrError::HostBitsSet {
                input: "10.0.0.1/8".into(),
                suggestion: "10.0.0.0/8".into()
            }
        );
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"));
        assert!("fd00::1/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn cidr_contains_edges() {
        let net = cidr("172.16.0.0/12");
        assert!(net.contains(ip("172.16.0.0")));
        assert!(net.contains(ip("172.31.255.255")));
        assert!(!net.contains(ip("172.32.0.0")));
        assert!(!net.contains(ip("172.15.255.255")));
        assert!(
            !net.contains(ip("::ffff:172.16.0.1")),
            "families never mix in Cidr::contains"
        );
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
    }

    // RFC 8555 §10.4 / catalog #42: each default network is dialable, nothing else is.
    #[test]
    fn lan_default_networks() {
        let p = AddressPolicy::lan_default();
        for ok in [
            "10.0.0.1",
            "10.255.255.254",
            "172.16.0.1",
            "172.31.1.1",
            "192.168.0.1",
            "192.168.255.1",
            "100.64.0.1",
            "100.127.255.254",
            "fc00::1",
            "fd12:3456::1",
        ] {
            assert!(p.permits(ip(ok)), "{ok}");
        }
        for denied in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "fe00::1",
        ] {
            assert!(!p.permits(ip(denied)), "{denied}");
        }
    }

    // Catalog #42: loopback, link-local (cloud metadata), multicast, unspecified and broadcast
    // are never in the default.
    #[test]
    fn lan_default_refuses_special_addresses() {
        let p = AddressPolicy::lan_default();
        for denied in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "169.254.169.254",
            "fe80::1",
            "224.0.0.1",
            "ff02::1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
        ] {
            assert!(!p.permits(ip(denied)), "{denied}");
        }
    }

    // Loopback only when the operator lists it (the tests do).
    #[test]
    fn loopback_when_explicitly_allowed() {
        let p = AddressPolicy::new(vec![cidr("127.0.0.0/8"), cidr("::1")]);
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("::1")));
        assert!(!p.permits(ip("10.0.0.1")));
    }

    // IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address: no bypass, no false refusal.
    #[test]
    fn mapped_ipv6_checked_as_ipv4() {
        let p = AddressPolicy::lan_default();
        assert!(p.permits(ip("::ffff:10.1.2.3")));
        assert!(!p.permits(ip("::ffff:127.0.0.1")));
        assert!(!p.permits(ip("::ffff:169.254.169.254")));
        let loopback = AddressPolicy::new(vec![cidr("127.0.0.0/8")]);
        assert!(loopback.permits(ip("::ffff:127.0.0.1")));
    }

    // Allowing everything still never dials unspecified, multicast or broadcast.
    #[test]
    fn backstop_even_with_catch_all() {
        let p = AddressPolicy::new(vec![cidr("0.0.0.0/0"), cidr("::/0")]);
        assert!(p.permits(ip("8.8.8.8")));
        for denied in [
            "0.0.0.0",
            "::",
            "::ffff:0.0.0.0",
            "239.1.1.1",
            "ff05::2",
            "255.255.255.255",
        ] {
            assert!(!p.permits(ip(denied)), "{denied}");
        }
    }

    // Catalog #35: names outside the configured suffixes are refused, on label boundaries.
    #[test]
    fn identifier_policy_dns_suffixes() {
        let p = IdentifierPolicy::new(&[".Home.LAN.".into(), "corp.internal".into()], vec![], true);
        assert!(p.check_dns("home.lan", false).is_ok());
        assert!(p.check_dns("nas.home.lan", false).is_ok());
        assert!(p.check_dns("a.b.corp.internal", true).is_ok());
        for bad in ["myhome.lan", "lan", "example.com", "home.lan.evil.com"] {
            assert!(p.check_dns(bad, false).is_err(), "{bad}");
        }
        let any = IdentifierPolicy::new(&[], vec![], true);
        assert!(any.check_dns("example.com", false).is_ok());
    }

    // RFC 6761 §6.3: localhost is never ordered; wildcards can be switched off.
    #[test]
    fn identifier_policy_localhost_and_wildcards() {
        let p = IdentifierPolicy::new(&[], vec![], false);
        assert!(p.check_dns("localhost", false).is_err());
        assert!(p.check_dns("app.localhost", false).is_err());
        assert!(p.check_dns("x.lan", true).is_err());
        assert!(p.check_dns("x.lan", false).is_ok());
    }

    // RFC 8738 / catalog #42: IP identifiers only inside the configured networks.
    #[test]
    fn identifier_policy_ip_networks() {
        let p = IdentifierPolicy::new(&[], vec![cidr("192.168.1.0/24"), cidr("fd00::/8")], true);
        assert!(p.check_ip(ip("192.168.1.7")).is_ok());
        assert!(p.check_ip(ip("fd00::7")).is_ok());
        for bad in ["192.168.2.1", "127.0.0.1", "8.8.8.8", "fe80::1"] {
            assert!(p.check_ip(ip(bad)).is_err(), "{bad}");
        }
    }
}
