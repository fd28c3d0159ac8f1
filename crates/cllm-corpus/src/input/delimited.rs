//! CSV and TSV corpora: a header row, then one text per row.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
    max_record_bytes: u64,
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
            max_record_bytes: u64::MAX,
        }
    }

    /// Refuses a record of more than `bytes` bytes while reading it (an unclosed quote
    /// otherwise makes the rest of the file one record, held whole in memory).
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes as u64;
        self
    }

    fn bad(&self, line: u64, problem: TextProblem) -> CorpusError {
        CorpusError::bad_text(&self.path, line, problem)
    }

    /// `next_line`: where the record being read started (for a record cut off by the cap).
    fn csv_error(&self, e: csv::Error, next_line: u64) -> CorpusError {
        let line = e.position().map_or(0, csv::Position::line);
        match e.into_kind() {
            csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|i| i.is::<RecordTooLong>()) => self.bad(
                next_line,
                TextProblem::Malformed {
                    message: format!(
                        "a record of over {} bytes starts here (an unclosed quote?); raise --max-chars if it is real",
                        self.max_record_bytes
                    ),
                },
            ),
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
        let record_start = Rc::new(Cell::new(0u64));
        let capped = RecordCap {
            inner: BufReader::with_capacity(1 << 16, f),
            read: 0,
            record_start: record_start.clone(),
            limit: self.max_record_bytes.saturating_add(READ_AHEAD),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(capped);
        let header = reader
            .byte_headers()
            .map_err(|e| self.csv_error(e, 1))?
            .clone();
        record_start.set(reader.position().byte());
        let mut next_line = reader.position().line();
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
                Err(e) => Some(Err(self.csv_error(e, next_line))),
                Ok(true) => {
                    row += 1;
                    let line = record.position().map_or(0, csv::Position::line);
                    let bytes_read = reader.position().byte();
                    record_start.set(bytes_read);
                    next_line = reader.position().line();
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

/// Bytes the readers may hold ahead of the record being parsed (the `BufReader`'s and the
/// csv reader's buffers), allowed on top of the record limit.
const READ_AHEAD: u64 = 1 << 18;

/// The error a [`RecordCap`] stops a record with.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// A reader that fails once more than `limit` bytes were read past the start of the record
/// being parsed (`record_start`, moved on by the caller after every record).
struct RecordCap<R> {
    inner: R,
    read: u64,
    record_start: Rc<Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.record_start.get()) > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RecordTooLong,
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}
