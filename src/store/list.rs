//! Whole-table scans for the operator CLI (`upki-ra admin … list`): every account, order and
//! certificate, decoded like single reads (a record of a newer schema is an error, not skipped).
//! The ACME request path never scans; it reads by key or index.

use heed::RoTxn;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::records::{AccountRecord, CertRecord, OrderRecord};
use super::tables::{Reader, T_ACCOUNTS, T_CERTS, T_ORDERS, Table, decode};

/// Decodes every value of `db`, in key order.
fn scan<T: DeserializeOwned>(
    txn: &RoTxn<'_>,
    db: Table,
    table: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for entry in db.iter(txn)? {
        let (key, value) = entry?;
        let id = String::from_utf8_lossy(key);
        out.push(decode(table, &id, value)?);
    }
    Ok(out)
}

impl Reader<'_> {
    /// Every account (RFC 8555 §7.1.2), by id.
    pub(crate) fn all_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        scan(&self.txn, self.t.accounts, T_ACCOUNTS)
    }

    /// Every order (RFC 8555 §7.1.3), by id.
    pub(crate) fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        scan(&self.txn, self.t.orders, T_ORDERS)
    }

    /// Every certificate the RA obtained, by id.
    pub(crate) fn all_certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        scan(&self.txn, self.t.certs, T_CERTS)
    }
}
