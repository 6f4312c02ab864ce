//! `upki-ra ca serve`: our uPKI-compatible CA as its own process, wire-compatible with upki-ca
//! 0.1.5 (shared/spec/upki-ca-protocol.md): tasks on tcp://LISTEN:5000, RA registration on
//! :5001 (seed from `ca_server.seed_file` or `UPKI_CA_SEED`), P-256 root in
//! `<data_dir>/ca/` (key 0600), CRL, `view`, and every `acme_*` task kept in
//! `<data_dir>/ca/acme/` (see `ca::acme_store`). Runs until the process is stopped.

use std::process::ExitCode;
use std::time::Duration;

use crate::ca::embedded::{EmbeddedCa, Registration};
use crate::config::Config;

const USAGE: &str = "\
USAGE:
    upki-ra ca serve [--config FILE]

Runs the uPKI-compatible CA: tasks on ca_server.listen:ca_server.port (default
127.0.0.1:5000), registration on ca_server.register_port (5001) with the seed read from
ca_server.seed_file or $UPKI_CA_SEED. State in ca_server.data_dir (default ./upki-ca-data).
";

/// `upki-ra ca …`: the process exit code.
pub(crate) fn main(mut args: impl Iterator<Item = String>) -> ExitCode {
    match args.next().as_deref() {
        Some("serve") => {}
        Some("--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let mut config_path = None;
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--config" => config_path = args.next(),
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("upki-ra ca serve: unknown option {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let config = match config_path {
        Some(p) => match Config::load(std::path::Path::new(&p)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("upki-ra ca serve: config: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    crate::cli::init_logging(&config.log.level);
    let cs = &config.ca_server;
    let seed = match &cs.seed_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s.trim().to_owned()),
            Err(e) => {
                eprintln!("upki-ra ca serve: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => std::env::var("UPKI_CA_SEED").ok(),
    }
    .filter(|s| !s.is_empty());
    let host = match cs.listen {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let endpoint = format!("tcp://{host}:{}", cs.port);
    let registration = match seed {
        Some(seed) => Some(Registration {
            endpoint: format!("tcp://{host}:{}", cs.register_port),
            seed,
        }),
        None => {
            log::warn!(
                "no registration seed (ca_server.seed_file, UPKI_CA_SEED): registration is closed"
            );
            None
        }
    };
    let ctx = zmq::Context::new();
    let ca = match EmbeddedCa::start_with(&ctx, &endpoint, &cs.data_dir, registration, &cs.profiles)
    {
        Ok(ca) => ca,
        Err(e) => {
            eprintln!("upki-ra ca serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "uPKI CA ready on {endpoint}; root certificate {}",
        ca.ca_cert_path().display()
    );
    // systemd Type=notify (systemd/upki-ca.service): the sockets are bound.
    crate::daemon::notify("READY=1");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
