//! A system mounted under a directory (`--root DIR`), read without leaving that directory.

use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::sync::Arc;

use crate::{CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError, ReadLimits};

/// Reads a Linux system mounted at a directory: a disk image, a container's `/host`, or a fake
/// root built by a test.
///
/// Every path is resolved inside the root (`openat2` with `RESOLVE_IN_ROOT`, or the same rule
/// one component at a time): an absolute link target starts again at the root and `..` never
/// climbs above it, so no link in the image can make the agent read the machine it runs on.
/// Reads follow the same guarded rules as on the running machine (regular files only, a size
/// cap, the home rules of the image's `/etc/passwd`); the owner of the root directory counts as
/// root, since a tree unpacked by an ordinary user belongs to that user. Commands are refused:
/// they would describe the machine the agent runs on, not the mounted one.
#[derive(Debug, Clone)]
pub struct RootedHost {
    root: PathBuf,
    platform: Platform,
    limits: ReadLimits,
    #[cfg(unix)]
    guard: Arc<Result<crate::guarded::Guard, ReadError>>,
}

impl RootedHost {
    /// A host for the Linux system mounted at `root`, read within the default limits.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_limits(root, ReadLimits::default())
    }

    /// A host for the Linux system mounted at `root`, read within `limits`. The root directory
    /// is opened now; if it cannot be, every read fails with the reason.
    #[must_use]
    pub fn with_limits(root: impl Into<PathBuf>, limits: ReadLimits) -> Self {
        let root = root.into();
        Self {
            #[cfg(unix)]
            guard: Arc::new(crate::guarded::Guard::rooted(&root, limits)),
            root,
            platform: Platform::Linux,
            limits,
        }
    }

    /// The bounds reads are held to.
    #[must_use]
    pub fn limits(&self) -> ReadLimits {
        self.limits
    }

    /// The directory the system is mounted at.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[cfg(unix)]
    fn guard(&self) -> Result<&crate::guarded::Guard, ReadError> {
        self.guard.as_ref().as_ref().map_err(Clone::clone)
    }

    /// Resolves every link in `path` inside the root, except a link in the last component when
    /// `follow_last` is false (for `read_link`). Platforms without the guarded reader only.
    #[cfg(not(unix))]
    fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, ReadError> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut inside: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    inside.pop();
                    continue;
                }
                _ => {}
            }
            let mut candidate = self.root.clone();
            candidate.extend(inside.iter());
            candidate.push(&part);
            let is_last = pending.is_empty();
            match fs_err::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() && (follow_last || !is_last) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(ReadError::Other(format!(
                            "too many levels of symbolic links at {path}"
                        )));
                    }
                    let target =
                        fs_err::read_link(&candidate).map_err(|e| ReadError::from_io(&e))?;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        inside.clear();
                    }
                    for p in target.split('/').filter(|p| !p.is_empty()).rev() {
                        pending.push(p.to_owned());
                    }
                }
                Ok(_) => inside.push(part),
                Err(e) => return Err(ReadError::from_io(&e)),
            }
        }
        let mut full = self.root.clone();
        full.extend(inside.iter());
        Ok(full)
    }
}

impl Host for RootedHost {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        #[cfg(unix)]
        {
            self.guard()?.read(path)
        }
        #[cfg(not(unix))]
        {
            let full = self.resolve(path, true)?;
            crate::system::read_capped(&full, self.limits)
        }
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        #[cfg(unix)]
        {
            self.guard()?.list_dir(path)
        }
        #[cfg(not(unix))]
        {
            let full = self.resolve(path, true)?;
            crate::system::list(&full)
        }
    }

    #[cfg(unix)]
    fn metadata(&self, path: &str) -> Result<crate::Metadata, ReadError> {
        self.guard()?.metadata(path)
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        #[cfg(unix)]
        {
            self.guard()?.read_link(path)
        }
        #[cfg(not(unix))]
        {
            let full = self.resolve(path, false)?;
            crate::system::link(&full)
        }
    }

    #[cfg(unix)]
    fn read_extracted(&self, path: &str, extract: crate::Extract<'_>) -> Result<String, ReadError> {
        // Extracted files keep only a few facts, so their own cap applies, not the settings
        // files' one.
        let guard = self.guard()?;
        extract(
            &|p: &str, max: u64, sink: &mut dyn std::io::Write| guard.copy_capped(p, max, sink),
            path,
        )
    }

    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        Err(CommandError::NotRun(format!(
            "{} was not run: commands describe the running machine, not the system under --root",
            command.display()
        )))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("etc")).unwrap();
        fs_err::write(root.join("etc/hostname"), "inside\n").unwrap();
        dir
    }

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let dir = fake_root();
        // A link to /etc/hostname must read the image's file, not this machine's.
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("etc/name-link")).unwrap();
        let host = RootedHost::new(dir.path());
        assert_eq!(host.read_text("/etc/name-link").unwrap(), "inside\n");
    }

    #[test]
    fn dot_dot_never_climbs_out_of_the_root() {
        let dir = fake_root();
        std::os::unix::fs::symlink("../../../../../../etc/hostname", dir.path().join("etc/up"))
            .unwrap();
        let host = RootedHost::new(dir.path());
        assert_eq!(host.read_text("/etc/up").unwrap(), "inside\n");
        assert_eq!(host.read_text("/../../etc/hostname").unwrap(), "inside\n");
    }

    #[test]
    fn a_link_pointing_at_a_path_missing_in_the_root_is_not_found_even_if_the_machine_has_it() {
        let dir = fake_root();
        std::os::unix::fs::symlink("/proc/self/status", dir.path().join("etc/proc-link")).unwrap();
        let host = RootedHost::new(dir.path());
        assert_eq!(host.read("/etc/proc-link"), Err(ReadError::NotFound));
    }

    #[test]
    fn read_link_returns_the_stored_target_and_says_when_a_path_is_not_a_link() {
        let dir = fake_root();
        std::os::unix::fs::symlink("../devices/sda", dir.path().join("etc/blk")).unwrap();
        let host = RootedHost::new(dir.path());
        assert_eq!(host.read_link("/etc/blk").unwrap(), "../devices/sda");
        assert_eq!(host.read_link("/etc/hostname"), Err(ReadError::NotALink));
        assert_eq!(host.read_link("/etc/missing"), Err(ReadError::NotFound));
    }

    #[test]
    fn metadata_says_owner_mode_and_kind_without_reading_or_leaving_the_root() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = fake_root();
        let host = RootedHost::new(dir.path());
        let path = dir.path().join("etc/hostname");
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let m = host.metadata("/etc/hostname").unwrap();
        assert_eq!(m.kind, crate::FileKind::File);
        assert_eq!(m.mode, 0o644);
        // The tree's owner counts as root under --root (whoever unpacked it).
        assert!(m.root_owned && m.root_only(), "{m:?}");
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let m = host.metadata("/etc/hostname").unwrap();
        assert!(m.writable_by_others() && !m.root_only(), "{m:?}");
        assert!(m.describe().contains("mode 0666"), "{}", m.describe());
        assert_eq!(
            host.metadata("/etc").unwrap().kind,
            crate::FileKind::Directory
        );
        // A FIFO is described, not opened for reading (which would wait for a writer).
        crate::make_fifo(&dir.path().join("etc/pipe"));
        assert_eq!(
            host.metadata("/etc/pipe").unwrap().kind,
            crate::FileKind::Fifo
        );
        // A link out of the root resolves inside it.
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/out")).unwrap();
        assert_eq!(host.metadata("/etc/out"), Err(ReadError::NotFound));
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("etc/in")).unwrap();
        assert_eq!(host.metadata("/etc/in").unwrap().mode, 0o666);
    }

    #[test]
    fn a_file_of_another_owner_is_not_root_owned() {
        let dir = fake_root();
        let path = dir.path().join("etc/hostname");
        let me = rustix::process::geteuid();
        // Give the file to an owner that is neither root nor the tree's owner: possible only as
        // root; otherwise the tree's owner (this user) is the one that counts as root, and a
        // file of root's is too.
        if me.is_root() {
            std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
            let m = RootedHost::new(dir.path())
                .metadata("/etc/hostname")
                .unwrap();
            assert_eq!(m.uid, 4242);
            assert!(!m.root_owned && !m.root_only(), "{m:?}");
            assert!(m.describe().starts_with("owned by uid 4242"));
        } else {
            let m = RootedHost::new(dir.path())
                .metadata("/etc/hostname")
                .unwrap();
            assert_eq!(m.uid, me.as_raw());
            assert!(m.root_owned);
        }
    }

    #[test]
    fn commands_are_refused_under_a_root() {
        let dir = fake_root();
        let host = RootedHost::new(dir.path());
        let err = host.run(&CommandSpec::new("/bin/true", &[])).unwrap_err();
        assert!(matches!(err, CommandError::NotRun(_)));
    }

    #[test]
    fn canonicalize_follows_sysfs_style_relative_links() {
        let dir = fake_root();
        let r = dir.path();
        fs_err::create_dir_all(r.join("sys/devices/pci0/usb2/2-1/block/sda")).unwrap();
        fs_err::create_dir_all(r.join("sys/class/block")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/pci0/usb2/2-1/block/sda",
            r.join("sys/class/block/sda"),
        )
        .unwrap();
        let host = RootedHost::new(r);
        assert_eq!(
            crate::canonicalize(&host, "/sys/class/block/sda").unwrap(),
            "/sys/devices/pci0/usb2/2-1/block/sda"
        );
    }
}
