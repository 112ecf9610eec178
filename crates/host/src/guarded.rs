//! The one way posture opens what it reads on Unix: files, directories and links, on the running
//! machine and under `--root`.
//!
//! The agent runs as root among files its users control. A user can put a FIFO, a device node,
//! a huge file or a link to `/etc/shadow` where a probe expects a settings file. So every read:
//!
//! - opens without blocking (`O_NONBLOCK|O_CLOEXEC|O_NOCTTY`): a FIFO with no writer opens at
//!   once instead of hanging, and is then refused;
//! - `fstat`s the open handle (not the path, which can change in between) and accepts regular
//!   files only for `read`, directories only for `list_dir`;
//! - reads at most [`ReadLimits::max_file_bytes`]; a larger file is refused, not truncated;
//! - for a path inside a user's home (an `/etc/passwd` account other than root): resolves the
//!   rest of the path beneath that home, so a link leading out of it is refused, and accepts
//!   only what that user or root owns (a root-owned file with several hard links is refused too:
//!   it may be a system file linked in);
//! - under `--root`: resolves inside the root with `openat2(RESOLVE_IN_ROOT)`, so no link in the
//!   image reaches the machine the agent runs on.
//!
//! Where `openat2` is missing (Linux before 5.6, a seccomp filter that refuses it, macOS), the
//! same rules are applied by walking the path one component at a time from an open directory
//! with `O_NOFOLLOW`, reading each link and resolving it by the same rule.
//!
//! A refusal is [`ReadError::Refused`] with the reason; probes turn it into evidence and an
//! `unknown` verdict for that subject.

use std::io::Read as _;
use std::sync::OnceLock;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::{ReadError, ReadLimits};

/// The most names `list_dir` returns; a directory with more is refused.
pub(crate) const MAX_DIR_ENTRIES: usize = 65_536;

/// Why a file larger than `cap` bytes was not read; `policy` when the cap is the policy's.
fn too_large(cap: u64, policy: bool) -> ReadError {
    ReadError::Refused(if policy {
        format!(
            "larger than {cap} bytes, the most posture reads of one file (policy limits.max_file_bytes)"
        )
    } else {
        format!("larger than {cap} bytes, the most posture reads of this file")
    })
}

/// How many links one path may go through, as the kernel allows.
const MAX_LINK_HOPS: usize = 40;

/// Where paths start from.
#[derive(Debug)]
enum Base {
    /// The running machine: paths outside homes are opened as the kernel resolves them.
    System,
    /// A mounted system: every path is resolved inside this directory.
    Rooted(OwnedFd),
}

/// How to resolve a path below a directory handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    /// `..` stops at the directory and absolute links start again at it (`RESOLVE_IN_ROOT`).
    InRoot,
    /// Anything leading out of the directory, a home at this absolute path, is refused
    /// (`RESOLVE_BENEATH`); an absolute link to a path inside the home is followed inside it.
    Beneath(&'a str),
}

/// Which resolver is used below a directory handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// The kernel's `openat2` with `RESOLVE_IN_ROOT` / `RESOLVE_BENEATH` (Linux 5.6 and later;
    /// elsewhere never chosen).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Openat2,
    /// One component at a time with `O_NOFOLLOW`, links read and resolved here.
    Walk,
}

impl Resolver {
    /// `openat2` when the kernel offers it, else the component walk.
    pub(crate) fn detect() -> Self {
        static DETECTED: OnceLock<Resolver> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                let probe = rustix::fs::openat2(
                    rustix::fs::CWD,
                    "/",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    rustix::fs::ResolveFlags::IN_ROOT,
                );
                match probe {
                    // ENOSYS: kernel before 5.6; EPERM: a seccomp filter that does not know it.
                    Err(Errno::NOSYS | Errno::PERM) => Self::Walk,
                    _ => Self::Openat2,
                }
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                Self::Walk
            }
        })
    }

    /// For people: how paths are resolved and, for the walk, why.
    #[must_use]
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Openat2 => "openat2 with RESOLVE_IN_ROOT / RESOLVE_BENEATH",
            Self::Walk => {
                "one component at a time with O_NOFOLLOW (openat2 is not available: Linux before 5.6, refused by a seccomp filter, or not Linux)"
            }
        }
    }
}

/// The home of one or more accounts (several accounts may share one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Home {
    path: String,
    users: Vec<(String, u32)>,
}

impl Home {
    fn owner_names(&self) -> String {
        self.users
            .iter()
            .map(|(name, uid)| format!("{name} (uid {uid})"))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The guarded reader behind `SystemHost` and `RootedHost` on Unix.
#[derive(Debug)]
pub(crate) struct Guard {
    base: Base,
    limits: ReadLimits,
    resolver: Resolver,
    /// Owners that count as root: uid 0, and under `--root` the owner of the root directory
    /// (a tree unpacked by an ordinary user is that user's).
    trusted: Vec<u32>,
    homes: OnceLock<Vec<Home>>,
}

impl Guard {
    /// The running machine.
    pub(crate) fn system(limits: ReadLimits) -> Self {
        Self {
            base: Base::System,
            limits,
            resolver: Resolver::detect(),
            trusted: vec![0],
            homes: OnceLock::new(),
        }
    }

    /// A system mounted at `root`. The root directory is opened now; when it cannot be, every
    /// read fails with the reason.
    pub(crate) fn rooted(root: &std::path::Path, limits: ReadLimits) -> Result<Self, ReadError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(map_errno)?;
        let mut trusted = vec![0];
        if let Ok(st) = rustix::fs::fstat(&fd)
            && st.st_uid != 0
        {
            trusted.push(st.st_uid);
        }
        Ok(Self {
            base: Base::Rooted(fd),
            limits,
            resolver: Resolver::detect(),
            trusted,
            homes: OnceLock::new(),
        })
    }

    /// The same guard with another resolver (tests run both).
    #[cfg(test)]
    pub(crate) fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// The bytes of a regular file.
    pub(crate) fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        self.read_capped(path, self.limits.max_file_bytes)
    }

    /// The bytes of a regular file of at most `cap` bytes, by the same rules as [`Guard::read`].
    pub(crate) fn read_capped(&self, path: &str, cap: u64) -> Result<Vec<u8>, ReadError> {
        let mut bytes = Vec::new();
        self.copy_capped(path, cap, &mut bytes)?;
        Ok(bytes)
    }

    /// Streams a regular file of at most `cap` bytes into `sink`, by the same rules as
    /// [`Guard::read`], and returns its length (for extractions, whose files, such as a password
    /// manager's database, can be far larger than settings files and are never held whole in
    /// memory). On a refusal for size, `sink` may hold a prefix: the caller discards it.
    pub(crate) fn copy_capped(
        &self,
        path: &str,
        cap: u64,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, ReadError> {
        let path = crate::normalize(path);
        let home = self.home_of(&path);
        let fd = self.open(
            &path,
            home,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        )?;
        let st = rustix::fs::fstat(&fd).map_err(map_errno)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            other => {
                return Err(ReadError::Refused(format!(
                    "{}, not a regular file",
                    describe_type(other)
                )));
            }
        }
        if let Some(home) = home {
            self.check_owner(
                home,
                st.st_uid,
                (st.st_nlink > 1).then(|| st.st_nlink.to_string()),
            )?;
        }
        // /proc and /sys report sizes of 0 or 4096 whatever they hold: the size is only an early
        // refusal, the read itself stops after the cap.
        if u64::try_from(st.st_size).unwrap_or(0) > cap {
            return Err(too_large(cap, cap == self.limits.max_file_bytes));
        }
        let copied = std::io::copy(
            &mut std::fs::File::from(fd).take(cap.saturating_add(1)),
            sink,
        )
        .map_err(|e| ReadError::from_io(&e))?;
        if copied > cap {
            return Err(too_large(cap, cap == self.limits.max_file_bytes));
        }
        Ok(copied)
    }

    /// The names in a directory, sorted, without `.` and `..`.
    pub(crate) fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        let path = crate::normalize(path);
        let home = self.home_of(&path);
        let fd = self.open(
            &path,
            home,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        )?;
        let st = rustix::fs::fstat(&fd).map_err(map_errno)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(ReadError::NotFound);
        }
        if let Some(home) = home {
            self.check_owner(home, st.st_uid, None)?;
        }
        let dir = rustix::fs::Dir::new(fd).map_err(map_errno)?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(map_errno)?;
            let name = entry.file_name().to_string_lossy();
            if name == "." || name == ".." {
                continue;
            }
            if names.len() == MAX_DIR_ENTRIES {
                return Err(ReadError::Refused(format!(
                    "more than {MAX_DIR_ENTRIES} entries"
                )));
            }
            names.push(name.into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Owner, permissions and kind of a path, opened (not read) by the rules of [`Guard::read`]:
    /// on Linux with `O_PATH`, elsewhere without blocking, so a FIFO or device node is only
    /// described. In a user's home, a file owned by someone else is refused as a read would be.
    pub(crate) fn metadata(&self, path: &str) -> Result<crate::Metadata, ReadError> {
        let path = crate::normalize(path);
        let home = self.home_of(&path);
        let fd = self.open(&path, home, meta_flags())?;
        let st = rustix::fs::fstat(&fd).map_err(map_errno)?;
        if let Some(home) = home {
            self.check_owner(home, st.st_uid, None)?;
        }
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => crate::FileKind::File,
            FileType::Directory => crate::FileKind::Directory,
            FileType::Fifo => crate::FileKind::Fifo,
            _ => crate::FileKind::Other,
        };
        // `mode_t` is u32 on Linux and u16 on macOS.
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(st.st_mode) & 0o7777;
        Ok(crate::Metadata {
            kind,
            uid: st.st_uid,
            gid: st.st_gid,
            mode,
            root_owned: self.trusted.contains(&st.st_uid),
        })
    }

    /// The target of a symbolic link as stored.
    pub(crate) fn read_link(&self, path: &str) -> Result<String, ReadError> {
        let path = crate::normalize(path);
        let Some(slash) = path.rfind('/') else {
            return Err(ReadError::NotFound);
        };
        let (parent, name) = (&path[..slash.max(1)], &path[slash + 1..]);
        if name.is_empty() {
            // "/" itself.
            return Err(ReadError::NotALink);
        }
        let home = self.home_of(&path);
        let dir = self.open(parent, home, dir_flags())?;
        match rustix::fs::readlinkat(&dir, name, Vec::new()) {
            Ok(target) => Ok(target.to_string_lossy().into_owned()),
            Err(Errno::INVAL) => Err(ReadError::NotALink),
            Err(e) => Err(map_errno(e)),
        }
    }

    /// `extra_links`: the number of hard links of a file that has more than one.
    fn check_owner(
        &self,
        home: &Home,
        uid: u32,
        extra_links: Option<String>,
    ) -> Result<(), ReadError> {
        if home.users.iter().any(|(_, u)| *u == uid) {
            return Ok(());
        }
        if self.trusted.contains(&uid) {
            if let Some(links) = extra_links {
                return Err(ReadError::Refused(format!(
                    "owned by root with {links} hard links in the home {} of {}: it may be a system file linked in",
                    home.path,
                    home.owner_names()
                )));
            }
            return Ok(());
        }
        Err(ReadError::Refused(format!(
            "owned by uid {uid}, not by {} or root: in a user's home only files of that user or root are read",
            home.owner_names()
        )))
    }

    /// The home a path lies strictly inside, the deepest when homes nest.
    fn home_of(&self, path: &str) -> Option<&Home> {
        self.homes
            .get_or_init(|| self.load_homes())
            .iter()
            .find(|h| {
                path.len() > h.path.len() + 1
                    && path.starts_with(&h.path)
                    && path.as_bytes()[h.path.len()] == b'/'
            })
    }

    /// Homes of `/etc/passwd` accounts other than root, deepest first. Read with the guard's own
    /// rules (but no home rule: `/etc/passwd` is root's). An unreadable passwd leaves no homes.
    fn load_homes(&self) -> Vec<Home> {
        let Ok(fd) = self.open(
            "/etc/passwd",
            None,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        ) else {
            return Vec::new();
        };
        match rustix::fs::fstat(&fd) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            _ => return Vec::new(),
        }
        let mut text = Vec::new();
        if std::fs::File::from(fd)
            .take(self.limits.max_file_bytes)
            .read_to_end(&mut text)
            .is_err()
        {
            return Vec::new();
        }
        parse_homes(&String::from_utf8_lossy(&text))
    }

    /// Opens a normalized absolute path with `flags`, by the rules of its place: beneath its
    /// home, inside the root, or as the kernel resolves it.
    fn open(&self, path: &str, home: Option<&Home>, flags: OFlags) -> Result<OwnedFd, ReadError> {
        match home {
            Some(home) => {
                let home_fd = self.open_outside_homes(&home.path, dir_flags())?;
                // The home itself ("" below it) when a link's parent directory is the home.
                let rest = path.get(home.path.len() + 1..).unwrap_or("");
                self.resolve(home_fd.as_fd(), rest, Scope::Beneath(&home.path), flags)
                    .map_err(|e| match e {
                        Escape::Out => ReadError::Refused(format!(
                            "a link leads out of the home {} of {}: links in a home are followed only inside it",
                            home.path,
                            home.owner_names()
                        )),
                        Escape::Error(e) => e,
                    })
            }
            None => self.open_outside_homes(path, flags),
        }
    }

    fn open_outside_homes(&self, path: &str, flags: OFlags) -> Result<OwnedFd, ReadError> {
        match &self.base {
            Base::System => rustix::fs::open(path, flags, Mode::empty()).map_err(map_errno),
            Base::Rooted(root) => self
                .resolve(
                    root.as_fd(),
                    path.trim_start_matches('/'),
                    Scope::InRoot,
                    flags,
                )
                .map_err(|e| match e {
                    // Nothing escapes a root: `..` and absolute links stay inside.
                    Escape::Out => ReadError::Other("path leads out of the root".to_owned()),
                    Escape::Error(e) => e,
                }),
        }
    }

    fn resolve(
        &self,
        dir: BorrowedFd<'_>,
        rel: &str,
        scope: Scope,
        flags: OFlags,
    ) -> Result<OwnedFd, Escape> {
        let rel = if rel.is_empty() { "." } else { rel };
        match self.resolver {
            // The kernel refuses every absolute link under RESOLVE_BENEATH, also one that names
            // a path inside the home (`ln -s ~/dotfiles/x` stores one): the walk decides those.
            Resolver::Openat2 => match openat2(dir, rel, scope, flags) {
                Err(Escape::Out) => walk(dir, rel, scope, flags),
                other => other,
            },
            Resolver::Walk => walk(dir, rel, scope, flags),
        }
    }
}

/// A resolution that failed: by leaving the allowed tree, or for another reason.
#[derive(Debug)]
enum Escape {
    Out,
    Error(ReadError),
}

/// Flags to open a path only to `fstat` it.
fn meta_flags() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        OFlags::PATH | OFlags::CLOEXEC
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY
    }
}

/// Flags for a directory used only as a starting point.
fn dir_flags() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn openat2(dir: BorrowedFd<'_>, rel: &str, scope: Scope, flags: OFlags) -> Result<OwnedFd, Escape> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::NO_MAGICLINKS
        | match scope {
            Scope::InRoot => ResolveFlags::IN_ROOT,
            Scope::Beneath(_) => ResolveFlags::BENEATH,
        };
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // A rename or mount raced the lookup; the kernel asks to try again.
            Err(Errno::AGAIN) if attempts < 3 => attempts += 1,
            Err(Errno::XDEV) if matches!(scope, Scope::Beneath(_)) => return Err(Escape::Out),
            Err(e) => return Err(Escape::Error(map_errno(e))),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn openat2(dir: BorrowedFd<'_>, rel: &str, scope: Scope, flags: OFlags) -> Result<OwnedFd, Escape> {
    walk(dir, rel, scope, flags)
}

/// Resolves `rel` below `dir` one component at a time, never letting the kernel follow a link:
/// each link is read and its target resolved by the scope's rule.
fn walk(dir: BorrowedFd<'_>, rel: &str, scope: Scope, flags: OFlags) -> Result<OwnedFd, Escape> {
    let err = |e: Errno| Escape::Error(map_errno(e));
    let mut pending: Vec<String> = components(rel);
    // Directories opened below `dir`, so that `..` returns to the one it came from.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut hops = 0;
    loop {
        let current = stack.last().map_or(dir, AsFd::as_fd);
        let Some(part) = pending.pop() else {
            return rustix::fs::openat(current, ".", flags, Mode::empty()).map_err(err);
        };
        match part.as_str() {
            "." => continue,
            ".." => {
                if stack.pop().is_none() && matches!(scope, Scope::Beneath(_)) {
                    return Err(Escape::Out);
                }
                continue;
            }
            _ => {}
        }
        let last = pending.is_empty();
        let open_flags = if last { flags } else { dir_flags() } | OFlags::NOFOLLOW;
        match rustix::fs::openat(current, part.as_str(), open_flags, Mode::empty()) {
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => stack.push(fd),
            // A link met with O_NOFOLLOW: ELOOP, or ENOTDIR when a directory was asked for.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                let Ok(target) = rustix::fs::readlinkat(current, part.as_str(), Vec::new()) else {
                    return Err(err(e));
                };
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(err(Errno::LOOP));
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    // Absolute: start again at the root, or at the home when it names a path
                    // inside it.
                    stack.clear();
                    match scope {
                        Scope::InRoot => pending.extend(components(&target)),
                        Scope::Beneath(home) => {
                            let target = crate::normalize(&target);
                            match target.strip_prefix(home) {
                                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                                    pending.extend(components(rest));
                                }
                                _ => return Err(Escape::Out),
                            }
                        }
                    }
                } else {
                    pending.extend(components(&target));
                }
            }
            Err(e) => return Err(err(e)),
        }
    }
}

/// The components of a path in reverse order (the next one last), for a stack.
fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .rev()
        .map(str::to_owned)
        .collect()
}

fn map_errno(e: Errno) -> ReadError {
    match e {
        Errno::NOENT | Errno::NOTDIR => ReadError::NotFound,
        Errno::ACCESS | Errno::PERM => ReadError::PermissionDenied,
        Errno::LOOP => ReadError::Other("too many levels of symbolic links".to_owned()),
        other => ReadError::from_io(&std::io::Error::from(other)),
    }
}

fn describe_type(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// Homes of `/etc/passwd` accounts other than root (uid 0), deepest first. `/` is nobody's home
/// here: accounts with it own nothing under it.
fn parse_homes(passwd: &str) -> Vec<Home> {
    let mut homes: Vec<Home> = Vec::new();
    for line in passwd.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let Ok(uid) = f[2].parse::<u32>() else {
            continue;
        };
        if uid == 0 || !f[5].starts_with('/') {
            continue;
        }
        let path = crate::normalize(f[5]);
        if path == "/" {
            continue;
        }
        match homes.iter_mut().find(|h| h.path == path) {
            Some(h) => h.users.push((f[0].to_owned(), uid)),
            None => homes.push(Home {
                path,
                users: vec![(f[0].to_owned(), uid)],
            }),
        }
    }
    homes.sort_by_key(|h| std::cmp::Reverse(h.path.len()));
    homes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn resolvers() -> Vec<Resolver> {
        let mut all = vec![Resolver::Walk];
        if Resolver::detect() == Resolver::Openat2 {
            all.push(Resolver::Openat2);
        }
        all
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// A fake system: `/etc/passwd` with alice (uid 1000) at `/home/alice`, her `.config`, a
    /// root-only `/etc/shadow`.
    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs_err::create_dir_all(r.join("etc")).unwrap();
        fs_err::create_dir_all(r.join("home/alice/.config")).unwrap();
        fs_err::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
        )
        .unwrap();
        fs_err::write(r.join("etc/shadow"), "alice:SECRET-HASH:20000::::::\n").unwrap();
        fs_err::write(r.join("home/alice/.config/kdeglobals"), "[General]\n").unwrap();
        dir
    }

    fn rooted(dir: &Path, resolver: Resolver) -> Guard {
        Guard::rooted(dir, ReadLimits::default())
            .unwrap()
            .with_resolver(resolver)
    }

    fn refused(result: Result<Vec<u8>, ReadError>) -> String {
        match result {
            Err(ReadError::Refused(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn homes_skip_root_and_slash_and_merge_shared_homes_deepest_first() {
        let homes = parse_homes(
            "root:x:0:0:root:/root:/bin/bash\n\
             bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
             proxy:x:13:13:proxy:/bin:/usr/sbin/nologin\n\
             systemd-network:x:998:998::/:/usr/sbin/nologin\n\
             alice:x:1000:1000::/home/alice/:/bin/bash\n\
             web:x:1001:1001::/home/alice/www:/bin/sh\n\
             broken\n",
        );
        let paths: Vec<_> = homes.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["/home/alice/www", "/home/alice", "/bin"]);
        assert_eq!(
            homes[2].users,
            [("bin".to_owned(), 2), ("proxy".to_owned(), 13)]
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_blocking_the_read() {
        for resolver in resolvers() {
            let dir = fake_root();
            let fifo = dir.path().join("home/alice/.config/kscreenlockerrc");
            crate::make_fifo(&fifo);
            let why =
                refused(rooted(dir.path(), resolver).read("/home/alice/.config/kscreenlockerrc"));
            assert!(why.contains("FIFO"), "{resolver:?}: {why}");
            // The running machine's reader refuses it the same way.
            let why = refused(
                Guard::system(ReadLimits::default())
                    .with_resolver(resolver)
                    .read(fifo.to_str().unwrap()),
            );
            assert!(why.contains("FIFO"), "{resolver:?}: {why}");
        }
    }

    #[test]
    fn a_link_to_dev_zero_is_refused_as_a_device_not_read_until_memory_runs_out() {
        for resolver in resolvers() {
            let dir = tempfile::tempdir().unwrap();
            let link = dir.path().join("kscreenlockerrc");
            symlink("/dev/zero", &link).unwrap();
            let why = refused(
                Guard::system(ReadLimits::default())
                    .with_resolver(resolver)
                    .read(link.to_str().unwrap()),
            );
            assert!(why.contains("character device"), "{resolver:?}: {why}");
        }
    }

    #[test]
    fn a_link_in_a_home_to_a_root_only_file_outside_it_is_refused_and_nothing_is_read() {
        for resolver in resolvers() {
            let dir = fake_root();
            let config = dir.path().join("home/alice/.config");
            symlink("/etc/shadow", config.join("kscreenlockerrc")).unwrap();
            symlink("../../../etc/shadow", config.join("relative")).unwrap();
            symlink("/home/alice/.config/kdeglobals", config.join("inside")).unwrap();
            let host = rooted(dir.path(), resolver);
            for name in ["kscreenlockerrc", "relative"] {
                let why = refused(host.read(&format!("/home/alice/.config/{name}")));
                assert!(
                    why.contains("leads out of the home /home/alice of alice (uid 1000)"),
                    "{resolver:?} {name}: {why}"
                );
            }
            // Links that stay inside the home are followed, absolute ones too (`ln -s
            // ~/dotfiles/x` stores the home's absolute path).
            assert_eq!(
                host.read("/home/alice/.config/inside").unwrap(),
                b"[General]\n"
            );
            symlink("kdeglobals", config.join("sibling")).unwrap();
            assert_eq!(
                host.read("/home/alice/.config/sibling").unwrap(),
                b"[General]\n"
            );
            // The same file outside any home is read as it is.
            assert!(host.read("/etc/shadow").is_ok());
        }
    }

    #[test]
    fn a_link_out_of_a_home_is_refused_on_the_running_machine_too() {
        for resolver in resolvers() {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("alice");
            fs_err::create_dir_all(&home).unwrap();
            fs_err::write(dir.path().join("outside"), "not hers").unwrap();
            symlink("../outside", home.join("settings")).unwrap();
            // The link is refused before its owner matters: any uid but root's will do.
            let guard = Guard::system(ReadLimits::default()).with_resolver(resolver);
            guard
                .homes
                .set(parse_homes(&format!(
                    "alice:x:4242:4242::{}:/bin/sh\n",
                    home.display()
                )))
                .unwrap();
            let why = refused(guard.read(&format!("{}/settings", home.display())));
            assert!(why.contains("leads out of the home"), "{resolver:?}: {why}");
            assert_eq!(
                guard
                    .read(&format!("{}/outside", dir.path().display()))
                    .unwrap(),
                b"not hers"
            );
        }
    }

    #[test]
    fn a_file_over_the_size_cap_is_refused_not_truncated() {
        for resolver in resolvers() {
            let dir = fake_root();
            fs_err::write(dir.path().join("etc/big"), vec![b'x'; 5000]).unwrap();
            fs_err::write(dir.path().join("etc/small"), vec![b'x'; 4096]).unwrap();
            let host = Guard::rooted(
                dir.path(),
                ReadLimits {
                    max_file_bytes: 4096,
                },
            )
            .unwrap()
            .with_resolver(resolver);
            let why = refused(host.read("/etc/big"));
            assert!(
                why.contains("larger than 4096 bytes"),
                "{resolver:?}: {why}"
            );
            assert_eq!(host.read("/etc/small").unwrap().len(), 4096);
        }
    }

    #[test]
    fn a_file_that_reports_no_size_is_still_held_to_the_cap() {
        // /proc files say they are empty whatever they hold.
        let host = Guard::system(ReadLimits {
            max_file_bytes: 4096,
        });
        let status = host.read("/proc/self/status").unwrap();
        assert!(!status.is_empty() && status.len() <= 4096);
        assert!(matches!(
            Guard::system(ReadLimits {
                max_file_bytes: 4096
            })
            .read("/proc/self/maps"),
            Ok(_) | Err(ReadError::Refused(_))
        ));
    }

    #[test]
    fn in_a_home_only_files_of_its_user_or_root_are_read() {
        if !is_root() {
            eprintln!("skipped: giving files to other users needs root");
            return;
        }
        for resolver in resolvers() {
            let dir = fake_root();
            let config = dir.path().join("home/alice/.config");
            let own = config.join("own");
            let foreign = config.join("kscreenlockerrc");
            let by_root = config.join("by-root");
            fs_err::write(&own, "x").unwrap();
            fs_err::write(&foreign, "x").unwrap();
            fs_err::write(&by_root, "x").unwrap();
            std::os::unix::fs::chown(&own, Some(1000), Some(1000)).unwrap();
            std::os::unix::fs::chown(&foreign, Some(1001), Some(1001)).unwrap();
            let host = rooted(dir.path(), resolver);
            assert!(host.read("/home/alice/.config/own").is_ok());
            assert!(host.read("/home/alice/.config/by-root").is_ok());
            let why = refused(host.read("/home/alice/.config/kscreenlockerrc"));
            assert!(
                why.contains("owned by uid 1001, not by alice (uid 1000) or root"),
                "{resolver:?}: {why}"
            );
            // A root-owned file with a second name may be a system file linked in.
            std::fs::hard_link(dir.path().join("etc/shadow"), config.join("shadow-link")).unwrap();
            let why = refused(host.read("/home/alice/.config/shadow-link"));
            assert!(why.contains("2 hard links"), "{resolver:?}: {why}");
            // Directories too.
            fs_err::create_dir(config.join("theirs")).unwrap();
            std::os::unix::fs::chown(config.join("theirs"), Some(1001), None).unwrap();
            assert!(matches!(
                host.list_dir("/home/alice/.config/theirs"),
                Err(ReadError::Refused(_))
            ));
        }
    }

    #[test]
    fn under_a_root_absolute_links_and_dot_dot_stay_inside_with_either_resolver() {
        for resolver in resolvers() {
            let dir = fake_root();
            let r = dir.path();
            fs_err::write(r.join("etc/hostname"), "inside\n").unwrap();
            symlink("/etc/hostname", r.join("etc/abs")).unwrap();
            symlink("../../../../../etc/hostname", r.join("etc/up")).unwrap();
            symlink("/proc/self/status", r.join("etc/proc")).unwrap();
            let host = rooted(r, resolver);
            assert_eq!(host.read("/etc/abs").unwrap(), b"inside\n", "{resolver:?}");
            assert_eq!(host.read("/etc/up").unwrap(), b"inside\n", "{resolver:?}");
            assert_eq!(
                host.read("/etc/proc"),
                Err(ReadError::NotFound),
                "{resolver:?}"
            );
            assert_eq!(host.read_link("/etc/abs").unwrap(), "/etc/hostname");
            assert_eq!(host.read_link("/etc/hostname"), Err(ReadError::NotALink));
            assert_eq!(host.read_link("/etc/missing"), Err(ReadError::NotFound));
            assert_eq!(host.list_dir("/home").unwrap(), ["alice"]);
            let why = refused(host.read("/etc"));
            assert!(why.contains("a directory"), "{why}");
        }
    }
}
