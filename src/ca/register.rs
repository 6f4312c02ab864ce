//! `upki-ra register`: registers this RA on a uPKI CA's registration socket (`register` task on
//! port 5001, shared/spec/upki-ca-protocol.md "Registration on :5001") and stores what the CA
//! returns — the RA's certificate and private key (mode 0600) and the CA certificate — in
//! `<data_dir>/tls/`, where `serve` takes its HTTPS identity from.
//!
//! upki-ca generates the RA's key itself and sends it in clear: register over a trusted link.

use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::ca::{CaClient, CaError};
use crate::config::Config;
use crate::pki;
use crate::pki::issuer::write_atomic;

const USAGE: &str = "\
USAGE:
    upki-ra register (--seed SEED | --seed-file FILE) [--cn NAME] [--config FILE]
                     [--data-dir DIR] [--register-endpoint tcp://HOST:PORT]

Registers this RA on the uPKI CA's registration socket (ca.register_endpoint, or the port
after ca.endpoint) with the CA's seed. The certificate (profile \"ra\", names = server.tls_names,
CN = --cn or the first TLS name) and its key are stored in DIR/tls/ and used by `serve`.
";

/// The RA identity handed out by the CA.
#[derive(Debug, Deserialize)]
pub(crate) struct Registration {
    pub(crate) certificate: String,
    pub(crate) private_key: String,
    pub(crate) ca_certificate: String,
}

/// Where the RA's registered identity lives.
pub(crate) fn tls_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

/// Sends `register` and returns the identity the CA generated.
pub(crate) async fn register(
    client: &CaClient,
    seed: &str,
    cn: &str,
    names: &[String],
) -> Result<Registration, CaError> {
    let sans: Vec<_> = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(_) => json!({"type": "IP", "value": n}),
            Err(_) => json!({"type": "DNS", "value": n}),
        })
        .collect();
    let answer = client
        .request(
            "register",
            json!({"seed": seed, "cn": cn, "profile": "ra", "sans": sans}),
        )
        .await?;
    serde_json::from_value(answer).map_err(|e| {
        CaError::BadReply(format!(
            "register: {e} (the CA registered the RA but sent no certificate/key)"
        ))
    })
}

/// Checks the identity (the certificate is issued by the returned CA) and stores it:
/// `ra.crt` (leaf + CA), `ra.key` (0600), `ca.crt`.
pub(crate) fn save(dir: &Path, reg: &Registration) -> Result<(), String> {
    let leaf = pki::pem_to_ders(&reg.certificate)
        .ok()
        .and_then(|d| d.into_iter().next())
        .ok_or("the CA sent an unreadable certificate")?;
    let ca = pki::pem_to_ders(&reg.ca_certificate)
        .ok()
        .and_then(|d| d.into_iter().next())
        .ok_or("the CA sent an unreadable CA certificate")?;
    pki::verify_issued_by(&leaf, &ca)
        .map_err(|e| format!("the certificate is not issued by the CA certificate: {e}"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let chain = format!(
        "{}\n{}",
        reg.certificate.trim_end(),
        reg.ca_certificate.trim_end()
    );
    let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    let key_path = dir.join("ra.key");
    write_atomic(&key_path, reg.private_key.as_bytes(), 0o600).map_err(|e| io(&key_path, e))?;
    let crt = dir.join("ra.crt");
    write_atomic(&crt, format!("{chain}\n").as_bytes(), 0o644).map_err(|e| io(&crt, e))?;
    let ca_path = dir.join("ca.crt");
    write_atomic(&ca_path, reg.ca_certificate.as_bytes(), 0o644).map_err(|e| io(&ca_path, e))?;
    Ok(())
}

/// The stored identity (chain PEM, key PEM), if `register` was run.
pub(crate) fn load(dir: &Path) -> Option<(String, String)> {
    let chain = std::fs::read_to_string(dir.join("ra.crt")).ok()?;
    let key = std::fs::read_to_string(dir.join("ra.key")).ok()?;
    Some((chain, key))
}

/// `upki-ra register …`: the process exit code.
pub(crate) fn main(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut seed = None;
    let mut cn = None;
    let mut config_path = None;
    let mut data_dir = None;
    let mut endpoint = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match flag.as_str() {
            "--seed" => seed = Some(value()),
            "--seed-file" => {
                let path = value();
                match std::fs::read_to_string(&path) {
                    Ok(s) => seed = Some(s.trim().to_owned()),
                    Err(e) => {
                        eprintln!("upki-ra register: cannot read {path}: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--cn" => cn = Some(value()),
            "--config" => config_path = Some(PathBuf::from(value())),
            "--data-dir" => data_dir = Some(PathBuf::from(value())),
            "--register-endpoint" => endpoint = Some(value()),
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("upki-ra register: unknown option {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mut config = match config_path {
        Some(p) => match Config::load(&p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("upki-ra register: config: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        config.server.data_dir = d;
    }
    let Some(seed) = seed.filter(|s| !s.is_empty()) else {
        eprintln!("upki-ra register: --seed or --seed-file is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let Some(endpoint) = endpoint.or_else(|| config.ca.registration_endpoint()) else {
        eprintln!(
            "upki-ra register: no registration endpoint: set ca.endpoint (or \
             ca.register_endpoint) in the configuration, or --register-endpoint"
        );
        return ExitCode::from(2);
    };
    let names = config.server.tls_names.clone();
    let cn = cn.or_else(|| names.first().cloned()).unwrap_or_default();
    // The CA generates an RSA-4096 key for the RA (~2 s on upki-ca): allow it more time.
    let timeout = Duration::from_secs(config.ca.timeout_secs.max(30));
    let client = CaClient::connect(zmq::Context::new(), &endpoint, timeout);
    let reg = match smol::block_on(register(&client, &seed, &cn, &names)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upki-ra register: {endpoint}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = tls_dir(&config.server.data_dir);
    match save(&dir, &reg) {
        Ok(()) => {
            println!(
                "registered {cn:?} on {endpoint}; certificate and key stored in {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upki-ra register: {e}");
            ExitCode::FAILURE
        }
    }
}
