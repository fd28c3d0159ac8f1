//! A folder of `.txt`/`.md` files, one text per file.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cllm_core::Document;

use super::line::utf8;
use super::{check_groups, SourcedText, TextSource, TextStream};
use crate::CorpusError;

/// A folder of `.txt` and `.md` files (any case), walked in sorted order, sub-folders
/// included. Hidden entries (names starting with `.`), symbolic links and other files are
/// skipped. Each file is one text: its content, less one final line break. Its id is its
/// path below the folder without the extension, with `/` between folders
/// (`soup/minestrone`); its group is its first sub-folder (none at the top); a Markdown
/// file whose first line is a `# ` heading has that heading as its title.
#[derive(Debug, Clone)]
pub struct FolderSource {
    root: PathBuf,
    files: Vec<PathBuf>,
    max_file_bytes: u64,
}

impl FolderSource {
    /// Lists the text files under `root` (not their contents); files over
    /// `max_file_bytes` are read only that far (see [`super::ReadOptions`]).
    pub fn new(root: PathBuf, max_file_bytes: u64) -> Result<Self, CorpusError> {
        let mut files = Vec::new();
        collect_files(&root, &mut files)?;
        Ok(Self {
            root,
            files,
            max_file_bytes,
        })
    }

    /// The text files found, sorted.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn read(&self, path: &Path) -> Result<Document, CorpusError> {
        let f = fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        let mut bytes = Vec::new();
        f.take(self.max_file_bytes)
            .read_to_end(&mut bytes)
            .map_err(|e| CorpusError::io(path, e))?;
        let full = fs::metadata(path).map_or(0, |m| m.len());
        if full > self.max_file_bytes {
            // Cut inside a character: drop the partial one.
            let keep = match std::str::from_utf8(&bytes) {
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                _ => bytes.len(),
            };
            bytes.truncate(keep);
        }
        let mut text = utf8(bytes, path, 1)?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let mut id = parts.join("/");
        if let Some(ext) = rel.extension() {
            id.truncate(id.len() - ext.len() - 1);
        }
        let is_md = rel
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"));
        let title = is_md
            .then(|| text.lines().next().and_then(|l| l.strip_prefix("# ")))
            .flatten()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let mut doc = Document::new(id, text);
        if let Some(t) = title {
            doc = doc.with_title(t);
        }
        if parts.len() > 1 {
            let group = vec![parts[0].clone()];
            check_groups(&group, path, 0)?;
            doc = doc.with_groups(group);
        }
        Ok(doc)
    }
}

/// Appends the text files under `dir`, sorted by name, depth first.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let mut entries: Vec<(PathBuf, fs::FileType)> = fs::read_dir(dir)
        .map_err(|e| CorpusError::io(dir, e))?
        .map(|e| {
            let e = e.map_err(|err| CorpusError::io(dir, err))?;
            let ty = e
                .file_type()
                .map_err(|err| CorpusError::io(e.path(), err))?;
            Ok((e.path(), ty))
        })
        .collect::<Result<_, CorpusError>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, ty) in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || ty.is_symlink() {
            continue;
        }
        if ty.is_dir() {
            collect_files(&path, out)?;
        } else if ty.is_file() && is_text_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_text_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("md"))
}

impl TextSource for FolderSource {
    fn origin(&self) -> &Path {
        &self.root
    }

    fn total_bytes(&self) -> Option<u64> {
        Some(
            self.files
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| m.len().min(self.max_file_bytes))
                .sum(),
        )
    }

    fn texts(&self) -> Result<TextStream<'_>, CorpusError> {
        let mut done = 0u64;
        Ok(Box::new(self.files.iter().map(move |path| {
            let doc = self.read(path)?;
            done += fs::metadata(path)
                .map_or(0, |m| m.len())
                .min(self.max_file_bytes);
            Ok(SourcedText {
                doc,
                path: path.clone(),
                line: 0,
                bytes_read: done,
            })
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_only() {
        assert!(is_text_file(Path::new("a/b.TXT")) && is_text_file(Path::new("c.md")));
        assert!(!is_text_file(Path::new("c.json")) && !is_text_file(Path::new("txt")));
    }
}
