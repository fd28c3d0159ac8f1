//! Embeds texts with all-MiniLM-L6-v2 and prints their cosine similarities and the speed:
//! `cargo run --release --example minilm_embed -- MODEL_DIR ["text" …]` (MODEL_DIR holds
//! `config.json`, `tokenizer.json` and `model.safetensors`).
use cllm_backbone::{device, MiniLm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: minilm_embed MODEL_DIR [TEXT …]")?;
    let mut texts: Vec<String> = args.collect();
    if texts.is_empty() {
        texts = [
            "Margherita pizza: dough, tomato, mozzarella and basil.",
            "Pizza with tomato sauce, mozzarella cheese and fresh basil leaves.",
            "Creamy tomato soup with a swirl of cream.",
            "Chocolate chip cookies with brown sugar and butter.",
        ]
        .map(String::from)
        .to_vec();
    }
    let dev = device::default_device()?;
    let t = std::time::Instant::now();
    let model = MiniLm::<device::DefaultBackend>::from_dir(&dir, &dev)?;
    println!("loaded in {:.2?}: {:?}", t.elapsed(), model.config());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let t = std::time::Instant::now();
    let vectors = model.embed_sentences(&refs)?;
    println!("embedded {} texts in {:.2?}", vectors.len(), t.elapsed());
    for (i, a) in vectors.iter().enumerate() {
        for (j, b) in vectors.iter().enumerate().skip(i + 1) {
            let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            println!("cos({i}, {j}) = {cos:.4}");
        }
    }
    // Throughput on repeated copies of the texts (batches of 32).
    let many: Vec<&str> = refs.iter().copied().cycle().take(256).collect();
    let t = std::time::Instant::now();
    model.embed_sentences(&many)?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} texts in {s:.2} s ({:.1} texts/s)",
        many.len(),
        many.len() as f64 / s
    );
    Ok(())
}
