//! The server's control socket, `<data_dir>/control.sock`, and `upki-ra admin revoke`.
//!
//! Only the running server holds the link to the CA (the embedded CA listens on ZMQ inproc),
//! so an operator revocation is a request to the server: one JSON line in, one JSON line out,
//! over a Unix stream socket. Who may ask is decided by the file system: the socket lives in
//! the 0700 state directory and is itself 0600, so only the service user and root reach it.
//!
//! The revocation follows the same rule as RFC 8555 §7.6 in `acme/revoke.rs`: the CA revokes
//! first, and the RA marks its record only after the CA confirmed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_net::unix::UnixListener;
use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, FutureExt};
use serde::{Deserialize, Serialize};

use super::{Common, Failure, failure, usage};
use crate::ca::{CaClient, RevocationReason};
use crate::pki;
use crate::store::Store;
use crate::store::records::Revocation;

/// Name of the socket inside `data_dir`.
const SOCKET: &str = "control.sock";
/// Longest request line accepted.
const MAX_LINE: u64 = 4096;
/// Time a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket path for a data directory.
pub(crate) fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}

/// One control request.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum ControlRequest {
    /// Revoke the certificate with this decimal serial (RFC 5280 §5.3.1 reason code).
    Revoke { serial: String, reason: u8 },
}

/// The answer: `ok`, or the reason it failed.
#[derive(Debug, Deserialize, Serialize)]
struct ControlReply {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// What the control socket acts on.
pub(crate) struct Control {
    pub(crate) ca: CaClient,
    pub(crate) store: Store,
}

/// Binds `<data_dir>/control.sock` (a stale file from a previous run is removed first), mode
/// 0600.
pub(crate) fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the control socket until the listener fails; one request per connection, handled
/// one after another (operator actions are rare; serialising them keeps them simple).
pub(crate) async fn serve(listener: UnixListener, control: Arc<Control>) {
    loop {
        let mut stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                async_io::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut line = String::new();
        let read = futures_lite::io::BufReader::new((&mut stream).take(MAX_LINE))
            .read_line(&mut line)
            .or(async {
                async_io::Timer::after(READ_TIMEOUT).await;
                Err(std::io::ErrorKind::TimedOut.into())
            })
            .await;
        let reply = match read {
            Err(e) => ControlReply::err(format!("cannot read the request: {e}")),
            Ok(_) => match serde_json::from_str::<ControlRequest>(line.trim_end()) {
                Err(e) => ControlReply::err(format!("bad request: {e}")),
                Ok(req) => control.handle(req).await,
            },
        };
        let mut out = serde_json::to_string(&reply).unwrap_or_default();
        out.push('\n');
        let _ = stream.write_all(out.as_bytes()).await;
    }
}

impl ControlReply {
    fn err(e: impl Into<String>) -> ControlReply {
        ControlReply {
            ok: false,
            error: Some(e.into()),
            message: None,
        }
    }
}

impl Control {
    async fn handle(&self, req: ControlRequest) -> ControlReply {
        match req {
            ControlRequest::Revoke { serial, reason } => match self.revoke(&serial, reason).await {
                Ok(msg) => {
                    log::warn!("operator: {msg}");
                    ControlReply {
                        ok: true,
                        error: None,
                        message: Some(msg),
                    }
                }
                Err(e) => {
                    log::warn!("operator revocation of serial {serial} failed: {e}");
                    ControlReply::err(e)
                }
            },
        }
    }

    async fn revoke(&self, serial: &str, code: u8) -> Result<String, String> {
        let reason = RevocationReason::from_code(code)
            .ok_or_else(|| format!("{code} is not an RFC 5280 reason code"))?;
        let cert = self
            .store
            .read(|r| r.cert_by_serial(serial))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no certificate with serial {serial}"))?;
        if cert.revoked.is_some() {
            return Err(format!("serial {serial} is already revoked"));
        }
        let leaf = pki::pem_to_ders(&cert.chain_pem)
            .ok()
            .and_then(|d| d.into_iter().next())
            .ok_or("the stored certificate is not PEM")?;
        let info = pki::cert_info(&leaf).map_err(|e| format!("stored certificate: {e}"))?;
        // The uPKI CA revokes by subject CN; its certificates carry the first name as CN
        // (as in acme/revoke.rs).
        let cn = info
            .dns_names
            .first()
            .cloned()
            .or_else(|| info.ip_addrs.first().map(ToString::to_string))
            .ok_or("the certificate has no names")?;
        self.ca
            .revoke(&cn, reason)
            .await
            .map_err(|e| format!("the CA refused: {e}"))?;
        let id = cert.id.clone();
        self.store
            .write(move |w| {
                if let Some(mut c) = w.cert(&id)?
                    && c.revoked.is_none()
                {
                    c.revoked = Some(Revocation {
                        reason: code,
                        at: crate::acme::now(),
                    });
                    w.put_cert(&c)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| format!("revoked by the CA, but the store update failed: {e}"))?;
        Ok(format!(
            "certificate serial {serial} ({cn}) revoked, reason {}",
            reason.name()
        ))
    }
}

/// `upki-ra admin revoke --serial S [--reason R]`
pub(super) fn revoke_command(c: &Common, args: &[&str]) -> Result<(), Failure> {
    let mut serial = None;
    let mut reason = RevocationReason::Unspecified;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))?;
        match *flag {
            "--serial" => serial = Some((*value).to_owned()),
            "--reason" => {
                reason = value
                    .parse::<u8>()
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .or_else(|| RevocationReason::from_name(value))
                    .ok_or_else(|| {
                        usage(format!(
                            "--reason {value:?}: not an RFC 5280 reason (e.g. keyCompromise, superseded, cessationOfOperation, or its code)"
                        ))
                    })?;
            }
            other => return Err(usage(format!("unknown option {other:?}"))),
        }
    }
    let serial =
        serial.ok_or_else(|| usage("usage: upki-ra admin revoke --serial S [--reason R]"))?;
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage(
            "--serial: a decimal serial, as `admin certs list` shows it",
        ));
    }
    let request = ControlRequest::Revoke {
        serial,
        reason: reason.code(),
    };
    let reply = ask(&socket_path(&c.config.server.data_dir), &request)?;
    if c.json {
        println!("{}", serde_json::to_string(&reply).unwrap_or_default());
    }
    match (reply.ok, reply.message, reply.error) {
        (true, msg, _) => {
            if !c.json {
                println!("{}", msg.unwrap_or_else(|| "revoked".into()));
            }
            Ok(())
        }
        (false, _, e) => Err(failure(e.unwrap_or_else(|| "refused".into()))),
    }
}

/// Sends one request to the server's control socket and reads its reply.
fn ask(path: &Path, request: &ControlRequest) -> Result<ControlReply, Failure> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        failure(format!(
            "cannot reach the server's control socket {}: {e} (is `upki-ra serve` running with \
             this data_dir, and are you root or the service user?)",
            path.display()
        ))
    })?;
    // The CA call inside is bounded by ca.timeout_secs; leave room for the store commit.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut line = serde_json::to_string(request).map_err(|e| failure(e.to_string()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| failure(format!("control socket: {e}")))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| failure(format!("control socket: {e}")))?;
    serde_json::from_str(answer.trim_end())
        .map_err(|e| failure(format!("control socket: unreadable answer: {e}")))
}
