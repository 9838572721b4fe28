//! Sequence stages of virnucpro, the Rust VirNucPro: reading FASTA, cutting sequences into
//! model-sized chunks, six-frame translation and the original's frame selection.
//!
//! Everything here is pure sequence logic: no models, no logging. Results match the original
//! Python (`units.py` / `prediction.py`) byte for byte, quirks included; see each module.

pub mod alignment;
pub mod alphabet;
pub mod chunk;
pub mod error;
pub mod fasta;
pub mod genbank;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod synthetic;
pub mod training_frames;
pub mod translate;
pub mod validate;

pub use chunk::{chunk_id, chunk_spans};
pub use error::SeqError;
pub use fasta::{DuplicateIds, FastaReader, Record, Renamed, SkippedRecords};
pub use output::AtomicFile;
pub use pipeline::{run, run_until, OutputPaths, Stages, Summary};
pub use translate::{Frame, KeptFrame, SixFrames, Strand};
