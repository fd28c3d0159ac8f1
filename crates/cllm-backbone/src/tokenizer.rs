//! Byte-level BPE tokenizers rebuilt from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! llama.cpp stores the vocabulary (`tokens`), their kinds (`token_type`), the BPE
//! `merges` and a pre-tokenizer name (`pre`) in the model file. This module turns them
//! into a Hugging Face `tokenizers` pipeline, so that no `tokenizer.json` (and no model
//! hub) is needed:
//!
//! - model: BPE over byte-level symbols, no unknown token, no byte fallback;
//! - pre-tokenizer: chosen by `tokenizer.ggml.pre` (see [`PreTokenizerKind`]);
//! - decoder: byte-level;
//! - control tokens (`token_type == 3`, e.g. `<|im_start|>`) and user-defined tokens
//!   (`token_type == 4`) are added tokens, matched whole in the input.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokenizers::Tokenizer;

use crate::BackboneError;

/// `token_type` of a control token (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// `token_type` of a user-defined token.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The pre-tokenizer families llama.cpp names in `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// GPT-2's regex (`default`, `gpt2`, and unknown names, with a warning).
    Gpt2,
    /// GPT-2's regex after splitting every digit on its own (`smollm`, `starcoder`,
    /// `refact`): SmolLM2's original `tokenizer.json` is `Digits(individual) + ByteLevel`.
    Gpt2IndividualDigits,
    /// Llama 3's regex (`llama3`, `llama-bpe`, `smaug-bpe`): digits in runs of up to three.
    Llama3,
}

impl PreTokenizerKind {
    /// Maps llama.cpp's `tokenizer.ggml.pre` value to a pre-tokenizer.
    pub fn from_gguf_name(name: Option<&str>) -> Self {
        match name.unwrap_or("default") {
            "smollm" | "starcoder" | "refact" | "codeshell" => Self::Gpt2IndividualDigits,
            "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" => Self::Llama3,
            "default" | "gpt2" | "gpt-2" => Self::Gpt2,
            other => {
                tracing::warn!(
                    pre = other,
                    "unknown tokenizer.ggml.pre, using GPT-2's pre-tokenizer"
                );
                Self::Gpt2
            }
        }
    }

    fn to_json(self) -> Value {
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
        match self {
            Self::Gpt2 => byte_level(true),
            Self::Gpt2IndividualDigits => json!({
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    byte_level(true),
                ]
            }),
            Self::Llama3 => json!({
                "type": "Sequence",
                "pretokenizers": [
                    {
                        "type": "Split",
                        "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                        "behavior": "Isolated",
                        "invert": false
                    },
                    byte_level(false),
                ]
            }),
        }
    }
}

/// What a GGUF file says about its tokenizer, before it is built.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerSpec {
    /// `tokenizer.ggml.model`; only `gpt2` (byte-level BPE) is supported.
    pub model: String,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, indexed by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`, same length as `tokens` (empty: all normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`, each `"left right"`.
    pub merges: Vec<String>,
}

impl TokenizerSpec {
    /// Builds the `tokenizers` pipeline. Errors on an unsupported model type, a
    /// `token_type` array of the wrong length, duplicate tokens or malformed merges.
    pub fn build(&self) -> Result<Tokenizer, BackboneError> {
        let bad = |msg: String| BackboneError::Tokenizer(msg);
        if self.model != "gpt2" {
            return Err(bad(format!(
                "tokenizer.ggml.model = {:?}; only byte-level BPE (\"gpt2\") is supported",
                self.model
            )));
        }
        if self.tokens.is_empty() {
            return Err(bad("empty vocabulary".into()));
        }
        if !self.token_types.is_empty() && self.token_types.len() != self.tokens.len() {
            return Err(bad(format!(
                "{} token types for {} tokens",
                self.token_types.len(),
                self.tokens.len()
            )));
        }
        let mut vocab = serde_json::Map::with_capacity(self.tokens.len());
        let mut seen = BTreeMap::new();
        for (id, tok) in self.tokens.iter().enumerate() {
            if let Some(prev) = seen.insert(tok.as_str(), id) {
                return Err(bad(format!(
                    "token {tok:?} appears twice (ids {prev} and {id})"
                )));
            }
            vocab.insert(tok.clone(), json!(id));
        }
        let mut merges = Vec::with_capacity(self.merges.len());
        for (i, m) in self.merges.iter().enumerate() {
            let (l, r) = m
                .split_once(' ')
                .ok_or_else(|| bad(format!("merge {i} ({m:?}) is not \"left right\"")))?;
            if !vocab.contains_key(l) || !vocab.contains_key(r) {
                return Err(bad(format!(
                    "merge {i} ({m:?}) uses a token outside the vocabulary"
                )));
            }
            merges.push(json!([l, r]));
        }
        let added: Vec<Value> = self
            .token_types
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(id, &t)| {
                json!({
                    "id": id, "content": self.tokens[id], "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": t == TOKEN_TYPE_CONTROL,
                })
            })
            .collect();
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": PreTokenizerKind::from_gguf_name(self.pre.as_deref()).to_json(),
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                "ignore_merges": false, "vocab": vocab, "merges": merges,
            }
        });
        let bytes = serde_json::to_vec(&spec).map_err(|e| bad(e.to_string()))?;
        Tokenizer::from_bytes(bytes).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> TokenizerSpec {
        // Byte-level symbols: 'Ġ' is the space byte.
        let tokens = ["a", "b", "c", "Ġ", "1", "2", "ab", "Ġa", "Ġab", "<|end|>"];
        TokenizerSpec {
            model: "gpt2".into(),
            pre: Some("smollm".into()),
            tokens: tokens.iter().map(|s| s.to_string()).collect(),
            token_types: vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 3],
            merges: vec!["Ġ a".into(), "Ġa b".into(), "a b".into()],
        }
    }

    #[test]
    fn encodes_merges_digits_and_specials() {
        let t = tiny().build().unwrap();
        let ids = t
            .encode("ab ab12<|end|>", false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids, vec![6, 8, 4, 5, 9]);
        let text = t.decode(&ids, false).unwrap();
        assert_eq!(text, "ab ab12<|end|>");
    }

    #[test]
    fn rejects_malformed_specs() {
        let mut s = tiny();
        s.model = "llama".into();
        assert!(matches!(s.build(), Err(BackboneError::Tokenizer(_))));
        let mut s = tiny();
        s.merges.push("nospace".into());
        assert!(s.build().is_err());
        let mut s = tiny();
        s.merges.push("x y".into());
        assert!(s.build().is_err());
        let mut s = tiny();
        s.tokens.push("a".into());
        s.token_types.push(1);
        assert!(s.build().is_err());
        let mut s = tiny();
        s.token_types.pop();
        assert!(s.build().is_err());
    }
}
