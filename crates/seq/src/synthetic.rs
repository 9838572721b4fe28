//! Synthetic FASTA for benchmarks and tests: reproducible reads and contigs of chosen lengths.
//!
//! Half of the records are random DNA (every frame soon meets a stop, as in most non-coding
//! sequence), half are coding-like (stop-free codons in one frame, so long frames survive and
//! translation runs to the end). A few carry lower-case stretches or `N` runs, as assemblies do.
//!
//! The generator is SplitMix64, written out here rather than taken from `rand` because its output
//! must stay the same across crate versions: a benchmark input is only comparable if it is the
//! same input.

use std::io::Write;

/// Settings for [`write_fasta`].
#[derive(Debug, Clone, Copy)]
pub struct SyntheticSpec {
    /// Seed; the same seed gives the same file.
    pub seed: u64,
    /// Total bases to write (the last record may overshoot by less than `max_len`).
    pub total_bases: u64,
    /// Shortest record.
    pub min_len: usize,
    /// Longest record.
    pub max_len: usize,
}

/// SplitMix64: tiny, fast, and value-stable forever. Seeded with its one field.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const BASES: &[u8; 4] = b"ACGT";

/// Writes synthetic records (70-column lines) to `out`; returns (records, bases) written.
pub fn write_fasta(spec: SyntheticSpec, out: &mut impl Write) -> std::io::Result<(u64, u64)> {
    let mut rng = SplitMix64(spec.seed);
    let span = (spec.max_len.max(spec.min_len) - spec.min_len + 1) as u64;
    let (mut records, mut bases) = (0u64, 0u64);
    let mut seq = Vec::with_capacity(spec.max_len);
    let mut text = Vec::with_capacity(spec.max_len + spec.max_len / 70 + 64);
    while bases < spec.total_bases {
        let len = spec.min_len.max(1) + rng.below(span) as usize;
        seq.clear();
        let coding = rng.below(2) == 0;
        if coding {
            let offset = rng.below(3) as usize;
            seq.extend((0..offset).map(|_| BASES[rng.below(4) as usize]));
            while seq.len() < len {
                let codon = loop {
                    let c = [
                        BASES[rng.below(4) as usize],
                        BASES[rng.below(4) as usize],
                        BASES[rng.below(4) as usize],
                    ];
                    if !matches!(&c, b"TAA" | b"TAG" | b"TGA") {
                        break c;
                    }
                };
                seq.extend_from_slice(&codon);
            }
            seq.truncate(len);
        } else {
            seq.extend((0..len).map(|_| BASES[rng.below(4) as usize]));
        }
        match rng.below(20) {
            0 => {
                let start = rng.below(len as u64) as usize;
                let end = (start + 1 + rng.below(50) as usize).min(len);
                seq[start..end].fill(b'N');
            }
            1 => {
                let start = rng.below(len as u64) as usize;
                let end = (start + rng.below(200) as usize).min(len);
                seq[start..end].make_ascii_lowercase();
            }
            _ => {}
        }
        records += 1;
        bases += len as u64;
        text.clear();
        writeln!(text, ">synthetic_{records} len={len}")?;
        for line in seq.chunks(70) {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        out.write_all(&text)?;
    }
    Ok((records, bases))
}

/// The 20 standard amino acids.
const AMINO_ACIDS: &[u8; 20] = b"LAGVSERTIDPKQNFYMHWC";

/// `count` random proteins with lengths uniform in `min_len..=max_len` (60..=166 are the lengths
/// of six-frame translations of 500 bp chunks), for embedding benchmarks.
pub fn proteins(count: usize, min_len: usize, max_len: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed);
    let span = (max_len.max(min_len) - min_len + 1) as u64;
    (0..count)
        .map(|_| {
            let len = min_len + rng.below(span) as usize;
            (0..len)
                .map(|_| AMINO_ACIDS[rng.below(20) as usize] as char)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proteins_have_the_asked_lengths() {
        let p = proteins(50, 60, 166, 1);
        assert_eq!(p.len(), 50);
        assert!(p.iter().all(|s| (60..=166).contains(&s.len())));
        assert_eq!(p, proteins(50, 60, 166, 1));
    }

    #[test]
    fn same_seed_same_file() {
        let spec = SyntheticSpec {
            seed: 7,
            total_bases: 10_000,
            min_len: 100,
            max_len: 900,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let counts = write_fasta(spec, &mut a).unwrap();
        write_fasta(spec, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(counts.1 >= 10_000);
        let reader = crate::FastaReader::from_reader("s.fa", std::io::Cursor::new(a)).unwrap();
        let records: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(records.len() as u64, counts.0);
        assert!(records.iter().all(|r| (100..=900).contains(&r.seq.len())));
    }
}
