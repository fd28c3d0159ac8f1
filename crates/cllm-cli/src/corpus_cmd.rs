//! `cllm corpus …`

use std::path::PathBuf;

use clap::Subcommand;

use crate::{AssetArgs, CmdResult};

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Print document counts per source and family and the text-length distribution.
    Stats {
        #[command(flatten)]
        assets: AssetArgs,
        /// Also write the corpus as JSON lines (`{"id", "text", "tags"}`) to this file.
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

pub fn run(cmd: CorpusCommand) -> CmdResult {
    match cmd {
        CorpusCommand::Stats { assets, export } => {
            let corpus = cllm_corpus::load_corpus(&assets.resolve()?)?;
            println!("{}", corpus.stats());
            if let Some(path) = export {
                corpus.write_jsonl(&path)?;
                println!("wrote {} documents to {}", corpus.len(), path.display());
            }
            Ok(())
        }
    }
}
