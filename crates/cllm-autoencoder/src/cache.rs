//! [`TokenCache`]: a corpus tokenized once, stored as token ids.
//!
//! At layer 0 a text's token matrix is exactly `E[ids]` (rows of the embedding table), so
//! the cache stores the (truncated) token ids and training gathers rows from `E_V` on the
//! fly: epochs never re-run the backbone, and 7,747 recipes take ~8 MB instead of ~5 GB of
//! f32 matrices. For a CLLM over deeper layers (`layer > 0`) the cache would have to hold
//! the matrices themselves; this crate supports layer 0 only and says so at build time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cllm_core::{Backbone, Document};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{AutoencoderError, Result};
use crate::persist::{parse_safetensors, read_u32};

/// One cached text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedText {
    /// Document id.
    pub id: String,
    /// The document's `family` tag, if any.
    pub family: Option<String>,
    /// Token ids, truncated to the cache's `max_len`.
    pub ids: Vec<u32>,
    /// Length in tokens before truncation.
    pub full_len: usize,
}

#[derive(Serialize, Deserialize)]
struct CacheMeta {
    backbone: String,
    max_len: usize,
    pad_id: u32,
    docs: Vec<(String, Option<String>, usize)>,
}

/// A tokenized corpus: token ids per text (layer 0), the padding/end id and the length cap.
///
/// ```
/// use cllm_autoencoder::{CachedText, TokenCache};
/// let texts = (0..4).map(|i| CachedText { id: format!("d{i}"), family: None, ids: vec![5, 6, i], full_len: 3 }).collect();
/// let cache = TokenCache::from_texts("toy", 8, 0, texts)?;
/// assert_eq!(cache.len(), 4);
/// assert_eq!(cache.used_ids().len(), 6); // 0..4 plus 5 and 6, minus none: {0,1,2,3,5,6}
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCache {
    /// Name of the backbone that tokenized the texts.
    pub backbone: String,
    /// Length cap `L` (texts are truncated to it).
    pub max_len: usize,
    /// The padding/end token id.
    pub pad_id: u32,
    /// The texts.
    pub texts: Vec<CachedText>,
}

impl TokenCache {
    /// Wraps already tokenized texts, checking that none is empty or longer than `max_len`.
    pub fn from_texts(
        backbone: impl Into<String>,
        max_len: usize,
        pad_id: u32,
        texts: Vec<CachedText>,
    ) -> Result<Self> {
        if max_len == 0 {
            return Err(AutoencoderError::InvalidConfig(
                "max_len must be positive".into(),
            ));
        }
        for (i, t) in texts.iter().enumerate() {
            if t.ids.is_empty() {
                return Err(AutoencoderError::Empty("cached text"));
            }
            if t.ids.len() > max_len {
                return Err(AutoencoderError::TooLong {
                    index: i,
                    len: t.ids.len(),
                    max: max_len,
                });
            }
        }
        Ok(Self {
            backbone: backbone.into(),
            max_len,
            pad_id,
            texts,
        })
    }

    /// Tokenizes `docs` with `backbone` (layer 0), truncating to `max_len` tokens. Empty
    /// texts are skipped with a warning.
    pub fn build(
        docs: &[Document],
        backbone: &dyn Backbone,
        max_len: usize,
        pad_id: u32,
    ) -> Result<Self> {
        let mut texts = Vec::with_capacity(docs.len());
        for d in docs {
            let mut ids = backbone.tokenize(&d.text)?;
            if ids.is_empty() {
                tracing::warn!(doc = %d.id, "skipping an empty text");
                continue;
            }
            let full_len = ids.len();
            ids.truncate(max_len);
            texts.push(CachedText {
                id: d.id.clone(),
                family: d.tag("family").map(str::to_string),
                ids,
                full_len,
            });
        }
        Self::from_texts(backbone.name(), max_len, pad_id, texts)
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are no texts.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The distinct token ids used by the texts (without the pad id unless a text uses it).
    pub fn used_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .texts
            .iter()
            .flat_map(|t| t.ids.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Fraction of texts longer than `max_len` (truncated).
    pub fn truncated_fraction(&self) -> f64 {
        let n = self
            .texts
            .iter()
            .filter(|t| t.full_len > self.max_len)
            .count();
        n as f64 / self.len().max(1) as f64
    }

    /// Writes the cache as safetensors (`ids` u32 flat, `offsets` u32), with the document
    /// ids, families and lengths as JSON metadata, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut flat = Vec::new();
        let mut offsets = Vec::with_capacity(self.len() + 1);
        offsets.push(0u32);
        for t in &self.texts {
            flat.extend(t.ids.iter().flat_map(|v| v.to_le_bytes()));
            offsets.push((flat.len() / 4) as u32);
        }
        let offsets: Vec<u8> = offsets.iter().flat_map(|v| v.to_le_bytes()).collect();
        let fmt = |e: safetensors::SafeTensorError| AutoencoderError::format(path, e.to_string());
        let views = vec![
            (
                "ids",
                TensorView::new(Dtype::U32, vec![flat.len() / 4], &flat).map_err(fmt)?,
            ),
            (
                "offsets",
                TensorView::new(Dtype::U32, vec![self.len() + 1], &offsets).map_err(fmt)?,
            ),
        ];
        let meta = CacheMeta {
            backbone: self.backbone.clone(),
            max_len: self.max_len,
            pad_id: self.pad_id,
            docs: self
                .texts
                .iter()
                .map(|t| (t.id.clone(), t.family.clone(), t.full_len))
                .collect(),
        };
        let meta_json = serde_json::to_string(&meta)
            .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
        let bytes = safetensors::serialize(
            views,
            Some(HashMap::from([("cllm".to_string(), meta_json)])),
        )
        .map_err(fmt)?;
        cllm_core::write_atomic(path, &bytes).map_err(|e| AutoencoderError::io(path, e))
    }

    /// Reads a cache written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| AutoencoderError::io(path, e))?;
        let fmt = |d: String| AutoencoderError::format(path, d);
        let (st, meta_json) = parse_safetensors(&bytes, "cllm").map_err(fmt)?;
        let meta: CacheMeta = serde_json::from_str(&meta_json).map_err(|e| fmt(e.to_string()))?;
        let flat = read_u32(&st, "ids").map_err(fmt)?;
        let offsets = read_u32(&st, "offsets").map_err(fmt)?;
        if offsets.len() != meta.docs.len() + 1 {
            return Err(fmt("offsets and documents disagree".into()));
        }
        let mut texts = Vec::with_capacity(meta.docs.len());
        for (i, (id, family, full_len)) in meta.docs.into_iter().enumerate() {
            let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
            if a > b || b > flat.len() {
                return Err(fmt(format!("bad offsets for text {i}")));
            }
            texts.push(CachedText {
                id,
                family,
                ids: flat[a..b].to_vec(),
                full_len,
            });
        }
        Self::from_texts(meta.backbone, meta.max_len, meta.pad_id, texts)
    }

    /// Splits the texts: every text whose family is in `opts.held_out_families` goes to
    /// its family's held-out group; of the rest, a seeded `opts.val_fraction` is the
    /// validation split and the remainder the training split. Indices are sorted.
    pub fn split(&self, opts: &SplitOptions) -> Split {
        let mut held_out: BTreeMap<String, Vec<usize>> = opts
            .held_out_families
            .iter()
            .map(|f| (f.clone(), Vec::new()))
            .collect();
        let mut rest = Vec::new();
        for (i, t) in self.texts.iter().enumerate() {
            match t.family.as_ref().and_then(|f| held_out.get_mut(f)) {
                Some(group) => group.push(i),
                None => rest.push(i),
            }
        }
        rest.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed));
        let n_val = (opts.val_fraction.clamp(0.0, 1.0) * rest.len() as f64).round() as usize;
        let mut val = rest[..n_val].to_vec();
        let mut train = rest[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        Split {
            train,
            val,
            held_out,
        }
    }
}

/// How [`TokenCache::split`] splits a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Families held out entirely (neither trained on nor validated on).
    pub held_out_families: Vec<String>,
    /// Fraction of the remaining texts used for validation.
    pub val_fraction: f64,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Default for SplitOptions {
    /// The pilot's split: soup and pizza held out, 5% validation, seed 0.
    fn default() -> Self {
        Self {
            held_out_families: vec!["soup".into(), "pizza".into()],
            val_fraction: 0.05,
            seed: 0,
        }
    }
}

/// Indices of a [`TokenCache`] by role.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Split {
    /// Training texts.
    pub train: Vec<usize>,
    /// Validation texts (same distribution as training, never trained on).
    pub val: Vec<usize>,
    /// Held-out families, by name.
    pub held_out: BTreeMap<String, Vec<usize>>,
}

/// Reads a 1-d u32 tensor from safetensors.
#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> TokenCache {
        let texts = (0..40)
            .map(|i| CachedText {
                id: format!("d{i}"),
                family: Some(["soup", "pizza", "bread", "cake"][i % 4].to_string()),
                ids: (0..(1 + i % 7) as u32).collect(),
                full_len: 1 + i % 7,
            })
            .collect();
        TokenCache::from_texts("toy", 8, 9, texts).unwrap()
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cache.safetensors");
        let c = cache();
        c.save(&p).unwrap();
        assert_eq!(TokenCache::load(&p).unwrap(), c);
        std::fs::write(&p, b"garbage").unwrap();
        assert!(TokenCache::load(&p).is_err());
    }

    #[test]
    fn split_holds_out_families_and_is_seeded() {
        let c = cache();
        let opts = SplitOptions {
            val_fraction: 0.25,
            ..Default::default()
        };
        let s = c.split(&opts);
        assert_eq!(s.held_out["soup"].len(), 10);
        assert_eq!(s.held_out["pizza"].len(), 10);
        assert_eq!(s.val.len(), 5);
        assert_eq!(s.train.len(), 15);
        for &i in s.train.iter().chain(&s.val) {
            let f = c.texts[i].family.as_deref().unwrap();
            assert!(f != "soup" && f != "pizza");
        }
        assert_eq!(c.split(&opts), s);
        let other = c.split(&SplitOptions { seed: 1, ..opts });
        assert_ne!(other.val, s.val);
    }

    #[test]
    fn rejects_empty_and_too_long() {
        let t = |n: usize| CachedText {
            id: "x".into(),
            family: None,
            ids: vec![1; n],
            full_len: n,
        };
        assert!(TokenCache::from_texts("toy", 4, 0, vec![t(0)]).is_err());
        assert!(TokenCache::from_texts("toy", 4, 0, vec![t(5)]).is_err());
        assert!(TokenCache::from_texts("toy", 4, 0, vec![t(4)]).is_ok());
    }
}
