//! The real run: train a CLLM on the recipe corpus (SmolLM2 layer 0, L = 256) and report
//! token accuracy and exact-text rate on training, validation and held-out families.
//!
//! ```text
//! cargo run --release -p cllm-autoencoder --example train_recipes -- \
//!     --preset cpu-k64 --steps 300 --batch 16 --out runs/cpu-k64
//! # GPU: add --features cuda and use --preset k64 --batch 64 --steps 5000
//! ```
//!
//! Flags: `--preset NAME` (k8 … k64, cpu-k8 … cpu-k64), `--k N` (overrides the preset's
//! k), `--steps N`, `--time-budget SECONDS`, `--batch N`, `--lr F`, `--warmup N`,
//! `--negatives N` (sampled softmax), `--token-dropout F`, `--latent-noise F`,
//! `--cluster-weight F`, `--dropout F`, `--eval-every N`, `--eval-texts N`, `--seed N`,
//! `--out DIR`, `--init-from MODEL_DIR`, `--replay-fraction F`, `--family NAME` (train on
//! one family only, e.g. soup for CLLM2; the rest becomes the replay corpus).
//! An interrupted run resumes when started again with the same flags and `--out`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use burn::module::Module;
use cllm_autoencoder::{
    train, Cllm, CllmConfig, DefaultTrainBackend, LossConfig, RunControl, TokenCache, TrainData,
    TrainOptions,
};
use cllm_backbone::{device, LlamaBackbone};
use cllm_core::Backbone;
use cllm_corpus::{fetch_assets, load_corpus, FetchOptions};

type Inner = cllm_backbone::device::DefaultBackend;

struct Args(Vec<String>);

impl Args {
    fn get<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1)?.parse().ok()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args(std::env::args().collect());
    let preset: String = args.get("--preset").unwrap_or_else(|| "cpu-k64".into());
    let mut model = CllmConfig::preset(&preset)?;
    if let Some(k) = args.get("--k") {
        model.k = k;
    }
    if let Some(d) = args.get("--dropout") {
        model.dropout = d;
    }
    let out: PathBuf = args
        .get("--out")
        .unwrap_or_else(|| PathBuf::from(format!("runs/{preset}")));
    let mut loss = LossConfig::new();
    loss.negatives = args.get("--negatives");
    loss.latent_noise = args.get("--latent-noise").unwrap_or(0.0);
    loss.cluster_weight = args.get("--cluster-weight").unwrap_or(0.0);
    let mut opts = TrainOptions {
        model,
        loss,
        batch_size: args.get("--batch").unwrap_or(16),
        learning_rate: args.get("--lr").unwrap_or(1e-3),
        warmup_steps: args.get("--warmup").unwrap_or(100),
        max_steps: args.get("--steps").unwrap_or(300),
        time_budget_s: args.get("--time-budget"),
        token_dropout: args.get("--token-dropout").unwrap_or(0.0),
        eval_every: args.get("--eval-every").unwrap_or(100),
        eval_max_texts: args.get("--eval-texts").unwrap_or(128),
        checkpoint_every: args.get("--checkpoint-every").unwrap_or(100),
        seed: args.get("--seed").unwrap_or(0),
        init_from: args.get("--init-from"),
        replay_fraction: args.get("--replay-fraction").unwrap_or(0.0),
        ..Default::default()
    };
    opts.warmup_steps = opts.warmup_steps.min(opts.max_steps / 4).max(1);

    // ---- assets, corpus, backbone
    let paths = fetch_assets(&FetchOptions {
        offline: true,
        ..Default::default()
    })?;
    let corpus = load_corpus(&paths)?;
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<Inner>::from_gguf(&paths.gguf, &dev)?;
    let pad_id = backbone
        .tokenizer()
        .token_to_id("<|im_end|>")
        .ok_or("the tokenizer has no <|im_end|> token")?;
    let table: Vec<f32> = backbone
        .model()
        .embed_tokens
        .weight
        .val()
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    let width = backbone.width();

    // ---- token cache (computed once)
    std::fs::create_dir_all(&out)?;
    let cache_path = out.join(format!("tokens-L{}.safetensors", opts.model.max_len));
    let cache = match TokenCache::load(&cache_path) {
        Ok(c) => c,
        Err(_) => {
            let c = TokenCache::build(corpus.documents(), &backbone, opts.model.max_len, pad_id)?;
            c.save(&cache_path)?;
            c
        }
    };
    let family: Option<String> = args.get("--family");
    let (cache, replay) = match &family {
        Some(f) => {
            let (mine, rest): (Vec<_>, Vec<_>) = cache
                .texts
                .iter()
                .cloned()
                .partition(|t| t.family.as_deref() == Some(f.as_str()));
            opts.split.held_out_families.retain(|h| h != f);
            (
                TokenCache::from_texts(cache.backbone.clone(), cache.max_len, pad_id, mine)?,
                Some(TokenCache::from_texts(
                    cache.backbone.clone(),
                    cache.max_len,
                    pad_id,
                    rest,
                )?),
            )
        }
        None => (cache, None),
    };
    eprintln!(
        "corpus: {} texts, {:.1}% truncated to {} tokens",
        cache.len(),
        100.0 * cache.truncated_fraction(),
        cache.max_len
    );
    let data = TrainData::new(cache, replay, &table, width)?;
    eprintln!("corpus vocabulary |V| = {}", data.vocab.len());
    {
        let probe = cllm_autoencoder::CllmModel::<Inner>::new(&opts.model, &dev)?;
        eprintln!(
            "model: {} parameters, {:.0}x overall",
            probe.num_params(),
            opts.model.total_factor()
        );
        for s in opts.model.stage_report() {
            eprintln!("  {s}");
        }
    }

    // ---- train (Ctrl-C writes a checkpoint: handled by the stop flag)
    let stop = Arc::new(AtomicBool::new(false));
    let control = RunControl {
        stop: Some(stop.clone()),
        stop_after_steps: args.get("--stop-after"),
    };
    let _ = &stop.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    let report = train::<DefaultTrainBackend>(&data, &opts, &out, &dev, &control)?;
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "trained {} steps ({:.2} epochs) in {:.0} s this session ({:.0} s in all), stopped: {:?}",
        report.steps, report.epochs, wall, report.wall_s, report.stopped
    );

    // ---- evaluate the best model on every split
    let cllm = Cllm::<Inner>::load(&report.model_dir, &dev)?;
    let split = data.cache.split(&opts.split);
    let max_eval: usize = args.get("--final-eval-texts").unwrap_or(256);
    let ids = |idx: &[usize]| -> Vec<Vec<u32>> {
        idx.iter()
            .take(max_eval)
            .map(|&i| data.cache.texts[i].ids.clone())
            .collect()
    };
    let mut groups = vec![
        ("train".to_string(), ids(&split.train)),
        ("val".to_string(), ids(&split.val)),
    ];
    groups.extend(split.held_out.iter().map(|(k, v)| (k.clone(), ids(v))));
    let mut results = serde_json::Map::new();
    println!(
        "{:<8} {:>6} {:>9} {:>7}",
        "split", "texts", "tokenAcc", "exact"
    );
    for (name, texts) in &groups {
        if texts.is_empty() {
            continue;
        }
        let (r, decoded) = cllm.evaluate_ids(texts)?;
        println!(
            "{:<8} {:>6} {:>9.4} {:>7.4}",
            name, r.texts, r.token_accuracy, r.exact_text_rate
        );
        let example = backbone.detokenize(&decoded[0])?;
        let original = backbone.detokenize(&texts[0])?;
        results.insert(
            name.clone(),
            serde_json::json!({
                "report": r,
                "example_original": original.chars().take(300).collect::<String>(),
                "example_decoded": example.chars().take(300).collect::<String>(),
            }),
        );
    }
    let summary = serde_json::json!({
        "preset": preset,
        "options": opts,
        "steps": report.steps,
        "epochs": report.epochs,
        "wall_s": report.wall_s,
        "params": report.params,
        "backend": device::backend_name(),
        "vocab": data.vocab.len(),
        "splits": report.split_sizes,
        "results": results,
        "model_params": cllm.model().num_params(),
    });
    std::fs::write(out.join("eval.json"), serde_json::to_vec_pretty(&summary)?)?;
    Ok(())
}
