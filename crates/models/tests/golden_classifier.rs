//! The MLP classifier against the PyTorch reference (`../shared/golden/classifier`).

mod common;

use candle_core::Device;
use common::*;
use virnucpro_models::Classifier;

#[test]
fn pickles_and_safetensors_reproduce_the_reference() {
    let Some(golden) = golden_dir() else { return };
    let dir = golden.join("classifier");
    let mut compared = 0;
    for stem in ["tiny_mlp", "full_mlp"] {
        let reference = tensors(&dir.join(format!("{stem}.reference.safetensors")));
        let want_logits = rows(&reference["logits"]);
        let want_probs = rows(&reference["probs"]);
        let want_labels: Vec<i64> = reference["labels"].to_vec1().unwrap();
        for file in [format!("{stem}.pth"), format!("{stem}.safetensors")] {
            let model = Classifier::load(&dir.join(&file), &Device::Cpu).unwrap();
            let predictions = model.predict(&reference["input"]).unwrap();
            let logits: Vec<Vec<f32>> = predictions.iter().map(|p| p.logits.to_vec()).collect();
            let probs: Vec<Vec<f32>> = predictions.iter().map(|p| p.probs.to_vec()).collect();
            for (o, w) in logits.iter().zip(&want_logits) {
                assert!(max_abs(o, w) <= 1e-5, "{file}: logits {o:?} vs {w:?}");
            }
            for (o, w) in probs.iter().zip(&want_probs) {
                assert!(max_abs(o, w) <= 1e-5, "{file}: probs {o:?} vs {w:?}");
            }
            let labels: Vec<i64> = predictions.iter().map(|p| p.label as i64).collect();
            assert_eq!(labels, want_labels, "{file}");
            compared += 1;
        }
    }
    assert_eq!(compared, 4);
}
