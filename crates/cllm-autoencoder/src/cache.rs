//! [`TokenCache`]: a corpus tokenized once, stored as token ids.
//!
//! At layer 0 a text's token matrix is exactly `E[ids]` (rows of the embedding table), so
//! the cache stores the (truncated) token ids and training gathers rows from `E_V` on the
//! fly: epochs never re-run the backbone, and 7,747 recipes take ~8 MB instead of ~5 GB of
//! f32 matrices. For a CLLM over deeper layers (`layer > 0`) the cache would have to hold
//! the matrices themselves; this crate supports layer 0 only and says so at build time.
//!
//! [`TokenCache::load_or_build`] builds the cache in chunks of [`CHUNK_TEXTS`] texts, each
//! written atomically as it is finished and named by a digest of its documents and the
//! tokenizer: an interrupted build resumes from the last finished chunk, and a corpus with
//! texts appended re-tokenizes only the chunks that changed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cllm_core::{Backbone, ContentKey, Document, KeyBuilder};
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
    /// The [`ContentKey`] of what a finished build was made from (its chunks' keys and the
    /// documents' families), kept in the same file so data and key are written as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    made_from: Option<ContentKey>,
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

    /// Number of texts longer than `max_len` (truncated).
    pub fn truncated(&self) -> usize {
        self.texts
            .iter()
            .filter(|t| t.full_len > self.max_len)
            .count()
    }

    /// Fraction of texts longer than `max_len` (truncated).
    pub fn truncated_fraction(&self) -> f64 {
        self.truncated() as f64 / self.len().max(1) as f64
    }

    /// Writes the cache as safetensors (`ids` u32 flat, `offsets` u32), with the document
    /// ids, families and lengths as JSON metadata, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_made_from(path, None)
    }

    /// [`save`](Self::save), recording in the file what the cache was made from.
    fn save_made_from(&self, path: &Path, made_from: Option<&ContentKey>) -> Result<()> {
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
            made_from: made_from.cloned(),
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
        Self::load_made_from(path).map(|(cache, _)| cache)
    }

    /// [`load`](Self::load), with the key of what a finished build was made from.
    fn load_made_from(path: &Path) -> Result<(Self, Option<ContentKey>)> {
        let bytes = crate::persist::read_safetensors_file(path)?;
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
        Ok((
            Self::from_texts(meta.backbone, meta.max_len, meta.pad_id, texts)?,
            meta.made_from,
        ))
    }

    /// `key` with every text of the cache added (id, family, token ids), in order: what a
    /// run trained on it records, so a resume on other texts is refused.
    pub fn keyed(&self, key: KeyBuilder) -> KeyBuilder {
        let key = key
            .text(&self.backbone)
            .text(&format!("{} {}", self.max_len, self.pad_id));
        self.texts.iter().fold(key, |k, t| {
            k.text(&t.id).text(t.family.as_deref().unwrap_or("")).bytes(
                &t.ids
                    .iter()
                    .flat_map(|i| i.to_le_bytes())
                    .collect::<Vec<u8>>(),
            )
        })
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

/// Texts per chunk of a token cache built by [`TokenCache::load_or_build`].
pub const CHUNK_TEXTS: usize = 4096;

/// What happens to a text longer than the cache's `max_len` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLength {
    /// Cut to `max_len` tokens and counted ([`TokenCache::truncated_fraction`]).
    #[default]
    Cut,
    /// Refused: [`AutoencoderError::TextOverLength`] names the document and its length.
    Refuse,
}

impl OverLength {
    /// Whether over-long texts are cut (the default; lets serde skip the field).
    pub fn is_cut(&self) -> bool {
        *self == OverLength::Cut
    }

    /// Checks a text of `tokens` tokens (before cutting) against `max_len`.
    ///
    /// ```
    /// use cllm_autoencoder::OverLength;
    /// assert!(OverLength::Cut.check("a", 9, 8).is_ok());
    /// assert!(OverLength::Refuse.check("a", 8, 8).is_ok());
    /// let err = OverLength::Refuse.check("notes:7", 9, 8).unwrap_err().to_string();
    /// assert!(err.contains("notes:7") && err.contains("9 tokens"));
    /// ```
    pub fn check(self, id: &str, tokens: usize, max_len: usize) -> Result<()> {
        if self == OverLength::Refuse && tokens > max_len {
            return Err(AutoencoderError::TextOverLength {
                id: id.to_string(),
                tokens,
                max_len,
            });
        }
        Ok(())
    }
}

/// How [`TokenCache::load_or_build`] tokenizes a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// Length cap `L` in tokens.
    pub max_len: usize,
    /// The padding/end token id.
    pub pad_id: u32,
    /// What happens to a text over `max_len` tokens.
    pub over_length: OverLength,
    /// Texts per chunk (the unit written, reused and resumed).
    pub chunk_texts: usize,
}

impl CacheSpec {
    /// Texts cut to `max_len` tokens, in chunks of [`CHUNK_TEXTS`].
    pub fn new(max_len: usize, pad_id: u32) -> Self {
        Self {
            max_len,
            pad_id,
            over_length: OverLength::Cut,
            chunk_texts: CHUNK_TEXTS,
        }
    }
}

/// What [`TokenCache::load_or_build`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheBuildReport {
    /// The finished cache file held exactly these texts and was read as it was.
    pub reused_file: bool,
    /// Chunks of the corpus (0 when the finished file was reused).
    pub chunks: usize,
    /// Chunks read back from an earlier (finished or interrupted) build.
    pub chunks_reused: usize,
    /// Texts tokenized by this call.
    pub texts_tokenized: usize,
    /// Texts cut to `max_len` tokens.
    pub cut: usize,
}

/// The files of a chunked token cache: `tokens-L256.safetensors` (what training reads,
/// with the key of what it was made from inside) and
/// `tokens-L256.chunks/<chunk key>.safetensors`. (`tokens-L256.digest`, the key's own file
/// before it moved into the cache file, is removed when found.)
struct CacheFiles {
    cache: PathBuf,
    legacy_digest: PathBuf,
    chunks: PathBuf,
}

impl CacheFiles {
    fn new(cache: &Path) -> Self {
        Self {
            cache: cache.to_path_buf(),
            legacy_digest: cache.with_extension("digest"),
            chunks: cache.with_extension("chunks"),
        }
    }

    fn chunk(&self, key: &ContentKey) -> PathBuf {
        self.chunks.join(format!("{key}.safetensors"))
    }
}

impl TokenCache {
    /// The corpus tokenized by `backbone` (layer 0): read from `path` when that file holds
    /// exactly `docs` (same ids, texts, families, tokenizer, `max_len` and pad id), else
    /// built in chunks of `spec.chunk_texts` texts and written to `path` (atomically).
    ///
    /// Each chunk is stored in `<path minus extension>.chunks/` under a digest of its
    /// documents' ids and texts, the backbone's name, how it tokenizes a probe text,
    /// `max_len` and the pad id, written atomically as soon as it is tokenized. A build cut
    /// short (killed, or failed) therefore resumes from its finished chunks, and a corpus
    /// with texts appended re-tokenizes only its last, changed chunk and the new ones.
    /// Chunks no longer part of the corpus are removed once the cache file is written.
    ///
    /// Texts over `max_len` tokens are cut and counted, or refused with
    /// [`OverLength::Refuse`] ([`AutoencoderError::TextOverLength`], the first in corpus
    /// order). Texts that tokenize to nothing are skipped with a warning. `progress(done,
    /// total)` is called with texts done after every chunk.
    ///
    /// An unreadable or malformed digest file, an unreadable cache file or chunk, is logged
    /// as a warning and rebuilt from the chunks, never used.
    pub fn load_or_build(
        path: &Path,
        docs: &[Document],
        backbone: &dyn Backbone,
        spec: &CacheSpec,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(Self, CacheBuildReport)> {
        if spec.max_len == 0 || spec.chunk_texts == 0 {
            return Err(AutoencoderError::InvalidConfig(
                "the token cache's max_len and chunk size must be positive".into(),
            ));
        }
        let files = CacheFiles::new(path);
        let tokenizer = tokenizer_fingerprint(backbone, spec)?;
        let keys: Vec<ContentKey> = docs
            .chunks(spec.chunk_texts)
            .map(|chunk| chunk_key(&tokenizer, chunk))
            .collect();
        let digest = cache_digest(&keys, docs);
        if let Some(cache) = read_finished(&files, &digest, docs) {
            check_lengths(&cache.texts, cache.max_len, spec.over_length)?;
            progress(docs.len(), docs.len());
            let report = CacheBuildReport {
                reused_file: true,
                cut: cache.truncated(),
                ..Default::default()
            };
            return Ok((cache, report));
        }

        std::fs::create_dir_all(&files.chunks)
            .map_err(|e| AutoencoderError::io(&files.chunks, e))?;
        let mut report = CacheBuildReport {
            chunks: keys.len(),
            ..Default::default()
        };
        let mut texts = Vec::with_capacity(docs.len());
        let mut done = 0;
        progress(done, docs.len());
        for (chunk, key) in docs.chunks(spec.chunk_texts).zip(&keys) {
            let file = files.chunk(key);
            let mut part = match read_chunk(&file, chunk, backbone.name(), spec) {
                Some(part) => {
                    report.chunks_reused += 1;
                    part
                }
                None => {
                    let part = tokenize_chunk(chunk, backbone, spec)?;
                    part.save(&file)?;
                    report.texts_tokenized += chunk.len();
                    part
                }
            };
            check_lengths(&part.texts, spec.max_len, spec.over_length)?;
            assign_families(&mut part.texts, chunk);
            texts.append(&mut part.texts);
            done += chunk.len();
            progress(done, docs.len());
        }
        let cache = Self::from_texts(backbone.name(), spec.max_len, spec.pad_id, texts)?;
        report.cut = cache.truncated();
        cache.save_made_from(&files.cache, Some(&digest))?;
        let _ = std::fs::remove_file(&files.legacy_digest);
        remove_stale_chunks(&files, &keys);
        Ok((cache, report))
    }
}

/// The tokenizer's part of every key: the backbone's name, how it tokenizes a probe text,
/// the length cap and the pad id.
fn tokenizer_fingerprint(backbone: &dyn Backbone, spec: &CacheSpec) -> Result<ContentKey> {
    let probe =
        backbone.tokenize("Tomato soup: 2 cups (500 ml) of stock, 1 tsp salt. Crème brûlée!")?;
    Ok(KeyBuilder::default()
        .text(backbone.name())
        .text(&format!("{probe:?} {} {}", spec.max_len, spec.pad_id))
        .finish())
}

/// A chunk's name: the tokenizer and its documents' ids and texts (not their families,
/// which change with `--hold-out` and are set when the chunks are put together).
fn chunk_key(tokenizer: &ContentKey, docs: &[Document]) -> ContentKey {
    docs.iter()
        .fold(KeyBuilder::default().key(tokenizer), |k, d| {
            k.text(&d.id).text(&d.text)
        })
        .finish()
}

/// The finished file's digest: every chunk's key and every document's family.
fn cache_digest(keys: &[ContentKey], docs: &[Document]) -> ContentKey {
    let k = keys.iter().fold(KeyBuilder::default(), |b, k| b.key(k));
    docs.iter()
        .fold(k, |b, d| b.text(d.tag("family").unwrap_or("")))
        .finish()
}

/// The finished cache file, when it records being made from exactly these documents (the
/// key kept inside it) and its texts are these documents' ids, in order. A cache file that
/// cannot be read, or was made from other texts, is rebuilt from its chunks.
fn read_finished(files: &CacheFiles, digest: &ContentKey, docs: &[Document]) -> Option<TokenCache> {
    if !files.cache.exists() {
        return None;
    }
    match TokenCache::load_made_from(&files.cache) {
        Ok((cache, Some(made_from))) if made_from == *digest && is_in_order(&cache.texts, docs) => {
            Some(cache)
        }
        Ok(_) => {
            tracing::info!(path = %files.cache.display(), "token cache is for other texts, families or another tokenizer; rebuilding (unchanged chunks are reused)");
            None
        }
        Err(e) => {
            tracing::warn!(path = %files.cache.display(), error = %e, "unreadable token cache; rebuilding it from its chunks");
            None
        }
    }
}

/// A finished chunk of `docs`, when its file exists, reads, and holds `docs`' texts
/// tokenized with these settings; `None` (with a warning when the file was there) else.
fn read_chunk(
    file: &Path,
    docs: &[Document],
    backbone: &str,
    spec: &CacheSpec,
) -> Option<TokenCache> {
    if !file.exists() {
        return None;
    }
    let problem = match TokenCache::load(file) {
        Err(e) => e.to_string(),
        Ok(c) if c.backbone != backbone || c.max_len != spec.max_len || c.pad_id != spec.pad_id => {
            "made with other settings".to_string()
        }
        Ok(c) if !is_in_order(&c.texts, docs) => "holds other documents".to_string(),
        Ok(c) => return Some(c),
    };
    tracing::warn!(path = %file.display(), problem, "token-cache chunk not reused; tokenizing it again");
    None
}

/// Whether `texts` are some of `docs`, in their order (texts that tokenize to nothing are
/// not stored).
fn is_in_order(texts: &[CachedText], docs: &[Document]) -> bool {
    let mut rest = docs.iter();
    texts.iter().all(|t| rest.by_ref().any(|d| d.id == t.id))
}

/// Sets every text's family from its document (`texts` are some of `docs`, in order).
fn assign_families(texts: &mut [CachedText], docs: &[Document]) {
    let mut rest = docs.iter();
    for t in texts {
        if let Some(d) = rest.by_ref().find(|d| d.id == t.id) {
            t.family = d.tag("family").map(str::to_string);
        }
    }
}

/// Tokenizes one chunk's documents, cutting them to `max_len` tokens.
fn tokenize_chunk(
    docs: &[Document],
    backbone: &dyn Backbone,
    spec: &CacheSpec,
) -> Result<TokenCache> {
    let mut texts = Vec::with_capacity(docs.len());
    for d in docs {
        let mut ids = backbone.tokenize(&d.text)?;
        if ids.is_empty() {
            tracing::warn!(doc = %d.id, "skipping a text that tokenizes to nothing");
            continue;
        }
        let full_len = ids.len();
        ids.truncate(spec.max_len);
        texts.push(CachedText {
            id: d.id.clone(),
            family: d.tag("family").map(str::to_string),
            ids,
            full_len,
        });
    }
    TokenCache::from_texts(backbone.name(), spec.max_len, spec.pad_id, texts)
}

/// Refuses the first text over `max_len` tokens when `over_length` says so.
fn check_lengths(texts: &[CachedText], max_len: usize, over_length: OverLength) -> Result<()> {
    texts
        .iter()
        .try_for_each(|t| over_length.check(&t.id, t.full_len, max_len))
}

/// Removes the chunk files (and leftovers of interrupted writes) that are not among `keys`;
/// failures are only logged, the cache itself is complete.
fn remove_stale_chunks(files: &CacheFiles, keys: &[ContentKey]) {
    let keep: std::collections::HashSet<PathBuf> = keys.iter().map(|k| files.chunk(k)).collect();
    let entries = match std::fs::read_dir(&files.chunks) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(path = %files.chunks.display(), error = %e, "cannot list the token-cache chunks");
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.ends_with(".safetensors") || name.contains(".safetensors.tmp-");
        if ours && !keep.contains(&path) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale token-cache chunk");
            }
        }
    }
}

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
