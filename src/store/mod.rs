//! The persistent state of the RA (RFC 8555 §7.1 accounts, orders, authorizations,
//! certificates) in LMDB through heed: opening the environment once per process, synchronous
//! read snapshots, and a dedicated writer thread that runs write closures with group commit.
//!
//! Security catalog #59: durable default sync flags only (never `NO_SYNC`, `NO_META_SYNC`,
//! `WRITE_MAP`, `MAP_ASYNC`); stale reader slots cleared at open; the environment opened once
//! per process; `MDB_MAP_FULL` → [`StoreError::MapFull`] for writes while reads keep working;
//! write transactions and their fsync run off the executor, on the writer thread.
#![deny(unsafe_code)]

pub(crate) mod bulk;
mod list;
mod outbox;
mod readonly;
pub(crate) mod records;
mod tables;

use std::fmt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use heed::types::Bytes;
use heed::{CommitOrAbort, Env, EnvOpenOptions, MdbError, WithoutTls};

pub(crate) use self::outbox::{SyncItem, SyncKind, set_sync_outbox};
pub(crate) use self::readonly::ReadOnlyStore;
use self::records::SCHEMA_VERSION;
pub(crate) use self::tables::{Reader, Writer};
use self::tables::{
    T_AUTHZ_BY_IDENTIFIER, T_META, T_ORDERS_BY_ACCOUNT, TABLE_COUNT, TABLE_NAMES, Tables,
};

/// Most write closures committed by one transaction (one fsync). Bounds the latency a closure
/// queued behind a batch can see, and the work lost to one failed commit.
const MAX_BATCH: usize = 64;
/// Write closures waiting for the writer thread; `write` awaits (back-pressure) beyond this.
const MAX_QUEUE: usize = 1024;
/// Named databases the environment may hold (15 used; room for one more table).
const MAX_DBS: u32 = 16;
/// The map size is rounded up to a multiple of this (the largest common page size: 4, 16 and
/// 64 KiB pages all divide it); LMDB requires a multiple of the OS page size.
const MAP_GRANULE: usize = 64 * 1024;
/// Key of the schema version in the `meta` table.
const META_SCHEMA: &[u8] = b"schema";
/// Key in the `meta` table set once the orders-by-account index covers every order (stores
/// written before that index existed are indexed once, at open).
const META_ORDERS_BY_ACCOUNT: &[u8] = b"index:orders_by_account";
/// Same for the authorizations-by-identifier index.
const META_AUTHZ_BY_IDENTIFIER: &[u8] = b"index:authz_by_identifier";

/// Why a store operation failed. Every variant is an internal error for the client
/// (`serverInternal`) except `Conflict`, which the caller interprets (RFC 8555 §7.3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// LMDB or the file system failed (the text is for the log only).
    Lmdb(String),
    /// `MDB_MAP_FULL`: the configured map size is used up; writes fail, reads keep working.
    MapFull,
    /// A stored value (or an index entry) of `table` under `id` cannot be decoded.
    Decode { table: &'static str, id: String },
    /// `table` holds data written by a newer release (schema version `v`).
    NewerSchema { table: &'static str, v: u16 },
    /// A unique index already maps this key to another record (account key thumbprint,
    /// challenge id, certificate serial).
    Conflict,
    /// The writer thread is gone (the store was dropped).
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Lmdb(e) => write!(f, "storage error: {e}"),
            StoreError::MapFull => f.write_str(
                "storage full: the LMDB map size is used up (raise map_size); writes fail, reads work",
            ),
            StoreError::Decode { table, id } => {
                write!(f, "cannot decode the value of {table}/{id}")
            }
            StoreError::NewerSchema { table, v } => write!(
                f,
                "{table} holds data of schema version {v}, newer than this release supports \
                 ({SCHEMA_VERSION}); run a newer upki-ra"
            ),
            StoreError::Conflict => f.write_str("unique index conflict"),
            StoreError::Closed => f.write_str("the store is closed"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> StoreError {
        match e {
            heed::Error::Mdb(MdbError::MapFull) => StoreError::MapFull,
            other => StoreError::Lmdb(other.to_string()),
        }
    }
}

/// The store: a cheap handle (clone it freely) on one LMDB environment and its writer thread.
/// When the last clone is dropped the writer thread finishes the queued work, ends, and the
/// environment is closed, so the same directory can be opened again.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

/// Field order matters: fields drop top to bottom, after `Drop::drop` has joined the writer
/// thread, so the environment is closed before the directory is released in [`OpenGuard`].
struct Inner {
    jobs: async_channel::Sender<Box<dyn Job>>,
    writer: Option<JoinHandle<()>>,
    env: Env<WithoutTls>,
    tables: Tables,
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "read by the tests' commit counter")
    )]
    commits: Arc<AtomicU64>,
    _open: OpenGuard,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.jobs.close();
        if let Some(writer) = self.writer.take() {
            // A write closure may have held the last handle; the writer cannot join itself.
            if writer.thread().id() != thread::current().id() {
                let _ = writer.join();
            }
        }
    }
}

/// Directories opened by this process (canonical paths). LMDB forbids opening one
/// environment twice in a process ("do not have open an LMDB database twice in the same
/// process at the same time": lmdb.h, Caveats); this registry is what lets `open` promise it.
static OPEN_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Proof that this process holds the only open of a directory; released when dropped.
struct OpenGuard(PathBuf);

impl OpenGuard {
    fn claim(dir: PathBuf) -> Result<OpenGuard, StoreError> {
        let mut open = OPEN_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains(&dir) {
            return Err(StoreError::Lmdb(format!(
                "{} is already open in this process",
                dir.display()
            )));
        }
        open.push(dir.clone());
        Ok(OpenGuard(dir))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut open = OPEN_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|d| d != &self.0);
    }
}

impl Store {
    /// Creates `dir` (mode 0700), opens the LMDB environment once per process, clears stale
    /// reader slots, creates the tables, checks the schema version and spawns the writer thread.
    /// `map_size` (bytes) is rounded up to a multiple of 64 KiB.
    pub(crate) fn open(dir: &Path, map_size: usize) -> Result<Store, StoreError> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Lmdb(format!("{what} {}: {e}", dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io("cannot create", e))?;
        let dir = dir.canonicalize().map_err(|e| io("cannot resolve", e))?;
        if let Ok(meta) = std::fs::metadata(&dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            log::warn!(
                "store: {} is accessible to group/others; use mode 0700",
                dir.display()
            );
        }
        let open_guard = OpenGuard::claim(dir.clone())?;

        let map_size = map_size
            .max(1)
            .div_ceil(MAP_GRANULE)
            .saturating_mul(MAP_GRANULE);
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size).max_dbs(MAX_DBS);
        // No `flags(...)` call: LMDB's defaults are the durable ones (catalog #59b).
        #[allow(unsafe_code)]
        // SAFETY: heed's `open` is unsafe because LMDB's memory map is undefined behaviour if
        // the environment is opened twice in one process or its files are changed behind
        // LMDB's locks. `open_guard` (above) holds this canonical directory in the process-wide
        // OPEN_DIRS registry until this environment is closed (it is dropped after `env` in
        // `Inner`), so no second open of it can happen in this process (heed additionally
        // refuses one with `EnvAlreadyOpened`). Other processes go through LMDB's lock file.
        // The directory is created 0700 for the service user only, the files 0600 (heed), and
        // no unsafe flag (NO_LOCK, WRITE_MAP, NO_SYNC, ...) is set.
        let env = unsafe { options.open(&dir) }?;

        // Catalog #59d: reader slots left by a crashed process would pin old pages forever.
        let stale = env.clear_stale_readers()?;
        if stale > 0 {
            log::warn!("store: cleared {stale} stale LMDB reader slot(s)");
        }

        let tables = create_tables(&env)?;
        let commits = Arc::new(AtomicU64::new(0));
        let (jobs, queue) = async_channel::bounded::<Box<dyn Job>>(MAX_QUEUE);
        let writer = {
            let (env, commits) = (env.clone(), commits.clone());
            thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || writer_loop(&env, &tables, &queue, &commits))
                .map_err(|e| StoreError::Lmdb(format!("cannot spawn the writer thread: {e}")))?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                jobs,
                writer: Some(writer),
                env,
                tables,
                commits,
                _open: open_guard,
            }),
        })
    }

    /// A read-only snapshot, synchronous (LMDB reads are memory-mapped and cheap). Keep `f`
    /// short: a long read transaction keeps old pages from being reused.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = self.inner.env.read_txn()?;
        f(&Reader {
            txn,
            t: &self.inner.tables,
        })
    }

    /// One state change = one closure run in a write transaction on the writer thread.
    /// Closures queued at the same time share one durable commit (group commit), each in its
    /// own nested transaction so one that returns `Err` (or panics) rolls back alone. The
    /// result is delivered only after the commit is durable; if that commit fails, every
    /// closure of the batch gets its error.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, result) = async_channel::bounded(1);
        let job: Box<dyn Job> = Box::new(Pending {
            f: Some(f),
            outcome: None,
            reply,
        });
        self.inner
            .jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        result.recv().await.map_err(|_| StoreError::Closed)?
    }

    /// Durable commits made by the writer thread so far (group commit shows as fewer commits
    /// than writes).
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }
}

/// Creates (or opens) every table, and records or checks the schema version, in one
/// transaction. A store written by a newer schema is refused and left untouched.
fn create_tables(env: &Env<WithoutTls>) -> Result<Tables, StoreError> {
    let wtxn = env.write_txn()?;
    let created = env.create_databases_and_commit(wtxn, |dbo, wtxn| {
        let mut list = Vec::with_capacity(TABLE_NAMES.len());
        for name in TABLE_NAMES {
            list.push(dbo.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
        }
        let list: [_; TABLE_COUNT] = list
            .try_into()
            .map_err(|_| StoreError::Lmdb("table list length".into()))?;
        let [
            meta,
            _,
            _,
            orders,
            _,
            authzs,
            ..,
            orders_by_account,
            _,
            authz_by_identifier,
        ] = list;
        let bad = || StoreError::Decode {
            table: T_META,
            id: "schema".into(),
        };
        match meta.get(wtxn, META_SCHEMA)? {
            Some(raw) => {
                let v: u16 = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(bad)?;
                if v > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { table: T_META, v });
                }
            }
            None => meta.put(wtxn, META_SCHEMA, SCHEMA_VERSION.to_string().as_bytes())?,
        }
        if meta.get(wtxn, META_ORDERS_BY_ACCOUNT)?.is_none() {
            let mut keys = Vec::new();
            for entry in orders.iter(wtxn)? {
                let (id, bytes) = entry?;
                let order: records::OrderRecord =
                    tables::decode("orders", &String::from_utf8_lossy(id), bytes)?;
                keys.push(tables::account_order_key(&order));
            }
            for key in &keys {
                orders_by_account.put(wtxn, key, &[])?;
            }
            if !keys.is_empty() {
                log::info!(
                    "store: indexed {} existing order(s) in {T_ORDERS_BY_ACCOUNT}",
                    keys.len()
                );
            }
            meta.put(wtxn, META_ORDERS_BY_ACCOUNT, b"1")?;
        }
        if meta.get(wtxn, META_AUTHZ_BY_IDENTIFIER)?.is_none() {
            let mut keys = Vec::new();
            for entry in authzs.iter(wtxn)? {
                let (id, bytes) = entry?;
                let authz: records::AuthzRecord =
                    tables::decode("authzs", &String::from_utf8_lossy(id), bytes)?;
                keys.push(tables::authz_identifier_key(&authz));
            }
            for key in &keys {
                authz_by_identifier.put(wtxn, key, &[])?;
            }
            if !keys.is_empty() {
                log::info!(
                    "store: indexed {} existing authorization(s) in {T_AUTHZ_BY_IDENTIFIER}",
                    keys.len()
                );
            }
            meta.put(wtxn, META_AUTHZ_BY_IDENTIFIER, b"1")?;
        }
        Ok(CommitOrAbort::<_, ()>::Commit(list))
    })?;
    match created {
        CommitOrAbort::Commit(list) => Ok(Tables::from_list(list)),
        CommitOrAbort::Abort(()) => Err(StoreError::Lmdb("table creation aborted".into())),
    }
}

/// A queued write closure with its reply channel, type-erased for the writer thread.
trait Job: Send {
    /// Runs the closure; returns its error (a copy) if it failed.
    fn run(&mut self, w: &mut Writer<'_>) -> Result<(), StoreError>;
    /// Replaces the outcome with an error (the nested commit failed).
    fn fail(&mut self, e: StoreError);
    /// Sends the final result, once the batch's commit outcome is known.
    fn deliver(self: Box<Self>, batch: &Result<(), StoreError>);
}

/// A write closure and where its result goes; the result is sent once, by `deliver`.
struct Pending<F, R> {
    f: Option<F>,
    /// `None` after `run` only if the closure panicked.
    outcome: Option<Result<R, StoreError>>,
    reply: async_channel::Sender<Result<R, StoreError>>,
}

impl<F, R> Job for Pending<F, R>
where
    F: FnOnce(&mut Writer<'_>) -> Result<R, StoreError> + Send,
    R: Send,
{
    fn run(&mut self, w: &mut Writer<'_>) -> Result<(), StoreError> {
        let Some(f) = self.f.take() else {
            return Err(StoreError::Lmdb("write job run twice".into()));
        };
        let out = f(w);
        let status = out.as_ref().map(|_| ()).map_err(Clone::clone);
        self.outcome = Some(out);
        status
    }

    fn fail(&mut self, e: StoreError) {
        self.outcome = Some(Err(e));
    }

    fn deliver(self: Box<Self>, batch: &Result<(), StoreError>) {
        let result = match (self.outcome, batch) {
            (Some(Ok(r)), Ok(())) => Ok(r),
            (Some(Ok(_)), Err(e)) => Err(e.clone()),
            (Some(Err(e)), _) => Err(e),
            (None, _) => Err(StoreError::Lmdb("the write closure panicked".into())),
        };
        // The caller may have stopped waiting; the work is done either way.
        let _ = self.reply.try_send(result);
    }
}

/// The writer thread: blocks for a first job, drains what else is queued (up to
/// [`MAX_BATCH`]), runs the batch, repeats; ends when every `Store` handle is gone.
fn writer_loop(
    env: &Env<WithoutTls>,
    tables: &Tables,
    queue: &async_channel::Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
) {
    while let Ok(first) = queue.recv_blocking() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(env, tables, batch, commits);
    }
}

/// One parent write transaction for the batch, one nested transaction per job (committed into
/// the parent if the job succeeded, aborted otherwise), one durable commit of the parent, then
/// the replies.
fn run_batch(
    env: &Env<WithoutTls>,
    tables: &Tables,
    mut batch: Vec<Box<dyn Job>>,
    commits: &AtomicU64,
) {
    let mut parent = match env.write_txn() {
        Ok(txn) => txn,
        Err(e) => {
            let e = StoreError::from(e);
            log::error!("store: cannot begin a write transaction: {e}");
            for job in batch {
                job.deliver(&Err(e.clone()));
            }
            return;
        }
    };
    let mut any_committed = false;
    let mut map_full = false;
    for job in &mut batch {
        let child = match env.nested_write_txn(&mut parent) {
            Ok(txn) => txn,
            Err(e) => {
                job.fail(e.into());
                continue;
            }
        };
        let mut w = Writer {
            txn: child,
            t: tables,
        };
        let ran = panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut w)));
        match ran {
            Ok(Ok(())) => match w.txn.commit() {
                Ok(()) => any_committed = true,
                Err(e) => {
                    let e = StoreError::from(e);
                    map_full |= e == StoreError::MapFull;
                    job.fail(e);
                }
            },
            Ok(Err(e)) => {
                map_full |= e == StoreError::MapFull;
                w.txn.abort();
            }
            Err(_) => {
                log::error!("store: a write closure panicked; its changes are rolled back");
                w.txn.abort();
            }
        }
    }
    let outcome = if any_committed {
        parent.commit().map_err(StoreError::from)
    } else {
        parent.abort();
        Ok(())
    };
    match &outcome {
        Ok(()) if any_committed => {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(()) => {}
        Err(e) => {
            map_full |= *e == StoreError::MapFull;
            log::error!("store: commit of {} write(s) failed: {e}", batch.len());
        }
    }
    // Catalog #59c: an alert, not a panic; reads keep working.
    if map_full {
        log::error!("store: {}", StoreError::MapFull);
    }
    for job in batch {
        job.deliver(&outcome);
    }
}

#[cfg(test)]
mod tests;
