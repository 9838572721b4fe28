//! Errors of the prediction flow.

/// Anything that stops `predict`.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// Reading or writing sequences failed.
    #[error(transparent)]
    Seq(#[from] virnucpro_seq::SeqError),
    /// An embedding stage failed (or was interrupted).
    #[error(transparent)]
    Engine(#[from] virnucpro_engine::EngineError),
    /// A model failed to load or run.
    #[error(transparent)]
    Model(#[from] virnucpro_models::ModelError),
    /// A model could not be found, or the setup is inconsistent; the message says what to do.
    #[error("{0}")]
    Setup(String),
    /// A file of the run could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl PredictError {
    /// A file error.
    pub fn file(path: impl Into<std::path::PathBuf>, e: impl std::fmt::Display) -> Self {
        PredictError::File {
            path: path.into(),
            message: e.to_string(),
        }
    }
}

/// Result of this crate.
pub type Result<T, E = PredictError> = std::result::Result<T, E>;
