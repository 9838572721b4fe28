//! The sequence stages run over a whole FASTA stream: chunking, translation, or both in one pass.
//!
//! Records are read in batches, each batch is chunked and/or translated on a worker thread into
//! ready-to-write FASTA bytes, and the bytes are written in input order (see [`crate::parallel`]).
//! Output is identical whatever the number of threads.

use std::path::{Path, PathBuf};

use crate::chunk::chunk_spans;
use crate::error::SeqError;
use crate::fasta::{self, FastaReader, Record, SkippedRecords};
use crate::output::AtomicFile;
use crate::parallel::ordered_map;
use crate::translate::SixFrames;

/// Which stages to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// Cut records into chunks (`split_fasta_chunk`); writes the chunked FASTA.
    Chunk {
        /// Chunk length in bases (300 or 500 for the released models).
        length: usize,
    },
    /// Translate each record in six frames and keep frames without a stop (`identify_seq`);
    /// writes the nucleotide and protein FASTA.
    Translate,
    /// Both in one pass: chunk, then translate every chunk; writes all three files.
    ChunkAndTranslate {
        /// Chunk length in bases.
        length: usize,
    },
}

impl Stages {
    fn chunk_length(self) -> Option<usize> {
        match self {
            Stages::Chunk { length } | Stages::ChunkAndTranslate { length } => Some(length),
            Stages::Translate => None,
        }
    }

    fn translates(self) -> bool {
        !matches!(self, Stages::Chunk { .. })
    }
}

/// Where the stages write. A file is needed for each output the chosen [`Stages`] produce.
#[derive(Debug, Clone, Default)]
pub struct OutputPaths {
    /// Chunked FASTA (60-column lines).
    pub chunked: Option<PathBuf>,
    /// Kept-frame nucleotide FASTA (one line per record).
    pub nucleotide: Option<PathBuf>,
    /// Kept-frame protein FASTA (one line per record).
    pub protein: Option<PathBuf>,
}

/// What a run read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Non-empty records read.
    pub records: u64,
    /// Bases in those records.
    pub bases: u64,
    /// Chunks written (equals `records` when translating already-chunked input).
    pub chunks: u64,
    /// Frames kept (records in the nucleotide and protein outputs).
    pub kept_frames: u64,
    /// Empty records skipped.
    pub skipped: SkippedRecords,
}

/// FASTA bytes made from one batch, ready to write.
#[derive(Default)]
struct BatchOutput {
    chunked: Vec<u8>,
    nucleotide: Vec<u8>,
    protein: Vec<u8>,
    records: u64,
    bases: u64,
    chunks: u64,
    kept_frames: u64,
}

/// Batches carry about this many bases: enough to amortise the hand-over between threads, small
/// enough to keep memory flat.
const BATCH_BASES: usize = 1 << 20;

/// Runs `stages` over every record `input` yields and writes the outputs atomically: on any error
/// no output file is left behind (nor replaced).
pub fn run(
    stages: Stages,
    input: FastaReader,
    outputs: &OutputPaths,
    threads: usize,
) -> Result<Summary, SeqError> {
    run_until(stages, input, outputs, threads, &|| None)
}

/// As [`run`], stopping with [`SeqError::Interrupted`] (and no output left behind, temporary
/// files included) as soon as `stopped` gives a signal number, checked between batches.
pub fn run_until(
    stages: Stages,
    input: FastaReader,
    outputs: &OutputPaths,
    threads: usize,
    stopped: &(dyn Fn() -> Option<i32> + Sync),
) -> Result<Summary, SeqError> {
    if stages.chunk_length() == Some(0) {
        return Err(SeqError::ZeroChunkLength);
    }
    let open = |path: &Option<PathBuf>, needed: bool| -> Result<Option<AtomicFile>, SeqError> {
        match (path, needed) {
            (Some(path), true) => AtomicFile::create(path).map(Some),
            _ => Ok(None),
        }
    };
    let mut chunked_out = open(&outputs.chunked, stages.chunk_length().is_some())?;
    let mut nucleotide_out = open(&outputs.nucleotide, stages.translates())?;
    let mut protein_out = open(&outputs.protein, stages.translates())?;

    let path = input.path().to_path_buf();
    let mut reader = input;
    let mut summary = Summary::default();
    ordered_map(
        Batches::new(&mut reader),
        threads,
        |batch| process_batch(stages, &batch, &path),
        |out: BatchOutput| {
            if let Some(signal) = stopped() {
                return Err(SeqError::Interrupted { signal });
            }
            if let Some(file) = chunked_out.as_mut() {
                file.write_all(&out.chunked)?;
            }
            if let Some(file) = nucleotide_out.as_mut() {
                file.write_all(&out.nucleotide)?;
            }
            if let Some(file) = protein_out.as_mut() {
                file.write_all(&out.protein)?;
            }
            summary.records += out.records;
            summary.bases += out.bases;
            summary.chunks += out.chunks;
            summary.kept_frames += out.kept_frames;
            Ok(())
        },
    )?;
    summary.skipped = reader.skipped().clone();
    if let Some(signal) = stopped() {
        return Err(SeqError::Interrupted { signal });
    }
    for file in [chunked_out, nucleotide_out, protein_out]
        .into_iter()
        .flatten()
    {
        file.commit()?;
    }
    Ok(summary)
}

fn process_batch(stages: Stages, batch: &[Record], path: &Path) -> Result<BatchOutput, SeqError> {
    let mut out = BatchOutput::default();
    let mut frames = SixFrames::new();
    for record in batch {
        record.check_letters(path)?;
        out.records += 1;
        out.bases += record.seq.len() as u64;
        match stages.chunk_length() {
            Some(length) => {
                for (k, span) in chunk_spans(record.seq.len(), length).enumerate() {
                    let chunk = &record.seq[span];
                    let number = (k + 1).to_string();
                    let id = [record.id.as_str(), "_chunk_", number.as_str()];
                    if stages.translates() {
                        translate_into(&mut frames, &id, chunk, &mut out);
                    }
                    fasta::write_wrapped(&mut out.chunked, &id, chunk);
                    out.chunks += 1;
                }
            }
            None => {
                translate_into(&mut frames, &[record.id.as_str()], &record.seq, &mut out);
                out.chunks += 1;
            }
        }
    }
    Ok(out)
}

fn translate_into(frames: &mut SixFrames, id: &[&str], seq: &[u8], out: &mut BatchOutput) {
    frames.for_each_kept(seq, |kept| {
        let mut full_id = [""; 4];
        full_id[..id.len()].copy_from_slice(id);
        full_id[id.len()] = kept.frame.suffix();
        let full_id = &full_id[..=id.len()];
        fasta::write_single_line(&mut out.nucleotide, full_id, kept.nucleotide);
        fasta::write_single_line(&mut out.protein, full_id, kept.protein);
        out.kept_frames += 1;
    });
}

/// Groups the reader's records into batches of about [`BATCH_BASES`] bases. A read error ends the
/// stream after the records before it.
struct Batches<'a> {
    reader: &'a mut FastaReader,
    error: Option<SeqError>,
}

impl<'a> Batches<'a> {
    fn new(reader: &'a mut FastaReader) -> Self {
        Batches {
            reader,
            error: None,
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Vec<Record>, SeqError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let mut batch = Vec::new();
        let mut bases = 0;
        while bases < BATCH_BASES {
            match self.reader.next() {
                Some(Ok(record)) => {
                    bases += record.seq.len();
                    batch.push(record);
                }
                Some(Err(e)) if batch.is_empty() => return Some(Err(e)),
                Some(Err(e)) => {
                    self.error = Some(e);
                    break;
                }
                None => break,
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }
}
