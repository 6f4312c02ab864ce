//! Tests of the store against a real LMDB environment in a temporary directory: record round
//! trips (RFC 8555 §7.1 objects), index maintenance, group commit and its rollback rules, and
//! the storage faults of the security catalog (#58, #59, #60).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use futures_lite::future::{block_on, poll_once};

use super::records::{
    AccountRecord, AccountStatus, AuthzRecord, AuthzStatus, CertRecord, ChallengeRecord,
    ChallengeStatus, Identifier, OrderRecord, OrderStatus, Revocation, SCHEMA_VERSION,
};
use super::{Store, StoreError};

/// A directory under the system temp dir, unique per test and process, removed on drop
/// (declare it before the `Store` so the store is closed first).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let path = std::env::temp_dir().join(format!("upki-ra-store-{name}-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MAP: usize = 16 << 20;

/// RFC 7638 §3.1's example thumbprint.
const TP_RFC7638: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn account(id: &str, thumbprint: &str) -> AccountRecord {
    AccountRecord {
        v: SCHEMA_VERSION,
        id: id.into(),
        jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        thumbprint: thumbprint.into(),
        // RFC 8555 §7.1.2 example contacts.
        contact: vec![
            "mailto:cert-admin@example.org".into(),
            "mailto:admin@example.org".into(),
        ],
        status: AccountStatus::Valid,
        created_at: 1_451_606_400,
    }
}

/// RFC 8555 §7.1.3's example order (times as Unix seconds).
fn order(id: &str, status: OrderStatus) -> OrderRecord {
    let dns = |v: &str| Identifier {
        kind: "dns".into(),
        value: v.into(),
    };
    OrderRecord {
        v: SCHEMA_VERSION,
        id: id.into(),
        account_id: "acct-1".into(),
        status,
        expires: 1_452_002_947,
        identifiers: vec![dns("www.example.org"), dns("example.org")],
        not_before: Some(1_451_606_400),
        not_after: Some(1_452_211_200),
        authz_ids: vec!["PAniVnsZcis".into(), "r4HqLzrSrpI".into()],
        profile: "server".into(),
        error: None,
        cert_id: None,
        csr_sha256: None,
        created_at: 1_451_606_400,
    }
}

/// RFC 8555 §7.1.4's example authorization, with the §8.3 example token.
fn authz(id: &str, challenge_ids: &[&str]) -> AuthzRecord {
    AuthzRecord {
        v: SCHEMA_VERSION,
        id: id.into(),
        account_id: "acct-1".into(),
        order_id: "order-1".into(),
        identifier: Identifier {
            kind: "dns".into(),
            value: "www.example.org".into(),
        },
        wildcard: false,
        status: AuthzStatus::Valid,
        expires: 1_452_002_947,
        challenges: challenge_ids
            .iter()
            .map(|c| ChallengeRecord {
                id: (*c).into(),
                kind: "http-01".into(),
                token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA".into(),
                status: ChallengeStatus::Valid,
                validated: Some(1_451_692_800),
                error: None,
            })
            .collect(),
    }
}

fn cert(id: &str, serial: &str) -> CertRecord {
    CertRecord {
        v: SCHEMA_VERSION,
        id: id.into(),
        account_id: "acct-1".into(),
        order_id: "order-1".into(),
        serial: serial.into(),
        chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        not_before: 1_451_606_400,
        not_after: 1_456_790_400,
        revoked: Some(Revocation {
            reason: 1,
            at: 1_452_000_000,
        }),
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// Starts a write closure: polls it once so it is queued, without waiting for its result.
fn queue<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&mut super::Writer<'_>) -> Result<T, StoreError> + Send + 'static,
) -> Boxed<T> {
    let s = store.clone();
    let mut fut: Boxed<T> = Box::pin(async move { s.write(f).await });
    assert!(
        block_on(poll_once(&mut fut)).is_none(),
        "the write completed before its batch"
    );
    fut
}

/// Occupies the writer thread until the returned sender is used (or dropped), so that the
/// jobs queued meanwhile form one batch. Returns the blocker's own future too.
fn block_writer(store: &Store) -> (mpsc::Sender<()>, Boxed<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = queue(store, move |_w| {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
        Ok(())
    });
    started_rx.recv().unwrap();
    (release_tx, blocker)
}

// RFC 8555 §7.1: every resource the server keeps comes back exactly as stored, and a write
// closure sees its own uncommitted writes.
#[test]
fn s7_1_round_trip_of_each_record_type() {
    let dir = TempDir::new("roundtrip");
    let store = Store::open(&dir.0, MAP).unwrap();
    let (a, o, z, c) = (
        account("acct-1", TP_RFC7638),
        order("order-1", OrderStatus::Pending),
        authz("PAniVnsZcis", &["chall-1"]),
        cert("cert-1", "123456789012345678901234567890"),
    );
    let (a2, o2, z2, c2) = (a.clone(), o.clone(), z.clone(), c.clone());
    let seen = block_on(store.write(move |w| {
        w.put_account(&a2)?;
        w.put_order(&o2)?;
        w.put_authz(&z2)?;
        w.put_cert(&c2)?;
        Ok(w.account("acct-1")?.is_some() && w.cert_by_serial(&c2.serial)?.is_some())
    }))
    .unwrap();
    assert!(seen, "a writer must see its own writes");
    store
        .read(|r| {
            assert_eq!(r.account("acct-1")?, Some(a));
            assert_eq!(r.order("order-1")?, Some(o));
            assert_eq!(r.authz("PAniVnsZcis")?, Some(z));
            assert_eq!(r.cert("cert-1")?, Some(c));
            assert_eq!(r.account("acct-2")?, None);
            Ok(())
        })
        .unwrap();
}

// Ids come from request URLs: empty, oversized or unknown ids find nothing (404), never a 500.
#[test]
fn attacker_ids_find_nothing() {
    let dir = TempDir::new("ids");
    let store = Store::open(&dir.0, MAP).unwrap();
    let long = "A".repeat(4096);
    store
        .read(|r| {
            for id in ["", "nope", long.as_str(), "../../etc/passwd", "a\0b"] {
                assert_eq!(r.account(id)?, None);
                assert_eq!(r.account_by_thumbprint(id)?, None);
                assert_eq!(r.order(id)?, None);
                assert_eq!(r.authz_by_challenge(id)?, None);
                assert_eq!(r.cert_by_serial(id)?, None);
            }
            Ok(())
        })
        .unwrap();
}

// RFC 8555 §7.3.1 (find an account by its key), §7.3.5 (key rollover moves the key),
// §7.5.1 (challenge → authorization), §7.6 (serial → certificate), catalog #58 (orders in
// `processing` are found at start-up).
#[test]
fn indexes_follow_every_update() {
    let dir = TempDir::new("indexes");
    let store = Store::open(&dir.0, MAP).unwrap();
    block_on(store.write(|w| {
        w.put_account(&account("acct-1", TP_RFC7638))?;
        w.put_authz(&authz("authz-1", &["c1", "c2"]))?;
        w.put_cert(&cert("cert-1", "42"))?;
        w.put_order(&order("o1", OrderStatus::Pending))?;
        w.put_order(&order("o2", OrderStatus::Pending))?;
        w.put_order(&order("o3", OrderStatus::Processing))
    }))
    .unwrap();
    let ids = |v: Vec<OrderRecord>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    store
        .read(|r| {
            assert_eq!(r.account_by_thumbprint(TP_RFC7638)?.unwrap().id, "acct-1");
            assert_eq!(r.authz_by_challenge("c2")?.unwrap().id, "authz-1");
            assert_eq!(r.cert_by_serial("42")?.unwrap().id, "cert-1");
            assert_eq!(ids(r.orders_in_status(OrderStatus::Pending)?), ["o1", "o2"]);
            assert_eq!(ids(r.orders_in_status(OrderStatus::Processing)?), ["o3"]);
            assert!(r.orders_in_status(OrderStatus::Valid)?.is_empty());
            Ok(())
        })
        .unwrap();

    block_on(store.write(|w| {
        w.put_account(&account("acct-1", "new-thumbprint"))?;
        w.put_authz(&authz("authz-1", &["c1", "c3"]))?;
        w.put_cert(&cert("cert-1", "43"))?;
        w.put_order(&order("o1", OrderStatus::Processing))
    }))
    .unwrap();
    store
        .read(|r| {
            assert_eq!(r.account_by_thumbprint(TP_RFC7638)?, None);
            assert_eq!(
                r.account_by_thumbprint("new-thumbprint")?.unwrap().id,
                "acct-1"
            );
            assert_eq!(r.authz_by_challenge("c2")?, None);
            assert_eq!(r.authz_by_challenge("c3")?.unwrap().id, "authz-1");
            assert_eq!(r.authz_by_challenge("c1")?.unwrap().id, "authz-1");
            assert_eq!(r.cert_by_serial("42")?, None);
            assert_eq!(r.cert_by_serial("43")?.unwrap().id, "cert-1");
            assert_eq!(ids(r.orders_in_status(OrderStatus::Pending)?), ["o2"]);
            assert_eq!(
                ids(r.orders_in_status(OrderStatus::Processing)?),
                ["o1", "o3"]
            );
            Ok(())
        })
        .unwrap();
}

// RFC 8555 §7.3.5: a key "already in use for a different account" is refused; one key, one
// account. Same rule for challenge ids and serials (RFC 5280 §4.1.2.2: serials are unique).
#[test]
fn s7_3_5_thumbprint_conflict() {
    let dir = TempDir::new("conflict");
    let store = Store::open(&dir.0, MAP).unwrap();
    block_on(store.write(|w| {
        w.put_account(&account("acct-1", TP_RFC7638))?;
        w.put_authz(&authz("authz-1", &["c1"]))?;
        w.put_cert(&cert("cert-1", "42"))
    }))
    .unwrap();
    let other = block_on(store.write(|w| w.put_account(&account("acct-2", TP_RFC7638))));
    assert_eq!(other, Err(StoreError::Conflict));
    let chall = block_on(store.write(|w| w.put_authz(&authz("authz-2", &["c9", "c1"]))));
    assert_eq!(chall, Err(StoreError::Conflict));
    let serial = block_on(store.write(|w| w.put_cert(&cert("cert-2", "42"))));
    assert_eq!(serial, Err(StoreError::Conflict));
    // Re-storing the owner itself is no conflict.
    block_on(store.write(|w| w.put_account(&account("acct-1", TP_RFC7638)))).unwrap();
    store
        .read(|r| {
            assert_eq!(r.account("acct-2")?, None);
            assert_eq!(r.authz("authz-2")?, None);
            assert_eq!(r.authz_by_challenge("c9")?, None);
            assert_eq!(r.cert("cert-2")?, None);
            assert_eq!(r.account_by_thumbprint(TP_RFC7638)?.unwrap().id, "acct-1");
            assert_eq!(r.authz_by_challenge("c1")?.unwrap().id, "authz-1");
            assert_eq!(r.cert_by_serial("42")?.unwrap().id, "cert-1");
            Ok(())
        })
        .unwrap();
}

// Group commit: jobs queued together share one commit, and a job that fails rolls back
// alone (its own nested transaction) while its neighbours commit.
#[test]
fn failing_job_in_a_batch_rolls_back_alone() {
    let dir = TempDir::new("rollback");
    let store = Store::open(&dir.0, MAP).unwrap();
    let before = store.commits();
    let (release, blocker) = block_writer(&store);
    let a = queue(&store, |w| w.put_account(&account("acct-a", "tp-a")));
    let b = queue(&store, |w| {
        w.put_account(&account("acct-b", "tp-b"))?;
        w.put_order(&order("order-b", OrderStatus::Pending))?;
        Err::<(), _>(StoreError::Conflict)
    });
    let c = queue(&store, |w| w.put_account(&account("acct-c", "tp-c")));
    release.send(()).unwrap();
    block_on(blocker).unwrap();
    assert_eq!(block_on(a), Ok(()));
    assert_eq!(block_on(b), Err(StoreError::Conflict));
    assert_eq!(block_on(c), Ok(()));
    // One commit for the blocker, one for the batch a+b+c.
    assert_eq!(store.commits() - before, 2);
    store
        .read(|r| {
            assert!(r.account("acct-a")?.is_some());
            assert!(r.account("acct-c")?.is_some());
            assert_eq!(r.account("acct-b")?, None);
            assert_eq!(r.account_by_thumbprint("tp-b")?, None);
            assert_eq!(r.order("order-b")?, None);
            assert!(r.orders_in_status(OrderStatus::Pending)?.is_empty());
            Ok(())
        })
        .unwrap();
}

// Catalog #60: a panic in a write closure rolls back its own changes only; the writer thread
// survives and keeps committing.
#[test]
fn panicking_job_rolls_back_alone() {
    let dir = TempDir::new("panic");
    let store = Store::open(&dir.0, MAP).unwrap();
    let (release, blocker) = block_writer(&store);
    let a = queue(&store, |w| w.put_account(&account("acct-a", "tp-a")));
    let p = queue(&store, |w| -> Result<(), StoreError> {
        w.put_account(&account("acct-p", "tp-p"))?;
        panic!("deliberate panic in a write closure");
    });
    release.send(()).unwrap();
    block_on(blocker).unwrap();
    assert_eq!(block_on(a), Ok(()));
    assert!(matches!(block_on(p), Err(StoreError::Lmdb(m)) if m.contains("panicked")));
    block_on(store.write(|w| w.put_account(&account("acct-after", "tp-after")))).unwrap();
    store
        .read(|r| {
            assert!(r.account("acct-a")?.is_some());
            assert!(r.account("acct-after")?.is_some());
            assert_eq!(r.account("acct-p")?, None);
            assert_eq!(r.account_by_thumbprint("tp-p")?, None);
            Ok(())
        })
        .unwrap();
}

// A batch holds at most MAX_BATCH jobs: 130 queued jobs take exactly 3 commits.
#[test]
fn batches_are_bounded() {
    let dir = TempDir::new("bounded");
    let store = Store::open(&dir.0, MAP).unwrap();
    let (release, blocker) = block_writer(&store);
    let before = store.commits();
    let jobs: Vec<_> = (0..130)
        .map(|i| {
            queue(&store, move |w| {
                w.put_order(&order(&format!("o{i}"), OrderStatus::Ready))
            })
        })
        .collect();
    release.send(()).unwrap();
    block_on(blocker).unwrap();
    for j in jobs {
        block_on(j).unwrap();
    }
    assert_eq!(super::MAX_BATCH, 64);
    assert_eq!(store.commits() - before, 1 + 3);
    let n = store
        .read(|r| Ok(r.orders_in_status(OrderStatus::Ready)?.len()))
        .unwrap();
    assert_eq!(n, 130);
}

// Group commit under real concurrency: 200 writes from 200 tasks complete with far fewer
// durable commits than writes.
#[test]
fn concurrent_writes_share_commits() {
    let dir = TempDir::new("concurrent");
    let store = Store::open(&dir.0, MAP).unwrap();
    let ex = async_executor::Executor::new();
    let before = store.commits();
    let start = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let s = store.clone();
            ex.spawn(async move {
                s.write(move |w| w.put_account(&account(&format!("acct-{i}"), &format!("tp-{i}"))))
                    .await
            })
        })
        .collect();
    block_on(ex.run(async {
        for t in tasks {
            t.await.unwrap();
        }
    }));
    let elapsed = start.elapsed();
    let commits = store.commits() - before;
    println!("group commit: 200 writes, {commits} commits, {elapsed:?}");
    assert!(commits < 200, "{commits} commits for 200 writes");
    assert!(commits >= 4, "a batch holds at most 64 writes");
    store
        .read(|r| {
            for i in 0..200 {
                let a = r.account_by_thumbprint(&format!("tp-{i}"))?.unwrap();
                assert_eq!(a.id, format!("acct-{i}"));
            }
            Ok(())
        })
        .unwrap();
}

// Catalog #59a/#59e: what was committed survives a restart; the environment is opened once
// per process (a second open of the same directory is refused); dropping the store ends the
// writer thread and closes the environment, so the directory can be opened again.
#[test]
fn restart_keeps_everything_and_open_is_once_per_process() {
    let dir = TempDir::new("restart");
    {
        let store = Store::open(&dir.0, MAP).unwrap();
        let second = Store::open(&dir.0, MAP);
        assert!(matches!(&second, Err(StoreError::Lmdb(m)) if m.contains("already open")));
        // The same directory through another spelling of its path.
        let dotted = dir.0.join(".");
        assert!(Store::open(&dotted, MAP).is_err());
        block_on(store.write(|w| {
            w.put_account(&account("acct-1", TP_RFC7638))?;
            w.put_order(&order("order-1", OrderStatus::Processing))?;
            w.put_authz(&authz("authz-1", &["c1"]))?;
            w.put_cert(&cert("cert-1", "42"))
        }))
        .unwrap();
    }
    let store = Store::open(&dir.0, MAP).unwrap();
    store
        .read(|r| {
            assert_eq!(
                r.account_by_thumbprint(TP_RFC7638)?,
                Some(account("acct-1", TP_RFC7638))
            );
            assert_eq!(
                r.orders_in_status(OrderStatus::Processing)?,
                [order("order-1", OrderStatus::Processing)]
            );
            assert_eq!(r.authz_by_challenge("c1")?, Some(authz("authz-1", &["c1"])));
            assert_eq!(r.cert_by_serial("42")?, Some(cert("cert-1", "42")));
            Ok(())
        })
        .unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir.0).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
}

// Catalog #59c: MDB_MAP_FULL → MapFull for the writes, no panic, reads keep working.
#[test]
fn map_full_fails_writes_and_reads_keep_working() {
    let dir = TempDir::new("mapfull");
    // 256 KiB: a multiple of every common page size (4, 16, 64 KiB).
    let store = Store::open(&dir.0, 256 * 1024).unwrap();
    let big = |i: usize| {
        let mut a = account(&format!("acct-{i}"), &format!("tp-{i}"));
        a.contact = (0..4)
            .map(|k| format!("mailto:{}@example.org", "x".repeat(1000 + k)))
            .collect();
        a
    };
    let mut written = 0;
    let mut full = false;
    for i in 0..1000 {
        let a = big(i);
        match block_on(store.write(move |w| w.put_account(&a))) {
            Ok(()) => written += 1,
            Err(StoreError::MapFull) => {
                full = true;
                break;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    println!("map full after {written} accounts of ~4 KiB in a 256 KiB map");
    assert!(full, "the map never filled up");
    assert!(written > 0);
    // Later writes fail the same way (or fit), without a panic; reads keep working.
    let again = block_on(store.write(move |w| w.put_account(&big(5000))));
    assert!(
        matches!(again, Ok(()) | Err(StoreError::MapFull)),
        "{again:?}"
    );
    store
        .read(|r| {
            for i in 0..written {
                assert!(r.account_by_thumbprint(&format!("tp-{i}"))?.is_some());
            }
            assert_eq!(r.account(&format!("acct-{written}"))?, None);
            Ok(())
        })
        .unwrap();
    // A write small enough to fit in the remaining space still commits.
    let small = block_on(store.write(|w| w.put_order(&order("o-small", OrderStatus::Pending))));
    assert!(
        matches!(small, Ok(()) | Err(StoreError::MapFull)),
        "{small:?}"
    );
}

// A record written by a newer release (`v` > SCHEMA_VERSION) is refused, never misread, even
// when its fields would parse; an unreadable value names its table and id.
#[test]
fn newer_record_schema_is_refused() {
    let dir = TempDir::new("newer-record");
    let store = Store::open(&dir.0, MAP).unwrap();
    let mut future = serde_json::to_value(account("acct-new", "tp-new")).unwrap();
    future["v"] = 999.into();
    let future = serde_json::to_vec(&future).unwrap();
    block_on(store.write(move |w| {
        w.put_raw("accounts", "acct-new", &future)?;
        w.put_raw("accounts", "acct-bad", b"{not json")?;
        w.put_raw("orders", "order-nov", br#"{"id":"order-nov"}"#)?;
        w.put_raw("certs", "cert-new", br#"{"v":2,"totally":"different"}"#)
    }))
    .unwrap();
    store
        .read(|r| {
            assert_eq!(
                r.account("acct-new"),
                Err(StoreError::NewerSchema {
                    table: "accounts",
                    v: 999
                })
            );
            assert_eq!(
                r.cert("cert-new"),
                Err(StoreError::NewerSchema {
                    table: "certs",
                    v: 2
                })
            );
            assert_eq!(
                r.account("acct-bad"),
                Err(StoreError::Decode {
                    table: "accounts",
                    id: "acct-bad".into()
                })
            );
            assert_eq!(
                r.order("order-nov"),
                Err(StoreError::Decode {
                    table: "orders",
                    id: "order-nov".into()
                })
            );
            Ok(())
        })
        .unwrap();
    // Nor does this release write what it could not read back.
    let mut a = account("acct-2", "tp-2");
    a.v = 999;
    let put = block_on(store.write(move |w| w.put_account(&a)));
    assert_eq!(
        put,
        Err(StoreError::NewerSchema {
            table: "accounts",
            v: 999
        })
    );
    assert_eq!(store.read(|r| r.account_by_thumbprint("tp-2")), Ok(None));
}

// A store whose `meta` says it was written by a newer schema is refused at open, untouched.
#[test]
fn newer_store_schema_is_refused_at_open() {
    let dir = TempDir::new("newer-store");
    {
        let store = Store::open(&dir.0, MAP).unwrap();
        block_on(store.write(|w| w.put_raw("meta", "schema", b"999"))).unwrap();
    }
    let refused = Store::open(&dir.0, MAP);
    assert!(matches!(
        &refused,
        Err(StoreError::NewerSchema {
            table: "meta",
            v: 999
        })
    ));
    let msg = refused.err().unwrap().to_string();
    assert!(msg.contains("newer"), "{msg}");
    // The refusal released the directory and did not rewrite the version.
    assert!(matches!(
        Store::open(&dir.0, MAP),
        Err(StoreError::NewerSchema { v: 999, .. })
    ));
}

// RFC 8555 §7.1.2.1: an account's orders come back oldest first, page by page, without the
// orders of other accounts.
#[test]
fn s7_1_2_1_orders_of_account_paginate() {
    let dir = TempDir::new("orders-list");
    let store = Store::open(&dir.0, MAP).unwrap();
    let mut mine = Vec::new();
    block_on(store.write(|w| {
        for i in 0..5i64 {
            let mut o = order(&format!("o{i}"), OrderStatus::Pending);
            o.created_at = 1_000 - i; // created in reverse id order
            w.put_order(&o)?;
        }
        let mut other = order("x", OrderStatus::Pending);
        other.account_id = "acct-2".into();
        w.put_order(&other)
    }))
    .unwrap();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let (page, next) = store
            .read(|r| r.orders_of_account("acct-1", cursor.as_deref(), 2))
            .unwrap();
        assert!(page.len() <= 2);
        mine.extend(page.into_iter().map(|o| o.id));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(mine, ["o4", "o3", "o2", "o1", "o0"]);
    let (acct2, next) = store
        .read(|r| r.orders_of_account("acct-2", None, 10))
        .unwrap();
    assert_eq!(acct2.len(), 1);
    assert!(next.is_none());
}

// A store written before the orders-by-account and authz-by-identifier indexes existed is
// indexed once, when it is opened.
#[test]
fn lifecycle_indexes_are_built_for_older_stores() {
    let dir = TempDir::new("backfill");
    {
        let store = Store::open(&dir.0, MAP).unwrap();
        block_on(store.write(|w| {
            let o = order("old", OrderStatus::Valid);
            w.put_order(&o)?;
            let a = authz("old-authz", &["c9"]);
            w.put_authz(&a)?;
            w.delete_raw(
                super::tables::T_ORDERS_BY_ACCOUNT,
                &super::tables::account_order_key(&o),
            )?;
            w.delete_raw(
                super::tables::T_AUTHZ_BY_IDENTIFIER,
                &super::tables::authz_identifier_key(&a),
            )?;
            w.delete_raw(super::tables::T_META, super::META_ORDERS_BY_ACCOUNT)?;
            w.delete_raw(super::tables::T_META, super::META_AUTHZ_BY_IDENTIFIER)
        }))
        .unwrap();
        let (before, _) = store
            .read(|r| r.orders_of_account("acct-1", None, 10))
            .unwrap();
        assert!(before.is_empty());
    }
    let store = Store::open(&dir.0, MAP).unwrap();
    store
        .read(|r| {
            let (orders, _) = r.orders_of_account("acct-1", None, 10)?;
            assert_eq!(orders, [order("old", OrderStatus::Valid)]);
            let authzs = r.authzs_for_identifier("acct-1", "dns", "www.example.org")?;
            assert_eq!(authzs, [authz("old-authz", &["c9"])]);
            Ok(())
        })
        .unwrap();
}

// RFC 8555 §7.6 / §7.4.1: authorizations are found by account and identifier, never another
// account's; RFC 9773 §5 replacement bookkeeping and RFC 8555 §7.3.4 EAB keys round-trip.
#[test]
fn lifecycle_tables_round_trip() {
    use super::records::EabKeyRecord;
    let dir = TempDir::new("lifecycle-tables");
    let store = Store::open(&dir.0, MAP).unwrap();
    let eab = EabKeyRecord {
        v: SCHEMA_VERSION,
        kid: "kid-1".into(),
        label: "printer".into(),
        hmac_key: "c2VjcmV0".into(),
        created_at: 1,
        bound_account: None,
        revoked: false,
    };
    let stored = eab.clone();
    block_on(store.write(move |w| {
        w.put_authz(&authz("a1", &["c1"]))?;
        let mut foreign = authz("a2", &["c2"]);
        foreign.account_id = "acct-2".into();
        w.put_authz(&foreign)?;
        w.put_replaced_by("cert-1", "order-9")?;
        w.put_eab_key(&stored)
    }))
    .unwrap();
    store
        .read(|r| {
            let found = r.authzs_for_identifier("acct-1", "dns", "www.example.org")?;
            assert_eq!(
                found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                ["a1"]
            );
            assert!(
                r.authzs_for_identifier("acct-1", "dns", "example.org")?
                    .is_empty()
            );
            assert!(
                r.authzs_for_identifier("acct-1", "ip", "www.example.org")?
                    .is_empty()
            );
            assert_eq!(r.replaced_by("cert-1")?.as_deref(), Some("order-9"));
            assert_eq!(r.replaced_by("cert-2")?, None);
            assert_eq!(r.eab_key("kid-1")?, Some(eab.clone()));
            assert_eq!(r.eab_keys()?, std::slice::from_ref(&eab));
            assert_eq!(r.eab_key("")?, None);
            Ok(())
        })
        .unwrap();
}
