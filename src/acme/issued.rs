//! What the CA returned must be what was asked for (security catalog #57, incident I4): the
//! leaf carries the CSR's public key, exactly the order's names, is signed by the configured
//! issuer, and is not already expired. Anything else is never served: the order fails with
//! serverInternal and the mismatch is logged at error level (by `Problem::internal`).
//!
//! Not checked here: the notBefore/clock relation (`tests/it/outage.rs`, catalog #62) and the
//! key usages, which the CA's profile decides (a remote uPKI CA's profiles are its own).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::acme::problem::Problem;
use crate::pki::cert::SignedInProcess;
use crate::pki::{self, CertInfo};

/// Checks the leaf `leaf` the CA returned for `csr`, an order wanting `wanted` (DNS names lower
/// case, wildcards as `*.x`, IPs canonical), against the issuer certificate `issuer_der` at
/// time `now`; returns the leaf's facts.
pub(crate) fn check_returned_leaf(
    leaf: &[u8],
    csr_spki: &[u8],
    wanted: &BTreeSet<String>,
    issuer_der: &[u8],
    in_process: Option<&SignedInProcess>,
    now: i64,
) -> Result<CertInfo, Problem> {
    let info = pki::cert_info(leaf)
        .map_err(|e| Problem::internal("the CA returned an unparsable certificate", &e))?;
    let mut names: BTreeSet<String> = info
        .dns_names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.extend(info.ip_addrs.iter().map(IpAddr::to_string));
    // RFC 8738 §3: an IP identifier is certified as an iPAddress, never as a dNSName (a CA that
    // copies a legacy CSR's IP dNSName verbatim fails here).
    let ip_as_dns = crate::acme::legacy_ip::ip_text_dns_name(&info.dns_names).is_some();
    if info.spki_der != csr_spki || &names != wanted || ip_as_dns {
        return Err(Problem::internal(
            "the CA returned a certificate that does not match the request",
            &format!(
                "serial {}, names {names:?} (wanted {wanted:?}), key {}",
                info.serial,
                if info.spki_der == csr_spki {
                    "as requested"
                } else {
                    "NOT the CSR key"
                }
            ),
        ));
    }
    // A certificate this process's embedded CA has just signed is not signature-checked again
    // (issue 7: one check per signature); its issuer name and CA flag still are.
    match in_process {
        Some(signed) => pki::cert::check_issued_in_process(leaf, issuer_der, signed),
        None => pki::verify_issued_by(leaf, issuer_der),
    }
    .map_err(|e| Problem::internal("the CA returned a certificate not signed by its issuer", &e))?;
    if info.not_after <= info.not_before || info.not_after <= now {
        return Err(Problem::internal(
            "the CA returned a certificate with an unusable validity",
            &format!(
                "serial {}, notBefore {}, notAfter {}, now {now}",
                info.serial, info.not_before, info.not_after
            ),
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::acme::problem::ProblemType;
    use crate::pki::ValidatedCsr;
    use crate::pki::issuer::{Issuer, profile};

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    // Catalog #57: a leaf with another key, other names, from another issuer, or already
    // expired is refused as serverInternal; the matching leaf passes.
    #[test]
    fn catalog_57_returned_certificate_checked() {
        let dir = std::env::temp_dir().join(format!("upki-ra-issued-{}", std::process::id()));
        let ours = Issuer::load_or_create(&dir.join("ours")).unwrap();
        let theirs = Issuer::load_or_create(&dir.join("theirs")).unwrap();
        let server = profile("server").unwrap();
        // Both fixtures ask for app1.lan, www.app1.lan, 10.0.0.5 and fd00::5.
        let csr = ValidatedCsr::from_der(include_bytes!("../pki/testdata/p256.der")).unwrap();
        let other_key = ValidatedCsr::from_der(include_bytes!("../pki/testdata/p384.der")).unwrap();
        let wanted = names(&["app1.lan", "www.app1.lan", "10.0.0.5", "fd00::5"]);
        let now = crate::acme::now();
        let (leaf, serial) = ours.issue(&csr, server).unwrap();
        let info = check_returned_leaf(&leaf, csr.spki_der(), &wanted, ours.cert_der(), None, now)
            .unwrap();
        assert_eq!(info.serial, serial);

        let internal = |r: Result<CertInfo, Problem>| r.err().map(|p| (p.kind, p.status));
        let refused = Some((ProblemType::ServerInternal, 500));
        // A reply for another request (another key).
        let (wrong_key, _) = ours.issue(&other_key, server).unwrap();
        assert_eq!(
            internal(check_returned_leaf(
                &wrong_key,
                csr.spki_der(),
                &wanted,
                ours.cert_der(),
                None,
                now
            )),
            refused
        );
        // Missing and extra names.
        for other_names in [
            names(&["app1.lan", "www.app1.lan", "10.0.0.5"]),
            names(&["app1.lan", "www.app1.lan", "10.0.0.5", "fd00::5", "x.lan"]),
        ] {
            assert_eq!(
                internal(check_returned_leaf(
                    &leaf,
                    csr.spki_der(),
                    &other_names,
                    ours.cert_der(),
                    None,
                    now
                )),
                refused
            );
        }
        // Not chained to the configured issuer.
        let (foreign, _) = theirs.issue(&csr, server).unwrap();
        assert_eq!(
            internal(check_returned_leaf(
                &foreign,
                csr.spki_der(),
                &wanted,
                ours.cert_der(),
                None,
                now
            )),
            refused
        );
        // Already expired (seen from 20 years on).
        let later = now + 20 * 366 * 86_400;
        assert_eq!(
            internal(check_returned_leaf(
                &leaf,
                csr.spki_der(),
                &wanted,
                ours.cert_der(),
                None,
                later
            )),
            refused
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
