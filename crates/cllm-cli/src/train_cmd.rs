//! `cllm train`: train (or fine-tune) a CLLM on the recipe corpus, resumably, and score
//! the best model on every split.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use burn::module::Module;
use clap::Args;
use cllm_autoencoder::{
    prepare_data_dir, run_prepared_train_job, run_train_job, saved_run_options, ArDecoderConfig,
    AutoencoderError, CllmConfig, CllmModel, DecoderConfig, DefaultTrainBackend, JobReport,
    LossConfig, RunControl, SplitOptions, TrainJob, TrainOptions, DEFAULT_DECOR_WEIGHT,
};
use cllm_backbone::{device, LlamaBackbone};

use crate::corpus_args::CorpusArgs;
use crate::{AssetArgs, CmdResult};

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    assets: AssetArgs,
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Architecture preset: k8, k16, k32, k64 (the pilot's 11.6M-parameter design) or
    /// cpu-k8 … cpu-k64 (1.9M, for CPU runs). Default: cpu-k16 on the CPU backend, k16 on
    /// a GPU backend; with --init-from, the architecture of that model.
    #[arg(long, conflicts_with = "model_config")]
    preset: Option<String>,
    /// The architecture as JSON (a `CllmConfig`, e.g. a model directory's config.json,
    /// edited): any stages, widths, merges, heads.
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Text-vector size (overrides the preset's k).
    #[arg(long)]
    k: Option<usize>,
    /// The decoder of a new model: `ar` (a vector-conditioned causal transformer over the
    /// backbone's token embeddings: fluent text, learns in CPU minutes) or `mirror` (the
    /// seed's mirrored stages, all positions at once). Default: ar; with --init-from or
    /// --model-config, that model's.
    #[arg(long, value_parser = ["ar", "mirror"])]
    decoder: Option<String>,
    /// Word dropout of the ar decoder: share of teacher-forced inputs masked in training.
    #[arg(long)]
    word_dropout: Option<f64>,
    /// Prefix positions the ar decoder makes from the vector.
    #[arg(long)]
    prefix: Option<usize>,
    /// Causal transformer layers of the ar decoder.
    #[arg(long)]
    decoder_layers: Option<usize>,
    /// Standardise every coordinate of the text vector (batch normalisation without a
    /// learned scale), against the encoder's collapse to one vector for all texts: the
    /// decoder then follows the vector (docs/autoencoder.md). On by default for a new model
    /// with the ar decoder (`--latent-norm false` turns it off); a fine-tuned model keeps
    /// its own.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    latent_norm: Option<bool>,
    /// Add a linear map of the mean of the first stage's outputs to the text vector: a
    /// short path from every token to the vector beside the staged folding
    /// (docs/autoencoder.md). On by default for a new model with the ar decoder
    /// (`--pooled-shortcut false` turns it off); a fine-tuned model keeps its own.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pooled_shortcut: Option<bool>,
    /// Learned attention queries of the pooled shortcut beside its mean (0 = the mean
    /// alone; needs --pooled-shortcut). A new model's setting.
    #[arg(long)]
    shortcut_queries: Option<usize>,
    /// Output directory (checkpoints, best model, token cache, eval.json). Running the same
    /// command again resumes an interrupted run.
    #[arg(long, default_value = "runs/cllm1")]
    out: PathBuf,
    /// Training steps (the cosine decay spans them).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Stop after this many seconds of training (not reproducible).
    #[arg(long)]
    time_budget: Option<f64>,
    /// Decay the learning rate over --time-budget instead of --steps (the PyTorch pilot's
    /// schedule, for runs sized by time such as a GPU lent for minutes; not reproducible).
    #[arg(long, requires = "time_budget")]
    schedule_over_time: bool,
    /// Texts per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Linear warm-up steps (at most a quarter of --steps).
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Stop after this many validations without improvement.
    #[arg(long)]
    patience: Option<usize>,
    /// Steps between validations.
    #[arg(long, default_value_t = 250)]
    eval_every: usize,
    /// Validation texts per validation.
    #[arg(long, default_value_t = 128)]
    eval_texts: usize,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sampled softmax: the batch's targets plus N random corpus tokens (default: the
    /// full corpus vocabulary).
    #[arg(long)]
    negatives: Option<usize>,
    /// Denoising: fraction of input tokens replaced by the pad row.
    #[arg(long, default_value_t = 0.0)]
    token_dropout: f64,
    /// Smoothness: relative std of Gaussian noise on the text vector while training.
    #[arg(long, default_value_t = 0.0)]
    latent_noise: f64,
    /// Weight of the clustering term (vectors draw together, empty space appears).
    #[arg(long, default_value_t = 0.0)]
    cluster_weight: f64,
    /// Weight of the semantic alignment term (needs --sentence-embeddings).
    #[arg(long, default_value_t = 0.0)]
    align_weight: f64,
    /// Weight of the bag-of-words term (--decoder ar): the decoder's prefix output must
    /// predict the text's words from the vector alone, against posterior collapse.
    #[arg(long, default_value_t = 0.0)]
    bow_weight: f64,
    /// Weight of the decorrelation term: the text vector's coordinates must not copy each
    /// other (squared off-diagonal correlations over the batch and the last 240 vectors).
    /// Default: 1 for a new run (0 turns it off); a run already in OUT keeps its own.
    #[arg(long, value_name = "W")]
    decor_weight: Option<f64>,
    /// Sentence embeddings of the corpus texts (a vector file from `cllm sentence-embed`).
    #[arg(long)]
    sentence_embeddings: Option<PathBuf>,
    /// Dropout inside the transformer layers.
    #[arg(long)]
    dropout: Option<f64>,
    /// Families (groups) held out of training entirely (comma-separated). Default:
    /// soup,pizza for the built-in recipes, none for --corpus.
    #[arg(long, value_delimiter = ',')]
    hold_out: Option<Vec<String>>,
    /// Fraction of the remaining texts used for validation.
    #[arg(long, default_value_t = 0.05)]
    val_fraction: f64,
    /// Fine-tuning (CLLM2): start from this trained model directory (RUN/model).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Train on this family (group) only (e.g. soup for CLLM2); the rest is the replay
    /// corpus.
    #[arg(long)]
    family: Option<String>,
    /// Fine-tuning: fraction of every batch replayed from the rest of the corpus.
    #[arg(long, default_value_t = 0.0)]
    replay_fraction: f64,
    /// Fine-tuning: train the encoder only, the decoder of --init-from kept as it is.
    #[arg(long, requires = "init_from")]
    freeze_decoder: bool,
    /// Only the first N documents of the corpus (quick trials).
    #[arg(long, conflicts_with = "data")]
    limit: Option<usize>,
    /// Train from a prepared data directory (an earlier run's output: its token cache and
    /// vocabulary table) without loading the backbone or the corpus, e.g. on a GPU machine
    /// that has no model files.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Texts per split scored in the final report.
    #[arg(long, default_value_t = 256)]
    report_texts: usize,
    /// Only write the prepared data (token cache and vocabulary table) into --out and stop:
    /// what `--data` needs on a machine without the model files (`scripts/gpu/bundle.sh`).
    #[arg(long, conflicts_with_all = ["data", "init_from", "family"])]
    prepare_only: bool,
}

/// An on/off architecture setting: a new model takes the flag's value, or `default` without
/// the flag; a model read from a file (`--init-from`, `--model-config`) keeps the
/// architecture it was made with, so a flag asking for the other value is an error naming it.
fn architecture_switch(
    flag: &str,
    asked: Option<bool>,
    setting: &mut bool,
    fresh: bool,
    default: bool,
) -> Result<(), String> {
    match asked {
        None if fresh => *setting = default,
        Some(on) if fresh => *setting = on,
        Some(on) if on != *setting => {
            return Err(format!(
                "{flag} {on} applies to a new model (this one's config has {})",
                if *setting { "it" } else { "none" }
            ))
        }
        _ => {}
    }
    Ok(())
}

impl TrainArgs {
    fn model_config(&self) -> Result<CllmConfig, Box<dyn std::error::Error + Send + Sync>> {
        let mut model = match (&self.model_config, &self.preset, &self.init_from) {
            (Some(file), _, _) => read_config_file(file)?,
            (None, Some(p), _) => CllmConfig::preset(p)?,
            (None, None, Some(init)) => read_config(init)?,
            (None, None, None) if matches!(device::backend_name(), "ndarray" | "flex") => {
                CllmConfig::preset("cpu-k16")?
            }
            (None, None, None) => CllmConfig::preset("k16")?,
        };
        if let Some(k) = self.k {
            model.k = k;
        }
        let fresh = self.model_config.is_none() && self.init_from.is_none();
        match self.decoder.as_deref() {
            Some("mirror") => model.decoder = DecoderConfig::Mirror,
            Some(_) => {
                if !model.is_autoregressive() {
                    model.decoder = DecoderConfig::Autoregressive(ArDecoderConfig::default());
                }
            }
            None if fresh => {
                model.decoder = DecoderConfig::Autoregressive(ArDecoderConfig::default())
            }
            None => {}
        }
        let tuning = [
            self.word_dropout.is_some(),
            self.prefix.is_some(),
            self.decoder_layers.is_some(),
        ];
        match &mut model.decoder {
            DecoderConfig::Autoregressive(ar) => {
                ar.word_dropout = self.word_dropout.unwrap_or(ar.word_dropout);
                ar.prefix = self.prefix.unwrap_or(ar.prefix);
                ar.layers = self.decoder_layers.unwrap_or(ar.layers);
            }
            DecoderConfig::Mirror if tuning.contains(&true) => {
                return Err(
                    "--word-dropout, --prefix and --decoder-layers apply to the ar decoder".into(),
                )
            }
            DecoderConfig::Mirror => {}
        }
        if let Some(d) = self.dropout {
            model.dropout = d;
        }
        // the norm and the shortcut: on for a new ar model (the best measured settings,
        // docs/autoencoder.md); a run already in OUT keeps what it was started with, so that
        // the same command resumes a run made under the older defaults
        let ar = model.is_autoregressive();
        let (norm, shortcut) = match saved_run_options(&self.out)? {
            Some(run) => (run.model.latent_norm, run.model.pooled_shortcut),
            None => (ar, ar),
        };
        architecture_switch(
            "--latent-norm",
            self.latent_norm,
            &mut model.latent_norm,
            fresh,
            norm,
        )?;
        architecture_switch(
            "--pooled-shortcut",
            self.pooled_shortcut,
            &mut model.pooled_shortcut,
            fresh,
            shortcut,
        )?;
        if let Some(m) = self.shortcut_queries {
            if !fresh && m != model.shortcut_queries {
                return Err(format!(
                    "--shortcut-queries applies to a new model (this one's config has {})",
                    model.shortcut_queries
                )
                .into());
            }
            model.shortcut_queries = m;
        }
        model.validate()?; // before the minutes of preparing the data
        Ok(model)
    }

    fn job(&self) -> Result<TrainJob, Box<dyn std::error::Error + Send + Sync>> {
        let mut loss = LossConfig::new();
        loss.negatives = self.negatives;
        loss.latent_noise = self.latent_noise;
        loss.cluster_weight = self.cluster_weight;
        loss.align_weight = self.align_weight;
        loss.bow_weight = self.bow_weight;
        loss.decor_weight = match self.decor_weight {
            Some(w) => w,
            None => saved_run_options(&self.out)?
                .map_or(DEFAULT_DECOR_WEIGHT, |run| run.loss.decor_weight),
        };
        if self.align_weight > 0.0 && self.sentence_embeddings.is_none() {
            return Err("--align-weight needs --sentence-embeddings FILE".into());
        }
        if self.align_weight == 0.0 && self.sentence_embeddings.is_some() {
            return Err("--sentence-embeddings is used only with --align-weight > 0".into());
        }
        if self.replay_fraction > 0.0 && self.family.is_none() {
            return Err(
                "--replay-fraction needs --family (the rest of the corpus is replayed)".into(),
            );
        }
        let options = TrainOptions {
            model: self.model_config()?,
            loss,
            batch_size: self.batch,
            learning_rate: self.lr,
            warmup_steps: self.warmup.min(self.steps / 4).max(1),
            max_steps: self.steps,
            time_budget_s: self.time_budget,
            schedule_over_time: self.schedule_over_time,
            token_dropout: self.token_dropout,
            eval_every: self.eval_every,
            eval_max_texts: self.eval_texts,
            patience: self.patience,
            checkpoint_every: self.checkpoint_every,
            seed: self.seed,
            split: SplitOptions {
                held_out_families: self.held_out(),
                val_fraction: self.val_fraction,
                seed: self.seed,
            },
            init_from: self.init_from.clone(),
            replay_fraction: self.replay_fraction,
            freeze_decoder: self.freeze_decoder,
            ..Default::default()
        };
        let mut job = TrainJob::new(options, &self.out);
        job.family = self.family.clone();
        job.semantic = self.sentence_embeddings.clone();
        job.report_texts = self.report_texts;
        job.over_length = self.corpus.over_length();
        Ok(job)
    }
}

impl TrainArgs {
    /// The held-out groups: as given, else soup and pizza for the recipes.
    fn held_out(&self) -> Vec<String> {
        let default: &[&str] = if self.corpus.is_own() {
            &[]
        } else {
            &["soup", "pizza"]
        };
        match &self.hold_out {
            Some(given) => given.iter().filter(|f| !f.is_empty()).cloned().collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The groups named on the command line, which must have texts: --hold-out when
    /// given, and --family.
    fn named_groups(&self) -> Vec<String> {
        let mut named: Vec<String> = match &self.hold_out {
            Some(_) => self.held_out(),
            None => Vec::new(),
        };
        named.extend(self.family.clone());
        named
    }
}

fn read_config(model_dir: &Path) -> Result<CllmConfig, Box<dyn std::error::Error + Send + Sync>> {
    read_config_file(&model_dir.join(cllm_autoencoder::codec::files::CONFIG))
}

fn read_config_file(path: &Path) -> Result<CllmConfig, Box<dyn std::error::Error + Send + Sync>> {
    Ok(CllmConfig::load_json(path)?)
}

pub fn run(args: TrainArgs) -> CmdResult {
    let job = args.job()?;
    let dev = device::default_device()?;
    print_model(&job, &dev)?;
    let control = interrupt_control();
    let result = match &args.data {
        Some(dir) => run_prepared_train_job::<DefaultTrainBackend>(&job, dir, &dev, &control),
        None => {
            let (paths, mut corpus) = args.corpus.resolve(&args.assets, false)?;
            corpus.truncate(args.limit.unwrap_or(usize::MAX));
            corpus.require_groups(&args.named_groups())?;
            // a text in several groups is held out (or fine-tuned on) whichever is named
            let mut split_groups = args.held_out();
            split_groups.extend(args.family.clone());
            corpus.focus_groups(&split_groups);
            let docs = corpus.documents();
            let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
            if args.prepare_only {
                let max_len = job.options.model.max_len;
                let p = prepare_data_dir(
                    &job.out_dir,
                    &backbone,
                    docs,
                    max_len,
                    &job.pad_token,
                    job.over_length,
                )?;
                println!(
                    "prepared {} texts ({} cut to {max_len} tokens), {} vocabulary rows -> {dir} (train with --data {dir})",
                    p.texts,
                    p.cut,
                    p.vocab,
                    dir = job.out_dir.display()
                );
                return Ok(());
            }
            run_train_job::<DefaultTrainBackend>(&job, &backbone, docs, &dev, &control)
        }
    };
    let report = match result {
        Err(AutoencoderError::Interrupted { step, checkpoint }) => {
            eprintln!("checkpoint {}", checkpoint.display());
            return Err(crate::Stopped { step }.into());
        }
        r => r?,
    };
    print_report(&job, &report);
    Ok(())
}

/// Prints the architecture: parameters and each stage's reduction.
fn print_model(job: &TrainJob, dev: &device::DefaultDevice) -> CmdResult {
    let m = &job.options.model;
    let probe = CllmModel::<device::DefaultBackend>::new(m, dev)?;
    eprintln!(
        "CLLM: k = {}, {} parameters, {:.0}x overall, backend {}",
        m.k,
        probe.num_params(),
        m.total_factor(),
        device::backend_name()
    );
    for s in m.stage_report() {
        eprintln!("  {s}");
    }
    Ok(())
}

/// A stop flag set by Ctrl-C, SIGTERM or SIGHUP (a `kill`, a closed terminal): the first
/// finishes the step, writes a checkpoint and stops (exit status
/// [`EXIT_STOPPED`](crate::EXIT_STOPPED)); a second exits at once with 130. Every file is
/// written atomically, so neither leaves a half-written one.
pub(crate) fn interrupt_control() -> RunControl {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first = AtomicBool::new(true);
    if let Err(e) = ctrlc::set_handler(move || {
        if first.swap(false, Ordering::SeqCst) {
            eprintln!("\nstopping: writing a checkpoint after this step (a second signal aborts)");
            flag.store(true, Ordering::SeqCst);
        } else {
            std::process::exit(130);
        }
    }) {
        tracing::warn!(error = %e, "no signal handler; an interrupt loses the steps since the last checkpoint");
    }
    RunControl {
        stop: Some(stop),
        stop_after_steps: None,
    }
}

fn print_report(job: &TrainJob, report: &JobReport) {
    println!(
        "trained {} steps ({:.2} epochs, {:.0} s, {} parameters) -> {}",
        report.steps,
        report.epochs,
        report.wall_s,
        report.params,
        job.out_dir.join("model").display()
    );
    let teacher = if job.options.model.is_autoregressive() {
        "teacher-forced"
    } else {
        "restored"
    };
    println!("token accuracy {teacher}; free-running: greedy, no repeated trigram; word F1 floor (two random recipes) 0.29");
    println!(
        "lookupF1: word F1 of the training text with the nearest vector (a lookup instead of a decode); bestF1: of the best training text"
    );
    println!(
        "{:<14} {:>6} {:>9} {:>7} {:>9} {:>7} {:>8} {:>7} {:>9} {:>7}",
        "split",
        "texts",
        "tokenAcc",
        "exact",
        "freeAcc",
        "freeEx",
        "wordF1",
        "rep3",
        "lookupF1",
        "bestF1"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for s in &report.splits {
        let f = &s.free_running;
        println!(
            "{:<14} {:>6} {:>9.4} {:>7.4} {:>9.4} {:>7.4} {:>8} {:>7} {:>9} {:>7}",
            s.name,
            s.report.texts,
            s.report.token_accuracy,
            s.report.exact_text_rate,
            f.token_accuracy,
            f.exact_text_rate,
            opt(f.word_f1),
            opt(f.repeated_trigrams),
            opt(f.nearest_training_word_f1),
            opt(f.best_training_word_f1)
        );
    }
    if let Some(s) = report.splits.iter().find(|s| s.name == "val") {
        println!(
            "val example:\n  original: {:?}\n  decoded:  {:?}",
            s.example_original, s.example_decoded
        );
    }
    for s in &report.separation {
        println!(
            "{} vs val: void-score AUROC {:.3} ({} vs {} texts, {} training texts as reference)",
            s.family, s.auroc, s.texts, s.val_texts, s.reference_texts
        );
    }
    if let Some(c) = &report.code_shape {
        let s = &c.shape;
        println!(
            "code shape ({} training codes): participation ratio {:.1} of {}, {} directions hold 90% of the variance, the first {:.1}%, mean |correlation| {:.3}",
            s.codes,
            s.participation_ratio,
            s.dim,
            s.directions_90,
            100.0 * s.first_direction_share,
            s.mean_abs_correlation
        );
        let groups: Vec<String> = c
            .first_direction
            .iter()
            .map(|d| format!("{} {:.2}", d.group, d.auroc))
            .collect();
        println!(
            "  what the first direction separates (AUROC vs the rest): {}",
            groups.join(", ")
        );
    }
    println!(
        "report: {}",
        job.out_dir.join(cllm_autoencoder::job::EVAL_FILE).display()
    );
}
