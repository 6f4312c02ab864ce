//! Self-test of the integration tests' mock DNS server (`tests/support/dns.rs`): it answers a
//! raw hickory-proto query over UDP and TCP on one port, with A, AAAA, TXT and NXDOMAIN.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};

use support::dns::MockDns;

fn query(name: &str, rtype: RecordType, id: u16) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg.to_bytes().unwrap()
}

fn ask_udp(dns: &MockDns, name: &str, rtype: RecordType) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
        .send_to(&query(name, rtype, 0x1234), dns.addr)
        .unwrap();
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).unwrap();
    let reply = Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, 0x1234);
    reply
}

fn ask_tcp(dns: &MockDns, name: &str, rtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(dns.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let q = query(name, rtype, 0x4321);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    let reply = Message::from_bytes(&buf).unwrap();
    assert_eq!(reply.metadata.id, 0x4321);
    reply
}

fn addrs(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn mock_dns_answers_udp_and_tcp() {
    let v4: IpAddr = "127.0.0.1".parse().unwrap();
    let v6: IpAddr = "::1".parse().unwrap();
    let records = HashMap::from([("acme.test".to_string(), vec![v4, v6])]);
    let txt = HashMap::from([(
        "_acme-challenge.acme.test".to_string(),
        vec!["token-digest".to_string()],
    )]);
    let dns = MockDns::start_with_txt(records, None, txt);

    let reply = ask_udp(&dns, "acme.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addrs(&reply), vec![v4]);
    assert_eq!(
        addrs(&ask_tcp(&dns, "ACME.test.", RecordType::AAAA)),
        vec![v6]
    );

    let reply = ask_udp(&dns, "_acme-challenge.acme.test.", RecordType::TXT);
    let RData::TXT(txt) = &reply.answers[0].data else {
        panic!("not TXT")
    };
    let joined: Vec<u8> = txt
        .txt_data
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(joined, b"token-digest");

    let reply = ask_udp(&dns, "other.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(dns.udp_queries(), 3);
    assert_eq!(dns.tcp_queries(), 1);
}

#[test]
fn mock_dns_default_answers_any_name() {
    let dflt: IpAddr = "10.9.8.7".parse().unwrap();
    let dns = MockDns::start(HashMap::new(), Some(dflt));
    assert_eq!(
        addrs(&ask_udp(&dns, "whatever.example.", RecordType::A)),
        vec![dflt]
    );
    assert!(addrs(&ask_udp(&dns, "whatever.example.", RecordType::AAAA)).is_empty());
}
