//! The files of an output directory: their names, and the small ones written whole (the result
//! files of a merge, `renamed_ids.tsv`, the Kraken lines). A run's large result files are
//! streamed by the flow.

use std::path::Path;

use virnucpro_seq::AtomicFile;

use crate::consensus;
use crate::error::{PredictError, Result};
use crate::results::{self, FrameCall};

/// `prediction_results.txt`.
pub const RESULTS: &str = "prediction_results.txt";
/// `prediction_results_highestscore.csv`.
pub const CONSENSUS: &str = "prediction_results_highestscore.csv";
/// `summary.json`: what the run was made from and what it found.
pub const SUMMARY_JSON: &str = "summary.json";
/// `renamed_ids.tsv`: the records given a new id by `--rename-duplicates`.
pub const RENAMED: &str = "renamed_ids.tsv";
/// `embeddings.h5` (`--save-embeddings`).
pub const EMBEDDINGS: &str = "embeddings.h5";

/// Every result file a run or a merge may write in its output directory.
pub const RESULT_FILES: [&str; 8] = [
    RESULTS,
    CONSENSUS,
    EMBEDDINGS,
    crate::sequence_calls::SEQUENCE_SUMMARY,
    crate::sequence_calls::VIRUSES_FASTA,
    crate::sequence_calls::VIRUSES_FASTQ,
    SUMMARY_JSON,
    RENAMED,
];

/// Writes `renamed_ids.tsv` (record number, id in the input, id given) atomically.
pub fn write_renamed(out: &Path, renamed: &[virnucpro_seq::Renamed]) -> Result<()> {
    let mut f = AtomicFile::create(out.join(RENAMED))?;
    f.write_all(b"record\toriginal_id\tnew_id\n")?;
    for r in renamed {
        f.write_all(format!("{}\t{}\t{}\n", r.record, r.original, r.new).as_bytes())?;
    }
    f.commit()?;
    Ok(())
}

/// Writes the Kraken-style lines to `path` from `out`'s `sequence_summary.tsv`.
pub fn write_kraken(out: &Path, path: &Path) -> Result<()> {
    let summary = out.join(crate::sequence_calls::SEQUENCE_SUMMARY);
    if !summary.is_file() {
        return Err(PredictError::file(
            &summary,
            "missing: this run was made before per-sequence calls existed; rerun it with \
             --force-restart to write them",
        ));
    }
    crate::sequence_calls::write_kraken(&summary, path)?;
    Ok(())
}

/// Writes the two result files of `calls` into `out`, each atomically.
pub fn write_results(out: &Path, calls: &[FrameCall]) -> Result<()> {
    for (name, text) in [
        (RESULTS, results::prediction_results(calls)),
        (
            CONSENSUS,
            consensus::csv_text(&consensus::of_calls(calls, out)?),
        ),
    ] {
        let mut f = AtomicFile::create(out.join(name))?;
        f.write_all(text.as_bytes())?;
        f.commit()?;
    }
    Ok(())
}
