//! Checking the texts of a source and collecting them into a [`Corpus`].

use std::collections::HashMap;
use std::path::Path;

use super::TextSource;
use crate::corpus::{Corpus, LoadReport};
use crate::{CorpusError, TextProblem};

/// How texts are checked while a corpus is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// The longest text, in characters (Unicode scalar values). Longer texts are cut to
    /// it and counted ([`LoadReport::cut`]), or refused when [`strict`](Self::strict).
    /// It also bounds memory: a JSONL/fortune line may be at most
    /// [`max_line_bytes`](Self::max_line_bytes) long, and a folder's file is read only as
    /// far as [`max_file_bytes`](Self::max_file_bytes).
    pub max_chars: usize,
    /// Refuse texts over [`max_chars`](Self::max_chars) instead of cutting them.
    pub strict: bool,
}

impl Default for ReadOptions {
    /// 100,000 characters, cut (the recipes are at most ~3,100; the models read at most a
    /// few hundred tokens of a text).
    fn default() -> Self {
        Self {
            max_chars: 100_000,
            strict: false,
        }
    }
}

impl ReadOptions {
    /// The longest line read: room for [`max_chars`](Self::max_chars) characters written
    /// as JSON escapes (`\uXXXX\uXXXX` for one character: 12 bytes) plus 64 KiB of other
    /// fields.
    pub fn max_line_bytes(&self) -> usize {
        self.max_chars.saturating_mul(12).saturating_add(1 << 16)
    }

    /// How much of a file is read: `4 × (max_chars + 1)` bytes always hold more than
    /// `max_chars` characters when the file is longer (a character is at most 4 bytes).
    pub fn max_file_bytes(&self) -> u64 {
        (self.max_chars as u64 + 1).saturating_mul(4)
    }
}

/// Reads every text of `source`, checks it and collects the corpus, in source order.
///
/// Checks, in this order, each a [`CorpusError::BadText`] naming the file and line:
/// a non-empty id, a text that is not only whitespace, an id not seen before
/// ([`TextProblem::DuplicateId`] names the first place too), and the length limit
/// (cut and counted, or [`TextProblem::TooLong`] when strict). The readers check UTF-8,
/// the fields and the group names. A source without any text is
/// [`CorpusError::EmptyCorpus`]. `progress(bytes_read, total_bytes)` is called after each
/// text.
pub fn read_corpus(
    source: &dyn TextSource,
    options: &ReadOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Corpus, CorpusError> {
    let total = source.total_bytes();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut docs = Vec::new();
    let mut cut = 0usize;
    for item in source.texts()? {
        let mut t = item?;
        let bad = |problem| CorpusError::bad_text(&t.path, t.line, problem);
        if t.doc.id.is_empty() {
            return Err(bad(TextProblem::EmptyId));
        }
        if t.doc.text.trim().is_empty() {
            return Err(bad(TextProblem::EmptyText));
        }
        if let Some(first) = seen.get(&t.doc.id) {
            return Err(bad(TextProblem::DuplicateId {
                id: t.doc.id.clone(),
                first: first.clone(),
            }));
        }
        if let Some((end, _)) = t.doc.text.char_indices().nth(options.max_chars) {
            if options.strict {
                return Err(bad(TextProblem::TooLong {
                    chars: t.doc.text.chars().count(),
                    limit: options.max_chars,
                }));
            }
            t.doc.text.truncate(end);
            cut += 1;
        }
        seen.insert(t.doc.id.clone(), location(&t.path, t.line));
        docs.push(t.doc);
        progress(t.bytes_read, total);
    }
    if docs.is_empty() {
        return Err(CorpusError::EmptyCorpus {
            path: source.origin().to_path_buf(),
        });
    }
    if cut > 0 {
        tracing::warn!(
            texts = cut,
            limit = options.max_chars,
            "texts over the length limit were cut"
        );
    }
    let mut report = LoadReport::default();
    report
        .read
        .insert(source.origin().display().to_string(), docs.len());
    report.cut = cut;
    Ok(Corpus::from_parts(docs, report))
}

fn location(path: &Path, line: u64) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    }
}
