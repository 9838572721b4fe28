//! `utils validate`: a whole-file check that reports every problem instead of stopping at the
//! first, as the original refactor's validator does: duplicate ids, empty records, letters that
//! are not IUPAC nucleotide codes, and the share of ambiguous bases.

use std::collections::HashSet;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_128;

use crate::alphabet::{self, AMBIGUOUS, BASE_CODE, INVALID};
use crate::error::SeqError;
use crate::fasta::{DuplicateIds, FastaReader};

/// What `validate` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Records read.
    pub records: u64,
    /// Records with no sequence.
    pub empty: u64,
    /// Records whose id was seen before.
    pub duplicates: u64,
    /// Records holding a letter outside the IUPAC nucleotide codes.
    pub invalid: u64,
    /// Records holding at least one ambiguity code (N, R, Y ...).
    pub ambiguous_records: u64,
    /// Bases in all records.
    pub bases: u64,
    /// Ambiguity codes among them.
    pub ambiguous_bases: u64,
    /// Shortest and longest non-empty record.
    pub length_range: Option<(usize, usize)>,
    /// Error messages (at most the limit given).
    pub errors: Vec<String>,
    /// Warning messages (at most the limit given).
    pub warnings: Vec<String>,
    /// The file could not be read to its end (a record the reader refuses: no id, a control
    /// byte in an id, a broken or truncated file).
    pub unreadable: bool,
}

impl Report {
    /// Valid: at least one non-empty record and no error.
    pub fn is_valid(&self) -> bool {
        !self.unreadable
            && self.records > self.empty
            && self.empty + self.duplicates + self.invalid == 0
    }
}

/// Checks every record of `path`; `max_messages` caps the error and warning lists. Fails only
/// when the file cannot be read or parsed at all.
pub fn validate(path: &Path, max_messages: usize) -> Result<Report, SeqError> {
    // The one reader `predict` uses (FASTA, FASTQ, BAM/SAM/CRAM, any compression, its id
    // rules), with duplicates let through so that they are counted here rather than fatal.
    let mut reader = FastaReader::open_with(path, DuplicateIds::Allow)?;
    let mut report = Report::default();
    let mut seen = HashSet::new();
    let push = |list: &mut Vec<String>, message: String| {
        if list.len() < max_messages {
            list.push(message);
        }
    };
    for record in reader.by_ref() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.unreadable = true;
                report
                    .errors
                    .push(format!("cannot read past this point: {e}"));
                break;
            }
        };
        let id = record.id;
        if !seen.insert(xxh3_128(id.as_bytes())) {
            report.duplicates += 1;
            push(&mut report.errors, format!("duplicate id: {id}"));
        }
        let seq = record.seq;
        report.bases += seq.len() as u64;
        let (lo, hi) = report.length_range.unwrap_or((usize::MAX, 0));
        report.length_range = Some((lo.min(seq.len()), hi.max(seq.len())));
        let ambiguous = seq
            .iter()
            .filter(|&&b| BASE_CODE[b as usize] == AMBIGUOUS)
            .count();
        if let Some((i, b)) = alphabet::first_invalid(&seq) {
            report.invalid += 1;
            let count = seq
                .iter()
                .filter(|&&b| BASE_CODE[b as usize] == INVALID)
                .count();
            push(
                &mut report.errors,
                format!(
                    "invalid characters in {id}: {} at position {} ({count} in all)",
                    alphabet::describe_byte(b),
                    i + 1
                ),
            );
        }
        if ambiguous > 0 {
            report.ambiguous_records += 1;
            report.ambiguous_bases += ambiguous as u64;
            push(
                &mut report.warnings,
                format!(
                    "ambiguous bases in {id}: {ambiguous} of {} ({:.1} %)",
                    seq.len(),
                    100.0 * ambiguous as f64 / seq.len() as f64
                ),
            );
        }
    }
    report.records = reader.records_read();
    let skipped = reader.skipped();
    report.empty = skipped.count;
    for id in &skipped.first_ids {
        push(&mut report.errors, format!("empty sequence: {id}"));
    }
    if skipped.count > skipped.first_ids.len() as u64 {
        push(
            &mut report.errors,
            format!(
                "... and {} more empty records",
                skipped.count - skipped.first_ids.len() as u64
            ),
        );
    }
    if report.records == 0 {
        return Err(SeqError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.fa");
        std::fs::write(
            &path,
            ">a\nACGTN\n>b\nAC*G\n>a\nACGT\n>c\nACGTACGT\n>e\n>f\nAC\n",
        )
        .unwrap();
        let r = validate(&path, 10).unwrap();
        assert_eq!(
            (
                r.records,
                r.duplicates,
                r.invalid,
                r.empty,
                r.ambiguous_records
            ),
            (6, 1, 1, 1, 1)
        );
        assert_eq!(r.length_range, Some((2, 8)));
        assert!(!r.is_valid());
        assert!(
            r.errors.iter().any(|e| e.contains("'*' at position 3")),
            "{:?}",
            r.errors
        );
        std::fs::write(&path, ">a\nACGT\n").unwrap();
        assert!(validate(&path, 10).unwrap().is_valid());
    }

    #[test]
    fn reads_what_predict_reads_alignments_included() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.sam");
        std::fs::write(
            &path,
            "@HD\tVN:1.6\tSO:unsorted\nr1\t4\t*\t0\t0\t*\t*\t0\t0\tACGTN\tIIIII\n\
             r2\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n",
        )
        .unwrap();
        let r = validate(&path, 10).unwrap();
        assert_eq!((r.records, r.ambiguous_records), (2, 1));
        assert!(r.is_valid(), "{:?}", r.errors);
        // A header with no id stops the reader as it stops predict.
        let bad = dir.path().join("bad.fa");
        std::fs::write(&bad, ">a\nACGT\n>\nACGT\n").unwrap();
        let r = validate(&bad, 10).unwrap();
        assert!(!r.is_valid());
        assert!(r.errors[0].contains("has no id"), "{:?}", r.errors);
    }
}
