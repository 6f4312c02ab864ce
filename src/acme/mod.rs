//! The ACME resources of RFC 8555 §7, one file per noun, and the router that dispatches a
//! request to exactly one of them (deny by default: an unknown path or method is an error before
//! any state is touched, catalog #61).
#![forbid(unsafe_code)]

mod account;
mod adopt;
mod authz;
mod authz_reuse;
mod certificate;
mod challenge;
mod clock;
mod csr_key;
mod directory;
mod eab;
mod finalize;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_hooks;
mod identifier;
pub(crate) mod ids;
mod issued;
mod key_change;
mod legacy_ip;
mod new_authz;
mod nonce;
mod order;
mod orders_list;
pub(crate) mod problem;
mod punycode;
mod renewal_info;
mod request;
mod revoke;
mod state;
mod urls;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::ca::CaClient;
use crate::chaos::Chaos;
use crate::http::{Handler, Method, Request, Response};
use crate::store::Store;
use crate::validate::{IdentifierPolicy, Validator};

pub(crate) use nonce::NonceStore;
use problem::Problem;
pub(crate) use urls::Urls;

/// Policy knobs of the ACME layer (from the `[acme]` and `[validation]` config sections).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) order_lifetime: Duration,
    pub(crate) authz_lifetime: Duration,
    pub(crate) max_identifiers: usize,
    /// The CA profile used when an order names none.
    pub(crate) default_profile: String,
    /// Profiles clients may ask for (ACME profiles extension), name → description.
    pub(crate) profiles: Vec<(String, String)>,
    /// Validation attempts before a challenge becomes invalid.
    pub(crate) validation_attempts: u32,
    /// Pause between two validation attempts.
    pub(crate) validation_retry_delay: Duration,
    /// Which identifiers may be ordered (`[identifiers]`).
    pub(crate) identifier_policy: IdentifierPolicy,
    /// `identifiers.legacy_ip_identifiers`: IPs sent as `dns` and IPs in the CSR CN accepted.
    pub(crate) legacy_ip_identifiers: bool,
    /// newAccount needs an External Account Binding (RFC 8555 §7.3.4).
    pub(crate) require_eab: bool,
    /// `meta.termsOfService`; when set, newAccount needs `termsOfServiceAgreed` (§7.3).
    pub(crate) terms_of_service: Option<String>,
    /// `meta.website`.
    pub(crate) website: Option<String>,
    /// How long finalize waits for the CA before answering `processing`.
    pub(crate) finalize_wait: Duration,
    /// How long issuance is retried while the CA is unreachable.
    pub(crate) issue_deadline: Duration,
}

/// The issuer certificate the CA signs with, fetched with `get_ca` at start-up.
#[derive(Clone, Debug)]
pub(crate) struct Issuer {
    pub(crate) pem: String,
    pub(crate) der: Vec<u8>,
    /// Set when the CA is this process's embedded CA: its certificates' signatures are not
    /// re-verified (catalog #57 checks the rest; see `pki::cert::SignedInProcess`).
    pub(crate) in_process: Option<crate::pki::cert::SignedInProcess>,
}

/// Everything a request handler needs; shared by all connections.
pub(crate) struct Acme {
    pub(crate) urls: Urls,
    pub(crate) store: Store,
    pub(crate) nonces: NonceStore,
    pub(crate) ca: CaClient,
    pub(crate) issuer: Issuer,
    pub(crate) validator: Validator,
    pub(crate) settings: Settings,
    pub(crate) executor: Arc<smol::Executor<'static>>,
    /// Test-only strict-server misbehaviour (`[chaos]`; inert in release builds).
    pub(crate) chaos: Chaos,
    /// The directory JSON, built on first use (see `directory.rs`).
    pub(crate) directory_body: std::sync::OnceLock<Vec<u8>>,
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 text of a Unix time, as RFC 8555 uses for `expires`, `validated`, ….
pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A 200/201 JSON response in compact form (acme.sh matches `"status":"valid"` literally).
pub(crate) fn json_response<T: Serialize>(status: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::new(status).with_body("application/json", bytes),
        Err(e) => Problem::internal("response serialisation failed", &e).into_response(),
    }
}

impl Acme {
    /// The HTTP handler serving this ACME server.
    pub(crate) fn handler(self: Arc<Self>) -> Handler {
        Arc::new(move |req| {
            let me = Arc::clone(&self);
            Box::pin(async move { me.handle(req).await })
        })
    }

    async fn handle(self: Arc<Self>, req: Request) -> Response {
        // Catalog #60 test hook: `[chaos] panic_path` (debug builds only).
        self.chaos.panic_if_targeted(&req.target);
        let path = req.target.clone();
        let post = matches!(req.method, Method::Post);
        let mut resp = match self.clone().route(&req, &path).await {
            Ok(r) => r,
            Err(p) => p.into_response(),
        };
        // interop.md: every response to a POST — success or error — carries a fresh nonce.
        if post || path == "/acme/new-nonce" {
            resp = resp.with_header("Replay-Nonce", self.nonces.issue());
        }
        resp.with_header("Link", self.urls.index_link())
    }

    async fn route(self: Arc<Self>, req: &Request, path: &str) -> Result<Response, Problem> {
        let Some(rest) = path.strip_prefix("/acme/") else {
            return Err(Problem::not_found());
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let post = matches!(req.method, Method::Post);
        match segments.as_slice() {
            ["directory"] => match req.method {
                Method::Get | Method::Head => Ok(self.directory()),
                _ => Ok(method_not_allowed("GET, HEAD")),
            },
            // RFC 8555 §7.2: HEAD → 200, GET → 204, both uncacheable.
            ["new-nonce"] => match req.method {
                Method::Head => Ok(Response::new(200).with_header("Cache-Control", "no-store")),
                Method::Get => Ok(Response::new(204).with_header("Cache-Control", "no-store")),
                _ => Ok(method_not_allowed("GET, HEAD")),
            },
            // RFC 9773 §4.2: renewal information is fetched with an unauthenticated GET.
            ["renewal-info", cert_id] => match req.method {
                Method::Get | Method::Head => self.renewal_info(cert_id),
                _ => Ok(method_not_allowed("GET, HEAD")),
            },
            // The issuer certificate (public), target of the certificates' `rel="up"` link.
            ["issuer"] => match req.method {
                Method::Get | Method::Head => Ok(self.issuer_cert()),
                _ => Ok(method_not_allowed("GET, HEAD")),
            },
            _ if !post => {
                if resource_exists(&segments) {
                    Ok(method_not_allowed("POST"))
                } else {
                    Err(Problem::not_found())
                }
            }
            ["new-account"] => self.new_account(req, path).await,
            ["account", id] => self.account(req, path, id).await,
            ["account", id, list] => match list.split_once('?') {
                None if *list == "orders" => self.orders_list(req, path, id, None),
                Some(("orders", query)) => self.orders_list(req, path, id, Some(query)),
                _ => Err(Problem::not_found()),
            },
            ["key-change"] => self.key_change(req, path).await,
            ["new-authz"] => self.new_authz(req, path).await,
            ["new-order"] => self.new_order(req, path).await,
            ["order", id] => self.order(req, path, id),
            ["order", id, "finalize"] => self.finalize(req, path, id).await,
            ["authz", id] => self.authz(req, path, id).await,
            ["chall", id] => self.challenge(req, path, id).await,
            ["cert", id] => self.certificate(req, path, id),
            ["revoke-cert"] => self.revoke(req, path).await,
            _ => Err(Problem::not_found()),
        }
    }
}

/// Whether `segments` names one of the POST resources (so a GET gets 405, not 404).
fn resource_exists(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["new-account" | "new-order" | "revoke-cert" | "key-change" | "new-authz"]
            | ["account" | "order" | "authz" | "chall" | "cert", _]
            | ["order", _, "finalize"]
            | ["account", _, "orders"]
    )
}

/// RFC 8555 §6.3 / catalog #11: resources other than the directory and newNonce take POST only.
fn method_not_allowed(allow: &str) -> Response {
    Problem::malformed(format!("method not allowed; use {allow}"))
        .with_status(405)
        .into_response()
        .with_header("Allow", allow)
}
