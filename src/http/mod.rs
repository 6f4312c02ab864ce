//! HTTP/1.1 for upki-ra: the request/response types, the limits, and the submodules that
//! implement RFC 9112 (message syntax and framing) strictly enough to close the request
//! smuggling and resource-exhaustion holes of spec/security-catalog.md §A (#1–#10, #60).
//!
//! - [`parse`]: sans-IO request-head parser (httparse + our own line-ending scan) and the
//!   framing decision (RFC 9112 §2–§3, §5, §6).
//! - [`body`]: sans-IO Content-Length and chunked body decoders (RFC 9112 §6.3, §7.1).
//! - [`response`]: response serialization and the transport-level problem documents.
//! - [`conn`]: the async connection loop, the accept loop and TLS (RFC 9112 §9).
//! - [`client`]: a small sans-IO response parser + async GET for http-01 (RFC 8555 §8.3).
//!
//! Nothing here knows about ACME: a [`Handler`] turns one [`Request`] into one [`Response`].

#![forbid(unsafe_code)]

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod deadline;
pub(crate) mod parse;
pub(crate) mod response;

use std::sync::{Arc, Mutex};
use std::time::Duration;

// The crate's entry points into this module (main.rs wires them up later).
#[allow(unused_imports)]
pub(crate) use conn::{TlsError, serve, tls_acceptor};
pub(crate) use response::Response;

/// A request method (RFC 9110 §9.1: case-sensitive, so `get` is `Other("get")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

impl Method {
    pub(crate) fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            other => Method::Other(other.to_owned()),
        }
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Other(m) => m,
        }
    }
}

/// One complete request as the application sees it.
///
/// Invariants (established by [`parse`] and [`body`]): `target` is origin-form (starts with
/// `/`, visible ASCII only); header names are lower-case tokens, values are UTF-8 without
/// leading/trailing whitespace; `body` is the fully de-chunked body, at most
/// [`Limits::max_body`] bytes.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// Raw request-target (origin-form only), e.g. `/acme/new-order`.
    pub(crate) target: String,
    /// Names lower-cased, values as received (valid UTF-8 only, else 400).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Facts the application records while handling this request, for the access log.
    pub(crate) log: LogNote,
}

/// What the application learned while handling one request (e.g. which account signed it),
/// for the one access-log line per request. Never sent to the client. Values are ids: only
/// `[A-Za-z0-9_-]` is kept (at most 64 bytes), so nothing recorded here can forge a log line
/// or carry a body, a key or a CSR.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogNote(Arc<Mutex<Vec<(&'static str, String)>>>);

impl LogNote {
    /// Records `key` = `value` (sanitized as above), replacing an earlier value of `key`.
    pub(crate) fn set(&self, key: &'static str, value: &str) {
        let clean: String = value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(64)
            .collect();
        if clean.is_empty() {
            return;
        }
        let mut fields = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = clean,
            None => fields.push((key, clean)),
        }
    }

    /// The value recorded for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let fields = self.0.lock().unwrap_or_else(|p| p.into_inner());
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
}

impl Request {
    /// The first value of the header `lower_name` (which must be given in lower case).
    pub(crate) fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == lower_name)
            .map(|(_, v)| v.as_str())
    }
}

/// The application: one request in, one response out.
pub(crate) type Handler =
    Arc<dyn Fn(Request) -> futures_lite::future::Boxed<Response> + Send + Sync>;

/// Resource bounds of the HTTP layer (spec/security-catalog.md #1–#3, #8).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Longest request head (request line + header section + final CRLF), #1.
    pub(crate) max_head: usize,
    /// Most header field lines in one head, #2.
    pub(crate) max_headers: usize,
    /// Largest (decoded) request body, #3.
    pub(crate) max_body: usize,
    /// Time allowed to receive a whole request head (for the first request of a connection
    /// this includes the TLS handshake), counted from its first byte.
    pub(crate) head_timeout: Duration,
    /// Time allowed to receive a whole body, counted from the end of its head.
    pub(crate) body_timeout: Duration,
    /// Time a keep-alive connection may wait for the first byte of its next request.
    pub(crate) idle_timeout: Duration,
    /// Time allowed to write one response (also bounds the lingering close).
    pub(crate) write_timeout: Duration,
    /// Most connections served at once; further ones wait in the listen backlog.
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: 64 * 1024,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogNote;

    // Issue 6: the access log carries ids only — a value cannot break the line or smuggle a
    // body into it, and a later value of a key replaces the earlier one.
    #[test]
    fn log_note_keeps_ids_only() {
        let note = LogNote::default();
        note.set("account", "abc-_09\n00:00 [INFO] forged {\"x\":1}");
        assert_eq!(
            note.get("account").as_deref(),
            Some("abc-_090000INFOforgedx1")
        );
        note.set("order", &"A".repeat(200));
        assert_eq!(note.get("order").map(|o| o.len()), Some(64));
        note.set("order", "o2");
        assert_eq!(note.get("order").as_deref(), Some("o2"));
        note.set("other", "");
        assert_eq!(note.get("other"), None);
        assert_eq!(note.clone().get("account"), note.get("account"));
    }
}
