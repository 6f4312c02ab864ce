//! Test support for the integration tests: the `upki-ra` process (`server`), an HTTPS client
//! (`https`), a strict ACME client (`client`), certificate/CSR helpers (`pki`), an http-01
//! responder (`http01`), a mock DNS server (`dns`, shared with other test helpers) and
//! external-program runners for interop tests (`programs`).

pub(crate) mod client;
#[path = "../../support/dns.rs"]
pub(crate) mod dns;
pub(crate) mod http01;
pub(crate) mod https;
pub(crate) mod pki;
pub(crate) mod programs;
pub(crate) mod raw;
pub(crate) mod server;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use self::dns::MockDns;
use self::http01::Http01Responder;
use self::server::{Server, ServerOptions};

/// A server wired to a mock DNS (every name → 127.0.0.1) and an http-01 responder on loopback.
/// Field order is drop order: the server stops first.
pub(crate) struct Env {
    pub(crate) server: Server,
    pub(crate) http01: Http01Responder,
    /// Held so the DNS server lives as long as the server that queries it.
    _dns: MockDns,
}

impl Env {
    pub(crate) fn start() -> Env {
        Env::with_config(None)
    }

    /// Like `start`, with a TOML configuration file (`--config`).
    pub(crate) fn with_config(config: Option<&str>) -> Env {
        let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let http01 = Http01Responder::start();
        let server = Server::start(ServerOptions {
            http01_port: Some(http01.port()),
            dns_resolver: Some(dns.addr),
            config: config.map(str::to_owned),
        });
        Env {
            server,
            http01,
            _dns: dns,
        }
    }
}
