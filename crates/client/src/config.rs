//! The agent's configuration: TOML files, environment and flags, with where each value came from.
//!
//! Precedence, lowest first: built-in default < system file ([`crate::paths::system_config_file`])
//! < the file named by `--config` or `POSTURE_CONFIG` < `POSTURE_*` variables < command-line
//! flags. Every value remembers its [`Origin`] so `posture config` can say why it is what it is,
//! and every error names the file, line and key (or the variable or flag) at fault.
//!
//! Secrets never live here: the device token is in the secret store
//! ([`crate::credentials`]), and the config file has no key that could hold one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use crate::env::{self, Environment};
use crate::paths;

/// Default time between scheduled checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Default time between check-ins for check-now requests.
pub const DEFAULT_CHECKIN_INTERVAL: Duration = Duration::from_secs(60);
/// Default bound on the number of spooled reports.
pub const DEFAULT_SPOOL_MAX_REPORTS: u64 = 1000;
/// Default bound on the bytes of spooled reports.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default time limit of one HTTP request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest wait between two delivery retries.
pub const DEFAULT_RETRY_MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// Shortest duration any setting accepts: less would make the agent busy-loop or give up at once.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// Longest duration any setting accepts: 30 days. Longer ones are mistakes (and the scheduler's
/// arithmetic on them could overflow).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// Value of `policy` meaning the Device Policy built into the binary.
pub const EMBEDDED_POLICY: &str = "embedded";

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A config file, at a line.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the value.
        line: usize,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
    /// The endpoint this device enrolled with (kept with the credentials), used when none is
    /// configured; the text says where the credentials are.
    Enrolled(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
            Self::Env(name) => write!(f, "env {name}"),
            Self::Flag(name) => write!(f, "flag {name}"),
            Self::Enrolled(store) => write!(f, "enrollment ({store})"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The effective value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Sourced<T> {
    fn default(value: T) -> Self {
        Self {
            value,
            origin: Origin::Default,
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// journald when run under systemd, else human-readable text on stderr.
    Auto,
    /// Human-readable text on stderr (coloured on a terminal).
    Human,
    /// One JSON object per line on stderr.
    Json,
    /// The systemd journal, with structured fields.
    Journald,
}

impl LogFormat {
    /// The word used in config files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Human => "human",
            Self::Json => "json",
            Self::Journald => "journald",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            "journald" => Ok(Self::Journald),
            other => Err(format!(
                "unknown log format `{other}`, expected one of `auto`, `human`, `json`, `journald`"
            )),
        }
    }
}

/// A validated endpoint base URL: HTTPS, or plain HTTP on a loopback address only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    /// Validates a base URL as `docs/protocol.md` requires.
    ///
    /// # Errors
    /// When it is not a URL, has a query or fragment, or is plain HTTP to a non-loopback host.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(text.trim())
            .map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{text}`: an endpoint is a base URL without query or fragment"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{text}`: credentials do not belong in the endpoint URL; use `posture enroll`"
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => {
                return Err(format!(
                    "`{text}`: plain http is only allowed to 127.0.0.1, localhost or [::1]; use https"
                ));
            }
            other => return Err(format!("`{text}`: unsupported scheme `{other}`, use https")),
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The base URL, without a trailing slash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full URL of an API path such as `/api/v1/reports`.
    #[must_use]
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A SHA-256 pin of a server's SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin(pub [u8; 32]);

impl SpkiPin {
    /// Parses `sha256/BASE64`, bare base64 or 64 hex digits.
    ///
    /// # Errors
    /// When the text is none of those, or not 32 bytes long.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let t = t.strip_prefix("sha256/").unwrap_or(t);
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|_| {
                    format!("`{text}` is not a SHA-256 pin (`sha256/BASE64` or 64 hex digits)")
                })?
        };
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("`{text}` is not 32 bytes long, so not a SHA-256 pin"))?;
        Ok(Self(arr))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sha256/{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the endpoint (`https://…`). `None` until configured.
    pub endpoint: Sourced<Option<Endpoint>>,
    /// Time between scheduled checks (±10% jitter is added by the scheduler).
    pub interval: Sourced<Duration>,
    /// Time between check-ins for check-now requests.
    pub checkin_interval: Sourced<Duration>,
    /// `embedded` or the path of a policy file.
    pub policy: Sourced<String>,
    /// Directory of the spool, credentials (Linux) and status.
    pub state_dir: Sourced<PathBuf>,
    /// Most reports kept in the spool.
    pub spool_max_reports: Sourced<u64>,
    /// Most bytes kept in the spool.
    pub spool_max_bytes: Sourced<u64>,
    /// Log filter (`info`, `debug`, `posture_client=trace`, …).
    pub log_level: Sourced<String>,
    /// How logs are written.
    pub log_format: Sourced<LogFormat>,
    /// Extra CA certificates (PEM) trusted for the endpoint, on top of the OS roots.
    pub ca_cert: Sourced<Option<PathBuf>>,
    /// Pins of the endpoint's public key; when not empty, the server must present one of them.
    pub pinned_spki_sha256: Sourced<Vec<SpkiPin>>,
    /// Time limit of one HTTP request.
    pub request_timeout: Sourced<Duration>,
    /// Longest wait between two delivery retries.
    pub retry_max_delay: Sourced<Duration>,
    /// Live posture: whether the daemon watches what the last check read (on platforms that
    /// can); `false` keeps the schedule alone.
    pub watch: Sourced<bool>,
    /// Live posture: time from a watched change to the re-check.
    pub watch_debounce: Sourced<Duration>,
    /// Live posture: shortest time between a check and a re-check caused by a change.
    pub watch_min_gap: Sourced<Duration>,
    /// The config files that were read, in order.
    pub files: Vec<PathBuf>,
}

/// Every key of the config file, in the order `posture config` prints them.
pub const KEYS: &[&str] = &[
    "endpoint",
    "interval",
    "checkin_interval",
    "policy",
    "state_dir",
    "spool_max_reports",
    "spool_max_bytes",
    "log_level",
    "log_format",
    "ca_cert",
    "pinned_spki_sha256",
    "request_timeout",
    "retry_max_delay",
    "watch",
    "watch_debounce",
    "watch_min_gap",
];

/// A value given on the command line.
#[derive(Debug, Clone)]
pub struct FlagValue {
    /// The config key it sets.
    pub key: &'static str,
    /// The flag as the user typed it, e.g. `--endpoint`.
    pub flag: &'static str,
    /// The value.
    pub value: String,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A config file is not valid TOML, has an unknown key, or a value of the wrong kind.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value (from a file, a variable or a flag) is not acceptable for its key.
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// A raw value before it is checked against its key.
enum Raw<'a> {
    Toml(&'a toml::Value),
    Text(&'a str),
}

impl Raw<'_> {
    fn text(&self) -> Result<String, String> {
        match self {
            Raw::Text(t) => Ok((*t).to_owned()),
            Raw::Toml(toml::Value::String(s)) => Ok(s.clone()),
            Raw::Toml(v) => Err(format!("expected a string, found {}", v.type_str())),
        }
    }

    fn count(&self) -> Result<u64, String> {
        match self {
            Raw::Toml(toml::Value::Integer(i)) => {
                u64::try_from(*i).map_err(|_| format!("expected a positive number, found {i}"))
            }
            Raw::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("expected a positive number, found `{t}`")),
            Raw::Toml(v) => Err(format!("expected a number, found {}", v.type_str())),
        }
    }

    /// `true` or `false` (a variable or flag may also say `1`/`0`, `yes`/`no`, `on`/`off`).
    fn boolean(&self) -> Result<bool, String> {
        match self {
            Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
            Raw::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(format!("expected true or false, found `{t}`")),
            },
            Raw::Toml(v) => Err(format!("expected true or false, found {}", v.type_str())),
        }
    }

    /// A duration between [`MIN_DURATION`] and [`MAX_DURATION`].
    fn duration(&self) -> Result<Duration, String> {
        self.duration_any().and_then(check_duration_bounds)
    }

    /// A duration without the general bounds, for a setting that checks its own (the live
    /// debounce may be shorter than a second).
    fn duration_any(&self) -> Result<Duration, String> {
        let d = match self {
            Raw::Toml(toml::Value::Integer(i)) => u64::try_from(*i)
                .map(Duration::from_secs)
                .map_err(|_| format!("expected a positive number of seconds, found {i}"))?,
            Raw::Toml(toml::Value::String(s)) => parse_duration(s)?,
            Raw::Text(t) => parse_duration(t)?,
            Raw::Toml(v) => {
                return Err(format!(
                    "expected a duration such as \"15m\", found {}",
                    v.type_str()
                ));
            }
        };
        Ok(d)
    }

    fn bytes(&self) -> Result<u64, String> {
        match self {
            Raw::Toml(toml::Value::Integer(_)) => self.count(),
            Raw::Toml(toml::Value::String(s)) => parse_bytes(s),
            Raw::Text(t) => parse_bytes(t),
            Raw::Toml(v) => Err(format!(
                "expected a size such as \"64MiB\", found {}",
                v.type_str()
            )),
        }
    }

    fn list(&self) -> Result<Vec<String>, String> {
        match self {
            Raw::Text(t) => Ok(t
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Raw::Toml(toml::Value::String(s)) => Ok(vec![s.clone()]),
            Raw::Toml(toml::Value::Array(items)) => items
                .iter()
                .map(|v| Raw::Toml(v).text())
                .collect::<Result<_, _>>(),
            Raw::Toml(v) => Err(format!(
                "expected a string or a list of strings, found {}",
                v.type_str()
            )),
        }
    }
}

/// Parses `90`, `90s`, `15m`, `1h30m`, `500ms`, `1d` into a duration.
///
/// # Errors
/// When the text is not a sequence of numbers with units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration such as \"30s\", \"15m\" or \"1h\"");
    if t.is_empty() {
        return Err(bad());
    }
    // Digits only: a number too big for u64 saturates, so it is refused as out of range rather
    // than as "not a duration".
    let number = |digits: &str| digits.parse::<u64>().unwrap_or(u64::MAX);
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Duration::from_secs(number(t)));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n = number(&rest[..digits]);
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Accepts a duration between [`MIN_DURATION`] and [`MAX_DURATION`], both included.
///
/// # Errors
/// When it is shorter or longer, saying the range.
pub fn check_duration_bounds(d: Duration) -> Result<Duration, String> {
    if d < MIN_DURATION || d > MAX_DURATION {
        return Err(format!(
            "{} is out of range: a duration must be between {} and {} (30 days)",
            describe_duration(d),
            format_duration(MIN_DURATION),
            format_duration(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// A duration as people read it in an error message; huge ones in days rather than a
/// 20-digit number of seconds.
fn describe_duration(d: Duration) -> String {
    if d.is_zero() {
        "a duration of zero".to_owned()
    } else if d > MAX_DURATION {
        format!("{} days", d.as_secs() / 86_400)
    } else {
        format!("`{}`", format_duration(d))
    }
}

/// Formats a duration the way [`parse_duration`] reads it.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Parses `1048576`, `512KiB`, `64MiB`, `1GiB`, `10MB` into bytes.
///
/// # Errors
/// When the text is not a number with an optional unit.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let bad = || format!("`{text}` is not a size such as \"512KiB\" or \"64MiB\"");
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    let mult: u64 = match t[split..].trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

impl Config {
    /// The configuration with every value at its default.
    pub fn defaults(env: &dyn Environment) -> Self {
        Self {
            endpoint: Sourced::default(None),
            interval: Sourced::default(DEFAULT_INTERVAL),
            checkin_interval: Sourced::default(DEFAULT_CHECKIN_INTERVAL),
            policy: Sourced::default(EMBEDDED_POLICY.to_owned()),
            state_dir: Sourced::default(paths::default_state_dir(env)),
            spool_max_reports: Sourced::default(DEFAULT_SPOOL_MAX_REPORTS),
            spool_max_bytes: Sourced::default(DEFAULT_SPOOL_MAX_BYTES),
            log_level: Sourced::default("info".to_owned()),
            log_format: Sourced::default(LogFormat::Auto),
            ca_cert: Sourced::default(None),
            pinned_spki_sha256: Sourced::default(Vec::new()),
            request_timeout: Sourced::default(DEFAULT_REQUEST_TIMEOUT),
            retry_max_delay: Sourced::default(DEFAULT_RETRY_MAX_DELAY),
            watch: Sourced::default(true),
            watch_debounce: Sourced::default(crate::live::plan::DEFAULT_DEBOUNCE),
            watch_min_gap: Sourced::default(crate::live::plan::DEFAULT_MIN_GAP),
            files: Vec::new(),
        }
    }

    /// Loads the effective configuration: defaults, the system file (when it exists), the file
    /// named by `config_file` or `POSTURE_CONFIG` (which must exist), `POSTURE_*` variables and
    /// flags.
    ///
    /// # Errors
    /// The first file that cannot be read or parsed, or the first value that is not acceptable.
    pub fn load(
        env: &dyn Environment,
        config_file: Option<&Path>,
        flags: &[FlagValue],
    ) -> Result<Self, ConfigError> {
        let mut config = Self::defaults(env);
        let system = paths::system_config_file(env);
        match fs_err::read_to_string(&system) {
            Ok(text) => config.apply_file(&system, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ConfigError::Read {
                    path: system,
                    source: e,
                });
            }
        }
        let explicit = config_file
            .map(Path::to_path_buf)
            .or_else(|| env.var(env::POSTURE_CONFIG).map(PathBuf::from));
        if let Some(path) = explicit {
            let text = fs_err::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            config.apply_file(&path, &text)?;
        }
        for (key, var) in KEYS.iter().zip(env::CONFIG_VARS) {
            if let Some(value) = env.var(var) {
                config.set(key, &Raw::Text(&value), Origin::Env(var))?;
            }
        }
        for flag in flags {
            config.set(flag.key, &Raw::Text(&flag.value), Origin::Flag(flag.flag))?;
        }
        Ok(config)
    }

    /// When no endpoint is configured, takes the one this device enrolled with, as `posture run`
    /// does; `posture config` and `posture status` show the same. `store` says where the
    /// credentials are.
    ///
    /// # Errors
    /// When the enrolled endpoint is not a valid endpoint URL.
    pub fn fall_back_to_enrolled_endpoint(
        &mut self,
        enrolled: &str,
        store: &str,
    ) -> Result<(), ConfigError> {
        if self.endpoint.value.is_some() {
            return Ok(());
        }
        let origin = Origin::Enrolled(store.to_owned());
        let endpoint = Endpoint::parse(enrolled).map_err(|message| ConfigError::Invalid {
            origin: origin.clone(),
            key: "endpoint".to_owned(),
            message,
        })?;
        self.endpoint = Sourced {
            value: Some(endpoint),
            origin,
        };
        Ok(())
    }

    /// Applies one config file's text on top of this configuration.
    ///
    /// # Errors
    /// A TOML syntax error, an unknown key or an unacceptable value, with its line.
    pub fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| {
                let (line, column) = e
                    .span()
                    .map_or((1, 1), |span| line_and_column(text, span.start));
                ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: e.message().trim().to_owned(),
                }
            })?;
        for (key, value) in &table {
            let (line, column) = line_and_column(text, key.span().start);
            if !KEYS.contains(&key.get_ref().as_str()) {
                return Err(ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: format!(
                        "unknown key `{}`; the keys are {}",
                        key.get_ref(),
                        KEYS.join(", ")
                    ),
                });
            }
            let (vline, _) = line_and_column(text, value.span().start);
            self.set(
                key.get_ref(),
                &Raw::Toml(value.get_ref()),
                Origin::File {
                    path: path.to_path_buf(),
                    line: vline,
                },
            )?;
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    fn set(&mut self, key: &str, raw: &Raw<'_>, origin: Origin) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.clone(),
            key: key.to_owned(),
            message,
        };
        macro_rules! put {
            ($field:ident, $value:expr) => {{
                let value = $value.map_err(invalid)?;
                self.$field = Sourced {
                    value,
                    origin: origin.clone(),
                };
            }};
        }
        match key {
            "endpoint" => put!(
                endpoint,
                raw.text().and_then(|t| Endpoint::parse(&t)).map(Some)
            ),
            "interval" => put!(interval, raw.duration()),
            "checkin_interval" => put!(checkin_interval, raw.duration()),
            "policy" => put!(
                policy,
                raw.text().and_then(|t| if t.trim().is_empty() {
                    Err("expected `embedded` or a file path".to_owned())
                } else {
                    Ok(t)
                })
            ),
            "state_dir" => put!(state_dir, raw.text().map(PathBuf::from)),
            "spool_max_reports" => put!(
                spool_max_reports,
                raw.count().and_then(|n| if n == 0 {
                    Err("the spool must hold at least one report".to_owned())
                } else {
                    Ok(n)
                })
            ),
            "spool_max_bytes" => put!(
                spool_max_bytes,
                raw.bytes().and_then(|n| if n < 65536 {
                    Err("the spool needs at least 64KiB".to_owned())
                } else {
                    Ok(n)
                })
            ),
            "log_level" => put!(log_level, raw.text()),
            "log_format" => put!(log_format, raw.text().and_then(|t| LogFormat::parse(&t))),
            "ca_cert" => put!(ca_cert, raw.text().map(|t| Some(PathBuf::from(t)))),
            "pinned_spki_sha256" => put!(
                pinned_spki_sha256,
                raw.list()
                    .and_then(|l| l.iter().map(|p| SpkiPin::parse(p)).collect())
            ),
            "request_timeout" => put!(request_timeout, raw.duration()),
            "retry_max_delay" => put!(retry_max_delay, raw.duration()),
            "watch" => put!(watch, raw.boolean()),
            "watch_debounce" => put!(
                watch_debounce,
                raw.duration_any()
                    .and_then(|d| within(d, crate::live::plan::DEBOUNCE_BOUNDS))
            ),
            "watch_min_gap" => put!(
                watch_min_gap,
                raw.duration()
                    .and_then(|d| within(d, crate::live::plan::MIN_GAP_BOUNDS))
            ),
            other => {
                return Err(invalid(format!(
                    "unknown key `{other}`; the keys are {}",
                    KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, each line followed by where its value came from.
    #[must_use]
    pub fn render(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let mut row = |key: &str, value: Option<String>, origin: &Origin| {
            let line = match value {
                Some(v) => format!("{key} = {v}"),
                None => format!("# {key} is not set"),
            };
            rows.push((line, origin.to_string()));
        };
        row(
            "endpoint",
            self.endpoint.value.as_ref().map(|e| q(e.as_str())),
            &self.endpoint.origin,
        );
        row(
            "interval",
            Some(q(&format_duration(self.interval.value))),
            &self.interval.origin,
        );
        row(
            "checkin_interval",
            Some(q(&format_duration(self.checkin_interval.value))),
            &self.checkin_interval.origin,
        );
        row("policy", Some(q(&self.policy.value)), &self.policy.origin);
        row(
            "state_dir",
            Some(q(&self.state_dir.value.display().to_string())),
            &self.state_dir.origin,
        );
        row(
            "spool_max_reports",
            Some(self.spool_max_reports.value.to_string()),
            &self.spool_max_reports.origin,
        );
        row(
            "spool_max_bytes",
            Some(self.spool_max_bytes.value.to_string()),
            &self.spool_max_bytes.origin,
        );
        row(
            "log_level",
            Some(q(&self.log_level.value)),
            &self.log_level.origin,
        );
        row(
            "log_format",
            Some(q(self.log_format.value.as_str())),
            &self.log_format.origin,
        );
        row(
            "ca_cert",
            self.ca_cert
                .value
                .as_ref()
                .map(|p| q(&p.display().to_string())),
            &self.ca_cert.origin,
        );
        let pins = &self.pinned_spki_sha256.value;
        row(
            "pinned_spki_sha256",
            (!pins.is_empty()).then(|| {
                let items: Vec<String> = pins.iter().map(|p| q(&p.to_string())).collect();
                format!("[{}]", items.join(", "))
            }),
            &self.pinned_spki_sha256.origin,
        );
        row(
            "request_timeout",
            Some(q(&format_duration(self.request_timeout.value))),
            &self.request_timeout.origin,
        );
        row(
            "retry_max_delay",
            Some(q(&format_duration(self.retry_max_delay.value))),
            &self.retry_max_delay.origin,
        );
        row(
            "watch",
            Some(self.watch.value.to_string()),
            &self.watch.origin,
        );
        row(
            "watch_debounce",
            Some(q(&format_duration(self.watch_debounce.value))),
            &self.watch_debounce.origin,
        );
        row(
            "watch_min_gap",
            Some(q(&format_duration(self.watch_min_gap.value))),
            &self.watch_min_gap.origin,
        );
        let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (line, origin) in rows {
            out.push_str(&format!("{line:<width$}  # {origin}\n"));
        }
        out
    }
}

/// Accepts a duration within `(low, high)`, inclusive.
fn within(d: Duration, (low, high): (Duration, Duration)) -> Result<Duration, String> {
    if d < low || d > high {
        return Err(format!(
            "must be between {} and {}",
            format_duration(low),
            format_duration(high)
        ));
    }
    Ok(d)
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.entry(env::POSTURE_CONFIG_DIR.to_owned())
            .or_insert_with(|| "/nonexistent/posture-test".to_owned());
        map.entry(env::POSTURE_STATE_DIR.to_owned())
            .or_insert_with(|| "/nonexistent/posture-state".to_owned());
        map
    }

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::defaults(&env(&[]));
        c.apply_file(Path::new("config.toml"), text).map(|()| c)
    }

    #[test]
    fn defaults_are_fifteen_minutes_and_the_embedded_policy() {
        let c = Config::load(&env(&[]), None, &[]).unwrap();
        assert_eq!(c.interval.value, DEFAULT_INTERVAL);
        assert_eq!(c.policy.value, "embedded");
        assert_eq!(c.endpoint.value, None);
        assert_eq!(c.interval.origin, Origin::Default);
    }

    #[test]
    fn a_file_value_remembers_its_line() {
        let c = load_text(
            "# comment\nendpoint = \"https://posture.example.com/\"\ninterval = \"5m\"\n",
        )
        .unwrap();
        assert_eq!(
            c.endpoint.value.unwrap().as_str(),
            "https://posture.example.com"
        );
        assert_eq!(
            c.interval.origin,
            Origin::File {
                path: "config.toml".into(),
                line: 3
            }
        );
        assert_eq!(c.interval.value, Duration::from_secs(300));
    }

    #[test]
    fn an_unknown_key_is_reported_with_its_line_and_the_known_keys() {
        let err = load_text("interval = \"5m\"\n\nendpiont = \"https://x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("config.toml:3:1: unknown key `endpiont`"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_and_key() {
        let err = load_text("endpoint = \"https://x.example\"\ninterval = true\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.toml:2: `interval`: expected a duration such as \"15m\", found boolean"
        );
    }

    #[test]
    fn a_toml_syntax_error_is_line_accurate() {
        let err = load_text("interval = \"5m\"\nendpoint = \n").unwrap_err();
        let ConfigError::Syntax { line, .. } = err else {
            panic!("expected a syntax error, got {err}");
        };
        assert_eq!(line, 2);
    }

    #[test]
    fn env_beats_file_and_flags_beat_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        fs_err::write(&file, "interval = \"5m\"\nspool_max_reports = 10\n").unwrap();
        let e = env(&[
            (env::POSTURE_INTERVAL, "10m"),
            (env::POSTURE_SPOOL_MAX_REPORTS, "20"),
        ]);
        let flags = [FlagValue {
            key: "interval",
            flag: "--interval",
            value: "1m".into(),
        }];
        let c = Config::load(&e, Some(&file), &flags).unwrap();
        assert_eq!(c.interval.value, Duration::from_secs(60));
        assert_eq!(c.interval.origin, Origin::Flag("--interval"));
        assert_eq!(c.spool_max_reports.value, 20);
        assert_eq!(
            c.spool_max_reports.origin,
            Origin::Env("POSTURE_SPOOL_MAX_REPORTS")
        );
        let rendered = c.render();
        assert!(rendered.contains("interval = \"1m\""), "{rendered}");
        assert!(rendered.contains("# flag --interval"), "{rendered}");
        assert!(
            rendered.contains("# env POSTURE_SPOOL_MAX_REPORTS"),
            "{rendered}"
        );
    }

    #[test]
    fn a_bad_env_value_names_the_variable() {
        let e = env(&[(env::POSTURE_INTERVAL, "soon")]);
        let err = Config::load(&e, None, &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("env POSTURE_INTERVAL: `interval`:"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        let err = Config::load(&env(&[]), Some(Path::new("/nonexistent/c.toml")), &[]);
        assert!(matches!(err, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        assert!(Endpoint::parse("http://posture.example.com").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:8080").is_ok());
        assert!(Endpoint::parse("http://localhost:8080/").is_ok());
        assert!(Endpoint::parse("http://[::1]:8080").is_ok());
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("https://user:pw@x.example").is_err());
    }

    #[test]
    fn durations_and_sizes_parse_with_units() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5 minutes").is_err());
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("10MB").unwrap(), 10_000_000);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    /// Every duration key, and the variable and flag name that set it.
    const DURATION_KEYS: [&str; 4] = [
        "interval",
        "checkin_interval",
        "request_timeout",
        "retry_max_delay",
    ];

    #[test]
    fn a_duration_past_thirty_days_is_refused_from_a_file_a_variable_and_a_flag() {
        let huge = "18446744073709551615";
        for key in DURATION_KEYS {
            // TOML integers stop at i64::MAX; the string form takes any number.
            let err = load_text(&format!("{key} = {}\n", i64::MAX)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "config.toml:1: `{key}`: 106751991167300 days is out of range: a duration must be between 1s and 30d (30 days)"
                )
            );
            for text in [huge.to_owned(), format!("{huge}d")] {
                let err = load_text(&format!("{key} = \"{text}\"\n")).unwrap_err();
                assert!(
                    err.to_string().starts_with(&format!(
                        "config.toml:1: `{key}`: 213503982334601 days is out of range"
                    )),
                    "{err}"
                );
            }

            let var = format!("POSTURE_{}", key.to_uppercase());
            let e = env(&[(var.as_str(), huge)]);
            let err = Config::load(&e, None, &[]).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "env {var}: `{key}`: 213503982334601 days is out of range"
                )),
                "{err}"
            );
        }
        let flags = [FlagValue {
            key: "interval",
            flag: "--interval",
            value: "31d".into(),
        }];
        let err = Config::load(&env(&[]), None, &flags).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flag --interval: `interval`: 31 days is out of range: a duration must be between 1s and 30d (30 days)"
        );
    }

    #[test]
    fn the_duration_bounds_are_inclusive_and_sub_second_values_are_refused() {
        for key in DURATION_KEYS {
            let c = load_text(&format!("{key} = \"1s\"\n")).unwrap();
            let c2 = load_text(&format!("{key} = \"30d\"\n")).unwrap();
            let (low, high) = match key {
                "interval" => (c.interval.value, c2.interval.value),
                "checkin_interval" => (c.checkin_interval.value, c2.checkin_interval.value),
                "request_timeout" => (c.request_timeout.value, c2.request_timeout.value),
                _ => (c.retry_max_delay.value, c2.retry_max_delay.value),
            };
            assert_eq!((low, high), (MIN_DURATION, MAX_DURATION));
            for bad in ["\"999ms\"", "0", "\"0s\"", "\"720h1s\""] {
                let err = load_text(&format!("{key} = {bad}\n")).unwrap_err();
                assert!(err.to_string().contains("out of range"), "{bad}: {err}");
            }
        }
        assert_eq!(format_duration(MAX_DURATION), "30d");
    }

    proptest::proptest! {
        #[test]
        fn parse_duration_never_panics(text in ".{0,40}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn parse_duration_never_panics_on_digits_and_units(text in "[0-9]{0,25}(ms|s|m|min|h|d|x)?([0-9]{0,25}(ms|s|m|h|d))*") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn a_duration_setting_is_in_bounds_or_an_error_from_every_source(
            text in "[0-9]{1,25}(ms|s|m|h|d)?",
            key_index in 0usize..4,
        ) {
            let key = DURATION_KEYS[key_index];
            let var = format!("POSTURE_{}", key.to_uppercase());
            let from_env = Config::load(&env(&[(var.as_str(), text.as_str())]), None, &[]);
            let from_file = load_text(&format!("{key} = \"{text}\"\n"));
            for loaded in [from_env, from_file] {
                match loaded {
                    Ok(c) => {
                        let d = match key {
                            "interval" => c.interval.value,
                            "checkin_interval" => c.checkin_interval.value,
                            "request_timeout" => c.request_timeout.value,
                            _ => c.retry_max_delay.value,
                        };
                        proptest::prop_assert!((MIN_DURATION..=MAX_DURATION).contains(&d));
                        // What `posture config` prints reads back as the same value.
                        proptest::prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
                    }
                    Err(e) => proptest::prop_assert!(
                        e.to_string().contains("out of range"),
                        "{}", e
                    ),
                }
            }
        }

        #[test]
        fn an_integer_in_the_file_is_in_bounds_or_an_error(n in proptest::num::i64::ANY) {
            match load_text(&format!("interval = {n}\n")) {
                Ok(c) => proptest::prop_assert!(
                    (MIN_DURATION..=MAX_DURATION).contains(&c.interval.value)
                ),
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("config.toml:1: `interval`:")),
            }
        }

        #[test]
        fn formatting_then_parsing_gives_the_same_duration(ms in 1_000u64..=30 * 86_400_000) {
            let d = Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn parse_bytes_never_panics(text in ".{0,40}") {
            let _ = parse_bytes(&text);
        }
    }

    #[test]
    fn every_key_has_its_posture_variable_in_the_same_order() {
        assert_eq!(KEYS.len(), env::CONFIG_VARS.len());
        for (key, var) in KEYS.iter().zip(env::CONFIG_VARS) {
            assert_eq!(format!("POSTURE_{}", key.to_uppercase()), *var);
        }
    }

    #[test]
    fn watch_settings_default_to_two_and_ten_seconds_and_refuse_values_out_of_bounds() {
        let c = load_text("").unwrap();
        assert_eq!(c.watch_debounce.value, Duration::from_secs(2));
        assert_eq!(c.watch_min_gap.value, Duration::from_secs(10));
        let c = load_text("watch_debounce = \"500ms\"\nwatch_min_gap = \"30s\"\n").unwrap();
        assert_eq!(c.watch_debounce.value, Duration::from_millis(500));
        assert_eq!(c.watch_min_gap.value, Duration::from_secs(30));
        let err = load_text("watch_debounce = \"2m\"\n").unwrap_err();
        assert!(
            err.to_string().contains("must be between 100ms and 1m"),
            "{err}"
        );
        assert!(load_text("watch_min_gap = \"500ms\"\n").is_err());
    }

    #[test]
    fn watching_is_on_by_default_and_turned_off_by_the_file_or_the_variable() {
        let c = load_text("").unwrap();
        assert!(c.watch.value);
        assert_eq!(c.watch.origin, Origin::Default);
        let c = load_text("watch = false\n").unwrap();
        assert!(!c.watch.value);
        for off in ["false", "0", "no", "OFF"] {
            let c = Config::load(&env(&[(env::POSTURE_WATCH, off)]), None, &[]).unwrap();
            assert!(!c.watch.value, "{off}");
            assert_eq!(c.watch.origin, Origin::Env("POSTURE_WATCH"));
        }
        let c = Config::load(&env(&[(env::POSTURE_WATCH, "true")]), None, &[]).unwrap();
        assert!(c.watch.value);
        let off = load_text("watch = false\n").unwrap().render();
        assert!(
            off.lines()
                .any(|l| l.starts_with("watch = false") && l.contains("config.toml:1")),
            "{off}"
        );
    }

    #[test]
    fn a_watch_value_that_is_not_a_boolean_names_its_source() {
        let err = load_text("\nwatch = \"sometimes\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.toml:2: `watch`: expected true or false, found string"
        );
        let err = Config::load(&env(&[(env::POSTURE_WATCH, "maybe")]), None, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "env POSTURE_WATCH: `watch`: expected true or false, found `maybe`"
        );
    }

    #[test]
    fn pins_accept_base64_and_hex() {
        let hex = "00".repeat(31) + "ff";
        let p = SpkiPin::parse(&hex).unwrap();
        assert_eq!(p.0[31], 0xff);
        let again = SpkiPin::parse(&p.to_string()).unwrap();
        assert_eq!(p, again);
        assert!(SpkiPin::parse("sha256/abc").is_err());
    }
}
