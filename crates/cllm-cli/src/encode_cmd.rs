//! `cllm encode`: text vectors of the corpus from a trained CLLM, into the vector store.

use std::path::PathBuf;

use clap::Args;
use cllm_autoencoder::{encode_corpus, Cllm};
use cllm_backbone::{device, LlamaBackbone};
use cllm_core::{Document, VectorFile};
use cllm_void::{ModelKey, VectorStore};
use sha2::{Digest, Sha256};

use crate::corpus_args::CorpusArgs;
use crate::{AssetArgs, CmdResult};

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// A trained CLLM: the `model` directory a training run writes (config.json, model.mpk,
    /// vocab.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// The vector store (SQLite file; created if absent).
    #[arg(long, default_value = "cllm-out/vectors.sqlite")]
    store: PathBuf,
    /// Collection to fill (default: the model directory's parent name).
    #[arg(long)]
    collection: Option<String>,
    /// Only documents of this family or group (e.g. soup).
    #[arg(long)]
    family: Option<String>,
    /// Only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
    /// Also write the vectors as a vector file (safetensors, the format `cllm store import`
    /// reads; see docs/void.md).
    #[arg(long)]
    safetensors: Option<PathBuf>,
}

pub fn run(args: EncodeArgs) -> CmdResult {
    let (paths, corpus) = args.corpus.resolve(&args.assets, false)?;
    if let Some(f) = &args.family {
        corpus.require_groups(std::slice::from_ref(f))?;
    }
    let docs: Vec<Document> = corpus
        .iter()
        .filter(|d| args.family.as_deref().is_none_or(|f| d.in_group(f)))
        .take(args.limit.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    if docs.is_empty() {
        return Err("no documents to encode".into());
    }
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let cllm = Cllm::<device::DefaultBackend>::load(&args.model, &dev)?;
    let weights = args.model.join(cllm_autoencoder::codec::files::MODEL);
    let checksum = hex::encode(Sha256::digest(
        std::fs::read(&weights).map_err(|e| format!("reading {}: {e}", weights.display()))?,
    ));
    let collection = args.collection.clone().unwrap_or_else(|| {
        let dir = args
            .model
            .canonicalize()
            .unwrap_or_else(|_| args.model.clone());
        let run = dir.parent().and_then(|p| p.file_name()).or(dir.file_name());
        run.map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cllm".into())
    });
    let pairs = encode_corpus(&cllm, &docs, &backbone, args.corpus.over_length())?;
    let key = ModelKey::new(
        format!("cllm:{}", args.model.display()),
        cllm.config().k,
        checksum,
    );
    if let Some(path) = &args.safetensors {
        write_vector_file(path, &pairs, &key, &collection)?;
        println!("wrote {}", path.display());
    }
    if let Some(dir) = args.store.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut store = VectorStore::open(&args.store)?;
    store.create_collection(&collection, &key)?;
    let stats = store.bulk_insert(&collection, pairs, 256, true)?;
    println!(
        "encoded {} documents into collection {collection:?} of {} ({stats:?})",
        docs.len(),
        args.store.display()
    );
    Ok(())
}

/// Writes the encoded pairs as a vector file that names their model, so that
/// `cllm store import` files them under the same [`ModelKey`] as the store does.
fn write_vector_file(
    path: &std::path::Path,
    pairs: &[(Document, cllm_core::TextVector)],
    key: &ModelKey,
    collection: &str,
) -> Result<(), cllm_core::VectorFileError> {
    VectorFile::from_pairs(pairs)?
        .with_metadata("model", key.name.clone())
        .with_metadata("checksum", key.checksum.clone())
        .with_metadata("collection", collection)
        .write(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cllm_core::TextVector;

    /// What `cllm encode --safetensors` writes, `cllm store import` reads, under the same
    /// model key as `cllm encode` files the vectors in the store.
    #[test]
    fn encode_output_imports_into_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.safetensors");
        let pairs: Vec<(Document, TextVector)> = (0..5)
            .map(|i| {
                (
                    Document::new(format!("doc-{i}"), "text"),
                    TextVector::new(vec![i as f32, -1.5, 0.25]).unwrap(),
                )
            })
            .collect();
        let key = ModelKey::new("cllm:run/model", 3, "abc123");
        write_vector_file(&path, &pairs, &key, "run").unwrap();
        let mut store = VectorStore::open_in_memory().unwrap();
        let stats = store
            .import_safetensors(&path, "run", cllm_void::DEFAULT_IMPORT_LIMIT)
            .unwrap();
        assert_eq!(stats.inserted, 5);
        assert_eq!(store.collection("run").unwrap().model, key);
        let (ids, points) = store.load_points("run").unwrap();
        assert_eq!(ids[4], "doc-4");
        assert_eq!(points.row(4), &[4.0, -1.5, 0.25]);
        // a collection `cllm encode` created for this model accepts the file: the keys agree
        let mut other = VectorStore::open_in_memory().unwrap();
        other.create_collection("run", &key).unwrap();
        assert_eq!(
            other
                .import_safetensors(&path, "run", cllm_void::DEFAULT_IMPORT_LIMIT)
                .unwrap()
                .inserted,
            5
        );
    }
}
