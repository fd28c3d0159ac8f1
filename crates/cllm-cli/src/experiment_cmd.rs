//! `cllm experiment`: the method's own test on a held-out family, end to end, with its
//! report (`cllm_eval::experiment`).

use std::path::PathBuf;

use clap::Args;
use cllm_autoencoder::{
    saved_run_options, AutoencoderError, CllmConfig, DecoderConfig, DefaultTrainBackend,
    LossConfig, SplitOptions, TrainOptions, DEFAULT_DECOR_WEIGHT,
};
use cllm_backbone::MiniLm;
use cllm_backbone::{device, LayerMeanPool, LlamaBackbone};
use cllm_eval::experiment::{
    run_experiment, run_sweep, ExperimentOptions, Reading, SentenceBaseline, SweepOptions, CLLM1,
};

use crate::corpus_args::CorpusArgs;
use crate::train_cmd::interrupt_control;
use crate::{AssetArgs, CmdResult};

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// The family (group) held out of CLLM1 and looked for in its voids.
    #[arg(long, default_value = "pizza")]
    family: String,
    /// CLLM1's architecture preset (default: cpu-k64 on the CPU backend, k64 on a GPU).
    #[arg(long)]
    preset: Option<String>,
    /// CLLM1's architecture as JSON (a `CllmConfig`) instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    model_config: Option<PathBuf>,
    /// Text-vector size (overrides the preset's k). Several sizes (`--k 8,16,32,64`) run
    /// the dimension sweep instead: CLLM1 per size (and per setting of `--terms`), scored
    /// on reconstruction, void zones and void AUROC (`sweep.md`, `sweep.json`, `sweep.svg`).
    #[arg(long, value_delimiter = ',')]
    k: Vec<usize>,
    /// The clustering and smoothness terms: off, on, or `off,on` (both, as sweep arms).
    /// Default: off for one k, `off,on` for a sweep.
    #[arg(long, value_delimiter = ',', value_parser = ["off", "on"])]
    terms: Vec<String>,
    /// Weight of the clustering term where the terms are on.
    #[arg(long, default_value_t = 0.5)]
    cluster_weight: f64,
    /// Relative std of the smoothness noise on the text vector where the terms are on.
    #[arg(long, default_value_t = 0.1)]
    latent_noise: f64,
    /// Weight of CLLM1's bag-of-words term (autoregressive decoder; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    bow_weight: f64,
    /// Decode every reading a second time under SmolLM2's guidance with this λ (0 = plain
    /// decodes only). SmolLM2 knows the held-out family, CLLM1's decoder barely does. Costs
    /// several minutes: every reading's texts are decoded again with the language model.
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0)]
    guided_readings: f32,
    /// Weight of CLLM1's decorrelation term (see `cllm train --decor-weight`). Default: 1
    /// for a new CLLM1 (0 turns it off); a CLLM1 already in the output folder keeps its own.
    #[arg(long, value_name = "W")]
    decor_weight: Option<f64>,
    /// The MiniLM baseline space: all-MiniLM-L6-v2 sentence vectors of the texts the
    /// scoring reads (the reference sample, the validation and the family texts; about
    /// 3 minutes on 2 CPU cores, kept in the run folder). On by default; `--minilm false`
    /// leaves it out. Without the flag and offline with MiniLM not in the cache, it is left
    /// out with a warning.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    minilm: Option<bool>,
    /// Add the backbone's residual stream after N blocks, mean-pooled, as one more baseline
    /// space (SmolLM2 has 30 blocks; 15 is its middle). Off by default: it encodes the
    /// scored texts with the backbone, several minutes on 2 CPU cores.
    #[arg(long, value_name = "N")]
    layer_space: Option<usize>,
    /// Training texts (a seeded sample) every space's void scores are measured against.
    #[arg(long, default_value_t = cllm_eval::experiment::DEFAULT_REFERENCE_TEXTS)]
    reference_texts: usize,
    /// CLLM1's decoder: ar (default) or mirror.
    #[arg(long, value_parser = ["ar", "mirror"], default_value = "ar")]
    decoder: String,
    /// Standardise every coordinate of CLLM1's text vectors (see `cllm train
    /// --latent-norm`; on by default with the ar decoder, `--latent-norm false` turns it off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    latent_norm: Option<bool>,
    /// Add the mean of the first stage's outputs to CLLM1's text vectors through a linear
    /// map (see `cllm train --pooled-shortcut`; on by default with the ar decoder,
    /// `--pooled-shortcut false` turns it off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pooled_shortcut: Option<bool>,
    /// Attention queries of CLLM1's pooled shortcut beside its mean (see `cllm train
    /// --shortcut-queries`).
    #[arg(long, default_value_t = 0)]
    shortcut_queries: usize,
    /// CLLM1's training budget in minutes of wall time (the default fits the whole
    /// experiment into 20 minutes on 2 CPU cores).
    #[arg(long, default_value_t = 11.0)]
    train_minutes: f64,
    /// CLLM1's step budget (the cosine decay spans it; the time budget usually stops first).
    #[arg(long, default_value_t = 1200)]
    steps: usize,
    /// CLLM1's texts per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// CLLM1's peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// The readings of CLLM2: a (fine-tune everything), b (encoder only), c (fit codes).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c")]
    readings: Vec<String>,
    /// Wall-clock budget of each CLLM2 fine-tuning, seconds.
    #[arg(long, default_value_t = 90.0)]
    finetune_seconds: f64,
    /// Adam steps per batch of codes in reading c.
    #[arg(long, default_value_t = 60)]
    fit_steps: usize,
    /// Family and validation texts scored (seeded sample).
    #[arg(long, default_value_t = 48)]
    texts: usize,
    /// Samples per source in the discovery step.
    #[arg(long, default_value_t = 24)]
    samples: usize,
    /// Null runs of the void search (0: no null test).
    #[arg(long, default_value_t = 19)]
    null_runs: usize,
    /// Only the first N documents of the corpus (quick trials).
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (report.md, report.json, report.html, SVG figures, the runs). Running
    /// the same command again reuses every finished step.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl ExperimentArgs {
    /// The output folder: `--out`, or `runs/experiment-FAMILY`.
    fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("runs/experiment-{}", self.family)))
    }

    fn options(&self) -> Result<ExperimentOptions, Box<dyn std::error::Error + Send + Sync>> {
        let preset = match (&self.preset, device::backend_name()) {
            (Some(p), _) => p.clone(),
            (None, "flex" | "ndarray") => "cpu-k64".into(),
            (None, _) => "k64".into(),
        };
        let mut model = match &self.model_config {
            Some(file) => CllmConfig::load_json(file)?,
            None => CllmConfig::preset(&preset)?,
        };
        if let [k] = self.k[..] {
            model.k = k;
        }
        model.decoder = match (self.decoder.as_str(), model.decoder) {
            ("mirror", _) => DecoderConfig::Mirror,
            (_, ar @ DecoderConfig::Autoregressive(_)) => ar,
            _ => DecoderConfig::Autoregressive(Default::default()),
        };
        // on by default for a new ar model (the best measured settings); a config file's own;
        // a CLLM1 already in the output folder keeps what it was started with, so that the
        // same command reuses an experiment made under the older defaults
        let new_ar = self.model_config.is_none() && model.is_autoregressive();
        let saved = saved_run_options(&self.out_dir().join(CLLM1))?;
        let (norm, shortcut) = match &saved {
            Some(run) => (run.model.latent_norm, run.model.pooled_shortcut),
            None => (new_ar, new_ar),
        };
        let decor_weight = self.decor_weight.unwrap_or_else(|| {
            saved
                .as_ref()
                .map_or(DEFAULT_DECOR_WEIGHT, |run| run.loss.decor_weight)
        });
        model.latent_norm = self.latent_norm.unwrap_or(model.latent_norm || norm);
        model.pooled_shortcut = self
            .pooled_shortcut
            .unwrap_or(model.pooled_shortcut || shortcut);
        if self.shortcut_queries > 0 {
            model.shortcut_queries = self.shortcut_queries;
        }
        let cllm1 = TrainOptions {
            model,
            batch_size: self.batch,
            learning_rate: self.lr,
            warmup_steps: (self.steps / 20).clamp(1, 100),
            max_steps: self.steps,
            time_budget_s: Some(self.train_minutes * 60.0),
            eval_every: (self.steps / 6).max(1),
            eval_max_texts: 64,
            checkpoint_every: 100,
            progress: true,
            seed: self.seed,
            loss: LossConfig {
                bow_weight: self.bow_weight,
                decor_weight,
                ..LossConfig::new()
            },
            split: SplitOptions {
                held_out_families: vec![self.family.clone()],
                val_fraction: 0.05,
                seed: self.seed,
            },
            ..Default::default()
        };
        let mut opts = ExperimentOptions::new(&self.family, cllm1);
        opts.readings = self
            .readings
            .iter()
            .map(|r| match r.as_str() {
                "a" => Ok(Reading::WholeModel),
                "b" => Ok(Reading::EncoderOnly),
                "c" => Ok(Reading::FittedCodes),
                other => Err(format!("unknown reading {other:?}: a, b or c")),
            })
            .collect::<Result<_, _>>()?;
        opts.finetune_time_s = Some(self.finetune_seconds);
        opts.code_fit.steps = self.fit_steps;
        opts.texts_per_split = self.texts;
        opts.samples = self.samples;
        opts.voids.null.runs = self.null_runs;
        opts.voids.progress = true;
        opts.progress = true;
        opts.seed = self.seed;
        if !(self.guided_readings >= 0.0 && self.guided_readings.is_finite()) {
            return Err("--guided-readings takes a λ of 0 or more".into());
        }
        opts.guided_lm_weight = self.guided_readings;
        opts.reference_texts = self.reference_texts;
        opts.over_length = self.corpus.over_length();
        if self.terms_on() == [true] {
            opts.cllm1.loss.cluster_weight = self.cluster_weight;
            opts.cllm1.loss.latent_noise = self.latent_noise;
        } else if !self.is_sweep() && self.terms_on().len() > 1 {
            return Err("--terms off,on needs a sweep (several --k values)".into());
        }
        Ok(opts)
    }

    fn is_sweep(&self) -> bool {
        self.k.len() > 1
    }

    /// `--terms` as switches; the default is off for one k and both for a sweep.
    fn terms_on(&self) -> Vec<bool> {
        match (self.terms.is_empty(), self.is_sweep()) {
            (true, true) => vec![false, true],
            (true, false) => vec![false],
            _ => self.terms.iter().map(|t| t == "on").collect(),
        }
    }

    fn sweep(&self) -> SweepOptions {
        SweepOptions {
            ks: self.k.clone(),
            terms: self.terms_on(),
            cluster_weight: self.cluster_weight,
            latent_noise: self.latent_noise,
        }
    }
}

pub fn run(args: ExperimentArgs) -> CmdResult {
    let opts = args.options()?;
    let out = args.out_dir();
    let want_minilm = match args.minilm {
        Some(asked) => asked,
        None if args.assets.minilm_reachable() => true,
        None => {
            eprintln!(
                "experiment: the MiniLM baseline is left out (offline, and it is not in the cache; \
                 `cllm assets fetch --with-minilm` fetches it, `--minilm false` silences this)"
            );
            false
        }
    };
    let (paths, mut corpus) = args.corpus.resolve(&args.assets, want_minilm)?;
    corpus.truncate(args.limit.unwrap_or(usize::MAX));
    corpus.require_groups(std::slice::from_ref(&args.family))?;
    corpus.focus_groups(std::slice::from_ref(&args.family));
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let minilm = match (&paths.minilm_dir, want_minilm) {
        (Some(dir), true) => Some(MiniLm::<device::DefaultBackend>::from_dir(dir, &dev)?),
        (None, true) => return Err("--minilm: the MiniLM model is not in the cache".into()),
        _ => None,
    };
    if let Some(layer) = args.layer_space {
        cllm_core::Backbone::check_layer(&backbone, layer)?;
    }
    let layer_pool = args
        .layer_space
        .map(|layer| LayerMeanPool::new(&backbone, layer));
    let mut baselines = Vec::new();
    if let Some(m) = &minilm {
        baselines.push(SentenceBaseline {
            name: "all-MiniLM-L6-v2 sentence vectors".into(),
            encoder: m,
            progress: true,
        });
    }
    if let Some(pool) = &layer_pool {
        baselines.push(SentenceBaseline {
            name: format!("backbone layer {} mean-pooled", pool.layer),
            encoder: pool,
            progress: true,
        });
    }
    let control = interrupt_control();
    if args.is_sweep() {
        let sweep = args.sweep();
        eprintln!(
            "experiment: dimension sweep, {} held out; k = {:?}, terms {:?}; CLLM1 {} for at most {:.1} min per arm on {}; output {}",
            args.family,
            sweep.ks,
            args.terms_on(),
            args.decoder,
            args.train_minutes,
            device::backend_name(),
            out.display()
        );
        let report = run_sweep::<DefaultTrainBackend>(
            &opts,
            &sweep,
            &out,
            &backbone,
            &baselines,
            corpus.documents(),
            &dev,
            &control,
        )
        .map_err(stopped_or_error)?;
        println!("{}", std::fs::read_to_string(out.join("sweep.md"))?);
        println!(
            "\nsweep done in {:.0} s: {}/sweep.md, sweep.json, sweep.svg",
            report.wall_s,
            out.display()
        );
        return Ok(());
    }
    eprintln!(
        "experiment: {} held out; CLLM1 {} (k = {}) for at most {:.1} min on {}; output {}",
        args.family,
        args.decoder,
        opts.cllm1.model.k,
        args.train_minutes,
        device::backend_name(),
        out.display()
    );
    let report = run_experiment::<DefaultTrainBackend>(
        &opts,
        &out,
        &backbone,
        &baselines,
        (opts.guided_lm_weight > 0.0).then_some(&backbone as &dyn cllm_core::LanguageModel),
        corpus.documents(),
        &dev,
        &control,
    )
    .map_err(stopped_or_error)?;
    println!(
        "{}",
        std::fs::read_to_string(out.join("report.md"))?
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!(
        "\nexperiment done in {:.0} s: {}/report.md, report.html, report.json, map.svg, auroc.svg, training.svg",
        report.wall_s,
        out.display()
    );
    Ok(())
}

/// A run stopped by a signal as [`Stopped`](crate::Stopped) (its own exit status), any
/// other error as it is.
fn stopped_or_error(e: cllm_eval::EvalError) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        cllm_eval::EvalError::Autoencoder(AutoencoderError::Interrupted { step, .. }) => {
            Box::new(crate::Stopped { step })
        }
        e => Box::new(e),
    }
}
