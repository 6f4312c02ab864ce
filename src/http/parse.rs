//! Sans-IO request-head parser: finds the end of the head in the bytes read so far, checks
//! line endings ourselves (httparse accepts bare LF), lets httparse parse the request line and
//! header fields, and decides the body framing.
//!
//! RFC 9112 §2.2 (message parsing, bare CR/LF, whitespace before the first header),
//! §3 (request line, origin-form, Host), §5.2 (obs-fold), §6.1–§6.3 (Transfer-Encoding,
//! Content-Length, message body length), §9.3 (persistence); RFC 9110 §10.1.1 (Expect).
//! Closes spec/security-catalog.md #1, #2, #3 (declared length), #4, #5, #6, #10.

use std::fmt;

use crate::http::{Limits, Method};

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (neither Content-Length nor Transfer-Encoding: rule 7 of §6.3).
    None,
    /// Exactly this many bytes; never above `Limits::max_body`.
    Length(usize),
    /// `Transfer-Encoding: chunked` as the one and only coding.
    Chunked,
}

/// A validated request head.
///
/// Invariants: `target` is origin-form visible ASCII; header names are lower-case, values are
/// trimmed UTF-8; at most one Host (exactly one on HTTP/1.1); `framing` comes from a single
/// consistent Content-Length or a single `chunked` coding, never both.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (httparse knows no others).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "decided on during parsing; tests read it")
    )]
    pub(crate) version: u8,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) framing: Framing,
    /// False for HTTP/1.0 and for `Connection: close` (RFC 9112 §9.3).
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (RFC 9110 §10.1.1).
    pub(crate) expect_continue: bool,
}

/// Result of feeding the parser the bytes read so far.
#[derive(Debug)]
pub(crate) enum Status {
    /// The head is not complete yet: read more.
    Partial,
    /// The head is complete and occupies the first `len` bytes of the buffer (including any
    /// leading empty lines); the body (or the next request) starts at `len`.
    Complete { head: Head, len: usize },
}

/// A request the server refuses; every one of them ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// #1: the head is longer than `Limits::max_head`.
    HeadTooLarge,
    /// #2: more header lines than `Limits::max_headers`.
    TooManyHeaders,
    /// #10: a LF not preceded by CR.
    BareLf,
    /// RFC 9112 §2.2: a CR not followed by LF.
    BareCr,
    /// #10, RFC 9112 §5.2 / §2.2: a header line starting with whitespace.
    ObsFold,
    /// httparse refused the request line or a header field.
    Syntax(&'static str),
    /// #10: absolute-form, authority-form, asterisk-form, or non-ASCII target.
    TargetNotOriginForm,
    /// A header value that is not UTF-8.
    HeaderNotUtf8,
    /// #10, RFC 9112 §3.2: HTTP/1.1 without Host.
    MissingHost,
    /// #10, RFC 9112 §3.2: more than one Host line.
    MultipleHost,
    /// RFC 9112 §3.2: a Host value that is not `uri-host [ ":" port ]`.
    InvalidHost,
    /// #4: both Content-Length and Transfer-Encoding.
    ContentLengthWithTransferEncoding,
    /// #6: a Content-Length that is not 1*DIGIT of at most 19 digits.
    InvalidContentLength,
    /// #6: Content-Length lines with different values.
    ConflictingContentLength,
    /// #5: Transfer-Encoding other than exactly one `chunked`.
    UnsupportedTransferEncoding,
    /// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request.
    TransferEncodingInHttp10,
    /// #3: a declared Content-Length above `Limits::max_body`.
    BodyTooLarge,
    /// RFC 9110 §10.1.1: an expectation other than `100-continue`.
    UnsupportedExpectation,
}

impl ParseError {
    /// The status code of the error response (always followed by closing the connection).
    pub(crate) fn status(&self) -> u16 {
        match self {
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::UnsupportedExpectation => 417,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ParseError::HeadTooLarge => "request head too large",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::BareLf => "bare LF line ending in request head",
            ParseError::BareCr => "bare CR in request head",
            ParseError::ObsFold => "obsolete line folding in request head",
            ParseError::Syntax(what) => return write!(f, "invalid request head: {what}"),
            ParseError::TargetNotOriginForm => "request target must be origin-form",
            ParseError::HeaderNotUtf8 => "header value is not valid UTF-8",
            ParseError::MissingHost => "missing Host header",
            ParseError::MultipleHost => "more than one Host header",
            ParseError::InvalidHost => "invalid Host header",
            ParseError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            ParseError::InvalidContentLength => "invalid Content-Length",
            ParseError::ConflictingContentLength => "conflicting Content-Length values",
            ParseError::UnsupportedTransferEncoding => {
                "Transfer-Encoding must be exactly \"chunked\""
            }
            ParseError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            ParseError::BodyTooLarge => "request body too large",
            ParseError::UnsupportedExpectation => "unsupported expectation",
        };
        f.write_str(s)
    }
}

/// Content-Length values longer than this cannot be trusted to fit in a u64 (#6).
const MAX_CONTENT_LENGTH_DIGITS: usize = 19;

/// Push parser for one request head over a buffer that only grows between calls.
///
/// Invariant: bytes before `pos` have been checked (line endings, obs-fold) and contain no
/// end of head; call [`HeadParser::parse`] again with the same buffer plus new bytes.
/// Use a fresh parser for each request.
#[derive(Debug)]
pub(crate) struct HeadParser {
    max_head: usize,
    max_headers: usize,
    max_body: usize,
    /// Next byte to scan.
    pos: usize,
    /// The last four scanned bytes, most recent in the low byte.
    window: u32,
    /// Still inside the empty lines allowed before the request line (RFC 9112 §2.2).
    leading: bool,
    /// Where the request line starts (after the leading empty lines).
    start: usize,
}

impl HeadParser {
    pub(crate) fn new(limits: &Limits) -> HeadParser {
        HeadParser {
            max_head: limits.max_head,
            max_headers: limits.max_headers,
            max_body: limits.max_body,
            pos: 0,
            window: 0,
            leading: true,
            start: 0,
        }
    }

    /// Feeds the whole buffer read so far (the previous buffer plus new bytes).
    pub(crate) fn parse(&mut self, buf: &[u8]) -> Result<Status, ParseError> {
        let Some(end) = self.scan(buf)? else {
            // #1: never buffer an unbounded head.
            if buf.len() > self.max_head {
                return Err(ParseError::HeadTooLarge);
            }
            return Ok(Status::Partial);
        };
        if end > self.max_head {
            return Err(ParseError::HeadTooLarge);
        }
        let bytes = buf
            .get(self.start..end)
            .ok_or(ParseError::Syntax("empty head"))?;
        let head = parse_head(bytes, self.max_headers, self.max_body)?;
        Ok(Status::Complete { head, len: end })
    }

    /// Scans new bytes; returns the end of the head (index after CRLFCRLF) once seen.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let limit = buf.len().min(self.max_head.saturating_add(1));
        let new = buf.get(self.pos..limit).unwrap_or_default();
        for (offset, &b) in new.iter().enumerate() {
            let i = self.pos + offset;
            let prev = (self.window & 0xff) as u8;
            // RFC 9112 §2.2: a bare CR "MUST" be rejected or replaced; we reject.
            if prev == b'\r' && b != b'\n' {
                return Err(ParseError::BareCr);
            }
            // Catalog #10 / decision 3: httparse accepts a bare LF as a line terminator;
            // behind a proxy that reads it differently this is a desync, so refuse it.
            if b == b'\n' && prev != b'\r' {
                return Err(ParseError::BareLf);
            }
            self.window = (self.window << 8) | u32::from(b);
            if self.leading {
                // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
                // received prior to the request-line.
                match b {
                    b'\r' => {}
                    b'\n' => self.start = i + 1,
                    _ => self.leading = false,
                }
                continue;
            }
            if b == b'\n' && self.window == 0x0d0a_0d0a {
                self.pos = i + 1;
                return Ok(Some(i + 1));
            }
            // RFC 9112 §5.2: a server MUST reject obs-fold in a request (400) unless it
            // replaces it; §2.2: whitespace before the first header line MUST be rejected
            // or the line ignored. Both are a line (after the request line) starting with
            // SP or HTAB.
            if (b == b' ' || b == b'\t') && prev == b'\n' {
                return Err(ParseError::ObsFold);
            }
        }
        self.pos = limit;
        Ok(None)
    }
}

/// Parses a complete head (`bytes` ends with CRLFCRLF and has no bare CR/LF).
fn parse_head(bytes: &[u8], max_headers: usize, max_body: usize) -> Result<Head, ParseError> {
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => {}
        Ok(_) => return Err(ParseError::Syntax("incomplete head")),
        Err(e) => return Err(map_httparse(e)),
    }
    let method = Method::from_token(req.method.ok_or(ParseError::Syntax("method"))?);
    let target = req.path.ok_or(ParseError::Syntax("target"))?;
    let version = req.version.ok_or(ParseError::Syntax("version"))?;

    // RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ]. We serve no proxy and no
    // OPTIONS *, so absolute-form, authority-form and asterisk-form are refused (#10).
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::TargetNotOriginForm);
    }

    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| ParseError::HeaderNotUtf8)?;
        headers.push((
            h.name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_owned(),
        ));
    }

    let framing = framing(&headers, version, max_body)?;
    check_host(&headers, version)?;

    // RFC 9112 §9.3: HTTP/1.1 persists unless "close" is a connection option; we do not keep
    // HTTP/1.0 connections alive at all (its keep-alive extension is not supported).
    let close_option = values(&headers, "connection")
        .flat_map(|v| v.split(','))
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case("close"));
    let keep_alive = version == 1 && !close_option;

    // RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0
    // request MUST ignore that expectation." Anything but 100-continue MAY get a 417.
    let mut expect_continue = false;
    if version == 1 {
        for v in values(&headers, "expect") {
            if v.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(ParseError::UnsupportedExpectation);
            }
        }
    }

    Ok(Head {
        method,
        target: target.to_owned(),
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    })
}

fn map_httparse(e: httparse::Error) -> ParseError {
    match e {
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::HeaderName => ParseError::Syntax("header name"),
        httparse::Error::HeaderValue => ParseError::Syntax("header value"),
        httparse::Error::NewLine => ParseError::Syntax("line ending"),
        httparse::Error::Status => ParseError::Syntax("status"),
        httparse::Error::Token => ParseError::Syntax("method or target"),
        httparse::Error::Version => ParseError::Syntax("HTTP version"),
    }
}

fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// RFC 9112 §6.3: the message body length, refusing every ambiguous framing.
fn framing(
    headers: &[(String, String)],
    version: u8,
    max_body: usize,
) -> Result<Framing, ParseError> {
    let te: Vec<&str> = values(headers, "transfer-encoding").collect();
    let has_cl = values(headers, "content-length").next().is_some();
    if !te.is_empty() {
        // RFC 9112 §6.1: "A server MAY reject a request that contains both Content-Length
        // and Transfer-Encoding or process such a request in accordance with the
        // Transfer-Encoding alone" — we reject (#4): the two framings disagree somewhere.
        if has_cl {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as
        // having faulty framing.
        if version == 0 {
            return Err(ParseError::TransferEncodingInHttp10);
        }
        // RFC 9112 §6.3 rule 4: if chunked is not the final coding the server MUST respond
        // 400 and close. We go further (#5): exactly one field line whose whole value is the
        // token `chunked` — no list, no other coding, no repetition across lines.
        return match te.as_slice() {
            // Odd case (`Chunked`) is refused too: a TE.TE obfuscation in catalog #5, although
            // RFC 9112 §7 calls coding names case-insensitive; no real client sends it.
            [one] if *one == "chunked" => Ok(Framing::Chunked),
            _ => Err(ParseError::UnsupportedTransferEncoding),
        };
    }
    let mut length: Option<u64> = None;
    for v in values(headers, "content-length") {
        // #6, RFC 9110 §8.6: Content-Length = 1*DIGIT; no sign, no hex, no list, no spaces.
        if v.is_empty()
            || v.len() > MAX_CONTENT_LENGTH_DIGITS
            || !v.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ParseError::InvalidContentLength);
        }
        let n: u64 = v.parse().map_err(|_| ParseError::InvalidContentLength)?;
        // RFC 9112 §6.3 rule 5: differing values are unrecoverable: 400 and close.
        match length {
            Some(prev) if prev != n => return Err(ParseError::ConflictingContentLength),
            _ => length = Some(n),
        }
    }
    match length {
        None => Ok(Framing::None),
        Some(n) => match usize::try_from(n) {
            // #3: refuse before reading a single body byte.
            Ok(n) if n <= max_body => Ok(Framing::Length(n)),
            _ => Err(ParseError::BodyTooLarge),
        },
    }
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
/// HTTP/1.1 request message that lacks a Host header field and to any request message that
/// contains more than one Host header field line or a Host header field with an invalid
/// field value."
fn check_host(headers: &[(String, String)], version: u8) -> Result<(), ParseError> {
    let hosts: Vec<&str> = values(headers, "host").collect();
    match hosts.as_slice() {
        [] if version == 1 => Err(ParseError::MissingHost),
        [] => Ok(()),
        [one] if valid_host(one) => Ok(()),
        [_] => Err(ParseError::InvalidHost),
        _ => Err(ParseError::MultipleHost),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2–§3.2.3), non-empty host.
fn valid_host(v: &str) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => "",
            p => match p.strip_prefix(':') {
                Some(p) => p,
                None => return false,
            },
        };
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (literal, port)
    } else {
        let (host, port) = v.split_once(':').unwrap_or((v, ""));
        let reg_name = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
        if host.is_empty() || !host.bytes().all(reg_name) {
            return false;
        }
        (host, port)
    };
    !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn parse_all(bytes: &[u8]) -> Result<Status, ParseError> {
        HeadParser::new(&limits()).parse(bytes)
    }

    fn complete(bytes: &[u8]) -> (Head, usize) {
        match parse_all(bytes) {
            Ok(Status::Complete { head, len }) => (head, len),
            other => panic!("expected a complete head for {bytes:?}, got {other:?}"),
        }
    }

    fn error(bytes: &[u8]) -> ParseError {
        match parse_all(bytes) {
            Err(e) => e,
            other => panic!("expected an error for {bytes:?}, got {other:?}"),
        }
    }

    // RFC 9112 §3: a plain GET, and the body framing of a POST.
    #[test]
    fn rfc9112_s3_valid_requests() {
        let (head, len) = complete(b"GET /directory HTTP/1.1\r\nHost: ra.lan\r\n\r\n");
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.target, "/directory");
        assert_eq!(head.version, 1);
        assert_eq!(head.framing, Framing::None);
        assert!(head.keep_alive);
        assert_eq!(len, 41);

        let req = b"POST /acme/new-order HTTP/1.1\r\nHost: ra.lan:8443\r\n\
                    Content-Type: application/jose+json\r\nContent-Length: 5\r\n\r\nhello";
        let (head, len) = complete(req);
        assert_eq!(head.method, Method::Post);
        assert_eq!(head.framing, Framing::Length(5));
        assert_eq!(&req[len..], b"hello");
        assert_eq!(
            head.headers,
            vec![
                ("host".to_owned(), "ra.lan:8443".to_owned()),
                (
                    "content-type".to_owned(),
                    "application/jose+json".to_owned()
                ),
                ("content-length".to_owned(), "5".to_owned()),
            ]
        );

        let (head, _) = complete(b"HEAD /x HTTP/1.1\r\nHost: [fd00::1]:443\r\n\r\n");
        assert_eq!(head.method, Method::Head);
        let (head, _) = complete(b"get / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.method, Method::Other("get".to_owned()));
        // Identical duplicate Content-Length lines are one length (RFC 9112 §6.3 rule 5).
        let (head, _) = complete(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        );
        assert_eq!(head.framing, Framing::Length(3));
    }

    // RFC 9112 §9.3 persistence, RFC 9110 §10.1.1 Expect.
    #[test]
    fn rfc9112_s9_3_connection_and_expect() {
        let (h, _) =
            complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n");
        assert!(!h.keep_alive);
        let (h, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes");
        assert_eq!(h.version, 0);
        let (h, _) =
            complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n");
        assert!(
            !h.keep_alive && !h.expect_continue,
            "1.0 expectations are ignored"
        );
        let (h, _) = complete(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n",
        );
        assert!(h.expect_continue && h.keep_alive);
        assert_eq!(
            error(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"),
            ParseError::UnsupportedExpectation
        );
    }

    // RFC 9112 §2.2: leading empty lines are ignored and count as part of the head.
    #[test]
    fn rfc9112_s2_2_leading_empty_lines() {
        let input = b"\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        let (head, len) = complete(input);
        assert_eq!(head.target, "/a");
        assert_eq!(&input[len..], b"NEXT");
    }

    #[test]
    fn partial_heads_then_complete_byte_by_byte() {
        let req = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nX";
        let mut p = HeadParser::new(&limits());
        let mut got = None;
        for n in 1..=req.len() {
            match p.parse(&req[..n]).unwrap() {
                Status::Partial => {}
                Status::Complete { head, len } => {
                    got = Some((n, head, len));
                    break;
                }
            }
        }
        let (n, head, len) = got.unwrap();
        assert_eq!(n, req.len() - 1, "complete exactly at the final LF");
        assert_eq!(len, req.len() - 1);
        assert_eq!(head.framing, Framing::Length(1));
    }

    /// The smuggling / limits corpus of spec/security-catalog.md §A, one row per case.
    #[test]
    fn catalog_a_rejections() {
        let long_value = "a".repeat(17 * 1024);
        let huge_head = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {long_value}\r\n\r\n");
        let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
        let many_headers = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
            ("#1 head > 16 KiB", huge_head.into_bytes(), ParseError::HeadTooLarge),
            ("#1 unterminated head > 16 KiB", vec![b'A'; 16 * 1024 + 1], ParseError::HeadTooLarge),
            ("#2 65 headers", many_headers.into_bytes(), ParseError::TooManyHeaders),
            ("#3 Content-Length above the limit",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n".to_vec(),
             ParseError::BodyTooLarge),
            ("#3 Content-Length of 19 nines",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n".to_vec(),
             ParseError::BodyTooLarge),
            ("#4 CL.TE",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
             ParseError::ContentLengthWithTransferEncoding),
            ("#4 TE.CL",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n".to_vec(),
             ParseError::ContentLengthWithTransferEncoding),
            ("#5 TE.TE xchunked",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 chunked, gzip",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 gzip, chunked",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 gzip",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 chunked on two lines",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 identity then chunked on two lines",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 chunked with a parameter",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 quoted chunked",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 odd-case chunked",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 empty Transfer-Encoding",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n".to_vec(),
             ParseError::UnsupportedTransferEncoding),
            ("#5 space before the colon",
             b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n".to_vec(),
             ParseError::Syntax("header name")),
            ("#5 Transfer-Encoding on HTTP/1.0",
             b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
             ParseError::TransferEncodingInHttp10),
            ("#6 Content-Length: +5",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 Content-Length: -1",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 Content-Length: 0x10",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 Content-Length: 5, 6",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 Content-Length: 5, 5 (list form)",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 Content-Length: 1 2 (space inside)",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 empty Content-Length",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 20 digits",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000005\r\n\r\n".to_vec(),
             ParseError::InvalidContentLength),
            ("#6 differing duplicates",
             b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n".to_vec(),
             ParseError::ConflictingContentLength),
            ("#10 no Host on HTTP/1.1",
             b"GET / HTTP/1.1\r\n\r\n".to_vec(), ParseError::MissingHost),
            ("#10 two Host lines",
             b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), ParseError::MultipleHost),
            ("#10 two Host lines on HTTP/1.0",
             b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n".to_vec(), ParseError::MultipleHost),
            ("#10 Host with a path",
             b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec(), ParseError::InvalidHost),
            ("#10 Host with userinfo",
             b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n".to_vec(), ParseError::InvalidHost),
            ("#10 empty Host",
             b"GET / HTTP/1.1\r\nHost:\r\n\r\n".to_vec(), ParseError::InvalidHost),
            ("#10 Host with a bad port",
             b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n".to_vec(), ParseError::InvalidHost),
            ("#10 obs-fold",
             b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n".to_vec(), ParseError::ObsFold),
            ("#10 obs-fold with HTAB",
             b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n".to_vec(), ParseError::ObsFold),
            ("#10 whitespace before the first header",
             b"GET / HTTP/1.1\r\n Host: a\r\n\r\n".to_vec(), ParseError::ObsFold),
            ("#10 bare LF everywhere",
             b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), ParseError::BareLf),
            ("#10 bare LF ending the head",
             b"GET / HTTP/1.1\r\nHost: a\r\n\n".to_vec(), ParseError::BareLf),
            ("#10 bare LF as a leading empty line",
             b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), ParseError::BareLf),
            ("#10 bare CR inside a value",
             b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n".to_vec(), ParseError::BareCr),
            ("#10 NUL inside a value",
             b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n".to_vec(),
             ParseError::Syntax("header value")),
            ("#10 absolute-form target",
             b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), ParseError::TargetNotOriginForm),
            ("#10 asterisk-form target",
             b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), ParseError::TargetNotOriginForm),
            ("#10 authority-form target",
             b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), ParseError::TargetNotOriginForm),
            ("#10 non-ASCII target",
             "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes().to_vec(),
             ParseError::TargetNotOriginForm),
            ("#10 header value not UTF-8",
             b"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n".to_vec(), ParseError::HeaderNotUtf8),
            ("#10 HTTP/2.0 request line",
             b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), ParseError::Syntax("HTTP version")),
            ("#10 two spaces in the request line",
             b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), ParseError::Syntax("method or target")),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(parse_all(&bytes).err(), Some(want.clone()), "{name}");
            // Fed one byte at a time, the parser must reach the same verdict.
            let mut p = HeadParser::new(&limits());
            let mut verdict = None;
            for n in 1..=bytes.len() {
                match p.parse(&bytes[..n]) {
                    Ok(Status::Partial) => {}
                    Ok(Status::Complete { .. }) => panic!("{name}: accepted incrementally"),
                    Err(e) => {
                        verdict = Some(e);
                        break;
                    }
                }
            }
            assert_eq!(verdict, Some(want), "{name} (incremental)");
        }
    }

    #[test]
    fn catalog_1_2_limits_are_configurable_and_statuses() {
        let mut l = limits();
        l.max_head = 32;
        l.max_headers = 1;
        let mut p = HeadParser::new(&l);
        assert_eq!(
            p.parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n").err(),
            Some(ParseError::HeadTooLarge)
        );
        let mut p = HeadParser::new(&l);
        assert!(matches!(
            p.parse(&b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"[..31]),
            Ok(Status::Partial)
        ));
        let mut l = limits();
        l.max_headers = 1;
        let mut p = HeadParser::new(&l);
        assert_eq!(
            p.parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n").err(),
            Some(ParseError::TooManyHeaders)
        );
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
        assert_eq!(ParseError::BodyTooLarge.status(), 413);
        assert_eq!(ParseError::BareLf.status(), 400);
    }
}
