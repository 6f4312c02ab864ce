//! A minimal HTTP/1.1 client (RFC 9112) over one keep-alive connection: TLS through rustls with
//! the ring provider, or plain TCP. One request at a time; the response is framed by
//! Content-Length, `chunked`, or the end of the connection. A connection the server closed while
//! idle is reopened once, transparently.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smol::Timer;
use smol::net::TcpStream;

/// The scheme, host and port of a URL (the part every request of one client shares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Splits `http(s)://host[:port]/path` into its origin and path (with query).
pub(crate) fn split_url(url: &str) -> Result<(Origin, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "{url:?}: only http:// and https:// URLs are supported"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: bad IPv6 literal"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            None => default_port,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            ),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok((Origin { tls, host, port }, path.to_owned()))
}

/// A TLS client configuration trusting the certificates of `ca_file` (PEM) only.
pub(crate) fn tls_config(ca_file: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{ca_file}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{ca_file}: unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{ca_file}: no certificate"));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A response: status, headers (names lower case) and the whole body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Stream for T {}

/// Most bytes of a response head or chunk-size line; more is an error, not a reason to buffer.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted (a certificate chain is a few KiB).
const MAX_BODY: usize = 4 << 20;

/// One origin, one connection at a time, reopened when needed.
pub(crate) struct Client {
    origin: Origin,
    tls: Option<(futures_rustls::TlsConnector, ServerName<'static>)>,
    conn: Option<Box<dyn Stream>>,
    /// Bytes read but not consumed yet (start of the next response).
    buf: Vec<u8>,
    timeout: Duration,
    /// TCP+TLS connections opened so far.
    pub(crate) connects: u64,
}

impl Client {
    pub(crate) fn new(
        origin: Origin,
        tls: Option<Arc<ClientConfig>>,
        timeout: Duration,
    ) -> Result<Client, String> {
        let tls = match (origin.tls, tls) {
            (false, _) => None,
            (true, None) => return Err("an https:// URL needs --ca-file".into()),
            (true, Some(config)) => {
                let name = ServerName::try_from(origin.host.clone())
                    .map_err(|e| format!("{:?}: not a TLS server name: {e}", origin.host))?;
                Some((futures_rustls::TlsConnector::from(config), name))
            }
        };
        Ok(Client {
            origin,
            tls,
            conn: None,
            buf: Vec::with_capacity(16 * 1024),
            timeout,
            connects: 0,
        })
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    async fn connect(&mut self) -> Result<(), String> {
        let tcp = TcpStream::connect((self.origin.host.as_str(), self.origin.port))
            .await
            .map_err(|e| format!("connect {}:{}: {e}", self.origin.host, self.origin.port))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?,
            ),
        };
        self.conn = Some(stream);
        self.buf.clear();
        self.connects += 1;
        Ok(())
    }

    /// Sends one request and reads its response, within the client's timeout. A failure
    /// before any response byte on a reused connection (closed while idle) is retried once
    /// on a new connection.
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: upki-loadgen\r\nAccept: */*\r\n",
            self.origin.host, self.origin.port
        );
        if let Some(ct) = content_type {
            head.push_str("Content-Type: ");
            head.push_str(ct);
            head.push_str("\r\n");
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(body);
        let head_only = method == "HEAD";
        let timeout = self.timeout;
        let attempt = async {
            let reused = self.conn.is_some();
            match self.exchange(&wire, head_only).await {
                Err((e, false)) if reused => {
                    let _ = e;
                    self.conn = None;
                    self.exchange(&wire, head_only).await.map_err(|(e, _)| e)
                }
                other => other.map_err(|(e, _)| e),
            }
        };
        let deadline = async {
            Timer::after(timeout).await;
            Err(format!("no response within {} s", timeout.as_secs()))
        };
        let result = attempt.or(deadline).await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Write + read on the current connection (opened if needed). The error's flag says
    /// whether any byte of a response had arrived.
    async fn exchange(&mut self, wire: &[u8], head_only: bool) -> Result<Response, (String, bool)> {
        if self.conn.is_none() {
            self.connect().await.map_err(|e| (e, true))?;
        }
        let conn = self
            .conn
            .as_mut()
            .ok_or(("no connection".to_owned(), true))?;
        conn.write_all(wire)
            .await
            .map_err(|e| (format!("send: {e}"), false))?;
        conn.flush()
            .await
            .map_err(|e| (format!("send: {e}"), false))?;
        let resp = self.read_response(head_only).await;
        if let Ok(r) = &resp
            && r.header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            self.conn = None;
        }
        resp
    }

    /// Reads more bytes into `buf`; `Ok(false)` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, String> {
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let mut chunk = [0u8; 16 * 1024];
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n > 0)
    }

    async fn read_response(&mut self, head_only: bool) -> Result<Response, (String, bool)> {
        // Head.
        let (status, headers, head_len) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = parsed.code.unwrap_or(0);
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
                    break (status, headers, n);
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(("response head too large".into(), true));
                    }
                    let started = !self.buf.is_empty();
                    match self.fill().await {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(("connection closed by the server".into(), started));
                        }
                        Err(e) => return Err((e, started)),
                    }
                }
                Err(e) => return Err((format!("bad response head: {e}"), true)),
            }
        };
        self.buf.drain(..head_len);
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let length = resp
            .header("content-length")
            .map(|l| l.trim().parse::<usize>());
        resp.body = if chunked {
            self.read_chunked().await
        } else {
            match length {
                Some(Ok(n)) if n <= MAX_BODY => self.read_exact(n).await,
                Some(_) => Err("bad or too large Content-Length".into()),
                None => self.read_to_end().await,
            }
        }
        .map_err(|e| (e, true))?;
        Ok(resp)
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err("connection closed inside a response body".into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn read_to_end(&mut self) -> Result<Vec<u8>, String> {
        while self.fill().await? {
            if self.buf.len() > MAX_BODY {
                return Err("response body too large".into());
            }
        }
        self.conn = None;
        Ok(std::mem::take(&mut self.buf))
    }

    /// One CRLF-terminated line (without the CRLF).
    async fn read_line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).take(i).collect();
                return String::from_utf8(line).map_err(|_| "non-UTF-8 chunk line".into());
            }
            if self.buf.len() > MAX_HEAD {
                return Err("chunk line too long".into());
            }
            if !self.fill().await? {
                return Err("connection closed inside a chunked body".into());
            }
        }
    }

    /// RFC 9112 §7.1 chunked body (extensions and trailers ignored).
    async fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
            if size == 0 {
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err("response body too large".into());
            }
            let data = self.read_exact(size + 2).await?;
            body.extend_from_slice(data.get(..size).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_urls() {
        let (o, p) = split_url("https://127.0.0.1:8443/acme/directory").unwrap();
        assert_eq!(
            o,
            Origin {
                tls: true,
                host: "127.0.0.1".into(),
                port: 8443
            }
        );
        assert_eq!(p, "/acme/directory");
        let (o, p) = split_url("http://localhost").unwrap();
        assert_eq!((o.tls, o.port, p.as_str()), (false, 80, "/"));
        let (o, _) = split_url("https://[::1]:14000/dir").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 14000));
        assert!(split_url("ftp://x/").is_err());
        assert!(split_url("https://:1/").is_err());
    }

    /// A plain-HTTP exchange against a scripted server: Content-Length, then chunked on the
    /// same keep-alive connection, then a response framed by the end of the connection.
    #[test]
    fn framing_over_one_connection() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let replies: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nReplay-Nonce: abc\r\n\r\nhello",
                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n4;x=y\r\nbar!\r\n0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof",
            ];
            for reply in replies {
                loop {
                    let n = s.read(&mut buf).unwrap();
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                seen.clear();
                s.write_all(reply).unwrap();
            }
        });
        let (origin, _) = split_url(&format!("http://127.0.0.1:{port}/")).unwrap();
        let mut c = Client::new(origin, None, Duration::from_secs(5)).unwrap();
        smol::block_on(async {
            let r = c.request("GET", "/a", None, b"").await.unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
            assert_eq!(r.header("replay-nonce"), Some("abc"));
            let r = c.request("GET", "/b", None, b"").await.unwrap();
            assert_eq!((r.status, r.body.as_slice()), (201, &b"foobar!"[..]));
            let r = c.request("GET", "/c", None, b"").await.unwrap();
            assert_eq!(r.body, b"until-eof");
        });
        assert_eq!(c.connects, 1);
        server.join().unwrap();
    }
}
