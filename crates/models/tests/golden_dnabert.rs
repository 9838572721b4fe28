//! DNABERT-S against the MosaicBERT reference (`../shared/golden/models/dnabert_tiny`).

mod common;

use candle_core::Device;
use common::*;
use virnucpro_models::{
    DnaTokenizer, Dnabert, EmbeddingModel, PackedBatch, PaddedBatch, Precision,
};

#[test]
fn tokenizer_matches_the_python_tokenizer() {
    let Some(golden) = golden_dir() else { return };
    let dir = golden.join("models/dnabert_tiny");
    let tokenizer = DnaTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    let reference = reference_json(&dir);
    let seqs = strings(&reference["sequences"]);
    let want = token_lists(&reference["token_ids"]);
    for (seq, want) in seqs.iter().zip(&want) {
        assert_eq!(&tokenizer.encode(seq).unwrap(), want, "{seq}");
    }
    let refs: Vec<&str> = seqs.iter().map(String::as_str).collect();
    assert_eq!(tokenizer.encode_batch(&refs).unwrap(), want);
}

/// Embeds every reference sequence one by one and in mixed batches with `model`.
fn check(model: &Dnabert, what: &str) {
    let dir = golden_dir().unwrap().join("models/dnabert_tiny");
    let reference = reference_json(&dir);
    let tokens = token_lists(&reference["token_ids"]);
    let golden = tensors(&dir.join("reference.safetensors"));
    let want = rows(&golden["mean"]);
    let mut single = Vec::new();
    let mut hidden_checked = 0;
    for (i, ids) in tokens.iter().enumerate() {
        let batch = PaddedBatch::new(&[ids], DnaTokenizer::PAD).unwrap();
        single.push(rows(&model.embed_padded(&batch).unwrap()).remove(0));
        if let Some(hidden) = golden.get(&format!("hidden.{i}")) {
            let got = model.forward_padded(&batch).unwrap().squeeze(0).unwrap();
            assert_rows_close(
                &rows(&got),
                &rows(hidden),
                1e-4,
                &format!("{what} hidden.{i}"),
            );
            hidden_checked += 1;
        }
    }
    assert!(hidden_checked >= 120);
    assert_rows_close(&single, &want, 1e-4, &format!("{what} mean"));
    let mut batched = Vec::new();
    for group in tokens.chunks(17) {
        batched.extend(rows(
            &model
                .embed_padded(&PaddedBatch::new(group, DnaTokenizer::PAD).unwrap())
                .unwrap(),
        ));
    }
    assert_rows_close(&batched, &want, 1e-4, &format!("{what} batched"));
    for (a, b) in single.iter().zip(&batched) {
        assert!(
            max_abs(a, b) <= 1e-5,
            "{what}: batching changed a result by {}",
            max_abs(a, b)
        );
    }
    // Packed batches (what the engine runs): the golden means, and bit for bit the same row for
    // a sequence whatever else is in its batch.
    let alone: Vec<Vec<f32>> = tokens
        .iter()
        .map(|ids| {
            rows(
                &model
                    .embed_packed(&PackedBatch::new(&[ids]).unwrap())
                    .unwrap(),
            )
            .remove(0)
        })
        .collect();
    assert_rows_close(&alone, &want, 1e-4, &format!("{what} packed"));
    for size in [2, 7, 17, tokens.len()] {
        let mut packed = Vec::new();
        for group in tokens.chunks(size) {
            packed.extend(rows(
                &model
                    .embed_packed(&PackedBatch::new(group).unwrap())
                    .unwrap(),
            ));
        }
        assert!(
            packed == alone,
            "{what}: packed batches of {size} changed a result by {}",
            packed
                .iter()
                .zip(&alone)
                .map(|(a, b)| max_abs(a, b))
                .fold(0.0, f32::max)
        );
    }
}

#[test]
fn safetensors_weights_match() {
    let Some(golden) = golden_dir() else { return };
    let model = Dnabert::load(
        &golden.join("models/dnabert_tiny"),
        &Device::Cpu,
        Precision::F32,
    )
    .unwrap();
    check(&model, "safetensors");
}

#[test]
fn pytorch_bin_weights_and_bert_prefix_match() {
    let Some(golden) = golden_dir() else { return };
    let src = golden.join("models/dnabert_tiny");
    // Only config.json + pytorch_model.bin, as the hub repository ships them.
    let bin_dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "pytorch_model.bin"] {
        std::fs::copy(src.join(f), bin_dir.path().join(f)).unwrap();
    }
    let model = Dnabert::load(bin_dir.path(), &Device::Cpu, Precision::F32).unwrap();
    check(&model, "pytorch_model.bin");

    // The same weights with a `bert.` prefix on every key.
    let prefixed = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), prefixed.path().join("config.json")).unwrap();
    let renamed: std::collections::HashMap<String, candle_core::Tensor> =
        tensors(&src.join("model.safetensors"))
            .into_iter()
            .map(|(k, v)| (format!("bert.{k}"), v))
            .collect();
    candle_core::safetensors::save(&renamed, prefixed.path().join("model.safetensors")).unwrap();
    let model = Dnabert::load(prefixed.path(), &Device::Cpu, Precision::F32).unwrap();
    check(&model, "bert.-prefixed");
}
