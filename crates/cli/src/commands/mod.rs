//! One module per subcommand: each turns parsed flags into library calls and logs a summary.

pub mod bench;
pub mod chunk;
pub mod dataset;
pub mod embed;
pub mod features;
pub mod merge;
pub mod models;
pub mod predict;
pub mod translate;
pub mod utils;

use std::path::Path;

use anyhow::Result;
use virnucpro_seq::{FastaReader, Summary};

/// Opens `path` for a sequence stage, counting bytes on `bar`.
pub fn open_input(path: &Path, bar: &indicatif::ProgressBar) -> Result<FastaReader> {
    let file = virnucpro_seq::fasta::open_input(path)?;
    Ok(FastaReader::from_reader(path, bar.wrap_read(file))?)
}

/// Logs what a sequence stage did, and warns about skipped empty records.
pub fn report(summary: &Summary, input: &Path, translated: bool, seconds: f64) {
    let skipped = &summary.skipped;
    if skipped.count > 0 {
        let more = if skipped.count as usize > skipped.first_ids.len() {
            ", ..."
        } else {
            ""
        };
        tracing::warn!(
            "{}: skipped {} empty record(s) (no sequence): {}{more}",
            input.display(),
            skipped.count,
            skipped.first_ids.join(", ")
        );
    }
    let rate = if seconds > 0.0 {
        summary.bases as f64 / 1e6 / seconds
    } else {
        0.0
    };
    let made = if translated {
        format!("{} kept frames", summary.kept_frames)
    } else {
        format!("{} chunks", summary.chunks)
    };
    tracing::info!(
        "{} records ({} bases) -> {made} in {seconds:.2} s ({rate:.1} Mb/s)",
        summary.records,
        summary.bases,
    );
}

/// Logs where the result files of a prediction are.
pub fn log_results(out: &Path) {
    let dir = virnucpro_predict::out_dir::OutDir::new(out);
    tracing::info!(
        "results: {} and {}; per sequence: {}",
        dir.results().display(),
        dir.consensus().display(),
        dir.sequence_summary().display()
    );
}

/// A stop flag set by SIGINT/SIGTERM, for commands that check it between units of work and
/// then stop cleanly (no temporary file left behind) with exit 128 + the signal.
pub fn signal_flag() -> Result<virnucpro_engine::StopFlag> {
    use anyhow::Context;
    let stop = virnucpro_engine::StopFlag::new();
    stop.install_signal_handlers()
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    Ok(stop)
}

/// `auto` picks every GPU when this build and the machine have one, else the CPU; a CUDA
/// build that cannot start its GPUs says so, and why, before it runs on the CPU.
pub fn open_devices(spec: &virnucpro_models::DeviceSpec) -> Result<Vec<candle_core::Device>> {
    match spec {
        virnucpro_models::DeviceSpec::Auto => Ok(match spec.open() {
            Ok(gpus) => gpus,
            Err(e) if cfg!(feature = "cuda") => {
                tracing::warn!(
                    "--device auto: no GPU could be used ({e}); running on the CPU, which is \
                     far slower. Fix the GPU setup (`virnucpro utils list-devices`), or pass \
                     --device cpu to choose the CPU"
                );
                vec![candle_core::Device::Cpu]
            }
            Err(_) => {
                tracing::info!("--device auto: this build has no CUDA support; using the CPU");
                vec![candle_core::Device::Cpu]
            }
        }),
        s => Ok(s.open()?),
    }
}
