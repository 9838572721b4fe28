//! The one writer of an output directory's result files, for `predict` and `merge` alike.
//!
//! It is fed in input order: every frame's two probabilities (and embeddings, when they are
//! kept), every sequence's row (and its record, when it is called virus), every renamed id.
//! From them it streams `prediction_results.txt`, `embeddings.h5`, `sequence_summary.tsv`, the
//! viral records, `renamed_ids.tsv` and the Kraken lines, builds the per-chunk consensus in
//! bounded memory (spilling sorted runs to disk), and at the end writes
//! `prediction_results_highestscore.csv` and `summary.json`. Each file is written under a
//! temporary name and appears whole, or not at all: a failure or a stop signal before
//! [`ResultWriter::finish`] returns commits nothing. What it holds in memory is a few buffers
//! and the consensus's bounded sort buffer, whatever the number of rows.
//!
//! `predict` feeds it from the checkpoints (k-way merged into input order) and the record
//! ledger; `merge` from the shards' files, one shard after the other (shards are contiguous
//! parts of the input, so that is input order).

use std::path::{Path, PathBuf};

use serde_json::Value;
use virnucpro_engine::StopFlag;
use virnucpro_seq::{AtomicFile, Record, Renamed};

use crate::consensus::Consensus;
use crate::embeddings::EmbeddingsWriter;
use crate::error::{PredictError, Result};
use crate::out_dir::OutDir;
use crate::results;
use crate::sequence_calls::{Call, SequenceRow, SequenceSink, SUMMARY_HEADER};
use crate::totals::Totals;

/// Rows between two looks at the stop flag.
const STOP_CHECK_ROWS: u64 = 1024;

/// What the writer is to write, known before the first row.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The frame rows that will come (`embeddings.h5` is sized to them).
    pub frames: u64,
    /// The widths of the DNABERT-S and ESM-2 embeddings, when `embeddings.h5` is written.
    pub embeddings: Option<(usize, usize)>,
    /// Whether the viral records carry qualities (`viruses.fastq`, else `viruses.fna`).
    pub fastq: bool,
    /// Also write the Kraken-style lines to this file.
    pub kraken: Option<PathBuf>,
    /// Write `renamed_ids.tsv` (duplicate ids were renamed).
    pub renamed: bool,
}

/// The result files being written; see the module doc.
pub struct ResultWriter {
    dir: OutDir,
    stop: StopFlag,
    results: AtomicFile,
    consensus: Consensus,
    embeddings: Option<EmbeddingsWriter>,
    sequences: AtomicFile,
    viruses: AtomicFile,
    fastq: bool,
    kraken: Option<AtomicFile>,
    renamed: Option<AtomicFile>,
    totals: Totals,
    /// Rows given, frames and sequences together (for the stop checks).
    rows: u64,
    text: String,
    line: Vec<u8>,
}

impl ResultWriter {
    /// Starts every file of `plan` in `dir`; the consensus spills its sorted runs (unnamed
    /// temporary files) into `spill_dir`. A signal on `stop` makes the next call fail with
    /// nothing committed.
    pub fn create(dir: &OutDir, spill_dir: &Path, plan: &Plan, stop: StopFlag) -> Result<Self> {
        let mut results = AtomicFile::create(dir.results())?;
        results.write_all(results::RESULTS_HEADER.as_bytes())?;
        let embeddings = match plan.embeddings {
            Some((dnabert, esm)) => Some(EmbeddingsWriter::create(
                &dir.embeddings(),
                plan.frames as usize,
                dnabert,
                esm,
            )?),
            None => None,
        };
        let mut sequences = AtomicFile::create(dir.sequence_summary())?;
        sequences.write_all(SUMMARY_HEADER.as_bytes())?;
        let viruses = AtomicFile::create(dir.viruses(plan.fastq))?;
        let kraken = plan.kraken.as_ref().map(AtomicFile::create).transpose()?;
        let renamed = if plan.renamed {
            let mut f = AtomicFile::create(dir.renamed())?;
            f.write_all(b"record\toriginal_id\tnew_id\n")?;
            Some(f)
        } else {
            None
        };
        Ok(ResultWriter {
            dir: dir.clone(),
            stop,
            results,
            consensus: Consensus::new(spill_dir),
            embeddings,
            sequences,
            viruses,
            fastq: plan.fastq,
            kraken,
            renamed,
            totals: Totals::default(),
            rows: 0,
            text: String::new(),
            line: Vec::new(),
        })
    }

    /// Fails when a stop was asked for (checked every [`STOP_CHECK_ROWS`] rows).
    fn count_row(&mut self) -> Result<()> {
        self.rows += 1;
        if self.rows.is_multiple_of(STOP_CHECK_ROWS) {
            self.check_stop()?;
        }
        Ok(())
    }

    fn check_stop(&self) -> Result<()> {
        match self.stop.signal() {
            Some(signal) => Err(virnucpro_engine::EngineError::Interrupted { signal }.into()),
            None => Ok(()),
        }
    }

    /// The next frame: its id, P(others) and P(virus), and its DNABERT-S and ESM-2 embeddings
    /// when `embeddings.h5` is written.
    pub fn frame(
        &mut self,
        id: &str,
        probs: [f32; 2],
        embedding: Option<(&[f32], &[f32])>,
    ) -> Result<()> {
        self.count_row()?;
        self.text.clear();
        results::push_result(&mut self.text, id, probs);
        self.results.write_all(self.text.as_bytes())?;
        self.consensus.push(id, probs)?;
        self.totals.frames += 1;
        if probs[1] > probs[0] {
            self.totals.virus_frames += 1;
        }
        match (self.embeddings.as_mut(), embedding) {
            (Some(w), Some((dnabert, esm))) => w.push(id, dnabert, esm),
            (None, None) => Ok(()),
            (Some(_), None) => Err(PredictError::file(
                self.dir.embeddings(),
                format!("frame '{id}' came without its embeddings"),
            )),
            (None, Some(_)) => Ok(()),
        }
    }

    /// The viral records of a shard, as that shard wrote them (`merge`); their rows come
    /// through [`SequenceSink::sequence`] without a record.
    pub fn viral_records(&mut self, bytes: &[u8]) -> Result<()> {
        self.viruses.write_all(bytes)?;
        Ok(())
    }

    /// The next row of `renamed_ids.tsv`.
    pub fn renamed(&mut self, r: &Renamed) -> Result<()> {
        let Some(f) = self.renamed.as_mut() else {
            return Err(PredictError::Setup(
                "a renamed id was given, but the run does not rename duplicate ids".into(),
            ));
        };
        f.write_all(format!("{}\t{}\t{}\n", r.record, r.original, r.new).as_bytes())?;
        self.totals.renamed_ids += 1;
        Ok(())
    }

    /// Writes the consensus, then commits every file, `summary.json` last (made by `summary`
    /// from the counts). Returns the counts (`chunks`, which only the pass over the input
    /// knows, is left to the caller).
    pub fn finish(mut self, summary: impl FnOnce(&Totals) -> Result<Value>) -> Result<Totals> {
        self.check_stop()?;
        let mut csv = AtomicFile::create(self.dir.consensus())?;
        csv.write_all(results::CONSENSUS_HEADER.as_bytes())?;
        let consensus = std::mem::replace(&mut self.consensus, Consensus::new(Path::new(".")));
        let mut line = Vec::new();
        let stop = self.stop.clone();
        let mut given = 0u64;
        let (chunks, viral) = consensus.for_each_sorted(|id, virus| -> Result<()> {
            given += 1;
            if given.is_multiple_of(STOP_CHECK_ROWS) {
                if let Some(signal) = stop.signal() {
                    return Err(virnucpro_engine::EngineError::Interrupted { signal }.into());
                }
            }
            line.clear();
            results::push_consensus(&mut line, id, virus);
            csv.write_all(&line)?;
            Ok(())
        })?;
        self.totals.consensus_chunks = chunks;
        self.totals.virus_chunks = viral;
        let value = summary(&self.totals)?;
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| PredictError::file(self.dir.summary_json(), e))?;
        let mut json = AtomicFile::create(self.dir.summary_json())?;
        json.write_all(text.as_bytes())?;
        json.write_all(b"\n")?;
        self.check_stop()?;

        let ResultWriter {
            dir,
            results,
            embeddings,
            sequences,
            viruses,
            fastq,
            kraken,
            renamed,
            totals,
            ..
        } = self;
        if let Some(w) = embeddings {
            w.commit()?;
        }
        sequences.commit()?;
        viruses.commit()?;
        remove_if_present(&dir.viruses(!fastq))?;
        if let Some(f) = renamed {
            f.commit()?;
        }
        if let Some(f) = kraken {
            f.commit()?;
        }
        results.commit()?;
        csv.commit()?;
        json.commit()?;
        Ok(totals)
    }
}

impl SequenceSink for ResultWriter {
    fn sequence(&mut self, row: &SequenceRow, viral_record: Option<&Record>) -> Result<()> {
        self.count_row()?;
        self.line.clear();
        row.push_tsv(&mut self.line);
        self.sequences.write_all(&self.line)?;
        if let Some(kraken) = self.kraken.as_mut() {
            self.line.clear();
            row.push_kraken(&mut self.line);
            kraken.write_all(&self.line)?;
        }
        self.totals.sequences += 1;
        match row.call {
            Call::Virus => self.totals.viral_sequences += 1,
            Call::Unscored => self.totals.unscored_sequences += 1,
            Call::Others => {}
        }
        if let Some(record) = viral_record {
            self.line.clear();
            if self.fastq && record.qual.is_none() {
                // A record without qualities among reads with them: Phred 0 ('!') for each
                // base, as for a missing quality in SAM.
                let mut with = record.clone();
                with.qual = Some(vec![b'!'; record.seq.len()]);
                with.write_as_read(&mut self.line);
            } else if !self.fastq && record.qual.is_some() {
                let mut without = record.clone();
                without.qual = None;
                without.write_as_read(&mut self.line);
            } else {
                record.write_as_read(&mut self.line);
            }
            self.viruses.write_all(&self.line)?;
        }
        Ok(())
    }
}

/// Removes `path` if it is there (a viral-records file of the other format, from an earlier
/// run).
fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PredictError::file(path, format!("cannot remove: {e}"))),
    }
}
