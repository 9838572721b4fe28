//! Six-frame translation and the original's frame selection (spec: pipeline.md section 3.2).
//!
//! The sequence is upper-cased, translated with the standard genetic code in three forward frames
//! (`F1..F3`, offsets 0..2) and three frames of its reverse complement (`R1..R3`). A codon holding
//! any letter other than A/C/G/T translates to nothing: it is dropped, not written as `X`. A frame
//! is kept when its protein is non-empty and holds no stop (`*`); no start codon is needed.
//! The kept nucleotide is `seq[f .. f + 3 * protein_len + 1]`, clipped at the end: one base longer
//! than the codons, and misaligned when codons were dropped. Both quirks are the original's.

use crate::alphabet::{self, AMBIGUOUS, INVALID};

/// Which strand a reading frame reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strand {
    /// The sequence as given.
    Forward,
    /// Its reverse complement.
    Reverse,
}

/// One of the six reading frames, named as the original names them (`F1`..`F3`, `R1`..`R3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Strand the frame reads.
    pub strand: Strand,
    /// Offset of the first codon on that strand: 0, 1 or 2.
    pub offset: usize,
}

impl Frame {
    /// The six frames in the original's output order: F1, F2, F3, R1, R2, R3.
    pub const ALL: [Frame; 6] = [
        Frame::new(Strand::Forward, 0),
        Frame::new(Strand::Forward, 1),
        Frame::new(Strand::Forward, 2),
        Frame::new(Strand::Reverse, 0),
        Frame::new(Strand::Reverse, 1),
        Frame::new(Strand::Reverse, 2),
    ];

    const fn new(strand: Strand, offset: usize) -> Frame {
        Frame { strand, offset }
    }

    /// The suffix appended to a chunk id for this frame, with no separator: `F1` .. `R3`.
    pub fn suffix(self) -> &'static str {
        const NAMES: [&str; 6] = ["F1", "F2", "F3", "R1", "R2", "R3"];
        let strand = match self.strand {
            Strand::Forward => 0,
            Strand::Reverse => 3,
        };
        NAMES[strand + self.offset]
    }

    /// The frame of the reverse complement that reads the same codons (F k <-> R k).
    pub fn opposite(self) -> Frame {
        let strand = match self.strand {
            Strand::Forward => Strand::Reverse,
            Strand::Reverse => Strand::Forward,
        };
        Frame::new(strand, self.offset)
    }
}

/// The standard genetic code in the textbook TCAG order (T=0, C=1, A=2, G=3), `*` for stops.
const CODE_TCAG: &[u8; 64] = b"FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG";

const fn tcag_rank(code: usize) -> usize {
    // alphabet codes: A=0, C=1, G=2, T=3.
    [2, 1, 3, 0][code]
}

const fn build_codon_tables() -> ([u8; 64], [u8; 64]) {
    let mut forward = [0u8; 64];
    let mut reverse = [0u8; 64];
    let mut a = 0;
    while a < 4 {
        let mut b = 0;
        while b < 4 {
            let mut c = 0;
            while c < 4 {
                let index = a * 16 + b * 4 + c;
                forward[index] = CODE_TCAG[tcag_rank(a) * 16 + tcag_rank(b) * 4 + tcag_rank(c)];
                // Bases a,b,c read on the forward strand are the codon comp(c),comp(b),comp(a)
                // on the reverse strand.
                let (ra, rb, rc) = (3 - c, 3 - b, 3 - a);
                reverse[index] = CODE_TCAG[tcag_rank(ra) * 16 + tcag_rank(rb) * 4 + tcag_rank(rc)];
                c += 1;
            }
            b += 1;
        }
        a += 1;
    }
    (forward, reverse)
}

const CODON_TABLES: ([u8; 64], [u8; 64]) = build_codon_tables();
/// Amino acid of forward codon `a*16 + b*4 + c` (alphabet codes).
static FORWARD_CODON: [u8; 64] = CODON_TABLES.0;
/// Amino acid of the reverse-strand codon read from forward bases `a,b,c` (in forward order).
static REVERSE_CODON: [u8; 64] = CODON_TABLES.1;

/// Amino acid of three base codes, or `None` when one of them is ambiguous (dropped codon).
#[inline(always)]
fn codon(table: &[u8; 64], a: u8, b: u8, c: u8) -> Option<u8> {
    if (a | b | c) & 0b100 != 0 {
        None
    } else {
        Some(table[(a as usize) << 4 | (b as usize) << 2 | c as usize])
    }
}

/// Translates `seq` (any case) in `frame` exactly as the original `translate_frame`: stops kept
/// as `*`, codons with a non-ACGT letter dropped, a trailing partial codon ignored.
///
/// Letters outside the IUPAC alphabet are treated like ambiguous ones (their codon is dropped).
pub fn translate(seq: &[u8], frame: Frame) -> Vec<u8> {
    let codes: Vec<u8> = seq
        .iter()
        .map(|&b| alphabet::BASE_CODE[b as usize].min(AMBIGUOUS))
        .collect();
    let mut protein = Vec::with_capacity(seq.len() / 3);
    translate_codes(&codes, frame, &mut protein, false);
    protein
}

/// Translates base codes in one frame into `protein` (appended). With `stop_early`, returns
/// `false` at the first stop codon (protein left partial); otherwise always `true`.
#[inline]
fn translate_codes(codes: &[u8], frame: Frame, protein: &mut Vec<u8>, stop_early: bool) -> bool {
    let n = codes.len();
    let f = frame.offset;
    if n < f + 3 {
        return true;
    }
    let codon_count = (n - f) / 3;
    match frame.strand {
        Strand::Forward => {
            for k in 0..codon_count {
                let i = f + 3 * k;
                if let Some(aa) = codon(&FORWARD_CODON, codes[i], codes[i + 1], codes[i + 2]) {
                    if stop_early && aa == b'*' {
                        return false;
                    }
                    protein.push(aa);
                }
            }
        }
        Strand::Reverse => {
            // Reverse-strand position p maps to forward position n-1-p; codon k covers reverse
            // positions f+3k .. f+3k+2, i.e. forward bases j-2, j-1, j with j = n-1-f-3k.
            for k in 0..codon_count {
                let j = n - 1 - f - 3 * k;
                if let Some(aa) = codon(&REVERSE_CODON, codes[j - 2], codes[j - 1], codes[j]) {
                    if stop_early && aa == b'*' {
                        return false;
                    }
                    protein.push(aa);
                }
            }
        }
    }
    true
}

/// A frame the original keeps: its protein and the nucleotide slice it pairs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFrame<'a> {
    /// Which frame.
    pub frame: Frame,
    /// The protein (upper-case one-letter codes, no stop).
    pub protein: &'a [u8],
    /// The upper-cased nucleotide slice `strand[f .. f + 3 * protein.len() + 1]`.
    pub nucleotide: &'a [u8],
}

/// Reusable translator for the six frames of many sequences: keeps its buffers between calls, so
/// translating a stream of chunks allocates nothing once warm.
///
/// ```
/// use virnucpro_seq::SixFrames;
/// let mut kept = Vec::new();
/// SixFrames::new().for_each_kept(b"atgNNNccc", |k| {
///     kept.push(format!("{} {} {}", k.frame.suffix(),
///         String::from_utf8_lossy(k.protein), String::from_utf8_lossy(k.nucleotide)));
/// });
/// // The NNN codon is dropped; the nucleotide slice is 3 * 2 + 1 bases, upper-cased.
/// assert_eq!(kept[0], "F1 MP ATGNNNC");
/// ```
#[derive(Debug, Default)]
pub struct SixFrames {
    codes: Vec<u8>,
    protein: Vec<u8>,
    nucleotide: Vec<u8>,
}

impl SixFrames {
    /// A translator with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `keep` for each frame of `seq` the original keeps, in the order F1..F3, R1..R3.
    ///
    /// `seq` holds IUPAC nucleotide letters in any case; other bytes are treated as ambiguous.
    /// Most frames of non-coding sequence meet a stop within a few codons; translation of such
    /// a frame ends there.
    pub fn for_each_kept(&mut self, seq: &[u8], mut keep: impl FnMut(KeptFrame<'_>)) {
        self.codes.clear();
        self.codes.extend(
            seq.iter()
                .map(|&b| alphabet::BASE_CODE[b as usize].min(AMBIGUOUS)),
        );
        debug_assert!(self.codes.iter().all(|&c| c != INVALID));
        for frame in Frame::ALL {
            self.protein.clear();
            if !translate_codes(&self.codes, frame, &mut self.protein, true)
                || self.protein.is_empty()
            {
                continue;
            }
            let start = frame.offset;
            let end = (start + 3 * self.protein.len() + 1).min(seq.len());
            self.nucleotide.clear();
            match frame.strand {
                Strand::Forward => self
                    .nucleotide
                    .extend(seq[start..end].iter().map(u8::to_ascii_uppercase)),
                Strand::Reverse => {
                    // Reverse-strand range [start, end) is forward range [n-end, n-start).
                    let n = seq.len();
                    self.nucleotide.extend(
                        seq[n - end..n - start]
                            .iter()
                            .rev()
                            .map(|&b| alphabet::complement(b.to_ascii_uppercase())),
                    );
                }
            }
            keep(KeptFrame {
                frame,
                protein: &self.protein,
                nucleotide: &self.nucleotide,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(seq: &[u8]) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        SixFrames::new().for_each_kept(seq, |k| {
            out.push((
                k.frame.suffix().to_string(),
                String::from_utf8(k.protein.to_vec()).unwrap(),
                String::from_utf8(k.nucleotide.to_vec()).unwrap(),
            ))
        });
        out
    }

    #[test]
    fn standard_code() {
        let f1 = Frame::ALL[0];
        assert_eq!(translate(b"ATGTTTTAATAGTGAGGG", f1), b"MF***G".to_vec());
        assert_eq!(translate(b"atgtgg", f1), b"MW".to_vec());
        // Reverse frame 1 of ATGAAA is the forward translation of TTTCAT.
        assert_eq!(translate(b"ATGAAA", Frame::ALL[3]), b"FH".to_vec());
    }

    #[test]
    fn ambiguous_codons_are_dropped_and_the_slice_is_the_originals() {
        // pipeline.md: ACGTNNACGTAA in F2 gives protein RR and nucleotide CGTNNAC.
        let frames = kept(b"ACGTNNACGTAA");
        let f2 = frames.iter().find(|f| f.0 == "F2").unwrap();
        assert_eq!((f2.1.as_str(), f2.2.as_str()), ("RR", "CGTNNAC"));
    }

    #[test]
    fn short_sequences_keep_frames_with_a_codon() {
        assert_eq!(
            kept(b"CCC"),
            [
                ("F1".into(), "P".into(), "CCC".into()),
                ("R1".into(), "G".into(), "GGG".into())
            ]
        );
        assert!(kept(b"CC").is_empty());
        assert!(kept(b"NNN").is_empty());
    }

    #[test]
    fn frame_names() {
        let names: Vec<_> = Frame::ALL.iter().map(|f| f.suffix()).collect();
        assert_eq!(names, ["F1", "F2", "F3", "R1", "R2", "R3"]);
        assert_eq!(Frame::ALL[1].opposite(), Frame::ALL[4]);
    }
}
