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
use super::outbox::SyncKind;
use super::records::{
    AccountRecord, AuthzRecord, CertRecord, EabKeyRecord, OrderRecord, OrderStatus, SCHEMA_VERSION,
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
pub(super) const T_ISSUANCE: &str = "issuance";
pub(super) const T_SYNC_QUEUE: &str = "sync_queue";
const T_EAB_KEYS: &str = "eab_keys";
pub(super) const T_ORDERS_BY_ACCOUNT: &str = "orders_by_account";
const T_REPLACED_BY: &str = "replaced_by";
pub(super) const T_AUTHZ_BY_IDENTIFIER: &str = "authz_by_identifier";

/// Every table name, in the order [`Tables::from_list`] expects them (`create_tables` names
/// the last three by position).
pub(super) const TABLE_NAMES: [&str; TABLE_COUNT] = [
    T_META,
    T_ACCOUNTS,
    T_ACCOUNT_BY_THUMBPRINT,
    T_ORDERS,
    T_ORDERS_BY_STATUS,
    T_AUTHZS,
    T_AUTHZ_BY_CHALLENGE,
    T_CERTS,
    T_CERT_BY_SERIAL,
    T_ISSUANCE,
    T_SYNC_QUEUE,
    T_EAB_KEYS,
    T_ORDERS_BY_ACCOUNT,
    T_REPLACED_BY,
    T_AUTHZ_BY_IDENTIFIER,
];

/// Number of named databases in [`TABLE_NAMES`].
pub(super) const TABLE_COUNT: usize = 15;

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
    /// order id → issuance intent (the CSR handed to the CA), while the order is `processing`.
    pub(super) issuance: Table,
    /// big-endian u64 sequence → `acme_sync_*` item still to send to the CA (outbox).
    pub(super) sync_queue: Table,
    /// EAB key id → [`EabKeyRecord`] (RFC 8555 §7.3.4).
    eab_keys: Table,
    /// `account-id NUL created-at (16 hex digits) order-id` → empty: the orders list of an
    /// account (RFC 8555 §7.1.2.1), oldest first, paginated by key.
    pub(super) orders_by_account: Table,
    /// cert id → id of the order that replaces it (RFC 9773 §5 `replaces`).
    replaced_by: Table,
    /// `account-id NUL type NUL value NUL authz-id` → empty: an account's authorizations for
    /// one identifier (revocation by authorization, RFC 8555 §7.6).
    pub(super) authz_by_identifier: Table,
}

impl Tables {
    pub(super) fn from_list(t: [Table; TABLE_COUNT]) -> Tables {
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
            issuance,
            sync_queue,
            eab_keys,
            orders_by_account,
            replaced_by,
            authz_by_identifier,
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
            issuance,
            sync_queue,
            eab_keys,
            orders_by_account,
            replaced_by,
            authz_by_identifier,
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

            /// The EAB key with this key id (RFC 8555 §7.3.4).
            pub(crate) fn eab_key(&self, kid: &str) -> Result<Option<EabKeyRecord>, StoreError> {
                get(self.ro(), self.t.eab_keys, T_EAB_KEYS, kid)
            }

            /// Every EAB key, by key id.
            pub(crate) fn eab_keys(&self) -> Result<Vec<EabKeyRecord>, StoreError> {
                let mut out = Vec::new();
                for entry in self.t.eab_keys.iter(self.ro())? {
                    let (key, bytes) = entry?;
                    let kid = String::from_utf8_lossy(key);
                    out.push(decode(T_EAB_KEYS, &kid, bytes)?);
                }
                Ok(out)
            }

            /// One page of the orders of `account_id`, oldest first (RFC 8555 §7.1.2.1): at most
            /// `limit` orders whose index key comes after `after` (a cursor this function
            /// returned), and the cursor of the next page if there is one.
            pub(crate) fn orders_of_account(
                &self,
                account_id: &str,
                after: Option<&[u8]>,
                limit: usize,
            ) -> Result<(Vec<OrderRecord>, Option<Vec<u8>>), StoreError> {
                orders_of_account(self.ro(), self.t, account_id, after, limit)
            }

            /// The authorizations of `account_id` for the identifier `kind`/`value` (as stored
            /// in authorizations: normalized, wildcard base name), any status.
            pub(crate) fn authzs_for_identifier(
                &self,
                account_id: &str,
                kind: &str,
                value: &str,
            ) -> Result<Vec<AuthzRecord>, StoreError> {
                let prefix = identifier_prefix(account_id, kind, value);
                let mut out = Vec::new();
                for entry in self.t.authz_by_identifier.prefix_iter(self.ro(), &prefix)? {
                    let (key, _) = entry?;
                    let dangling = || StoreError::Decode {
                        table: T_AUTHZ_BY_IDENTIFIER,
                        id: String::from_utf8_lossy(key).into_owned(),
                    };
                    let id = key
                        .get(prefix.len()..)
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .ok_or_else(dangling)?;
                    let a: AuthzRecord =
                        get(self.ro(), self.t.authzs, T_AUTHZS, id)?.ok_or_else(dangling)?;
                    out.push(a);
                }
                Ok(out)
            }

            /// The id of the order that replaces the certificate `cert_id` (RFC 9773 §5).
            pub(crate) fn replaced_by(&self, cert_id: &str) -> Result<Option<String>, StoreError> {
                if !usable_key(cert_id) {
                    return Ok(None);
                }
                match self.t.replaced_by.get(self.ro(), cert_id.as_bytes())? {
                    None => Ok(None),
                    Some(b) => std::str::from_utf8(b)
                        .map(|s| Some(s.to_owned()))
                        .map_err(|_| StoreError::Decode {
                            table: T_REPLACED_BY,
                            id: cert_id.to_owned(),
                        }),
                }
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
        self.sync_push(SyncKind::Account, &rec.id)
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
        // The account and the creation time of an order never change: one entry per order.
        t.orders_by_account
            .put(&mut self.txn, &account_order_key(rec), &[])?;
        self.sync_push(SyncKind::Order, &rec.id)
    }

    /// Stores an EAB key (created, bound or revoked).
    pub(crate) fn put_eab_key(&mut self, rec: &EabKeyRecord) -> Result<(), StoreError> {
        let t = *self.t;
        check_writable(T_EAB_KEYS, rec.v)?;
        if !usable_key(&rec.kid) {
            return Err(StoreError::Lmdb("unusable EAB key id".into()));
        }
        put_json(&mut self.txn, t.eab_keys, T_EAB_KEYS, &rec.kid, rec)
    }

    /// Records that `order_id` replaces the certificate `cert_id` (RFC 9773 §5).
    pub(crate) fn put_replaced_by(
        &mut self,
        cert_id: &str,
        order_id: &str,
    ) -> Result<(), StoreError> {
        let t = *self.t;
        t.replaced_by
            .put(&mut self.txn, cert_id.as_bytes(), order_id.as_bytes())?;
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
        // The account and identifier of an authorization never change: one entry each.
        t.authz_by_identifier
            .put(&mut self.txn, &authz_identifier_key(rec), &[])?;
        self.sync_push(SyncKind::Authz, &rec.id)
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
        self.sync_push(SyncKind::Cert, &rec.id)
    }

    /// Test hook: deletes `key` from the named table, bypassing the indexes (to build a store
    /// as an older release left it).
    #[cfg(test)]
    pub(super) fn delete_raw(&mut self, table: &str, key: &[u8]) -> Result<(), StoreError> {
        let t = *self.t;
        let db = match table {
            T_META => t.meta,
            T_ORDERS_BY_ACCOUNT => t.orders_by_account,
            T_AUTHZ_BY_IDENTIFIER => t.authz_by_identifier,
            _ => return Err(StoreError::Lmdb(format!("no raw access to table {table}"))),
        };
        db.delete(&mut self.txn, key)?;
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

pub(super) fn get<T: DeserializeOwned>(
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

pub(super) fn put_json<T: Serialize>(
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

/// `account-id NUL created-at as 16 hex digits order-id`: sorts an account's orders by
/// creation time (ids are base64url, so NUL cannot occur in them).
pub(super) fn account_order_key(rec: &OrderRecord) -> Vec<u8> {
    let mut k = rec.account_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(format!("{:016x}", rec.created_at.max(0)).as_bytes());
    k.extend_from_slice(rec.id.as_bytes());
    k
}

fn orders_of_account(
    txn: &RoTxn<'_>,
    t: &Tables,
    account_id: &str,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<(Vec<OrderRecord>, Option<Vec<u8>>), StoreError> {
    use std::ops::Bound;
    let mut prefix = account_id.as_bytes().to_vec();
    prefix.push(0);
    // Start right after the cursor (a key of this account), or at the account's first key.
    let start = after.map(|a| [prefix.as_slice(), a].concat());
    let lower = match &start {
        Some(k) => Bound::Excluded(k.as_slice()),
        None => Bound::Included(prefix.as_slice()),
    };
    let mut out = Vec::new();
    for entry in t
        .orders_by_account
        .range(txn, &(lower, Bound::<&[u8]>::Unbounded))?
    {
        let (key, _) = entry?;
        let Some(rest) = key.strip_prefix(prefix.as_slice()) else {
            break; // past this account's keys
        };
        if out.len() == limit {
            // There is at least one more: the cursor is the last key returned.
            let cursor = out
                .last()
                .map(|o: &OrderRecord| account_order_key(o).split_off(prefix.len()));
            return Ok((out, cursor));
        }
        let dangling = || StoreError::Decode {
            table: T_ORDERS_BY_ACCOUNT,
            id: String::from_utf8_lossy(key).into_owned(),
        };
        let id = rest
            .get(16..)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(dangling)?;
        let order: OrderRecord = get(txn, t.orders, T_ORDERS, id)?.ok_or_else(dangling)?;
        out.push(order);
    }
    Ok((out, None))
}

fn identifier_prefix(account_id: &str, kind: &str, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(account_id.len() + kind.len() + value.len() + 3);
    for part in [account_id, kind, value] {
        k.extend_from_slice(part.as_bytes());
        k.push(0);
    }
    k
}

/// `account-id NUL type NUL value NUL authz-id` (identifier values hold no NUL: they are
/// normalized DNS names or IP addresses).
pub(super) fn authz_identifier_key(rec: &AuthzRecord) -> Vec<u8> {
    let mut k = identifier_prefix(&rec.account_id, &rec.identifier.kind, &rec.identifier.value);
    k.extend_from_slice(rec.id.as_bytes());
    k
}
