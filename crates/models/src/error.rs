//! Errors of model loading and inference. Each names the file and says what to fix.

use std::path::PathBuf;

/// Anything that stops a model from loading or running.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file of the model could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A model directory lacks a file it needs.
    #[error("{dir}: no {what} found; expected {expected}")]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// What is missing ("weights", "config.json" ...).
        what: &'static str,
        /// The file names that would do.
        expected: String,
    },
    /// The config is unreadable or describes an architecture this code does not implement.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The weights do not fit the config (missing tensor, wrong shape, corrupt file).
    #[error("{path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer file is unreadable, or a sequence holds a letter the model has no token for.
    #[error("{0}")]
    Tokenizer(String),
    /// Bad input to a forward pass (empty batch, inconsistent lengths ...).
    #[error("{0}")]
    Input(String),
    /// A failure inside the tensor library while running the model.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    /// A weights error for `path`.
    pub fn weights(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::Weights {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A config error for `path`.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::Config {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
