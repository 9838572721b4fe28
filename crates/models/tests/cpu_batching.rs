//! On the CPU a packed batch of a real-width model runs whole (`Batching::Whole`), and each
//! sequence's embedding must still be bit-identical to the sequence run alone, in any batch,
//! in any order: resumes, shards, workers and token budgets all batch differently. The widths
//! here are the published ones (ESM-2 150M: 640 wide, feed-forward 2560; DNABERT-S: 768 and
//! 3072), so every matrix product sums over more than 512 terms in blocks, as the real models do;
//! two layers keep the test fast. The 40 sequences at once are about 2,600 tokens, more than
//! DNABERT-S runs at once on a CPU (1,365: `Batching::Groups`), so there the batch runs in
//! groups, which must not change a bit either.

use candle_core::Device;
use virnucpro_models::{
    Dnabert, DnabertConfig, EmbeddingModel, Esm2, Esm2Config, PackedBatch, Precision,
};

/// A small reproducible generator (xorshift64*) for the test's token ids.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// 40 token sequences of 3 to 130 tokens, ids in `low..high`, first and last fixed.
fn sequences(seed: u64, low: u32, high: u32, first: u32, last: u32) -> Vec<Vec<u32>> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..40)
        .map(|_| {
            let len = 3 + rng.below(128) as usize;
            let mut s: Vec<u32> = (0..len)
                .map(|_| low + rng.below((high - low) as u64) as u32)
                .collect();
            s[0] = first;
            s[len - 1] = last;
            s
        })
        .collect()
}

/// Every sequence's row from `embed` over several batchings equals its row alone, bit for bit.
fn assert_batch_independent(seqs: &[Vec<u32>], embed: impl Fn(&PackedBatch) -> Vec<Vec<f32>>) {
    let alone: Vec<Vec<f32>> = seqs
        .iter()
        .map(|s| embed(&PackedBatch::new(&[s.as_slice()]).unwrap()).remove(0))
        .collect();
    let order: Vec<usize> = (0..seqs.len()).collect();
    let reversed: Vec<usize> = order.iter().rev().copied().collect();
    for (what, order, size) in [
        ("all at once", &order, seqs.len()),
        ("in sevens", &order, 7),
        ("reversed, in thirteens", &reversed, 13),
    ] {
        for group in order.chunks(size) {
            let batch: Vec<&[u32]> = group.iter().map(|&i| seqs[i].as_slice()).collect();
            let rows = embed(&PackedBatch::new(&batch).unwrap());
            for (row, &i) in rows.iter().zip(group) {
                assert!(
                    row.iter()
                        .map(|v| v.to_bits())
                        .eq(alone[i].iter().map(|v| v.to_bits())),
                    "{what}: sequence {i} ({} tokens) differs from its embedding alone",
                    seqs[i].len()
                );
            }
        }
    }
}

#[test]
fn esm2_rows_do_not_depend_on_the_batch() {
    let mut config = Esm2Config::preset("150M").unwrap();
    config.num_hidden_layers = 2;
    let model = Esm2::random(config, &Device::Cpu, Precision::F32).unwrap();
    // <cls> = 0, residues 4..24, <eos> = 2.
    let seqs = sequences(1, 4, 24, 0, 2);
    assert_batch_independent(&seqs, |b| model.embed_packed(b).unwrap().to_vec2().unwrap());
}

#[test]
fn dnabert_rows_do_not_depend_on_the_batch() {
    let mut config = DnabertConfig::dnabert_s();
    config.num_hidden_layers = 2;
    let model = Dnabert::random(config, &Device::Cpu, Precision::F32).unwrap();
    // [CLS] = 1, BPE words 5..4096, [SEP] = 2.
    let seqs = sequences(2, 5, 4096, 1, 2);
    assert_batch_independent(&seqs, |b| model.embed_packed(b).unwrap().to_vec2().unwrap());
}
