//! A small blocking HTTPS/1.1 client for the tests: rustls (ring provider) over std `TcpStream`,
//! trusting only the root given to it (the server's `ca/ca.crt`). One connection per request
//! (`Connection: close`), response bodies framed by Content-Length or chunked (RFC 9112 §6).
//! Independent from the server's own `http` module on purpose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Every socket operation of the test client is bounded by this.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Responses larger than this are a test failure (the server has no reason to send them).
const MAX_RESPONSE: usize = 1 << 20;

/// One HTTP response, headers kept in order with lower-cased names.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header that may repeat (`Link`).
    pub(crate) fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "expected a JSON body ({e}), status {} got: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The problem document `type` if this is an `application/problem+json` response.
    pub(crate) fn problem_type(&self) -> Option<String> {
        if !self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/problem+json"))
        {
            return None;
        }
        self.json()
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        write!(f, "\n{}", String::from_utf8_lossy(&self.body))
    }
}

/// An `https://host:port/path` URL split into its parts.
#[derive(Debug, Clone)]
pub(crate) struct Url {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Url {
        let rest = url
            .strip_prefix("https://")
            .unwrap_or_else(|| panic!("not an https URL: {url:?} (RFC 8555 §6.1 requires HTTPS)"));
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse()
                    .unwrap_or_else(|_| panic!("bad port in URL {url:?}")),
            ),
            _ => (authority, 443),
        };
        Url {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        }
    }
}

/// A blocking HTTPS client that trusts exactly one root certificate.
#[derive(Clone)]
pub(crate) struct Https {
    config: Arc<ClientConfig>,
}

impl Https {
    /// Trust the PEM certificate(s) in `ca_file` only.
    pub(crate) fn new(ca_file: &Path) -> Https {
        Https::try_new(ca_file).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `new`, with the failure as a message.
    pub(crate) fn try_new(ca_file: &Path) -> Result<Https, String> {
        let mut roots = RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("cannot read CA file {}: {e}", ca_file.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad PEM in {}: {e}", ca_file.display()))?;
        if certs.is_empty() {
            return Err(format!("no certificate in CA file {}", ca_file.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("CA file {} unusable: {e}", ca_file.display()))?;
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Https {
            config: Arc::new(config),
        })
    }

    /// Send one request; `Err` only for transport failures (connect, TLS, framing).
    pub(crate) fn try_request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let u = Url::parse(url);
        let server_name = match u.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(u.host.clone()).map_err(|e| e.to_string())?,
        };
        let tcp = TcpStream::connect((u.host.as_str(), u.port))
            .map_err(|e| format!("connect {}:{}: {e}", u.host, u.port))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut tls = StreamOwned::new(conn, tcp);

        let host_header = if u.host.contains(':') {
            format!("[{}]:{}", u.host, u.port)
        } else {
            format!("{}:{}", u.host, u.port)
        };
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\nUser-Agent: upki-ra-tests\r\n",
            u.path
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        tls.write_all(&out)
            .and_then(|()| tls.flush())
            .map_err(|e| format!("{method} {url}: write: {e}"))?;

        read_response(BufReader::new(tls), method == "HEAD")
            .map_err(|e| format!("{method} {url}: {e}"))
    }

    /// Send one request; a transport failure is a test failure.
    pub(crate) fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, url, headers, body)
            .unwrap_or_else(|e| panic!("HTTPS request failed: {e}"))
    }

    pub(crate) fn get(&self, url: &str) -> Response {
        self.request("GET", url, &[], b"")
    }
}

/// Read a status line, headers and a body framed per RFC 9112 §6.3.
fn read_response<R: BufRead>(mut r: R, head_only: bool) -> Result<Response, String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        r.read_until(b'\n', &mut head)
            .map_err(|e| format!("reading response head: {e}"))?;
        if head.len() == before {
            return Err(format!(
                "connection closed inside the response head: {:?}",
                String::from_utf8_lossy(&head)
            ));
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
        if head.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
    }
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut hdrs);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => {
            return Err(format!(
                "unparsable response head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ));
        }
    }
    let status = parsed.code.ok_or("no status code")?;
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
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());

    let body = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if let Some(te) = find("transfer-encoding") {
        if !te.eq_ignore_ascii_case("chunked") {
            return Err(format!("unsupported Transfer-Encoding {te:?}"));
        }
        read_chunked(&mut r)?
    } else if let Some(cl) = find("content-length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| format!("bad Content-Length {cl:?}"))?;
        if n > MAX_RESPONSE {
            return Err(format!("Content-Length {n} too large"));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body)
            .map_err(|e| format!("reading {n} body bytes: {e}"))?;
        body
    } else {
        // Read to close (the server should always send Content-Length, but stay tolerant here).
        let mut body = Vec::new();
        match r.take(MAX_RESPONSE as u64 + 1).read_to_end(&mut body) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(format!("reading body to close: {e}")),
        }
        body
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)
            .map_err(|e| format!("reading chunk size: {e}"))?;
        let size_text = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let mut t = String::new();
                r.read_line(&mut t)
                    .map_err(|e| format!("reading trailers: {e}"))?;
                if t == "\r\n" || t.is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_RESPONSE {
            return Err("chunked body too large".into());
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])
            .map_err(|e| format!("reading chunk: {e}"))?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)
            .map_err(|e| format!("reading chunk end: {e}"))?;
        if &crlf != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_content_length_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
        let r = read_response(&raw[..], false).unwrap();
        assert_eq!(r.body, b"Wikipedia");
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: x\r\n\r\nokEXTRA";
        let r = read_response(&raw[..], false).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("LOCATION")),
            (201, &b"ok"[..], Some("x"))
        );
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert!(read_response(&raw[..], true).unwrap().body.is_empty());
        assert!(read_response(&raw[..], false).is_err());
    }

    #[test]
    fn parses_urls() {
        let u = Url::parse("https://127.0.0.1:8443/acme/directory");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8443, "/acme/directory")
        );
        let u = Url::parse("https://[::1]:9/x");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
    }
}
