//! Export and import of a collection as a safetensors file, readable from numpy/PyTorch.
//!
//! Layout (format `cllm-void/1`):
//! - `vectors`: `F32 [n, dim]`, row `i` is the vector of document `i`;
//! - `ids_utf8`: `U8 [total]`, all document ids concatenated as UTF-8;
//! - `ids_offsets`: `I64 [n + 1]`, id `i` is `ids_utf8[offsets[i]..offsets[i+1]]`;
//! - metadata: `format`, `collection`, `model_name`, `dim`, `checksum`.
//!
//! Texts and tags are not exported. In Python:
//! ```text
//! from safetensors.numpy import load_file
//! t = load_file("c.safetensors"); v = t["vectors"]
//! ids = [bytes(t["ids_utf8"][a:b]).decode() for a, b in zip(t["ids_offsets"][:-1], t["ids_offsets"][1:])]
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use cllm_core::{Document, TextVector};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, VoidError};
use crate::store::{InsertStats, ModelKey, VectorStore, MAX_DIM};
use cllm_core::write_atomic;

/// Format tag written in the metadata.
pub const TENSOR_FILE_FORMAT: &str = "cllm-void/1";

/// Default limit on the size of an imported file (4 GiB).
pub const DEFAULT_IMPORT_LIMIT: u64 = 4 << 30;

fn malformed(reason: impl Into<String>) -> VoidError {
    VoidError::Malformed {
        what: "safetensors file",
        reason: reason.into(),
    }
}

impl VectorStore {
    /// Writes a collection's ids and vectors to `path` (temp file + rename).
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
        let vectors: Vec<u8> = points
            .as_flat()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let mut ids_utf8 = Vec::new();
        let mut offsets: Vec<u8> = Vec::with_capacity((ids.len() + 1) * 8);
        offsets.extend(0i64.to_le_bytes());
        for id in &ids {
            ids_utf8.extend_from_slice(id.as_bytes());
            offsets.extend((ids_utf8.len() as i64).to_le_bytes());
        }
        let n = ids.len();
        let tensors = vec![
            (
                "vectors",
                safetensors::tensor::TensorView::new(Dtype::F32, vec![n, points.dim()], &vectors)?,
            ),
            (
                "ids_utf8",
                safetensors::tensor::TensorView::new(Dtype::U8, vec![ids_utf8.len()], &ids_utf8)?,
            ),
            (
                "ids_offsets",
                safetensors::tensor::TensorView::new(Dtype::I64, vec![n + 1], &offsets)?,
            ),
        ];
        let meta: HashMap<String, String> = [
            ("format", TENSOR_FILE_FORMAT.to_string()),
            ("collection", collection.to_string()),
            ("model_name", info.model.name.clone()),
            ("dim", info.model.dim.to_string()),
            ("checksum", info.model.checksum.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = safetensors::serialize(tensors, Some(meta))?;
        write_atomic(path, &bytes)?;
        tracing::info!(collection, n, path = %path.display(), "exported collection");
        Ok(())
    }

    /// Imports a file written by [`export_safetensors`](Self::export_safetensors) into
    /// `collection` (created for the file's model if missing; it must match otherwise).
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
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > max_bytes {
            return Err(malformed(format!(
                "{len} bytes exceeds the limit of {max_bytes}"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max_bytes {
            return Err(malformed("file grew beyond the limit while reading"));
        }
        let (model, ids, vectors) = parse_tensor_file(&bytes)?;
        self.create_collection(collection, &model)?;
        let dim = model.dim;
        let records: Vec<(Document, TextVector)> = ids
            .into_iter()
            .zip(vectors.chunks_exact(dim))
            .map(|(id, v)| Ok((Document::new(id, ""), TextVector::new(v.to_vec())?)))
            .collect::<Result<_>>()?;
        // One transaction: an invalid file writes nothing.
        self.insert_batch(collection, &records)
    }
}

/// Parses and validates a tensor file: model key, ids, flat vectors.
fn parse_tensor_file(bytes: &[u8]) -> Result<(ModelKey, Vec<String>, Vec<f32>)> {
    let st = SafeTensors::deserialize(bytes)?;
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| malformed("no metadata"))?;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| malformed(format!("metadata lacks {k:?}")))
    };
    if get("format")? != TENSOR_FILE_FORMAT {
        return Err(malformed(format!("format is not {TENSOR_FILE_FORMAT}")));
    }
    let dim: usize = get("dim")?
        .parse()
        .ok()
        .filter(|d| (1..=MAX_DIM).contains(d))
        .ok_or_else(|| malformed("bad dim"))?;
    let model = ModelKey::new(get("model_name")?.clone(), dim, get("checksum")?.clone());

    let vt = st.tensor("vectors")?;
    if vt.dtype() != Dtype::F32 || vt.shape().len() != 2 {
        return Err(malformed("vectors must be F32 [n, dim]"));
    }
    let (n, got_dim) = (vt.shape()[0], vt.shape()[1]);
    if got_dim != dim {
        return Err(VoidError::DimMismatch {
            expected: dim,
            got: got_dim,
        });
    }
    let expected = n.checked_mul(dim).and_then(|x| x.checked_mul(4));
    if expected != Some(vt.data().len()) {
        return Err(malformed("vectors data length does not match its shape"));
    }
    let vectors: Vec<f32> = vt
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(index) = vectors.iter().position(|v| !v.is_finite()) {
        return Err(VoidError::NonFinite {
            what: "imported vectors",
            index,
        });
    }

    let it = st.tensor("ids_utf8")?;
    let ot = st.tensor("ids_offsets")?;
    if it.dtype() != Dtype::U8 || it.shape().len() != 1 {
        return Err(malformed("ids_utf8 must be U8 [bytes]"));
    }
    if ot.dtype() != Dtype::I64 || ot.shape() != [n + 1] || ot.data().len() != (n + 1) * 8 {
        return Err(malformed("ids_offsets must be I64 [n + 1]"));
    }
    let utf8 = it.data();
    let offsets: Vec<i64> = ot
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if offsets[0] != 0 || offsets[n] as u64 != utf8.len() as u64 {
        return Err(malformed(
            "ids_offsets must start at 0 and end at the byte count",
        ));
    }
    let mut ids = Vec::with_capacity(n);
    for w in offsets.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a < 0 || b < a || b as u64 > utf8.len() as u64 {
            return Err(malformed("ids_offsets not non-decreasing within bounds"));
        }
        let id = std::str::from_utf8(&utf8[a as usize..b as usize])
            .map_err(|_| malformed("an id is not UTF-8"))?;
        if id.is_empty() {
            return Err(malformed("empty id"));
        }
        ids.push(id.to_string());
    }
    Ok((model, ids, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\xff\xff\xff\xff\xff\xff\xff\xff{}",
            b"\x02\x00\x00\x00\x00\x00\x00\x00{}",
        ] {
            assert!(parse_tensor_file(bytes).is_err());
        }
    }
}
