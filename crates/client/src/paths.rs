//! Where the agent keeps its configuration and state on each operating system.
//!
//! The `directories` crate only knows per-user locations, so the system layout of a daemon is
//! written down here: `/etc/posture` and `/var/lib/posture` on Linux,
//! `/Library/Application Support/posture` on macOS, `%ProgramData%\posture` on Windows. An
//! explicit environment override comes first (tests, unusual installs), then systemd's
//! `ConfigurationDirectory=`/`StateDirectory=`, then the OS default. A non-root user on Unix
//! gets per-user state (`~/.local/state/posture` and friends) so `posture enroll` and
//! `posture run` can be tried without root.

use std::path::PathBuf;

use crate::env::{
    CONFIGURATION_DIRECTORY, Environment, POSTURE_CONFIG_DIR, POSTURE_STATE_DIR, STATE_DIRECTORY,
};

/// File name of the config file inside the config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// The directory holding the system config file.
pub fn system_config_dir(env: &dyn Environment) -> PathBuf {
    if let Some(dir) = env.var(POSTURE_CONFIG_DIR) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env.var(CONFIGURATION_DIRECTORY).and_then(first_of_list) {
        return dir;
    }
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/posture")
    } else if cfg!(windows) {
        program_data(env).join("posture")
    } else {
        PathBuf::from("/etc/posture")
    }
}

/// The system config file (`config.toml` in [`system_config_dir`]).
pub fn system_config_file(env: &dyn Environment) -> PathBuf {
    system_config_dir(env).join(CONFIG_FILE_NAME)
}

/// The default state directory (spool, credentials, status) when the config does not name one.
pub fn default_state_dir(env: &dyn Environment) -> PathBuf {
    if let Some(dir) = env.var(POSTURE_STATE_DIR) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env.var(STATE_DIRECTORY).and_then(first_of_list) {
        return dir;
    }
    if cfg!(windows) {
        return program_data(env).join("posture").join("state");
    }
    if !running_as_root()
        && let Some(dirs) = directories::ProjectDirs::from("dev", "posture", "posture")
    {
        return dirs
            .state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf();
    }
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/posture/state")
    } else {
        PathBuf::from("/var/lib/posture")
    }
}

/// systemd passes `StateDirectory=a b` as a colon-separated list; the first is ours.
fn first_of_list(value: String) -> Option<PathBuf> {
    value
        .split(':')
        .next()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

fn program_data(env: &dyn Environment) -> PathBuf {
    env.var("ProgramData")
        .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from)
}

/// Whether the process runs with root (Unix) rights; always true on Windows, where the agent
/// is a service.
pub fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn explicit_override_beats_systemd_directories() {
        let e = env(&[
            (POSTURE_STATE_DIR, "/srv/state"),
            (STATE_DIRECTORY, "/var/lib/posture"),
        ]);
        assert_eq!(default_state_dir(&e), PathBuf::from("/srv/state"));
    }

    #[test]
    fn systemd_state_directory_list_uses_its_first_entry() {
        let e = env(&[(STATE_DIRECTORY, "/var/lib/posture:/var/lib/other")]);
        assert_eq!(default_state_dir(&e), PathBuf::from("/var/lib/posture"));
    }

    #[test]
    fn config_file_lives_in_the_config_dir() {
        let e = env(&[(POSTURE_CONFIG_DIR, "/opt/posture/etc")]);
        assert_eq!(
            system_config_file(&e),
            PathBuf::from("/opt/posture/etc/config.toml")
        );
    }
}
