//! `upki-ra rebuild --from-ca`: reconstructs a fresh RA's accounts, orders, authorizations and
//! certificates from a CA that implements the `acme_list_*` read tasks (our standalone CA,
//! `ca::acme_store`), using the `record` each `acme_sync_*` message carried (`ca::sync`). The
//! seed's promise: "This allows future RA instances to reconstruct state from the CA."
//!
//! Refuses to run over an existing store (it would mix two histories). Orders that were
//! `processing` come back as such and are failed with a reason at the next start (no intent).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ca::{CaClient, CaError};
use crate::config::Config;
use crate::store::Store;
use crate::store::records::{AccountRecord, AuthzRecord, CertRecord, OrderRecord};

const USAGE: &str = "\
USAGE:
    upki-ra rebuild --from-ca [--config FILE] [--data-dir DIR] [--ca-endpoint tcp://HOST:PORT]

Rebuilds the RA's state in a fresh DIR from the CA (ca.endpoint) that kept the acme_sync_*
messages: accounts, orders, authorizations and certificates.
";

/// How many records of each kind were restored.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Restored {
    pub(crate) accounts: usize,
    pub(crate) orders: usize,
    pub(crate) authzs: usize,
    pub(crate) certs: usize,
}

async fn records<T: DeserializeOwned>(ca: &CaClient, task: &str) -> Result<Vec<T>, String> {
    let list = ca.request(task, json!({})).await.map_err(|e| match e {
        CaError::Remote { message, .. } if message.starts_with("Unknown task") => format!(
            "the CA does not implement {task}: it cannot rebuild an RA (upki-ca 0.1.5 keeps no \
             ACME state; use `upki-ra ca serve`)"
        ),
        other => format!("{task}: {other}"),
    })?;
    let Value::Array(items) = list else {
        return Err(format!("{task}: not a list"));
    };
    items
        .into_iter()
        .map(|mut item| {
            let record = item
                .get_mut("record")
                .map(Value::take)
                .unwrap_or(Value::Null);
            serde_json::from_value(record).map_err(|e| format!("{task}: a record is unusable: {e}"))
        })
        .collect()
}

/// Reads everything from `ca` and writes it into `store` in one transaction.
pub(crate) async fn rebuild(ca: &CaClient, store: &Store) -> Result<Restored, String> {
    let accounts: Vec<AccountRecord> = records(ca, "acme_list_accounts").await?;
    let orders: Vec<OrderRecord> = records(ca, "acme_list_orders").await?;
    let authzs: Vec<AuthzRecord> = records(ca, "acme_list_authorizations").await?;
    let certs: Vec<CertRecord> = records(ca, "acme_list_certificates").await?;
    let restored = Restored {
        accounts: accounts.len(),
        orders: orders.len(),
        authzs: authzs.len(),
        certs: certs.len(),
    };
    store
        .write(move |w| {
            for a in &accounts {
                w.put_account(a)?;
            }
            for a in &authzs {
                w.put_authz(a)?;
            }
            for o in &orders {
                w.put_order(o)?;
            }
            for c in &certs {
                w.put_cert(c)?;
            }
            // The CA already holds all of it: nothing to send back.
            w.sync_clear()
        })
        .await
        .map_err(|e| format!("cannot write the store: {e}"))?;
    Ok(restored)
}

/// `upki-ra rebuild …`: the process exit code.
pub(crate) fn main(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut from_ca = false;
    let mut config_path: Option<PathBuf> = None;
    let mut data_dir = None;
    let mut endpoint = None;
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--from-ca" => from_ca = true,
            "--config" => config_path = args.next().map(PathBuf::from),
            "--data-dir" => data_dir = args.next().map(PathBuf::from),
            "--ca-endpoint" => endpoint = args.next(),
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("upki-ra rebuild: unknown option {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if !from_ca {
        eprintln!("upki-ra rebuild: --from-ca is required (the only source)\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut config = match &config_path {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("upki-ra rebuild: config: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        config.server.data_dir = d;
    }
    let Some(endpoint) = endpoint.or(config.ca.endpoint.clone()) else {
        eprintln!("upki-ra rebuild: no CA: set ca.endpoint or --ca-endpoint");
        return ExitCode::from(2);
    };
    let db = config.server.data_dir.join("db");
    if has_store(&db) {
        eprintln!(
            "upki-ra rebuild: {} already holds a store; rebuild needs a fresh data folder",
            db.display()
        );
        return ExitCode::FAILURE;
    }
    let map_size = usize::try_from(config.server.map_size_mib << 20).unwrap_or(usize::MAX);
    let store = match Store::open(&db, map_size) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("upki-ra rebuild: cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let timeout = Duration::from_secs(config.ca.timeout_secs.max(30));
    let ca = CaClient::connect(zmq::Context::new(), &endpoint, timeout);
    match smol::block_on(rebuild(&ca, &store)) {
        Ok(r) => {
            println!(
                "rebuilt from {endpoint}: {} accounts, {} orders, {} authorizations, {} certificates",
                r.accounts, r.orders, r.authzs, r.certs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upki-ra rebuild: {e}");
            ExitCode::FAILURE
        }
    }
}

fn has_store(db: &Path) -> bool {
    db.join("data.mdb").exists()
}
