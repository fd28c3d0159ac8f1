//! Codes fitted through a frozen decoder: for each text, gradient descent on its `k` floats
//! alone so that the decoder restores the text, the model's weights untouched ("cramming"
//! a text into a vector). The sharpest form of the claim that a text unseen in training is
//! reachable in a CLLM's space: if no code decodes to it, no sampler will find it there.
//!
//! ```no_run
//! # use cllm_autoencoder::{Cllm, code_fit::{fit_codes, CodeFitOptions}};
//! # type B = burn::backend::Autodiff<burn::backend::Flex>;
//! # fn demo(cllm: &Cllm<B>, texts: &[Vec<u32>]) -> cllm_autoencoder::Result<()> {
//! let start: Vec<Vec<f32>> = cllm.encode_ids(texts)?.iter().map(|v| v.as_slice().to_vec()).collect();
//! let fitted = fit_codes(cllm, texts, &start, &CodeFitOptions::default())?;
//! println!("loss {:.3} -> {:.3}", fitted.first_loss, fitted.last_loss);
//! # Ok(()) }
//! ```

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::batch::HostBatch;
use crate::codec::Cllm;
use crate::error::{AutoencoderError, Result};
use crate::train::{read_scalar, restoration_ce};

/// How codes are fitted: Adam on the codes only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeFitOptions {
    /// Adam steps per batch of texts.
    pub steps: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Texts fitted together (their codes are independent; batching only saves passes).
    pub batch: usize,
}

impl Default for CodeFitOptions {
    /// 100 steps at 0.05, 16 texts at a time.
    fn default() -> Self {
        Self {
            steps: 100,
            learning_rate: 0.05,
            batch: 16,
        }
    }
}

/// Fitted codes, one per text, and the mean restoration loss before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedCodes {
    /// One code per text, in order.
    pub codes: Vec<Vec<f32>>,
    /// Mean cross-entropy of restoring the texts from the starting codes.
    pub first_loss: f64,
    /// … and from the fitted codes.
    pub last_loss: f64,
}

/// Fits one code per text through `cllm`'s frozen decoder, starting from `start` (e.g. the
/// encoder's codes of the texts). The texts are token ids in the model's vocabulary table.
pub fn fit_codes<B: AutodiffBackend>(
    cllm: &Cllm<B>,
    texts: &[Vec<u32>],
    start: &[Vec<f32>],
    opts: &CodeFitOptions,
) -> Result<FittedCodes> {
    let k = cllm.k();
    if texts.is_empty() {
        return Err(AutoencoderError::Empty("texts to fit codes for"));
    }
    if start.len() != texts.len() || start.iter().any(|c| c.len() != k) {
        return Err(AutoencoderError::InvalidConfig(format!(
            "need one starting code of {k} floats per text ({} texts, {} codes)",
            texts.len(),
            start.len()
        )));
    }
    if start.iter().flatten().any(|v| !v.is_finite()) {
        return Err(AutoencoderError::InvalidConfig(
            "a starting code holds NaN or infinity".into(),
        ));
    }
    if opts.steps == 0
        || opts.batch == 0
        || opts.learning_rate.is_nan()
        || opts.learning_rate <= 0.0
    {
        return Err(AutoencoderError::InvalidConfig(
            "code fitting needs steps, batch and learning rate above zero".into(),
        ));
    }
    let model = cllm.model().clone().no_grad();
    let e_v = cllm.vocab().tensor::<B>(cllm.device());
    let (l, pad) = (cllm.config().max_len, cllm.vocab().pad_index());
    let (mut codes, mut first, mut last) = (Vec::with_capacity(texts.len()), 0.0, 0.0);
    for (chunk, init) in texts.chunks(opts.batch).zip(start.chunks(opts.batch)) {
        let idx: Vec<Vec<usize>> = chunk
            .iter()
            .map(|ids| {
                if ids.is_empty() || ids.len() > l {
                    return Err(AutoencoderError::InvalidConfig(format!(
                        "a text of {} tokens (1 to {l} fit)",
                        ids.len()
                    )));
                }
                cllm.vocab().indices_of(ids)
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&[usize]> = idx.iter().map(Vec::as_slice).collect();
        let mut no_corruption = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let hb = HostBatch::new(&refs, l, pad, 0.0, &mut no_corruption);
        let b = chunk.len();
        let flat: Vec<f32> = init.iter().flatten().copied().collect();
        let mut z =
            Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(flat, [b, k]), cllm.device());
        let (mut m, mut v) = (z.zeros_like(), z.zeros_like());
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        for step in 1..=opts.steps {
            let zt = Tensor::<B, 2>::from_inner(z.clone()).require_grad();
            let loss = restoration_ce(&model, zt.clone(), &e_v, &hb);
            let value = scalar(&loss)?;
            if step == 1 {
                first += value * b as f64;
            }
            let grads = loss.backward();
            let g = zt
                .grad(&grads)
                .ok_or_else(|| AutoencoderError::Tensor("no gradient reached the codes".into()))?;
            m = m * b1 + g.clone() * (1.0 - b1);
            v = v * b2 + g.square() * (1.0 - b2);
            let m_hat = m.clone() / (1.0 - b1.powi(step as i32));
            let v_hat = v.clone() / (1.0 - b2.powi(step as i32));
            z = z - m_hat / (v_hat.sqrt() + eps) * opts.learning_rate;
            if step == opts.steps {
                let zt = Tensor::<B, 2>::from_inner(z.clone());
                last += scalar(&restoration_ce(&model, zt, &e_v, &hb))? * b as f64;
            }
        }
        let values = z
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))?;
        if values.iter().any(|x| !x.is_finite()) {
            return Err(AutoencoderError::Tensor(
                "code fitting diverged (NaN)".into(),
            ));
        }
        codes.extend(values.chunks(k).map(<[f32]>::to_vec));
    }
    let n = texts.len() as f64;
    Ok(FittedCodes {
        codes,
        first_loss: first / n,
        last_loss: last / n,
    })
}

/// A loss value read back, widened for the running means.
fn scalar<B: burn::tensor::backend::Backend>(t: &Tensor<B, 1>) -> Result<f64> {
    read_scalar(t.clone()).map(f64::from)
}
