//! A durable, bounded, on-disk queue of reports waiting for delivery.
//!
//! One file per report, named by a sortable key (microseconds since the epoch, made strictly
//! increasing), so a directory listing is the order of creation. A report is written to a
//! temporary file, fsynced, renamed into place and the directory fsynced before anyone tries to
//! send it; it is removed only after the endpoint acknowledged it. A crash at any point leaves
//! either no entry or a whole one: leftover temporary files are deleted at the next start.
//!
//! The spool is bounded by count and bytes; when full, the oldest reports are dropped, counted
//! and logged. An entry that cannot be read as a report is moved to `corrupt/`, and one the
//! endpoint refused for good (`400`, `413`, `422`) to `rejected/`, so the rest still goes out.
//! Those two directories are bounded too (a tenth of the spool's limits each, oldest dropped and
//! counted), and what they hold is put back in the queue when the agent's version differs from
//! the one that set it aside, or the endpoint answers with another `Server` (a new collector
//! version may accept what the old one refused). A lock file keeps two agents from working on the
//! same spool.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fsutil;

const LOCK_FILE: &str = ".lock";
const TMP_PREFIX: &str = ".tmp-";
const SUFFIX: &str = ".json";
const KEY_DIGITS: usize = 20;
/// In each set-aside directory: the agent version and endpoint `Server` that set its entries
/// aside, JSON.
const SET_ASIDE_BY: &str = ".set-aside-by.json";
/// The version of this agent (the workspace shares one version).
const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Limits of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Most reports kept.
    pub max_reports: u64,
    /// Most bytes kept (the newest report is always kept, whatever its size).
    pub max_bytes: u64,
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing the spool directory failed (disk full, unwritable, …).
    #[error("spool {}: {source}", dir.display())]
    Io {
        /// The spool directory.
        dir: PathBuf,
        /// The cause (it names the file).
        source: std::io::Error,
    },
    /// Another process holds the spool.
    #[error("spool {} is in use by another posture process", dir.display())]
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// An entry is not a report.
    #[error("spool entry {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The entry.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// One report in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The sortable key (file name without `.json`).
    pub key: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// A spooled report, read back for sending.
#[derive(Debug, Clone)]
pub struct SpooledReport {
    /// Where it is.
    pub entry: Entry,
    /// The report's id, for logs and de-duplication.
    pub report_id: String,
    /// The report JSON exactly as spooled.
    pub body: Vec<u8>,
}

/// What [`Spool::push`] did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The new entry.
    pub entry: Entry,
    /// Entries dropped (oldest first) to stay within the limits.
    pub dropped: Vec<Entry>,
}

/// Where a bad entry is moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// Unreadable: not JSON, or no `report_id`.
    Corrupt,
    /// Refused for good by the endpoint.
    Rejected,
}

impl Aside {
    const ALL: [Self; 2] = [Self::Corrupt, Self::Rejected];

    fn dir_name(self) -> &'static str {
        match self {
            Self::Corrupt => "corrupt",
            Self::Rejected => "rejected",
        }
    }
}

/// What [`Spool::set_aside`] did.
#[derive(Debug, Clone)]
pub struct SetAside {
    /// Where the entry is now.
    pub path: PathBuf,
    /// Older set-aside entries dropped to keep the directory within its bound.
    pub dropped: u64,
}

/// Who set a directory's entries aside: the agent version, and the endpoint's `Server` header
/// when the entries were refused (none for corrupt ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SetAsideBy {
    agent: String,
    server: Option<String>,
}

/// Count and bytes of the spooled reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Reports waiting.
    pub reports: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The spool, locked for this process.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    last_key: u64,
    // Held for the spool's lifetime; the OS releases the lock when the process dies.
    _lock: fs_err::File,
}

impl Spool {
    /// Opens (creating it owner-only if needed) and locks the spool in `dir`, and deletes the
    /// temporary files a crash may have left.
    ///
    /// # Errors
    /// When the directory cannot be created or read, or another process holds it.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Self, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        fsutil::create_private_dir(dir).map_err(io)?;
        let mut options = fs_err::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let lock = options.open(dir.join(LOCK_FILE)).map_err(io)?;
        match lock.file().try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        for item in fs_err::read_dir(dir).map_err(io)? {
            let item = item.map_err(io)?;
            let name = item.file_name();
            if name.to_string_lossy().starts_with(TMP_PREFIX) {
                tracing::info!(file = %item.path().display(), "removing a report that was being spooled when the agent stopped");
                fs_err::remove_file(item.path()).map_err(io)?;
            }
        }
        let mut spool = Self {
            dir: dir.to_path_buf(),
            limits,
            last_key: 0,
            _lock: lock,
        };
        let requeued = spool
            .requeue_set_aside(|by| by.agent != AGENT_VERSION)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot queue the reports set aside by another version again");
                0
            });
        if requeued > 0 {
            tracing::info!(
                requeued,
                version = AGENT_VERSION,
                "the agent's version changed: reports set aside by the previous version are queued again"
            );
        }
        spool.last_key = spool
            .entries()?
            .last()
            .and_then(|e| e.key.parse().ok())
            .unwrap_or(0);
        Ok(spool)
    }

    /// The bound of each set-aside directory: a tenth of the spool's (at least one report and
    /// 64 KiB), so a fleet-wide refusal cannot fill the disk.
    #[must_use]
    pub fn aside_limits(&self) -> SpoolLimits {
        SpoolLimits {
            max_reports: (self.limits.max_reports / 10).max(1),
            max_bytes: (self.limits.max_bytes / 10).max(64 * 1024),
        }
    }

    /// Puts refused reports back in the queue when the endpoint now answers with another
    /// `Server` than the one that refused them (a collector upgrade). Returns how many.
    ///
    /// # Errors
    /// When a set-aside directory cannot be read or an entry cannot be moved.
    pub fn requeue_if_server_changed(&self, server: &str) -> Result<u64, SpoolError> {
        let requeued = self.requeue_set_aside(|by| {
            by.server
                .as_deref()
                .is_some_and(|refused_by| refused_by != server)
        })?;
        if requeued > 0 {
            tracing::info!(
                requeued,
                server,
                "the endpoint's version changed: reports it refused before are queued again"
            );
        }
        Ok(requeued)
    }

    /// Moves the entries of every set-aside directory whose marker satisfies `stale` (or that
    /// has entries but no marker, from an agent that kept none) back into the queue. Their keys
    /// are older than any new entry's, so they go out first, in their original order.
    fn requeue_set_aside(&self, stale: impl Fn(&SetAsideBy) -> bool) -> Result<u64, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        };
        let mut requeued = 0;
        for why in Aside::ALL {
            let aside = self.dir.join(why.dir_name());
            let entries = match list_entries(&aside) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            };
            if entries.is_empty() {
                continue;
            }
            let marker = aside.join(SET_ASIDE_BY);
            let by = match fs_err::read(&marker) {
                Ok(bytes) => serde_json::from_slice::<SetAsideBy>(&bytes).ok(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(e)),
            };
            if by.as_ref().is_some_and(|by| !stale(by)) {
                continue;
            }
            for e in &entries {
                let back = self.dir.join(format!("{}{SUFFIX}", e.key));
                if back.exists() {
                    continue;
                }
                fs_err::rename(&e.path, &back).map_err(io)?;
                requeued += 1;
            }
            match fs_err::remove_file(&marker) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
            fsutil::sync_dir(&aside).map_err(io)?;
            fsutil::sync_dir(&self.dir).map_err(io)?;
        }
        Ok(requeued)
    }

    /// The spool directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Durably adds a report (its JSON) and drops the oldest entries beyond the limits.
    ///
    /// # Errors
    /// When the report cannot be written (disk full, directory gone or unwritable).
    pub fn push(&mut self, body: &[u8]) -> Result<Pushed, SpoolError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        // Strictly increasing even if the clock steps back, so the order of creation holds.
        let key = now.max(self.last_key.saturating_add(1));
        let name = format!("{key:0KEY_DIGITS$}");
        let path = self.dir.join(format!("{name}{SUFFIX}"));
        let tmp = self.dir.join(format!("{TMP_PREFIX}{name}"));
        fsutil::write_atomic(&path, &tmp, body).map_err(|source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        })?;
        self.last_key = key;
        let entry = Entry {
            key: name,
            path,
            size: body.len() as u64,
        };
        let dropped = self.enforce_limits(&entry)?;
        Ok(Pushed { entry, dropped })
    }

    fn enforce_limits(&self, newest: &Entry) -> Result<Vec<Entry>, SpoolError> {
        let entries = self.entries()?;
        let mut count = entries.len() as u64;
        let mut bytes: u64 = entries.iter().map(|e| e.size).sum();
        let mut dropped = Vec::new();
        for e in entries {
            if count <= self.limits.max_reports && bytes <= self.limits.max_bytes {
                break;
            }
            if e.key == newest.key {
                break;
            }
            match fs_err::remove_file(&e.path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(SpoolError::Io {
                        dir: self.dir.clone(),
                        source,
                    });
                }
            }
            count -= 1;
            bytes = bytes.saturating_sub(e.size);
            dropped.push(e);
        }
        if !dropped.is_empty() {
            tracing::warn!(
                dropped = dropped.len(),
                max_reports = self.limits.max_reports,
                max_bytes = self.limits.max_bytes,
                "spool full: dropped the oldest unsent reports"
            );
        }
        Ok(dropped)
    }

    /// The spooled reports, oldest first.
    ///
    /// # Errors
    /// When the directory cannot be listed.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        list_entries(&self.dir).map_err(|source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        })
    }

    /// The oldest spooled report, if any.
    ///
    /// # Errors
    /// When the directory cannot be listed.
    pub fn oldest(&self) -> Result<Option<Entry>, SpoolError> {
        Ok(self.entries()?.into_iter().next())
    }

    /// Reads an entry back.
    ///
    /// # Errors
    /// [`SpoolError::Corrupt`] when it is not a JSON object with a `report_id`;
    /// [`SpoolError::Io`] when it cannot be read.
    pub fn read(&self, entry: &Entry) -> Result<SpooledReport, SpoolError> {
        let body = fs_err::read(&entry.path).map_err(|source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        })?;
        let corrupt = |reason: String| SpoolError::Corrupt {
            path: entry.path.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| corrupt(format!("not JSON: {e}")))?;
        let report_id = value
            .get("report_id")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| corrupt("no `report_id`".to_owned()))?
            .to_owned();
        Ok(SpooledReport {
            entry: entry.clone(),
            report_id,
            body,
        })
    }

    /// Removes an acknowledged entry. An entry already gone is not an error.
    ///
    /// # Errors
    /// When the file exists but cannot be removed.
    pub fn remove(&self, entry: &Entry) -> Result<(), SpoolError> {
        let io = |source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        };
        match fs_err::remove_file(&entry.path) {
            Ok(()) => fsutil::sync_dir(&self.dir).map_err(io),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    /// Moves an entry to `corrupt/` or `rejected/` beside the queue, where it is kept for a
    /// person to look at. It is not sent again by this agent version to this endpoint version
    /// (`server`, the refusing reply's `Server` header); see [`Spool::requeue_if_server_changed`].
    /// The oldest set-aside entries beyond [`Spool::aside_limits`] are dropped and counted.
    ///
    /// # Errors
    /// When the entry cannot be moved.
    pub fn set_aside(
        &self,
        entry: &Entry,
        why: Aside,
        server: Option<&str>,
    ) -> Result<SetAside, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        };
        let target_dir = self.dir.join(why.dir_name());
        fsutil::create_private_dir(&target_dir).map_err(io)?;
        let by = SetAsideBy {
            agent: AGENT_VERSION.to_owned(),
            server: server.map(str::to_owned),
        };
        let marker = serde_json::to_vec(&by).map_err(|e| io(std::io::Error::other(e)))?;
        fsutil::write_atomic(
            &target_dir.join(SET_ASIDE_BY),
            &target_dir.join(format!("{TMP_PREFIX}{SET_ASIDE_BY}")),
            &marker,
        )
        .map_err(io)?;
        let target = target_dir.join(format!("{}{SUFFIX}", entry.key));
        fs_err::rename(&entry.path, &target).map_err(io)?;
        fsutil::sync_dir(&self.dir).map_err(io)?;
        let dropped = self.bound_aside(&target_dir, &entry.key).map_err(io)?;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                dir = %target_dir.display(),
                max_reports = self.aside_limits().max_reports,
                max_bytes = self.aside_limits().max_bytes,
                "set-aside reports over the limit: dropped the oldest"
            );
        }
        Ok(SetAside {
            path: target,
            dropped,
        })
    }

    /// Drops the oldest entries of a set-aside directory beyond its bound, never `newest`.
    fn bound_aside(&self, dir: &Path, newest: &str) -> std::io::Result<u64> {
        let limits = self.aside_limits();
        let entries = list_entries(dir)?;
        let mut count = entries.len() as u64;
        let mut bytes: u64 = entries.iter().map(|e| e.size).sum();
        let mut dropped = 0;
        for e in entries {
            if (count <= limits.max_reports && bytes <= limits.max_bytes) || e.key == newest {
                break;
            }
            match fs_err::remove_file(&e.path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
            count -= 1;
            bytes = bytes.saturating_sub(e.size);
            dropped += 1;
        }
        if dropped > 0 {
            fsutil::sync_dir(dir)?;
        }
        Ok(dropped)
    }

    /// Count and bytes of the spooled reports.
    ///
    /// # Errors
    /// When the directory cannot be listed.
    pub fn backlog(&self) -> Result<Backlog, SpoolError> {
        Ok(backlog_of(&self.entries()?))
    }
}

/// Count and bytes of a spool directory without locking it (for `posture status`). A missing
/// directory is an empty spool.
///
/// # Errors
/// When the directory exists but cannot be listed.
pub fn peek_backlog(dir: &Path) -> std::io::Result<Backlog> {
    match list_entries(dir) {
        Ok(entries) => Ok(backlog_of(&entries)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Backlog::default()),
        Err(e) => Err(e),
    }
}

fn backlog_of(entries: &[Entry]) -> Backlog {
    Backlog {
        reports: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
    }
}

fn list_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in fs_err::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(key) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if key.len() != KEY_DIGITS || !key.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let size = match item.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => continue,
            // Removed between listing and stat (delivered meanwhile).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        entries.push(Entry {
            key: key.to_owned(),
            path: item.path(),
            size,
        });
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SpoolLimits = SpoolLimits {
        max_reports: 100,
        max_bytes: 1 << 20,
    };

    fn report(id: &str) -> Vec<u8> {
        format!("{{\"report_id\":\"{id}\"}}").into_bytes()
    }

    #[test]
    fn entries_come_back_in_order_of_creation() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
        for i in 0..20 {
            spool.push(&report(&format!("r{i}"))).unwrap();
        }
        let ids: Vec<String> = spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| spool.read(e).unwrap().report_id)
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_says_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            max_reports: 3,
            max_bytes: 1 << 20,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let mut dropped = 0;
        for i in 0..5 {
            dropped += spool.push(&report(&format!("r{i}"))).unwrap().dropped.len();
        }
        assert_eq!(dropped, 2);
        let first = spool.oldest().unwrap().unwrap();
        assert_eq!(spool.read(&first).unwrap().report_id, "r2");
    }

    #[test]
    fn the_byte_limit_also_drops_the_oldest_but_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            max_reports: 100,
            max_bytes: 40,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        spool.push(&report("aaaaaaaa")).unwrap();
        let pushed = spool
            .push(&report("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
            .unwrap();
        assert_eq!(pushed.dropped.len(), 1);
        assert_eq!(spool.backlog().unwrap().reports, 1);
    }

    #[test]
    fn a_second_process_cannot_open_a_locked_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Spool::open(dir.path(), LIMITS).unwrap();
        assert!(matches!(
            Spool::open(dir.path(), LIMITS),
            Err(SpoolError::Locked { .. })
        ));
    }

    #[test]
    fn leftover_temporary_files_are_removed_and_whole_entries_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
            spool.push(&report("kept")).unwrap();
        }
        fs_err::write(dir.path().join(".tmp-00000000000000000099"), b"{\"repo").unwrap();
        let spool = Spool::open(dir.path(), LIMITS).unwrap();
        assert!(!dir.path().join(".tmp-00000000000000000099").exists());
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(spool.read(&entries[0]).unwrap().report_id, "kept");
    }

    #[test]
    fn a_corrupt_entry_is_moved_aside_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
        let bad = spool.push(b"{not json").unwrap().entry;
        spool.push(&report("good")).unwrap();
        let err = spool.read(&bad).unwrap_err();
        assert!(matches!(err, SpoolError::Corrupt { .. }));
        let moved = spool.set_aside(&bad, Aside::Corrupt, None).unwrap();
        assert!(moved.path.exists());
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(spool.read(&entries[0]).unwrap().report_id, "good");
    }

    fn aside_names(dir: &Path, why: &str) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(dir.join(why))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn set_aside_directories_are_bounded_and_drop_their_oldest() {
        let dir = tempfile::tempdir().unwrap();
        // A tenth of 30 reports: each set-aside directory keeps 3.
        let limits = SpoolLimits {
            max_reports: 30,
            max_bytes: 1 << 20,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let mut keys = Vec::new();
        let mut dropped = 0;
        for i in 0..5 {
            let e = spool.push(&report(&format!("r{i}"))).unwrap().entry;
            dropped += spool
                .set_aside(&e, Aside::Rejected, Some("posture-collector/0.1.0"))
                .unwrap()
                .dropped;
            keys.push(format!("{}.json", e.key));
            let c = spool.push(b"{torn").unwrap().entry;
            spool.set_aside(&c, Aside::Corrupt, None).unwrap();
        }
        assert_eq!(
            dropped, 2,
            "two oldest rejected reports dropped and counted"
        );
        assert_eq!(aside_names(dir.path(), "rejected"), keys[2..]);
        assert_eq!(aside_names(dir.path(), "corrupt").len(), 3);
        assert!(spool.entries().unwrap().is_empty());
    }

    #[test]
    fn the_byte_bound_of_a_set_aside_directory_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        // A tenth of 640 KiB: 64 KiB per set-aside directory.
        let limits = SpoolLimits {
            max_reports: 1000,
            max_bytes: 640 * 1024,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let big = format!("{{\"report_id\":\"{}\"}}", "x".repeat(40 * 1024));
        let mut dropped = 0;
        for _ in 0..3 {
            let e = spool.push(big.as_bytes()).unwrap().entry;
            dropped += spool.set_aside(&e, Aside::Rejected, None).unwrap().dropped;
        }
        assert_eq!(dropped, 2);
        assert_eq!(aside_names(dir.path(), "rejected").len(), 1);
    }

    #[test]
    fn reports_set_aside_by_another_agent_version_are_queued_again_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ids = {
            let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
            let a = spool.push(&report("refused")).unwrap().entry;
            spool.set_aside(&a, Aside::Rejected, Some("nginx")).unwrap();
            let b = spool.push(b"{torn").unwrap().entry;
            spool.set_aside(&b, Aside::Corrupt, None).unwrap();
            spool.push(&report("waiting")).unwrap();
            (a.key, b.key)
        };
        // Reopened by the same version: nothing moves.
        drop(Spool::open(dir.path(), LIMITS).unwrap());
        assert_eq!(aside_names(dir.path(), "rejected").len(), 1);
        // As if an older agent had set them aside.
        for why in ["rejected", "corrupt"] {
            fs_err::write(
                dir.path().join(why).join(SET_ASIDE_BY),
                br#"{"agent":"0.0.1","server":"nginx"}"#,
            )
            .unwrap();
        }
        let spool = Spool::open(dir.path(), LIMITS).unwrap();
        let keys: Vec<String> = spool
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], ids.0);
        assert_eq!(keys[1], ids.1);
        assert!(aside_names(dir.path(), "rejected").is_empty());
        assert!(aside_names(dir.path(), "corrupt").is_empty());
    }

    #[test]
    fn refused_reports_are_queued_again_when_the_endpoint_server_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
        let a = spool.push(&report("refused")).unwrap().entry;
        spool
            .set_aside(&a, Aside::Rejected, Some("posture-collector/0.1.0"))
            .unwrap();
        let b = spool.push(b"{torn").unwrap().entry;
        spool.set_aside(&b, Aside::Corrupt, None).unwrap();
        assert_eq!(
            spool
                .requeue_if_server_changed("posture-collector/0.1.0")
                .unwrap(),
            0
        );
        assert_eq!(
            spool
                .requeue_if_server_changed("posture-collector/0.2.0")
                .unwrap(),
            1
        );
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(spool.read(&entries[0]).unwrap().report_id, "refused");
        assert_eq!(aside_names(dir.path(), "corrupt").len(), 1, "corrupt stays");
    }

    #[test]
    fn keys_keep_increasing_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
            spool.push(&report("a")).unwrap().entry.key
        };
        let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
        let second = spool.push(&report("b")).unwrap().entry.key;
        assert!(second > first);
    }

    #[cfg(unix)]
    #[test]
    fn spool_files_and_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let mut spool = Spool::open(&spool_dir, LIMITS).unwrap();
        let e = spool.push(&report("x")).unwrap().entry;
        let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&spool_dir), 0o700);
        assert_eq!(mode(&e.path), 0o600);
    }

    #[test]
    fn pushing_into_a_vanished_directory_fails_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let mut spool = Spool::open(&spool_dir, LIMITS).unwrap();
        fs_err::remove_dir_all(&spool_dir).unwrap();
        fs_err::write(&spool_dir, b"now a file").unwrap();
        assert!(matches!(
            spool.push(&report("x")),
            Err(SpoolError::Io { .. })
        ));
    }
}
