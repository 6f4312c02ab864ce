//! What the server under test dials to validate: an http-01 responder (RFC 8555 §8.3) serving
//! the key authorizations the workers publish, and a DNS responder (RFC 1035) answering
//! `127.0.0.1` to every A query and an empty NOERROR to anything else, so every generated name
//! resolves to the loopback responder. Both run on the generator's executor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use smol::LocalExecutor;
use smol::net::{TcpListener, TcpStream, UdpSocket};

/// Token → key authorization, shared by the workers (writers) and the responder (reader).
pub(crate) type Tokens = Rc<RefCell<HashMap<String, String>>>;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// Accepts connections forever, one task per connection.
pub(crate) async fn serve_http01(
    listener: TcpListener,
    tokens: Tokens,
    ex: Rc<LocalExecutor<'static>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let tokens = tokens.clone();
                ex.spawn(async move {
                    let _ = answer_http01(stream, &tokens).await;
                })
                .detach();
            }
            Err(e) => {
                eprintln!("upki-loadgen: http-01 accept: {e}");
                smol::Timer::after(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads one request head and answers it; the connection is then closed.
async fn answer_http01(mut stream: TcpStream, tokens: &Tokens) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let path = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => break req.path.unwrap_or("").to_owned(),
            Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => {}
            _ => return Ok(()),
        }
    };
    let answer = path
        .strip_prefix(PREFIX)
        .and_then(|token| tokens.borrow().get(token).cloned());
    let reply = match answer {
        Some(key_auth) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{key_auth}",
            key_auth.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
    };
    stream.write_all(reply.as_bytes()).await?;
    stream.flush().await
}

/// Answers DNS queries over UDP forever.
pub(crate) async fn serve_dns(socket: UdpSocket) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = dns_answer(buf.get(..n).unwrap_or_default()) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The reply to one query: A → 127.0.0.1 for any name; other types → NOERROR, no records.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_bytes(query).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(query.queries.iter().cloned());
    match query.queries.first() {
        None => reply.metadata.response_code = ResponseCode::FormErr,
        Some(q) if q.query_type() == RecordType::A => {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
        Some(_) => {}
    }
    reply.to_bytes().ok()
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    use super::*;

    fn query(rtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.add_query(Query::query(
            Name::from_ascii("w1-2.loadgen.test.").unwrap(),
            rtype,
        ));
        m.to_bytes().unwrap()
    }

    /// RFC 1035 §4.1.1: the reply carries the query id and question; A → loopback.
    #[test]
    fn rfc1035_a_is_loopback_aaaa_is_empty() {
        let a = Message::from_bytes(&dns_answer(&query(RecordType::A)).unwrap()).unwrap();
        assert_eq!(a.metadata.id, 4242);
        assert_eq!(a.metadata.message_type, MessageType::Response);
        assert_eq!(a.queries.len(), 1);
        match a.answers.first().map(|r| &r.data) {
            Some(RData::A(A(ip))) => assert_eq!(*ip, Ipv4Addr::LOCALHOST),
            other => panic!("answer {other:?}"),
        }
        let aaaa = Message::from_bytes(&dns_answer(&query(RecordType::AAAA)).unwrap()).unwrap();
        assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
        assert!(aaaa.answers.is_empty());
        assert!(dns_answer(b"\x00\x01junk").is_none());
    }

    /// RFC 8555 §8.3: the published key authorization is served at the token's path; an
    /// unknown token is a 404.
    #[test]
    fn rfc8555_8_3_serves_key_authorization() {
        let ex = Rc::new(LocalExecutor::new());
        let tokens: Tokens = Rc::default();
        tokens.borrow_mut().insert("tok".into(), "tok.thumb".into());
        smol::block_on(ex.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            ex.spawn(serve_http01(listener, tokens.clone(), ex.clone()))
                .detach();
            for (path, want) in [
                ("/.well-known/acme-challenge/tok", "200 OK"),
                ("/.well-known/acme-challenge/nope", "404"),
            ] {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                assert!(out.contains(want), "{out}");
                if want == "200 OK" {
                    assert!(out.ends_with("\r\n\r\ntok.thumb"), "{out}");
                }
            }
        }));
    }
}
