//! A small stub resolver for challenge validation (RFC 1035 §4, §7; RFC 7766 for TCP).
//!
//! Owns the DNS client the validator uses to turn an identifier into addresses (http-01,
//! tls-alpn-01) and to read `_acme-challenge` TXT records (dns-01, RFC 8555 §8.4). It asks the
//! configured recursive servers directly: messages are built and parsed with hickory-proto's wire
//! format, and sent over `async-net` sockets, so a lookup never blocks the executor (security
//! catalog #45: no `getaddrinfo` on the single-threaded executor). UDP first, TCP when the reply
//! is truncated; one deadline per server; the next server on timeout, SERVFAIL or garbage.
//! Replies are matched on id *and* question (RFC 5452 §9.1) and a random source port is used
//! (RFC 5452 §9.2), CNAME chains are followed with a hard bound and the number of records
//! accepted from one reply is capped (catalog #44: CNAME loops, huge TXT sets).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_io::Timer;
use async_net::{TcpStream, UdpSocket};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use ring::rand::{SecureRandom, SystemRandom};

/// Most CNAME hops followed for one lookup, inside replies and across re-queries together.
pub(crate) const MAX_CNAME_HOPS: usize = 8;
/// Most answer records accepted in one reply; a bigger reply is an error, not a partial answer.
pub(crate) const MAX_ANSWER_RECORDS: usize = 64;
/// Receive buffer for UDP: RFC 1035 §4.2.1 limits UDP messages to 512 bytes without EDNS, which
/// we do not send; a server that ignores that still cannot overflow this buffer.
const UDP_BUFFER: usize = 4096;
/// Attempts at binding a random source port before letting the kernel choose one.
const PORT_ATTEMPTS: usize = 4;
/// Per-query deadline used by `from_resolv_conf` when the file has no `options timeout:`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a lookup failed. Every variant names the broken rule or the server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DnsError {
    /// The name is not a syntactically valid DNS name.
    InvalidName(String),
    /// RFC 1035 §4.1.1 RCODE 3: the name does not exist.
    NxDomain(String),
    /// The server answered with an error RCODE (SERVFAIL, REFUSED, ...).
    ServerFailure(String),
    /// No server answered before its deadline.
    Timeout,
    /// A socket error (connection refused, network unreachable, ...).
    Io(String),
    /// A reply that cannot be parsed or does not follow RFC 1035.
    Malformed(&'static str),
    /// More than [`MAX_CNAME_HOPS`] CNAMEs (or a CNAME loop).
    CnameChainTooLong(String),
    /// More than [`MAX_ANSWER_RECORDS`] answer records in one reply.
    TooManyRecords,
    /// The name exists but has no record of the asked type.
    NoData(String),
    /// The resolver has no server to ask.
    NoServers,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::InvalidName(n) => write!(f, "invalid DNS name {n:?}"),
            DnsError::NxDomain(n) => write!(f, "NXDOMAIN looking up {n}"),
            DnsError::ServerFailure(r) => write!(f, "DNS server error: {r}"),
            DnsError::Timeout => f.write_str("DNS query timed out"),
            DnsError::Io(e) => write!(f, "DNS transport error: {e}"),
            DnsError::Malformed(why) => write!(f, "malformed DNS reply: {why}"),
            DnsError::CnameChainTooLong(n) => {
                write!(f, "more than {MAX_CNAME_HOPS} CNAMEs (or a loop) for {n}")
            }
            DnsError::TooManyRecords => {
                write!(f, "DNS reply with more than {MAX_ANSWER_RECORDS} records")
            }
            DnsError::NoData(n) => write!(f, "no records of the asked type for {n}"),
            DnsError::NoServers => f.write_str("no DNS server configured"),
        }
    }
}

/// A stub resolver asking a fixed list of recursive servers, in order.
///
/// Invariant: `timeout` is the deadline of one query to one server (UDP and, on truncation, the
/// TCP retry together), so a lookup takes at most `servers.len() × timeout` per query.
#[derive(Clone, Debug)]
pub(crate) struct Resolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

/// Records of one (name, type) question after CNAMEs were followed.
struct Answer {
    /// The records of the asked type owned by the final name of the chain.
    records: Vec<RData>,
    /// Where the chain ended without data: a CNAME target the server did not resolve.
    dangling: Option<Name>,
}

impl Resolver {
    /// A resolver asking `servers` in order, each query bounded by `timeout`.
    pub(crate) fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Resolver {
        Resolver { servers, timeout }
    }

    /// The `nameserver` lines of `/etc/resolv.conf` (port 53) and its `options timeout:n`;
    /// 127.0.0.1:53 when the file is missing or names no server.
    ///
    /// Reads the file synchronously: call it at start-up, not on the executor's hot path.
    pub(crate) fn from_resolv_conf() -> Resolver {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let (mut servers, timeout) = parse_resolv_conf(&text);
        if servers.is_empty() {
            servers.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        Resolver::new(servers, timeout)
    }

    /// All IPv4 and IPv6 addresses of `name` (A and AAAA asked concurrently), CNAMEs followed.
    ///
    /// If one of the two queries fails and the other gives addresses, those are returned.
    pub(crate) async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let qname = parse_name(name)?;
        let (v4, v6) = futures_lite::future::zip(
            self.lookup(&qname, RecordType::A),
            self.lookup(&qname, RecordType::AAAA),
        )
        .await;
        let mut out = Vec::new();
        let mut first_err = None;
        for result in [v4, v6] {
            match result {
                Ok(records) => out.extend(records.iter().filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match (out.is_empty(), first_err) {
            (false, _) => Ok(out),
            (true, Some(e)) => Err(e),
            (true, None) => Err(DnsError::NoData(name.to_owned())),
        }
    }

    /// The TXT records of `name`, each record's character-strings joined (RFC 8555 §8.4 reads
    /// one value per record); non-UTF-8 bytes are replaced.
    pub(crate) async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let qname = parse_name(name)?;
        let records = self.lookup(&qname, RecordType::TXT).await?;
        let txts: Vec<String> = records
            .iter()
            .filter_map(|r| match r {
                RData::TXT(txt) => {
                    let joined: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect();
                    Some(String::from_utf8_lossy(&joined).into_owned())
                }
                _ => None,
            })
            .collect();
        if txts.is_empty() {
            return Err(DnsError::NoData(name.to_owned()));
        }
        Ok(txts)
    }

    /// Records of type `rtype` for `qname`, following CNAMEs in replies and re-querying a
    /// dangling one, at most [`MAX_CNAME_HOPS`] hops in total.
    async fn lookup(&self, qname: &Name, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let mut name = qname.clone();
        let mut hops = 0;
        loop {
            let reply = self.query(&name, rtype).await?;
            let answer = follow_cnames(&reply, &name, rtype, &mut hops)?;
            match answer.dangling {
                None => return Ok(answer.records),
                Some(target) => name = target,
            }
        }
    }

    /// One question, asked of each server in turn until one gives a usable reply.
    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Message, DnsError> {
        let mut last = DnsError::NoServers;
        for &server in &self.servers {
            let attempt = query_server(server, name, rtype);
            let deadline = async {
                Timer::after(self.timeout).await;
                Err(DnsError::Timeout)
            };
            match attempt.or(deadline).await {
                Ok(reply) => match reply.metadata.response_code {
                    ResponseCode::NoError => return Ok(reply),
                    ResponseCode::NXDomain => return Err(DnsError::NxDomain(display_name(name))),
                    other => last = DnsError::ServerFailure(other.to_string()),
                },
                Err(e) => last = e,
            }
            log::debug!("DNS {name} {rtype} via {server}: {last}");
        }
        Err(last)
    }
}

/// Servers and per-query timeout from resolv.conf text (resolv.conf(5)); unparsable lines
/// and scoped IPv6 addresses (`fe80::1%eth0`) are skipped.
pub(crate) fn parse_resolv_conf(text: &str) -> (Vec<SocketAddr>, Duration) {
    let mut servers = Vec::new();
    let mut timeout = DEFAULT_TIMEOUT;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    servers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("options") => {
                for opt in words {
                    if let Some(secs) = opt
                        .strip_prefix("timeout:")
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        // resolv.conf(5) caps the timeout at 30 s.
                        timeout = Duration::from_secs(secs.clamp(1, 30));
                    }
                }
            }
            _ => {}
        }
    }
    (servers, timeout)
}

/// An absolute, lower-cased DNS name from identifier text ("example.org" or "example.org.").
fn parse_name(name: &str) -> Result<Name, DnsError> {
    if name.is_empty() || !name.is_ascii() {
        return Err(DnsError::InvalidName(name.to_owned()));
    }
    let mut parsed = Name::from_ascii(name).map_err(|_| DnsError::InvalidName(name.to_owned()))?;
    parsed.set_fqdn(true);
    Ok(parsed.to_lowercase())
}

/// `name` without the trailing dot, for messages.
fn display_name(name: &Name) -> String {
    let mut s = name.to_ascii();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

/// Walks the answer section from `qname`: records of `rtype` owned by the current name end the
/// walk, a CNAME owned by it moves to its target (counted in `hops`).
fn follow_cnames(
    reply: &Message,
    qname: &Name,
    rtype: RecordType,
    hops: &mut usize,
) -> Result<Answer, DnsError> {
    let mut current = qname.clone();
    loop {
        let records: Vec<RData> = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype && r.name == current)
            .map(|r| r.data.clone())
            .collect();
        if !records.is_empty() {
            return Ok(Answer {
                records,
                dangling: None,
            });
        }
        let target = reply.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(cname) if r.name == current => Some(cname.0.to_lowercase()),
            _ => None,
        });
        let Some(target) = target else {
            // No data and no alias at the end of the chain: if we got here through a CNAME the
            // server left the chain dangling, so ask for its target; else the name has no data.
            return Ok(if &current == qname {
                Answer {
                    records,
                    dangling: None,
                }
            } else {
                Answer {
                    records,
                    dangling: Some(current),
                }
            });
        };
        *hops += 1;
        if *hops > MAX_CNAME_HOPS {
            return Err(DnsError::CnameChainTooLong(display_name(qname)));
        }
        current = target;
    }
}

/// A random 16-bit value from the system CSPRNG (RFC 5452 §9.2: ids and ports must be random).
fn random_u16() -> Result<u16, DnsError> {
    let mut b = [0u8; 2];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| DnsError::Io("system random generator failed".to_owned()))?;
    Ok(u16::from_be_bytes(b))
}

/// The query message for `name`/`rtype` with a fresh random id, recursion desired.
fn build_query(name: &Name, rtype: RecordType) -> Result<(u16, Vec<u8>), DnsError> {
    let id = random_u16()?;
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), rtype));
    let bytes = msg
        .to_bytes()
        .map_err(|_| DnsError::InvalidName(display_name(name)))?;
    Ok((id, bytes))
}

/// Parses a reply and checks it answers *our* question: RFC 5452 §9.1 — the id, the question
/// name, type and class must match, and it must be a response.
fn check_reply(bytes: &[u8], id: u16, name: &Name, rtype: RecordType) -> Result<Message, DnsError> {
    let reply = Message::from_bytes(bytes).map_err(|_| DnsError::Malformed("cannot decode"))?;
    if reply.metadata.id != id {
        return Err(DnsError::Malformed("reply id does not match the query"));
    }
    if reply.metadata.message_type != MessageType::Response {
        return Err(DnsError::Malformed("not a response"));
    }
    let matches = match reply.queries.as_slice() {
        [q] => {
            q.name() == name
                && q.query_type() == rtype
                && q.query_class() == hickory_proto::rr::DNSClass::IN
        }
        _ => false,
    };
    if !matches {
        return Err(DnsError::Malformed(
            "reply question does not match the query",
        ));
    }
    if reply.answers.len() > MAX_ANSWER_RECORDS {
        return Err(DnsError::TooManyRecords);
    }
    Ok(reply)
}

/// One question to one server: UDP, then TCP if the UDP reply has TC set (RFC 1035 §4.2.1,
/// RFC 7766 §5). The caller bounds the time taken.
async fn query_server(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DnsError> {
    let reply = query_udp(server, name, rtype).await?;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    query_tcp(server, name, rtype).await
}

/// A UDP socket on a random local port of the server's address family, connected to `server`
/// so the kernel drops datagrams from any other source.
async fn bind_udp(server: SocketAddr) -> Result<UdpSocket, DnsError> {
    let any = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut socket = None;
    for _ in 0..PORT_ATTEMPTS {
        let port = 1024 + random_u16()? % (u16::MAX - 1024);
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(any, port)).await {
            socket = Some(s);
            break;
        }
    }
    let socket = match socket {
        Some(s) => s,
        // Port collisions every time: the kernel's ephemeral choice is randomised too.
        None => UdpSocket::bind(SocketAddr::new(any, 0))
            .await
            .map_err(io_err)?,
    };
    socket.connect(server).await.map_err(io_err)?;
    Ok(socket)
}

async fn query_udp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DnsError> {
    let socket = bind_udp(server).await?;
    let (id, query) = build_query(name, rtype)?;
    socket.send(&query).await.map_err(io_err)?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let n = socket.recv(&mut buf).await.map_err(io_err)?;
        // A datagram that is not the answer to our question (forged or stale) is dropped and
        // we keep waiting; the caller's deadline bounds the wait.
        match check_reply(buf.get(..n).unwrap_or_default(), id, name, rtype) {
            Ok(reply) => return Ok(reply),
            Err(e) => log::debug!("DNS: ignored a datagram from {server}: {e}"),
        }
    }
}

async fn query_tcp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DnsError> {
    let mut stream = TcpStream::connect(server).await.map_err(io_err)?;
    let (id, query) = build_query(name, rtype)?;
    // RFC 1035 §4.2.2: the message is prefixed with a two byte length field.
    let len = u16::try_from(query.len()).map_err(|_| DnsError::InvalidName(display_name(name)))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&query);
    stream.write_all(&framed).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;
    let mut len_buf = [0u8; 2];
    stream.read_exact(&mut len_buf).await.map_err(io_err)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
    stream.read_exact(&mut reply).await.map_err(io_err)?;
    check_reply(&reply, id, name, rtype)
}

fn io_err(e: std::io::Error) -> DnsError {
    DnsError::Io(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::net::UdpSocket as StdUdpSocket;
    use std::time::Instant;

    use super::*;

    use crate::validate::mock_dns as mock;
    use mock::{MockDns, MockDnsConfig};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolver(servers: &[SocketAddr]) -> Resolver {
        Resolver::new(servers.to_vec(), Duration::from_secs(2))
    }

    fn config() -> MockDnsConfig {
        let mut c = MockDnsConfig::default();
        c.addrs
            .insert("host.test".into(), vec![ip("10.0.0.7"), ip("fd00::7")]);
        c.addrs
            .insert("v4only.test".into(), vec![ip("192.168.1.2")]);
        c.cnames.insert("www.test".into(), "alias.test".into());
        c.cnames.insert("alias.test".into(), "host.test".into());
        c.cnames.insert("loop-a.test".into(), "loop-b.test".into());
        c.cnames.insert("loop-b.test".into(), "loop-a.test".into());
        c.txt.insert(
            "_acme-challenge.host.test".into(),
            vec!["abcdefgh".into(), "xyz".into()],
        );
        c
    }

    // RFC 1035 §3.4.1 / RFC 3596 §2.1: A and AAAA, asked together, both returned.
    #[test]
    fn lookup_ip_returns_a_and_aaaa() {
        let dns = MockDns::start_with(config());
        let r = resolver(&[dns.addr]);
        let mut got = smol::block_on(r.lookup_ip("host.test")).unwrap();
        got.sort();
        assert_eq!(got, vec![ip("10.0.0.7"), ip("fd00::7")]);
        // Case and the trailing dot do not matter.
        let got = smol::block_on(r.lookup_ip("V4ONLY.Test.")).unwrap();
        assert_eq!(got, vec![ip("192.168.1.2")]);
    }

    // RFC 1034 §3.6.2: a CNAME chain inside one reply is followed to its data.
    #[test]
    fn cname_chain_in_reply_is_followed() {
        let dns = MockDns::start_with(config());
        let got = smol::block_on(resolver(&[dns.addr]).lookup_ip("www.test")).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.contains(&ip("10.0.0.7")));
    }

    // RFC 1034 §5.3.3 step 3.c: a dangling CNAME is re-queried at its target.
    #[test]
    fn dangling_cname_is_requeried() {
        let mut c = config();
        c.cname_only = true;
        let dns = MockDns::start_with(c);
        let got = smol::block_on(resolver(&[dns.addr]).lookup_ip("www.test")).unwrap();
        assert!(got.contains(&ip("fd00::7")));
    }

    // Security catalog #44: a CNAME loop ends with an error, within a reply and across queries.
    #[test]
    fn cname_loop_is_bounded() {
        let dns = MockDns::start_with(config());
        let err = smol::block_on(resolver(&[dns.addr]).lookup_ip("loop-a.test")).unwrap_err();
        assert!(matches!(err, DnsError::CnameChainTooLong(_)), "{err}");

        let mut c = config();
        c.cname_only = true;
        let dns = MockDns::start_with(c);
        let before = dns.udp_queries();
        let err = smol::block_on(resolver(&[dns.addr]).lookup_txt("loop-a.test")).unwrap_err();
        assert!(matches!(err, DnsError::CnameChainTooLong(_)), "{err}");
        assert!(dns.udp_queries() - before <= MAX_CNAME_HOPS + 1);
    }

    // RFC 1035 §4.1.1 RCODE 3 → NxDomain (a `dns` problem for the challenge).
    #[test]
    fn nxdomain() {
        let dns = MockDns::start_with(config());
        let err = smol::block_on(resolver(&[dns.addr]).lookup_ip("missing.test")).unwrap_err();
        assert_eq!(err, DnsError::NxDomain("missing.test".into()));
    }

    // A name with an A record but no TXT: NoData, not NXDOMAIN.
    #[test]
    fn nodata() {
        let dns = MockDns::start_with(config());
        let err = smol::block_on(resolver(&[dns.addr]).lookup_txt("host.test")).unwrap_err();
        assert_eq!(err, DnsError::NoData("host.test".into()));
    }

    // RFC 8555 §8.4: one value per TXT record, character-strings joined.
    #[test]
    fn lookup_txt_joins_strings() {
        let dns = MockDns::start_with(config());
        let got =
            smol::block_on(resolver(&[dns.addr]).lookup_txt("_acme-challenge.host.test")).unwrap();
        // The mock splits each value into 3-byte character-strings.
        assert_eq!(got, vec!["abcdefgh".to_string(), "xyz".to_string()]);
    }

    // RFC 1035 §4.2.1 / RFC 7766 §5: a truncated UDP reply is retried over TCP.
    #[test]
    fn truncated_reply_falls_back_to_tcp() {
        let mut c = config();
        c.truncate_udp = true;
        let dns = MockDns::start_with(c);
        let got = smol::block_on(resolver(&[dns.addr]).lookup_ip("v4only.test")).unwrap();
        assert_eq!(got, vec![ip("192.168.1.2")]);
        assert!(dns.tcp_queries() >= 2, "A and AAAA both went over TCP");
    }

    // Security catalog #44: a huge record set is refused, not partly used.
    #[test]
    fn too_many_records_rejected() {
        let mut c = config();
        let many = (0..=MAX_ANSWER_RECORDS).map(|i| format!("v{i}")).collect();
        c.txt.insert("big.test".into(), many);
        c.truncate_udp = true; // the reply does not fit in 512 bytes anyway
        let dns = MockDns::start_with(c);
        let err = smol::block_on(resolver(&[dns.addr]).lookup_txt("big.test")).unwrap_err();
        assert_eq!(err, DnsError::TooManyRecords);
    }

    // Security catalog #44/#45: a server that never answers costs one timeout, then the next
    // server is asked.
    #[test]
    fn timeout_then_next_server() {
        let silent = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let r = Resolver::new(vec![silent_addr], Duration::from_millis(300));
        let start = Instant::now();
        let err = smol::block_on(r.lookup_ip("host.test")).unwrap_err();
        assert_eq!(err, DnsError::Timeout);
        assert!(start.elapsed() < Duration::from_secs(2));

        let dns = MockDns::start_with(config());
        let r = Resolver::new(vec![silent_addr, dns.addr], Duration::from_millis(300));
        let got = smol::block_on(r.lookup_ip("v4only.test")).unwrap();
        assert_eq!(got, vec![ip("192.168.1.2")]);
    }

    // RFC 1035 §4.1.1 RCODE 2: SERVFAIL moves on to the next server.
    #[test]
    fn servfail_then_next_server() {
        let mut c = config();
        c.servfail = true;
        let bad = MockDns::start_with(c);
        let good = MockDns::start_with(config());
        let err = smol::block_on(resolver(&[bad.addr]).lookup_ip("host.test")).unwrap_err();
        assert!(matches!(err, DnsError::ServerFailure(_)), "{err}");
        let got =
            smol::block_on(resolver(&[bad.addr, good.addr]).lookup_ip("v4only.test")).unwrap();
        assert_eq!(got, vec![ip("192.168.1.2")]);
    }

    // RFC 5452 §9.1: a reply whose id or question does not match is not accepted.
    #[test]
    fn reply_must_match_id_and_question() {
        let name = parse_name("host.test").unwrap();
        let mut reply = Message::new(7, MessageType::Response, OpCode::Query);
        reply.add_query(Query::query(name.clone(), RecordType::A));
        let bytes = reply.to_bytes().unwrap();
        assert!(check_reply(&bytes, 7, &name, RecordType::A).is_ok());
        assert!(check_reply(&bytes, 8, &name, RecordType::A).is_err());
        assert!(check_reply(&bytes, 7, &name, RecordType::AAAA).is_err());
        let other = parse_name("other.test").unwrap();
        assert!(check_reply(&bytes, 7, &other, RecordType::A).is_err());
        let mut query = Message::new(7, MessageType::Query, OpCode::Query);
        query.add_query(Query::query(name.clone(), RecordType::A));
        assert!(check_reply(&query.to_bytes().unwrap(), 7, &name, RecordType::A).is_err());
        assert!(check_reply(b"\x00\x07garbage", 7, &name, RecordType::A).is_err());
    }

    // The mock's default address answers any name (used by integration tests).
    #[test]
    fn mock_default_address() {
        let dns = MockDns::start(HashMap::new(), Some(ip("10.1.2.3")));
        let got = smol::block_on(resolver(&[dns.addr]).lookup_ip("anything.test")).unwrap();
        assert_eq!(got, vec![ip("10.1.2.3")]);
    }

    #[test]
    fn invalid_names_rejected() {
        let r = resolver(&[]);
        for bad in ["", "exa mple.test", "ünï.test", "a..b"] {
            assert!(
                matches!(
                    smol::block_on(r.lookup_ip(bad)),
                    Err(DnsError::InvalidName(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            smol::block_on(r.lookup_ip("ok.test")),
            Err(DnsError::NoServers)
        );
    }

    // resolv.conf(5): nameserver lines, options timeout, comments ignored.
    #[test]
    fn resolv_conf_parsing() {
        let text = "# comment\nsearch lan\nnameserver 10.0.0.1\nnameserver ::1\nnameserver fe80::1%eth0\n\
                    nameserver bogus\noptions ndots:2 timeout:2 attempts:3\n";
        let (servers, timeout) = parse_resolv_conf(text);
        assert_eq!(
            servers,
            vec!["10.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
        assert_eq!(timeout, Duration::from_secs(2));
        assert_eq!(parse_resolv_conf("").1, DEFAULT_TIMEOUT);
    }
}
