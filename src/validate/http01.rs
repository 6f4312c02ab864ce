//! http-01 validation (RFC 8555 §8.3; RFC 8738 §3 for IP identifiers; security catalog #41,
//! #42, #45).
//!
//! Owns one validation attempt: resolve the identifier with our resolver (or take the IP
//! itself), keep only the addresses the [`AddressPolicy`] permits, dial one of *those*
//! addresses (never re-resolving between check and connect), GET
//! `/.well-known/acme-challenge/{token}` with `Host:` set to the identifier, and compare the
//! body with the key authorization. Redirects are followed under boulder's rules (`va/http.go`):
//! 301/302/307/308 only, at most 10, `http` only (https is not implemented yet), ports 80 or the
//! configured http-01 port, no loops, paths ≤ 2000 bytes, every hop re-resolved and re-checked.
//! The whole attempt runs under one deadline, each connect under its own.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use async_net::TcpStream;
use futures_lite::FutureExt;

// TEMPORARY: at merge, `use crate::http::client::{ClientError, ClientResponse, get as fetch};`
use super::{AddressPolicy, Resolver, Resolvers, RetryBoard, ValidationError};
use crate::http::client::{ClientError, ClientResponse, get as fetch};

/// Most redirects followed in one attempt (boulder `maxRedirect`).
pub(crate) const MAX_REDIRECTS: usize = 10;
/// Largest body accepted (boulder `maxResponseSize`): a key authorization is ~87 bytes.
pub(crate) const MAX_BODY: usize = 128;
/// Longest redirect path + query accepted (boulder `maxPathSize`).
pub(crate) const MAX_PATH: usize = 2000;
/// Deadline of one TCP connect (the attempt deadline bounds it too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Characters of a wrong body quoted back to the client.
const EXCERPT_BYTES: usize = 64;

/// Runs validation attempts (http-01 here, tls-alpn-01 and dns-01 in their own files).
///
/// Invariant: every connection it makes goes to an address `policy` permits, on port 80 or
/// `http01_port` (http-01) or on `tlsalpn01_port` (tls-alpn-01), every name is resolved by
/// the resolver of its zone, and every attempt ends within `attempt_timeout`.
#[derive(Clone, Debug)]
pub(crate) struct Validator {
    pub(super) resolvers: Resolvers,
    pub(super) policy: Arc<AddressPolicy>,
    http01_port: u16,
    /// Port tls-alpn-01 dials (RFC 8737 §3 says 443; other values are for tests and NAT).
    pub(super) tlsalpn01_port: u16,
    pub(super) attempt_timeout: Duration,
    /// Running validations and their retry schedule (RFC 8555 §8.2).
    retries: Arc<RetryBoard>,
}

/// The host part of a URL: a DNS name (lower-case, no trailing dot) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Host {
    Name(String),
    Ip(IpAddr),
}

/// Where one request goes.
///
/// Invariant: `path` and `host_header` hold only visible ASCII (safe on the request line and in
/// a header), `path` starts with `/` and is at most [`MAX_PATH`] bytes.
#[derive(Clone, Debug)]
struct Target {
    host: Host,
    port: u16,
    host_header: String,
    path: String,
}

impl Target {
    fn url(&self) -> String {
        if self.port == 80 {
            format!("http://{}{}", host_text(&self.host), self.path)
        } else {
            format!(
                "http://{}:{}{}",
                host_text(&self.host),
                self.port,
                self.path
            )
        }
    }
}

/// `host` as it appears in a URL or Host header (IPv6 in brackets, RFC 3986 §3.2.2).
fn host_text(host: &Host) -> String {
    match host {
        Host::Name(n) => n.clone(),
        Host::Ip(IpAddr::V4(v4)) => v4.to_string(),
        Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
    }
}

impl Validator {
    /// A validator resolving with `resolver`, dialling only what `policy` permits, on
    /// `http01_port` (80 in production), each attempt bounded by `attempt_timeout`.
    pub(crate) fn new(
        resolver: Resolver,
        policy: AddressPolicy,
        http01_port: u16,
        attempt_timeout: Duration,
    ) -> Validator {
        Validator {
            resolvers: Resolvers::new(resolver),
            policy: Arc::new(policy),
            http01_port,
            tlsalpn01_port: 443,
            attempt_timeout,
            retries: Arc::new(RetryBoard::default()),
        }
    }

    /// Per-zone resolvers (split horizon), replacing the single one given to `new`.
    pub(crate) fn with_resolvers(mut self, resolvers: Resolvers) -> Validator {
        self.resolvers = resolvers;
        self
    }

    /// The retry state of running validations (shared by every clone of this validator).
    pub(crate) fn retries(&self) -> &RetryBoard {
        &self.retries
    }

    /// The port tls-alpn-01 connects to (443 in production).
    pub(crate) fn with_tlsalpn01_port(mut self, port: u16) -> Validator {
        self.tlsalpn01_port = port;
        self
    }

    /// One http-01 attempt (RFC 8555 §8.3) for identifier `kind`/`value` ("dns" with a
    /// lower-case name, or "ip" with canonical IP text).
    pub(crate) async fn http01(
        &self,
        kind: &str,
        value: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        let attempt = self.attempt(kind, value, token, key_authorization);
        let deadline = async {
            Timer::after(self.attempt_timeout).await;
            Err(ValidationError::Connection(format!(
                "no complete answer from {value} within {} ms",
                self.attempt_timeout.as_millis()
            )))
        };
        attempt.or(deadline).await
    }

    async fn attempt(
        &self,
        kind: &str,
        value: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        // Our own token (≥ 128 bits, base64url, catalog #47); checked so it cannot break the
        // request line whatever the caller passes.
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ValidationError::Connection(
                "invalid challenge token".to_owned(),
            ));
        }
        let host =
            match kind {
                "dns" => Host::Name(parse_dns_host(value).ok_or_else(|| {
                    ValidationError::Connection("invalid DNS identifier".to_owned())
                })?),
                // RFC 8738 §3: for an IP identifier the server connects to that address and the
                // Host header is the textual form of the address.
                "ip" => Host::Ip(value.parse().map_err(|_| {
                    ValidationError::Connection("invalid IP identifier".to_owned())
                })?),
                _ => {
                    return Err(ValidationError::Connection(format!(
                        "unsupported identifier type {kind:?}"
                    )));
                }
            };
        // RFC 8555 §8.3: "the Host header field set to the domain name being validated" and the
        // path "/.well-known/acme-challenge/" followed by the token.
        let mut target = Target {
            host_header: host_text(&host),
            host,
            port: self.http01_port,
            path: format!("/.well-known/acme-challenge/{token}"),
        };
        let mut seen = HashSet::new();
        seen.insert(target.url());
        let mut redirects = 0;
        loop {
            let response = self.fetch_once(&target).await?;
            match response.status {
                // RFC 8555 §8.3: the server verifies the body is the key authorization; it
                // "SHOULD ignore whitespace characters at the end of the body".
                200 => return check_body(&response.body, key_authorization, &target),
                301 | 302 | 307 | 308 => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(ValidationError::Connection(format!(
                            "too many redirects (more than {MAX_REDIRECTS}) at {}",
                            target.url()
                        )));
                    }
                    let location = response.location.ok_or_else(|| {
                        ValidationError::Connection(format!(
                            "redirect without Location from {}",
                            target.url()
                        ))
                    })?;
                    let next = self.redirect_target(&target, &location)?;
                    if !seen.insert(next.url()) {
                        return Err(ValidationError::Connection(format!(
                            "redirect loop at {}",
                            next.url()
                        )));
                    }
                    target = next;
                }
                status => {
                    return Err(ValidationError::Unauthorized(format!(
                        "Invalid response from {}: HTTP {status}",
                        target.url()
                    )));
                }
            }
        }
    }

    /// Resolves, filters by policy, connects to the first permitted address that accepts, and
    /// sends one GET.
    async fn fetch_once(&self, target: &Target) -> Result<ClientResponse, ValidationError> {
        let addrs = match &target.host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => self
                .resolvers
                .for_name(name)
                .lookup_ip(name)
                .await
                .map_err(|e| ValidationError::Dns(format!("{name}: {e}")))?,
        };
        // RFC 8555 §10.4 / catalog #42: only addresses inside the allow-list are dialled, and
        // the address dialled is the one checked (pre-resolved dialer).
        let permitted: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|ip| self.policy.permits(*ip))
            .collect();
        if permitted.is_empty() {
            let list: Vec<String> = addrs.iter().take(4).map(IpAddr::to_string).collect();
            return Err(ValidationError::Connection(match &target.host {
                Host::Ip(ip) => format!("{ip} is not in the validation allow-list"),
                Host::Name(name) => format!(
                    "{name} resolves to {} (not in the validation allow-list)",
                    list.join(", ")
                ),
            }));
        }
        let mut last_error = String::new();
        for ip in permitted {
            let addr = SocketAddr::new(ip, target.port);
            let connect = async { TcpStream::connect(addr).await.map_err(|e| e.to_string()) };
            let timeout = async {
                Timer::after(CONNECT_TIMEOUT).await;
                Err("connect timed out".to_owned())
            };
            match connect.or(timeout).await {
                Ok(stream) => {
                    return fetch(stream, &target.host_header, &target.path, MAX_BODY)
                        .await
                        .map_err(|e| match e {
                            ClientError::BodyTooLarge => ValidationError::Unauthorized(format!(
                                "response too large (more than {MAX_BODY} bytes) from {}",
                                target.url()
                            )),
                            other => ValidationError::Connection(format!(
                                "fetching {}: {}",
                                target.url(),
                                sanitize(other.to_string().as_bytes())
                            )),
                        });
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        Err(ValidationError::Connection(format!(
            "cannot connect to {}: {last_error}",
            target.url()
        )))
    }

    /// The next hop of a redirect, or why it is refused (catalog #41).
    fn redirect_target(&self, base: &Target, location: &str) -> Result<Target, ValidationError> {
        let refuse = |why: &str| {
            ValidationError::Connection(format!("redirect from {} refused: {why}", base.url()))
        };
        // A fragment is never sent (RFC 9110 §7.1).
        let location = location.split('#').next().unwrap_or_default();
        if location.len() > MAX_PATH + 300 {
            return Err(refuse("Location too long"));
        }
        let next = if let Some((scheme, rest)) = split_scheme(location) {
            match scheme.to_ascii_lowercase().as_str() {
                "http" => match rest.strip_prefix("//") {
                    Some(rest) => self.absolute_target(rest, &refuse)?,
                    None => return Err(refuse("malformed Location")),
                },
                "https" => return Err(refuse("https redirect not supported yet")),
                _ => return Err(refuse("only http redirects are followed")),
            }
        } else if let Some(rest) = location.strip_prefix("//") {
            self.absolute_target(rest, &refuse)?
        } else {
            let base_path = base.path.split('?').next().unwrap_or_default();
            let path = if location.starts_with('/') {
                location.to_owned()
            } else if location.starts_with('?') || location.is_empty() {
                // RFC 3986 §5.2.2: a query-only (or empty) reference keeps the base path.
                format!("{base_path}{location}")
            } else {
                // RFC 3986 §5.2.3: merge a relative path with the base path's directory.
                let dir = base_path
                    .rfind('/')
                    .and_then(|i| base_path.get(..=i))
                    .unwrap_or("/");
                format!("{dir}{location}")
            };
            Target {
                host: base.host.clone(),
                port: base.port,
                host_header: base.host_header.clone(),
                path,
            }
        };
        if next.path.len() > MAX_PATH {
            return Err(refuse("path longer than 2000 bytes"));
        }
        if !next.path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse("path with characters that must be percent-encoded"));
        }
        Ok(next)
    }

    /// `authority[/path][?query]` of an http URL (the part after `http://`).
    fn absolute_target(
        &self,
        rest: &str,
        refuse: &dyn Fn(&str) -> ValidationError,
    ) -> Result<Target, ValidationError> {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        if authority.contains('@') {
            return Err(refuse("credentials in the redirect URL"));
        }
        let (host_part, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| refuse("malformed IPv6 host"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| refuse("malformed authority"))?,
                ),
            };
            (inside, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port_text {
            None | Some("") => 80,
            Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u16>().map_err(|_| refuse("invalid port"))?
            }
            Some(_) => return Err(refuse("invalid port")),
        };
        // Catalog #41: redirects only to port 80 (or the port the operator configured for
        // http-01, which is 80 in production).
        if port != 80 && port != self.http01_port {
            return Err(refuse(&format!(
                "port {port} is not allowed (only 80 or {})",
                self.http01_port
            )));
        }
        let host = if authority.starts_with('[') {
            Host::Ip(IpAddr::V6(
                host_part
                    .parse()
                    .map_err(|_| refuse("malformed IPv6 host"))?,
            ))
        } else if let Ok(v4) = host_part.parse::<std::net::Ipv4Addr>() {
            Host::Ip(IpAddr::V4(v4))
        } else {
            Host::Name(parse_dns_host(host_part).ok_or_else(|| refuse("invalid host name"))?)
        };
        let host_header = if port_text.is_some_and(|p| !p.is_empty()) && port != 80 {
            format!("{}:{port}", host_text(&host))
        } else {
            host_text(&host)
        };
        Ok(Target {
            host,
            port,
            host_header,
            path,
        })
    }
}

/// `scheme` and the rest of `s` if it starts with an RFC 3986 §3.1 scheme and ':'.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_ok && rest_ok).then_some((scheme, rest))
}

/// A lower-case DNS host name (LDH labels, `_` tolerated, no trailing dot), or None.
fn parse_dns_host(s: &str) -> Option<String> {
    let s = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(s)
}

/// RFC 8555 §8.3: the body, trailing whitespace ignored, must equal the key authorization.
fn check_body(
    body: &[u8],
    key_authorization: &str,
    target: &Target,
) -> Result<(), ValidationError> {
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let trimmed = body.get(..end).unwrap_or_default();
    if trimmed == key_authorization.as_bytes() {
        return Ok(());
    }
    Err(ValidationError::IncorrectResponse(format!(
        "The key authorization file from {} did not match this challenge: expected \"{}\", got \"{}\"",
        target.url(),
        sanitize(key_authorization.as_bytes()),
        sanitize(trimmed)
    )))
}

/// A short, printable excerpt of bytes the target sent (catalog #42: at most a sanitised
/// excerpt reaches the client): first [`EXCERPT_BYTES`] bytes, invalid UTF-8 replaced, control
/// characters and quotes escaped.
fn sanitize(bytes: &[u8]) -> String {
    let cut = bytes.get(..EXCERPT_BYTES).unwrap_or(bytes);
    let mut out: String = String::from_utf8_lossy(cut)
        .chars()
        .flat_map(char::escape_debug)
        .collect();
    if cut.len() < bytes.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::validate::Cidr;

    use crate::validate::mock_dns as mock;

    const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const KEY_AUTH: &str =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

    /// A tiny HTTP server on 127.0.0.1: `routes` maps a path to a full raw response; unknown
    /// paths get 404. Records the (path, host) of each request. `silent` accepts connections
    /// and never answers.
    struct TestServer {
        port: u16,
        requests: Arc<Mutex<Vec<(String, String)>>>,
    }

    fn response(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn redirect(to: &str) -> String {
        response("302 Found", &format!("Location: {to}\r\n"), "")
    }

    impl TestServer {
        fn start(routes: HashMap<String, String>, silent: bool) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            // Responses may name the server's own port as "{port}".
            let routes: HashMap<String, String> = routes
                .into_iter()
                .map(|(k, v)| (k, v.replace("{port}", &port.to_string())))
                .collect();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let log = requests.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    if silent {
                        held.push(stream); // accept, read nothing, answer nothing
                        continue;
                    }
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let path = text.split(' ').nth(1).unwrap_or_default().to_owned();
                    let host = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Host: "))
                        .unwrap_or_default()
                        .to_owned();
                    log.lock().unwrap().push((path.clone(), host));
                    let reply = routes
                        .get(&path)
                        .cloned()
                        .unwrap_or_else(|| response("404 Not Found", "", "nope"));
                    let _ = stream.write_all(reply.as_bytes());
                }
            });
            TestServer { port, requests }
        }

        fn challenge(body: &str) -> TestServer {
            TestServer::start(
                HashMap::from([(challenge_path(), response("200 OK", "", body))]),
                false,
            )
        }
    }

    fn challenge_path() -> String {
        format!("/.well-known/acme-challenge/{TOKEN}")
    }

    fn loopback() -> AddressPolicy {
        AddressPolicy::new(vec!["127.0.0.0/8".parse::<Cidr>().unwrap()])
    }

    fn validator(port: u16, policy: AddressPolicy, dns: Option<SocketAddr>) -> Validator {
        let resolver = Resolver::new(dns.into_iter().collect(), Duration::from_secs(2));
        Validator::new(resolver, policy, port, Duration::from_secs(3))
    }

    fn run_ip(v: &Validator) -> Result<(), ValidationError> {
        smol::block_on(v.http01("ip", "127.0.0.1", TOKEN, KEY_AUTH))
    }

    // RFC 8555 §8.3: the body equal to the key authorization validates; Host is the identifier.
    #[test]
    fn correct_body_validates() {
        let server = TestServer::challenge(KEY_AUTH);
        run_ip(&validator(server.port, loopback(), None)).unwrap();
        let reqs = server.requests.lock().unwrap();
        assert_eq!(
            reqs.as_slice(),
            &[(challenge_path(), "127.0.0.1".to_string())]
        );
    }

    // RFC 8555 §8.3 over a DNS name: resolved with our resolver, Host = the name.
    #[test]
    fn dns_identifier_resolved_and_host_header() {
        let server = TestServer::challenge(KEY_AUTH);
        let mut records = HashMap::new();
        records.insert("web.test".to_string(), vec!["127.0.0.1".parse().unwrap()]);
        let dns = mock::MockDns::start(records, None);
        let v = validator(server.port, loopback(), Some(dns.addr));
        smol::block_on(v.http01("dns", "web.test", TOKEN, KEY_AUTH)).unwrap();
        assert_eq!(server.requests.lock().unwrap()[0].1, "web.test");
        let err = smol::block_on(v.http01("dns", "missing.test", TOKEN, KEY_AUTH)).unwrap_err();
        assert!(matches!(err, ValidationError::Dns(_)), "{err}");
    }

    // RFC 8555 §8.3: "SHOULD ignore whitespace characters at the end of the body".
    #[test]
    fn trailing_whitespace_ignored() {
        let server = TestServer::challenge(&format!("{KEY_AUTH} \r\n\t\n"));
        run_ip(&validator(server.port, loopback(), None)).unwrap();
    }

    // Leading whitespace is not trimmed; a wrong body is incorrectResponse with an excerpt.
    #[test]
    fn wrong_body_is_incorrect_response() {
        let server = TestServer::challenge(&format!(" {KEY_AUTH}"));
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(err, ValidationError::IncorrectResponse(_)),
            "{err}"
        );

        let server = TestServer::challenge("wrong\r\n\u{1b}[31mred\u{7}");
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        let ValidationError::IncorrectResponse(detail) = err else {
            panic!("{err}")
        };
        assert!(
            detail.contains("got \"wrong\\r\\n\\u{1b}[31mred\\u{7}\""),
            "{detail}"
        );
        assert!(!detail.chars().any(char::is_control), "{detail}");
    }

    // Catalog #41: non-200 fails.
    #[test]
    fn not_found_is_unauthorized() {
        let server = TestServer::start(HashMap::new(), false);
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        let ValidationError::Unauthorized(detail) = err else {
            panic!("{err}")
        };
        assert!(detail.contains("404"), "{detail}");
    }

    // Catalog #41: a body over 128 bytes fails (with or without Content-Length).
    #[test]
    fn body_over_128_bytes_fails() {
        let server = TestServer::challenge(&"a".repeat(MAX_BODY + 1));
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Unauthorized(d) if d.contains("too large")),
            "{err}"
        );
        let raw = format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}",
            "b".repeat(4000)
        );
        let server = TestServer::start(HashMap::from([(challenge_path(), raw)]), false);
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Unauthorized(d) if d.contains("too large")),
            "{err}"
        );
        // Exactly 128 bytes is within the limit: read, then compared.
        let server = TestServer::challenge(&"c".repeat(MAX_BODY));
        assert!(matches!(
            run_ip(&validator(server.port, loopback(), None)),
            Err(ValidationError::IncorrectResponse(_))
        ));
    }

    // Catalog #41: a redirect to another path (relative and absolute forms) is followed.
    #[test]
    fn redirect_to_allowed_path_followed() {
        let mut routes = HashMap::new();
        routes.insert(challenge_path(), redirect("/moved/here"));
        routes.insert("/moved/here".to_string(), redirect("again#fragment"));
        routes.insert(
            "/moved/again".to_string(),
            redirect("http://127.0.0.1:{port}/final?x=1"),
        );
        routes.insert("/final?x=1".to_string(), redirect("?y=2"));
        routes.insert("/final?y=2".to_string(), response("200 OK", "", KEY_AUTH));
        let server = TestServer::start(routes, false);
        run_ip(&validator(server.port, loopback(), None)).unwrap();
        let reqs = server.requests.lock().unwrap();
        let paths: Vec<&str> = reqs.iter().map(|(p, _)| p.as_str()).collect();
        let expected = [
            &challenge_path(),
            "/moved/here",
            "/moved/again",
            "/final?x=1",
            "/final?y=2",
        ];
        assert_eq!(paths, expected);
        assert_eq!(reqs[3].1, format!("127.0.0.1:{}", server.port));
    }

    // Catalog #41: loop detection.
    #[test]
    fn redirect_loop_detected() {
        let mut routes = HashMap::new();
        routes.insert(challenge_path(), redirect("/a"));
        routes.insert("/a".to_string(), redirect("/b"));
        routes.insert("/b".to_string(), redirect("/a"));
        let server = TestServer::start(routes, false);
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("loop")),
            "{err}"
        );
        assert_eq!(server.requests.lock().unwrap().len(), 3);
    }

    // Catalog #41: at most 10 redirects.
    #[test]
    fn more_than_ten_redirects_refused() {
        let mut routes = HashMap::new();
        routes.insert(challenge_path(), redirect("/r0"));
        for i in 0..20 {
            routes.insert(format!("/r{i}"), redirect(&format!("/r{}", i + 1)));
        }
        let server = TestServer::start(routes, false);
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("too many redirects")),
            "{err}"
        );
        assert_eq!(server.requests.lock().unwrap().len(), MAX_REDIRECTS + 1);
    }

    // Catalog #41: only ports 80 / the http-01 port, http only (https not supported yet),
    // no other schemes, no over-long paths, no userinfo.
    #[test]
    fn disallowed_redirects_refused() {
        for (location, why) in [
            ("http://127.0.0.1:8081/x", "port 8081"),
            ("https://127.0.0.1/x", "https redirect not supported yet"),
            ("ftp://127.0.0.1/x", "only http"),
            ("http://user@127.0.0.1/x", "credentials"),
            ("/has space", "percent-encoded"),
        ] {
            let server = TestServer::start(
                HashMap::from([(challenge_path(), redirect(location))]),
                false,
            );
            let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
            assert!(
                matches!(&err, ValidationError::Connection(d) if d.contains(why)),
                "{location}: {err}"
            );
            assert_eq!(server.requests.lock().unwrap().len(), 1, "{location}");
        }
        let long = format!("/{}", "p".repeat(MAX_PATH));
        let server = TestServer::start(HashMap::from([(challenge_path(), redirect(&long))]), false);
        let err = run_ip(&validator(server.port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("2000")),
            "{err}"
        );
    }

    // Catalog #42 / RFC 8555 §10.4: an address outside the policy is never dialled.
    #[test]
    fn address_denied_by_policy() {
        let server = TestServer::challenge(KEY_AUTH);
        let err = run_ip(&validator(server.port, AddressPolicy::lan_default(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("127.0.0.1")),
            "{err}"
        );
        assert!(server.requests.lock().unwrap().is_empty());

        // Through DNS: the name resolves to loopback only.
        let dns = mock::MockDns::start(HashMap::new(), Some("127.0.0.1".parse().unwrap()));
        let v = validator(server.port, AddressPolicy::lan_default(), Some(dns.addr));
        let err = smol::block_on(v.http01("dns", "rebind.test", TOKEN, KEY_AUTH)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("rebind.test resolves to 127.0.0.1")),
            "{err}"
        );
        assert!(server.requests.lock().unwrap().is_empty());
    }

    // Catalog #42: a redirect hop is re-resolved and re-checked against the policy.
    #[test]
    fn redirect_hop_rechecked_against_policy() {
        let mut records = HashMap::new();
        records.insert("good.test".to_string(), vec!["127.0.0.1".parse().unwrap()]);
        records.insert(
            "evil.test".to_string(),
            vec!["169.254.169.254".parse().unwrap()],
        );
        let dns = mock::MockDns::start(records, None);

        let mut routes = HashMap::new();
        routes.insert(challenge_path(), redirect("http://good.test:{port}/final"));
        routes.insert("/final".to_string(), response("200 OK", "", KEY_AUTH));
        let server = TestServer::start(routes, false);
        smol::block_on(validator(server.port, loopback(), Some(dns.addr)).http01(
            "ip",
            "127.0.0.1",
            TOKEN,
            KEY_AUTH,
        ))
        .unwrap();
        assert_eq!(
            server.requests.lock().unwrap()[1].1,
            format!("good.test:{}", server.port)
        );

        let routes = HashMap::from([(challenge_path(), redirect("http://evil.test:{port}/x"))]);
        let server = TestServer::start(routes, false);
        let err = smol::block_on(validator(server.port, loopback(), Some(dns.addr)).http01(
            "ip",
            "127.0.0.1",
            TOKEN,
            KEY_AUTH,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("evil.test resolves to 169.254.169.254")),
            "{err}"
        );
    }

    // Catalog #45: a target that accepts and never answers is bounded by the attempt timeout,
    // and the executor keeps running other tasks meanwhile.
    #[test]
    fn silent_server_bounded_by_timeout() {
        let server = TestServer::start(HashMap::new(), true);
        let resolver = Resolver::new(Vec::new(), Duration::from_secs(1));
        let v = Validator::new(
            resolver,
            loopback(),
            server.port,
            Duration::from_millis(400),
        );
        let ex = async_executor::Executor::new();
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = ticks.clone();
        ex.spawn(async move {
            loop {
                Timer::after(Duration::from_millis(20)).await;
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .detach();
        let start = Instant::now();
        let err = smol::block_on(ex.run(v.http01("ip", "127.0.0.1", TOKEN, KEY_AUTH))).unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("within 400 ms")),
            "{err}"
        );
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        assert!(
            ticks.load(std::sync::atomic::Ordering::Relaxed) >= 5,
            "executor was blocked"
        );
    }

    // Nothing listening: a connection error naming the URL.
    #[test]
    fn connection_refused() {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let err = run_ip(&validator(port, loopback(), None)).unwrap_err();
        assert!(
            matches!(&err, ValidationError::Connection(d) if d.contains("cannot connect")),
            "{err}"
        );
    }

    // RFC 8738 §3: an IPv6 identifier is dialled directly with Host "[addr]".
    #[test]
    fn ipv6_identifier_host_header() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            return;
        }; // no IPv6 loopback here
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap();
            let _ = s.write_all(response("200 OK", "", KEY_AUTH).as_bytes());
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let policy = AddressPolicy::new(vec!["::1".parse::<Cidr>().unwrap()]);
        let v = validator(port, policy, None);
        smol::block_on(v.http01("ip", "::1", TOKEN, KEY_AUTH)).unwrap();
        assert!(handle.join().unwrap().contains("\r\nHost: [::1]\r\n"));
    }

    #[test]
    fn bad_inputs_refused_before_dialling() {
        let v = validator(1, loopback(), None);
        for (kind, value, token) in [
            ("ip", "127.0.0.1", "bad token"),
            ("ip", "127.0.0.1", "a/../b"),
            ("ip", "not-an-ip", TOKEN),
            ("dns", "bad\r\nname", TOKEN),
            ("email", "a@b", TOKEN),
        ] {
            let err = smol::block_on(v.http01(kind, value, token, KEY_AUTH)).unwrap_err();
            assert!(
                matches!(err, ValidationError::Connection(_)),
                "{kind} {value:?} {token:?}"
            );
        }
    }

    #[test]
    fn http01_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let v = validator(1, loopback(), None);
        let fut = v.http01("ip", "127.0.0.1", TOKEN, KEY_AUTH);
        assert_send(&fut);
    }
}
