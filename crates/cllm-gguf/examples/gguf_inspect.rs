//! Prints a GGUF file's metadata and tensors, then times dequantising every tensor.
//!
//! `cargo run --release -p cllm-gguf --example gguf_inspect -- FILE.gguf`

use std::time::Instant;

use cllm_gguf::{GgufFile, MetadataValue};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: gguf_inspect FILE.gguf")?;
    let t0 = Instant::now();
    let f = GgufFile::open(&path)?;
    println!(
        "opened {path} in {:?}: GGUF v{}, {} metadata keys, {} tensors, alignment {}",
        t0.elapsed(),
        f.version(),
        f.metadata().len(),
        f.tensors().len(),
        f.alignment()
    );
    for (k, v) in f.metadata() {
        match v {
            MetadataValue::Array(a) => {
                println!("  {k}: array<{}>[{}]", a.elem_type(), a.len())
            }
            MetadataValue::String(s) if s.len() > 60 => {
                println!("  {k}: string ({} bytes)", s.len())
            }
            v => println!("  {k}: {v:?}"),
        }
    }
    for t in f.tensors().iter().take(12) {
        println!(
            "  {:32} {:5} dims {:?} shape {:?}",
            t.name,
            t.ggml_type.name(),
            t.dims,
            t.shape()
        );
    }
    let t1 = Instant::now();
    let mut n = 0usize;
    for t in f.tensors() {
        n += f.tensor_f32(&t.name)?.len();
    }
    let dt = t1.elapsed();
    println!(
        "dequantised {n} weights in {dt:?} ({:.0} M weights/s)",
        n as f64 / dt.as_secs_f64() / 1e6
    );
    Ok(())
}
