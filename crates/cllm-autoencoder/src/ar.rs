//! The autoregressive CLLM decoder: a small causal transformer over the frozen backbone's
//! token embeddings, conditioned on the text vector (see
//! [`ArDecoderConfig`](crate::config::ArDecoderConfig)).
//!
//! ```text
//! z ──prefix──▶ [p₁ … p_P]                      (k → P·w)
//! z ──add────▶ + every input                    (k → w)
//! inputs: [bos, proj(E[t₀]), …, proj(E[t_{T−2}])] (+ position)
//!        ─▶ causal layers ─▶ norm ─▶ out (w → d) ─▶ tied head over E_V
//! ```
//!
//! Training is teacher-forced over a whole batch ([`ArDecoder::forward`]); generation runs
//! one position at a time against a key/value cache ([`ArDecoder::start`] and
//! [`ArDecoder::step`]), so that a text of `T` tokens costs `O(T)` layer passes of one
//! position instead of `O(T²)` for recomputing the prefix every step.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Distribution, Tensor};

use crate::config::ArDecoderConfig;

/// One pre-norm causal transformer layer (attention and GELU feed-forward), written out
/// so that it can run against a key/value cache.
#[derive(Module, Debug)]
pub struct CausalLayer<B: Backend> {
    /// Norm before attention.
    pub norm_attn: LayerNorm<B>,
    /// Query, key and value projections in one `w → 3w` product.
    pub qkv: Linear<B>,
    /// Attention output projection.
    pub attn_out: Linear<B>,
    /// Norm before the feed-forward block.
    pub norm_ff: LayerNorm<B>,
    /// Feed-forward expansion `w → 4w`.
    pub ff_in: Linear<B>,
    /// Feed-forward projection `4w → w`.
    pub ff_out: Linear<B>,
    /// Dropout after attention and feed-forward (training only).
    pub dropout: Dropout,
    /// Attention heads.
    pub heads: usize,
}

/// Keys and values of the positions seen so far, per layer: `[b, heads, t, head_dim]`.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
}

impl<B: Backend> CausalLayer<B> {
    fn new(width: usize, heads: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            norm_attn: LayerNormConfig::new(width).init(device),
            qkv: LinearConfig::new(width, 3 * width).init(device),
            attn_out: LinearConfig::new(width, width).init(device),
            norm_ff: LayerNormConfig::new(width).init(device),
            ff_in: LinearConfig::new(width, 4 * width).init(device),
            ff_out: LinearConfig::new(4 * width, width).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// `[b, t, w]` → queries, keys, values `[b, heads, t, head_dim]`.
    fn project(&self, x: Tensor<B, 3>) -> [Tensor<B, 4>; 3] {
        let [b, t, w] = x.dims();
        let hd = w / self.heads;
        let qkv = self
            .qkv
            .forward(self.norm_attn.forward(x))
            .reshape([b, t, 3, self.heads, hd])
            .permute([2, 0, 3, 1, 4]); // [3, b, h, t, hd]
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b, self.heads, t, hd]);
        [part(0), part(1), part(2)]
    }

    fn finish(&self, x: Tensor<B, 3>, context: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, h, t, hd] = context.dims();
        let context = context.swap_dims(1, 2).reshape([b, t, h * hd]);
        let x = x + self.dropout.forward(self.attn_out.forward(context));
        let ff = self
            .ff_out
            .forward(gelu(self.ff_in.forward(self.norm_ff.forward(x.clone()))));
        x + self.dropout.forward(ff)
    }

    /// The whole sequence at once, causally masked (training, scoring).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [q, k, v] = self.project(x.clone());
        let context = attention(q, k, v, None, None, causal());
        self.finish(x, context)
    }

    /// New positions `[b, n, w]` after those in `cache` (or the first ones, with no cache);
    /// returns their outputs and the cache extended by them.
    pub fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        cache: Option<LayerCache<B>>,
    ) -> (Tensor<B, 3>, LayerCache<B>) {
        let [q, k, v] = self.project(x.clone());
        let n_new = q.dims()[2];
        let (keys, values, options) = match cache {
            // one new position attends to every cached one: no mask needed
            Some(c) if n_new == 1 => (
                Tensor::cat(vec![c.keys, k], 2),
                Tensor::cat(vec![c.values, v], 2),
                AttentionModuleOptions::default(),
            ),
            Some(c) => {
                // several new positions: mask each against the later new ones
                let seen = c.keys.dims()[2];
                let keys = Tensor::cat(vec![c.keys, k], 2);
                let values = Tensor::cat(vec![c.values, v], 2);
                let [b, h, _, _] = q.dims();
                let mask = Tensor::<B, 1, burn::tensor::Int>::arange(
                    0..(seen + n_new) as i64,
                    &q.device(),
                )
                .reshape([1, seen + n_new])
                .greater(
                    Tensor::<B, 1, burn::tensor::Int>::arange(
                        seen as i64..(seen + n_new) as i64,
                        &q.device(),
                    )
                    .reshape([n_new, 1]),
                )
                .reshape([1, 1, n_new, seen + n_new])
                .expand([b, h, n_new, seen + n_new]);
                let context = attention(
                    q,
                    keys.clone(),
                    values.clone(),
                    Some(mask),
                    None,
                    AttentionModuleOptions::default(),
                );
                return (self.finish(x, context), LayerCache { keys, values });
            }
            None => (k, v, causal()),
        };
        let context = attention(q, keys.clone(), values.clone(), None, None, options);
        (self.finish(x, context), LayerCache { keys, values })
    }
}

fn causal() -> AttentionModuleOptions {
    AttentionModuleOptions {
        is_causal: true,
        ..Default::default()
    }
}

/// The autoregressive decoder (see the module docs).
#[derive(Module, Debug)]
pub struct ArDecoder<B: Backend> {
    /// Embedding row `d → w`.
    pub tok_proj: Linear<B>,
    /// The input of the first position `[w]`.
    pub bos: Param<Tensor<B, 1>>,
    /// The input that replaces a dropped word while training `[w]`.
    pub mask_token: Param<Tensor<B, 1>>,
    /// The vector as prefix positions, `k → prefix·w`.
    pub prefix: Linear<B>,
    /// The vector added to every input, `k → w`.
    pub add: Linear<B>,
    /// Learned positions `[1, prefix + max_len + 1, w]`.
    pub pos: Param<Tensor<B, 3>>,
    /// The causal layers.
    pub layers: Vec<CausalLayer<B>>,
    /// Norm before the output projection.
    pub norm: LayerNorm<B>,
    /// `w → d`, read by the tied head.
    pub out: Linear<B>,
    /// Prefix positions.
    pub n_prefix: usize,
    /// Decoder width.
    pub width: usize,
    /// Token positions: the longest text plus its end token.
    pub max_len: usize,
    /// Fraction of teacher-forced inputs replaced by the mask vector while training.
    pub word_dropout: f64,
}

/// The decoder's state while generating: each layer's cache and the positions so far.
#[derive(Debug, Clone)]
pub struct ArState<B: Backend> {
    layers: Vec<LayerCache<B>>,
    /// `add(z)`, added to every input `[b, 1, w]`.
    shift: Tensor<B, 3>,
    /// Tokens fed so far (the begin vector counts as the first).
    pub fed: usize,
}

impl<B: Backend> ArState<B> {
    /// Keeps the rows `rows` of the batch (beam search reorders and prunes hypotheses).
    pub fn select(self, rows: Tensor<B, 1, burn::tensor::Int>) -> Self {
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|c| LayerCache {
                    keys: c.keys.select(0, rows.clone()),
                    values: c.values.select(0, rows.clone()),
                })
                .collect(),
            shift: self.shift.select(0, rows),
            fed: self.fed,
        }
    }
}

impl<B: Backend> ArDecoder<B> {
    /// A fresh decoder for vectors of `k` floats, embedding rows of width `d` and texts of
    /// up to `max_len` tokens (and the end token after them).
    pub fn new(
        cfg: &ArDecoderConfig,
        k: usize,
        d: usize,
        max_len: usize,
        dropout: f64,
        device: &B::Device,
    ) -> Self {
        let w = cfg.width;
        let small = Distribution::Normal(0.0, 0.02);
        Self {
            tok_proj: LinearConfig::new(d, w).init(device),
            bos: Param::from_tensor(Tensor::random([w], small, device)),
            mask_token: Param::from_tensor(Tensor::random([w], small, device)),
            prefix: LinearConfig::new(k, cfg.prefix * w).init(device),
            add: LinearConfig::new(k, w).init(device),
            pos: Param::from_tensor(Tensor::random(
                [1, cfg.prefix + max_len + 1, w],
                small,
                device,
            )),
            layers: (0..cfg.layers)
                .map(|_| CausalLayer::new(w, cfg.heads, dropout, device))
                .collect(),
            norm: LayerNormConfig::new(w).init(device),
            out: LinearConfig::new(w, d).init(device),
            n_prefix: cfg.prefix,
            width: w,
            max_len: max_len + 1,
            word_dropout: cfg.word_dropout,
        }
    }

    /// The prefix positions of `z` (`[b, k]`) with their position embedding: `[b, P, w]`.
    fn prefix_inputs(&self, z: Tensor<B, 2>) -> Tensor<B, 3> {
        let [b, _] = z.dims();
        self.prefix
            .forward(z)
            .reshape([b, self.n_prefix, self.width])
            + self.pos.val().narrow(1, 0, self.n_prefix)
    }

    /// Teacher-forced outputs. `z` `[b, k]`; `inputs` `[b, T, d]`: the embedding rows of
    /// the tokens `t₀ … t_{T−1}` (position `i` predicts `tᵢ` from `t₀ … t_{i−1}`, so the last
    /// row is never read); `keep` `[b, T, 1]`: 1 where an input word is kept, 0 where word
    /// dropout replaces it by the mask vector (`None`: every word kept).
    /// Returns `[b, T, d]` rows for the tied head (`T ≥ 1`: the first row reads only the
    /// vector).
    pub fn forward(
        &self,
        z: Tensor<B, 2>,
        inputs: Tensor<B, 3>,
        keep: Option<Tensor<B, 3>>,
    ) -> Tensor<B, 3> {
        let t = inputs.dims()[1];
        let rows = self.forward_with_summary(z, inputs, keep);
        rows.narrow(1, 1, t)
    }

    /// [`forward`](Self::forward) with one more row in front: the output of the last
    /// prefix position, `[b, 1 + T, d]`. That row sees the vector only (the prefix
    /// positions come first and attention is causal) and no token is predicted from it:
    /// the bag-of-words term ([`crate::loss::bag_of_words_term`]) scores it against the
    /// text's words, so that the decoder must read the text's content out of the vector.
    pub fn forward_with_summary(
        &self,
        z: Tensor<B, 2>,
        inputs: Tensor<B, 3>,
        keep: Option<Tensor<B, 3>>,
    ) -> Tensor<B, 3> {
        self.out.forward(self.hidden_with_summary(z, inputs, keep))
    }

    /// [`forward_with_summary`](Self::forward_with_summary) before the output map
    /// `w → d`: the normed hidden rows `[b, 1 + T, w]`. With
    /// [`head_candidates`](Self::head_candidates) they give the same logits for a fraction
    /// of the arithmetic (training's head).
    pub fn hidden_with_summary(
        &self,
        z: Tensor<B, 2>,
        inputs: Tensor<B, 3>,
        keep: Option<Tensor<B, 3>>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = inputs.dims();
        let bos = self
            .bos
            .val()
            .reshape([1, 1, self.width])
            .expand([b, 1, self.width]);
        let mut parts = vec![bos];
        if t > 1 {
            let mut h = self.tok_proj.forward(inputs.narrow(1, 0, t - 1));
            if let Some(keep) = keep {
                let keep = keep.narrow(1, 0, t - 1);
                let mask = self.mask_token.val().reshape([1, 1, self.width]);
                h = h * keep.clone() + mask * (keep.neg() + 1.0);
            }
            parts.push(h);
        }
        let shift = self.add.forward(z.clone()).unsqueeze_dim::<3>(1);
        let tokens = Tensor::cat(parts, 1) + shift + self.pos.val().narrow(1, self.n_prefix, t);
        let mut h = Tensor::cat(vec![self.prefix_inputs(z), tokens], 1);
        for layer in &self.layers {
            h = layer.forward(h);
        }
        self.norm.forward(h.narrow(1, self.n_prefix - 1, t + 1))
    }

    /// The tied head folded into the output map, for the hidden rows `h` of
    /// [`hidden_with_summary`](Self::hidden_with_summary): a row's logits are
    /// `exp(s) · (h·W + b) · E_Vᵀ = exp(s) · [h, 1] · [E_V·Wᵀ, E_V·bᵀ]ᵀ`, so the head can
    /// score `[h, 1]` (`w + 1` wide) against these candidates `[|V|, w + 1]` instead of
    /// `h·W + b` (`d` wide) against `E_V`. Training's head then costs `(w + 1)/d` of the
    /// arithmetic per row (129/576 for the CPU presets on SmolLM2), plus the candidates'
    /// gradient and `E_V·Wᵀ` once per batch. The candidates carry the gradient of `W` and `b`
    /// (hand them to [`tied_head_ce_chunked_with`](crate::head_ce::tied_head_ce_chunked_with)
    /// as trainable while [`head_is_trainable`](Self::head_is_trainable)).
    pub fn head_candidates(&self, e_v: Tensor<B, 2>) -> Tensor<B, 2> {
        fold_output_map(
            e_v,
            self.out.weight.val(),
            self.out.bias.as_ref().map(|b| b.val()),
        )
    }

    /// Whether the output map learns (not frozen), so that
    /// [`head_candidates`](Self::head_candidates) need their gradient.
    pub fn head_is_trainable(&self) -> bool {
        self.out.weight.val().is_require_grad()
    }

    /// Hidden rows `[n, w]` → the rows `[n, w + 1]` that
    /// [`head_candidates`](Self::head_candidates) score: a column of ones appended.
    pub fn head_rows(hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = hidden.dims();
        let ones = Tensor::ones([n, 1], &hidden.device());
        Tensor::cat(vec![hidden, ones], 1)
    }

    /// Starts generation for `z` (`[b, k]`): runs the prefix and the begin vector and
    /// returns the rows `[b, d]` that score the first token, with the state.
    pub fn start(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, ArState<B>) {
        let [b, _] = z.dims();
        let shift = self.add.forward(z.clone()).unsqueeze_dim::<3>(1);
        let bos = self
            .bos
            .val()
            .reshape([1, 1, self.width])
            .expand([b, 1, self.width])
            + shift.clone()
            + self.pos.val().narrow(1, self.n_prefix, 1);
        let mut h = Tensor::cat(vec![self.prefix_inputs(z), bos], 1);
        let mut caches = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (out, cache) = layer.forward_cached(h, None);
            h = out;
            caches.push(cache);
        }
        let rows = self.read_last(h);
        (
            rows,
            ArState {
                layers: caches,
                shift,
                fed: 1,
            },
        )
    }

    /// Feeds the embedding rows `[b, d]` of the tokens just chosen and returns the rows
    /// `[b, d]` that score the next token. `None` when the decoder has reached `max_len`.
    pub fn step(
        &self,
        rows: Tensor<B, 2>,
        state: ArState<B>,
    ) -> Option<(Tensor<B, 2>, ArState<B>)> {
        if state.fed >= self.max_len {
            return None;
        }
        let [b, _] = rows.dims();
        let pos = self.n_prefix + state.fed;
        let mut h = self.tok_proj.forward(rows).reshape([b, 1, self.width])
            + state.shift.clone()
            + self.pos.val().narrow(1, pos, 1);
        let mut caches = Vec::with_capacity(self.layers.len());
        for (layer, cache) in self.layers.iter().zip(state.layers) {
            let (out, cache) = layer.forward_cached(h, Some(cache));
            h = out;
            caches.push(cache);
        }
        Some((
            self.read_last(h),
            ArState {
                layers: caches,
                shift: state.shift,
                fed: state.fed + 1,
            },
        ))
    }

    fn read_last(&self, h: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, n, w] = h.dims();
        let last = h.narrow(1, n - 1, 1).reshape([b, w]);
        self.out.forward(self.norm.forward(last))
    }
}

/// `[E_V·Wᵀ, E_V·bᵀ]` (`[|V|, w + 1]`) for an output map `h·W + b` with `W` `[w, d]` and
/// `b` `[d]` (a zero column without a bias): see [`ArDecoder::head_candidates`].
fn fold_output_map<B: Backend>(
    e_v: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    let [c, d] = e_v.dims();
    let folded = e_v.clone().matmul(weight.transpose()); // [c, w]
    let bias = match bias {
        Some(b) => e_v.matmul(b.reshape([d, 1])),
        None => Tensor::zeros([c, 1], &folded.device()),
    };
    Tensor::cat(vec![folded, bias], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_ce::tied_head_ce_chunked_with;
    use crate::loss::tied_head_ce;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Int, TensorData};

    type B = Autodiff<NdArray>;

    /// The folded head (`[h, 1]` against `head_candidates`) gives the loss and the
    /// gradients of the plain one (`h·W + b` against `E_V`), for the hidden rows and for
    /// `W` and `b`, at the sizes of a real decoder's head (w = 128, d = 576).
    ///
    /// Both run in f32 with different summation orders: a logit is a sum of 576 products
    /// (plain) or of 129 products of 576-term sums (folded), |logit| ≲ 5 here, so each is
    /// within ~576·2⁻²⁴·5 ≈ 2e-4 of exact in either form, far below what a wrong fold (a
    /// missing bias, a transposed `W`) changes; the loss (a mean of log-sum-exp minus a
    /// logit) agrees to about that, and the gradients to 1e-3 of their largest entry.
    #[test]
    fn the_folded_head_equals_the_output_map_then_the_tied_head() {
        let (n, c, w, d) = (40, 300, 128, 576);
        let dev = Default::default();
        let cfg = ArDecoderConfig {
            width: w,
            layers: 1,
            ..Default::default()
        };
        let ar = ArDecoder::<B>::new(&cfg, 8, d, 16, 0.0, &dev);
        // (burn initialises the bias away from zero, so its fold is checked too)
        let hidden = Tensor::<B, 2>::random([n, w], Distribution::Normal(0.0, 1.0), &dev);
        let e_v = Tensor::<B, 2>::random([c, d], Distribution::Normal(0.0, 0.1), &dev);
        let ids: Vec<i64> = (0..n as i64).map(|i| (i * 37 + 3) % c as i64).collect();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &dev);
        let scale = Tensor::<B, 1>::from_data([2.0f32], &dev);

        // fresh leaves of the same values for each form: one graph per leaf (burn's
        // autodiff cleans up shared graphs, and the lib tests run in parallel)
        let leaf = |t: Tensor<B, 2>| Tensor::<B, 2>::from_inner(t.inner()).require_grad();
        let grads_of = |folded: bool| {
            let h = leaf(hidden.clone());
            let weight = leaf(ar.out.weight.val());
            let bias = leaf(ar.out.bias.as_ref().unwrap().val().unsqueeze::<2>());
            let bias_1d = bias.clone().reshape([d]);
            let (loss, _) = if folded {
                tied_head_ce_chunked_with(
                    ArDecoder::head_rows(h.clone()),
                    fold_output_map(e_v.clone(), weight.clone(), Some(bias_1d)),
                    true,
                    scale.clone(),
                    targets.clone(),
                    10 * c,
                )
            } else {
                let rows = h.clone().matmul(weight.clone()) + bias_1d.unsqueeze::<2>();
                tied_head_ce(rows, e_v.clone(), scale.clone(), targets.clone())
            };
            let value = loss.clone().into_scalar();
            let grads = loss.backward();
            let read = |t: Option<Tensor<NdArray, 2>>| {
                t.unwrap()
                    .into_data()
                    .convert::<f64>()
                    .to_vec::<f64>()
                    .unwrap()
            };
            (
                f64::from(value),
                read(h.grad(&grads)),
                read(weight.grad(&grads)),
                read(bias.grad(&grads)),
            )
        };
        let plain = grads_of(false);
        let folded = grads_of(true);
        assert!(
            (plain.0 - folded.0).abs() < 1e-3,
            "loss {} vs {}",
            plain.0,
            folded.0
        );
        for (name, a, b) in [
            ("hidden", &plain.1, &folded.1),
            ("W", &plain.2, &folded.2),
            ("b", &plain.3, &folded.3),
        ] {
            let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(b)
                .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(largest > 0.0, "{name}: no gradient");
            println!(
                "{name}: worst difference {:.1e} of the largest entry",
                worst / largest
            );
            assert!(
                worst < 1e-3 * largest,
                "{name}: gradients differ by {worst} (largest {largest})"
            );
        }
    }
}
