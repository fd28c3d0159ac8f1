//! Your own corpus: any collection of texts, read as a stream of [`Document`]s.
//!
//! A [`TextSource`] yields [`SourcedText`]s (a document and the file and line it came
//! from); [`read_corpus`] checks them one by one and collects them into a [`Corpus`]. The
//! sources:
//!
//! | format | what | id | title | groups | metadata |
//! |---|---|---|---|---|---|
//! | [`CorpusFormat::Jsonl`] | one JSON object per line | field `id` (string or number), else `line-<n>` | field `title` | field `groups` (a string or an array) or `label` | every other field, and the entries of a `tags` object |
//! | [`CorpusFormat::Csv`], [`CorpusFormat::Tsv`] | a header row, then one text per row | column `id`, else `row-<n>` | column `title` | column `groups` or `label` (several joined by `\|`) | every other column |
//! | [`CorpusFormat::Folder`] | a folder of `.txt`/`.md` files, one text per file | the path below the folder without the extension (`soup/minestrone`) | a Markdown file's first `# ` heading | the first sub-folder (`soup`) | — |
//! | [`CorpusFormat::Fortune`] | fortune-cookie files: texts separated by lines holding `%` | `<file>:<n>` | — | the file name | — |
//! | [`RecipeSource`] | the built-in recipe corpus ([`crate::load_corpus`]) | as there | as there | its families | as there |
//!
//! Field and column names are set by [`FieldNames`]. Every text is checked
//! ([`read_corpus`]): UTF-8, not empty, an id not seen before, valid group names, and at
//! most [`ReadOptions::max_chars`] characters (longer texts are cut and counted, or refused
//! with [`ReadOptions::strict`]). A problem is a [`CorpusError::BadText`] naming the file,
//! the line and the [`TextProblem`](crate::TextProblem); nothing is returned half-read.
//!
//! ```
//! use cllm_corpus::input::{read_corpus_file, CorpusSpec};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("notes.jsonl");
//! std::fs::write(&path, concat!(
//!     r#"{"id": "a", "text": "Tomato soup with basil.", "groups": "soup"}"#, "\n",
//!     r#"{"id": "b", "text": "A pizza with olives.", "label": "pizza", "year": 2024}"#, "\n",
//! ))?;
//! let corpus = read_corpus_file(&CorpusSpec::new(&path), &mut |_, _| {})?;
//! assert_eq!(corpus.len(), 2);
//! let b = &corpus.documents()[1];
//! assert_eq!((b.id.as_str(), b.group(), b.tag("year")), ("b", Some("pizza"), Some("2024")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod delimited;
mod folder;
mod fortune;
mod jsonl;
mod line;

use std::fmt;
use std::path::{Path, PathBuf};

use cllm_core::Document;

use crate::assets::AssetPaths;
use crate::corpus::Corpus;
use crate::CorpusError;

pub use check::{read_corpus, ReadOptions};
pub use delimited::DelimitedSource;
pub use folder::FolderSource;
pub use fortune::FortuneSource;
pub use jsonl::JsonlSource;

/// One text as a source read it: the document and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedText {
    /// The document (id, text, tags).
    pub doc: Document,
    /// The file it was read from.
    pub path: PathBuf,
    /// The 1-based line it starts on (0: the whole file).
    pub line: u64,
    /// Bytes of the source read so far (for progress).
    pub bytes_read: u64,
}

/// The stream of texts a [`TextSource`] yields.
pub type TextStream<'a> = Box<dyn Iterator<Item = Result<SourcedText, CorpusError>> + 'a>;

/// A collection of texts, read as a stream in a stable order.
///
/// Implementations read lazily (one record in memory at a time) and report a malformed
/// record as an error item naming its file and line; [`read_corpus`] stops at the first.
pub trait TextSource {
    /// The file or folder read (for messages).
    fn origin(&self) -> &Path;
    /// Bytes to read in all, when known (for a progress bar).
    fn total_bytes(&self) -> Option<u64>;
    /// The texts, in order.
    fn texts(&self) -> Result<TextStream<'_>, CorpusError>;
}

/// The formats a corpus file or folder can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorpusFormat {
    /// JSON Lines: one object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// A folder of `.txt`/`.md` files.
    Folder,
    /// Fortune-cookie files (a file, or a folder of them).
    Fortune,
}

impl CorpusFormat {
    /// Every format, in the order of [`CorpusFormat::NAMES`].
    pub const ALL: [CorpusFormat; 5] = [
        CorpusFormat::Jsonl,
        CorpusFormat::Csv,
        CorpusFormat::Tsv,
        CorpusFormat::Folder,
        CorpusFormat::Fortune,
    ];
    /// The names [`CorpusFormat::from_name`] accepts.
    pub const NAMES: [&'static str; 5] = ["jsonl", "csv", "tsv", "folder", "fortune"];

    /// The format's name, e.g. `jsonl`.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The format of a name (`jsonl`, `csv`, `tsv`, `folder`, `fortune`).
    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        Some(Self::ALL[i])
    }

    /// The format of a path: a folder is [`CorpusFormat::Folder`]; a file by its
    /// extension (`.jsonl`, `.ndjson`, `.json` → JSONL, `.csv`, `.tsv`/`.tab`).
    pub fn detect(path: &Path) -> Result<Self, CorpusError> {
        if path.is_dir() {
            return Ok(CorpusFormat::Folder);
        }
        if !path.exists() {
            return Err(CorpusError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => Ok(CorpusFormat::Jsonl),
            Some("csv") => Ok(CorpusFormat::Csv),
            Some("tsv" | "tab") => Ok(CorpusFormat::Tsv),
            _ => Err(CorpusError::UnknownFormat {
                path: path.to_path_buf(),
                hint: format!(
                    "name the format ({}) with --corpus-format",
                    Self::NAMES.join(", ")
                ),
            }),
        }
    }
}

impl fmt::Display for CorpusFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The field names (JSONL) or column names (CSV/TSV) of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// The text (required). Default `text`.
    pub text: String,
    /// The stable id. Default `id`; without it, texts are numbered by line or row.
    pub id: String,
    /// The title. Default `title`.
    pub title: String,
    /// The groups or label. `None`: `groups`, else `label`.
    pub groups: Option<String>,
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            text: "text".into(),
            id: "id".into(),
            title: "title".into(),
            groups: None,
        }
    }
}

impl FieldNames {
    /// The group field names tried, in order.
    pub(crate) fn group_candidates(&self) -> Vec<&str> {
        match &self.groups {
            Some(g) => vec![g.as_str()],
            None => vec!["groups", "label"],
        }
    }

    /// Whether `name` is one of the named fields (not metadata).
    pub(crate) fn is_named(&self, name: &str) -> bool {
        name == self.text
            || name == self.id
            || name == self.title
            || self.group_candidates().contains(&name)
    }
}

/// A corpus on disk: where it is, its format (detected when `None`), its field names and
/// how it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusSpec {
    /// The file or folder.
    pub path: PathBuf,
    /// The format; `None` detects it ([`CorpusFormat::detect`]).
    pub format: Option<CorpusFormat>,
    /// Field and column names.
    pub fields: FieldNames,
    /// Checks and limits.
    pub options: ReadOptions,
}

impl CorpusSpec {
    /// A corpus at `path`, format detected, default fields and options.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: None,
            fields: FieldNames::default(),
            options: ReadOptions::default(),
        }
    }

    /// The source that reads it.
    pub fn open(&self) -> Result<Box<dyn TextSource>, CorpusError> {
        let format = match self.format {
            Some(f) => f,
            None => CorpusFormat::detect(&self.path)?,
        };
        let p = self.path.clone();
        let max_line_bytes = self.options.max_line_bytes();
        Ok(match format {
            CorpusFormat::Jsonl => {
                Box::new(JsonlSource::new(p, self.fields.clone(), max_line_bytes))
            }
            CorpusFormat::Csv => Box::new(
                DelimitedSource::new(p, b',', self.fields.clone())
                    .with_max_record_bytes(max_line_bytes),
            ),
            CorpusFormat::Tsv => Box::new(
                DelimitedSource::new(p, b'\t', self.fields.clone())
                    .with_max_record_bytes(max_line_bytes),
            ),
            CorpusFormat::Folder => Box::new(FolderSource::new(p, self.options.max_file_bytes())?),
            CorpusFormat::Fortune => Box::new(FortuneSource::new(p, max_line_bytes)?),
        })
    }
}

/// Reads and checks the corpus `spec` names; `progress(bytes_read, total_bytes)` is called
/// as it goes.
pub fn read_corpus_file(
    spec: &CorpusSpec,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Corpus, CorpusError> {
    let source = spec.open()?;
    read_corpus(source.as_ref(), &spec.options, progress)
}

/// The built-in recipe corpus as a [`TextSource`] (it is read whole, as
/// [`crate::load_corpus`] does, then streamed).
#[derive(Debug, Clone)]
pub struct RecipeSource {
    paths: AssetPaths,
}

impl RecipeSource {
    /// The recipes of the asset files in `paths`.
    pub fn new(paths: AssetPaths) -> Self {
        Self { paths }
    }
}

impl TextSource for RecipeSource {
    fn origin(&self) -> &Path {
        &self.paths.wikibooks_json
    }

    fn total_bytes(&self) -> Option<u64> {
        None
    }

    fn texts(&self) -> Result<TextStream<'_>, CorpusError> {
        let corpus = Corpus::load(&self.paths)?;
        let origin = self.paths.wikibooks_json.clone();
        Ok(Box::new(
            corpus
                .into_documents()
                .into_iter()
                .enumerate()
                .map(move |(i, doc)| {
                    Ok(SourcedText {
                        doc,
                        path: origin.clone(),
                        line: i as u64 + 1,
                        bytes_read: 0,
                    })
                }),
        ))
    }
}

/// Checks group names read from a record; the first bad one is an error.
pub(crate) fn check_groups(groups: &[String], path: &Path, line: u64) -> Result<(), CorpusError> {
    match groups.iter().find(|g| !Document::is_valid_group(g)) {
        Some(bad) => Err(CorpusError::bad_text(
            path,
            line,
            crate::TextProblem::BadGroup { name: bad.clone() },
        )),
        None => Ok(()),
    }
}
