//! The ESM-1b alphabet shared by all ESM-2 models: `<cls>`=0, `<pad>`=1, `<eos>`=2, `<unk>`=3,
//! residues from 4, `<mask>`=32.

use crate::embedding_model::SequenceTokenizer;
use crate::error::{ModelError, Result};

/// Turns protein strings into ESM-2 token ids.
#[derive(Debug, Clone, Default)]
pub struct EsmAlphabet;

/// The 27 single-letter tokens, in id order from 4.
const LETTERS: &[u8; 27] = b"LAGVSERTIDPKQNFYMHWCXBUZO.-";

impl EsmAlphabet {
    /// `<cls>`: first token of every sequence.
    pub const CLS: u32 = 0;
    /// `<pad>`.
    pub const PAD: u32 = 1;
    /// `<eos>`: last token of every sequence.
    pub const EOS: u32 = 2;
    /// `<mask>`.
    pub const MASK: u32 = 32;

    /// Token id of one residue letter (upper case), if the alphabet has it.
    pub fn residue_id(letter: u8) -> Option<u32> {
        LETTERS
            .iter()
            .position(|&l| l == letter)
            .map(|i| i as u32 + 4)
    }

    /// `<cls>` + residues + `<eos>`, as fair-esm's batch converter encodes a protein. A letter
    /// outside the alphabet (fair-esm raises `KeyError`) is an error naming it.
    pub fn encode(&self, protein: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(protein.len() + 2);
        ids.push(Self::CLS);
        for (i, b) in protein.bytes().enumerate() {
            ids.push(Self::residue_id(b).ok_or_else(|| {
                ModelError::Tokenizer(format!(
                    "protein has '{}' at position {}, which ESM-2 has no token for \
                     (expected upper-case amino-acid letters)",
                    b.escape_ascii(),
                    i + 1
                ))
            })?);
        }
        ids.push(Self::EOS);
        Ok(ids)
    }
}

impl SequenceTokenizer for EsmAlphabet {
    fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        EsmAlphabet::encode(self, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_fair_esm() {
        assert_eq!(EsmAlphabet.encode("LAC").unwrap(), [0, 4, 5, 23, 2]);
        assert_eq!(EsmAlphabet::residue_id(b'-'), Some(30));
        assert!(EsmAlphabet.encode("MK*").is_err());
        assert!(EsmAlphabet.encode("mk").is_err());
    }
}
