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
//!
//! The special tokens the file names (`tokenizer.ggml.bos_token_id`, `eos_token_id`,
//! `padding_token_id`, `unknown_token_id`, …, see [`SpecialTokens`]) must lie inside the
//! vocabulary: an id outside it is a [`BackboneError::SpecialTokenOutOfRange`] at load time.
//!
//! `token_type` is optional in GGUF (llama.cpp reads every token as normal without it), so
//! a file without it is accepted, but not silently: the tokens its special-token ids name
//! are still matched whole, and the other tokens shaped like control tokens (`<|…|>`,
//! `<…>`), which would now be split into bytes, are counted in a logged warning
//! ([`TokenizerSpec::unmarked_control_like_tokens`]). Refusing such files would reject
//! models llama.cpp runs; accepting them quietly would change token ids without a trace.

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

/// The special-token ids a GGUF file names in its `tokenizer.ggml.*_token_id` keys; each
/// is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecialTokens {
    /// `tokenizer.ggml.bos_token_id`: beginning of sequence.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`: end of sequence.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unknown: Option<u32>,
    /// `tokenizer.ggml.seperator_token_id` (llama.cpp's spelling).
    pub separator: Option<u32>,
    /// `tokenizer.ggml.mask_token_id`.
    pub mask: Option<u32>,
    /// `tokenizer.ggml.eot_token_id`: end of turn.
    pub end_of_turn: Option<u32>,
}

impl SpecialTokens {
    /// The GGUF metadata key of each field, in field order.
    pub const KEYS: [&'static str; 7] = [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.mask_token_id",
        "tokenizer.ggml.eot_token_id",
    ];

    fn slots(&mut self) -> [&mut Option<u32>; 7] {
        [
            &mut self.bos,
            &mut self.eos,
            &mut self.pad,
            &mut self.unknown,
            &mut self.separator,
            &mut self.mask,
            &mut self.end_of_turn,
        ]
    }

    /// Reads the ids with `read(key)` (`Ok(None)` for an absent key).
    pub fn read<E>(mut read: impl FnMut(&str) -> Result<Option<u32>, E>) -> Result<Self, E> {
        let mut out = Self::default();
        for (slot, key) in out.slots().into_iter().zip(Self::KEYS) {
            *slot = read(key)?;
        }
        Ok(out)
    }

    /// `(metadata key, id)` of every id the file names.
    pub fn named(&self) -> Vec<(&'static str, u32)> {
        let mut copy = *self;
        copy.slots()
            .into_iter()
            .zip(Self::KEYS)
            .filter_map(|(slot, key)| slot.map(|id| (key, id)))
            .collect()
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
    /// The special-token ids the file names.
    pub special: SpecialTokens,
}

/// Whether `token` is shaped like a control token (`<|im_start|>`, `<s>`, `</s>`).
fn looks_like_control(token: &str) -> bool {
    token.len() > 2
        && token.starts_with('<')
        && token.ends_with('>')
        && !token.contains(char::is_whitespace)
}

impl TokenizerSpec {
    /// Ids of the added tokens (matched whole) and whether each is special (a control
    /// token). Without `token_type`, the ids the special-token keys name.
    fn added_tokens(&self) -> Vec<(usize, bool)> {
        if self.token_types.is_empty() {
            let mut ids: Vec<usize> = self
                .special
                .named()
                .into_iter()
                .map(|(_, id)| id as usize)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            return ids.into_iter().map(|id| (id, true)).collect();
        }
        self.token_types
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(id, &t)| (id, t == TOKEN_TYPE_CONTROL))
            .collect()
    }

    /// Tokens shaped like control tokens (`<|…|>`, `<…>`) that are not added tokens:
    /// with no `token_type` array, those that no special-token key names (they are then
    /// tokenized as ordinary text). Always 0 when the file has `token_type`.
    pub fn unmarked_control_like_tokens(&self) -> usize {
        if !self.token_types.is_empty() {
            return 0;
        }
        let added: std::collections::BTreeSet<usize> =
            self.added_tokens().into_iter().map(|(id, _)| id).collect();
        self.tokens
            .iter()
            .enumerate()
            .filter(|(id, t)| !added.contains(id) && looks_like_control(t))
            .count()
    }

    /// Builds the `tokenizers` pipeline. Errors on an unsupported model type, a
    /// `token_type` array of the wrong length, duplicate tokens, malformed merges or a
    /// special-token id outside the vocabulary.
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
        for (key, id) in self.special.named() {
            if id as usize >= self.tokens.len() {
                return Err(BackboneError::SpecialTokenOutOfRange {
                    key: key.to_string(),
                    id,
                    vocab: self.tokens.len(),
                });
            }
        }
        if self.token_types.is_empty() {
            tracing::warn!(
                special_ids_kept_whole = self.added_tokens().len(),
                control_like_tokens_split_as_text = self.unmarked_control_like_tokens(),
                "the GGUF file has no tokenizer.ggml.token_type: every token is read as normal \
                 text except the ids its special-token keys name"
            );
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
            .added_tokens()
            .into_iter()
            .map(|(id, special)| {
                json!({
                    "id": id, "content": self.tokens[id], "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": special,
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
            special: SpecialTokens {
                eos: Some(9),
                ..Default::default()
            },
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

    #[test]
    fn special_token_ids_outside_the_vocabulary_are_refused() {
        for field in 0..SpecialTokens::KEYS.len() {
            let mut s = tiny();
            s.special = SpecialTokens::default();
            s.special.slots()[field].replace(10); // one past the last id
            match s.build() {
                Err(BackboneError::SpecialTokenOutOfRange {
                    key,
                    id: 10,
                    vocab: 10,
                }) => {
                    assert_eq!(key, SpecialTokens::KEYS[field])
                }
                other => panic!("{}: {other:?}", SpecialTokens::KEYS[field]),
            }
            s.special.slots()[field].replace(9);
            assert!(s.build().is_ok());
        }
    }

    #[test]
    fn without_token_types_the_named_special_tokens_stay_whole() {
        let mut s = tiny();
        s.token_types.clear();
        s.tokens.push("<s>".into());
        assert_eq!(
            s.unmarked_control_like_tokens(),
            1,
            "<s> is named by no key"
        );
        let t = s.build().unwrap();
        let ids = t.encode("ab<|end|>", false).unwrap().get_ids().to_vec();
        assert_eq!(ids, vec![6, 9], "the eos token is matched whole");
        // with no key naming it, the end token would be split into bytes: counted
        s.special = SpecialTokens::default();
        assert_eq!(s.unmarked_control_like_tokens(), 2);
        // with token types, nothing is unmarked
        assert_eq!(tiny().unmarked_control_like_tokens(), 0);
    }
}
