//! One content key for every cache: a SHA-256 digest of the bytes a result was made from.
//!
//! A cached result (a text's sentence vector, a token cache, an experiment step's output)
//! is only valid for the inputs that made it. Matching it by an id or a file name lets an
//! edited text or a retrained model keep a stale result; matching it by this key does not.
//! Every cache in the workspace derives its keys here, so a key means the same thing
//! everywhere.
//!
//! ```
//! use cllm_core::ContentKey;
//!
//! let a = ContentKey::of_text("Margherita: dough, tomato, mozzarella.");
//! let b = ContentKey::of_text("Margherita: dough, tomato, basil.");
//! assert_ne!(a, b);
//! assert_eq!(a.as_str().len(), 64);
//! // Several inputs in one key: each part is length-prefixed, so ("ab", "c") ≠ ("a", "bc").
//! let k = ContentKey::of_parts(&[b"ab".as_slice(), b"c".as_slice()]);
//! assert_ne!(k, ContentKey::of_parts(&[b"a".as_slice(), b"bc".as_slice()]));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest in lowercase hex (64 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentKey(String);

impl ContentKey {
    /// The key of a text (its UTF-8 bytes).
    pub fn of_text(text: &str) -> Self {
        Self::of_bytes(text.as_bytes())
    }

    /// The key of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// The key of several inputs together. Each part is prefixed with its length, so no two
    /// different lists of parts share a key by concatenation.
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        parts
            .iter()
            .fold(KeyBuilder::default(), |b, p| b.bytes(p))
            .finish()
    }

    /// The key of a file's bytes, read in blocks (never whole into memory).
    ///
    /// # Errors
    /// The I/O error of opening or reading the file.
    pub fn of_file(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(Self(hex(&h.finalize())))
    }

    /// A key read back from a file: 64 lowercase hex digits, `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_string()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key built from several inputs of a result, part by part (each length-prefixed):
/// vectors, texts, other keys, option structs as JSON.
///
/// ```
/// use cllm_core::{ContentKey, KeyBuilder};
///
/// let model = ContentKey::of_text("weights");
/// let k = KeyBuilder::default()
///     .key(&model)
///     .floats(&[0.5, -1.0])
///     .text("recipes:12")
///     .finish();
/// assert_ne!(k, KeyBuilder::default().key(&model).floats(&[0.5, -1.5]).text("recipes:12").finish());
/// ```
#[derive(Clone, Default)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// Adds a byte string.
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Adds a text.
    pub fn text(self, text: &str) -> Self {
        self.bytes(text.as_bytes())
    }

    /// Adds another key.
    pub fn key(self, key: &ContentKey) -> Self {
        self.text(key.as_str())
    }

    /// Adds floats by their exact bits (little-endian), so `-0.0` and `0.0` differ and any
    /// change to a vector changes the key.
    pub fn floats(mut self, values: &[f32]) -> Self {
        self.0.update((values.len() as u64).to_le_bytes());
        for v in values {
            self.0.update(v.to_le_bytes());
        }
        self
    }

    /// Adds a value as its JSON text (options, settings).
    pub fn json(self, value: &impl serde::Serialize) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|e| format!("unserializable: {e}"));
        self.text(&text)
    }

    /// The key.
    pub fn finish(self) -> ContentKey {
        ContentKey(hex(&self.0.finalize()))
    }
}

impl fmt::Display for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // sha256("") and sha256("abc"), FIPS 180-2 test vectors.
        assert_eq!(
            ContentKey::of_text("").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            ContentKey::of_text("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_file_keys_like_its_bytes() {
        let dir = std::env::temp_dir().join(format!("cllm-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            ContentKey::of_file(&path).unwrap(),
            ContentKey::of_bytes(&bytes)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let k = ContentKey::of_text("soup");
        assert_eq!(ContentKey::from_hex(k.as_str()), Some(k.clone()));
        assert_eq!(ContentKey::from_hex("recipes:12"), None);
        assert_eq!(ContentKey::from_hex(&k.as_str().to_uppercase()), None);
        assert_eq!(ContentKey::from_hex(&k.as_str()[1..]), None);
    }

    #[test]
    fn parts_are_delimited() {
        let one = ContentKey::of_parts(&[b"ab", b"c"]);
        assert_ne!(one, ContentKey::of_parts(&[b"a", b"bc"]));
        assert_ne!(one, ContentKey::of_parts(&[b"abc"]));
        assert_eq!(one, ContentKey::of_parts(&[b"ab", b"c"]));
    }
}
