//! The embedded CA's durable state (`<data_dir>/ca/`): a snapshot, `state.json` (latest serial
//! per name, revocations; the format of earlier versions, which still loads as is), plus an
//! append-only journal, `state.journal`, of the events since that snapshot.
//!
//! Each change is one JSON line appended with a single `write` and made durable with
//! `fdatasync` before the CA answers, so the cost per change does not grow with the number of
//! certificates. At start-up the journal is replayed on top of the snapshot; a torn last line
//! (a crash in the middle of an append, never acknowledged) is dropped. The journal is then
//! compacted: the snapshot is rewritten atomically (temp file + fsync + rename) and the journal
//! truncated. It is also compacted while running once it outgrows the snapshot (and a floor),
//! so compaction costs O(1) per change, amortized.
//!
//! Replaying is idempotent (every event sets a key: a name's serial, a serial's revocation),
//! so a crash between writing the snapshot and truncating the journal loses nothing and
//! duplicates nothing.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pki::issuer::write_atomic;

const SNAPSHOT_FILE: &str = "state.json";
const JOURNAL_FILE: &str = "state.journal";
/// The journal is compacted once it is larger than both this and the last snapshot.
pub(crate) const JOURNAL_FLOOR: u64 = 1 << 20;

/// One revocation on the CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RevokedEntry {
    pub(crate) serial: String,
    pub(crate) name: String,
    pub(crate) revoked_at: i64,
    pub(crate) reason: u8,
}

/// How many names keep their newest certificate's PEM in [`State::certificates`]: the most
/// recently issued ones. `view` hands a certificate back so that an RA which lost a `sign`
/// reply can adopt it (catalog #58); the RA looks that up right after the timeout or at its
/// next start, so the names concerned are among the last few signed. Bounding the map keeps
/// the CA's memory and snapshot from growing ~1 KiB per name ever issued (a certificate per
/// distinct name, e.g. 100 MiB after 100k names); names pushed out answer `view` without a
/// certificate, as upki-ca does.
pub(crate) const KEPT_CERTIFICATES: usize = 1024;

/// What the CA remembers besides its root: like upki-ca it indexes certificates by name (CN, or
/// the first SAN for SAN-only certificates), so `revoke` reaches the newest one for a name.
/// Serialized as is, this is the snapshot file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Snapshot")]
pub(crate) struct State {
    pub(crate) issued: BTreeMap<String, String>,
    pub(crate) revoked: Vec<RevokedEntry>,
    /// The newest certificate (PEM) of each of the [`KEPT_CERTIFICATES`] names issued last.
    /// Absent from snapshots written before it existed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) certificates: BTreeMap<String, String>,
    /// The keys of `certificates`, oldest first. Not saved: after a restart the snapshot's
    /// entries count as older than every later change, in name order.
    #[serde(skip)]
    recent: VecDeque<String>,
}

/// The snapshot file as read: [`State`] without its in-memory order.
#[derive(Deserialize)]
struct Snapshot {
    issued: BTreeMap<String, String>,
    revoked: Vec<RevokedEntry>,
    #[serde(default)]
    certificates: BTreeMap<String, String>,
}

impl From<Snapshot> for State {
    fn from(s: Snapshot) -> State {
        let mut state = State {
            issued: s.issued,
            revoked: s.revoked,
            recent: s.certificates.keys().cloned().collect(),
            certificates: s.certificates,
        };
        state.evict_certificates();
        state
    }
}

/// Equal when what the CA answers from is equal (the eviction order is not compared).
impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.issued == other.issued
            && self.revoked == other.revoked
            && self.certificates == other.certificates
    }
}

impl Eq for State {}

/// One change to [`State`], one line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// `name`'s newest certificate is now `serial` (its PEM in `certificate`; journals written
    /// before that field existed have none).
    Issued {
        name: String,
        serial: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<String>,
    },
    /// `entry.serial` is on the CRL.
    Revoked(RevokedEntry),
    /// `serial` is off the CRL.
    Unrevoked { serial: String },
}

impl State {
    /// Applies `event`. Idempotent: applying it twice is applying it once.
    pub(crate) fn apply(&mut self, event: Event) {
        match event {
            Event::Issued {
                name,
                serial,
                certificate,
            } => {
                if self.certificates.contains_key(&name) {
                    self.recent.retain(|n| n != &name);
                }
                match certificate {
                    Some(pem) => {
                        self.certificates.insert(name.clone(), pem);
                        self.recent.push_back(name.clone());
                        self.evict_certificates();
                    }
                    None => {
                        self.certificates.remove(&name);
                    }
                }
                self.issued.insert(name, serial);
            }
            Event::Revoked(entry) => {
                match self.revoked.iter_mut().find(|r| r.serial == entry.serial) {
                    Some(r) => *r = entry,
                    None => self.revoked.push(entry),
                }
            }
            Event::Unrevoked { serial } => self.revoked.retain(|r| r.serial != serial),
        }
    }

    /// Drops the oldest certificates beyond [`KEPT_CERTIFICATES`] (their names stay in
    /// `issued`).
    fn evict_certificates(&mut self) {
        while self.certificates.len() > KEPT_CERTIFICATES {
            let Some(oldest) = self.recent.pop_front() else {
                break;
            };
            self.certificates.remove(&oldest);
        }
    }
}

/// A journal that cannot be replayed (not a torn tail: damage before the last line).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Corrupt {
    /// 1-based line number.
    pub(crate) line: usize,
    pub(crate) detail: String,
}

/// Applies the journal `bytes` to `state`; returns how many events were applied and whether a
/// torn tail was dropped. Only the last line may be damaged (unterminated, or unparseable with
/// nothing but NULs after it: a file extended by a crash before its data reached the disk).
pub(crate) fn replay(state: &mut State, bytes: &[u8]) -> Result<(usize, bool), Corrupt> {
    let mut applied = 0;
    let mut rest = bytes;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let mut parts = rest.splitn(2, |&b| b == b'\n');
        let line = parts.next().unwrap_or_default();
        let (after, terminated) = match parts.next() {
            Some(after) => (after, true),
            None => (&[][..], false),
        };
        let is_tail = after.iter().all(|&b| b == 0);
        match serde_json::from_slice::<Event>(line) {
            Ok(event) if terminated => {
                state.apply(event);
                applied += 1;
            }
            Err(e) if !is_tail => {
                return Err(Corrupt {
                    line: line_no,
                    detail: e.to_string(),
                });
            }
            // The tail: unterminated (an unterminated line is always the last one), or
            // unparseable with only NULs after it.
            _ => return Ok((applied, line.iter().any(|&b| b != 0))),
        }
        rest = after;
    }
    Ok((applied, false))
}

/// The state, its snapshot and its open journal.
#[derive(Debug)]
pub(crate) struct StateLog {
    state: State,
    snapshot: PathBuf,
    journal_path: PathBuf,
    journal: fs::File,
    journal_len: u64,
    snapshot_len: u64,
    /// [`JOURNAL_FLOOR`]; lowered by tests.
    floor: u64,
    /// A failed append may have left part of a line: compact before the next one.
    damaged: bool,
}

fn at(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

impl StateLog {
    /// Loads the snapshot in `dir` (absent: empty), replays the journal on top, compacts.
    pub(crate) fn open(dir: &Path) -> Result<StateLog, String> {
        let snapshot = dir.join(SNAPSHOT_FILE);
        let journal_path = dir.join(JOURNAL_FILE);
        let mut state = match fs::read(&snapshot) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| at(&snapshot, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(at(&snapshot, e)),
        };
        match fs::read(&journal_path) {
            Ok(bytes) => {
                let (n, torn) = replay(&mut state, &bytes)
                    .map_err(|c| at(&journal_path, format!("line {}: {}", c.line, c.detail)))?;
                if torn {
                    log::warn!(
                        "{}: dropped a torn last line (a change interrupted before it was acknowledged)",
                        journal_path.display()
                    );
                }
                log::debug!("{}: replayed {n} events", journal_path.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&journal_path, e)),
        }
        let journal = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&journal_path)
            .map_err(|e| at(&journal_path, e))?;
        let mut log = StateLog {
            state,
            snapshot,
            journal_path,
            journal,
            journal_len: 0,
            snapshot_len: 0,
            floor: JOURNAL_FLOOR,
            damaged: false,
        };
        log.compact()?;
        // The journal's directory entry may be new: make it durable once.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| at(dir, e))?;
        Ok(log)
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// Durable first, then in memory: a failed append changes nothing the CA will answer from.
    pub(crate) fn record(&mut self, event: Event) -> Result<(), String> {
        if self.damaged {
            self.compact()?;
            self.damaged = false;
        }
        let mut line = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let written = self
            .journal
            .write_all(&line)
            .and_then(|()| self.journal.sync_data());
        if let Err(e) = written {
            // A partial line would make the next one unreadable: cut back to the last good one,
            // or failing that, rewrite the snapshot and empty the journal before the next.
            self.damaged = self.journal.set_len(self.journal_len).is_err();
            return Err(at(&self.journal_path, e));
        }
        self.journal_len += line.len() as u64;
        self.state.apply(event);
        if self.journal_len > self.floor.max(self.snapshot_len) {
            // The change is durable in the journal already; a failed compaction is retried
            // at the next change.
            if let Err(e) = self.compact() {
                log::error!("compacting the CA state: {e}");
            }
        }
        Ok(())
    }

    /// Rewrites the snapshot from memory, then empties the journal.
    fn compact(&mut self) -> Result<(), String> {
        let bytes = serde_json::to_vec(&self.state).map_err(|e| e.to_string())?;
        write_atomic(&self.snapshot, &bytes, 0o600).map_err(|e| at(&self.snapshot, e))?;
        self.snapshot_len = bytes.len() as u64;
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.sync_all())
            .map_err(|e| at(&self.journal_path, e))?;
        self.journal_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let mut r = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r).unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("upki-ra-{tag}-{name}"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn issued(name: &str, serial: &str) -> Event {
        Event::Issued {
            name: name.to_owned(),
            serial: serial.to_owned(),
            certificate: None,
        }
    }

    fn revoked(name: &str, serial: &str) -> Event {
        Event::Revoked(RevokedEntry {
            serial: serial.to_owned(),
            name: name.to_owned(),
            revoked_at: 1_700_000_000,
            reason: 1,
        })
    }

    /// Issue, reissue, revoke, unrevoke, revoke: the state every test expects back.
    fn record_some(log: &mut StateLog) {
        for e in [
            issued("a.lan", "11"),
            issued("b.lan", "22"),
            issued("a.lan", "33"),
            revoked("a.lan", "33"),
            revoked("b.lan", "22"),
            Event::Unrevoked {
                serial: "33".to_owned(),
            },
            revoked("a.lan", "11"),
        ] {
            log.record(e).unwrap();
        }
    }

    fn expected() -> State {
        let mut s = State::default();
        s.issued.insert("a.lan".to_owned(), "33".to_owned());
        s.issued.insert("b.lan".to_owned(), "22".to_owned());
        s.revoked = vec![
            RevokedEntry {
                serial: "22".to_owned(),
                name: "b.lan".to_owned(),
                revoked_at: 1_700_000_000,
                reason: 1,
            },
            RevokedEntry {
                serial: "11".to_owned(),
                name: "a.lan".to_owned(),
                revoked_at: 1_700_000_000,
                reason: 1,
            },
        ];
        s
    }

    #[test]
    fn restart_replays_the_journal() {
        let dir = temp_dir("statelog-restart");
        let mut log = StateLog::open(&dir).unwrap();
        record_some(&mut log);
        assert_eq!(log.state(), &expected());
        drop(log);
        // Not compacted yet: the changes are only in the journal, one line each.
        let journal = fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap();
        assert_eq!(journal.lines().count(), 7, "{journal}");
        assert_eq!(
            fs::read(dir.join(SNAPSHOT_FILE)).unwrap(),
            br#"{"issued":{},"revoked":[]}"#
        );
        let log = StateLog::open(&dir).unwrap();
        assert_eq!(log.state(), &expected());
        // Start-up compacted: snapshot holds it all, journal empty.
        assert_eq!(fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len(), 0);
        let snap: State =
            serde_json::from_slice(&fs::read(dir.join(SNAPSHOT_FILE)).unwrap()).unwrap();
        assert_eq!(snap, expected());
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_last_line_is_dropped() {
        let dir = temp_dir("statelog-torn");
        let mut log = StateLog::open(&dir).unwrap();
        record_some(&mut log);
        drop(log);
        let path = dir.join(JOURNAL_FILE);
        let good = fs::read(&path).unwrap();
        // A crash mid-append: part of a line, no newline.
        let mut torn = good.clone();
        torn.extend_from_slice(br#"{"event":"issued","name":"c.lan","ser"#);
        fs::write(&path, &torn).unwrap();
        let mut log = StateLog::open(&dir).unwrap();
        assert_eq!(log.state(), &expected());
        // Writing goes on cleanly after the dropped tail.
        log.record(issued("c.lan", "44")).unwrap();
        drop(log);
        let log = StateLog::open(&dir).unwrap();
        assert_eq!(
            log.state().issued.get("c.lan").map(String::as_str),
            Some("44")
        );
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_tails_and_corruption() {
        let lines = b"{\"event\":\"issued\",\"name\":\"a\",\"serial\":\"1\"}\n";
        let mut state = State::default();
        assert_eq!(replay(&mut state, lines), Ok((1, false)));
        // A complete line followed by a file extension that never got its data (NULs).
        let mut nuls = lines.to_vec();
        nuls.extend_from_slice(&[0; 64]);
        assert_eq!(replay(&mut State::default(), &nuls), Ok((1, false)));
        // A parseable but unterminated line was never acknowledged: dropped.
        assert_eq!(
            replay(&mut State::default(), &lines[..lines.len() - 1]),
            Ok((0, true))
        );
        // A damaged line that is not the last one is corruption, not a torn tail.
        let mut mid = b"{\"event\":\"iss\n".to_vec();
        mid.extend_from_slice(lines);
        let err = replay(&mut State::default(), &mid).unwrap_err();
        assert_eq!(err.line, 1);
        let dir = temp_dir("statelog-corrupt");
        fs::write(dir.join(JOURNAL_FILE), &mid).unwrap();
        assert!(StateLog::open(&dir).unwrap_err().contains("line 1"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_preserves_state() {
        let dir = temp_dir("statelog-compact");
        let mut log = StateLog::open(&dir).unwrap();
        log.floor = 0;
        record_some(&mut log);
        // Each change outgrew the (tiny) snapshot at some point: compacted while running.
        assert!(log.journal_len < 200, "{}", log.journal_len);
        let snap: State =
            serde_json::from_slice(&fs::read(dir.join(SNAPSHOT_FILE)).unwrap()).unwrap();
        let mut replayed = snap.clone();
        replay(&mut replayed, &fs::read(dir.join(JOURNAL_FILE)).unwrap()).unwrap();
        assert_eq!(replayed, expected());
        drop(log);
        assert_eq!(StateLog::open(&dir).unwrap().state(), &expected());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A crash after the snapshot was rewritten but before the journal was emptied: replaying
    /// the journal again on top changes nothing (idempotent events).
    #[test]
    fn crash_between_snapshot_and_truncate() {
        let dir = temp_dir("statelog-idem");
        let mut log = StateLog::open(&dir).unwrap();
        record_some(&mut log);
        drop(log);
        let journal = fs::read(dir.join(JOURNAL_FILE)).unwrap();
        drop(StateLog::open(&dir).unwrap());
        fs::write(dir.join(JOURNAL_FILE), &journal).unwrap();
        assert_eq!(StateLog::open(&dir).unwrap().state(), &expected());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn issued_with_pem(name: &str, serial: usize) -> Event {
        Event::Issued {
            name: name.to_owned(),
            serial: serial.to_string(),
            certificate: Some(format!("PEM of {name} #{serial}")),
        }
    }

    /// Catalog #58's certificates are kept for the names issued last only: memory and snapshot
    /// do not grow with every name ever issued, and a renewal makes its name the newest.
    #[test]
    fn only_the_newest_certificates_are_kept() {
        let mut state = State::default();
        let total = KEPT_CERTIFICATES + 10;
        for i in 0..total {
            state.apply(issued_with_pem(&format!("n{i}.lan"), i));
        }
        assert_eq!(state.issued.len(), total);
        assert_eq!(state.certificates.len(), KEPT_CERTIFICATES);
        assert!(!state.certificates.contains_key("n9.lan"));
        assert!(state.certificates.contains_key("n10.lan"));
        let last = format!("n{}.lan", total - 1);
        assert!(state.certificates.contains_key(&last));
        // Renewing the oldest kept name makes it the newest: the next name pushes out n11.
        state.apply(issued_with_pem("n10.lan", total));
        state.apply(issued_with_pem("new.lan", total + 1));
        assert_eq!(state.certificates.len(), KEPT_CERTIFICATES);
        assert_eq!(
            state.certificates.get("n10.lan").map(String::as_str),
            Some(format!("PEM of n10.lan #{total}").as_str())
        );
        assert!(!state.certificates.contains_key("n11.lan"));
        // A certificate-less event (an old journal) drops the name's stale PEM.
        state.apply(issued("new.lan", "9"));
        assert!(!state.certificates.contains_key("new.lan"));
        assert_eq!(state.recent.len(), state.certificates.len());

        // The snapshot round trip keeps what `view` answers from; an oversized snapshot (as the
        // previous version wrote it, one PEM per name ever issued) loads trimmed.
        let bytes = serde_json::to_vec(&state).unwrap();
        let back: State = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, state);
        let mut big = serde_json::to_value(&state).unwrap();
        for i in 0..5 {
            big["certificates"][format!("zz{i}.lan")] = serde_json::json!("PEM");
        }
        let loaded: State = serde_json::from_value(big).unwrap();
        assert_eq!(loaded.certificates.len(), KEPT_CERTIFICATES);
        assert_eq!(loaded.issued, state.issued);
    }

    /// `state.json` as earlier versions wrote it (no journal) loads unchanged.
    #[test]
    fn old_state_json_loads() {
        let dir = temp_dir("statelog-old");
        let old = r#"{"issued":{"a.lan":"33","b.lan":"22"},"revoked":[{"serial":"22","name":"b.lan","revoked_at":1700000000,"reason":1},{"serial":"11","name":"a.lan","revoked_at":1700000000,"reason":1}]}"#;
        fs::write(dir.join(SNAPSHOT_FILE), old).unwrap();
        let log = StateLog::open(&dir).unwrap();
        assert_eq!(log.state(), &expected());
        drop(log);
        // Compaction rewrote it in the same format.
        assert_eq!(fs::read_to_string(dir.join(SNAPSHOT_FILE)).unwrap(), old);
        fs::remove_dir_all(&dir).unwrap();
    }
}
