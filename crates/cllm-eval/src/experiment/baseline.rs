//! The baseline spaces: what one gets for free, without a CLLM, to read CLLM1's separation
//! against. The backbone's mean-pooled token embeddings come from CLLM1's vocabulary table
//! ([`super::membership`]); this module adds a sentence encoder's space (all-MiniLM-L6-v2
//! in `cllm experiment`). Every text is encoded once and kept in
//! `sentence-vectors.safetensors` in the experiment's folder, shared by every arm of a
//! sweep and by a rerun.

use std::collections::HashMap;
use std::path::Path;

use cllm_core::{SentenceEncoder, VectorFile};

use super::progress::bar;
use super::split::{Part, Split};
use crate::error::{EvalError, Result};

/// A sentence encoder and the name its space is reported under.
pub struct SentenceBaseline<'a> {
    /// The name in the report (`all-MiniLM-L6-v2 sentence vectors`).
    pub name: String,
    /// The encoder.
    pub encoder: &'a dyn SentenceEncoder,
    /// Whether to show a progress bar while encoding.
    pub progress: bool,
}

/// The split's texts in a sentence encoder's space.
#[derive(Debug, Clone, Default)]
pub struct SentenceSpace {
    /// The encoder's name.
    pub name: String,
    /// Vector width.
    pub dim: usize,
    /// Vectors of the training texts.
    pub train: Vec<Vec<f32>>,
    /// Vectors of the validation texts.
    pub val: Vec<Vec<f32>>,
    /// Vectors of the family's texts.
    pub family: Vec<Vec<f32>>,
}

/// The file the sentence vectors are kept in.
pub const SENTENCE_VECTORS_FILE: &str = "sentence-vectors.safetensors";

/// Texts encoded per call of the encoder.
const BATCH: usize = 32;

/// Every text of `split` in the baseline's space: read from `out_dir`'s
/// [`SENTENCE_VECTORS_FILE`] where it was encoded before by the same encoder, encoded
/// (and added to the file, atomically) otherwise.
pub fn sentence_space(
    b: &SentenceBaseline,
    split: &Split,
    out_dir: &Path,
) -> Result<SentenceSpace> {
    let path = out_dir.join(SENTENCE_VECTORS_FILE);
    let mut known = read_known(&path, b)?;
    let parts = [&split.train, &split.val, &split.family];
    let missing: Vec<(&str, &str)> = parts
        .iter()
        .flat_map(|p| p.doc_ids.iter().zip(&p.texts))
        .filter(|(id, _)| !known.contains_key(id.as_str()))
        .map(|(id, t)| (id.as_str(), t.as_str()))
        .collect();
    if !missing.is_empty() {
        let progress = bar(missing.len(), "sentence vectors (baseline)", b.progress);
        for chunk in missing.chunks(BATCH) {
            let texts: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
            let vectors = b.encoder.encode_sentences(&texts)?;
            if vectors.len() != chunk.len() || vectors.iter().any(|v| v.len() != b.encoder.dim()) {
                return Err(EvalError::InvalidInput(format!(
                    "{}: the encoder returned {} vectors for {} texts, or a vector not {} wide",
                    b.name,
                    vectors.len(),
                    chunk.len(),
                    b.encoder.dim()
                )));
            }
            for ((id, _), v) in chunk.iter().zip(vectors) {
                known.insert((*id).to_string(), v);
            }
            progress.inc(chunk.len() as u64);
        }
        progress.finish_and_clear();
        write_known(&path, b, &known)?;
    }
    let rows = |p: &Part| -> Vec<Vec<f32>> {
        p.doc_ids
            .iter()
            .map(|id| known[id.as_str()].clone())
            .collect()
    };
    Ok(SentenceSpace {
        name: b.name.clone(),
        dim: b.encoder.dim(),
        train: rows(&split.train),
        val: rows(&split.val),
        family: rows(&split.family),
    })
}

/// The vectors kept before by the same encoder (by name and width); none when the file is
/// missing or was written by another encoder. A file that cannot be read is an error (it
/// would otherwise be silently overwritten).
fn read_known(path: &Path, b: &SentenceBaseline) -> Result<HashMap<String, Vec<f32>>> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let file = VectorFile::read(path).map_err(|e| {
        EvalError::InvalidInput(format!(
            "{}: {e} (delete it to encode again)",
            path.display()
        ))
    })?;
    if file.metadata.get("encoder") != Some(&b.name) || file.dim != b.encoder.dim() {
        tracing::info!(path = %path.display(), "sentence vectors of another encoder; encoding again");
        return Ok(HashMap::new());
    }
    Ok(file
        .ids
        .iter()
        .cloned()
        .zip(file.rows().map(<[f32]>::to_vec))
        .collect())
}

fn write_known(path: &Path, b: &SentenceBaseline, known: &HashMap<String, Vec<f32>>) -> Result<()> {
    let mut ids: Vec<&String> = known.keys().collect();
    ids.sort();
    let data = ids
        .iter()
        .flat_map(|id| known[*id].iter().copied())
        .collect();
    let file = VectorFile::new(ids.into_iter().cloned().collect(), b.encoder.dim(), data)
        .map_err(|e| EvalError::InvalidInput(e.to_string()))?
        .with_metadata("encoder", b.name.clone());
    file.write(path)
        .map_err(|e| EvalError::InvalidInput(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use cllm_core::CoreError;

    use super::*;

    /// Text length and vowel count, counting the texts it is asked to encode.
    struct Counting {
        encoded: Cell<usize>,
        dim: usize,
    }

    impl SentenceEncoder for Counting {
        fn dim(&self) -> usize {
            self.dim
        }
        fn encode_sentences(
            &self,
            texts: &[&str],
        ) -> std::result::Result<Vec<Vec<f32>>, CoreError> {
            self.encoded.set(self.encoded.get() + texts.len());
            Ok(texts
                .iter()
                .map(|t| {
                    let vowels = t.chars().filter(|c| "aeiou".contains(*c)).count();
                    let mut v = vec![t.len() as f32, vowels as f32];
                    v.resize(self.dim, 0.0);
                    v
                })
                .collect())
        }
    }

    fn part(ids: &[&str]) -> Part {
        Part {
            ids: ids.iter().map(|_| vec![1]).collect(),
            doc_ids: ids.iter().map(|s| s.to_string()).collect(),
            titles: ids.iter().map(|s| s.to_string()).collect(),
            texts: ids.iter().map(|s| format!("text of {s}")).collect(),
        }
    }

    fn split() -> Split {
        Split {
            train: part(&["a", "bb", "ccc"]),
            val: part(&["dddd"]),
            family: part(&["eeeee", "f"]),
            family_total: 2,
        }
    }

    #[test]
    fn texts_are_encoded_once_and_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting {
            encoded: Cell::new(0),
            dim: 3,
        };
        let b = SentenceBaseline {
            name: "counting".into(),
            encoder: &enc,
            progress: false,
        };
        let s = sentence_space(&b, &split(), dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 6);
        assert_eq!(s.train.len(), 3);
        assert_eq!(s.family[0], vec!["text of eeeee".len() as f32, 7.0, 0.0]);
        assert_eq!(s.val[0][0], "text of dddd".len() as f32);
        // a rerun reads the file: nothing encoded again, the same vectors
        let again = sentence_space(&b, &split(), dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 6);
        assert_eq!(again.train, s.train);
        // a new text is the only one encoded
        let mut grown = split();
        grown.val = part(&["dddd", "gg"]);
        sentence_space(&b, &grown, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 7);
    }

    #[test]
    fn another_encoder_encodes_again_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting {
            encoded: Cell::new(0),
            dim: 2,
        };
        let b = SentenceBaseline {
            name: "first".into(),
            encoder: &enc,
            progress: false,
        };
        sentence_space(&b, &split(), dir.path()).unwrap();
        let b2 = SentenceBaseline {
            name: "second".into(),
            encoder: &enc,
            progress: false,
        };
        sentence_space(&b2, &split(), dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 12);
        std::fs::write(dir.path().join(SENTENCE_VECTORS_FILE), b"not a vector file").unwrap();
        let err = sentence_space(&b2, &split(), dir.path()).unwrap_err();
        assert!(err.to_string().contains(SENTENCE_VECTORS_FILE), "{err}");
    }

    #[test]
    fn an_encoder_returning_the_wrong_width_is_an_error() {
        struct Liar;
        impl SentenceEncoder for Liar {
            fn dim(&self) -> usize {
                4
            }
            fn encode_sentences(
                &self,
                texts: &[&str],
            ) -> std::result::Result<Vec<Vec<f32>>, CoreError> {
                Ok(texts.iter().map(|_| vec![0.0; 3]).collect())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let b = SentenceBaseline {
            name: "liar".into(),
            encoder: &Liar,
            progress: false,
        };
        let err = sentence_space(&b, &split(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("4 wide"), "{err}");
    }
}
