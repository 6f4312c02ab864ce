//! Challenge resources (RFC 8555 §7.5.1, §8): responding to a challenge starts its validation
//! off the request path; the outcome moves the challenge, its authorization and its order along
//! the state machine of §7.1.6 in one write transaction.

use std::sync::Arc;

use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, json_response, now, state};
use crate::http::{Request, Response};
use crate::store::records::{
    AuthzRecord, AuthzStatus, ChallengeRecord, ChallengeStatus, OrderStatus,
};

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
        // RFC 8555 §8.2: "the server SHOULD set the Retry-After header field to a time after
        // the server's next validation query".
        Ok(if c.status == ChallengeStatus::Processing {
            let after = self
                .validator
                .retries()
                .retry_after(challenge_id)
                .unwrap_or(1);
            resp.with_header("Retry-After", after.to_string())
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
        req.log.set("order", &authz.order_id);
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
            ChallengeStatus::Valid => return self.challenge_response(&authz, id),
            // RFC 8555 §8.2: "Clients can explicitly request a retry by re-sending their
            // response to a challenge"; "Servers SHOULD retry a request immediately". The
            // running task attempts at once (each attempt still counts against its bound); if
            // none runs (the server restarted meanwhile), a new one starts.
            ChallengeStatus::Processing => {
                if !self.validator.retries().retry_now(id)
                    && state::authz_status(&authz, now()) == AuthzStatus::Pending
                {
                    let job = self.job(&authz, challenge, &account.thumbprint);
                    let me = Arc::clone(self);
                    self.executor.spawn(me.validate(job)).detach();
                }
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
        let job = self.job(&authz, challenge, &account.thumbprint);
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

    /// Restarts the validations a server restart interrupted: every challenge left
    /// `processing` in a pending authorization of a pending order gets a new task (RFC 8555
    /// §8.2: clients poll and would otherwise wait until the authorization expires). Called once
    /// at start-up.
    pub(crate) fn resume_validations(self: &Arc<Self>) {
        let found = self.store.read(|r| {
            let mut jobs = Vec::new();
            for order in r.orders_in_status(OrderStatus::Pending)? {
                for authz_id in &order.authz_ids {
                    let Some(authz) = r.authz(authz_id)? else {
                        continue;
                    };
                    if state::authz_status(&authz, now()) != AuthzStatus::Pending {
                        continue;
                    }
                    let Some(account) = r.account(&authz.account_id)? else {
                        continue;
                    };
                    for c in &authz.challenges {
                        if c.status == ChallengeStatus::Processing {
                            jobs.push(self.job(&authz, c, &account.thumbprint));
                        }
                    }
                }
            }
            Ok(jobs)
        });
        match found {
            Ok(jobs) => {
                for job in jobs {
                    log::info!(
                        "resuming the {} validation of {} after a restart",
                        job.kind,
                        job.identifier_value
                    );
                    let me = Arc::clone(self);
                    self.executor.spawn(me.validate(job)).detach();
                }
            }
            Err(e) => log::error!("cannot list the validations to resume: {e}"),
        }
    }

    /// What the validation task of `challenge` needs. RFC 8555 §8.1: the key authorization
    /// uses the account key current at this request (`thumbprint`).
    fn job(&self, authz: &AuthzRecord, challenge: &ChallengeRecord, thumbprint: &str) -> Job {
        Job {
            authz_id: authz.id.clone(),
            challenge_id: challenge.id.clone(),
            kind: challenge.kind.clone(),
            identifier_kind: authz.identifier.kind.clone(),
            identifier_value: authz.identifier.value.clone(),
            token: challenge.token.clone(),
            key_authorization: format!("{}.{thumbprint}", challenge.token),
        }
    }

    /// Runs the bounded validation attempts of RFC 8555 §8.2 and records each outcome: a
    /// failed attempt with retries left keeps the challenge `processing` with its error; the
    /// last failure or a success settles it. One task per challenge ([`RetryBoard`]).
    ///
    /// [`RetryBoard`]: crate::validate::RetryBoard
    async fn validate(self: Arc<Self>, job: Job) {
        let Some(ticket) = self.validator.retries().start(&job.challenge_id) else {
            return; // another task validates this challenge
        };
        let attempts = self.settings.validation_attempts.max(1);
        for attempt in 1..=attempts {
            // Chaos mode (test-only): the query comes a random while later; clients poll.
            if let Some(delay) = self.chaos.validation_delay() {
                async_io::Timer::after(delay).await;
            }
            let result = self
                .validator
                .run_attempt(
                    &job.kind,
                    &job.identifier_kind,
                    &job.identifier_value,
                    &job.token,
                    &job.key_authorization,
                )
                .await;
            let (error, last) = match result {
                Ok(()) => (None, true),
                Err(e) => {
                    log::info!(
                        "{} validation of {} attempt {attempt}/{attempts} failed: {e}",
                        job.kind,
                        job.identifier_value
                    );
                    let mut problem = Problem::from(e);
                    if attempt < attempts {
                        problem.detail = format!(
                            "attempt {attempt} of {attempts} failed, retrying: {}",
                            problem.detail
                        );
                    }
                    (Some(problem.to_json()), attempt == attempts)
                }
            };
            let ok = error.is_none();
            if !last {
                // Announce the next attempt before the error becomes visible, so a client that
                // reads the error also gets the real Retry-After.
                self.validator
                    .retries()
                    .schedule(&ticket, self.settings.validation_retry_delay);
            }
            if last {
                crate::metrics::validation(&job.kind, ok);
            }
            let (authz_id, chall_id) = (job.authz_id.clone(), job.challenge_id.clone());
            let written = self
                .store
                .write(move |w| {
                    if last {
                        record_outcome(w, &authz_id, &chall_id, error, now())
                    } else {
                        record_failed_attempt(w, &authz_id, &chall_id, error, now())
                    }
                })
                .await;
            match written {
                Ok(Recorded::Settled) if last => log::info!(
                    "{} validation of {}: {}",
                    job.kind,
                    job.identifier_value,
                    if ok { "valid" } else { "invalid" }
                ),
                Ok(Recorded::Settled) => {}
                // The challenge left `processing` meanwhile (expired, deleted): stop.
                Ok(Recorded::Gone) => break,
                Err(e) => {
                    log::error!(
                        "recording the validation of {} failed: {e}",
                        job.identifier_value
                    );
                    break;
                }
            }
            if last {
                break;
            }
            // RFC 8555 §8.2: wait before the next query, unless the client asks for it now.
            self.validator.retries().wait(&ticket).await;
        }
        self.validator.retries().finish(ticket);
    }
}

/// Whether a write found the challenge still `processing`.
enum Recorded {
    Settled,
    Gone,
}

/// RFC 8555 §8.2: "The server MUST add an entry to the "error" field in the challenge after
/// each failed validation query"; the challenge stays `processing` (and its authorization
/// `pending`) while retries are left.
fn record_failed_attempt(
    w: &mut crate::store::Writer<'_>,
    authz_id: &str,
    challenge_id: &str,
    error: Option<serde_json::Value>,
    now: i64,
) -> Result<Recorded, crate::store::StoreError> {
    let Some(mut authz) = w.authz(authz_id)? else {
        return Ok(Recorded::Gone);
    };
    let Some(c) = authz.challenges.iter_mut().find(|c| c.id == challenge_id) else {
        return Ok(Recorded::Gone);
    };
    if c.status != ChallengeStatus::Processing {
        return Ok(Recorded::Gone);
    }
    if authz.status != AuthzStatus::Pending {
        // Settled by another challenge meanwhile: this one ends now, with its error.
        return record_outcome(w, authz_id, challenge_id, error, now).map(|_| Recorded::Gone);
    }
    c.error = error;
    w.put_authz(&authz)?;
    Ok(Recorded::Settled)
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
) -> Result<Recorded, crate::store::StoreError> {
    let Some(mut authz) = w.authz(authz_id)? else {
        return Ok(Recorded::Gone);
    };
    let Some(c) = authz.challenges.iter_mut().find(|c| c.id == challenge_id) else {
        return Ok(Recorded::Gone);
    };
    if c.status != ChallengeStatus::Processing {
        return Ok(Recorded::Gone);
    }
    // Another challenge of this authorization may have settled it first (a client can respond
    // to several): the late one is recorded, but never moves a settled authorization.
    if authz.status != AuthzStatus::Pending {
        match &error {
            None => {
                c.status = ChallengeStatus::Valid;
                c.validated = Some(now);
                c.error = None;
            }
            Some(problem) => {
                c.status = ChallengeStatus::Invalid;
                c.error = Some(problem.clone());
            }
        }
        w.put_authz(&authz)?;
        return Ok(Recorded::Settled);
    }
    match &error {
        None => {
            c.status = ChallengeStatus::Valid;
            c.validated = Some(now);
            c.error = None;
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
        return Ok(Recorded::Settled);
    };
    if order.status != OrderStatus::Pending {
        return Ok(Recorded::Settled);
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
            // RFC 8555 §6.7.1: the order names the identifier that failed, in its detail and
            // as a subproblem (catalog #46: one bad authorization of several).
            order.error = error.map(|mut p| {
                let detail = p
                    .get("detail")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let sub = serde_json::json!([{
                    "type": p.get("type").cloned().unwrap_or_default(),
                    "detail": detail,
                    "identifier": authz.identifier,
                }]);
                // A problem document is always an object (`Problem::to_json`); `as_object_mut`
                // instead of `p[…] =`, which would panic on anything else (catalog #60).
                if let Some(obj) = p.as_object_mut() {
                    obj.insert("subproblems".into(), sub);
                    obj.insert(
                        "detail".into(),
                        format!("{}: {detail}", authz.identifier.value).into(),
                    );
                }
                p
            });
        }
        w.put_order(&order)?;
    }
    Ok(Recorded::Settled)
}
