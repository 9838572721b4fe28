//! Reading a model's `config.json`: parse it, then check that the forward pass implements what
//! it describes, each failure naming the file.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{ModelError, Result, Unsupported};

/// Reads `path` as the config of `model` ("an ESM-2", "a DNABERT-S") and rejects it when
/// `check` finds a setting this code does not compute.
pub(crate) fn read_checked<C: DeserializeOwned>(
    path: &Path,
    model: &str,
    check: impl FnOnce(&C) -> std::result::Result<(), Unsupported>,
) -> Result<C> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let config: C = serde_json::from_str(&text)
        .map_err(|e| ModelError::config(path, format!("not {model} config.json: {e}")))?;
    check(&config).map_err(|reason| ModelError::Unsupported {
        path: path.to_path_buf(),
        reason: Box::new(reason),
    })?;
    Ok(config)
}
