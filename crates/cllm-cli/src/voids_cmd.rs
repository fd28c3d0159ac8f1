//! `cllm voids` and `cllm store …`: the vector store and the void-zone search.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cllm_void::{VectorStore, VoidSearchOptions};

use crate::corpus_args::CorpusArgs;
use crate::CmdResult;

#[derive(Debug, Args)]
pub struct VoidsArgs {
    /// The vector store (SQLite file).
    #[arg(long, default_value = "cllm-out/vectors.sqlite")]
    store: PathBuf,
    /// The collection to search.
    #[arg(long)]
    collection: String,
    /// Zones to report.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Null runs per null model (0 skips the significance test; 19 gives p ≥ 0.05).
    #[arg(long, default_value_t = 19)]
    null_runs: usize,
    /// Random seed of the search and the nulls.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Candidate centres of the empty-ball search.
    #[arg(long)]
    candidates: Option<usize>,
    /// Where to write the report as JSON.
    #[arg(long, default_value = "cllm-out/voids.json")]
    out: PathBuf,
    /// Labels of the texts around each zone: from --corpus when given (your own corpus,
    /// read the same way as for `encode`), else from the tags stored with the vectors.
    #[command(flatten)]
    corpus: CorpusArgs,
}

pub fn run_voids(args: VoidsArgs) -> CmdResult {
    let store = open_existing(&args.store)?;
    let mut opts = VoidSearchOptions {
        top: args.top,
        ..Default::default()
    };
    opts.null.runs = args.null_runs;
    opts.search.seed = args.seed;
    if let Some(c) = args.candidates {
        opts.search.candidates = c;
    }
    let report = cllm_void::find_voids(&store, &args.collection, &opts)?;
    println!("{}", cllm_core::safe_text::printable(&report.to_string()));
    print_zone_labels(&report, &store, &args)?;
    if let Some(dir) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    report.write_json_atomic(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Prints, for each zone, the texts that bound it with their group and title: what the
/// empty region lies between.
fn print_zone_labels(
    report: &cllm_void::VoidReport,
    store: &VectorStore,
    args: &VoidsArgs,
) -> CmdResult {
    let corpus = args.corpus.read_own()?;
    let by_id: std::collections::HashMap<&str, &cllm_core::Document> = corpus
        .iter()
        .flat_map(|c| c.iter())
        .map(|d| (d.id.as_str(), d))
        .collect();
    for zone in &report.zones {
        let mut labels = Vec::new();
        for id in &zone.bounding_ids {
            let stored;
            let doc = match by_id.get(id.as_str()) {
                Some(d) => Some(*d),
                None if corpus.is_none() => {
                    stored = store.get(&args.collection, id)?.map(|(d, _)| d);
                    stored.as_ref()
                }
                None => None,
            };
            labels.push(match doc {
                Some(d) => format!("{id} [{}] {}", d.groups().join(", "), headline(d)),
                None => format!("{id} (not in the corpus)"),
            });
        }
        println!(
            "zone {} lies between: {}",
            zone.rank,
            cllm_core::safe_text::one_line(&labels.join("; "))
        );
    }
    Ok(())
}

/// A text's title, else its first line, at most 60 characters.
fn headline(d: &cllm_core::Document) -> String {
    let line = d
        .title()
        .or_else(|| d.text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .trim();
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// List the collections of a store.
    List {
        /// The vector store (SQLite file).
        #[arg(long, default_value = "cllm-out/vectors.sqlite")]
        store: PathBuf,
    },
    /// Write a collection's ids and vectors as a vector file (safetensors, readable from numpy/PyTorch).
    Export {
        /// The vector store (SQLite file).
        #[arg(long, default_value = "cllm-out/vectors.sqlite")]
        store: PathBuf,
        /// The collection.
        #[arg(long)]
        collection: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add the vectors of a vector file (from `export`, `cllm encode --safetensors` or a
    /// `cllm embed` shard) to a collection.
    Import {
        /// The vector store (SQLite file; created if absent).
        #[arg(long, default_value = "cllm-out/vectors.sqlite")]
        store: PathBuf,
        /// The collection.
        #[arg(long)]
        collection: String,
        /// Input file.
        #[arg(long)]
        file: PathBuf,
    },
}

fn open_existing(path: &Path) -> Result<VectorStore, Box<dyn std::error::Error + Send + Sync>> {
    if !path.exists() {
        return Err(format!("no vector store at {}", path.display()).into());
    }
    Ok(VectorStore::open(path)?)
}

pub fn run_store(cmd: StoreCommand) -> CmdResult {
    match cmd {
        StoreCommand::List { store } => {
            let store = open_existing(&store)?;
            for c in store.collections()? {
                println!("{}\t{} vectors\tmodel {:?}", c.name, c.count, c.model);
            }
        }
        StoreCommand::Export {
            store,
            collection,
            out,
        } => {
            open_existing(&store)?.export_safetensors(&collection, &out)?;
            println!("wrote {}", out.display());
        }
        StoreCommand::Import {
            store,
            collection,
            file,
        } => {
            if let Some(dir) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut s = VectorStore::open(&store)?;
            let stats =
                s.import_safetensors(&file, &collection, cllm_void::DEFAULT_IMPORT_LIMIT)?;
            println!("{stats:?}");
        }
    }
    Ok(())
}
