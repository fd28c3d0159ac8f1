//! The integration suite, as one test binary (one monomorphisation of the training loop
//! instead of one per file keeps the build short).

mod autoregressive;
mod codec;
mod common;
mod learning;
mod lm_guidance;
mod readings;
mod resume;
mod semantic;
mod smollm2_rows;
mod token_cache;
