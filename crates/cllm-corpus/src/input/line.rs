//! Reading a file line by line as bytes, bounded, with UTF-8 checked per line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::{CorpusError, TextProblem};

/// One line: its 1-based number and text (without the line break).
pub(crate) struct Line {
    pub number: u64,
    pub text: String,
}

/// Reads a file one line at a time; a line longer than the limit or not UTF-8 is an
/// error naming the file and line. `\r\n` and `\n` both end a line.
pub(crate) struct LineReader {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
    number: u64,
    bytes_read: u64,
    max_line_bytes: usize,
}

impl LineReader {
    pub fn open(path: &Path, max_line_bytes: usize) -> Result<Self, CorpusError> {
        let f = File::open(path).map_err(|e| CorpusError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, f),
            buf: Vec::new(),
            number: 0,
            bytes_read: 0,
            max_line_bytes,
        })
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line, `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line>, CorpusError> {
        self.buf.clear();
        let mut overlong = false;
        let mut any = false;
        loop {
            let chunk = self
                .reader
                .fill_buf()
                .map_err(|e| CorpusError::io(&self.path, e))?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take <= self.max_line_bytes + 2 {
                self.buf.extend_from_slice(&chunk[..take]);
            } else {
                overlong = true;
            }
            self.reader.consume(take);
            self.bytes_read += take as u64;
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if overlong {
            return Err(CorpusError::bad_text(
                &self.path,
                self.number,
                TextProblem::Malformed {
                    message: format!(
                        "line longer than {} bytes (raise --max-chars to read longer texts)",
                        self.max_line_bytes
                    ),
                },
            ));
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        let text = utf8(std::mem::take(&mut self.buf), &self.path, self.number)?;
        Ok(Some(Line {
            number: self.number,
            text,
        }))
    }
}

/// `bytes` as a string, or [`TextProblem::NotUtf8`] at `path:line` with the column of
/// the first bad byte (counted from the last line break before it when `bytes` spans
/// several lines; `line` is then advanced to the bad byte's line).
pub(crate) fn utf8(bytes: Vec<u8>, path: &Path, line: u64) -> Result<String, CorpusError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let breaks = before.iter().filter(|&&b| b == b'\n').count() as u64;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        CorpusError::bad_text(
            path,
            line + breaks,
            TextProblem::NotUtf8 {
                column: at - line_start + 1,
            },
        )
    })
}
