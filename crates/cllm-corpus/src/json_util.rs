//! Small helpers to read `serde_json::Value`s with path-naming errors.

use std::path::Path;

use serde_json::Value;

use crate::CorpusError;

pub(crate) fn read_json(path: &Path) -> Result<Value, CorpusError> {
    let bytes = std::fs::read(path).map_err(|e| CorpusError::io(path, e))?;
    parse_json(&bytes, path)
}

pub(crate) fn parse_json(bytes: &[u8], origin: &Path) -> Result<Value, CorpusError> {
    serde_json::from_slice(bytes).map_err(|e| {
        CorpusError::json(
            origin,
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn expected(origin: &Path, at: &str, what: &str, got: &Value) -> CorpusError {
    CorpusError::json(
        origin,
        at,
        format!("expected {what}, found {}", type_name(got)),
    )
}

/// A string field that may be missing or null (→ empty string).
pub(crate) fn opt_str(origin: &Path, at: &str, v: Option<&Value>) -> Result<String, CorpusError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(crate::recipe::normalize_ws(s)),
        Some(other) => Err(expected(origin, at, "a string", other)),
    }
}

/// An array of strings that may be missing or null (→ empty); null and blank items are dropped.
pub(crate) fn opt_str_list(
    origin: &Path,
    at: &str,
    v: Option<&Value>,
) -> Result<Vec<String>, CorpusError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let s = opt_str(origin, &format!("{at}[{i}]"), Some(item))?;
                if !s.is_empty() {
                    out.push(s);
                }
            }
            Ok(out)
        }
        Some(other) => Err(expected(origin, at, "an array of strings", other)),
    }
}

/// A JSON path segment for an object key: `.key` or `["key with spaces"]`.
pub(crate) fn key_seg(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(".{key}")
    } else {
        format!("[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}
