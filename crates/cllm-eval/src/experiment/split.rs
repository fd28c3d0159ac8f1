//! The experiment's split, read back from CLLM1's token cache (so that it is exactly the
//! split CLLM1 was trained on), and the texts' CLLM1 codes.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use cllm_autoencoder::{Cllm, TokenCache};
use cllm_core::Document;
use serde::{Deserialize, Serialize};

use super::ExperimentOptions;
use crate::error::{EvalError, Result};

/// Texts of one part of the split: token ids, document ids, titles and texts.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// Token ids of every text.
    pub ids: Vec<Vec<u32>>,
    /// Document ids.
    pub doc_ids: Vec<String>,
    /// Titles (the document id when the document has none).
    pub titles: Vec<String>,
    /// The texts.
    pub texts: Vec<String>,
}

impl Part {
    /// Number of texts.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the part is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The first `n` texts.
    pub fn first(&self, n: usize) -> Part {
        let n = n.min(self.len());
        Part {
            ids: self.ids[..n].to_vec(),
            doc_ids: self.doc_ids[..n].to_vec(),
            titles: self.titles[..n].to_vec(),
            texts: self.texts[..n].to_vec(),
        }
    }
}

/// The split: every training text, every validation text, and the family's texts (a
/// seeded sample of at most `texts_per_split`; decodes of validation texts take the first
/// `texts_per_split` of a seeded shuffle).
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// CLLM1's training texts (all of them: the void search's collection).
    pub train: Part,
    /// Validation texts: same families as training, never trained on (seeded order).
    pub val: Part,
    /// The held-out family's texts.
    pub family: Part,
    /// The family's texts in the corpus (before sampling).
    pub family_total: usize,
}

/// Texts per part, as the report states them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSplit {
    /// Training texts of CLLM1.
    pub train: usize,
    /// Validation texts scored (all of them; the first `texts_per_split` are decoded).
    pub val: usize,
    /// Family texts scored.
    pub family: usize,
    /// Family texts in the corpus.
    pub family_in_corpus: usize,
    /// Whether any family text reached CLLM1's training texts (checked: [`read`] refuses
    /// such a split).
    pub family_in_training: bool,
}

impl Split {
    /// The counts.
    pub fn counts(&self) -> ExperimentSplit {
        ExperimentSplit {
            train: self.train.len(),
            val: self.val.len(),
            family: self.family.len(),
            family_in_corpus: self.family_total,
            family_in_training: false,
        }
    }
}

/// Reads the split of CLLM1's run in `run_dir` (its token cache and `opts.cllm1.split`).
/// A family text among the training texts is an error: CLLM1 must never see the family.
pub fn read(opts: &ExperimentOptions, run_dir: &Path, docs: &[Document]) -> Result<Split> {
    let path = run_dir.join(format!("tokens-L{}.safetensors", opts.cllm1.model.max_len));
    let cache = TokenCache::load(&path)?;
    let split = cache.split(&opts.cllm1.split);
    let family_idx = split
        .held_out
        .get(&opts.family)
        .cloned()
        .unwrap_or_default();
    if family_idx.is_empty() {
        return Err(EvalError::InvalidInput(format!(
            "no text of family {:?} in the corpus",
            opts.family
        )));
    }
    let by_id: HashMap<&str, &Document> = docs.iter().map(|d| (d.id.as_str(), d)).collect();
    if let Some(i) = split
        .train
        .iter()
        .find(|&&i| cache.texts[i].family.as_deref() == Some(opts.family.as_str()))
    {
        return Err(EvalError::InvalidInput(format!(
            "family text {} is among CLLM1's training texts",
            cache.texts[*i].id
        )));
    }
    let part = |idx: &[usize]| -> Result<Part> {
        let mut p = Part::default();
        for &i in idx {
            let t = &cache.texts[i];
            let doc = by_id.get(t.id.as_str()).ok_or_else(|| {
                EvalError::InvalidInput(format!(
                    "text {} of CLLM1's token cache is not in the corpus (another corpus?)",
                    t.id
                ))
            })?;
            p.ids.push(t.ids.clone());
            p.doc_ids.push(t.id.clone());
            p.titles.push(doc.title().unwrap_or(&doc.id).to_string());
            p.texts.push(doc.text.clone());
        }
        Ok(p)
    };
    let n = opts.texts_per_split;
    Ok(Split {
        train: part(&split.train)?,
        val: part(&shuffled(&split.val, opts.seed))?,
        family: part(&sample(&family_idx, n, opts.seed))?,
        family_total: family_idx.len(),
    })
}

/// CLLM1's codes of every part.
#[derive(Debug, Clone, Default)]
pub struct Space {
    /// Codes of the training texts.
    pub train: Vec<Vec<f32>>,
    /// Codes of the validation texts.
    pub val: Vec<Vec<f32>>,
    /// Codes of the family's texts.
    pub family: Vec<Vec<f32>>,
}

/// Encodes every part with CLLM1 (a progress bar over all texts when `progress`).
pub fn encode<B: Backend>(cllm: &Cllm<B>, split: &Split, progress: bool) -> Result<Space> {
    let total = split.train.len() + split.val.len() + split.family.len();
    let bar = super::progress::bar(total, "encoding texts with CLLM1", progress);
    let codes = |p: &Part| -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(p.len());
        for chunk in p.ids.chunks(ENCODE_CHUNK) {
            out.extend(
                cllm.encode_ids(chunk)?
                    .into_iter()
                    .map(|v| v.as_slice().to_vec()),
            );
            bar.inc(chunk.len() as u64);
        }
        Ok(out)
    };
    let space = Space {
        train: codes(&split.train)?,
        val: codes(&split.val)?,
        family: codes(&split.family)?,
    };
    bar.finish_and_clear();
    Ok(space)
}

/// Texts per call of the encoder while encoding a split (a progress bar step).
const ENCODE_CHUNK: usize = 256;

/// `idx` in a seeded order.
fn shuffled(idx: &[usize], seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut v = idx.to_vec();
    v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x5A11_D0,
    ));
    v
}

/// `n` of `idx`, seeded (all of them, in order, when `n ≥ len`).
pub(crate) fn sample(idx: &[usize], n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if n >= idx.len() {
        return idx.to_vec();
    }
    let mut v = idx.to_vec();
    v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0xE4_9E41,
    ));
    v.truncate(n);
    v.sort_unstable();
    v
}

/// The reference sample of the separation table: `opts.reference_texts` training texts
/// (indices into `split.train`, ascending; all of them when there are no more), drawn with
/// the experiment's seed, the same for every space and every arm of a sweep.
pub fn reference_sample(opts: &ExperimentOptions, split: &Split) -> Vec<usize> {
    let all: Vec<usize> = (0..split.train.len()).collect();
    sample(&all, opts.reference_texts, opts.seed ^ 0x2EF_E2E4)
}

/// The family tag of every training text (`-` for none), in the split's order: the
/// classes of the relative Mahalanobis score.
pub fn train_classes(split: &Split, docs: &[Document]) -> Vec<String> {
    let family: std::collections::HashMap<&str, &str> = docs
        .iter()
        .map(|d| (d.id.as_str(), d.group().unwrap_or("-")))
        .collect();
    split
        .train
        .doc_ids
        .iter()
        .map(|id| family.get(id.as_str()).copied().unwrap_or("-").to_string())
        .collect()
}
