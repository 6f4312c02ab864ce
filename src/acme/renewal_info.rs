//! ACME Renewal Information (RFC 9773): `GET /acme/renewal-info/<certID>` returns the window in
//! which the client should renew, and newOrder's `replaces` names the certificate an order
//! renews (§5), so a certificate is replaced at most once.
//!
//! The window is computed from the certificate's own validity: it opens after two thirds of the
//! lifetime and closes at eight ninths, leaving the last ninth as a margin, so a short-lived
//! profile renews as early (relatively) as a 90-day one. A revoked certificate gets a window
//! that lies wholly in the past, which RFC 9773 §4.2 tells clients to treat as "renew now".

use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::Certificate;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;

use crate::acme::identifier::Normalized;
use crate::acme::problem::{Problem, ProblemType};
use crate::acme::{Acme, json_response, rfc3339};
use crate::http::Response;
use crate::jose::b64;
use crate::pki;
use crate::store::records::{AccountRecord, CertRecord, OrderStatus};
use crate::store::{StoreError, Writer};

/// RFC 9773 §4.3: how long clients should wait before asking again (seconds).
const RETRY_AFTER_SECS: u32 = 6 * 3600;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewalInfo {
    suggested_window: Window,
}

#[derive(Serialize)]
struct Window {
    start: String,
    end: String,
}

/// The parts of an RFC 9773 §4.1 certID: `base64url(AKI keyIdentifier) "." base64url(serial)`.
#[derive(Debug, PartialEq, Eq)]
struct CertId {
    key_id: Vec<u8>,
    serial: Vec<u8>,
}

fn parse_cert_id(text: &str) -> Option<CertId> {
    let (aki, serial) = text.split_once('.')?;
    let key_id = b64::decode(aki).ok()?;
    let serial = b64::decode(serial).ok()?;
    (!key_id.is_empty() && !serial.is_empty()).then_some(CertId { key_id, serial })
}

/// The certID of a DER certificate: its AKI keyIdentifier and the content octets of its serial
/// number's DER encoding (RFC 9773 §4.1).
fn cert_id_of(der: &[u8]) -> Option<CertId> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = cert.tbs_certificate();
    let (_, aki) = tbs.get_extension::<AuthorityKeyIdentifier>().ok()??;
    let key_id = aki.key_identifier?.as_bytes().to_vec();
    // The INTEGER content octets, as encoded in the certificate (leading zero included).
    let serial_der = tbs.serial_number().to_der().ok()?;
    let serial = serial_der.get(2..)?.to_vec();
    Some(CertId { key_id, serial })
}

/// RFC 9773 §4.2 window `(start, end)` for a certificate valid from `not_before` to
/// `not_after`, revoked at `revoked_at` (if so).
fn window(not_before: i64, not_after: i64, revoked_at: Option<i64>) -> (i64, i64) {
    if let Some(at) = revoked_at {
        // Wholly in the past: "renew immediately".
        return (at - 3600, at);
    }
    let lifetime = (not_after - not_before).max(0);
    let start = not_before + lifetime * 2 / 3;
    let end = (not_before + lifetime * 8 / 9).max(start + 1);
    (start, end)
}

impl Acme {
    /// The stored certificate a certID names: serial and AKI must both match it exactly.
    fn cert_for_id(&self, text: &str) -> Result<CertRecord, Problem> {
        let unknown = || Problem::malformed("no certificate with this certID").with_status(404);
        let id = parse_cert_id(text)
            .ok_or_else(|| Problem::malformed("certID must be base64url(AKI).base64url(serial)"))?;
        let decimal = pki::cert::serial_to_decimal(&id.serial);
        let cert = self
            .store
            .read(|r| r.cert_by_serial(&decimal))?
            .ok_or_else(unknown)?;
        let leaf = pki::pem_to_ders(&cert.chain_pem)
            .ok()
            .and_then(|d| d.into_iter().next())
            .ok_or_else(|| Problem::internal("stored certificate unreadable", &cert.id))?;
        if cert_id_of(&leaf).as_ref() != Some(&id) {
            return Err(unknown());
        }
        Ok(cert)
    }

    /// `GET /acme/renewal-info/<certID>` (RFC 9773 §4.2); unauthenticated, as the RFC specifies.
    pub(crate) fn renewal_info(&self, cert_id: &str) -> Result<Response, Problem> {
        let cert = self.cert_for_id(cert_id)?;
        let (start, end) = window(
            cert.not_before,
            cert.not_after,
            cert.revoked.as_ref().map(|r| r.at),
        );
        let body = RenewalInfo {
            suggested_window: Window {
                start: rfc3339(start),
                end: rfc3339(end),
            },
        };
        Ok(json_response(200, &body).with_header("Retry-After", RETRY_AFTER_SECS.to_string()))
    }

    /// RFC 9773 §5 checks on `replaces`: the certificate and the new order belong to the same
    /// account and share at least one identifier, and the certificate was not already replaced
    /// by another finalized order. Returns the certificate's id; the last check is made in the
    /// write ([`record_replacement`]).
    pub(crate) fn check_replaces(
        &self,
        account: &AccountRecord,
        cert_id: &str,
        identifiers: &[Normalized],
    ) -> Result<String, Problem> {
        let cert = self.cert_for_id(cert_id).map_err(|p| {
            if p.status == 404 {
                Problem::malformed("replaces: no certificate with this certID")
            } else {
                p
            }
        })?;
        if cert.account_id != account.id {
            return Err(Problem::unauthorized(
                "replaces: the certificate was issued to another account",
            ));
        }
        let leaf = pki::pem_to_ders(&cert.chain_pem)
            .ok()
            .and_then(|d| d.into_iter().next())
            .and_then(|der| pki::cert_info(&der).ok())
            .ok_or_else(|| Problem::internal("stored certificate unreadable", &cert.id))?;
        let in_cert = |n: &Normalized| match n {
            Normalized::Ip(ip) => leaf.ip_addrs.contains(ip),
            Normalized::Dns { .. } => {
                let name = n.cert_name();
                leaf.dns_names.iter().any(|d| d.eq_ignore_ascii_case(&name))
            }
        };
        if !identifiers.iter().any(in_cert) {
            return Err(Problem::malformed(
                "replaces: the order shares no identifier with the certificate it replaces",
            ));
        }
        Ok(cert.id)
    }
}

/// In the newOrder transaction: marks `cert_id` replaced by `order_id`, unless a finalized
/// order (processing or valid) already replaces it. An abandoned replacement order (pending,
/// ready, invalid) does not block a retry. `Ok(false)` → the caller answers `alreadyReplaced`.
pub(crate) fn record_replacement(
    w: &mut Writer<'_>,
    cert_id: &str,
    order_id: &str,
) -> Result<bool, StoreError> {
    if let Some(prev) = w.replaced_by(cert_id)?
        && let Some(order) = w.order(&prev)?
        && matches!(order.status, OrderStatus::Processing | OrderStatus::Valid)
    {
        return Ok(false);
    }
    w.put_replaced_by(cert_id, order_id)?;
    Ok(true)
}

/// RFC 9773 §5 / §7.4: a certificate already replaced → `alreadyReplaced` (409, as Boulder).
pub(crate) fn already_replaced() -> Problem {
    Problem::new(
        ProblemType::AlreadyReplaced,
        "the certificate named by replaces has already been replaced by another order",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9773 §4.1: the certID is two base64url parts separated by a dot (the RFC's example).
    #[test]
    fn rfc9773_4_1_cert_id_syntax() {
        let id = parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE").unwrap();
        assert_eq!(id.serial, vec![0x00, 0x87, 0x65, 0x43, 0x21]);
        assert_eq!(id.key_id.len(), 20);
        for bad in ["", "abc", ".AIdlQyE", "aYhb.", "aYhb=.AIdl", "a.b.c"] {
            assert!(parse_cert_id(bad).is_none(), "{bad}");
        }
    }

    // RFC 9773 §4.2: the window lies inside the validity, in its last third; a revoked
    // certificate gets a window in the past.
    #[test]
    fn rfc9773_4_2_window() {
        let (s, e) = window(0, 90 * 86_400, None);
        assert_eq!(s, 60 * 86_400);
        assert_eq!(e, 80 * 86_400);
        let (s, e) = window(1000, 1000 + 3600, None);
        assert!(1000 < s && s < e && e < 4600, "{s} {e}");
        let (s, e) = window(0, 90 * 86_400, Some(500));
        assert!(s < e && e <= 500);
    }
}
