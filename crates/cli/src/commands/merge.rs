//! `virnucpro merge`: joins shard outputs and reports what was joined.

use anyhow::Result;

use crate::args::MergeArgs;

/// Runs the merge.
pub fn run(args: MergeArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let stop = super::signal_flag()?;
    let s = virnucpro_predict::merge(
        &args.shards,
        &args.output,
        args.force,
        args.kraken_output.as_deref(),
        &stop,
    )?;
    let t = &s.totals;
    tracing::info!(
        "merged {} shards: {} sequences ({} called virus), {} frames ({} called virus), {} of {} chunks viral by \
         consensus{} in {:.1} s",
        s.shards,
        t.sequences,
        t.viral_sequences,
        t.frames,
        t.virus_frames,
        t.virus_chunks,
        t.consensus_chunks,
        if s.embeddings {
            "; embeddings.h5 joined"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    super::log_results(&args.output);
    Ok(())
}
