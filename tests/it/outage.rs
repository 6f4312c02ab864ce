//! Outage drills (issue 8 item 4) against the real server: the CA stopped for 60 s under load
//! (catalog #56), a DNS resolver that never answers and an http-01 target that trickles bytes
//! (#44, #45), 1,000 idle plus slowloris connections while a client still gets a certificate
//! (#8), a full LMDB map (#59c) and a clock set back before the CA certificate's notBefore
//! (#62). Each drill prints the figures it measured.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::dns::MockDns;
use crate::support::http01::Http01Responder;
use crate::support::pki::{CertKey, Identifier, pem_to_ders, verify_chain};
use crate::support::server::{Server, ServerOptions, TempDir, free_port};
use crate::support::tolerant::Tolerant;

/// A UDP "resolver" that reads every query and never answers; stops on drop.
struct SilentResolver {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl SilentResolver {
    fn start() -> SilentResolver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, st) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::SeqCst) {
                if sock.recv_from(&mut buf).is_ok() {
                    q.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        SilentResolver {
            addr,
            queries,
            stop,
        }
    }
}

impl Drop for SilentResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// New account, one order for `name`, its http-01 challenge answered: (client, authz URL,
/// order URL, time the challenge was posted).
fn start_challenge(server: &Server, name: &str) -> (Acme, String, String, Instant) {
    let mut acme = Acme::new(server);
    acme.new_account();
    let (order_url, order) = acme.new_order(&[Identifier::dns(name)]);
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = acme.get_json(&authz_url);
    let (chall_url, _, _) = acme.http01_of(&authz);
    let posted = Instant::now();
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "challenge response: {r}");
    (acme, authz_url, order_url, posted)
}

/// Poll an authorization (POST-as-GET) until it leaves `pending`; returns it and the time.
fn wait_authz_done(acme: &mut Acme, authz_url: &str, bound: Duration) -> (Value, Instant) {
    let deadline = Instant::now() + bound;
    loop {
        let a = acme.get_json(authz_url);
        if a["status"] != "pending" {
            return (a, Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "authorization still pending after {bound:?}: {a}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// While `f` runs, GET the directory every 100 ms; returns `f`'s result and the slowest answer.
fn while_probing<T>(server: &Server, f: impl FnOnce() -> T) -> (T, Duration, usize) {
    let stop = AtomicBool::new(false);
    let https = server.https();
    let url = server.directory_url();
    std::thread::scope(|s| {
        let probe = s.spawn(|| {
            let (mut slowest, mut n) = (Duration::ZERO, 0);
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                let r = https.try_request("GET", &url, &[], b"").unwrap();
                assert_eq!(r.status, 200, "directory while validating: {r}");
                slowest = slowest.max(t.elapsed());
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            (slowest, n)
        });
        let out = f();
        stop.store(true, Ordering::SeqCst);
        let (slowest, n) = probe.join().unwrap();
        (out, slowest, n)
    })
}

/// Validation settings of the DNS and http-01 drills: one attempt of 3 s.
const ONE_SHORT_ATTEMPT: &str =
    "[validation]\nattempts = 1\nretry_delay_secs = 1\nattempt_timeout_secs = 3\n";
const ATTEMPT: Duration = Duration::from_secs(3);

// Catalog #44/#45: the configured resolver reads queries and never answers. The validation
// ends with a `dns` (or `connection`) error within its attempt bound, and the server keeps
// answering meanwhile (the resolver wait is not on the executor's critical path).
#[test]
fn outage_dns_resolver_never_answers() {
    let silent = SilentResolver::start();
    let server = Server::start_with(
        ServerOptions {
            http01_port: Some(free_port()),
            dns_resolver: Some(silent.addr),
            config: None,
        },
        &[],
        Some(ONE_SHORT_ATTEMPT),
    );
    let ((authz, took), slowest, probes) = while_probing(&server, || {
        let (mut acme, authz_url, _, posted) = start_challenge(&server, "never.example.test");
        let (authz, at) = wait_authz_done(&mut acme, &authz_url, ATTEMPT * 5);
        (authz, at - posted)
    });
    assert_eq!(authz["status"], "invalid", "{authz}");
    let error = &authz["challenges"][0]["error"];
    let kind = error["type"].as_str().unwrap_or_default();
    assert!(
        kind == "urn:ietf:params:acme:error:dns" || kind == "urn:ietf:params:acme:error:connection",
        "challenge error: {authz}"
    );
    // One attempt, bounded by attempt_timeout_secs; 2 s of slack for a loaded machine and the
    // 100 ms polling.
    assert!(took < ATTEMPT + Duration::from_secs(2), "took {took:?}");
    assert!(
        silent.queries.load(Ordering::SeqCst) >= 1,
        "resolver never asked"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "directory took {slowest:?}"
    );
    eprintln!(
        "dns drill: challenge invalid after {took:?} ({kind}: {}), {} queries unanswered, \
         {probes} directory GETs meanwhile, slowest {slowest:?}",
        error["detail"],
        silent.queries.load(Ordering::SeqCst)
    );
}

// Catalog #45: the http-01 target answers one byte per second. The attempt is cut at its
// deadline and the challenge records the error.
#[test]
fn outage_http01_target_trickles() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes_sent = Arc::new(AtomicUsize::new(0));
    {
        let sent = bytes_sent.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let sent = sent.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut b).unwrap_or(0) == 1 {
                        head.push(b[0]);
                    }
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n";
                    for byte in reply.iter().chain([b'x'; 200].iter()) {
                        if conn.write_all(&[*byte]).is_err() {
                            return;
                        }
                        sent.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_secs(1));
                    }
                });
            }
        });
    }
    let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let server = Server::start_with(
        ServerOptions {
            http01_port: Some(port),
            dns_resolver: Some(dns.addr),
            config: None,
        },
        &[],
        Some(ONE_SHORT_ATTEMPT),
    );
    let (mut acme, authz_url, _, posted) = start_challenge(&server, "slow.example.test");
    let (authz, at) = wait_authz_done(&mut acme, &authz_url, ATTEMPT * 5);
    let took = at - posted;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let error = &authz["challenges"][0]["error"];
    assert!(error["type"].is_string(), "no error recorded: {authz}");
    assert!(took < ATTEMPT + Duration::from_secs(2), "took {took:?}");
    let sent = bytes_sent.load(Ordering::SeqCst);
    // The server stopped reading long before the 240-byte answer was complete.
    assert!(sent <= 8, "{sent} bytes trickled before the cut");
    eprintln!(
        "http-01 trickle drill: challenge invalid after {took:?} ({}: {}), {sent} bytes \
         trickled before the cut",
        error["type"], error["detail"]
    );
}

/// Raise this process's RLIMIT_NOFILE soft limit to its hard limit (the server, started
/// afterwards, inherits it); returns (soft before, soft after).
fn raise_nofile() -> (u64, u64) {
    let read = || -> (u64, u64) {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |s: &str| s.parse().unwrap_or(u64::MAX);
        (n(f[3]), n(f[4]))
    };
    let (soft, hard) = read();
    if soft < hard {
        let ok = Command::new("prlimit")
            .arg("--pid")
            .arg(std::process::id().to_string())
            .arg(format!("--nofile={hard}:{hard}"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "prlimit could not raise the open-file limit");
    }
    (soft, read().0)
}

/// A TLS client session to `addr` (handshake done), trusting the PEM roots in `ca`.
fn tls_stream(
    ca: &std::path::Path,
    addr: SocketAddr,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).ok()? {
        roots.add(cert.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let tcp = TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    Some(tls)
}

const IDLE: usize = 1000;
const SLOWLORIS: usize = 24;

// Catalog #8: 1,000 idle TCP connections and 24 slowloris ones (a valid TLS session sending
// one header byte per second), re-opened by the attacker whenever the server closes them;
// meanwhile a client still obtains certificates. `max_connections` is set above the attack
// (1,100) so every attacker connection is held; the per-phase deadlines (head 10 s) close
// the idle and slow ones, which the attacker then re-opens.
//
// Below the attack (UPKI_DRILL_MAX_CONNECTIONS=512, the default cap) the cap bounds the
// server's memory, not the client's wait: 512 connections are held, the kernel's accept queue
// (129) fills, further SYNs are dropped, and a client gets in only when the head deadline
// frees a wave of slots (measured: issuances of up to 11.8 s, first contact up to ~10 s).
#[test]
fn outage_1000_idle_connections_still_issue() {
    let (soft_before, soft) = raise_nofile();
    assert!(
        soft >= 2 * (IDLE + SLOWLORIS) as u64 + 200,
        "open-file limit {soft} too low for the drill (this process and the server)"
    );
    // UPKI_DRILL_MAX_CONNECTIONS=N reruns the drill with another cap (e.g. the default 512,
    // below the attack) to see what happens there; the figures are printed either way.
    let cap: usize = std::env::var("UPKI_DRILL_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1100);
    let env = Env::with_config(Some(&format!("[server]\nmax_connections = {cap}\n")));
    let addr: SocketAddr = format!("127.0.0.1:{}", env.server.port).parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let closed_by_server = Arc::new(AtomicUsize::new(0));
    let slow_cut = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(AtomicUsize::new(0));
    // The longest a slowloris connection lived before the server cut it.
    let slow_lived = Arc::new(Mutex::new(Duration::ZERO));
    let started = Instant::now();

    // The idle attacker: one thread polling 1,000 non-blocking sockets every 200 ms.
    let idle = {
        let (stop, closed, held) = (stop.clone(), closed_by_server.clone(), held.clone());
        std::thread::spawn(move || {
            let open = || {
                let s = TcpStream::connect(addr).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            };
            let mut socks: Vec<TcpStream> = Vec::with_capacity(IDLE);
            for i in 0..IDLE {
                socks.push(open());
                held.store(i + 1, Ordering::SeqCst);
            }
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) {
                let mut open_now = 0;
                for s in &mut socks {
                    match s.read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open_now += 1,
                        // EOF, reset or (TLS alert) data: the server ended it; re-open.
                        _ => {
                            closed.fetch_add(1, Ordering::SeqCst);
                            *s = open();
                            open_now += 1;
                        }
                    }
                }
                held.store(open_now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // Slowloris: a real TLS session, then "POST …" one byte per second.
    let ca = env.server.ca_cert_path();
    let slow: Vec<_> = (0..SLOWLORIS)
        .map(|_| {
            let (stop, cut, ca, lived) = (
                stop.clone(),
                slow_cut.clone(),
                ca.clone(),
                slow_lived.clone(),
            );
            std::thread::spawn(move || {
                let head = format!(
                    "POST /acme/new-order HTTP/1.1\r\nHost: {addr}\r\nContent-Type: \
                     application/jose+json\r\nX-Pad: {}\r\n",
                    "a".repeat(200)
                );
                while !stop.load(Ordering::SeqCst) {
                    let Some(mut tls) = tls_stream(&ca, addr) else {
                        cut.fetch_add(1, Ordering::SeqCst);
                        continue;
                    };
                    let opened = Instant::now();
                    let mut cut_here = false;
                    for b in head.bytes() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if tls.write_all(&[b]).and_then(|()| tls.flush()).is_err() {
                            cut_here = true;
                            break;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    if cut_here {
                        cut.fetch_add(1, Ordering::SeqCst);
                        let mut l = lived.lock().unwrap();
                        *l = l.max(opened.elapsed());
                    }
                }
            })
        })
        .collect();
    // Let every attacker connection be in place.
    let over_cap = cap < IDLE + SLOWLORIS;
    while held.load(Ordering::SeqCst) < IDLE.min(cap) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "attack not set up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = started.elapsed();

    let mut issued = Vec::new();
    let contact = Instant::now();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let first_contact = contact.elapsed();
    // Issue until the deadlines have had time to cut the first wave (head deadline 10 s).
    let mut n = 0;
    let set_up = Instant::now();
    while set_up.elapsed() < Duration::from_secs(12) || n < 2 {
        n += 1;
        let t = Instant::now();
        let cert = acme.issue(
            &[Identifier::dns(&format!("busy{n}.example.test"))],
            None,
            &env.http01,
        );
        verify_chain(
            &env.server.ca_cert_path(),
            &cert.chain_der,
            &format!("busy{n}.example.test"),
        );
        issued.push((t.elapsed(), held.load(Ordering::SeqCst)));
    }
    // The last attacker connection was accepted at `set_up`: within the head deadline (10 s)
    // plus slack for a loaded machine, the server has closed every idle one (a slot per
    // connection is re-opened by the attacker, so only the count is awaited).
    while !over_cap
        && (closed_by_server.load(Ordering::SeqCst) < IDLE
            || slow_cut.load(Ordering::SeqCst) < SLOWLORIS)
        && set_up.elapsed() < Duration::from_secs(25)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    idle.join().unwrap();
    for t in slow {
        t.join().unwrap();
    }
    let closed = closed_by_server.load(Ordering::SeqCst);
    let cut = slow_cut.load(Ordering::SeqCst);
    // The head deadline closed the idle connections (≥ one wave) and cut the slow ones.
    assert!(
        over_cap || closed >= IDLE,
        "idle connections closed by the server: {closed}"
    );
    assert!(cut >= SLOWLORIS, "slowloris connections cut: {cut}");
    // Head deadline 10 s from accept (http::Limits); the client sees the cut one or two writes
    // (1 s each) later, and the accept itself may lag while 1,000 connections arrive. Uncut,
    // a slowloris connection would live ~250 s (one byte per second of its head).
    let lived = *slow_lived.lock().unwrap();
    assert!(
        over_cap || lived < Duration::from_secs(20),
        "a slowloris connection lived {lived:?}"
    );
    let slowest = issued.iter().map(|(d, _)| *d).max().unwrap();
    let min_held = issued.iter().map(|(_, h)| *h).min().unwrap();
    assert!(over_cap || min_held >= IDLE, "{min_held}");
    assert!(
        env.server.stderr().matches("panicked").count() == 0,
        "{}",
        env.server.stderr()
    );
    eprintln!(
        "connections drill: cap {cap}, RLIMIT_NOFILE soft {soft_before} → {soft}; {IDLE} idle + {SLOWLORIS} \
         slowloris held (set up in {setup:?}); first contact (directory + account) {first_contact:?}, {} certificates issued \
         meanwhile, slowest {slowest:?}, \
         ≥{min_held} idle held at each; the server closed {closed} idle and cut {cut} slowloris \
         connections (head deadline; slowloris lived ≤ {lived:?}); total {:?}",
        issued.len(),
        started.elapsed()
    );
}

// Catalog #59c: a 1 MiB LMDB map filled by orders. Writes get 500 serverInternal, reads
// (directory, POST-as-GET on accounts, orders, certificates) keep working, nothing panics, an
// alert is logged; after a restart with a larger map everything is there.
#[test]
fn outage_lmdb_map_full() {
    let mut env = Env::with_config(Some("[server]\nmap_size_mib = 1\n"));
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let kid = acme.kid.clone().unwrap();
    let first = acme.issue(&[Identifier::dns("kept.example.test")], None, &env.http01);

    // Fill the map with orders of 100 identifiers, then of 10, then of 1 (LMDB may still
    // find room for a small write after a large one failed).
    let new_order = acme.url("newOrder");
    let mut filled = Vec::new();
    let mut refused = None;
    for size in [100, 10, 1] {
        refused = Some(loop {
            let n = filled.len();
            assert!(n < 3000, "the 1 MiB map never filled");
            let ids: Vec<Value> = (0..size)
                .map(|i| json!({"type": "dns", "value": format!("f{n}-{i}.example.test")}))
                .collect();
            let r = acme.post(&new_order, Some(&json!({"identifiers": ids})));
            if r.status == 201 {
                filled.push(r.header("location").unwrap().to_owned());
                continue;
            }
            break r;
        });
    }
    let refused = refused.unwrap();
    assert_eq!(refused.status, 500, "{refused}");
    assert_eq!(
        refused.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:serverInternal"),
        "{refused}"
    );
    // Smaller writes may still find a free page; new accounts fill those too, then fail the
    // same way.
    let mut accounts = 0;
    let small = loop {
        assert!(accounts < 2000, "small writes never failed");
        let mut other = Acme::new(&env.server);
        let r = other.post(
            &other.url("newAccount"),
            Some(&json!({"termsOfServiceAgreed": true})),
        );
        if r.status != 201 {
            break r;
        }
        accounts += 1;
    };
    assert_eq!(small.status, 500, "newAccount on a full map: {small}");
    assert_eq!(
        small.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:serverInternal"),
        "{small}"
    );
    // Reads keep working.
    assert_eq!(
        env.server.https().get(&env.server.directory_url()).status,
        200
    );
    assert_eq!(acme.get_json(&kid)["status"], "valid");
    assert_eq!(acme.get_json(&first.order_url)["status"], "valid");
    assert_eq!(acme.download(&first.cert_url), first.chain_pem);
    let last = filled.last().unwrap().clone();
    assert_eq!(acme.get_json(&last)["status"], "pending");
    let log = env.server.stderr();
    assert!(log.contains("storage full"), "no alert logged:\n{log}");
    assert!(!log.contains("panicked"), "{log}");

    // A larger map: everything is there and issuance works again.
    env.server.set_config(Some("[server]\nmap_size_mib = 64\n"));
    env.server.restart();
    assert_eq!(acme.get_json(&kid)["status"], "valid");
    assert_eq!(acme.download(&first.cert_url), first.chain_pem);
    for url in [&filled[0], &last] {
        assert_eq!(acme.get_json(url)["status"], "pending", "{url}");
    }
    let again = acme.issue(&[Identifier::dns("after.example.test")], None, &env.http01);
    assert_eq!(pem_to_ders(&again.chain_pem).len(), 2);
    eprintln!(
        "map-full drill: 1 MiB map took 1 issuance + {} orders (100, 10, then 1 \
         identifiers), then {accounts} accounts, before writes failed (500 serverInternal); reads kept working; \
         restart with 64 MiB kept all",
        filled.len()
    );
}

/// `upki-ra ca serve` as its own process on loopback (tcp), killed on drop.
struct CaProcess {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl CaProcess {
    fn start() -> CaProcess {
        let dir = TempDir::new("upki-ra-outage-ca");
        let port = free_port();
        let config = dir.path.join("ca.toml");
        std::fs::write(
            &config,
            format!(
                "[ca_server]\nlisten = \"127.0.0.1\"\nport = {port}\nregister_port = {}\n\
                 data_dir = {:?}\n",
                free_port(),
                dir.path.join("data")
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path.join("ca.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_upki-ra"))
            .args(["ca", "serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let ca = CaProcess {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ca.log().contains("uPKI CA ready") {
            assert!(Instant::now() < deadline, "CA not ready:\n{}", ca.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        ca
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("ca.log")).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }
}

impl Drop for CaProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One issuance of the CA drill: started, ended, outcome.
type Attempt = (Instant, Instant, Result<(), String>);

/// Settings of the CA outage drill.
const CA_TIMEOUT_SECS: u64 = 2;
const FINALIZE_WAIT_SECS: u64 = 3;
const CA_OUTAGE: Duration = Duration::from_secs(60);

// Catalog #56: the remote CA is frozen (SIGSTOP: its TCP connections stay open and its
// replies never come, the worst case for REQ/REP) for 60 s under an issuance load, then
// resumed. No HTTP request waits on the CA longer than `finalize_wait_secs` (the order is
// answered `processing` and the issuance retries in the background), and every order finishes
// `valid` after the CA is back (the issue deadline, 300 s, is not reached).
#[test]
fn outage_ca_stopped_during_load() {
    let ca = CaProcess::start();
    let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let http01 = Http01Responder::start();
    let config = format!(
        "[server]\ntls_names = [\"ra.example.test\", \"127.0.0.1\"]\n\
         [ca]\ntimeout_secs = {CA_TIMEOUT_SECS}\nfinalize_wait_secs = {FINALIZE_WAIT_SECS}\n\
         issue_deadline_secs = 300\n"
    );
    let server = Server::start_with(
        ServerOptions {
            http01_port: Some(http01.port()),
            dns_resolver: Some(dns.addr),
            config: None,
        },
        &["--ca-endpoint", &format!("tcp://127.0.0.1:{}", ca.port)],
        Some(&config),
    );
    let ca_cert = server.ca_cert_path();
    let dir_url = server.directory_url();
    let stop = AtomicBool::new(false);
    // (started, ended, outcome) of every issuance, and each worker's slowest request.
    let log: Mutex<Vec<Attempt>> = Mutex::new(Vec::new());
    let slowest: Mutex<Vec<(Duration, String, u64)>> = Mutex::new(Vec::new());
    let resumed_at: Mutex<Option<Instant>> = Mutex::new(None);
    let stopped_at = std::thread::scope(|s| {
        for w in 0..3 {
            let (stop, log, slowest, ca_cert, dir_url, http01, resumed_at) = (
                &stop,
                &log,
                &slowest,
                &ca_cert,
                &dir_url,
                &http01,
                &resumed_at,
            );
            s.spawn(move || {
                let mut c = Tolerant::new(crate::support::https::Https::new(ca_cert), dir_url);
                c.poll_timeout = CA_OUTAGE * 2;
                c.new_account().unwrap();
                let mut n = 0;
                let mut after_resume = 0;
                // Run until stopped, and past the outage until one issuance started after the
                // CA came back has finished.
                while !stop.load(Ordering::SeqCst) || after_resume == 0 {
                    n += 1;
                    let t = Instant::now();
                    let r = c
                        .issue(&format!("ca{w}-{n}.example.test"), http01)
                        .map(|_| ());
                    let ended = Instant::now();
                    if resumed_at.lock().unwrap().is_some_and(|r| t > r) {
                        after_resume += 1;
                    }
                    log.lock().unwrap().push((t, ended, r));
                    if ended.duration_since(t) > CA_OUTAGE * 3 {
                        break;
                    }
                }
                slowest
                    .lock()
                    .unwrap()
                    .push((c.slowest.0, c.slowest.1.clone(), c.requests));
            });
        }
        std::thread::sleep(Duration::from_secs(3));
        ca.signal("STOP");
        let stopped_at = Instant::now();
        std::thread::sleep(CA_OUTAGE);
        ca.signal("CONT");
        *resumed_at.lock().unwrap() = Some(Instant::now());
        stop.store(true, Ordering::SeqCst);
        stopped_at
    });
    let resumed = resumed_at.into_inner().unwrap().unwrap();
    let log = log.into_inner().unwrap();
    let failures: Vec<&String> = log
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().err())
        .collect();
    assert!(failures.is_empty(), "issuances failed: {failures:?}");
    // Orders caught by the outage: started before the CA came back, ended after it stopped.
    let caught: Vec<Duration> = log
        .iter()
        .filter(|(t, e, _)| *t < resumed && *e > stopped_at + Duration::from_secs(1))
        .map(|(_, e, _)| e.saturating_duration_since(resumed))
        .collect();
    assert!(!caught.is_empty(), "no issuance was caught by the outage");
    let finish_after = caught.iter().max().copied().unwrap();
    let slowest = slowest.into_inner().unwrap();
    let requests: u64 = slowest.iter().map(|(_, _, n)| n).sum();
    let (max_req, which, _) = slowest.iter().max_by_key(|(d, _, _)| *d).cloned().unwrap();
    // Nothing waits on the CA beyond finalize_wait; 2 s of slack for commits on a loaded box.
    let bound = Duration::from_secs(FINALIZE_WAIT_SECS + 2);
    assert!(
        max_req < bound,
        "a request took {max_req:?} ({which}), bound {bound:?}"
    );
    // The retry backoff is capped at 15 s, plus one CA round trip with its timeout.
    assert!(
        finish_after < Duration::from_secs(15 + CA_TIMEOUT_SECS + 5),
        "orders finished {finish_after:?} after the CA came back"
    );
    eprintln!(
        "CA outage drill: CA stopped {CA_OUTAGE:?}; {} issuances ({} caught by the outage), \
         all valid; {requests} HTTP requests, slowest {max_req:?} ({which}; bound {bound:?}); orders caught \
         finished at most {finish_after:?} after the CA returned",
        log.len(),
        caught.len()
    );
}

// Catalog #62: the server's clock set back (libfaketime, 3 days) before the CA certificate's
// notBefore: finalize is refused with serverInternal naming the clock, the log says so, the
// order stays `ready` (no certificate dated in the past); with the clock right again a
// certificate is issued.
#[test]
#[ignore = "interop: needs faketime"]
fn outage_clock_before_not_before() {
    let mut env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    env.server.kill();
    let wrapper = faketime_wrapper();
    env.server
        .set_wrapper(&wrapper.iter().map(String::as_str).collect::<Vec<_>>());
    env.server.restart();
    let ids = [Identifier::dns("past.example.test")];
    let (order_url, order) = acme.new_order(&ids);
    acme.solve_http01(&order, &env.http01);
    let order = acme.poll(&order_url, &["ready"]);
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(&finalize, &CertKey::generate().csr(None, &ids));
    assert_eq!(r.status, 500, "finalize with the clock set back: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:serverInternal"),
        "{r}"
    );
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("server clock"), "{detail}");
    assert_eq!(acme.get_json(&order_url)["status"], "ready");
    let log = env.server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("issuance refused") && l.contains("server clock"))
        .unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    env.server.set_wrapper(&[]);
    env.server.restart();
    let ok = acme.issue(&[Identifier::dns("now.example.test")], None, &env.http01);
    verify_chain(
        &env.server.ca_cert_path(),
        &ok.chain_der,
        "now.example.test",
    );
    eprintln!("clock drill: refused with {detail:?}; log: {line}");
}

/// `env LD_PRELOAD=libfaketime FAKETIME=-3d …`: the wrapper that runs the server 3 days in
/// the past (`env` execs, so the server stays the harness's child process).
fn faketime_wrapper() -> Vec<String> {
    let faketime = crate::support::programs::program("faketime", "faketime");
    let lib = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|d| Some(d.ok()?.path().join("faketime/libfaketime.so.1")))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("libfaketime.so.1 not found next to {}", faketime.display()));
    vec![
        "env".into(),
        format!("LD_PRELOAD={}", lib.display()),
        "FAKETIME=-3d".into(),
        "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
    ]
}

// Catalog #58 + #62: an order left `processing` by a crash is resumed at start-up; when the
// board comes back with its clock behind the CA certificate's notBefore, the resumed issuance
// waits (error logged, order still `processing`) instead of being signed with past dates, and
// completes once the server runs with the right clock.
#[test]
#[ignore = "interop: needs faketime"]
fn outage_clock_before_not_before_on_resume() {
    let ca = CaProcess::start();
    let dns = MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let http01 = Http01Responder::start();
    let mut server = Server::start_with(
        ServerOptions {
            http01_port: Some(http01.port()),
            dns_resolver: Some(dns.addr),
            config: None,
        },
        &["--ca-endpoint", &format!("tcp://127.0.0.1:{}", ca.port)],
        Some(
            "[server]\ntls_names = [\"ra.example.test\", \"127.0.0.1\"]\n\
             [ca]\ntimeout_secs = 1\nfinalize_wait_secs = 1\n",
        ),
    );
    let mut acme = Acme::new(&server);
    acme.new_account();
    let ids = [Identifier::dns("resume.example.test")];
    let (order_url, order) = acme.new_order(&ids);
    acme.solve_http01(&order, &http01);
    let order = acme.poll(&order_url, &["ready"]);
    // The CA freezes: finalize answers `processing`; then the RA crashes.
    ca.signal("STOP");
    let r = acme.finalize(
        order["finalize"].as_str().unwrap(),
        &CertKey::generate().csr(None, &ids),
    );
    assert_eq!(r.json()["status"], "processing", "{r}");
    server.kill();
    ca.signal("CONT");
    let wrapper = faketime_wrapper();
    server.set_wrapper(&wrapper.iter().map(String::as_str).collect::<Vec<_>>());
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("issuance postponed") {
        assert!(
            Instant::now() < deadline,
            "resumed order not postponed:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(acme.get_json(&order_url)["status"], "processing");
    // The clock is right again: the order completes.
    server.set_wrapper(&[]);
    server.restart();
    let done = acme.poll(&order_url, &["valid"]);
    let pem = acme.download(done["certificate"].as_str().unwrap());
    verify_chain(
        &server.ca_cert_path(),
        &pem_to_ders(&pem),
        "resume.example.test",
    );
}
