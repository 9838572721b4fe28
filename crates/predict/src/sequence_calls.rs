//! One call per input sequence, as other viral identifiers give (geNomad, VirSorter2, Jaeger):
//! the rows of `sequence_summary.tsv`, which records are viral (written as they came to
//! `viruses.fna` or `viruses.fastq`), and Kraken-style lines for read-level tools. The files
//! themselves are written by [`crate::result_writer`].
//!
//! A chunk's score is the highest P(virus) (`score2`) among its kept frames; a chunk is viral
//! when its consensus (the original's rule: highest P(virus) >= highest P(others)) is True; a
//! sequence's `virus_score` is the mean of its scored chunks' scores, `NA` when none has a kept
//! frame, and its call is `virus` when `virus_score >= min_score`, `others` below, `unscored`
//! for `NA`. The frames arrive in input order; the record ledger says which record, and which
//! chunk of it, each belongs to, and gives the records with no kept frame their row too.

use std::path::Path;

use virnucpro_seq::AtomicFile;

use crate::error::{PredictError, Result};
use crate::ledger::{Entry, LedgerReader};
use virnucpro_seq::{FastaReader, Record};

/// The header line of `sequence_summary.tsv`.
pub const SUMMARY_HEADER: &str =
    "seq_id\tlength\tchunks\tscored_chunks\tviral_chunks\tvirus_score\tcall\n";
/// The default `--min-score`.
pub const DEFAULT_MIN_SCORE: f64 = 0.5;
/// NCBI taxid of Viruses, for the Kraken-style lines.
pub const VIRUS_TAXID: u32 = 10239;

/// A sequence's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `virus_score >= min_score`.
    Virus,
    /// Scored below `min_score`.
    Others,
    /// No chunk had a kept frame.
    Unscored,
}

impl Call {
    /// As written in the `call` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Virus => "virus",
            Call::Others => "others",
            Call::Unscored => "unscored",
        }
    }

    /// The call of a sequence with `score` against `min_score`.
    pub fn of(score: Option<f64>, min_score: f64) -> Call {
        match score {
            None => Call::Unscored,
            Some(s) if s >= min_score => Call::Virus,
            Some(_) => Call::Others,
        }
    }
}

/// One row of `sequence_summary.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceRow {
    /// The record's id.
    pub id: String,
    /// Its length in bp.
    pub length: u64,
    /// Its chunks.
    pub chunks: u64,
    /// Chunks with at least one kept frame.
    pub scored_chunks: u64,
    /// Chunks whose consensus is True.
    pub viral_chunks: u64,
    /// Mean of the scored chunks' highest P(virus); `None` when no chunk is scored.
    pub virus_score: Option<f64>,
    /// The call.
    pub call: Call,
}

impl SequenceRow {
    /// Appends the row as a line of `sequence_summary.tsv` (score to 4 decimals).
    pub fn push_tsv(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t",
            self.id, self.length, self.chunks, self.scored_chunks, self.viral_chunks
        );
        let _ = match self.virus_score {
            Some(s) => writeln!(out, "{s:.4}\t{}", self.call.as_str()),
            None => writeln!(out, "NA\t{}", self.call.as_str()),
        };
    }

    /// Appends the Kraken-style line: `C`/`U`, id, taxid (10239 for a virus call, else 0),
    /// length, score (`NA` when unscored).
    pub fn push_kraken(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let (flag, taxid) = match self.call {
            Call::Virus => ('C', VIRUS_TAXID),
            _ => ('U', 0),
        };
        let _ = write!(out, "{flag}\t{}\t{taxid}\t{}\t", self.id, self.length);
        let _ = match self.virus_score {
            Some(s) => writeln!(out, "{s:.4}"),
            None => writeln!(out, "NA"),
        };
    }

    /// Parses a line of `sequence_summary.tsv` (`path` and `line` name it in errors).
    pub fn parse(text: &str, path: &Path, line: usize) -> Result<Self> {
        let bad = |what: &str| {
            PredictError::file(
                path,
                format!("line {line}: {what}; the file was changed after the run, rerun it"),
            )
        };
        let fields: Vec<&str> = text.split('\t').collect();
        let [id, length, chunks, scored, viral, score, call] = fields[..] else {
            return Err(bad("not 7 tab-separated columns"));
        };
        let int = |s: &str| s.parse::<u64>().map_err(|_| bad("a count is not a number"));
        let virus_score = match score {
            "NA" => None,
            s => Some(
                s.parse::<f64>()
                    .map_err(|_| bad("virus_score is not a number"))?,
            ),
        };
        let call = match call {
            "virus" => Call::Virus,
            "others" => Call::Others,
            "unscored" => Call::Unscored,
            _ => return Err(bad("call is not virus, others or unscored")),
        };
        Ok(SequenceRow {
            id: id.to_string(),
            length: int(length)?,
            chunks: int(chunks)?,
            scored_chunks: int(scored)?,
            viral_chunks: int(viral)?,
            virus_score,
            call,
        })
    }
}

/// The record being filled with its frames' scores.
struct Filling {
    entry: Entry,
    /// Index of the chunk the next frame belongs to.
    chunk: usize,
    /// Frames of that chunk still to come.
    left: u8,
    /// Highest P(others), P(virus) of that chunk so far.
    best: [f32; 2],
    scored: u64,
    viral: u64,
    score_sum: f64,
    /// `<id>_chunk_<k>` of the current chunk.
    prefix: String,
}

impl Filling {
    fn new(entry: Entry) -> Self {
        let mut f = Filling {
            entry,
            chunk: 0,
            left: 0,
            best: [f32::NEG_INFINITY; 2],
            scored: 0,
            viral: 0,
            score_sum: 0.0,
            prefix: String::new(),
        };
        f.skip_to_scored_chunk();
        f
    }

    /// Moves to the next chunk with a kept frame (or past the last chunk).
    fn skip_to_scored_chunk(&mut self) {
        while self.chunk < self.entry.chunk_frames.len() && self.entry.chunk_frames[self.chunk] == 0
        {
            self.chunk += 1;
        }
        if let Some(&n) = self.entry.chunk_frames.get(self.chunk) {
            self.left = n;
            self.best = [f32::NEG_INFINITY; 2];
            self.prefix = virnucpro_seq::chunk_id(&self.entry.record.id, self.chunk + 1);
        }
    }

    fn complete(&self) -> bool {
        self.chunk >= self.entry.chunk_frames.len()
    }

    /// Takes the scores of frame `id`, which must be the next frame of this record.
    fn take(&mut self, id: &str, probs: [f32; 2]) -> std::result::Result<(), String> {
        let belongs = id.len() == self.prefix.len() + 2 && id.starts_with(self.prefix.as_str());
        if self.complete() || !belongs {
            return Err(format!(
                "frame '{id}' came where a frame of '{}' was due",
                self.entry.record.id
            ));
        }
        self.best[0] = self.best[0].max(probs[0]);
        self.best[1] = self.best[1].max(probs[1]);
        self.left -= 1;
        if self.left == 0 {
            self.scored += 1;
            self.score_sum += f64::from(self.best[1]);
            if self.best[1] >= self.best[0] {
                self.viral += 1;
            }
            self.chunk += 1;
            self.skip_to_scored_chunk();
        }
        Ok(())
    }

    fn row(&self, min_score: f64) -> SequenceRow {
        let virus_score = (self.scored > 0).then(|| self.score_sum / self.scored as f64);
        SequenceRow {
            id: self.entry.record.id.clone(),
            length: self.entry.length,
            chunks: self.entry.chunk_frames.len() as u64,
            scored_chunks: self.scored,
            viral_chunks: self.viral,
            virus_score,
            call: Call::of(virus_score, min_score),
        }
    }
}

/// Where the per-sequence rows go: the result writer, which writes `sequence_summary.tsv`,
/// the viral records and the Kraken lines.
pub trait SequenceSink {
    /// One sequence's row, with its record when it is called virus.
    fn sequence(&mut self, row: &SequenceRow, viral_record: Option<&Record>) -> Result<()>;
}

/// Turns the frames' scores, in input order, into one row per input sequence: the record
/// ledger says which record (and chunk) each frame belongs to, and gives the records with no
/// kept frame their row too.
pub struct SequenceTable {
    ledger: LedgerReader,
    /// The ledger's first entry, read to learn the records' kind, not yet taken.
    first: Option<Entry>,
    /// The input read again for the viral records, when the ledger does not keep them.
    input: Option<FastaReader>,
    min_score: f64,
    filling: Option<Filling>,
    /// Whether the records carry qualities (the first one does).
    fastq: bool,
}

impl SequenceTable {
    /// Reads records from the ledger at `ledger`, and the viral records from `input` (the
    /// run's input read again, with the run's duplicate-id policy) where the ledger does not
    /// keep them.
    pub fn open(ledger: &Path, min_score: f64, input: Option<FastaReader>) -> Result<Self> {
        let ledger_err =
            |e: std::io::Error| PredictError::file(ledger, format!("cannot read: {e}"));
        let mut reader = LedgerReader::open(ledger).map_err(ledger_err)?;
        let first = reader.next_entry().map_err(ledger_err)?;
        let fastq = first.as_ref().is_some_and(|e| e.has_quality);
        Ok(SequenceTable {
            ledger: reader,
            first,
            input,
            min_score,
            filling: None,
            fastq,
        })
    }

    /// Whether the records carry qualities (the viral records are then FASTQ).
    pub fn fastq(&self) -> bool {
        self.fastq
    }

    /// Makes `entry` the record being filled, giving out its row at once when it has no frame.
    fn start(&mut self, entry: Entry, sink: &mut dyn SequenceSink) -> Result<()> {
        let filling = Filling::new(entry);
        if filling.complete() {
            self.emit(&filling, sink)?;
        } else {
            self.filling = Some(filling);
        }
        Ok(())
    }

    /// Reads ledger entries until one has frames still to come (or the ledger ends).
    fn advance(&mut self, sink: &mut dyn SequenceSink) -> Result<bool> {
        while self.filling.is_none() {
            let entry = match self.first.take() {
                Some(first) => Some(first),
                None => self.ledger.next_entry().map_err(|e| {
                    PredictError::file(self.ledger.path(), format!("cannot read: {e}"))
                })?,
            };
            match entry {
                Some(entry) => self.start(entry, sink)?,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn emit(&mut self, filling: &Filling, sink: &mut dyn SequenceSink) -> Result<()> {
        let row = filling.row(self.min_score);
        if row.call != Call::Virus {
            return sink.sequence(&row, None);
        }
        if filling.entry.kept {
            return sink.sequence(&row, Some(&filling.entry.record));
        }
        let record = self.read_again(&filling.entry)?;
        sink.sequence(&row, Some(&record))
    }

    /// The record of `entry` from the input read again: the next record with its id, which
    /// must have the length and bases the run saw.
    fn read_again(&mut self, entry: &Entry) -> Result<Record> {
        let changed = |path: &Path, what: &str| {
            PredictError::file(
                path,
                format!(
                    "{what} '{}' while the results were written: the input changed during \
                     the run; rerun with --force-restart",
                    entry.record.id
                ),
            )
        };
        let Some(input) = self.input.as_mut() else {
            return Err(changed(self.ledger.path(), "no input to read the record"));
        };
        loop {
            match input.next() {
                Some(Ok(record)) if record.id == entry.record.id => {
                    if record.seq.len() as u64 != entry.length
                        || crate::ledger::seq_hash(&record.seq) != entry.seq_hash
                    {
                        return Err(changed(input.path(), "other bases in record"));
                    }
                    return Ok(record);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(changed(input.path(), "no more record")),
            }
        }
    }

    /// Takes the next frame's scores (frames in input order), giving `sink` the rows of the
    /// records it completes.
    pub fn push(&mut self, id: &str, probs: [f32; 2], sink: &mut dyn SequenceSink) -> Result<()> {
        if !self.advance(sink)? {
            return Err(PredictError::file(
                self.ledger.path(),
                format!("frame '{id}' belongs to no record of the run; rerun with --force-restart"),
            ));
        }
        let filling = self
            .filling
            .as_mut()
            .expect("advance leaves a record to fill");
        filling
            .take(id, probs)
            .map_err(|m| PredictError::file(self.ledger.path(), m))?;
        if filling.complete() {
            let done = self.filling.take().expect("just filled");
            self.emit(&done, sink)?;
        }
        Ok(())
    }

    /// Gives `sink` the rows of the records after the last frame (none of which may expect a
    /// frame).
    pub fn finish(mut self, sink: &mut dyn SequenceSink) -> Result<()> {
        let missing = |t: &Self, f: &Filling| {
            PredictError::file(
                t.ledger.path(),
                format!("record '{}' is missing frames", f.entry.record.id),
            )
        };
        if let Some(f) = &self.filling {
            return Err(missing(&self, f));
        }
        if self.advance(sink)? {
            let f = self
                .filling
                .as_ref()
                .expect("advance leaves a record to fill");
            return Err(missing(&self, f));
        }
        Ok(())
    }
}

/// Writes the Kraken-style file `path` from the `sequence_summary.tsv` at `summary`, a line at
/// a time.
pub fn write_kraken(summary: &Path, path: &Path) -> Result<u64> {
    use std::io::BufRead as _;
    let cannot = |e: std::io::Error| PredictError::file(summary, format!("cannot read: {e}"));
    let file = std::fs::File::open(summary).map_err(cannot)?;
    let mut out = AtomicFile::create(path)?;
    let mut line = Vec::new();
    let mut n = 0;
    for (i, row) in std::io::BufReader::new(file).lines().enumerate().skip(1) {
        let row = SequenceRow::parse(&row.map_err(cannot)?, summary, i + 1)?;
        line.clear();
        row.push_kraken(&mut line);
        out.write_all(&line)?;
        n += 1;
    }
    out.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerWriter;

    /// What a sink was given: each row's TSV line, and the viral records as FASTA.
    #[derive(Default)]
    struct Rows {
        tsv: String,
        viruses: String,
    }

    impl SequenceSink for Rows {
        fn sequence(&mut self, row: &SequenceRow, record: Option<&Record>) -> Result<()> {
            let mut line = Vec::new();
            row.push_tsv(&mut line);
            self.tsv.push_str(std::str::from_utf8(&line).unwrap());
            assert_eq!(record.is_some(), row.call == Call::Virus);
            if let Some(r) = record {
                let mut text = Vec::new();
                r.write_as_read(&mut text);
                self.viruses.push_str(std::str::from_utf8(&text).unwrap());
            }
            Ok(())
        }
    }

    fn table(dir: &Path, records: &[(&str, &[u8], Vec<u8>)]) -> SequenceTable {
        let path = dir.join("ledger.gz");
        let mut w = LedgerWriter::create(&path, true).unwrap();
        for (id, seq, chunks) in records {
            w.add(&Record::new(*id, seq.to_vec()), chunks).unwrap();
        }
        w.finish().unwrap();
        SequenceTable::open(&path, 0.5, None).unwrap()
    }

    /// Three records: none with a kept frame, two scored chunks around an empty one, one.
    fn three(dir: &Path) -> SequenceTable {
        table(
            dir,
            &[
                ("none", b"AC", vec![0]),
                ("v", b"ACGTACGT", vec![2, 0, 1]),
                ("o", b"ACGT", vec![1]),
            ],
        )
    }

    #[test]
    fn a_frame_out_of_place_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = three(dir.path());
        let mut rows = Rows::default();
        t.push("v_chunk_1F1", [0.3, 0.7], &mut rows).unwrap();
        t.push("v_chunk_1R2", [0.6, 0.4], &mut rows).unwrap();
        t.push("v_chunk_3F1", [0.9, 0.1], &mut rows).unwrap();
        assert!(t.push("x_chunk_1F1", [0.5, 0.5], &mut rows).is_err());
    }

    #[test]
    fn rows_follow_the_records_and_their_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = three(dir.path());
        let mut rows = Rows::default();
        t.push("v_chunk_1F1", [0.3, 0.7], &mut rows).unwrap();
        t.push("v_chunk_1R2", [0.6, 0.4], &mut rows).unwrap();
        t.push("v_chunk_3F1", [0.1, 0.9], &mut rows).unwrap();
        t.push("o_chunk_1F3", [0.8, 0.2], &mut rows).unwrap();
        t.finish(&mut rows).unwrap();
        assert_eq!(
            rows.tsv,
            "none\t2\t1\t0\t0\tNA\tunscored\n\
             v\t8\t3\t2\t2\t0.8000\tvirus\n\
             o\t4\t1\t1\t0\t0.2000\tothers\n"
        );
        assert_eq!(rows.viruses, ">v\nACGTACGT\n");
        let summary = dir.path().join("s.tsv");
        std::fs::write(&summary, format!("{SUMMARY_HEADER}{}", rows.tsv)).unwrap();
        let kraken = dir.path().join("k.txt");
        assert_eq!(write_kraken(&summary, &kraken).unwrap(), 3);
        assert_eq!(
            std::fs::read_to_string(kraken).unwrap(),
            "U\tnone\t0\t2\tNA\nC\tv\t10239\t8\t0.8000\nU\to\t0\t4\t0.2000\n"
        );
    }

    #[test]
    fn viral_records_are_read_again_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.gz");
        let mut w = LedgerWriter::create(&path, false).unwrap();
        w.add(&Record::new("x", b"ACGT".to_vec()), &[0]).unwrap();
        w.add(&Record::new("v", b"ACGTACGT".to_vec()), &[1])
            .unwrap();
        w.finish().unwrap();
        let input = |text: &'static [u8]| {
            FastaReader::from_reader("in.fa", std::io::Cursor::new(text)).unwrap()
        };
        let mut t = SequenceTable::open(
            &path,
            0.5,
            Some(input(b">x\nACGT\n>v some words\nACGTACGT\n")),
        )
        .unwrap();
        let mut rows = Rows::default();
        t.push("v_chunk_1F1", [0.1, 0.9], &mut rows).unwrap();
        t.finish(&mut rows).unwrap();
        assert_eq!(rows.viruses, ">v some words\nACGTACGT\n");
        // The input changed under the run: refused.
        let mut t =
            SequenceTable::open(&path, 0.5, Some(input(b">x\nACGT\n>v\nACGTACGA\n"))).unwrap();
        let err = t
            .push("v_chunk_1F1", [0.1, 0.9], &mut Rows::default())
            .unwrap_err();
        assert!(err.to_string().contains("input changed"), "{err}");
    }

    #[test]
    fn missing_frames_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), &[("a", b"ACGT", vec![2])]);
        let mut rows = Rows::default();
        t.push("a_chunk_1F1", [0.5, 0.5], &mut rows).unwrap();
        assert!(t.finish(&mut rows).is_err());
    }

    #[test]
    fn rows_parse_back() {
        let row = SequenceRow {
            id: "r/1".into(),
            length: 150,
            chunks: 1,
            scored_chunks: 1,
            viral_chunks: 1,
            virus_score: Some(0.98765),
            call: Call::Virus,
        };
        let mut line = Vec::new();
        row.push_tsv(&mut line);
        let text = String::from_utf8(line).unwrap();
        let back = SequenceRow::parse(text.trim_end(), Path::new("s.tsv"), 2).unwrap();
        assert_eq!(back.virus_score, Some(0.9877));
        assert_eq!(back.call, Call::Virus);
        assert!(SequenceRow::parse("a\tb", Path::new("s.tsv"), 2).is_err());
    }
}
