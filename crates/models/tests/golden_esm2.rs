//! ESM-2 against the fair-esm reference (`../shared/golden/models/esm2_tiny`).

mod common;

use candle_core::Device;
use common::*;
use virnucpro_models::{EmbeddingModel, Esm2, EsmAlphabet, PackedBatch, PaddedBatch, Precision};

/// The model, reference sequences, their token ids and the reference tensors.
struct Golden {
    model: Esm2,
    seqs: Vec<String>,
    tokens: Vec<Vec<u32>>,
    reference: std::collections::HashMap<String, candle_core::Tensor>,
}

fn load() -> Option<Golden> {
    let dir = golden_dir()?.join("models/esm2_tiny");
    let model = Esm2::load(&dir, &Device::Cpu, Precision::F32).unwrap();
    let reference = reference_json(&dir);
    let seqs = strings(&reference["sequences"]);
    let tokens = token_lists(&reference["token_ids"]);
    Some(Golden {
        model,
        seqs,
        tokens,
        reference: tensors(&dir.join("reference.safetensors")),
    })
}

#[test]
fn token_ids_match() {
    let Some(Golden { seqs, tokens, .. }) = load() else {
        return;
    };
    for (seq, want) in seqs.iter().zip(&tokens) {
        assert_eq!(&EsmAlphabet.encode(seq).unwrap(), want, "{seq}");
    }
}

#[test]
fn single_sequence_embeddings_and_hidden_states_match() {
    let Some(Golden {
        model,
        tokens,
        reference,
        ..
    }) = load()
    else {
        return;
    };
    let want = rows(&reference["mean"]);
    let mut hidden_checked = 0;
    let mut ours = Vec::new();
    for (i, ids) in tokens.iter().enumerate() {
        let batch = PaddedBatch::new(&[ids], EsmAlphabet::PAD).unwrap();
        ours.push(rows(&model.embed_padded(&batch).unwrap()).remove(0));
        if let Some(hidden) = reference.get(&format!("hidden.{i}")) {
            let got = model.forward_padded(&batch).unwrap().squeeze(0).unwrap();
            assert_rows_close(&rows(&got), &rows(hidden), 1e-4, &format!("hidden.{i}"));
            hidden_checked += 1;
        }
    }
    assert_rows_close(&ours, &want, 1e-4, "mean");
    assert!(
        hidden_checked >= 120,
        "only {hidden_checked} hidden states compared"
    );
}

#[test]
fn padded_and_packed_batches_of_mixed_lengths_match() {
    let Some(Golden {
        model,
        tokens,
        reference,
        ..
    }) = load()
    else {
        return;
    };
    let want = rows(&reference["mean"]);
    let mut padded = Vec::new();
    let mut packed = Vec::new();
    // Batches of awkward sizes mix short and long sequences (the last holds 1, 20 and 1100 aa).
    for group in tokens.chunks(13) {
        padded.extend(rows(
            &model
                .embed_padded(&PaddedBatch::new(group, EsmAlphabet::PAD).unwrap())
                .unwrap(),
        ));
    }
    for group in tokens.chunks(29) {
        packed.extend(rows(
            &model
                .embed_packed(&PackedBatch::new(group).unwrap())
                .unwrap(),
        ));
    }
    assert_rows_close(&padded, &want, 1e-4, "padded batches");
    assert_rows_close(&packed, &want, 1e-4, "packed batches");
    // Batching must not change the result beyond float noise.
    for (a, b) in padded.iter().zip(&packed) {
        assert!(
            max_abs(a, b) <= 1e-5,
            "padded vs packed differ by {}",
            max_abs(a, b)
        );
    }
    let batched_ref = rows(&reference["mean_batched"]);
    assert_rows_close(&packed, &batched_ref, 1e-4, "mean_batched");
    // What the engine runs: a sequence's row is bit-identical whatever batch it is in.
    let alone: Vec<Vec<f32>> = tokens
        .iter()
        .map(|t| {
            rows(
                &model
                    .embed_packed(&PackedBatch::new(&[t]).unwrap())
                    .unwrap(),
            )
            .remove(0)
        })
        .collect();
    for size in [2, 7, 29, tokens.len()] {
        let mut grouped = Vec::new();
        for group in tokens.chunks(size) {
            grouped.extend(rows(
                &model
                    .embed_packed(&PackedBatch::new(group).unwrap())
                    .unwrap(),
            ));
        }
        assert!(
            grouped == alone,
            "packed batches of {size} changed a result"
        );
    }
}

#[test]
fn half_precision_stays_close() {
    let Some(Golden {
        tokens, reference, ..
    }) = load()
    else {
        return;
    };
    let dir = golden_dir().unwrap().join("models/esm2_tiny");
    let want = rows(&reference["mean"]);
    for precision in [Precision::F16, Precision::BF16] {
        let model = Esm2::load(&dir, &Device::Cpu, precision).unwrap();
        let got = rows(
            &model
                .embed_packed(&PackedBatch::new(&tokens[..40]).unwrap())
                .unwrap(),
        );
        for (g, w) in got.iter().zip(&want) {
            let cos = cosine(g, w);
            assert!(cos >= 0.99, "{precision:?}: cosine {cos}");
        }
    }
}
