//! `cllm generate` (vectors from voids or near the data → texts, scored and ranked) and
//! `cllm decode` (texts → vectors → texts: what a model keeps).

use std::path::{Path, PathBuf};

use clap::Args;
use cllm_autoencoder::{encode_corpus, Cllm, DecodeOptions, Search, TrainOptions};
use cllm_backbone::{device, LlamaBackbone};
use cllm_core::safe_text::printable;
use cllm_core::{Backbone, Document};
use cllm_eval::{generate, DataPoints, GenerateOptions, ReferenceCorpus, VectorSource};
use cllm_void::{PointSet, VoidReport};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::corpus_args::CorpusArgs;
use crate::{progress, AssetArgs, CmdResult};

/// How vectors become tokens (shared by `generate` and `decode`).
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Search: greedy, beam or nucleus.
    #[arg(long, default_value = "greedy", value_parser = ["greedy", "beam", "nucleus"])]
    search: String,
    /// Hypotheses kept by beam search.
    #[arg(long, default_value_t = 4)]
    beam_width: usize,
    /// Probability mass kept by nucleus sampling.
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    /// Logit temperature of nucleus sampling.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Forbid repeating any token n-gram of this size (0 = off).
    #[arg(long, default_value_t = 3)]
    no_repeat_ngram: usize,
    /// Penalty on tokens already generated (1 = off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Most tokens per text.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Weight λ of SmolLM2's log-probability in the score of every next token (shallow
    /// fusion over the corpus vocabulary; 0 = the plain decoder). Default: 0.5 for
    /// `generate` (fluent texts), 0 for `decode` (what the model itself reads back).
    #[arg(long)]
    lm_weight: Option<f32>,
}

/// λ of `cllm generate` when `--lm-weight` is not given: guidance that brought all 20
/// Gaussian draws of `docs/autoencoder.md` under the fluency target, for 1.8× the command's
/// wall time at λ = 0.
const GENERATE_LM_WEIGHT: f32 = 0.5;

impl DecodeArgs {
    /// The decoding options, with λ = `default_lm_weight` unless `--lm-weight` was given.
    fn options(&self, seed: u64, default_lm_weight: f32) -> DecodeOptions {
        DecodeOptions {
            search: match self.search.as_str() {
                "beam" => Search::Beam {
                    width: self.beam_width,
                },
                "nucleus" => Search::Nucleus {
                    top_p: self.top_p,
                    temperature: self.temperature,
                    seed,
                },
                _ => Search::Greedy,
            },
            no_repeat_ngram: self.no_repeat_ngram,
            repetition_penalty: self.repetition_penalty,
            max_tokens: self.max_tokens,
            lm_weight: self.lm_weight.unwrap_or(default_lm_weight),
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// A trained CLLM: the `model` directory of a training run.
    #[arg(long)]
    model: PathBuf,
    /// Decode the zones of this void search (`cllm voids --out`): centres first, then
    /// points inside them.
    #[arg(long, group = "sampler")]
    from_voids: Option<PathBuf>,
    /// Jitter near training vectors, SCALE × their spread per axis.
    #[arg(long, group = "sampler", num_args = 0..=1, default_missing_value = "0.5")]
    near: Option<f32>,
    /// Midpoints between random pairs of training vectors.
    #[arg(long, group = "sampler")]
    midpoints: bool,
    /// Draws from a Gaussian fitted to the training vectors (the default).
    #[arg(long, group = "sampler")]
    gaussian: bool,
    /// Texts to generate.
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Seed of the sampler and of nucleus sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    decode: DecodeArgs,
    /// Training texts encoded as the data the samplers draw around (seeded sample).
    #[arg(long, default_value_t = 2000)]
    reference: usize,
    /// Real texts whose median perplexity fluency is measured against.
    #[arg(long, default_value_t = 32)]
    real_texts: usize,
    /// Output directory: generated.jsonl and generated.md.
    #[arg(long, default_value = "cllm-out/generate")]
    out: PathBuf,
    /// Texts shown in the markdown table.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// The documents a model was trained on: the corpus less the families its run held out
/// (read from the run's `run.json` next to the model directory; the whole corpus if there
/// is none).
fn training_documents(
    model: &Path,
    corpus: Vec<Document>,
) -> Result<Vec<Document>, Box<dyn std::error::Error + Send + Sync>> {
    let run = model.parent().map(|p| p.join("run.json"));
    let held_out: Vec<String> = match run.filter(|p| p.exists()) {
        Some(p) => {
            let opts: serde_json::Value = serde_json::from_slice(&std::fs::read(&p)?)?;
            let opts: TrainOptions =
                serde_json::from_value(opts).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut h = opts.split.held_out_families;
            if let Some(init) = &opts.init_from {
                tracing::info!(from = %init.display(), "a fine-tuned model: novelty is judged against the whole corpus");
                h.clear();
            }
            h
        }
        None => Vec::new(),
    };
    Ok(corpus
        .into_iter()
        .filter(|d| !held_out.iter().any(|f| d.in_group(f)))
        .collect())
}

fn seeded_sample<T: Clone>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    v.truncate(n);
    v
}

/// The family a text reads as (the recipe corpus's family rules: title, ingredient and
/// step cues).
fn family_of_text(text: &str) -> Option<String> {
    cllm_corpus::family::family_of_text(text).map(|f| f.as_str().to_string())
}

pub fn run_generate(args: GenerateArgs) -> CmdResult {
    let decode = args.decode.options(args.seed, GENERATE_LM_WEIGHT);
    decode.validate()?; // before the minutes of loading and encoding
    let source = match (&args.from_voids, args.near, args.midpoints) {
        (Some(path), _, _) => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let report: VoidReport = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a void report ({e})", path.display()))?;
            VectorSource::Voids { report }
        }
        (None, Some(scale), _) => VectorSource::parse(&format!("near:{scale}"))?,
        (None, None, true) => VectorSource::Midpoints,
        _ => VectorSource::Gaussian,
    };
    let (paths, corpus) = args.corpus.resolve(&args.assets, false)?;
    let dev = device::default_device()?;
    let cllm = Cllm::<device::DefaultBackend>::load(&args.model, &dev)?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let docs = training_documents(&args.model, corpus.into_documents())?;
    if docs.is_empty() {
        return Err("no training documents to compare with".into());
    }
    eprintln!(
        "encoding {} reference texts …",
        args.reference.min(docs.len())
    );
    let sample = seeded_sample(&docs, args.reference, args.seed);
    let pairs = encode_corpus(&cllm, &sample, &backbone, args.corpus.over_length())?;
    let ids: Vec<String> = pairs.iter().map(|(d, _)| d.id.clone()).collect();
    let flat: Vec<f32> = pairs
        .iter()
        .flat_map(|(_, v)| v.as_slice().to_vec())
        .collect();
    let points = PointSet::new(cllm.config().k, flat)?;
    let reference = ReferenceCorpus::new(
        docs.iter()
            .map(|d| (d.id.clone(), d.text.clone()))
            .collect(),
    )?
    .with_vectors(points.clone());
    let max = backbone.max_len();
    let real_texts = seeded_sample(&docs, args.real_texts, args.seed ^ 1)
        .iter()
        .map(|d| {
            backbone.tokenize(&d.text).map(|mut t| {
                t.truncate(max);
                t
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = GenerateOptions {
        source,
        n: args.n,
        seed: args.seed,
        decode,
        real_texts,
    };
    let bar = progress::bar(0, "generate");
    let report = generate(
        &cllm,
        &backbone,
        &backbone,
        DataPoints {
            points: &points,
            ids: &ids,
        },
        &reference,
        &family_of_text,
        &opts,
        &bar,
    )?;
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out)?;
    report.write_jsonl(&args.out.join("generated.jsonl"))?;
    let md = report.markdown(args.top);
    cllm_core::write_atomic(&args.out.join("generated.md"), md.as_bytes())?;
    println!("{md}");
    println!(
        "all texts with vectors and scores: {}",
        args.out.join("generated.jsonl").display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct DecodeCmdArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// A trained CLLM: the `model` directory of a training run.
    #[arg(long)]
    model: PathBuf,
    /// Texts to reconstruct (repeat the flag); without it, corpus texts.
    #[arg(long)]
    text: Vec<String>,
    /// Corpus texts to reconstruct when no --text is given.
    #[arg(long, default_value_t = 5)]
    n: usize,
    /// Only corpus texts of this family.
    #[arg(long)]
    family: Option<String>,
    /// Seed of the corpus sample (and of nucleus sampling).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    decode: DecodeArgs,
}

pub fn run_decode(args: DecodeCmdArgs) -> CmdResult {
    let decode = args.decode.options(args.seed, 0.0);
    decode.validate()?;
    let (paths, corpus) = args.corpus.resolve(&args.assets, false)?;
    let dev = device::default_device()?;
    let cllm = Cllm::<device::DefaultBackend>::load(&args.model, &dev)?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let texts: Vec<String> = if args.text.is_empty() {
        if let Some(f) = &args.family {
            corpus.require_groups(std::slice::from_ref(f))?;
        }
        let docs: Vec<Document> = corpus
            .into_documents()
            .into_iter()
            .filter(|d| args.family.as_deref().is_none_or(|f| d.in_group(f)))
            .collect();
        if docs.is_empty() {
            return Err(format!("no corpus text of family {:?}", args.family).into());
        }
        seeded_sample(&docs, args.n, args.seed)
            .into_iter()
            .map(|d| d.text)
            .collect()
    } else {
        args.text.clone()
    };
    let max = cllm.config().max_len;
    let ids = texts
        .iter()
        .map(|t| {
            backbone.tokenize(t).map(|mut v| {
                v.truncate(max);
                v
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(i) = ids.iter().position(Vec::is_empty) {
        return Err(format!("text {} is empty", i + 1).into());
    }
    // through the backbone's token embeddings, so that tokens outside the model's vocabulary
    // table (words its corpus never had) are read too
    let matrices = ids
        .iter()
        .map(|v| backbone.embed_ids(v, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let vectors = cllm.encode(&matrices)?;
    let decoded = cllm.generate_guided(&vectors, &decode, Some(&backbone))?;
    for (i, (orig, d)) in ids.iter().zip(&decoded).enumerate() {
        let original = backbone.detokenize(orig)?;
        let text = backbone.detokenize(&d.ids)?;
        println!(
            "── text {} (word F1 {:.2}, {} of {} tokens at their place{})",
            i + 1,
            cllm_autoencoder::text_metrics::word_f1(&text, &original),
            orig.iter().zip(&d.ids).filter(|(a, b)| a == b).count(),
            orig.len(),
            if d.ended {
                ""
            } else {
                ", cut at the length limit"
            }
        );
        println!(
            "original:\n{}\n\ndecoded:\n{}\n",
            printable(&original),
            printable(&text)
        );
    }
    Ok(())
}
