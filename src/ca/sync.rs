//! The `acme_sync_*` messages (shared/spec/upki-ca-protocol.md, "The documented `acme_sync_*`
//! tasks"): after every state change the store appends an item to its outbox (same
//! transaction); this task drains it to the CA, off the request path and on its own REQ socket
//! so it never delays `sign`.
//!
//! - A CA that answers `[700] Unknown task` (upki-ca 0.1.5) is logged once; the outbox is then
//!   emptied without sending for the rest of the run.
//! - A CA that does not answer keeps the items (the outbox is in LMDB and bounded, see
//!   `store::SYNC_QUEUE_CAP`) and is retried with a capped backoff.
//! - Any other refusal of one item is logged and the item dropped (retrying cannot help).
//!
//! Besides the documented fields, each message carries `record`: the RA's full record, so a
//! CA that keeps it can hand it back for `upki-ra rebuild --from-ca`. Certificates go as
//! `acme_sync_certificate` (not in the documented list; a CA without it says Unknown task).

use std::time::Duration;

use async_io::Timer;
use serde_json::{Value, json};

use crate::ca::{CaClient, CaError};
use crate::store::{Store, SyncItem, SyncKind};

/// Items sent per read of the outbox.
const BATCH: usize = 32;
/// Pause when the outbox is empty.
const IDLE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// ISO 8601 / RFC 3339 text of a Unix time.
fn iso(t: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// The task and params for one outbox item, from the record's current state; None when the
/// record is gone (nothing to say).
pub(crate) fn message(store: &Store, item: &SyncItem) -> Option<(&'static str, Value)> {
    let read = store.read(|r| {
        Ok(match item.kind {
            SyncKind::Account => r.account(&item.id)?.map(|a| {
                let record = serde_json::to_value(&a).unwrap_or(Value::Null);
                let params = json!({
                    "account_id": a.id,
                    "jwk": a.jwk,
                    "contact": a.contact,
                    "status": a.status,
                    "created_at": iso(a.created_at),
                    "record": record,
                });
                ("acme_sync_account", params)
            }),
            SyncKind::Order => r.order(&item.id)?.map(|o| {
                let record = serde_json::to_value(&o).unwrap_or(Value::Null);
                let params = json!({
                    "order_id": o.id,
                    "account_id": o.account_id,
                    "identifiers": o.identifiers,
                    "status": o.status,
                    "not_before": o.not_before.map(iso),
                    "not_after": o.not_after.map(iso),
                    "record": record,
                });
                ("acme_sync_order", params)
            }),
            SyncKind::Authz => r.authz(&item.id)?.map(|a| {
                let record = serde_json::to_value(&a).unwrap_or(Value::Null);
                let params = json!({
                    "auth_id": a.id,
                    "order_id": a.order_id,
                    "identifier_type": a.identifier.kind,
                    "identifier_value": a.identifier.value,
                    "status": a.status,
                    "record": record,
                });
                ("acme_sync_authorization", params)
            }),
            SyncKind::Cert => r.cert(&item.id)?.map(|c| {
                let record = serde_json::to_value(&c).unwrap_or(Value::Null);
                let params = json!({
                    "certificate_id": c.id,
                    "order_id": c.order_id,
                    "account_id": c.account_id,
                    "serial": c.serial,
                    "certificate": c.chain_pem,
                    "revoked": c.revoked.as_ref().map(|r| r.reason),
                    "record": record,
                });
                ("acme_sync_certificate", params)
            }),
        })
    });
    match read {
        Ok(m) => m,
        Err(e) => {
            log::warn!("acme_sync: cannot read {:?} {}: {e}", item.kind, item.id);
            None
        }
    }
}

/// What the CA said about one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent,
    /// The CA does not implement the task (upki-ca 0.1.5).
    Unsupported,
    /// The CA refused this item; dropped.
    Refused,
    /// The CA did not answer; keep the item and retry later.
    Unreachable,
}

pub(crate) fn classify(result: &Result<Value, CaError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Sent,
        Err(CaError::Remote { message, .. }) if message.starts_with("Unknown task") => {
            Outcome::Unsupported
        }
        Err(CaError::Remote { .. } | CaError::BadReply(_)) => Outcome::Refused,
        Err(CaError::Timeout | CaError::Transport(_)) => Outcome::Unreachable,
    }
}

/// Drains the outbox forever (spawn it on the executor).
pub(crate) async fn run(store: Store, ca: CaClient) {
    let mut unsupported = false;
    let mut backoff = Duration::from_secs(1);
    loop {
        let items = match store.read(|r| r.sync_items(BATCH)) {
            Ok(items) => items,
            Err(e) => {
                log::error!("acme_sync: cannot read the outbox: {e}");
                Timer::after(MAX_BACKOFF).await;
                continue;
            }
        };
        if items.is_empty() {
            Timer::after(IDLE).await;
            continue;
        }
        let mut done = Vec::with_capacity(items.len());
        let mut sent: Vec<(SyncKind, String)> = Vec::new();
        let mut stalled = false;
        for item in items {
            let key = (item.kind, item.id.clone());
            // The message carries the current state: a second item for the same record in
            // this batch has nothing new to say.
            if unsupported || item.id.is_empty() || sent.contains(&key) {
                done.push(item.seq);
                continue;
            }
            let Some((task, params)) = message(&store, &item) else {
                done.push(item.seq);
                continue;
            };
            let result = ca.request(task, params).await;
            match classify(&result) {
                Outcome::Sent => {
                    sent.push(key);
                    done.push(item.seq);
                }
                Outcome::Unsupported => {
                    log::warn!(
                        "acme_sync: the CA does not implement {task} ({}); ACME state is not \
                         synced to it for the rest of this run",
                        result.err().map(|e| e.to_string()).unwrap_or_default()
                    );
                    unsupported = true;
                    done.push(item.seq);
                }
                Outcome::Refused => {
                    log::warn!(
                        "acme_sync: the CA refused {task} for {}: {}",
                        item.id,
                        result.err().map(|e| e.to_string()).unwrap_or_default()
                    );
                    done.push(item.seq);
                }
                Outcome::Unreachable => {
                    stalled = true;
                    break;
                }
            }
        }
        if !done.is_empty() {
            let write = store
                .write(move |w| {
                    for seq in done {
                        w.sync_done(seq)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = write {
                log::error!("acme_sync: cannot update the outbox: {e}");
            }
        }
        if stalled {
            log::warn!(
                "acme_sync: CA unreachable; {} item(s) kept, retrying in {} s",
                store.read(|r| r.sync_len()).unwrap_or(0),
                backoff.as_secs()
            );
            Timer::after(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            backoff = Duration::from_secs(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Protocol: `[700] Unknown task: acme_sync_account` (upki-ca 0.1.5) → unsupported, logged
    // once; silence → kept for retry; any other refusal → dropped.
    #[test]
    fn outcomes_of_ca_answers() {
        let unknown = Err(crate::ca::proto::remote_error(
            "[700] Unknown task: acme_sync_account",
        ));
        assert_eq!(classify(&unknown), Outcome::Unsupported);
        assert_eq!(classify(&Err(CaError::Timeout)), Outcome::Unreachable);
        assert_eq!(
            classify(&Err(CaError::Transport("x".into()))),
            Outcome::Unreachable
        );
        assert_eq!(
            classify(&Err(crate::ca::proto::remote_error("[100] disk full"))),
            Outcome::Refused
        );
        assert_eq!(classify(&Ok(Value::Bool(true))), Outcome::Sent);
    }
}
