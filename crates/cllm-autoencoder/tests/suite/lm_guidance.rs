//! LM-guided decoding (shallow fusion): λ = 0 is the plain decoder exactly, the guide
//! steers every search of both decoders through the right hypotheses, decoded ids never
//! leave the vocabulary table, and bad weights are typed errors.

use std::cell::Cell;

use cllm_autoencoder::{AutoencoderError, Cllm, CllmConfig, DecodeOptions, Search, VocabTable};
use cllm_backbone::device::CpuBackend;
use cllm_core::{Continuations, ContinuationsStart, CoreError, LanguageModel, TextVector};

use crate::common;

/// A "counting" language model over ids `0..VOCAB`: after token `t` it expects `t + 2`
/// (wrapping to 2, never 0, the end token) with probability 0.5, the odd id `t + 1` (which
/// the vocabulary table below does not hold) with 0.45, and spreads the rest evenly. It
/// keeps every row's history, so a search that forks or reorders its hypotheses gets the
/// expectation of the right text back.
struct CountingLm {
    calls: Cell<usize>,
}

impl CountingLm {
    fn new() -> Self {
        Self {
            calls: Cell::new(0),
        }
    }

    fn expected_after(t: u32) -> u32 {
        if t as usize + 2 < common::VOCAB {
            t + 2
        } else {
            2
        }
    }
}

struct CountingRows {
    histories: Vec<Vec<u32>>,
}

impl LanguageModel for CountingLm {
    fn token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>, CoreError> {
        Ok(vec![-1.0; ids.len().saturating_sub(1)])
    }

    fn continuations(
        &self,
        prefix: &[u32],
        rows: usize,
    ) -> Result<ContinuationsStart<'_>, CoreError> {
        self.calls.set(self.calls.get() + 1);
        assert!(prefix.is_empty(), "the decoder starts without a prefix");
        Ok((
            Box::new(CountingRows {
                histories: vec![Vec::new(); rows],
            }),
            None,
        ))
    }
}

impl Continuations for CountingRows {
    fn vocab_size(&self) -> usize {
        common::VOCAB
    }

    fn extend(&mut self, rows: &[usize], tokens: &[u32]) -> Result<Vec<Vec<f32>>, CoreError> {
        assert_eq!(rows.len(), tokens.len());
        self.histories = rows
            .iter()
            .zip(tokens)
            .map(|(&r, &t)| {
                let mut h = self.histories[r].clone();
                h.push(t);
                h
            })
            .collect();
        Ok(self
            .histories
            .iter()
            .map(|h| {
                let last = *h.last().unwrap();
                let rest = 0.05 / (common::VOCAB - 2) as f32;
                let mut row = vec![rest.ln(); common::VOCAB];
                row[CountingLm::expected_after(last) as usize] = 0.5f32.ln();
                row[(last as usize + 1) % common::VOCAB] = 0.45f32.ln();
                row
            })
            .collect())
    }
}

/// A language model that can only score whole texts.
struct WholeTextLm;

impl LanguageModel for WholeTextLm {
    fn token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>, CoreError> {
        Ok(vec![-1.0; ids.len().saturating_sub(1)])
    }
}

/// An untrained model over the even ids `0, 2, …, 46` (0 = the end token), and `n` seeded
/// vectors of its width.
fn model(config: CllmConfig) -> (Cllm<CpuBackend>, Vec<TextVector>) {
    // the backend's seeded generator is global: another test initialising a model at the
    // same time would change this one's weights (and whether the untrained decoder's
    // first token is the end token)
    let _guard = common::serial();
    let device = Default::default();
    let k = config.k;
    let vocab = VocabTable::from_embedding_table(
        &common::table(7),
        common::WIDTH,
        (0..common::VOCAB as u32).step_by(2),
        common::PAD,
    )
    .unwrap();
    let cllm = Cllm::<CpuBackend>::new(config, vocab, 5, &device).unwrap();
    let vectors = (0..4)
        .map(|i| {
            TextVector::new((0..k).map(|j| ((i * k + j) as f32 * 0.71).sin()).collect()).unwrap()
        })
        .collect();
    (cllm, vectors)
}

fn searches() -> Vec<Search> {
    vec![
        Search::Greedy,
        Search::Beam { width: 3 },
        Search::Nucleus {
            top_p: 0.9,
            temperature: 1.0,
            seed: 4,
        },
    ]
}

#[test]
fn zero_weight_is_the_plain_decoder_and_the_guide_is_not_run() {
    for config in [common::ar_config(), common::tiny_config()] {
        let (cllm, vectors) = model(config);
        for search in searches() {
            let opts = DecodeOptions {
                search: search.clone(),
                max_tokens: Some(8),
                ..DecodeOptions::default()
            };
            let lm = CountingLm::new();
            let plain = cllm.generate(&vectors, &opts).unwrap();
            let guided = cllm.generate_guided(&vectors, &opts, Some(&lm)).unwrap();
            assert_eq!(plain, guided, "{search:?}");
            assert_eq!(lm.calls.get(), 0, "λ = 0 does not run the language model");
            // and the guide does change the texts when weighted (the test is not vacuous)
            let weighted = DecodeOptions {
                lm_weight: 50.0,
                ..opts
            };
            let steered = cllm
                .generate_guided(&vectors, &weighted, Some(&lm))
                .unwrap();
            assert_ne!(plain, steered, "{search:?}");
        }
    }
}

/// With a heavy weight the counting model decides every token after the first (which has
/// no context and is the decoder's alone): each text counts up by two. Beam search forks
/// and reorders its hypotheses, so a mix-up of rows would break the count. The odd ids the
/// model rates almost as high are outside the vocabulary table and never appear.
#[test]
fn a_heavy_guide_steers_every_search_of_both_decoders_within_the_vocabulary() {
    for (name, config) in [
        ("ar", common::ar_config()),
        ("mirror", common::tiny_config()),
    ] {
        let (cllm, vectors) = model(config);
        for search in searches() {
            let opts = DecodeOptions {
                search: search.clone(),
                max_tokens: Some(8),
                lm_weight: 50.0,
                ..DecodeOptions::plain_greedy()
            };
            let lm = CountingLm::new();
            let out = cllm.generate_guided(&vectors, &opts, Some(&lm)).unwrap();
            for text in &out {
                assert!(
                    text.ids
                        .iter()
                        .all(|id| id % 2 == 0 && (*id as usize) < common::VOCAB),
                    "{name} {search:?}: {:?} leaves the vocabulary",
                    text.ids
                );
                assert!(!text.ids.is_empty(), "{name} {search:?}: an empty text");
                for w in text.ids.windows(2) {
                    assert_eq!(
                        w[1],
                        CountingLm::expected_after(w[0]),
                        "{name} {search:?}: {:?}",
                        text.ids
                    );
                }
            }
        }
    }
}

#[test]
fn bad_weights_and_missing_guides_are_typed_errors() {
    let (cllm, vectors) = model(common::ar_config());
    let lm = CountingLm::new();
    for bad in [f32::NAN, -0.5, f32::INFINITY] {
        let opts = DecodeOptions {
            lm_weight: bad,
            ..DecodeOptions::default()
        };
        assert!(
            matches!(
                cllm.generate_guided(&vectors, &opts, Some(&lm)),
                Err(AutoencoderError::LmWeight(_))
            ),
            "λ = {bad}"
        );
    }
    let weighted = DecodeOptions {
        lm_weight: 1.0,
        ..DecodeOptions::default()
    };
    assert!(matches!(
        cllm.generate(&vectors, &weighted),
        Err(AutoencoderError::InvalidConfig(_))
    ));
    assert!(matches!(
        cllm.generate_guided(&vectors, &weighted, Some(&WholeTextLm)),
        Err(AutoencoderError::Backbone(CoreError::Unsupported(_)))
    ));
}
