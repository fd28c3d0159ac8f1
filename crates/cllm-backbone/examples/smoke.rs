//! Loads a GGUF llama model and embeds one text: `cargo run --release --example smoke -- MODEL.gguf "text"`.
use cllm_backbone::{device, LlamaBackbone};
use cllm_core::{Backbone, DecodeStrategy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: smoke MODEL.gguf [TEXT]")?;
    let text = args
        .next()
        .unwrap_or_else(|| "Margherita pizza: dough, tomato, mozzarella and basil.".into());
    let dev = device::default_device()?;
    let t = std::time::Instant::now();
    let model = LlamaBackbone::<device::DefaultBackend>::from_gguf(&path, &dev)?;
    println!(
        "loaded {} in {:.2?}: {:?}",
        model.name(),
        t.elapsed(),
        model.config()
    );
    let ids = model.tokenize(&text)?;
    println!("ids: {ids:?}");
    for layer in [0, 1, model.num_layers()] {
        let t = std::time::Instant::now();
        let m = model.embed(&text, layer)?;
        println!(
            "layer {layer}: {:?} row0[..6] {:?} ({:.2?})",
            m.shape(),
            &m.row(0)[..6],
            t.elapsed()
        );
    }
    let m = model.embed(&text, 0)?;
    println!(
        "nearest: {:?}",
        model.decode(&m, DecodeStrategy::NearestEmbedding)?
    );
    println!(
        "head:    {:?}",
        model.decode(&m, DecodeStrategy::HeadArgmax { final_norm: false })?
    );
    Ok(())
}
