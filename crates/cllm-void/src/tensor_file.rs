//! Export and import of a collection as a vector file ([`cllm_core::VectorFile`], the
//! format of [`cllm_core::vector_file`]), readable from numpy/PyTorch and by every other
//! `cllm` command: `cllm encode --safetensors` output and `cllm embed` shards import here.
//!
//! The export's metadata holds `model`, `checksum` (the collection's [`ModelKey`]) and
//! `collection`; an import files the vectors under the file's `model` and `checksum`
//! (a file without `model` is refused: its vectors could not be told from another
//! model's). Texts and tags are not exported.

use std::path::Path;

use cllm_core::{Document, TextVector, VectorFile, VectorFileError};

use crate::error::{Result, VoidError};
use crate::store::{InsertStats, ModelKey, VectorStore, MAX_DIM};

/// Format tag written in the metadata (the shared vector file format).
pub const TENSOR_FILE_FORMAT: &str = cllm_core::VECTOR_FILE_FORMAT;

/// Default limit on the size of an imported file (4 GiB).
pub const DEFAULT_IMPORT_LIMIT: u64 = cllm_core::vector_file::MAX_VECTOR_FILE_BYTES;

fn malformed(reason: impl Into<String>) -> VoidError {
    VoidError::Malformed {
        what: "vector file",
        reason: reason.into(),
    }
}

impl From<VectorFileError> for VoidError {
    /// A vector file's error: [`VoidError::NonFinite`] for a NaN, [`VoidError::Io`] when
    /// it could not be read or written, [`VoidError::Malformed`] otherwise (naming the file).
    fn from(e: VectorFileError) -> Self {
        match e {
            VectorFileError::NonFinite { index, .. } => VoidError::NonFinite {
                what: "imported vectors",
                index,
            },
            VectorFileError::Io { path, source } => VoidError::Io(std::io::Error::new(
                source.kind(),
                format!("{}: {source}", path.display()),
            )),
            other => malformed(other.to_string()),
        }
    }
}

impl VectorStore {
    /// Writes a collection's ids and vectors to `path` as a vector file (temp file + rename).
    ///
    /// ```
    /// use cllm_core::{Document, TextVector};
    /// use cllm_void::{ModelKey, VectorStore};
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("c.safetensors");
    /// let mut a = VectorStore::open_in_memory()?;
    /// a.create_collection("c", &ModelKey::new("m", 2, "x"))?;
    /// a.insert_batch("c", &[(Document::new("é1", "t"), TextVector::new(vec![1.0, -2.0])?)])?;
    /// a.export_safetensors("c", &file)?;
    /// let mut b = VectorStore::open_in_memory()?;
    /// let stats = b.import_safetensors(&file, "copy", cllm_void::DEFAULT_IMPORT_LIMIT)?;
    /// assert_eq!(stats.inserted, 1);
    /// assert_eq!(b.load_points("copy")?, a.load_points("c")?);
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn export_safetensors(&self, collection: &str, path: &Path) -> Result<()> {
        let info = self.collection(collection)?;
        let (ids, points) = self.load_points(collection)?;
        let n = ids.len();
        VectorFile::new(ids, points.dim(), points.as_flat().to_vec())?
            .with_metadata("model", info.model.name.clone())
            .with_metadata("checksum", info.model.checksum.clone())
            .with_metadata("collection", collection)
            .write(path)?;
        tracing::info!(collection, n, path = %path.display(), "exported collection");
        Ok(())
    }

    /// Imports a vector file (as written by [`export_safetensors`](Self::export_safetensors),
    /// `cllm encode --safetensors` or `cllm embed`) into `collection`, created for the
    /// file's model (`model`, `checksum` and width) if missing; it must match otherwise.
    ///
    /// The file is untrusted: its size is bounded by `max_bytes`, every shape, offset and
    /// dtype is checked, ids must be UTF-8, vectors finite; any violation is a
    /// [`VoidError::Malformed`] (or a dimension / finiteness error) and nothing is written.
    /// Documents get empty texts and no tags.
    pub fn import_safetensors(
        &mut self,
        path: &Path,
        collection: &str,
        max_bytes: u64,
    ) -> Result<InsertStats> {
        let file = VectorFile::read_limited(path, max_bytes)?;
        let model = model_of(&file)?;
        self.create_collection(collection, &model)?;
        let records: Vec<(Document, TextVector)> = file
            .ids
            .iter()
            .zip(file.rows())
            .map(|(id, v)| Ok((Document::new(id.clone(), ""), TextVector::new(v.to_vec())?)))
            .collect::<Result<_>>()?;
        // One transaction: an invalid file writes nothing.
        self.insert_batch(collection, &records)
    }
}

/// The [`ModelKey`] a vector file names in its metadata.
fn model_of(file: &VectorFile) -> Result<ModelKey> {
    if !(1..=MAX_DIM).contains(&file.dim) {
        return Err(malformed(format!(
            "width {} outside 1..={MAX_DIM}",
            file.dim
        )));
    }
    let name = file.metadata.get("model").ok_or_else(|| {
        malformed(
            "the file names no `model` in its metadata, so its vectors cannot be filed under one",
        )
    })?;
    let checksum = file.metadata.get("checksum").cloned().unwrap_or_default();
    Ok(ModelKey::new(name.clone(), file.dim, checksum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.safetensors");
        let mut store = VectorStore::open_in_memory().unwrap();
        for bytes in [
            &b""[..],
            b"\xff\xff\xff\xff\xff\xff\xff\xff{}",
            b"\x02\x00\x00\x00\x00\x00\x00\x00{}",
        ] {
            std::fs::write(&path, bytes).unwrap();
            assert!(matches!(
                store.import_safetensors(&path, "c", DEFAULT_IMPORT_LIMIT),
                Err(VoidError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn a_file_without_a_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.safetensors");
        let file = VectorFile::new(vec!["a".into()], 2, vec![1.0, 2.0]).unwrap();
        file.write(&path).unwrap();
        let mut store = VectorStore::open_in_memory().unwrap();
        assert!(matches!(
            store.import_safetensors(&path, "c", DEFAULT_IMPORT_LIMIT),
            Err(VoidError::Malformed { .. })
        ));
        file.with_metadata("model", "m").write(&path).unwrap();
        let stats = store
            .import_safetensors(&path, "c", DEFAULT_IMPORT_LIMIT)
            .unwrap();
        assert_eq!(stats.inserted, 1);
        assert_eq!(
            store.collection("c").unwrap().model,
            ModelKey::new("m", 2, "")
        );
    }
}
