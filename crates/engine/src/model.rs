//! The unit of work the engine batches: a [`Model`] turns a batch of [`Item`]s into one
//! fixed-width row of floats each.
//!
//! For `virnucpro embed` the model is one encoder and the row its embedding; for `predict` it
//! is DNABERT-S, ESM-2 and the classifier run on the same frames, and the row the two class
//! probabilities. The engine plans, checkpoints and resumes rows without knowing which.

use candle_core::Device;
use virnucpro_models::Precision;
use xxhash_rust::xxh3::Xxh3;

use crate::encoder::Encoder;
use crate::error::{Result, TokenizeError};

/// One input item: an id and the sequences the model reads (one for an embedding, a frame's
/// nucleotides and protein for a prediction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The id written beside the item's row.
    pub id: String,
    /// Its sequences, in the order the model expects them.
    pub seqs: Vec<Vec<u8>>,
}

impl Item {
    /// A 64-bit hash of the id and sequences, never 0: stored beside each checkpointed row so
    /// that a resume can tell whether the input still holds the same item at that position.
    pub fn content_hash(&self) -> u64 {
        let mut h = Xxh3::new();
        h.update(&(self.id.len() as u64).to_le_bytes());
        h.update(self.id.as_bytes());
        for seq in &self.seqs {
            h.update(&(seq.len() as u64).to_le_bytes());
            h.update(seq);
        }
        h.digest().max(1)
    }
}

/// Token ids of one item, one list per network that reads it. The first list is what batches
/// are planned on (its length counts against the token budget).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokens(pub Vec<Vec<u32>>);

impl Tokens {
    /// Tokens counted against the batch budget.
    pub fn cost(&self) -> usize {
        self.0.first().map_or(0, Vec::len)
    }
}

/// What the engine runs on each batch.
pub trait Model: Send + Sync {
    /// Names the model in checkpoints (`esm2`, `dnabert`, `virnucpro`).
    fn name(&self) -> &str;
    /// Name of the checkpoint dataset holding the rows (`embeddings`, `scores`).
    fn output(&self) -> &'static str;
    /// Floats per item.
    fn width(&self) -> usize;
    /// Whether the first token list is run packed (no padding) or padded.
    fn packed(&self) -> bool;
    /// Compute precision, for the `dtype` attribute.
    fn precision(&self) -> Precision;
    /// The device the model runs on.
    fn device(&self) -> &Device;
    /// Token ids of one item; the error says why it cannot be tokenised.
    fn tokenize(&self, item: &Item) -> std::result::Result<Tokens, TokenizeError>;
    /// Rows of a batch, row-major `[batch.len(), width]`, in the order given.
    fn run(&self, batch: &[&Tokens]) -> Result<Vec<f32>>;
}

/// One encoder as a [`Model`]: an item's first sequence in, its embedding out.
pub struct Embedding<'a>(pub &'a dyn Encoder);

impl Model for Embedding<'_> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn output(&self) -> &'static str {
        "embeddings"
    }
    fn width(&self) -> usize {
        self.0.dim()
    }
    fn packed(&self) -> bool {
        self.0.packed()
    }
    fn precision(&self) -> Precision {
        self.0.precision()
    }
    fn device(&self) -> &Device {
        self.0.device()
    }
    fn tokenize(&self, item: &Item) -> std::result::Result<Tokens, TokenizeError> {
        let seq = item.seqs.first().map(Vec::as_slice).unwrap_or_default();
        Ok(Tokens(vec![self
            .0
            .tokenize(&String::from_utf8_lossy(seq))?]))
    }
    fn run(&self, batch: &[&Tokens]) -> Result<Vec<f32>> {
        let lists: Vec<&[u32]> = batch
            .iter()
            .map(|t| t.0.first().map(Vec::as_slice).unwrap_or_default())
            .collect();
        self.0.embed(&lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_tells_items_apart() {
        let a = Item {
            id: "a".into(),
            seqs: vec![b"AC".to_vec(), b"G".to_vec()],
        };
        let b = Item {
            id: "a".into(),
            seqs: vec![b"A".to_vec(), b"CG".to_vec()],
        };
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash(), a.clone().content_hash());
        assert_ne!(a.content_hash(), 0);
    }
}
