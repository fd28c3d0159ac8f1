//! `--corpus PATH`: the texts a command reads, the built-in recipes or your own.
//!
//! Every command that reads texts flattens [`CorpusArgs`] next to [`AssetArgs`], so they
//! all take the same options (and so can `generate` and `experiment` when they come).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cllm_autoencoder::OverLength;
use cllm_corpus::{AssetPaths, Corpus, CorpusFormat, CorpusSpec, FieldNames, ReadOptions};

use crate::{progress, AssetArgs};

/// The corpus formats, as `--corpus-format` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// JSON Lines: one object per line with a text field.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// A folder of .txt/.md files (sub-folder = group).
    Folder,
    /// Fortune-cookie files (texts between `%` lines; file name = group).
    Fortune,
}

impl From<FormatArg> for CorpusFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Jsonl => CorpusFormat::Jsonl,
            FormatArg::Csv => CorpusFormat::Csv,
            FormatArg::Tsv => CorpusFormat::Tsv,
            FormatArg::Folder => CorpusFormat::Folder,
            FormatArg::Fortune => CorpusFormat::Fortune,
        }
    }
}

/// Which texts a command reads (shared by every command that reads texts).
#[derive(Debug, Clone, Args)]
pub struct CorpusArgs {
    /// Your own corpus instead of the built-in recipes: a .jsonl, .csv or .tsv file, or a
    /// folder of .txt/.md files (see docs/corpus.md). Its groups (JSONL `groups`/`label`,
    /// a CSV label column, sub-folders) are the families --hold-out and --family name.
    #[arg(long, value_name = "PATH")]
    pub corpus: Option<PathBuf>,
    /// The format of --corpus (default: from the extension; a folder is `folder`).
    #[arg(long, value_enum, requires = "corpus")]
    pub corpus_format: Option<FormatArg>,
    /// The field (JSONL) or column (CSV/TSV) holding the text.
    #[arg(long, default_value = "text", requires = "corpus")]
    pub text_field: String,
    /// The field or column holding the id (texts without one are numbered).
    #[arg(long, default_value = "id", requires = "corpus")]
    pub id_field: String,
    /// The field or column holding the title.
    #[arg(long, default_value = "title", requires = "corpus")]
    pub title_field: String,
    /// The field or column holding the group(s) (default: `groups`, else `label`).
    #[arg(long, requires = "corpus")]
    pub group_field: Option<String>,
    /// The longest text in characters; longer ones are cut and counted (or refused with
    /// --strict).
    #[arg(long, default_value_t = ReadOptions::default().max_chars, requires = "corpus")]
    pub max_chars: usize,
    /// Refuse texts over --max-chars instead of cutting them, and (train, experiment,
    /// encode, generate) texts over the model's length in tokens: the error names the
    /// text's id and length.
    #[arg(long, requires = "corpus")]
    pub strict: bool,
}

impl CorpusArgs {
    /// Whether the texts are a corpus of the user's (not the built-in recipes).
    pub fn is_own(&self) -> bool {
        self.corpus.is_some()
    }

    /// What happens to a text over the model's length in tokens: refused with --strict,
    /// else cut and counted.
    pub fn over_length(&self) -> OverLength {
        if self.strict {
            OverLength::Refuse
        } else {
            OverLength::Cut
        }
    }

    /// The spec of `--corpus`, if given.
    pub fn spec(&self) -> Option<CorpusSpec> {
        let path = self.corpus.clone()?;
        Some(CorpusSpec {
            path,
            format: self.corpus_format.map(Into::into),
            fields: FieldNames {
                text: self.text_field.clone(),
                id: self.id_field.clone(),
                title: self.title_field.clone(),
                groups: self.group_field.clone(),
            },
            options: ReadOptions {
                max_chars: self.max_chars,
                strict: self.strict,
            },
        })
    }

    /// Reads `--corpus` (with a progress bar), or `None` for the built-in recipes.
    pub fn read_own(&self) -> Result<Option<Corpus>, cllm_corpus::CorpusError> {
        let Some(spec) = self.spec() else {
            return Ok(None);
        };
        let bar = progress::bar(0, "bytes");
        let corpus = cllm_corpus::read_corpus_file(&spec, &mut |done, total| {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        })?;
        bar.finish_and_clear();
        let cut = corpus.report().cut;
        eprintln!(
            "corpus {}: {} texts{}",
            spec.path.display(),
            corpus.len(),
            if cut > 0 {
                format!(", {cut} cut to {} characters", self.max_chars)
            } else {
                String::new()
            }
        );
        Ok(Some(corpus))
    }

    /// The assets a command needs and its texts: with `--corpus`, only the model (none
    /// when `--gguf` names one) and the user's corpus; else the default assets and the
    /// built-in recipes.
    pub fn resolve(
        &self,
        assets: &AssetArgs,
        include_minilm: bool,
    ) -> Result<(AssetPaths, Corpus), Box<dyn std::error::Error + Send + Sync>> {
        match self.read_own()? {
            Some(corpus) => {
                let mut opts = assets.fetch_options();
                opts.include_minilm = include_minilm;
                opts.skip_recipes = true;
                opts.skip_model = assets.gguf.is_some();
                let mut paths = cllm_corpus::fetch_assets(&opts)?;
                if let Some(g) = &assets.gguf {
                    paths.gguf = g.clone();
                }
                Ok((paths, corpus))
            }
            None => {
                let paths = assets.resolve_with_minilm(include_minilm)?;
                let corpus = cllm_corpus::load_corpus(&paths)?;
                Ok((paths, corpus))
            }
        }
    }
}
