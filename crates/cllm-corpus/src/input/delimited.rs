//! CSV and TSV corpora: a header row, then one text per row.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use cllm_core::Document;

use super::line::utf8;
use super::{check_groups, FieldNames, SourcedText, TextSource, TextStream};
use crate::{CorpusError, TextProblem};

/// A CSV (`,`) or TSV (tab) file with a header row. Cells may be quoted (`"…"`, with `""`
/// for a quote), so a text may span lines; blank lines are skipped; every row must have
/// as many cells as the header. The text is the column [`FieldNames::text`]; id, title and
/// groups columns are optional (several groups in one cell are joined by `|`); every
/// other column is metadata.
#[derive(Debug, Clone)]
pub struct DelimitedSource {
    path: PathBuf,
    delimiter: u8,
    fields: FieldNames,
}

/// Where each named column is.
struct Columns {
    names: Vec<String>,
    text: usize,
    id: Option<usize>,
    title: Option<usize>,
    groups: Option<usize>,
}

impl DelimitedSource {
    /// The file at `path`, cells separated by `delimiter` (`b','` or `b'\t'`).
    pub fn new(path: PathBuf, delimiter: u8, fields: FieldNames) -> Self {
        Self {
            path,
            delimiter,
            fields,
        }
    }

    fn bad(&self, line: u64, problem: TextProblem) -> CorpusError {
        CorpusError::bad_text(&self.path, line, problem)
    }

    fn csv_error(&self, e: csv::Error) -> CorpusError {
        let line = e.position().map_or(0, csv::Position::line);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => CorpusError::io(&self.path, io),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => self.bad(
                line,
                TextProblem::Malformed {
                    message: format!("{len} cells where the header has {expected_len}"),
                },
            ),
            other => self.bad(
                line,
                TextProblem::Malformed {
                    message: format!("{other:?}"),
                },
            ),
        }
    }

    fn columns(&self, header: &csv::ByteRecord) -> Result<Columns, CorpusError> {
        let names: Vec<String> = header
            .iter()
            .map(|c| utf8(c.to_vec(), &self.path, 1))
            .collect::<Result<_, _>>()?;
        let find = |n: &str| names.iter().position(|c| c == n);
        let f = &self.fields;
        let text = find(&f.text).ok_or_else(|| {
            self.bad(
                1,
                TextProblem::MissingField {
                    field: f.text.clone(),
                },
            )
        })?;
        let groups = f.group_candidates().into_iter().find_map(find);
        Ok(Columns {
            text,
            id: find(&f.id),
            title: find(&f.title),
            groups,
            names,
        })
    }

    fn document(
        &self,
        cols: &Columns,
        record: &csv::ByteRecord,
        line: u64,
        row: u64,
    ) -> Result<Document, CorpusError> {
        let cell = |i: usize| -> Result<String, CorpusError> {
            let bytes = record.get(i).unwrap_or_default().to_vec();
            utf8(bytes, &self.path, line)
        };
        let text = cell(cols.text)?;
        let id = match cols.id {
            Some(i) => cell(i)?,
            None => format!("row-{row}"),
        };
        let mut doc = Document::new(id, text);
        for (i, name) in cols.names.iter().enumerate() {
            if [Some(cols.text), cols.id, cols.title, cols.groups].contains(&Some(i)) {
                continue;
            }
            doc.tags.insert(name.clone(), cell(i)?);
        }
        if let Some(i) = cols.title {
            let t = cell(i)?;
            if !t.is_empty() {
                doc = doc.with_title(t);
            }
        }
        if let Some(i) = cols.groups {
            let g = cell(i)?;
            if !g.is_empty() {
                let groups: Vec<String> = g
                    .split(Document::GROUP_SEPARATOR)
                    .map(str::to_string)
                    .collect();
                check_groups(&groups, &self.path, line)?;
                doc = doc.with_groups(groups);
            }
        }
        Ok(doc)
    }
}

impl TextSource for DelimitedSource {
    fn origin(&self) -> &Path {
        &self.path
    }

    fn total_bytes(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn texts(&self) -> Result<TextStream<'_>, CorpusError> {
        let f = File::open(&self.path).map_err(|e| CorpusError::io(&self.path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(BufReader::with_capacity(1 << 16, f));
        let header = reader
            .byte_headers()
            .map_err(|e| self.csv_error(e))?
            .clone();
        if header.is_empty() {
            return Err(self.bad(
                1,
                TextProblem::MissingField {
                    field: self.fields.text.clone(),
                },
            ));
        }
        let cols = self.columns(&header)?;
        let mut record = csv::ByteRecord::new();
        let mut row = 0u64;
        Ok(Box::new(std::iter::from_fn(move || {
            match reader.read_byte_record(&mut record) {
                Ok(false) => None,
                Err(e) => Some(Err(self.csv_error(e))),
                Ok(true) => {
                    row += 1;
                    let line = record.position().map_or(0, csv::Position::line);
                    let bytes_read = reader.position().byte();
                    Some(
                        self.document(&cols, &record, line, row)
                            .map(|doc| SourcedText {
                                doc,
                                path: self.path.clone(),
                                line,
                                bytes_read,
                            }),
                    )
                }
            }
        })))
    }
}
