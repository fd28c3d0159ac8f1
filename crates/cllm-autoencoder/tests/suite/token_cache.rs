//! The token cache built in chunks (`TokenCache::load_or_build`): resumed after an
//! interrupted build, extended for an appended corpus, refused texts over the length cap,
//! an unreadable cache file reported instead of silently ignored, and never a cache of
//! other texts taken for this corpus's. A byte tokenizer that
//! counts its calls shows exactly which texts were tokenized again.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cllm_autoencoder::{AutoencoderError, CacheBuildReport, CacheSpec, OverLength, TokenCache};
use cllm_core::{Backbone, CoreError, Document, TokenMatrix};

/// One byte = one token (ids 1..=256, so that no text tokenizes to the pad id 0); counts the
/// texts it tokenizes (the probe text included) and fails on the `fail_at`-th call.
struct CountingBytes {
    calls: Cell<usize>,
    fail_at: Option<usize>,
}

impl CountingBytes {
    fn new() -> Self {
        Self {
            calls: Cell::new(0),
            fail_at: None,
        }
    }

    fn failing_at(call: usize) -> Self {
        Self {
            fail_at: Some(call),
            ..Self::new()
        }
    }

    /// Texts tokenized so far, less the probe text of each build.
    fn texts(&self, builds: usize) -> usize {
        self.calls.get() - builds
    }
}

impl Backbone for CountingBytes {
    fn name(&self) -> &str {
        "counting-bytes"
    }
    fn vocab_size(&self) -> usize {
        257
    }
    fn width(&self) -> usize {
        4
    }
    fn num_layers(&self) -> usize {
        0
    }
    fn max_len(&self) -> usize {
        1 << 20
    }
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, CoreError> {
        self.calls.set(self.calls.get() + 1);
        if Some(self.calls.get()) == self.fail_at {
            return Err(CoreError::Unsupported("simulated interruption".into()));
        }
        Ok(text.bytes().map(|b| u32::from(b) + 1).collect())
    }
    fn detokenize(&self, ids: &[u32]) -> Result<String, CoreError> {
        Ok(ids.iter().map(|&i| (i - 1) as u8 as char).collect())
    }
    fn embed_ids(&self, _ids: &[u32], _layer: usize) -> Result<TokenMatrix, CoreError> {
        Err(CoreError::Unsupported(
            "not needed by the token cache".into(),
        ))
    }
    fn head_logits(&self, _m: &TokenMatrix, _final_norm: bool) -> Result<TokenMatrix, CoreError> {
        Err(CoreError::Unsupported(
            "not needed by the token cache".into(),
        ))
    }
    fn decode_ids(
        &self,
        _m: &TokenMatrix,
        _s: cllm_core::DecodeStrategy,
    ) -> Result<Vec<u32>, CoreError> {
        Err(CoreError::Unsupported(
            "not needed by the token cache".into(),
        ))
    }
}

/// `n` documents `d0…`, texts of 5..=8 bytes (none cut), families cycling a/b.
fn docs(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            Document::new(format!("d{i}"), format!("text {}", "x".repeat(i % 4)))
                .with_tag("family", ["a", "b"][i % 2])
        })
        .collect()
}

/// Chunks of 3 texts, cap 8 tokens.
fn spec() -> CacheSpec {
    CacheSpec {
        chunk_texts: 3,
        ..CacheSpec::new(8, 0)
    }
}

fn build(
    path: &Path,
    docs: &[Document],
    backbone: &CountingBytes,
    spec: &CacheSpec,
) -> Result<(TokenCache, CacheBuildReport), AutoencoderError> {
    TokenCache::load_or_build(path, docs, backbone, spec, &mut |_, _| {})
}

fn chunk_files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(path.with_extension("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The cache as one uninterrupted build in a fresh directory makes it.
fn reference(docs: &[Document], spec: &CacheSpec) -> TokenCache {
    let dir = tempfile::tempdir().unwrap();
    build(
        &dir.path().join("tokens.safetensors"),
        docs,
        &CountingBytes::new(),
        spec,
    )
    .unwrap()
    .0
}

#[test]
fn an_interrupted_build_resumes_from_its_finished_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens-L8.safetensors");
    let corpus = docs(10); // chunks of 3, 3, 3, 1
                           // the probe, then texts d0…d6 tokenize; d7 (the 9th call) fails mid-chunk 2
    let broken = CountingBytes::failing_at(9);
    assert!(build(&path, &corpus, &broken, &spec()).is_err());
    assert!(!path.exists(), "no cache file from a build cut short");
    assert_eq!(chunk_files(&path).len(), 2, "chunks 0 and 1 were finished");

    let backbone = CountingBytes::new();
    let (cache, report) = build(&path, &corpus, &backbone, &spec()).unwrap();
    assert_eq!(
        backbone.texts(1),
        4,
        "only chunks 2 and 3 (d6…d9) are tokenized again"
    );
    assert_eq!(
        (report.chunks, report.chunks_reused, report.texts_tokenized),
        (4, 2, 4)
    );
    assert_eq!(cache, reference(&corpus, &spec()));
    // the file training reads is the same format as ever
    assert_eq!(TokenCache::load(&path).unwrap(), cache);

    // a second run reads the finished file: no text tokenized
    let again = CountingBytes::new();
    let (same, report) = build(&path, &corpus, &again, &spec()).unwrap();
    assert!(report.reused_file);
    assert_eq!((again.texts(1), same), (0, cache));
}

#[test]
fn an_appended_corpus_tokenizes_only_the_changed_and_new_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens-L8.safetensors");
    let first = docs(7); // chunks of 3, 3, 1
    build(&path, &first, &CountingBytes::new(), &spec()).unwrap();
    let before = chunk_files(&path);
    assert_eq!(before.len(), 3);

    let appended = docs(11); // chunks of 3, 3, 3, 2: the first two unchanged
    let backbone = CountingBytes::new();
    let (cache, report) = build(&path, &appended, &backbone, &spec()).unwrap();
    assert_eq!(
        backbone.texts(1),
        5,
        "d6…d10: the last old chunk and the new one"
    );
    assert_eq!((report.chunks_reused, report.texts_tokenized), (2, 5));
    assert_eq!(cache, reference(&appended, &spec()));
    let after = chunk_files(&path);
    assert_eq!(after.len(), 4, "the old last chunk is removed: {after:?}");
    assert_eq!(after.iter().filter(|p| before.contains(p)).count(), 2);
}

#[test]
fn other_families_reuse_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens-L8.safetensors");
    build(&path, &docs(7), &CountingBytes::new(), &spec()).unwrap();
    // another --hold-out changes the family tags, not the tokens
    let refocused: Vec<Document> = docs(7)
        .into_iter()
        .map(|d| d.with_tag("family", "c"))
        .collect();
    let backbone = CountingBytes::new();
    let (cache, report) = build(&path, &refocused, &backbone, &spec()).unwrap();
    assert!(!report.reused_file);
    assert_eq!((backbone.texts(1), report.chunks_reused), (0, 3));
    assert!(cache.texts.iter().all(|t| t.family.as_deref() == Some("c")));
    assert_eq!(cache, reference(&refocused, &spec()));
}

#[test]
fn strict_refuses_a_text_over_the_cap_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens-L8.safetensors");
    let mut corpus = docs(5);
    corpus.insert(3, Document::new("notes:long", "twelve bytes"));
    // cut and counted by default
    let (cache, report) = build(&path, &corpus, &CountingBytes::new(), &spec()).unwrap();
    assert_eq!((report.cut, cache.truncated()), (1, 1));
    assert_eq!(cache.texts[3].ids.len(), 8);
    assert_eq!(cache.texts[3].full_len, 12);

    let strict = CacheSpec {
        over_length: OverLength::Refuse,
        ..spec()
    };
    let refused = |path: &Path| match build(path, &corpus, &CountingBytes::new(), &strict) {
        Err(AutoencoderError::TextOverLength {
            id,
            tokens,
            max_len,
        }) => (id, tokens, max_len),
        other => panic!("expected TextOverLength, got {other:?}"),
    };
    // from the finished file of the cutting build, and from a fresh build
    assert_eq!(refused(&path), ("notes:long".to_string(), 12, 8));
    let fresh = tempfile::tempdir().unwrap();
    let fresh = fresh.path().join("tokens-L8.safetensors");
    assert_eq!(refused(&fresh), ("notes:long".to_string(), 12, 8));
    assert!(!fresh.exists());
    let message = AutoencoderError::TextOverLength {
        id: "notes:long".into(),
        tokens: 12,
        max_len: 8,
    }
    .to_string();
    assert!(
        message.contains("\"notes:long\" has 12 tokens"),
        "{message}"
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns what it logged at warning level.
fn warnings_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buffer = Captured::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (out, text)
}

#[test]
fn the_key_lives_in_the_cache_file_and_another_corpus_is_never_read_as_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens-L8.safetensors");
    let corpus = docs(7);
    let (cache, _) = build(&path, &corpus, &CountingBytes::new(), &spec()).unwrap();
    // no second file holds the key: the data and its key are written as one
    assert!(!path.with_extension("digest").exists());

    // The trigger of the old two-file layout: a build of another corpus leaves its cache
    // file beside a key file of this one (killed between the two writes). A stale key file
    // is ignored (and removed); only the key inside the cache file counts.
    let mut edited = corpus.clone();
    edited[4] = Document::new("d4", "another text").with_tag("family", "a");
    let backbone = CountingBytes::new();
    let (other, report) = build(&path, &edited, &backbone, &spec()).unwrap();
    assert!(!report.reused_file);
    assert_eq!(
        backbone.texts(1),
        3,
        "only the edited text's chunk is tokenized again"
    );
    std::fs::write(path.with_extension("digest"), b"0123456789abcdef").unwrap();
    let backbone = CountingBytes::new();
    let (back, report) = build(&path, &corpus, &backbone, &spec()).unwrap();
    assert!(
        !report.reused_file,
        "the other corpus's cache is not read as this one's"
    );
    assert_eq!(back, cache);
    assert_ne!(other, cache);
    assert!(
        !path.with_extension("digest").exists(),
        "the stale key file is removed"
    );

    // a cache file that does not parse is a warning naming it; rebuilt from the chunks
    std::fs::write(&path, b"garbage").unwrap();
    let backbone = CountingBytes::new();
    let (result, warned) = warnings_of(|| build(&path, &corpus, &backbone, &spec()));
    let (rebuilt, report) = result.unwrap();
    assert!(warned.contains(&path.display().to_string()), "{warned:?}");
    assert!(!report.reused_file);
    assert_eq!(backbone.texts(1), 0, "every chunk reused");
    assert_eq!(rebuilt, cache);

    // a chunk that does not parse is named and tokenized again
    std::fs::remove_file(&path).unwrap();
    let damaged = chunk_files(&path)[0].clone();
    let its_texts = TokenCache::load(&damaged).unwrap().len();
    std::fs::write(&damaged, b"garbage").unwrap();
    let backbone = CountingBytes::new();
    let (result, warned) = warnings_of(|| build(&path, &corpus, &backbone, &spec()));
    assert_eq!(result.unwrap().0, cache);
    assert!(
        warned.contains(&damaged.display().to_string()),
        "{warned:?}"
    );
    assert_eq!(backbone.texts(1), its_texts);
}
