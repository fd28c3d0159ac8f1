//! The baseline spaces: what one gets for free, without a CLLM, to read CLLM1's separation
//! against. The backbone's mean-pooled token embeddings come from CLLM1's vocabulary table
//! ([`super::membership`]); this module adds sentence encoders' spaces (all-MiniLM-L6-v2 by
//! default in `cllm experiment`, a middle layer of the backbone mean-pooled on request).
//!
//! Only the texts the scoring reads are encoded: the reference sample of training texts
//! (`ExperimentOptions::reference_texts`), the validation texts and the family's. Each
//! encoder's vectors are kept in `sentences-<encoder>.safetensors` in the experiment's folder,
//! keyed by the [`ContentKey`] of the text, so a sweep's arms and a rerun share them and an
//! edited text is encoded again instead of reusing its old vector.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cllm_core::{ContentKey, SentenceEncoder, VectorFile};

use super::progress::bar;
use super::split::Split;
use crate::error::{EvalError, Result};

/// A sentence encoder and the name its space is reported under.
pub struct SentenceBaseline<'a> {
    /// The name in the report (`all-MiniLM-L6-v2 sentence vectors`); it also names the
    /// cache file.
    pub name: String,
    /// The encoder.
    pub encoder: &'a dyn SentenceEncoder,
    /// Whether to show a progress bar while encoding.
    pub progress: bool,
}

/// The scored texts in a sentence encoder's space.
#[derive(Debug, Clone, Default)]
pub struct SentenceSpace {
    /// The encoder's name.
    pub name: String,
    /// Vector width.
    pub dim: usize,
    /// Vectors of the reference sample of training texts, in the sample's order.
    pub reference: Vec<Vec<f32>>,
    /// Vectors of the validation texts.
    pub val: Vec<Vec<f32>>,
    /// Vectors of the family's texts.
    pub family: Vec<Vec<f32>>,
}

/// What the ids of a cache file are: the [`ContentKey`] of each text.
const KEYED_BY: &str = "sha256 of the text";

/// Texts encoded per call of the encoder.
const BATCH: usize = 32;

/// The file `b`'s vectors are kept in: `sentences-<name as a slug>.safetensors`.
pub fn cache_path(b: &SentenceBaseline, out_dir: &Path) -> PathBuf {
    let slug: String = b
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    out_dir.join(format!("sentences-{slug}.safetensors"))
}

/// The reference sample (`reference`: indices into `split.train`), the validation and the
/// family texts of `split` in the baseline's space: read from the cache file where the
/// same encoder encoded the same text before, encoded (and added to the file, atomically)
/// otherwise.
pub fn sentence_space(
    b: &SentenceBaseline,
    split: &Split,
    reference: &[usize],
    out_dir: &Path,
) -> Result<SentenceSpace> {
    if let Some(&i) = reference.iter().find(|&&i| i >= split.train.len()) {
        return Err(EvalError::InvalidInput(format!(
            "reference text {i} of {} training texts",
            split.train.len()
        )));
    }
    let path = cache_path(b, out_dir);
    let mut known = read_known(&path, b)?;
    let reference_texts: Vec<&str> = reference
        .iter()
        .map(|&i| split.train.texts[i].as_str())
        .collect();
    let texts: Vec<&str> = reference_texts
        .iter()
        .copied()
        .chain(split.val.texts.iter().map(String::as_str))
        .chain(split.family.texts.iter().map(String::as_str))
        .collect();
    let keys: Vec<ContentKey> = texts.iter().map(|t| ContentKey::of_text(t)).collect();
    let mut missing: Vec<(&ContentKey, &str)> = keys
        .iter()
        .zip(&texts)
        .filter(|(k, _)| !known.contains_key(*k))
        .map(|(k, t)| (k, *t))
        .collect();
    missing.sort_by(|a, b| a.0.cmp(b.0));
    missing.dedup_by(|a, b| a.0 == b.0);
    // Texts of similar length share a batch, so little of each batch is padding.
    missing.sort_by_key(|(_, t)| t.len());
    if !missing.is_empty() {
        let progress = bar(missing.len(), "sentence vectors (baseline)", b.progress);
        for chunk in missing.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
            let vectors = b.encoder.encode_sentences(&batch)?;
            if vectors.len() != chunk.len() || vectors.iter().any(|v| v.len() != b.encoder.dim()) {
                return Err(EvalError::InvalidInput(format!(
                    "{}: the encoder returned {} vectors for {} texts, or a vector not {} wide",
                    b.name,
                    vectors.len(),
                    chunk.len(),
                    b.encoder.dim()
                )));
            }
            for ((key, _), v) in chunk.iter().zip(vectors) {
                known.insert((*key).clone(), v);
            }
            progress.inc(chunk.len() as u64);
        }
        progress.finish_and_clear();
        write_known(&path, b, &known)?;
    }
    let rows =
        |keys: &[ContentKey]| -> Vec<Vec<f32>> { keys.iter().map(|k| known[k].clone()).collect() };
    let (r, rest) = keys.split_at(reference.len());
    let (v, f) = rest.split_at(split.val.len());
    Ok(SentenceSpace {
        name: b.name.clone(),
        dim: b.encoder.dim(),
        reference: rows(r),
        val: rows(v),
        family: rows(f),
    })
}

/// The vectors kept before by the same encoder (by name and width), keyed by text; none
/// when the file is missing, was written by another encoder or keyed otherwise (files
/// before content keys held document ids). A file that cannot be read is an error (it
/// would otherwise be silently overwritten).
fn read_known(path: &Path, b: &SentenceBaseline) -> Result<HashMap<ContentKey, Vec<f32>>> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let file = VectorFile::read(path).map_err(|e| {
        EvalError::InvalidInput(format!(
            "{}: {e} (delete it to encode again)",
            path.display()
        ))
    })?;
    if file.metadata.get("encoder") != Some(&b.name)
        || file.metadata.get("keyed_by").map(String::as_str) != Some(KEYED_BY)
        || file.dim != b.encoder.dim()
    {
        tracing::info!(path = %path.display(), "sentence vectors of another encoder or keying; encoding again");
        return Ok(HashMap::new());
    }
    Ok(file
        .ids
        .iter()
        .map(|id| ContentKey::from_hex(id))
        .zip(file.rows().map(<[f32]>::to_vec))
        .filter_map(|(k, v)| Some((k?, v)))
        .collect())
}

fn write_known(
    path: &Path,
    b: &SentenceBaseline,
    known: &HashMap<ContentKey, Vec<f32>>,
) -> Result<()> {
    let mut keys: Vec<&ContentKey> = known.keys().collect();
    keys.sort();
    let data = keys
        .iter()
        .flat_map(|k| known[*k].iter().copied())
        .collect();
    let file = VectorFile::new(
        keys.iter().map(|k| k.as_str().to_string()).collect(),
        b.encoder.dim(),
        data,
    )
    .map_err(|e| EvalError::InvalidInput(e.to_string()))?
    .with_metadata("encoder", b.name.clone())
    .with_metadata("keyed_by", KEYED_BY.to_string());
    file.write(path)
        .map_err(|e| EvalError::InvalidInput(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use cllm_core::CoreError;

    use super::super::split::Part;
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

    impl Counting {
        fn new(dim: usize) -> Self {
            Self {
                encoded: Cell::new(0),
                dim,
            }
        }
    }

    /// A baseline without a progress bar.
    fn quiet<'a>(name: &str, encoder: &'a dyn SentenceEncoder) -> SentenceBaseline<'a> {
        SentenceBaseline {
            name: name.into(),
            encoder,
            progress: false,
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

    /// Every training text of [`split`] as the reference.
    const ALL: [usize; 3] = [0, 1, 2];

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
        let enc = Counting::new(3);
        let b = quiet("counting", &enc);
        let s = sentence_space(&b, &split(), &ALL, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 6);
        assert_eq!(s.reference.len(), 3);
        assert_eq!(s.family[0], vec!["text of eeeee".len() as f32, 7.0, 0.0]);
        assert_eq!(s.val[0][0], "text of dddd".len() as f32);
        // a rerun reads the file: nothing encoded again, the same vectors
        let again = sentence_space(&b, &split(), &ALL, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 6);
        assert_eq!(again.reference, s.reference);
        // a new text is the only one encoded
        let mut grown = split();
        grown.val = part(&["dddd", "gg"]);
        sentence_space(&b, &grown, &ALL, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 7);
    }

    #[test]
    fn another_encoder_encodes_again_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting::new(2);
        let b = quiet("first", &enc);
        sentence_space(&b, &split(), &ALL, dir.path()).unwrap();
        let b2 = quiet("second", &enc);
        sentence_space(&b2, &split(), &ALL, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 12);
        std::fs::write(cache_path(&b2, dir.path()), b"not a vector file").unwrap();
        let err = sentence_space(&b2, &split(), &ALL, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("sentences-second.safetensors"),
            "{err}"
        );
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
        let b = quiet("liar", &Liar);
        let err = sentence_space(&b, &split(), &ALL, dir.path()).unwrap_err();
        assert!(err.to_string().contains("4 wide"), "{err}");
    }

    #[test]
    fn only_the_reference_sample_is_encoded_and_an_edited_text_is_encoded_again() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting::new(2);
        let b = quiet("counting", &enc);
        // one training text of three, then the validation and family texts
        let s = sentence_space(&b, &split(), &[2], dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 4);
        assert_eq!(s.reference, vec![vec!["text of ccc".len() as f32, 2.0]]);
        // the same id with another text: its old vector is not reused
        let mut edited = split();
        edited.val.texts[0] = "text of dddd, edited".into();
        let e = sentence_space(&b, &edited, &[2], dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 5);
        assert_eq!(e.val[0][0], "text of dddd, edited".len() as f32);
        // an index past the training texts is an error, not a panic
        let err = sentence_space(&b, &split(), &[3], dir.path()).unwrap_err();
        assert!(err.to_string().contains("reference text 3"), "{err}");
    }

    #[test]
    fn a_file_keyed_by_document_id_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting::new(2);
        let b = quiet("counting", &enc);
        // the layout before content keys: document ids, no keyed_by
        let old = VectorFile::new(vec!["dddd".into()], 2, vec![9.0, 9.0])
            .unwrap()
            .with_metadata("encoder", "counting");
        old.write(&cache_path(&b, dir.path())).unwrap();
        let s = sentence_space(&b, &split(), &ALL, dir.path()).unwrap();
        assert_eq!(enc.encoded.get(), 6);
        assert_eq!(s.val[0][0], "text of dddd".len() as f32);
    }
}
