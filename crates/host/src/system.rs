//! The running machine.

use crate::{CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError};

/// The machine the agent runs on: paths are read as they are, commands are run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemHost;

impl Host for SystemHost {
    fn platform(&self) -> Platform {
        Platform::current()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        fs_err::read(path).map_err(|e| ReadError::from_io(&e))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        list(std::path::Path::new(path))
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        link(std::path::Path::new(path))
    }

    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        crate::command::run(command)
    }
}

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
