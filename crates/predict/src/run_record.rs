//! `run.json`: what a run in an output directory was made from, whether it finished and what it
//! counted. A rerun compares itself with it; `merge` reads it from each shard's directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use virnucpro_seq::AtomicFile;

use crate::error::{PredictError, Result};
use crate::shard::ShardRecord;
use crate::totals::Totals;

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
    pub summary: Option<Totals>,
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
    /// The number of shards this directory was joined from by `merge`; `None` for a run of
    /// `predict`. A retried merge may replace its own result, nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<usize>,
}

impl RunRecord {
    /// Whether `other` was made from the same input, length and models.
    pub fn same_source(&self, other: &RunRecord) -> bool {
        self.input_fingerprint == other.input_fingerprint
            && self.length == other.length
            && self.esm_fingerprint == other.esm_fingerprint
            && self.dnabert_fingerprint == other.dnabert_fingerprint
            && self.classifier_fingerprint == other.classifier_fingerprint
    }
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
        let path = dir.path().join(crate::out_dir::RUN_RECORD);
        let old = r#"{"input_fingerprint":"ab","length":300,"esm_fingerprint":"e",
            "dnabert_fingerprint":"d","classifier_fingerprint":"c","complete":true,
            "summary":[1,2,3,4,5,6]}"#;
        std::fs::write(&path, old).unwrap();
        let record = read_record(&path).unwrap().unwrap();
        let totals = Totals {
            sequences: 1,
            chunks: 2,
            frames: 3,
            virus_frames: 4,
            consensus_chunks: 5,
            virus_chunks: 6,
            ..Totals::default()
        };
        assert_eq!(record.summary, Some(totals));
        write_record(&path, &record).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"virus_chunks\": 6"), "{text}");
        assert_eq!(read_record(&path).unwrap().unwrap(), record);
    }
}
