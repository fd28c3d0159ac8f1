//! The architecture of a CLLM as data: [`CllmConfig`] (saved with every checkpoint),
//! presets for k = 8, 16, 32, 64, a reduced CPU preset, and a per-stage size report.

use burn::config::Config;

use crate::error::AutoencoderError;

/// One compression stage of the encoder (mirrored by the decoder): `layers` pre-norm
/// transformer layers at the stage's width, then a reduction that merges `merge` adjacent
/// positions into one and projects the merged width `merge·w` to `width_out`.
///
/// A stage with `layers = 0` is a cheap per-position (linear) stage.
#[derive(Config, Debug, PartialEq)]
pub struct StageConfig {
    /// Transformer layers before the reduction (0 = none: a cheap linear stage).
    pub layers: usize,
    /// Adjacent positions merged into one (1 = no merge, only a width projection).
    pub merge: usize,
    /// Width after the reduction.
    pub width_out: usize,
}

/// Which decoder turns a text vector back into a text.
///
/// - [`Mirror`](DecoderConfig::Mirror): the seed's mirrored decoder, which restores all
///   `max_len` token rows at once from the vector (no language prior; on 2 CPU cores it
///   stays at the "average recipe");
/// - [`Autoregressive`](DecoderConfig::Autoregressive): a small causal transformer over the
///   frozen backbone's token embeddings, conditioned on the vector as prefix positions and
///   as an addition to every input ([`ArDecoderConfig`]); it reads like a text at every
///   point of the space and learns in CPU minutes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecoderConfig {
    /// The mirror of the encoder's stages.
    #[default]
    Mirror,
    /// The vector-conditioned causal transformer.
    Autoregressive(ArDecoderConfig),
}

/// The autoregressive decoder (see [`DecoderConfig::Autoregressive`]).
///
/// The text vector `z` becomes `prefix` positions (`k → prefix·width`) in front of the
/// token inputs and is added (`k → width`) to every input; each input is the projected
/// embedding row of the previous token (the first is a learned begin vector); `layers`
/// pre-norm causal transformer layers follow, then a norm and a projection back to the
/// embedding width, read by the tied head like the mirror's rows. While training, a
/// `word_dropout` fraction of the inputs is replaced by a learned mask vector, so that the
/// decoder has to rely on the vector (Bowman et al. 2016).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArDecoderConfig {
    /// Width of the decoder's transformer.
    pub width: usize,
    /// Causal transformer layers.
    pub layers: usize,
    /// Attention heads (must divide `width`).
    pub heads: usize,
    /// Prefix positions made from the vector.
    pub prefix: usize,
    /// Fraction of teacher-forced inputs replaced by the mask vector while training.
    pub word_dropout: f64,
}

impl Default for ArDecoderConfig {
    /// The CPU prototype's decoder: width 128, 2 layers, 4 heads, 4 prefix vectors, 25%
    /// word dropout.
    fn default() -> Self {
        Self {
            width: 128,
            layers: 2,
            heads: 4,
            prefix: 4,
            word_dropout: 0.25,
        }
    }
}

/// The largest width (of the backbone's vectors, a stage, the text vector or the decoder) a
/// config may ask for.
pub const MAX_WIDTH: usize = 16_384;
/// The longest text in tokens (and the largest merge or prefix) a config may ask for.
pub const MAX_LEN: usize = 8_192;
/// The most attention heads a config may ask for.
pub const MAX_HEADS: usize = 1_024;
/// The largest feed-forward multiplier a config may ask for.
pub const MAX_FFN_MULT: usize = 64;
/// The most stages, or layers in one stage or the decoder, a config may ask for.
pub const MAX_LAYERS: usize = 256;

/// Hyper-parameters of a CLLM. Saved as JSON next to every checkpoint.
///
/// The encoder maps a padded `[max_len × input_width]` token matrix through an input
/// projection (`input_width → width`), the [`stages`](CllmConfig::stages), a layer norm
/// and a flatten + linear layer to `k` floats. The decoder mirrors it back to
/// `[max_len × input_width]`.
///
/// ```
/// use cllm_autoencoder::CllmConfig;
/// let c = CllmConfig::recipes(16);
/// c.validate()?;
/// assert_eq!(c.top_positions(), 4);          // 256 / 4³
/// let report = c.stage_report();
/// assert_eq!(report.last().unwrap().values_out, 16);
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct CllmConfig {
    /// Width `d` of the input token matrices (576 for SmolLM2 at layer 0).
    pub input_width: usize,
    /// Tokens per text `L`; shorter texts are padded, longer ones rejected (truncate first).
    pub max_len: usize,
    /// Width after the input projection (width of the first stage).
    pub width: usize,
    /// Size `k` of the text vector.
    pub k: usize,
    /// The compression stages, first to last.
    pub stages: Vec<StageConfig>,
    /// Attention heads of every transformer layer (must divide each stage width).
    #[config(default = 4)]
    pub heads: usize,
    /// Feed-forward width as a multiple of the stage width.
    #[config(default = 4)]
    pub ffn_mult: usize,
    /// Dropout inside the transformer layers (0 = off).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Mask padding positions as attention keys in the first stage.
    #[config(default = true)]
    pub mask_padding: bool,
    /// Standardise every coordinate of the text vector
    /// ([`LatentNorm`](crate::model::LatentNorm): a batch's own statistics while training,
    /// their running averages after), so that the part of the vector that tells texts apart
    /// keeps unit scale whatever the encoder's offset (configs written before it existed
    /// read as `false`).
    #[config(default = false)]
    pub latent_norm: bool,
    /// Add to the text vector a linear map of the mean of the first stage's outputs over
    /// the text's tokens ([`CllmModel::encode`](crate::model::CllmModel::encode)): a short
    /// path from every token to the vector beside the staged folding, so that which words
    /// a text holds reaches the vector from the first steps (configs written before it
    /// existed read as `false`).
    #[config(default = false)]
    pub pooled_shortcut: bool,
    /// Learned attention queries of the pooled shortcut beside its mean (0 = the mean
    /// alone): each query pools the first stage's outputs with its own softmax weights over
    /// the text's tokens, so that the shortcut can single out the tokens that tell a text
    /// apart (its ingredients) rather than the ones every text shares. Used only with
    /// `pooled_shortcut` (configs written before it existed read as 0).
    #[config(default = 0)]
    pub shortcut_queries: usize,
    /// The decoder (configs written before it existed read as the mirror).
    #[config(default = "DecoderConfig::Mirror")]
    pub decoder: DecoderConfig,
}

/// Size of one step of the encoder, as printed by [`CllmConfig::stage_report`].
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    /// Human-readable name (`input projection`, `stage 1`, …, `flatten`).
    pub name: String,
    /// Positions × width going in.
    pub values_in: usize,
    /// Positions × width coming out.
    pub values_out: usize,
    /// Positions coming out.
    pub positions_out: usize,
    /// Width coming out.
    pub width_out: usize,
    /// `values_in / values_out`.
    pub factor: f64,
}

impl std::fmt::Display for StageSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<17} {:>7} -> {:>6} values ({} x {}), reduction {:.2}x",
            self.name,
            self.values_in,
            self.values_out,
            self.positions_out,
            self.width_out,
            self.factor
        )
    }
}

impl CllmConfig {
    /// The recipe default of the pilot: L = 256, d = 576, width 256, three stages of
    /// 2 transformer layers each merging 4 positions, text vector of `k` floats.
    pub fn recipes(k: usize) -> Self {
        let stages = (0..3).map(|_| StageConfig::new(2, 4, 256)).collect();
        CllmConfig::new(576, 256, 256, k, stages)
    }

    /// Preset with k = 8.
    pub fn k8() -> Self {
        Self::recipes(8)
    }
    /// Preset with k = 16 (the default).
    pub fn k16() -> Self {
        Self::recipes(16)
    }
    /// Preset with k = 32.
    pub fn k32() -> Self {
        Self::recipes(32)
    }
    /// Preset with k = 64.
    pub fn k64() -> Self {
        Self::recipes(64)
    }

    /// A reduced preset for CPU runs on the recipe corpus (same L and d, width 128,
    /// one transformer layer per stage, 4 heads): about 8× fewer FLOPs per token
    /// than [`recipes`](Self::recipes).
    pub fn recipes_cpu(k: usize) -> Self {
        let stages = (0..3).map(|_| StageConfig::new(1, 4, 128)).collect();
        CllmConfig::new(576, 256, 128, k, stages)
    }

    /// Reads a `config.json` (as training writes it) or one of any earlier
    /// version (a config without a decoder is a mirror model's).
    pub fn load_json(path: &std::path::Path) -> Result<Self, AutoencoderError> {
        let bytes = crate::persist::read_at_most(path, crate::persist::MAX_JSON_BYTES)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
        Self::from_saved(value).map_err(|e| AutoencoderError::format(path, e.to_string()))
    }

    /// A config as saved by this or an earlier version: fields added since take the value
    /// that reproduces the older model (no decoder: the mirror; no `latent_norm`: off).
    pub fn from_saved(mut value: serde_json::Value) -> Result<Self, serde_json::Error> {
        if let Some(obj) = value.as_object_mut() {
            obj.entry("decoder")
                .or_insert_with(|| serde_json::json!({ "kind": "mirror" }));
            obj.entry("latent_norm")
                .or_insert(serde_json::Value::Bool(false));
            obj.entry("pooled_shortcut")
                .or_insert(serde_json::Value::Bool(false));
            obj.entry("shortcut_queries")
                .or_insert(serde_json::Value::from(0));
        }
        serde_json::from_value(value)
    }

    /// The same model with the autoregressive decoder of the given config.
    pub fn with_ar_decoder(self, ar: ArDecoderConfig) -> Self {
        self.with_decoder(DecoderConfig::Autoregressive(ar))
    }

    /// Whether the decoder is autoregressive.
    pub fn is_autoregressive(&self) -> bool {
        matches!(self.decoder, DecoderConfig::Autoregressive(_))
    }

    /// A preset by name: `k8`, `k16`, `k32`, `k64` (full size) or `cpu-k8` … `cpu-k64`.
    pub fn preset(name: &str) -> Result<Self, AutoencoderError> {
        let (cpu, k) = match name.strip_prefix("cpu-") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let k = match k {
            "k8" => 8,
            "k16" => 16,
            "k32" => 32,
            "k64" => 64,
            _ => {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "unknown preset {name:?}; expected k8, k16, k32, k64 or cpu-k8 … cpu-k64"
                )))
            }
        };
        Ok(if cpu {
            Self::recipes_cpu(k)
        } else {
            Self::recipes(k)
        })
    }

    /// Width of the input of stage `s` (`width` for the first stage).
    pub fn stage_width(&self, s: usize) -> usize {
        if s == 0 {
            self.width
        } else {
            self.stages[s - 1].width_out
        }
    }

    /// Positions at the input of stage `s` (`max_len` for the first stage).
    pub fn stage_positions(&self, s: usize) -> usize {
        self.stages[..s]
            .iter()
            .fold(self.max_len, |n, st| n / st.merge.max(1))
    }

    /// Positions left after the last stage.
    pub fn top_positions(&self) -> usize {
        self.stage_positions(self.stages.len())
    }

    /// Width after the last stage.
    pub fn top_width(&self) -> usize {
        self.stage_width(self.stages.len())
    }

    /// Checks that the numbers describe a buildable model: positive sizes, merges that
    /// divide the positions, heads that divide the widths, and every stage's reduction
    /// factor between 2 and 256.
    pub fn validate(&self) -> Result<(), AutoencoderError> {
        let bad = |m: String| Err(AutoencoderError::InvalidConfig(m));
        for (name, v) in [
            ("input_width", self.input_width),
            ("max_len", self.max_len),
            ("width", self.width),
            ("k", self.k),
            ("heads", self.heads),
            ("ffn_mult", self.ffn_mult),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        // Upper bounds, checked before anything is allocated: a config file is untrusted
        // input, and `max_len: 10^12` must be an error naming the field, not an abort.
        let mut sizes = vec![
            ("input_width", self.input_width, MAX_WIDTH),
            ("max_len", self.max_len, MAX_LEN),
            ("width", self.width, MAX_WIDTH),
            ("k", self.k, MAX_WIDTH),
            ("heads", self.heads, MAX_HEADS),
            ("ffn_mult", self.ffn_mult, MAX_FFN_MULT),
            ("stages", self.stages.len(), MAX_LAYERS),
        ];
        for st in &self.stages {
            sizes.push(("stage layers", st.layers, MAX_LAYERS));
            sizes.push(("stage merge", st.merge, MAX_LEN));
            sizes.push(("stage width_out", st.width_out, MAX_WIDTH));
        }
        if let DecoderConfig::Autoregressive(ar) = &self.decoder {
            sizes.push(("decoder width", ar.width, MAX_WIDTH));
            sizes.push(("decoder layers", ar.layers, MAX_LAYERS));
            sizes.push(("decoder heads", ar.heads, MAX_HEADS));
            sizes.push(("decoder prefix", ar.prefix, MAX_LEN));
        }
        if let Some((name, v, limit)) = sizes.into_iter().find(|(_, v, limit)| v > limit) {
            return bad(format!("{name} {v} is over the bound of {limit}"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if self.shortcut_queries > 0 && !self.pooled_shortcut {
            return bad("shortcut_queries needs pooled_shortcut".into());
        }
        if self.shortcut_queries > self.max_len {
            return bad(format!(
                "shortcut_queries {} exceeds the {} positions it pools",
                self.shortcut_queries, self.max_len
            ));
        }
        if let DecoderConfig::Autoregressive(ar) = &self.decoder {
            if ar.width == 0 || ar.layers == 0 || ar.heads == 0 || ar.prefix == 0 {
                return bad("decoder width, layers, heads and prefix must be positive".into());
            }
            if !ar.width.is_multiple_of(ar.heads) {
                return bad(format!(
                    "decoder width {} is not a multiple of {} heads",
                    ar.width, ar.heads
                ));
            }
            if !(0.0..1.0).contains(&ar.word_dropout) {
                return bad(format!(
                    "word dropout {} must be in [0, 1)",
                    ar.word_dropout
                ));
            }
        }
        for (s, st) in self.stages.iter().enumerate() {
            let n = self.stage_positions(s);
            let w = self.stage_width(s);
            if st.merge == 0 || st.width_out == 0 {
                return bad(format!(
                    "stage {}: merge and width_out must be positive",
                    s + 1
                ));
            }
            if !n.is_multiple_of(st.merge) {
                return bad(format!(
                    "stage {}: {n} positions are not a multiple of merge {}",
                    s + 1,
                    st.merge
                ));
            }
            if st.layers > 0 && !w.is_multiple_of(self.heads) {
                return bad(format!(
                    "stage {}: width {w} is not a multiple of {} heads",
                    s + 1,
                    self.heads
                ));
            }
            let factor = (n * w) as f64 / ((n / st.merge) * st.width_out) as f64;
            if !(2.0..=256.0).contains(&factor) {
                return bad(format!(
                    "stage {}: reduction factor {factor:.2} is outside 2..=256",
                    s + 1
                ));
            }
        }
        Ok(())
    }

    /// Sizes and reduction factors of the input projection, each stage and the flatten.
    pub fn stage_report(&self) -> Vec<StageSummary> {
        let mut out = Vec::with_capacity(self.stages.len() + 2);
        let summary = |name: String, values_in: usize, n: usize, w: usize| StageSummary {
            name,
            values_in,
            values_out: n * w,
            positions_out: n,
            width_out: w,
            factor: values_in as f64 / (n * w).max(1) as f64,
        };
        out.push(summary(
            "input projection".into(),
            self.max_len * self.input_width,
            self.max_len,
            self.width,
        ));
        for (s, st) in self.stages.iter().enumerate() {
            let n = self.stage_positions(s);
            let w = self.stage_width(s);
            out.push(summary(
                format!("stage {} ({}L, /{})", s + 1, st.layers, st.merge),
                n * w,
                n / st.merge.max(1),
                st.width_out,
            ));
        }
        out.push(summary(
            "flatten".into(),
            self.top_positions() * self.top_width(),
            1,
            self.k,
        ));
        out
    }

    /// Overall compression: `max_len · input_width / k`.
    pub fn total_factor(&self) -> f64 {
        (self.max_len * self.input_width) as f64 / self.k as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_reduce_to_k() {
        for name in ["k8", "k16", "k32", "k64", "cpu-k16", "cpu-k64"] {
            let c = CllmConfig::preset(name).unwrap();
            c.validate().unwrap();
            let r = c.stage_report();
            assert_eq!(r.len(), c.stages.len() + 2);
            assert_eq!(r.last().unwrap().values_out, c.k);
            // stages chain: each stage's output is the next one's input
            for w in r.windows(2) {
                assert_eq!(w[0].values_out, w[1].values_in);
            }
            for st in &r[1..r.len() - 1] {
                assert!((2.0..=256.0).contains(&st.factor));
            }
        }
        assert_eq!(CllmConfig::k16().stage_report()[1].factor, 4.0);
        assert!(CllmConfig::preset("k7").is_err());
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = CllmConfig::k16();
        c.stages[0].merge = 3; // 256 % 3 != 0
        assert!(c.validate().is_err());
        let mut c = CllmConfig::k16();
        c.stages[0].merge = 1; // factor 1
        assert!(c.validate().is_err());
        let mut c = CllmConfig::k16();
        c.heads = 3;
        assert!(c.validate().is_err());
        let mut c = CllmConfig::k16();
        c.k = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn sizes_over_their_bounds_are_named_before_anything_is_built() {
        let over = |f: &dyn Fn(&mut CllmConfig)| {
            let mut c = CllmConfig::k16();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(over(&|c| c.max_len = 1 << 40).contains("max_len"));
        assert!(over(&|c| c.width = MAX_WIDTH + 1).contains("width"));
        assert!(over(&|c| c.k = 1 << 30).contains("k 1073741824 is over the bound"));
        assert!(over(&|c| c.heads = 1 << 20).contains("heads"));
        assert!(over(&|c| c.stages[0].layers = 10_000).contains("stage layers"));
        let mut c = CllmConfig::k16();
        c.stages = vec![c.stages[0].clone(); MAX_LAYERS + 1];
        assert!(c.validate().unwrap_err().to_string().contains("stages"));
    }

    #[test]
    fn config_json_round_trip() {
        let c = CllmConfig::k64().with_dropout(0.1);
        let json = serde_json::to_string(&c).unwrap();
        let back: CllmConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn configs_of_earlier_versions_read_as_the_older_model() {
        let mut saved = serde_json::to_value(CllmConfig::recipes_cpu(8)).unwrap();
        let obj = saved.as_object_mut().unwrap();
        obj.remove("decoder");
        obj.remove("latent_norm");
        obj.remove("pooled_shortcut");
        obj.remove("shortcut_queries");
        let back = CllmConfig::from_saved(saved).unwrap();
        assert_eq!(back.decoder, DecoderConfig::Mirror);
        assert!(!back.latent_norm);
        assert!(!back.pooled_shortcut);
        assert_eq!(back.shortcut_queries, 0);
        let new = CllmConfig::recipes_cpu(8)
            .with_latent_norm(true)
            .with_pooled_shortcut(true)
            .with_shortcut_queries(4);
        let back = CllmConfig::from_saved(serde_json::to_value(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
