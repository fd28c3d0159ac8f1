//! The CLLM network in burn: a staged transformer encoder from a padded `[L × d]` token
//! matrix to `k` floats, and its decoder: the mirror back to `[L × d]`
//! ([`MirrorDecoder`]) or the autoregressive one ([`ArDecoder`]).

use burn::module::{Module, Param, RunningState};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Distribution, Tensor};

use crate::ar::ArDecoder;
use crate::config::{CllmConfig, DecoderConfig};
use crate::error::Result;

/// Transformer layers at one resolution (absent for a cheap linear stage) with their
/// learned position embedding.
#[derive(Module, Debug)]
pub struct Blocks<B: Backend> {
    /// Learned position embedding `[1, positions, width]`.
    pub pos: Param<Tensor<B, 3>>,
    /// The transformer layers (pre-norm, GELU).
    pub layers: TransformerEncoder<B>,
}

impl<B: Backend> Blocks<B> {
    fn new(
        cfg: &CllmConfig,
        positions: usize,
        width: usize,
        layers: usize,
        device: &B::Device,
    ) -> Option<Self> {
        if layers == 0 {
            return None;
        }
        let pos = Tensor::random(
            [1, positions, width],
            Distribution::Normal(0.0, 0.02),
            device,
        );
        let layers = TransformerEncoderConfig::new(width, cfg.ffn_mult * width, cfg.heads, layers)
            .with_dropout(cfg.dropout)
            .with_norm_first(true)
            .init(device);
        Some(Self {
            pos: Param::from_tensor(pos),
            layers,
        })
    }

    fn forward(&self, x: Tensor<B, 3>, mask_pad: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let mut input = TransformerEncoderInput::new(x + self.pos.val());
        if let Some(mask) = mask_pad {
            input = input.mask_pad(mask);
        }
        self.layers.forward(input)
    }
}

/// Standardises text vectors per coordinate, as batch normalisation without the learned
/// scale and shift: `(z − mean) / √(var + ε)`.
///
/// Without it the encoder's vectors drift into a large offset common to every text with a
/// tiny text-specific part (measured on a 549-step `cpu-k64` CLLM1: offset norm 1.66,
/// spread between texts 0.026), which the decoder learns to ignore: the posterior collapse
/// of a deterministic autoencoder. Standardised, the part that tells texts apart always has
/// unit scale, and no learned scale can shrink it again (BN-VAE, Zhu et al. 2020, keeps a
/// VAE's posterior from collapsing the same way). While training (an autodiff backend,
/// more than one text) a batch is standardised by its own mean and variance, with
/// gradients through them, and updates exponential averages of both (weight
/// `max(momentum, 1/batches)`, so that the first batches set them outright); inference
/// applies the averages. Batches must then be drawn like the corpus: training a model with
/// this norm does not bucket batches by length.
#[derive(Module, Debug)]
pub struct LatentNorm<B: Backend> {
    /// Running mean `[k]`.
    pub mean: RunningState<Tensor<B, 1>>,
    /// Running variance `[k]`.
    pub var: RunningState<Tensor<B, 1>>,
    /// Batches seen so far `[1]`.
    pub updates: RunningState<Tensor<B, 1>>,
    /// Weight of a new batch once the first `1/momentum` batches are in.
    pub momentum: f64,
}

/// Weight of a new batch in [`LatentNorm`]'s averages after the first ones.
pub const LATENT_NORM_MOMENTUM: f64 = 0.05;
/// Added to the variance before the square root.
const LATENT_NORM_EPS: f64 = 1e-8;

impl<B: Backend> LatentNorm<B> {
    /// Zero mean, unit variance, no batch seen.
    pub fn new(k: usize, device: &B::Device) -> Self {
        Self {
            mean: RunningState::new(Tensor::zeros([k], device)),
            var: RunningState::new(Tensor::ones([k], device)),
            updates: RunningState::new(Tensor::zeros([1], device)),
            momentum: LATENT_NORM_MOMENTUM,
        }
    }

    /// Whether the statistics can standardise: finite means and variances, no variance
    /// below zero (a hand-edited record would otherwise give NaN vectors). The error names
    /// the first bad coordinate.
    pub fn check(&self) -> std::result::Result<(), String> {
        let read = |t: Tensor<B, 1>| t.into_data().convert::<f32>().to_vec::<f32>().ok();
        let (Some(mean), Some(var)) = (read(self.mean.value_sync()), read(self.var.value_sync()))
        else {
            return Err("latent_norm statistics could not be read".into());
        };
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            return Err(format!("latent_norm mean {j} is {}", mean[j]));
        }
        if let Some(j) = var.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("latent_norm variance {j} is {}", var[j]));
        }
        Ok(())
    }

    /// `[batch, k]` → standardised `[batch, k]` (see the type's docs).
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 2> {
        let device = z.device();
        let [b, k] = z.dims();
        let (mean, var) = if B::ad_enabled(&device) && b > 1 {
            let batch_mean = z.clone().mean_dim(0); // [1, k]
            let batch_var = (z.clone() - batch_mean.clone()).square().mean_dim(0);
            let updates = self.updates.value_sync().to_device(&device).add_scalar(1.0);
            // weight of this batch: 1/updates, never below the momentum
            let w = updates
                .clone()
                .recip()
                .clamp_min(self.momentum)
                .reshape([1, 1]);
            let keep = w.clone().neg().add_scalar(1.0);
            let old_mean = self.mean.value_sync().to_device(&device).reshape([1, k]);
            let old_var = self.var.value_sync().to_device(&device).reshape([1, k]);
            let mean = old_mean * keep.clone() + batch_mean.clone().detach() * w.clone();
            let var = old_var * keep + batch_var.clone().detach() * w;
            self.mean.update(mean.reshape([k]).detach());
            self.var.update(var.reshape([k]).detach());
            self.updates.update(updates.detach());
            (batch_mean, batch_var)
        } else {
            (
                self.mean.value_sync().to_device(&device).reshape([1, k]),
                self.var.value_sync().to_device(&device).reshape([1, k]),
            )
        };
        (z - mean) / var.add_scalar(LATENT_NORM_EPS).sqrt()
    }
}

/// One encoder stage: optional transformer layers, then merge `merge` adjacent positions
/// and project `merge·w → width_out`.
#[derive(Module, Debug)]
pub struct EncoderStage<B: Backend> {
    /// Transformer layers before the reduction.
    pub blocks: Option<Blocks<B>>,
    /// The reduction `merge·w → width_out`.
    pub reduce: Linear<B>,
    /// Positions merged into one.
    pub merge: usize,
}

/// One decoder stage: project `width_out → merge·w`, split into `merge` positions, then
/// the transformer layers.
#[derive(Module, Debug)]
pub struct DecoderStage<B: Backend> {
    /// The expansion `width_out → merge·w`.
    pub expand: Linear<B>,
    /// Transformer layers after the expansion.
    pub blocks: Option<Blocks<B>>,
    /// Positions each input position is split into.
    pub merge: usize,
    /// Width after the split.
    pub width: usize,
}

/// The seed's mirrored decoder: `k` floats → top positions → the encoder's stages in
/// reverse → `[L × d]` restored rows, all positions at once.
#[derive(Module, Debug)]
pub struct MirrorDecoder<B: Backend> {
    /// `k → top_positions·top_width`.
    pub from_latent: Linear<B>,
    /// Decoder stages, in decoding order (mirror of the encoder's).
    pub dec_stages: Vec<DecoderStage<B>>,
    /// Norm before the output projection.
    pub dec_norm: LayerNorm<B>,
    /// `width → d`, per token.
    pub out_proj: Linear<B>,
    /// Positions after the last encoder stage.
    pub top_positions: usize,
    /// Width after the last encoder stage.
    pub top_width: usize,
}

impl<B: Backend> MirrorDecoder<B> {
    fn new(cfg: &CllmConfig, device: &B::Device) -> Self {
        let mut dec_stages = Vec::with_capacity(cfg.stages.len());
        for (s, st) in cfg.stages.iter().enumerate().rev() {
            let n = cfg.stage_positions(s);
            let w = cfg.stage_width(s);
            dec_stages.push(DecoderStage {
                expand: LinearConfig::new(st.width_out, st.merge * w).init(device),
                blocks: Blocks::new(cfg, n, w, st.layers, device),
                merge: st.merge,
                width: w,
            });
        }
        Self {
            from_latent: LinearConfig::new(cfg.k, cfg.top_positions() * cfg.top_width())
                .init(device),
            dec_stages,
            dec_norm: LayerNormConfig::new(cfg.width).init(device),
            out_proj: LinearConfig::new(cfg.width, cfg.input_width).init(device),
            top_positions: cfg.top_positions(),
            top_width: cfg.top_width(),
        }
    }

    /// `[batch, k]` → restored `[batch, L, d]`.
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 3> {
        let [b, _] = z.dims();
        let mut h = self
            .from_latent
            .forward(z)
            .reshape([b, self.top_positions, self.top_width]);
        for stage in &self.dec_stages {
            let [b, n, _] = h.dims();
            h = stage
                .expand
                .forward(h)
                .reshape([b, n * stage.merge, stage.width]);
            if let Some(blocks) = &stage.blocks {
                h = blocks.forward(h, None);
            }
        }
        self.out_proj.forward(self.dec_norm.forward(h))
    }
}

/// The decoder of a CLLM, as its config chose ([`DecoderConfig`]).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Decoder<B: Backend> {
    /// All positions at once from the vector.
    Mirror(MirrorDecoder<B>),
    /// Token by token, conditioned on the vector.
    Autoregressive(ArDecoder<B>),
}

/// The CLLM: the staged encoder to a `k`-float text vector, a decoder back to the text
/// (mirrored or autoregressive), and the learned logit scale of the tied-head loss.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use cllm_autoencoder::{CllmConfig, CllmModel, StageConfig};
///
/// let cfg = CllmConfig::new(8, 16, 8, 4, vec![StageConfig::new(1, 4, 8), StageConfig::new(0, 4, 4)]);
/// let device = Default::default();
/// let model = CllmModel::<NdArray>::new(&cfg, &device)?;
/// let x = Tensor::<NdArray, 3>::zeros([2, 16, 8], &device);
/// let z = model.encode(x, None);
/// assert_eq!(z.dims(), [2, 4]);
/// assert_eq!(model.mirror().unwrap().forward(z).dims(), [2, 16, 8]);
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
#[derive(Module, Debug)]
pub struct CllmModel<B: Backend> {
    /// `d → width`, per token.
    pub in_proj: Linear<B>,
    /// Encoder stages, first to last.
    pub enc_stages: Vec<EncoderStage<B>>,
    /// Norm before the flatten.
    pub enc_norm: LayerNorm<B>,
    /// `top_positions·top_width → k`.
    pub to_latent: Linear<B>,
    /// `(1 + shortcut_queries)·width → k` from the mean of the first stage's outputs and
    /// their attention pools (absent in configs without `pooled_shortcut`).
    pub pooled: Option<Linear<B>>,
    /// The shortcut's attention queries `[width, shortcut_queries]` (absent when it pools
    /// by the mean alone).
    pub pool_queries: Option<Param<Tensor<B, 2>>>,
    /// Standardisation of the text vector (absent in configs without `latent_norm`).
    pub latent_norm: Option<LatentNorm<B>>,
    /// The decoder.
    pub decoder: Decoder<B>,
    /// Log of the scale of the tied-head logits `exp(s) · row · E_Vᵀ`.
    pub log_scale: Param<Tensor<B, 1>>,
    /// Whether the first stage masks padding keys.
    pub mask_padding: bool,
}

impl<B: Backend> CllmModel<B> {
    /// The same model with its decoder and the head's scale frozen (no gradients; the
    /// encoder still learns through them): CLLM2's encoder-only reading, whose codes are
    /// read by CLLM1's decoder by construction.
    pub fn with_frozen_decoder(self) -> Self {
        Self {
            decoder: self.decoder.no_grad(),
            log_scale: self.log_scale.no_grad(),
            ..self
        }
    }

    /// Builds a freshly initialised model (seed the backend first for reproducibility).
    ///
    /// burn initialises parameters lazily, at their first use, from the backend's RNG as it
    /// is at that moment; every parameter is therefore materialised here, in field order,
    /// so that a model's values are fixed when it is built (a copy saved before the
    /// decoder's first use would otherwise differ from the original).
    pub fn new(cfg: &CllmConfig, device: &B::Device) -> Result<Self> {
        let record = Self::build(cfg, device)?.into_record();
        Ok(Self::build(cfg, device)?.load_record(record))
    }

    fn build(cfg: &CllmConfig, device: &B::Device) -> Result<Self> {
        cfg.validate()?;
        let mut enc_stages = Vec::with_capacity(cfg.stages.len());
        for (s, st) in cfg.stages.iter().enumerate() {
            let n = cfg.stage_positions(s);
            let w = cfg.stage_width(s);
            enc_stages.push(EncoderStage {
                blocks: Blocks::new(cfg, n, w, st.layers, device),
                reduce: LinearConfig::new(st.merge * w, st.width_out).init(device),
                merge: st.merge,
            });
        }
        let top = cfg.top_positions() * cfg.top_width();
        let decoder = match &cfg.decoder {
            DecoderConfig::Mirror => Decoder::Mirror(MirrorDecoder::new(cfg, device)),
            DecoderConfig::Autoregressive(ar) => Decoder::Autoregressive(ArDecoder::new(
                ar,
                cfg.k,
                cfg.input_width,
                cfg.max_len,
                cfg.dropout,
                device,
            )),
        };
        Ok(Self {
            in_proj: LinearConfig::new(cfg.input_width, cfg.width).init(device),
            enc_stages,
            enc_norm: LayerNormConfig::new(cfg.top_width()).init(device),
            to_latent: LinearConfig::new(top, cfg.k).init(device),
            pooled: cfg.pooled_shortcut.then(|| {
                LinearConfig::new((1 + cfg.shortcut_queries) * cfg.width, cfg.k).init(device)
            }),
            pool_queries: (cfg.pooled_shortcut && cfg.shortcut_queries > 0).then(|| {
                Param::from_tensor(Tensor::random(
                    [cfg.width, cfg.shortcut_queries],
                    Distribution::Normal(0.0, 1.0 / (cfg.width as f64).sqrt()),
                    device,
                ))
            }),
            latent_norm: cfg.latent_norm.then(|| LatentNorm::new(cfg.k, device)),
            decoder,
            log_scale: Param::from_tensor(Tensor::zeros([1], device)),
            mask_padding: cfg.mask_padding,
        })
    }

    /// `[batch, L, d]` → `[batch, k]`. `pad_mask` (`[batch, L]`, true = padding) masks
    /// padding keys in the first stage when the config asks for it, and keeps padding out
    /// of the pooled shortcut's mean.
    pub fn encode(&self, x: Tensor<B, 3>, pad_mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 2> {
        let mut h = self.in_proj.forward(x);
        let mut mask = if self.mask_padding {
            pad_mask.clone()
        } else {
            None
        };
        let mut pooled = None;
        for (s, stage) in self.enc_stages.iter().enumerate() {
            if let Some(blocks) = &stage.blocks {
                h = blocks.forward(h, mask.take());
            }
            // Later stages see merged positions: no mask.
            mask = None;
            if s == 0 {
                if let Some(shortcut) = &self.pooled {
                    let mut pools = vec![token_mean(h.clone(), pad_mask.clone())];
                    if let Some(queries) = &self.pool_queries {
                        pools.push(attention_pool(h.clone(), queries.val(), pad_mask.clone()));
                    }
                    pooled = Some(shortcut.forward(Tensor::cat(pools, 1)));
                }
            }
            let [b, n, w] = h.dims();
            h = stage
                .reduce
                .forward(h.reshape([b, n / stage.merge, stage.merge * w]));
        }
        let h = self.enc_norm.forward(h);
        let [b, n, w] = h.dims();
        let mut z = self.to_latent.forward(h.reshape([b, n * w]));
        if let Some(pooled) = pooled {
            z = z + pooled;
        }
        match &self.latent_norm {
            Some(norm) => norm.forward(z),
            None => z,
        }
    }

    /// The mirrored decoder, if the model has one.
    pub fn mirror(&self) -> Option<&MirrorDecoder<B>> {
        match &self.decoder {
            Decoder::Mirror(m) => Some(m),
            Decoder::Autoregressive(_) => None,
        }
    }

    /// The autoregressive decoder, if the model has one.
    pub fn autoregressive(&self) -> Option<&ArDecoder<B>> {
        match &self.decoder {
            Decoder::Autoregressive(a) => Some(a),
            Decoder::Mirror(_) => None,
        }
    }

    /// The logit scale `exp(log_scale)` as a `[1]` tensor.
    pub fn logit_scale(&self) -> Tensor<B, 1> {
        self.log_scale.val().exp()
    }
}

/// Mean over the positions of `h` (`[b, n, w]` → `[b, w]`) that `pad_mask` (`[b, n]`,
/// true = padding) leaves, or over all positions without a mask. The count is at least
/// one, so an all-padding row gives zeros, not NaN.
fn token_mean<B: Backend>(h: Tensor<B, 3>, pad_mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 2> {
    let [b, n, w] = h.dims();
    let Some(mask) = pad_mask else {
        return h.mean_dim(1).reshape([b, w]);
    };
    let keep = mask.bool_not().float().reshape([b, n, 1]);
    let count = keep.clone().sum_dim(1).clamp_min(1.0); // [b, 1, 1]
    ((h * keep).sum_dim(1) / count).reshape([b, w])
}

/// Attention pools of `h` (`[b, n, w]`) under learned `queries` (`[w, m]`): each query
/// weighs the positions by the softmax of `h · query` over the positions `pad_mask`
/// (`[b, n]`, true = padding) leaves, and takes the weighted sum. `[b, m·w]`, query by
/// query. An all-padding row weighs all positions alike (finite, never NaN).
fn attention_pool<B: Backend>(
    h: Tensor<B, 3>,
    queries: Tensor<B, 2>,
    pad_mask: Option<Tensor<B, 2, Bool>>,
) -> Tensor<B, 2> {
    let [b, n, w] = h.dims();
    let m = queries.dims()[1];
    let scores = h.clone().matmul(queries.unsqueeze::<3>().expand([b, w, m])); // [b, n, m]
    let scores = match pad_mask {
        Some(mask) => scores.mask_fill(mask.reshape([b, n, 1]).expand([b, n, m]), -1e9),
        None => scores,
    };
    let weights = softmax(scores, 1); // over the positions
    weights.swap_dims(1, 2).matmul(h).reshape([b, m * w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StageConfig;
    use burn::backend::NdArray;
    use burn::module::AutodiffModule;
    use burn::tensor::TensorData;

    fn tiny() -> CllmConfig {
        CllmConfig::new(
            6,
            16,
            8,
            3,
            vec![StageConfig::new(1, 2, 8), StageConfig::new(1, 4, 4)],
        )
        .with_heads(2)
    }

    #[test]
    fn shapes_follow_the_stages() {
        let cfg = tiny();
        let device = Default::default();
        let model = CllmModel::<NdArray>::new(&cfg, &device).unwrap();
        let mirror = model.mirror().unwrap();
        assert_eq!(mirror.top_positions, 2);
        assert_eq!(mirror.top_width, 4);
        let x = Tensor::<NdArray, 3>::random([3, 16, 6], Distribution::Default, &device);
        let z = model.encode(x, None);
        assert_eq!(z.dims(), [3, 3]);
        assert_eq!(mirror.forward(z).dims(), [3, 16, 6]);
        // parameter count: in_proj 6*8+8, log_scale 1, ... just check it is plausible
        assert!(model.num_params() > 6 * 8);
    }

    #[test]
    fn padding_mask_hides_padding_from_the_first_stage() {
        // With masking on, changing padding rows must not change the content rows' view:
        // stage 1 positions differ only where the padding itself sits, so we check that
        // masked and unmasked encodings differ (the mask is applied) and that the masked
        // encoding is finite.
        let cfg = tiny();
        let device = Default::default();
        let model = CllmModel::<NdArray>::new(&cfg, &device).unwrap();
        let x = Tensor::<NdArray, 3>::random([1, 16, 6], Distribution::Default, &device);
        let mask = Tensor::<NdArray, 1, burn::tensor::Int>::arange(0..16, &device)
            .greater_equal_elem(5)
            .reshape([1, 16]);
        let a = model
            .encode(x.clone(), Some(mask))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let b = model.encode(x, None).into_data().to_vec::<f32>().unwrap();
        assert!(a.iter().all(|v| v.is_finite()));
        assert_ne!(a, b);
    }

    /// Per-coordinate mean and variance (population) of row-major `[n × k]` values, in f64.
    fn moments(v: &[f32], k: usize) -> (Vec<f64>, Vec<f64>) {
        let n = (v.len() / k) as f64;
        let mean: Vec<f64> = (0..k)
            .map(|j| v.iter().skip(j).step_by(k).map(|&x| x as f64).sum::<f64>() / n)
            .collect();
        let var = (0..k)
            .map(|j| {
                v.iter()
                    .skip(j)
                    .step_by(k)
                    .map(|&x| (x as f64 - mean[j]).powi(2))
                    .sum::<f64>()
                    / n
            })
            .collect();
        (mean, var)
    }

    #[test]
    fn latent_norm_standardises_with_running_statistics() {
        use burn::backend::Autodiff;
        type Ad = Autodiff<NdArray>;
        let device = Default::default();
        let k = 3;
        // a large common offset with a small spread: what a collapsing encoder produces
        let batch = |seed: u64| {
            let v: Vec<f32> = (0..8 * k)
                .map(|i| {
                    let j = (i % k) as f32;
                    5.0 + j + 0.1 * (((i as u64 * 7919 + seed * 104729) % 97) as f32 / 97.0 - 0.5)
                })
                .collect();
            v
        };
        let norm = LatentNorm::<Ad>::new(k, &device);
        let first = batch(1);
        let z = Tensor::<Ad, 2>::from_data(TensorData::new(first.clone(), [8, k]), &device);
        let out = norm.forward(z).into_data().to_vec::<f32>().unwrap();
        // the first batch sets the statistics outright: its output is standardised.
        // f32 rounding of values near 5 (ulp ~5e-7) against a spread of ~3e-2 leaves
        // ~2e-5 relative error in the standardised values, and ε = 1e-8 against a variance
        // of ~8e-4 changes them by ~1e-5; 1e-3 is the tolerance.
        let (m, v) = moments(&out, k);
        for j in 0..k {
            assert!(m[j].abs() < 1e-3, "mean {j}: {}", m[j]);
            assert!((v[j] - 1.0).abs() < 1e-3, "variance {j}: {}", v[j]);
        }
        let (raw_mean, raw_var) = moments(&first, k);
        let stored_mean = norm.mean.value_sync().into_data().to_vec::<f32>().unwrap();
        let stored_var = norm.var.value_sync().into_data().to_vec::<f32>().unwrap();
        for j in 0..k {
            assert!((stored_mean[j] as f64 - raw_mean[j]).abs() < 1e-5);
            assert!((stored_var[j] as f64 - raw_var[j]).abs() / raw_var[j] < 1e-3);
        }
        // a second batch has weight 1/2 (1/updates, above the momentum)
        let second = batch(2);
        let z = Tensor::<Ad, 2>::from_data(TensorData::new(second.clone(), [8, k]), &device);
        let _ = norm.forward(z);
        let (m2, _) = moments(&second, k);
        let stored_mean = norm.mean.value_sync().into_data().to_vec::<f32>().unwrap();
        for j in 0..k {
            let want = 0.5 * raw_mean[j] + 0.5 * m2[j];
            assert!((stored_mean[j] as f64 - want).abs() < 1e-5);
        }
        // inference (no autodiff) applies the stored statistics and changes nothing
        let inner = norm.valid();
        let before = inner.mean.value_sync().into_data().to_vec::<f32>().unwrap();
        let z = Tensor::<NdArray, 2>::from_data(TensorData::new(first.clone(), [8, k]), &device);
        let out = inner.forward(z).into_data().to_vec::<f32>().unwrap();
        let var = inner.var.value_sync().into_data().to_vec::<f32>().unwrap();
        for (i, (&o, &x)) in out.iter().zip(&first).enumerate() {
            let j = i % k;
            let want = (x as f64 - before[j] as f64) / (var[j] as f64 + LATENT_NORM_EPS).sqrt();
            assert!(
                (o as f64 - want).abs() < 1e-3 * want.abs().max(1.0),
                "{i}: {o} vs {want}"
            );
        }
        assert_eq!(
            inner.mean.value_sync().into_data().to_vec::<f32>().unwrap(),
            before
        );
    }

    #[test]
    fn latent_norm_statistics_that_cannot_standardise_are_refused() {
        let device = Default::default();
        let norm = LatentNorm::<NdArray>::new(3, &device);
        assert!(norm.check().is_ok());
        norm.var.update(Tensor::from_data(
            TensorData::new(vec![1.0f32, -0.5, 1.0], [3]),
            &device,
        ));
        let e = norm.check().unwrap_err();
        assert!(e.contains("variance 1"), "{e}");
        let norm = LatentNorm::<NdArray>::new(3, &device);
        norm.mean.update(Tensor::from_data(
            TensorData::new(vec![0.0f32, 0.0, f32::NAN], [3]),
            &device,
        ));
        assert!(norm.check().unwrap_err().contains("mean 2"));
    }

    #[test]
    fn token_mean_leaves_out_padding() {
        let device = Default::default();
        // 2 texts of 3 positions, width 2; the second text has one padding position
        let h = Tensor::<NdArray, 3>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 1e6, -1e6,
                ],
                [2, 3, 2],
            ),
            &device,
        );
        let mask = Tensor::<NdArray, 2, Bool>::from_data(
            TensorData::new(vec![false, false, false, false, false, true], [2, 3]),
            &device,
        );
        let m = token_mean(h.clone(), Some(mask))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(m, vec![3.0, 4.0, 20.0, 30.0]);
        let all = token_mean(h.clone(), None)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(all[..2], [3.0, 4.0]);
        // a text of padding only gives zeros, not NaN
        let pad =
            Tensor::<NdArray, 2, Bool>::from_data(TensorData::new(vec![true; 6], [2, 3]), &device);
        let z = token_mean(h, Some(pad))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(z, vec![0.0; 4]);
    }

    #[test]
    fn the_pooled_shortcut_is_in_the_model_only_when_configured() {
        let device = Default::default();
        let plain = CllmModel::<NdArray>::new(&tiny(), &device).unwrap();
        assert!(plain.pooled.is_none());
        let cfg = tiny().with_pooled_shortcut(true);
        let model = CllmModel::<NdArray>::new(&cfg, &device).unwrap();
        let pooled = model.pooled.as_ref().expect("the shortcut");
        assert_eq!(pooled.weight.dims(), [cfg.width, cfg.k]);
        assert_eq!(
            model.num_params(),
            plain.num_params() + cfg.width * cfg.k + cfg.k
        );
        // the vector moves with the shortcut's weights (it is used)
        let x = Tensor::<NdArray, 3>::random([2, 16, 6], Distribution::Default, &device);
        let before = model
            .encode(x.clone(), None)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let moved = CllmModel {
            pooled: Some(Linear {
                weight: Param::from_tensor(pooled.weight.val().mul_scalar(2.0)),
                bias: pooled.bias.clone(),
            }),
            ..model
        };
        let after = moved.encode(x, None).into_data().to_vec::<f32>().unwrap();
        assert_ne!(before, after);
    }

    #[test]
    fn attention_pool_weighs_the_texts_tokens_by_their_softmax() {
        let device = Default::default();
        let (b, n, w, m) = (2, 5, 3, 2);
        let hv: Vec<f32> = (0..b * n * w)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let qv: Vec<f32> = (0..w * m)
            .map(|i| ((i * 5 % 7) as f32 - 3.0) / 2.0)
            .collect();
        let h = Tensor::<NdArray, 3>::from_data(TensorData::new(hv.clone(), [b, n, w]), &device);
        let q = Tensor::<NdArray, 2>::from_data(TensorData::new(qv.clone(), [w, m]), &device);
        let lens = [3usize, 5];
        let pad: Vec<bool> = lens
            .iter()
            .flat_map(|&len| (0..n).map(move |p| p >= len))
            .collect();
        let mask = Tensor::<NdArray, 2, Bool>::from_data(TensorData::new(pad, [b, n]), &device);
        let got = attention_pool(h.clone(), q.clone(), Some(mask))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        // the reference in f64, position by position
        for (i, &len) in lens.iter().enumerate() {
            for j in 0..m {
                let row = |p: usize| &hv[(i * n + p) * w..(i * n + p + 1) * w];
                let score = |p: usize| -> f64 {
                    (0..w)
                        .map(|c| f64::from(row(p)[c]) * f64::from(qv[c * m + j]))
                        .sum()
                };
                let top = (0..len).map(score).fold(f64::MIN, f64::max);
                let e: Vec<f64> = (0..len).map(|p| (score(p) - top).exp()).collect();
                let total: f64 = e.iter().sum();
                for c in 0..w {
                    let want: f64 = (0..len)
                        .map(|p| e[p] / total * f64::from(row(p)[c]))
                        .sum::<f64>();
                    let g = f64::from(got[i * m * w + j * w + c]);
                    // f32 softmax and sums of ≤ 5 terms of size ≤ 1.5: well under 1e-5
                    assert!(
                        (g - want).abs() < 1e-5,
                        "text {i} query {j} col {c}: {g} vs {want}"
                    );
                }
            }
        }
        // all padding: finite
        let all = Tensor::<NdArray, 2, Bool>::from_data(
            TensorData::new(vec![true; b * n], [b, n]),
            &device,
        );
        let pooled = attention_pool(h, q, Some(all))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(pooled.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_shortcuts_queries_are_in_the_model_only_when_configured() {
        let device = Default::default();
        let mean_only = tiny().with_pooled_shortcut(true);
        let with_queries = mean_only.clone().with_shortcut_queries(3);
        let a = CllmModel::<NdArray>::new(&mean_only, &device).unwrap();
        let b = CllmModel::<NdArray>::new(&with_queries, &device).unwrap();
        assert!(a.pool_queries.is_none());
        assert_eq!(
            b.pool_queries.as_ref().expect("queries").val().dims(),
            [mean_only.width, 3]
        );
        assert_eq!(
            b.num_params(),
            a.num_params() + 3 * mean_only.width * (1 + mean_only.k)
        );
        let x = Tensor::<NdArray, 3>::random([2, 16, 6], Distribution::Default, &device);
        assert_eq!(b.encode(x, None).dims(), [2, mean_only.k]);
        assert!(tiny().with_shortcut_queries(2).validate().is_err());
        let too_many = mean_only
            .clone()
            .with_shortcut_queries(mean_only.max_len + 1);
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn latent_norm_is_in_the_model_only_when_configured() {
        let device = Default::default();
        let plain = CllmModel::<NdArray>::new(&tiny(), &device).unwrap();
        assert!(plain.latent_norm.is_none());
        let cfg = tiny().with_latent_norm(true);
        let model = CllmModel::<NdArray>::new(&cfg, &device).unwrap();
        assert!(model.latent_norm.is_some());
        let x = Tensor::<NdArray, 3>::random([2, 16, 6], Distribution::Default, &device);
        assert_eq!(model.encode(x, None).dims(), [2, 3]);
    }
}
