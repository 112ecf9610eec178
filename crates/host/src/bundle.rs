//! Evidence bundles: everything a run read, so it can be judged again anywhere.
//!
//! A bundle is one JSON document (documented in `docs/evidence-bundle.md`):
//!
//! ```json
//! {
//!   "format": "posture-evidence-bundle",
//!   "version": 1,
//!   "platform": "macos",
//!   "files":    { "/etc/hostname": { "text": "laptop\n" }, "/x": { "error": "not_found" } },
//!   "dirs":     { "/run/systemd/sessions": { "entries": ["2"] } },
//!   "links":    { "/sys/class/block/sda": { "target": "../../devices/.../sda" } },
//!   "commands": [ { "argv": ["/usr/bin/fdesetup", "status"], "status": 0,
//!                   "stdout": "FileVault is On.\n", "stderr": "" } ]
//! }
//! ```
//!
//! File contents that are not UTF-8 (GVDB databases) are stored as `{ "base64": "..." }`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError};

/// The value of the `format` field of every bundle.
pub const BUNDLE_FORMAT: &str = "posture-evidence-bundle";
const BUNDLE_VERSION: u32 = 1;

/// Everything one run read from a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Bundle format version.
    pub version: u32,
    /// The operating system the evidence describes.
    pub platform: Platform,
    /// Free-form note: who recorded it, when, with which agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Files read, by absolute path.
    #[serde(default)]
    pub files: BTreeMap<String, FileRecord>,
    /// Directories listed, by absolute path.
    #[serde(default)]
    pub dirs: BTreeMap<String, DirRecord>,
    /// Symbolic links read, by absolute path.
    #[serde(default)]
    pub links: BTreeMap<String, LinkRecord>,
    /// Commands run, in the order they first ran.
    #[serde(default)]
    pub commands: Vec<CommandRecord>,
    /// Owner, permissions and kind of files whose ownership was asked for, by absolute path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, MetadataRecord>,
}

/// A file's owner and permissions, or the reason they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MetadataRecord {
    /// What was read.
    Metadata(crate::Metadata),
    /// Why it could not be read.
    Error(ReadError),
}

/// A file's content or the reason it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FileRecord {
    /// UTF-8 content.
    Text(String),
    /// Binary content, base64 (standard alphabet, padded).
    Base64(String),
    /// Why it could not be read.
    Error(ReadError),
}

/// A directory's entries or the reason it could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DirRecord {
    /// Entry names.
    Entries(Vec<String>),
    /// Why it could not be listed.
    Error(ReadError),
}

/// A link's target or the reason it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LinkRecord {
    /// The stored target.
    Target(String),
    /// Why it could not be read (including `not_a_link`).
    Error(ReadError),
}

/// One command and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRecord {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Exit code (absent when killed by a signal or when `error` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// Standard output.
    #[serde(default)]
    pub stdout: String,
    /// Standard error.
    #[serde(default)]
    pub stderr: String,
    /// Why the command produced no output (not found, timed out, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CommandError>,
}

/// A bundle that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not valid JSON or not a bundle; the message names line and column.
    #[error("{path}: not a valid evidence bundle: {message}")]
    Invalid {
        /// The bundle file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

impl EvidenceBundle {
    /// An empty bundle for a platform.
    #[must_use]
    pub fn new(platform: Platform) -> Self {
        Self {
            format: BUNDLE_FORMAT.to_owned(),
            version: BUNDLE_VERSION,
            platform,
            comment: None,
            files: BTreeMap::new(),
            dirs: BTreeMap::new(),
            links: BTreeMap::new(),
            commands: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Parses a bundle; `path` only names the file in errors.
    pub fn from_json(path: &str, text: &str) -> Result<Self, BundleError> {
        let bundle: Self = serde_json::from_str(text).map_err(|e| BundleError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(BundleError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "field `format` is {:?}, expected {BUNDLE_FORMAT:?}",
                    bundle.format
                ),
            });
        }
        if bundle.version != BUNDLE_VERSION {
            return Err(BundleError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "field `version` is {}, this agent reads version {BUNDLE_VERSION}",
                    bundle.version
                ),
            });
        }
        Ok(bundle)
    }

    /// The bundle as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle is plain data and always serialises")
    }
}

/// Wraps a host and keeps a copy of every answer it gives.
pub struct Recorder<H> {
    inner: H,
    bundle: Mutex<EvidenceBundle>,
}

impl<H: Host> Recorder<H> {
    /// Starts recording what `inner` answers.
    pub fn new(inner: H) -> Self {
        let bundle = EvidenceBundle::new(inner.platform());
        Self {
            inner,
            bundle: Mutex::new(bundle),
        }
    }

    /// What was recorded so far.
    pub fn bundle(&self) -> EvidenceBundle {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EvidenceBundle> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.bundle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<H: Host> Host for Recorder<H> {
    fn platform(&self) -> Platform {
        self.inner.platform()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        let result = self.inner.read(path);
        let record = match &result {
            // Password hashes never enter a bundle: the shadow file is kept with every hash
            // replaced by what it means (see `shadow::redact`), which is all probes use.
            Ok(bytes) if crate::normalize(path) == crate::shadow::PATH => {
                FileRecord::Text(crate::shadow::redact(&String::from_utf8_lossy(bytes)))
            }
            Ok(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => FileRecord::Text(text.to_owned()),
                Err(_) => {
                    FileRecord::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            },
            Err(e) => FileRecord::Error(e.clone()),
        };
        self.lock().files.insert(path.to_owned(), record);
        result
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        let result = self.inner.list_dir(path);
        let record = match &result {
            Ok(names) => DirRecord::Entries(names.clone()),
            Err(e) => DirRecord::Error(e.clone()),
        };
        self.lock().dirs.insert(path.to_owned(), record);
        result
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        let result = self.inner.read_link(path);
        let record = match &result {
            Ok(target) => LinkRecord::Target(target.clone()),
            Err(e) => LinkRecord::Error(e.clone()),
        };
        self.lock().links.insert(path.to_owned(), record);
        result
    }

    fn metadata(&self, path: &str) -> Result<crate::Metadata, ReadError> {
        let result = self.inner.metadata(path);
        let record = match &result {
            Ok(m) => MetadataRecord::Metadata(*m),
            Err(e) => MetadataRecord::Error(e.clone()),
        };
        self.lock().metadata.insert(path.to_owned(), record);
        result
    }

    fn read_extracted(&self, path: &str, extract: crate::Extract<'_>) -> Result<String, ReadError> {
        // Only what the extraction kept is recorded, never the file's bytes.
        let result = self.inner.read_extracted(path, extract);
        let record = match &result {
            Ok(text) => FileRecord::Text(text.clone()),
            Err(e) => FileRecord::Error(e.clone()),
        };
        self.lock().files.insert(path.to_owned(), record);
        result
    }

    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let result = self.inner.run(command);
        let argv = command.argv();
        let record = match &result {
            Ok(out) => CommandRecord {
                argv: argv.clone(),
                status: out.status,
                stdout: out.stdout.clone(),
                stderr: out.stderr.clone(),
                error: None,
            },
            Err(e) => CommandRecord {
                argv: argv.clone(),
                status: None,
                stdout: String::new(),
                stderr: String::new(),
                error: Some(e.clone()),
            },
        };
        let mut bundle = self.lock();
        if !bundle.commands.iter().any(|c| c.argv == argv) {
            bundle.commands.push(record);
        }
        result
    }
}

/// Answers from a recorded bundle; anything the bundle lacks is [`ReadError::NotRecorded`] or
/// [`CommandError::NotRecorded`], which probes report as unknown, never as absent.
#[derive(Debug, Clone)]
pub struct ReplayHost {
    bundle: EvidenceBundle,
}

impl ReplayHost {
    /// A host that answers from `bundle`.
    #[must_use]
    pub fn new(bundle: EvidenceBundle) -> Self {
        Self { bundle }
    }

    /// The bundle being replayed.
    #[must_use]
    pub fn bundle(&self) -> &EvidenceBundle {
        &self.bundle
    }
}

impl Host for ReplayHost {
    fn platform(&self) -> Platform {
        self.bundle.platform
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        match self.bundle.files.get(path) {
            Some(FileRecord::Text(t)) => Ok(t.clone().into_bytes()),
            Some(FileRecord::Base64(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| {
                    ReadError::Other(format!("bundle holds invalid base64 for {path}: {e}"))
                }),
            Some(FileRecord::Error(e)) => Err(e.clone()),
            None => Err(ReadError::NotRecorded),
        }
    }

    fn read_extracted(
        &self,
        path: &str,
        _extract: crate::Extract<'_>,
    ) -> Result<String, ReadError> {
        // The bundle holds what the extraction kept when it was recorded.
        self.read_text(path)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        match self.bundle.dirs.get(path) {
            Some(DirRecord::Entries(names)) => Ok(names.clone()),
            Some(DirRecord::Error(e)) => Err(e.clone()),
            None => Err(ReadError::NotRecorded),
        }
    }

    fn metadata(&self, path: &str) -> Result<crate::Metadata, ReadError> {
        match self.bundle.metadata.get(path) {
            Some(MetadataRecord::Metadata(m)) => Ok(*m),
            Some(MetadataRecord::Error(e)) => Err(e.clone()),
            None => Err(ReadError::NotRecorded),
        }
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        match self.bundle.links.get(path) {
            Some(LinkRecord::Target(t)) => Ok(t.clone()),
            Some(LinkRecord::Error(e)) => Err(e.clone()),
            None => Err(ReadError::NotRecorded),
        }
    }

    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let argv = command.argv();
        let record = self
            .bundle
            .commands
            .iter()
            .find(|c| c.argv == argv)
            .ok_or(CommandError::NotRecorded)?;
        if let Some(e) = &record.error {
            return Err(e.clone());
        }
        Ok(CommandOutput {
            status: record.status,
            stdout: record.stdout.clone(),
            stderr: record.stderr.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootedHost;

    #[test]
    fn a_recorded_run_replays_the_same_answers_including_failures() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("etc")).unwrap();
        fs_err::write(dir.path().join("etc/hostname"), "box\n").unwrap();
        fs_err::write(dir.path().join("etc/bin"), [0xffu8, 0x00, 0x47]).unwrap();
        let recorder = Recorder::new(RootedHost::new(dir.path()));
        let live = (
            recorder.read("/etc/hostname"),
            recorder.read("/etc/bin"),
            recorder.read("/etc/missing"),
            recorder.list_dir("/etc"),
            recorder.read_link("/etc/hostname"),
            recorder.run(&CommandSpec::new("/bin/true", &[])),
        );
        let json = recorder.bundle().to_json();
        let replay = ReplayHost::new(EvidenceBundle::from_json("b.json", &json).unwrap());
        let replayed = (
            replay.read("/etc/hostname"),
            replay.read("/etc/bin"),
            replay.read("/etc/missing"),
            replay.list_dir("/etc"),
            replay.read_link("/etc/hostname"),
            replay.run(&CommandSpec::new("/bin/true", &[])),
        );
        assert_eq!(live, replayed);
        assert_eq!(replay.read("/never/read"), Err(ReadError::NotRecorded));
    }

    #[cfg(unix)]
    #[test]
    fn a_refusal_is_recorded_and_replayed_as_the_same_refusal() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("etc")).unwrap();
        crate::make_fifo(&dir.path().join("etc/fifo"));
        let recorder = Recorder::new(RootedHost::new(dir.path()));
        let live = recorder.read("/etc/fifo");
        assert!(
            matches!(&live, Err(ReadError::Refused(why)) if why.contains("FIFO")),
            "{live:?}"
        );
        let json = recorder.bundle().to_json();
        assert!(json.contains("\"refused\""), "{json}");
        let replay = ReplayHost::new(EvidenceBundle::from_json("b.json", &json).unwrap());
        assert_eq!(replay.read("/etc/fifo"), live);
    }

    #[test]
    fn the_shadow_file_is_recorded_without_any_hash() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("etc")).unwrap();
        let shadow = "root:*:19000:0:99999:7:::\nalice:$y$j9T$salt$hashhashhash:20000:0:99999:7:::\nbob::20000:0:99999:7:::\n";
        fs_err::write(dir.path().join("etc/shadow"), shadow).unwrap();
        let recorder = Recorder::new(RootedHost::new(dir.path()));
        // The probe itself still sees the real file.
        assert_eq!(recorder.read("/etc/shadow").unwrap(), shadow.as_bytes());
        let json = recorder.bundle().to_json();
        assert!(!json.contains("hashhash"), "{json}");
        assert!(!json.contains("$y$"), "{json}");
        let replay = ReplayHost::new(EvidenceBundle::from_json("b.json", &json).unwrap());
        let replayed = String::from_utf8(replay.read("/etc/shadow").unwrap()).unwrap();
        assert_eq!(
            crate::shadow::parse(&replayed).unwrap(),
            crate::shadow::parse(shadow).unwrap()
        );
    }

    #[test]
    fn a_bundle_of_another_format_is_refused_with_the_field_named() {
        let err = EvidenceBundle::from_json(
            "x.json",
            r#"{"format":"other","version":1,"platform":"linux"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("field `format`"), "{err}");
    }

    #[test]
    fn invalid_json_names_the_file_line_and_column() {
        let err = EvidenceBundle::from_json("x.json", "{\n  \"format\": ,\n}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("x.json:") && msg.contains("line 2"),
            "{msg}"
        );
    }
}
