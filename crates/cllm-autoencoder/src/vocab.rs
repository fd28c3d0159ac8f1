//! [`VocabTable`]: the corpus vocabulary `V` (the token ids that occur in the training
//! texts, plus the padding/end token) with their embedding rows `E_V`.
//!
//! The tied-head loss scores restored rows against `E_V` only (a softmax restricted to the
//! corpus vocabulary, as in the pilot: 9,576 of SmolLM2's 49,152 entries for the recipes),
//! and decoding picks the argmax over `V`. The table is stored next to a trained model so
//! that decoding needs no backbone.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{AutoencoderError, Result};
use crate::persist::{parse_safetensors, read_f32_2d, read_u32};

/// The corpus vocabulary with its layer-0 embedding rows.
///
/// ```
/// use cllm_autoencoder::VocabTable;
/// // a 4-entry embedding table of width 2; the corpus uses ids 3 and 1, pad id 0
/// let table = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
/// let v = VocabTable::from_embedding_table(&table, 2, [3u32, 1, 3], 0)?;
/// assert_eq!(v.ids(), &[0, 1, 3]);
/// assert_eq!(v.index_of(3), Some(2));
/// assert_eq!(v.pad_index(), 0);
/// assert_eq!(v.row(2), &[1.0, 1.0]);
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VocabTable {
    ids: Vec<u32>,
    width: usize,
    rows: Vec<f32>,
    pad_index: usize,
    index: HashMap<u32, usize>,
}

impl VocabTable {
    /// Builds `V` = the distinct ids of `used` plus `pad_id`, sorted, with their rows taken
    /// from a full row-major embedding table of width `width`.
    pub fn from_embedding_table(
        table: &[f32],
        width: usize,
        used: impl IntoIterator<Item = u32>,
        pad_id: u32,
    ) -> Result<Self> {
        if width == 0 || !table.len().is_multiple_of(width) {
            return Err(AutoencoderError::WrongWidth {
                what: "embedding table",
                expected: width,
                got: table.len(),
            });
        }
        let vocab = table.len() / width;
        let mut ids: Vec<u32> = used.into_iter().chain([pad_id]).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rows = Vec::with_capacity(ids.len() * width);
        for &id in &ids {
            let start = id as usize * width;
            if id as usize >= vocab {
                return Err(AutoencoderError::UnknownToken(id));
            }
            rows.extend_from_slice(&table[start..start + width]);
        }
        Self::new(ids, width, rows, pad_id)
    }

    /// Builds a table from sorted distinct `ids`, their rows, and the pad id (one of `ids`).
    pub fn new(ids: Vec<u32>, width: usize, rows: Vec<f32>, pad_id: u32) -> Result<Self> {
        if ids.is_empty() {
            return Err(AutoencoderError::Empty("vocabulary"));
        }
        if width == 0 || rows.len() != ids.len() * width {
            return Err(AutoencoderError::WrongWidth {
                what: "vocabulary rows",
                expected: ids.len() * width,
                got: rows.len(),
            });
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(AutoencoderError::NonFinite("vocabulary rows"));
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(AutoencoderError::InvalidConfig(
                "vocabulary ids must be sorted and distinct".into(),
            ));
        }
        let index: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let pad_index = *index
            .get(&pad_id)
            .ok_or(AutoencoderError::UnknownToken(pad_id))?;
        Ok(Self {
            ids,
            width,
            rows,
            pad_index,
            index,
        })
    }

    /// The token ids of `V`, sorted.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
    /// `|V|`.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// Whether `V` is empty (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// Embedding width `d`.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Index in `V` of the padding/end token.
    pub fn pad_index(&self) -> usize {
        self.pad_index
    }
    /// Token id of the padding/end token.
    pub fn pad_id(&self) -> u32 {
        self.ids[self.pad_index]
    }
    /// Index in `V` of token `id`.
    pub fn index_of(&self, id: u32) -> Option<usize> {
        self.index.get(&id).copied()
    }
    /// Embedding row of the `i`-th entry of `V`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.width..(i + 1) * self.width]
    }
    /// All rows, row-major `[|V| × d]`.
    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    /// Maps token ids to `V` indices.
    pub fn indices_of(&self, ids: &[u32]) -> Result<Vec<usize>> {
        ids.iter()
            .map(|&id| self.index_of(id).ok_or(AutoencoderError::UnknownToken(id)))
            .collect()
    }

    /// `E_V` as a `[|V|, d]` tensor.
    pub fn tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        Tensor::from_data(
            TensorData::new(self.rows.clone(), [self.len(), self.width]),
            device,
        )
    }

    /// Writes the table as safetensors (`ids` u32, `rows` f32, metadata `pad_id`), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let ids: Vec<u8> = self.ids.iter().flat_map(|v| v.to_le_bytes()).collect();
        let rows: Vec<u8> = self.rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        let fmt = |e: safetensors::SafeTensorError| AutoencoderError::format(path, e.to_string());
        let views = vec![
            (
                "ids",
                TensorView::new(Dtype::U32, vec![self.len()], &ids).map_err(fmt)?,
            ),
            (
                "rows",
                TensorView::new(Dtype::F32, vec![self.len(), self.width], &rows).map_err(fmt)?,
            ),
        ];
        let meta = HashMap::from([("pad_id".to_string(), self.pad_id().to_string())]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(fmt)?;
        cllm_core::write_atomic(path, &bytes).map_err(|e| AutoencoderError::io(path, e))
    }

    /// Reads a table written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::persist::read_safetensors_file(path)?;
        let fmt = |d: String| AutoencoderError::format(path, d);
        let (st, pad_id) = parse_safetensors(&bytes, "pad_id").map_err(fmt)?;
        let pad_id: u32 = pad_id
            .parse()
            .map_err(|_| fmt(format!("bad pad_id metadata {pad_id:?}")))?;
        let ids = read_u32(&st, "ids").map_err(fmt)?;
        let (rows, [_, width]) = read_f32_2d(&st, "rows").map_err(fmt)?;
        Self::new(ids, width, rows, pad_id)
    }
}
