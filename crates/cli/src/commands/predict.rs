//! `virnucpro predict`: wires flags to the prediction flow and reports on it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::Device;
use virnucpro_engine::StopFlag;
use virnucpro_models::{parse_device, Precision};
use virnucpro_predict::{predict, resolve, Reporter, Request};

use crate::args::{GlobalArgs, PredictArgs};
use crate::progress::EmbedBar;

/// `auto` picks the first GPU when this build and the machine have one.
fn device(spec: &str) -> Result<Device> {
    match spec {
        "auto" => Ok(if candle_core::utils::cuda_is_available() {
            Device::new_cuda(0).unwrap_or(Device::Cpu)
        } else {
            Device::Cpu
        }),
        s if s.contains(',') => bail!(
            "--device {s}: several devices in one run are not supported by this version; give one \
             (cuda:N), or split the input into shards"
        ),
        s => Ok(parse_device(s)?),
    }
}

struct LogReporter {
    quiet: bool,
}

impl Reporter for LogReporter {
    fn stage(&self, name: &str, detail: &str, seconds: f64) {
        tracing::info!("{name}: {detail} ({seconds:.1} s)");
    }

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }

    fn embed_progress(&self, model: &str) -> Box<dyn virnucpro_engine::Progress + '_> {
        Box::new(EmbedBar::new(model, self.quiet))
    }

    fn wrap_input(
        &self,
        path: &std::path::Path,
        file: std::fs::File,
    ) -> Box<dyn std::io::Read + Send> {
        // Cleared when the stage drops the reader.
        let bar = crate::progress::file_bar(path, "chunk", self.quiet)
            .with_finish(indicatif::ProgressFinish::AndClear);
        Box::new(bar.wrap_read(file))
    }
}

/// Runs the prediction.
pub fn run(args: PredictArgs, threads: usize, global: &GlobalArgs) -> Result<()> {
    if !(args.checkpoint_every_secs > 0.0 && args.checkpoint_every_secs.is_finite()) {
        bail!("--checkpoint-every-secs must be a positive number of seconds");
    }
    let started = Instant::now();
    let length: usize = args.length.parse().context("-L takes 300 or 500")?;
    let device = device(&args.device)?;
    let precision = match args.precision.as_str() {
        "auto" => Precision::default_for(&device),
        p => p.parse::<Precision>()?,
    };
    let models = resolve(
        args.esm.as_deref(),
        args.dnabert.as_deref(),
        args.classifier.as_deref(),
        length,
    )?;
    tracing::info!(
        "predicting {} at {length} bp into {} ({precision:?} on {})",
        args.input.display(),
        args.output.display(),
        if device.is_cpu() { "cpu" } else { "cuda" }
    );
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
        token_budget: args
            .token_budget
            .map(|b| b as usize)
            .unwrap_or_else(|| super::embed::default_budget(&device)),
        device,
        precision,
        threads,
        checkpoint_every_seqs: args.checkpoint_every_seqs,
        checkpoint_every: Duration::from_secs_f64(args.checkpoint_every_secs),
        force_restart: args.force_restart,
        save_embeddings: args.save_embeddings,
        keep_intermediates: args.keep_intermediates,
    };
    let stop = StopFlag::new();
    stop.install_signal_handlers()
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    let summary = predict(
        &request,
        &LogReporter {
            quiet: global.quiet,
        },
        &stop,
    )?;
    if summary.already_complete {
        tracing::info!(
            "{} already holds this finished run; nothing to do",
            args.output.display()
        );
    }
    let stages: Vec<String> = summary
        .stage_seconds
        .iter()
        .map(|(n, s)| format!("{n} {s:.1} s"))
        .collect();
    tracing::info!(
        "summary: {} sequences -> {} chunks -> {} kept frames; {} frames called virus; {} of {} chunks \
         viral by consensus; {:.1} s in all{}{}",
        summary.sequences,
        summary.chunks,
        summary.frames,
        summary.virus_frames,
        summary.virus_chunks,
        summary.consensus_chunks,
        started.elapsed().as_secs_f64(),
        if stages.is_empty() { "" } else { " (" },
        if stages.is_empty() { String::new() } else { stages.join(", ") + ")" }
    );
    tracing::info!(
        "results: {} and {}",
        args.output.join(virnucpro_predict::flow::RESULTS).display(),
        args.output
            .join(virnucpro_predict::flow::CONSENSUS)
            .display()
    );
    Ok(())
}
