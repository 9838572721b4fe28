//! Errors of the engine. Each says what happened, to which file, and what to do.

use std::path::PathBuf;

/// Anything that stops an embedding run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading the input FASTA failed (bad file, bad record).
    #[error(transparent)]
    Input(#[from] virnucpro_seq::SeqError),
    /// A sequence the model cannot tokenise.
    #[error("{path}: record '{id}': {reason}")]
    Sequence {
        /// The input file.
        path: PathBuf,
        /// The record.
        id: String,
        /// What is wrong.
        reason: Box<TokenizeError>,
    },
    /// The model failed.
    #[error(transparent)]
    Model(#[from] virnucpro_models::ModelError),
    /// A file could not be read or written.
    #[error("{path}: {action}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        message: String,
    },
    /// Checkpoints in the output directory belong to another input or model.
    #[error(
        "{path} was made from a different {what}; rerun with --force-restart to discard the \
         old checkpoints, or choose another output"
    )]
    FingerprintMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// "input" or "model".
        what: &'static str,
    },
    /// Another run holds the directory.
    #[error(
        "{dir} is in use by another run ({holder}); wait for it to finish, stop it, or choose \
         another output"
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// Who holds it (pid, host, start time).
        holder: String,
    },
    /// The run was stopped by a signal after writing a resumable checkpoint.
    #[error("stopped by signal {signal} after a checkpoint; rerun the same command to resume")]
    Interrupted {
        /// The signal number (2 = SIGINT, 15 = SIGTERM).
        signal: i32,
    },
    /// Every model worker failed; the run cannot go on.
    #[error("every model worker failed, so the run stopped (finished batches are checkpointed; rerun to resume):\n  {}", .0.join("\n  "))]
    WorkersFailed(Vec<String>),
    /// Data is damaged or inconsistent: a sequence missing from or repeated in the
    /// checkpoints, a checkpoint naming a position beyond the input, an output that fails its
    /// check after writing.
    #[error("{0}")]
    Integrity(String),
    /// A model broke its contract: it panicked, or returned the wrong number of values.
    #[error("{0}")]
    ModelFailed(String),
    /// The engine was asked for something it cannot do as asked (no worker, workers holding
    /// different models, rows and widths that do not fit): a bug in the caller, not in the data.
    #[error("{0}")]
    InvalidRequest(String),
}

impl EngineError {
    /// A file error.
    pub fn file(path: impl Into<PathBuf>, action: &'static str, e: impl std::fmt::Display) -> Self {
        EngineError::File {
            path: path.into(),
            action,
            message: e.to_string(),
        }
    }
}

/// Why an item cannot be tokenised.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// A sequence holds a letter the model's tokenizer has no token for.
    #[error(transparent)]
    Tokenizer(#[from] virnucpro_models::ModelError),
    /// A sequence is not text.
    #[error("the sequence is not text (UTF-8): {0}")]
    NotText(#[from] std::str::Utf8Error),
    /// The item does not hold the sequences the model reads.
    #[error("{0}")]
    WrongShape(&'static str),
}

/// Result of this crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
