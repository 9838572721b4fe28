//! `virnucpro embed`: one model over one FASTA, through the engine.

use std::time::Instant;

use anyhow::{Context, Result};
use virnucpro_engine::{encoder, fault, fingerprint, Options, StopFlag};

use crate::args::{EmbedArgs, GlobalArgs};
use crate::progress::EmbedBar;

/// Runs the embedding.
pub fn run(args: EmbedArgs, global: &GlobalArgs) -> Result<()> {
    let checkpoint_every = args.engine.checkpoint_every()?;
    let started = Instant::now();
    let devices = super::open_devices(&args.compute.device)?;
    let device = devices[0].clone();
    let precision = args.compute.precision.resolve(&device);
    let model_fingerprint =
        fingerprint::model_fingerprint(&args.model, &virnucpro_predict::locate::hash_cache())?;
    let workers = encoder::load_workers(
        args.kind,
        &args.model,
        &devices,
        args.engine.workers as usize,
        precision,
    )?;
    let workers = fault::inject(workers, fault::from_env()?);
    let encoder = workers[0].as_ref();
    tracing::info!(
        "{} loaded from {} ({} dims, {precision}; {} worker(s) on {}) in {:.1} s",
        encoder.name(),
        args.model.display(),
        encoder.dim(),
        workers.len(),
        args.compute.device,
        started.elapsed().as_secs_f64()
    );
    let options = Options {
        token_budget: args.engine.token_budget(&device),
        checkpoint_every_seqs: args.engine.checkpoint_every_seqs,
        checkpoint_every,
        force_restart: args.force_restart,
        keep_checkpoints: args.keep_checkpoints,
    };
    let stop = StopFlag::new();
    stop.install_signal_handlers()
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    let bar = EmbedBar::new(encoder.name(), "seqs", global.quiet);
    let refs: Vec<&dyn encoder::Encoder> = workers.iter().map(|w| w.as_ref()).collect();
    let summary = virnucpro_engine::embed_file(
        &refs,
        &args.input,
        &args.output,
        &model_fingerprint,
        &options,
        &bar,
        &stop,
    )?;
    for (path, reason) in &summary.corrupt {
        tracing::warn!(
            "{}: unusable checkpoint ({reason}); its sequences were computed again",
            path.display()
        );
    }
    if summary.repeated_rows > 0 {
        tracing::warn!(
            "{} sequence(s) were found identical in more than one checkpoint and used once",
            summary.repeated_rows
        );
    }
    for (path, id) in &summary.conflicting_rows {
        tracing::warn!(
            "{}: '{id}' has different rows in more than one checkpoint; every copy was dropped \
             and it was computed again",
            path.display()
        );
    }
    let e = &summary.efficiency;
    tracing::info!(
        "{} sequences: {} from earlier checkpoints, {} embedded in {} batches ({:.1} s in the model); \
         {:.1} % of computed token slots were real sequence, batches {:.1} % full",
        summary.total,
        summary.resumed,
        summary.computed,
        summary.batches,
        summary.model_seconds,
        100.0 * e.useful_fraction(),
        100.0 * e.fill()
    );
    report_workers(&summary);
    tracing::info!(
        "embeddings written to {} in {:.1} s",
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Logs each worker's throughput and the scaling efficiency when several workers ran.
pub fn report_workers(summary: &virnucpro_engine::Summary) {
    if summary.workers.len() < 2 {
        return;
    }
    for w in &summary.workers {
        tracing::info!(
            "worker {} ({}): {} batches, {} sequences, {:.0} tokens/s while busy{}{}",
            w.rank,
            w.device,
            w.batches,
            w.sequences,
            w.tokens_per_second(),
            if w.oom_splits > 0 {
                format!(
                    ", {} batches split after running out of memory",
                    w.oom_splits
                )
            } else {
                String::new()
            },
            match &w.failure {
                Some(f) => format!("; retired: {f}"),
                None => String::new(),
            }
        );
    }
    tracing::info!(
        "{} workers: {:.0} tokens/s together, scaling efficiency {:.0} %",
        summary.workers.len(),
        summary.workers.iter().map(|w| w.tokens).sum::<u64>() as f64
            / summary.wall_seconds.max(1e-9),
        100.0 * summary.scaling_efficiency()
    );
}
