//! The objective of one training step: forward pass, tied-head cross-entropy and the
//! optional terms of [`LossConfig`](crate::loss::LossConfig), for either decoder.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;

use crate::ar::ArDecoder;
use crate::batch::{normal_noise, rng_for, sampled_candidates, stream, HostBatch};
use crate::error::{AutoencoderError, Result};
use crate::eval::input_tensors;
use crate::head_ce::{tied_head_ce_chunked_with, DEFAULT_CHUNK_LOGITS};
use crate::loss::{
    alignment_term, bag_of_words_term, clustering_term, cosine_distance, decorrelation_term,
    LossConfig,
};
use crate::model::{CllmModel, Decoder, MirrorDecoder};
use crate::semantic::SemanticTargets;

/// The sentence embeddings of the batch members that have one.
pub(crate) struct AlignBatch {
    /// Positions in the batch.
    pub rows: Vec<usize>,
    /// Their unit embeddings, row-major `[rows × dim]`.
    pub targets: Vec<f32>,
    /// Embedding width.
    pub dim: usize,
}

impl AlignBatch {
    /// Looks the members up; `None` when fewer than 3 have an embedding (the term compares
    /// pairs and is degenerate below 3 points).
    pub fn gather(t: &SemanticTargets, ids: &[&str]) -> Option<Self> {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = t.get(id) {
                rows.push(i);
                targets.extend_from_slice(v);
            }
        }
        (rows.len() >= 3).then_some(Self {
            rows,
            targets,
            dim: t.dim(),
        })
    }
}

/// A batch's loss and its values read back.
pub(crate) struct BatchLoss<B: Backend> {
    pub total: Tensor<B, 1>,
    /// total, ce, mse (0 for the autoregressive decoder, which has no restored matrix)
    pub values: [f32; 3],
    pub batch_token_accuracy: f32,
    /// The batch's text vectors, read back (row-major `[b, k]`) when the decorrelation term
    /// is on, for the queue of recent vectors.
    pub codes: Option<Vec<f32>>,
}

/// Forward pass and objective of one host batch (see [`crate::loss`]): the encoder, the
/// terms on the text vectors, then the decoder the model has.
pub(crate) fn batch_loss<B: AutodiffBackend>(
    model: &CllmModel<B>,
    e_v: &Tensor<B, 2>,
    hb: &HostBatch,
    cfg: &LossConfig,
    align: Option<&AlignBatch>,
    recent: &[Vec<f32>],
    seed: u64,
    step: u64,
) -> Result<BatchLoss<B>> {
    let l = hb.max_len;
    let (x_in, mask) = input_tensors(e_v, &hb.input, &hb.lens, l);
    let z = model.encode(x_in, Some(mask));
    let codes = (cfg.decor_weight > 0.0)
        .then(|| read_rows(z.clone()))
        .transpose()?;
    let (z, extra) = latent_terms(z, cfg, align, recent, seed, step);
    let head = match &model.decoder {
        Decoder::Mirror(mirror) => mirror_loss(mirror, z, e_v, hb, cfg, seed, step),
        Decoder::Autoregressive(ar) => {
            ar_loss(ar, z, e_v, hb, cfg, model.logit_scale(), seed, step)
        }
    };
    let (ce, predicted) = tied_head_ce_chunked_with(
        head.rows,
        head.candidates,
        head.candidates_trainable,
        model.logit_scale(),
        int_tensor(&head.targets, &e_v.device()),
        DEFAULT_CHUNK_LOGITS,
    );
    let mut total = ce.clone();
    for term in head.extra.into_iter().chain(extra) {
        total = total + term;
    }
    let mse = head.mse.map_or(Ok(0.0), read_scalar)?;
    let values = [read_scalar(total.clone())?, read_scalar(ce)?, mse];
    let predicted = predicted
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))?;
    let ok = predicted
        .iter()
        .zip(&head.targets)
        .zip(&head.scored)
        .filter(|((&p, &t), &scored)| scored && p as usize == t)
        .count();
    let n = head.scored.iter().filter(|&&s| s).count();
    Ok(BatchLoss {
        total,
        values,
        batch_token_accuracy: ok as f32 / n.max(1) as f32,
        codes,
    })
}

/// A `[b, k]` tensor's values, row-major, detached.
fn read_rows<B: Backend>(z: Tensor<B, 2>) -> Result<Vec<f32>> {
    z.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))
}

/// The decoder's cross-entropy of restoring the texts of `hb` from the vectors `z`: no
/// latent terms, no word dropout, no matrix terms, the full vocabulary. What fitting codes
/// through a frozen decoder minimises ([`crate::code_fit`]).
pub(crate) fn restoration_ce<B: AutodiffBackend>(
    model: &CllmModel<B>,
    z: Tensor<B, 2>,
    e_v: &Tensor<B, 2>,
    hb: &HostBatch,
) -> Tensor<B, 1> {
    let cfg = LossConfig {
        negatives: None,
        ..LossConfig::new()
    };
    let head = match &model.decoder {
        Decoder::Mirror(mirror) => mirror_loss(mirror, z, e_v, hb, &cfg, 0, 0),
        Decoder::Autoregressive(ar) => {
            let mut ar = ar.clone();
            ar.word_dropout = 0.0;
            ar_loss(&ar, z, e_v, hb, &cfg, model.logit_scale(), 0, 0)
        }
    };
    tied_head_ce_chunked_with(
        head.rows,
        head.candidates,
        head.candidates_trainable,
        model.logit_scale(),
        int_tensor(&head.targets, &e_v.device()),
        DEFAULT_CHUNK_LOGITS,
    )
    .0
}

/// The rows the tied head scores, and what else the decoder adds to the loss.
struct HeadInput<B: Backend> {
    rows: Tensor<B, 2>,
    candidates: Tensor<B, 2>,
    /// Whether the candidates are computed from parameters that learn (the ar decoder's
    /// folded head), so that the head must form their gradient.
    candidates_trainable: bool,
    /// Target of every row, as positions in `candidates`.
    targets: Vec<usize>,
    /// Whether a row counts in the batch token accuracy (content, not the end marker
    /// past a text's end).
    scored: Vec<bool>,
    mse: Option<Tensor<B, 1>>,
    extra: Vec<Tensor<B, 1>>,
}

/// The clustering, alignment and decorrelation terms on the text vectors (the last over
/// the batch and the `recent` vectors of earlier steps), and the latent noise.
fn latent_terms<B: AutodiffBackend>(
    mut z: Tensor<B, 2>,
    cfg: &LossConfig,
    align: Option<&AlignBatch>,
    recent: &[Vec<f32>],
    seed: u64,
    step: u64,
) -> (Tensor<B, 2>, Vec<Tensor<B, 1>>) {
    let device = z.device();
    let [b, k] = z.dims();
    let mut terms = Vec::new();
    let recent: Vec<f32> = recent
        .iter()
        .filter(|r| r.len() == k)
        .flatten()
        .copied()
        .collect();
    let q = recent.len() / k.max(1);
    if cfg.decor_weight > 0.0 && b + q >= 2 {
        let recent = (q > 0)
            .then(|| Tensor::<B, 2>::from_data(TensorData::new(recent, [q, k]), &device));
        terms.push(decorrelation_term(z.clone(), recent) * cfg.decor_weight);
    }
    if cfg.cluster_weight > 0.0 && b >= 2 {
        terms.push(clustering_term(z.clone()) * cfg.cluster_weight);
    }
    if let (Some(a), true) = (align, cfg.align_weight > 0.0) {
        let idx: Vec<usize> = a.rows.clone();
        let s = Tensor::<B, 2>::from_data(
            TensorData::new(a.targets.clone(), [a.rows.len(), a.dim]),
            &device,
        );
        let picked = z.clone().select(0, int_tensor(&idx, &device));
        terms.push(alignment_term(picked, s) * cfg.align_weight);
    }
    if cfg.latent_noise > 0.0 && b >= 2 {
        let std = z.clone().detach().var(0).sqrt(); // [1, k]
        let eps = normal_noise(b * k, &mut rng_for(seed, stream::NOISE, step));
        let eps = Tensor::<B, 2>::from_data(TensorData::new(eps, [b, k]), &device);
        z = z + eps * std * cfg.latent_noise;
    }
    (z, terms)
}

/// The mirror restores every position at once: the head scores the first
/// `head_positions` rows of every text (content and end marker), plus the matrix MSE and
/// cosine terms.
fn mirror_loss<B: AutodiffBackend>(
    mirror: &MirrorDecoder<B>,
    z: Tensor<B, 2>,
    e_v: &Tensor<B, 2>,
    hb: &HostBatch,
    cfg: &LossConfig,
    seed: u64,
    step: u64,
) -> HeadInput<B> {
    let device = e_v.device();
    let [vocab, d] = e_v.dims();
    let (b, l, hp) = (hb.size, hb.max_len, hb.head_positions);
    let x_clean = input_tensors(e_v, &hb.target, &hb.lens, l).0;
    let out = mirror.forward(z);
    let mse = (out.clone() - x_clean.clone()).square().mean();
    let mut extra = vec![mse.clone() * cfg.mse_weight];
    if cfg.cosine_weight > 0.0 {
        let cos = cosine_distance(out.clone().reshape([b * l, d]), x_clean.reshape([b * l, d]));
        extra.push(cos * cfg.cosine_weight);
    }
    let rows = out.narrow(1, 0, hp).reshape([b * hp, d]);
    let targets = hb.head_targets();
    let scored = hb
        .lens
        .iter()
        .flat_map(|&len| (0..hp).map(move |p| p < len))
        .collect();
    let (candidates, targets) = match cfg.negatives {
        Some(n) => {
            let (c, t) = sampled_candidates(
                &targets,
                vocab,
                n,
                &mut rng_for(seed, stream::NEGATIVES, step),
            );
            (e_v.clone().select(0, int_tensor(&c, &device)), t)
        }
        None => (e_v.clone(), targets),
    };
    HeadInput {
        rows,
        candidates,
        candidates_trainable: false,
        targets,
        scored,
        mse: Some(mse),
        extra,
    }
}

/// The autoregressive decoder, teacher-forced: position `p` of a text predicts its token
/// `p` from the vector and the tokens before it (some replaced by the mask vector: word
/// dropout); the head scores every content position and the end marker after it. With
/// `cfg.bow_weight > 0` the output of the last prefix position adds the bag-of-words term.
#[allow(clippy::too_many_arguments)]
fn ar_loss<B: AutodiffBackend>(
    ar: &ArDecoder<B>,
    z: Tensor<B, 2>,
    e_v: &Tensor<B, 2>,
    hb: &HostBatch,
    cfg: &LossConfig,
    scale: Tensor<B, 1>,
    seed: u64,
    step: u64,
) -> HeadInput<B> {
    let device = e_v.device();
    let [_, d] = e_v.dims();
    let (b, l) = (hb.size, hb.max_len);
    // content + end marker (a text of the full `l` tokens was cut: it has no end marker)
    let t = (hb.lens.iter().copied().max().unwrap_or(0) + 1).min(l);
    let inputs: Vec<usize> = (0..b)
        .flat_map(|i| hb.target[i * l..i * l + t].iter().copied())
        .collect();
    let x = e_v
        .clone()
        .select(0, int_tensor(&inputs, &device))
        .reshape([b, t, d]);
    let keep = (ar.word_dropout > 0.0).then(|| {
        let mut rng = rng_for(seed, stream::WORD_DROPOUT, step);
        let keep: Vec<f32> = (0..b * t)
            .map(|_| f32::from(u8::from(rng.random::<f64>() >= ar.word_dropout)))
            .collect();
        Tensor::<B, 3>::from_data(TensorData::new(keep, [b, t, 1]), &device)
    });
    let hidden = ar.hidden_with_summary(z, x, keep);
    let w = hidden.dims()[2];
    let mut extra = Vec::new();
    if cfg.bow_weight > 0.0 {
        let summary = ar
            .out
            .forward(hidden.clone().narrow(1, 0, 1))
            .reshape([b, d]);
        let bags = Tensor::<B, 2>::from_data(
            TensorData::new(hb.bags(e_v.dims()[0]), [b, e_v.dims()[0]]),
            &device,
        );
        extra.push(bag_of_words_term(summary, e_v.clone(), scale, bags) * cfg.bow_weight);
    }
    let hidden = hidden.narrow(1, 1, t).reshape([b * t, w]);
    let mut positions = Vec::new();
    let mut targets = Vec::new();
    for (i, &len) in hb.lens.iter().enumerate() {
        for p in 0..(len + 1).min(t) {
            positions.push(i * t + p);
            targets.push(inputs[i * t + p]);
        }
    }
    let scored = vec![true; targets.len()];
    // the head folded into the output map (`ArDecoder::head_candidates`): the same logits
    // at (w + 1)/d of the arithmetic
    HeadInput {
        rows: ArDecoder::head_rows(hidden.select(0, int_tensor(&positions, &device))),
        candidates: ar.head_candidates(e_v.clone()),
        candidates_trainable: ar.head_is_trainable(),
        targets,
        scored,
        mse: None,
        extra,
    }
}

fn int_tensor<B: Backend>(values: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = values.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}

pub(crate) fn read_scalar<B: Backend>(t: Tensor<B, 1>) -> Result<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .ok_or_else(|| AutoencoderError::Tensor("a loss value could not be read".into()))
}
