//! `/etc/shadow` (shadow(5)), reduced to what posture may know about it.
//!
//! The file holds password hashes, which must never reach evidence, reports or an evidence
//! bundle. Parsing keeps only what the hash field *means*: a usable password, an empty one (any
//! PAM stack with `pam_unix.so nullok` then accepts an empty answer), or none that can match
//! (locked). The ageing fields (days) are kept as numbers for checks that judge them.
//! [`redact`] rewrites a whole file the same way, so the recorder stores a file that parses to
//! the same entries and holds no hash.

use std::fmt;

/// Where the file lives.
pub const PATH: &str = "/etc/shadow";

/// What replaces every hash in a redacted file. It begins with `$` like a crypt(5) hash, so a
/// redacted file parses to the same states as the original.
pub const REDACTED: &str = "$posture$redacted";

/// What the password field of an entry means for logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    /// A hash in a crypt(5) format: the account has a password.
    Usable,
    /// The field is empty: no password at all. `pam_unix.so` accepts an empty answer when its
    /// stack line says `nullok`, else refuses every answer.
    Empty,
    /// No answer can match: `!` (locked by `passwd -l` or `usermod -L`, also in front of a hash),
    /// `*`, or a value that is no crypt(5) hash (`x`, `NP`).
    Locked,
}

impl PasswordState {
    /// The state of one password field.
    #[must_use]
    pub fn of(field: &str) -> Self {
        if field.is_empty() {
            Self::Empty
        } else if field.starts_with('!') || field.starts_with('*') {
            Self::Locked
        } else if looks_like_hash(field) {
            Self::Usable
        } else {
            Self::Locked
        }
    }

    /// Words for evidence.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Usable => "has a password",
            Self::Empty => "has an empty password (no password at all)",
            Self::Locked => "has no usable password (locked)",
        }
    }
}

/// crypt(5): `$id$...` (yescrypt, SHA-512, bcrypt, ...), `_` + 19 characters (BSDi extended
/// DES) or 13 characters of the DES alphabet.
fn looks_like_hash(field: &str) -> bool {
    let des = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    field.starts_with('$')
        || (field.len() == 20 && field.starts_with('_') && field[1..].chars().all(des))
        || (field.len() == 13 && field.chars().all(des))
}

/// One line of the file, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    /// Login name.
    pub name: String,
    /// What the password field means.
    pub password: PasswordState,
    /// Date of the last password change, in days since 1970-01-01; `Some(0)` forces a change at
    /// the next login; `None` when empty (ageing disabled).
    pub last_change: Option<u64>,
    /// Minimum password age in days.
    pub min_days: Option<u64>,
    /// Maximum password age in days.
    pub max_days: Option<u64>,
    /// Days of warning before the password expires.
    pub warn_days: Option<u64>,
    /// Days after expiry during which the password is still accepted.
    pub inactive_days: Option<u64>,
    /// Account expiry date, in days since 1970-01-01.
    pub expire_date: Option<u64>,
}

/// A line that is not a shadow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong (never the line itself, which may hold a hash).
    pub message: String,
}

impl fmt::Display for ShadowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}: {}", PATH, self.line, self.message)
    }
}

impl std::error::Error for ShadowError {}

/// Parses the file. Blank lines are skipped; a line with fewer than 8 `:`-separated fields, an
/// empty name or an ageing field that is not a number is an error.
pub fn parse(text: &str) -> Result<Vec<ShadowEntry>, ShadowError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| ShadowError {
            line: i + 1,
            message,
        };
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 8 {
            return Err(err(format!(
                "{} fields where shadow(5) has 9",
                fields.len()
            )));
        }
        if fields[0].is_empty() {
            return Err(err("empty login name".to_owned()));
        }
        let day = |n: usize, what: &str| -> Result<Option<u64>, ShadowError> {
            let v = fields.get(n).copied().unwrap_or("").trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<u64>()
                .map(Some)
                .map_err(|_| err(format!("{what} of {} is not a number of days", fields[0])))
        };
        out.push(ShadowEntry {
            name: fields[0].to_owned(),
            password: PasswordState::of(fields[1]),
            last_change: day(2, "the last change date")?,
            min_days: day(3, "the minimum age")?,
            max_days: day(4, "the maximum age")?,
            warn_days: day(5, "the warning period")?,
            inactive_days: day(6, "the inactivity period")?,
            expire_date: day(7, "the expiry date")?,
        });
    }
    Ok(out)
}

/// The file with every password field replaced by what it means: empty stays empty, a locked
/// field becomes `!`, a hash becomes [`REDACTED`]. Everything else, including lines this module
/// cannot parse, keeps its other fields; a line without any `:` is dropped, since it could be
/// anything.
#[must_use]
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if let Some((name, rest)) = body.split_once(':') {
            let (field, tail) = match rest.split_once(':') {
                Some((f, t)) => (f, Some(t)),
                None => (rest, None),
            };
            let marker = match PasswordState::of(field) {
                PasswordState::Empty => "",
                PasswordState::Locked => "!",
                PasswordState::Usable => REDACTED,
            };
            out.push_str(name);
            out.push(':');
            out.push_str(marker);
            if let Some(t) = tail {
                out.push(':');
                out.push_str(t);
            }
        }
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines in the shapes Debian's shadow tools write (yescrypt `$y$`, SHA-512 `$6$`); the
    // hashes are made-up strings of the right form.
    const SAMPLE: &str = "root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:$y$j9T$abcdefghijklmnopqrstu.$ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg:20000:0:99999:7:::
bob::20000:0:99999:7:::
carol:!$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyz:20000:0:99999:7:::
dave:!:20000::::::
erin:x:20000:0:99999:7:::
";

    #[test]
    fn each_password_field_is_reduced_to_its_meaning() {
        let entries = parse(SAMPLE).unwrap();
        let state = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .map(|e| e.password)
                .unwrap()
        };
        assert_eq!(state("root"), PasswordState::Locked);
        assert_eq!(state("alice"), PasswordState::Usable);
        assert_eq!(state("bob"), PasswordState::Empty);
        assert_eq!(state("carol"), PasswordState::Locked);
        assert_eq!(state("dave"), PasswordState::Locked);
        assert_eq!(state("erin"), PasswordState::Locked);
        let alice = entries.iter().find(|e| e.name == "alice").unwrap();
        assert_eq!(alice.last_change, Some(20000));
        assert_eq!(alice.max_days, Some(99999));
        assert_eq!(alice.inactive_days, None);
        assert_eq!(PasswordState::of("abcdefghijklm"), PasswordState::Usable);
    }

    #[test]
    fn a_redacted_file_holds_no_hash_and_parses_to_the_same_entries() {
        let redacted = redact(SAMPLE);
        assert!(!redacted.contains("$y$"), "{redacted}");
        assert!(!redacted.contains("saltsalt"), "{redacted}");
        assert!(redacted.contains(&format!("alice:{REDACTED}:20000:")));
        assert!(redacted.contains("bob::20000:"));
        assert_eq!(parse(&redacted).unwrap(), parse(SAMPLE).unwrap());
        assert_eq!(redact(&redacted), redacted);
        // A line that is not an entry loses nothing but can carry no hash either.
        assert_eq!(
            redact("garbage-without-colons\nx:$6$h\n"),
            format!("\nx:{REDACTED}\n")
        );
    }

    #[test]
    fn errors_name_the_line_and_never_its_content() {
        let e = parse("root:*:1:0:99999:7:::\nalice:$6$secret:x:0:99999:7:::\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(
            parse("short:$6$secret\n")
                .unwrap_err()
                .message
                .contains("fields")
        );
    }
}
