//! The VirNucPro prediction flow in Rust: from a FASTA of reads or contigs to the original's
//! `prediction_results.txt` and `prediction_results_highestscore.csv`, in one pass over the
//! input, resumable frame by frame.

pub mod chunk_length;
pub mod consensus;
pub mod embeddings;
pub mod error;
pub mod fetch;
pub mod flow;
pub mod frames;
pub mod ledger;
pub mod locate;
pub mod merge;
pub mod out_dir;
pub mod released;
pub mod request;
pub mod result_writer;
pub mod results;
pub mod run_record;
pub mod run_summary;
pub mod scorer;
pub mod selfcheck;
pub mod sequence_calls;
pub mod shard;
pub mod totals;

pub use chunk_length::ChunkLength;
pub use error::{PredictError, Result};
pub use flow::predict;
pub use locate::{resolve, ModelPaths};
pub use merge::{merge, MergeSummary};
pub use request::{Reporter, Request, Silent, Summary};
pub use shard::Shard;
pub use totals::Totals;
