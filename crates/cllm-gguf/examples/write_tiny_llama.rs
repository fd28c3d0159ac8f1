//! Writes a tiny random llama-architecture GGUF (the layout llama.cpp expects), as a
//! template for tests that need a model file.
//!
//! `cargo run --release -p cllm-gguf --example write_tiny_llama -- OUT.gguf`

use cllm_gguf::{GgmlType, GgufWriter, MetadataArray};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: write_tiny_llama OUT.gguf")?;
    let (n_vocab, d, n_ff, n_layer, n_head, n_head_kv) =
        (64usize, 64usize, 128usize, 2u32, 4u32, 2u32);
    let head_dim = d / n_head as usize;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    };

    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama")?
        .add_metadata("general.name", "tiny-random-llama")?
        .add_metadata("llama.block_count", n_layer)?
        .add_metadata("llama.context_length", 256u32)?
        .add_metadata("llama.embedding_length", d as u32)?
        .add_metadata("llama.feed_forward_length", n_ff as u32)?
        .add_metadata("llama.attention.head_count", n_head)?
        .add_metadata("llama.attention.head_count_kv", n_head_kv)?
        .add_metadata("llama.rope.freq_base", 10000.0f32)?
        .add_metadata("llama.rope.dimension_count", head_dim as u32)?
        .add_metadata("llama.attention.layer_norm_rms_epsilon", 1e-5f32)?
        .add_metadata("tokenizer.ggml.model", "gpt2")?
        .add_metadata(
            "tokenizer.ggml.tokens",
            MetadataArray::strings((0..n_vocab).map(|i| format!("t{i}"))),
        )?
        .add_metadata(
            "tokenizer.ggml.token_type",
            MetadataArray::i32s((0..n_vocab).map(|_| 1)),
        )?
        .add_metadata("tokenizer.ggml.merges", MetadataArray::strings(["t 1"]))?
        .add_metadata("tokenizer.ggml.bos_token_id", 1u32)?
        .add_metadata("tokenizer.ggml.eos_token_id", 2u32)?;

    // Shapes are row-major (PyTorch order): [out_features, in_features].
    w.add_tensor_f32(
        "token_embd.weight",
        &[n_vocab, d],
        &rand(n_vocab * d),
        GgmlType::Q8_0,
    )?;
    w.add_tensor_f32("output_norm.weight", &[d], &vec![1.0; d], GgmlType::F32)?;
    let kv = head_dim * n_head_kv as usize;
    for l in 0..n_layer {
        let p = |s: &str| format!("blk.{l}.{s}");
        w.add_tensor_f32(&p("attn_norm.weight"), &[d], &vec![1.0; d], GgmlType::F32)?;
        w.add_tensor_f32(&p("attn_q.weight"), &[d, d], &rand(d * d), GgmlType::Q4_1)?;
        w.add_tensor_f32(&p("attn_k.weight"), &[kv, d], &rand(kv * d), GgmlType::Q4_1)?;
        w.add_tensor_f32(&p("attn_v.weight"), &[kv, d], &rand(kv * d), GgmlType::Q4_0)?;
        w.add_tensor_f32(
            &p("attn_output.weight"),
            &[d, d],
            &rand(d * d),
            GgmlType::F16,
        )?;
        w.add_tensor_f32(&p("ffn_norm.weight"), &[d], &vec![1.0; d], GgmlType::F32)?;
        w.add_tensor_f32(
            &p("ffn_gate.weight"),
            &[n_ff, d],
            &rand(n_ff * d),
            GgmlType::Q8_0,
        )?;
        w.add_tensor_f32(
            &p("ffn_up.weight"),
            &[n_ff, d],
            &rand(n_ff * d),
            GgmlType::BF16,
        )?;
        w.add_tensor_f32(
            &p("ffn_down.weight"),
            &[d, n_ff],
            &rand(d * n_ff),
            GgmlType::Q4_1,
        )?;
    }
    w.write_to_path(&path)?;
    println!("wrote {path}");
    Ok(())
}
