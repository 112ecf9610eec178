//! Durable, owner-only file writes shared by the spool, the credentials file and the status.

use std::io::Write as _;
use std::path::Path;

/// Creates a directory (and its parents) readable by its owner only: mode 0700 on Unix; on
/// Windows an ACL of SYSTEM and Administrators only, not inherited (`%ProgramData%` would
/// otherwise give every user read access).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        if !dir.is_dir() {
            // fs-err has no DirBuilder; created with 0700 from the start, so no window in which
            // others could list it. The error is given the path by hand.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("failed to create directory `{}`: {e}", dir.display()),
                    )
                })?;
        }
        // An existing directory may have been made by someone else with a wider mode.
        let meta = fs_err::metadata(dir)?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(windows)]
    {
        fs_err::create_dir_all(dir)?;
        restrict_to_system_and_administrators(dir)
    }
    #[cfg(not(any(unix, windows)))]
    {
        fs_err::create_dir_all(dir)
    }
}

/// Replaces a directory's ACL with full control for SYSTEM (S-1-5-18) and the Administrators
/// group (S-1-5-32-544), inherited by what is created inside, and nothing inherited from above.
/// `icacls` from the system directory, by its full path; well-known SIDs, so the result does not
/// depend on the language of Windows.
#[cfg(windows)]
fn restrict_to_system_and_administrators(dir: &Path) -> std::io::Result<()> {
    let system_root = std::env::var_os("SystemRoot").unwrap_or_else(|| r"C:\Windows".into());
    let icacls = Path::new(&system_root).join("System32").join("icacls.exe");
    let output = std::process::Command::new(&icacls)
        .arg(dir)
        .args([
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            "/q",
        ])
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "cannot restrict `{}` to SYSTEM and Administrators: {} exited with {}: {}",
        dir.display(),
        icacls.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim()
    )))
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never a
/// torn one: write a temporary file in the same directory (owner-only), fsync it, rename it over
/// the target, then fsync the directory so the rename itself survives a power cut.
pub(crate) fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let result = (|| {
        let mut file = open_private(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(tmp);
    }
    result
}

fn open_private(path: &Path) -> std::io::Result<fs_err::File> {
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a rename or removal in `dir` durable (Unix); a no-op where directories cannot be synced.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs_err::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether a file can be read by anyone but its owner.
pub(crate) fn readable_by_others(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs_err::metadata(path)?.permissions().mode();
        Ok((mode & 0o077 != 0).then_some(mode & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}
