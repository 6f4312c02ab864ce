//! Test support: a mock recursive DNS server on loopback (UDP and TCP on the same port).
//!
//! Used by the integration tests (as `support::dns`) and, through `#[path]`, by the unit tests
//! of `src/validate/dns.rs`, so one implementation serves both. Blocking std sockets on two
//! background threads; hickory-proto builds and parses the messages. It answers A/AAAA from a
//! map (or a default address for any name), TXT from a map, follows CNAMEs like a recursive
//! server would, and says NXDOMAIN for unknown names. Dropping it stops the threads.
// Each test crate uses a different subset of this file.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};

/// What the mock serves. Names are lower-case, without the trailing dot.
#[derive(Clone, Debug, Default)]
pub(crate) struct MockDnsConfig {
    /// A and AAAA records (split by address family).
    pub(crate) addrs: HashMap<String, Vec<IpAddr>>,
    /// Address returned for any name that is not in `addrs`, `txt` or `cnames`.
    pub(crate) default: Option<IpAddr>,
    /// TXT records, one string each.
    pub(crate) txt: HashMap<String, Vec<String>>,
    /// CNAME records: alias → target.
    pub(crate) cnames: HashMap<String, String>,
    /// Answer a CNAME'd name with the first CNAME only (a "dangling" chain the client must
    /// re-query) instead of the whole chain.
    pub(crate) cname_only: bool,
    /// Over UDP, answer with TC set and no records, forcing the client to TCP.
    pub(crate) truncate_udp: bool,
    /// Answer every query with SERVFAIL.
    pub(crate) servfail: bool,
    /// TXT records set at run time by another process (an ACME client's hook): a text file of
    /// `name value` lines, read on every query (a missing file holds no records).
    pub(crate) txt_file: Option<PathBuf>,
}

/// The `name value` lines of `path` as TXT records (names lower-cased, final dot dropped).
fn txt_from_file(path: &Path) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Some((name, value)) = line.trim().split_once(char::is_whitespace) {
            out.entry(name.trim_end_matches('.').to_ascii_lowercase())
                .or_default()
                .push(value.trim().to_owned());
        }
    }
    out
}

/// A running mock DNS server; `addr` serves both UDP and TCP.
pub(crate) struct MockDns {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    udp_count: Arc<AtomicUsize>,
    tcp_count: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl MockDns {
    /// Serves `records` (name → addresses), `default` for any other name, NXDOMAIN otherwise.
    pub(crate) fn start(records: HashMap<String, Vec<IpAddr>>, default: Option<IpAddr>) -> MockDns {
        MockDns::start_with(MockDnsConfig {
            addrs: records,
            default,
            ..MockDnsConfig::default()
        })
    }

    /// Serves `records` and TXT records `txt`.
    pub(crate) fn start_with_txt(
        records: HashMap<String, Vec<IpAddr>>,
        default: Option<IpAddr>,
        txt: HashMap<String, Vec<String>>,
    ) -> MockDns {
        MockDns::start_with(MockDnsConfig {
            addrs: records,
            default,
            txt,
            ..MockDnsConfig::default()
        })
    }

    /// Serves what `config` describes.
    pub(crate) fn start_with(config: MockDnsConfig) -> MockDns {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let config = Arc::new(config);
        let stop = Arc::new(AtomicBool::new(false));
        let udp_count = Arc::new(AtomicUsize::new(0));
        let tcp_count = Arc::new(AtomicUsize::new(0));

        udp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let udp_thread = {
            let (config, stop, count) = (config.clone(), stop.clone(), udp_count.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    if let Some(reply) = answer(&config, &buf[..n], true) {
                        let _ = udp.send_to(&reply, peer);
                    }
                }
            })
        };

        tcp.set_nonblocking(true).unwrap();
        let tcp_thread = {
            let (config, stop, count) = (config, stop.clone(), tcp_count.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((stream, _)) => {
                            let _ = serve_tcp(&config, stream, &count);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };

        MockDns {
            addr,
            stop,
            udp_count,
            tcp_count,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    /// Queries received over UDP so far.
    pub(crate) fn udp_queries(&self) -> usize {
        self.udp_count.load(Ordering::Relaxed)
    }

    /// Queries received over TCP so far.
    pub(crate) fn tcp_queries(&self) -> usize {
        self.tcp_count.load(Ordering::Relaxed)
    }
}

impl Drop for MockDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Answers the length-prefixed queries of one TCP connection (RFC 1035 §4.2.2).
fn serve_tcp(
    config: &MockDnsConfig,
    mut stream: TcpStream,
    count: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return Ok(());
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut query)?;
        count.fetch_add(1, Ordering::Relaxed);
        if let Some(reply) = answer(config, &query, false) {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            stream.write_all(&framed)?;
        }
    }
}

fn key(name: &Name) -> String {
    name.to_lowercase()
        .to_ascii()
        .trim_end_matches('.')
        .to_string()
}

fn name(key: &str) -> Name {
    let mut n = Name::from_ascii(key).unwrap();
    n.set_fqdn(true);
    n
}

/// The wire reply to `query`, or None when it is not a parsable query.
fn answer(config: &MockDnsConfig, query: &[u8], udp: bool) -> Option<Vec<u8>> {
    let query = Message::from_bytes(query).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(query.queries.iter().cloned());
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_bytes().ok();
    };
    if config.servfail {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_bytes().ok();
    }
    if udp && config.truncate_udp {
        reply.metadata.truncation = true;
        return reply.to_bytes().ok();
    }

    // Follow CNAMEs like a recursive server: the whole chain (each name once), or only the
    // first hop when `cname_only`.
    let mut current = key(q.name());
    let mut seen = HashSet::new();
    while let Some(target) = config.cnames.get(&current) {
        if !seen.insert(current.clone()) {
            break;
        }
        reply.add_answer(Record::from_rdata(
            name(&current),
            60,
            RData::CNAME(CNAME(name(target))),
        ));
        if config.cname_only {
            return reply.to_bytes().ok();
        }
        current = target.clone();
    }
    if config.cnames.contains_key(&current) {
        return reply.to_bytes().ok(); // a loop: the chain never ends in data
    }

    let runtime_txt = config
        .txt_file
        .as_deref()
        .map(txt_from_file)
        .unwrap_or_default();
    let known = config.addrs.contains_key(&current)
        || config.txt.contains_key(&current)
        || runtime_txt.contains_key(&current);
    let addrs: Vec<IpAddr> = match config.addrs.get(&current) {
        Some(list) => list.clone(),
        None if !known => config.default.into_iter().collect(),
        None => Vec::new(),
    };
    if !known && addrs.is_empty() {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply.to_bytes().ok();
    }
    let owner = name(&current);
    match q.query_type() {
        RecordType::A => {
            for ip in &addrs {
                if let IpAddr::V4(v4) = ip {
                    reply.add_answer(Record::from_rdata(owner.clone(), 60, RData::A(A(*v4))));
                }
            }
        }
        RecordType::AAAA => {
            for ip in &addrs {
                if let IpAddr::V6(v6) = ip {
                    reply.add_answer(Record::from_rdata(
                        owner.clone(),
                        60,
                        RData::AAAA(AAAA(*v6)),
                    ));
                }
            }
        }
        RecordType::TXT => {
            let values = config.txt.get(&current).into_iter().flatten();
            for s in values.chain(runtime_txt.get(&current).into_iter().flatten()) {
                // Split long values into 3-byte character-strings to exercise joining.
                let parts: Vec<&[u8]> = s.as_bytes().chunks(3).collect();
                reply.add_answer(Record::from_rdata(
                    owner.clone(),
                    60,
                    RData::TXT(TXT::from_bytes(parts)),
                ));
            }
        }
        _ => {}
    }
    reply.to_bytes().ok()
}
