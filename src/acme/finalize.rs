//! Order finalization (RFC 8555 §7.4): CSR checks, the `ready → processing` compare-and-set with
//! the issuance intent, the CA `sign` request, and the check of what the CA returned
//! (catalog #48–#54, #57, #58).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;

use crate::acme::identifier;
use crate::acme::problem::{Problem, ProblemType};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, ids, now, state};
use crate::http::{Request, Response};
use crate::jose::b64;
use crate::pki::{self, ValidatedCsr};
use crate::store::records::{CertRecord, OrderRecord, OrderStatus, SCHEMA_VERSION};

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

/// The names a certificate for `order` must carry: DNS names lower case (wildcards as `*.x`),
/// IP addresses in canonical text.
fn wanted_names(order: &OrderRecord) -> Result<BTreeSet<String>, Problem> {
    order
        .identifiers
        .iter()
        .map(|i| {
            identifier::normalize(&i.kind, &i.value)
                .map(|n| n.cert_name())
                .map_err(|e| Problem::internal("stored identifier no longer parses", &e))
        })
        .collect()
}

fn name_of(text: &str) -> String {
    match text.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => text.to_ascii_lowercase(),
    }
}

/// RFC 8555 §7.4 / catalog #51: the CSR names (SANs, plus the CN if any) must be exactly the
/// order's identifiers — no missing name, no extra one.
fn check_csr_names(csr: &ValidatedCsr, wanted: &BTreeSet<String>) -> Result<(), Problem> {
    let mut names: BTreeSet<String> = csr
        .dns_names()
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.extend(csr.ip_addrs().iter().map(IpAddr::to_string));
    if let Some(cn) = csr.common_name() {
        let cn = name_of(cn);
        if !names.is_empty() && !names.contains(&cn) {
            return Err(Problem::new(
                ProblemType::BadCsr,
                format!("the CSR common name {cn:?} is not among its subjectAltNames"),
            ));
        }
        names.insert(cn);
    }
    if &names == wanted {
        return Ok(());
    }
    let missing: Vec<&String> = wanted.difference(&names).collect();
    let extra: Vec<&String> = names.difference(wanted).collect();
    Err(Problem::new(
        ProblemType::BadCsr,
        format!(
            "the CSR names must be exactly the order identifiers (missing: {missing:?}, extra: {extra:?})"
        ),
    ))
}

impl Acme {
    /// POST to an order's finalize URL. Answers 200 with the order and its `Location`
    /// (interop.md: acme.sh needs 200, x/crypto polls the Location).
    pub(crate) async fn finalize(
        &self,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        let payload: Finalize = auth.payload()?;
        let (order, authzs) = self.load_order(id, &account)?;
        let status = state::order_status(&order, &authzs, now());
        // RFC 8555 §7.4: "the server MUST return an error … of type orderNotReady" when the
        // order is not ready.
        if status != OrderStatus::Ready {
            return Err(Problem::new(
                ProblemType::OrderNotReady,
                format!(
                    "the order is {} and cannot be finalized",
                    status_name(status)
                ),
            ));
        }
        // Catalog #49: the CSR is base64url DER — no PEM, no padding.
        let der = b64::decode(&payload.csr)
            .map_err(|_| Problem::malformed("csr is not base64url-encoded DER"))?;
        let csr = ValidatedCsr::from_der(&der)?;
        let wanted = wanted_names(&order)?;
        check_csr_names(&csr, &wanted)?;
        // RFC 8555 §11.1: "the server MUST verify that the public key in a CSR is not the same
        // as the public key of the account key pair".
        if csr.spki_der() == auth.key().spki_der().as_slice() {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the CSR public key must not be the account key",
            ));
        }
        // Catalog #48, #58: ready → processing and the issuance intent, in one transaction;
        // only one concurrent finalize can win.
        let intent = b64::encode(ring::digest::digest(&ring::digest::SHA256, csr.der()).as_ref());
        let order_id = order.id.clone();
        let now_at_cas = now();
        let claimed = self
            .store
            .write(move |w| {
                let Some(mut o) = w.order(&order_id)? else {
                    return Ok(None);
                };
                let mut authzs = Vec::new();
                for aid in &o.authz_ids {
                    if let Some(a) = w.authz(aid)? {
                        authzs.push(a);
                    }
                }
                if state::order_status(&o, &authzs, now_at_cas) != OrderStatus::Ready {
                    return Ok(None);
                }
                o.status = OrderStatus::Processing;
                o.csr_sha256 = Some(intent);
                w.put_order(&o)?;
                Ok(Some(o))
            })
            .await?;
        let Some(order) = claimed else {
            return Err(Problem::new(
                ProblemType::OrderNotReady,
                "the order is no longer ready (finalized concurrently?)",
            ));
        };
        match self.issue(&order, &csr, &wanted).await {
            Ok(done) => Ok(self.order_response(&done, OrderStatus::Valid, 200)),
            Err(problem) => {
                let failed = self.fail_order(&order.id, &problem).await;
                match failed {
                    Some(o) => Ok(self.order_response(&o, OrderStatus::Invalid, 200)),
                    None => Err(problem),
                }
            }
        }
    }

    /// Asks the CA to sign, checks the answer (catalog #57) and stores the certificate with the
    /// order's move to `valid`.
    async fn issue(
        &self,
        order: &OrderRecord,
        csr: &ValidatedCsr,
        wanted: &BTreeSet<String>,
    ) -> Result<OrderRecord, Problem> {
        let signed = self.ca.sign(&csr.to_pem(), &order.profile).await?;
        let ders = pki::pem_to_ders(&signed.certificate_pem)
            .map_err(|e| Problem::internal("the CA returned an unreadable certificate", &e))?;
        let leaf = ders
            .first()
            .ok_or_else(|| Problem::internal("the CA returned no certificate", &"empty PEM"))?;
        let info = pki::cert_info(leaf)
            .map_err(|e| Problem::internal("the CA returned an unparsable certificate", &e))?;
        let mut names: BTreeSet<String> = info
            .dns_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        names.extend(info.ip_addrs.iter().map(IpAddr::to_string));
        if info.spki_der != csr.spki_der() || &names != wanted {
            return Err(Problem::internal(
                "the CA returned a certificate that does not match the request",
                &format!(
                    "order {}, serial {}, names {names:?}",
                    order.id, info.serial
                ),
            ));
        }
        pki::verify_issued_by(leaf, &self.issuer.der).map_err(|e| {
            Problem::internal("the CA returned a certificate not signed by its issuer", &e)
        })?;
        if signed.serial != info.serial {
            log::warn!(
                "CA reported serial {} but the certificate has {}",
                signed.serial,
                info.serial
            );
        }
        let chain_pem = format!(
            "{}{}",
            pki::der_to_pem("CERTIFICATE", leaf),
            self.issuer.pem
        );
        let cert = CertRecord {
            v: SCHEMA_VERSION,
            id: ids::new_id(),
            account_id: order.account_id.clone(),
            order_id: order.id.clone(),
            serial: info.serial.clone(),
            chain_pem,
            not_before: info.not_before,
            not_after: info.not_after,
            revoked: None,
        };
        let mut done = order.clone();
        done.status = OrderStatus::Valid;
        done.cert_id = Some(cert.id.clone());
        let stored = done.clone();
        self.store
            .write(move |w| {
                w.put_cert(&cert)?;
                w.put_order(&stored)
            })
            .await?;
        crate::metrics::issuance();
        log::info!(
            "order {} valid: certificate serial {}",
            done.id,
            info.serial
        );
        Ok(done)
    }

    /// Records why an order in `processing` failed; returns it when it was stored.
    pub(crate) async fn fail_order(
        &self,
        order_id: &str,
        problem: &Problem,
    ) -> Option<OrderRecord> {
        let error = problem.to_json();
        let id = order_id.to_owned();
        let written = self
            .store
            .write(move |w| {
                let Some(mut o) = w.order(&id)? else {
                    return Ok(None);
                };
                if o.status != OrderStatus::Processing {
                    return Ok(None);
                }
                o.status = OrderStatus::Invalid;
                o.error = Some(error);
                w.put_order(&o)?;
                Ok(Some(o))
            })
            .await;
        match written {
            Ok(o) => o,
            Err(e) => {
                log::error!("could not record the failure of order {order_id}: {e}");
                None
            }
        }
    }
}

fn status_name(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => "pending",
        OrderStatus::Ready => "ready",
        OrderStatus::Processing => "processing",
        OrderStatus::Valid => "valid",
        OrderStatus::Invalid => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(name_of("App.Lan"), "app.lan");
        assert_eq!(name_of("192.168.1.1"), "192.168.1.1");
    }
}
