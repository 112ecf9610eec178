//! The Linux watcher: inotify on the files and directories the last check read (and on their
//! parent directories, for files that appear), `poll(2)` on the mount table, and the kernel's
//! block-device uevents on a `NETLINK_KOBJECT_UEVENT` socket. No libudev, no polling loop: one
//! thread sleeps in `poll` until the kernel reports something.
//!
//! procfs and sysfs do not report changes through inotify, so paths there are not watched:
//! the mount table covers `/proc/self/mountinfo` and uevents cover `/sys/class/block`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

use super::{ChangeWatcher, Target, TriggerSender, uevent};

/// `SYSFS_MAGIC` from `linux/magic.h`.
const SYSFS_MAGIC: i64 = 0x6265_6572;
/// `PROC_SUPER_MAGIC` from `linux/magic.h`.
const PROC_MAGIC: i64 = 0x9fa0;

/// Bytes read from inotify at once: at least one event (a 16-byte header and a name of up to
/// 255 bytes), usually a dozen; the reader reads again until the queue is empty.
const INOTIFY_BUFFER_BYTES: usize = 4 * 1024;
/// One uevent datagram: the kernel builds them in `UEVENT_BUFFER_SIZE` (2048) bytes
/// (`include/linux/kobject.h`); a longer one would be cut, and only its first fields are read.
const UEVENT_BUFFER_BYTES: usize = 2048;
/// The watcher thread's stack: its read buffers and a margin for polling and parsing.
const WATCH_STACK_BYTES: usize = 64 * 1024;

/// Bounds of what one watcher holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchLimits {
    /// Most inotify watches (the kernel's `max_user_watches` is shared with every program).
    pub max_watches: usize,
    /// Most bytes of path names kept to describe changes.
    pub max_path_bytes: usize,
}

impl Default for WatchLimits {
    fn default() -> Self {
        Self {
            max_watches: 256,
            max_path_bytes: 64 * 1024,
        }
    }
}

/// The kernel sources besides inotify, opened by [`Sources::system`] or given by a test.
#[derive(Debug, Default)]
pub struct Sources {
    /// A mount table file (`/proc/self/mountinfo`): `poll` reports `POLLPRI | POLLERR` when a
    /// mount is added or removed.
    pub mount_table: Option<OwnedFd>,
    /// A datagram socket carrying kernel uevents.
    pub uevents: Option<OwnedFd>,
    /// Why a source is missing, for the watch mode.
    pub notes: Vec<String>,
}

impl Sources {
    /// The running kernel's mount table and uevent socket. Under `root`, the mount table is
    /// the root's `proc/self/mountinfo` when that is a live procfs (a container's view of the
    /// host); a plain file there is watched with inotify like any other file read.
    #[must_use]
    pub fn system(root: Option<&Path>) -> Self {
        let mut sources = Self::default();
        let mountinfo = root.map_or_else(
            || PathBuf::from("/proc/self/mountinfo"),
            |r| r.join("proc/self/mountinfo"),
        );
        if fs_type(&mountinfo) == Some(PROC_MAGIC) {
            match rustix::fs::open(
                &mountinfo,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            ) {
                Ok(fd) => sources.mount_table = Some(fd),
                Err(e) => {
                    tracing::warn!(path = %mountinfo.display(), error = %e, "cannot watch the mount table; mounts follow the schedule");
                    sources.notes.push(format!("no mount table ({e})"));
                }
            }
        }
        match open_uevent_socket() {
            Ok(fd) => sources.uevents = Some(fd),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to kernel uevents; block devices follow the schedule");
                sources.notes.push(format!("no block-device uevents ({e})"));
            }
        }
        sources
    }
}

/// A socket bound to the kernel's uevent multicast group (1). Only the kernel (or a process
/// with `CAP_NET_ADMIN`) can send there.
fn open_uevent_socket() -> rustix::io::Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(netlink::KOBJECT_UEVENT),
    )?;
    rustix::net::bind(&fd, &netlink::SocketAddrNetlink::new(0, 1))?;
    Ok(fd)
}

fn fs_type(path: &Path) -> Option<i64> {
    rustix::fs::statfs(path).ok().map(|s| s.f_type)
}

/// What a change on one watch descriptor means.
#[derive(Debug, Clone, Default)]
struct Interest {
    /// The Host path (as the check read it) for messages.
    shown: String,
    /// Any change in the watched object counts (a file read, a directory listed).
    any: bool,
    /// Only these names count (a directory holding files that were read or may appear).
    names: BTreeSet<OsString>,
}

type Table = Arc<Mutex<HashMap<i32, Interest>>>;

/// The Linux [`ChangeWatcher`].
pub struct LinuxWatcher {
    root: Option<PathBuf>,
    limits: WatchLimits,
    inotify: Arc<OwnedFd>,
    table: Table,
    stop: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
    notes: Vec<String>,
    has_mounts: bool,
    has_uevents: bool,
    /// Paths whose watch failed, logged once each.
    logged: HashSet<String>,
}

impl std::fmt::Debug for LinuxWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxWatcher")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

const FILE_MASK: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);
const DIR_MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

impl LinuxWatcher {
    /// Starts the watcher thread over `sources`; inotify watches follow at each
    /// [`ChangeWatcher::watch`]. `root` is the directory the Host paths live under (`--root`).
    ///
    /// # Errors
    /// When inotify or the thread cannot be created.
    pub fn open(
        root: Option<PathBuf>,
        sources: Sources,
        limits: WatchLimits,
        triggers: TriggerSender,
    ) -> std::io::Result<Self> {
        let inotify = Arc::new(inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?);
        let stop = Arc::new(rustix::event::eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?);
        let table: Table = Arc::default();
        let has_mounts = sources.mount_table.is_some();
        let has_uevents = sources.uevents.is_some();
        let thread = {
            let inotify = inotify.clone();
            let stop = stop.clone();
            let table = table.clone();
            let mount_table = sources.mount_table;
            let uevents = sources.uevents;
            std::thread::Builder::new()
                .name("posture-watch".to_owned())
                // The thread only polls and parses small messages, with its read buffers on
                // its stack; only the pages it touches are resident.
                .stack_size(WATCH_STACK_BYTES)
                .spawn(move || {
                    listen(&inotify, mount_table, uevents, &stop, &table, &triggers);
                })?
        };
        Ok(Self {
            root,
            limits,
            inotify,
            table,
            stop,
            thread: Some(thread),
            notes: sources.notes,
            has_mounts,
            has_uevents,
            logged: HashSet::new(),
        })
    }

    /// The watch mode as `posture status` shows it.
    #[must_use]
    pub fn mode(&self) -> String {
        let watches = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        let mut parts = vec![format!("{watches} inotify watches")];
        if self.has_mounts {
            parts.push("mount table".to_owned());
        }
        if self.has_uevents {
            parts.push("block-device uevents".to_owned());
        }
        let mut mode = format!("live ({})", parts.join(", "));
        if !self.notes.is_empty() {
            mode.push_str(&format!("; schedule only for: {}", self.notes.join(", ")));
        }
        mode
    }

    fn real_path(&self, host_path: &str) -> PathBuf {
        let rel = host_path.trim_start_matches('/');
        match &self.root {
            Some(root) => root.join(rel),
            None => Path::new("/").join(rel),
        }
    }

    fn log_once(&mut self, key: String, message: &str) {
        if self.logged.len() < 1024 && self.logged.insert(key.clone()) {
            tracing::warn!(path = %key, "{message}; it follows the schedule");
        }
    }
}

/// One wish: watch `real` (shown as `shown`) with `mask`, for any change or for `name` only.
struct Wish {
    real: PathBuf,
    shown: String,
    mask: WatchFlags,
    name: Option<OsString>,
}

/// The inotify watches the targets ask for, before the file system is consulted: a file read
/// for any change, a directory listed for its names, and a name in a directory (a file that
/// appears, goes, or is replaced by a rename). The mount table and block devices are the
/// standing sources' job; registry keys do not exist here, and the schedule needs no watch.
fn wishes(targets: &[Target], real: impl Fn(&str) -> PathBuf) -> Vec<Wish> {
    targets
        .iter()
        .filter_map(|t| {
            let (path, mask, name) = match t {
                Target::Path(p) => (p, FILE_MASK, None),
                Target::Listing(d) => (d, DIR_MASK, None),
                Target::Entry { dir, name } => (dir, DIR_MASK, Some(OsString::from(name))),
                Target::Volumes
                | Target::Devices
                | Target::RegistryKey { .. }
                | Target::Schedule(_) => return None,
            };
            Some(Wish {
                real: real(path),
                shown: path.clone(),
                mask,
                name,
            })
        })
        .collect()
}

impl ChangeWatcher for LinuxWatcher {
    fn watch(&mut self, targets: &[Target]) -> String {
        let follow = if self.root.is_some() {
            // Links inside a mounted root point inside it, not at this machine's files.
            WatchFlags::DONT_FOLLOW
        } else {
            WatchFlags::empty()
        };
        let root_real = self.real_path("/");
        let list = wishes(targets, |p| self.real_path(p));
        let mut next: HashMap<i32, Interest> = HashMap::new();
        let mut path_bytes = 0usize;
        let mut seen: BTreeMap<PathBuf, ()> = BTreeMap::new();
        let mut full = false;
        for wish in list {
            let (mut real, mut shown, mut name) = (wish.real, wish.shown, wish.name);
            let mut mask = wish.mask;
            loop {
                if next.len() >= self.limits.max_watches
                    || path_bytes + shown.len() > self.limits.max_path_bytes
                {
                    full = true;
                    break;
                }
                if matches!(fs_type(&real), Some(PROC_MAGIC | SYSFS_MAGIC)) {
                    // Covered by the mount table and uevents, or not watchable at all.
                    break;
                }
                match inotify::add_watch(
                    &*self.inotify,
                    &real,
                    mask | follow | WatchFlags::MASK_ADD | WatchFlags::EXCL_UNLINK,
                ) {
                    Ok(wd) => {
                        if seen.insert(real.clone(), ()).is_none() {
                            path_bytes += shown.len();
                        }
                        let entry = next.entry(wd).or_insert_with(|| Interest {
                            shown: shown.clone(),
                            ..Interest::default()
                        });
                        match name {
                            Some(n) => {
                                entry.names.insert(n);
                            }
                            None => entry.any = true,
                        }
                        break;
                    }
                    // A directory that does not exist (yet): watch its parent for its name,
                    // up to the root. A missing file is covered by its parent's wish.
                    Err(Errno::NOENT | Errno::NOTDIR) if name.is_some() && real != root_real => {
                        let Some(file_name) = real.file_name().map(OsString::from) else {
                            break;
                        };
                        let Some(parent) = real.parent().map(Path::to_path_buf) else {
                            break;
                        };
                        real = parent;
                        shown = match shown.rsplit_once('/') {
                            Some(("", _)) | None => "/".to_owned(),
                            Some((p, _)) => p.to_owned(),
                        };
                        name = Some(file_name);
                        mask = DIR_MASK;
                    }
                    Err(Errno::NOENT | Errno::NOTDIR) => break,
                    Err(e) => {
                        self.log_once(
                            shown.clone(),
                            &format!("cannot watch this path for changes ({e})"),
                        );
                        break;
                    }
                }
            }
            if full {
                break;
            }
        }
        if full {
            self.log_once(
                "watch limit".to_owned(),
                &format!(
                    "the watch limit ({} watches, {} bytes of paths) is reached; the rest",
                    self.limits.max_watches, self.limits.max_path_bytes
                ),
            );
        }
        let stale: Vec<i32> = {
            let mut table = self
                .table
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let stale = table
                .keys()
                .filter(|wd| !next.contains_key(wd))
                .copied()
                .collect();
            *table = next;
            stale
        };
        for wd in stale {
            // Already gone when the file was deleted: nothing to do.
            let _ = inotify::remove_watch(&*self.inotify, wd);
        }
        let mut mode = self.mode();
        if full {
            mode.push_str("; watch limit reached, some paths follow the schedule");
        }
        mode
    }
}

impl Drop for LinuxWatcher {
    fn drop(&mut self) {
        let _ = rustix::io::write(&*self.stop, &1u64.to_ne_bytes());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watcher thread: sleeps in `poll` until inotify, the mount table, a uevent or the stop
/// signal wakes it.
///
/// While nothing happens the thread allocates nothing: its poll set and read buffers live on its
/// stack. A thread that calls `malloc` gets a malloc arena of its own from glibc (a heap reserved
/// for it, whose first pages stay resident for the life of the process), so a watcher that
/// allocated while idle would cost more memory than the schedule alone. It allocates only to
/// describe a change it reports.
fn listen(
    inotify: &OwnedFd,
    mut mount_table: Option<OwnedFd>,
    mut uevents: Option<OwnedFd>,
    stop: &OwnedFd,
    table: &Table,
    triggers: &TriggerSender,
) {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); INOTIFY_BUFFER_BYTES];
    let mut datagram = [std::mem::MaybeUninit::<u8>::uninit(); UEVENT_BUFFER_BYTES];
    loop {
        let (ino, mnt, uev, stopped) = {
            // Unused slots repeat the stop signal with no events asked, and are not polled.
            let mut fds = [
                PollFd::new(stop, PollFlags::IN),
                PollFd::new(inotify, PollFlags::IN),
                PollFd::new(stop, PollFlags::empty()),
                PollFd::new(stop, PollFlags::empty()),
            ];
            let mut used = 2;
            // Only POLLPRI: a mount table file is always readable.
            let mnt_at = mount_table.as_ref().map(|fd| {
                fds[used] = PollFd::new(fd, PollFlags::PRI);
                used += 1;
                used - 1
            });
            let uev_at = uevents.as_ref().map(|fd| {
                fds[used] = PollFd::new(fd, PollFlags::IN);
                used += 1;
                used - 1
            });
            match rustix::event::poll(&mut fds[..used], None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "the watcher stopped; changes follow the schedule");
                    return;
                }
            }
            (
                fds[1].revents(),
                mnt_at.map(|i| fds[i].revents()),
                uev_at.map(|i| fds[i].revents()),
                !fds[0].revents().is_empty(),
            )
        };
        if stopped {
            return;
        }
        if !ino.is_empty() {
            read_inotify(inotify, &mut buf, table, triggers);
        }
        if let Some(r) = mnt
            && r.intersects(PollFlags::PRI | PollFlags::ERR)
        {
            // The kernel re-arms the signal when it reports it; nothing to read.
            triggers.send("mount table changed".to_owned());
        }
        if let Some(r) = uev
            && !r.is_empty()
            && let Some(fd) = &uevents
            && !read_uevents(fd, &mut datagram, triggers)
        {
            tracing::warn!("the uevent source closed; block devices follow the schedule");
            uevents = None;
        }
        if mnt.is_some_and(|r| r.intersects(PollFlags::HUP | PollFlags::NVAL)) {
            mount_table = None;
        }
    }
}

fn read_inotify(
    inotify: &OwnedFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
    table: &Table,
    triggers: &TriggerSender,
) {
    let mut reader = inotify::Reader::new(inotify.as_fd(), buf);
    let mut causes: BTreeSet<String> = BTreeSet::new();
    loop {
        let event = match reader.next() {
            Ok(e) => e,
            Err(Errno::AGAIN | Errno::INTR) => break,
            Err(e) => {
                tracing::debug!(error = %e, "inotify read failed");
                break;
            }
        };
        let flags = event.events();
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            causes.insert("inotify queue overflowed".to_owned());
            continue;
        }
        let mut table = table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if flags.contains(ReadFlags::IGNORED) {
            table.remove(&event.wd());
            continue;
        }
        let Some(interest) = table.get(&event.wd()) else {
            continue;
        };
        match event.file_name() {
            Some(name) => {
                let name = std::ffi::OsStr::from_bytes(name.to_bytes());
                if interest.any || interest.names.contains(name) {
                    let sep = if interest.shown.ends_with('/') {
                        ""
                    } else {
                        "/"
                    };
                    causes.insert(format!(
                        "{}{sep}{} changed",
                        interest.shown,
                        name.to_string_lossy()
                    ));
                }
            }
            None => {
                causes.insert(format!("{} changed", interest.shown));
            }
        }
    }
    // One trigger per distinct cause in this batch; the queue keeps a few.
    for cause in causes.into_iter().take(4) {
        triggers.send(cause);
    }
}

/// Reads every pending datagram; returns false when the source is closed for good.
fn read_uevents(
    fd: &OwnedFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
    triggers: &TriggerSender,
) -> bool {
    loop {
        match rustix::net::recv(fd, &mut *buf, rustix::net::RecvFlags::DONTWAIT) {
            Ok((_, 0)) => return false,
            // `received` is the part of the buffer the datagram filled.
            Ok(((received, _), _)) => match uevent::parse(received) {
                Ok(e) if e.concerns_block_devices() => triggers.send(e.describe()),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "ignored a netlink message"),
            },
            Err(Errno::AGAIN | Errno::INTR) => return true,
            // The kernel dropped events because we were slow: a block device may have changed.
            Err(Errno::NOBUFS) => {
                triggers.send("block-device events were lost".to_owned());
                return true;
            }
            Err(e) => {
                tracing::debug!(error = %e, "uevent read failed");
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{ReadSet, targets};

    #[test]
    fn a_file_read_is_watched_itself_and_in_its_directory() {
        let reads = ReadSet {
            files: vec!["/etc/dconf/db/local.d/locks/screensaver".to_owned()],
            dirs: vec!["/run/systemd/sessions".to_owned()],
            commands: vec![vec!["/usr/bin/fdesetup".to_owned(), "status".to_owned()]],
        };
        let w = wishes(&targets::plan(&reads), |p| {
            PathBuf::from(format!("/root{p}"))
        });
        let shown: Vec<(&str, Option<&str>, bool)> = w
            .iter()
            .map(|w| {
                (
                    w.shown.as_str(),
                    w.name.as_ref().and_then(|n| n.to_str()),
                    w.mask == FILE_MASK,
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("/etc/dconf/db/local.d/locks/screensaver", None, true),
                ("/run/systemd/sessions", None, false),
                ("/etc/dconf/db/local.d/locks", Some("screensaver"), false),
                ("/run/systemd", Some("sessions"), false),
            ]
        );
        assert_eq!(
            w[0].real,
            PathBuf::from("/root/etc/dconf/db/local.d/locks/screensaver")
        );
    }
}
