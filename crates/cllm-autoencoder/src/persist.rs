//! Crash-safe saving of modules, optimizer state and JSON, and atomic directories.
//!
//! Records are burn's named MessagePack at full precision. A directory is written under a
//! temporary name in the same parent and renamed into place, so a reader (or a resume
//! after a crash) sees either the previous directory or the complete new one.

use std::collections::BTreeMap;
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

/// Loads a module's weights from `path` into `module`.
///
/// The saved record is untrusted: burn's loader assumes it has the module's structure
/// (it asserts list lengths, silently drops an optional sub-module the record lacks, and
/// takes any tensor shape, which fails later inside a matmul). So the file's tensors are
/// first compared with the module's own: the same names, and for each the same dtype,
/// shape and byte length, and finite values. Any difference is a typed error naming the
/// tensor ([`AutoencoderError::WeightShape`] or [`AutoencoderError::Format`]); only then
/// does burn build anything from the file.
pub(crate) fn load_module<B: Backend, M: Module<B>>(
    module: M,
    path: &Path,
    device: &B::Device,
) -> Result<M> {
    let expected = record_bytes::<B, _>(module.clone().into_record())?;
    // a record of this module is about the size of its own: a file far larger is not one
    // (checked before it is read into memory)
    let bytes = read_at_most(
        path,
        (expected.len() as u64)
            .saturating_mul(2)
            .saturating_add(1 << 20),
    )?;
    let expected = record_layout::<B>(expected)
        .map_err(|e| AutoencoderError::Tensor(format!("reading the module's own record: {e}")))?;
    let saved = record_layout::<B>(bytes.clone()).map_err(|e| AutoencoderError::format(path, e))?;
    check_record_layout(path, &expected, &saved)?;
    let record = Recorder::<B>::load(&Rec::default(), bytes, device)
        .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
    Ok(module.load_record(record))
}

/// Reads an optimizer record saved for `model` (an `optim.mpk` of a checkpoint), checking
/// first that it fits: every state it holds belongs to one of the model's parameters (by
/// parameter id) and has that parameter's shape, in finite values. An optimizer file of
/// another model or another configuration, or a damaged one, is an error here instead of
/// moments silently dropped or a shape panic inside burn at the next step. Parameters with
/// no state (frozen, or never updated) are allowed.
pub(crate) fn read_optimizer_record<B: Backend, M: Module<B>, R: Record<B>>(
    path: &Path,
    model: &M,
    device: &B::Device,
) -> Result<R> {
    // Adam keeps two moments per parameter: about twice the model's own record
    let model_bytes = record_bytes::<B, _>(model.clone().into_record())?.len() as u64;
    let bytes = read_at_most(path, model_bytes.saturating_mul(4).saturating_add(1 << 20))?;
    let saved = record_layout::<B>(bytes.clone()).map_err(|e| AutoencoderError::format(path, e))?;
    let params = parameter_shapes(model);
    for (name, tensor) in &saved {
        let id = name.split('.').next().unwrap_or_default();
        let param = burn::module::ParamId::try_deserialize(id)
            .and_then(|id| params.get(&id))
            .ok_or_else(|| {
                AutoencoderError::format(
                    path,
                    format!(
                        "the optimizer state `{name}` belongs to no parameter of the model \
                         (the file is from another model or run)"
                    ),
                )
            })?;
        if &tensor.shape != param {
            return Err(AutoencoderError::WeightShape {
                path: path.to_path_buf(),
                tensor: name.clone(),
                expected: param.clone(),
                got: tensor.shape.clone(),
            });
        }
        check_finite(path, name, tensor)?;
    }
    Recorder::<B>::load(&Rec::default(), bytes, device)
        .map_err(|e| AutoencoderError::format(path, e.to_string()))
}

/// The shape of every float parameter of `module`, by parameter id.
fn parameter_shapes<B: Backend, M: Module<B>>(
    module: &M,
) -> BTreeMap<burn::module::ParamId, Vec<usize>> {
    struct Shapes(BTreeMap<burn::module::ParamId, Vec<usize>>);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
        ) {
            self.0.insert(param.id, param.val().dims().to_vec());
        }
    }
    let mut shapes = Shapes(BTreeMap::new());
    module.visit(&mut shapes);
    shapes.0
}

/// One tensor of a record file, as stored.
#[derive(Debug)]
struct StoredTensor {
    shape: Vec<usize>,
    dtype: String,
    bytes: Vec<u8>,
}

/// Every tensor of a record (burn named MessagePack), by its path in the module tree
/// (`enc_stages.0.reduce.weight`).
fn record_layout<B: Backend>(
    mut bytes: Vec<u8>,
) -> std::result::Result<BTreeMap<String, StoredTensor>, String> {
    let tree: record_tree::Node = Recorder::<B>::load_item(&Rec::default(), &mut bytes)
        .map_err(|e| format!("not a burn record: {e}"))?;
    let mut out = BTreeMap::new();
    record_tree::collect_tensors(tree, String::new(), &mut out)?;
    Ok(out)
}

/// Compares the tensors of a saved record with those the module expects.
fn check_record_layout(
    path: &Path,
    expected: &BTreeMap<String, StoredTensor>,
    saved: &BTreeMap<String, StoredTensor>,
) -> Result<()> {
    let listed = |names: Vec<&String>| {
        let shown: Vec<&str> = names.iter().take(3).map(|n| n.as_str()).collect();
        let more = names.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("{} tensor(s): {}{tail}", names.len(), shown.join(", "))
    };
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !saved.contains_key(*k))
        .collect();
    let extra: Vec<&String> = saved
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut detail = format!(
            "the record does not belong to config.json ({} tensors saved, {} implied)",
            saved.len(),
            expected.len()
        );
        if !missing.is_empty() {
            detail += &format!("; it lacks {}", listed(missing));
        }
        if !extra.is_empty() {
            detail += &format!("; it holds unexpected {}", listed(extra));
        }
        return Err(AutoencoderError::format(path, detail));
    }
    for (name, want) in expected {
        let got = &saved[name];
        if got.shape != want.shape {
            return Err(AutoencoderError::WeightShape {
                path: path.to_path_buf(),
                tensor: name.clone(),
                expected: want.shape.clone(),
                got: got.shape.clone(),
            });
        }
        if got.dtype != want.dtype || got.bytes.len() != want.bytes.len() {
            return Err(AutoencoderError::format(
                path,
                format!(
                    "tensor `{name}` is {} in {} bytes, expected {} in {} bytes",
                    got.dtype,
                    got.bytes.len(),
                    want.dtype,
                    want.bytes.len()
                ),
            ));
        }
        check_finite(path, name, got)?;
    }
    Ok(())
}

/// An error naming the first non-finite value of an f32 tensor.
fn check_finite(path: &Path, name: &str, tensor: &StoredTensor) -> Result<()> {
    if tensor.dtype == "F32" {
        let bad = tensor
            .bytes
            .chunks_exact(4)
            .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite());
        if let Some(index) = bad {
            return Err(AutoencoderError::format(
                path,
                format!("tensor `{name}` holds a non-finite value at flat index {index}"),
            ));
        }
    }
    Ok(())
}

/// A generic view of a MessagePack record: what serde sees, without burn's types.
mod record_tree {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::StoredTensor;

    /// One value of the record.
    #[derive(Debug)]
    pub(super) enum Node {
        Map(Vec<(String, Node)>),
        Seq(Vec<Node>),
        Bytes(Vec<u8>),
        Str(String),
        Int(i128),
        /// A float, a bool or nil: nothing a tensor's layout is read from.
        Other,
    }

    impl<'de> Deserialize<'de> for Node {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NodeVisitor)
        }
    }

    struct NodeVisitor;

    impl<'de> Visitor<'de> for NodeVisitor {
        type Value = Node;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a MessagePack value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
            let _ = v;
            Ok(Node::Other)
        }
        fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
            Ok(Node::Int(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
            Ok(Node::Int(v.into()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
            let _ = v;
            Ok(Node::Other)
        }
        fn visit_str<E>(self, v: &str) -> Result<Node, E> {
            Ok(Node::Str(v.to_string()))
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
            Ok(Node::Bytes(v.to_vec()))
        }
        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Node, E> {
            Ok(Node::Bytes(v))
        }
        fn visit_unit<E>(self) -> Result<Node, E> {
            Ok(Node::Other)
        }
        fn visit_none<E>(self) -> Result<Node, E> {
            Ok(Node::Other)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
            Node::deserialize(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Node::Seq(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
            let mut entries = Vec::new();
            while let Some((key, value)) = map.next_entry::<Node, Node>()? {
                let key = match key {
                    Node::Str(s) => s,
                    Node::Int(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                entries.push((key, value));
            }
            Ok(Node::Map(entries))
        }
    }

    /// Walks `node`, recording every tensor (a map with `bytes`, `shape` and `dtype`)
    /// under its dotted path; burn's `param` wrapper and the `item` root are left out of
    /// the names, and parameter ids are ignored.
    pub(super) fn collect_tensors(
        node: Node,
        path: String,
        out: &mut BTreeMap<String, StoredTensor>,
    ) -> Result<(), String> {
        let join = |path: &str, key: &str| match (path, key) {
            (p, "param" | "item") => p.to_string(),
            ("", k) => k.to_string(),
            (p, k) => format!("{p}.{k}"),
        };
        match node {
            Node::Map(entries) if is_tensor(&entries) => {
                let tensor = stored_tensor(entries).map_err(|e| format!("tensor `{path}`: {e}"))?;
                out.insert(path, tensor);
            }
            Node::Map(entries) => {
                for (key, value) in entries {
                    if key == "id" || key == "metadata" {
                        continue;
                    }
                    collect_tensors(value, join(&path, &key), out)?;
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    collect_tensors(item, join(&path, &i.to_string()), out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn is_tensor(entries: &[(String, Node)]) -> bool {
        ["bytes", "shape", "dtype"]
            .iter()
            .all(|k| entries.iter().any(|(key, _)| key == k))
    }

    fn stored_tensor(entries: Vec<(String, Node)>) -> Result<StoredTensor, String> {
        let (mut shape, mut dtype, mut bytes) = (None, None, None);
        for (key, value) in entries {
            match (key.as_str(), value) {
                ("shape", Node::Seq(dims)) => {
                    let dims = dims
                        .into_iter()
                        .map(|d| match d {
                            Node::Int(i) => {
                                usize::try_from(i).map_err(|_| format!("dimension {i}"))
                            }
                            other => Err(format!("dimension {other:?}")),
                        })
                        .collect::<Result<Vec<usize>, String>>()?;
                    shape = Some(dims);
                }
                ("dtype", Node::Str(s)) => dtype = Some(s),
                ("dtype", other) => dtype = Some(format!("{other:?}")),
                ("bytes", Node::Bytes(b)) => bytes = Some(b),
                ("bytes", Node::Seq(items)) => {
                    let b = items
                        .into_iter()
                        .map(|v| match v {
                            Node::Int(i) => u8::try_from(i).map_err(|_| format!("byte {i}")),
                            other => Err(format!("byte {other:?}")),
                        })
                        .collect::<Result<Vec<u8>, String>>()?;
                    bytes = Some(b);
                }
                (key @ ("shape" | "bytes"), other) => {
                    return Err(format!("`{key}` is {other:?}"));
                }
                _ => {}
            }
        }
        match (shape, dtype, bytes) {
            (Some(shape), Some(dtype), Some(bytes)) => Ok(StoredTensor {
                shape,
                dtype,
                bytes,
            }),
            _ => Err("incomplete tensor".into()),
        }
    }
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
    cllm_core::write_atomic(path, &json).map_err(|e| AutoencoderError::io(path, e))
}

/// Reads JSON.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_at_most(path, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| AutoencoderError::format(path, e.to_string()))
}

/// Writes a directory atomically: `fill` writes into a fresh temporary directory next to
/// `dir`, which then replaces `dir`. On Linux the two are exchanged in one step
/// (`renameat2(RENAME_EXCHANGE)`), so there is never a moment without `dir`; elsewhere, or
/// on a file system without the exchange, the old one is moved aside first. The old
/// content is then removed.
/// Swaps two directories in one step; false where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

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
    if had_old && exchange(&tmp, dir) {
        // `tmp` now holds the old content
        let _ = std::fs::remove_dir_all(&tmp);
        sync_dir(parent);
        return Ok(());
    }
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
/// The largest JSON file (`run.json`, `state.json`, `config.json`, `eval.json`) read.
pub(crate) const MAX_JSON_BYTES: u64 = 64 << 20;

/// A whole file, after checking that it holds at most `limit` bytes (so a damaged or
/// foreign file is a typed error naming it, not an allocation of its size).
pub(crate) fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| AutoencoderError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| AutoencoderError::io(path, e))?
        .len();
    if size > limit {
        return Err(AutoencoderError::format(
            path,
            format!("{size} bytes, more than the {limit} such a file can hold"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| AutoencoderError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(AutoencoderError::format(
            path,
            format!("more than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// A whole safetensors file, after checking that its size is what its header declares
/// (the 8-byte header length, the header, and the end of the last tensor's data): a file
/// cut short or with bytes appended is a typed error before it is read into memory.
pub(crate) fn read_safetensors_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let fmt = |d: String| AutoencoderError::format(path, d);
    let mut file = std::fs::File::open(path).map_err(|e| AutoencoderError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| AutoencoderError::io(path, e))?
        .len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|_| fmt(format!("{size} bytes: too short for a safetensors header")))?;
    let header_len = u64::from_le_bytes(n);
    if header_len > (100 << 20) || 8 + header_len > size {
        return Err(fmt(format!(
            "a header of {header_len} bytes declared in a file of {size}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| AutoencoderError::io(path, e))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| fmt(format!("header: {e}")))?;
    let data_end = header
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let declared = 8 + header_len + data_end;
    if declared != size {
        return Err(fmt(format!(
            "{size} bytes, but its header declares {declared}"
        )));
    }
    read_at_most(path, size)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary-sized safetensors file, then the same cut short and with bytes added.
    #[test]
    fn a_safetensors_file_must_be_the_size_its_header_declares() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let data: Vec<u8> = (0..64u32).flat_map(|v| v.to_le_bytes()).collect();
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::U32, vec![64], &data).unwrap();
        let bytes = safetensors::serialize(vec![("ids", view)], None).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_safetensors_file(&path).unwrap(), bytes);
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let e = read_safetensors_file(&path).unwrap_err().to_string();
        assert!(e.contains("header declares"), "{e}");
        let mut longer = bytes.clone();
        longer.extend([0u8; 100]);
        std::fs::write(&path, &longer).unwrap();
        assert!(read_safetensors_file(&path)
            .unwrap_err()
            .to_string()
            .contains("header declares"));
        std::fs::write(&path, [255u8; 12]).unwrap();
        assert!(read_safetensors_file(&path).is_err());
        std::fs::write(&path, [1u8, 2]).unwrap();
        assert!(read_safetensors_file(&path)
            .unwrap_err()
            .to_string()
            .contains("too short"));
    }

    #[test]
    fn a_file_over_its_bound_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, vec![b' '; 2048]).unwrap();
        assert!(read_at_most(&path, 4096).is_ok());
        let e = read_at_most(&path, 1024).unwrap_err().to_string();
        assert!(e.contains("2048 bytes") && e.contains("run.json"), "{e}");
    }
}
