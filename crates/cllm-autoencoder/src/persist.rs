//! Crash-safe saving of modules, optimizer state and JSON, and atomic directories.
//!
//! Records are burn's named MessagePack at full precision. A directory is written under a
//! temporary name in the same parent and renamed into place, so a reader (or a resume
//! after a crash) sees either the previous directory or the complete new one.

use std::path::Path;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::backend::Backend;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{AutoencoderError, Result};

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Serialises any burn record (a module's or an optimizer's) to bytes.
pub(crate) fn record_bytes<B: Backend, R: Record<B>>(record: R) -> Result<Vec<u8>> {
    Recorder::<B>::record(&Rec::default(), record, ())
        .map_err(|e| AutoencoderError::Tensor(format!("serialising a record: {e}")))
}

/// Reads a record written by [`record_bytes`].
pub(crate) fn read_record<B: Backend, R: Record<B>>(path: &Path, device: &B::Device) -> Result<R> {
    let bytes = std::fs::read(path).map_err(|e| AutoencoderError::io(path, e))?;
    Recorder::<B>::load(&Rec::default(), bytes, device)
        .map_err(|e| AutoencoderError::format(path, e.to_string()))
}

/// Loads a module's weights from `path` into `module`.
pub(crate) fn load_module<B: Backend, M: Module<B>>(
    module: M,
    path: &Path,
    device: &B::Device,
) -> Result<M> {
    let record = read_record::<B, M::Record>(path, device)?;
    Ok(module.load_record(record))
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
    cllm_core::write_atomic(path, &json).map_err(|e| AutoencoderError::io(path, e))
}

/// Reads JSON.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| AutoencoderError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| AutoencoderError::format(path, e.to_string()))
}

/// Writes a directory atomically: `fill` writes into a fresh temporary directory next to
/// `dir`, which then replaces `dir` (the old one, if any, is moved aside and removed).
pub(crate) fn write_dir_atomic(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| AutoencoderError::io(parent, e))?;
    let name = dir
        .file_name()
        .ok_or_else(|| AutoencoderError::format(dir, "directory has no name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| AutoencoderError::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    sync_dir(&tmp);
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(|e| AutoencoderError::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| AutoencoderError::io(dir, e))?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    sync_dir(parent);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes bytes atomically, mapping the error.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    cllm_core::write_atomic(path, bytes).map_err(|e| AutoencoderError::io(path, e))
}

/// Parses safetensors `bytes`: the tensors and the metadata value stored under `key`.
pub(crate) fn parse_safetensors<'a>(
    bytes: &'a [u8],
    key: &str,
) -> std::result::Result<(safetensors::SafeTensors<'a>, String), String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let value = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(key))
        .ok_or_else(|| format!("missing `{key}` metadata"))?
        .clone();
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    Ok((st, value))
}

/// A 1-d u32 tensor of a safetensors file.
pub(crate) fn read_u32(
    st: &safetensors::SafeTensors<'_>,
    name: &str,
) -> std::result::Result<Vec<u32>, String> {
    let view = st.tensor(name).map_err(|e| e.to_string())?;
    if view.dtype() != safetensors::Dtype::U32 || view.shape().len() != 1 {
        return Err(format!("{name} must be a 1-d u32 tensor"));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A 2-d f32 tensor of a safetensors file: its values (row-major) and `[rows, cols]`.
pub(crate) fn read_f32_2d(
    st: &safetensors::SafeTensors<'_>,
    name: &str,
) -> std::result::Result<(Vec<f32>, [usize; 2]), String> {
    let view = st.tensor(name).map_err(|_| format!("no `{name}` tensor"))?;
    let shape = match (view.dtype(), view.shape()) {
        (safetensors::Dtype::F32, [r, c]) => [*r, *c],
        (dtype, shape) => {
            return Err(format!(
                "`{name}` is {dtype:?} {shape:?}, expected a 2-d F32 tensor"
            ))
        }
    };
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.len() != shape[0] * shape[1] {
        return Err(format!("`{name}` data does not match its shape"));
    }
    Ok((values, shape))
}
