//! The operator's command line: `upki-ra admin accounts|orders|certs list|show`,
//! `upki-ra admin revoke`, `upki-ra config check FILE` and `upki-ra status`.
//!
//! Everything here runs in its own process next to a running `upki-ra serve`: the store is
//! opened read-only ([`ReadOnlyStore`], LMDB's multi-process readers), the server is asked
//! for its health over the metrics listener (`/healthz`) and revocation goes through the
//! server's control socket ([`control`]) because only the server holds the CA link. Output is
//! for people by default and JSON with `--json`.
#![forbid(unsafe_code)]

pub(crate) mod control;
mod records;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::store::ReadOnlyStore;

/// The configuration file the packages install; used when `--config` is not given.
const PACKAGED_CONFIG: &str = "/etc/upki-ra/ra.toml";

pub(crate) const USAGE: &str = "\
ADMIN (read the store while the server runs; add --json for machine-readable output):
    upki-ra admin accounts list [--status valid|deactivated|revoked]
    upki-ra admin accounts show ID
    upki-ra admin orders list [--status pending|ready|processing|valid|invalid]
                              [--name TEXT] [--account ID]
    upki-ra admin orders show ID
    upki-ra admin certs list [--status valid|revoked|expired] [--name TEXT]
                             [--expiring-within N[d|h|m|s]]
    upki-ra admin certs show SERIAL|ID
    upki-ra admin revoke --serial SERIAL [--reason R]
                                revoke through the running server (its CA link); R is an
                                RFC 5280 reason name or code (default unspecified)
  Every admin command and `status` take --config FILE (default /etc/upki-ra/ra.toml when it
  exists, else the built-in defaults) and --data-dir DIR (overrides server.data_dir).
";

/// Options shared by the admin commands, and the rest of the command line.
struct Common {
    config: Config,
    json: bool,
    rest: Vec<String>,
}

/// An error message for the operator, printed after `upki-ra: `; exit code 2 for usage
/// errors, 1 for everything else.
struct Failure {
    usage: bool,
    message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        usage: true,
        message: message.into(),
    }
}

fn failure(message: impl Into<String>) -> Failure {
    Failure {
        usage: false,
        message: message.into(),
    }
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("upki-ra: {}", f.message);
            ExitCode::from(if f.usage { 2 } else { 1 })
        }
    }
}

/// Splits off `--config`, `--data-dir` and `--json`, and loads the configuration.
fn common(args: impl Iterator<Item = String>) -> Result<Common, Failure> {
    let mut config_path: Option<PathBuf> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut json = false;
    let mut rest = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--config" | "--data-dir" => {
                let value = args
                    .next()
                    .ok_or_else(|| usage(format!("{arg} needs a value")))?;
                if arg == "--config" {
                    config_path = Some(value.into());
                } else {
                    data_dir = Some(value.into());
                }
            }
            _ => rest.push(arg),
        }
    }
    let path = config_path.or_else(|| {
        Path::new(PACKAGED_CONFIG)
            .is_file()
            .then(|| PACKAGED_CONFIG.into())
    });
    let mut config = match path {
        Some(p) => Config::load(&p).map_err(|e| failure(format!("config: {e}")))?,
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        config.server.data_dir = d;
    }
    Ok(Common { config, json, rest })
}

/// Opens the store of `config` read-only.
fn open_store(config: &Config) -> Result<ReadOnlyStore, Failure> {
    let map_size = usize::try_from(config.server.map_size_mib << 20).unwrap_or(usize::MAX);
    let dir = config.server.data_dir.join("db");
    ReadOnlyStore::open(&dir, map_size)
        .map_err(|e| failure(format!("cannot open the store {}: {e}", dir.display())))
}

/// `upki-ra admin …`
pub(crate) fn admin(args: impl Iterator<Item = String>) -> ExitCode {
    finish(common(args).and_then(|c| {
        let rest: Vec<&str> = c.rest.iter().map(String::as_str).collect();
        match rest.as_slice() {
            ["accounts", cmd, more @ ..] => records::accounts(&c, cmd, more),
            ["orders", cmd, more @ ..] => records::orders(&c, cmd, more),
            ["certs", cmd, more @ ..] => records::certs(&c, cmd, more),
            ["revoke", more @ ..] => control::revoke_command(&c, more),
            _ => Err(usage(format!("usage:\n{USAGE}"))),
        }
    }))
}

/// `upki-ra status`
pub(crate) fn status(args: impl Iterator<Item = String>) -> ExitCode {
    finish(common(args).and_then(|c| {
        if let Some(extra) = c.rest.first() {
            return Err(usage(format!("status: unexpected argument {extra:?}")));
        }
        status::run(&c)
    }))
}

/// `upki-ra config check FILE`: loads FILE exactly as `serve --config FILE` would and prints
/// the first problem with its line (TOML errors) or key (value errors).
pub(crate) fn config(mut args: impl Iterator<Item = String>) -> ExitCode {
    let result = match (args.next().as_deref(), args.next(), args.next()) {
        (Some("check"), Some(file), None) => match Config::load(Path::new(&file)) {
            Ok(c) => {
                println!(
                    "{file}: OK (listen {}, data_dir {}, directory {}/acme/directory)",
                    c.server.listen,
                    c.server.data_dir.display(),
                    c.base_url()
                );
                Ok(())
            }
            Err(e) => Err(failure(format!("config: {e}"))),
        },
        _ => Err(usage("usage: upki-ra config check FILE")),
    };
    finish(result)
}
