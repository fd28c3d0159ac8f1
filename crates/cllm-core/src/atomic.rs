//! Crash-safe file writes.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same
/// directory, is flushed to disk, and is then renamed over `path`. A reader (or a crash)
/// sees either the old file or the complete new one, never a partial write.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("cllm-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("report.json");
/// cllm_core::write_atomic(&path, b"{}")?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name")
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a set of files into `dir` that belong together (a report and its figures) so that
/// a kill never leaves one file of this set beside another of an earlier one: every file
/// is first written in full to a temporary name and flushed; then the old files of the set
/// are removed; then the new ones are renamed into place. A kill before the removal leaves
/// the old set whole; a kill after it leaves some files missing, never mixed. Temporary
/// files of a killed call are swept by the next [`FolderLock`](crate::FolderLock) on `dir`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("cllm-set-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// cllm_core::write_atomic_set(&dir, &[("report.json", b"{}".as_slice()), ("report.md", b"# r".as_slice())])?;
/// assert_eq!(std::fs::read(dir.join("report.md"))?, b"# r");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic_set(dir: &Path, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    let staging = (|| {
        for (name, bytes) in files {
            let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique()));
            staged.push(tmp.clone());
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = staging {
        for tmp in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (name, _) in files {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for ((name, _), tmp) in files.iter().zip(&staged) {
        std::fs::rename(tmp, dir.join(name))?;
    }
    Ok(())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_set_replaces_every_file_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("cllm-atomic-set-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        super::write_atomic_set(&dir, &[("a", b"1".as_slice()), ("b", b"1".as_slice())]).unwrap();
        super::write_atomic_set(&dir, &[("a", b"2".as_slice()), ("b", b"2".as_slice())]).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"2");
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // a set that cannot be staged leaves the old set as it was
        assert!(super::write_atomic_set(
            &dir,
            &[("a", b"3".as_slice()), ("no/such/b", b"3".as_slice())]
        )
        .is_err());
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replaces_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("cllm-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.bin");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(super::write_atomic(&dir.join("missing/x"), b"").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
