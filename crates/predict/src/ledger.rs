//! The record ledger: every input record of a run, with its length, a hash of its bases and the
//! number of kept frames of each of its chunks, spooled to disk in input order during the one
//! pass.
//!
//! The per-sequence outputs (`sequence_summary.tsv`, `viruses.fna`) are written after the
//! frames are scored and need every record: its id, length and chunks (those without a kept
//! frame too), and for the viral ones the record itself. When the input is a file, the viral
//! records are read from it again at the end and checked against the hash, so the ledger holds
//! tens of bytes a record; when it is a stream, which cannot be read twice, the ledger keeps
//! each whole record (qualities included). It is gzip-compressed at the fastest level, lives in
//! the run's `intermediates` and goes with them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use virnucpro_seq::Record;

/// One record and the kept frames of each of its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record's id as given to the frames (renamed or not); with the whole record when the
    /// ledger keeps records, else only the id.
    pub record: Record,
    /// Whether `record` is the whole record (the ledger of a stream).
    pub kept: bool,
    /// Its length in bp.
    pub length: u64,
    /// Whether it had qualities.
    pub has_quality: bool,
    /// XXH3-64 of its bases, to check a record read again.
    pub seq_hash: u64,
    /// Kept frames (0 to 6) of each chunk, in chunk order.
    pub chunk_frames: Vec<u8>,
}

/// The hash [`Entry::seq_hash`] holds.
pub fn seq_hash(seq: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(seq)
}

impl Entry {
    /// Kept frames of all chunks.
    pub fn frames(&self) -> u64 {
        self.chunk_frames.iter().map(|&n| u64::from(n)).sum()
    }
}

/// Writes the ledger.
pub struct LedgerWriter {
    path: PathBuf,
    out: BufWriter<GzEncoder<File>>,
    keep_records: bool,
}

fn put_bytes(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)
}

impl LedgerWriter {
    /// Creates (or truncates) the ledger at `path`; with `keep_records`, each whole record is
    /// kept (for an input that cannot be read again).
    pub fn create(path: impl Into<PathBuf>, keep_records: bool) -> std::io::Result<Self> {
        let path = path.into();
        let file = File::create(&path)?;
        Ok(LedgerWriter {
            path,
            out: BufWriter::with_capacity(
                1 << 20,
                GzEncoder::new(file, flate2::Compression::fast()),
            ),
            keep_records,
        })
    }

    /// Where it is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` with its chunks' kept-frame counts.
    pub fn add(&mut self, record: &Record, chunk_frames: &[u8]) -> std::io::Result<()> {
        let out = &mut self.out;
        put_bytes(out, record.id.as_bytes())?;
        out.write_all(&(record.seq.len() as u64).to_le_bytes())?;
        out.write_all(&seq_hash(&record.seq).to_le_bytes())?;
        let flags = u8::from(record.qual.is_some()) | (u8::from(self.keep_records) << 1);
        out.write_all(&[flags])?;
        if self.keep_records {
            put_bytes(out, record.description.as_bytes())?;
            put_bytes(out, &record.seq)?;
            if let Some(q) = &record.qual {
                put_bytes(out, q)?;
            }
        }
        put_bytes(out, chunk_frames)
    }

    /// Writes out everything buffered, ends the gzip stream and syncs the file: every error
    /// of the ledger's writes is reported here.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        let encoder = self.out.into_inner().map_err(|e| e.into_error())?;
        let file = encoder.finish()?;
        file.sync_all()?;
        Ok(self.path)
    }
}

/// Reads a ledger back, in the order it was written.
pub struct LedgerReader {
    path: PathBuf,
    input: BufReader<MultiGzDecoder<BufReader<File>>>,
}

impl LedgerReader {
    /// Opens the ledger at `path`.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let file = File::open(&path)?;
        Ok(LedgerReader {
            path,
            input: BufReader::with_capacity(
                1 << 20,
                MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)),
            ),
        })
    }

    /// Its path, for errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get_bytes(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 8];
        self.input.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        let mut bytes = Vec::new();
        (&mut self.input).take(len).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(bytes)
    }

    fn get_text(&mut self) -> std::io::Result<String> {
        String::from_utf8(self.get_bytes()?)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// The next entry; `None` at the end.
    pub fn next_entry(&mut self) -> std::io::Result<Option<Entry>> {
        if std::io::BufRead::fill_buf(&mut self.input)?.is_empty() {
            return Ok(None);
        }
        let id = self.get_text()?;
        let mut word = [0u8; 8];
        self.input.read_exact(&mut word)?;
        let length = u64::from_le_bytes(word);
        self.input.read_exact(&mut word)?;
        let seq_hash = u64::from_le_bytes(word);
        let mut flags = [0u8; 1];
        self.input.read_exact(&mut flags)?;
        let has_quality = flags[0] & 1 != 0;
        let kept = flags[0] & 2 != 0;
        let mut record = Record::new(id, Vec::new());
        if kept {
            record.description = self.get_text()?;
            record.seq = self.get_bytes()?;
            if has_quality {
                record.qual = Some(self.get_bytes()?);
            }
        }
        let chunk_frames = self.get_bytes()?;
        Ok(Some(Entry {
            record,
            kept,
            length,
            has_quality,
            seq_hash,
            chunk_frames,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.gz");
        let mut a = Record::new("a", b"ACGT".to_vec());
        a.description = " desc".into();
        let mut b = Record::new("b", b"GG".to_vec());
        b.qual = Some(b"II".to_vec());
        for keep in [true, false] {
            let mut w = LedgerWriter::create(&path, keep).unwrap();
            w.add(&a, &[6, 0, 2]).unwrap();
            w.add(&b, &[]).unwrap();
            w.finish().unwrap();
            let mut r = LedgerReader::open(&path).unwrap();
            let first = r.next_entry().unwrap().unwrap();
            assert_eq!(first.kept, keep);
            assert_eq!((first.length, first.has_quality), (4, false));
            assert_eq!(first.seq_hash, seq_hash(b"ACGT"));
            assert_eq!(first.chunk_frames, [6, 0, 2]);
            assert_eq!(first.frames(), 8);
            let second = r.next_entry().unwrap().unwrap();
            assert_eq!((second.length, second.has_quality), (2, true));
            if keep {
                assert_eq!(first.record, a);
                assert_eq!(second.record, b);
            } else {
                assert_eq!(first.record, Record::new("a", Vec::new()));
            }
            assert!(r.next_entry().unwrap().is_none());
        }
    }

    #[test]
    fn a_truncated_ledger_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.gz");
        let mut w = LedgerWriter::create(&path, true).unwrap();
        w.add(&Record::new("a", vec![b'A'; 5000]), &[1]).unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let mut r = LedgerReader::open(&path).unwrap();
        assert!(r.next_entry().is_err());
    }
}
