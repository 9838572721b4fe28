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

fn main() -> ExitCode {
    // clap exits with 2 on bad usage and 0 for --help/--version.
    let cli = Cli::parse();
    logging::init(cli.global.verbose, cli.global.quiet);
    let threads = cli.global.threads();
    // candle sizes its CPU thread pools from RAYON_NUM_THREADS and, when it is unset, works the
    // core count out again from /proc/cpuinfo on every matrix multiplication. Setting it once
    // makes -t govern the models too and removes that cost. No other thread exists yet.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let result = match cli.command {
        Command::Predict(args) => commands::predict::run(args, threads, &cli.global),
        Command::Chunk(args) => commands::chunk::run(args, threads, &cli.global),
        Command::Translate(args) => commands::translate::run(args, threads, &cli.global),
        Command::Merge(args) => commands::merge::run(args),
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
            if let Some(virnucpro_engine::EngineError::Interrupted { signal }) = interrupted {
                tracing::warn!("{e}");
                return ExitCode::from((128 + signal) as u8);
            }
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}
