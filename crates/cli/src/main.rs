//! `virnucpro`: finds viral sequences among DNA reads and contigs (a Rust VirNucPro).
//!
//! This binary only parses flags and wires the library crates together; behaviour lives in
//! the libraries, where tests reach it.

mod args;
mod commands;
mod logging;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// mimalloc, as text-embeddings-inference uses: the models allocate and free large tensors
/// batch after batch, and glibc's allocator keeps the holes between them, so a long run's
/// resident memory crept up with its length; mimalloc returns freed pages to the system.
/// Built with `no_thp` (transparent huge pages off for the process): with them, mimalloc's
/// eagerly committed arenas were backed by 2 MB pages as soon as touched, about 110 MB of
/// resident memory beyond the weights after loading ESM-2 650M (1.05x its weights against
/// 1.01x without).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // clap exits with 2 on bad usage and 0 for --help/--version.
    let cli = Cli::parse();
    logging::init(cli.global.verbose, cli.global.quiet);
    let resolved = cli.global.threads();
    let threads = resolved.count;
    if let Some(asked) = resolved.capped_from {
        tracing::warn!(
            "{asked} threads asked for, but this process may use {threads} CPUs (its affinity \
             mask and cgroup quota): computing on {threads} threads, as more would only wait \
             on each other"
        );
    }
    // candle sizes its CPU thread pools from RAYON_NUM_THREADS and, when it is unset, works the
    // core count out again from /proc/cpuinfo on every matrix multiplication. Setting it once
    // makes -t govern the models too and removes that cost. No other thread exists yet.
    // An explicit -t wins over an inherited RAYON_NUM_THREADS (a parent's, a job script's),
    // and neither goes past the usable CPUs: two compute threads on a core spin on candle's
    // barrier half the time.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let result = match cli.command {
        Command::Predict(args) => commands::predict::run(args, threads, &cli.global),
        Command::Chunk(args) => commands::chunk::run(args, threads, &cli.global),
        Command::Translate(args) => commands::translate::run(args, threads, &cli.global),
        Command::Merge(args) => commands::merge::run(args),
        Command::Dataset(args) => commands::dataset::run(args),
        Command::Features(args) => commands::features::run(args, &cli.global),
        Command::Embed(args) => commands::embed::run(args, &cli.global),
        Command::Bench(args) => commands::bench::run(args, threads),
        Command::Models(args::ModelsCommand::Check(args)) => commands::models::check(args),
        Command::Models(args::ModelsCommand::Fetch(args)) => {
            commands::models::fetch(args, &cli.global)
        }
        Command::Utils(args::UtilsCommand::ListDevices) => commands::utils::list_devices(threads),
        Command::Utils(args::UtilsCommand::Validate(args)) => commands::utils::validate(args),
        Command::Utils(args::UtilsCommand::SelfCheck(args)) => commands::utils::self_check(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A run stopped by SIGINT/SIGTERM exits 128 + the signal, as shells expect.
            let interrupted = match e.downcast_ref::<virnucpro_predict::PredictError>() {
                Some(virnucpro_predict::PredictError::Engine(inner)) => Some(inner),
                _ => e.downcast_ref::<virnucpro_engine::EngineError>(),
            };
            let signal = match interrupted {
                Some(virnucpro_engine::EngineError::Interrupted { signal }) => Some(*signal),
                _ => match e.downcast_ref::<virnucpro_seq::SeqError>() {
                    Some(virnucpro_seq::SeqError::Interrupted { signal }) => Some(*signal),
                    _ => None,
                },
            };
            if let Some(signal) = signal {
                tracing::warn!("{}", message(&e));
                return ExitCode::from((128 + signal) as u8);
            }
            tracing::error!("{}", message(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each cause left out when the text before it already says it
/// (many errors print their source themselves).
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
