//! What `summary.json` says (the result writer writes it): one machine-readable account of a
//! run for workflow engines and reports: the version, the models and their fingerprints, the
//! parameters, the counts, where the time went and on which devices.

use std::path::Path;

use crate::request::{Request, Summary};
use crate::run_record::RunRecord;
use crate::totals::Totals;
use serde_json::{json, Value};

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The counts block shared by a run and a merge: [`Totals`] as it is.
fn counts(totals: &Totals) -> Value {
    serde_json::to_value(totals).unwrap_or(Value::Null)
}

/// The models block: each model's path (when known) and whole-content fingerprint.
fn models(record: &RunRecord, req: Option<&Request>) -> Value {
    let path = |p: Option<&Path>| p.map(|p| p.display().to_string());
    json!({
        "esm2": {
            "path": path(req.map(|r| r.models.esm.as_path())),
            "fingerprint": record.esm_fingerprint,
        },
        "dnabert_s": {
            "path": path(req.map(|r| r.models.dnabert.as_path())),
            "fingerprint": record.dnabert_fingerprint,
        },
        "classifier": {
            "path": path(req.map(|r| r.models.classifier.as_path())),
            "fingerprint": record.classifier_fingerprint,
        },
    })
}

/// `summary.json` of a finished `predict` run.
pub fn of_run(
    req: &Request,
    record: &RunRecord,
    summary: &Summary,
    engine: &virnucpro_engine::Summary,
) -> Value {
    let devices: Vec<String> = req
        .devices
        .iter()
        .map(virnucpro_models::device_name)
        .collect();
    let stages: Vec<Value> = summary
        .stage_seconds
        .iter()
        .map(|(name, s)| json!({"stage": name, "seconds": s}))
        .collect();
    json!({
        "tool": "virnucpro",
        "version": VERSION,
        "command": "predict",
        "input": req.input.display().to_string(),
        "input_fingerprint": record.input_fingerprint,
        "output_dir": req.out_dir.display().to_string(),
        "parameters": {
            "length": req.length,
            "min_score": req.min_score,
            "rename_duplicates": record.rename_duplicates,
            "precision": req.precision.name(),
            "token_budget": req.token_budget,
            "threads": req.threads,
            "workers_per_device": req.workers_per_device,
            "checkpoint_every_seqs": req.checkpoint_every_seqs,
            "shard": req.shard.map(|s| s.to_string()),
        },
        "devices": devices,
        "models": models(record, Some(req)),
        "counts": counts(&summary.totals),
        "resumed_frames": summary.resumed_frames,
        "seconds": {
            "stages": stages,
            "in_models": engine.model_seconds,
            "wall": record.seconds.map(|t| t.wall),
        },
    })
}

/// `summary.json` of a `merge` of `shards` shard runs into a whole.
pub fn of_merge(record: &RunRecord, totals: &Totals, shards: usize, seconds: f64) -> Value {
    json!({
        "tool": "virnucpro",
        "version": VERSION,
        "command": "merge",
        "input_fingerprint": record.input_fingerprint,
        "shards": shards,
        "parameters": {
            "length": record.length,
            "min_score": record.min_score,
            "rename_duplicates": record.rename_duplicates,
        },
        "models": models(record, None),
        "counts": counts(totals),
        "seconds": {"stages": [{"stage": "merge", "seconds": seconds}]},
    })
}
