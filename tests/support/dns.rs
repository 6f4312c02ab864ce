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

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn query(name: &str, rtype: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        q
    }

    fn addrs(m: &Message) -> Vec<IpAddr> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    }

    /// RFC 1035 §4.2.1 (UDP) and §4.2.2 (TCP, length-prefixed): both transports answer from
    /// the same zone; unknown names fall back to the default, case does not matter.
    #[test]
    fn answers_over_udp_and_tcp() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let dns = MockDns::start(
            HashMap::from([("app.example.test".to_owned(), vec![v4, v6])]),
            Some("127.0.0.1".parse().unwrap()),
        );
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let ask_udp = |name: &str, t: RecordType| {
            let q = query(name, t);
            udp.send_to(&q.to_vec().unwrap(), dns.addr).unwrap();
            let mut buf = [0u8; 4096];
            let n = udp.recv(&mut buf).unwrap();
            let reply = Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(reply.metadata.id, q.metadata.id);
            addrs(&reply)
        };
        assert_eq!(ask_udp("APP.example.test.", RecordType::A), vec![v4]);
        assert_eq!(ask_udp("app.example.test.", RecordType::AAAA), vec![v6]);
        assert_eq!(
            ask_udp("other.example.test.", RecordType::A),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );

        let mut tcp = TcpStream::connect(dns.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = query("app.example.test.", RecordType::A).to_vec().unwrap();
        tcp.write_all(&u16::try_from(q.len()).unwrap().to_be_bytes())
            .unwrap();
        tcp.write_all(&q).unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut reply).unwrap();
        assert_eq!(addrs(&Message::from_vec(&reply).unwrap()), vec![v4]);
    }

    /// Without a default, an unknown name is NXDOMAIN (RFC 1035 §4.1.1 RCODE 3).
    #[test]
    fn unknown_name_without_default_is_nxdomain() {
        let dns = MockDns::start(HashMap::new(), None);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        udp.send_to(
            &query("nope.example.test.", RecordType::A).to_vec().unwrap(),
            dns.addr,
        )
        .unwrap();
        let mut buf = [0u8; 4096];
        let n = udp.recv(&mut buf).unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(reply.answers.is_empty());
    }
}
