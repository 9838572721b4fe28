//! The DNABERT-S BPE tokenizer, from its `tokenizer.json` through the `tokenizers` crate.
//!
//! The file carries a fixed 2000-token padding and truncation that the Python library ignores
//! for a plain `tokenizer(seq)` call; both are switched off here to give the same ids:
//! `[CLS]`=1, the BPE pieces, `[SEP]`=2, and `[UNK]`=0 for each letter outside A/C/G/T.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

/// Turns DNA strings into DNABERT-S token ids.
pub struct DnaTokenizer {
    inner: Tokenizer,
}

impl DnaTokenizer {
    /// `[PAD]` id of the DNABERT-S vocabulary.
    pub const PAD: u32 = 3;

    /// Loads `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                what: "tokenizer.json",
                expected: "the tokenizer.json of DNABERT-S".into(),
            });
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| {
            ModelError::Tokenizer(format!(
                "{}: not a readable tokenizer.json: {e}",
                path.display()
            ))
        })?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(DnaTokenizer { inner })
    }

    /// `[CLS]` + BPE pieces + `[SEP]` for one sequence.
    pub fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        // The ids without character offsets (which nothing here reads): the same ids, less work.
        let encoding = self
            .inner
            .encode_fast(seq, true)
            .map_err(|e| ModelError::Tokenizer(format!("cannot tokenise a sequence: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Tokenises many sequences (in parallel where the crate does).
    pub fn encode_batch(&self, seqs: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(seqs.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer(format!("cannot tokenise a batch: {e}")))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}
