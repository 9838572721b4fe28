//! Errors of the sequence stages. Each names the file and, where there is one, the record, and
//! says what to fix: they are shown to users as they are.

use std::path::PathBuf;

/// Anything that stops a sequence stage.
#[derive(Debug, thiserror::Error)]
pub enum SeqError {
    /// The file could not be opened, read or written.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("cannot open", "cannot write" ...).
        action: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no record at all.
    #[error("{path}: the file is empty; give a FASTA file with at least one record")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The file is not FASTA (or FASTQ), or is broken in a way the parser cannot read past.
    #[error("{path}: not a readable {kind} file: {detail}. {hint}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The format it was read as ("FASTA", "FASTQ", "BAM" ...; "FASTA or FASTQ" when the
        /// first byte said neither).
        kind: &'static str,
        /// What the parser saw, with the line.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A header line with no id before the first whitespace.
    #[error("{path}: record {record} (line {line}) has no id after '>'; give every record a name")]
    MissingId {
        /// The file.
        path: PathBuf,
        /// 1-based record number.
        record: u64,
        /// Line of the header.
        line: u64,
    },
    /// A header holds a control byte (NUL, escape ...) in its id, which no output format can
    /// carry faithfully.
    #[error(
        "{path}: line {line} (record {record}): the id holds the control byte {byte:#04x}; \
         ids must be printable text, so fix or rename that header"
    )]
    ControlInId {
        /// The file.
        path: PathBuf,
        /// 1-based record number.
        record: u64,
        /// Line of the header.
        line: u64,
        /// The offending byte.
        byte: u8,
    },
    /// Two records share an id; later stages key sequences by id, so ids must be unique.
    #[error(
        "{path}: record {record} has the id '{id}', which {} already has; ids (the header \
         text up to the first space) must be unique: rename one of them, or run with \
         --rename-duplicates to have them renamed ID_1, ID_2, ...",
        first.map_or("an earlier record".to_string(), |n| format!("record {n}"))
    )]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// The repeated id.
        id: String,
        /// 1-based record number of the second occurrence.
        record: u64,
        /// 1-based record number of the first occurrence, when the input could be read again.
        first: Option<u64>,
    },
    /// A byte that is not an IUPAC nucleotide letter.
    #[error(
        "{path}: record '{id}' has {found} at position {position}, which is not an IUPAC \
         nucleotide letter (ACGT, U, N or RYSWKMBDHV); fix or remove that record"
    )]
    InvalidBase {
        /// The file.
        path: PathBuf,
        /// The record.
        id: String,
        /// 1-based position in the record's sequence.
        position: usize,
        /// The offending byte, described for a reader.
        found: String,
    },
    /// A chunk length of zero.
    #[error("the chunk length must be at least 1 (VirNucPro models use 300 or 500)")]
    ZeroChunkLength,
    /// Stopped by a signal; nothing was written.
    #[error("stopped by signal {signal}; no output was written (rerun the same command)")]
    Interrupted {
        /// The signal number (2 = SIGINT, 15 = SIGTERM).
        signal: i32,
    },
}

impl SeqError {
    /// Wraps an I/O error with the file and what was being done.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        SeqError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
