//! Forwarding an ACME revocation (RFC 8555 §7.6) to the uPKI CA honestly
//! (shared/spec/upki-ca-protocol.md, wire details 2 and 3).
//!
//! The CA revokes by bare CN and keeps only the newest certificate of a CN, so before `revoke`
//! the RA asks `view` which serial the CA holds for that CN: if it is not the certificate being
//! revoked, the CA cannot revoke it and the RA says so ([`RevokeError::Superseded`]) instead of
//! revoking the wrong certificate. After `revoke`, the CA's CRL must list the serial
//! ([`RevokeError::NotListed`] otherwise); only then does the RA record the revocation.

use der::Decode;
use der::{Tag, Tagged as _};
use serde_json::value::RawValue;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

use crate::ca::proto::{self, RevocationReason};
use crate::ca::{CaClient, CaError};
use crate::pki::CertInfo;
use crate::pki::cert::decimal_to_serial;
use crate::pki::csr::OID_CN;

/// Why the CA did not (verifiably) revoke a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RevokeError {
    /// The CA's certificate for `cn` is another one (serial `current`): it can no longer
    /// revoke serial `ours`.
    Superseded {
        cn: String,
        ours: String,
        current: String,
    },
    /// The CA answered `revoke` but its CRL does not list the serial.
    NotListed { serial: String },
    /// The certificate has no name the CA could index it by.
    NoName,
    /// The CA failed or refused.
    Ca(CaError),
}

impl From<CaError> for RevokeError {
    fn from(e: CaError) -> RevokeError {
        RevokeError::Ca(e)
    }
}

impl std::fmt::Display for RevokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevokeError::Superseded { cn, ours, current } => write!(
                f,
                "the uPKI CA keeps only the newest certificate per name and revokes by name: its \
                 certificate for {cn:?} is now serial {current}, so it cannot revoke serial {ours}"
            ),
            RevokeError::NotListed { serial } => write!(
                f,
                "the CA accepted the revocation but its CRL does not list serial {serial}"
            ),
            RevokeError::NoName => f.write_str("the certificate has no name to revoke it by"),
            RevokeError::Ca(e) => write!(f, "{e}"),
        }
    }
}

/// The subject CN of a certificate (the name the uPKI CA stores it under).
pub(crate) fn subject_cn(subject_der: &[u8]) -> Option<String> {
    let name = Name::from_der(subject_der).ok()?;
    name.iter()
        .find(|atv| atv.oid == OID_CN)
        .and_then(|atv| match atv.value.tag() {
            Tag::Utf8String | Tag::PrintableString => std::str::from_utf8(atv.value.value())
                .ok()
                .map(str::to_owned),
            _ => None,
        })
}

/// The name the CA indexes this certificate by: the CN, or (SAN-only certificates of our own
/// CA) the first DNS name / IP address.
pub(crate) fn ca_name(info: &CertInfo) -> Option<String> {
    subject_cn(&info.subject_der)
        .or_else(|| info.dns_names.first().cloned())
        .or_else(|| info.ip_addrs.first().map(ToString::to_string))
}

/// Does this DER CRL list `serial` (decimal)?
pub(crate) fn crl_lists(crl_der: &[u8], serial: &str) -> Result<bool, CaError> {
    let crl: CertificateList =
        CertificateList::from_der(crl_der).map_err(|e| CaError::BadReply(format!("CRL: {e}")))?;
    let want = decimal_to_serial(serial).unwrap_or_default();
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .any(|r| {
            // Serials compare without their leading zero bytes.
            r.serial_number
                .as_bytes()
                .iter()
                .skip_while(|&&x| x == 0)
                .eq(want.iter())
        }))
}

/// `view` → the serial the CA holds for `cn`; `None` when the CA has no such task (then the
/// check is skipped) — any other error is returned.
async fn current_serial(ca: &CaClient, cn: &str) -> Result<Option<String>, CaError> {
    #[derive(serde::Deserialize)]
    struct View {
        serial_number: Box<RawValue>,
    }
    let data = match ca.call_raw("view", serde_json::json!({"dn": cn})).await {
        Ok(d) => d,
        Err(CaError::Remote { message, .. }) if message.starts_with("Unknown task") => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let view: View =
        serde_json::from_str(data.get()).map_err(|e| CaError::BadReply(format!("view: {e}")))?;
    proto::parse_serial(&view.serial_number).map(Some)
}

/// Revokes the certificate `leaf_der` (described by `info`) at the CA, and proves it happened.
pub(crate) async fn forward(
    ca: &CaClient,
    leaf_der: &[u8],
    info: &CertInfo,
    reason: RevocationReason,
) -> Result<(), RevokeError> {
    let cn = ca_name(info).ok_or(RevokeError::NoName)?;
    if let Some(current) = current_serial(ca, &cn).await?
        && current != info.serial
    {
        // Not the CA's newest certificate for this name: only a CA that revokes by
        // certificate (`acme_revoke_certificate`, our own CA) can still revoke it.
        let by_cert = ca
            .call_raw(
                "acme_revoke_certificate",
                serde_json::json!({
                    "certificate": crate::pki::der_to_pem("CERTIFICATE", leaf_der),
                    "reason": reason.code(),
                }),
            )
            .await;
        match by_cert {
            Ok(_) => {}
            Err(CaError::Remote { message, .. }) if message.starts_with("Unknown task") => {
                return Err(RevokeError::Superseded {
                    cn,
                    ours: info.serial.clone(),
                    current,
                });
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        ca.revoke(&cn, reason).await?;
    }
    let crl = ca.get_crl().await?;
    if !crl_lists(&crl, &info.serial)? {
        return Err(RevokeError::NotListed {
            serial: info.serial.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cn_of_a_subject() {
        let name = crate::pki::csr::cn_name("app1.lan").unwrap();
        let der = der::Encode::to_der(&name).unwrap();
        assert_eq!(subject_cn(&der).as_deref(), Some("app1.lan"));
        let empty = der::Encode::to_der(&Name::default()).unwrap();
        assert_eq!(subject_cn(&empty), None);
    }
}
