//! The `auth` stack of a Linux-PAM service, read from its files (pam.d(5)).
//!
//! A service's file is `/etc/pam.d/<service>`, else the vendor directory (`/usr/lib/pam.d`,
//! openSUSE's `/usr/etc/pam.d`); a service without a file uses `other`. Lines are
//! `[-]TYPE CONTROL MODULE ARGS...`, CONTROL a word or a `[value=action ...]` list;
//! `TYPE include NAME` and `TYPE substack NAME` pull in another file's lines of that type, and
//! Debian's `@include NAME` pulls in all of another file. Comments start with `#`, a trailing
//! `\` continues a line.

use posture_host::{Host, ReadError};

use crate::evidence;

const DIRS: [&str; 3] = ["/etc/pam.d", "/usr/lib/pam.d", "/usr/etc/pam.d"];

/// Includes deeper than this are a loop (Linux-PAM stops at a similar depth).
const MAX_DEPTH: usize = 16;

/// One `auth` line of a stack, where it came from and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthLine {
    /// The file that holds it.
    pub file: String,
    /// 1-based line number (of the line's first physical line).
    pub line: usize,
    /// `required`, `sufficient`, `[success=1 default=ignore]`, ...
    pub control: String,
    /// Module path as written (`pam_unix.so`, `/lib/security/pam_unix.so`).
    pub module: String,
    /// Module arguments.
    pub args: Vec<String>,
    /// Written `-TYPE`: PAM skips the line silently when the module is not installed.
    pub optional_module: bool,
}

impl AuthLine {
    /// The module's file name (`pam_unix.so` for any path to it).
    #[must_use]
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }
}

/// A resolved `auth` stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStack {
    /// The file the service resolved to (`/etc/pam.d/other` when it has none of its own).
    pub file: String,
    /// Every `auth` line, includes expanded, in order.
    pub lines: Vec<AuthLine>,
    /// Every file read to resolve the stack (the service's and each included one), in reading
    /// order, each once: what decides the stack, lines of the group or not.
    pub files: Vec<String>,
}

impl AuthStack {
    /// The `pam_unix.so` lines that accept an empty password (`nullok`, or Debian's older
    /// `nullok_secure`, which depends on the terminal and so is counted as accepting).
    #[must_use]
    pub fn unix_nullok(&self) -> Vec<&AuthLine> {
        self.lines
            .iter()
            .filter(|l| {
                l.module_name() == "pam_unix.so"
                    && l.args.iter().any(|a| a == "nullok" || a == "nullok_secure")
            })
            .collect()
    }
}

/// Reads one file as text (a host, or a probe's cache in front of it).
pub type Read<'r> = &'r dyn Fn(&str) -> Result<String, ReadError>;

/// The `auth` stack of a service, `None` when neither the service nor `other` has a file (PAM
/// then refuses every login), or why it could not be read (the reason names the file).
pub fn auth_stack(host: &dyn Host, service: &str) -> Result<Option<AuthStack>, String> {
    auth_stack_with(&|p: &str| host.read_text(p), service)
}

/// [`auth_stack`] reading through `read`.
pub fn auth_stack_with(host: Read<'_>, service: &str) -> Result<Option<AuthStack>, String> {
    stack_with(host, service, "auth")
}

/// The stack of one management group (`auth`, `account`, `password`, `session`) of a service,
/// read the same way as [`auth_stack`]; its lines are [`AuthLine`]s of that group.
pub fn stack(host: &dyn Host, service: &str, kind: &str) -> Result<Option<AuthStack>, String> {
    stack_with(&|p: &str| host.read_text(p), service, kind)
}

/// [`stack`] reading through `read`.
pub fn stack_with(host: Read<'_>, service: &str, kind: &str) -> Result<Option<AuthStack>, String> {
    let file = match find(host, service)? {
        Some(f) => f,
        None => match find(host, "other")? {
            Some(f) => f,
            None => return Ok(None),
        },
    };
    let mut lines = Vec::new();
    let mut files = Vec::new();
    collect(host, &file, kind, 0, &mut lines, &mut files)?;
    Ok(Some(AuthStack { file, lines, files }))
}

/// The first file of that name in the PAM directories; an absolute name is used as it is.
fn find(host: Read<'_>, name: &str) -> Result<Option<String>, String> {
    if name.starts_with('/') {
        return Ok(Some(name.to_owned()));
    }
    for dir in DIRS {
        let path = format!("{dir}/{name}");
        match host(&path) {
            Ok(_) => return Ok(Some(path)),
            Err(ReadError::NotFound) => {}
            Err(e) => return Err(evidence::read_failure(&path, &e)),
        }
    }
    Ok(None)
}

fn collect(
    host: Read<'_>,
    path: &str,
    kind_wanted: &str,
    depth: usize,
    out: &mut Vec<AuthLine>,
    files: &mut Vec<String>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: PAM includes nested too deeply (a loop?)"));
    }
    let text = host(path).map_err(|e| evidence::read_failure(path, &e))?;
    if !files.iter().any(|f| f == path) {
        files.push(path.to_owned());
    }
    for (number, line) in logical_lines(&text) {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        if first == "@include" {
            // Debian: every line of the named file (its auth lines are what is kept).
            let Some(name) = words.next() else {
                return Err(format!("{path}, line {number}: @include without a file"));
            };
            let target = find(host, name)?
                .ok_or_else(|| format!("{path}, line {number}: @include {name}: not found"))?;
            collect(host, &target, kind_wanted, depth + 1, out, files)?;
            continue;
        }
        let kind = first.trim_start_matches('-');
        if !kind.eq_ignore_ascii_case(kind_wanted) {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        let (control, after) = split_control(&rest);
        if control == "include" || control == "substack" {
            let Some(name) = after.first() else {
                return Err(format!("{path}, line {number}: {control} without a file"));
            };
            let target = find(host, name)?
                .ok_or_else(|| format!("{path}, line {number}: {control} {name}: not found"))?;
            collect(host, &target, kind_wanted, depth + 1, out, files)?;
            continue;
        }
        let Some(module) = after.first() else {
            return Err(format!(
                "{path}, line {number}: {kind_wanted} line without a module"
            ));
        };
        out.push(AuthLine {
            file: path.to_owned(),
            line: number,
            control,
            module: (*module).to_owned(),
            args: after[1..].iter().map(|s| (*s).to_owned()).collect(),
            optional_module: first.starts_with('-'),
        });
    }
    Ok(())
}

/// The control field (a word, or a `[...]` list over several words) and the words after it.
fn split_control<'a>(words: &'a [&'a str]) -> (String, &'a [&'a str]) {
    match words.first() {
        Some(w) if w.starts_with('[') => {
            let end = words
                .iter()
                .position(|w| w.ends_with(']'))
                .unwrap_or(words.len() - 1);
            (words[..=end].join(" "), &words[end + 1..])
        }
        Some(w) => ((*w).to_owned(), &words[1..]),
        None => (String::new(), words),
    }
}

/// Lines without comments, continuation lines joined, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let no_comment = raw.split('#').next().unwrap_or("");
        let (body, continues) = match no_comment.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (no_comment, false),
        };
        let entry = pending.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(body);
        if !continues && let Some(done) = pending.take() {
            out.push(done);
        }
    }
    out.extend(pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use posture_host::RootedHost;

    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path.trim_start_matches('/'));
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn fedora_substack_and_vendor_directory_are_followed() {
        // authselect's layout: gdm-password pulls password-auth in as a substack.
        let dir = root(&[
            (
                "/usr/lib/pam.d/gdm-password",
                "auth     substack      password-auth\n",
            ),
            (
                "/etc/pam.d/password-auth",
                "auth        required      pam_env.so\nauth        sufficient    pam_unix.so nullok\n-auth       sufficient    pam_sss.so\nauth        required      pam_deny.so\n",
            ),
        ]);
        let stack = auth_stack(&RootedHost::new(dir.path()), "gdm-password")
            .unwrap()
            .unwrap();
        assert_eq!(stack.file, "/usr/lib/pam.d/gdm-password");
        assert_eq!(stack.lines.len(), 4);
        let nullok = stack.unix_nullok();
        assert_eq!(nullok.len(), 1);
        assert_eq!(
            (nullok[0].file.as_str(), nullok[0].line),
            ("/etc/pam.d/password-auth", 2)
        );
    }

    #[test]
    fn a_service_without_a_file_uses_other_and_no_configuration_at_all_is_none() {
        let dir = root(&[(
            "/etc/pam.d/other",
            "auth required pam_warn.so\nauth required pam_deny.so\n",
        )]);
        let stack = auth_stack(&RootedHost::new(dir.path()), "kde")
            .unwrap()
            .unwrap();
        assert_eq!(stack.file, "/etc/pam.d/other");
        assert!(stack.unix_nullok().is_empty());
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(auth_stack(&RootedHost::new(empty.path()), "kde"), Ok(None));
    }

    #[test]
    fn include_loops_and_missing_includes_are_errors_naming_the_file() {
        let dir = root(&[
            ("/etc/pam.d/a", "@include b\n"),
            ("/etc/pam.d/b", "auth include a\n"),
            (
                "/etc/pam.d/c",
                "auth required pam_unix.so\n@include missing\n",
            ),
        ]);
        let host = RootedHost::new(dir.path());
        assert!(
            auth_stack(&host, "a")
                .unwrap_err()
                .contains("nested too deeply")
        );
        let err = auth_stack(&host, "c").unwrap_err();
        assert!(err.contains("/etc/pam.d/c, line 2"), "{err}");
    }

    #[test]
    fn bracketed_controls_and_continuations_are_split() {
        let lines = logical_lines("auth [success=1 \\\n default=ignore] pam_unix.so nullok # c\n");
        assert_eq!(lines.len(), 1);
        let words: Vec<&str> = lines[0].1.split_whitespace().skip(1).collect();
        let (control, after) = split_control(&words);
        assert_eq!(control, "[success=1 default=ignore]");
        assert_eq!(after, ["pam_unix.so", "nullok"]);
    }
}
