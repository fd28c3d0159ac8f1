//! The llama adapter on tiny random GGUF files written by the test itself: shapes, the
//! layer-0 round trip, batching, and a typed error for every kind of bad input.

use std::path::{Path, PathBuf};

use burn::backend::NdArray;
use cllm_backbone::{BackboneError, LlamaBackbone};
use cllm_core::{Backbone, CoreError, DecodeStrategy, TokenMatrix};
use cllm_gguf::{GgmlType, GgufWriter, MetadataArray, MetadataValue};

const D: usize = 32;
const FF: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const CONTEXT: usize = 48;

/// GPT-2's byte → printable-character map used by byte-level BPE vocabularies.
fn byte_symbols() -> Vec<String> {
    let mut printable: Vec<u32> = ('!' as u32..='~' as u32).collect();
    printable.extend('¡' as u32..='¬' as u32);
    printable.extend('®' as u32..='ÿ' as u32);
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            let c = if printable.contains(&b) {
                b
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(c).unwrap().to_string()
        })
        .collect()
}

/// A tiny llama GGUF description that tests can break in one place.
struct Tiny {
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>, GgmlType)>,
}

impl Tiny {
    fn new() -> Self {
        let mut tokens = byte_symbols();
        tokens.extend(["Ġt", "Ġth", "er", "<|endoftext|>"].map(String::from));
        let mut types = vec![1i32; tokens.len()];
        *types.last_mut().unwrap() = 3;
        let vocab = tokens.len();
        let meta: Vec<(&str, MetadataValue)> = vec![
            ("general.architecture", "llama".into()),
            ("general.name", "tiny".into()),
            ("llama.block_count", (LAYERS as u32).into()),
            ("llama.context_length", (CONTEXT as u32).into()),
            ("llama.embedding_length", (D as u32).into()),
            ("llama.feed_forward_length", (FF as u32).into()),
            ("llama.attention.head_count", (HEADS as u32).into()),
            ("llama.attention.head_count_kv", (KV_HEADS as u32).into()),
            ("llama.rope.freq_base", 10000.0f32.into()),
            ("llama.attention.layer_norm_rms_epsilon", 1e-5f32.into()),
            ("tokenizer.ggml.model", "gpt2".into()),
            ("tokenizer.ggml.pre", "smollm".into()),
            (
                "tokenizer.ggml.tokens",
                MetadataArray::strings(&tokens).into(),
            ),
            (
                "tokenizer.ggml.token_type",
                MetadataArray::i32s(types).into(),
            ),
            (
                "tokenizer.ggml.merges",
                MetadataArray::strings(["Ġ t", "Ġt h", "e r"]).into(),
            ),
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
                })
                .collect()
        };
        let hd = D / HEADS;
        let mut tensors = vec![(
            "token_embd.weight".to_string(),
            vec![vocab, D],
            rand(vocab * D),
            GgmlType::Q8_0,
        )];
        tensors.push((
            "output_norm.weight".into(),
            vec![D],
            vec![1.0; D],
            GgmlType::F32,
        ));
        for l in 0..LAYERS {
            let p = |s: &str| format!("blk.{l}.{s}.weight");
            let mut add = |name: String, shape: Vec<usize>, ty| {
                let n = shape.iter().product();
                tensors.push((name, shape, rand(n), ty));
            };
            add(p("attn_q"), vec![HEADS * hd, D], GgmlType::Q4_1);
            add(p("attn_k"), vec![KV_HEADS * hd, D], GgmlType::Q4_1);
            add(p("attn_v"), vec![KV_HEADS * hd, D], GgmlType::Q8_0);
            add(p("attn_output"), vec![D, HEADS * hd], GgmlType::F16);
            add(p("ffn_gate"), vec![FF, D], GgmlType::Q4_0);
            add(p("ffn_up"), vec![FF, D], GgmlType::F32);
            add(p("ffn_down"), vec![D, FF], GgmlType::Q8_0);
            tensors.push((p("attn_norm"), vec![D], vec![1.0; D], GgmlType::F32));
            tensors.push((p("ffn_norm"), vec![D], vec![1.0; D], GgmlType::F32));
        }
        Self {
            metadata: meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            tensors,
        }
    }

    fn set(mut self, key: &str, value: impl Into<MetadataValue>) -> Self {
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
        self
    }

    fn tensor(
        mut self,
        name: &str,
        f: impl FnOnce(&mut (String, Vec<usize>, Vec<f32>, GgmlType)),
    ) -> Self {
        f(self
            .tensors
            .iter_mut()
            .find(|t| t.0 == name)
            .expect("tensor name"));
        self
    }

    fn without_tensor(mut self, name: &str) -> Self {
        self.tensors.retain(|t| t.0 != name);
        self
    }

    fn write(&self, dir: &Path) -> PathBuf {
        let mut w = GgufWriter::new();
        for (k, v) in &self.metadata {
            w.add_metadata(k, v.clone()).unwrap();
        }
        for (name, shape, data, ty) in &self.tensors {
            w.add_tensor_f32(name, shape, data, *ty).unwrap();
        }
        let path = dir.join("tiny.gguf");
        w.write_to_path(&path).unwrap();
        path
    }

    fn load(&self) -> Result<LlamaBackbone<NdArray>, BackboneError> {
        let dir = tempfile::tempdir().unwrap();
        LlamaBackbone::from_gguf(self.write(dir.path()), &Default::default())
    }
}

fn tiny() -> LlamaBackbone<NdArray> {
    Tiny::new().load().expect("tiny model loads")
}

#[test]
fn shapes_and_layer_zero_round_trip() {
    let m = tiny();
    assert_eq!(
        (m.width(), m.num_layers(), m.max_len(), m.vocab_size()),
        (D, LAYERS, CONTEXT, 260)
    );
    for text in [
        "the other thing",
        "Crème brûlée: 350°F, ½ cup!",
        "a\n\n  b\t<|endoftext|>",
    ] {
        let ids = m.tokenize(text).unwrap();
        for layer in 0..=LAYERS {
            assert_eq!(m.embed(text, layer).unwrap().shape(), (ids.len(), D));
        }
        let x = m.embed(text, 0).unwrap();
        assert_eq!(
            m.decode(&x, DecodeStrategy::NearestEmbedding).unwrap(),
            text
        );
        // A perturbed matrix takes the search path and still finds the nearest rows.
        let noisy: Vec<f32> = x
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, v)| v + 1e-4 * ((i % 7) as f32 - 3.0))
            .collect();
        let noisy = TokenMatrix::new(x.rows(), D, noisy).unwrap();
        assert_eq!(
            m.decode_ids(&noisy, DecodeStrategy::NearestEmbedding)
                .unwrap(),
            ids
        );
        let logits = m.head_logits(&x, true).unwrap();
        assert_eq!(logits.shape(), (ids.len(), m.vocab_size()));
        let argmax = m
            .decode_ids(&x, DecodeStrategy::HeadArgmax { final_norm: true })
            .unwrap();
        assert_eq!(argmax.len(), ids.len());
    }
    // Merges and digits: " the" uses the merged token, digits are split one by one.
    let ids = m.tokenize(" th 123").unwrap();
    assert_eq!(m.detokenize(&ids).unwrap(), " th 123");
    assert_eq!(ids.len(), 5);
}

#[test]
fn batched_embedding_equals_one_by_one() {
    let m = tiny();
    let batch: Vec<Vec<u32>> = ["a", "the other", "bread, soup and pizza"]
        .iter()
        .map(|t| m.tokenize(t).unwrap())
        .collect();
    let together = m.embed_ids_batch(&batch, LAYERS).unwrap();
    for (ids, got) in batch.iter().zip(&together) {
        let alone = m.embed_ids(ids, LAYERS).unwrap();
        assert_eq!(got.shape(), alone.shape());
        let err = got
            .as_slice()
            .iter()
            .zip(alone.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            err < 1e-4,
            "padding changed the states of real tokens: {err}"
        );
    }
}

/// The adapter with only the required [`Backbone`] methods: the trait's provided
/// `embedding_table` and `token_id` run on it.
struct RequiredOnly<'a>(&'a LlamaBackbone<NdArray>);

impl Backbone for RequiredOnly<'_> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn width(&self) -> usize {
        self.0.width()
    }
    fn num_layers(&self) -> usize {
        self.0.num_layers()
    }
    fn max_len(&self) -> usize {
        self.0.max_len()
    }
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, CoreError> {
        self.0.tokenize(text)
    }
    fn detokenize(&self, ids: &[u32]) -> Result<String, CoreError> {
        self.0.detokenize(ids)
    }
    fn embed_ids(&self, ids: &[u32], layer: usize) -> Result<TokenMatrix, CoreError> {
        self.0.embed_ids(ids, layer)
    }
    fn head_logits(&self, m: &TokenMatrix, final_norm: bool) -> Result<TokenMatrix, CoreError> {
        self.0.head_logits(m, final_norm)
    }
    fn decode_ids(&self, m: &TokenMatrix, s: DecodeStrategy) -> Result<Vec<u32>, CoreError> {
        self.0.decode_ids(m, s)
    }
}

#[test]
fn embedding_table_and_token_lookup_agree_with_the_trait_definitions() {
    let m = tiny();
    let table = m.embedding_table().unwrap();
    assert_eq!(table.shape(), (m.vocab_size(), D));
    // the trait's own definition: every id embedded at layer 0 (260 ids in chunks of 48)
    let by_layer_zero = RequiredOnly(&m).embedding_table().unwrap();
    assert_eq!(table, by_layer_zero);
    let ids = m.tokenize("the other thing").unwrap();
    let x = m.embed_ids(&ids, 0).unwrap();
    for (r, &id) in ids.iter().enumerate() {
        assert_eq!(table.row(id as usize), x.row(r));
    }
    // the rows differ (a copy of one row everywhere would pass the checks above only by luck)
    assert_ne!(table.row(0), table.row(1));
    let eos = 259u32; // <|endoftext|>
    assert_eq!(m.token_id("<|endoftext|>"), Some(eos));
    assert_eq!(RequiredOnly(&m).token_id("<|endoftext|>"), Some(eos));
    let a = m.tokenize("a").unwrap();
    assert_eq!((m.token_id("a"), a.len()), (Some(a[0]), 1));
    for missing in ["<|im_end|>", "not one token", ""] {
        assert_eq!(m.token_id(missing), None, "{missing:?}");
        assert_eq!(RequiredOnly(&m).token_id(missing), None, "{missing:?}");
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let m = tiny();
    assert!(matches!(m.embed("", 0), Err(CoreError::Empty { .. })));
    let long = "x ".repeat(CONTEXT);
    assert!(matches!(
        m.embed(&long, 0),
        Err(CoreError::TooLong { max: CONTEXT, .. })
    ));
    assert!(matches!(
        m.embed("a", LAYERS + 1),
        Err(CoreError::LayerOutOfRange { .. })
    ));
    assert!(matches!(
        m.embed_ids(&[9999], 0),
        Err(CoreError::TokenOutOfRange { id: 9999, .. })
    ));
    assert!(matches!(
        m.detokenize(&[9999]),
        Err(CoreError::TokenOutOfRange { .. })
    ));
    assert!(matches!(
        m.embed_ids_batch(&[], 0),
        Err(CoreError::Empty { .. })
    ));
    let narrow = TokenMatrix::new(1, D - 1, vec![0.0; D - 1]).unwrap();
    assert!(matches!(
        m.decode(&narrow, DecodeStrategy::NearestEmbedding),
        Err(CoreError::ShapeMismatch { .. })
    ));
    let empty = TokenMatrix::new(0, D, vec![]).unwrap();
    assert!(matches!(
        m.head_logits(&empty, false),
        Err(CoreError::Empty { .. })
    ));
    // `with_max_len` caps the input below the context.
    let capped = tiny().with_max_len(4);
    assert!(matches!(
        capped.embed("one two three four five", 0),
        Err(CoreError::TooLong { max: 4, .. })
    ));
}

#[test]
fn malformed_model_files_give_typed_errors() {
    let err = |t: Tiny| t.load().expect_err("should not load");
    assert!(
        matches!(err(Tiny::new().set("general.architecture", "gpt2")), BackboneError::UnsupportedArchitecture(a) if a == "gpt2")
    );
    assert!(
        matches!(err(Tiny::new().without_tensor("blk.1.ffn_up.weight")), BackboneError::MissingTensor(n) if n == "blk.1.ffn_up.weight")
    );
    assert!(matches!(
        err(Tiny::new().tensor("blk.0.attn_v.weight", |t| {
            t.1 = vec![D, D];
            t.2 = vec![0.1; D * D];
        })),
        BackboneError::TensorShape { .. }
    ));
    assert!(matches!(
        err(Tiny::new().tensor("blk.0.ffn_up.weight", |t| t.2[5] = f32::NAN)),
        BackboneError::NonFiniteWeight(n) if n == "blk.0.ffn_up.weight"
    ));
    assert!(matches!(
        err(Tiny::new().set("llama.attention.head_count_kv", 3u32)),
        BackboneError::InvalidConfig(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("llama.attention.head_count", 0u32)),
        BackboneError::InvalidConfig(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("llama.embedding_length", "wide")),
        BackboneError::Gguf(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("tokenizer.ggml.model", "llama")),
        BackboneError::Tokenizer(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("tokenizer.ggml.merges", MetadataArray::strings(["Ġ zz"]))),
        BackboneError::Tokenizer(_)
    ));

    // Optional keys present with the wrong type are errors, not silently defaulted.
    assert!(matches!(
        err(Tiny::new().set("llama.attention.head_count_kv", "two")),
        BackboneError::Gguf(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("llama.rope.freq_base", "ten thousand")),
        BackboneError::Gguf(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("llama.vocab_size", -1i32)),
        BackboneError::Gguf(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("tokenizer.ggml.token_type", MetadataArray::strings(["1"]))),
        BackboneError::Gguf(_)
    ));
    assert!(matches!(
        err(Tiny::new().set("tokenizer.ggml.pre", 3u32)),
        BackboneError::Gguf(_)
    ));
    // A context too long to allocate rotary tables for.
    assert!(matches!(
        err(Tiny::new().set("llama.context_length", u32::MAX)),
        BackboneError::InvalidConfig(_)
    ));

    // Broken bytes: truncated and with the wrong magic.
    let dir = tempfile::tempdir().unwrap();
    let path = Tiny::new().write(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    for cut in [3, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let r = LlamaBackbone::<NdArray>::from_gguf(&path, &Default::default());
        assert!(
            matches!(r, Err(BackboneError::Gguf(_))),
            "truncated at {cut}"
        );
    }
    let mut wrong = bytes.clone();
    wrong[..4].copy_from_slice(b"GGML");
    std::fs::write(&path, &wrong).unwrap();
    assert!(matches!(
        LlamaBackbone::<NdArray>::from_gguf(&path, &Default::default()),
        Err(BackboneError::Gguf(_))
    ));
    assert!(matches!(
        LlamaBackbone::<NdArray>::from_gguf(dir.path().join("absent.gguf"), &Default::default()),
        Err(BackboneError::Gguf(_))
    ));
}

#[test]
fn special_token_ids_outside_the_vocabulary_are_refused_at_load_time() {
    let vocab = 260u32;
    for key in cllm_backbone::tokenizer::SpecialTokens::KEYS {
        for id in [vocab, vocab + 1000, u32::MAX] {
            match Tiny::new().set(key, id).load() {
                Err(BackboneError::SpecialTokenOutOfRange {
                    key: k,
                    id: i,
                    vocab: v,
                }) => {
                    assert_eq!((k.as_str(), i, v), (key, id, vocab as usize))
                }
                other => panic!("{key} = {id}: {:?}", other.map(|_| ())),
            }
        }
        // the last id is inside
        assert!(Tiny::new().set(key, vocab - 1).load().is_ok(), "{key}");
    }
    // a negative id (or one of another type) is a typed error too
    assert!(matches!(
        Tiny::new().set("tokenizer.ggml.eos_token_id", -1i32).load(),
        Err(BackboneError::Gguf(_))
    ));
    assert!(matches!(
        Tiny::new().set("tokenizer.ggml.bos_token_id", "0").load(),
        Err(BackboneError::Gguf(_))
    ));
}

#[test]
fn without_token_types_the_named_special_tokens_are_kept_whole() {
    let without = |t: Tiny| Tiny {
        metadata: t
            .metadata
            .into_iter()
            .filter(|(k, _)| k != "tokenizer.ggml.token_type")
            .collect(),
        ..t
    };
    let eos = 259u32; // <|endoftext|>
    let m = without(Tiny::new().set("tokenizer.ggml.eos_token_id", eos))
        .load()
        .unwrap();
    let ids = m.tokenize("a<|endoftext|>").unwrap();
    assert_eq!(ids.last(), Some(&eos), "{ids:?}");
    // no key names it: loaded, but the token is split as text (and counted in a warning)
    let m = without(Tiny::new()).load().unwrap();
    let ids = m.tokenize("a<|endoftext|>").unwrap();
    assert!(ids.len() > 2 && !ids.contains(&eos), "{ids:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = cllm_gguf::GgufFile::open(without(Tiny::new()).write(dir.path())).unwrap();
    assert_eq!(
        cllm_backbone::tokenizer_spec(&file)
            .unwrap()
            .unmarked_control_like_tokens(),
        1
    );
}

/// Mean of the rows of `m`, L2-normalised (computed in f64).
fn pooled_by_hand(m: &TokenMatrix) -> Vec<f32> {
    let mut mean = vec![0f64; m.cols()];
    for row in m.iter_rows() {
        for (a, b) in mean.iter_mut().zip(row) {
            *a += *b as f64 / m.rows() as f64;
        }
    }
    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
    mean.iter().map(|x| (x / norm) as f32).collect()
}

#[test]
fn layer_mean_pool_is_a_sentence_encoder() {
    use cllm_backbone::LayerMeanPool;
    use cllm_core::SentenceEncoder;
    let m = tiny();
    let long = "the other ".repeat(40);
    let texts = [
        "a",
        "the other",
        "bread, soup and pizza",
        "the other",
        long.as_str(),
    ];
    let max_err = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    for layer in [0, 1, LAYERS] {
        let pool = LayerMeanPool::new(&m, layer);
        assert_eq!(pool.dim(), D);
        assert!(pool.encode_sentences(&[]).unwrap().is_empty());
        let batch = pool.encode_sentences(&texts).unwrap();
        assert_eq!(batch.len(), texts.len());
        for (t, v) in texts.iter().zip(&batch) {
            // Longer texts are truncated to the context.
            let mut ids = m.tokenize(t).unwrap();
            ids.truncate(CONTEXT);
            let want = pooled_by_hand(&m.embed_ids(&ids, layer).unwrap());
            assert!(
                max_err(v, &want) < 1e-5,
                "{t:?} at layer {layer}: {}",
                max_err(v, &want)
            );
            let alone = pool.encode_sentences(&[t]).unwrap();
            assert!(max_err(v, &alone[0]) < 1e-5, "batch vs alone for {t:?}");
        }
        assert_eq!(batch[1], batch[3]);
    }
    assert!(matches!(
        LayerMeanPool::new(&m, LAYERS + 1).encode_sentences(&["a"]),
        Err(CoreError::LayerOutOfRange { .. })
    ));
    assert!(matches!(
        LayerMeanPool::new(&m, 1).encode_sentences(&["a", ""]),
        Err(CoreError::Empty { .. })
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Byte-level BPE is lossless: any text (within the context) survives
        /// text → ids → layer-0 matrix → nearest embeddings → text.
        #[test]
        fn any_text_round_trips_at_layer_zero(text in "\\PC{1,40}") {
            let m = model();
            let ids = m.tokenize(&text).unwrap();
            prop_assume!(!ids.is_empty() && ids.len() <= CONTEXT);
            let x = m.embed_ids(&ids, 0).unwrap();
            prop_assert_eq!(m.decode(&x, DecodeStrategy::NearestEmbedding).unwrap(), text);
        }
    }

    fn model() -> &'static LlamaBackbone<NdArray> {
        static M: std::sync::OnceLock<LlamaBackbone<NdArray>> = std::sync::OnceLock::new();
        M.get_or_init(tiny)
    }
}
