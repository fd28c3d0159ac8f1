//! Sentence embeddings of the corpus texts, the targets of the semantic alignment term
//! (see [`crate::loss::alignment_term`]).
//!
//! They are computed once by any sentence encoder (`cllm sentence-embed`: mean-pooled
//! all-MiniLM-L6-v2 or a backbone layer) and stored as a vector file (see
//! [`crate::read_vectors`], the format of [`cllm_core::vector_file`]).
//! Training looks every batch member up by its document id; members without a target (e.g.
//! texts of another corpus replayed while fine-tuning) are left out of the term.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{AutoencoderError, Result};
use crate::export::{read_vectors, VectorFile};

/// Unit-length sentence embeddings keyed by document id.
///
/// ```
/// use cllm_autoencoder::{semantic::SemanticTargets, VectorFile};
/// let file = VectorFile::new(vec!["a".into(), "b".into()], 2, vec![3.0, 4.0, 0.0, 2.0])?;
/// let t = SemanticTargets::from_vector_file(file)?;
/// assert_eq!(t.get("a"), Some(&[0.6f32, 0.8][..])); // normalised
/// assert_eq!(t.get("zz"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticTargets {
    dim: usize,
    index: HashMap<String, usize>,
    data: Vec<f32>,
}

impl SemanticTargets {
    /// Reads a vector file (see [`read_vectors`]) and normalises its rows.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_vector_file(read_vectors(path)?).map_err(|e| match e {
            AutoencoderError::InvalidConfig(d) => AutoencoderError::format(path, d),
            other => other,
        })
    }

    /// Normalises the rows of `file` to unit length. A zero row or a repeated id is an error.
    pub fn from_vector_file(file: VectorFile) -> Result<Self> {
        let VectorFile {
            ids, dim, mut data, ..
        } = file;
        if ids.is_empty() {
            return Err(AutoencoderError::Empty("sentence embeddings"));
        }
        if dim == 0 || data.len() != ids.len() * dim {
            return Err(AutoencoderError::InvalidConfig(format!(
                "{} values for {} sentence embeddings of width {dim}",
                data.len(),
                ids.len()
            )));
        }
        let mut index = HashMap::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            let row = &mut data[i * dim..(i + 1) * dim];
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if !(norm.is_finite() && norm > 0.0) {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "sentence embedding of {id:?} has norm {norm}"
                )));
            }
            row.iter_mut().for_each(|v| *v /= norm);
            if index.insert(id.clone(), i).is_some() {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "document {id:?} appears twice among the sentence embeddings"
                )));
            }
        }
        Ok(Self { dim, index, data })
    }

    /// The embedding width `D`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are none (never true for a loaded file).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The unit embedding of document `id`.
    pub fn get(&self, id: &str) -> Option<&[f32]> {
        let i = *self.index.get(id)?;
        Some(&self.data[i * self.dim..(i + 1) * self.dim])
    }
}

/// Sentence embeddings of `docs` by `encoder`, written to the vector file `out` (ids =
/// document ids), in batches of `batch_size`, calling `progress(done)` after each batch.
///
/// Resumable: every ~30 s the vectors so far go to `out` with the extension
/// `partial.safetensors` (atomically); a later call with the same documents continues from
/// there. When `out` already holds exactly these documents at the encoder's width it is
/// returned as is (the file does not record which encoder made it: give each encoder its
/// own `out`). Blank texts are skipped with a warning.
///
/// ```
/// use cllm_autoencoder::semantic::embed_corpus;
/// use cllm_core::{CoreError, Document, SentenceEncoder};
/// struct Len;
/// impl SentenceEncoder for Len {
///     fn dim(&self) -> usize { 2 }
///     fn encode_sentences(&self, t: &[&str]) -> Result<Vec<Vec<f32>>, CoreError> {
///         Ok(t.iter().map(|s| vec![s.len() as f32, 1.0]).collect())
///     }
/// }
/// let docs = vec![Document::new("a", "soup"), Document::new("b", "pizza")];
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("s.safetensors");
/// let file = embed_corpus(&Len, &docs, &out, 1, |_| {})?;
/// assert_eq!(file.ids, vec!["a", "b"]);
/// assert_eq!(file.row(1), &[5.0, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn embed_corpus(
    encoder: &dyn cllm_core::SentenceEncoder,
    docs: &[cllm_core::Document],
    out: &Path,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<VectorFile> {
    let docs: Vec<&cllm_core::Document> = docs
        .iter()
        .filter(|d| {
            let blank = d.text.trim().is_empty();
            if blank {
                tracing::warn!(doc = %d.id, "skipping a blank text");
            }
            !blank
        })
        .collect();
    let wanted: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let dim = encoder.dim();
    // the texts of the first `n` documents: a vector is reused only for the text it was
    // computed from, not for an edited text under the same id
    let texts_key = |n: usize| -> String {
        docs[..n]
            .iter()
            .fold(cllm_core::KeyBuilder::default(), |k, d| {
                k.text(&d.id).text(&d.text)
            })
            .finish()
            .to_string()
    };
    let made_from = |f: &VectorFile| f.metadata.get(TEXTS_KEY).cloned();
    if let Ok(done) = read_vectors(out) {
        if done.ids == wanted && done.dim == dim && made_from(&done) == Some(texts_key(docs.len()))
        {
            progress(docs.len());
            return Ok(done);
        }
        tracing::warn!(path = %out.display(), "holds other documents; recomputing");
    }
    let partial_path = out.with_extension("partial.safetensors");
    let mut file = match read_vectors(&partial_path) {
        Ok(p)
            if p.dim == dim
                && p.ids.len() <= docs.len()
                && p.ids[..] == wanted[..p.ids.len()]
                && made_from(&p) == Some(texts_key(p.ids.len())) =>
        {
            tracing::info!(done = p.ids.len(), "resuming sentence embeddings");
            p
        }
        _ => VectorFile {
            ids: Vec::new(),
            dim,
            data: Vec::new(),
            metadata: Default::default(),
        },
    };
    progress(file.ids.len());
    let mut last_save = std::time::Instant::now();
    for chunk in docs[file.ids.len()..].chunks(batch_size.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
        let vectors = encoder.encode_sentences(&texts)?;
        if vectors.len() != chunk.len() {
            return Err(AutoencoderError::InvalidConfig(format!(
                "the sentence encoder returned {} vectors for {} texts",
                vectors.len(),
                chunk.len()
            )));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
            return Err(AutoencoderError::WrongWidth {
                what: "sentence embedding",
                expected: dim,
                got: v.len(),
            });
        }
        for (d, v) in chunk.iter().zip(vectors) {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(AutoencoderError::NonFinite("sentence embedding"));
            }
            file.ids.push(d.id.clone());
            file.data.extend(v);
        }
        progress(file.ids.len());
        if last_save.elapsed().as_secs() >= 30 {
            file.metadata
                .insert(TEXTS_KEY.into(), texts_key(file.ids.len()));
            crate::export::write_vector_file(&partial_path, &file)?;
            last_save = std::time::Instant::now();
        }
    }
    file.metadata
        .insert(TEXTS_KEY.into(), texts_key(file.ids.len()));
    crate::export::write_vector_file(out, &file)?;
    let _ = std::fs::remove_file(&partial_path);
    Ok(file)
}

/// The metadata entry of a sentence-embedding file holding the
/// [`ContentKey`](cllm_core::ContentKey) of the texts its vectors were computed from.
pub const TEXTS_KEY: &str = "texts_key";
