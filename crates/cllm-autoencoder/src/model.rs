//! The CLLM network in burn: a staged transformer encoder from a padded `[L × d]` token
//! matrix to `k` floats, and its decoder: the mirror back to `[L × d]`
//! ([`MirrorDecoder`]) or the autoregressive one ([`ArDecoder`]).

use burn::module::{Module, Param};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
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
            decoder,
            log_scale: Param::from_tensor(Tensor::zeros([1], device)),
            mask_padding: cfg.mask_padding,
        })
    }

    /// `[batch, L, d]` → `[batch, k]`. `pad_mask` (`[batch, L]`, true = padding) masks
    /// padding keys in the first stage when the config asks for it.
    pub fn encode(&self, x: Tensor<B, 3>, pad_mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 2> {
        let mut h = self.in_proj.forward(x);
        let mut mask = if self.mask_padding { pad_mask } else { None };
        for stage in &self.enc_stages {
            if let Some(blocks) = &stage.blocks {
                h = blocks.forward(h, mask.take());
            }
            // Later stages see merged positions: no mask.
            mask = None;
            let [b, n, w] = h.dims();
            h = stage
                .reduce
                .forward(h.reshape([b, n / stage.merge, stage.merge * w]));
        }
        let h = self.enc_norm.forward(h);
        let [b, n, w] = h.dims();
        self.to_latent.forward(h.reshape([b, n * w]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StageConfig;
    use burn::backend::NdArray;

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
}
