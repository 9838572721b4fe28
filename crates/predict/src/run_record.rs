//! `run.json`: what a run in an output directory was made from, whether it finished and what it
//! counted. A rerun compares itself with it; `merge` reads it from each shard's directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use virnucpro_seq::AtomicFile;

use crate::error::{PredictError, Result};
use crate::shard::ShardRecord;

/// Name of the run record in the output directory.
pub const RUN_RECORD: &str = "run.json";

fn default_min_score() -> f64 {
    crate::sequence_calls::DEFAULT_MIN_SCORE
}

/// `run.json`: what a run in an output directory was made from, whether it finished, and what it
/// found. `merge` reads it from each shard's directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Fingerprint of the whole input (ids and sequences); empty until the run has read it all.
    pub input_fingerprint: String,
    /// Chunk length.
    pub length: usize,
    /// Fingerprints of the three models.
    pub esm_fingerprint: String,
    /// DNABERT-S.
    pub dnabert_fingerprint: String,
    /// The classifier.
    pub classifier_fingerprint: String,
    /// Whether both result files were written.
    pub complete: bool,
    /// What the run counted, once finished.
    pub summary: Option<RunTotals>,
    /// The part of the input this run did, when it was one shard of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
    /// Where the time went, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<Timings>,
    /// `--min-score` (a run recorded before it existed used the default).
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// Whether duplicate ids were renamed (`--rename-duplicates`).
    #[serde(default)]
    pub rename_duplicates: bool,
    /// What the per-sequence outputs counted, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_calls: Option<SequenceCallCounts>,
}

/// `run.json`'s counts of the frame and chunk outputs. Stored as a JSON object; a record
/// written as the array of these six numbers (in this order) is still read.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunTotals {
    /// Input records.
    pub sequences: u64,
    /// Chunks.
    pub chunks: u64,
    /// Kept frames (rows of `prediction_results.txt`).
    pub frames: u64,
    /// Frames called virus.
    pub virus_frames: u64,
    /// Chunks in the consensus.
    pub consensus_chunks: u64,
    /// Chunks called virus by the consensus.
    pub virus_chunks: u64,
}

/// `run.json`'s counts of the per-sequence outputs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SequenceCallCounts {
    /// Sequences called virus.
    pub viral: u64,
    /// Sequences without a scored chunk.
    pub unscored: u64,
    /// Records given a new id for a duplicate one.
    pub renamed: u64,
}

/// Where a finished run's time went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    /// The whole run, start to finish.
    pub wall: f64,
    /// Inside the models' forward calls (all workers together).
    pub forward: f64,
    /// CPU seconds of everything but the models: the engine's reading, tokenising, planning
    /// and checkpointing threads, and writing the result files.
    #[serde(default)]
    pub flow_cpu: f64,
}

/// Reads `run.json`, if there is one.
pub fn read_record(path: &Path) -> Result<Option<RunRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            PredictError::file(
                path,
                format!("unreadable run record ({e}); use --force-restart"),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PredictError::file(path, e)),
    }
}

/// Writes `run.json` atomically.
pub fn write_record(path: &Path, record: &RunRecord) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let text = serde_json::to_string_pretty(record).map_err(|e| PredictError::file(path, e))?;
    f.write_all(text.as_bytes())?;
    f.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_named_and_an_older_array_record_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUN_RECORD);
        let old = r#"{"input_fingerprint":"ab","length":300,"esm_fingerprint":"e",
            "dnabert_fingerprint":"d","classifier_fingerprint":"c","complete":true,
            "summary":[1,2,3,4,5,6]}"#;
        std::fs::write(&path, old).unwrap();
        let record = read_record(&path).unwrap().unwrap();
        let totals = RunTotals {
            sequences: 1,
            chunks: 2,
            frames: 3,
            virus_frames: 4,
            consensus_chunks: 5,
            virus_chunks: 6,
        };
        assert_eq!(record.summary, Some(totals));
        write_record(&path, &record).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"virus_chunks\": 6"), "{text}");
        assert_eq!(read_record(&path).unwrap().unwrap(), record);
    }
}
