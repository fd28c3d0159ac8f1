//! `cllm corpus …`

use std::path::PathBuf;

use clap::Subcommand;

use crate::corpus_args::CorpusArgs;
use crate::{AssetArgs, CmdResult};

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Print document counts per source and family (group) and the text-length
    /// distribution; with --corpus, check your own corpus.
    Stats {
        #[command(flatten)]
        assets: AssetArgs,
        #[command(flatten)]
        corpus: CorpusArgs,
        /// Also write the corpus as JSON lines (`{"id", "text", "tags"}`) to this file.
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

pub fn run(cmd: CorpusCommand) -> CmdResult {
    match cmd {
        CorpusCommand::Stats {
            assets,
            corpus,
            export,
        } => {
            let corpus = match corpus.read_own()? {
                Some(own) => own,
                None => cllm_corpus::load_corpus(&assets.resolve()?)?,
            };
            println!("{}", corpus.stats());
            if let Some(path) = export {
                corpus.write_jsonl(&path)?;
                println!("wrote {} documents to {}", corpus.len(), path.display());
            }
            Ok(())
        }
    }
}
