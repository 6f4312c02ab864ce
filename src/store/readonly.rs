//! A read-only view of a store that another process (the running server) owns: what the
//! operator CLI (`upki-ra admin`, `upki-ra status`) opens while `upki-ra serve` runs.
//!
//! LMDB supports readers in several processes at once: each read transaction takes a slot in
//! the shared reader table of `lock.mdb` and sees one consistent snapshot, while the server's
//! writer keeps committing ("multiple processes may open the same environment": lmdb.h). The
//! environment is opened with `MDB_RDONLY`, so this process can never write, create tables or
//! change the schema; a store that does not exist yet is an error, not created.

use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions, WithoutTls};

use super::records::SCHEMA_VERSION;
use super::tables::{Reader, T_META};
use super::tables::{TABLE_NAMES, Tables};
use super::{MAP_GRANULE, MAX_DBS, META_SCHEMA, OpenGuard, StoreError};

/// A read-only LMDB environment and its table handles.
pub(crate) struct ReadOnlyStore {
    env: heed::Env<WithoutTls>,
    tables: Tables,
    _open: OpenGuard,
}

impl ReadOnlyStore {
    /// Opens the existing store in `dir` read-only. `map_size` must be at least the size the
    /// server uses (LMDB maps the larger of it and the size recorded in the file).
    pub(crate) fn open(dir: &Path, map_size: usize) -> Result<ReadOnlyStore, StoreError> {
        if !dir.join("data.mdb").is_file() {
            return Err(StoreError::Lmdb(format!(
                "no store in {} (has the server run with this data_dir?)",
                dir.display()
            )));
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| StoreError::Lmdb(format!("cannot resolve {}: {e}", dir.display())))?;
        let open_guard = OpenGuard::claim(dir.clone())?;
        let map_size = map_size
            .max(1)
            .div_ceil(MAP_GRANULE)
            .saturating_mul(MAP_GRANULE);
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size).max_dbs(MAX_DBS);
        #[allow(unsafe_code)]
        // SAFETY: `flags` is unsafe because some flags (NO_LOCK, WRITE_MAP, NO_SYNC, ...) can
        // corrupt the database or break concurrent use. READ_ONLY is none of those: it only
        // forbids writes from this environment and keeps using the lock file, so the server's
        // writer and other readers coordinate with us through LMDB's locks.
        unsafe {
            options.flags(EnvFlags::READ_ONLY);
        }
        #[allow(unsafe_code)]
        // SAFETY: as in `Store::open`: `open_guard` holds this canonical directory in the
        // process-wide registry until this environment is closed (it drops after `env`), so it
        // is not opened twice in this process; other processes (the server) coordinate through
        // LMDB's lock file; no unsafe flag is set (READ_ONLY only, see above).
        let env = unsafe { options.open(&dir) }?;
        let rtxn = env.read_txn()?;
        // Handles opened in a read transaction become usable by later ones once it commits.
        let opened = env.open_databases_and_commit(rtxn, |dbo, rtxn| {
            let mut list = Vec::with_capacity(TABLE_NAMES.len());
            for name in TABLE_NAMES {
                let db = dbo
                    .open_database::<Bytes, Bytes>(rtxn, Some(name))?
                    .ok_or_else(|| StoreError::Lmdb(format!("table {name} is missing")))?;
                list.push(db);
            }
            let list: [_; TABLE_NAMES.len()] = list
                .try_into()
                .map_err(|_| StoreError::Lmdb("table list length".into()))?;
            let [meta, ..] = list;
            let version = meta
                .get(rtxn, META_SCHEMA)?
                .and_then(|raw| std::str::from_utf8(raw).ok()?.parse::<u16>().ok())
                .ok_or_else(|| StoreError::Decode {
                    table: T_META,
                    id: "schema".into(),
                })?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    table: T_META,
                    v: version,
                });
            }
            Ok(CommitOrAbort::<_, ()>::Commit(list))
        })?;
        let CommitOrAbort::Commit(list) = opened else {
            return Err(StoreError::Lmdb("opening the tables was aborted".into()));
        };
        Ok(ReadOnlyStore {
            env,
            tables: Tables::from_list(list),
            _open: open_guard,
        })
    }

    /// A consistent snapshot, as [`super::Store::read`].
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = self.env.read_txn()?;
        f(&Reader {
            txn,
            t: &self.tables,
        })
    }
}
