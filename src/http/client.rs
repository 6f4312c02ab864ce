//! A minimal HTTP/1.1 client for http-01 validation (RFC 8555 §8.3): one `GET` with
//! `Connection: close` over a stream the caller has opened (and whose deadline it applies),
//! a sans-IO response-head parser, and a bounded body read.
//!
//! RFC 9112 §4 (status line), §6.3 (response body length: 1xx/204/304, Transfer-Encoding,
//! Content-Length, read-to-close), §7.1 (chunked, via [`crate::http::body`]).

use std::fmt;
use std::net::Ipv6Addr;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::http::body::{BodyError, ChunkedDecoder};

/// Longest response head we read (status line + header section).
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Most header lines in a response head.
const MAX_RESPONSE_HEADERS: usize = 64;
/// Most interim (1xx) responses skipped before the final one.
const MAX_INTERIM: usize = 8;
const READ_CHUNK: usize = 4096;

/// The parts of the final response that http-01 validation looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientResponse {
    pub(crate) status: u16,
    /// The `Location` header (for redirects), if present.
    pub(crate) location: Option<String>,
    /// At most the `max_body` given to [`get`].
    pub(crate) body: Vec<u8>,
}

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientError {
    /// `host` or `path` cannot be put in a request line / Host header as given.
    InvalidRequest(&'static str),
    /// Reading or writing the stream failed.
    Io(String),
    /// The peer closed the connection before a complete response.
    Truncated,
    /// The response head is longer than 16 KiB or has more than 64 header lines.
    HeadTooLarge,
    /// The response is not valid HTTP/1.x or its framing is ambiguous.
    Malformed(&'static str),
    /// The body is longer than the caller's `max_body`.
    BodyTooLarge,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidRequest(what) => write!(f, "cannot build request: {what}"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Truncated => f.write_str("connection closed before the response ended"),
            ClientError::HeadTooLarge => f.write_str("response head too large"),
            ClientError::Malformed(what) => write!(f, "malformed response: {what}"),
            ClientError::BodyTooLarge => f.write_str("response body too large"),
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> ClientError {
        ClientError::Io(e.to_string())
    }
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// 204, 304 (rule 1).
    Empty,
    /// Content-Length (rule 6), already checked against `max_body`.
    Length(usize),
    /// `Transfer-Encoding: chunked` (rule 4).
    Chunked,
    /// No framing header: the body ends when the server closes (rule 8).
    UntilClose,
}

/// A parsed final (non-1xx) response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) framing: ResponseFraming,
}

/// Parses a response head at the start of `buf`. `Ok(None)`: incomplete, read more.
/// `Ok(Some((head, len)))`: `len` bytes of head; interim 1xx heads are returned too (with
/// [`ResponseFraming::Empty`]) so the caller can skip them.
pub(crate) fn parse_response_head(
    buf: &[u8],
    max_body: usize,
) -> Result<Option<(ResponseHead, usize)>, ClientError> {
    // Only hand httparse a buffer that holds a whole head (saves re-parsing on every read).
    let Some(end) = find_head_end(buf) else {
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(ClientError::HeadTooLarge);
        }
        return Ok(None);
    };
    if end > MAX_RESPONSE_HEAD {
        return Err(ClientError::HeadTooLarge);
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut res = httparse::Response::new(&mut slots);
    let len = match res.parse(buf.get(..end).unwrap_or_default()) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(ClientError::Malformed("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => return Err(ClientError::HeadTooLarge),
        Err(_) => return Err(ClientError::Malformed("invalid status line or header")),
    };
    let status = res.code.ok_or(ClientError::Malformed("status"))?;
    if !(100..=599).contains(&status) {
        return Err(ClientError::Malformed("status code out of range"));
    }

    let mut location = None;
    let mut lengths = Vec::new();
    let mut codings = Vec::new();
    for h in res.headers.iter() {
        let value = || {
            std::str::from_utf8(h.value)
                .map(|v| v.trim_matches([' ', '\t']))
                .map_err(|_| ClientError::Malformed("header value is not UTF-8"))
        };
        if h.name.eq_ignore_ascii_case("location") {
            if location.is_some() {
                return Err(ClientError::Malformed("more than one Location"));
            }
            location = Some(value()?.to_owned());
        } else if h.name.eq_ignore_ascii_case("content-length") {
            lengths.push(value()?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            codings.push(value()?);
        }
    }

    // RFC 9112 §6.3 rule 1: 1xx, 204 and 304 end at the head.
    let framing = if status < 200 || status == 204 || status == 304 {
        ResponseFraming::Empty
    } else if !codings.is_empty() {
        // Rule 3 lets Transfer-Encoding override Content-Length; two framings mean someone
        // in the path disagrees, so we do not guess.
        if !lengths.is_empty() {
            return Err(ClientError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        match codings.as_slice() {
            [one] if one.eq_ignore_ascii_case("chunked") => ResponseFraming::Chunked,
            _ => return Err(ClientError::Malformed("unsupported Transfer-Encoding")),
        }
    } else if let Some(first) = lengths.first() {
        // RFC 9110 §8.6: 1*DIGIT; differing values are unrecoverable (§6.3 rule 5).
        if lengths.iter().any(|v| v != first)
            || first.is_empty()
            || first.len() > 19
            || !first.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ClientError::Malformed("invalid Content-Length"));
        }
        let n: u64 = first
            .parse()
            .map_err(|_| ClientError::Malformed("invalid Content-Length"))?;
        match usize::try_from(n) {
            Ok(n) if n <= max_body => ResponseFraming::Length(n),
            _ => return Err(ClientError::BodyTooLarge),
        }
    } else {
        ResponseFraming::UntilClose
    };
    Ok(Some((
        ResponseHead {
            status,
            location,
            framing,
        },
        len,
    )))
}

/// Index after the blank line ending a head (CRLF CRLF, or the bare-LF forms httparse takes).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut prev2 = 0u8;
    let mut prev = 0u8;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' && (prev == b'\n' || (prev == b'\r' && prev2 == b'\n')) {
            return Some(i + 1);
        }
        prev2 = prev;
        prev = b;
    }
    None
}

/// The request bytes for `GET path` with `Host: host` (bare IPv6 literals get brackets).
pub(crate) fn request_bytes(host: &str, path: &str) -> Result<Vec<u8>, ClientError> {
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ClientError::InvalidRequest(
            "path must be origin-form visible ASCII",
        ));
    }
    let host = if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#@".contains(&b))
    {
        return Err(ClientError::InvalidRequest("invalid host"));
    }
    Ok(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: upki-ra\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes())
}

/// Sends `GET path` (Host: `host`) on `stream` and reads the final response, its body bounded
/// by `max_body`. The caller applies the deadline (and follows redirects if it wants to).
pub(crate) async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    max_body: usize,
) -> Result<ClientResponse, ClientError> {
    let request = request_bytes(host, path)?;
    stream.write_all(&request).await?;
    stream.flush().await?;

    let mut buf = Vec::with_capacity(READ_CHUNK);
    let mut eof = false;
    let mut interim = 0;
    let head = loop {
        match parse_response_head(&buf, max_body)? {
            Some((head, len)) => {
                buf.drain(..len.min(buf.len()));
                // RFC 9110 §15.2: a client MUST be able to parse 1xx responses before the
                // final one (e.g. 103 Early Hints); 101 would switch protocols: refuse.
                if head.status == 101 {
                    return Err(ClientError::Malformed("unexpected 101 Switching Protocols"));
                }
                if head.status < 200 {
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(ClientError::Malformed("too many interim responses"));
                    }
                    continue;
                }
                break head;
            }
            None if eof => return Err(ClientError::Truncated),
            None => eof = read_more(&mut stream, &mut buf).await? == 0,
        }
    };

    let mut body = Vec::new();
    match head.framing {
        ResponseFraming::Empty => {}
        ResponseFraming::Length(n) => {
            while buf.len() < n {
                if read_more(&mut stream, &mut buf).await? == 0 {
                    return Err(ClientError::Truncated);
                }
            }
            body.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        ResponseFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(max_body);
            loop {
                let step = decoder.decode(&buf, &mut body).map_err(|e| match e {
                    BodyError::BodyTooLarge => ClientError::BodyTooLarge,
                    _ => ClientError::Malformed("invalid chunked body"),
                })?;
                buf.drain(..step.consumed.min(buf.len()));
                if step.done {
                    break;
                }
                if read_more(&mut stream, &mut buf).await? == 0 {
                    return Err(ClientError::Truncated);
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            // Stop as soon as we hold max_body + 1 bytes: the body is too large.
            if buf.len() > max_body {
                return Err(ClientError::BodyTooLarge);
            }
            if read_more(&mut stream, &mut buf).await? == 0 {
                body = buf;
                break;
            }
        },
    }
    Ok(ClientResponse {
        status: head.status,
        location: head.location,
        body,
    })
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, ClientError> {
    let mut chunk = [0u8; READ_CHUNK];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<Option<(ResponseHead, usize)>, ClientError> {
        parse_response_head(bytes, 1024)
    }

    // RFC 9112 §4 and §6.3: framing decisions of the response parser.
    #[test]
    fn rfc9112_s6_3_response_framing() {
        let (h, len) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, len),
            (200, ResponseFraming::Length(3), 38)
        );
        let (h, _) = head(b"HTTP/1.1 302 Found\r\nLocation: http://b.lan/x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.location.as_deref(), Some("http://b.lan/x"));
        assert_eq!(h.framing, ResponseFraming::UntilClose);
        let (h, _) = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, ResponseFraming::Chunked);
        let (h, _) = head(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, ResponseFraming::Empty);
        let (h, _) = head(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing), (103, ResponseFraming::Empty));
        let (h, _) = head(b"HTTP/1.0 200 OK\nContent-Length: 0\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h.framing,
            ResponseFraming::Length(0),
            "lenient about bare LF from responders"
        );
        assert_eq!(head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
    }

    #[test]
    fn response_rejections() {
        let cases: Vec<(&str, &[u8], ClientError)> = vec![
            (
                "CL and TE",
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                ClientError::Malformed("both Content-Length and Transfer-Encoding"),
            ),
            (
                "gzip",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ClientError::Malformed("unsupported Transfer-Encoding"),
            ),
            (
                "CL +5",
                b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
                ClientError::Malformed("invalid Content-Length"),
            ),
            (
                "CL differing",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                ClientError::Malformed("invalid Content-Length"),
            ),
            (
                "CL above max_body",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n",
                ClientError::BodyTooLarge,
            ),
            (
                "two Locations",
                b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\n\r\n",
                ClientError::Malformed("more than one Location"),
            ),
            (
                "not HTTP",
                b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
                ClientError::Malformed("invalid status line or header"),
            ),
            (
                "status 999",
                b"HTTP/1.1 999 What\r\n\r\n",
                ClientError::Malformed("status code out of range"),
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(head(bytes).err(), Some(want), "{name}");
        }
        assert_eq!(
            head(&vec![b'a'; MAX_RESPONSE_HEAD + 1]).err(),
            Some(ClientError::HeadTooLarge)
        );
    }

    #[test]
    fn request_line_and_host() {
        assert_eq!(
            request_bytes("a.lan", "/.well-known/acme-challenge/tok").unwrap(),
            b"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: a.lan\r\nUser-Agent: upki-ra\r\n\
              Accept: */*\r\nConnection: close\r\n\r\n"
        );
        let v6 = String::from_utf8(request_bytes("fd00::1", "/x").unwrap()).unwrap();
        assert!(v6.contains("\r\nHost: [fd00::1]\r\n"));
        assert!(request_bytes("a.lan\r\nX: y", "/x").is_err());
        assert!(request_bytes("a.lan", "/x y").is_err());
        assert!(request_bytes("a.lan", "http://x/").is_err());
        assert!(request_bytes("", "/").is_err());
    }

    /// Serves `response` (raw bytes) to one connection, checking the request it got.
    fn canned_server(response: Vec<u8>) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).unwrap();
                if n == 0 {
                    return;
                }
                req.extend_from_slice(&b[..n]);
            }
            assert!(req.starts_with(b"GET /tok HTTP/1.1\r\nHost: a.lan\r\n"));
            // Dribble the response out in small pieces to exercise the incremental paths.
            for piece in response.chunks(7) {
                if s.write_all(piece).is_err() {
                    return;
                }
                s.flush().unwrap();
            }
        });
        addr
    }

    fn fetch(response: &[u8], max_body: usize) -> Result<ClientResponse, ClientError> {
        let addr = canned_server(response.to_vec());
        smol::block_on(async {
            let s = async_net::TcpStream::connect(addr).await.unwrap();
            get(s, "a.lan", "/tok", max_body).await
        })
    }

    // RFC 8555 §8.3 over a real socket: Content-Length, chunked, read-to-close, 1xx, bounds.
    #[test]
    fn rfc8555_s8_3_get_over_loopback() {
        let r = fetch(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello-extra",
            100,
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = fetch(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = fetch(b"HTTP/1.0 200 OK\r\n\r\nuntil close", 100).unwrap();
        assert_eq!(r.body, b"until close");
        let r = fetch(
            b"HTTP/1.1 301 Moved\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!((r.status, r.location.as_deref()), (301, Some("/other")));

        assert_eq!(
            fetch(b"HTTP/1.0 200 OK\r\n\r\n0123456789A", 10),
            Err(ClientError::BodyTooLarge)
        );
        assert_eq!(
            fetch(b"HTTP/1.0 200 OK\r\n\r\n0123456789", 10)
                .unwrap()
                .body
                .len(),
            10
        );
        assert_eq!(
            fetch(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", 10),
            Err(ClientError::BodyTooLarge)
        );
        assert_eq!(
            fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", 100),
            Err(ClientError::Truncated)
        );
        assert_eq!(
            fetch(b"HTTP/1.1 200 OK\r\nContent-", 100),
            Err(ClientError::Truncated)
        );
    }
}
