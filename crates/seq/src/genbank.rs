//! GenBank input for the training set: each record's sequence with the protein translations of
//! its annotated CDS features, parsed by `gb-io`.
//!
//! The original's training rule keeps a frame only when its protein is part of one of the
//! record's CDS `/translation`s (the true coding frame), so this reader hands out exactly that:
//! the record id (`VERSION`, as the RefSeq FASTA names it, else the accession or the LOCUS
//! name), the sequence upper-cased, and the translations. Plain or gzip-compressed (RefSeq ships
//! `*.genomic.gbff.gz`).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::SeqError;

/// A GenBank record as the training set needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedRecord {
    /// `VERSION` (e.g. `NC_001422.1`), else the accession, else the LOCUS name.
    pub id: String,
    /// The sequence, upper-cased.
    pub seq: Vec<u8>,
    /// The `/translation` of each CDS feature that has one.
    pub translations: Vec<String>,
    /// CDS features, with or without a translation.
    pub cds: usize,
}

/// Whether the (decompressed) text starting `prefix` is GenBank: its first line is a `LOCUS`.
pub fn looks_like_genbank(prefix: &[u8]) -> bool {
    let start = prefix
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(prefix.len());
    prefix[start..].starts_with(b"LOCUS")
}

/// `path` opened and, when it starts with the gzip magic, decompressed (multi-member gzip,
/// as bgzip writes, included).
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn BufRead + Send>, SeqError> {
    let file = std::fs::File::open(path).map_err(|e| SeqError::io(path, "cannot open", e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let magic = reader
        .fill_buf()
        .map_err(|e| SeqError::io(path, "cannot read", e))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Whether the file at `path` (plain or gzip) is GenBank.
pub fn is_genbank_file(path: &Path) -> Result<bool, SeqError> {
    let mut reader = open_maybe_gzip(path)?;
    let mut prefix = vec![0u8; 256];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(SeqError::io(path, "cannot read", e)),
        }
    }
    Ok(looks_like_genbank(&prefix[..filled]))
}

/// The records of a GenBank file, one at a time.
pub struct GenbankReader {
    path: PathBuf,
    records: gb_io::reader::SeqReader<Box<dyn BufRead + Send>>,
    read: u64,
}

impl GenbankReader {
    /// Opens `path` (plain or gzip).
    pub fn open(path: &Path) -> Result<Self, SeqError> {
        Ok(GenbankReader {
            path: path.to_path_buf(),
            records: gb_io::reader::SeqReader::new(open_maybe_gzip(path)?),
            read: 0,
        })
    }
}

impl Iterator for GenbankReader {
    type Item = Result<AnnotatedRecord, SeqError>;

    fn next(&mut self) -> Option<Self::Item> {
        let seq = match self.records.next()? {
            Ok(seq) => seq,
            Err(e) => {
                return Some(Err(SeqError::Format {
                    path: self.path.clone(),
                    kind: "GenBank",
                    detail: format!("after record {}: {e}", self.read),
                    hint: "Check that the file is whole (a .gbff from RefSeq or GenBank)",
                }))
            }
        };
        self.read += 1;
        let id = seq
            .version
            .clone()
            .or_else(|| seq.accession.clone())
            .or_else(|| seq.name.clone())
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .filter(|s| !s.is_empty());
        let Some(id) = id else {
            return Some(Err(SeqError::Format {
                path: self.path.clone(),
                kind: "GenBank",
                detail: format!(
                    "record {} has no VERSION, ACCESSION or LOCUS name",
                    self.read
                ),
                hint: "Give every record a name",
            }));
        };
        let cds: Vec<&gb_io::seq::Feature> =
            seq.features.iter().filter(|f| f.kind == "CDS").collect();
        let translations = cds
            .iter()
            .flat_map(|f| f.qualifier_values("translation"))
            .map(|t| t.split_whitespace().collect::<String>())
            .filter(|t| !t.is_empty())
            .collect();
        Some(Ok(AnnotatedRecord {
            id,
            seq: seq.seq.to_ascii_uppercase(),
            translations,
            cds: cds.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-record GenBank file: one CDS with a translation, one record with a CDS without.
    pub const SAMPLE: &str =
        "LOCUS       TEST1                     30 bp    DNA     linear   VRL 01-JAN-2020
DEFINITION  test record.
ACCESSION   TEST1
VERSION     TEST1.1
FEATURES             Location/Qualifiers
     source          1..30
     CDS             1..30
                     /translation=\"MKKL
                     LLVV\"
ORIGIN
        1 atgaaaaaac tgctgctggt ggtgtaatag
//
LOCUS       TEST2                     12 bp    DNA     linear   VRL 01-JAN-2020
DEFINITION  no translation.
ACCESSION   TEST2
FEATURES             Location/Qualifiers
     CDS             1..12
ORIGIN
        1 atgaaaaaat ag
//
";

    #[test]
    fn records_come_with_their_translations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gbff");
        std::fs::write(&path, SAMPLE).unwrap();
        assert!(is_genbank_file(&path).unwrap());
        let records: Vec<AnnotatedRecord> = GenbankReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id, "TEST1.1");
        assert_eq!(records[0].seq, b"ATGAAAAAACTGCTGCTGGTGGTGTAATAG");
        assert_eq!(records[0].translations, ["MKKLLLVV"]);
        assert_eq!((records[1].id.as_str(), records[1].cds), ("TEST2", 1));
        assert!(records[1].translations.is_empty());
    }

    #[test]
    fn gzip_is_read_and_fasta_is_not_genbank() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gbff.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(SAMPLE.as_bytes()).unwrap();
        gz.finish().unwrap();
        assert!(is_genbank_file(&path).unwrap());
        assert_eq!(GenbankReader::open(&path).unwrap().count(), 2);
        let fasta = dir.path().join("t.fa");
        std::fs::write(&fasta, ">a\nACGT\n").unwrap();
        assert!(!is_genbank_file(&fasta).unwrap());
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gbff");
        std::fs::write(&path, &SAMPLE[..SAMPLE.len() / 2]).unwrap();
        let err = GenbankReader::open(&path)
            .unwrap()
            .find_map(Result::err)
            .expect("an error");
        assert!(err.to_string().contains("bad.gbff"), "{err}");
    }
}
