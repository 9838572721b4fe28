//! The frames to classify, straight from the input in one pass: each record cut into chunks
//! (the original's overlap rule), each chunk translated in six frames, the frames without a
//! stop codon kept, each handed to the engine as an item of two sequences (nucleotides for
//! DNABERT-S, protein for ESM-2) with the id `<record>_chunk_<k><F1..R3>`.
//!
//! Nothing is written to disk and nothing is held beyond one record's frames. The counts and
//! the input's fingerprint are taken in the same pass.

use std::collections::VecDeque;
use std::ops::Range;

use virnucpro_engine::fingerprint::InputFingerprint;
use virnucpro_engine::{EngineError, Item};
use virnucpro_seq::{chunk_spans, FastaReader, SixFrames, SkippedRecords};

use crate::ledger::LedgerWriter;

/// What the pass has read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records chunked (those of this shard, when one).
    pub sequences: u64,
    /// Chunks.
    pub chunks: u64,
    /// Kept frames.
    pub frames: u64,
}

/// An iterator of the kept frames of every record of a FASTA stream, as engine items.
pub struct Frames {
    reader: FastaReader,
    length: usize,
    only: Option<Range<u64>>,
    position: u64,
    pending: VecDeque<Item>,
    six: SixFrames,
    counts: Counts,
    fingerprint: InputFingerprint,
    /// Where each record of the run goes, with its chunks' kept-frame counts.
    ledger: Option<LedgerWriter>,
    chunk_frames: Vec<u8>,
}

impl Frames {
    /// The frames of `reader`'s records cut at `length` bp; with `only`, just those of the
    /// records at these positions (a shard), though every record is read and fingerprinted.
    pub fn new(reader: FastaReader, length: usize, only: Option<Range<u64>>) -> Self {
        Frames {
            reader,
            length,
            only,
            position: 0,
            pending: VecDeque::new(),
            six: SixFrames::new(),
            counts: Counts::default(),
            fingerprint: InputFingerprint::new(),
            ledger: None,
            chunk_frames: Vec::new(),
        }
    }

    /// Also spools every record of the run (and its chunks' kept-frame counts) to `ledger`,
    /// for the per-sequence outputs.
    pub fn with_ledger(mut self, ledger: LedgerWriter) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Finishes the ledger (every write error surfaces here) and gives its path.
    pub fn finish_ledger(&mut self) -> std::io::Result<Option<std::path::PathBuf>> {
        self.ledger.take().map(LedgerWriter::finish).transpose()
    }

    /// The records renamed for a duplicate id (with `--rename-duplicates`).
    pub fn renamed(&self) -> &[virnucpro_seq::Renamed] {
        self.reader.renamed()
    }

    /// Records, chunks and frames read so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Fingerprint of every record read (ids and sequences), shard or not.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.finish()
    }

    /// The empty records skipped.
    pub fn skipped(&self) -> &SkippedRecords {
        self.reader.skipped()
    }

    /// Reads records until one gives frames; false at the end of the input.
    fn refill(&mut self) -> Result<bool, EngineError> {
        while self.pending.is_empty() {
            let Some(record) = self.reader.next() else {
                return Ok(false);
            };
            let record = record?;
            self.fingerprint.add(&record.id, &record.seq);
            let position = self.position;
            self.position += 1;
            if self.only.as_ref().is_some_and(|r| !r.contains(&position)) {
                continue;
            }
            record.check_letters(self.reader.path())?;
            self.counts.sequences += 1;
            self.chunk_frames.clear();
            for (k, span) in chunk_spans(record.seq.len(), self.length).enumerate() {
                self.counts.chunks += 1;
                let chunk_id = format!("{}_chunk_{}", record.id, k + 1);
                let pending = &mut self.pending;
                let mut kept_here = 0u8;
                self.six.for_each_kept(&record.seq[span], |kept| {
                    kept_here += 1;
                    pending.push_back(Item {
                        id: format!("{chunk_id}{}", kept.frame.suffix()),
                        seqs: vec![kept.nucleotide.to_vec(), kept.protein.to_vec()],
                    });
                });
                self.chunk_frames.push(kept_here);
            }
            if let Some(ledger) = self.ledger.as_mut() {
                ledger.add(&record, &self.chunk_frames).map_err(|e| {
                    EngineError::file(ledger.path(), "cannot write the record ledger", e)
                })?;
            }
        }
        Ok(true)
    }
}

impl Iterator for Frames {
    type Item = Result<Item, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.refill() {
            Ok(true) => {
                self.counts.frames += 1;
                self.pending.pop_front().map(Ok)
            }
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &'static [u8], length: usize, only: Option<Range<u64>>) -> Frames {
        let reader = FastaReader::from_reader("t.fa", std::io::Cursor::new(text)).unwrap();
        Frames::new(reader, length, only)
    }

    #[test]
    fn frames_match_the_chunk_and_translate_stages() {
        let text = b">a\nATGAAACCCGGGTTTATGAAACCCGGGTTT\n>b\nATGCATGCATGCATGCAT\n";
        let got: Vec<Item> = frames(text, 12, None).map(Result::unwrap).collect();
        // The same through the file stages.
        let dir = tempfile::tempdir().unwrap();
        let paths = virnucpro_seq::OutputPaths {
            chunked: Some(dir.path().join("c.fa")),
            nucleotide: Some(dir.path().join("n.fa")),
            protein: Some(dir.path().join("p.fa")),
        };
        let reader = FastaReader::from_reader("t.fa", std::io::Cursor::new(&text[..])).unwrap();
        virnucpro_seq::run(
            virnucpro_seq::Stages::ChunkAndTranslate { length: 12 },
            reader,
            &paths,
            1,
        )
        .unwrap();
        let nucleotide = virnucpro_seq::fasta::read_all(dir.path().join("n.fa")).unwrap();
        let protein = virnucpro_seq::fasta::read_all(dir.path().join("p.fa")).unwrap();
        assert_eq!(got.len(), nucleotide.len());
        assert!(!got.is_empty());
        for ((item, n), p) in got.iter().zip(&nucleotide).zip(&protein) {
            assert_eq!(item.id, n.id);
            assert_eq!(item.seqs, [n.seq.clone(), p.seq.clone()]);
        }
    }

    #[test]
    fn a_shard_takes_its_records_but_fingerprints_all() {
        let text = b">a\nATGAAACCC\n>b\nATGAAACCC\n>c\nATGAAACCC\n";
        let mut all = frames(text, 500, None);
        let n_all = all.by_ref().count();
        let mut part = frames(text, 500, Some(1..2));
        let ids: Vec<String> = part.by_ref().map(|i| i.unwrap().id).collect();
        assert!(ids.iter().all(|id| id.starts_with("b_chunk_1")), "{ids:?}");
        assert_eq!(part.counts().sequences, 1);
        assert_eq!(all.counts().sequences, 3);
        assert_eq!(n_all, 3 * ids.len());
        assert_eq!(part.fingerprint(), all.fingerprint());
    }

    #[test]
    fn a_bad_letter_is_an_error_naming_the_record() {
        let err = frames(b">a\nATGXAA\n", 500, None)
            .find_map(Result::err)
            .unwrap();
        assert!(
            err.to_string().contains("'a'") || err.to_string().contains("a"),
            "{err}"
        );
        assert!(err.to_string().contains("position 4"), "{err}");
    }
}
