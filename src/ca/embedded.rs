//! The embedded uPKI-compatible CA: a thread with a ZMQ REP socket speaking the protocol of
//! shared/spec/upki-ca-protocol.md (`get_ca`, `get_crl`/`generate_crl`, `sign`, `revoke`,
//! `unrevoke`, `view`, `list_profiles`, `get_profile`, the `acme_*` tasks) over the [`Issuer`]. Unlike upki-ca 0.1.5 it re-validates
//! every CSR (signature, key policy) and accepts SAN-only CSRs. The one exception is the RA's
//! own CA on its in-process link ([`EmbeddedCa::start_for_ra`]), which applies the key policy but
//! leaves the signature to the RA that verified it ([`VerifiedByRa`]).
//!
//! State kept in `<data_dir>/ca/`: the root (`ca.key`, `ca.crt`, see `pki::issuer`) and
//! the latest serial per name and the revocations (`state.json` + `state.journal`, see
//! [`crate::ca::state_log`]).

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

use crate::ca::acme_store::AcmeStore;
use crate::ca::proto::{self, CaError, RevocationReason};
use crate::ca::state_log::{Event, RevokedEntry, StateLog};
use crate::config::ProfileConfig;
use crate::config::{EXTENDED_KEY_USAGES, KEY_USAGES};
use crate::pki::cert::SignedInProcess;
use crate::pki::cert::der_to_pem;
use crate::pki::csr::{ValidatedCsr, VerifiedByRa};
use crate::pki::issuer::{self, Eku, Issuer, PROFILES, Profile, Revoked, Usage};

/// How often the server thread checks its stop flag while idle.
const POLL_MS: i32 = 200;

struct Server {
    issuer: Issuer,
    /// The built-in profiles, then the operator's (`[[ca_server.profiles]]`).
    profiles: Vec<&'static Profile>,
    state: StateLog,
    acme: AcmeStore,
    /// Set only for the RA's own in-process CA ([`EmbeddedCa::start_for_ra`]): CSR signatures
    /// the RA has verified are not verified again. None: every CSR is verified here.
    ra_verified: Option<VerifiedByRa>,
}

/// The registration socket of a standalone CA (spec "Registration on :5001").
pub(crate) struct Registration {
    /// `tcp://HOST:PORT` to bind.
    pub(crate) endpoint: String,
    /// The seed an RA must present.
    pub(crate) seed: String,
}

/// A running embedded CA; stops (and joins its threads) when dropped.
pub(crate) struct EmbeddedCa {
    cert_path: PathBuf,
    endpoint: String,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Set by [`EmbeddedCa::start_for_ra`]: the RA in this process is the only client.
    in_process: bool,
}

impl std::fmt::Debug for EmbeddedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCa")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn setup(e: impl std::fmt::Display) -> CaError {
    CaError::Transport(format!("embedded CA: {e}"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn bind(ctx: &zmq::Context, endpoint: &str) -> Result<zmq::Socket, zmq::Error> {
    let s = ctx.socket(zmq::REP)?;
    s.set_linger(0)?;
    s.set_rcvtimeo(POLL_MS)?;
    s.set_sndtimeo(1000)?;
    s.bind(endpoint)?;
    Ok(s)
}

impl EmbeddedCa {
    /// Loads or creates the root in `<data_dir>/ca/`, binds a REP socket on `endpoint`
    /// (`inproc://…` with the client's `ctx`, `tcp://HOST:PORT`, `tcp://HOST:*`, `ipc://PATH`)
    /// and serves it on a new thread. (The server uses [`EmbeddedCa::start_for_ra`], the
    /// standalone CA [`EmbeddedCa::start_with`].)
    #[cfg(test)]
    pub(crate) fn start(
        ctx: &zmq::Context,
        endpoint: &str,
        data_dir: &Path,
    ) -> Result<EmbeddedCa, CaError> {
        EmbeddedCa::start_with(ctx, endpoint, data_dir, None, &[])
    }

    /// The RA's own CA (`upki-ra serve` without `[ca] endpoint`), on an `inproc://` endpoint of
    /// the RA's ZMQ context. Across this link each CSR signature is verified once, by the RA's
    /// finalize ([`VerifiedByRa`]), and the RA checks the returned certificate's key, names and
    /// issuer name but not the signature this process just made ([`SignedInProcess`]).
    pub(crate) fn start_for_ra(
        ctx: &zmq::Context,
        endpoint: &str,
        data_dir: &Path,
    ) -> Result<EmbeddedCa, CaError> {
        let trust = VerifiedByRa::for_in_process_link(endpoint)
            .ok_or_else(|| setup(format!("{endpoint} is not an in-process endpoint")))?;
        let mut ca = EmbeddedCa::start_inner(ctx, endpoint, data_dir, None, &[], Some(trust))?;
        ca.in_process = true;
        Ok(ca)
    }

    /// For the RA's issued-certificate check: present only for a CA started with
    /// [`EmbeddedCa::start_for_ra`].
    pub(crate) fn signed_in_process(&self) -> Option<SignedInProcess> {
        self.in_process.then(SignedInProcess::embedded_ca)
    }

    /// Like [`EmbeddedCa::start`], plus a registration socket when `registration` is given
    /// (the standalone CA, `upki-ra ca serve`).
    pub(crate) fn start_with(
        ctx: &zmq::Context,
        endpoint: &str,
        data_dir: &Path,
        registration: Option<Registration>,
        extra_profiles: &[ProfileConfig],
    ) -> Result<EmbeddedCa, CaError> {
        EmbeddedCa::start_inner(ctx, endpoint, data_dir, registration, extra_profiles, None)
    }

    fn start_inner(
        ctx: &zmq::Context,
        endpoint: &str,
        data_dir: &Path,
        registration: Option<Registration>,
        extra_profiles: &[ProfileConfig],
        ra_verified: Option<VerifiedByRa>,
    ) -> Result<EmbeddedCa, CaError> {
        let dir = data_dir.join("ca");
        let profiles = profiles_with(extra_profiles);
        let issuer = Issuer::load_or_create(&dir).map_err(setup)?;
        let state = StateLog::open(&dir).map_err(setup)?;
        if let Some(path) = endpoint.strip_prefix("ipc://") {
            // A socket file left by a previous run makes bind fail: remove it (only if it is a socket).
            if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = fs::remove_file(path);
            }
        }
        let socket = bind(ctx, endpoint).map_err(|e| setup(format!("bind {endpoint}: {e}")))?;
        let bound = match socket.get_last_endpoint() {
            Ok(Ok(ep)) if !ep.is_empty() => ep,
            _ => endpoint.to_owned(),
        };
        let register_socket = match &registration {
            Some(r) => Some(
                bind(ctx, &r.endpoint).map_err(|e| setup(format!("bind {}: {e}", r.endpoint)))?,
            ),
            None => None,
        };
        let cert_path = issuer.cert_path().to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let server = Arc::new(Mutex::new(Server {
            issuer,
            profiles,
            state,
            acme: AcmeStore::new(&dir),
            ra_verified,
        }));
        let mut threads = Vec::new();
        let flag = Arc::clone(&stop);
        let (ctx2, ep2, srv) = (ctx.clone(), bound.clone(), Arc::clone(&server));
        threads.push(
            thread::Builder::new()
                .name("upki-ca-server".to_owned())
                .spawn(move || {
                    serve(socket, &ctx2, &ep2, &flag, |frame| lock(&srv).handle(frame));
                })
                .map_err(setup)?,
        );
        if let (Some(reg), Some(socket)) = (registration, register_socket) {
            let flag = Arc::clone(&stop);
            let ctx2 = ctx.clone();
            let srv = Arc::clone(&server);
            let ep = reg.endpoint.clone();
            threads.push(
                thread::Builder::new()
                    .name("upki-ca-register".to_owned())
                    .spawn(move || {
                        serve(socket, &ctx2, &ep, &flag, |frame| {
                            lock(&srv).handle_registration(frame, &reg.seed)
                        });
                    })
                    .map_err(setup)?,
            );
            log::info!("uPKI CA registration on {}", reg.endpoint);
        }
        log::info!("embedded uPKI CA listening on {bound}");
        Ok(EmbeddedCa {
            cert_path,
            endpoint: bound,
            stop,
            threads,
            in_process: false,
        })
    }

    /// The root certificate (PEM) on disk.
    pub(crate) fn ca_cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The endpoint actually bound (a `tcp://HOST:*` request resolved to its port).
    #[cfg(test)]
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for EmbeddedCa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A poisoned lock means a handler panicked mid-request; the state it guards is only changed
/// through `StateLog::record` (durable first), so it is still consistent.
fn lock(server: &Mutex<Server>) -> std::sync::MutexGuard<'_, Server> {
    server.lock().unwrap_or_else(|p| p.into_inner())
}

/// The REP loop of one socket: one request, one reply from `handle`, until `stop`.
fn serve(
    mut socket: zmq::Socket,
    ctx: &zmq::Context,
    endpoint: &str,
    stop: &AtomicBool,
    mut handle: impl FnMut(&[u8]) -> String,
) {
    while !stop.load(Ordering::Relaxed) {
        let frame = match socket.recv_bytes(0) {
            Ok(f) => f,
            Err(zmq::Error::EAGAIN) => continue,
            Err(zmq::Error::ETERM) => return,
            Err(e) => {
                log::error!("embedded CA recv: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let reply = handle(&frame);
        if let Err(e) = socket.send(reply.as_bytes(), 0) {
            // A REP socket that could not send is stuck in lockstep: rebind a fresh one.
            log::error!("embedded CA send: {e}; rebinding {endpoint}");
            // libzmq releases a closed socket's endpoint asynchronously: unbind first so
            // the name is free for the new socket at once.
            let _ = socket.unbind(endpoint);
            drop(socket);
            socket = loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match bind(ctx, endpoint) {
                    Ok(s) => break s,
                    Err(e) => {
                        log::error!("embedded CA rebind {endpoint}: {e}");
                        thread::sleep(Duration::from_millis(500));
                    }
                }
            };
        }
    }
    // Free the endpoint now, so a CA started right after this one can bind it.
    let _ = socket.unbind(endpoint);
}

impl Server {
    /// One request frame → one reply frame.
    fn handle(&mut self, frame: &[u8]) -> String {
        let request: Value = match serde_json::from_slice(frame) {
            Ok(v) => v,
            Err(e) => return proto::error(&format!("Invalid JSON: {e}")),
        };
        let Some(task) = request.get("TASK").and_then(Value::as_str) else {
            return proto::error("[700] Missing TASK");
        };
        let empty = Value::Object(Default::default());
        let params = request.get("params").unwrap_or(&empty);
        match task {
            "get_ca" => proto::answer(&self.issuer.cert_pem()),
            "get_crl" | "generate_crl" => self.get_crl(),
            "sign" => self.sign(params),
            "revoke" => self.revoke(params),
            "list_profiles" => {
                proto::answer(&self.profiles.iter().map(|p| p.name).collect::<Vec<_>>())
            }
            "get_profile" => self.get_profile(params),
            "view" => self.view(params),
            "unrevoke" => self.unrevoke(params),
            other if other.starts_with("acme_") => match other {
                // RA-side issuance and revocation through the acme_ names.
                "acme_issue_certificate" => self.sign(params),
                "acme_revoke_certificate" => self.revoke_pem(params),
                _ => self
                    .acme
                    .handle(other, params)
                    .unwrap_or_else(|| proto::error(&format!("[700] Unknown task: {other}"))),
            },
            other => proto::error(&format!("[700] Unknown task: {other}")),
        }
    }

    fn get_crl(&self) -> String {
        let revoked: Vec<Revoked> = self
            .state
            .state()
            .revoked
            .iter()
            .map(|r| Revoked {
                serial: r.serial.clone(),
                revoked_at: r.revoked_at,
                reason: r.reason,
            })
            .collect();
        match self.issuer.crl_der(&revoked) {
            Ok(der) => proto::answer(&base64::engine::general_purpose::STANDARD.encode(der)),
            Err(e) => proto::error(&format!("[600] {e}")),
        }
    }

    fn sign(&mut self, params: &Value) -> String {
        let Some(pem) = params.get("csr").and_then(Value::as_str) else {
            return proto::error("[300] Missing CSR");
        };
        let profile_name = params
            .get("profile")
            .and_then(Value::as_str)
            .unwrap_or("server");
        let Some(profile) = self.profile(profile_name) else {
            return proto::error(&format!("[500] Unknown profile: {profile_name}"));
        };
        // Like upki-ca: PEM only, DER is rejected.
        let Some(der) = csr_pem_body(pem) else {
            return proto::error("[300] CSR is not a PEM CERTIFICATE REQUEST");
        };
        let checked = match &self.ra_verified {
            Some(trust) => ValidatedCsr::from_der_verified_by_ra(&der, trust),
            None => ValidatedCsr::from_der(&der),
        };
        let csr = match checked {
            Ok(c) => c,
            Err(e) => return proto::error(&format!("[300] {e}")),
        };
        let (leaf, serial) = match self.issuer.issue(&csr, profile) {
            Ok(x) => x,
            Err(e) => return proto::error(&format!("[300] {e}")),
        };
        let name = csr
            .common_name()
            .map(str::to_owned)
            .or_else(|| csr.dns_names().first().cloned())
            .or_else(|| csr.ip_addrs().first().map(|ip| ip.to_string()))
            .unwrap_or_default();
        let leaf_pem = der_to_pem("CERTIFICATE", &leaf);
        let issued = Event::Issued {
            name,
            serial: serial.clone(),
            certificate: Some(leaf_pem.clone()),
        };
        if let Err(e) = self.state.record(issued) {
            return proto::error(&format!("[100] {e}"));
        }
        proto::sign_answer(&leaf_pem, &serial)
    }

    fn revoke(&mut self, params: &Value) -> String {
        let Some(dn) = params.get("dn").and_then(Value::as_str) else {
            return proto::error("[900] Missing dn");
        };
        let reason_name = params
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("unspecified");
        let Some(reason) = RevocationReason::from_name(reason_name) else {
            return proto::error(&format!("[900] Invalid revocation reason: {reason_name}"));
        };
        let Some(serial) = self.state.state().issued.get(dn).cloned() else {
            return proto::error(&format!("[900] Certificate not found: {dn}"));
        };
        if self
            .state
            .state()
            .revoked
            .iter()
            .any(|r| r.serial == serial)
        {
            return proto::error(&format!("[900] Certificate already revoked: {dn}"));
        }
        let revoked = Event::Revoked(RevokedEntry {
            serial,
            name: dn.to_owned(),
            revoked_at: now(),
            reason: reason.code(),
        });
        match self.state.record(revoked) {
            Ok(()) => proto::answer(&true),
            Err(e) => proto::error(&format!("[100] {e}")),
        }
    }

    fn profile(&self, name: &str) -> Option<&'static Profile> {
        issuer::profile(name).or_else(|| self.profiles.iter().copied().find(|p| p.name == name))
    }

    /// `unrevoke` by name (like upki-ca): the newest certificate of `dn` leaves the CRL.
    fn unrevoke(&mut self, params: &Value) -> String {
        let Some(dn) = params.get("dn").and_then(Value::as_str) else {
            return proto::error("[900] Missing dn");
        };
        let Some(serial) = self.state.state().issued.get(dn).cloned() else {
            return proto::error(&format!("[900] Certificate not found: {dn}"));
        };
        if !self
            .state
            .state()
            .revoked
            .iter()
            .any(|r| r.serial == serial)
        {
            return proto::error(&format!("[900] Certificate is not revoked: {dn}"));
        }
        match self.state.record(Event::Unrevoked { serial }) {
            Ok(()) => proto::answer(&true),
            Err(e) => proto::error(&format!("[100] {e}")),
        }
    }

    /// `acme_revoke_certificate`: `certificate` (PEM), `reason` (RFC 5280 code). Unlike `revoke`
    /// by name, this reaches any certificate this CA issued, also superseded ones.
    fn revoke_pem(&mut self, params: &Value) -> String {
        let Some(pem) = params.get("certificate").and_then(Value::as_str) else {
            return proto::error("[900] Missing certificate");
        };
        let code = params.get("reason").and_then(Value::as_u64).unwrap_or(0);
        let Some(reason) = u8::try_from(code)
            .ok()
            .and_then(RevocationReason::from_code)
        else {
            return proto::error(&format!("[900] Invalid revocation reason: {code}"));
        };
        let info = match crate::pki::pem_to_ders(pem)
            .ok()
            .and_then(|d| d.into_iter().next())
            .map(|der| (crate::pki::verify_issued_by(&der, &self.root_der()), der))
        {
            Some((Ok(()), der)) => match crate::pki::cert_info(&der) {
                Ok(i) => i,
                Err(e) => return proto::error(&format!("[300] {e}")),
            },
            _ => return proto::error("[300] not a certificate issued by this CA"),
        };
        if self
            .state
            .state()
            .revoked
            .iter()
            .any(|r| r.serial == info.serial)
        {
            return proto::error(&format!(
                "[900] Certificate already revoked: {}",
                info.serial
            ));
        }
        let revoked = Event::Revoked(RevokedEntry {
            serial: info.serial.clone(),
            name: info.dns_names.first().cloned().unwrap_or_default(),
            revoked_at: now(),
            reason: reason.code(),
        });
        match self.state.record(revoked) {
            Ok(()) => proto::answer(&true),
            Err(e) => proto::error(&format!("[100] {e}")),
        }
    }

    fn root_der(&self) -> Vec<u8> {
        crate::pki::pem_to_ders(&self.issuer.cert_pem())
            .ok()
            .and_then(|d| d.into_iter().next())
            .unwrap_or_default()
    }

    /// The registration socket: `register` (seed, cn, profile, sans) and `status` (cn).
    fn handle_registration(&mut self, frame: &[u8], seed: &str) -> String {
        let request: Value = match serde_json::from_slice(frame) {
            Ok(v) => v,
            Err(e) => return proto::error(&format!("Invalid JSON: {e}")),
        };
        let empty = Value::Object(Default::default());
        let params = request.get("params").unwrap_or(&empty);
        let cn = params.get("cn").and_then(Value::as_str).unwrap_or("");
        match request.get("TASK").and_then(Value::as_str) {
            Some("register") => {}
            Some("status") => {
                return match self.state.state().issued.get(cn) {
                    Some(serial) => proto::answer(&serde_json::json!({
                        "status": "registered",
                        "node": {"cn": cn, "serial": serial},
                    })),
                    None => proto::answer(&serde_json::json!({"status": "not_registered"})),
                };
            }
            Some(other) => return proto::error(&format!("[700] Unknown task: {other}")),
            None => return proto::error("[700] Missing TASK"),
        }
        let given = params.get("seed").and_then(Value::as_str).unwrap_or("");
        if seed.is_empty() || !ring_eq(given.as_bytes(), seed.as_bytes()) {
            return proto::error("[700] Invalid registration seed");
        }
        // Protocol note 4: a CN with `/` or `..` breaks name-keyed storage.
        if cn.is_empty() || cn.len() > 64 || cn.contains('/') || cn.contains("..") {
            return proto::error("[700] Missing or invalid cn parameter");
        }
        let profile_name = params
            .get("profile")
            .and_then(Value::as_str)
            .unwrap_or("ra");
        let Some(profile) = self.profile(profile_name) else {
            return proto::error(&format!("[500] Profile not found: {profile_name}"));
        };
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        match cn.parse::<std::net::IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(cn.to_owned()),
        }
        for san in params
            .get("sans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let value = san.get("value").and_then(Value::as_str).unwrap_or("");
            match san.get("type").and_then(Value::as_str) {
                Some(t) if t.eq_ignore_ascii_case("IP") => match value.parse() {
                    Ok(ip) if !ips.contains(&ip) => ips.push(ip),
                    Ok(_) => {}
                    Err(_) => return proto::error(&format!("[200] Invalid IP address: {value}")),
                },
                Some(t) if t.eq_ignore_ascii_case("DNS") => {
                    if !dns.iter().any(|d| d == value) {
                        dns.push(value.to_owned());
                    }
                }
                _ => return proto::error("[200] SAN type must be DNS or IP"),
            }
        }
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let Ok(pkcs8) = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng) else {
            return proto::error("[400] key generation failed");
        };
        let Ok(key) = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng) else {
            return proto::error("[400] key generation failed");
        };
        let csr =
            match crate::pki::build_csr(&key, &dns, &ips).map(|der| ValidatedCsr::from_der(&der)) {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return proto::error(&format!("[300] {e}")),
                Err(e) => return proto::error(&format!("[300] {e}")),
            };
        let (leaf, serial) = match self.issuer.issue(&csr, profile) {
            Ok(x) => x,
            Err(e) => return proto::error(&format!("[300] {e}")),
        };
        let issued = Event::Issued {
            name: cn.to_owned(),
            serial,
            certificate: Some(der_to_pem("CERTIFICATE", &leaf)),
        };
        if let Err(e) = self.state.record(issued) {
            return proto::error(&format!("[100] {e}"));
        }
        log::info!("registered RA node {cn:?} (profile {profile_name})");
        proto::answer(&serde_json::json!({
            "status": "registered",
            "cn": cn,
            "profile": profile_name,
            "certificate": der_to_pem("CERTIFICATE", &leaf),
            "private_key": der_to_pem("PRIVATE KEY", pkcs8.as_ref()),
            "ca_certificate": self.issuer.cert_pem(),
        }))
    }

    /// `view`: what the CA holds for a name (like upki-ca: the newest certificate of the name).
    /// Beyond upki-ca 0.1.5's answer, `certificate` carries that certificate's PEM (when
    /// stored), so an RA that lost a `sign` reply can adopt it (`acme::adopt`).
    fn view(&self, params: &Value) -> String {
        let dn = params.get("dn").and_then(Value::as_str).unwrap_or("");
        let Some(serial) = self.state.state().issued.get(dn) else {
            return proto::error(&format!("[300] Certificate not found: {dn}"));
        };
        let revoked = self
            .state
            .state()
            .revoked
            .iter()
            .any(|r| &r.serial == serial);
        // The serial goes out as a bare JSON integer, exactly (protocol note 1).
        let certificate = match self.state.state().certificates.get(dn) {
            Some(pem) => format!(
                r#","certificate":{}"#,
                serde_json::to_string(pem).unwrap_or_default()
            ),
            None => String::new(),
        };
        let frame = format!(
            r#"{{"EVENT":"ANSWER","DATA":{{"dn":{},"serial_number":{serial},"revoked":{revoked}{certificate}}}}}"#,
            serde_json::to_string(dn).unwrap_or_default()
        );
        if serial.bytes().all(|b| b.is_ascii_digit()) && !serial.is_empty() {
            frame
        } else {
            proto::error("[100] stored serial is not decimal")
        }
    }

    fn get_profile(&self, params: &Value) -> String {
        let name = params.get("profile").and_then(Value::as_str).unwrap_or("");
        let Some(p) = self.profile(name) else {
            return proto::error(&format!("[500] Unknown profile: {name}"));
        };
        proto::answer(&serde_json::json!({
            "name": p.name,
            "duration": p.days,
            "keyUsage": p.key_usage.iter().map(|u| u.name()).collect::<Vec<_>>(),
            "extendedKeyUsage": p.eku.iter().map(|e| e.name()).collect::<Vec<_>>(),
        }))
    }
}

/// The DER inside a PEM CSR. Like upki-ca (Python `cryptography`), line length is not
/// enforced (one long base64 line is accepted); the label must be a certificate request and
/// the DER is checked by `ValidatedCsr` afterwards.
fn csr_pem_body(pem: &str) -> Option<Vec<u8>> {
    let text = pem.trim();
    let (label, rest) = text.strip_prefix("-----BEGIN ")?.split_once("-----")?;
    if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
        return None;
    }
    let body = rest.strip_suffix(&format!("-----END {label}-----"))?;
    let b64: String = body.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The built-in profiles plus the operator's. Operator profiles are made `'static` once, at
/// start-up (a few bytes each, for the life of the process), like the built-in table.
fn profiles_with(extra: &[ProfileConfig]) -> Vec<&'static Profile> {
    let usages = [
        Usage::DigitalSignature,
        Usage::NonRepudiation,
        Usage::KeyEncipherment,
    ];
    let ekus = [Eku::ServerAuth, Eku::ClientAuth, Eku::EmailProtection];
    debug_assert!(usages.iter().zip(KEY_USAGES).all(|(u, n)| u.name() == n));
    debug_assert!(
        ekus.iter()
            .zip(EXTENDED_KEY_USAGES)
            .all(|(e, n)| e.name() == n)
    );
    let mut out: Vec<&'static Profile> = PROFILES.iter().collect();
    for p in extra {
        let key_usage: Vec<Usage> = usages
            .into_iter()
            .filter(|u| p.key_usage.iter().any(|n| n == u.name()))
            .collect();
        let eku: Vec<Eku> = ekus
            .into_iter()
            .filter(|e| p.extended_key_usage.iter().any(|n| n == e.name()))
            .collect();
        out.push(Box::leak(Box::new(Profile {
            name: Box::leak(p.name.clone().into_boxed_str()),
            days: p.days,
            key_usage: Box::leak(key_usage.into_boxed_slice()),
            eku: Box::leak(eku.into_boxed_slice()),
        })));
    }
    out
}

/// Seed comparison whose time does not depend on where the inputs differ.
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use der::Decode;
    use x509_cert::crl::CertificateList;

    use super::*;
    use crate::ca::client::CaClient;
    use crate::pki::cert::{cert_info, decimal_to_serial, pem_to_ders, verify_issued_by};

    /// A fresh, uniquely named folder under the system temp dir (also for `ca::in_process_tests`).
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let mut r = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r).unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("upki-ra-{tag}-{name}"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub(crate) fn csr_pem(der: &[u8]) -> String {
        der_to_pem("CERTIFICATE REQUEST", der)
    }

    /// Sign, check, revoke, CRL: the full uPKI conversation against our own CA.
    fn conversation(client: &CaClient, ca: &EmbeddedCa) {
        smol::block_on(async {
            let ca_pem = client.get_ca().await.unwrap();
            assert_eq!(ca_pem, fs::read_to_string(ca.ca_cert_path()).unwrap());
            let ca_der = pem_to_ders(&ca_pem).unwrap().remove(0);

            let signed = client
                .sign(
                    &csr_pem(include_bytes!("../pki/testdata/p256.der")),
                    "server",
                )
                .await
                .unwrap();
            let leaf = pem_to_ders(&signed.certificate_pem).unwrap();
            assert_eq!(leaf.len(), 1, "leaf only (protocol note 6)");
            verify_issued_by(&leaf[0], &ca_der).unwrap();
            let info = cert_info(&leaf[0]).unwrap();
            assert_eq!(info.serial, signed.serial, "serial over the wire is exact");
            assert!(
                signed.serial.len() >= 40,
                "159-bit serial: {}",
                signed.serial
            );

            // Protocol note 4: SAN-only CSRs are accepted by the embedded CA.
            let san_only = client
                .sign(
                    &csr_pem(include_bytes!("../pki/testdata/san_only.der")),
                    "ra",
                )
                .await
                .unwrap();
            let der = pem_to_ders(&san_only.certificate_pem).unwrap().remove(0);
            assert_eq!(cert_info(&der).unwrap().dns_names, ["app2.lan".to_owned()]);

            assert_eq!(
                client.list_profiles().await.unwrap(),
                ["ra", "server", "webapp", "laptop", "user", "admin"]
            );

            client
                .revoke("app1.lan", RevocationReason::KeyCompromise)
                .await
                .unwrap();
            let err = client
                .revoke("app1.lan", RevocationReason::KeyCompromise)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CaError::Remote {
                        code: Some(900),
                        ..
                    }
                ),
                "{err:?}"
            );
            let crl = client.get_crl().await.unwrap();
            let crl: CertificateList = CertificateList::from_der(&crl).unwrap();
            let listed: Vec<Vec<u8>> = crl
                .tbs_cert_list
                .revoked_certificates
                .unwrap()
                .iter()
                .map(|r| r.serial_number.as_bytes().to_vec())
                .collect();
            assert_eq!(listed, vec![decimal_to_serial(&signed.serial).unwrap()]);

            // `view` reports the newest serial of a name exactly; `unrevoke` takes it off the
            // CRL, and the same name can then be revoked again.
            let view = client
                .call_raw("view", serde_json::json!({"dn": "app1.lan"}))
                .await
                .unwrap();
            assert!(
                view.get()
                    .contains(&format!("\"serial_number\":{}", signed.serial))
            );
            assert!(view.get().contains("\"revoked\":true"), "{}", view.get());
            client
                .request("unrevoke", serde_json::json!({"dn": "app1.lan"}))
                .await
                .unwrap();
            let crl = client.get_crl().await.unwrap();
            let crl: CertificateList = CertificateList::from_der(&crl).unwrap();
            assert!(
                crl.tbs_cert_list
                    .revoked_certificates
                    .is_none_or(|r| r.is_empty())
            );
            client
                .revoke("app1.lan", RevocationReason::KeyCompromise)
                .await
                .unwrap();

            // Error mapping.
            let err = client
                .sign(&csr_pem(include_bytes!("../pki/testdata/p256.der")), "nope")
                .await
                .unwrap_err();
            assert_eq!(
                err,
                CaError::Remote {
                    code: Some(500),
                    message: "Unknown profile: nope".to_owned()
                }
            );
            let err = client
                .sign(
                    &csr_pem(include_bytes!("../pki/testdata/bad_sig.der")),
                    "server",
                )
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CaError::Remote {
                        code: Some(300),
                        ..
                    }
                ),
                "{err:?}"
            );
            let err = client
                .request("renew", serde_json::json!({}))
                .await
                .unwrap_err();
            assert_eq!(
                err,
                CaError::Remote {
                    code: Some(700),
                    message: "Unknown task: renew".to_owned()
                }
            );
            // The acme_* tasks are implemented (ca::acme_store) and check their params.
            let err = client
                .request("acme_sync_account", serde_json::json!({}))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CaError::Remote {
                        code: Some(200),
                        ..
                    }
                ),
                "{err:?}"
            );
            let err = client
                .revoke("unknown.lan", RevocationReason::Unspecified)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CaError::Remote {
                        code: Some(900),
                        ..
                    }
                ),
                "{err:?}"
            );
        });
    }

    #[test]
    fn csr_pem_lenient_line_length() {
        let der = include_bytes!("../pki/testdata/p256.der");
        let wrapped = csr_pem(der);
        assert_eq!(csr_pem_body(&wrapped).as_deref(), Some(der.as_slice()));
        let one_line = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        assert_eq!(csr_pem_body(&one_line).as_deref(), Some(der.as_slice()));
        assert_eq!(csr_pem_body(&wrapped.replace("REQUEST", "X")), None);
        assert_eq!(csr_pem_body("MIIB"), None);
    }

    /// The embedded CA's round trip through the RA's client (REQ thread + async channel +
    /// inproc), printed with `--nocapture`: the in-process CA link figure.
    #[test]
    fn inproc_round_trip_figures() {
        let dir = temp_dir("inproc-latency");
        let ctx = zmq::Context::new();
        let ca = EmbeddedCa::start(&ctx, "inproc://latency", &dir).unwrap();
        let client = CaClient::connect(ctx.clone(), ca.endpoint(), Duration::from_secs(5));
        let csr = csr_pem(include_bytes!("../pki/testdata/p256.der"));
        smol::block_on(async {
            for (task, n) in [("list_profiles", 200usize), ("sign", 50)] {
                let mut times = Vec::with_capacity(n);
                for _ in 0..n {
                    let t0 = std::time::Instant::now();
                    if task == "sign" {
                        client.sign(&csr, "server").await.unwrap();
                    } else {
                        client.list_profiles().await.unwrap();
                    }
                    times.push(t0.elapsed());
                }
                times.sort();
                eprintln!(
                    "embedded CA {task} round trip (inproc): median {:?}, max {:?}",
                    times[n / 2],
                    times[n - 1]
                );
                assert!(times[n / 2] < Duration::from_secs(1));
            }
        });
        drop(ca);
        let _ = fs::remove_dir_all(dir);
    }

    /// CPU time of this whole process so far (all live threads), from `/proc` (Linux).
    fn process_cpu() -> Duration {
        let mut ns = 0u64;
        for task in fs::read_dir("/proc/self/task").unwrap() {
            let stat =
                fs::read_to_string(task.unwrap().path().join("schedstat")).unwrap_or_default();
            ns += stat
                .split(' ')
                .next()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Duration::from_nanos(ns)
    }

    /// CPU and wall time per `sign` through the RA's client, with 0 and 5,000 certificates
    /// already issued (loaded from a `state.json`), printed with `--nocapture`. Run it alone
    /// (`cargo test --lib sign_cost_figures -- --nocapture`): the CPU figure is the process's.
    #[test]
    fn sign_cost_figures() {
        let csr = csr_pem(include_bytes!("../pki/testdata/p256.der"));
        for prior in [0usize, 5_000] {
            let dir = temp_dir("sign-cost");
            fs::create_dir_all(dir.join("ca")).unwrap();
            let issued: serde_json::Map<String, Value> = (0..prior)
                .map(|i| {
                    (
                        format!("host{i}.lan"),
                        Value::from(format!("{}", 10_u128.pow(30) + i as u128)),
                    )
                })
                .collect();
            let state = serde_json::json!({"issued": issued, "revoked": []});
            fs::write(dir.join("ca/state.json"), state.to_string()).unwrap();
            let ctx = zmq::Context::new();
            let ca = EmbeddedCa::start(&ctx, "inproc://sign-cost", &dir).unwrap();
            let client = CaClient::connect(ctx.clone(), ca.endpoint(), Duration::from_secs(5));
            let n = 300u32;
            smol::block_on(async {
                client.sign(&csr, "server").await.unwrap();
                let (cpu0, t0) = (process_cpu(), std::time::Instant::now());
                for _ in 0..n {
                    client.sign(&csr, "server").await.unwrap();
                }
                let (cpu, wall) = (process_cpu() - cpu0, t0.elapsed());
                eprintln!(
                    "embedded CA sign, {prior} prior certificates: {:?} CPU, {:?} wall per sign (n={n})",
                    cpu / n,
                    wall / n
                );
            });
            drop(ca);
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn inproc_conversation() {
        let dir = temp_dir("embedded-inproc");
        let ctx = zmq::Context::new();
        let ca = EmbeddedCa::start(&ctx, "inproc://upki-ca-embedded-test", &dir).unwrap();
        let client = CaClient::connect(ctx.clone(), ca.endpoint(), Duration::from_secs(5));
        conversation(&client, &ca);
        drop(ca);
        // Restart: same root, revocations kept.
        let ca = EmbeddedCa::start(&ctx, "inproc://upki-ca-embedded-test", &dir).unwrap();
        let client = CaClient::connect(ctx.clone(), ca.endpoint(), Duration::from_secs(5));
        let crl = smol::block_on(client.get_crl()).unwrap();
        let crl: CertificateList = CertificateList::from_der(&crl).unwrap();
        assert_eq!(crl.tbs_cert_list.revoked_certificates.unwrap().len(), 1);
        drop(ca);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tcp_conversation_random_port() {
        let dir = temp_dir("embedded-tcp");
        let ctx = zmq::Context::new();
        let ca = EmbeddedCa::start(&ctx, "tcp://127.0.0.1:*", &dir).unwrap();
        assert!(
            ca.endpoint().starts_with("tcp://127.0.0.1:"),
            "{}",
            ca.endpoint()
        );
        // A separate context, as a standalone RA would have.
        let client = CaClient::connect(zmq::Context::new(), ca.endpoint(), Duration::from_secs(5));
        conversation(&client, &ca);
        drop(ca);
        fs::remove_dir_all(&dir).unwrap();
    }

    // Protocol: a bad JSON request gets "Invalid JSON: …" without a code; unknown task → [700].
    #[test]
    fn raw_frames() {
        let dir = temp_dir("embedded-raw");
        let ctx = zmq::Context::new();
        let ca = EmbeddedCa::start(&ctx, "inproc://upki-ca-embedded-raw", &dir).unwrap();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_rcvtimeo(5000).unwrap();
        req.connect(ca.endpoint()).unwrap();
        let ask = |frame: &[u8]| -> Value {
            req.send(frame, 0).unwrap();
            serde_json::from_slice(&req.recv_bytes(0).unwrap()).unwrap()
        };
        let v = ask(b"{not json");
        assert_eq!(v["EVENT"], "UPKI ERROR");
        assert!(
            v["MSG"].as_str().unwrap().starts_with("Invalid JSON: "),
            "{v}"
        );
        let v = ask(br#"{"TASK":"frobnicate"}"#);
        assert_eq!(v["MSG"], "[700] Unknown task: frobnicate");
        let v = ask(br#"{"TASK":"get_profile","params":{"profile":"server"}}"#);
        assert_eq!(v["DATA"]["duration"], 60);
        assert_eq!(
            v["DATA"]["extendedKeyUsage"],
            serde_json::json!(["serverAuth"])
        );
        // Protocol: `sign` rejects DER (PEM only) and a missing CSR.
        let der_b64 = base64::engine::general_purpose::STANDARD
            .encode(include_bytes!("../pki/testdata/p256.der"));
        let v = ask(
            serde_json::json!({"TASK": "sign", "params": {"csr": der_b64}})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(v["EVENT"], "UPKI ERROR");
        let v = ask(br#"{"TASK":"sign","params":{}}"#);
        assert_eq!(v["MSG"], "[300] Missing CSR");
        // `sign` without a profile uses "server"; serial is a bare JSON integer.
        let pem = csr_pem(include_bytes!("../pki/testdata/ed25519.der"));
        let v = ask(serde_json::json!({"TASK": "sign", "params": {"csr": pem}})
            .to_string()
            .as_bytes());
        assert!(v["DATA"]["serial"].is_number(), "{v}");
        drop(ca);
        fs::remove_dir_all(&dir).unwrap();
    }

    // An ipc:// endpoint whose socket file was left by a previous run binds and serves.
    #[test]
    fn ipc_endpoint_over_stale_socket_file() {
        let dir = temp_dir("embedded-ipc");
        let path = dir.join("ca.sock");
        let endpoint = format!("ipc://{}", path.display());
        {
            let _stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        }
        assert!(path.exists());
        let ctx = zmq::Context::new();
        let ca = EmbeddedCa::start(&ctx, &endpoint, &dir).unwrap();
        let client = CaClient::connect(ctx.clone(), ca.endpoint(), Duration::from_secs(5));
        assert!(
            smol::block_on(client.get_ca())
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        drop(ca);
        fs::remove_dir_all(&dir).unwrap();
    }
}
