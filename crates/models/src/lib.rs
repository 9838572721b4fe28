//! The networks of virnucpro in candle: ESM-2 and DNABERT-S (the embedding models) and the
//! VirNucPro MLP classifier, numerically equal to the original PyTorch code.
//!
//! Models know nothing of FASTA files, batching policy or checkpoints: they take token batches
//! and return tensors. CPU by default; the `cuda` feature compiles the same code for NVIDIA GPUs.

pub mod batch;
pub mod classifier;
mod config_file;
pub mod device;
pub mod dnabert;
pub mod embedding_model;
pub mod error;
pub mod esm2;
pub mod layers;
pub mod pooling;
pub mod precision;

pub use batch::{PackedBatch, PaddedBatch};
pub use classifier::{Classifier, Prediction};
pub use device::{device_memory, device_name, DeviceSpec};
pub use dnabert::{DnaTokenizer, Dnabert, DnabertConfig};
pub use embedding_model::{EmbeddingModel, SequenceTokenizer};
pub use error::{ModelError, Result, Unsupported};
pub use esm2::{Esm2, Esm2Config, EsmAlphabet};
pub use precision::{Precision, PrecisionChoice};
