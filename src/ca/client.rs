//! The RA side of the uPKI link: a ZMQ REQ socket owned by one dedicated thread, fed through an
//! `async_channel`, so the smol executor never blocks on ZMQ (security catalog #56).
//!
//! REQ/REP is lockstep: after a send or receive timeout the REQ socket cannot send again, so the
//! thread closes it (linger 0) and opens a new one for the next request. A late reply to the
//! abandoned request arrives on the closed socket and is discarded with it.

use std::thread;
use std::time::Duration;

use base64::Engine as _;
use serde_json::value::RawValue;

use crate::ca::proto::{self, CaError, RevocationReason, Signed};

/// Bound of the request queue; callers wait (asynchronously) when it is full.
const QUEUE: usize = 64;

struct Job {
    frame: String,
    reply: async_channel::Sender<Result<Vec<u8>, CaError>>,
}

/// Handle to the CA client thread; cheap to clone. The thread ends when the last clone drops.
#[derive(Clone)]
pub(crate) struct CaClient {
    jobs: async_channel::Sender<Job>,
}

impl std::fmt::Debug for CaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaClient").finish_non_exhaustive()
    }
}

fn transport(e: zmq::Error) -> CaError {
    CaError::Transport(e.to_string())
}

fn open(ctx: &zmq::Context, endpoint: &str, timeout: Duration) -> Result<zmq::Socket, CaError> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let s = ctx.socket(zmq::REQ).map_err(transport)?;
    s.set_linger(0).map_err(transport)?;
    s.set_sndtimeo(ms).map_err(transport)?;
    s.set_rcvtimeo(ms).map_err(transport)?;
    s.connect(endpoint).map_err(transport)?;
    Ok(s)
}

/// One request/reply on `s`; any error leaves the socket unusable (the caller drops it).
fn exchange(s: &zmq::Socket, frame: &str) -> Result<Vec<u8>, CaError> {
    match s.send(frame.as_bytes(), 0) {
        Ok(()) => {}
        Err(zmq::Error::EAGAIN) => return Err(CaError::Timeout),
        Err(e) => return Err(transport(e)),
    }
    let reply = match s.recv_bytes(0) {
        Ok(b) => b,
        Err(zmq::Error::EAGAIN) => return Err(CaError::Timeout),
        Err(e) => return Err(transport(e)),
    };
    if s.get_rcvmore().map_err(transport)? {
        return Err(CaError::BadReply("multipart reply".to_owned()));
    }
    Ok(reply)
}

fn run(ctx: zmq::Context, endpoint: String, timeout: Duration, jobs: async_channel::Receiver<Job>) {
    let mut socket: Option<zmq::Socket> = None;
    while let Ok(job) = jobs.recv_blocking() {
        if job.reply.is_closed() {
            continue; // the caller gave up before we started
        }
        let s = match socket.take() {
            Some(s) => s,
            None => match open(&ctx, &endpoint, timeout) {
                Ok(s) => s,
                Err(e) => {
                    let _ = job.reply.try_send(Err(e));
                    continue;
                }
            },
        };
        let result = exchange(&s, &job.frame);
        match &result {
            Ok(_) => socket = Some(s),
            Err(e) => {
                log::warn!("CA request to {endpoint} failed: {e}; reconnecting");
                drop(s); // linger 0: closed at once, a late reply is discarded
            }
        }
        let _ = job.reply.try_send(result);
    }
}

impl CaClient {
    /// Spawns the REQ thread for `endpoint` (`tcp://…`, `ipc://…`, `inproc://…` — inproc needs
    /// the server's `ctx`). `timeout` bounds each send and each receive.
    pub(crate) fn connect(ctx: zmq::Context, endpoint: &str, timeout: Duration) -> CaClient {
        let (tx, rx) = async_channel::bounded(QUEUE);
        let endpoint = endpoint.to_owned();
        let spawned = thread::Builder::new()
            .name("upki-ca-client".to_owned())
            .spawn(move || run(ctx, endpoint, timeout, rx));
        if let Err(e) = spawned {
            // Every call will report the dead thread as a transport error.
            log::error!("cannot start the CA client thread: {e}");
        }
        CaClient { jobs: tx }
    }

    /// One task; the `DATA` as raw JSON (big integers intact).
    pub(crate) async fn call_raw(
        &self,
        task: &str,
        params: serde_json::Value,
    ) -> Result<Box<RawValue>, CaError> {
        self.call(task, params).await
    }

    async fn call(&self, task: &str, params: serde_json::Value) -> Result<Box<RawValue>, CaError> {
        let (tx, rx) = async_channel::bounded(1);
        let job = Job {
            frame: proto::request(task, &params),
            reply: tx,
        };
        let gone = || CaError::Transport("CA client thread stopped".to_owned());
        let started = std::time::Instant::now();
        self.jobs.send(job).await.map_err(|_| gone())?;
        let frame = rx.recv().await.map_err(|_| gone())??;
        crate::metrics::ca_round_trip(started.elapsed());
        proto::parse_reply(&frame)
    }

    /// `sign`: the leaf PEM and its exact decimal serial.
    pub(crate) async fn sign(&self, csr_pem: &str, profile: &str) -> Result<Signed, CaError> {
        let data = self
            .call(
                "sign",
                serde_json::json!({"csr": csr_pem, "profile": profile}),
            )
            .await?;
        proto::parse_sign(&data)
    }

    /// `get_ca`: the CA certificate, PEM.
    pub(crate) async fn get_ca(&self) -> Result<String, CaError> {
        let data = self.call("get_ca", serde_json::json!({})).await?;
        serde_json::from_str(data.get()).map_err(|e| CaError::BadReply(format!("get_ca: {e}")))
    }

    /// `get_crl`: the DER CRL (sent as padded standard base64).
    pub(crate) async fn get_crl(&self) -> Result<Vec<u8>, CaError> {
        let data = self.call("get_crl", serde_json::json!({})).await?;
        let b64: String = serde_json::from_str(data.get())
            .map_err(|e| CaError::BadReply(format!("get_crl: {e}")))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| CaError::BadReply(format!("get_crl base64: {e}")))
    }

    /// `revoke` by bare CN with a uPKI reason name (protocol note 2 and 3).
    pub(crate) async fn revoke(&self, cn: &str, reason: RevocationReason) -> Result<(), CaError> {
        let data = self
            .call(
                "revoke",
                serde_json::json!({"dn": cn, "reason": reason.name()}),
            )
            .await?;
        match data.get() {
            "true" => Ok(()),
            other => Err(CaError::BadReply(format!("revoke answered {other}"))),
        }
    }

    /// `list_profiles`.
    pub(crate) async fn list_profiles(&self) -> Result<Vec<String>, CaError> {
        let data = self.call("list_profiles", serde_json::json!({})).await?;
        serde_json::from_str(data.get())
            .map_err(|e| CaError::BadReply(format!("list_profiles: {e}")))
    }

    /// Any other task (e.g. `acme_sync_*`). Numbers beyond u64 lose precision in a `Value`;
    pub(crate) async fn request(
        &self,
        task: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, CaError> {
        let data = self.call(task, params).await?;
        serde_json::from_str(data.get()).map_err(|e| CaError::BadReply(format!("{task}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Instant;

    use super::*;

    const BIG: &str = "199395909292849525405881971845381064302563015898";

    fn inproc_name(tag: &str) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        format!(
            "inproc://client-test-{tag}-{}",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    }

    // Protocol note 1 end to end: a CA that sends a 159-bit bare integer serial.
    #[test]
    fn big_serial_over_the_wire() {
        let ctx = zmq::Context::new();
        let ep = inproc_name("big");
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.bind(&ep).unwrap();
        let server = thread::spawn(move || {
            let req = rep.recv_bytes(0).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&req).unwrap();
            assert_eq!(v["TASK"], "sign");
            assert_eq!(v["params"]["profile"], "server");
            let reply =
                format!(r#"{{"EVENT":"ANSWER","DATA":{{"certificate":"PEM","serial":{BIG}}}}}"#);
            rep.send(reply.as_bytes(), 0).unwrap();
        });
        let client = CaClient::connect(ctx.clone(), &ep, Duration::from_secs(5));
        let signed = smol::block_on(client.sign("CSR", "server")).unwrap();
        assert_eq!(signed.serial, BIG);
        server.join().unwrap();
    }

    // Catalog #56: a CA that does not answer in time → Timeout; the socket is recreated and the
    // next request succeeds; the late reply to the first request is not taken for the second.
    #[test]
    fn catalog_56_timeout_then_recovery() {
        let ctx = zmq::Context::new();
        let ep = inproc_name("timeout");
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.bind(&ep).unwrap();
        let server = thread::spawn(move || {
            let first = rep.recv_bytes(0).unwrap();
            assert!(String::from_utf8_lossy(&first).contains("first"));
            thread::sleep(Duration::from_millis(600)); // longer than the client's timeout
            rep.send(proto::answer(&"LATE").as_bytes(), 0).unwrap();
            let second = rep.recv_bytes(0).unwrap();
            assert!(String::from_utf8_lossy(&second).contains("second"));
            rep.send(proto::answer(&"second answer").as_bytes(), 0)
                .unwrap();
        });
        let client = CaClient::connect(ctx.clone(), &ep, Duration::from_millis(200));
        let t0 = Instant::now();
        let err =
            smol::block_on(client.request("probe", serde_json::json!({"n": "first"}))).unwrap_err();
        assert_eq!(err, CaError::Timeout);
        assert!(
            t0.elapsed() < Duration::from_millis(550),
            "{:?}",
            t0.elapsed()
        );
        // Let the slow CA send its late reply (to the abandoned socket) and wait for the next one.
        thread::sleep(Duration::from_millis(600));
        let ok =
            smol::block_on(client.request("probe", serde_json::json!({"n": "second"}))).unwrap();
        assert_eq!(ok, serde_json::json!("second answer"));
        server.join().unwrap();
    }

    // Catalog #56: nobody listening at all → Timeout (the send cannot complete), not a hang.
    #[test]
    fn catalog_56_no_peer_times_out() {
        let ctx = zmq::Context::new();
        let client = CaClient::connect(ctx, &inproc_name("nopeer"), Duration::from_millis(100));
        let err = smol::block_on(client.get_ca()).unwrap_err();
        assert_eq!(err, CaError::Timeout);
    }
}
