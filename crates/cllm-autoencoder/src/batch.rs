//! Length-bucketed, seeded batching and the host-side assembly of a training batch.
//!
//! All randomness here is derived from `(seed, epoch)` or `(seed, step)` alone, so a run
//! resumed from a checkpoint draws exactly the batches, corruptions and noise of the
//! uninterrupted run.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mixes a seed with a stream id and a counter into one RNG (independent streams).
pub(crate) fn rng_for(seed: u64, stream: u64, counter: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.set_stream(stream);
    r.set_word_pos(u128::from(counter) << 20);
    ChaCha8Rng::seed_from_u64(r.random())
}

/// Stream ids of [`rng_for`].
pub(crate) mod stream {
    pub const EPOCH: u64 = 1;
    pub const CORRUPT: u64 = 2;
    pub const NOISE: u64 = 3;
    pub const NEGATIVES: u64 = 4;
    pub const REPLAY: u64 = 5;
    pub const BACKEND: u64 = 6;
    pub const WORD_DROPOUT: u64 = 7;
}

/// The batches of one epoch: `indices` shuffled, cut into pools of `pool_batches`
/// batches, each pool sorted by length and cut into batches of `batch_size` (texts of
/// similar length together), and the batches shuffled. The last partial batch is kept.
///
/// ```
/// use cllm_autoencoder::batch::epoch_batches;
/// let lens = [3, 9, 1, 7, 5, 2];
/// let b = epoch_batches(&[0, 1, 2, 3, 4, 5], &lens, 2, 8, 42, 0);
/// assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 6);
/// assert_eq!(b, epoch_batches(&[0, 1, 2, 3, 4, 5], &lens, 2, 8, 42, 0)); // seeded
/// ```
pub fn epoch_batches(
    indices: &[usize],
    lens: &[usize],
    batch_size: usize,
    pool_batches: usize,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut rng = rng_for(seed, stream::EPOCH, epoch);
    let mut order = indices.to_vec();
    order.shuffle(&mut rng);
    let mut batches = Vec::new();
    for pool in order.chunks_mut(batch_size * pool_batches.max(1)) {
        pool.sort_by_key(|&i| lens.get(i).copied().unwrap_or(0));
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut rng);
    batches
}

/// A batch assembled on the host, in `V` indices, padded to `max_len`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Texts in the batch.
    pub size: usize,
    /// Positions per text (`max_len`).
    pub max_len: usize,
    /// Input rows `[size × max_len]` (after corruption), as `V` indices.
    pub input: Vec<usize>,
    /// Target rows `[size × max_len]` (the clean text, padding = pad index).
    pub target: Vec<usize>,
    /// Content length of every text.
    pub lens: Vec<usize>,
    /// Positions that enter the token loss: the longest text plus its end marker
    /// (positions past every text's first pad decode to nothing and are skipped).
    pub head_positions: usize,
}

impl HostBatch {
    /// Builds a batch of texts given as `V` indices, padding with `pad`. With
    /// `corrupt > 0`, that fraction of content tokens of the *input* is replaced by the pad
    /// row (denoising), drawn from `rng`.
    pub fn new(
        texts: &[&[usize]],
        max_len: usize,
        pad: usize,
        corrupt: f64,
        rng: &mut impl Rng,
    ) -> Self {
        let size = texts.len();
        let mut target = vec![pad; size * max_len];
        let mut lens = Vec::with_capacity(size);
        for (b, t) in texts.iter().enumerate() {
            let n = t.len().min(max_len);
            target[b * max_len..b * max_len + n].copy_from_slice(&t[..n]);
            lens.push(n);
        }
        let mut input = target.clone();
        if corrupt > 0.0 {
            for (b, &n) in lens.iter().enumerate() {
                for v in &mut input[b * max_len..b * max_len + n] {
                    if rng.random::<f64>() < corrupt {
                        *v = pad;
                    }
                }
            }
        }
        let head_positions = (lens.iter().copied().max().unwrap_or(0) + 1).min(max_len);
        Self {
            size,
            max_len,
            input,
            target,
            lens,
            head_positions,
        }
    }

    /// Targets of the first `head_positions` positions of every text, flattened.
    pub fn head_targets(&self) -> Vec<usize> {
        (0..self.size)
            .flat_map(|b| {
                self.target[b * self.max_len..b * self.max_len + self.head_positions]
                    .iter()
                    .copied()
            })
            .collect()
    }

    /// Every text's content tokens as a bag over the `vocab` indices: row-major
    /// `[size × vocab]`, each row the token frequencies (summing to 1; all zero for an
    /// empty text). The target of the bag-of-words term.
    pub fn bags(&self, vocab: usize) -> Vec<f32> {
        let mut bags = vec![0f32; self.size * vocab];
        for (b, &len) in self.lens.iter().enumerate() {
            let row = &mut bags[b * vocab..(b + 1) * vocab];
            for &t in &self.target[b * self.max_len..b * self.max_len + len] {
                row[t] += 1.0 / len as f32;
            }
        }
        bags
    }

    /// Padding mask `[size × max_len]`, true past each text's content.
    pub fn pad_mask(&self) -> Vec<bool> {
        self.lens
            .iter()
            .flat_map(|&n| (0..self.max_len).map(move |p| p >= n))
            .collect()
    }
}

/// Candidate rows for a sampled softmax: every target of the batch plus `negatives`
/// random other entries of `V` (`vocab` entries), sorted. Returns the candidates and the
/// targets remapped to positions among them.
pub fn sampled_candidates(
    targets: &[usize],
    vocab: usize,
    negatives: usize,
    rng: &mut impl Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut cand: Vec<usize> = targets.to_vec();
    for _ in 0..negatives {
        cand.push(rng.random_range(0..vocab));
    }
    cand.sort_unstable();
    cand.dedup();
    let remapped = targets
        .iter()
        .map(|t| cand.binary_search(t).unwrap_or(0))
        .collect();
    (cand, remapped)
}

/// `n` draws of a standard normal (Box–Muller), for noise on the text vectors.
pub fn normal_noise(n: usize, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bags_are_each_texts_token_frequencies() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let texts: [&[usize]; 3] = [&[1, 2, 2, 3], &[4], &[]];
        let hb = HostBatch::new(&texts, 6, 0, 0.0, &mut rng);
        let bags = hb.bags(5);
        assert_eq!(&bags[0..5], &[0.0, 0.25, 0.5, 0.25, 0.0]);
        assert_eq!(&bags[5..10], &[0.0, 0.0, 0.0, 0.0, 1.0]);
        // the pad (index 0) of the padded positions is not in any bag; an empty text has none
        assert_eq!(&bags[10..15], &[0.0; 5]);
    }

    #[test]
    fn batches_cover_each_index_once_and_group_lengths() {
        let lens: Vec<usize> = (0..100).map(|i| (i * 37) % 101).collect();
        let idx: Vec<usize> = (0..100).collect();
        let b = epoch_batches(&idx, &lens, 10, 10, 7, 3);
        let mut all: Vec<usize> = b.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, idx);
        // one pool = whole epoch here, so batches are length-sorted runs
        for batch in &b {
            let l: Vec<usize> = batch.iter().map(|&i| lens[i]).collect();
            assert!(l.windows(2).all(|w| w[0] <= w[1]));
        }
        assert_ne!(b, epoch_batches(&idx, &lens, 10, 10, 7, 4));
    }

    #[test]
    fn host_batch_pads_corrupts_and_crops() {
        let a = [1usize, 2, 3];
        let c = [4usize];
        let mut rng = rng_for(0, 9, 0);
        let hb = HostBatch::new(&[&a, &c], 5, 0, 0.0, &mut rng);
        assert_eq!(hb.target, vec![1, 2, 3, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(hb.input, hb.target);
        assert_eq!(hb.head_positions, 4);
        assert_eq!(hb.head_targets(), vec![1, 2, 3, 0, 4, 0, 0, 0]);
        assert_eq!(hb.pad_mask()[..5], [false, false, false, true, true]);
        let hb = HostBatch::new(&[&a, &c], 5, 0, 1.0, &mut rng);
        assert_eq!(hb.input, vec![0; 10]);
        assert_eq!(hb.target[0], 1);
    }

    #[test]
    fn sampled_candidates_contain_targets() {
        let mut rng = rng_for(1, 2, 3);
        let (cand, t) = sampled_candidates(&[5, 9, 5], 100, 20, &mut rng);
        assert!(cand.windows(2).all(|w| w[0] < w[1]));
        assert_eq!([cand[t[0]], cand[t[1]], cand[t[2]]], [5, 9, 5]);
    }
}
