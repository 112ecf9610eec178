//! JSON printed by Windows PowerShell's `ConvertTo-Json` (5.1, the version every Windows 10 and
//! 11 ships): one object when a pipeline yields one item, an array when it yields several,
//! nothing at all when it yields none, sometimes behind a byte-order mark.

use serde_json::Value;

/// Output that is not the JSON a PowerShell catalog command prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowerShellJsonError {
    /// The command printed nothing (PowerShell prints nothing for an empty pipeline, and also
    /// when the command failed before `ConvertTo-Json`).
    #[error("no output")]
    Empty,
    /// Not JSON, with the parser's message (line and column).
    #[error("not JSON: {0}")]
    Invalid(String),
}

/// Parses the output as one JSON value.
pub fn parse_value(text: &str) -> Result<Value, PowerShellJsonError> {
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(PowerShellJsonError::Empty);
    }
    serde_json::from_str(text).map_err(|e| PowerShellJsonError::Invalid(e.to_string()))
}

/// Parses the output as a list of objects: an array as it is, a single object as a list of one.
/// Anything else (a number, a string, an array holding non-objects) is an error.
pub fn parse_objects(
    text: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, PowerShellJsonError> {
    let items = match parse_value(text)? {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(map) => Ok(map),
            other => Err(PowerShellJsonError::Invalid(format!(
                "expected an object, found {other}"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_object_and_an_array_of_objects_both_read_as_a_list() {
        assert_eq!(parse_objects("{\"A\":1}\r\n").unwrap().len(), 1);
        assert_eq!(
            parse_objects("\u{feff}[{\"A\":1},{\"A\":2}]")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn empty_output_and_prose_are_errors() {
        assert_eq!(parse_objects("  \r\n"), Err(PowerShellJsonError::Empty));
        assert!(parse_objects("Access denied").is_err());
        assert!(parse_objects("[1,2]").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = parse_objects(&text);
        }
    }
}
