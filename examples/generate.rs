//! Decode samples of a trained model's void zones into texts, scored and ranked: the
//! library call behind `cllm generate --from-voids`.
//!
//! ```text
//! cargo run --release --example generate -- [EXPERIMENT_DIR] [N]
//! # default: runs/experiment-pizza (its cllm1/model and voids.json, from `cllm experiment`)
//! ```

use cllm::autoencoder::{Cllm, DecodeOptions, TokenCache};
use cllm::backbone::{device, LlamaBackbone};
use cllm::corpus::{family_of_text, fetch_assets, load_corpus, FetchOptions};
use cllm::eval::{generate, DataPoints, GenerateOptions, ReferenceCorpus, VectorSource};
use cllm::void::{PointSet, VoidReport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir =
        std::path::PathBuf::from(args.first().map_or("runs/experiment-pizza", String::as_str));
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(8);
    let (model, voids) = (dir.join("cllm1/model"), dir.join("voids.json"));
    if !model.join("config.json").is_file() || !voids.is_file() {
        eprintln!(
            "no experiment at {}: run `cllm experiment` first",
            dir.display()
        );
        return Ok(());
    }

    let paths = fetch_assets(&FetchOptions::default())?;
    let corpus = load_corpus(&paths)?;
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let cllm = Cllm::<device::DefaultBackend>::load(&model, &dev)?;
    let report: VoidReport = serde_json::from_str(&std::fs::read_to_string(&voids)?)?;

    // the data the samples are drawn around: a thousand training texts, encoded
    let cache = TokenCache::load(&dir.join("cllm1/tokens-L256.safetensors"))?;
    let texts: Vec<_> = cache
        .texts
        .iter()
        .filter(|t| t.family.is_none())
        .take(1000)
        .collect();
    let ids: Vec<String> = texts.iter().map(|t| t.id.clone()).collect();
    let vectors = cllm.encode_ids(&texts.iter().map(|t| t.ids.clone()).collect::<Vec<_>>())?;
    let points = PointSet::from_rows(
        &vectors
            .iter()
            .map(|v| v.as_slice().to_vec())
            .collect::<Vec<_>>(),
    )?;
    let reference = ReferenceCorpus::new(
        corpus
            .documents()
            .iter()
            .map(|d| (d.id.clone(), d.text.clone()))
            .collect(),
    )?;

    // a space without zones (a model trained for seconds, say) still decodes: a Gaussian
    // fitted to the data stands in, and says so
    let source = if report.zones.is_empty() {
        println!(
            "no void zones in {}: sampling a Gaussian fitted to the data",
            voids.display()
        );
        VectorSource::Gaussian
    } else {
        VectorSource::Voids { report }
    };
    let opts = GenerateOptions {
        source,
        n,
        seed: 0,
        // SmolLM2-guided, as `cllm generate` decodes by default (λ = 0: the plain decoder)
        decode: DecodeOptions {
            lm_weight: 0.5,
            ..DecodeOptions::default()
        },
        real_texts: texts.iter().take(8).map(|t| t.ids.clone()).collect(),
    };
    let family_of = |t: &str| family_of_text(t).map(|f| f.as_str().to_string());
    let ranked = generate(
        &cllm,
        &backbone,
        &backbone,
        DataPoints {
            points: &points,
            ids: &ids,
        },
        &reference,
        &family_of,
        &opts,
        &indicatif::ProgressBar::hidden(),
    )?;
    println!("{}", ranked.markdown(n));
    Ok(())
}
