//! The only code in posture that touches the machine.
//!
//! Probes never call `std::fs` or spawn processes themselves: they ask a [`Host`] to read a file,
//! list a directory, read a symbolic link or run a command from the fixed catalog. That one seam
//! gives four ways to look at a machine with the same probe code:
//!
//! - [`SystemHost`]: the running machine (`posture --check`).
//! - [`RootedHost`]: a system mounted under a directory (`posture --check --root DIR`): every path,
//!   including the targets of absolute symbolic links, is resolved inside that directory and
//!   nothing outside it is read; commands are refused because they would describe the wrong
//!   machine. Tests build fake roots and judge them through this host.
//! - [`Recorder`]: wraps another host and keeps every answer in an [`EvidenceBundle`]
//!   (`--record FILE`).
//! - [`ReplayHost`]: answers from a recorded bundle (`--replay FILE`), so a bundle recorded on a
//!   macOS or Windows laptop is judged on Linux exactly as it was on the laptop.
//!
//! Paths are absolute, `/`-separated strings on every platform (Windows probes use commands, not
//! paths). This crate must never decide a verdict; it only reports what it saw, including
//! failures to see.

pub mod blockdev;
mod bundle;
mod command;
#[cfg(unix)]
mod guarded;
pub mod gvdb;
pub mod keyfile;
pub mod modprobe;
pub mod mountinfo;
pub mod plist;
pub mod powershell;
pub mod reg;
mod rooted;
pub mod shadow;
pub mod sqlite;
mod system;
pub mod udev;

use std::time::Duration;

pub use bundle::{
    BUNDLE_FORMAT, BundleError, CommandRecord, EvidenceBundle, MetadataRecord, Recorder, ReplayHost,
};
pub use rooted::RootedHost;
pub use system::SystemHost;

use serde::{Deserialize, Serialize};

/// The operating system whose facts a host describes. Probes dispatch on this value, not on
/// `cfg!(target_os)`, so that a replayed macOS bundle is judged as macOS on any machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Linux: probes read files under the root.
    Linux,
    /// macOS: probes run built-in commands from the catalog.
    Macos,
    /// Windows: probes run built-in commands from the catalog.
    Windows,
}

impl Platform {
    /// The platform this binary was built for. Unknown Unix-likes are treated as Linux, whose
    /// probes only read files and report what is missing.
    #[must_use]
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Macos
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }

    /// `linux`, `macos` or `windows`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Macos => "macos",
            Self::Windows => "windows",
        }
    }
}

/// Why a file, directory or link could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadError {
    /// The path does not exist.
    #[error("not found")]
    NotFound,
    /// The agent may not read it (run as root or Administrator to see it).
    #[error("permission denied")]
    PermissionDenied,
    /// `read_link` on a path that exists but is not a symbolic link.
    #[error("not a symbolic link")]
    NotALink,
    /// Replaying a bundle that does not contain this path: the recording run never read it.
    #[error("not recorded in the evidence bundle")]
    NotRecorded,
    /// The host would not read it, with the reason: not a regular file (a FIFO, a device), larger
    /// than [`ReadLimits::max_file_bytes`], or in a user's home and owned by someone else or
    /// reached through a link leading out of that home.
    #[error("refused: {0}")]
    Refused(String),
    /// Any other failure, with the operating system's words.
    #[error("{0}")]
    Other(String),
}

impl ReadError {
    /// Maps an I/O error to the few cases probes distinguish.
    #[must_use]
    pub fn from_io(err: &std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            // A path through a regular file ("/etc/passwd/x") means the same as absent.
            std::io::ErrorKind::NotADirectory => Self::NotFound,
            _ => Self::Other(err.to_string()),
        }
    }
}

/// Bounds on what one read may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The most bytes read from one file; a larger file is refused, not truncated.
    pub max_file_bytes: u64,
}

impl ReadLimits {
    /// Default of [`ReadLimits::max_file_bytes`]: settings files are kilobytes; the largest
    /// file probes read (a user's dconf database) is well under a megabyte.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// How paths are resolved on this machine, for logs: `openat2` when the kernel has it, else a
/// walk one component at a time with `O_NOFOLLOW`, with the reason.
#[must_use]
pub fn path_resolution() -> &'static str {
    #[cfg(unix)]
    {
        guarded::Resolver::detect().describe()
    }
    #[cfg(not(unix))]
    {
        "the operating system's own resolution (no Unix file descriptors)"
    }
}

/// A command from the fixed catalog: an absolute program path and fixed arguments, run without
/// a shell and without a `PATH` lookup, with a timeout and a cap on how much output is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// Absolute path of the program.
    pub program: String,
    /// Arguments, passed as they are.
    pub args: Vec<String>,
    /// How long the command may run before it is killed.
    pub timeout: Duration,
}

impl CommandSpec {
    /// Default time a catalog command may take.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A command with the default timeout.
    #[must_use]
    pub fn new(program: &str, args: &[&str]) -> Self {
        Self {
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The same command with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Program and arguments, as recorded in bundles and shown in evidence.
    #[must_use]
    pub fn argv(&self) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.program.clone());
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// The command line as one string for people (arguments with spaces are quoted).
    #[must_use]
    pub fn display(&self) -> String {
        self.argv()
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains(char::is_whitespace) {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    /// Exit code; `None` when the process was ended by a signal.
    pub status: Option<i32>,
    /// Standard output (lossy UTF-8, capped at [`MAX_OUTPUT_BYTES`]).
    pub stdout: String,
    /// Standard error (lossy UTF-8, capped at [`MAX_OUTPUT_BYTES`]).
    pub stderr: String,
}

impl CommandOutput {
    /// Whether the command exited with status 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// The most output kept from one stream of one command; the rest is discarded.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Why a command produced no output to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandError {
    /// The program does not exist at its catalog path.
    #[error("program not found")]
    NotFound,
    /// The program may not be run by this user.
    #[error("permission denied")]
    PermissionDenied,
    /// The command ran longer than its timeout and was killed.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// This host does not run commands (a mounted root), with the reason.
    #[error("not run: {0}")]
    NotRun(String),
    /// Replaying a bundle that does not contain this command.
    #[error("not recorded in the evidence bundle")]
    NotRecorded,
    /// Any other failure to start or wait for the process.
    #[error("{0}")]
    Other(String),
}

/// Reads one file for an [`Extract`]: its path, the most bytes it may have (a larger file is
/// refused, not truncated) and where its bytes go; returns its length. Streaming lets an
/// extraction copy a large database to a private file without holding it in memory.
pub type ReadFile<'a> = &'a dyn Fn(&str, u64, &mut dyn std::io::Write) -> Result<u64, ReadError>;

/// Reads one whole file through a [`ReadFile`] into memory (for small files: a key, a header).
pub fn read_to_vec(read: ReadFile<'_>, path: &str, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    read(path, max_bytes, &mut bytes)?;
    Ok(bytes)
}

/// Turns files that hold secrets (an SSH private key, a password manager's database) into the
/// few facts a probe needs, as text: the file's bytes never leave the host, and an evidence
/// bundle records only the text. It reads through the [`ReadFile`] it is given (the host's
/// guarded reads) and returns a read failure of the main file as `Err`; content it does not
/// understand is a fact like any other and belongs in the text.
pub type Extract<'a> = &'a dyn Fn(ReadFile<'_>, &str) -> Result<String, ReadError>;

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A device node, a socket or anything else.
    Other,
}

/// Who owns a file and who may write it: what decides whether a rule file counts as
/// enforcement (root-owned, writable by nobody else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// What kind of file.
    pub kind: FileKind,
    /// Owner's uid.
    pub uid: u32,
    /// Owner's gid.
    pub gid: u32,
    /// Permission bits (`0o7777` of `st_mode`).
    pub mode: u32,
    /// Whether the owner counts as root: uid 0 (and, under `--root`, the owner of the root
    /// directory: a tree unpacked by an ordinary user is that user's).
    pub root_owned: bool,
}

impl Metadata {
    /// Whether someone other than the owner may write it (group- or world-writable).
    #[must_use]
    pub fn writable_by_others(&self) -> bool {
        self.mode & 0o022 != 0
    }

    /// Whether only root may change it: root-owned and writable by no one else.
    #[must_use]
    pub fn root_only(&self) -> bool {
        self.root_owned && !self.writable_by_others()
    }

    /// In words, for evidence: `root-owned, mode 0644`.
    #[must_use]
    pub fn describe(&self) -> String {
        let owner = if self.root_owned {
            "root-owned".to_owned()
        } else {
            format!("owned by uid {}", self.uid)
        };
        let kind = match self.kind {
            FileKind::File => "",
            FileKind::Directory => " directory",
            FileKind::Fifo => " FIFO",
            FileKind::Other => " special file",
        };
        format!("{owner}{kind}, mode {:04o}", self.mode)
    }
}

/// A view of one machine. Implementations must be cheap to call repeatedly; probes call them
/// once per fact and do not cache.
pub trait Host {
    /// The operating system whose facts this host describes.
    fn platform(&self) -> Platform;

    /// The bytes of the file at an absolute path.
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError>;

    /// The names in a directory, sorted bytewise, without `.` and `..`.
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError>;

    /// The target of a symbolic link, as stored in the link (relative or absolute).
    fn read_link(&self, path: &str) -> Result<String, ReadError>;

    /// Runs a catalog command.
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError>;

    /// Owner, permissions and kind of the file at `path`, which is resolved by the same rules
    /// as a read (inside the root under `--root`, beneath the home in a user's home) and opened
    /// without reading it, so a FIFO or device node is described, never read. Hosts that do not
    /// see ownership (Windows) say so.
    fn metadata(&self, path: &str) -> Result<Metadata, ReadError> {
        let _ = path;
        Err(ReadError::Other(
            "file ownership is not read on this platform".to_owned(),
        ))
    }

    /// What `extract` keeps of the file at `path` (and any files beside it that it reads):
    /// the only way probes read files that hold secrets. Recorders keep the extracted text under
    /// `path`; replay answers with it and never calls `extract`.
    fn read_extracted(&self, path: &str, extract: Extract<'_>) -> Result<String, ReadError> {
        extract(
            &|p: &str, max: u64, sink: &mut dyn std::io::Write| {
                let bytes = self.read(p)?;
                if bytes.len() as u64 > max {
                    return Err(ReadError::Refused(format!(
                        "larger than {max} bytes, the most posture reads of this file"
                    )));
                }
                sink.write_all(&bytes)
                    .map_err(|e| ReadError::Other(e.to_string()))?;
                Ok(bytes.len() as u64)
            },
            path,
        )
    }

    /// The file as text (invalid UTF-8 replaced), for the many text formats probes read.
    fn read_text(&self, path: &str) -> Result<String, ReadError> {
        self.read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether a path exists, as far as this host can tell: `Ok(false)` only for a definite
    /// "not found"; other failures are returned so the caller can say it could not tell.
    fn exists(&self, path: &str) -> Result<bool, ReadError> {
        // A regular file fails to list with "not a directory", which maps to NotFound: only a
        // failure to read it as a file too means it is absent.
        if self.list_dir(path).is_ok() {
            return Ok(true);
        }
        match self.read(path) {
            Ok(_) => Ok(true),
            Err(ReadError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<H: Host + ?Sized> Host for &H {
    fn platform(&self) -> Platform {
        (**self).platform()
    }
    fn metadata(&self, path: &str) -> Result<Metadata, ReadError> {
        (**self).metadata(path)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        (**self).read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        (**self).list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        (**self).read_link(path)
    }
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        (**self).run(command)
    }
    fn read_extracted(&self, path: &str, extract: Extract<'_>) -> Result<String, ReadError> {
        (**self).read_extracted(path, extract)
    }
}

impl<H: Host + ?Sized> Host for Box<H> {
    fn platform(&self) -> Platform {
        (**self).platform()
    }
    fn metadata(&self, path: &str) -> Result<Metadata, ReadError> {
        (**self).metadata(path)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        (**self).read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        (**self).list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        (**self).read_link(path)
    }
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        (**self).run(command)
    }
    fn read_extracted(&self, path: &str, extract: Extract<'_>) -> Result<String, ReadError> {
        (**self).read_extracted(path, extract)
    }
}

/// Joins a link target to the directory holding the link and removes `.` and `..`, without
/// touching the file system. `resolve_link("/sys/class/block/sda", "../../devices/x/sda")` is
/// `/sys/devices/x/sda`.
#[must_use]
pub fn resolve_link(link_path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    let parent = match link_path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &link_path[..i],
    };
    normalize(&format!("{parent}/{target}"))
}

/// Removes `.`, `..` and repeated slashes from an absolute path, lexically.
#[must_use]
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Follows symbolic links through a host, component by component, and returns the path with no
/// links left (like `realpath`). Gives up after 40 links, as the kernel does.
pub fn canonicalize(host: &dyn Host, path: &str) -> Result<String, ReadError> {
    let mut pending: Vec<String> = normalize(path)
        .split('/')
        .filter(|p| !p.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut resolved = String::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if let Some(i) = resolved.rfind('/') {
                resolved.truncate(i);
            }
            continue;
        }
        if part == "." {
            continue;
        }
        let candidate = format!("{resolved}/{part}");
        match host.read_link(&candidate) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return Err(ReadError::Other(format!(
                        "too many levels of symbolic links at {candidate}"
                    )));
                }
                if target.starts_with('/') {
                    resolved.clear();
                }
                for p in target.split('/').filter(|p| !p.is_empty()).rev() {
                    pending.push(p.to_owned());
                }
            }
            // Not a link (or not there): keep the component as it is.
            Err(ReadError::NotALink | ReadError::NotFound) => resolved = candidate,
            Err(e) => return Err(e),
        }
    }
    if resolved.is_empty() {
        resolved.push('/');
    }
    Ok(resolved)
}

/// Makes a FIFO for a test. `mkfifo(1)` rather than a call, so the same code runs on Linux and
/// macOS (rustix has no `mkfifoat` for Apple targets).
#[cfg(all(test, unix))]
pub(crate) fn make_fifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_link_targets_resolve_against_the_link_directory() {
        assert_eq!(
            resolve_link(
                "/sys/class/block/sda",
                "../../devices/pci0000:00/usb2/block/sda"
            ),
            "/sys/devices/pci0000:00/usb2/block/sda"
        );
        assert_eq!(resolve_link("/a/b", "/c/./d/../e"), "/c/e");
    }

    #[test]
    fn normalize_never_climbs_above_the_root() {
        assert_eq!(normalize("/../../etc//passwd"), "/etc/passwd");
        assert_eq!(normalize("/"), "/");
    }

    #[cfg(unix)]
    #[test]
    fn exists_is_true_for_files_and_directories_and_false_only_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("etc/sub")).unwrap();
        fs_err::write(dir.path().join("etc/file"), "x").unwrap();
        let host = RootedHost::new(dir.path());
        assert_eq!(host.exists("/etc/file"), Ok(true));
        assert_eq!(host.exists("/etc/sub"), Ok(true));
        assert_eq!(host.exists("/etc/missing"), Ok(false));
    }

    #[test]
    fn command_display_quotes_arguments_with_spaces() {
        let c = CommandSpec::new(
            "/usr/bin/defaults",
            &["read", "/Library/Managed Preferences/x"],
        );
        assert_eq!(
            c.display(),
            "/usr/bin/defaults read '/Library/Managed Preferences/x'"
        );
    }
}
