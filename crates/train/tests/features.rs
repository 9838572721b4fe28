//! `extract_features` on a generated training set with the shipped demo models: one row per
//! frame, in labels.tsv's order, equal to each model's own embedding of the frame; a resume
//! from kept checkpoints gives the same features; a dataset that is not finished is refused.

mod common;

use std::path::{Path, PathBuf};

use candle_core::Device;
use virnucpro_engine::{encoder, ModelKind, NoProgress, Options, StopFlag};
use virnucpro_models::Precision;
use virnucpro_predict::embeddings::EmbeddingsReader;
use virnucpro_train::{extract_features, make_dataset, FeaturesRequest};

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/models")
        .join(name)
}

fn features_request(dataset: &Path, keep: bool) -> FeaturesRequest {
    FeaturesRequest {
        dataset: dataset.to_path_buf(),
        esm: demo("esm2_demo"),
        dnabert: demo("dnabert_demo"),
        devices: vec![Device::Cpu],
        workers_per_device: 1,
        precision: Precision::F32,
        options: Options {
            token_budget: 1024,
            checkpoint_every_seqs: 40,
            keep_checkpoints: keep,
            ..Options::default()
        },
        hash_cache: virnucpro_engine::file_hash::HashCache::none(),
    }
}

/// Every row of features.h5: (id, dnabert, esm2).
fn rows(path: &Path) -> Vec<(String, Vec<f32>, Vec<f32>)> {
    let mut r = EmbeddingsReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some((id, d, e)) = r.next_row().unwrap() {
        out.push((id.to_string(), d.to_vec(), e.to_vec()));
    }
    out
}

#[test]
fn features_follow_the_labels_and_equal_each_models_own_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let i = common::inputs(dir.path());
    let set = dir.path().join("set");
    let d = make_dataset(&common::request(&i, &set)).unwrap();
    let s = extract_features(&features_request(&set, true), &NoProgress, &StopFlag::new()).unwrap();
    assert_eq!(s.frames, d.frames);
    assert_eq!(s.widths, (32, 32));
    let got = rows(&set.join("features.h5"));
    let labels = std::fs::read_to_string(set.join("labels.tsv")).unwrap();
    let ids: Vec<&str> = labels
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(got.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ids);

    // Each part is the model's own embedding of the frame, alone.
    let proteins = std::fs::read_to_string(set.join("frames.faa")).unwrap();
    let nucleotides = std::fs::read_to_string(set.join("frames.fna")).unwrap();
    let esm = encoder::load(
        ModelKind::Esm2,
        &demo("esm2_demo"),
        &Device::Cpu,
        Precision::F32,
    )
    .unwrap();
    let dna = encoder::load(
        ModelKind::Dnabert,
        &demo("dnabert_demo"),
        &Device::Cpu,
        Precision::F32,
    )
    .unwrap();
    for (k, (p, n)) in proteins
        .lines()
        .skip(1)
        .step_by(2)
        .zip(nucleotides.lines().skip(1).step_by(2))
        .enumerate()
        .step_by(17)
    {
        let e = esm.embed(&[&esm.tokenize(p).unwrap()[..]]).unwrap();
        let b = dna.embed(&[&dna.tokenize(n).unwrap()[..]]).unwrap();
        assert_eq!(got[k].2, e, "ESM-2 of frame {k}");
        assert_eq!(got[k].1, b, "DNABERT-S of frame {k}");
    }

    // Run again from the kept checkpoints: everything resumed, the same features.
    let again = extract_features(
        &features_request(&set, false),
        &NoProgress,
        &StopFlag::new(),
    )
    .unwrap();
    assert_eq!(again.resumed, d.frames);
    assert_eq!(rows(&set.join("features.h5")), got);
    assert!(!set.join("checkpoints").exists());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("features.json")).unwrap()).unwrap();
    assert_eq!(record["frames"], d.frames);
}

#[test]
fn a_directory_that_is_not_a_finished_dataset_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = extract_features(
        &features_request(dir.path(), false),
        &NoProgress,
        &StopFlag::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("dataset.json") && err.contains("virnucpro dataset"),
        "{err}"
    );
}
