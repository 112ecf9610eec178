//! The text printed by `reg.exe query` (Windows), parsed into keys and values.
//!
//! `reg query` prints, for each key, the full key path on its own line (`HKEY_LOCAL_MACHINE\...`)
//! followed by its values, one per line: four spaces, the value name, four spaces, the type
//! (`REG_DWORD`, `REG_SZ`, ...), four spaces and the data. A key's subkeys are listed as bare
//! path lines. Value names may contain spaces, so a line is split at the first `    REG_`, not on
//! whitespace. Key paths, value names and type names are not translated; the error messages
//! on standard error are, so they are not parsed here.

/// One key and the values printed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegKey {
    /// Full path as printed, e.g. `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\FVE`.
    pub path: String,
    /// Values in the order printed.
    pub values: Vec<RegValue>,
}

/// One registry value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegValue {
    /// Value name (`(Default)` for the default value).
    pub name: String,
    /// Type name, e.g. `REG_DWORD`.
    pub kind: String,
    /// Data as printed: `0x384` for numbers, the text for strings, hex digits for binary.
    pub data: String,
}

/// Output that is not what `reg query` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised reg query output at line {line}: {text:?}")]
pub struct RegError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl RegValue {
    /// The value as a number: `REG_DWORD`/`REG_QWORD` data in hex (`0x384`), or a string of
    /// decimal digits (`REG_SZ` `600`, as the screen saver settings are stored).
    #[must_use]
    pub fn as_number(&self) -> Option<u64> {
        let data = self.data.trim();
        match self.kind.as_str() {
            "REG_DWORD" | "REG_QWORD" => {
                let hex = data
                    .strip_prefix("0x")
                    .or_else(|| data.strip_prefix("0X"))?;
                u64::from_str_radix(hex, 16).ok()
            }
            "REG_SZ" | "REG_EXPAND_SZ" => {
                if !data.is_empty() && data.bytes().all(|b| b.is_ascii_digit()) {
                    data.parse().ok()
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The value as shown in evidence: `REG_DWORD 0x384 (900)`.
    #[must_use]
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), self.as_number()) {
            ("REG_DWORD" | "REG_QWORD", Some(n)) => format!("{} {} ({n})", self.kind, self.data),
            _ => format!("{} {:?}", self.kind, self.data),
        }
    }
}

/// Parses `reg query` output. Blank lines are skipped; any line that is neither a key path nor
/// a value line is an error, so that unexpected output never reads as "no values".
pub fn parse_query(text: &str) -> Result<Vec<RegKey>, RegError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut keys: Vec<RegKey> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("HKEY_") {
            keys.push(RegKey {
                path: line.trim_end().to_owned(),
                values: Vec::new(),
            });
            continue;
        }
        let error = || RegError {
            line: i + 1,
            text: line.to_owned(),
        };
        let body = line.strip_prefix("    ").ok_or_else(error)?;
        let value = parse_value_line(body).ok_or_else(error)?;
        keys.last_mut().ok_or_else(error)?.values.push(value);
    }
    Ok(keys)
}

fn parse_value_line(body: &str) -> Option<RegValue> {
    // `name    REG_TYPE    data`; the name may be empty only for the default value, which
    // reg prints as `(Default)`.
    let at = body.find("    REG_")?;
    let name = &body[..at];
    let rest = &body[at + 4..];
    let (kind, data) = match rest.find("    ") {
        Some(j) => (&rest[..j], &rest[j + 4..]),
        None => (rest.trim_end(), ""),
    };
    if name.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    Some(RegValue {
        name: name.to_owned(),
        kind: kind.to_owned(),
        data: data.to_owned(),
    })
}

/// Expands a root abbreviation (`HKLM\`, `HKU\`, `HKCU\`, `HKCR\`, `HKCC\`) to the full name
/// `reg` prints, so that a queried path can be matched with the printed one.
#[must_use]
pub fn expand_root(path: &str) -> String {
    let (root, rest) = path.split_once('\\').unwrap_or((path, ""));
    let full = match root.to_ascii_uppercase().as_str() {
        "HKLM" => "HKEY_LOCAL_MACHINE",
        "HKU" => "HKEY_USERS",
        "HKCU" => "HKEY_CURRENT_USER",
        "HKCR" => "HKEY_CLASSES_ROOT",
        "HKCC" => "HKEY_CURRENT_CONFIG",
        _ => root,
    };
    if rest.is_empty() {
        full.to_owned()
    } else {
        format!("{full}\\{rest}")
    }
}

/// The key with this path (abbreviated or full, compared without regard to case, as Windows
/// does).
#[must_use]
pub fn find_key<'a>(keys: &'a [RegKey], path: &str) -> Option<&'a RegKey> {
    let wanted = expand_root(path);
    keys.iter().find(|k| k.path.eq_ignore_ascii_case(&wanted))
}

impl RegKey {
    /// The value with this name (compared without regard to case).
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&RegValue> {
        self.values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_dword_value_is_read_in_hex() {
        let out = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\r\n    InactivityTimeoutSecs    REG_DWORD    0x384\r\n\r\n";
        let keys = parse_query(out).unwrap();
        let v = find_key(
            &keys,
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System",
        )
        .and_then(|k| k.value("inactivitytimeoutsecs"))
        .unwrap();
        assert_eq!(v.as_number(), Some(900));
        assert_eq!(v.describe(), "REG_DWORD 0x384 (900)");
    }

    #[test]
    fn names_with_spaces_empty_strings_and_subkeys_are_kept_apart() {
        let out = "\r\nHKEY_USERS\\S-1-5-21-1-2-3-1001\\Control Panel\\Desktop\r\n    ScreenSaveTimeOut    REG_SZ    600\r\n    SCRNSAVE.EXE    REG_SZ    C:\\Windows\\system32\\scrnsave.scr\r\n    Pattern Upgrade    REG_SZ    TRUE\r\n    WallPaper    REG_SZ\r\n    (Default)    REG_SZ    \r\n\r\nHKEY_USERS\\S-1-5-21-1-2-3-1001\\Control Panel\\Desktop\\Colors\r\n";
        let keys = parse_query(out).unwrap();
        assert_eq!(keys.len(), 2);
        let desk = &keys[0];
        assert_eq!(
            desk.value("ScreenSaveTimeOut").unwrap().as_number(),
            Some(600)
        );
        assert_eq!(desk.value("Pattern Upgrade").unwrap().data, "TRUE");
        assert_eq!(desk.value("WallPaper").unwrap().data, "");
        assert_eq!(desk.value("(Default)").unwrap().data, "");
        assert!(keys[1].values.is_empty());
    }

    #[test]
    fn prose_is_an_error_not_an_empty_key() {
        assert!(parse_query("ERROR: Access is denied.\r\n").is_err());
        assert!(parse_query("    orphan    REG_SZ    x\r\n").is_err());
        assert_eq!(parse_query("\r\n").unwrap(), vec![]);
    }

    #[test]
    fn strings_that_are_not_plain_digits_are_not_numbers() {
        let v = RegValue {
            name: "x".into(),
            kind: "REG_SZ".into(),
            data: "-1".into(),
        };
        assert_eq!(v.as_number(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse_query(&text);
        }

        #[test]
        fn value_like_lines_never_panic(name in "[ -~]{0,20}", kind in "REG_[A-Z_]{0,10}", data in "[ -~]{0,20}") {
            let text = format!("HKEY_USERS\\X\r\n    {name}    {kind}    {data}\r\n");
            if let Ok(keys) = parse_query(&text) {
                for k in &keys {
                    for v in &k.values {
                        let _ = v.as_number();
                        let _ = v.describe();
                    }
                }
            }
        }
    }
}
