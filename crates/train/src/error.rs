//! Errors of the training half: each names the file (or the flag's value) and what to fix.

use std::path::PathBuf;

/// Anything that stops building a training set.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An input could not be read or parsed.
    #[error(transparent)]
    Input(#[from] virnucpro_seq::SeqError),
    /// The engine failed (lock, hashes, models, checkpoints).
    #[error(transparent)]
    Engine(#[from] virnucpro_engine::EngineError),
    /// Writing the features file failed.
    #[error(transparent)]
    Predict(#[from] virnucpro_predict::PredictError),
    /// A file of the dataset, with what went wrong.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The request cannot make a training set (no host genomes, a group with no frames ...).
    #[error("{0}")]
    Setup(String),
}

impl TrainError {
    /// An error about `path`.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
