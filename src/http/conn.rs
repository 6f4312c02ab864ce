//! The async shell around the sans-IO parser: the accept loop (connection cap, one detached
//! task per connection), the TLS handshake, and the per-connection request loop (keep-alive,
//! pipelining, `Expect: 100-continue`, per-phase deadlines, close after any protocol error).
//!
//! RFC 9112 §9 (connection management: persistence §9.3, pipelining §9.3.2, closing §9.6),
//! RFC 9110 §10.1.1 (Expect), RFC 8555 §10.3 (DoS mitigation), RFC 8446/5246 via rustls.
//! Closes spec/security-catalog.md #8 (deadlines, connection cap), #9 (pipelining after an
//! error) and #60 (a panic kills one connection, not the daemon).
//!
//! Connection cap: when `max_connections` connections are open, the accept loop stops
//! accepting until one closes; new clients wait in the kernel's listen backlog (and get
//! refused by the kernel once that is full). Every open connection is bounded in time by the
//! phase deadlines, so a slot always frees within `head_timeout` + `write_timeout` of an idle
//! attacker.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use futures_rustls::rustls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use smol::lock::Semaphore;

use crate::http::body::BodyDecoder;
use crate::http::deadline::Deadline;
use crate::http::parse::{HeadParser, Status};
use crate::http::response::{CONTINUE, Response};
use crate::http::{Handler, Limits, LogNote, Method, Request};

/// Size of one socket read.
const READ_CHUNK: usize = 4096;
/// After an error or `Connection: close`, read and discard at most this much (RFC 9112 §9.6
/// lingering close, so the client sees our response instead of a reset).
const LINGER_BYTES: usize = 256 * 1024;
/// ... and for at most this long.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. EMFILE) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept loop: spawns one detached task per connection on `ex`; a panic kills only that
/// connection.
///
/// Returns only on an accept error that cannot be transient (`InvalidInput`: the socket is
/// not listening); other accept errors (EMFILE, ECONNABORTED, ...) are logged and retried.
pub(crate) async fn serve(
    ex: Arc<smol::Executor<'static>>,
    listener: async_net::TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Handler,
    limits: Limits,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // Connection cap (#8): wait for a free slot before accepting.
        let permit = slots.acquire_arc().await;
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
            Err(e) => {
                log::warn!("accept failed: {e}");
                Timer::after(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let handler = handler.clone();
        let limits = limits.clone();
        // #60: async-executor runs tasks with `propagate_panic(true)`: a panic is caught and
        // stored in the task's output, which a detached task drops. With `panic = "unwind"`
        // (Cargo.toml) a panicking handler therefore ends this task only; the permit and the
        // socket are released by unwinding.
        ex.spawn(async move {
            let _permit = permit;
            let _open = crate::metrics::ConnectionGuard::new();
            log::debug!("connection from {peer}");
            // One timer for the connection's whole life (see `deadline`).
            let mut deadline = Deadline::new(Instant::now() + limits.head_timeout);
            match tls {
                None => connection(stream, &handler, &limits, &mut deadline).await,
                Some(acceptor) => {
                    // The handshake counts against the first request's head deadline.
                    match deadline.run(acceptor.accept(stream)).await {
                        Ok(tls_stream) => {
                            connection(tls_stream, &handler, &limits, &mut deadline).await
                        }
                        Err(e) => log::debug!("TLS handshake with {peer} failed: {e}"),
                    }
                }
            }
        })
        .detach();
    }
}

/// Why a connection ended early (logged at debug level only).
enum End {
    /// The peer closed, reset, or a write failed: nothing more to send.
    Gone,
    /// Send this status + detail as a problem document, then close.
    Refuse(u16, String),
}

/// A connection's buffers: `buf` holds received bytes not yet consumed, `scratch` is the read
/// target, zeroed once per connection rather than once per read.
struct Buffers {
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

/// The request loop of one connection. `deadline` holds the first request's head deadline
/// (which already covered the TLS handshake).
async fn connection<S>(mut stream: S, handler: &Handler, limits: &Limits, deadline: &mut Deadline)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut bufs = Buffers {
        buf: Vec::with_capacity(READ_CHUNK),
        scratch: vec![0; READ_CHUNK],
    };
    let mut first = true;
    loop {
        let exchange = one_exchange(&mut stream, &mut bufs, handler, limits, deadline, first);
        first = false;
        match exchange.await {
            Ok(true) => continue,
            Ok(false) => {
                linger_close(&mut stream, &mut bufs.scratch, limits, deadline).await;
                return;
            }
            Err(End::Gone) => return,
            Err(End::Refuse(status, detail)) => {
                log::debug!("refusing request: {status} {detail}");
                // After an error response we close: the rest of the buffer (maybe the middle
                // of a body, #9) is never parsed as a request.
                let bytes = Response::problem(status, &detail).serialize(&Method::Get, true);
                deadline.set(Instant::now() + limits.write_timeout);
                if deadline.run(write_flush(&mut stream, &bytes)).await.is_ok() {
                    linger_close(&mut stream, &mut bufs.scratch, limits, deadline).await;
                }
                return;
            }
        }
    }
}

/// Reads one request, runs the handler, writes the response. `Ok(true)`: keep the connection.
async fn one_exchange<S>(
    stream: &mut S,
    bufs: &mut Buffers,
    handler: &Handler,
    limits: &Limits,
    deadline: &mut Deadline,
    first: bool,
) -> Result<bool, End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Buffers { buf, scratch } = bufs;
    // Phase 1: the head. Before its first byte we wait at most the idle deadline (or, for the
    // first request, the head deadline that already covered the TLS handshake); from its
    // first byte the whole head must arrive within `head_timeout` (slowloris, #8).
    let mut head_started = first;
    if !first {
        if buf.is_empty() {
            deadline.set(Instant::now() + limits.idle_timeout);
        } else {
            head_started = true;
            deadline.set(Instant::now() + limits.head_timeout);
        }
    }
    let mut parser = HeadParser::new(limits);
    let (head, len) = loop {
        if !buf.is_empty() {
            match parser.parse(buf) {
                Ok(Status::Complete { head, len }) => break (head, len),
                Ok(Status::Partial) => {}
                Err(e) => return Err(End::Refuse(e.status(), e.to_string())),
            }
        }
        match read_more(stream, buf, scratch, deadline).await {
            Ok(0) => return Err(End::Gone),
            Ok(_) => {
                if !head_started {
                    head_started = true;
                    deadline.set(Instant::now() + limits.head_timeout);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut && !buf.is_empty() => {
                return Err(End::Refuse(408, "request head not received in time".into()));
            }
            Err(_) => return Err(End::Gone),
        }
    };
    buf.drain(..len.min(buf.len()));

    // Phase 2: the body, read exactly as framed; what follows it stays in `buf` (#9).
    let mut decoder = BodyDecoder::new(head.framing, limits.max_body);
    let mut body = Vec::new();
    let mut first = true;
    let body_deadline = Instant::now() + limits.body_timeout;
    loop {
        let step = decoder
            .decode(buf, &mut body)
            .map_err(|e| End::Refuse(e.status(), e.to_string()))?;
        buf.drain(..step.consumed.min(buf.len()));
        if step.done {
            break;
        }
        // RFC 9110 §10.1.1: a server that receives 100-continue MAY omit the interim
        // response if it has already received some of the content.
        if first && head.expect_continue && buf.is_empty() && step.consumed == 0 {
            deadline.set(Instant::now() + limits.write_timeout);
            deadline
                .run(write_flush(stream, CONTINUE))
                .await
                .map_err(|_| End::Gone)?;
        }
        first = false;
        deadline.set(body_deadline);
        match read_more(stream, buf, scratch, deadline).await {
            Ok(0) => return Err(End::Gone),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(End::Refuse(408, "request body not received in time".into()));
            }
            Err(_) => return Err(End::Gone),
        }
    }

    // Phase 3: the application, then the response.
    let keep_alive = head.keep_alive;
    let method = head.method.clone();
    let request = Request {
        method: head.method,
        target: head.target,
        headers: head.headers,
        body,
        log: LogNote::default(),
    };
    let response = handler(request).await;
    let bytes = response.serialize(&method, !keep_alive);
    deadline.set(Instant::now() + limits.write_timeout);
    deadline
        .run(write_flush(stream, &bytes))
        .await
        .map_err(|_| End::Gone)?;
    Ok(keep_alive)
}

/// RFC 9112 §9.6: close our side first, then read (and drop) what the client still sends for
/// a short while, so that it reads our last response instead of a TCP reset.
async fn linger_close<S>(
    stream: &mut S,
    scratch: &mut [u8],
    limits: &Limits,
    deadline: &mut Deadline,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    deadline.set(Instant::now() + limits.write_timeout.min(LINGER_TIME));
    if deadline.run(stream.close()).await.is_err() {
        return;
    }
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match deadline.run(stream.read(scratch)).await {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    scratch: &mut [u8],
    deadline: &mut Deadline,
) -> io::Result<usize> {
    let n = deadline.run(stream.read(scratch)).await?;
    buf.extend_from_slice(scratch.get(..n).unwrap_or_default());
    Ok(n)
}

async fn write_flush<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Why [`tls_acceptor`] could not build a TLS configuration.
#[derive(Debug)]
pub(crate) enum TlsError {
    /// The certificate PEM holds no CERTIFICATE block.
    NoCertificate,
    /// A PEM block could not be decoded.
    Pem(String),
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoCertificate => f.write_str("no certificate in the PEM chain"),
            TlsError::Pem(e) => write!(f, "invalid PEM: {e}"),
            TlsError::Config(e) => write!(f, "TLS configuration rejected: {e}"),
        }
    }
}

/// A TLS 1.2 + 1.3 acceptor (rustls, ring provider) announcing ALPN `http/1.1`, for the
/// given certificate chain (leaf first) and private key (PKCS#8, SEC1 or PKCS#1 PEM).
pub(crate) fn tls_acceptor(cert_chain_pem: &str, key_pem: &str) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use std::future::Future;
    use std::net::SocketAddr;

    use async_net::{TcpListener, TcpStream};
    use futures_rustls::TlsConnector;
    use rustls_pki_types::ServerName;

    use super::*;
    use crate::http::client;

    /// Runs `fut` until `deadline`; then gives up with `ErrorKind::TimedOut`.
    async fn with_deadline<T, F>(fut: F, deadline: Instant) -> io::Result<T>
    where
        F: Future<Output = io::Result<T>>,
    {
        Deadline::new(deadline).run(fut).await
    }

    const CERT: &str = include_str!("testdata/cert.pem");
    const KEY: &str = include_str!("testdata/key.pem");

    /// Echoes `METHOD target body`; `/panic` panics, `/slow` sleeps 200 ms first.
    fn echo() -> Handler {
        Arc::new(|req: Request| {
            Box::pin(async move {
                if req.target == "/panic" {
                    panic!("handler panic (test of catalog #60)");
                }
                if req.target == "/slow" {
                    Timer::after(Duration::from_millis(200)).await;
                }
                let text = format!(
                    "{} {} {}",
                    req.method.as_str(),
                    req.target,
                    String::from_utf8_lossy(&req.body)
                );
                Response::new(200).with_body("text/plain", text.into_bytes())
            })
        })
    }

    fn test_limits() -> Limits {
        Limits {
            head_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            ..Limits::default()
        }
    }

    /// Runs `test` against a server on a loopback port, all on one executor.
    fn with_server<F, Fut>(limits: Limits, tls: Option<TlsAcceptor>, test: F)
    where
        F: FnOnce(SocketAddr) -> Fut,
        Fut: Future<Output = ()>,
    {
        let ex = Arc::new(smol::Executor::new());
        smol::block_on(ex.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ex.spawn(serve(ex.clone(), listener, tls, echo(), limits));
            test(addr).await;
            drop(server);
        }));
    }

    /// A parsed response: status, head text, body.
    struct Got {
        status: u16,
        head: String,
        body: Vec<u8>,
    }

    /// Reads one response from `s` (`buf` keeps bytes of later responses).
    async fn read_response<S: AsyncRead + Unpin>(
        s: &mut S,
        buf: &mut Vec<u8>,
        head_req: bool,
    ) -> Got {
        let mut deadline = Deadline::new(Instant::now() + Duration::from_secs(5));
        let mut scratch = vec![0; READ_CHUNK];
        loop {
            if let Some((h, len)) = client::parse_response_head(buf, 1 << 20).unwrap() {
                let head = String::from_utf8(buf[..len].to_vec()).unwrap();
                let n = match h.framing {
                    client::ResponseFraming::Length(n) if !head_req => n,
                    client::ResponseFraming::Length(_) | client::ResponseFraming::Empty => 0,
                    other => panic!("server used {other:?}"),
                };
                while buf.len() < len + n {
                    assert!(
                        read_more(s, buf, &mut scratch, &mut deadline)
                            .await
                            .unwrap()
                            > 0,
                        "EOF in body"
                    );
                }
                let body = buf[len..len + n].to_vec();
                buf.drain(..len + n);
                return Got {
                    status: h.status,
                    head,
                    body,
                };
            }
            assert!(
                read_more(s, buf, &mut scratch, &mut deadline)
                    .await
                    .unwrap()
                    > 0,
                "EOF in head: {buf:?}"
            );
        }
    }

    /// Asserts the server closes the connection (EOF or reset) within `within`.
    async fn assert_closed<S: AsyncRead + Unpin>(s: &mut S, within: Duration) {
        let mut b = [0u8; 256];
        match with_deadline(s.read(&mut b), Instant::now() + within).await {
            Ok(0) => {}
            Err(e) if e.kind() != io::ErrorKind::TimedOut => {}
            other => panic!("connection still open: {other:?}"),
        }
    }

    async fn connect(addr: SocketAddr) -> TcpStream {
        TcpStream::connect(addr).await.unwrap()
    }

    // RFC 9112 §9.3: two requests on one persistent connection; HEAD gets no body (§9.3.2 of
    // RFC 9110) so the next response is not misread.
    #[test]
    fn rfc9112_s9_3_keep_alive_two_requests_and_head() {
        with_server(test_limits(), None, |addr| async move {
            let mut s = connect(addr).await;
            let mut buf = Vec::new();
            s.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let r = read_response(&mut s, &mut buf, false).await;
            assert_eq!((r.status, r.body.as_slice()), (200, &b"GET /one "[..]));
            assert!(!r.head.contains("Connection: close"));
            s.write_all(b"HEAD /two HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let r = read_response(&mut s, &mut buf, true).await;
            assert!(r.head.contains("Content-Length: 10\r\n"), "{}", r.head);
            s.write_all(b"POST /three HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
                .await
                .unwrap();
            let r = read_response(&mut s, &mut buf, false).await;
            assert_eq!(r.body, b"POST /three hi");
            assert!(buf.is_empty(), "HEAD response carried a body: {buf:?}");
        });
    }

    // RFC 9112 §9.3.2 pipelining + catalog #9: bytes after a body are the next request; the
    // last one asks to close (§9.6).
    #[test]
    fn rfc9112_s9_3_2_pipelined_requests() {
        with_server(test_limits(), None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(
                b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz\
                  POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\
                  GET /slow HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
            let mut buf = Vec::new();
            let bodies = [
                &b"POST /a xyz"[..],
                b"POST /b hi",
                b"GET /slow ",
                b"GET /c ",
            ];
            for want in bodies {
                let r = read_response(&mut s, &mut buf, false).await;
                assert_eq!(r.body, want);
            }
            assert!(buf.is_empty());
            assert_closed(&mut s, Duration::from_secs(3)).await;
        });
    }

    // RFC 9112 §9.3: HTTP/1.0 closes after the response.
    #[test]
    fn rfc9112_s9_3_http10_closes() {
        with_server(test_limits(), None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(b"GET /old HTTP/1.0\r\n\r\n").await.unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.body, b"GET /old ");
            assert!(r.head.contains("Connection: close\r\n"));
            assert_closed(&mut s, Duration::from_secs(3)).await;
        });
    }

    // Catalog #4/#5/#9: a smuggling attempt gets one 400 problem and a close; the smuggled
    // request behind it is never answered.
    #[test]
    fn catalog_4_smuggling_gets_400_and_close() {
        let attempts: [&[u8]; 3] = [
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n\
              0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 70\r\n\r\n\
              GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        for attempt in attempts {
            with_server(test_limits(), None, |addr| async move {
                let mut s = connect(addr).await;
                s.write_all(attempt).await.unwrap();
                let mut buf = Vec::new();
                let r = read_response(&mut s, &mut buf, false).await;
                assert_eq!(r.status, 400);
                assert!(
                    r.head
                        .contains("Content-Type: application/problem+json\r\n")
                );
                assert!(r.head.contains("Connection: close\r\n"));
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["type"], "urn:ietf:params:acme:error:malformed");
                assert_eq!(v["status"], 400);
                assert_closed(&mut s, Duration::from_secs(3)).await;
                assert!(buf.is_empty(), "a second response was sent");
            });
        }
    }

    // Catalog #3: a declared body over the limit gets 413 before the body is read, then close;
    // chunks adding up past the limit too.
    #[test]
    fn catalog_3_body_too_big_413_and_close() {
        let mut limits = test_limits();
        limits.max_body = 100;
        with_server(limits.clone(), None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n")
                .await
                .unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.status, 413, "no 100 Continue before a 413");
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["type"], "urn:ietf:params:acme:error:malformed");
            assert_eq!(v["status"], 413);
            assert_closed(&mut s, Duration::from_secs(3)).await;
        });
        with_server(limits, None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            for _ in 0..10 {
                s.write_all(b"a\r\n0123456789\r\n").await.unwrap();
            }
            s.write_all(b"1\r\nX\r\n0\r\n\r\n").await.unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.status, 413);
            assert_closed(&mut s, Duration::from_secs(3)).await;
        });
    }

    // Catalog #1: an endless head gets 431 and a close, with a bounded buffer.
    #[test]
    fn catalog_1_oversized_head_431() {
        with_server(test_limits(), None, |addr| async move {
            let mut s = connect(addr).await;
            let mut junk = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
            junk.extend(std::iter::repeat_n(b'a', 20 * 1024));
            // The server may stop reading (and close) before we finish writing.
            let _ = s.write_all(&junk).await;
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.status, 431);
            assert_closed(&mut s, Duration::from_secs(3)).await;
        });
    }

    // RFC 9110 §10.1.1: 100 Continue is sent before the body is read.
    #[test]
    fn rfc9110_s10_1_1_expect_100_continue() {
        with_server(test_limits(), None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(
                b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
            let mut interim = vec![0u8; CONTINUE.len()];
            s.read_exact(&mut interim).await.unwrap();
            assert_eq!(interim, CONTINUE);
            s.write_all(b"body").await.unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.body, b"POST /e body");
        });
    }

    // Catalog #8: slowloris. A head that never completes gets 408 and a close after the head
    // deadline; a connection that sends nothing is closed silently; a slow body gets 408.
    #[test]
    fn catalog_8_phase_deadlines() {
        let mut limits = test_limits();
        limits.head_timeout = Duration::from_millis(300);
        limits.body_timeout = Duration::from_millis(300);
        limits.idle_timeout = Duration::from_millis(300);
        with_server(limits, None, |addr| async move {
            // Slow head: keep sending bytes, but never the end of the head.
            let mut s = connect(addr).await;
            let start = Instant::now();
            s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            Timer::after(Duration::from_millis(150)).await;
            s.write_all(b"Host: a\r\n").await.unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.status, 408);
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(290) && took < Duration::from_secs(2),
                "{took:?}"
            );
            assert_closed(&mut s, Duration::from_secs(3)).await;

            // Nothing at all.
            let mut s = connect(addr).await;
            let start = Instant::now();
            assert_closed(&mut s, Duration::from_secs(2)).await;
            assert!(start.elapsed() >= Duration::from_millis(290));

            // Idle after a first request.
            let mut s = connect(addr).await;
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut buf = Vec::new();
            assert_eq!(read_response(&mut s, &mut buf, false).await.status, 200);
            assert_closed(&mut s, Duration::from_secs(2)).await;
            assert!(buf.is_empty());

            // Slow body.
            let mut s = connect(addr).await;
            s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
                .await
                .unwrap();
            let r = read_response(&mut s, &mut Vec::new(), false).await;
            assert_eq!(r.status, 408);
        });
    }

    // Catalog #8: with a cap of one connection, a second client is served only once the
    // first one has gone.
    #[test]
    fn catalog_8_connection_cap() {
        let mut limits = test_limits();
        limits.max_connections = 1;
        with_server(limits, None, |addr| async move {
            let mut first = connect(addr).await;
            first
                .write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut buf1 = Vec::new();
            assert_eq!(
                read_response(&mut first, &mut buf1, false).await.body,
                b"GET /first "
            );

            let mut second = connect(addr).await; // completes in the kernel backlog
            second
                .write_all(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut b = [0u8; 64];
            let waited = with_deadline(
                second.read(&mut b),
                Instant::now() + Duration::from_millis(400),
            )
            .await;
            assert_eq!(
                waited.err().map(|e| e.kind()),
                Some(io::ErrorKind::TimedOut),
                "served over the cap"
            );

            drop(first);
            let r = read_response(&mut second, &mut Vec::new(), false).await;
            assert_eq!(r.body, b"GET /second ");
        });
    }

    // Catalog #60: a panicking handler kills its connection only; the accept loop keeps
    // serving, and (cap of one) the connection slot is released by the unwinding.
    #[test]
    fn catalog_60_handler_panic_is_contained() {
        let mut limits = test_limits();
        limits.max_connections = 1;
        with_server(limits, None, |addr| async move {
            let mut s = connect(addr).await;
            s.write_all(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            assert_closed(&mut s, Duration::from_secs(3)).await;
            for i in 0..2 {
                let mut s = connect(addr).await;
                s.write_all(format!("GET /ok{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let r = read_response(&mut s, &mut Vec::new(), false).await;
                assert_eq!(r.body, format!("GET /ok{i} ").as_bytes());
            }
        });
    }

    // TLS (RFC 8446 via rustls): handshake with ALPN http/1.1, then HTTP over it — driven by
    // our own http-01 client as an independent reader of the response.
    #[test]
    fn tls_handshake_alpn_and_request() {
        let acceptor = tls_acceptor(CERT, KEY).unwrap();
        let mut limits = test_limits();
        // Long enough for a handshake + request under qemu-user on a loaded machine (the ARM
        // test runs in .ci/run); the idle connection below still must close at this deadline.
        limits.head_timeout = Duration::from_millis(1500);
        with_server(limits, Some(acceptor), |addr| async move {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap())
                .unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let connector = TlsConnector::from(Arc::new(config));
            let name = ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, connect(addr).await).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            let r = client::get(tls, "localhost", "/over-tls", 1024)
                .await
                .unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"GET /over-tls "[..]));

            // A TCP connection that never starts the handshake is closed at the head deadline.
            let mut raw = connect(addr).await;
            assert_closed(&mut raw, Duration::from_secs(4)).await;
        });
    }

    #[test]
    fn tls_acceptor_rejects_bad_pem() {
        assert!(matches!(
            tls_acceptor("", KEY),
            Err(TlsError::NoCertificate)
        ));
        assert!(matches!(tls_acceptor(CERT, CERT), Err(TlsError::Pem(_))));
        // A valid P-256 key that does not belong to the certificate.
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let b64 =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pkcs8.as_ref());
        let other_key = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        assert!(PrivateKeyDer::from_pem_slice(other_key.as_bytes()).is_ok());
        assert!(matches!(
            tls_acceptor(CERT, &other_key),
            Err(TlsError::Config(_))
        ));
    }

    // The http-01 client against our own server (keep-alive is refused by `Connection: close`).
    #[test]
    fn client_get_against_server() {
        with_server(test_limits(), None, |addr| async move {
            let r = client::get(
                connect(addr).await,
                "a.lan",
                "/.well-known/acme-challenge/t",
                1024,
            )
            .await
            .unwrap();
            assert_eq!(r.body, b"GET /.well-known/acme-challenge/t ");
            let e = client::get(
                connect(addr).await,
                "a.lan",
                "/.well-known/acme-challenge/t",
                10,
            )
            .await;
            assert_eq!(e, Err(client::ClientError::BodyTooLarge));
        });
    }
}
