//! Catalog #58, "re-query or re-request idempotently": before the RA asks the CA to sign an
//! order's CSR again — after a restart left the order `processing`, or after a `sign` that
//! timed out (the reply was lost or late) — it asks the CA what it already holds for the
//! CSR's name (`view`, see `ca::lookup`), so that a certificate the CA signed for the first
//! request is not silently replaced by a second one the RA never recorded.
//!
//! - Our own CA (`upki-ra ca serve`, embedded) hands back the certificate: it is adopted when
//!   it matches the intent exactly ([`match_certificate`]: the CSR's public key, exactly the
//!   order's names, signed by the configured issuer, notBefore not before the intent was
//!   written) and is not already recorded by the RA nor revoked. The RA then records its serial
//!   like a normal issuance.
//! - upki-ca 0.1.5's `view` describes the certificate (serial, subject, SANs, issuer,
//!   notBefore) but gives neither the certificate nor its public key: it cannot be served, so
//!   it cannot be adopted, and whether it carries the CSR's key cannot be told. When the
//!   description matches the intent ([`match_description`]) the RA revokes it by name
//!   (`superseded`; only now is it the CA's newest for that name — once signed again it could
//!   never be revoked by name) and checks the CRL lists it, then signs again. It refrains (and
//!   only logs) when another order of this RA is in flight for the same name, since that
//!   order's request could have produced it.
//!
//! Every certificate the CA holds for the name that is neither recorded by the RA nor adopted
//! is logged at warn with its serial.
//!
//! What `view` cannot tell (the cases that remain):
//! - upki-ca: whether the certificate carries the CSR's key (no certificate, no key, and
//!   upki-ca adds no subjectKeyIdentifier). A certificate someone else had the CA sign after
//!   the intent for the same subject CN and exactly the same names would be revoked too.
//! - Both CAs show only the newest certificate of a name: a lost certificate already
//!   superseded by another one for the same name before the lookup is not seen.
//! - Our CA hands back the certificate of the 1,024 names it issued last only
//!   (`ca::state_log::KEPT_CERTIFICATES`, so its memory does not grow with every name ever
//!   issued); a lookup that comes after 1,024 other names were signed gets a serial without a
//!   certificate and signs again. The order is kept in memory only: once the CA has restarted
//!   with a full set, its next signs push out the names it loaded in name order, not oldest
//!   first (the RA's start-up lookups run before it signs anything new, so they are not
//!   affected; a standalone CA restarted while an RA waits on a lost reply can be).
//! - A `sign` still queued at the CA when the lookup runs (a CA backlog longer than the RA's
//!   timeout plus the ≥ 1 s backoff; ZMQ REP queues fairly between connections, so an
//!   abandoned request can be served after a later one): the lookup finds nothing, the CA signs
//!   twice, and the late certificate is never seen by the RA.
//! - An order failed at `issue_deadline` is not looked up again, should the CA sign a request
//!   it still held once it comes back.
//! - upki-ca revokes by name: between `view` and `revoke` another `sign` for the name (outside
//!   this RA) would be the one revoked; the CRL check after it logs the outcome.
//!
//! A resumed intent is always treated as possibly sent (the intent records no "sent" mark, so
//! the hot path keeps one commit per issuance): one extra `view` per order resumed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use crate::acme::Acme;
use crate::ca::lookup::{self, Held};
use crate::ca::revocation::{crl_lists, subject_cn};
use crate::ca::{CaError, RevocationReason};
use crate::pki::{self, CertInfo, ValidatedCsr};
use crate::store::records::{IssuanceIntent, OrderRecord, OrderStatus};

/// How far before the intent's time a certificate's notBefore may lie and still be the answer
/// to that intent's request: our CA backdates notBefore by 60 s (`pki::issuer`), and a remote
/// CA's clock may run a little behind the RA's.
pub(crate) const NOT_BEFORE_TOLERANCE: i64 = 300;

/// The names a certificate carries, canonical: DNS lower case, IP addresses in text form.
fn cert_names(info: &CertInfo) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = info
        .dns_names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.extend(info.ip_addrs.iter().map(IpAddr::to_string));
    names
}

fn time_window(not_before: i64, started_at: i64, now: i64) -> Result<(), String> {
    if not_before < started_at.saturating_sub(NOT_BEFORE_TOLERANCE) {
        return Err(format!(
            "notBefore {not_before} is before the issuance intent ({started_at})"
        ));
    }
    if not_before > now.saturating_add(NOT_BEFORE_TOLERANCE) {
        return Err(format!("notBefore {not_before} is in the future"));
    }
    Ok(())
}

/// The CA's certificate `leaf_der` is the answer to this intent's `sign`: same public key as
/// the CSR, exactly the order's names, signed by `issuer_der`, notBefore after the intent was
/// written (less [`NOT_BEFORE_TOLERANCE`]). `Err` says why not.
pub(crate) fn match_certificate(
    leaf_der: &[u8],
    csr_spki: &[u8],
    wanted: &BTreeSet<String>,
    issuer_der: &[u8],
    started_at: i64,
    now: i64,
) -> Result<CertInfo, String> {
    let info = pki::cert_info(leaf_der).map_err(|e| format!("unparsable certificate: {e}"))?;
    if info.spki_der != csr_spki {
        return Err("another public key than the CSR's".to_owned());
    }
    let names = cert_names(&info);
    if &names != wanted {
        return Err(format!("other names ({names:?}) than the order's"));
    }
    pki::verify_issued_by(leaf_der, issuer_der)
        .map_err(|e| format!("not signed by the configured issuer: {e}"))?;
    time_window(info.not_before, started_at, now)?;
    Ok(info)
}

/// What upki-ca's `view` describes matches the intent as far as it can be told: subject CN is
/// the CSR's, the SANs are exactly the order's names, the issuer CN is the configured
/// issuer's, notBefore after the intent. The public key cannot be compared (not in `view`).
pub(crate) fn match_description(
    held: &Held,
    csr_cn: Option<&str>,
    wanted: &BTreeSet<String>,
    issuer_cn: Option<&str>,
    started_at: i64,
    now: i64,
) -> Result<(), String> {
    if held.subject_cn.as_deref() != csr_cn {
        return Err(format!("subject CN {:?}, not the CSR's", held.subject_cn));
    }
    let mut names = BTreeSet::new();
    for (kind, value) in &held.sans {
        let name = match kind.to_ascii_uppercase().as_str() {
            "DNS" => value.to_ascii_lowercase(),
            "IP" => match value.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => return Err(format!("unreadable IP SAN {value:?}")),
            },
            other => return Err(format!("a {other} SAN the order does not have")),
        };
        names.insert(name);
    }
    if &names != wanted {
        return Err(format!("other names ({names:?}) than the order's"));
    }
    if issuer_cn.is_none() || held.issuer_cn.as_deref() != issuer_cn {
        return Err(format!(
            "issuer {:?}, not the configured issuer",
            held.issuer_cn
        ));
    }
    let not_before = held.not_before.ok_or("no notBefore")?;
    time_window(not_before, started_at, now)
}

/// The name the CA files a CSR's certificate under (as `ca::embedded` and upki-ca do).
fn ca_name_of(csr: &ValidatedCsr) -> Option<String> {
    csr.common_name()
        .map(str::to_owned)
        .or_else(|| csr.dns_names().first().cloned())
        .or_else(|| csr.ip_addrs().first().map(IpAddr::to_string))
}

impl Acme {
    /// Before signing `intent`'s CSR again: the certificate to adopt (DER), or `None` to sign
    /// again. Only an unreachable CA (timeout, transport) is an error: the caller retries.
    pub(crate) async fn adopt_lookup(
        &self,
        order: &OrderRecord,
        intent: &IssuanceIntent,
        csr: &ValidatedCsr,
        wanted: &BTreeSet<String>,
    ) -> Result<Option<Vec<u8>>, CaError> {
        let Some(name) = ca_name_of(csr) else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let looked = lookup::held_for(&self.ca, &name).await;
        log::info!(
            "order {}: asked the CA what it holds for {name:?} before signing again ({} µs)",
            order.id,
            t0.elapsed().as_micros()
        );
        let held = match looked {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e @ (CaError::Timeout | CaError::Transport(_))) => return Err(e),
            Err(e) => {
                log::warn!(
                    "order {}: the CA's view of {name:?} failed ({e}); signing again",
                    order.id
                );
                return Ok(None);
            }
        };
        match self.store.read(|r| r.cert_by_serial(&held.serial)) {
            // The RA's own record: an earlier issuance, not a lost one.
            Ok(Some(_)) => return Ok(None),
            Ok(None) => {}
            Err(e) => {
                log::warn!("order {}: {e}; signing again", order.id);
                return Ok(None);
            }
        }
        let now = crate::acme::now();
        let rivals = self.rivals(&order.id, &name);
        if let Some(pem) = &held.certificate_pem {
            let leaf = pki::pem_to_ders(pem)
                .ok()
                .and_then(|d| d.into_iter().next())
                .unwrap_or_default();
            let verdict = match_certificate(
                &leaf,
                csr.spki_der(),
                wanted,
                &self.issuer.der,
                intent.started_at,
                now,
            )
            .and_then(|info| {
                if held.revoked {
                    Err("revoked at the CA".to_owned())
                } else if rivals.iter().any(|spki| spki.as_slice() == csr.spki_der()) {
                    Err("another order in processing has the same key and name".to_owned())
                } else {
                    Ok(info)
                }
            });
            return Ok(match verdict {
                Ok(_) => {
                    log::warn!(
                        "order {}: the CA had already signed this order's CSR (serial {}): \
                         adopting it instead of signing again",
                        order.id,
                        held.serial
                    );
                    Some(leaf)
                }
                Err(why) => {
                    log::warn!(
                        "order {}: the CA's newest certificate for {name:?}, serial {}, is unknown \
                         to this RA and not adopted ({why}); signing again",
                        order.id,
                        held.serial
                    );
                    None
                }
            });
        }
        // upki-ca: a description only.
        let issuer_cn = pki::cert_info(&self.issuer.der)
            .ok()
            .and_then(|i| subject_cn(&i.subject_der));
        let matched = match_description(
            &held,
            csr.common_name(),
            wanted,
            issuer_cn.as_deref(),
            intent.started_at,
            now,
        );
        let why_not = match (matched, held.revoked, rivals.is_empty()) {
            (Err(why), _, _) => Some(why),
            (Ok(()), true, _) => Some("already revoked".to_owned()),
            (Ok(()), false, false) => Some(
                "another order in processing has the same name, so it may be that order's; \
                 not revoked"
                    .to_owned(),
            ),
            (Ok(()), false, true) => None,
        };
        if let Some(why) = why_not {
            log::warn!(
                "order {}: the CA's newest certificate for {name:?}, serial {}, is unknown to \
                 this RA and not adopted ({why}); signing again",
                order.id,
                held.serial
            );
            return Ok(None);
        }
        // Probably the lost answer to this order's request; the CA cannot hand it out, and
        // once signed again it can never be revoked by name: revoke it now.
        match self.ca.revoke(&name, RevocationReason::Superseded).await {
            Ok(()) => {}
            Err(e @ (CaError::Timeout | CaError::Transport(_))) => return Err(e),
            Err(e) => {
                log::error!(
                    "order {}: the CA signed serial {} for {name:?} (reply lost); it cannot be \
                     adopted and revoking it failed ({e}): it stays valid at the CA",
                    order.id,
                    held.serial
                );
                return Ok(None);
            }
        }
        let listed = self
            .ca
            .get_crl()
            .await
            .and_then(|crl| crl_lists(&crl, &held.serial));
        log::warn!(
            "order {}: the CA signed serial {} for {name:?} but the reply was lost; upki-ca \
             cannot hand the certificate out, so it was revoked (superseded, {}) and the CSR is \
             signed again",
            order.id,
            held.serial,
            match listed {
                Ok(true) => "on the CRL".to_owned(),
                Ok(false) => "NOT on the CRL".to_owned(),
                Err(e) => format!("CRL not checked: {e}"),
            }
        );
        Ok(None)
    }

    /// The CSR public keys of the other orders in `processing` whose CSR the CA files under
    /// `name`.
    fn rivals(&self, order_id: &str, name: &str) -> Vec<Vec<u8>> {
        let intents = self.store.read(|r| {
            let mut out = Vec::new();
            for o in r.orders_in_status(OrderStatus::Processing)? {
                if o.id != order_id
                    && let Some(i) = r.intent(&o.id)?
                {
                    out.push(i);
                }
            }
            Ok(out)
        });
        intents
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let (_, der) = der::pem::decode_vec(i.csr_pem.as_bytes()).ok()?;
                let csr = ValidatedCsr::from_der(&der).ok()?;
                (ca_name_of(&csr).as_deref() == Some(name)).then(|| csr.spki_der().to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::PathBuf;

    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    use super::*;
    use crate::pki::issuer::{self, Issuer};

    fn temp_dir(tag: &str) -> PathBuf {
        let mut r = [0u8; 8];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut r).unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        std::env::temp_dir().join(format!("upki-ra-{tag}-{name}"))
    }

    fn key() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    fn csr(key: &EcdsaKeyPair, names: &[&str]) -> ValidatedCsr {
        let dns: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        ValidatedCsr::from_der(&pki::build_csr(key, &dns, &[]).unwrap()).unwrap()
    }

    fn wanted(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    struct Ca {
        issuer: Issuer,
        der: Vec<u8>,
        dir: PathBuf,
    }

    impl Ca {
        fn new(tag: &str) -> Ca {
            let dir = temp_dir(tag);
            let issuer = Issuer::load_or_create(&dir).unwrap();
            let der = pki::pem_to_ders(&issuer.cert_pem()).unwrap().remove(0);
            Ca { issuer, der, dir }
        }

        fn sign(&self, csr: &ValidatedCsr) -> Vec<u8> {
            let profile = issuer::profile("server").unwrap();
            self.issuer.issue(csr, profile).unwrap().0
        }
    }

    impl Drop for Ca {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const NAMES: [&str; 2] = ["app.example.test", "www.example.test"];

    // Catalog #58: the CA's certificate for exactly this CSR (key, names, issuer, time) is
    // adopted.
    #[test]
    fn catalog_58_adopts_the_certificate_of_the_same_csr() {
        let ca = Ca::new("adopt-same");
        let k = key();
        let request = csr(&k, &NAMES);
        let leaf = ca.sign(&request);
        let now = crate::acme::now();
        let info = match_certificate(
            &leaf,
            request.spki_der(),
            &wanted(&NAMES),
            &ca.der,
            now,
            now,
        )
        .unwrap();
        assert_eq!(info.spki_der, request.spki_der());
    }

    // Catalog #58: a certificate for another key, even with the same names, is not adopted.
    #[test]
    fn catalog_58_other_key_is_not_adopted() {
        let ca = Ca::new("adopt-key");
        let ours = csr(&key(), &NAMES);
        let theirs = ca.sign(&csr(&key(), &NAMES));
        let now = crate::acme::now();
        let err = match_certificate(&theirs, ours.spki_der(), &wanted(&NAMES), &ca.der, now, now)
            .unwrap_err();
        assert!(err.contains("public key"), "{err}");
    }

    // Catalog #58: the same key with other names (one missing, or one more) is not adopted.
    #[test]
    fn catalog_58_other_names_are_not_adopted() {
        let ca = Ca::new("adopt-names");
        let k = key();
        let ours = csr(&k, &NAMES);
        let now = crate::acme::now();
        for names in [
            &NAMES[..1],
            &["app.example.test", "www.example.test", "x.example.test"],
        ] {
            let leaf = ca.sign(&csr(&k, names));
            let err = match_certificate(&leaf, ours.spki_der(), &wanted(&NAMES), &ca.der, now, now)
                .unwrap_err();
            assert!(err.contains("other names"), "{err}");
        }
    }

    // Catalog #58: a certificate another issuer signed is not adopted.
    #[test]
    fn catalog_58_other_issuer_is_not_adopted() {
        let (ca, other) = (Ca::new("adopt-iss-a"), Ca::new("adopt-iss-b"));
        let request = csr(&key(), &NAMES);
        let leaf = other.sign(&request);
        let now = crate::acme::now();
        let err = match_certificate(
            &leaf,
            request.spki_der(),
            &wanted(&NAMES),
            &ca.der,
            now,
            now,
        )
        .unwrap_err();
        assert!(err.contains("issuer"), "{err}");
    }

    // Catalog #58: a certificate older than the intent (an earlier order with the same key and
    // names) is not the answer to this intent.
    #[test]
    fn catalog_58_certificate_from_before_the_intent_is_not_adopted() {
        let ca = Ca::new("adopt-time");
        let request = csr(&key(), &NAMES);
        let leaf = ca.sign(&request);
        let now = crate::acme::now();
        let later = now + NOT_BEFORE_TOLERANCE + 120;
        let err = match_certificate(
            &leaf,
            request.spki_der(),
            &wanted(&NAMES),
            &ca.der,
            later,
            later,
        )
        .unwrap_err();
        assert!(err.contains("before the issuance intent"), "{err}");
    }

    fn described(sans: &[(&str, &str)]) -> Held {
        Held {
            serial: "12".to_owned(),
            certificate_pem: None,
            sans: sans
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            subject_cn: Some(NAMES[0].to_owned()),
            issuer_cn: Some("Root".to_owned()),
            not_before: Some(1_000_000),
            revoked: false,
        }
    }

    // Catalog #58 against upki-ca (a description only): names, subject, issuer and time must
    // all match the intent.
    #[test]
    fn catalog_58_description_rules() {
        let w = wanted(&NAMES);
        let both = [("DNS", NAMES[0]), ("DNS", "WWW.example.test")];
        let ok =
            |h: &Held| match_description(h, Some(NAMES[0]), &w, Some("Root"), 1_000_000, 1_000_010);
        ok(&described(&both)).unwrap();
        assert!(
            ok(&described(&both[..1]))
                .unwrap_err()
                .contains("other names")
        );
        let extra = [both[0], both[1], ("IP", "10.0.0.1")];
        assert!(ok(&described(&extra)).unwrap_err().contains("other names"));
        let email = [both[0], both[1], ("EMAIL", "a@b.test")];
        assert!(ok(&described(&email)).is_err());
        let mut other_cn = described(&both);
        other_cn.subject_cn = Some("else.test".to_owned());
        assert!(ok(&other_cn).unwrap_err().contains("subject"));
        let mut other_issuer = described(&both);
        other_issuer.issuer_cn = Some("Another Root".to_owned());
        assert!(ok(&other_issuer).unwrap_err().contains("issuer"));
        let mut old = described(&both);
        old.not_before = Some(1_000_000 - NOT_BEFORE_TOLERANCE - 1);
        assert!(ok(&old).unwrap_err().contains("before the issuance intent"));
        let mut undated = described(&both);
        undated.not_before = None;
        assert!(ok(&undated).is_err());
    }
}
