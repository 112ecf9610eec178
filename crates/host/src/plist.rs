//! Property lists (macOS): the XML form printed by `diskutil ... -plist` and the binary or XML
//! files under `/Library/Managed Preferences`.
//!
//! Parsing is done by the `plist` crate; this module turns its values into a small tree that
//! probes can walk without depending on that crate's types, with lookups that return `None`
//! rather than failing when a key is missing or has another type.

use std::collections::BTreeMap;
use std::io::Cursor;

/// A property list value.
#[derive(Debug, Clone, PartialEq)]
pub enum PlistValue {
    /// `<dict>`: keys in sorted order.
    Dict(BTreeMap<String, PlistValue>),
    /// `<array>`.
    Array(Vec<PlistValue>),
    /// `<string>`.
    String(String),
    /// `<integer>` (unsigned values above `i64::MAX` are kept as `i128`).
    Integer(i128),
    /// `<real>`.
    Real(f64),
    /// `<true/>` / `<false/>`.
    Bool(bool),
    /// `<date>`, as the ISO 8601 text.
    Date(String),
    /// `<data>`.
    Data(Vec<u8>),
    /// A type this module does not model (a keyed-archive UID).
    Other,
}

/// Why bytes are not a property list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a property list: {0}")]
pub struct PlistError(String);

/// Parses a property list in XML or binary form (the form is detected from the bytes).
pub fn parse(bytes: &[u8]) -> Result<PlistValue, PlistError> {
    // The crate's readers rely on the XML declaration or the `bplist` magic; leading blank
    // lines (as some tools print) would hide the declaration.
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    if bytes.is_empty() {
        return Err(PlistError("empty input".to_owned()));
    }
    let value =
        ::plist::Value::from_reader(Cursor::new(bytes)).map_err(|e| PlistError(e.to_string()))?;
    Ok(convert(value))
}

/// Parses the XML form printed by a command.
pub fn parse_xml(text: &str) -> Result<PlistValue, PlistError> {
    parse(text.as_bytes())
}

fn convert(value: ::plist::Value) -> PlistValue {
    match value {
        ::plist::Value::Dictionary(d) => {
            PlistValue::Dict(d.into_iter().map(|(k, v)| (k, convert(v))).collect())
        }
        ::plist::Value::Array(a) => PlistValue::Array(a.into_iter().map(convert).collect()),
        ::plist::Value::String(s) => PlistValue::String(s),
        ::plist::Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => PlistValue::Integer(i128::from(s)),
            (None, Some(u)) => PlistValue::Integer(i128::from(u)),
            (None, None) => PlistValue::Other,
        },
        ::plist::Value::Real(r) => PlistValue::Real(r),
        ::plist::Value::Boolean(b) => PlistValue::Bool(b),
        ::plist::Value::Date(d) => PlistValue::Date(d.to_xml_format()),
        ::plist::Value::Data(d) => PlistValue::Data(d),
        _ => PlistValue::Other,
    }
}

impl PlistValue {
    /// The value under `key` when this is a dictionary.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&PlistValue> {
        match self {
            Self::Dict(d) => d.get(key),
            _ => None,
        }
    }

    /// The boolean, when this is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, when this is one (a real with no fraction counts too: profiles written by
    /// hand sometimes say `<real>600</real>`).
    #[must_use]
    pub fn as_integer(&self) -> Option<i128> {
        match self {
            Self::Integer(i) => Some(*i),
            #[allow(clippy::cast_possible_truncation)]
            Self::Real(r) if r.fract() == 0.0 && r.abs() < 1e18 => Some(*r as i128),
            _ => None,
        }
    }

    /// The string, when this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, when this is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[PlistValue]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, when this is a dictionary.
    #[must_use]
    pub fn as_dict(&self) -> Option<&BTreeMap<String, PlistValue>> {
        match self {
            Self::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// A short rendering for evidence: scalars as they are, containers summarised.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Dict(d) => format!("dict of {} keys", d.len()),
            Self::Array(a) => format!(
                "[{}]",
                a.iter().map(Self::describe).collect::<Vec<_>>().join(", ")
            ),
            Self::String(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Real(r) => r.to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Date(d) => d.clone(),
            Self::Data(d) => format!("{} bytes of data", d.len()),
            Self::Other => "(unsupported value)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MANAGED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadUUID</key>
	<string>5B8E3C9A-1F2D-4A57-9C3E-2D8B7F6A1E00</string>
	<key>askForPassword</key>
	<true/>
	<key>askForPasswordDelay</key>
	<integer>5</integer>
	<key>idleTime</key>
	<integer>600</integer>
	<key>mount-controls</key>
	<dict>
		<key>harddisk-external</key>
		<array>
			<string>read-only</string>
		</array>
	</dict>
</dict>
</plist>
"#;

    #[test]
    fn managed_preferences_xml_yields_typed_values() {
        let v = parse_xml(MANAGED).unwrap();
        assert_eq!(
            v.get("askForPassword").and_then(PlistValue::as_bool),
            Some(true)
        );
        assert_eq!(
            v.get("idleTime").and_then(PlistValue::as_integer),
            Some(600)
        );
        let controls = v
            .get("mount-controls")
            .and_then(|m| m.get("harddisk-external"))
            .and_then(PlistValue::as_array)
            .unwrap();
        assert_eq!(controls[0].as_str(), Some("read-only"));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn leading_blank_lines_before_the_declaration_are_tolerated() {
        let text = format!("\n\n{MANAGED}");
        assert!(parse_xml(&text).is_ok());
    }

    #[test]
    fn empty_and_prose_input_are_errors_not_values() {
        assert!(parse_xml("").is_err());
        assert!(parse_xml("Could not find disk: /dev/disk9\n").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse_xml(&text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mangled_plists_never_panic(cut in 0usize..600, junk in "[<>/a-z0-9 ]{0,20}") {
            let mut text: String = MANAGED.chars().take(cut).collect();
            text.push_str(&junk);
            let _ = parse_xml(&text);
        }
    }
}
