//! Raw HTTP/1.1 over TLS to the real server, for the security-catalog tests: the test writes
//! exactly the bytes it wants (smuggling attempts, bad framing, pipelined requests) on one
//! connection, reads responses one at a time, and checks whether the server closed the
//! connection. Independent from the server's `http` module and from `https.rs` (which always
//! sends well-formed requests with `Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::server::Server;

/// Bound of every blocking read or write of a test connection.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Responses larger than this are a test failure.
const MAX_RESPONSE: usize = 1 << 20;

/// One response read off a raw connection (header names lower-cased).
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The problem document's `type`, if the body is `application/problem+json`.
    pub(crate) fn problem_type(&self) -> Option<String> {
        if !self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/problem+json"))
        {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("type").and_then(|t| t.as_str()).map(str::to_owned)
    }

    /// The problem document's `status` member.
    pub(crate) fn problem_status(&self) -> Option<u64> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("status").and_then(serde_json::Value::as_u64)
    }

    /// `Connection: close` announced (RFC 9112 §9.6).
    pub(crate) fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

impl std::fmt::Display for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        write!(f, "\n{}", String::from_utf8_lossy(&self.body))
    }
}

/// A TLS client configuration trusting only the server's CA root.
pub(crate) fn tls_config(server: &Server) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca_cert_path()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One TLS connection to the server on which the test writes raw bytes.
pub(crate) struct RawConn {
    tls: StreamOwned<ClientConnection, TcpStream>,
    /// Bytes read but not yet consumed as a response.
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects and completes the TLS handshake.
    pub(crate) fn open(server: &Server) -> RawConn {
        RawConn::open_with(&tls_config(server), server.port)
    }

    pub(crate) fn open_with(config: &Arc<ClientConfig>, port: u16) -> RawConn {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let name = ServerName::IpAddress(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let conn = ClientConnection::new(config.clone(), name).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        RawConn {
            tls,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are. A write error is ignored: the server may already have
    /// answered and closed (e.g. a 431 while the test is still sending the head).
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        let _ = self.tls.write_all(bytes).and_then(|()| self.tls.flush());
    }

    /// Reads more bytes into the buffer; 0 when the server closed.
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        match self.tls.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            // A close without close_notify, or a reset after our unread bytes: closed too.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                0
            }
            Err(e) => panic!("reading from the server: {e}"),
        }
    }

    /// Reads one response (the server always frames its bodies with Content-Length); skips
    /// `100 Continue` interim responses unless `keep_interim`.
    pub(crate) fn response(&mut self) -> RawResponse {
        self.try_response()
            .unwrap_or_else(|| panic!("connection closed before a complete response"))
    }

    /// The response to a HEAD request: its Content-Length describes a body that is not sent
    /// (RFC 9110 §9.3.2).
    pub(crate) fn head_response(&mut self) -> RawResponse {
        loop {
            if let Some(r) = self.parse_buffered(true) {
                return r;
            }
            assert!(self.fill() > 0, "connection closed before a response");
        }
    }

    /// Like `response`, `None` if the server closed before a complete response.
    pub(crate) fn try_response(&mut self) -> Option<RawResponse> {
        loop {
            if let Some(r) = self.parse_buffered(false) {
                if r.status == 100 {
                    continue;
                }
                return Some(r);
            }
            if self.fill() == 0 {
                return None;
            }
            assert!(self.buf.len() < MAX_RESPONSE, "response too large");
        }
    }

    /// Reads exactly the next response, including an interim `100 Continue`.
    pub(crate) fn next_response(&mut self) -> RawResponse {
        loop {
            if let Some(r) = self.parse_buffered(false) {
                return r;
            }
            assert!(self.fill() > 0, "connection closed before a response");
        }
    }

    /// Waits at most `wait` for the next (final) response; `None` if none arrived by then.
    pub(crate) fn poll_response(&mut self, wait: Duration) -> Option<RawResponse> {
        self.tls.sock.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 8192];
        let got = match self.tls.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) => panic!("reading from the server: {e}"),
        };
        self.tls.sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        if got { self.try_response() } else { None }
    }

    fn parse_buffered(&mut self, head: bool) -> Option<RawResponse> {
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut hdrs);
        let head_len = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return None,
            Err(e) => panic!(
                "unparsable response ({e}): {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        };
        let status = parsed.code.unwrap();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let len = if head || status == 100 || status == 204 || status == 304 {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap())
        };
        if self.buf.len() < head_len + len {
            return None;
        }
        let body = self.buf[head_len..head_len + len].to_vec();
        self.buf.drain(..head_len + len);
        Some(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// True when the server closes the connection within `within` without sending anything
    /// more; false if it is still open then. Panics if the server sends more bytes.
    pub(crate) fn closed_within(&mut self, within: Duration) -> bool {
        assert!(
            self.buf.is_empty(),
            "unexpected extra bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.tls.sock.set_read_timeout(Some(within)).unwrap();
        let start = Instant::now();
        let mut chunk = [0u8; 1024];
        let result = match self.tls.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => panic!(
                "server sent more after its response: {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        };
        self.tls.sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        assert!(start.elapsed() <= within + Duration::from_secs(1));
        result
    }
}

/// `Host:` value the server expects for its own listener.
pub(crate) fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}
