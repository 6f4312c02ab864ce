//! `upki-ra eab add [--label L] | list | revoke KID`: the operator's External Account Binding
//! keys (RFC 8555 §7.3.4). `add` prints the key id and the HMAC key once; the store keeps the
//! key to verify MACs and marks it used when it binds an account (single use).
//!
//! The command opens the same LMDB store as `serve` (`--config` / `--data-dir` select it, and the
//! map size comes from the same configuration). It can run while the server runs: LMDB allows
//! several processes on one environment (its lock file serialises writers; readers see each
//! commit), and the server only refuses a second open *inside its own process*. A key added
//! here is usable by the running server at once, without a restart.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use crate::acme::ids;
use crate::config::Config;
use crate::store::Store;
use crate::store::records::{EabKeyRecord, SCHEMA_VERSION};

const USAGE: &str = "\
USAGE:
    upki-ra eab add [--label TEXT] [--config FILE] [--data-dir DIR]
    upki-ra eab list [--config FILE] [--data-dir DIR]
    upki-ra eab revoke KID [--config FILE] [--data-dir DIR]

`add` prints a key id and an HMAC key (base64url) once; give both to the client, e.g.
`certbot --eab-kid KID --eab-hmac-key KEY` or `lego --eab --kid KID --hmac KEY`.
Each key registers one ACME account. Set `require_eab = true` in [acme] to make keys mandatory.
";

/// Longest label accepted (it is shown by `list`).
const MAX_LABEL: usize = 200;

enum Command {
    Add { label: String },
    List,
    Revoke { kid: String },
}

struct Args {
    command: Command,
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let sub = args.next().ok_or("missing subcommand")?;
    let mut label = String::new();
    let mut kid = None;
    let mut config = None;
    let mut data_dir = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--label" if sub == "add" => label = value("--label")?,
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            other if sub == "revoke" && kid.is_none() && !other.starts_with('-') => {
                kid = Some(other.to_owned());
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if label.len() > MAX_LABEL || label.chars().any(char::is_control) {
        return Err(format!(
            "--label: at most {MAX_LABEL} bytes, no control characters"
        ));
    }
    let command = match sub.as_str() {
        "add" => Command::Add { label },
        "list" => Command::List,
        "revoke" => Command::Revoke {
            kid: kid.ok_or("revoke needs the key id")?,
        },
        other => return Err(format!("unknown subcommand {other:?}")),
    };
    Ok(Args {
        command,
        config,
        data_dir,
    })
}

/// Runs `upki-ra eab …` (the arguments after `eab`).
pub(crate) fn run(args: impl Iterator<Item = String>) -> ExitCode {
    let mut args = args.peekable();
    if args
        .peek()
        .is_some_and(|a| a == "--help" || a == "-h" || a == "help")
    {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("upki-ra eab: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("upki-ra eab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: Args) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| format!("config: {e}"))?,
        None => Config::default(),
    };
    if let Some(d) = args.data_dir {
        config.server.data_dir = d;
    }
    let dir = config.server.data_dir.join("db");
    let map_size = usize::try_from(config.server.map_size_mib << 20).unwrap_or(usize::MAX);
    let store = Store::open(&dir, map_size)
        .map_err(|e| format!("cannot open the store in {}: {e}", dir.display()))?;
    match args.command {
        Command::Add { label } => add(&store, label),
        Command::List => list(&store),
        Command::Revoke { kid } => revoke(&store, kid),
    }
}

fn add(store: &Store, label: String) -> Result<(), String> {
    let now = crate::acme::now();
    let record = EabKeyRecord {
        v: SCHEMA_VERSION,
        kid: ids::new_id(),
        label,
        // 256-bit HMAC key (RFC 7518 §3.2: at least the hash output size for HS256).
        hmac_key: ids::random_b64(32),
        created_at: now,
        bound_account: None,
        revoked: false,
    };
    let stored = record.clone();
    smol::block_on(store.write(move |w| {
        if w.eab_key(&stored.kid)?.is_some() {
            return Err(crate::store::StoreError::Conflict);
        }
        w.put_eab_key(&stored)
    }))
    .map_err(|e| format!("cannot store the key: {e}"))?;
    println!("kid: {}", record.kid);
    println!("hmac_key: {}", record.hmac_key);
    eprintln!("The HMAC key is shown only now. It registers one ACME account.");
    Ok(())
}

fn list(store: &Store) -> Result<(), String> {
    let keys = store
        .read(|r| r.eab_keys())
        .map_err(|e| format!("cannot read the keys: {e}"))?;
    println!("{:<24} {:<20} {:<34} label", "kid", "created", "state");
    for k in keys {
        let state = match (&k.bound_account, k.revoked) {
            (_, true) => "revoked".to_owned(),
            (Some(account), false) => format!("used by {account}"),
            (None, false) => "unused".to_owned(),
        };
        let created = crate::acme::rfc3339(k.created_at);
        println!("{:<24} {:<20} {:<34} {}", k.kid, created, state, k.label);
    }
    Ok(())
}

fn revoke(store: &Store, kid: String) -> Result<(), String> {
    let shown = kid.clone();
    let found = smol::block_on(store.write(move |w| {
        let Some(mut k) = w.eab_key(&kid)? else {
            return Ok(None);
        };
        k.revoked = true;
        w.put_eab_key(&k)?;
        Ok(Some(k.bound_account))
    }))
    .map_err(|e| format!("cannot revoke the key: {e}"))?;
    match found {
        None => Err(format!("no EAB key {shown:?}")),
        Some(Some(account)) => {
            println!(
                "revoked {shown}; it was already used by account {account}, which stays \
                 valid (the account itself can be deactivated by its holder)"
            );
            Ok(())
        }
        Some(None) => {
            println!("revoked {shown}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse(v.iter().map(|s| (*s).to_owned()))
    }

    // The `eab` command line: each subcommand, its options, and refusals.
    #[test]
    fn eab_command_line() {
        let a = args(&["add", "--label", "printer", "--data-dir", "/x"]).unwrap();
        assert!(matches!(a.command, Command::Add { ref label } if label == "printer"));
        assert_eq!(a.data_dir, Some(PathBuf::from("/x")));
        assert!(matches!(args(&["list"]).unwrap().command, Command::List));
        assert!(matches!(
            args(&["revoke", "abc"]).unwrap().command,
            Command::Revoke { ref kid } if kid == "abc"
        ));
        assert!(args(&["revoke"]).is_err());
        assert!(args(&["list", "--label", "x"]).is_err());
        assert!(args(&["add", "--label", "a\nb"]).is_err());
        assert!(args(&["delete"]).is_err());
        assert!(args(&[]).is_err());
    }
}
