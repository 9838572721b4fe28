//! Finding the three models: command-line flags first, then `VIRNUCPRO_ESM`,
//! `VIRNUCPRO_DNABERT`, `VIRNUCPRO_CLASSIFIER`, then the Hugging Face cache
//! (`$HF_HOME/hub/models--<org>--<name>/snapshots/*`, `HF_HOME` defaulting to
//! `~/.cache/huggingface`).

use std::path::{Path, PathBuf};

use crate::error::{PredictError, Result};

/// Hub repository of the ESM-2 model VirNucPro uses.
pub const ESM_REPO: &str = "facebook/esm2_t36_3B_UR50D";
/// Hub repository of DNABERT-S.
pub const DNABERT_REPO: &str = "zhihan1996/DNABERT-S";

/// Where each model is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// ESM-2 directory.
    pub esm: PathBuf,
    /// DNABERT-S directory.
    pub dnabert: PathBuf,
    /// Classifier file.
    pub classifier: PathBuf,
}

/// Resolves the three models for chunk length `length` from flags, environment and cache.
pub fn resolve(
    esm: Option<&Path>,
    dnabert: Option<&Path>,
    classifier: Option<&Path>,
    length: usize,
) -> Result<ModelPaths> {
    Ok(ModelPaths {
        esm: find_esm(esm)?,
        dnabert: find_dnabert(dnabert)?,
        classifier: find_classifier(classifier, length)?,
    })
}

/// The ESM-2 directory: `flag`, `VIRNUCPRO_ESM` or the hub cache.
pub fn find_esm(flag: Option<&Path>) -> Result<PathBuf> {
    find_dir(flag, "VIRNUCPRO_ESM", ESM_REPO, "--esm")
}

/// The DNABERT-S directory: `flag`, `VIRNUCPRO_DNABERT` or the hub cache.
pub fn find_dnabert(flag: Option<&Path>) -> Result<PathBuf> {
    find_dir(flag, "VIRNUCPRO_DNABERT", DNABERT_REPO, "--dnabert")
}

/// The classifier for `length`: `flag` or `VIRNUCPRO_CLASSIFIER` (a file, or a directory holding
/// `<length>_model.pth`), else the one `models fetch` put in [`classifier_cache_dir`].
pub fn find_classifier(flag: Option<&Path>, length: usize) -> Result<PathBuf> {
    // Last: what `models fetch` downloaded.
    let fetched = classifier_cache_dir()
        .map(|d| d.join(format!("{length}_model.pth")))
        .filter(|p| p.is_file());
    match flag
        .map(Path::to_path_buf)
        .or_else(|| env_path("VIRNUCPRO_CLASSIFIER"))
        .or(fetched)
    {
        Some(p) => classifier_file(&p, length),
        None => Err(PredictError::Setup(format!(
            "no classifier given: pass --classifier {length}_model.pth (the trained VirNucPro \
             model for {length} bp) or a directory holding it, or set VIRNUCPRO_CLASSIFIER"
        ))),
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where `models fetch` puts the classifiers: `$VIRNUCPRO_HOME/classifiers`, by default
/// `~/.cache/virnucpro/classifiers`.
pub fn classifier_cache_dir() -> Option<PathBuf> {
    env_path("VIRNUCPRO_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".cache/virnucpro")))
        .map(|h| h.join("classifiers"))
}

/// Where the content hashes of model files are remembered: `$VIRNUCPRO_HOME/fingerprints`, by
/// default `~/.cache/virnucpro/fingerprints`; nowhere when neither is set.
pub fn hash_cache() -> virnucpro_engine::file_hash::HashCache {
    match env_path("VIRNUCPRO_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".cache/virnucpro")))
    {
        Some(home) => virnucpro_engine::file_hash::HashCache::in_dir(home.join("fingerprints")),
        None => virnucpro_engine::file_hash::HashCache::none(),
    }
}

/// The Hugging Face hub cache directory.
pub fn hf_hub_dir() -> Option<PathBuf> {
    env_path("HF_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".cache/huggingface")))
        .map(|h| h.join("hub"))
}

/// The newest snapshot of `repo` in the hub cache that has a config.json.
pub fn cached_snapshot(repo: &str) -> Option<PathBuf> {
    let dir = hf_hub_dir()?
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("snapshots");
    let mut snapshots: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .map(|p| {
            (
                p.metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
                p,
            )
        })
        .collect();
    snapshots.sort();
    snapshots.pop().map(|(_, p)| p)
}

fn find_dir(flag: Option<&Path>, var: &str, repo: &str, flag_name: &str) -> Result<PathBuf> {
    let (path, from) = match flag.map(Path::to_path_buf) {
        Some(p) => (p, flag_name.to_string()),
        None => match env_path(var) {
            Some(p) => (p, var.to_string()),
            None => {
                return cached_snapshot(repo).ok_or_else(|| {
                    PredictError::Setup(format!(
                    "{repo} not found: pass {flag_name} DIR, set {var}, or put the model in the \
                         Hugging Face cache ({})",
                    hf_hub_dir()
                        .map(|d| d.display().to_string())
                        .unwrap_or_else(|| "$HF_HOME/hub".into())
                ))
                })
            }
        },
    };
    if !path.join("config.json").is_file() {
        return Err(PredictError::Setup(format!(
            "{} (from {from}) is not a model directory: it has no config.json",
            path.display()
        )));
    }
    Ok(path)
}

/// A classifier file, or `<L>_model.pth` / `<L>_model.safetensors` inside a directory.
fn classifier_file(path: &Path, length: usize) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_dir() {
        for name in [
            format!("{length}_model.pth"),
            format!("{length}_model.safetensors"),
        ] {
            let candidate = path.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        return Err(PredictError::Setup(format!(
            "{} holds no {length}_model.pth (or .safetensors) for -L {length}",
            path.display()
        )));
    }
    Err(PredictError::Setup(format!(
        "classifier {} does not exist",
        path.display()
    )))
}
