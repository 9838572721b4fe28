//! The virnucpro inference engine: turns a FASTA of sequences into one embedding per sequence
//! with one model on one or many devices.
//!
//! It owns what the models do not: batching under a token budget (first-fit decreasing for
//! packed ESM-2, length-sorted padded batches for DNABERT-S), a pipeline in which the device
//! never waits on disk, checkpoints written in the background at batch boundaries, resume keyed
//! by sequence id, stopping cleanly on SIGINT/SIGTERM, and the final output in input order.

pub mod checkpoint;
pub mod checkpoint_writer;
pub mod clock;
pub mod encoder;
pub mod error;
pub mod fault;
pub mod file_hash;
pub mod fingerprint;
pub mod h5_file;
pub mod kway;
pub mod lock;
pub mod model;
pub mod model_kind;
pub mod ordered;
pub mod output;
pub mod packing;
pub mod progress;
pub mod runner;
pub mod stop;
pub mod worker;

pub use encoder::{DnabertEncoder, Encoder, Esm2Encoder, ModelEncoder};
pub use error::{EngineError, Result, TokenizeError};
pub use model::{Embedding, Item, Model, Tokens};
pub use model_kind::ModelKind;
pub use progress::{NoProgress, Progress};
pub use runner::{embed_file, run_items, Options, Streamed, Summary};
pub use stop::StopFlag;
pub use worker::WorkerReport;
