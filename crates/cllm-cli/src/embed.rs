//! `cllm embed`: backbone token matrices for the whole corpus, written in resumable shards.
//!
//! The corpus is cut into shards of `--shard-size` documents. Each shard is one vector file
//! (the format of [`cllm_core::vector_file`], so `cllm store import` and every other reader
//! of vector files reads it), written atomically, holding for its documents:
//!
//! | tensor | shape | meaning |
//! |---|---|---|
//! | `vectors` | `[n, d]` f32 | the mean of each document's token matrix (a cheap text vector) |
//! | `ids_utf8`, `ids_offsets` | | the document ids (the format's own) |
//! | `token_ids` | `[T]` u32 | the (truncated) token ids of all documents, concatenated |
//! | `token_offsets` | `[n + 1]` i64 | document `i` owns rows `token_offsets[i]..token_offsets[i+1]` |
//! | `matrices` | `[T, d]` f32 | the token matrices themselves (only with `--full`) |
//!
//! and in its metadata the model (`model`, with the layer: `<name>@layer<N>/mean`), layer,
//! token cap and `full`. A rerun skips shards whose ids and metadata match, so an
//! interrupted job resumes where it stopped; `summary.json` is rewritten (atomically) at
//! the end.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use cllm_backbone::{device, LlamaBackbone};
use cllm_core::{Backbone, Document, ExtraTensor, TokenMatrix, VectorFile};
use serde::Serialize;

use crate::corpus_args::CorpusArgs;
use crate::{AssetArgs, CmdResult};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Layer of the backbone: 0 = token embeddings, N = residual stream after N blocks.
    #[arg(long, default_value_t = 0)]
    layer: usize,
    /// Longest text in tokens; longer texts are cut (and counted in the summary).
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
    /// Documents per output shard.
    #[arg(long, default_value_t = 256)]
    shard_size: usize,
    /// Also store the full token matrices (T×d floats), not only ids and means.
    #[arg(long)]
    full: bool,
    /// Output directory (shards and summary.json go to OUT/embed-layer<N>).
    #[arg(long, default_value = "cllm-out")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Summary {
    model: String,
    gguf: String,
    backend: &'static str,
    layer: usize,
    width: usize,
    max_tokens: usize,
    documents: usize,
    tokens: usize,
    truncated_documents: usize,
    token_length: LengthStats,
    shards: usize,
    shards_reused: usize,
    seconds_computing: f64,
    tokens_per_second_computing: f64,
    documents_per_family: HashMap<String, usize>,
}

#[derive(Debug, Serialize)]
struct LengthStats {
    min: usize,
    median: usize,
    p95: usize,
    max: usize,
}

impl LengthStats {
    fn of(mut lens: Vec<usize>) -> Self {
        lens.sort_unstable();
        let at = |q: f64| {
            lens.get(((lens.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        Self {
            min: at(0.0),
            median: at(0.5),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

struct Job<'a> {
    model: &'a LlamaBackbone<device::DefaultBackend>,
    args: &'a EmbedArgs,
}

pub fn run(args: EmbedArgs) -> CmdResult {
    if args.batch == 0 || args.shard_size == 0 || args.max_tokens == 0 {
        return Err("--batch, --shard-size and --max-tokens must be positive".into());
    }
    let (paths, corpus) = args.corpus.resolve(&args.assets, false)?;
    let docs: Vec<&Document> = corpus
        .iter()
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    if docs.is_empty() {
        return Err("the corpus is empty".into());
    }
    let dev = device::default_device()?;
    let model = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    if args.layer > model.num_layers() {
        return Err(format!(
            "--layer {} but the model has layers 0..={}",
            args.layer,
            model.num_layers()
        )
        .into());
    }
    let max_tokens = args.max_tokens.min(model.max_len());
    let dir = args.out.join(format!("embed-layer{}", args.layer));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let _writer = cllm_core::FolderLock::acquire(&dir)?;
    tracing::info!(docs = docs.len(), layer = args.layer, dir = %dir.display(), "embedding corpus");

    let job = Job {
        model: &model,
        args: &args,
    };
    let mut lengths = Vec::with_capacity(docs.len());
    let mut truncated = 0;
    let mut tokens = 0;
    let mut reused = 0;
    let mut computed_tokens = 0;
    let mut computing = std::time::Duration::ZERO;
    let shards: Vec<&[&Document]> = docs.chunks(args.shard_size).collect();
    let bar = crate::progress::bar(docs.len() as u64, "texts");
    for (i, shard) in shards.iter().enumerate() {
        let ids: Vec<Vec<u32>> = shard
            .iter()
            .map(|d| model.tokenize(&d.text))
            .collect::<Result<_, _>>()?;
        for t in &ids {
            lengths.push(t.len());
            truncated += usize::from(t.len() > max_tokens);
            tokens += t.len().min(max_tokens);
        }
        let ids: Vec<Vec<u32>> = ids
            .into_iter()
            .map(|mut t| {
                t.truncate(max_tokens);
                t
            })
            .collect();
        let path = dir.join(format!("shard-{i:05}.safetensors"));
        let meta = job.metadata(max_tokens);
        let doc_ids: Vec<String> = shard.iter().map(|d| d.id.clone()).collect();
        if shard_matches(&path, &doc_ids, &meta) {
            reused += 1;
            bar.inc(shard.len() as u64);
        } else {
            let t = Instant::now();
            job.embed_shard(&path, doc_ids, &ids, meta, &bar)?;
            computing += t.elapsed();
            computed_tokens += ids.iter().map(Vec::len).sum::<usize>();
        }
    }
    bar.finish_and_clear();

    let mut per_family = HashMap::new();
    for d in &docs {
        *per_family
            .entry(d.tag("family").unwrap_or("(none)").to_string())
            .or_insert(0) += 1;
    }
    let secs = computing.as_secs_f64();
    let summary = Summary {
        model: model.name().to_string(),
        gguf: paths.gguf.display().to_string(),
        backend: device::backend_name(),
        layer: args.layer,
        width: model.width(),
        max_tokens,
        documents: docs.len(),
        tokens,
        truncated_documents: truncated,
        token_length: LengthStats::of(lengths),
        shards: shards.len(),
        shards_reused: reused,
        seconds_computing: secs,
        tokens_per_second_computing: if secs > 0.0 {
            computed_tokens as f64 / secs
        } else {
            0.0
        },
        documents_per_family: per_family,
    };
    let json = serde_json::to_vec_pretty(&summary)?;
    let summary_path = dir.join("summary.json");
    cllm_core::write_atomic(&summary_path, &json)?;
    println!(
        "embedded {} documents ({} tokens, {} truncated to {}) at layer {} into {} shards ({} reused) in {}",
        summary.documents, summary.tokens, truncated, max_tokens, args.layer, summary.shards, reused, dir.display()
    );
    if secs > 0.0 {
        println!(
            "{:.0} tokens/s on {}",
            summary.tokens_per_second_computing, summary.backend
        );
    }
    Ok(())
}

impl Job<'_> {
    fn metadata(&self, max_tokens: usize) -> BTreeMap<String, String> {
        let name = self.model.name();
        BTreeMap::from([
            (
                "model".to_string(),
                format!("{name}@layer{}/mean", self.args.layer),
            ),
            ("backbone".to_string(), name.to_string()),
            ("layer".to_string(), self.args.layer.to_string()),
            ("max_tokens".to_string(), max_tokens.to_string()),
            ("full".to_string(), self.args.full.to_string()),
        ])
    }

    /// Embeds one shard (batched, shortest first) and writes it to `path`.
    fn embed_shard(
        &self,
        path: &Path,
        doc_ids: Vec<String>,
        ids: &[Vec<u32>],
        meta: BTreeMap<String, String>,
        bar: &indicatif::ProgressBar,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut matrices: Vec<Option<TokenMatrix>> = vec![None; ids.len()];
        for chunk in order.chunks(self.args.batch) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            let out = self.model.embed_ids_batch(&batch, self.args.layer)?;
            for (&i, m) in chunk.iter().zip(out) {
                matrices[i] = Some(m);
            }
            bar.inc(chunk.len() as u64);
        }
        let matrices: Vec<TokenMatrix> = matrices
            .into_iter()
            .collect::<Option<_>>()
            .ok_or("the backbone returned fewer matrices than texts")?;
        write_shard(path, doc_ids, ids, &matrices, self.args.full, meta)
    }
}

/// Writes one shard: the row means as the vectors, the token ids (and matrices) as extra
/// tensors.
fn write_shard(
    path: &Path,
    doc_ids: Vec<String>,
    ids: &[Vec<u32>],
    matrices: &[TokenMatrix],
    full: bool,
    meta: BTreeMap<String, String>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let d = matrices.first().map(TokenMatrix::cols).unwrap_or(0);
    let mut mean = Vec::with_capacity(matrices.len() * d);
    for m in matrices {
        if m.is_empty() {
            return Err("an empty text has no mean embedding".into());
        }
        let mut acc = vec![0f64; d];
        for row in m.iter_rows() {
            for (a, v) in acc.iter_mut().zip(row) {
                *a += f64::from(*v);
            }
        }
        mean.extend(acc.into_iter().map(|a| (a / m.rows() as f64) as f32));
    }
    let mut file = VectorFile::new(doc_ids, d, mean)?;
    file.metadata = meta;
    let token_ids: Vec<u32> = ids.iter().flatten().copied().collect();
    let mut offsets = vec![0i64];
    for t in ids {
        offsets.push(offsets[offsets.len() - 1] + t.len() as i64);
    }
    let mut extra = vec![
        ExtraTensor::u32("token_ids", vec![token_ids.len()], &token_ids),
        ExtraTensor::i64("token_offsets", vec![offsets.len()], &offsets),
    ];
    if full {
        let values: Vec<f32> = matrices
            .iter()
            .flat_map(|m| m.as_slice().iter().copied())
            .collect();
        extra.push(ExtraTensor::f32(
            "matrices",
            vec![token_ids.len(), d],
            &values,
        ));
    }
    file.write_with_tensors(path, &extra)?;
    Ok(())
}

/// Whether `path` holds a complete shard of these documents written with the same
/// metadata (an older or damaged shard does not match and is rewritten).
fn shard_matches(path: &Path, doc_ids: &[String], meta: &BTreeMap<String, String>) -> bool {
    match VectorFile::read(path) {
        Ok(file) => file.ids == doc_ids && &file.metadata == meta,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard is a vector file: the shared reader reads its means and ids, the store
    /// imports it, and a rerun recognises it.
    #[test]
    fn shards_are_vector_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-00000.safetensors");
        let ids = vec![vec![5u32, 6, 7], vec![8]];
        let matrices = vec![
            TokenMatrix::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 9.0]).unwrap(),
            TokenMatrix::new(1, 2, vec![-1.0, 0.5]).unwrap(),
        ];
        let doc_ids = vec!["a".to_string(), "b".to_string()];
        let meta = BTreeMap::from([
            ("model".to_string(), "tiny@layer0/mean".to_string()),
            ("layer".to_string(), "0".to_string()),
        ]);
        write_shard(&path, doc_ids.clone(), &ids, &matrices, true, meta.clone()).unwrap();
        let file = VectorFile::read(&path).unwrap();
        assert_eq!(file.ids, doc_ids);
        assert_eq!(file.row(0), &[3.0, 5.0]);
        assert_eq!(file.row(1), &[-1.0, 0.5]);
        assert!(shard_matches(&path, &doc_ids, &meta));
        assert!(!shard_matches(&path, &doc_ids[..1], &meta));
        let mut store = cllm_void::VectorStore::open_in_memory().unwrap();
        let stats = store
            .import_safetensors(&path, "means", cllm_void::DEFAULT_IMPORT_LIMIT)
            .unwrap();
        assert_eq!(stats.inserted, 2);
        // an empty text has no mean: an error, not a row of zeros
        let empty = vec![TokenMatrix::new(0, 2, vec![]).unwrap()];
        assert!(write_shard(&path, vec!["c".into()], &[vec![]], &empty, false, meta).is_err());
    }
}
