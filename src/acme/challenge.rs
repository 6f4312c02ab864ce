//! Challenge resources (RFC 8555 §7.5.1, §8): responding to a challenge starts its validation
//! off the request path; the outcome moves the challenge, its authorization and its order along
//! the state machine of §7.1.6 in one write transaction.

use std::sync::Arc;

use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, json_response, now, state};
use crate::http::{Request, Response};
use crate::store::records::{AuthzRecord, AuthzStatus, ChallengeStatus, OrderStatus};
use crate::validate::ValidationError;

/// What one validation task needs, captured when the client responds.
struct Job {
    authz_id: String,
    challenge_id: String,
    kind: String,
    identifier_kind: String,
    identifier_value: String,
    token: String,
    key_authorization: String,
}

impl Acme {
    /// The challenge JSON with `Link: <authz>;rel="up"` (lego reads the authorization from it).
    fn challenge_response(
        &self,
        authz: &AuthzRecord,
        challenge_id: &str,
    ) -> Result<Response, Problem> {
        let c = authz
            .challenges
            .iter()
            .find(|c| c.id == challenge_id)
            .ok_or_else(Problem::not_found)?;
        let resp = json_response(200, &self.challenge_view(c)).with_header(
            "Link",
            format!("<{}>;rel=\"up\"", self.urls.authz(&authz.id)),
        );
        Ok(if c.status == ChallengeStatus::Processing {
            resp.with_header("Retry-After", "1")
        } else {
            resp
        })
    }

    /// POST to a challenge URL: `{}` asks for validation (RFC 8555 §7.5.1), an empty payload
    /// fetches it (POST-as-GET).
    pub(crate) async fn challenge(
        self: &Arc<Self>,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        let authz = self.authz_of(self.store.read(|r| r.authz_by_challenge(id))?, &account.id)?;
        let challenge = authz
            .challenges
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(Problem::not_found)?;
        if auth.is_post_as_get() {
            return self.challenge_response(&authz, id);
        }
        // RFC 8555 §7.5.1: the client sends an empty JSON object; other members are ignored.
        let _: serde_json::Map<String, serde_json::Value> = auth.payload()?;
        match challenge.status {
            ChallengeStatus::Processing | ChallengeStatus::Valid => {
                return self.challenge_response(&authz, id);
            }
            // Catalog #39: `invalid` is final.
            ChallengeStatus::Invalid => {
                return Err(Problem::malformed(
                    "this challenge has failed and cannot be retried; create a new order",
                ));
            }
            ChallengeStatus::Pending => {}
        }
        let authz_status = state::authz_status(&authz, now());
        if authz_status != AuthzStatus::Pending {
            return Err(Problem::malformed(
                format!("the authorization is not pending (it is {authz_status:?})").to_lowercase(),
            ));
        }
        // RFC 8555 §8.1: the key authorization uses the account key current at this request.
        let job = Job {
            authz_id: authz.id.clone(),
            challenge_id: id.to_owned(),
            kind: challenge.kind.clone(),
            identifier_kind: authz.identifier.kind.clone(),
            identifier_value: authz.identifier.value.clone(),
            token: challenge.token.clone(),
            key_authorization: format!("{}.{}", challenge.token, account.thumbprint),
        };
        // pending → processing as one compare-and-set, so two POSTs start one validation.
        let (authz_id, chall_id) = (job.authz_id.clone(), job.challenge_id.clone());
        let (updated, started) = self
            .store
            .write(move |w| {
                let Some(mut a) = w.authz(&authz_id)? else {
                    return Ok((None, false));
                };
                let mut started = false;
                if a.status == AuthzStatus::Pending
                    && let Some(c) = a.challenges.iter_mut().find(|c| c.id == chall_id)
                    && c.status == ChallengeStatus::Pending
                {
                    c.status = ChallengeStatus::Processing;
                    started = true;
                }
                if started {
                    w.put_authz(&a)?;
                }
                Ok((Some(a), started))
            })
            .await?;
        let updated = updated.ok_or_else(Problem::not_found)?;
        if started {
            let me = Arc::clone(self);
            self.executor.spawn(me.validate(job)).detach();
        }
        self.challenge_response(&updated, id)
    }

    /// Runs the bounded validation attempts, then records the outcome.
    async fn validate(self: Arc<Self>, job: Job) {
        let attempts = self.settings.validation_attempts.max(1);
        let mut failure: Option<ValidationError> = None;
        for attempt in 1..=attempts {
            let result = match job.kind.as_str() {
                "http-01" => {
                    self.validator
                        .http01(
                            &job.identifier_kind,
                            &job.identifier_value,
                            &job.token,
                            &job.key_authorization,
                        )
                        .await
                }
                other => Err(ValidationError::Connection(format!(
                    "challenge type {other} cannot be validated by this server"
                ))),
            };
            match result {
                Ok(()) => {
                    failure = None;
                    break;
                }
                Err(e) => {
                    log::info!(
                        "{} validation of {} attempt {attempt}/{attempts} failed: {e}",
                        job.kind,
                        job.identifier_value
                    );
                    failure = Some(e);
                    if attempt < attempts {
                        async_io::Timer::after(self.settings.validation_retry_delay).await;
                    }
                }
            }
        }
        let error = failure.map(|e| Problem::from(e).to_json());
        let ok = error.is_none();
        crate::metrics::validation(&job.kind, ok);
        let (authz_id, chall_id) = (job.authz_id.clone(), job.challenge_id.clone());
        let written = self
            .store
            .write(move |w| record_outcome(w, &authz_id, &chall_id, error, now()))
            .await;
        match written {
            Ok(()) => log::info!(
                "{} validation of {}: {}",
                job.kind,
                job.identifier_value,
                if ok { "valid" } else { "invalid" }
            ),
            Err(e) => log::error!(
                "recording the validation of {} failed: {e}",
                job.identifier_value
            ),
        }
    }
}

/// RFC 8555 §7.1.6: a valid challenge makes its authorization valid (and the order ready when
/// every authorization is); a failed one makes the authorization and the order invalid at once
/// (interop.md: clients poll while an authorization is pending).
fn record_outcome(
    w: &mut crate::store::Writer<'_>,
    authz_id: &str,
    challenge_id: &str,
    error: Option<serde_json::Value>,
    now: i64,
) -> Result<(), crate::store::StoreError> {
    let Some(mut authz) = w.authz(authz_id)? else {
        return Ok(());
    };
    let Some(c) = authz.challenges.iter_mut().find(|c| c.id == challenge_id) else {
        return Ok(());
    };
    if c.status != ChallengeStatus::Processing {
        return Ok(());
    }
    match &error {
        None => {
            c.status = ChallengeStatus::Valid;
            c.validated = Some(now);
            authz.status = AuthzStatus::Valid;
        }
        Some(problem) => {
            c.status = ChallengeStatus::Invalid;
            c.error = Some(problem.clone());
            authz.status = AuthzStatus::Invalid;
        }
    }
    w.put_authz(&authz)?;
    let Some(mut order) = w.order(&authz.order_id)? else {
        return Ok(());
    };
    if order.status != OrderStatus::Pending {
        return Ok(());
    }
    let mut authzs = Vec::with_capacity(order.authz_ids.len());
    for id in &order.authz_ids {
        if let Some(a) = w.authz(id)? {
            authzs.push(a);
        }
    }
    let next = state::order_status(&order, &authzs, now);
    if next != order.status {
        order.status = next;
        if next == OrderStatus::Invalid {
            order.error = error.map(|mut p| {
                if let Some(detail) = p.get("detail").and_then(|d| d.as_str()) {
                    let detail = format!("{}: {detail}", authz.identifier.value);
                    p["detail"] = serde_json::Value::String(detail);
                }
                p
            });
        }
        w.put_order(&order)?;
    }
    Ok(())
}
