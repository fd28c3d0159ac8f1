//! [`TrainData`]: the corpus, the replay corpus of a fine-tuning run, the vocabulary table
//! and the sentence embeddings; and the texts of every step's batch.

use rand::Rng;

use super::options::TrainOptions;
use super::state::TrainState;
use crate::batch::{epoch_batches, rng_for, stream};
use crate::cache::{Split, TokenCache};
use crate::error::{AutoencoderError, Result};
use crate::semantic::SemanticTargets;
use crate::vocab::VocabTable;

/// The data of a run: the corpus, an optional replay corpus (fine-tuning), and the
/// vocabulary table covering both.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// The corpus trained on.
    pub cache: TokenCache,
    /// The old corpus replayed while fine-tuning.
    pub replay: Option<TokenCache>,
    /// The vocabulary table.
    pub vocab: VocabTable,
    /// Sentence embeddings for the semantic alignment term (by document id).
    pub semantic: Option<SemanticTargets>,
}

impl TrainData {
    /// Builds the vocabulary table from a full embedding table (`[vocab × width]`,
    /// row-major; for SmolLM2 the backbone's `embed_tokens.weight`).
    pub fn new(
        cache: TokenCache,
        replay: Option<TokenCache>,
        embedding_table: &[f32],
        width: usize,
    ) -> Result<Self> {
        let mut used = cache.used_ids();
        if let Some(r) = &replay {
            used.extend(r.used_ids());
        }
        let vocab = VocabTable::from_embedding_table(embedding_table, width, used, cache.pad_id)?;
        Self::with_vocab(cache, replay, vocab)
    }

    /// Uses a given vocabulary table, which must hold every token of both corpora.
    pub fn with_vocab(
        cache: TokenCache,
        replay: Option<TokenCache>,
        vocab: VocabTable,
    ) -> Result<Self> {
        for c in std::iter::once(&cache).chain(replay.as_ref()) {
            if c.pad_id != vocab.pad_id() {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "cache pad id {} differs from the vocabulary's {}",
                    c.pad_id,
                    vocab.pad_id()
                )));
            }
            for id in c.used_ids() {
                vocab
                    .index_of(id)
                    .ok_or(AutoencoderError::UnknownToken(id))?;
            }
        }
        Ok(Self {
            cache,
            replay,
            vocab,
            semantic: None,
        })
    }

    /// Adds sentence embeddings for the semantic alignment term. Every text of the
    /// training corpus should have one; an error when none has, a warning when some lack it.
    pub fn with_semantic(mut self, targets: SemanticTargets) -> Result<Self> {
        let covered = self
            .cache
            .texts
            .iter()
            .filter(|t| targets.get(&t.id).is_some())
            .count();
        if covered == 0 {
            return Err(AutoencoderError::InvalidConfig(
                "the sentence embeddings cover none of the corpus texts (other ids?)".into(),
            ));
        }
        if covered < self.cache.len() {
            tracing::warn!(
                covered,
                texts = self.cache.len(),
                "some texts have no sentence embedding; they are left out of the alignment term"
            );
        }
        self.semantic = Some(targets);
        Ok(self)
    }

    /// Every text of `cache` as `V` indices (a token outside the table is an error:
    /// [`TrainData::with_vocab`] has checked both corpora, so this only fails on a cache
    /// changed since).
    fn indexed(&self, cache: &TokenCache) -> Result<Vec<Vec<usize>>> {
        cache
            .texts
            .iter()
            .map(|t| {
                t.ids
                    .iter()
                    .map(|&id| {
                        self.vocab
                            .index_of(id)
                            .ok_or(AutoencoderError::UnknownToken(id))
                    })
                    .collect()
            })
            .collect()
    }
}

/// The texts of every step: the training split in seeded, length-bucketed epochs
/// ([`epoch_batches`]) and, when fine-tuning with replay, replay texts *added* to each
/// batch so that they make up `replay_fraction` of it (every training text is still seen
/// once per epoch).
pub(crate) struct BatchPlan<'a> {
    data: &'a TrainData,
    texts: Vec<Vec<usize>>,
    train: Vec<usize>,
    replay: Option<(Vec<Vec<usize>>, Vec<usize>)>,
    replay_fraction: f64,
    batch_size: usize,
    pool_batches: usize,
    seed: u64,
    /// The batches of the current epoch, and which epoch they are.
    epoch: Option<(u64, Vec<Vec<usize>>)>,
}

/// One step's texts as `V` indices with their document ids (training texts first, then
/// replayed ones).
pub(crate) struct StepTexts<'a> {
    pub texts: Vec<&'a [usize]>,
    pub ids: Vec<&'a str>,
}

impl<'a> BatchPlan<'a> {
    pub fn new(data: &'a TrainData, split: &Split, opts: &TrainOptions) -> Result<Self> {
        if split.train.is_empty() {
            return Err(AutoencoderError::Empty("training split"));
        }
        let replay = match (&data.replay, opts.replay_fraction > 0.0) {
            (Some(r), true) => {
                let s = r.split(&opts.split);
                if s.train.is_empty() {
                    return Err(AutoencoderError::Empty("replay training split"));
                }
                Some((data.indexed(r)?, s.train))
            }
            (None, true) => {
                return Err(AutoencoderError::InvalidConfig(
                    "replay_fraction > 0 needs a replay corpus".into(),
                ))
            }
            _ => None,
        };
        Ok(Self {
            data,
            texts: data.indexed(&data.cache)?,
            train: split.train.clone(),
            replay,
            replay_fraction: opts.replay_fraction,
            batch_size: opts.batch_size,
            // a standardised text vector learns from batch statistics, which must be the
            // corpus's, not those of texts of one length
            pool_batches: if opts.model.latent_norm {
                1
            } else {
                opts.pool_batches
            },
            seed: opts.seed,
            epoch: None,
        })
    }

    /// Every corpus text as `V` indices.
    pub fn texts(&self) -> &[Vec<usize>] {
        &self.texts
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&mut self, epoch: u64) -> usize {
        self.epoch_batches(epoch).len()
    }

    /// Epochs over the training split done by the run at `state` (whole epochs plus the
    /// used share of the current one; replayed texts do not count).
    pub fn epochs_done(&mut self, state: &TrainState) -> f64 {
        let per_epoch = self.batches_per_epoch(state.epoch).max(1);
        state.epoch as f64 + state.batch_in_epoch as f64 / per_epoch as f64
    }

    fn epoch_batches(&mut self, epoch: u64) -> &[Vec<usize>] {
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let lens: Vec<usize> = self.texts.iter().map(Vec::len).collect();
            let batches = epoch_batches(
                &self.train,
                &lens,
                self.batch_size,
                self.pool_batches,
                self.seed,
                epoch,
            );
            self.epoch = Some((epoch, batches));
        }
        self.epoch.as_ref().map_or(&[], |(_, b)| b.as_slice())
    }

    /// The texts of batch `index` of `epoch`, plus the replayed texts of `step`.
    pub fn step_texts(&mut self, epoch: u64, index: usize, step: u64) -> StepTexts<'_> {
        let members = self.epoch_batches(epoch)[index].clone();
        let cache = &self.data.cache;
        let mut out = StepTexts {
            texts: members.iter().map(|&i| self.texts[i].as_slice()).collect(),
            ids: members
                .iter()
                .map(|&i| cache.texts[i].id.as_str())
                .collect(),
        };
        if let (Some((rtexts, rtrain)), Some(rcache)) = (&self.replay, &self.data.replay) {
            let mut rng = rng_for(self.seed, stream::REPLAY, step);
            // f of the batch replayed: n_replay / (n + n_replay) = f
            let f = self.replay_fraction;
            let n_replay = ((members.len() as f64) * f / (1.0 - f)).round().max(1.0) as usize;
            for _ in 0..n_replay {
                let r = rtrain[rng.random_range(0..rtrain.len())];
                out.texts.push(rtexts[r].as_slice());
                out.ids.push(rcache.texts[r].id.as_str());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CachedText, SplitOptions};

    fn cache(prefix: &str, n: usize, family: Option<&str>) -> TokenCache {
        let texts = (0..n)
            .map(|i| CachedText {
                id: format!("{prefix}{i}"),
                family: family.map(str::to_string),
                // lengths 1..=n: the shortest texts are the ones the old replay overwrote
                ids: (0..=i as u32).map(|t| 1 + t % 5).collect(),
                full_len: i + 1,
            })
            .collect();
        TokenCache::from_texts("t", 64, 0, texts).unwrap()
    }

    /// A fine-tuning run with replay trains on every family text once per epoch, and the
    /// replayed texts come on top, at the asked fraction.
    #[test]
    fn replay_adds_rows_and_every_family_text_is_trained_on() {
        let family = cache("soup", 13, Some("soup"));
        let rest = cache("other", 30, None);
        let table: Vec<f32> = (0..6 * 2).map(|v| v as f32).collect();
        let data = TrainData::new(family, Some(rest), &table, 2).unwrap();
        let opts = TrainOptions {
            batch_size: 4,
            replay_fraction: 0.25,
            split: SplitOptions {
                val_fraction: 0.0,
                held_out_families: vec![],
                ..Default::default()
            },
            ..Default::default()
        };
        let split = data.cache.split(&opts.split);
        let mut plan = BatchPlan::new(&data, &split, &opts).unwrap();
        let batches = plan.batches_per_epoch(0);
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        let (mut trained, mut replayed) = (0, 0);
        for b in 0..batches {
            let step = plan.step_texts(0, b, b as u64);
            for id in &step.ids {
                *seen.entry(id.to_string()).or_default() += 1;
            }
            let fam = step.ids.iter().filter(|i| i.starts_with("soup")).count();
            trained += fam;
            replayed += step.ids.len() - fam;
        }
        for i in 0..13 {
            assert_eq!(
                seen.get(&format!("soup{i}")),
                Some(&1),
                "soup{i} once per epoch"
            );
        }
        assert_eq!(trained, 13);
        let fraction = replayed as f64 / (trained + replayed) as f64;
        assert!(
            (fraction - 0.25).abs() < 0.08,
            "replayed fraction {fraction}"
        );
    }
}
