//! `identifiers.legacy_ip_identifiers`: an off-by-default compatibility switch for ACME
//! clients that predate RFC 8738. Debian 12's lego 4.9.1 asks for an IP address as
//! `{"type":"dns","value":"127.0.0.1"}` and lists the address as a CSR dNSName; strict by
//! default (CONVENTIONS #12), catalog #35 refuses an IP written as type `dns` and RFC 8738 §3 an
//! IP as a dNSName. (An IP in the CN is accepted in both states when it is one of the order's
//! IP identifiers: lego puts the first identifier there, interop.md.)
//!
//! With the switch on, a `dns` identifier whose value is an IP address in canonical RFC 8738 §3
//! text becomes an `ip` identifier before any other check, so everything after it treats the
//! order exactly like one that said `ip` (policy `identifiers.ip_networks`, only http-01 and
//! tls-alpn-01 offered, the authorization and order say `ip`, the certificate gets an iPAddress
//! SAN and never a dNSName). lego 4.9.1 also lists the address as a dNSName in the CSR (it puts
//! every name in `DNSNames`); with the switch on, such a dNSName is accepted when it is, in
//! canonical text, one of the order's IP identifiers, and the embedded CA certifies it as an
//! iPAddress (`pki::issuer`), never as a dNSName; a certificate that comes back with an IP
//! address as a dNSName (a remote CA copying the CSR verbatim) is refused by the
//! returned-certificate check. Non-canonical IP text (`010.0.0.1`, `FD00::1`) stays `dns` and
//! so is still refused.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::acme::identifier::{self, Normalized};
use crate::acme::problem::{Problem, ProblemType};
use crate::store::records::Identifier;

/// Rewrites, in place, every `dns` identifier whose value is a canonical IP address to type
/// `ip`, and returns the rewritten values (empty: nothing to warn about).
pub(crate) fn reinterpret_dns_ips(identifiers: &mut [Identifier]) -> Vec<String> {
    let mut rewritten = Vec::new();
    for ident in identifiers.iter_mut() {
        if ident.kind == "dns"
            && matches!(
                identifier::normalize("ip", &ident.value),
                Ok(Normalized::Ip(_))
            )
        {
            ident.kind = "ip".to_owned();
            rewritten.push(ident.value.clone());
        }
    }
    rewritten
}

/// Catalog #51: a CSR common name that is IP-address text. Accepted only when it is, in
/// canonical text, one of the IP addresses in `wanted` (the order's names, where IP identifiers
/// are canonical IP text and DNS names never parse as IPs): lego, and so Traefik, puts the first
/// identifier in the CN, also for an RFC 8738 IP order, and interop.md says to accept that. An IP
/// CN that is not an ordered IP identifier, or not in canonical form, is refused whatever the
/// switch says. `Ok` for a CN that is not an IP address (the other CSR rules judge it).
pub(crate) fn check_ip_common_name(cn: &str, wanted: &BTreeSet<String>) -> Result<(), Problem> {
    let Ok(ip) = cn.parse::<IpAddr>() else {
        return Ok(());
    };
    if ip.to_string() != cn || !wanted.contains(cn) {
        let shown: String = cn.chars().take(64).collect();
        return Err(Problem::new(
            ProblemType::BadCsr,
            format!(
                "the CSR common name {shown:?} is an IP address that is not one of the order's \
                 IP identifiers in canonical form (leave the subject empty or name an ordered \
                 identifier)"
            ),
        ));
    }
    Ok(())
}

/// The first of `dns_names` that is IP-address text, if any.
pub(crate) fn ip_text_dns_name(dns_names: &[String]) -> Option<&str> {
    dns_names
        .iter()
        .map(String::as_str)
        .find(|n| n.parse::<IpAddr>().is_ok())
}

/// Catalog #51 / RFC 8738 §3: a CSR dNSName that is IP-address text is refused, unless `legacy`
/// (the switch) is on and it is, in canonical text, one of the order's IP identifiers in
/// `wanted` (the embedded CA then certifies it as an iPAddress).
pub(crate) fn check_csr_dns_names(
    dns_names: &[String],
    wanted: &BTreeSet<String>,
    legacy: bool,
) -> Result<(), Problem> {
    for n in dns_names {
        let Ok(ip) = n.parse::<IpAddr>() else {
            continue;
        };
        if legacy && ip.to_string() == *n && wanted.contains(n) {
            continue;
        }
        return Err(Problem::new(
            ProblemType::BadCsr,
            format!(
                "the CSR carries the IP address {:?} as a dNSName; IP addresses belong in an \
                 iPAddress subjectAltName (RFC 8738 §3)",
                n.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(&str, &str)]) -> Vec<Identifier> {
        list.iter()
            .map(|(k, v)| Identifier {
                kind: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect()
    }

    // Catalog #35 with the switch on: canonical IPs sent as `dns` become `ip`; non-canonical
    // IP text and real names are left alone (and so judged by the strict rules).
    #[test]
    fn catalog35_switch_on_rewrites_canonical_ips_only() {
        let mut list = ids(&[
            ("dns", "127.0.0.1"),
            ("dns", "fd00::1"),
            ("dns", "app.lan"),
            ("dns", "010.0.0.1"),
            ("dns", "FD00::1"),
            ("dns", "::ffff:10.0.0.1"),
            ("ip", "10.0.0.2"),
        ]);
        let rewritten = reinterpret_dns_ips(&mut list);
        assert_eq!(rewritten, ["127.0.0.1", "fd00::1"]);
        let kinds: Vec<&str> = list.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, ["ip", "ip", "dns", "dns", "dns", "dns", "ip"]);
        // What stayed `dns` is still refused by the strict syntax rules.
        for i in &list[3..6] {
            assert!(identifier::normalize(&i.kind, &i.value).is_err(), "{i:?}");
        }
    }

    // Catalog #51 + interop.md ("lego puts the first name in the CN. Accept both"): an IP CN
    // passes only when it is, in canonical text, one of the order's IP identifiers.
    #[test]
    fn catalog51_ip_common_name_only_when_an_ordered_ip() {
        let wanted: BTreeSet<String> = ["127.0.0.1".to_owned(), "fd00::1".to_owned()].into();
        assert!(check_ip_common_name("127.0.0.1", &wanted).is_ok());
        assert!(check_ip_common_name("fd00::1", &wanted).is_ok());
        assert!(check_ip_common_name("app.lan", &wanted).is_ok());
        assert!(check_ip_common_name("::1", &wanted).is_err());
        assert!(check_ip_common_name("10.0.0.1", &wanted).is_err());
        assert!(check_ip_common_name("FD00::1", &wanted).is_err());
        assert!(check_ip_common_name("fd00:0::1", &wanted).is_err());
        let dns_only: BTreeSet<String> = ["app.lan".to_owned()].into();
        assert!(check_ip_common_name("127.0.0.1", &dns_only).is_err());
    }

    // RFC 8738 §3: an IP address as a CSR dNSName is refused by default; with the switch only
    // a canonical one that the order holds as an IP identifier passes (lego 4.9.1's CSR).
    #[test]
    fn rfc8738_s3_ip_as_dns_san_by_switch_state() {
        let wanted: BTreeSet<String> = ["127.0.0.1".to_owned(), "a.lan".to_owned()].into();
        let lego = ["127.0.0.1".to_owned()];
        assert!(check_csr_dns_names(&lego, &wanted, false).is_err());
        assert!(check_csr_dns_names(&lego, &wanted, true).is_ok());
        assert!(check_csr_dns_names(&["10.0.0.9".to_owned()], &wanted, true).is_err());
        assert!(check_csr_dns_names(&["a.lan".to_owned()], &wanted, false).is_ok());
        assert_eq!(
            ip_text_dns_name(&["a.lan".to_owned(), "::1".to_owned()]),
            Some("::1")
        );
        assert_eq!(ip_text_dns_name(&["a.lan".to_owned()]), None);
    }
}
