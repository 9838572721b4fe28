//! Reads stored as alignments: BAM, SAM and CRAM, unaligned (as sequencing centres deliver
//! them) or aligned, read once as a stream with noodles.
//!
//! Each primary record becomes one read: secondary and supplementary records are skipped (their
//! bases are another record's), a read of a pair gets `/1` or `/2` after its name from the
//! first/last-segment flags, and a read stored reverse-complemented (flag 0x10, aligned reads)
//! is turned back to the orientation it was sequenced in, qualities reversed with it, as
//! `samtools fastq` does. Decoding runs on its own thread, a few hundred reads ahead of the
//! caller.

use std::io::{BufReader, Read};
use std::path::Path;

use crossbeam_channel::{bounded, Receiver};
use noodles::sam::alignment::RecordBuf;

/// The alignment formats recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// BGZF-compressed binary alignments.
    Bam,
    /// Text alignments.
    Sam,
    /// Reference-compressed alignments.
    Cram,
}

impl Format {
    /// Its usual name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Bam => "BAM",
            Format::Sam => "SAM",
            Format::Cram => "CRAM",
        }
    }

    /// The alignment format `prefix` (the first bytes of an input, up to 64 KiB or the whole
    /// input) starts, or `None` for anything else (FASTA, FASTQ, compressed or not).
    pub fn detect(prefix: &[u8]) -> Option<Format> {
        if prefix.starts_with(b"CRAM") {
            return Some(Format::Cram);
        }
        if is_bgzf(prefix) {
            let mut magic = [0u8; 4];
            let mut block = noodles::bgzf::io::Reader::new(prefix);
            if block.read_exact(&mut magic).is_ok() && &magic == b"BAM\x01" {
                return Some(Format::Bam);
            }
            return None;
        }
        let line = prefix.split(|&b| b == b'\n').next().unwrap_or_default();
        let sam_header = [b"@HD\t", b"@SQ\t", b"@RG\t", b"@PG\t", b"@CO\t"]
            .iter()
            .any(|tag| line.starts_with(*tag));
        // A SAM file without header: an alignment line has 11 tab-separated fields at least.
        let headerless = !line.starts_with(b">")
            && !line.starts_with(b"@")
            && line.split(|&b| b == b'\t').count() >= 11;
        (sam_header || headerless).then_some(Format::Sam)
    }
}

/// Whether `bytes` start a BGZF block: gzip with the extra subfield `BC`.
fn is_bgzf(bytes: &[u8]) -> bool {
    bytes.len() >= 18
        && bytes[0] == 0x1f
        && bytes[1] == 0x8b
        && bytes[2] == 8
        && bytes[3] & 4 != 0
        && bytes[12] == b'B'
        && bytes[13] == b'C'
}

/// One read taken from an alignment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignedRead {
    /// The read's name, with `/1` or `/2` for a read of a pair.
    pub name: String,
    /// Its bases, in sequencing orientation.
    pub seq: Vec<u8>,
    /// Its Phred qualities as FASTQ text (+33), when the record has them.
    pub qual: Option<Vec<u8>>,
    /// The 1-based number of the record it came from (skipped records counted).
    pub record: u64,
}

/// Why an alignment input could not be read: the reason and the record it was at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Records read before the failure.
    pub record: u64,
    /// What went wrong, and what to do about it.
    pub reason: String,
}

/// The reads of an alignment stream, in file order.
pub struct Reads {
    batches: Receiver<Vec<Result<AlignedRead, ReadError>>>,
    pending: std::vec::IntoIter<Result<AlignedRead, ReadError>>,
}

/// Reads per message from the decoding thread.
const BATCH: usize = 256;

impl Reads {
    /// Starts decoding `input` (in `format`) on its own thread; `path` names it in the thread's
    /// name only.
    pub fn start(format: Format, input: Box<dyn Read + Send>, path: &Path) -> Self {
        let (tx, rx) = bounded::<Vec<Result<AlignedRead, ReadError>>>(4);
        let name = format!("{}-reader:{}", format.name().to_lowercase(), path.display());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut emit = |item: Result<AlignedRead, ReadError>| -> bool {
                let failed = item.is_err();
                batch.push(item);
                if batch.len() >= BATCH || failed {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(full).is_err() {
                        return false;
                    }
                }
                !failed
            };
            decode(format, input, &mut emit);
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        let pending = match spawned {
            Ok(_) => Vec::new().into_iter(),
            Err(e) => vec![Err(ReadError {
                record: 0,
                reason: format!("cannot start a reader thread: {e}"),
            })]
            .into_iter(),
        };
        Reads {
            batches: rx,
            pending,
        }
    }
}

impl Iterator for Reads {
    type Item = Result<AlignedRead, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.next() {
                return Some(item);
            }
            self.pending = self.batches.recv().ok()?.into_iter();
        }
    }
}

/// Decodes every record of `input`, giving each read to `emit` until it returns false.
fn decode(
    format: Format,
    input: Box<dyn Read + Send>,
    emit: &mut dyn FnMut(Result<AlignedRead, ReadError>) -> bool,
) {
    let mut record = 0u64;
    let mut give = |result: std::io::Result<RecordBuf>| -> bool {
        record += 1;
        match result {
            Ok(buf) => match to_read(&buf, record) {
                Ok(Some(read)) => emit(Ok(read)),
                Ok(None) => true,
                Err(reason) => emit(Err(ReadError { record, reason })),
            },
            Err(e) => emit(Err(ReadError {
                record,
                reason: decode_hint(format, &e),
            })),
        }
    };
    // Each reader reads its header, then gives every record; only a header error comes back.
    let header = match format {
        Format::Bam => {
            let mut reader = noodles::bam::io::Reader::new(input);
            reader
                .read_header()
                .map(|header| drain(reader.record_bufs(&header), &mut give))
        }
        Format::Sam => {
            let mut reader =
                noodles::sam::io::Reader::new(BufReader::with_capacity(1 << 16, input));
            reader
                .read_header()
                .map(|header| drain(reader.record_bufs(&header), &mut give))
        }
        Format::Cram => {
            let mut reader = noodles::cram::io::Reader::new(input);
            reader
                .read_header()
                .map(|header| drain(reader.records(&header), &mut give))
        }
    };
    if let Err(e) = header {
        emit(Err(ReadError {
            record: 0,
            reason: format!("cannot read the {} header: {e}", format.name()),
        }));
    }
}

/// Gives each record to `give` until it returns false.
fn drain(
    records: impl Iterator<Item = std::io::Result<RecordBuf>>,
    give: &mut impl FnMut(std::io::Result<RecordBuf>) -> bool,
) {
    for result in records {
        if !give(result) {
            return;
        }
    }
}

/// The message for a record that failed to decode; for CRAM, what aligned records need.
fn decode_hint(format: Format, e: &std::io::Error) -> String {
    match format {
        Format::Cram => format!(
            "cannot decode: {e}. Aligned CRAM records are stored against the reference genome \
             they were aligned to, which virnucpro does not take: convert them first, e.g. \
             `samtools fastq --reference REF.fa IN.cram > reads.fastq`, and run on that \
             (unaligned CRAM needs no reference)"
        ),
        _ => format!("cannot decode: {e}; check that the file is complete"),
    }
}

/// The read of one alignment record; `None` for a secondary or supplementary record.
fn to_read(buf: &RecordBuf, record: u64) -> Result<Option<AlignedRead>, String> {
    let flags = buf.flags();
    if flags.is_secondary() || flags.is_supplementary() {
        return Ok(None);
    }
    let Some(name) = buf.name() else {
        return Err("the record has no read name (QNAME '*'); give every read a name".into());
    };
    let mut name = String::from_utf8_lossy(name).into_owned();
    if flags.is_segmented() {
        match (flags.is_first_segment(), flags.is_last_segment()) {
            (true, false) => name.push_str("/1"),
            (false, true) => name.push_str("/2"),
            _ => {}
        }
    }
    let mut seq = buf.sequence().as_ref().to_vec();
    let scores = buf.quality_scores().as_ref();
    let mut qual = (!scores.is_empty() && scores.len() == seq.len()).then(|| {
        scores
            .iter()
            .map(|&q| q.saturating_add(33))
            .collect::<Vec<u8>>()
    });
    if flags.is_reverse_complemented() {
        seq.reverse();
        for base in &mut seq {
            *base = crate::alphabet::complement(*base);
        }
        if let Some(q) = qual.as_mut() {
            q.reverse();
        }
    }
    Ok(Some(AlignedRead {
        name,
        seq,
        qual,
        record,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DuplicateIds, FastaReader, Record};
    use noodles::sam::alignment::io::Write as _;
    use noodles::sam::alignment::record::Flags;
    use noodles::sam::alignment::record_buf::{QualityScores, Sequence};

    /// (name, flags, bases, Phred scores) records written as `format`.
    fn alignments(format: Format, reads: &[(&str, u16, &[u8], &[u8])]) -> Vec<u8> {
        let header = noodles::sam::Header::default();
        let records: Vec<RecordBuf> = reads
            .iter()
            .map(|&(name, flags, seq, qual)| {
                RecordBuf::builder()
                    .set_name(name)
                    .set_flags(Flags::from(flags))
                    .set_sequence(Sequence::from(seq.to_vec()))
                    .set_quality_scores(QualityScores::from(qual.to_vec()))
                    .build()
            })
            .collect();
        let mut out = Vec::new();
        match format {
            Format::Bam => {
                let mut w = noodles::bam::io::Writer::new(&mut out);
                w.write_header(&header).unwrap();
                for r in &records {
                    w.write_alignment_record(&header, r).unwrap();
                }
                w.try_finish().unwrap();
            }
            Format::Sam => {
                let mut w = noodles::sam::io::Writer::new(&mut out);
                w.write_header(&header).unwrap();
                for r in &records {
                    w.write_alignment_record(&header, r).unwrap();
                }
            }
            Format::Cram => unreachable!("see unaligned_single_reads_in_each_format"),
        }
        out
    }

    fn read(bytes: Vec<u8>) -> Vec<Record> {
        FastaReader::from_reader("reads", std::io::Cursor::new(bytes))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    const UNMAPPED: u16 = 0x4;
    const PAIRED: u16 = 0x1 | 0x4 | 0x8;

    #[test]
    fn unaligned_single_reads_in_each_format() {
        let reads: &[(&str, u16, &[u8], &[u8])] = &[
            ("r1", UNMAPPED, b"ACGTAC", &[30, 31, 32, 33, 34, 35]),
            ("r2", UNMAPPED, b"GGGTTT", &[]),
        ];
        // CRAM is left out: noodles 0.88 cannot read back what its own CRAM writer writes
        // ("invalid content type"), and no other CRAM writer is at hand here.
        for format in [Format::Bam, Format::Sam] {
            let bytes = alignments(format, reads);
            assert_eq!(Format::detect(&bytes), Some(format));
            let got = read(bytes);
            assert_eq!(got.len(), 2, "{format:?}");
            assert_eq!(got[0].id, "r1");
            assert_eq!(got[0].seq, b"ACGTAC");
            assert_eq!(got[0].qual.as_deref(), Some(&b"?@ABCD"[..]), "{format:?}");
            assert_eq!(got[1].id, "r2");
            assert_eq!(got[1].seq, b"GGGTTT");
            assert_eq!(got[1].qual, None, "{format:?}: no qualities stored");
        }
    }

    #[test]
    fn pairs_are_named_from_the_flags_and_secondary_records_skipped() {
        let reads: &[(&str, u16, &[u8], &[u8])] = &[
            ("p", PAIRED | 0x40, b"AAAACC", &[]),
            ("p", PAIRED | 0x80, b"GGTTTT", &[]),
            ("p", PAIRED | 0x40 | 0x100, b"AAAACC", &[]),
            ("p", PAIRED | 0x80 | 0x800, b"GGTTTT", &[]),
            // Stored reverse-complemented: given back as sequenced.
            ("q", UNMAPPED | 0x10, b"AACCGT", &[10, 20, 30, 40, 40, 40]),
        ];
        for format in [Format::Bam, Format::Sam] {
            let got = read(alignments(format, reads));
            let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["p/1", "p/2", "q"], "{format:?}");
            assert_eq!(got[2].seq, b"ACGGTT");
            assert_eq!(got[2].qual.as_deref(), Some(&b"III?5+"[..]));
        }
    }

    #[test]
    fn duplicate_read_names_are_refused_or_renamed() {
        let reads: &[(&str, u16, &[u8], &[u8])] =
            &[("x", UNMAPPED, b"ACGT", &[]), ("x", UNMAPPED, b"ACGT", &[])];
        let bytes = alignments(Format::Bam, reads);
        let err = FastaReader::from_reader("reads.bam", std::io::Cursor::new(bytes.clone()))
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert!(err.to_string().contains("record 2"), "{err}");
        let mut reader = FastaReader::from_reader("reads.bam", std::io::Cursor::new(bytes))
            .unwrap()
            .with_duplicates(DuplicateIds::Rename);
        let ids: Vec<String> = reader.by_ref().map(|r| r.unwrap().id).collect();
        assert_eq!(ids, ["x", "x_1"]);
        assert_eq!(reader.renamed().len(), 1);
    }

    #[test]
    fn a_damaged_bam_is_an_error_naming_the_file() {
        let reads: &[(&str, u16, &[u8], &[u8])] = &[("r", UNMAPPED, b"ACGTACGT", &[])];
        let mut bytes = alignments(Format::Bam, reads);
        bytes.truncate(bytes.len() / 2);
        let result: Result<Vec<Record>, _> =
            FastaReader::from_reader("reads.bam", std::io::Cursor::new(bytes))
                .and_then(|r| r.collect());
        let err = result.unwrap_err();
        assert!(err.to_string().contains("reads.bam"), "{err}");
    }

    #[test]
    fn formats_are_told_apart_by_content() {
        assert_eq!(Format::detect(b"CRAM\x03\x00"), Some(Format::Cram));
        assert_eq!(Format::detect(b"@HD\tVN:1.6\n"), Some(Format::Sam));
        let line = b"r1\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n";
        assert_eq!(Format::detect(line), Some(Format::Sam));
        assert_eq!(Format::detect(b">a\nACGT\n"), None);
        assert_eq!(Format::detect(b"@r1\nACGT\n+\nIIII\n"), None);
        assert_eq!(Format::detect(b"\x1f\x8b\x08\x00rest"), None);
    }
}
