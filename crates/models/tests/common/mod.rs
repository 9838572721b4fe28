//! Shared helpers of the model tests: golden locations and numeric comparisons.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

/// `../shared/golden` (or `$VIRNUCPRO_GOLDEN`) when its `models/` is there; otherwise a loud
/// skip, or a failure under `VIRNUCPRO_REQUIRE_GOLDEN=1`.
pub fn golden_dir() -> Option<PathBuf> {
    virnucpro_testkit::golden_dir("models")
}

/// A shipped demo model (`examples/models/<name>`: random weights in the real formats, made by
/// `examples/make_demo_models.py`): the project's own fixture, there in every clone.
pub fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/models")
        .join(name)
}

/// All tensors of a safetensors file.
pub fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// Rows of a 2-D tensor.
pub fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec2()
        .unwrap()
}

pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Asserts `ours` is within `tol` (max abs) and cosine >= 0.99999 of `want`, row by row.
pub fn assert_rows_close(ours: &[Vec<f32>], want: &[Vec<f32>], tol: f32, what: &str) {
    assert_eq!(ours.len(), want.len(), "{what}: row count");
    for (i, (o, w)) in ours.iter().zip(want).enumerate() {
        let diff = max_abs(o, w);
        assert!(
            diff <= tol,
            "{what}: row {i} differs by {diff} (tolerance {tol})"
        );
        let cos = cosine(o, w);
        assert!(cos >= 0.99999, "{what}: row {i} cosine {cos}");
    }
}

/// The reference.json of a golden model.
pub fn reference_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap()
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn token_lists(v: &serde_json::Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}
