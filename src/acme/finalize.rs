//! Order finalization (RFC 8555 §7.4): CSR checks, the `ready → processing` compare-and-set with
//! the issuance intent, the CA `sign` request, and the check of what the CA returned
//! (catalog #48–#54, #57, #58). Issuance runs as its own task: finalize waits for it at most
//! `finalize_wait` and otherwise answers `processing` (the client polls); while the CA is
//! unreachable the task retries until `issue_deadline`, then fails the order with a reason.
//! At start-up, orders left in `processing` are resumed from their stored intent.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt as _;
use serde::Deserialize;

use crate::acme::clock;
use crate::acme::problem::{Problem, ProblemType};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, ids, now, state};
use crate::acme::{identifier, issued, legacy_ip};
use crate::ca::CaError;
use crate::http::{Request, Response};
use crate::jose::b64;
use crate::pki::{self, ValidatedCsr};
use crate::store::records::{
    CertRecord, Identifier, IssuanceIntent, OrderRecord, OrderStatus, SCHEMA_VERSION,
};

/// Longest pause between two attempts to reach an unreachable CA.
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// How one issuance attempt ended, short of success.
enum IssueError {
    /// The CA did not answer (timeout, transport): try again until the deadline.
    Unreachable(CaError),
    /// A definitive failure: the order becomes `invalid` with this problem.
    Failed(Problem),
}

impl From<Problem> for IssueError {
    fn from(p: Problem) -> IssueError {
        IssueError::Failed(p)
    }
}

impl From<pki::CsrError> for IssueError {
    fn from(e: pki::CsrError) -> IssueError {
        IssueError::Failed(e.into())
    }
}

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

/// The names a certificate for `order` must carry: DNS names lower case (wildcards as `*.x`),
/// IP addresses in canonical text.
fn wanted_names(order: &OrderRecord) -> Result<BTreeSet<String>, Problem> {
    wanted_names_of(&order.identifiers)
}

/// [`wanted_names`] of a list of identifiers (also called by the fuzz targets).
pub(super) fn wanted_names_of(identifiers: &[Identifier]) -> Result<BTreeSet<String>, Problem> {
    identifiers
        .iter()
        .map(|i| {
            identifier::normalize(&i.kind, &i.value)
                .map(|n| n.cert_name())
                .map_err(|e| Problem::internal("stored identifier no longer parses", &e))
        })
        .collect()
}

/// RFC 8555 §7.4 / catalog #51: the CSR names (SANs, plus the CN if any) must be exactly the
/// order's identifiers — no missing name, no extra one, and no case variant: each name is
/// compared byte for byte with the identifier values the client sent in newOrder ("the exact
/// same set of requested identifiers"); IP addresses are in canonical text on both sides.
/// An IP address is a dNSName only with `legacy_ip` (`identifiers.legacy_ip_identifiers`), and
/// the CN only when it is one of the order's IP identifiers (lego's CN).
pub(super) fn check_csr_names(
    csr: &ValidatedCsr,
    identifiers: &[Identifier],
    legacy_ip: bool,
) -> Result<(), Problem> {
    let wanted: BTreeSet<&str> = identifiers.iter().map(|i| i.value.as_str()).collect();
    let ips: BTreeSet<String> = identifiers
        .iter()
        .filter(|i| i.kind == "ip")
        .map(|i| i.value.clone())
        .collect();
    legacy_ip::check_csr_dns_names(csr.dns_names(), &ips, legacy_ip)?;
    if let Some(cn) = csr.common_name() {
        legacy_ip::check_ip_common_name(cn, &ips)?;
    }
    let mut names: BTreeSet<String> = csr.dns_names().iter().cloned().collect();
    names.extend(csr.ip_addrs().iter().map(IpAddr::to_string));
    if let Some(cn) = csr.common_name() {
        if !names.is_empty() && !names.contains(cn) {
            return Err(Problem::new(
                ProblemType::BadCsr,
                format!("the CSR common name {cn:?} is not among its subjectAltNames"),
            ));
        }
        names.insert(cn.to_owned());
    }
    if names.iter().map(String::as_str).eq(wanted.iter().copied()) {
        return Ok(());
    }
    let missing: Vec<&&str> = wanted.iter().filter(|w| !names.contains(**w)).collect();
    let extra: Vec<&String> = names
        .iter()
        .filter(|n| !wanted.contains(n.as_str()))
        .collect();
    Err(Problem::new(
        ProblemType::BadCsr,
        format!(
            "the CSR names must be exactly the order identifiers, as sent in newOrder \
             (missing: {missing:?}, extra: {extra:?})"
        ),
    ))
}

impl Acme {
    /// POST to an order's finalize URL. Answers 200 with the order and its `Location`
    /// (interop.md: acme.sh needs 200, x/crypto polls the Location).
    pub(crate) async fn finalize(
        self: &Arc<Self>,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        let payload: Finalize = auth.payload()?;
        let (order, authzs) = self.load_order(id, &account)?;
        req.log.set("order", &order.id);
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
        check_csr_names(
            &csr,
            &order.identifiers,
            self.settings.legacy_ip_identifiers,
        )?;
        // RFC 8555 §11.1: "the server MUST verify that the public key in a CSR is not the same
        // as the public key of the account key pair".
        if csr.spki_der() == auth.key().spki_der().as_slice() {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the CSR public key must not be the account key",
            ));
        }
        // Catalog #52: nor the key of any other account of this server.
        if let Some(jwk) = crate::acme::csr_key::csr_key_as_jwk(&csr)
            && self
                .store
                .read(|r| r.account_by_thumbprint(&jwk.thumbprint()))?
                .is_some()
        {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the CSR public key is the key of an ACME account; use a separate certificate key",
            ));
        }
        // Catalog #62: a clock set back before the CA certificate's notBefore (no RTC, NTP
        // not yet synced) must not mint certificates dated in the past: refuse, order stays
        // ready, so the client can finalize again once the clock is right.
        clock::check_issuance_clock(now(), &self.issuer.der)?;
        // Catalog #48, #58: ready → processing and the issuance intent (the CSR itself, so a
        // restarted RA can ask again), in one transaction; only one concurrent finalize wins.
        let digest = b64::encode(ring::digest::digest(&ring::digest::SHA256, csr.der()).as_ref());
        let intent = IssuanceIntent {
            v: SCHEMA_VERSION,
            order_id: order.id.clone(),
            csr_pem: csr.to_pem(),
            profile: order.profile.clone(),
            started_at: now(),
        };
        let order_id = order.id.clone();
        let now_at_cas = intent.started_at;
        let stored_intent = intent.clone();
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
                o.csr_sha256 = Some(digest);
                w.put_order(&o)?;
                w.put_intent(&stored_intent)?;
                Ok(Some(o))
            })
            .await?;
        let Some(order) = claimed else {
            return Err(Problem::new(
                ProblemType::OrderNotReady,
                "the order is no longer ready (finalized concurrently?)",
            ));
        };
        // The issuance runs as its own task so that a slow or absent CA never holds the request
        // longer than `finalize_wait`: RFC 8555 §7.4 lets the server answer `processing` and the
        // client poll the order (with Retry-After).
        let (tx, rx) = async_channel::bounded(1);
        let me = Arc::clone(self);
        self.executor
            .spawn(async move {
                let done = me.run_issuance(intent, false).await;
                let _ = tx.try_send(done);
            })
            .detach();
        let wait = self.settings.finalize_wait;
        let finished = async { rx.recv().await.ok().flatten() }
            .or(async {
                Timer::after(wait).await;
                None
            })
            .await;
        let current = match finished {
            Some(o) => o,
            None => self.store.read(|r| r.order(&order.id))?.unwrap_or(order),
        };
        Ok(self.order_response(&current, current.status, 200))
    }

    /// Drives one order in `processing` to `valid` or `invalid`: asks the CA to sign the
    /// intent's CSR, retrying while the CA is unreachable (timeout or transport error) with a
    /// capped backoff until `issue_deadline` after the order entered `processing`; any answer
    /// of the CA ends it. Returns the order as stored at the end (None if it was no longer
    /// processing or the store failed). `resumed`: the intent comes from before a restart, so
    /// a `sign` for it may have reached the CA already (catalog #58, see `acme::adopt`).
    pub(crate) async fn run_issuance(
        self: Arc<Self>,
        intent: IssuanceIntent,
        resumed: bool,
    ) -> Option<OrderRecord> {
        let mut backoff = Duration::from_secs(1);
        // Whether an earlier `sign` for this intent may have been signed by the CA without
        // its reply reaching us: then the CA is asked what it holds before signing again.
        let mut may_have_reached = resumed;
        loop {
            let order = match self.store.read(|r| r.order(&intent.order_id)) {
                Ok(Some(o)) if o.status == OrderStatus::Processing => o,
                Ok(_) => return None,
                Err(e) => {
                    log::error!("issuance of order {}: {e}", intent.order_id);
                    return None;
                }
            };
            // Catalog #62: an order resumed at start-up on a board whose clock is not set yet
            // (no RTC, before NTP) waits for the clock instead of being signed with dates in
            // the past; the wait ends with the usual deadline once the clock is right.
            if let Err(e) = clock::check_issuance_clock(now(), &self.issuer.der) {
                log::error!("order {}: issuance postponed: {e}", order.id);
                Timer::after(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            let result = match self.issue(&order, &intent, may_have_reached).await {
                Ok(done) => return Some(done),
                Err(IssueError::Unreachable(e)) => {
                    may_have_reached = true;
                    e
                }
                Err(IssueError::Failed(problem)) => {
                    return self.fail_order(&order.id, &problem).await;
                }
            };
            let deadline = intent.started_at.saturating_add(
                i64::try_from(self.settings.issue_deadline.as_secs()).unwrap_or(i64::MAX),
            );
            if now() >= deadline {
                log::error!(
                    "order {}: the CA stayed unreachable for {} s ({result}); giving up",
                    order.id,
                    self.settings.issue_deadline.as_secs()
                );
                let problem = Problem::new(
                    ProblemType::ServerInternal,
                    format!(
                        "the certificate authority could not be reached for {} seconds ({result}); \
                         create a new order",
                        self.settings.issue_deadline.as_secs()
                    ),
                );
                return self.fail_order(&order.id, &problem).await;
            }
            log::warn!(
                "order {}: CA unreachable ({result}); retrying in {} s",
                order.id,
                backoff.as_secs()
            );
            Timer::after(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Catalog #58: at start-up, every order left in `processing` is resumed from its intent
    /// (what the CA already signed for it is looked up and adopted, see `acme::adopt`; else the
    /// CA is asked again), or failed with a reason when no intent was recorded.
    pub(crate) async fn resume_issuance(self: &Arc<Self>) {
        let stuck = match self
            .store
            .read(|r| r.orders_in_status(OrderStatus::Processing))
        {
            Ok(orders) => orders,
            Err(e) => {
                log::error!("cannot list orders left in processing: {e}");
                return;
            }
        };
        for order in stuck {
            match self.store.read(|r| r.intent(&order.id)) {
                Ok(Some(intent)) => {
                    log::warn!(
                        "order {} was left processing by a restart; asking the CA again",
                        order.id
                    );
                    let me = Arc::clone(self);
                    self.executor
                        .spawn(async move {
                            me.run_issuance(intent, true).await;
                        })
                        .detach();
                }
                Ok(None) | Err(_) => {
                    let problem = Problem::new(
                        ProblemType::ServerInternal,
                        "issuance was interrupted by a server restart before its request was \
                         recorded; create a new order",
                    );
                    if self.fail_order(&order.id, &problem).await.is_some() {
                        log::warn!("order {} left processing without intent: invalid", order.id);
                    }
                }
            }
        }
    }

    /// Asks the CA to sign, checks the answer (catalog #57) and stores the certificate with the
    /// order's move to `valid`. When a `sign` for this intent `may_have_reached` the CA, what
    /// the CA already holds is adopted if it is this order's certificate (catalog #58).
    async fn issue(
        &self,
        order: &OrderRecord,
        intent: &IssuanceIntent,
        may_have_reached: bool,
    ) -> Result<OrderRecord, IssueError> {
        let wanted = wanted_names(order)?;
        let (_, csr_der) = der::pem::decode_vec(intent.csr_pem.as_bytes())
            .map_err(|e| Problem::internal("stored CSR unreadable", &e))?;
        // Finalize verified this CSR (`ValidatedCsr::from_der`) before storing the intent: only
        // its key is needed here, for the comparison with the issued certificate.
        let csr_spki = pki::csr::stored_csr_spki(&csr_der)?;
        if may_have_reached {
            // Rare path (a restart or a CA timeout): the lookup needs the CSR's names too.
            let csr = ValidatedCsr::from_der(&csr_der)?;
            match self.adopt_lookup(order, intent, &csr, &wanted).await {
                Ok(Some(leaf)) => {
                    // Adopted from the CA's store, not signed just now: fully verified.
                    return self
                        .record_issued(order, csr.spki_der(), &wanted, &leaf, None, None)
                        .await;
                }
                Ok(None) => {}
                Err(e) => return Err(IssueError::Unreachable(e)),
            }
        }
        let signed = match self.ca.sign(&intent.csr_pem, &intent.profile).await {
            Ok(s) => s,
            Err(e @ (CaError::Timeout | CaError::Transport(_))) => {
                return Err(IssueError::Unreachable(e));
            }
            Err(e) => return Err(IssueError::Failed(e.into())),
        };
        let ders = pki::pem_to_ders(&signed.certificate_pem)
            .map_err(|e| Problem::internal("the CA returned an unreadable certificate", &e))?;
        let leaf = ders
            .first()
            .ok_or_else(|| Problem::internal("the CA returned no certificate", &"empty PEM"))?;
        self.record_issued(
            order,
            &csr_spki,
            &wanted,
            leaf,
            Some(&signed.serial),
            self.issuer.in_process.as_ref(),
        )
        .await
    }

    /// Checks a certificate the CA signed for `order` (catalog #57) and stores it with the
    /// order's move to `valid`. `reported_serial`: the serial the CA announced with it;
    /// `in_process`: set only for a certificate this process's embedded CA has just signed
    /// (its signature is then not verified again, see `pki::cert::SignedInProcess`).
    async fn record_issued(
        &self,
        order: &OrderRecord,
        csr_spki: &[u8],
        wanted: &BTreeSet<String>,
        leaf: &[u8],
        reported_serial: Option<&str>,
        in_process: Option<&pki::cert::SignedInProcess>,
    ) -> Result<OrderRecord, IssueError> {
        // Catalog #57: never serve what was not asked for.
        let info = issued::check_returned_leaf(
            leaf,
            csr_spki,
            wanted,
            &self.issuer.der,
            in_process,
            now(),
        )
        .inspect_err(|p| log::error!("order {}: {}", order.id, p.detail))?;
        if let Some(reported) = reported_serial
            && reported != info.serial
        {
            log::warn!(
                "CA reported serial {reported} but the certificate has {}",
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
        let order_id = order.id.clone();
        let cert_id = cert.id.clone();
        let done = self
            .store
            .write(move |w| {
                let Some(mut o) = w.order(&order_id)? else {
                    return Ok(None);
                };
                if o.status != OrderStatus::Processing {
                    return Ok(None);
                }
                o.status = OrderStatus::Valid;
                o.cert_id = Some(cert_id);
                w.put_cert(&cert)?;
                w.put_order(&o)?;
                w.delete_intent(&o.id)?;
                Ok(Some(o))
            })
            .await
            .map_err(Problem::from)?;
        let done = done.ok_or_else(|| {
            // Signed by the CA, recorded nowhere here: name it (catalog #58).
            Problem::internal(
                "the order left processing during issuance",
                &format!(
                    "order {}: certificate serial {} signed by the CA is not recorded",
                    order.id, info.serial
                ),
            )
        })?;
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
                w.delete_intent(&o.id)?;
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
