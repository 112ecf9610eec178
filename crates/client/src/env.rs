//! Every environment variable the agent reads, declared once.
//!
//! Each `POSTURE_*` configuration variable overrides the matching key of the config file (see
//! [`crate::config`]); the rest point the agent at other directories or carry a secret that must
//! not be typed on a command line.

/// Path of a config file read after the system one (same as `--config`).
pub const POSTURE_CONFIG: &str = "POSTURE_CONFIG";
/// Directory holding the system config file, instead of the OS default (`/etc/posture` on Linux).
pub const POSTURE_CONFIG_DIR: &str = "POSTURE_CONFIG_DIR";
/// Directory for the spool, credentials and status, instead of the OS default
/// (`/var/lib/posture` on Linux as root). Config key `state_dir`.
pub const POSTURE_STATE_DIR: &str = "POSTURE_STATE_DIR";
/// Base URL of the endpoint reports go to. Config key `endpoint`.
pub const POSTURE_ENDPOINT: &str = "POSTURE_ENDPOINT";
/// Time between scheduled checks, e.g. `15m`. Config key `interval`.
pub const POSTURE_INTERVAL: &str = "POSTURE_INTERVAL";
/// Time between check-ins for check-now requests, e.g. `60s`. Config key `checkin_interval`.
pub const POSTURE_CHECKIN_INTERVAL: &str = "POSTURE_CHECKIN_INTERVAL";
/// `embedded` or the path of a policy TOML file. Config key `policy`.
pub const POSTURE_POLICY: &str = "POSTURE_POLICY";
/// Most reports kept in the spool. Config key `spool_max_reports`.
pub const POSTURE_SPOOL_MAX_REPORTS: &str = "POSTURE_SPOOL_MAX_REPORTS";
/// Most bytes kept in the spool, e.g. `64MiB`. Config key `spool_max_bytes`.
pub const POSTURE_SPOOL_MAX_BYTES: &str = "POSTURE_SPOOL_MAX_BYTES";
/// Log filter, e.g. `info` or `posture_client=debug`. Config key `log_level`.
pub const POSTURE_LOG_LEVEL: &str = "POSTURE_LOG_LEVEL";
/// `auto`, `human`, `json` or `journald`. Config key `log_format`.
pub const POSTURE_LOG_FORMAT: &str = "POSTURE_LOG_FORMAT";
/// PEM file with extra CA certificates trusted for the endpoint. Config key `ca_cert`.
pub const POSTURE_CA_CERT: &str = "POSTURE_CA_CERT";
/// Comma-separated SHA-256 pins of the endpoint's public key. Config key `pinned_spki_sha256`.
pub const POSTURE_PINNED_SPKI_SHA256: &str = "POSTURE_PINNED_SPKI_SHA256";
/// Time limit of one HTTP request, e.g. `30s`. Config key `request_timeout`.
pub const POSTURE_REQUEST_TIMEOUT: &str = "POSTURE_REQUEST_TIMEOUT";
/// Longest wait between two delivery retries, e.g. `5m`. Config key `retry_max_delay`.
pub const POSTURE_RETRY_MAX_DELAY: &str = "POSTURE_RETRY_MAX_DELAY";
/// `true` (default) or `false`: whether the daemon watches what the last check read and
/// re-checks on change, or only checks on the schedule. Config key `watch`.
pub const POSTURE_WATCH: &str = "POSTURE_WATCH";
/// Time from a watched change to the re-check, e.g. `2s`. Config key `watch_debounce`.
pub const POSTURE_WATCH_DEBOUNCE: &str = "POSTURE_WATCH_DEBOUNCE";
/// Shortest time between a check and a re-check caused by a change, e.g. `10s`. Config key
/// `watch_min_gap`.
pub const POSTURE_WATCH_MIN_GAP: &str = "POSTURE_WATCH_MIN_GAP";
/// The enrollment secret for `posture enroll`, so it stays out of shell history and `ps`.
pub const POSTURE_ENROLL_SECRET: &str = "POSTURE_ENROLL_SECRET";
/// A static bearer token for webhook mode (`posture enroll --webhook`).
pub const POSTURE_WEBHOOK_TOKEN: &str = "POSTURE_WEBHOOK_TOKEN";
/// Set by systemd (`StateDirectory=`): the service's state directory.
pub const STATE_DIRECTORY: &str = "STATE_DIRECTORY";
/// Set by systemd (`ConfigurationDirectory=`): the service's configuration directory.
pub const CONFIGURATION_DIRECTORY: &str = "CONFIGURATION_DIRECTORY";
/// Set by systemd when stderr is connected to the journal.
pub const JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// The configuration variables, in the order `posture config` prints them.
pub const CONFIG_VARS: &[&str] = &[
    POSTURE_ENDPOINT,
    POSTURE_INTERVAL,
    POSTURE_CHECKIN_INTERVAL,
    POSTURE_POLICY,
    POSTURE_STATE_DIR,
    POSTURE_SPOOL_MAX_REPORTS,
    POSTURE_SPOOL_MAX_BYTES,
    POSTURE_LOG_LEVEL,
    POSTURE_LOG_FORMAT,
    POSTURE_CA_CERT,
    POSTURE_PINNED_SPKI_SHA256,
    POSTURE_REQUEST_TIMEOUT,
    POSTURE_RETRY_MAX_DELAY,
    POSTURE_WATCH,
    POSTURE_WATCH_DEBOUNCE,
    POSTURE_WATCH_MIN_GAP,
];

/// A view of the process environment that tests can replace.
pub trait Environment {
    /// The value of a variable, when it is set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}
