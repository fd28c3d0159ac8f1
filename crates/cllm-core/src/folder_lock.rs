//! One writer per folder: an advisory lock every command takes on the folder it writes.
//!
//! Two processes writing one run folder overwrite each other's `run.json`, prune each
//! other's checkpoints and delete each other's cache chunks. [`FolderLock::acquire`] takes
//! an exclusive lock on `<folder>/.cllm-lock` (the operating system's file lock, released
//! when the holder exits, however it exits, so a killed run never blocks a rerun) and
//! records the holder's pid in it. A second process fails at once with
//! [`CoreError::FolderBusy`], naming the folder and that pid.
//!
//! Holding the lock also means no other process is writing the folder, so the temporary
//! files of [`write_atomic`](crate::write_atomic) left there by a killed run are swept.
//!
//! ```
//! use cllm_core::{CoreError, FolderLock};
//!
//! let dir = std::env::temp_dir().join(format!("cllm-lock-doc-{}", std::process::id()));
//! let lock = FolderLock::acquire(&dir)?;
//! // a second writer, even in this process, is refused
//! assert!(matches!(FolderLock::acquire(&dir), Err(CoreError::FolderBusy { .. })));
//! drop(lock);
//! let again = FolderLock::acquire(&dir)?;
//! # drop(again);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::CoreError;

/// An exclusive lock on a folder, held until dropped.
#[derive(Debug)]
pub struct FolderLock {
    folder: PathBuf,
    _file: File,
}

impl FolderLock {
    /// The lock file's name inside the folder.
    pub const FILE: &'static str = ".cllm-lock";

    /// Creates `folder` if needed, locks it, and sweeps the temporary files a killed run
    /// left there.
    ///
    /// # Errors
    /// [`CoreError::FolderBusy`] when another process (or another lock in this one) holds
    /// the folder; [`CoreError::Io`] when the folder or its lock file cannot be made.
    pub fn acquire(folder: &Path) -> Result<Self, CoreError> {
        let io = |e: std::io::Error| CoreError::Io {
            path: folder.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(folder).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(folder.join(Self::FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(CoreError::FolderBusy {
                    folder: folder.to_path_buf(),
                    pid: holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        sweep_leftovers(folder);
        Ok(Self {
            folder: folder.to_path_buf(),
            _file: file,
        })
    }

    /// The locked folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

/// The pid the holder wrote into the lock file (`None` if it has not written it yet).
fn holder(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Removes `.<name>.tmp-<pid>-<n>` files (the temporary files of
/// [`write_atomic`](crate::write_atomic)) from `folder`: with the lock held, none of them
/// belongs to a running writer.
fn sweep_leftovers(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            && name.contains(".tmp-")
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cllm-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_holder_is_refused_with_the_pid_and_a_dropped_lock_frees_the_folder() {
        let d = folder("second");
        let lock = FolderLock::acquire(&d).unwrap();
        match FolderLock::acquire(&d) {
            Err(CoreError::FolderBusy { folder, pid }) => {
                assert_eq!(folder, d);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected FolderBusy, got {other:?}"),
        }
        let msg = FolderLock::acquire(&d).unwrap_err().to_string();
        assert!(
            msg.contains(&d.display().to_string()) && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        drop(lock);
        FolderLock::acquire(&d).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn leftover_temporary_files_are_swept_and_others_kept() {
        let d = folder("sweep");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(".report.json.tmp-999999-3"), b"half").unwrap();
        std::fs::write(d.join("report.json"), b"{}").unwrap();
        std::fs::write(d.join(".hidden"), b"mine").unwrap();
        let _lock = FolderLock::acquire(&d).unwrap();
        assert!(!d.join(".report.json.tmp-999999-3").exists());
        assert!(d.join("report.json").exists() && d.join(".hidden").exists());
        drop(_lock);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
