//! A reader for INI-style key files: KDE's KConfig files (`kscreenlockerrc`), GLib key files
//! (AccountsService user files, `.desktop` session files) and dconf keyfiles.
//!
//! It keeps what the cascading rules need: KConfig's immutability marker `[$i]` at file level (a
//! line `[$i]` before the first group), group level (`[Daemon][$i]`) and key level
//! (`Timeout[$i]=10`), nested group names (`[Greeter][Wallpaper]`), localised keys
//! (`Name[de]=...`, kept apart from the plain key) and the `\s`, `\t`, `\n`, `\r`, `\\` escapes
//! in values. Malformed lines are skipped, as KConfig and GLib do; parsing never fails and never
//! panics.

/// One parsed key file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyFile {
    /// A `[$i]` line before the first group: nothing in the file may be overridden.
    pub immutable: bool,
    /// The groups in file order (a group named twice appears twice).
    pub groups: Vec<Group>,
}

/// One `[Group]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group name; nested groups are joined with `/` (`Greeter/Wallpaper`).
    pub name: String,
    /// Marked `[$i]` in its header: no key of the group may be overridden.
    pub immutable: bool,
    /// The entries in file order.
    pub entries: Vec<Entry>,
}

/// One `key=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key without its `[locale]` and `[$flags]` suffixes.
    pub key: String,
    /// The locale of a localised entry (`Name[de]`), if any.
    pub locale: Option<String>,
    /// The value with escapes decoded and surrounding whitespace removed.
    pub value: String,
    /// Marked `[$i]`: this key may not be overridden.
    pub immutable: bool,
    /// The 1-based line number, for evidence.
    pub line: usize,
}

impl KeyFile {
    /// Parses key-file text. Lines before the first group other than `[$i]` are ignored.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut file = Self::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                if line == "[$i]" && file.groups.is_empty() {
                    file.immutable = true;
                    continue;
                }
                if let Some(group) = parse_group_header(line) {
                    file.groups.push(group);
                }
                continue;
            }
            let Some(group) = file.groups.last_mut() else {
                continue;
            };
            if let Some(mut entry) = parse_entry(line) {
                entry.line = n + 1;
                group.entries.push(entry);
            }
        }
        file
    }

    /// The last unlocalised entry for `key` in any group named `group`.
    #[must_use]
    pub fn entry(&self, group: &str, key: &str) -> Option<&Entry> {
        self.groups
            .iter()
            .filter(|g| g.name == group)
            .flat_map(|g| g.entries.iter())
            .rfind(|e| e.key == key && e.locale.is_none())
    }

    /// The value of [`KeyFile::entry`].
    #[must_use]
    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        self.entry(group, key).map(|e| e.value.as_str())
    }

    /// Whether the group is marked immutable (in its header or by the whole file).
    #[must_use]
    pub fn group_immutable(&self, group: &str) -> bool {
        self.immutable || self.groups.iter().any(|g| g.name == group && g.immutable)
    }

    /// Whether a file read after this one may not override `key` in `group` (KConfig
    /// cascade): the file, the group or the key is marked `[$i]`.
    #[must_use]
    pub fn locks(&self, group: &str, key: &str) -> bool {
        self.group_immutable(group)
            || self
                .groups
                .iter()
                .filter(|g| g.name == group)
                .flat_map(|g| g.entries.iter())
                .any(|e| e.key == key && e.locale.is_none() && e.immutable)
    }
}

/// `[A][B][$i]` -> group `A/B`, immutable. Returns `None` for a malformed header.
fn parse_group_header(line: &str) -> Option<Group> {
    let mut parts = Vec::new();
    let mut immutable = false;
    let mut rest = line;
    while let Some(after_open) = rest.strip_prefix('[') {
        let close = after_open.find(']')?;
        let part = &after_open[..close];
        if let Some(flags) = part.strip_prefix('$') {
            immutable |= flags.contains('i');
        } else {
            parts.push(part.to_owned());
        }
        rest = after_open[close + 1..].trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        return None;
    }
    Some(Group {
        name: parts.join("/"),
        immutable,
        entries: Vec::new(),
    })
}

/// `Key[de][$i] = value` -> entry. Returns `None` for a line without `=` or without a key.
fn parse_entry(line: &str) -> Option<Entry> {
    let (lhs, value) = line.split_once('=')?;
    let lhs = lhs.trim();
    let (key, mut suffixes) = match lhs.find('[') {
        Some(i) => (lhs[..i].trim_end(), &lhs[i..]),
        None => (lhs, ""),
    };
    if key.is_empty() {
        return None;
    }
    let mut locale = None;
    let mut immutable = false;
    while let Some(after_open) = suffixes.strip_prefix('[') {
        let close = after_open.find(']')?;
        let part = &after_open[..close];
        if let Some(flags) = part.strip_prefix('$') {
            immutable |= flags.contains('i');
        } else {
            locale = Some(part.to_owned());
        }
        suffixes = after_open[close + 1..].trim_start();
    }
    if !suffixes.is_empty() {
        return None;
    }
    Some(Entry {
        key: key.to_owned(),
        locale,
        value: unescape(value.trim()),
        immutable,
        line: 0,
    })
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn immutability_is_read_at_file_group_and_key_level() {
        let file = KeyFile::parse("[$i]\n[Daemon]\nTimeout=10\n");
        assert!(file.immutable);
        assert!(file.locks("Daemon", "Autolock"));

        let group = KeyFile::parse("[Daemon][$i]\nTimeout=10\n[Greeter]\nTheme=x\n");
        assert!(!group.immutable);
        assert!(group.locks("Daemon", "Timeout"));
        assert!(group.locks("Daemon", "LockGrace"));
        assert!(!group.locks("Greeter", "Theme"));

        let key = KeyFile::parse("[Daemon]\nTimeout[$i]=10\nLockGrace=5\n");
        assert!(key.locks("Daemon", "Timeout"));
        assert!(!key.locks("Daemon", "LockGrace"));
        assert_eq!(key.get("Daemon", "Timeout"), Some("10"));
    }

    #[test]
    fn nested_groups_localised_keys_and_escapes_are_kept_apart() {
        let file = KeyFile::parse(
            "# comment\n\
             stray=ignored\n\
             [Greeter][Wallpaper][org.kde.image][General]\n\
             Image=/usr/share/wallpapers/Next/\n\
             [Desktop Entry]\n\
             Name=GNOME\n\
             Name[de]=GNOME (de)\n\
             Exec = gnome-session\\s--x \n\
             no equals sign\n\
             [broken\n\
             Orphan=1\n",
        );
        assert_eq!(
            file.get("Greeter/Wallpaper/org.kde.image/General", "Image"),
            Some("/usr/share/wallpapers/Next/")
        );
        assert_eq!(file.get("Desktop Entry", "Name"), Some("GNOME"));
        assert_eq!(file.get("Desktop Entry", "Exec"), Some("gnome-session --x"));
        // A malformed header is skipped; its lines stay with the previous group.
        assert_eq!(file.get("Desktop Entry", "Orphan"), Some("1"));
        assert_eq!(file.entry("Desktop Entry", "Exec").unwrap().line, 8);
    }

    #[test]
    fn the_last_of_repeated_keys_wins() {
        let file = KeyFile::parse("[User]\nSession=gnome\n[User]\nSession=plasma\n");
        assert_eq!(file.get("User", "Session"), Some("plasma"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let f = KeyFile::parse(&text);
            let _ = f.locks("Daemon", "Timeout");
        }

        #[test]
        fn ini_like_text_never_panics(text in "[\\[\\]$i=a-z#\\\\ \n\t]{0,200}") {
            let f = KeyFile::parse(&text);
            for g in &f.groups {
                for e in &g.entries {
                    let _ = f.get(&g.name, &e.key);
                }
            }
        }
    }
}
