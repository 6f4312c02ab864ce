//! Process-wide counters for the Prometheus `/metrics` endpoint and the `/healthz` check,
//! served on their own plain-HTTP listener (`[metrics] listen`), never on the ACME listener.
//!
//! The counters are plain atomics (and two small maps whose keys come from fixed sets of this
//! server: endpoint names, status codes, challenge types), so the hooks in the ACME handler,
//! the connection loop and the CA client cost one atomic add. The text format is Prometheus'
//! exposition format 0.0.4.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::{Handler, Method, Request, Response};

/// Upper bounds (seconds) of the CA round-trip histogram buckets.
const CA_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every counter of the process. One static instance, [`METRICS`].
struct Metrics {
    /// (endpoint, HTTP status) → responses sent by the ACME handler.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// (challenge type, "valid"/"invalid") → validations finished.
    validations: Mutex<BTreeMap<(String, &'static str), u64>>,
    issuances: AtomicU64,
    open_connections: AtomicI64,
    in_flight: AtomicI64,
    ca_buckets: [AtomicU64; CA_BUCKETS.len()],
    ca_count: AtomicU64,
    ca_sum_micros: AtomicU64,
}

static METRICS: Metrics = Metrics {
    requests: Mutex::new(BTreeMap::new()),
    validations: Mutex::new(BTreeMap::new()),
    issuances: AtomicU64::new(0),
    open_connections: AtomicI64::new(0),
    in_flight: AtomicI64::new(0),
    ca_buckets: [const { AtomicU64::new(0) }; CA_BUCKETS.len()],
    ca_count: AtomicU64::new(0),
    ca_sum_micros: AtomicU64::new(0),
};

/// Counts one certificate issued (finalize reached `valid`).
pub(crate) fn issuance() {
    METRICS.issuances.fetch_add(1, Ordering::Relaxed);
}

/// Counts one finished challenge validation of `kind` (`http-01`, …).
pub(crate) fn validation(kind: &str, valid: bool) {
    let result = if valid { "valid" } else { "invalid" };
    let mut map = METRICS
        .validations
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    *map.entry((kind.to_owned(), result)).or_insert(0) += 1;
}

/// Records one CA request/reply round trip.
pub(crate) fn ca_round_trip(took: Duration) {
    let secs = took.as_secs_f64();
    for (bound, count) in CA_BUCKETS.iter().zip(&METRICS.ca_buckets) {
        if secs <= *bound {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
    METRICS.ca_count.fetch_add(1, Ordering::Relaxed);
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    METRICS.ca_sum_micros.fetch_add(micros, Ordering::Relaxed);
}

/// Held by each open connection (HTTP connection loop); the gauge drops with it.
pub(crate) struct ConnectionGuard(());

impl ConnectionGuard {
    pub(crate) fn new() -> ConnectionGuard {
        METRICS.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        METRICS.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests being handled right now (graceful shutdown waits for this to reach zero).
pub(crate) fn in_flight() -> i64 {
    METRICS.in_flight.load(Ordering::Relaxed)
}

/// The endpoint label of an ACME request path: one of a fixed set, never client text.
fn endpoint(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/acme/") else {
        return "other";
    };
    let mut segments = rest.split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("directory"), None, _) => "directory",
        (Some("new-nonce"), None, _) => "new-nonce",
        (Some("new-account"), None, _) => "new-account",
        (Some("account"), Some(_), None) => "account",
        (Some("new-order"), None, _) => "new-order",
        (Some("order"), Some(_), None) => "order",
        (Some("order"), Some(_), Some("finalize")) => "finalize",
        (Some("authz"), Some(_), None) => "authz",
        (Some("chall"), Some(_), None) => "challenge",
        (Some("cert"), Some(_), None) => "certificate",
        (Some("revoke-cert"), None, _) => "revoke-cert",
        _ => "other",
    }
}

/// Wraps the ACME handler: counts requests by endpoint and status, tracks the requests in
/// flight, and logs one line per request (method, endpoint, resource id from the path, the
/// account that signed the request and the order it concerns as the handler recorded them in
/// [`LogNote`](crate::http::LogNote), status, time) — never the body, so never key material.
pub(crate) fn instrument(inner: Handler) -> Handler {
    Arc::new(move |req: Request| {
        let inner = Arc::clone(&inner);
        Box::pin(async move {
            let started = Instant::now();
            let name = endpoint(&req.target);
            // The id segment of /acme/<noun>/<id>[/...]: ours (random base64url) or 404.
            let id: String = req
                .target
                .strip_prefix("/acme/")
                .and_then(|r| r.split('/').nth(1))
                .filter(|s| {
                    s.len() <= 64
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .unwrap_or("-")
                .to_owned();
            let method = match &req.method {
                Method::Get => "GET",
                Method::Head => "HEAD",
                Method::Post => "POST",
                Method::Other(_) => "OTHER",
            };
            let note = req.log.clone();
            METRICS.in_flight.fetch_add(1, Ordering::Relaxed);
            let resp = inner(req).await;
            METRICS.in_flight.fetch_sub(1, Ordering::Relaxed);
            {
                let mut map = METRICS.requests.lock().unwrap_or_else(|p| p.into_inner());
                *map.entry((name, resp.status)).or_insert(0) += 1;
            }
            let account = note.get("account").unwrap_or_else(|| "-".to_owned());
            let order = note.get("order").unwrap_or_else(|| "-".to_owned());
            log::info!(
                "{method} {name} id={id} account={account} order={order} -> {} ({} ms)",
                resp.status,
                started.elapsed().as_millis()
            );
            resp
        })
    })
}

/// What `/healthz` reports besides "the process answers".
pub(crate) trait Health: Send + Sync {
    /// Whether the CA answered a request within its timeout, checked now.
    fn ca_reachable(&self) -> futures_lite::future::Boxed<bool>;
}

/// The handler of the metrics listener: `GET /metrics`, `GET /healthz`, 404 otherwise.
/// `db_dir` is the LMDB directory, whose `data.mdb` size is reported.
pub(crate) fn handler(db_dir: PathBuf, health: Arc<dyn Health>) -> Handler {
    Arc::new(move |req: Request| {
        let db_dir = db_dir.clone();
        let health = Arc::clone(&health);
        Box::pin(async move {
            if !matches!(req.method, Method::Get | Method::Head) {
                return Response::new(405).with_header("Allow", "GET, HEAD");
            }
            match req.target.as_str() {
                "/metrics" => Response::new(200).with_body(
                    "text/plain; version=0.0.4; charset=utf-8",
                    render(&db_dir).into_bytes(),
                ),
                "/healthz" => {
                    let ca = health.ca_reachable().await;
                    let body = serde_json::json!({
                        "status": if ca { "ok" } else { "degraded" },
                        "ca_reachable": ca,
                        "version": env!("CARGO_PKG_VERSION"),
                    });
                    Response::new(if ca { 200 } else { 503 })
                        .with_body("application/json", body.to_string().into_bytes())
                }
                _ => Response::new(404),
            }
        })
    })
}

/// The Prometheus text exposition of every counter.
fn render(db_dir: &Path) -> String {
    let mut out = String::with_capacity(4096);
    let m = &METRICS;
    out.push_str(
        "# HELP upki_ra_requests_total ACME responses sent, by endpoint and HTTP status.\n\
         # TYPE upki_ra_requests_total counter\n",
    );
    for ((endpoint, status), n) in m.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "upki_ra_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str(
        "# HELP upki_ra_issuances_total Certificates issued (orders that became valid).\n\
         # TYPE upki_ra_issuances_total counter\n",
    );
    let _ = writeln!(
        out,
        "upki_ra_issuances_total {}",
        m.issuances.load(Ordering::Relaxed)
    );
    out.push_str(
        "# HELP upki_ra_validations_total Challenge validations finished, by type and result.\n\
         # TYPE upki_ra_validations_total counter\n",
    );
    for ((kind, result), n) in m
        .validations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        let kind = label(kind);
        let _ = writeln!(
            out,
            "upki_ra_validations_total{{type=\"{kind}\",result=\"{result}\"}} {n}"
        );
    }
    out.push_str(
        "# HELP upki_ra_ca_request_duration_seconds Round-trip time of requests to the CA.\n\
         # TYPE upki_ra_ca_request_duration_seconds histogram\n",
    );
    for (bound, count) in CA_BUCKETS.iter().zip(&m.ca_buckets) {
        let _ = writeln!(
            out,
            "upki_ra_ca_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
            count.load(Ordering::Relaxed)
        );
    }
    let count = m.ca_count.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "upki_ra_ca_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let sum = m.ca_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "upki_ra_ca_request_duration_seconds_sum {sum}");
    let _ = writeln!(out, "upki_ra_ca_request_duration_seconds_count {count}");
    out.push_str(
        "# HELP upki_ra_open_connections ACME connections open now.\n\
         # TYPE upki_ra_open_connections gauge\n",
    );
    let _ = writeln!(
        out,
        "upki_ra_open_connections {}",
        m.open_connections.load(Ordering::Relaxed)
    );
    out.push_str(
        "# HELP upki_ra_requests_in_flight ACME requests being handled now.\n\
         # TYPE upki_ra_requests_in_flight gauge\n",
    );
    let _ = writeln!(out, "upki_ra_requests_in_flight {}", in_flight());
    out.push_str(
        "# HELP upki_ra_lmdb_size_bytes Size of the LMDB data file (pages in use, not the map size).\n\
         # TYPE upki_ra_lmdb_size_bytes gauge\n",
    );
    let size = std::fs::metadata(db_dir.join("data.mdb")).map_or(0, |m| m.len());
    let _ = writeln!(out, "upki_ra_lmdb_size_bytes {size}");
    out
}

/// A label value made safe for the text format (our own strings, but escape anyway).
fn label(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_are_a_fixed_set() {
        assert_eq!(endpoint("/acme/directory"), "directory");
        assert_eq!(endpoint("/acme/order/abc/finalize"), "finalize");
        assert_eq!(endpoint("/acme/order/abc"), "order");
        assert_eq!(endpoint("/acme/chall/x"), "challenge");
        assert_eq!(endpoint("/acme/evil\"label"), "other");
        assert_eq!(endpoint("/metrics"), "other");
    }

    /// The exposition has a HELP/TYPE pair per family, and each counter moves when its hook
    /// is called (the deltas, since tests share the process-wide counters).
    #[test]
    fn prometheus_text_reflects_hooks() {
        let dir = std::env::temp_dir();
        let value = |text: &str, series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        let before = render(&dir);
        issuance();
        validation("http-01", true);
        ca_round_trip(Duration::from_millis(30));
        let guard = ConnectionGuard::new();
        let after = render(&dir);
        drop(guard);
        assert_eq!(
            value(&after, "upki_ra_issuances_total") - value(&before, "upki_ra_issuances_total"),
            1.0
        );
        let v = "upki_ra_validations_total{type=\"http-01\",result=\"valid\"}";
        assert_eq!(value(&after, v) - value(&before, v), 1.0);
        let b = "upki_ra_ca_request_duration_seconds_bucket{le=\"0.05\"}";
        assert_eq!(value(&after, b) - value(&before, b), 1.0);
        let b = "upki_ra_ca_request_duration_seconds_bucket{le=\"0.025\"}";
        assert_eq!(value(&after, b) - value(&before, b), 0.0);
        for family in [
            "upki_ra_requests_total",
            "upki_ra_issuances_total",
            "upki_ra_validations_total",
            "upki_ra_ca_request_duration_seconds",
            "upki_ra_open_connections",
            "upki_ra_lmdb_size_bytes",
        ] {
            assert!(after.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
