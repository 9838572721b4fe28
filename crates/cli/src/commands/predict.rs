//! `virnucpro predict`: wires flags to the prediction flow and reports on it.

use std::time::Instant;

use anyhow::{Context, Result};
use virnucpro_engine::fault;
use virnucpro_engine::StopFlag;
use virnucpro_predict::{predict, resolve, Reporter, Request};

use crate::args::{GlobalArgs, PredictArgs};
use crate::progress::EmbedBar;

struct LogReporter {
    /// The input bar and the frames bar, drawn together.
    bars: indicatif::MultiProgress,
}

impl Reporter for LogReporter {
    fn stage(&self, name: &str, detail: &str, seconds: f64) {
        tracing::info!("{name}: {detail} ({seconds:.1} s)");
    }

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }

    fn embed_progress(&self, model: &str) -> Box<dyn virnucpro_engine::Progress + '_> {
        Box::new(EmbedBar::new_in(model, "frames", &self.bars))
    }

    fn workers(&self, _model: &str, summary: &virnucpro_engine::Summary) {
        super::embed::report_workers(summary);
    }

    fn wrap_input(
        &self,
        path: &std::path::Path,
        input: Box<dyn std::io::Read + Send>,
    ) -> Box<dyn std::io::Read + Send> {
        // Cleared when the flow drops the reader.
        let bar = crate::progress::file_bar_in(path, "input", &self.bars)
            .with_finish(indicatif::ProgressFinish::AndClear);
        Box::new(bar.wrap_read(input))
    }
}

/// Runs the prediction.
pub fn run(args: PredictArgs, threads: usize, global: &GlobalArgs) -> Result<()> {
    let checkpoint_every = args.engine.checkpoint_every()?;
    let started = Instant::now();
    let length = args.length.bases();
    let devices = super::open_devices(&args.compute.device)?;
    let precision = args.compute.precision.resolve(&devices[0]);
    let models = resolve(
        args.embedders.esm.as_deref(),
        args.embedders.dnabert.as_deref(),
        args.classifier.as_deref(),
        length,
    )?;
    tracing::info!(
        "predicting {} at {length} bp into {} ({precision}; {} worker(s) on {})",
        args.input.display(),
        args.output.display(),
        devices.len() * args.engine.workers as usize,
        devices
            .iter()
            .map(virnucpro_models::device_name)
            .collect::<Vec<_>>()
            .join(",")
    );
    if let Some(shard) = args.shard {
        tracing::info!("shard {shard}: this run does its part of the input only; join the parts with `virnucpro merge`");
    }
    tracing::info!(
        "models: ESM-2 {}, DNABERT-S {}, classifier {}",
        models.esm.display(),
        models.dnabert.display(),
        models.classifier.display()
    );
    let request = Request {
        input: args.input.clone(),
        length,
        out_dir: args.output.clone(),
        models,
        token_budget: args.engine.token_budget(&devices[0]),
        devices,
        workers_per_device: args.engine.workers as usize,
        fault: fault::from_env()?,
        shard: args.shard,
        precision,
        threads,
        checkpoint_every_seqs: args.engine.checkpoint_every_seqs,
        checkpoint_every,
        force_restart: args.force_restart,
        save_embeddings: args.save_embeddings,
        keep_intermediates: args.keep_intermediates,
        min_score: args.min_score,
        duplicates: if args.rename_duplicates {
            virnucpro_seq::DuplicateIds::Rename
        } else {
            virnucpro_seq::DuplicateIds::Refuse
        },
        kraken_output: args.kraken_output.clone(),
    };
    let stop = StopFlag::new();
    stop.install_signal_handlers()
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    let summary = predict(
        &request,
        &LogReporter {
            bars: crate::progress::draw_target(global.quiet),
        },
        &stop,
    )?;
    if summary.already_complete {
        tracing::info!(
            "{} already holds this finished run; nothing to do",
            args.output.display()
        );
    }
    let t = &summary.totals;
    let stages: Vec<String> = summary
        .stage_seconds
        .iter()
        .map(|(n, s)| format!("{n} {s:.1} s"))
        .collect();
    tracing::info!(
        "summary: {} sequences ({} called virus, {} unscored) -> {} chunks -> {} kept frames; {} \
         frames called virus; {} of {} chunks viral by consensus; {:.1} s in all{}{}",
        t.sequences,
        t.viral_sequences,
        t.unscored_sequences,
        t.chunks,
        t.frames,
        t.virus_frames,
        t.virus_chunks,
        t.consensus_chunks,
        started.elapsed().as_secs_f64(),
        if stages.is_empty() { "" } else { " (" },
        if stages.is_empty() {
            String::new()
        } else {
            stages.join(", ") + ")"
        }
    );
    super::log_results(&args.output);
    Ok(())
}
