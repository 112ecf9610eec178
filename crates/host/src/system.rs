//! The running machine.

#[cfg(unix)]
use std::sync::Arc;

use crate::{CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError, ReadLimits};

/// The machine the agent runs on: paths are read where they are, through the guarded reader on
/// Unix (regular files only, a size cap, the home rules), and commands are run.
#[derive(Debug, Clone)]
pub struct SystemHost {
    limits: ReadLimits,
    #[cfg(unix)]
    guard: Arc<crate::guarded::Guard>,
}

impl Default for SystemHost {
    fn default() -> Self {
        Self::new(ReadLimits::default())
    }
}

impl SystemHost {
    /// The running machine, read within `limits`.
    #[must_use]
    pub fn new(limits: ReadLimits) -> Self {
        Self {
            limits,
            #[cfg(unix)]
            guard: Arc::new(crate::guarded::Guard::system(limits)),
        }
    }

    /// The bounds reads are held to.
    #[must_use]
    pub fn limits(&self) -> ReadLimits {
        self.limits
    }
}

impl Host for SystemHost {
    fn platform(&self) -> Platform {
        Platform::current()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        #[cfg(unix)]
        {
            self.guard.read(path)
        }
        #[cfg(not(unix))]
        {
            read_capped(std::path::Path::new(path), self.limits)
        }
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        #[cfg(unix)]
        {
            self.guard.list_dir(path)
        }
        #[cfg(not(unix))]
        {
            list(std::path::Path::new(path))
        }
    }

    #[cfg(unix)]
    fn metadata(&self, path: &str) -> Result<crate::Metadata, ReadError> {
        self.guard.metadata(path)
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        #[cfg(unix)]
        {
            self.guard.read_link(path)
        }
        #[cfg(not(unix))]
        {
            link(std::path::Path::new(path))
        }
    }

    #[cfg(unix)]
    fn read_extracted(&self, path: &str, extract: crate::Extract<'_>) -> Result<String, ReadError> {
        // Extracted files keep only a few facts, so their own cap applies, not the settings
        // files' one.
        let guard = &self.guard;
        extract(
            &|p: &str, max: u64, sink: &mut dyn std::io::Write| guard.copy_capped(p, max, sink),
            path,
        )
    }

    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        crate::command::run(command)
    }
}

/// Reads a regular file of at most `limits.max_file_bytes` (platforms without the guarded
/// reader; no probe reads files there today).
#[cfg(not(unix))]
pub(crate) fn read_capped(
    path: &std::path::Path,
    limits: ReadLimits,
) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    let file = fs_err::File::open(path).map_err(|e| ReadError::from_io(&e))?;
    let meta = file.metadata().map_err(|e| ReadError::from_io(&e))?;
    if !meta.is_file() {
        return Err(ReadError::Refused("not a regular file".to_owned()));
    }
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::from_io(&e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ReadError::Refused(format!(
            "larger than {} bytes, the most posture reads of one file (policy limits.max_file_bytes)",
            limits.max_file_bytes
        )));
    }
    Ok(bytes)
}

#[cfg(not(unix))]
pub(crate) fn list(path: &std::path::Path) -> Result<Vec<String>, ReadError> {
    let entries = fs_err::read_dir(path).map_err(|e| ReadError::from_io(&e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ReadError::from_io(&e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

#[cfg(not(unix))]
pub(crate) fn link(path: &std::path::Path) -> Result<String, ReadError> {
    match fs_err::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_symlink() => return Err(ReadError::NotALink),
        Ok(_) => {}
        Err(e) => return Err(ReadError::from_io(&e)),
    }
    fs_err::read_link(path)
        .map(|t| t.to_string_lossy().into_owned())
        .map_err(|e| ReadError::from_io(&e))
}
