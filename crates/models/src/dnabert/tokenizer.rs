//! The DNABERT-S BPE tokenizer, from its `tokenizer.json` through the `tokenizers` crate.
//!
//! The file carries a fixed 2000-token padding and truncation that the Python library ignores
//! for a plain `tokenizer(seq)` call; both are switched off here to give the same ids:
//! `[CLS]`=1, the BPE pieces, `[SEP]`=2, and `[UNK]`=0 for each letter outside A/C/G/T.
//!
//! A nucleotide frame is one word of letters, so when the file's pipeline does nothing to such
//! a word (no normalizer, a whitespace pre-tokenizer, a post-processor that only adds the same
//! tokens around it), the BPE model is asked directly, with its word cache off (every frame is
//! a new word): the same ids for a fraction of the work. Whether that holds is checked when the
//! file is loaded, against the whole pipeline.

use std::path::Path;

use tokenizers::models::ModelWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, Tokenizer};

use crate::embedding_model::SequenceTokenizer;
use crate::error::{ModelError, Result};

/// Turns DNA strings into DNABERT-S token ids.
pub struct DnaTokenizer {
    inner: Tokenizer,
    /// The ids the pipeline puts before and after the BPE pieces, when the BPE model can be
    /// asked directly (see the module comment).
    direct: Option<(Vec<u32>, Vec<u32>)>,
}

/// Words the direct path is checked on when a tokenizer is loaded.
const PROBES: [&str; 4] = ["ACGTTGCAAACCGGTT", "A", "NNACGTRYKM", "acgtACGT"];

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
        let mut tokenizer = DnaTokenizer {
            inner,
            direct: None,
        };
        tokenizer.direct = tokenizer.direct_path();
        if tokenizer.direct.is_some() {
            if let ModelWrapper::BPE(bpe) = tokenizer.inner.get_model() {
                let mut bpe = bpe.clone();
                bpe.resize_cache(0);
                tokenizer.inner.with_model(bpe);
            }
        }
        Ok(tokenizer)
    }

    /// The tokens around the BPE pieces, if asking the BPE model directly gives what the whole
    /// pipeline gives.
    fn direct_path(&self) -> Option<(Vec<u32>, Vec<u32>)> {
        let plain_words = self.inner.get_normalizer().is_none()
            && matches!(
                self.inner.get_pre_tokenizer(),
                None | Some(PreTokenizerWrapper::Whitespace(_))
            )
            && matches!(self.inner.get_model(), ModelWrapper::BPE(_));
        if !plain_words {
            return None;
        }
        let whole = |s: &str| self.whole_pipeline(s).ok();
        let pieces = |s: &str| -> Option<Vec<u32>> {
            Some(
                self.inner
                    .get_model()
                    .tokenize(s)
                    .ok()?
                    .iter()
                    .map(|t| t.id)
                    .collect(),
            )
        };
        let (full, bpe) = (whole(PROBES[0])?, pieces(PROBES[0])?);
        let start = full.windows(bpe.len()).position(|w| w == bpe.as_slice())?;
        let around = (full[..start].to_vec(), full[start + bpe.len()..].to_vec());
        let same = PROBES.iter().all(|p| match (whole(p), pieces(p)) {
            (Some(full), Some(bpe)) => full == [around.0.as_slice(), &bpe, &around.1].concat(),
            _ => false,
        });
        same.then_some(around)
    }

    fn whole_pipeline(&self, seq: &str) -> Result<Vec<u32>> {
        // The ids without character offsets (which nothing here reads): the same ids, less work.
        let encoding = self
            .inner
            .encode_fast(seq, true)
            .map_err(|e| ModelError::Tokenizer(format!("cannot tokenise a sequence: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `[CLS]` + BPE pieces + `[SEP]` for one sequence.
    pub fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        match &self.direct {
            Some((before, after)) if !seq.is_empty() && !seq.contains(char::is_whitespace) => {
                let tokens = self.inner.get_model().tokenize(seq).map_err(|e| {
                    ModelError::Tokenizer(format!("cannot tokenise a sequence: {e}"))
                })?;
                let mut ids = Vec::with_capacity(before.len() + tokens.len() + after.len());
                ids.extend_from_slice(before);
                ids.extend(tokens.iter().map(|t| t.id));
                ids.extend_from_slice(after);
                Ok(ids)
            }
            _ => self.whole_pipeline(seq),
        }
    }

    /// Tokenises many sequences (in parallel where the crate does).
    pub fn encode_batch(&self, seqs: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(seqs.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer(format!("cannot tokenise a batch: {e}")))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Whether sequences go straight to the BPE model (see the module comment).
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }
}

impl SequenceTokenizer for DnaTokenizer {
    fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        DnaTokenizer::encode(self, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_path_gives_the_pipelines_ids() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/models/dnabert_demo/tokenizer.json");
        let t = DnaTokenizer::from_file(&path).unwrap();
        assert!(t.is_direct());
        let seqs = [
            "ACGTACGGTACCATGACCAGTAGGACATTTACGATCAGATACAGATTACA",
            "NNNNACGTYRKMSWBDHV",
            "acgtnACGTN",
            "T",
        ];
        for s in seqs {
            assert_eq!(t.encode(s).unwrap(), t.whole_pipeline(s).unwrap(), "{s}");
        }
    }
}
