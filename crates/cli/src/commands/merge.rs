//! `virnucpro merge`: joins shard outputs and reports what was joined.

use anyhow::Result;

use crate::args::MergeArgs;

/// Runs the merge.
pub fn run(args: MergeArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let s = virnucpro_predict::merge(
        &args.shards,
        &args.output,
        args.force,
        args.kraken_output.as_deref(),
    )?;
    tracing::info!(
        "merged {} shards: {} sequences ({} called virus), {} frames ({} called virus), {} of {} chunks viral by \
         consensus{} in {:.1} s",
        s.shards,
        s.sequences,
        s.viral_sequences,
        s.frames,
        s.virus_frames,
        s.virus_chunks,
        s.consensus_chunks,
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
