// TEMPORARY: replaced by crate::http::client at merge.
//
// Swap in http01.rs: `use super::http_stub::{ClientError, ClientResponse, fetch};`
//              → `use crate::http::client::{ClientError, ClientResponse, get as fetch};`
// then delete this file and its `mod http_stub;` line in mod.rs.
//! Minimal stand-in for `http::client::get` (same signature and types), so http-01 can be
//! built and tested before the http module lands: one GET, `Connection: close`, the response
//! head parsed with httparse, the body read by Content-Length or to close (no chunked).

use std::fmt;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response head accepted.
const MAX_HEAD: usize = 8 * 1024;

pub(crate) struct ClientResponse {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum ClientError {
    Io(std::io::Error),
    BadResponse(&'static str),
    BodyTooLarge,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::BadResponse(w) => write!(f, "malformed HTTP response: {w}"),
            ClientError::BodyTooLarge => f.write_str("response body too large"),
        }
    }
}

pub(crate) async fn fetch<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    max_body: usize,
) -> Result<ClientResponse, ClientError> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: upki-ra\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(ClientError::Io)?;
    stream.flush().await.map_err(ClientError::Io)?;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
        if n == 0 {
            return Err(ClientError::BadResponse("connection closed in the head"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = resp.code.ok_or(ClientError::BadResponse("no status"))?;
                let mut location = None;
                let mut content_length = None;
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("location") {
                        location = std::str::from_utf8(h.value).ok().map(str::to_owned);
                    } else if h.name.eq_ignore_ascii_case("content-length") {
                        content_length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err(ClientError::BadResponse(
                            "chunked not supported by the stub",
                        ));
                    }
                }
                let mut body = buf.get(head_len..).unwrap_or_default().to_vec();
                if content_length.is_some_and(|cl| cl > max_body) {
                    return Err(ClientError::BodyTooLarge);
                }
                let want = content_length.unwrap_or(usize::MAX);
                while body.len() < want && body.len() <= max_body {
                    let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
                if body.len() > max_body {
                    return Err(ClientError::BodyTooLarge);
                }
                body.truncate(want);
                return Ok(ClientResponse {
                    status,
                    location,
                    body,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(ClientError::BadResponse("head too large"));
            }
            Err(_) => return Err(ClientError::BadResponse("unparsable head")),
        }
    }
}
