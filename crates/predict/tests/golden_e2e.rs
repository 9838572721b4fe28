//! The whole flow against the e2e goldens of the original (`../shared/golden/e2e/`): every
//! input at L=300 and 500, same ids in order, same labels, scores within 1e-5, identical
//! consensus files; the zero-frame inputs give header-only files. The rerun and wrong-width
//! tests need no golden: they run on the shipped demo models.

use std::path::Path;
use std::time::Duration;
use virnucpro_testkit::golden_dir;

use candle_core::Device;
use virnucpro_engine::StopFlag;
use virnucpro_models::Precision;
use virnucpro_predict::flow::Silent as Quiet;
use virnucpro_predict::{predict, ModelPaths, Request};

fn request(golden: &Path, input: &Path, length: usize, out: &Path) -> Request {
    Request {
        input: input.to_path_buf(),
        length,
        out_dir: out.to_path_buf(),
        models: ModelPaths {
            esm: golden.join("models/esm2_tiny"),
            dnabert: golden.join("models/dnabert_tiny"),
            classifier: golden.join("classifier/tiny_mlp.pth"),
        },
        devices: vec![Device::Cpu],
        workers_per_device: 1,
        fault: None,
        shard: None,
        precision: Precision::F32,
        threads: 2,
        token_budget: 2048,
        checkpoint_every_seqs: 40,
        checkpoint_every: Duration::from_secs(300),
        force_restart: false,
        save_embeddings: false,
        keep_intermediates: false,
        min_score: 0.5,
        duplicates: virnucpro_seq::DuplicateIds::Refuse,
        kraken_output: None,
    }
}

/// Rows of a results file: (id, label, score1, score2).
fn rows(text: &str) -> Vec<(String, String, f32, f32)> {
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].into(),
                f[1].into(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_e2e_golden_matches() {
    let Some(golden) = golden_dir("e2e") else {
        return;
    };
    let mut compared = 0;
    for stem in [
        "test_with_orfs",
        "test_fixed_500bp",
        "test_sequences_small",
        "test_sequences",
        "edge_cases",
        "genomes",
    ] {
        for length in [300, 500] {
            let work = tempfile::tempdir().unwrap();
            let input = golden.join(format!("inputs/{stem}.fa"));
            let summary = predict(
                &request(&golden, &input, length, work.path()),
                &Quiet,
                &StopFlag::new(),
            )
            .unwrap();
            let ours_txt =
                std::fs::read_to_string(work.path().join("prediction_results.txt")).unwrap();
            let ours_csv =
                std::fs::read_to_string(work.path().join("prediction_results_highestscore.csv"))
                    .unwrap();
            assert!(
                !work.path().join("intermediates").exists(),
                "intermediates removed"
            );
            let want_txt = golden.join(format!("e2e/{stem}.L{length}.prediction_results.txt"));
            if !want_txt.exists() {
                // The original crashes on zero kept frames; ours writes the headers.
                assert_eq!(summary.totals.frames, 0, "{stem} L{length}");
                assert_eq!(ours_txt, "Sequence_ID\tPrediction\tscore1\tscore2\n");
                assert_eq!(ours_csv, "Modified_ID\tIs_Virus\n");
                compared += 1;
                continue;
            }
            let want = rows(&std::fs::read_to_string(&want_txt).unwrap());
            let ours = rows(&ours_txt);
            assert_eq!(ours.len(), want.len(), "{stem} L{length}");
            for (o, w) in ours.iter().zip(&want) {
                assert_eq!((&o.0, &o.1), (&w.0, &w.1), "{stem} L{length}");
                assert!(
                    (o.2 - w.2).abs() <= 1e-5 && (o.3 - w.3).abs() <= 1e-5,
                    "{stem} L{length} {}: {o:?} vs {w:?}",
                    o.0
                );
            }
            let want_csv = std::fs::read_to_string(golden.join(format!(
                "e2e/{stem}.L{length}.prediction_results_highestscore.csv"
            )))
            .unwrap();
            assert_eq!(ours_csv, want_csv, "{stem} L{length} consensus");
            compared += 1;
        }
    }
    assert_eq!(compared, 12);
}

/// A request on the shipped demo models (random weights, 32 + 32 wide), which every clone has.
fn demo_request(input: &Path, length: usize, out: &Path) -> Request {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models");
    Request {
        models: ModelPaths {
            esm: demo.join("esm2_demo"),
            dnabert: demo.join("dnabert_demo"),
            classifier: demo.join(format!("classifier_demo/{length}_model.safetensors")),
        },
        ..request(Path::new("."), input, length, out)
    }
}

/// A generated FASTA of contigs made from `seed`.
fn contigs(dir: &Path, seed: u64) -> std::path::PathBuf {
    let path = dir.join(format!("contigs{seed}.fa"));
    let spec = virnucpro_seq::synthetic::SyntheticSpec {
        seed,
        total_bases: 60_000,
        min_len: 300,
        max_len: 3000,
    };
    let mut f = std::fs::File::create(&path).unwrap();
    virnucpro_seq::synthetic::write_fasta(spec, &mut f).unwrap();
    path
}

#[test]
fn a_finished_run_reruns_instantly_and_a_changed_one_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let req = demo_request(&contigs(work.path(), 1), 300, &out);
    let first = predict(&req, &Quiet, &StopFlag::new()).unwrap();
    assert!(!first.already_complete);
    assert!(first.totals.frames > 0);
    let again = predict(&req, &Quiet, &StopFlag::new()).unwrap();
    assert!(again.already_complete);
    assert_eq!(again.totals, first.totals);
    let other = demo_request(&contigs(work.path(), 2), 300, &out);
    let err = predict(&other, &Quiet, &StopFlag::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--force-restart"), "{err}");
    let forced = Request {
        force_restart: true,
        save_embeddings: true,
        ..other
    };
    let s = predict(&forced, &Quiet, &StopFlag::new()).unwrap();
    assert!(s.totals.frames > 0 && s.totals.frames != first.totals.frames);
    let h5 = hdf5::File::open(out.join("embeddings.h5")).unwrap();
    let frames = s.totals.frames as usize;
    assert_eq!(h5.dataset("dnabert").unwrap().shape(), [frames, 32]);
    assert_eq!(h5.dataset("esm2").unwrap().shape(), [frames, 32]);
}

#[test]
fn a_classifier_of_the_wrong_width_is_refused() {
    let work = tempfile::tempdir().unwrap();
    // A classifier for 128 features, in the real format, where the models give 32 + 32.
    let classifier = work.path().join("128_wide.safetensors");
    let t = |shape: &[usize]| {
        candle_core::Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap()
    };
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = [
        ("hidden_layer.weight", t(&[16, 128])),
        ("hidden_layer.bias", t(&[16])),
        ("bn1.weight", t(&[16])),
        ("bn1.bias", t(&[16])),
        ("bn1.running_mean", t(&[16])),
        ("bn1.running_var", t(&[16])),
        ("output_layer.weight", t(&[2, 16])),
        ("output_layer.bias", t(&[2])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    candle_core::safetensors::save(&tensors, &classifier).unwrap();
    let mut req = demo_request(&contigs(work.path(), 1), 300, &work.path().join("out"));
    req.models.classifier = classifier;
    let err = predict(&req, &Quiet, &StopFlag::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("128") && err.contains("64"), "{err}");
}
