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
    /// The config describes a setting this implementation does not compute.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The config file.
        path: PathBuf,
        /// Which setting, and what would do.
        reason: Box<Unsupported>,
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

/// A `config.json` setting that the forward pass does not implement, found when the config is
/// read, before any weight is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A named setting has a value the model does not use.
    #[error("{setting} is '{found}'; {model} uses '{expected}'{hint}")]
    Setting {
        /// The config key.
        setting: &'static str,
        /// Its value in the file.
        found: String,
        /// The model this code implements.
        model: &'static str,
        /// The value that model has.
        expected: &'static str,
        /// A guess at what the file is, or empty.
        hint: &'static str,
    },
    /// The `architectures` entry names another network.
    #[error("architecture '{0}' is not DNABERT-S's BertModel")]
    Architecture(String),
    /// The width does not split into the heads.
    #[error("hidden_size {hidden} is not a multiple of num_attention_heads {heads}")]
    Heads {
        /// `hidden_size`.
        hidden: usize,
        /// `num_attention_heads`.
        heads: usize,
    },
    /// Rotary embeddings rotate pairs of dimensions.
    #[error("the head dimension must be even for rotary embeddings")]
    OddHeadDim,
    /// The vocabulary cannot hold the ESM alphabet.
    #[error("vocab_size {0} is smaller than the ESM alphabet (33)")]
    SmallVocabulary(usize),
    /// A switch the model does not have, described in full.
    #[error("{0}")]
    Feature(&'static str),
}

/// Result of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
