//! `utils validate`: a whole-file check that reports every problem instead of stopping at the
//! first, as the original refactor's validator does: duplicate ids, empty records, letters that
//! are not IUPAC nucleotide codes, and the share of ambiguous bases.

use std::collections::HashSet;
use std::path::Path;

use needletail::parse_fastx_reader;
use xxhash_rust::xxh3::xxh3_128;

use crate::alphabet::{self, AMBIGUOUS, BASE_CODE, INVALID};
use crate::error::SeqError;
use crate::fasta::open_input;

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
}

impl Report {
    /// Valid: at least one non-empty record and no error.
    pub fn is_valid(&self) -> bool {
        self.records > self.empty && self.empty + self.duplicates + self.invalid == 0
    }
}

/// Checks every record of `path`; `max_messages` caps the error and warning lists. Fails only
/// when the file cannot be read or parsed at all.
pub fn validate(path: &Path, max_messages: usize) -> Result<Report, SeqError> {
    let file = open_input(path)?;
    let mut reader = parse_fastx_reader(file).map_err(|e| SeqError::Format {
        path: path.to_path_buf(),
        kind: "FASTA or FASTQ",
        detail: e.to_string(),
        hint: "A FASTA file starts with a '>' header line (FASTQ with '@')",
    })?;
    let mut report = Report::default();
    let mut seen = HashSet::new();
    let push = |list: &mut Vec<String>, message: String| {
        if list.len() < max_messages {
            list.push(message);
        }
    };
    while let Some(record) = reader.next() {
        let record = match record {
            Ok(r) => r,
            // A bare header at the very end (see `FastaReader`): an empty last record.
            Err(e)
                if e.kind == needletail::errors::ParseErrorKind::UnexpectedEnd
                    && e.format == Some(needletail::parser::Format::Fasta) =>
            {
                report.records += 1;
                report.empty += 1;
                push(
                    &mut report.errors,
                    format!("empty sequence: last record (line {})", e.position.line),
                );
                break;
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot read past this point: {e}"));
                break;
            }
        };
        report.records += 1;
        let id = String::from_utf8_lossy(
            record
                .id()
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default(),
        )
        .into_owned();
        if !seen.insert(xxh3_128(id.as_bytes())) {
            report.duplicates += 1;
            push(&mut report.errors, format!("duplicate id: {id}"));
        }
        let seq = record.seq();
        if seq.is_empty() {
            report.empty += 1;
            push(&mut report.errors, format!("empty sequence: {id}"));
            continue;
        }
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
}
