//! Security catalog §A (spec/security-catalog.md #1–#12, the HTTP/1.1 layer) over the wire: raw
//! bytes over TLS to the real `upki-ra` binary with its shipped limits (head 16 KiB, 64 header
//! lines, body 64 KiB, head/body deadline 10 s). Each refusal is checked for its status, the
//! `malformed` problem document, `Connection: close` and the server actually closing (RFC 9112
//! §9.6), so that nothing after a bad request is ever parsed as a request. One test per catalog
//! entry, table-driven where an entry has several inputs; the sans-IO parsers have their own
//! unit tables in `src/http/{parse,body}.rs`.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::raw::{RawConn, RawResponse, host, tls_config};
use crate::support::server::{Server, ServerOptions};

const MALFORMED: &str = "urn:ietf:params:acme:error:malformed";
/// The server's body limit (`http::Limits::default().max_body`).
const MAX_BODY: usize = 64 * 1024;
/// How long the server may take to close after a refusal (it lingers ≤ 2 s reading).
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

fn server() -> Server {
    Server::start(ServerOptions::default())
}

/// A refusal at the HTTP layer: `status`, a `malformed` problem whose `status` member agrees,
/// `Connection: close`, then the connection really closes with nothing more sent.
#[track_caller]
fn assert_refused_and_closed(c: &mut RawConn, status: u16, case: &str) -> RawResponse {
    let r = c.response();
    assert_eq!(r.status, status, "{case}: {r}");
    assert_eq!(r.problem_type().as_deref(), Some(MALFORMED), "{case}: {r}");
    assert_eq!(r.problem_status(), Some(u64::from(status)), "{case}: {r}");
    assert!(r.says_close(), "{case}: no Connection: close: {r}");
    assert!(
        c.closed_within(CLOSE_WITHIN),
        "{case}: connection left open after {status}"
    );
    r
}

/// Sends `bytes` on a fresh connection and expects `status` + malformed + close.
#[track_caller]
fn refused(server: &Server, bytes: &[u8], status: u16, case: &str) {
    let mut c = RawConn::open(server);
    c.send(bytes);
    assert_refused_and_closed(&mut c, status, case);
}

/// A POST head to the server (Host filled in) with extra header lines.
fn post(server: &Server, path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/jose+json\r\n{extra}\r\n",
        host(server)
    )
}

// Catalog #1: an oversized request head → 431, close; the server never buffers more than its
// bound (an unterminated head is cut at 16 KiB too). A head just under the limit is served.
#[test]
fn catalog_01_oversized_head_is_431_and_close() {
    let s = server();
    let h = host(&s);
    let long = format!(
        "GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let unterminated = format!(
        "GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-Pad: {}",
        "a".repeat(20 * 1024)
    );
    let no_line_end = "A".repeat(16 * 1024 + 1);
    for (case, bytes) in [
        ("17 KiB header value", long),
        ("unterminated 20 KiB head", unterminated),
        ("16 KiB + 1 without a line end", no_line_end),
    ] {
        refused(&s, bytes.as_bytes(), 431, case);
    }
    // Boundary: a 15 KiB head is fine.
    let mut c = RawConn::open(&s);
    c.send(
        format!(
            "GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(15 * 1024)
        )
        .as_bytes(),
    );
    assert_eq!(c.response().status, 200);
}

// Catalog #2: more header lines than the parser's 64 slots → 431, close; 64 lines are served.
#[test]
fn catalog_02_too_many_headers_is_431_and_close() {
    let s = server();
    let h = host(&s);
    let lines = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: v\r\n")).collect() };
    let head = |n: usize| {
        format!(
            "GET /acme/directory HTTP/1.1\r\nHost: {h}\r\n{}\r\n",
            lines(n)
        )
    };
    refused(&s, head(64).as_bytes(), 431, "65 header lines");
    refused(&s, head(500).as_bytes(), 431, "501 header lines");
    let mut c = RawConn::open(&s);
    c.send(head(63).as_bytes());
    assert_eq!(c.response().status, 200, "64 header lines (Host + 63)");
}

// Catalog #3: a declared body above 64 KiB → 413 `malformed` before any body byte is sent, then
// close; chunks adding up past the limit → 413 too. A body of exactly the limit passes the HTTP
// layer (and reaches the JWS parser, which refuses it as malformed, keeping the connection).
#[test]
fn catalog_03_oversized_body_is_413_before_reading_and_close() {
    let s = server();
    for (case, extra) in [
        (
            "Content-Length limit + 1",
            format!("Content-Length: {}\r\n", MAX_BODY + 1),
        ),
        (
            "Content-Length of 19 nines",
            "Content-Length: 9999999999999999999\r\n".to_owned(),
        ),
        (
            "Content-Length above the limit with Expect: 100-continue",
            format!(
                "Content-Length: {}\r\nExpect: 100-continue\r\n",
                MAX_BODY + 1
            ),
        ),
    ] {
        // Only the head is sent: the answer comes before the body.
        let mut c = RawConn::open(&s);
        c.send(post(&s, "/acme/new-order", &extra).as_bytes());
        let r = c.next_response();
        assert_eq!(r.status, 413, "{case}: no 100 Continue before a 413: {r}");
        assert_eq!(r.problem_type().as_deref(), Some(MALFORMED), "{case}");
        assert!(r.says_close(), "{case}");
        assert!(c.closed_within(CLOSE_WITHIN), "{case}");
    }
    // Chunked: 65 chunks of 1 KiB, then one more byte.
    let mut c = RawConn::open(&s);
    c.send(post(&s, "/acme/new-order", "Transfer-Encoding: chunked\r\n").as_bytes());
    let kib = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..64 {
        c.send(kib.as_bytes());
    }
    c.send(b"1\r\nX\r\n0\r\n\r\n");
    assert_refused_and_closed(&mut c, 413, "chunks summing to limit + 1");

    // Exactly the limit: through the HTTP layer, refused by the JWS parser, connection kept.
    let mut c = RawConn::open(&s);
    let mut req = post(
        &s,
        "/acme/new-order",
        &format!("Content-Length: {MAX_BODY}\r\n"),
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'{', MAX_BODY));
    c.send(&req);
    let r = c.response();
    assert_eq!(
        (r.status, r.problem_type().as_deref()),
        (400, Some(MALFORMED)),
        "{r}"
    );
    assert!(!r.says_close(), "{r}");
}

// Catalog #4: Content-Length and Transfer-Encoding together (CL.TE and TE.CL) → 400, close;
// the request smuggled behind it is never answered.
#[test]
fn catalog_04_content_length_with_transfer_encoding_is_400_and_close() {
    let s = server();
    let h = host(&s);
    let smuggled = format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\n\r\n");
    for (case, framing) in [
        (
            "CL.TE",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "TE.CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        ),
        (
            "CL 0 + TE",
            "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
        ),
    ] {
        let mut bytes = post(&s, "/acme/new-order", framing);
        bytes.push_str("0\r\n\r\n");
        bytes.push_str(&smuggled);
        refused(&s, bytes.as_bytes(), 400, case);
    }
}

// Catalog #5: any Transfer-Encoding other than exactly one final `chunked` → 400, close (never
// "no body"). RFC 9112 §7 makes coding names case-insensitive, but the catalog lists odd case
// among the TE.TE obfuscations (we may sit behind a proxy that reads it differently): only the
// exact token `chunked` is chunked; `Chunked`/`ChUnKeD` are refused.
#[test]
fn catalog_05_transfer_encoding_not_exactly_chunked_is_400_and_close() {
    let s = server();
    let h = host(&s);
    let smuggled = format!("0\r\n\r\nGET /acme/directory HTTP/1.1\r\nHost: {h}\r\n\r\n");
    for (case, te) in [
        ("gzip", "Transfer-Encoding: gzip\r\n"),
        ("chunked, gzip", "Transfer-Encoding: chunked, gzip\r\n"),
        ("gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n"),
        ("xchunked", "Transfer-Encoding: xchunked\r\n"),
        (
            "chunked twice on two lines",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "identity + chunked on two lines",
            "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "chunked, chunked",
            "Transfer-Encoding: chunked, chunked\r\n",
        ),
        (
            "chunked with a parameter",
            "Transfer-Encoding: chunked;q=1\r\n",
        ),
        ("quoted chunked", "Transfer-Encoding: \"chunked\"\r\n"),
        ("empty", "Transfer-Encoding:\r\n"),
        ("space before the colon", "Transfer-Encoding : chunked\r\n"),
        ("vertical tab", "Transfer-Encoding: \x0bchunked\r\n"),
        (
            "folded onto a second line",
            "Transfer-Encoding:\r\n chunked\r\n",
        ),
    ] {
        let bytes = format!("{}{smuggled}", post(&s, "/acme/new-order", te));
        refused(&s, bytes.as_bytes(), 400, case);
    }
    // HTTP/1.0 has no chunked coding (RFC 9112 §6.1).
    let bytes = format!(
        "POST /acme/new-order HTTP/1.0\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n{smuggled}"
    );
    refused(&s, bytes.as_bytes(), 400, "Transfer-Encoding on HTTP/1.0");
    for (case, te) in [
        ("odd case", "Transfer-Encoding: ChUnKeD\r\n"),
        ("capitalised", "Transfer-Encoding: Chunked\r\n"),
    ] {
        let bytes = format!("{}{smuggled}", post(&s, "/acme/new-order", te));
        refused(&s, bytes.as_bytes(), 400, case);
    }
}

// Catalog #6: a Content-Length that is not 1*DIGIT (≤ 19 digits), or conflicting values → 400,
// close (hyper RUSTSEC-2021-0078).
#[test]
fn catalog_06_malformed_content_length_is_400_and_close() {
    let s = server();
    for (case, cl) in [
        ("+5", "Content-Length: +5\r\n"),
        ("-1", "Content-Length: -1\r\n"),
        ("0x10", "Content-Length: 0x10\r\n"),
        ("5, 6", "Content-Length: 5, 6\r\n"),
        ("5, 5 (list form)", "Content-Length: 5, 5\r\n"),
        ("space inside", "Content-Length: 1 2\r\n"),
        ("empty", "Content-Length:\r\n"),
        ("20 digits", "Content-Length: 00000000000000000005\r\n"),
        ("u64 overflow", "Content-Length: 18446744073709551616\r\n"),
        (
            "differing duplicates",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
        ),
        ("decimal point", "Content-Length: 5.0\r\n"),
        ("unit suffix", "Content-Length: 5b\r\n"),
    ] {
        let bytes = format!("{}hello", post(&s, "/acme/new-order", cl));
        refused(&s, bytes.as_bytes(), 400, case);
    }
}

// Catalog #7: chunk-size abuse (too many digits, overflow, non-hex), unbounded extensions and
// trailers → 400, close; chunks over the body limit → 413 (hyper RUSTSEC-2021-0079).
#[test]
fn catalog_07_chunk_size_abuse_is_400_and_close() {
    let s = server();
    let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(2048));
    let endless_trailers: String = std::iter::once("0\r\n".to_owned())
        .chain((0..1000).map(|i| format!("T{i}: v\r\n")))
        .collect();
    for (case, body, status) in [
        (
            "17 hex digits",
            "00000000000000001\r\nx\r\n0\r\n\r\n".to_owned(),
            400,
        ),
        ("u64 overflow", "fffffffffffffffff\r\nx\r\n".to_owned(), 400),
        (
            "16 f's (above the limit)",
            "ffffffffffffffff\r\nx\r\n".to_owned(),
            413,
        ),
        (
            "one chunk above the limit",
            "10001\r\nx\r\n".to_owned(),
            413,
        ),
        ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n".to_owned(), 400),
        ("sign", "+5\r\nhello\r\n0\r\n\r\n".to_owned(), 400),
        (
            "bare LF after the size",
            "5\nhello\r\n0\r\n\r\n".to_owned(),
            400,
        ),
        (
            "data longer than its size",
            "3\r\nhello\r\n0\r\n\r\n".to_owned(),
            400,
        ),
        ("2 KiB extension", long_ext, 400),
        (
            "NUL in an extension",
            "1;a\0\r\nx\r\n0\r\n\r\n".to_owned(),
            400,
        ),
        ("1000 trailer lines", endless_trailers, 400),
        (
            "obs-fold in a trailer",
            "0\r\nX: y\r\n z\r\n\r\n".to_owned(),
            400,
        ),
    ] {
        let bytes = format!(
            "{}{body}",
            post(&s, "/acme/new-order", "Transfer-Encoding: chunked\r\n")
        );
        refused(&s, bytes.as_bytes(), status, case);
    }
}

// Catalog #8: deadlines per phase and a connection cap. With `max_connections = 3`, a fourth
// client is not even accepted until one of three keep-alive clients leaves. Then, in parallel: a
// TCP connection that never starts TLS is closed at the head deadline (10 s from accept); a head
// trickled one line per second gets 408 + close at that absolute deadline; a body that stops
// gets 408 + close at the body deadline (10 s after its head). (The 30 s idle deadline is
// tested with short limits in `src/http/conn.rs`.)
#[test]
fn catalog_08_slowloris_deadlines_and_connection_cap() {
    let s = Server::start_with(
        ServerOptions::default(),
        &[],
        Some("[server]\nmax_connections = 3\n"),
    );
    let config = tls_config(&s);
    let port = s.port;
    let h = host(&s);

    // The cap: three keep-alive clients hold every slot.
    let mut holders: Vec<RawConn> = (0..3)
        .map(|_| {
            let mut c = RawConn::open_with(&config, port);
            c.send(format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\n\r\n").as_bytes());
            assert_eq!(c.response().status, 200);
            c
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let (b_config, b_host) = (config.clone(), h.clone());
    let b = std::thread::spawn(move || {
        let mut b = RawConn::open_with(&b_config, port);
        b.send(
            format!("GET /acme/directory HTTP/1.1\r\nHost: {b_host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        tx.send(b.response().status).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "a fourth connection was served over max_connections = 3"
    );
    holders.pop();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 200);
    b.join().unwrap();
    drop(holders);

    // A raw TCP connection that never says anything.
    let silent = std::thread::spawn(move || {
        let mut tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let start = Instant::now();
        let mut b = [0u8; 16];
        let _ = std::io::Read::read(&mut tcp, &mut b); // EOF or reset
        start.elapsed()
    });
    // A body that stops after 3 of its 10 bytes.
    let (slow_config, slow_host) = (config.clone(), h.clone());
    let slow_body = std::thread::spawn(move || {
        let mut c = RawConn::open_with(&slow_config, port);
        let start = Instant::now();
        c.send(
            format!(
                "POST /acme/new-order HTTP/1.1\r\nHost: {slow_host}\r\nContent-Type: application/jose+json\r\nContent-Length: 10\r\n\r\nabc"
            )
            .as_bytes(),
        );
        let r = assert_refused_and_closed(&mut c, 408, "slow body");
        (start.elapsed(), r)
    });
    // A head sent one header line per second, never finished.
    let mut c = RawConn::open_with(&config, port);
    let start = Instant::now();
    c.send(b"GET /acme/directory HTTP/1.1\r\n");
    let r = loop {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "slow head never refused"
        );
        c.send(format!("X-Slow-{}: v\r\n", start.elapsed().as_millis()).as_bytes());
        if let Some(r) = c.poll_response(Duration::from_secs(1)) {
            break r;
        }
    };
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(13),
        "slow head: 408 after {took:?}"
    );
    assert_eq!(
        (r.status, r.problem_type().as_deref()),
        (408, Some(MALFORMED)),
        "{r}"
    );
    assert!(r.says_close());
    assert!(c.closed_within(CLOSE_WITHIN));

    let (body_took, _) = slow_body.join().unwrap();
    assert!(
        body_took >= Duration::from_secs(9) && body_took < Duration::from_secs(16),
        "slow body: 408 after {body_took:?}"
    );
    let silent_took = silent.join().unwrap();
    assert!(
        silent_took >= Duration::from_secs(9) && silent_took < Duration::from_secs(15),
        "silent TCP connection closed after {silent_took:?}"
    );
}

// Catalog #9: a body the server refused early is still consumed exactly as framed, so bytes
// that look like a request inside it are never answered; after an HTTP-level refusal (whose body
// is not read) the connection is closed instead.
#[test]
fn catalog_09_pipelined_request_after_an_early_error() {
    let s = server();
    let h = host(&s);
    // Inside the body: a request that, if parsed, would be answered 200 with the directory.
    let smuggled = format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\n\r\n");
    let next = format!("HEAD /acme/new-nonce HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n");
    for (case, head, status) in [
        (
            "415 wrong media type",
            format!("POST /acme/new-order HTTP/1.1\r\nHost: {h}\r\nContent-Type: text/plain\r\n"),
            415,
        ),
        (
            "404 unknown resource",
            format!(
                "POST /acme/nowhere HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/jose+json\r\n"
            ),
            404,
        ),
        (
            "400 body is not a JWS",
            format!(
                "POST /acme/new-account HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/jose+json\r\n"
            ),
            400,
        ),
    ] {
        let mut c = RawConn::open(&s);
        let bytes = format!(
            "{head}Content-Length: {}\r\n\r\n{smuggled}{next}",
            smuggled.len()
        );
        c.send(bytes.as_bytes());
        let r = c.response();
        assert_eq!(
            (r.status, r.problem_type().as_deref()),
            (status, Some(MALFORMED)),
            "{case}: {r}"
        );
        let r = c.response();
        assert_eq!(r.status, 200, "{case}: the pipelined HEAD new-nonce: {r}");
        assert!(r.header("replay-nonce").is_some(), "{case}: {r}");
        assert!(
            c.closed_within(CLOSE_WITHIN),
            "{case}: a third response or no close"
        );
    }
    // Refused before the body: the smuggled request is never parsed; the connection closes.
    let mut c = RawConn::open(&s);
    let bytes = format!(
        "POST /acme/new-order HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/jose+json\r\nContent-Length: {}\r\n\r\n{smuggled}",
        MAX_BODY + 1
    );
    c.send(bytes.as_bytes());
    assert_refused_and_closed(&mut c, 413, "413 with a request inside the unread body");
}

// Catalog #10: Host rules (RFC 9112 §3.2), obs-fold, NUL/CR in values, bare LF (decision 3),
// non-origin-form targets → 400, close. HTTP/1.0 is served (and closed); `Expect:
// 100-continue` gets `100 Continue` before the body.
#[test]
fn catalog_10_header_syntax_oddities_are_400_and_close() {
    let s = server();
    let h = host(&s);
    for (case, bytes) in [
        (
            "no Host on HTTP/1.1",
            "GET /acme/directory HTTP/1.1\r\n\r\n".to_owned(),
        ),
        (
            "two Host lines",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nHost: {h}\r\n\r\n"),
        ),
        (
            "Host with a path",
            "GET /acme/directory HTTP/1.1\r\nHost: a/b\r\n\r\n".to_owned(),
        ),
        (
            "Host with userinfo",
            format!("GET /acme/directory HTTP/1.1\r\nHost: u@{h}\r\n\r\n"),
        ),
        (
            "empty Host",
            "GET /acme/directory HTTP/1.1\r\nHost:\r\n\r\n".to_owned(),
        ),
        (
            "obs-fold",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-A: b\r\n  c\r\n\r\n"),
        ),
        (
            "whitespace before the first header",
            format!("GET /acme/directory HTTP/1.1\r\n Host: {h}\r\n\r\n"),
        ),
        (
            "NUL in a value",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-A: a\0b\r\n\r\n"),
        ),
        (
            "bare CR in a value",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nX-A: a\rb\r\n\r\n"),
        ),
        (
            "bare LF line endings",
            format!("GET /acme/directory HTTP/1.1\nHost: {h}\n\n"),
        ),
        (
            "bare LF ending the head",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\n\n"),
        ),
        (
            "absolute-form target",
            format!("GET https://{h}/acme/directory HTTP/1.1\r\nHost: {h}\r\n\r\n"),
        ),
        (
            "asterisk-form target",
            format!("OPTIONS * HTTP/1.1\r\nHost: {h}\r\n\r\n"),
        ),
        (
            "authority-form target",
            format!("CONNECT {h} HTTP/1.1\r\nHost: {h}\r\n\r\n"),
        ),
        (
            "HTTP/2.0 request line",
            format!("GET /acme/directory HTTP/2.0\r\nHost: {h}\r\n\r\n"),
        ),
        (
            "unknown expectation",
            format!("GET /acme/directory HTTP/1.1\r\nHost: {h}\r\nExpect: teapot\r\n\r\n"),
        ),
    ] {
        let status = if case == "unknown expectation" {
            417
        } else {
            400
        };
        refused(&s, bytes.as_bytes(), status, case);
    }
    // HTTP/1.0 without Host is served, then closed.
    let mut c = RawConn::open(&s);
    c.send(b"GET /acme/directory HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200, "{r}");
    assert!(r.says_close(), "{r}");
    assert!(c.closed_within(CLOSE_WITHIN));
    // Expect: 100-continue: the interim response comes before we send the body.
    let mut c = RawConn::open(&s);
    c.send(
        post(
            &s,
            "/acme/new-account",
            "Content-Length: 2\r\nExpect: 100-continue\r\n",
        )
        .as_bytes(),
    );
    let interim = c.next_response();
    assert_eq!(interim.status, 100, "{interim}");
    c.send(b"{}");
    let r = c.next_response();
    assert_eq!(
        (r.status, r.problem_type().as_deref()),
        (400, Some(MALFORMED)),
        "{r}"
    );
}

// Catalog #11: only the directory, newNonce, renewalInfo and the issuer certificate take GET;
// every other resource answers GET (and HEAD, PUT, DELETE) with 405 `malformed` + `Allow: POST`.
// newNonce: HEAD → 200, GET → 204, both with `Replay-Nonce` and `Cache-Control: no-store`.
#[test]
fn catalog_11_get_on_post_only_resources_is_405() {
    let s = server();
    let h = host(&s);
    let id = "AAAAAAAAAAAAAAAAAAAAAA";
    for path in [
        "/acme/new-account".to_owned(),
        "/acme/new-order".to_owned(),
        "/acme/revoke-cert".to_owned(),
        "/acme/key-change".to_owned(),
        "/acme/new-authz".to_owned(),
        format!("/acme/account/{id}"),
        format!("/acme/account/{id}/orders"),
        format!("/acme/order/{id}"),
        format!("/acme/order/{id}/finalize"),
        format!("/acme/authz/{id}"),
        format!("/acme/chall/{id}"),
        format!("/acme/cert/{id}"),
    ] {
        for method in ["GET", "HEAD", "PUT", "DELETE"] {
            let mut c = RawConn::open(&s);
            c.send(
                format!("{method} {path} HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let r = if method == "HEAD" {
                c.head_response()
            } else {
                c.response()
            };
            assert_eq!(r.status, 405, "{method} {path}: {r}");
            assert_eq!(r.header("allow"), Some("POST"), "{method} {path}: {r}");
            if method != "HEAD" {
                assert_eq!(
                    r.problem_type().as_deref(),
                    Some(MALFORMED),
                    "{method} {path}: {r}"
                );
            }
        }
    }
    // POST on the GET resources is 405 as well.
    for path in ["/acme/directory", "/acme/new-nonce"] {
        let mut c = RawConn::open(&s);
        c.send(
            format!(
                "{}{{}}",
                post(&s, path, "Content-Length: 2\r\nConnection: close\r\n")
            )
            .as_bytes(),
        );
        let r = c.response();
        assert_eq!(
            (r.status, r.problem_type().as_deref()),
            (405, Some(MALFORMED)),
            "POST {path}: {r}"
        );
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "POST {path}: {r}");
    }
    // RFC 8555 §7.2.
    let mut c = RawConn::open(&s);
    let mut seen = Vec::new();
    for (method, status) in [("HEAD", 200), ("GET", 204)] {
        c.send(format!("{method} /acme/new-nonce HTTP/1.1\r\nHost: {h}\r\n\r\n").as_bytes());
        let r = if method == "HEAD" {
            c.head_response()
        } else {
            c.response()
        };
        assert_eq!(r.status, status, "{method} newNonce: {r}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
        let nonce = r
            .header("replay-nonce")
            .unwrap_or_else(|| panic!("no Replay-Nonce: {r}"));
        assert!(!seen.contains(&nonce.to_owned()));
        seen.push(nonce.to_owned());
    }
}

// Catalog #12: a POST whose media type is not `application/jose+json` → 415 `malformed`, with a
// fresh Replay-Nonce like every POST response; parameters after `;` are allowed.
#[test]
fn catalog_12_post_without_jose_json_is_415() {
    let s = server();
    let h = host(&s);
    for (case, ct) in [
        ("application/json", "Content-Type: application/json\r\n"),
        ("text/plain", "Content-Type: text/plain\r\n"),
        (
            "form",
            "Content-Type: application/x-www-form-urlencoded\r\n",
        ),
        (
            "application/jose (compact)",
            "Content-Type: application/jose\r\n",
        ),
        ("suffix", "Content-Type: application/jose+jsonx\r\n"),
        ("empty", "Content-Type:\r\n"),
        ("missing", ""),
    ] {
        for path in ["/acme/new-account", "/acme/new-order"] {
            let mut c = RawConn::open(&s);
            c.send(
                format!("POST {path} HTTP/1.1\r\nHost: {h}\r\n{ct}Content-Length: 2\r\n\r\n{{}}")
                    .as_bytes(),
            );
            let r = c.response();
            assert_eq!(
                (r.status, r.problem_type().as_deref()),
                (415, Some(MALFORMED)),
                "{case} {path}: {r}"
            );
            assert!(r.header("replay-nonce").is_some(), "{case} {path}: {r}");
        }
    }
    // With a parameter (and odd case) the media type is accepted: the JWS parser answers.
    let mut c = RawConn::open(&s);
    c.send(format!("POST /acme/new-account HTTP/1.1\r\nHost: {h}\r\nContent-Type: Application/JOSE+JSON; charset=utf-8\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes());
    let r = c.response();
    assert_eq!(
        (r.status, r.problem_type().as_deref()),
        (400, Some(MALFORMED)),
        "{r}"
    );
}
