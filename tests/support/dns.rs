//! Minimal mock DNS server for the integration tests (RFC 1035 over UDP and TCP on 127.0.0.1):
//! answers A/AAAA queries from a fixed map (`records`, names compared case-insensitively, no
//! trailing dot), else with `default` (A or AAAA by address family), else NXDOMAIN.
//! Placeholder for the shared helper of the same API; the lead keeps one of the two.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

/// A running mock DNS server; its threads stop on drop.
pub(crate) struct MockDns {
    /// UDP and TCP listen on this same address.
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

/// The zone: exact names and an optional catch-all address.
struct Zone {
    records: HashMap<String, Vec<IpAddr>>,
    default: Option<IpAddr>,
}

impl MockDns {
    pub(crate) fn start(records: HashMap<String, Vec<IpAddr>>, default: Option<IpAddr>) -> MockDns {
        let records = records
            .into_iter()
            .map(|(k, v)| (k.trim_end_matches('.').to_ascii_lowercase(), v))
            .collect();
        let zone = Arc::new(Zone { records, default });
        // Find a port free for both UDP and TCP.
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let port = udp.local_addr().ok()?.port();
                let tcp = TcpListener::bind(("127.0.0.1", port)).ok()?;
                Some((udp, tcp))
            })
            .expect("no port free for both UDP and TCP on 127.0.0.1");
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        udp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        {
            let (zone, stop) = (zone.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Some(reply) = answer(&zone, &buf[..n]) {
                        let _ = udp.send_to(&reply, peer);
                    }
                }
            });
        }
        {
            let (zone, stop) = (zone.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in tcp.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let zone = zone.clone();
                        std::thread::spawn(move || serve_tcp(&zone, conn));
                    }
                }
            });
        }
        MockDns { addr, stop }
    }
}

impl Drop for MockDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// RFC 1035 §4.2.2: each TCP message is preceded by a two-byte length.
fn serve_tcp(zone: &Zone, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut msg).is_err() {
            return;
        }
        let Some(reply) = answer(zone, &msg) else {
            return;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        if conn.write_all(&n.to_be_bytes()).is_err() || conn.write_all(&reply).is_err() {
            return;
        }
    }
}

fn answer(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    for q in &query.queries {
        reply.add_query(q.clone());
        let name = q.name().to_ascii();
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let ips = match zone.records.get(&key) {
            Some(ips) => ips.clone(),
            None => match zone.default {
                Some(ip) => vec![ip],
                None => {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                    continue;
                }
            },
        };
        for ip in ips {
            let rdata = match (q.query_type(), ip) {
                (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
                (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                _ => continue,
            };
            reply.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
        }
    }
    reply.to_vec().ok()
}
