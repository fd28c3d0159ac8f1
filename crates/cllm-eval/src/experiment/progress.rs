//! Progress bars for the experiment's long steps (encoding, the void search, decoding),
//! hidden unless asked for and stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` items labelled `message`; hidden unless `enabled` and stderr is a
/// terminal (a log file gets no bar).
pub(crate) fn bar(len: usize, message: &str, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

/// Decodes `vectors` with `cllm` in chunks of [`DECODE_CHUNK`], advancing a bar labelled
/// `message` (the same decodes as one call: each text is decoded on its own), guided by
/// `lm` when `options.lm_weight` > 0.
pub(crate) fn decode_with_bar<B: burn::tensor::backend::Backend>(
    cllm: &cllm_autoencoder::Cllm<B>,
    vectors: &[cllm_core::TextVector],
    options: &cllm_autoencoder::DecodeOptions,
    lm: Option<&dyn cllm_core::LanguageModel>,
    message: &str,
    enabled: bool,
) -> crate::error::Result<Vec<cllm_autoencoder::GeneratedText>> {
    let bar = bar(vectors.len(), message, enabled);
    let mut out = Vec::with_capacity(vectors.len());
    for chunk in vectors.chunks(DECODE_CHUNK) {
        out.extend(cllm.generate_guided(chunk, options, lm)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Texts decoded per call while a bar is shown.
const DECODE_CHUNK: usize = 16;
