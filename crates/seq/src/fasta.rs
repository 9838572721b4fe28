//! Reading and writing FASTA.
//!
//! Input goes through needletail: FASTA or FASTQ, plain or compressed (gzip and bgzip, bzip2, xz,
//! zstd), streamed record by record so memory does not grow with the file. The reader enforces
//! what later stages rely on: every record has an id (the header up to the first whitespace, as
//! Biopython's `record.id`), ids are unique, and empty records are skipped and counted (the
//! original crashes on one). Checking the letters is left to the stage that reads them, so that
//! it runs in parallel.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use needletail::errors::{ParseError, ParseErrorKind};
use needletail::parser::FastxReader;
use xxhash_rust::xxh3::xxh3_128;

use crate::alphabet;
use crate::error::SeqError;

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The header up to the first whitespace (renamed when a duplicate and renaming is on).
    pub id: String,
    /// The sequence with line breaks removed, letters as in the file.
    pub seq: Vec<u8>,
    /// The rest of the header line after the id, whitespace included (empty when none), so
    /// the record can be written out as it came.
    pub description: String,
    /// FASTQ (or BAM) qualities as FASTQ text, when the input had them.
    pub qual: Option<Vec<u8>>,
}

impl Record {
    /// A record of an id and a sequence only.
    pub fn new(id: impl Into<String>, seq: impl Into<Vec<u8>>) -> Self {
        Record {
            id: id.into(),
            seq: seq.into(),
            ..Record::default()
        }
    }

    /// Checks that every byte is an IUPAC nucleotide letter; the error names `path`, the record
    /// and the 1-based position of the first bad byte.
    pub fn check_letters(&self, path: &Path) -> Result<(), SeqError> {
        match alphabet::first_invalid(&self.seq) {
            None => Ok(()),
            Some((index, byte)) => Err(SeqError::InvalidBase {
                path: path.to_path_buf(),
                id: self.id.clone(),
                position: index + 1,
                found: alphabet::describe_byte(byte),
            }),
        }
    }

    /// Appends the record as it came (its id, the rest of its header, its sequence on one
    /// line), as FASTQ when it has qualities, else as FASTA.
    pub fn write_as_read(&self, out: &mut Vec<u8>) {
        out.push(if self.qual.is_some() { b'@' } else { b'>' });
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(self.description.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.seq);
        out.push(b'\n');
        if let Some(qual) = &self.qual {
            out.extend_from_slice(b"+\n");
            out.extend_from_slice(qual);
            out.push(b'\n');
        }
    }
}

/// How many records were skipped for being empty, and the first few of their ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkippedRecords {
    /// Number of empty records skipped.
    pub count: u64,
    /// The ids of the first [`SkippedRecords::KEPT_IDS`] of them, for the warning.
    pub first_ids: Vec<String>,
}

impl SkippedRecords {
    /// How many ids are kept for the warning.
    pub const KEPT_IDS: usize = 10;

    fn add(&mut self, id: &str) {
        self.count += 1;
        if self.first_ids.len() < Self::KEPT_IDS {
            self.first_ids.push(id.to_string());
        }
    }
}

/// What to do with a record whose id an earlier record already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateIds {
    /// Stop with an error naming both records (the default: results are keyed by id).
    #[default]
    Refuse,
    /// Give it the first of `ID_1`, `ID_2`, ... that no record read so far has (a later record
    /// whose own id was already given out is renamed in turn), and record the change.
    Rename,
    /// Let it through (internal: finding the first of two records that share an id).
    Allow,
}

/// A record given a new id by [`DuplicateIds::Rename`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// 1-based record number.
    pub record: u64,
    /// The id in the input.
    pub original: String,
    /// The id it was given.
    pub new: String,
}

/// Where records come from: FASTA/FASTQ through needletail, alignments through noodles.
enum Source {
    Fastx(Box<dyn FastxReader>),
    Alignment(crate::alignment::Reads, crate::alignment::Format),
}

/// A record as read, before the checks every format shares.
struct Raw {
    header: Vec<u8>,
    seq: Vec<u8>,
    qual: Option<Vec<u8>>,
    line: u64,
    record: u64,
}

/// Streaming reader of sequence records: FASTA or FASTQ (plain or compressed), or reads in
/// BAM, SAM or CRAM (see [`crate::alignment`]), told apart by content. Yields validated
/// [`Record`]s.
pub struct FastaReader {
    path: PathBuf,
    inner: Source,
    /// 128-bit hashes of the ids seen so far: duplicate detection in 16 bytes per record
    /// instead of the whole id (a false alarm needs a 128-bit collision).
    seen: HashSet<u128>,
    duplicates: DuplicateIds,
    /// The next suffix to try for each id renamed so far.
    next_suffix: HashMap<u128, u64>,
    renamed: Vec<Renamed>,
    records: u64,
    skipped: SkippedRecords,
    failed: bool,
}

/// Bytes looked at to tell the format: a whole BGZF block fits.
const PREFIX_BYTES: usize = 64 * 1024 + 64;

impl FastaReader {
    /// Opens a file (plain or compressed), or `-` for standard input, for reading once.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SeqError> {
        Self::open_with(path, DuplicateIds::Refuse)
    }

    /// [`FastaReader::open`] with a policy for duplicate ids.
    pub fn open_with(path: impl AsRef<Path>, duplicates: DuplicateIds) -> Result<Self, SeqError> {
        let path = path.as_ref();
        let file = open_input(path)?;
        Ok(Self::from_reader(path, file)?.with_duplicates(duplicates))
    }

    /// Sets the policy for duplicate ids.
    pub fn with_duplicates(mut self, duplicates: DuplicateIds) -> Self {
        self.duplicates = duplicates;
        self
    }

    /// Reads from any byte source; `path` names it in errors.
    pub fn from_reader(
        path: impl Into<PathBuf>,
        mut reader: impl Read + Send + 'static,
    ) -> Result<Self, SeqError> {
        let path = path.into();
        let mut prefix = Vec::with_capacity(PREFIX_BYTES);
        (&mut reader)
            .take(PREFIX_BYTES as u64)
            .read_to_end(&mut prefix)
            .map_err(|e| SeqError::io(&path, "cannot read", e))?;
        let format = crate::alignment::Format::detect(&prefix);
        let whole: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(prefix).chain(reader));
        let inner = match format {
            Some(format) => {
                Source::Alignment(crate::alignment::Reads::start(format, whole, &path), format)
            }
            None => Source::Fastx(
                needletail::parse_fastx_reader(whole).map_err(|e| parse_error(&path, e))?,
            ),
        };
        Ok(FastaReader {
            path,
            inner,
            seen: HashSet::new(),
            duplicates: DuplicateIds::Refuse,
            next_suffix: HashMap::new(),
            renamed: Vec::new(),
            records: 0,
            skipped: SkippedRecords::default(),
            failed: false,
        })
    }

    /// The file name used in errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records read so far, empty ones included.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The empty records skipped so far.
    pub fn skipped(&self) -> &SkippedRecords {
        &self.skipped
    }

    /// The records renamed so far (with [`DuplicateIds::Rename`]), in input order.
    pub fn renamed(&self) -> &[Renamed] {
        &self.renamed
    }

    /// The next record as read, or the end of the input.
    fn next_raw(&mut self) -> Option<Result<Raw, SeqError>> {
        match &mut self.inner {
            Source::Fastx(inner) => {
                let record = match inner.next()? {
                    Ok(record) => record,
                    // needletail reports a FASTA file whose last record is a bare header line
                    // as truncated; that record is simply empty, so skip it like any empty one.
                    Err(e)
                        if e.kind == ParseErrorKind::UnexpectedEnd
                            && e.format == Some(needletail::parser::Format::Fasta) =>
                    {
                        self.records += 1;
                        self.skipped
                            .add(&format!("(last record, line {})", e.position.line));
                        self.failed = true;
                        return None;
                    }
                    Err(e) => return Some(Err(parse_error(&self.path, e))),
                };
                self.records += 1;
                Some(Ok(Raw {
                    header: record.id().to_vec(),
                    seq: record.seq().into_owned(),
                    qual: record.qual().map(<[u8]>::to_vec),
                    line: record.start_line_number(),
                    record: self.records,
                }))
            }
            Source::Alignment(reads, format) => match reads.next()? {
                Ok(read) => {
                    self.records += 1;
                    Some(Ok(Raw {
                        header: read.name.into_bytes(),
                        seq: read.seq,
                        qual: read.qual,
                        line: 0,
                        record: read.record,
                    }))
                }
                Err(e) => Some(Err(SeqError::Format {
                    path: self.path.clone(),
                    kind: format.name(),
                    detail: format!("{} record {}: {}", format.name(), e.record, e.reason),
                    hint: "Check the file with `samtools view`",
                })),
            },
        }
    }

    fn read_next(&mut self) -> Option<Result<Record, SeqError>> {
        loop {
            let raw = match self.next_raw()? {
                Ok(raw) => raw,
                Err(e) => return Some(Err(e)),
            };
            let header = &raw.header;
            let id_len = header
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap_or(header.len());
            let id_bytes = &header[..id_len];
            if id_bytes.is_empty() {
                return Some(Err(SeqError::MissingId {
                    path: self.path.clone(),
                    record: raw.record,
                    line: raw.line,
                }));
            }
            if let Some(&byte) = id_bytes.iter().find(|b| b.is_ascii_control()) {
                return Some(Err(SeqError::ControlInId {
                    path: self.path.clone(),
                    record: raw.record,
                    line: raw.line,
                    byte,
                }));
            }
            let mut id = String::from_utf8_lossy(id_bytes).into_owned();
            if self.duplicates != DuplicateIds::Allow && !self.seen.insert(xxh3_128(id_bytes)) {
                if self.duplicates == DuplicateIds::Refuse {
                    return Some(Err(SeqError::DuplicateId {
                        path: self.path.clone(),
                        first: first_record_with_id(&self.path, &id),
                        id,
                        record: raw.record,
                    }));
                }
                let new = self.fresh_name(&id);
                self.renamed.push(Renamed {
                    record: raw.record,
                    original: std::mem::replace(&mut id, new.clone()),
                    new,
                });
            }
            let description = String::from_utf8_lossy(&header[id_len..]).into_owned();
            let mut seq = raw.seq;
            // Biopython drops spaces inside sequence lines; do the same rather than reject them.
            if seq.iter().any(|&b| b == b' ' || b == b'\t') {
                seq.retain(|&b| b != b' ' && b != b'\t');
            }
            if seq.is_empty() {
                self.skipped.add(&id);
                continue;
            }
            return Some(Ok(Record {
                id,
                seq,
                description,
                qual: raw.qual,
            }));
        }
    }

    /// The first `ID_k` (k = 1, 2, ...) no record so far has, taken.
    fn fresh_name(&mut self, id: &str) -> String {
        let key = xxh3_128(id.as_bytes());
        let mut k = self.next_suffix.get(&key).copied().unwrap_or(1);
        loop {
            let name = format!("{id}_{k}");
            k += 1;
            if self.seen.insert(xxh3_128(name.as_bytes())) {
                self.next_suffix.insert(key, k);
                return name;
            }
        }
    }
}

/// The record number of the first record with `id` in the file at `path` (read again, on
/// this error path only); `None` for a stream, which cannot be read twice.
fn first_record_with_id(path: &Path, id: &str) -> Option<u64> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut reader = FastaReader::open_with(path, DuplicateIds::Allow).ok()?;
    loop {
        let raw = reader.next_raw()?.ok()?;
        let id_len = raw
            .header
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(raw.header.len());
        if &raw.header[..id_len] == id.as_bytes() {
            return Some(raw.record);
        }
    }
}

impl Iterator for FastaReader {
    type Item = Result<Record, SeqError>;

    /// The next non-empty record; after the first error, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.read_next();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

/// The path that means standard input.
pub const STDIN: &str = "-";

/// Opens an input for one pass: a file, a FIFO or process substitution (`<(zcat ...)`), or `-`
/// for standard input. Directories are refused up front (reading one would look like an empty
/// file). Compression is detected later, from the content.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, SeqError> {
    if path.as_os_str() == STDIN {
        return Ok(Box::new(std::io::stdin()));
    }
    let meta = std::fs::metadata(path).map_err(|e| SeqError::io(path, "cannot open", e))?;
    if meta.is_dir() {
        return Err(SeqError::io(
            path,
            "cannot read",
            std::io::Error::other("it is a directory, not a FASTA file"),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| SeqError::io(path, "cannot open", e))?;
    Ok(Box::new(file))
}

fn parse_error(path: &Path, e: ParseError) -> SeqError {
    let path = path.to_path_buf();
    let kind = match e.format {
        Some(needletail::parser::Format::Fasta) => "FASTA",
        Some(needletail::parser::Format::Fastq) => "FASTQ",
        None => "FASTA or FASTQ",
    };
    match e.kind {
        ParseErrorKind::EmptyFile => SeqError::EmptyFile { path },
        ParseErrorKind::Io => SeqError::io(path, "cannot read", std::io::Error::other(e.msg)),
        ParseErrorKind::UnknownFormat => SeqError::Format {
            path,
            // The first byte said neither: needletail's guess of a format means nothing here.
            kind: "FASTA or FASTQ",
            detail: e.msg.trim_end_matches('.').to_string(),
            hint: "A FASTA file starts with a '>' header line (FASTQ with '@'); remove any text \
                   before the first record, or check that this is the file you meant",
        },
        ParseErrorKind::UnexpectedEnd => SeqError::Format {
            path,
            kind,
            detail: format!("it ends in the middle of a record ({})", e.position),
            hint: "The file looks truncated; copy or download it again",
        },
        ParseErrorKind::UnequalLengths => SeqError::Format {
            path,
            kind,
            detail: e.to_string(),
            hint: "A FASTQ record's quality line must be as long as its sequence; the file may \
                   be truncated or two records run together there",
        },
        _ => SeqError::Format {
            path,
            kind,
            detail: e.to_string(),
            hint: "Check the record at that line",
        },
    }
}

/// Width of sequence lines in the FASTA the original writes with Biopython.
pub const LINE_WIDTH: usize = 60;

/// Appends a FASTA record with the sequence wrapped at [`LINE_WIDTH`] (Biopython's layout; an
/// empty sequence has no sequence line).
pub fn write_wrapped(out: &mut Vec<u8>, id: &[&str], seq: &[u8]) {
    write_header(out, id);
    for line in seq.chunks(LINE_WIDTH) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// Appends a FASTA record with the whole sequence on one line (the original's translation output).
pub fn write_single_line(out: &mut Vec<u8>, id: &[&str], seq: &[u8]) {
    write_header(out, id);
    out.extend_from_slice(seq);
    out.push(b'\n');
}

/// Writes `>` and the concatenated id parts (e.g. `["seq1_chunk_1", "F1"]`) then a newline.
fn write_header(out: &mut Vec<u8>, id: &[&str]) {
    out.push(b'>');
    for part in id {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'\n');
}

/// Reads a whole FASTA file into (id, sequence) pairs, for tests and small files.
pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Record>, SeqError> {
    FastaReader::open(path)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &'static [u8]) -> Result<Vec<Record>, SeqError> {
        FastaReader::from_reader("test.fa", std::io::Cursor::new(text))?.collect()
    }

    #[test]
    fn ids_stop_at_whitespace_and_lines_join() {
        let records = read(b">a desc here\nAC\nGT\n>b\tx\nNN\n").unwrap();
        assert_eq!(records[0].id, "a");
        assert_eq!(records[0].seq, b"ACGT");
        assert_eq!(records[1].id, "b");
    }

    #[test]
    fn empty_records_are_skipped_and_counted() {
        let mut reader =
            FastaReader::from_reader("t.fa", std::io::Cursor::new(&b">a\n>b\nAC\n>c\n"[..]))
                .unwrap();
        let ids: Vec<_> = reader.by_ref().map(|r| r.unwrap().id).collect();
        assert_eq!(ids, ["b"]);
        assert_eq!(reader.skipped().count, 2);
        assert_eq!(reader.skipped().first_ids, ["a", "(last record, line 4)"]);
        let mut reader =
            FastaReader::from_reader("t.fa", std::io::Cursor::new(&b">a\nAC\n>b"[..])).unwrap();
        assert_eq!(reader.by_ref().count(), 1);
        assert_eq!(reader.skipped().count, 1);
    }

    #[test]
    fn duplicates_and_missing_ids_are_errors() {
        let err = read(b">a\nAC\n>b\nAC\n>a x\nGG\n").unwrap_err();
        assert!(matches!(err, SeqError::DuplicateId { ref id, record: 3, .. } if id == "a"));
        let err = read(b">a\nAC\n> nameless\nGG\n").unwrap_err();
        assert!(
            matches!(err, SeqError::MissingId { record: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn control_bytes_in_ids_are_refused_naming_the_line() {
        let err = read(b">a\nAC\n>b\x00c\nGG\n").unwrap_err();
        assert!(
            matches!(
                err,
                SeqError::ControlInId {
                    record: 2,
                    line: 3,
                    byte: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(read(b">a\x1b[31m\nAC\n").is_err());
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        assert!(matches!(read(b"").unwrap_err(), SeqError::EmptyFile { .. }));
        let err = read(b"hello\n>a\nACGT\n").unwrap_err();
        assert!(err.to_string().contains("before the first record"), "{err}");
        let err = read(b"\x00\x01\x02\x03binary").unwrap_err();
        assert!(matches!(err, SeqError::Format { .. }), "{err}");
    }

    #[test]
    fn a_fastq_quality_line_of_the_wrong_length_is_named_a_fastq_error() {
        let err = read(b"@a\nACGT\n+\nIIII\n@b\nACGT\n+\nII\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a readable FASTQ file"), "{text}");
        assert!(text.contains("quality line must be as long"), "{text}");
    }

    #[test]
    fn renaming_gives_fresh_ids_that_collide_with_nothing_read() {
        let text = b">a\nAC\n>a_1\nAC\n>a x\nGG\n>a\nTT\n>b\nCC\n";
        let mut reader = FastaReader::from_reader("t.fa", std::io::Cursor::new(&text[..]))
            .unwrap()
            .with_duplicates(DuplicateIds::Rename);
        let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "a_1", "a_2", "a_3", "b"]);
        assert_eq!(records[2].description, " x", "the header's rest is kept");
        let renamed: Vec<(u64, &str, &str)> = reader
            .renamed()
            .iter()
            .map(|r| (r.record, r.original.as_str(), r.new.as_str()))
            .collect();
        assert_eq!(renamed, [(3, "a", "a_2"), (4, "a", "a_3")]);
        // A later record whose own id was given out is renamed in turn.
        let text = b">a\nAC\n>a\nAC\n>a_1\nGG\n";
        let ids: Vec<String> = FastaReader::from_reader("t.fa", std::io::Cursor::new(&text[..]))
            .unwrap()
            .with_duplicates(DuplicateIds::Rename)
            .map(|r| r.unwrap().id)
            .collect();
        assert_eq!(ids, ["a", "a_1", "a_1_1"]);
    }

    #[test]
    fn a_duplicate_in_a_file_names_both_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.fa");
        std::fs::write(&path, b">a\nAC\n>b\nAC\n>a x\nGG\n").unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(
            matches!(
                err,
                SeqError::DuplicateId {
                    record: 3,
                    first: Some(1),
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("record 3") && text.contains("record 1"),
            "{text}"
        );
        assert!(text.contains("--rename-duplicates"), "{text}");
    }

    #[test]
    fn records_are_written_back_as_they_came() {
        let records = read(b">a some words\nAC\nGT\n").unwrap();
        let mut out = Vec::new();
        records[0].write_as_read(&mut out);
        assert_eq!(out, b">a some words\nACGT\n");
        let records = read(b"@r1 x\nACGT\n+\nIIII\n").unwrap();
        let mut out = Vec::new();
        records[0].write_as_read(&mut out);
        assert_eq!(out, b"@r1 x\nACGT\n+\nIIII\n");
    }

    #[test]
    fn fastq_is_accepted() {
        let records = read(b"@r1 x\nACGT\n+\nIIII\n").unwrap();
        assert_eq!(records[0].id, "r1");
        assert_eq!(records[0].seq, b"ACGT");
    }

    #[test]
    fn letters_are_checked_with_position() {
        let rec = Record::new("r", b"ACGTX".to_vec());
        let err = rec.check_letters(Path::new("f.fa")).unwrap_err();
        assert!(err.to_string().contains("'X' at position 5"), "{err}");
    }

    #[test]
    fn wrapping_is_biopythons() {
        let mut out = Vec::new();
        write_wrapped(&mut out, &["x_chunk_1"], &[b'A'; 61]);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, format!(">x_chunk_1\n{}\nA\n", "A".repeat(60)));
    }
}
