//! `models fetch`: downloads ESM-2 and DNABERT-S into the Hugging Face cache (hf-hub; honours
//! `HF_ENDPOINT` and `HF_HOME`) and the classifiers from the original project's repository into
//! [`crate::locate::classifier_cache_dir`], where `predict` finds them all.

use std::io::Read;
use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;

use crate::error::{PredictError, Result};
use crate::locate;

/// Where the original project publishes `300_model.pth` and `500_model.pth`; `VIRNUCPRO_CLASSIFIER_URL`
/// replaces it (a mirror, or a local server in tests).
pub const CLASSIFIER_BASE_URL: &str = "https://github.com/Li-Jing-1997/VirNucPro/raw/main";

/// Files of each hub model, the first of each group that exists being enough.
const ESM_FILES: &[&[&str]] = &[
    &["config.json"],
    &["model.safetensors", "pytorch_model.bin"],
];
const DNABERT_FILES: &[&[&str]] = &[
    &["config.json"],
    &["tokenizer.json"],
    &["pytorch_model.bin", "model.safetensors"],
];

/// One fetched model: its name and where it is now.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `ESM-2`, `DNABERT-S` or `classifier <L>`.
    pub what: String,
    /// The local path.
    pub path: PathBuf,
}

/// Downloads what `predict` needs for chunk lengths `lengths`; `progress` shows download bars.
pub fn fetch(lengths: &[usize], progress: bool) -> Result<Vec<Fetched>> {
    let api = ApiBuilder::from_env()
        .with_progress(progress)
        .build()
        .map_err(|e| PredictError::Setup(format!("cannot start the Hugging Face client: {e}")))?;
    let mut out = Vec::new();
    for (what, repo, groups) in [
        ("ESM-2", locate::ESM_REPO, ESM_FILES),
        ("DNABERT-S", locate::DNABERT_REPO, DNABERT_FILES),
    ] {
        let repo_api = api.model(repo.to_string());
        let mut dir = None;
        for group in groups {
            let mut last_err = None;
            let mut got = None;
            for file in *group {
                match repo_api.get(file) {
                    Ok(p) => {
                        got = Some(p);
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            let path = got.ok_or_else(|| {
                PredictError::Setup(format!(
                    "cannot download {} from {repo}: {}",
                    group.join(" or "),
                    last_err.map(|e| e.to_string()).unwrap_or_default()
                ))
            })?;
            dir = path.parent().map(PathBuf::from);
        }
        out.push(Fetched {
            what: what.into(),
            path: dir.expect("at least one file per model"),
        });
    }
    let base =
        std::env::var("VIRNUCPRO_CLASSIFIER_URL").unwrap_or_else(|_| CLASSIFIER_BASE_URL.into());
    let dir = locate::classifier_cache_dir()
        .ok_or_else(|| PredictError::Setup("neither VIRNUCPRO_HOME nor HOME is set".into()))?;
    std::fs::create_dir_all(&dir).map_err(|e| PredictError::file(&dir, e))?;
    for length in lengths {
        let name = format!("{length}_model.pth");
        let target = dir.join(&name);
        // A file already there is kept only if it is the released one.
        let genuine = std::fs::read(&target)
            .map(|b| crate::released::released_length(&b) == Some(*length))
            .unwrap_or(false);
        if !genuine {
            let url = format!("{}/{name}", base.trim_end_matches('/'));
            let response = ureq::get(&url)
                .call()
                .map_err(|e| PredictError::Setup(format!("cannot download {url}: {e}")))?;
            let mut bytes = Vec::new();
            response
                .into_reader()
                .take(1 << 30)
                .read_to_end(&mut bytes)
                .map_err(|e| PredictError::Setup(format!("cannot download {url}: {e}")))?;
            crate::released::check_download(&url, &bytes, *length)?;
            let mut file = virnucpro_seq::AtomicFile::create(&target)?;
            file.write_all(&bytes)?;
            file.commit()?;
        }
        // Check it is really a classifier before declaring success; never leave a bad one where
        // `predict` would pick it up.
        if let Err(e) = virnucpro_models::Classifier::load(&target, &candle_core::Device::Cpu) {
            let _ = std::fs::remove_file(&target);
            return Err(e.into());
        }
        out.push(Fetched {
            what: format!("classifier {length}"),
            path: target,
        });
    }
    Ok(out)
}
