//! The engine end to end on the golden tiny models: its outputs equal the reference embeddings
//! of the original code (`models/*/reference.safetensors` and the e2e `merged` matrices).

use std::io::Write;
use std::path::Path;
use virnucpro_testkit::golden_dir;

use candle_core::Device;
use virnucpro_engine::{encoder, fingerprint, output, NoProgress, Options, StopFlag};
use virnucpro_models::Precision;

fn embed(kind: &str, model: &Path, input: &Path, out: &Path, budget: usize) -> output::Embeddings {
    let enc = encoder::load(kind.parse().unwrap(), model, &Device::Cpu, Precision::F32).unwrap();
    let options = Options {
        token_budget: budget,
        checkpoint_every_seqs: 7,
        ..Options::default()
    };
    let fp = fingerprint::model_fingerprint(model, &fingerprint::HashCache::none()).unwrap();
    virnucpro_engine::embed_file(
        &[enc.as_ref()],
        input,
        out,
        &fp,
        &options,
        &NoProgress,
        &StopFlag::new(),
    )
    .unwrap();
    assert!(
        !out.parent().unwrap().join("checkpoints").exists(),
        "checkpoints are removed"
    );
    output::read(out).unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn embed_equals_the_reference_means_of_both_models() {
    let Some(golden) = golden_dir("models") else {
        return;
    };
    for (kind, dir) in [("esm2", "esm2_tiny"), ("dnabert", "dnabert_tiny")] {
        let model = golden.join("models").join(dir);
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.join("reference.json")).unwrap())
                .unwrap();
        let ids: Vec<&str> = reference["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let seqs: Vec<&str> = reference["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let work = tempfile::tempdir().unwrap();
        let input = work.path().join("in.fa");
        let mut f = std::fs::File::create(&input).unwrap();
        for (id, seq) in ids.iter().zip(&seqs) {
            writeln!(f, ">{id}\n{seq}").unwrap();
        }
        drop(f);
        let got = embed(kind, &model, &input, &work.path().join("out.h5"), 512);
        assert_eq!(got.ids, ids, "{kind}: ids in input order");
        let want =
            candle_core::safetensors::load(model.join("reference.safetensors"), &Device::Cpu)
                .unwrap();
        let want: Vec<Vec<f32>> = want["mean"].to_vec2().unwrap();
        for (i, w) in want.iter().enumerate() {
            let d = max_abs(got.row(i), w);
            assert!(d <= 1e-4, "{kind}: {} differs by {d}", ids[i]);
        }
    }
}

#[test]
fn embed_reproduces_the_e2e_merged_features() {
    let Some(golden) = golden_dir("models") else {
        return;
    };
    let mut compared = 0;
    for stem in [
        "genomes",
        "edge_cases",
        "test_with_orfs",
        "test_fixed_500bp",
    ] {
        for length in [300, 500] {
            let merged = golden.join(format!("e2e/{stem}.L{length}.merged.safetensors"));
            if !merged.exists() {
                continue;
            }
            let work = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(work.path().join("d")).unwrap();
            std::fs::create_dir_all(work.path().join("e")).unwrap();
            let fna = golden.join(format!("seq/{stem}.identified{length}.fna"));
            let faa = golden.join(format!("seq/{stem}.identified{length}.faa"));
            let dna = embed(
                "dnabert",
                &golden.join("models/dnabert_tiny"),
                &fna,
                &work.path().join("d/o.h5"),
                300,
            );
            let esm = embed(
                "esm2",
                &golden.join("models/esm2_tiny"),
                &faa,
                &work.path().join("e/o.h5"),
                300,
            );
            let want: Vec<Vec<f32>> = candle_core::safetensors::load(&merged, &Device::Cpu)
                .unwrap()["merged"]
                .to_vec2()
                .unwrap();
            let want_ids: Vec<String> = serde_json::from_str(
                &std::fs::read_to_string(
                    golden.join(format!("e2e/{stem}.L{length}.merged.ids.json")),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(dna.ids, want_ids);
            assert_eq!(esm.ids, want_ids);
            for (i, row) in want.iter().enumerate() {
                let d = max_abs(dna.row(i), &row[..64]).max(max_abs(esm.row(i), &row[64..]));
                assert!(
                    d <= 1e-4,
                    "{stem} L{length} {}: differs by {d}",
                    want_ids[i]
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 6, "only {compared} e2e sets compared");
}
