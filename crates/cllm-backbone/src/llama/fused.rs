//! The llama blocks on host memory, with fused CPU kernels.
//!
//! On the CPU backends (Flex, NdArray) a tensor is a buffer in RAM, so the blocks can run on
//! plain `f32` slices between the four matrix products of each block, which stay burn's:
//!
//! - RMSNorm is one pass per row (burn's is five: square, mean, add, root, divide + scale);
//! - RoPE, grouped-query attention and the head merge are one kernel per (sequence, key/value
//!   head): the rotated keys and values are gathered once and shared by the query heads of the
//!   group, the causal scores are computed block by block (only the lower triangle), and the
//!   softmax is applied row by row between two `gemm` calls, the results written straight into
//!   the `[tokens, heads · head_dim]` layout the output projection reads. burn's generic path
//!   instead copies `[batch, heads, seq, head_dim]` views around, expands the key/value heads,
//!   and runs Flex's attention one head at a time on one thread;
//! - SiLU(gate) · up is one pass over the fused gate/up projection's output;
//! - the residual additions are in place.
//!
//! The element-wise kernels are compiled for AVX2 + FMA and chosen at run time (with a
//! portable fallback), the same code on CPUs with and without AVX-512; the matrix products go
//! through the `gemm` crate (AVX-512 kernels where the CPU and the build's `x86-v4` feature
//! allow). The work is spread over rayon's thread pool.
//!
//! Other backends (GPUs, autodiff) keep the generic burn path in [`super::model`], which
//! computes the same function.

use std::any::TypeId;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::model::{Llama, LlamaDecoderLayer};

/// Query rows per attention block: the causal scores are computed for blocks of this many
/// queries against the keys up to the block's end (about 60% of the full square at 256 tokens).
const QUERY_BLOCK: usize = 64;

/// Rows per parallel task of the row-wise kernels.
const ROWS_PER_TASK: usize = 32;

/// Whether `B` keeps its tensors in host memory as plain buffers, so that the fused kernels
/// can run on them (Flex and NdArray; not their autodiff wrappers, which need burn's graph).
pub(crate) fn runs_on_host<B: Backend>() -> bool {
    let id = TypeId::of::<B>();
    #[cfg(feature = "flex")]
    if id == TypeId::of::<burn::backend::Flex>() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if id == TypeId::of::<burn::backend::NdArray<f32>>() {
        return true;
    }
    let _ = id;
    false
}

/// The values of an f32 tensor (zero-copy on Flex when the tensor is not shared).
pub(super) fn host_values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .into_vec::<f32>()
        .expect("the host path only runs on f32 tensors")
}

/// A `[rows, cols]` tensor over `values` on `device`.
fn host_tensor<B: Backend>(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// `x · w` for host rows `x` `[rows, in]` and a `[in, out]` weight, back on the host.
fn project<B: Backend>(x: Vec<f32>, rows: usize, weight: &Tensor<B, 2>) -> Vec<f32> {
    let [input, _] = weight.dims();
    let x = host_tensor::<B>(x, rows, input, &weight.device());
    host_values(x.matmul(weight.clone()))
}

/// Runs blocks `from..to` of `model` on the residual stream `x` `[batch, seq, d]` on the host.
///
/// Hands `x` back unchanged (and the caller takes the generic path) when it is not f32.
pub(crate) fn continue_on_host<B: Backend>(
    model: &Llama<B>,
    x: Tensor<B, 3>,
    from: usize,
    to: usize,
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    if x.dtype() != DType::F32 {
        return Err(x);
    }
    let [batch, seq, d] = x.dims();
    let device = x.device();
    let rope = HostRope::new(model, seq);
    let mut stream = host_values(x);
    for block in &model.layers[from..to] {
        block_on_host(block, &mut stream, batch, seq, d, &rope);
    }
    Ok(Tensor::from_data(
        TensorData::new(stream, [batch, seq, d]),
        &device,
    ))
}

/// The RoPE tables for positions `0..seq`, `[seq, head_dim]`, on the host.
pub(super) struct HostRope {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl HostRope {
    pub(super) fn new<B: Backend>(model: &Llama<B>, seq: usize) -> Self {
        let (cos, sin) = model.rope.tables(seq);
        Self {
            cos: host_values(cos),
            sin: host_values(sin),
        }
    }
}

/// One pre-norm block, in place on the residual stream `x` `[batch · seq, d]`.
fn block_on_host<B: Backend>(
    block: &LlamaDecoderLayer<B>,
    x: &mut [f32],
    batch: usize,
    seq: usize,
    d: usize,
    rope: &HostRope,
) {
    let rows = batch * seq;
    let attn = &block.self_attn;
    let shape = AttentionShape {
        batch,
        seq,
        heads: attn.num_heads(),
        kv_heads: attn.num_kv_heads(),
        head_dim: attn.head_dim(),
    };
    let norm = &block.input_layernorm;
    let h = rms_norm(x, &host_values(norm.gamma.val()), norm.epsilon as f32, d);
    let qkv = project(h, rows, &attn.qkv_proj.weight.val());
    let heads = causal_attention(&qkv, &shape, rope);
    add_in_place(x, &project(heads, rows, &attn.o_proj.weight.val()));

    let norm = &block.post_attention_layernorm;
    let h = rms_norm(x, &host_values(norm.gamma.val()), norm.epsilon as f32, d);
    let gate_up = project(h, rows, &block.mlp.gate_up_proj.weight.val());
    let ff = gate_up.len() / rows / 2;
    let act = swiglu(&gate_up, ff);
    add_in_place(x, &project(act, rows, &block.mlp.down_proj.weight.val()));
}

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
struct AttentionShape {
    /// Sequences.
    batch: usize,
    /// Tokens per sequence.
    seq: usize,
    /// Query heads.
    heads: usize,
    /// Key/value heads (a divisor of `heads`).
    kv_heads: usize,
    /// Width of one head (even).
    head_dim: usize,
}

/// `x / rms(x) · gamma` for every row of `x` `[rows, d]`.
pub(super) fn rms_norm(x: &[f32], gamma: &[f32], eps: f32, d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .for_each(|(out, x)| {
            for (o, row) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                simd::rms_norm_row(row, gamma, eps, o);
            }
        });
    out
}

/// `silu(gate) · up` for rows `[gate (ff) | up (ff)]`, giving `[rows, ff]`.
pub(super) fn swiglu(gate_up: &[f32], ff: usize) -> Vec<f32> {
    let rows = gate_up.len() / (2 * ff);
    let mut out = vec![0.0f32; rows * ff];
    out.par_chunks_mut(ff * ROWS_PER_TASK)
        .zip(gate_up.par_chunks(2 * ff * ROWS_PER_TASK))
        .for_each(|(out, gu)| {
            for (o, row) in out.chunks_exact_mut(ff).zip(gu.chunks_exact(2 * ff)) {
                let (gate, up) = row.split_at(ff);
                simd::swiglu_row(gate, up, o);
            }
        });
    out
}

/// `x += y`.
pub(super) fn add_in_place(x: &mut [f32], y: &[f32]) {
    const CHUNK: usize = 1 << 14;
    x.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(x, y)| x.iter_mut().zip(y).for_each(|(a, b)| *a += b));
}

/// Causal grouped-query self-attention with RoPE, from the fused projection's output.
///
/// `qkv` is `[batch · seq, (heads + 2 · kv_heads) · head_dim]`: every row holds the query
/// heads, then the key heads, then the value heads (Hugging Face "rotate half" layout for
/// the rotary pairs). Query head `h` attends with key/value head `h / (heads / kv_heads)`.
/// Returns `[batch · seq, heads · head_dim]`, the heads side by side.
fn causal_attention(qkv: &[f32], s: &AttentionShape, rope: &HostRope) -> Vec<f32> {
    let out_width = s.heads * s.head_dim;
    let mut out = vec![0.0f32; s.batch * s.seq * out_width];
    let out_ptr = SharedOutput(out.as_mut_ptr());
    (0..s.batch * s.kv_heads).into_par_iter().for_each(|task| {
        let (b, g) = (task / s.kv_heads, task % s.kv_heads);
        // SAFETY: task (b, g) writes only the rows of sequence b and the columns of the query
        // heads of group g, which no other task writes; `out` outlives the parallel loop.
        let out = &out_ptr;
        attend_group(qkv, s, rope, b, g, |row, col, values| {
            assert!(row < s.batch * s.seq && col + values.len() <= out_width);
            // SAFETY: in bounds (checked above), and see the loop's comment.
            unsafe {
                let dst = out.0.add(row * out_width + col);
                std::ptr::copy_nonoverlapping(values.as_ptr(), dst, values.len());
            }
        });
    });
    out
}

/// A pointer to the attention output that the parallel tasks write disjoint parts of.
struct SharedOutput(*mut f32);
// SAFETY: see `causal_attention`: the tasks write disjoint elements.
unsafe impl Sync for SharedOutput {}

/// Attention of the query heads of group `g` of sequence `b`; hands every finished output
/// row segment (token row, column, values) to `write`.
fn attend_group(
    qkv: &[f32],
    s: &AttentionShape,
    rope: &HostRope,
    b: usize,
    g: usize,
    mut write: impl FnMut(usize, usize, &[f32]),
) {
    let (seq, hd) = (s.seq, s.head_dim);
    let group = s.heads / s.kv_heads;
    let width = (s.heads + 2 * s.kv_heads) * hd;
    let row = |i: usize| &qkv[(b * seq + i) * width..(b * seq + i + 1) * width];
    let scale = 1.0 / (hd as f32).sqrt();

    // keys (rotated) and values of this group, [seq, hd] each
    let mut keys = vec![0.0f32; seq * hd];
    let mut values = vec![0.0f32; seq * hd];
    let k_col = (s.heads + g) * hd;
    let v_col = (s.heads + s.kv_heads + g) * hd;
    for i in 0..seq {
        let r = row(i);
        rotate(
            &r[k_col..k_col + hd],
            rope,
            i,
            1.0,
            &mut keys[i * hd..(i + 1) * hd],
        );
        values[i * hd..(i + 1) * hd].copy_from_slice(&r[v_col..v_col + hd]);
    }

    let mut queries = vec![0.0f32; group * QUERY_BLOCK * hd];
    let mut scores = vec![0.0f32; group * QUERY_BLOCK * seq];
    let mut mixed = vec![0.0f32; group * QUERY_BLOCK * hd];
    let mut inv_sums = vec![0.0f32; group * QUERY_BLOCK];
    let mut start = 0;
    while start < seq {
        let end = (start + QUERY_BLOCK).min(seq);
        let n = end - start;
        let m = group * n;
        // the block's queries, rotated and scaled, head-major: row r·n + t is head g·group + r,
        // token start + t
        for r in 0..group {
            let col = (g * group + r) * hd;
            for t in 0..n {
                let dst = (r * n + t) * hd;
                rotate(
                    &row(start + t)[col..col + hd],
                    rope,
                    start + t,
                    scale,
                    &mut queries[dst..dst + hd],
                );
            }
        }
        // scores [m, end] = queries [m, hd] · keys[0..end]ᵀ
        assert!(queries.len() >= m * hd && keys.len() >= end * hd && scores.len() >= m * end);
        // SAFETY: the buffers hold m·hd, end·hd and m·end values with the strides given.
        unsafe {
            gemm::gemm(
                m,
                end,
                hd,
                scores.as_mut_ptr(),
                1,
                end as isize,
                false,
                queries.as_ptr(),
                1,
                hd as isize,
                keys.as_ptr(),
                hd as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (mi, inv) in inv_sums[..m].iter_mut().enumerate() {
            let visible = start + mi % n + 1;
            let scores_row = &mut scores[mi * end..(mi + 1) * end];
            *inv = 1.0 / simd::softmax_numerators(&mut scores_row[..visible]);
            scores_row[visible..].fill(0.0);
        }
        // mixed [m, hd] = probabilities [m, end] · values[0..end]
        assert!(mixed.len() >= m * hd && values.len() >= end * hd);
        // SAFETY: as above.
        unsafe {
            gemm::gemm(
                m,
                hd,
                end,
                mixed.as_mut_ptr(),
                1,
                hd as isize,
                false,
                scores.as_ptr(),
                1,
                end as isize,
                values.as_ptr(),
                1,
                hd as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for r in 0..group {
            let col = (g * group + r) * hd;
            for t in 0..n {
                let mi = r * n + t;
                let out = &mut mixed[mi * hd..(mi + 1) * hd];
                let inv = inv_sums[mi];
                out.iter_mut().for_each(|v| *v *= inv);
                write(b * seq + start + t, col, out);
            }
        }
        start = end;
    }
}

/// `out = rope(x) · scale` for one head vector at position `pos` ("rotate half").
pub(super) fn rotate(x: &[f32], rope: &HostRope, pos: usize, scale: f32, out: &mut [f32]) {
    let hd = x.len();
    let half = hd / 2;
    let cos = &rope.cos[pos * hd..(pos + 1) * hd];
    let sin = &rope.sin[pos * hd..(pos + 1) * hd];
    let (x1, x2) = x.split_at(half);
    let (o1, o2) = out.split_at_mut(half);
    for c in 0..half {
        o1[c] = (x1[c] * cos[c] - x2[c] * sin[c]) * scale;
        o2[c] = (x2[c] * cos[half + c] + x1[c] * sin[half + c]) * scale;
    }
}

/// Row kernels, compiled for AVX-512 or AVX2 + FMA when the CPU has them (chosen at run
/// time; `cllm_backend::simd`).
pub(super) mod simd {
    use cllm_backend::simd::{exp, row_max, LANES};
    use cllm_backend::simd_dispatch as dispatch;

    dispatch!(pub(crate) rms_norm_row(x: &[f32], gamma: &[f32], eps: f32, out: &mut [f32]) -> () {
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, v) in acc.iter_mut().zip(c) {
                *a = v.mul_add(*v, *a);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|v| v * v).sum();
        let mean = (acc.iter().sum::<f32>() + tail) / x.len() as f32;
        let inv = 1.0 / (mean + eps).sqrt();
        for ((o, v), g) in out.iter_mut().zip(x).zip(gamma) {
            *o = v * inv * g;
        }
    });

    dispatch!(pub(crate) swiglu_row(gate: &[f32], up: &[f32], out: &mut [f32]) -> () {
        for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + exp(-g)) * u;
        }
    });

    dispatch!(pub(crate) dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut ca = a.chunks_exact(LANES);
        let mut cb = b.chunks_exact(LANES);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
                *s = x.mul_add(*y, *s);
            }
        }
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    });

    dispatch!(pub(crate) axpy(alpha: f32, x: &[f32], y: &mut [f32]) -> () {
        // `y += alpha · x`
        for (y, x) in y.iter_mut().zip(x) {
            *y = alpha.mul_add(*x, *y);
        }
    });

    /// Rows of `x` dotted together by [`dot_rows`] (a group shares one pass over `w`).
    pub(crate) const DOT_ROW_GROUP: usize = 8;

    dispatch!(pub(crate) dot_rows(
        w: &[f32],
        x: &[f32],
        inputs: usize,
        group: usize,
        start: usize,
        rows: usize,
        dst: &mut [f32]
    ) -> () {
        // for every row `o` of `w` `[outputs, inputs]` and row `r` of `x` `[group, inputs]`
        // (group ≤ DOT_ROW_GROUP): `dst[o · rows + start + r] = w[o] · x[r]`
        let full = inputs / LANES * LANES;
        for (o, w_row) in w.chunks_exact(inputs).enumerate() {
            let mut acc = [[0.0f32; LANES]; DOT_ROW_GROUP];
            for k in (0..full).step_by(LANES) {
                let wc = &w_row[k..k + LANES];
                for (r, acc) in acc.iter_mut().enumerate().take(group) {
                    let xc = &x[r * inputs + k..r * inputs + k + LANES];
                    for ((s, w), x) in acc.iter_mut().zip(wc).zip(xc) {
                        *s = w.mul_add(*x, *s);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(group) {
                let x_row = &x[r * inputs..(r + 1) * inputs];
                let tail: f32 = w_row[full..].iter().zip(&x_row[full..]).map(|(w, x)| w * x).sum();
                dst[o * rows + start + r] = acc.iter().sum::<f32>() + tail;
            }
        }
    });

    dispatch!(pub(crate) softmax_numerators(row: &mut [f32]) -> f32 {
        // `row = exp(row - max(row))`, returning the sum
        let max = row_max(row);
        let mut sum = [0.0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for (s, v) in sum.iter_mut().zip(c) {
                *v = exp(*v - max);
                *s += *v;
            }
        }
        let mut total: f32 = sum.iter().sum();
        for v in chunks.into_remainder() {
            *v = exp(*v - max);
            total += *v;
        }
        total
    });
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::runs_on_host;
    use crate::device::CpuBackend;
    use crate::llama::LlamaConfig;

    /// The fused host path computes what burn's generic path computes, on a small random
    /// model with grouped-query heads and a sequence that ends inside a query block.
    ///
    /// Both run in f32 with different summation orders; two blocks of width 64 with
    /// random weights keep values of order 1, where the two orders differ by a few f32
    /// roundings per product (≈1e-6 of the row RMS), far inside the 1e-4 bound.
    #[test]
    fn host_path_matches_the_generic_path() {
        assert!(
            runs_on_host::<CpuBackend>(),
            "the default CPU backend takes the host path"
        );
        let device = Default::default();
        let config = LlamaConfig::new(50, 64, 96, 2, 4, 2).with_max_position_embeddings(128);
        let model = config.init::<CpuBackend>(&device);
        for (batch, seq) in [(2, 70), (1, 1), (3, 64)] {
            let x = Tensor::<CpuBackend, 3>::random(
                [batch, seq, 64],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let fused = model.continue_from(x.clone(), 0, 2);
            let generic = model.continue_generic(x, 0, 2);
            let fused = fused.into_data().to_vec::<f32>().unwrap();
            let generic = generic.into_data().to_vec::<f32>().unwrap();
            let mut worst = 0.0f64;
            for (f, g) in fused.chunks(64).zip(generic.chunks(64)) {
                let rms = (g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 64.0).sqrt();
                assert!(rms > 0.1, "the rows carry signal");
                for (a, b) in f.iter().zip(g) {
                    worst = worst.max((*a as f64 - *b as f64).abs() / rms);
                }
            }
            println!("batch {batch} × {seq}: worst difference {worst:.2e} of the row RMS");
            assert!(worst < 1e-4, "batch {batch} × {seq}: {worst:.2e}");
        }
    }
}
