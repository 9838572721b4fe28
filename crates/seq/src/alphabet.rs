//! The nucleotide alphabet: which letters a DNA record may hold, and their 2-bit codes.
//!
//! One 256-entry table classifies every byte in a single lookup, so validation and encoding of a
//! record are one pass. Case does not matter: the original upper-cases a sequence before it is
//! translated, so `a` and `A` have the same code.

/// Code of `A`/`a`. `C`, `G` and `T` follow as 1, 2 and 3; the complement of code `x` is `3 - x`.
pub const A: u8 = 0;
/// Code of `C`/`c`.
pub const C: u8 = 1;
/// Code of `G`/`g`.
pub const G: u8 = 2;
/// Code of `T`/`t`.
pub const T: u8 = 3;
/// Code of an IUPAC ambiguity letter (`N`, `R`, `Y`, `U` ...): valid input, but a codon holding
/// one translates to nothing, exactly as in the original.
pub const AMBIGUOUS: u8 = 4;
/// Code of a byte that is not an IUPAC nucleotide letter: input to be rejected.
pub const INVALID: u8 = 5;

/// The IUPAC nucleotide letters other than A, C, G, T (upper case; lower case is accepted too).
pub const IUPAC_AMBIGUOUS_LETTERS: &[u8] = b"NRYSWKMBDHVU";

const fn build_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    table[b'A' as usize] = A;
    table[b'a' as usize] = A;
    table[b'C' as usize] = C;
    table[b'c' as usize] = C;
    table[b'G' as usize] = G;
    table[b'g' as usize] = G;
    table[b'T' as usize] = T;
    table[b't' as usize] = T;
    let mut i = 0;
    while i < IUPAC_AMBIGUOUS_LETTERS.len() {
        let upper = IUPAC_AMBIGUOUS_LETTERS[i];
        table[upper as usize] = AMBIGUOUS;
        table[upper.to_ascii_lowercase() as usize] = AMBIGUOUS;
        i += 1;
    }
    table
}

/// Code of every byte: [`A`]..[`T`], [`AMBIGUOUS`] or [`INVALID`].
pub static BASE_CODE: [u8; 256] = build_table();

/// The first byte of `seq` that is not an IUPAC nucleotide letter, as (0-based index, byte).
pub fn first_invalid(seq: &[u8]) -> Option<(usize, u8)> {
    seq.iter()
        .position(|&b| BASE_CODE[b as usize] == INVALID)
        .map(|i| (i, seq[i]))
}

/// The original's complement: A<->T and C<->G in either case; every other letter is kept as is.
#[inline]
pub fn complement(base: u8) -> u8 {
    match base {
        b'A' => b'T',
        b'T' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'a' => b't',
        b't' => b'a',
        b'c' => b'g',
        b'g' => b'c',
        other => other,
    }
}

/// The original's reverse complement (`maketrans('ACGTacgt','TGCAtgca')` then reversed): IUPAC
/// codes such as `N` or `R` are reversed but not complemented.
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| complement(b)).collect()
}

/// Shows a byte for an error message: the character when printable, its hex value otherwise.
pub fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_ignore_case() {
        for (upper, code) in [(b'A', A), (b'C', C), (b'G', G), (b'T', T)] {
            assert_eq!(BASE_CODE[upper as usize], code);
            assert_eq!(BASE_CODE[upper.to_ascii_lowercase() as usize], code);
        }
        assert_eq!(BASE_CODE[b'n' as usize], AMBIGUOUS);
        assert_eq!(BASE_CODE[b'X' as usize], INVALID);
        assert_eq!(BASE_CODE[b'-' as usize], INVALID);
        assert_eq!(BASE_CODE[b'*' as usize], INVALID);
    }

    #[test]
    fn first_invalid_reports_position() {
        assert_eq!(first_invalid(b"ACGTNacgtn"), None);
        assert_eq!(first_invalid(b"ACxG1"), Some((2, b'x')));
    }

    #[test]
    fn reverse_complement_keeps_ambiguity_codes() {
        assert_eq!(reverse_complement(b"AACGTNRy"), b"yRNACGTT".to_vec());
        assert_eq!(reverse_complement(b"acgt"), b"acgt".to_vec());
    }
}
