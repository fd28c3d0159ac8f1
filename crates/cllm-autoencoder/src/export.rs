//! `cllm encode`: text vectors for a corpus, and the vector files they are written to.
//!
//! Vector files are [`cllm_core::VectorFile`]s: one documented format (see
//! [`cllm_core::vector_file`]) that `cllm store import`, `cllm sentence` and the training's
//! semantic targets read as well.

use std::path::Path;

use burn::tensor::backend::Backend;
pub use cllm_core::VectorFile;
use cllm_core::{Backbone, Document, TextVector};

use crate::cache::OverLength;
use crate::codec::Cllm;
use crate::error::Result;

/// Tokenizes every document with `backbone`, truncates it to the model's `max_len`
/// tokens (or, with [`OverLength::Refuse`], refuses a longer one with
/// [`AutoencoderError::TextOverLength`](crate::AutoencoderError::TextOverLength)), takes its
/// layer-0 token matrix and encodes it with `cllm`, in batches.
/// Empty texts are skipped (with a warning and a count). Returns the documents with their
/// vectors, ready for the vector store or a vector file ([`VectorFile::from_pairs`]).
pub fn encode_corpus<B: Backend>(
    cllm: &Cllm<B>,
    docs: &[Document],
    backbone: &dyn Backbone,
    over_length: OverLength,
) -> Result<Vec<(Document, TextVector)>> {
    let max_len = cllm.config().max_len;
    let mut pairs = Vec::with_capacity(docs.len());
    let mut truncated = 0usize;
    let mut skipped = 0usize;
    for chunk in docs.chunks(64) {
        let mut kept = Vec::with_capacity(chunk.len());
        let mut ids = Vec::with_capacity(chunk.len());
        for d in chunk {
            let mut t = backbone.tokenize(&d.text)?;
            if t.is_empty() {
                tracing::warn!(doc = %d.id, "skipping an empty text");
                skipped += 1;
                continue;
            }
            if t.len() > max_len {
                over_length.check(&d.id, t.len(), max_len)?;
                truncated += 1;
                t.truncate(max_len);
            }
            kept.push(d);
            ids.push(t);
        }
        if ids.is_empty() {
            continue;
        }
        let matrices = backbone.embed_ids_batch(&ids, 0)?;
        let vectors = cllm.encode(&matrices)?;
        pairs.extend(kept.into_iter().cloned().zip(vectors));
    }
    if truncated > 0 {
        tracing::info!(truncated, max_len, "texts truncated to the model's length");
    }
    if skipped > 0 {
        tracing::warn!(skipped, "empty texts skipped");
    }
    Ok(pairs)
}

/// Writes `(document, vector)` pairs as a vector file, atomically (no provenance keys: use
/// [`VectorFile::from_pairs`] and [`VectorFile::with_metadata`] to add them).
pub fn write_vectors(path: &Path, pairs: &[(Document, TextVector)]) -> Result<()> {
    Ok(VectorFile::from_pairs(pairs)?.write(path)?)
}

/// Writes a [`VectorFile`], atomically.
pub fn write_vector_file(path: &Path, file: &VectorFile) -> Result<()> {
    Ok(file.write(path)?)
}

/// Files larger than this are refused by [`read_vectors`] (4 GiB).
pub const MAX_VECTOR_FILE_BYTES: u64 = cllm_core::vector_file::MAX_VECTOR_FILE_BYTES;

/// Reads a vector file defensively (size limit, dtype and shape checks, as many ids as
/// rows, no NaN; older layouts too). Errors name the file and the problem:
/// [`AutoencoderError::Io`](crate::AutoencoderError::Io) or
/// [`AutoencoderError::Format`](crate::AutoencoderError::Format).
///
/// ```
/// use cllm_autoencoder::{read_vectors, write_vectors};
/// use cllm_core::{Document, TextVector};
/// let pairs = vec![(Document::new("a", "text a"), TextVector::new(vec![1.0, 2.0])?)];
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("v.safetensors");
/// write_vectors(&path, &pairs)?;
/// let back = read_vectors(&path)?;
/// assert_eq!(back.ids, vec!["a".to_string()]);
/// assert_eq!(back.row(0), &[1.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_vectors(path: &Path) -> Result<VectorFile> {
    Ok(VectorFile::read(path)?)
}
