//! Batches of token sequences as the encoders take them.
//!
//! A padded batch is a rectangle `(batch, longest)` with padding after each sequence; a packed
//! batch puts the sequences back to back with no padding at all and marks their bounds with
//! `cu_seqlens` (cumulative lengths, as variable-length attention kernels take them), with each
//! token's position inside its own sequence.

use crate::error::{ModelError, Result};

/// Sequences laid back to back, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBatch {
    /// All tokens, sequence after sequence.
    pub token_ids: Vec<u32>,
    /// `[0, l1, l1 + l2, ...]`: sequence `i` is `token_ids[cu_seqlens[i]..cu_seqlens[i + 1]]`.
    /// `u32`, as variable-length attention kernels take it.
    pub cu_seqlens: Vec<u32>,
    /// Position of each token inside its sequence (0 at the first token).
    pub positions: Vec<u32>,
}

impl PackedBatch {
    /// Packs token sequences (each already carrying its special tokens).
    pub fn new<S: AsRef<[u32]>>(sequences: &[S]) -> Result<Self> {
        if sequences.is_empty() {
            return Err(ModelError::Input(
                "a batch needs at least one sequence".into(),
            ));
        }
        let total: usize = sequences.iter().map(|s| s.as_ref().len()).sum();
        if u32::try_from(total).is_err() {
            return Err(ModelError::Input(format!(
                "a batch of {total} tokens is more than a packed batch can index (2^32 - 1)"
            )));
        }
        let mut batch = PackedBatch {
            token_ids: Vec::with_capacity(total),
            cu_seqlens: Vec::with_capacity(sequences.len() + 1),
            positions: Vec::with_capacity(total),
        };
        batch.cu_seqlens.push(0);
        for seq in sequences {
            let seq = seq.as_ref();
            if seq.is_empty() {
                return Err(ModelError::Input(
                    "a sequence in the batch has no tokens".into(),
                ));
            }
            batch.token_ids.extend_from_slice(seq);
            batch.positions.extend(0..seq.len() as u32);
            batch.cu_seqlens.push(batch.token_ids.len() as u32);
        }
        Ok(batch)
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.cu_seqlens.len() - 1
    }

    /// Whether the batch is empty (never, for a batch made by [`PackedBatch::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of sequence `i` in tokens.
    pub fn seq_len(&self, i: usize) -> usize {
        (self.cu_seqlens[i + 1] - self.cu_seqlens[i]) as usize
    }

    /// Row of the first token of sequence `i`.
    pub fn start(&self, i: usize) -> usize {
        self.cu_seqlens[i] as usize
    }

    /// Sequence `i` as a batch of its own.
    pub fn sequence(&self, i: usize) -> PackedBatch {
        self.sequences(i..i + 1)
    }

    /// Sequences `range` (non-empty) as a batch of their own.
    pub fn sequences(&self, range: std::ops::Range<usize>) -> PackedBatch {
        let (start, end) = (self.start(range.start), self.start(range.end));
        let base = self.cu_seqlens[range.start];
        PackedBatch {
            token_ids: self.token_ids[start..end].to_vec(),
            cu_seqlens: self.cu_seqlens[range.start..=range.end]
                .iter()
                .map(|c| c - base)
                .collect(),
            positions: self.positions[start..end].to_vec(),
        }
    }

    /// Tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.token_ids.len()
    }

    /// Length of the longest sequence.
    pub fn max_seqlen(&self) -> usize {
        (0..self.len()).map(|i| self.seq_len(i)).max().unwrap_or(0)
    }
}

/// The narrowest layer output for which the CPU's matrix products (the `gemm` crate, through
/// candle) give each row the same bits whatever rows are beside it.
///
/// `gemm` sums each output over `k` in blocks of `kc` that it derives from `k`, its register
/// tile and the caches, never from the row count, except on two small-shape paths: both output
/// dimensions at most 64 (`kc = min(k, 512)`), or at most 256 outputs in all (horizontal
/// kernels). A layer whose outputs are at least 86 wide, given a sequence of at least 3 tokens
/// (`<cls>`, a residue, `<eos>`), is on neither path whether it gets one sequence or a whole
/// batch: its rows come out bit-identical either way. Every published ESM-2 and DNABERT-S shape
/// is at least 320 wide; the tiny test models are not, and run [`one_by_one`].
/// `models/tests/cpu_batching.rs` checks the equality on a real-width model.
pub const ROW_INDEPENDENT_WIDTH: usize = 86;

/// How a packed batch runs, chosen once when a model is built, from its device and the width of
/// its narrowest layer output (see [`ROW_INDEPENDENT_WIDTH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// The whole batch at once (a GPU): a row depends on its neighbours only through rounding.
    Whole,
    /// Runs of consecutive sequences of at most `max_tokens` tokens, each run at once
    /// ([`in_groups`]): a CPU model at least [`ROW_INDEPENDENT_WIDTH`] wide, whose rows come
    /// out bit-identical whatever they are run with, in memory bounded by `max_tokens`.
    Groups {
        /// Tokens per run (a longer sequence runs alone).
        max_tokens: usize,
    },
    /// Each sequence runs alone ([`one_by_one`]): CPU models too narrow for `Groups`.
    OneByOne,
}

impl Batching {
    /// The batching for a model on `device` whose narrowest layer output is `narrowest` wide
    /// and widest `widest` (the feed-forward): on a CPU, runs of as many tokens as the
    /// feed-forward's row blocks hold ([`crate::layers::row_blocks::block_rows`]), so a layer's
    /// activations stay about 32 MiB whatever the token budget.
    pub fn for_model(device: &candle_core::Device, narrowest: usize, widest: usize) -> Self {
        if !device.is_cpu() {
            Batching::Whole
        } else if narrowest >= ROW_INDEPENDENT_WIDTH {
            Batching::Groups {
                max_tokens: crate::layers::row_blocks::block_rows(widest),
            }
        } else {
            Batching::OneByOne
        }
    }
}

/// Runs `embed` on each sequence of `batch` alone and stacks the rows, so a sequence's
/// embedding is bit-identical whatever batch it is in (resumes, shards, worker counts and
/// token budgets all batch differently) for models too narrow for [`Batching::Groups`].
pub fn one_by_one(
    batch: &PackedBatch,
    embed: impl Fn(&PackedBatch) -> Result<candle_core::Tensor>,
) -> Result<candle_core::Tensor> {
    let rows = (0..batch.len())
        .map(|i| embed(&batch.sequence(i)))
        .collect::<Result<Vec<_>>>()?;
    Ok(candle_core::Tensor::cat(&rows, 0)?)
}

/// Runs `embed` on runs of consecutive sequences of `batch` of at most `max_tokens` tokens (a
/// longer sequence alone) and stacks the rows in order.
pub fn in_groups(
    batch: &PackedBatch,
    max_tokens: usize,
    embed: impl Fn(&PackedBatch) -> Result<candle_core::Tensor>,
) -> Result<candle_core::Tensor> {
    let mut rows = Vec::new();
    let mut first = 0;
    for i in 1..=batch.len() {
        let tokens = batch.start(i) - batch.start(first);
        let next_fits = i < batch.len() && tokens + batch.seq_len(i) <= max_tokens;
        if !next_fits {
            rows.push(embed(&batch.sequences(first..i))?);
            first = i;
        }
    }
    Ok(candle_core::Tensor::cat(&rows, 0)?)
}

/// Sequences padded to the longest one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaddedBatch {
    /// `(batch * width)` token ids, row-major, padded with the pad id.
    pub token_ids: Vec<u32>,
    /// Real length of each sequence.
    pub lengths: Vec<usize>,
    /// Row width: the longest length.
    pub width: usize,
}

impl PaddedBatch {
    /// Pads token sequences with `pad_id`.
    pub fn new<S: AsRef<[u32]>>(sequences: &[S], pad_id: u32) -> Result<Self> {
        if sequences.is_empty() {
            return Err(ModelError::Input(
                "a batch needs at least one sequence".into(),
            ));
        }
        let width = sequences
            .iter()
            .map(|s| s.as_ref().len())
            .max()
            .unwrap_or(0);
        if width == 0 {
            return Err(ModelError::Input(
                "a sequence in the batch has no tokens".into(),
            ));
        }
        let mut token_ids = Vec::with_capacity(sequences.len() * width);
        let mut lengths = Vec::with_capacity(sequences.len());
        for seq in sequences {
            let seq = seq.as_ref();
            if seq.is_empty() {
                return Err(ModelError::Input(
                    "a sequence in the batch has no tokens".into(),
                ));
            }
            token_ids.extend_from_slice(seq);
            token_ids.extend(std::iter::repeat_n(pad_id, width - seq.len()));
            lengths.push(seq.len());
        }
        Ok(PaddedBatch {
            token_ids,
            lengths,
            width,
        })
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch is empty (never, for a batch made by [`PaddedBatch::new`]).
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_and_padding() {
        let seqs = [vec![0u32, 5, 2], vec![0, 2]];
        let packed = PackedBatch::new(&seqs).unwrap();
        assert_eq!(packed.cu_seqlens, [0, 3, 5]);
        assert_eq!(packed.positions, [0, 1, 2, 0, 1]);
        assert_eq!(packed.max_seqlen(), 3);
        assert_eq!(
            packed.sequences(1..2),
            PackedBatch::new(&seqs[1..]).unwrap()
        );
        assert_eq!(packed.sequences(0..2), packed);
        let padded = PaddedBatch::new(&seqs, 1).unwrap();
        assert_eq!(padded.token_ids, [0, 5, 2, 0, 2, 1]);
        assert_eq!(padded.width, 3);
        assert!(PackedBatch::new::<Vec<u32>>(&[]).is_err());
        // Runs of at most 6 tokens; the 7-token sequence alone.
        let seqs = [
            vec![0u32; 3],
            vec![1; 2],
            vec![2; 7],
            vec![3; 4],
            vec![4; 2],
            vec![5; 1],
        ];
        let packed = PackedBatch::new(&seqs).unwrap();
        let runs = std::cell::RefCell::new(Vec::new());
        let rows = in_groups(&packed, 6, |b| {
            runs.borrow_mut().push(b.token_ids.clone());
            Ok(candle_core::Tensor::zeros(
                (b.len(), 1),
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )?)
        })
        .unwrap();
        assert_eq!(rows.dims(), [6, 1]);
        assert_eq!(
            runs.into_inner(),
            [
                vec![0, 0, 0, 1, 1],
                vec![2; 7],
                vec![3, 3, 3, 3, 4, 4],
                vec![5]
            ]
        );
        assert!(PaddedBatch::new(&[Vec::<u32>::new()], 1).is_err());
    }
}
