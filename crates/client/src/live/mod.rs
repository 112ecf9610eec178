//! Live posture: re-check when something the last check depended on changes, instead of only
//! on the schedule.
//!
//! The check says what it read ([`ReadSet`], taken from the Host's recorder, so the watched
//! paths are exactly the evidence paths, under `--root` too); [`targets`] decides, the same way
//! on every platform, what that means to watch (files, directory listings, volumes, devices,
//! registry keys, or the schedule for sources without notifications); a platform
//! [`ChangeWatcher`] watches those targets and sends a [`Trigger`] per change; [`plan`] decides
//! when to re-check and whether the result is sent. Idle costs nothing: the watcher thread
//! sleeps in `poll(2)` until the kernel has something to say.
//!
//! Linux has a watcher (inotify, the mount table, block-device uevents: [`linux`]). macOS and
//! Windows keep the schedule: [`start`] says so, naming what their watcher would use
//! ([`targets::schedule_only_reason`]), and the daemon runs as before.

pub mod plan;
pub mod targets;
pub mod uevent;

#[cfg(target_os = "linux")]
pub mod linux;

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

pub use plan::{CheckKind, LivePlan, LiveSettings, Verdicts, should_send};
pub use targets::Target;

/// What one check read, as the Host's absolute `/`-separated paths (inside the root under
/// `--root`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    /// Files and symbolic links read (including those that were missing).
    pub files: Vec<String>,
    /// Directories listed (including those that were missing).
    pub dirs: Vec<String>,
    /// Catalog commands run (macOS, Windows), each as its argv.
    pub commands: Vec<Vec<String>>,
}

/// Where the check leaves what it read and the daemon picks it up after the check.
#[derive(Debug, Clone, Default)]
pub struct ReadSlot(Arc<Mutex<Option<ReadSet>>>);

impl ReadSlot {
    /// Leaves the paths of a finished check.
    pub fn put(&self, reads: ReadSet) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reads);
    }

    /// Takes the paths left by the last check, if it left any.
    #[must_use]
    pub fn take(&self) -> Option<ReadSet> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// A change a watcher saw, described for logs and `posture status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// What changed: `/etc/fstab changed`, `mount table changed`, `block device sdb: add`.
    pub cause: String,
    /// When the watcher saw it (this machine's clock), for the report.
    pub detected_at: std::time::SystemTime,
}

/// Sends triggers from a watcher thread; never blocks. When the queue is full a re-check is
/// already pending, so the extra trigger is dropped.
#[derive(Debug, Clone)]
pub struct TriggerSender(mpsc::Sender<Trigger>);

impl TriggerSender {
    /// Reports a change.
    pub fn send(&self, cause: String) {
        tracing::debug!(%cause, "watched change");
        let _ = self.0.try_send(Trigger {
            cause,
            detected_at: std::time::SystemTime::now(),
        });
    }
}

/// A trigger queue: the sender for the watcher, the receiver for the daemon.
#[must_use]
pub fn trigger_channel() -> (TriggerSender, mpsc::Receiver<Trigger>) {
    let (tx, rx) = mpsc::channel(16);
    (TriggerSender(tx), rx)
}

/// One platform's change notifications over the [`Target`]s of the last check.
///
/// A Linux implementation exists ([`linux::LinuxWatcher`]). A macOS one would watch paths and
/// listings with FSEvents and volumes and devices with DiskArbitration; a Windows one registry
/// keys with `RegNotifyChangeKeyValue`, paths with `ReadDirectoryChangesW` and volumes and disks
/// with device arrival notifications (the table in [`targets`]). Neither is built yet: those
/// platforms keep the schedule.
pub trait ChangeWatcher: Send {
    /// Watches `targets` instead of the previous check's, and returns the watch mode for
    /// `posture status`. Targets that cannot be watched are logged once and left to the
    /// schedule.
    fn watch(&mut self, targets: &[Target]) -> String;
}

/// Everything the daemon needs to re-check on change.
pub struct Live {
    /// Debounce and rate limit.
    pub settings: LiveSettings,
    /// The platform watcher.
    pub watcher: Box<dyn ChangeWatcher>,
    /// Changes, from the watcher.
    pub triggers: mpsc::Receiver<Trigger>,
    /// What the last check read, from the check.
    pub reads: ReadSlot,
    /// The watch mode before the first check, for `posture status`.
    pub mode: String,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("settings", &self.settings)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Sets up live posture for this machine, or for the system mounted at `root`.
///
/// # Errors
/// With the reason when this platform or machine can only use the schedule.
#[cfg(target_os = "linux")]
pub fn start(settings: LiveSettings, root: Option<&Path>) -> Result<Live, String> {
    let (sender, triggers) = trigger_channel();
    let sources = linux::Sources::system(root);
    let watcher = linux::LinuxWatcher::open(
        root.map(Path::to_path_buf),
        sources,
        linux::WatchLimits::default(),
        sender,
    )
    .map_err(|e| format!("cannot start watching: {e}"))?;
    let mode = watcher.mode();
    Ok(Live {
        settings,
        watcher: Box::new(watcher),
        triggers,
        reads: ReadSlot::default(),
        mode,
    })
}

/// Sets up live posture: not built for this platform, which keeps the schedule.
///
/// # Errors
/// Always, with the reason.
#[cfg(not(target_os = "linux"))]
pub fn start(_settings: LiveSettings, _root: Option<&Path>) -> Result<Live, String> {
    Err(targets::schedule_only_reason(std::env::consts::OS))
}
