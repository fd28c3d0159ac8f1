//! JSON Lines corpora: one object per line.

use std::path::{Path, PathBuf};

use cllm_core::Document;
use serde_json::{Map, Value};

use super::line::LineReader;
use super::{check_groups, FieldNames, SourcedText, TextSource, TextStream};
use crate::json_util::type_name;
use crate::{CorpusError, TextProblem};

/// A JSON Lines file: one object per line (blank lines are skipped), with the text in
/// [`FieldNames::text`], an optional id, title and groups (a string or an array of
/// strings; numbers are taken as their decimal form), and every other field as metadata
/// (strings as they are, numbers and booleans in their JSON form, arrays and objects as
/// compact JSON, `null` left out). A `tags` object (as [`Corpus::write_jsonl`] writes)
/// contributes its entries as metadata.
///
/// [`Corpus::write_jsonl`]: crate::Corpus::write_jsonl
#[derive(Debug, Clone)]
pub struct JsonlSource {
    path: PathBuf,
    fields: FieldNames,
    max_line_bytes: usize,
}

impl JsonlSource {
    /// The file at `path`, with these field names; lines over `max_line_bytes` are refused.
    pub fn new(path: PathBuf, fields: FieldNames, max_line_bytes: usize) -> Self {
        Self {
            path,
            fields,
            max_line_bytes,
        }
    }
}

impl TextSource for JsonlSource {
    fn origin(&self) -> &Path {
        &self.path
    }

    fn total_bytes(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn texts(&self) -> Result<TextStream<'_>, CorpusError> {
        let mut lines = LineReader::open(&self.path, self.max_line_bytes)?;
        Ok(Box::new(std::iter::from_fn(move || loop {
            let line = match lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if line.text.trim().is_empty() {
                continue;
            }
            let parsed = self.parse(&line.text, line.number).map(|doc| SourcedText {
                doc,
                path: self.path.clone(),
                line: line.number,
                bytes_read: lines.bytes_read(),
            });
            return Some(parsed);
        })))
    }
}

impl JsonlSource {
    fn bad(&self, line: u64, problem: TextProblem) -> CorpusError {
        CorpusError::bad_text(&self.path, line, problem)
    }

    fn malformed(&self, line: u64, message: String) -> CorpusError {
        self.bad(line, TextProblem::Malformed { message })
    }

    /// One line's object as a document.
    fn parse(&self, line_text: &str, line: u64) -> Result<Document, CorpusError> {
        let value: Value = serde_json::from_str(line_text)
            .map_err(|e| self.malformed(line, format!("invalid JSON: {e}")))?;
        let Value::Object(mut obj) = value else {
            return Err(self.malformed(
                line,
                format!("expected a JSON object, found {}", type_name(&value)),
            ));
        };
        let f = &self.fields;
        let text = match obj.remove(&f.text) {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(self.malformed(
                    line,
                    format!(
                        "field {:?} is {}, expected a string",
                        f.text,
                        type_name(&other)
                    ),
                ))
            }
            None => {
                return Err(self.bad(
                    line,
                    TextProblem::MissingField {
                        field: f.text.clone(),
                    },
                ))
            }
        };
        let id = match obj.remove(&f.id) {
            None | Some(Value::Null) => format!("line-{line}"),
            Some(v) => self.scalar(v, &f.id, line)?,
        };
        let title = match obj.remove(&f.title) {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.scalar(v, &f.title, line)?),
        };
        let mut groups = Vec::new();
        for name in f.group_candidates() {
            if let Some(v) = obj.remove(name) {
                if groups.is_empty() {
                    groups = self.groups(v, name, line)?;
                }
            }
        }
        check_groups(&groups, &self.path, line)?;
        let mut doc = Document::new(id, text);
        if let Some(Value::Object(tags)) = obj.get("tags") {
            for (k, v) in tags.clone() {
                if let Some(v) = metadata_value(v) {
                    doc.tags.insert(k, v);
                }
            }
            obj.remove("tags");
        }
        add_metadata(&mut doc, obj, f);
        if let Some(t) = title {
            doc = doc.with_title(t);
        }
        if !groups.is_empty() {
            doc = doc.with_groups(groups);
        }
        Ok(doc)
    }

    /// A string or number field as a string.
    fn scalar(&self, v: Value, field: &str, line: u64) -> Result<String, CorpusError> {
        match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.malformed(
                line,
                format!(
                    "field {field:?} is {}, expected a string or a number",
                    type_name(&other)
                ),
            )),
        }
    }

    /// A group field: one group or an array of them.
    fn groups(&self, v: Value, field: &str, line: u64) -> Result<Vec<String>, CorpusError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .into_iter()
                .map(|i| self.scalar(i, field, line))
                .collect(),
            other => Ok(vec![self.scalar(other, field, line)?]),
        }
    }
}

/// The remaining fields of a record as metadata tags.
fn add_metadata(doc: &mut Document, obj: Map<String, Value>, fields: &FieldNames) {
    for (k, v) in obj {
        if fields.is_named(&k) {
            continue;
        }
        if let Some(v) = metadata_value(v) {
            doc.tags.insert(k, v);
        }
    }
}

fn metadata_value(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}
