//! The device self-check: every golden model comparison, run on a chosen device and precision,
//! as one table. It is what a lent GPU machine runs (it has no Rust toolchain, so the test suite
//! cannot run there), and it runs on the CPU too, where the tests check it.
//!
//! Checks, per precision: ESM-2 pooled embeddings in packed and padded batches, DNABERT-S pooled
//! embeddings in padded batches, both against the original's reference means; and the whole
//! `predict` flow on every end-to-end golden case, against the original's labels. fp32 must
//! meet the CPU tolerances (max abs <= 1e-4, cosine >= 0.99999, scores within 1e-5, identical
//! labels and consensus); fp16/bf16 need cosine >= 0.999, scores within 1e-3 (fp16) or 1e-2
//! (bf16), and identical labels wherever the reference is not a near-tie (|P(virus) -
//! P(others)| within twice that score tolerance, where either label is within rounding).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use virnucpro_engine::StopFlag;
use virnucpro_models::{
    DnaTokenizer, Dnabert, EmbeddingModel, Esm2, EsmAlphabet, ModelError, PackedBatch, PaddedBatch,
    Precision,
};

use crate::error::{PredictError, Result};
use crate::flow::predict;
use crate::locate::ModelPaths;
use crate::out_dir::{CONSENSUS, RESULTS};
use crate::request::{Request, Silent};

/// One line of the self-check table.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was compared (`esm2 packed`, `e2e genomes L500`, ...).
    pub name: String,
    /// The precision it ran in.
    pub precision: Precision,
    /// The numbers behind the verdict.
    pub detail: String,
    /// Whether it met its tolerance.
    pub pass: bool,
    /// Seconds it took.
    pub seconds: f64,
}

/// Runs every check on `device` in each of `precisions`; `work` receives the e2e outputs.
pub fn run(
    golden: &Path,
    device: &Device,
    precisions: &[Precision],
    work: &Path,
) -> Result<Vec<Check>> {
    if !golden.join("models").is_dir() {
        return Err(PredictError::file(
            golden,
            "not a golden directory (no models/ inside); give the path of shared/golden",
        ));
    }
    let mut checks = Vec::new();
    for &precision in precisions {
        checks.extend(esm2(golden, device, precision)?);
        checks.push(dnabert(golden, device, precision)?);
        checks.extend(end_to_end(golden, device, precision, work)?);
    }
    Ok(checks)
}

/// The larger of two differences, NaN when either is: `f32::max` drops a NaN, which would let
/// an all-NaN output pass.
fn worse(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// Max |a-b| and min cosine over rows; both NaN when any value is NaN or infinite, so that no
/// tolerance check can pass.
fn compare(ours: &[Vec<f32>], want: &[Vec<f32>]) -> (f32, f64) {
    let mut worst = 0f32;
    let mut min_cos = 1f64;
    for (o, w) in ours.iter().zip(want) {
        if o.iter().chain(w).any(|v| !v.is_finite()) {
            return (f32::NAN, f64::NAN);
        }
        for (x, y) in o.iter().zip(w) {
            worst = worse(worst, (x - y).abs());
        }
        let dot: f64 = o.iter().zip(w).map(|(x, y)| *x as f64 * *y as f64).sum();
        let no: f64 = o.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nw: f64 = w.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        min_cos = min_cos.min(dot / (no * nw).max(1e-30));
    }
    (worst, min_cos)
}

fn embedding_check(
    name: &str,
    precision: Precision,
    ours: &[Vec<f32>],
    want: &[Vec<f32>],
    started: Instant,
) -> Check {
    let (worst, cos) = compare(ours, want);
    let pass = ours.len() == want.len()
        && match precision {
            Precision::F32 => worst <= 1e-4 && cos >= 0.99999,
            _ => cos >= 0.999,
        };
    Check {
        name: name.to_string(),
        precision,
        detail: format!(
            "{} sequences: max |diff| {worst:.2e}, min cosine {cos:.6}",
            ours.len()
        ),
        pass,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn model_err(e: candle_core::Error) -> PredictError {
    ModelError::from(e).into()
}

/// Rows of numbers: one token list or one embedding per sequence.
type Rows<T> = Vec<Vec<T>>;

/// The reference: sequences' token ids and the expected pooled means.
fn reference(dir: &Path) -> Result<(Rows<u32>, Rows<f32>)> {
    let path = dir.join("reference.json");
    let text = std::fs::read_to_string(&path).map_err(|e| PredictError::file(&path, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PredictError::file(&path, e))?;
    let tokens: Vec<Vec<u32>> = serde_json::from_value(json["token_ids"].clone())
        .map_err(|e| PredictError::file(&path, format!("token_ids: {e}")))?;
    let tensors_path = dir.join("reference.safetensors");
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&tensors_path, &Device::Cpu).map_err(model_err)?;
    let mean = tensors
        .get("mean")
        .ok_or_else(|| PredictError::file(&tensors_path, "no 'mean' tensor"))?
        .to_dtype(candle_core::DType::F32)
        .and_then(|t| t.to_vec2::<f32>())
        .map_err(model_err)?;
    Ok((tokens, mean))
}

/// Groups of consecutive sequences under `budget` tokens.
fn groups(tokens: &[Vec<u32>], budget: usize) -> Vec<Vec<&[u32]>> {
    let mut out: Vec<Vec<&[u32]>> = vec![Vec::new()];
    let mut used = 0;
    for t in tokens {
        if used + t.len() > budget && !out.last().expect("one group").is_empty() {
            out.push(Vec::new());
            used = 0;
        }
        out.last_mut().expect("one group").push(t);
        used += t.len();
    }
    out
}

fn rows(t: Tensor) -> Result<Vec<Vec<f32>>> {
    t.to_dtype(candle_core::DType::F32)
        .and_then(|t| t.to_vec2::<f32>())
        .map_err(model_err)
}

fn esm2(golden: &Path, device: &Device, precision: Precision) -> Result<Vec<Check>> {
    let dir = golden.join("models/esm2_tiny");
    let (tokens, want) = reference(&dir)?;
    let model = Esm2::load(&dir, device, precision)?;
    let mut out = Vec::new();
    let started = Instant::now();
    let mut ours = Vec::new();
    for g in groups(&tokens, 2048) {
        ours.extend(rows(model.embed_packed(&PackedBatch::new(&g)?)?)?);
    }
    out.push(embedding_check(
        "esm2 packed",
        precision,
        &ours,
        &want,
        started,
    ));
    let started = Instant::now();
    let mut ours = Vec::new();
    for g in groups(&tokens, 2048) {
        ours.extend(rows(
            model.embed_padded(&PaddedBatch::new(&g, EsmAlphabet::PAD)?)?,
        )?);
    }
    out.push(embedding_check(
        "esm2 padded",
        precision,
        &ours,
        &want,
        started,
    ));
    Ok(out)
}

fn dnabert(golden: &Path, device: &Device, precision: Precision) -> Result<Check> {
    let dir = golden.join("models/dnabert_tiny");
    let (tokens, want) = reference(&dir)?;
    let model = Dnabert::load(&dir, device, precision)?;
    let started = Instant::now();
    let mut ours = Vec::new();
    for g in groups(&tokens, 2048) {
        ours.extend(rows(
            model.embed_padded(&PaddedBatch::new(&g, DnaTokenizer::PAD)?)?,
        )?);
    }
    Ok(embedding_check(
        "dnabert padded",
        precision,
        &ours,
        &want,
        started,
    ))
}

/// (id, label, P(others), P(virus)) rows of a `prediction_results.txt`.
fn result_rows(path: &Path) -> Result<Vec<(String, String, f32, f32)>> {
    let text = std::fs::read_to_string(path).map_err(|e| PredictError::file(path, e))?;
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            match f.as_slice() {
                [id, label, a, b] => Ok((
                    id.to_string(),
                    label.to_string(),
                    a.parse().unwrap_or(f32::NAN),
                    b.parse().unwrap_or(f32::NAN),
                )),
                _ => Err(PredictError::file(path, format!("bad row '{l}'"))),
            }
        })
        .collect()
}

/// The end-to-end golden cases: (name, length, input).
fn e2e_cases(golden: &Path) -> Result<Vec<(String, usize, PathBuf)>> {
    let dir = golden.join("e2e");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| PredictError::file(&dir, e))? {
        let name = entry
            .map_err(|e| PredictError::file(&dir, e))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(stem) = name.strip_suffix(".prediction_results.txt") else {
            continue;
        };
        let Some((case, length)) = stem.rsplit_once(".L") else {
            continue;
        };
        let Ok(length) = length.parse::<usize>() else {
            continue;
        };
        cases.push((
            case.to_string(),
            length,
            golden.join("inputs").join(format!("{case}.fa")),
        ));
    }
    cases.sort();
    Ok(cases)
}

fn end_to_end(
    golden: &Path,
    device: &Device,
    precision: Precision,
    work: &Path,
) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    for (case, length, input) in e2e_cases(golden)? {
        let started = Instant::now();
        let dir = work.join(format!("{case}.L{length}.{precision:?}"));
        let request = Request {
            input,
            length,
            out_dir: dir.clone(),
            models: ModelPaths {
                esm: golden.join("models/esm2_tiny"),
                dnabert: golden.join("models/dnabert_tiny"),
                classifier: golden.join("classifier/tiny_mlp.pth"),
            },
            devices: vec![device.clone()],
            workers_per_device: 1,
            fault: None,
            shard: None,
            precision,
            threads: 2,
            token_budget: 4096,
            checkpoint_every_seqs: 1_000_000,
            checkpoint_every: Duration::from_secs(3600),
            force_restart: true,
            save_embeddings: false,
            keep_intermediates: false,
            min_score: crate::sequence_calls::DEFAULT_MIN_SCORE,
            duplicates: virnucpro_seq::DuplicateIds::Refuse,
            kraken_output: None,
        };
        predict(&request, &Silent, &StopFlag::new())?;
        let base = golden.join("e2e").join(format!("{case}.L{length}"));
        let want = result_rows(&PathBuf::from(format!(
            "{}.prediction_results.txt",
            base.display()
        )))?;
        let ours = result_rows(&dir.join(RESULTS))?;
        let consensus_same = std::fs::read_to_string(format!(
            "{}.prediction_results_highestscore.csv",
            base.display()
        ))
        .ok()
            == std::fs::read_to_string(dir.join(CONSENSUS)).ok();
        let same_ids = ours.len() == want.len() && ours.iter().zip(&want).all(|(o, w)| o.0 == w.0);
        // A frame whose reference scores are within a reduced precision's score error of a tie
        // can flip either way without anything being wrong; only decided frames must agree.
        let score_tolerance = match precision {
            Precision::F32 => 1e-5,
            Precision::F16 => 1e-3,
            Precision::BF16 => 1e-2,
        };
        let flips: Vec<bool> = ours
            .iter()
            .zip(&want)
            .filter(|(o, w)| o.1 != w.1)
            .map(|(_, w)| (w.3 - w.2).abs() > 2.0 * score_tolerance)
            .collect();
        let decided_flips = flips.iter().filter(|&&decided| decided).count();
        let worst = ours
            .iter()
            .zip(&want)
            .map(|(o, w)| worse((o.2 - w.2).abs(), (o.3 - w.3).abs()))
            .fold(0f32, worse);
        let pass = same_ids
            && decided_flips == 0
            && match precision {
                Precision::F32 => flips.is_empty() && worst <= 1e-5 && consensus_same,
                _ => worst <= score_tolerance,
            };
        out.push(Check {
            name: format!("e2e {case} L{length}"),
            precision,
            detail: format!(
                "{} frames{}: {} labels differ ({} of them at a near-tie, |margin| <= {:.0e}), \
                 max score diff {worst:.1e}, consensus {}",
                ours.len(),
                if same_ids { "" } else { " (ids differ!)" },
                flips.len(),
                flips.len() - decided_flips,
                2.0 * score_tolerance,
                if consensus_same {
                    "identical"
                } else {
                    "differs"
                }
            ),
            pass,
            seconds: started.elapsed().as_secs_f64(),
        });
        std::fs::remove_dir_all(&dir).map_err(|e| PredictError::file(&dir, e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_or_infinity_anywhere_fails_every_tolerance() {
        let want = vec![vec![1.0f32, 2.0]];
        let check = |ours: Vec<f32>, p: Precision| {
            embedding_check("t", p, &[ours], &want, Instant::now()).pass
        };
        for p in [Precision::F32, Precision::F16] {
            assert!(!check(vec![f32::NAN, f32::NAN], p), "{p:?}: all NaN");
            assert!(!check(vec![f32::INFINITY, 2.0], p), "{p:?}: infinity");
            assert!(check(vec![1.0, 2.0], p), "{p:?}: equal");
        }
        assert!(worse(0.0, f32::NAN).is_nan() && worse(f32::NAN, 1.0).is_nan());
    }
}
