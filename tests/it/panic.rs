//! Catalog #60 over the wire: a panic inside a request handler of the real binary kills that
//! connection only. The daemon keeps serving new connections, a keep-alive connection opened
//! before the panic goes on working, and the connection slots are given back (the cap is 3,
//! the panics 10). The panic comes from the test-only `[chaos] panic_path` (debug builds only;
//! release builds refuse `[chaos]`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::server::{Server, ServerOptions};

const PANIC_PATH: &str = "/chaos/panic";

/// One TLS connection kept open across requests (HTTP/1.1 keep-alive).
struct KeepAlive {
    tls: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl KeepAlive {
    fn open(server: &Server) -> KeepAlive {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(server.ca_cert_path()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        KeepAlive {
            tls: BufReader::new(StreamOwned::new(conn, tcp)),
        }
    }

    /// GET `path` on this connection: the status, or the transport error.
    fn get(&mut self, path: &str) -> Result<u16, String> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let s = self.tls.get_mut();
        s.write_all(req.as_bytes())
            .and_then(|()| s.flush())
            .map_err(|e| format!("write: {e}"))?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let n = self
                .tls
                .read_until(b'\n', &mut head)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed without a response".into());
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        resp.parse(&head).map_err(|e| e.to_string())?;
        let len: usize = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.tls.read_exact(&mut body).map_err(|e| e.to_string())?;
        resp.code.ok_or_else(|| "no status".into())
    }
}

#[test]
fn panic_in_handler_kills_only_connection() {
    let config = format!("[server]\nmax_connections = 3\n[chaos]\npanic_path = \"{PANIC_PATH}\"\n");
    let server = Server::start_with(ServerOptions::default(), &[], Some(&config));

    // Opened before the panics, kept open across them.
    let mut survivor = KeepAlive::open(&server);
    assert_eq!(survivor.get("/acme/directory"), Ok(200));

    for i in 0..10 {
        let mut victim = KeepAlive::open(&server);
        // The victim's own connection works until it asks for the panic…
        assert_eq!(victim.get("/acme/directory"), Ok(200), "panic {i}");
        // …then it is closed without a response…
        let outcome = victim.get(PANIC_PATH);
        assert!(outcome.is_err(), "panic {i}: got a response {outcome:?}");
        // …and stays dead.
        assert!(victim.get("/acme/directory").is_err(), "panic {i}");
        // The other connection and new connections are served (3 slots, 10 panics: every
        // panicking connection gave its slot back).
        assert_eq!(survivor.get("/acme/directory"), Ok(200), "after panic {i}");
        let r = server.https().get(&server.directory_url());
        assert_eq!(r.status, 200, "new connection after panic {i}: {r}");
    }

    let log = server.stderr();
    assert_eq!(
        log.matches("chaos: panic requested by a request to /chaos/panic")
            .count(),
        10,
        "the handler really panicked each time:\n{log}"
    );
}
