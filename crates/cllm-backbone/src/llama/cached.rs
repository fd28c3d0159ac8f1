//! One token at a time on the host: the key/value-cached step of LM-guided decoding.
//!
//! A decoding step reads a few new tokens (one per hypothesis) against the keys and values of
//! everything read before, so its cost is reading the weights once: 135 M parameters, 540 MB
//! of f32 for SmolLM2-135M, against a handful of multiply-adds per weight. burn's generic
//! path ([`Llama::forward_cached`]) spends most of such a step elsewhere: a few hundred small
//! tensor ops, each allocating, the key/value heads expanded and the cache concatenated
//! anew for every block, and matrix products shaped for many rows.
//!
//! [`HostLlama`] is a copy of the model's weights on the host in the PyTorch/GGUF
//! `[out, in]` layout, so that each output of a projection is one contiguous dot product
//! per hypothesis and a step streams every weight exactly once ([`project_few`]); the
//! cache ([`HostKvCache`]) holds, per block and hypothesis, the rotated keys and values as
//! growing `[len, kv_heads · head_dim]` buffers, so appending a token and keeping, dropping
//! or forking hypotheses (a beam's moves) copy no more than they must. The norms, RoPE and
//! SwiGLU are the fused kernels of [`super::fused`]; the arithmetic is f32 throughout, like
//! the full forward it replaces (same function, another summation order).
//!
//! Only for the CPU backends (Flex, NdArray), whose tensors already live in host memory;
//! the copy of the weights costs as much memory again as the model (540 MB for
//! SmolLM2-135M) and is made once, on the first continuation.

use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::fused::{add_in_place, host_values, rms_norm, rotate, simd, swiglu, HostRope};
use super::model::Llama;

/// Rows up to which a projection streams its weight once per group of [`ROW_GROUP`] rows
/// with dot products; above it (reading a long prefix at once) `gemm` runs the product.
const FEW_ROWS: usize = 16;

/// Rows whose dot products share one pass over a weight row.
const ROW_GROUP: usize = simd::DOT_ROW_GROUP;

/// Weight rows (outputs) per parallel task of [`project_few`].
const OUTPUTS_PER_TASK: usize = 64;

/// A `[out, in]` row-major weight on the host.
struct HostMatrix {
    values: Vec<f32>,
    outputs: usize,
    inputs: usize,
}

impl HostMatrix {
    /// From a burn `[in, out]` weight (a [`burn::nn::Linear`]'s), transposed once.
    fn from_in_out<B: Backend>(weight: burn::tensor::Tensor<B, 2>) -> Self {
        let [inputs, outputs] = weight.dims();
        Self {
            values: host_values(weight.transpose()),
            outputs,
            inputs,
        }
    }

    /// From a burn `[out, in]` tensor (the embedding table as the tied head), as it is.
    fn from_out_in<B: Backend>(weight: burn::tensor::Tensor<B, 2>) -> Self {
        let [outputs, inputs] = weight.dims();
        Self {
            values: host_values(weight),
            outputs,
            inputs,
        }
    }
}

/// An RMSNorm's scale and epsilon.
struct HostNorm {
    gamma: Vec<f32>,
    eps: f32,
}

impl HostNorm {
    fn new<B: Backend>(norm: &burn::nn::RmsNorm<B>) -> Self {
        Self {
            gamma: host_values(norm.gamma.val()),
            eps: norm.epsilon as f32,
        }
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        rms_norm(x, &self.gamma, self.eps, self.gamma.len())
    }
}

/// One block's weights.
struct HostBlock {
    attn_norm: HostNorm,
    qkv: HostMatrix,
    o: HostMatrix,
    ffn_norm: HostNorm,
    gate_up: HostMatrix,
    down: HostMatrix,
}

/// A llama model's weights on the host, for [`HostLlama::step`].
pub(crate) struct HostLlama {
    /// Token embeddings `[vocab, d]`; also the head when tied.
    embed: HostMatrix,
    blocks: Vec<HostBlock>,
    norm: HostNorm,
    /// A separate head `[vocab, d]`; `None` when tied to `embed`.
    head: Option<HostMatrix>,
    rope: HostRope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl std::fmt::Debug for HostLlama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostLlama")
            .field("blocks", &self.blocks.len())
            .field("d", &self.embed.inputs)
            .field("vocab", &self.embed.outputs)
            .finish_non_exhaustive()
    }
}

impl HostLlama {
    /// Copies `model`'s weights to the host, with RoPE tables for `max_len` positions.
    /// `None` when the model's tensors are not f32.
    pub(crate) fn new<B: Backend>(model: &Llama<B>, max_len: usize) -> Option<Self> {
        if model.embed_tokens.weight.val().dtype() != burn::tensor::DType::F32 {
            return None;
        }
        let attn = &model.layers.first()?.self_attn;
        let blocks = model
            .layers
            .iter()
            .map(|b| HostBlock {
                attn_norm: HostNorm::new(&b.input_layernorm),
                qkv: HostMatrix::from_in_out(b.self_attn.qkv_proj.weight.val()),
                o: HostMatrix::from_in_out(b.self_attn.o_proj.weight.val()),
                ffn_norm: HostNorm::new(&b.post_attention_layernorm),
                gate_up: HostMatrix::from_in_out(b.mlp.gate_up_proj.weight.val()),
                down: HostMatrix::from_in_out(b.mlp.down_proj.weight.val()),
            })
            .collect();
        Some(Self {
            embed: HostMatrix::from_out_in(model.embed_tokens.weight.val()),
            blocks,
            norm: HostNorm::new(&model.norm),
            head: model
                .lm_head
                .as_ref()
                .map(|h| HostMatrix::from_in_out(h.weight.val())),
            rope: HostRope::new(model, max_len),
            heads: attn.num_heads(),
            kv_heads: attn.num_kv_heads(),
            head_dim: attn.head_dim(),
        })
    }

    /// Width of the residual stream.
    fn d(&self) -> usize {
        self.embed.inputs
    }

    /// An empty cache of `rows` hypotheses.
    pub(crate) fn empty_cache(&self, rows: usize) -> HostKvCache {
        HostKvCache {
            layers: vec![vec![RowKv::default(); rows]; self.blocks.len()],
            width: self.kv_heads * self.head_dim,
        }
    }

    /// Appends `n` tokens to every row of `cache` (`tokens` `[rows, n]`, row-major; every id
    /// below the vocabulary size and the row lengths within the RoPE tables: the caller
    /// checks) and returns the next-token logits after each row's last new token,
    /// `[rows, vocab]`.
    pub(crate) fn step(&self, cache: &mut HostKvCache, tokens: &[u32], n: usize) -> Vec<f32> {
        let rows = cache.rows();
        assert_eq!(tokens.len(), rows * n, "tokens for {rows} rows of {n}");
        let d = self.d();
        let past = cache.len();
        let mut x = Vec::with_capacity(tokens.len() * d);
        for &t in tokens {
            let t = t as usize;
            x.extend_from_slice(&self.embed.values[t * d..(t + 1) * d]);
        }
        for (block, held) in self.blocks.iter().zip(&mut cache.layers) {
            let h = block.attn_norm.apply(&x);
            let qkv = project_few(&h, tokens.len(), &block.qkv);
            let heads = self.attend(&qkv, held, rows, n, past);
            add_in_place(&mut x, &project_few(&heads, tokens.len(), &block.o));
            let h = block.ffn_norm.apply(&x);
            let gate_up = project_few(&h, tokens.len(), &block.gate_up);
            let act = swiglu(&gate_up, block.gate_up.outputs / 2);
            add_in_place(&mut x, &project_few(&act, tokens.len(), &block.down));
        }
        // only each row's last token is read out
        let last: Vec<f32> = (0..rows)
            .flat_map(|r| x[((r + 1) * n - 1) * d..(r + 1) * n * d].iter().copied())
            .collect();
        let last = self.norm.apply(&last);
        project_few(&last, rows, self.head.as_ref().unwrap_or(&self.embed))
    }

    /// Appends the new tokens' rotated keys and values (from `qkv` `[rows · n, (heads + 2 ·
    /// kv_heads) · head_dim]`) to `held`, and returns the attention of their queries over
    /// everything held, causal within the new tokens, `[rows · n, heads · head_dim]`.
    fn attend(
        &self,
        qkv: &[f32],
        held: &mut [RowKv],
        rows: usize,
        n: usize,
        past: usize,
    ) -> Vec<f32> {
        let (hd, heads, kv_heads) = (self.head_dim, self.heads, self.kv_heads);
        let width = (heads + 2 * kv_heads) * hd;
        let kv_width = kv_heads * hd;
        let scale = 1.0 / (hd as f32).sqrt();
        let out_width = heads * hd;
        let mut out = vec![0.0f32; rows * n * out_width];
        out.par_chunks_mut(n * out_width)
            .zip(held.par_iter_mut())
            .enumerate()
            .for_each(|(r, (out, kv))| {
                let mut key = vec![0.0f32; hd];
                for t in 0..n {
                    let row = &qkv[(r * n + t) * width..(r * n + t + 1) * width];
                    for g in 0..kv_heads {
                        let col = (heads + g) * hd;
                        rotate(&row[col..col + hd], &self.rope, past + t, 1.0, &mut key);
                        kv.keys.extend_from_slice(&key);
                    }
                    let v = (heads + kv_heads) * hd;
                    kv.values.extend_from_slice(&row[v..v + kv_width]);
                }
                let group = heads / kv_heads;
                let mut query = vec![0.0f32; hd];
                let mut scores = Vec::with_capacity(past + n);
                for t in 0..n {
                    let row = &qkv[(r * n + t) * width..(r * n + t + 1) * width];
                    let visible = past + t + 1;
                    for h in 0..heads {
                        let g = h / group;
                        rotate(
                            &row[h * hd..(h + 1) * hd],
                            &self.rope,
                            past + t,
                            scale,
                            &mut query,
                        );
                        scores.clear();
                        scores.extend((0..visible).map(|j| {
                            let k = &kv.keys[j * kv_width + g * hd..j * kv_width + (g + 1) * hd];
                            simd::dot(&query, k)
                        }));
                        let inv = 1.0 / simd::softmax_numerators(&mut scores);
                        let o = &mut out[t * out_width + h * hd..t * out_width + (h + 1) * hd];
                        for (j, p) in scores.iter().enumerate() {
                            let v = &kv.values[j * kv_width + g * hd..j * kv_width + (g + 1) * hd];
                            simd::axpy(p * inv, v, o);
                        }
                    }
                }
            });
        out
    }
}

/// One hypothesis's rotated keys and values in one block, `[len, kv_heads · head_dim]` each.
#[derive(Clone, Default)]
struct RowKv {
    keys: Vec<f32>,
    values: Vec<f32>,
}

/// The rotated keys and values of every block and hypothesis read so far by
/// [`HostLlama::step`].
pub(crate) struct HostKvCache {
    /// `[block][row]`.
    layers: Vec<Vec<RowKv>>,
    /// `kv_heads · head_dim`.
    width: usize,
}

impl HostKvCache {
    /// Tokens per row held.
    pub(crate) fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.first())
            .map_or(0, |kv| kv.keys.len() / self.width)
    }

    /// Rows held.
    pub(crate) fn rows(&self) -> usize {
        self.layers.first().map_or(0, Vec::len)
    }

    /// Keeps the rows `rows` (in this order; a row may repeat; every index below
    /// [`rows`](Self::rows): the caller checks). A kept row's buffers move; only a row
    /// kept twice is copied.
    pub(crate) fn select(&mut self, rows: &[usize]) {
        for layer in &mut self.layers {
            let mut taken: Vec<Option<RowKv>> = layer.drain(..).map(Some).collect();
            let mut uses = vec![0usize; taken.len()];
            for &r in rows {
                uses[r] += 1;
            }
            *layer = rows
                .iter()
                .map(|&r| {
                    uses[r] -= 1;
                    if uses[r] == 0 {
                        taken[r].take().unwrap_or_default()
                    } else {
                        taken[r].clone().unwrap_or_default()
                    }
                })
                .collect();
        }
    }
}

/// `x · wᵀ` for rows `x` `[rows, in]` and a weight `w` `[out, in]`, `[rows, out]`.
///
/// For a few rows (decoding steps) every weight row is read once per [`ROW_GROUP`] rows and
/// dotted with each of them (16-lane accumulators); for more (a prefix read at once) `gemm`
/// multiplies.
fn project_few(x: &[f32], rows: usize, w: &HostMatrix) -> Vec<f32> {
    let (inputs, outputs) = (w.inputs, w.outputs);
    // checked in release builds too: the gemm below reads x and w through raw pointers
    assert_eq!(x.len(), rows * inputs, "{rows} rows of {inputs} inputs");
    assert_eq!(
        w.values.len(),
        outputs * inputs,
        "a weight of {outputs}×{inputs}"
    );
    let mut out = vec![0.0f32; rows * outputs];
    if rows > FEW_ROWS {
        // SAFETY: out holds rows·outputs, x rows·inputs and w outputs·inputs values with the
        // strides given (w read as its transpose `[in, out]`: row stride 1, column stride in).
        unsafe {
            gemm::gemm(
                rows,
                outputs,
                inputs,
                out.as_mut_ptr(),
                1,
                outputs as isize,
                false,
                x.as_ptr(),
                1,
                inputs as isize,
                w.values.as_ptr(),
                inputs as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        return out;
    }
    // tasks own a range of outputs; results land column-major ([out, rows]) and are
    // transposed at the end
    let mut by_output = vec![0.0f32; outputs * rows];
    by_output
        .par_chunks_mut(OUTPUTS_PER_TASK * rows)
        .zip(w.values.par_chunks(OUTPUTS_PER_TASK * inputs))
        .for_each(|(dst, w)| {
            for start in (0..rows).step_by(ROW_GROUP) {
                let group = ROW_GROUP.min(rows - start);
                let x = &x[start * inputs..(start + group) * inputs];
                simd::dot_rows(w, x, inputs, group, start, rows, dst);
            }
        });
    for (o, values) in by_output.chunks_exact(rows).enumerate() {
        for (r, v) in values.iter().enumerate() {
            out[r * outputs + o] = *v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor, TensorData};

    use super::{project_few, HostLlama, HostMatrix};
    use crate::device::CpuBackend;
    use crate::llama::LlamaConfig;

    /// `x · wᵀ` in f64.
    fn reference(x: &[f32], rows: usize, w: &HostMatrix) -> Vec<f64> {
        let mut out = vec![0.0f64; rows * w.outputs];
        for r in 0..rows {
            for o in 0..w.outputs {
                out[r * w.outputs + o] = (0..w.inputs)
                    .map(|i| f64::from(x[r * w.inputs + i]) * f64::from(w.values[o * w.inputs + i]))
                    .sum();
            }
        }
        out
    }

    fn seeded(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Both paths of the projection (dot products for few rows, `gemm` for many), with
    /// widths off the 16-lane grid and output counts off the task grid, against f64.
    ///
    /// Inputs are uniform in ±0.5, so a 100-long dot product is ≲ 3 in size and f32
    /// accumulation (16 lanes, then their sum) rounds to ≲ 100 · 2⁻²⁴ · 3 ≈ 2e-5.
    #[test]
    fn projection_matches_f64() {
        for (rows, inputs, outputs) in [(1, 100, 70), (3, 64, 129), (9, 33, 65), (17, 100, 70)] {
            let w = HostMatrix {
                values: seeded(inputs * outputs, 1),
                outputs,
                inputs,
            };
            let x = seeded(rows * inputs, 2);
            let got = project_few(&x, rows, &w);
            let want = reference(&x, rows, &w);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 2e-5, "{rows}×{inputs}→{outputs}: {worst:.1e}");
        }
    }

    /// Host steps give the logits of the full forward at every new position: a prefix read at
    /// once, rows that diverge a token at a time, forks and drops, on a small random model
    /// with grouped-query heads (tied and separate heads).
    ///
    /// f32 both, different summation orders: random weights keep activations of order 1, so
    /// logits of order 1 differ by a few roundings per block (measured 1.5e-5 on AVX-512,
    /// 2.3e-5 on the AVX2 path under qemu); 1e-4 bounds that while a wrong position, mask or
    /// row would be off by ≳ 0.1.
    #[test]
    fn host_steps_equal_the_full_forward() {
        let device = Default::default();
        for tied in [true, false] {
            let config = LlamaConfig::new(50, 64, 96, 2, 4, 2)
                .with_max_position_embeddings(64)
                .with_tie_word_embeddings(tied);
            let model = config.init::<CpuBackend>(&device);
            let host = HostLlama::new(&model, 64).expect("f32 model");
            let full = |ids: &[u32]| -> Vec<f32> {
                let v: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
                let ids = Tensor::<CpuBackend, 2, Int>::from_data(
                    TensorData::new(v, [1, ids.len()]),
                    &device,
                );
                let logits = model.forward(ids);
                let [_, n, vocab] = logits.dims();
                logits
                    .narrow(1, n - 1, 1)
                    .reshape([vocab])
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap()
            };
            let mut worst = 0.0f32;
            let mut check = |got: &[f32], ids: &[u32]| {
                let want = full(ids);
                assert_eq!(got.len(), want.len());
                for (a, b) in got.iter().zip(&want) {
                    worst = worst.max((a - b).abs());
                }
            };
            // a 20-token prefix at once (the gemm path and the causal mask), in two rows
            let prefix: Vec<u32> = (0..20).map(|i| (i * 7 + 3) % 50).collect();
            let mut cache = host.empty_cache(2);
            let both: Vec<u32> = prefix.iter().chain(&prefix).copied().collect();
            let logits = host.step(&mut cache, &both, 20);
            check(&logits[..50], &prefix);
            check(&logits[50..], &prefix);
            let (mut a, mut b) = (prefix.clone(), prefix.clone());
            for step in 0..6u32 {
                let (ta, tb) = (step * 5 % 50, (step * 11 + 1) % 50);
                a.push(ta);
                b.push(tb);
                let logits = host.step(&mut cache, &[ta, tb], 1);
                check(&logits[..50], &a);
                check(&logits[50..], &b);
            }
            // fork b, drop a, then two tokens per row at once
            cache.select(&[1, 1]);
            let (mut b1, mut b2) = (b.clone(), b);
            b1.extend([4, 5]);
            b2.extend([6, 7]);
            let logits = host.step(&mut cache, &[4, 5, 6, 7], 2);
            check(&logits[..50], &b1);
            check(&logits[50..], &b2);
            assert_eq!(cache.len(), 28);
            assert_eq!(cache.rows(), 2);
            println!("tied {tied}: worst logit difference {worst:.1e}");
            assert!(worst < 1e-4, "tied {tied}: {worst:.1e}");
        }
    }

    /// burn's generic cached path (the GPU backends') also gives the full forward's logits:
    /// a prefix at once, then single tokens, then a row kept twice. Same tolerance as above.
    #[test]
    fn generic_cached_forward_equals_the_full_forward() {
        let device = Default::default();
        let config = LlamaConfig::new(50, 64, 96, 2, 4, 2).with_max_position_embeddings(64);
        let model = config.init::<CpuBackend>(&device);
        let ids = |v: &[u32], rows: usize| {
            let flat: Vec<i64> = (0..rows)
                .flat_map(|_| v.iter().map(|&t| i64::from(t)))
                .collect();
            Tensor::<CpuBackend, 2, Int>::from_data(TensorData::new(flat, [rows, v.len()]), &device)
        };
        let last = |logits: Tensor<CpuBackend, 3>, row: usize| -> Vec<f32> {
            let [_, n, vocab] = logits.dims();
            logits
                .narrow(0, row, 1)
                .narrow(1, n - 1, 1)
                .reshape([vocab])
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let seq: Vec<u32> = (0..16).map(|i| (i * 13 + 5) % 50).collect();
        let (logits, mut cache) = model.forward_cached(ids(&seq[..10], 1), None);
        let mut worst = 0.0f32;
        let mut compare = |got: Vec<f32>, upto: usize| {
            let want = last(model.forward(ids(&seq[..upto], 1)), 0);
            for (a, b) in got.iter().zip(&want) {
                worst = worst.max((a - b).abs());
            }
        };
        compare(last(logits, 0), 10);
        for upto in 11..=14 {
            let (logits, next) = model.forward_cached(ids(&seq[upto - 1..upto], 1), Some(cache));
            cache = next;
            compare(last(logits, 0), upto);
        }
        let rows =
            Tensor::<CpuBackend, 1, Int>::from_data(TensorData::new(vec![0i64, 0], [2]), &device);
        let (logits, cache) = model.forward_cached(ids(&seq[14..16], 2), Some(cache.select(rows)));
        assert_eq!((cache.len(), cache.rows()), (16, 2));
        compare(last(logits.clone(), 0), 16);
        compare(last(logits, 1), 16);
        assert!(worst < 1e-4, "{worst:.1e}");
    }
}
