//! The learning test on real SmolLM2 embedding rows (d = 576), when the assets are in the
//! local cache; skipped (with a note) otherwise.

use crate::common;

use cllm_autoencoder::{
    train, CachedText, CllmConfig, CpuTrainBackend, RunControl, StageConfig, TokenCache, TrainData,
};
use cllm_backbone::LlamaBackbone;
use cllm_core::Backbone;

const TEXTS: [&str; 24] = [
    "Tomato soup: simmer tomatoes with onion.",
    "Pizza dough needs flour, water and yeast.",
    "Whisk two eggs with milk and sugar.",
    "Bake the bread at 220 degrees for 30 minutes.",
    "Chop the garlic finely and fry in oil.",
    "Boil pasta in salted water until tender.",
    "Mix butter and sugar until fluffy.",
    "Season the chicken with salt and pepper.",
    "Add the rice and stir for one minute.",
    "Serve the salad with lemon dressing.",
    "Melt chocolate over a bowl of hot water.",
    "Roast the potatoes with rosemary.",
    "Slice the carrots and steam them.",
    "Pour the batter into a greased tin.",
    "Grill the fish for four minutes per side.",
    "Stir in the cream and heat gently.",
    "Knead the dough for ten minutes.",
    "Fold the flour into the egg whites.",
    "Cover and leave to rest overnight.",
    "Sprinkle with parmesan before serving.",
    "Cut the apples into thin wedges.",
    "Blend the soup until smooth.",
    "Toast the almonds in a dry pan.",
    "Drain the beans and rinse them well.",
];

#[test]
fn overfits_short_texts_on_real_smollm2_rows() {
    let _guard = common::serial();
    let Ok(cache_dir) = cllm_corpus::default_cache_dir() else {
        return common::skip(
            "overfits_short_texts_on_real_smollm2_rows",
            "no cache directory",
        );
    };
    let gguf = cllm_corpus::AssetPaths::in_cache(&cache_dir).gguf;
    if !gguf.exists() {
        return common::skip(
            "overfits_short_texts_on_real_smollm2_rows",
            &format!("{} not found (run `cllm assets fetch`)", gguf.display()),
        );
    }
    let device = Default::default();
    let backbone = LlamaBackbone::<burn::backend::NdArray>::from_gguf(&gguf, &device).unwrap();
    let pad = backbone.tokenizer().token_to_id("<|im_end|>").unwrap();
    let texts: Vec<CachedText> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ids = backbone.tokenize(t).unwrap();
            CachedText {
                id: format!("s{i}"),
                family: None,
                full_len: ids.len(),
                ids,
            }
        })
        .collect();
    let cache = TokenCache::from_texts(backbone.name(), 16, pad, texts).unwrap();
    let table = backbone
        .model()
        .embed_tokens
        .weight
        .val()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    let data = TrainData::new(cache, None, &table, backbone.width()).unwrap();
    let mut opts = common::quiet_options();
    opts.model = CllmConfig::new(576, 16, 64, 32, vec![StageConfig::new(1, 4, 64)]).with_heads(4);
    opts.split.val_fraction = 0.0;
    opts.batch_size = 12;
    opts.max_steps = 300;
    opts.warmup_steps = 20;
    opts.learning_rate = 3e-3;
    opts.eval_every = 100;
    let dir = tempfile::tempdir().unwrap();
    let report = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap();
    eprintln!("evals: {:?}", report.state.evals);
    let best = report.best_val_token_accuracy.unwrap();
    assert!(best >= 0.95, "token accuracy {best} on real SmolLM2 rows");
}
