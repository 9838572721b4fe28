//! What a prediction is asked to do, the hooks it reports through, and what it returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::Device;
use virnucpro_models::Precision;
use virnucpro_seq::DuplicateIds;

use crate::locate::ModelPaths;
use crate::shard::Shard;
use crate::totals::Totals;

/// Everything a prediction needs.
#[derive(Debug, Clone)]
pub struct Request {
    /// Input FASTA or FASTQ (plain or compressed), or `-` for standard input; read once.
    pub input: PathBuf,
    /// Chunk length (300 or 500).
    pub length: usize,
    /// Output directory.
    pub out_dir: PathBuf,
    /// The models.
    pub models: ModelPaths,
    /// Where the models run: one worker per device (per copy, see `workers_per_device`).
    pub devices: Vec<Device>,
    /// Model copies per device (several CPU workers share the cores).
    pub workers_per_device: usize,
    /// Process only this part of the input (`--shard I/N`), for `virnucpro merge` to join.
    pub shard: Option<Shard>,
    /// A worker failure to inject (tests of recovery only).
    pub fault: Option<virnucpro_engine::fault::Fault>,
    /// Their precision.
    pub precision: Precision,
    /// CPU threads (the models' thread pool is set by the caller).
    pub threads: usize,
    /// Tokens per embedding batch.
    pub token_budget: usize,
    /// Checkpoint cadence, in frames.
    pub checkpoint_every_seqs: u64,
    /// ...and in time.
    pub checkpoint_every: Duration,
    /// Start over, discarding an earlier run's state in `out_dir`.
    pub force_restart: bool,
    /// Also write `embeddings.h5` (ids, dnabert, esm2); the checkpoints then hold the
    /// embeddings too.
    pub save_embeddings: bool,
    /// Keep the checkpoints (`OUT_DIR/intermediates`) after the result files are written.
    pub keep_intermediates: bool,
    /// A sequence is called `virus` when its `virus_score` is at least this.
    pub min_score: f64,
    /// What to do with records whose id an earlier record has.
    pub duplicates: DuplicateIds,
    /// Also write Kraken-style per-sequence lines here.
    pub kraken_output: Option<PathBuf>,
}

/// Hooks through which the flow reports; the CLI logs and draws bars.
pub trait Reporter: Sync {
    /// A stage finished: its name, what it did, and how long it took.
    fn stage(&self, name: &str, detail: &str, seconds: f64);
    /// A warning for the user.
    fn warn(&self, message: &str);
    /// A progress sink for an embedding stage.
    fn embed_progress(&self, model: &str) -> Box<dyn virnucpro_engine::Progress + '_>;
    /// The embedding stage `model` finished with `summary` (per-worker throughput); by default,
    /// nothing is reported.
    fn workers(&self, _model: &str, _summary: &virnucpro_engine::Summary) {}
    /// Wraps the input stream (for a bar over its bytes); by default, reads it as it is.
    fn wrap_input(
        &self,
        _path: &Path,
        input: Box<dyn std::io::Read + Send>,
    ) -> Box<dyn std::io::Read + Send> {
        input
    }
}

/// A reporter that says nothing (tests, and callers that make their own report).
pub struct Silent;

impl Reporter for Silent {
    fn stage(&self, _: &str, _: &str, _: f64) {}
    fn warn(&self, _: &str) {}
    fn embed_progress(&self, _: &str) -> Box<dyn virnucpro_engine::Progress + '_> {
        Box::new(virnucpro_engine::NoProgress)
    }
}

/// What a prediction did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// What it counted (as in `run.json` and `summary.json`).
    pub totals: Totals,
    /// Seconds per stage, in order.
    pub stage_seconds: Vec<(String, f64)>,
    /// Seconds inside the models' forward calls, all workers together.
    pub forward_seconds: f64,
    /// Frames taken from the checkpoints of an earlier run.
    pub resumed_frames: u64,
    /// The run had finished before; nothing was recomputed.
    pub already_complete: bool,
}
