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
//! endpoint refused for good (`400`, `413`, `422`) to `rejected/`, so the rest still goes out. A
//! lock file keeps two agents from working on the same spool.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fsutil;

const LOCK_FILE: &str = ".lock";
const TMP_PREFIX: &str = ".tmp-";
const SUFFIX: &str = ".json";
const KEY_DIGITS: usize = 20;

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
    fn dir_name(self) -> &'static str {
        match self {
            Self::Corrupt => "corrupt",
            Self::Rejected => "rejected",
        }
    }
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
        spool.last_key = spool
            .entries()?
            .last()
            .and_then(|e| e.key.parse().ok())
            .unwrap_or(0);
        Ok(spool)
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
    /// person to look at and never sent again.
    ///
    /// # Errors
    /// When the entry cannot be moved.
    pub fn set_aside(&self, entry: &Entry, why: Aside) -> Result<PathBuf, SpoolError> {
        let io = |source| SpoolError::Io {
            dir: self.dir.clone(),
            source,
        };
        let target_dir = self.dir.join(why.dir_name());
        fsutil::create_private_dir(&target_dir).map_err(io)?;
        let target = target_dir.join(format!("{}{SUFFIX}", entry.key));
        fs_err::rename(&entry.path, &target).map_err(io)?;
        fsutil::sync_dir(&self.dir).map_err(io)?;
        Ok(target)
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
        let moved = spool.set_aside(&bad, Aside::Corrupt).unwrap();
        assert!(moved.exists());
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(spool.read(&entries[0]).unwrap().report_id, "good");
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
