//! Every recipe of the corpus: token ids identical to the reference tokenizer's, and the
//! layer-0 matrix decodes back to exactly the original text.
//!
//! `fixtures/smollm2/corpus_token_ids.tsv` (from `scripts/smollm2_tokenize_corpus.py`) holds,
//! per document, a digest of the ids of (a) transformers' GGUF tokenizer, which ignores
//! `tokenizer.ggml.pre`, and (b) the same vocabulary with llama.cpp's `smollm` pre-tokenizer
//! (digits split one by one). Our tokenizer follows (b), the model's own; with the GPT-2
//! pre-tokenizer forced it reproduces (a). Both must match on every document.

mod common;

use std::collections::HashMap;

use cllm_core::{Backbone, DecodeStrategy};
use sha2::{Digest, Sha256};

fn digest(ids: &[u32]) -> String {
    let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    hex::encode(Sha256::digest(&bytes))[..16].to_string()
}

struct Expected {
    n_hf: usize,
    hf: String,
    n_digits: usize,
    digits: String,
}

fn expected() -> HashMap<String, Expected> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/smollm2/corpus_token_ids.tsv"
    );
    let text = std::fs::read_to_string(path).expect("reading the corpus token fixture");
    text.lines()
        .skip(2)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "malformed fixture line {line:?}");
            let e = Expected {
                n_hf: f[1].parse().unwrap(),
                hf: f[2].into(),
                n_digits: f[3].parse().unwrap(),
                digits: f[4].into(),
            };
            (f[0].to_string(), e)
        })
        .collect()
}

#[test]
fn every_recipe_tokenizes_like_the_reference_and_round_trips_at_layer_zero() {
    let model = common::smollm2();
    let assets = cllm_corpus::fetch_assets(&Default::default()).expect("assets");
    let corpus = cllm_corpus::load_corpus(&assets).expect("corpus");
    let expected = expected();
    assert_eq!(
        corpus.len(),
        expected.len(),
        "corpus and fixture disagree on the document count"
    );
    let mut spec =
        cllm_backbone::tokenizer_spec(&cllm_gguf::GgufFile::open(common::smollm2_path()).unwrap())
            .unwrap();
    spec.pre = Some("gpt2".into());
    let transformers_like = spec.build().unwrap();

    let (mut tokens, mut differ) = (0, 0);
    for (i, doc) in corpus.iter().enumerate() {
        let want = expected
            .get(&doc.id)
            .unwrap_or_else(|| panic!("{} missing from the fixture", doc.id));
        let ids = model.tokenize(&doc.text).unwrap();
        assert_eq!(
            (ids.len(), digest(&ids)),
            (want.n_digits, want.digits.clone()),
            "ids of {}",
            doc.id
        );
        let hf = transformers_like
            .encode(doc.text.as_str(), false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(
            (hf.len(), digest(&hf)),
            (want.n_hf, want.hf.clone()),
            "GPT-2 pre-tokenizer ids of {}",
            doc.id
        );
        differ += usize::from(want.hf != want.digits);
        tokens += ids.len();

        let m = model.embed_ids(&ids, 0).unwrap();
        assert_eq!(
            model.decode(&m, DecodeStrategy::NearestEmbedding).unwrap(),
            doc.text,
            "round trip of {}",
            doc.id
        );
        // The exhaustive L2 search (what non-exact rows get) agrees, on a sample.
        if i % 500 == 0 {
            assert_eq!(
                model.nearest_embedding_ids(&m).unwrap(),
                ids,
                "L2 search on {}",
                doc.id
            );
        }
    }
    println!(
        "{} documents, {tokens} tokens: ids exact, text round-trips exactly; {differ} documents tokenize differently under transformers' GPT-2 pre-tokenizer",
        corpus.len()
    );
}
