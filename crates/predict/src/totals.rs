//! What a run or a merge counted: one type for `run.json`'s `summary`, `summary.json`'s
//! `counts` and what the CLI reports, so a new count is added in one place.

use serde::{Deserialize, Serialize};

/// The counts of a finished run (or of a merge, which is one run made in parts).
///
/// Stored as a JSON object; a `run.json` of an earlier version, whose `summary` was the array
/// of the first six numbers, still reads (the rest are then zero).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Totals {
    /// Input records.
    pub sequences: u64,
    /// Chunks.
    pub chunks: u64,
    /// Kept frames (rows of `prediction_results.txt`).
    pub frames: u64,
    /// Frames called virus.
    pub virus_frames: u64,
    /// Chunks in the consensus (chunks with a kept frame).
    pub consensus_chunks: u64,
    /// Chunks called virus by the consensus.
    pub virus_chunks: u64,
    /// Sequences called virus (`sequence_summary.tsv`).
    pub viral_sequences: u64,
    /// Sequences without a scored chunk.
    pub unscored_sequences: u64,
    /// Records given a new id for a duplicate one.
    pub renamed_ids: u64,
}
