//! `virnucpro chunk`: the original `split_fasta_chunk`.

use std::time::Instant;

use anyhow::Result;
use virnucpro_seq::{OutputPaths, Stages};

use crate::args::{ChunkArgs, GlobalArgs};

/// Runs the chunk stage.
pub fn run(args: ChunkArgs, threads: usize, global: &GlobalArgs) -> Result<()> {
    let started = Instant::now();
    let bar = crate::progress::file_bar(&args.input, "chunk", global.quiet);
    let reader = super::open_input(&args.input, &bar)?;
    let outputs = OutputPaths {
        chunked: Some(args.output.clone()),
        ..OutputPaths::default()
    };
    let stop = super::signal_flag()?;
    let summary = virnucpro_seq::run_until(
        Stages::Chunk {
            length: args.length as usize,
        },
        reader,
        &outputs,
        threads,
        &|| stop.signal(),
    );
    bar.finish_and_clear();
    let summary = summary?;
    super::report(
        &summary,
        &args.input,
        false,
        started.elapsed().as_secs_f64(),
    );
    tracing::info!("chunks written to {}", args.output.display());
    Ok(())
}
