//! The LMDB tables of the store and the typed access to them: [`Reader`] (a read-only snapshot)
//! and [`Writer`] (one nested write transaction). Values are compact JSON of the records of
//! `records.rs` (RFC 8555 §7.1 objects); keys are the id strings as bytes. Secondary indexes
//! (account key thumbprint, challenge id, certificate serial, order status) are maintained here
//! and nowhere else, so they change in the same transaction as the record they point to.

use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn, WithoutTls};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::records::{
    AccountRecord, AuthzRecord, CertRecord, OrderRecord, OrderStatus, SCHEMA_VERSION,
};

/// One LMDB named database: raw bytes in, raw bytes out (the JSON codec lives in this file).
pub(super) type Table = Database<'static, Bytes, Bytes>;

/// LMDB's default maximum key size (`mdb_env_get_maxkeysize`, 511 bytes without the
/// `longer-keys` build option). Lookups with a longer or empty key find nothing instead of
/// failing with `MDB_BAD_VALSIZE`, because ids arrive in request URLs (attacker-chosen).
const MAX_KEY: usize = 511;

pub(super) const T_META: &str = "meta";
pub(super) const T_ACCOUNTS: &str = "accounts";
const T_ACCOUNT_BY_THUMBPRINT: &str = "account_by_thumbprint";
pub(super) const T_ORDERS: &str = "orders";
const T_ORDERS_BY_STATUS: &str = "orders_by_status";
const T_AUTHZS: &str = "authzs";
const T_AUTHZ_BY_CHALLENGE: &str = "authz_by_challenge";
pub(super) const T_CERTS: &str = "certs";
const T_CERT_BY_SERIAL: &str = "cert_by_serial";

/// Every table name, in the order [`Tables::from_list`] expects them.
pub(super) const TABLE_NAMES: [&str; 9] = [
    T_META,
    T_ACCOUNTS,
    T_ACCOUNT_BY_THUMBPRINT,
    T_ORDERS,
    T_ORDERS_BY_STATUS,
    T_AUTHZS,
    T_AUTHZ_BY_CHALLENGE,
    T_CERTS,
    T_CERT_BY_SERIAL,
];

/// Handles of the named databases; valid for the whole life of the environment they were
/// created in (heed checks the environment on every use).
#[derive(Clone, Copy)]
pub(super) struct Tables {
    /// `"schema"` → decimal schema version of the store.
    #[allow(
        dead_code,
        reason = "reached through `table(T_META)`; kept with the other handles"
    )]
    pub(super) meta: Table,
    pub(super) accounts: Table,
    /// RFC 7638 thumbprint → account id; unique (one key, one account: RFC 8555 §7.3.1).
    account_by_thumbprint: Table,
    pub(super) orders: Table,
    /// `status NUL order-id` → empty: finds the `processing` orders at start-up (catalog #58).
    orders_by_status: Table,
    authzs: Table,
    /// challenge id → authz id.
    authz_by_challenge: Table,
    pub(super) certs: Table,
    /// decimal serial → cert id (revocation looks certificates up by serial).
    cert_by_serial: Table,
}

impl Tables {
    pub(super) fn from_list(t: [Table; 9]) -> Tables {
        let [
            meta,
            accounts,
            account_by_thumbprint,
            orders,
            orders_by_status,
            authzs,
            authz_by_challenge,
            certs,
            cert_by_serial,
        ] = t;
        Tables {
            meta,
            accounts,
            account_by_thumbprint,
            orders,
            orders_by_status,
            authzs,
            authz_by_challenge,
            certs,
            cert_by_serial,
        }
    }
}

/// A read-only snapshot of the store (one LMDB read transaction, aborted when dropped).
pub(crate) struct Reader<'e> {
    pub(super) txn: RoTxn<'e, WithoutTls>,
    pub(super) t: &'e Tables,
}

/// One write closure's view of the store: a nested write transaction inside the batch's
/// transaction. It sees its own uncommitted writes; whatever it wrote is rolled back if the
/// closure returns `Err`.
pub(crate) struct Writer<'p> {
    pub(super) txn: RwTxn<'p>,
    pub(super) t: &'p Tables,
}

/// The getters, identical for [`Reader`] and [`Writer`]; `ro()` is the transaction to read.
macro_rules! getters {
    ($ty:ident) => {
        #[allow(
            dead_code,
            reason = "generated for both Reader and Writer; each uses a subset"
        )]
        impl $ty<'_> {
            /// The account with this id (RFC 8555 §7.1.2).
            pub(crate) fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
                get(self.ro(), self.t.accounts, T_ACCOUNTS, id)
            }

            /// The account whose key has this RFC 7638 thumbprint (RFC 8555 §7.3.1 lookup).
            pub(crate) fn account_by_thumbprint(
                &self,
                thumbprint: &str,
            ) -> Result<Option<AccountRecord>, StoreError> {
                let t = self.t;
                let idx = (t.account_by_thumbprint, T_ACCOUNT_BY_THUMBPRINT);
                get_via(self.ro(), idx, (t.accounts, T_ACCOUNTS), thumbprint)
            }

            /// The order with this id (RFC 8555 §7.1.3).
            pub(crate) fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
                get(self.ro(), self.t.orders, T_ORDERS, id)
            }

            /// The authorization with this id (RFC 8555 §7.1.4).
            pub(crate) fn authz(&self, id: &str) -> Result<Option<AuthzRecord>, StoreError> {
                get(self.ro(), self.t.authzs, T_AUTHZS, id)
            }

            /// The authorization holding the challenge with this id (RFC 8555 §7.5.1).
            pub(crate) fn authz_by_challenge(
                &self,
                challenge_id: &str,
            ) -> Result<Option<AuthzRecord>, StoreError> {
                let t = self.t;
                let idx = (t.authz_by_challenge, T_AUTHZ_BY_CHALLENGE);
                get_via(self.ro(), idx, (t.authzs, T_AUTHZS), challenge_id)
            }

            /// The certificate with this id (RFC 8555 §7.4.2).
            pub(crate) fn cert(&self, id: &str) -> Result<Option<CertRecord>, StoreError> {
                get(self.ro(), self.t.certs, T_CERTS, id)
            }

            /// The certificate with this decimal serial (RFC 8555 §7.6 revocation).
            pub(crate) fn cert_by_serial(
                &self,
                serial: &str,
            ) -> Result<Option<CertRecord>, StoreError> {
                let t = self.t;
                let idx = (t.cert_by_serial, T_CERT_BY_SERIAL);
                get_via(self.ro(), idx, (t.certs, T_CERTS), serial)
            }

            /// Every order currently in `status`, through the status index (start-up
            /// reconciliation of `processing` orders, catalog #58).
            pub(crate) fn orders_in_status(
                &self,
                status: OrderStatus,
            ) -> Result<Vec<OrderRecord>, StoreError> {
                orders_in_status(self.ro(), self.t, status)
            }
        }
    };
}

impl Reader<'_> {
    fn ro(&self) -> &RoTxn<'_> {
        &self.txn
    }
}

impl Writer<'_> {
    fn ro(&self) -> &RoTxn<'_> {
        &self.txn
    }
}

getters!(Reader);
getters!(Writer);

impl Writer<'_> {
    /// Stores an account and keeps the thumbprint index exact: a key rollover
    /// (RFC 8555 §7.3.5) moves the index entry. RFC 8555 §7.3.5: the server MUST refuse a new
    /// key that is "already in use for a different account" → `Conflict`, nothing written.
    pub(crate) fn put_account(&mut self, rec: &AccountRecord) -> Result<(), StoreError> {
        let t = *self.t;
        check_writable(T_ACCOUNTS, rec.v)?;
        if let Some(owner) = t
            .account_by_thumbprint
            .get(&self.txn, rec.thumbprint.as_bytes())?
            && owner != rec.id.as_bytes()
        {
            return Err(StoreError::Conflict);
        }
        let old: Option<AccountRecord> = get(&self.txn, t.accounts, T_ACCOUNTS, &rec.id)?;
        put_json(&mut self.txn, t.accounts, T_ACCOUNTS, &rec.id, rec)?;
        if let Some(old) = old
            && old.thumbprint != rec.thumbprint
        {
            t.account_by_thumbprint
                .delete(&mut self.txn, old.thumbprint.as_bytes())?;
        }
        t.account_by_thumbprint
            .put(&mut self.txn, rec.thumbprint.as_bytes(), rec.id.as_bytes())?;
        Ok(())
    }

    /// Stores an order and moves its entry in the status index.
    pub(crate) fn put_order(&mut self, rec: &OrderRecord) -> Result<(), StoreError> {
        let t = *self.t;
        check_writable(T_ORDERS, rec.v)?;
        let old: Option<OrderRecord> = get(&self.txn, t.orders, T_ORDERS, &rec.id)?;
        put_json(&mut self.txn, t.orders, T_ORDERS, &rec.id, rec)?;
        if let Some(old) = old
            && old.status != rec.status
        {
            t.orders_by_status
                .delete(&mut self.txn, &status_key(old.status, &rec.id))?;
        }
        t.orders_by_status
            .put(&mut self.txn, &status_key(rec.status, &rec.id), &[])?;
        Ok(())
    }

    /// Stores an authorization and indexes its challenge ids. A challenge id already indexed
    /// for another authorization → `Conflict` (ids are random; a clash is a bug, never merged).
    pub(crate) fn put_authz(&mut self, rec: &AuthzRecord) -> Result<(), StoreError> {
        let t = *self.t;
        check_writable(T_AUTHZS, rec.v)?;
        for ch in &rec.challenges {
            if let Some(owner) = t.authz_by_challenge.get(&self.txn, ch.id.as_bytes())?
                && owner != rec.id.as_bytes()
            {
                return Err(StoreError::Conflict);
            }
        }
        let old: Option<AuthzRecord> = get(&self.txn, t.authzs, T_AUTHZS, &rec.id)?;
        put_json(&mut self.txn, t.authzs, T_AUTHZS, &rec.id, rec)?;
        if let Some(old) = old {
            for gone in old
                .challenges
                .iter()
                .filter(|o| rec.challenges.iter().all(|n| n.id != o.id))
            {
                t.authz_by_challenge
                    .delete(&mut self.txn, gone.id.as_bytes())?;
            }
        }
        for ch in &rec.challenges {
            t.authz_by_challenge
                .put(&mut self.txn, ch.id.as_bytes(), rec.id.as_bytes())?;
        }
        Ok(())
    }

    /// Stores a certificate and indexes its serial. A serial already indexed for another
    /// certificate → `Conflict` (RFC 5280 §4.1.2.2: serials MUST be unique per CA).
    pub(crate) fn put_cert(&mut self, rec: &CertRecord) -> Result<(), StoreError> {
        let t = *self.t;
        check_writable(T_CERTS, rec.v)?;
        if let Some(owner) = t.cert_by_serial.get(&self.txn, rec.serial.as_bytes())?
            && owner != rec.id.as_bytes()
        {
            return Err(StoreError::Conflict);
        }
        let old: Option<CertRecord> = get(&self.txn, t.certs, T_CERTS, &rec.id)?;
        put_json(&mut self.txn, t.certs, T_CERTS, &rec.id, rec)?;
        if let Some(old) = old
            && old.serial != rec.serial
        {
            t.cert_by_serial
                .delete(&mut self.txn, old.serial.as_bytes())?;
        }
        t.cert_by_serial
            .put(&mut self.txn, rec.serial.as_bytes(), rec.id.as_bytes())?;
        Ok(())
    }

    /// Test hook: writes raw bytes under `key` in the named table, bypassing the codec.
    #[cfg(test)]
    pub(super) fn put_raw(
        &mut self,
        table: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let t = *self.t;
        let db = match table {
            T_META => t.meta,
            T_ACCOUNTS => t.accounts,
            T_ORDERS => t.orders,
            T_AUTHZS => t.authzs,
            T_CERTS => t.certs,
            _ => return Err(StoreError::Lmdb(format!("no raw access to table {table}"))),
        };
        db.put(&mut self.txn, key.as_bytes(), value)?;
        Ok(())
    }
}

/// Refuses to write a record this release could not read back.
fn check_writable(table: &'static str, v: u16) -> Result<(), StoreError> {
    if v > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { table, v });
    }
    Ok(())
}

fn usable_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY
}

/// Decodes one stored record: the schema version first (a newer one is refused even when the
/// rest happens to parse), then the whole record.
pub(super) fn decode<T: DeserializeOwned>(
    table: &'static str,
    id: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    #[derive(serde::Deserialize)]
    struct Version {
        v: u16,
    }
    let bad = || StoreError::Decode {
        table,
        id: id.to_owned(),
    };
    let Version { v } = serde_json::from_slice(bytes).map_err(|_| bad())?;
    if v > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { table, v });
    }
    serde_json::from_slice(bytes).map_err(|_| bad())
}

fn get<T: DeserializeOwned>(
    txn: &RoTxn<'_>,
    db: Table,
    table: &'static str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    if !usable_key(id) {
        return Ok(None);
    }
    match db.get(txn, id.as_bytes())? {
        None => Ok(None),
        Some(bytes) => decode(table, id, bytes).map(Some),
    }
}

/// Follows a secondary index. An index entry that names no record (or is not UTF-8) is
/// reported as a `Decode` error of the index table: it cannot happen unless the file is damaged.
fn get_via<T: DeserializeOwned>(
    txn: &RoTxn<'_>,
    (index, index_name): (Table, &'static str),
    (db, table): (Table, &'static str),
    key: &str,
) -> Result<Option<T>, StoreError> {
    if !usable_key(key) {
        return Ok(None);
    }
    let dangling = || StoreError::Decode {
        table: index_name,
        id: key.to_owned(),
    };
    let Some(id) = index.get(txn, key.as_bytes())? else {
        return Ok(None);
    };
    let id = std::str::from_utf8(id).map_err(|_| dangling())?;
    get(txn, db, table, id)?.map(Some).ok_or_else(dangling)
}

fn put_json<T: Serialize>(
    txn: &mut RwTxn<'_>,
    db: Table,
    table: &'static str,
    id: &str,
    rec: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(rec)
        .map_err(|e| StoreError::Lmdb(format!("cannot encode {table}/{id}: {e}")))?;
    db.put(txn, id.as_bytes(), &bytes)?;
    Ok(())
}

fn status_name(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => "pending",
        OrderStatus::Ready => "ready",
        OrderStatus::Processing => "processing",
        OrderStatus::Valid => "valid",
        OrderStatus::Invalid => "invalid",
    }
}

/// `status NUL order-id`: ids are base64url, so NUL cannot occur in them.
fn status_key(s: OrderStatus, id: &str) -> Vec<u8> {
    let mut k = status_prefix(s);
    k.extend_from_slice(id.as_bytes());
    k
}

fn status_prefix(s: OrderStatus) -> Vec<u8> {
    let mut k = status_name(s).as_bytes().to_vec();
    k.push(0);
    k
}

fn orders_in_status(
    txn: &RoTxn<'_>,
    t: &Tables,
    status: OrderStatus,
) -> Result<Vec<OrderRecord>, StoreError> {
    let prefix = status_prefix(status);
    let mut out = Vec::new();
    for entry in t.orders_by_status.prefix_iter(txn, &prefix)? {
        let (key, _) = entry?;
        let id = key
            .get(prefix.len()..)
            .and_then(|b| std::str::from_utf8(b).ok());
        let dangling = || StoreError::Decode {
            table: T_ORDERS_BY_STATUS,
            id: String::from_utf8_lossy(key).into_owned(),
        };
        let id = id.ok_or_else(dangling)?;
        let order: OrderRecord = get(txn, t.orders, T_ORDERS, id)?.ok_or_else(dangling)?;
        if order.status != status {
            return Err(dangling());
        }
        out.push(order);
    }
    Ok(out)
}
