//! `virnucpro translate`: the original `identify_seq` in prediction mode.

use std::time::Instant;

use anyhow::{bail, Result};
use virnucpro_seq::{OutputPaths, Stages};

use crate::args::{GlobalArgs, TranslateArgs};

/// Runs the translate stage.
pub fn run(args: TranslateArgs, threads: usize, global: &GlobalArgs) -> Result<()> {
    if args.nucleotide == args.protein {
        bail!(
            "--nucleotide and --protein both name {}; give two different files",
            args.protein.display()
        );
    }
    let started = Instant::now();
    let bar = crate::progress::file_bar(&args.input, "translate", global.quiet);
    let reader = super::open_input(&args.input, &bar)?;
    let outputs = OutputPaths {
        chunked: None,
        nucleotide: Some(args.nucleotide.clone()),
        protein: Some(args.protein.clone()),
    };
    let stop = super::signal_flag()?;
    let summary = virnucpro_seq::run_until(Stages::Translate, reader, &outputs, threads, &|| {
        stop.signal()
    });
    bar.finish_and_clear();
    let summary = summary?;
    super::report(&summary, &args.input, true, started.elapsed().as_secs_f64());
    if summary.kept_frames == 0 {
        tracing::warn!("no frame without a stop codon was found: both outputs are empty");
    }
    tracing::info!(
        "kept frames written to {} and {}",
        args.nucleotide.display(),
        args.protein.display()
    );
    Ok(())
}
