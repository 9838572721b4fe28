//! The layout of an output directory: every file a `predict` run or a `merge` writes there,
//! named in this one place.
//!
//! ```text
//! OUT_DIR/
//!   prediction_results.txt                one row per kept frame (the original's format)
//!   prediction_results_highestscore.csv   one row per chunk (the original's consensus)
//!   sequence_summary.tsv                  one row per input sequence
//!   viruses.fna | viruses.fastq           the records called virus, as they came
//!   embeddings.h5                         with --save-embeddings
//!   renamed_ids.tsv                       with --rename-duplicates
//!   summary.json                          what was run and what it found
//!   run.json                              the run record (resume, reruns, merge)
//!   .virnucpro.lock                       one run at a time
//!   intermediates/records.gz              the record ledger, during a run
//!   intermediates/checkpoints/worker_N/   the engine's checkpoints, during a run
//! ```

use std::path::{Path, PathBuf};

/// `prediction_results.txt`.
pub const RESULTS: &str = "prediction_results.txt";
/// `prediction_results_highestscore.csv`.
pub const CONSENSUS: &str = "prediction_results_highestscore.csv";
/// `sequence_summary.tsv`.
pub const SEQUENCE_SUMMARY: &str = "sequence_summary.tsv";
/// The viral records when the input had no qualities.
pub const VIRUSES_FASTA: &str = "viruses.fna";
/// The viral records when the input had qualities.
pub const VIRUSES_FASTQ: &str = "viruses.fastq";
/// `summary.json`: what the run was made from and what it found.
pub const SUMMARY_JSON: &str = "summary.json";
/// `renamed_ids.tsv`: the records given a new id by `--rename-duplicates`.
pub const RENAMED: &str = "renamed_ids.tsv";
/// `embeddings.h5` (`--save-embeddings`).
pub const EMBEDDINGS: &str = "embeddings.h5";
/// `run.json`: the run record.
pub const RUN_RECORD: &str = "run.json";
/// The folder of a run's working files, removed at the end unless `--keep-intermediates`.
pub const INTERMEDIATES: &str = "intermediates";
/// The record ledger, inside [`INTERMEDIATES`] (see [`crate::ledger`]).
pub const LEDGER: &str = "records.gz";
/// The engine's checkpoints, inside [`INTERMEDIATES`].
pub const CHECKPOINTS: &str = "checkpoints";

/// Every result file a run or a merge may write (the run record aside).
pub const RESULT_FILES: [&str; 8] = [
    RESULTS,
    CONSENSUS,
    EMBEDDINGS,
    SEQUENCE_SUMMARY,
    VIRUSES_FASTA,
    VIRUSES_FASTQ,
    SUMMARY_JSON,
    RENAMED,
];

/// An output directory and the paths of everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutDir {
    root: PathBuf,
}

impl OutDir {
    /// The layout under `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `OUT_DIR/<name>`, for a name of this module.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `prediction_results.txt`.
    pub fn results(&self) -> PathBuf {
        self.file(RESULTS)
    }

    /// `prediction_results_highestscore.csv`.
    pub fn consensus(&self) -> PathBuf {
        self.file(CONSENSUS)
    }

    /// `sequence_summary.tsv`.
    pub fn sequence_summary(&self) -> PathBuf {
        self.file(SEQUENCE_SUMMARY)
    }

    /// The viral records: `viruses.fastq` when they carry qualities, else `viruses.fna`.
    pub fn viruses(&self, fastq: bool) -> PathBuf {
        self.file(if fastq { VIRUSES_FASTQ } else { VIRUSES_FASTA })
    }

    /// `embeddings.h5`.
    pub fn embeddings(&self) -> PathBuf {
        self.file(EMBEDDINGS)
    }

    /// `renamed_ids.tsv`.
    pub fn renamed(&self) -> PathBuf {
        self.file(RENAMED)
    }

    /// `summary.json`.
    pub fn summary_json(&self) -> PathBuf {
        self.file(SUMMARY_JSON)
    }

    /// `run.json`.
    pub fn run_record(&self) -> PathBuf {
        self.file(RUN_RECORD)
    }

    /// `intermediates/`.
    pub fn intermediates(&self) -> PathBuf {
        self.file(INTERMEDIATES)
    }

    /// `intermediates/records.gz`.
    pub fn ledger(&self) -> PathBuf {
        self.intermediates().join(LEDGER)
    }

    /// `intermediates/checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.intermediates().join(CHECKPOINTS)
    }

    /// Removes the temporaries a killed run left here (results, record, ledger, checkpoints)
    /// and beside `kraken`, the one output that may live elsewhere; returns what it removed.
    /// Only for the holder of the directory's lock: a running writer's temporary looks the same.
    pub fn remove_orphaned_temps(
        &self,
        kraken: Option<&Path>,
    ) -> crate::error::Result<Vec<PathBuf>> {
        use virnucpro_seq::output::remove_orphaned_temps;
        let mut removed = remove_orphaned_temps(&self.root, None)?;
        removed.extend(remove_orphaned_temps(&self.intermediates(), None)?);
        removed.extend(virnucpro_engine::checkpoint::remove_orphaned_temps(
            &self.checkpoints(),
        )?);
        if let Some(kraken) = kraken {
            let dir = match kraken.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if let Some(name) = kraken.file_name().and_then(|n| n.to_str()) {
                removed.extend(remove_orphaned_temps(dir, Some(name))?);
            }
        }
        Ok(removed)
    }

    /// Removes the run record, then every result file (those absent are fine): the record
    /// first, so that a removal cut short never leaves a record beside files it does not
    /// describe.
    pub fn remove_results(&self) -> crate::error::Result<()> {
        for name in std::iter::once(&RUN_RECORD).chain(RESULT_FILES.iter()) {
            let path = self.file(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(crate::error::PredictError::file(
                        &path,
                        format!("cannot remove: {e}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Whether a finished run's main result files are all there.
    pub fn holds_finished_results(&self) -> bool {
        [RESULTS, CONSENSUS, SEQUENCE_SUMMARY]
            .iter()
            .all(|name| self.file(name).is_file())
    }
}
