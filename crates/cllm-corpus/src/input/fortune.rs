//! Fortune-cookie files (the data of the BSD `fortune` program).

use std::fs;
use std::path::{Path, PathBuf};

use cllm_core::Document;

use super::line::LineReader;
use super::{check_groups, SourcedText, TextSource, TextStream};
use crate::{CorpusError, TextProblem};

/// Fortune-cookie files: texts separated by lines holding only `%` (the source format of
/// `strfile`). The path is one such file or a folder of them, where every regular file
/// whose name has no extension is read, in sorted order (`fortunes.dat` indexes,
/// `*.u8` links, hidden files and sub-folders are skipped). A text is the lines between
/// two separators joined by `\n`; its id is `<file>:<n>` (the n-th text of the file, from
/// 1) and its group the file name, so `riddles` can be held out.
///
/// Debian's `fortunes-min` package ships three such files (`fortunes`, `literature`,
/// `riddles`) under `/usr/share/games/fortunes`; see `docs/corpus.md`.
#[derive(Debug, Clone)]
pub struct FortuneSource {
    origin: PathBuf,
    files: Vec<PathBuf>,
    max_line_bytes: usize,
}

impl FortuneSource {
    /// The fortune file at `path`, or the fortune files in the folder `path`.
    pub fn new(path: PathBuf, max_line_bytes: usize) -> Result<Self, CorpusError> {
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(&path)
                .map_err(|e| CorpusError::io(&path, e))?
                .map(|e| e.map_err(|err| CorpusError::io(&path, err)))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_none()
                        && p.file_name()
                            .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        Ok(Self {
            origin: path,
            files,
            max_line_bytes,
        })
    }

    /// The files read, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// The texts of one fortune file, streamed.
struct FortuneFile {
    path: PathBuf,
    name: String,
    lines: LineReader,
    count: usize,
    done_before: u64,
    finished: bool,
    /// The most bytes one text may hold (the line limit: room for `--max-chars`).
    max_text_bytes: usize,
}

impl FortuneFile {
    fn next_text(&mut self) -> Option<Result<SourcedText, CorpusError>> {
        if self.finished {
            return None;
        }
        let mut body: Vec<String> = Vec::new();
        let mut body_bytes = 0usize;
        let mut first_line = 0;
        loop {
            match self.lines.next_line() {
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                Ok(None) => {
                    self.finished = true;
                    if body.iter().all(|l| l.trim().is_empty()) {
                        return None;
                    }
                    break;
                }
                Ok(Some(l)) if l.text == "%" => {
                    if body.iter().all(|l| l.trim().is_empty()) {
                        return Some(Err(CorpusError::bad_text(
                            &self.path,
                            l.number,
                            TextProblem::EmptyText,
                        )));
                    }
                    break;
                }
                Ok(Some(l)) => {
                    if body.is_empty() {
                        first_line = l.number;
                    }
                    body_bytes += l.text.len() + 1;
                    if body_bytes > self.max_text_bytes {
                        self.finished = true;
                        return Some(Err(CorpusError::bad_text(
                            &self.path,
                            first_line,
                            TextProblem::Malformed {
                                message: format!(
                                    "a text of over {} bytes without a `%` line after it (is this a fortune file?); raise --max-chars if it is real",
                                    self.max_text_bytes
                                ),
                            },
                        )));
                    }
                    body.push(l.text);
                }
            }
        }
        self.count += 1;
        let doc = Document::new(format!("{}:{}", self.name, self.count), body.join("\n"))
            .with_groups([self.name.clone()]);
        Some(Ok(SourcedText {
            doc,
            path: self.path.clone(),
            line: first_line,
            bytes_read: self.done_before + self.lines.bytes_read(),
        }))
    }
}

impl TextSource for FortuneSource {
    fn origin(&self) -> &Path {
        &self.origin
    }

    fn total_bytes(&self) -> Option<u64> {
        Some(
            self.files
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
        )
    }

    fn texts(&self) -> Result<TextStream<'_>, CorpusError> {
        let mut files = self.files.iter();
        let mut current: Option<FortuneFile> = None;
        let mut done_before = 0u64;
        Ok(Box::new(std::iter::from_fn(move || loop {
            if let Some(file) = current.as_mut() {
                match file.next_text() {
                    Some(item) => return Some(item),
                    None => {
                        done_before += file.lines.bytes_read();
                        current = None;
                    }
                }
            }
            let path = files.next()?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(e) = check_groups(std::slice::from_ref(&name), path, 0) {
                return Some(Err(e));
            }
            match LineReader::open(path, self.max_line_bytes) {
                Ok(lines) => {
                    current = Some(FortuneFile {
                        path: path.clone(),
                        name,
                        lines,
                        count: 0,
                        done_before,
                        finished: false,
                        max_text_bytes: self.max_line_bytes,
                    })
                }
                Err(e) => return Some(Err(e)),
            }
        })))
    }
}
