//! Responses: the type the application returns, its serialization (RFC 9112 §4 status line,
//! §5 field lines, §6.3 framing; RFC 9110 §8.6 Content-Length, §9.3.2 HEAD), and the small
//! `application/problem+json` documents (RFC 9457) the transport sends for protocol errors.

use crate::http::Method;

/// The problem type of every transport-level error (spec/security-catalog.md §A).
const MALFORMED: &str = "urn:ietf:params:acme:error:malformed";

/// An HTTP response as built by the application.
///
/// The connection loop owns the framing: `Content-Length`, `Transfer-Encoding` and
/// `Connection` set by the application are ignored, and a header that could split the
/// response (non-token name, CR/LF/NUL in a value) turns the whole response into a 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Appends a header (a name may repeat, e.g. `Link`).
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body and its `Content-Type`.
    pub(crate) fn with_body(self, content_type: &str, body: Vec<u8>) -> Response {
        let mut r = self.with_header("Content-Type", content_type);
        r.body = body;
        r
    }

    /// A transport-level error: `application/problem+json` of type `malformed` (also for 408,
    /// 413, 417, 431), with a short detail. The HTTP layer builds it itself: it is not ACME.
    pub(crate) fn problem(status: u16, detail: &str) -> Response {
        let doc = serde_json::json!({ "type": MALFORMED, "detail": detail, "status": status });
        Response::new(status).with_body("application/problem+json", doc.to_string().into_bytes())
    }

    /// The bytes on the wire for a response to a request with `method`; `close` adds
    /// `Connection: close` (RFC 9112 §9.6: a server that closes SHOULD send it).
    pub(crate) fn serialize(&self, method: &Method, close: bool) -> Vec<u8> {
        if let Err(why) = self.check() {
            log::error!("handler returned an invalid response ({why}); sending 500 instead");
            return Response::problem(500, "internal error").serialize(method, true);
        }
        // Sized once for the whole response, so it is written with one allocation (issue 7).
        let head_len: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let mut out = Vec::with_capacity(96 + head_len + self.body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut out, usize::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            if is_framing(name) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any
        // response with a status code of 1xx (Informational) or 204 (No Content)."
        // RFC 9112 §6.3 rule 1: 204 and 304 have no content (and a 304's Content-Length
        // would describe the unsent representation, so we omit it too).
        let no_content = self.status == 204 || self.status == 304;
        if !no_content {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(&mut out, self.body.len());
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        // RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD (the
        // Content-Length still says what GET would have returned).
        if !no_content && *method != Method::Head {
            out.extend_from_slice(&self.body);
        }
        out
    }

    fn check(&self) -> Result<(), &'static str> {
        // 1xx would break the one-response-per-request framing of the connection loop.
        if !(200..=599).contains(&self.status) {
            return Err("status outside 200..=599");
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err("header name is not a token");
            }
            // RFC 9110 §5.5: field-value = *field-content (VCHAR / obs-text, SP/HTAB inside).
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err("control character in a header value");
            }
        }
        Ok(())
    }
}

/// Appends `n` in decimal ASCII.
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            // `n % 10` < 10, so the cast cannot truncate.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// The interim response sent for `Expect: 100-continue` (RFC 9110 §10.1.1).
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn is_framing(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reason phrases (RFC 9110 §15); optional on the wire, so unknown codes get none.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use super::*;

    fn text(r: &Response, method: Method, close: bool) -> String {
        String::from_utf8(r.serialize(&method, close)).unwrap()
    }

    // RFC 9110 §8.6: Content-Length = 1*DIGIT, written without a formatter.
    #[test]
    fn rfc9110_s8_6_decimal_digits() {
        for n in [0, 7, 10, 204, 4096, 1_000_001, usize::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    // RFC 9112 §4 + RFC 9110 §8.6: status line, headers in order, Content-Length.
    #[test]
    fn rfc9112_s4_serialization() {
        let r = Response::new(201)
            .with_header("Location", "https://ra.lan/acme/order/1")
            .with_header("Link", "<https://ra.lan/dir>;rel=\"index\"")
            .with_header("Link", "<https://ra.lan/x>;rel=\"up\"")
            .with_body("application/json", b"{}".to_vec());
        assert_eq!(
            text(&r, Method::Post, false),
            "HTTP/1.1 201 Created\r\nLocation: https://ra.lan/acme/order/1\r\n\
             Link: <https://ra.lan/dir>;rel=\"index\"\r\nLink: <https://ra.lan/x>;rel=\"up\"\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        assert_eq!(
            text(&Response::new(200), Method::Get, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    // RFC 9110 §9.3.2 (HEAD) and §8.6 (204).
    #[test]
    fn rfc9110_s9_3_2_head_and_204() {
        let r = Response::new(200).with_body("text/plain", b"hello".to_vec());
        assert_eq!(
            text(&r, Method::Head, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
        );
        let r = Response::new(204)
            .with_header("Replay-Nonce", "abc")
            .with_body("x/y", b"no".to_vec());
        assert_eq!(
            text(&r, Method::Get, false),
            "HTTP/1.1 204 No Content\r\nReplay-Nonce: abc\r\nContent-Type: x/y\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_from_the_handler_are_ignored() {
        let r = Response::new(200)
            .with_header("content-length", "99")
            .with_header("Transfer-Encoding", "chunked")
            .with_header("Connection", "keep-alive")
            .with_body("text/plain", b"ok".to_vec());
        assert_eq!(
            text(&r, Method::Get, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
        );
    }

    // Response splitting: a CR/LF in a value (say, an echoed identifier) must not reach the wire.
    #[test]
    fn header_injection_becomes_500() {
        for r in [
            Response::new(200).with_header("Location", "/a\r\nSet-Cookie: x=y"),
            Response::new(200).with_header("Bad Name", "v"),
            Response::new(200).with_header("", "v"),
            Response::new(101),
            Response::new(1000),
        ] {
            let t = text(&r, Method::Get, false);
            assert!(
                t.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
                "{t}"
            );
            assert!(!t.contains("Set-Cookie"), "{t}");
            assert!(t.contains("Connection: close\r\n"));
        }
    }

    #[test]
    fn problem_document() {
        let r = Response::problem(413, "request body \"too\" large");
        assert_eq!(r.status, 413);
        assert_eq!(
            r.headers,
            vec![(
                "Content-Type".to_owned(),
                "application/problem+json".to_owned()
            )]
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "urn:ietf:params:acme:error:malformed",
                "detail": "request body \"too\" large",
                "status": 413
            })
        );
    }
}
