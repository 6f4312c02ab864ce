//! Two small tables of the CA link (shared/spec/upki-ca-protocol.md):
//!
//! - `issuance`: the intent of each order in `processing` (catalog #58), so that start-up can
//!   re-ask the CA instead of leaving the order stuck.
//! - `sync_queue`: the outbox of `acme_sync_*` messages. Every `put_account`/`put_order`/
//!   `put_authz`/`put_cert` appends an item in the same transaction as the change, so no state
//!   change is missed by a crash; the CA link drains it off the request path. The queue is
//!   bounded ([`SYNC_QUEUE_CAP`]): when full, the oldest item is dropped (sync is best effort).
//!   A process that will never send them (`[ca] sync` off) turns the outbox off with
//!   [`set_sync_outbox`]: nothing is appended then.

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::records::{IssuanceIntent, SCHEMA_VERSION};
use super::tables::{Reader, T_ISSUANCE, T_SYNC_QUEUE, Writer, get, put_json};

/// Whether `put_*` append outbox items (see [`set_sync_outbox`]). Per process: one server
/// process opens one store.
static SYNC_OUTBOX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the `acme_sync` outbox on or off for this process (`serve` with `[ca] sync` off: no
/// sender would ever drain it). On by default.
pub(crate) fn set_sync_outbox(on: bool) {
    SYNC_OUTBOX.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Most items the sync outbox holds; beyond it the oldest is dropped (and counted in the log).
pub(crate) const SYNC_QUEUE_CAP: u64 = 10_000;

/// Which record an outbox item is about (the `acme_sync_*` task it becomes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SyncKind {
    Account,
    Order,
    Authz,
    Cert,
}

/// One outbox entry: the record changed; its current state is read when the item is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SyncItem {
    pub(crate) v: u16,
    /// Position in the queue (the LMDB key); not serialized into the value.
    #[serde(skip)]
    pub(crate) seq: u64,
    pub(crate) kind: SyncKind,
    pub(crate) id: String,
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

impl Reader<'_> {
    /// Up to `n` outbox items, oldest first. Items that cannot be decoded are returned with
    /// an empty id so the sender deletes them.
    pub(crate) fn sync_items(&self, n: usize) -> Result<Vec<SyncItem>, StoreError> {
        let mut out = Vec::new();
        for entry in self.t.sync_queue.iter(&self.txn)?.take(n) {
            let (key, value) = entry?;
            let Some(seq) = seq_of(key) else { continue };
            let mut item: SyncItem = serde_json::from_slice(value).unwrap_or(SyncItem {
                v: SCHEMA_VERSION,
                seq,
                kind: SyncKind::Account,
                id: String::new(),
            });
            item.seq = seq;
            out.push(item);
        }
        Ok(out)
    }

    /// Items waiting in the outbox.
    pub(crate) fn sync_len(&self) -> Result<u64, StoreError> {
        Ok(self.t.sync_queue.len(&self.txn)?)
    }

    /// The issuance intent of an order in `processing`.
    pub(crate) fn intent(&self, order_id: &str) -> Result<Option<IssuanceIntent>, StoreError> {
        get(&self.txn, self.t.issuance, T_ISSUANCE, order_id)
    }
}

impl Writer<'_> {
    /// Appends an outbox item (called by the `put_*` of every synced record). At the cap the
    /// oldest item is dropped first.
    pub(super) fn sync_push(&mut self, kind: SyncKind, id: &str) -> Result<(), StoreError> {
        if !SYNC_OUTBOX.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let q = self.t.sync_queue;
        let next = match q.last(&self.txn)? {
            Some((key, _)) => seq_of(key).map_or(0, |s| s.saturating_add(1)),
            None => 0,
        };
        if q.len(&self.txn)? >= SYNC_QUEUE_CAP
            && let Some((oldest, _)) = q.first(&self.txn)?
        {
            let oldest = oldest.to_vec();
            q.delete(&mut self.txn, &oldest)?;
            log::warn!("acme_sync outbox full ({SYNC_QUEUE_CAP}): dropped the oldest item");
        }
        let item = SyncItem {
            v: SCHEMA_VERSION,
            seq: next,
            kind,
            id: id.to_owned(),
        };
        let bytes = serde_json::to_vec(&item)
            .map_err(|e| StoreError::Lmdb(format!("cannot encode {T_SYNC_QUEUE}: {e}")))?;
        q.put(&mut self.txn, &seq_key(next), &bytes)?;
        Ok(())
    }

    /// Removes a sent (or skipped) outbox item.
    pub(crate) fn sync_done(&mut self, seq: u64) -> Result<(), StoreError> {
        self.t.sync_queue.delete(&mut self.txn, &seq_key(seq))?;
        Ok(())
    }

    /// Empties the outbox (after a rebuild from the CA: it already holds everything).
    pub(crate) fn sync_clear(&mut self) -> Result<(), StoreError> {
        self.t.sync_queue.clear(&mut self.txn)?;
        Ok(())
    }

    /// Records the issuance intent (with the order's move to `processing`).
    pub(crate) fn put_intent(&mut self, intent: &IssuanceIntent) -> Result<(), StoreError> {
        let t = self.t.issuance;
        put_json(&mut self.txn, t, T_ISSUANCE, &intent.order_id, intent)
    }

    /// Drops the intent once the order left `processing`.
    pub(crate) fn delete_intent(&mut self, order_id: &str) -> Result<(), StoreError> {
        if !order_id.is_empty() {
            self.t.issuance.delete(&mut self.txn, order_id.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use smol::block_on;

    use super::*;
    use crate::store::Store;

    fn temp_store(tag: &str) -> (Store, std::path::PathBuf) {
        let mut r = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r).unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("upki-ra-{tag}-{name}"));
        (Store::open(&dir.join("db"), 8 << 20).unwrap(), dir)
    }

    // Catalog #58: the intent is durable and survives a reopen; deleting it removes it.
    #[test]
    fn catalog_58_intent_round_trip_and_reopen() {
        let (store, dir) = temp_store("intent");
        let intent = IssuanceIntent {
            v: SCHEMA_VERSION,
            order_id: "o1".into(),
            csr_pem: "PEM".into(),
            profile: "server".into(),
            started_at: 7,
        };
        let i2 = intent.clone();
        block_on(store.write(move |w| w.put_intent(&i2))).unwrap();
        drop(store);
        let store = Store::open(&dir.join("db"), 8 << 20).unwrap();
        assert_eq!(store.read(|r| r.intent("o1")).unwrap(), Some(intent));
        block_on(store.write(|w| w.delete_intent("o1"))).unwrap();
        assert_eq!(store.read(|r| r.intent("o1")).unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    // The outbox keeps order, survives a reopen, and `sync_done` removes exactly one item.
    #[test]
    fn outbox_fifo_persistent() {
        let (store, dir) = temp_store("outbox");
        block_on(store.write(|w| {
            w.sync_push(SyncKind::Account, "a")?;
            w.sync_push(SyncKind::Order, "o")?;
            w.sync_push(SyncKind::Cert, "c")
        }))
        .unwrap();
        drop(store);
        let store = Store::open(&dir.join("db"), 8 << 20).unwrap();
        let items = store.read(|r| r.sync_items(10)).unwrap();
        let got: Vec<(SyncKind, &str)> = items.iter().map(|i| (i.kind, i.id.as_str())).collect();
        assert_eq!(
            got,
            [
                (SyncKind::Account, "a"),
                (SyncKind::Order, "o"),
                (SyncKind::Cert, "c")
            ]
        );
        let first = items.first().unwrap().seq;
        block_on(store.write(move |w| w.sync_done(first))).unwrap();
        assert_eq!(store.read(|r| r.sync_len()).unwrap(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    // Bounded: at the cap the oldest item goes.
    #[test]
    fn outbox_is_bounded() {
        let (store, dir) = temp_store("outbox-cap");
        block_on(store.write(|w| {
            for i in 0..=SYNC_QUEUE_CAP {
                w.sync_push(SyncKind::Order, &i.to_string())?;
            }
            Ok(())
        }))
        .unwrap();
        assert_eq!(store.read(|r| r.sync_len()).unwrap(), SYNC_QUEUE_CAP);
        let first = store.read(|r| r.sync_items(1)).unwrap();
        assert_eq!(first.first().map(|i| i.id.as_str()), Some("1"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
