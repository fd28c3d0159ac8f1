//! Text → vector → text with a trained CLLM: the quickest look at what a model keeps.
//!
//! ```text
//! cargo run --release --example quickstart -- [MODEL_DIR] ["a text" …]
//! # default model: runs/experiment-pizza/cllm1/model (from `cllm experiment`)
//! ```

use cllm::autoencoder::{Cllm, DecodeOptions};
use cllm::backbone::{device, LlamaBackbone};
use cllm::core::Backbone;
use cllm::corpus::{fetch_assets, FetchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .cloned()
        .unwrap_or_else(|| "runs/experiment-pizza/cllm1/model".into());
    if !std::path::Path::new(&model).join("config.json").is_file() {
        eprintln!("no trained model at {model}: run `cllm experiment` (or `cllm train`) first");
        return Ok(());
    }
    let mut texts: Vec<String> = args.iter().skip(1).cloned().collect();
    if texts.is_empty() {
        texts.push("Tomato Soup\nIngredients:\n- 4 tomatoes\n- 1 onion\n- 500 ml stock\nSteps:\n1. Simmer everything for 20 minutes.\n2. Blend and season.".into());
    }

    let paths = fetch_assets(&FetchOptions::default())?;
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;
    let cllm = Cllm::<device::DefaultBackend>::load(model.as_ref(), &dev)?;

    for text in &texts {
        // text → token ids (the backbone's tokenizer) → CLLM vector → decoded ids → text
        let ids = backbone.tokenize(text)?;
        let vector = cllm.encode_ids(&[ids])?.remove(0);
        let decoded = cllm.generate(std::slice::from_ref(&vector), &DecodeOptions::default())?;
        let back = backbone.detokenize(&decoded[0].ids)?;
        println!("text:    {text:?}");
        println!(
            "vector:  {} floats, first {:?}",
            vector.dim(),
            &vector.as_slice()[..4.min(vector.dim())]
        );
        println!("decoded: {back:?}\n");
    }
    Ok(())
}
