//! `virnucpro features`: a training set's features through the engine.

use std::time::Instant;

use anyhow::Result;
use virnucpro_engine::Options;
use virnucpro_predict::locate::{find_dnabert, find_esm, hash_cache};
use virnucpro_train::{extract_features, FeaturesRequest};

use crate::args::{FeaturesArgs, GlobalArgs};
use crate::progress::EmbedBar;

/// Computes (or resumes) the features and reports what was done.
pub fn run(args: FeaturesArgs, global: &GlobalArgs) -> Result<()> {
    let started = Instant::now();
    let checkpoint_every = args.engine.checkpoint_every()?;
    let devices = super::open_devices(&args.compute.device)?;
    let precision = args.compute.precision.resolve(&devices[0]);
    let req = FeaturesRequest {
        dataset: args.dataset.clone(),
        esm: find_esm(args.embedders.esm.as_deref())?,
        dnabert: find_dnabert(args.embedders.dnabert.as_deref())?,
        options: Options {
            token_budget: args.engine.token_budget(&devices[0]),
            checkpoint_every_seqs: args.engine.checkpoint_every_seqs,
            checkpoint_every,
            force_restart: args.force_restart,
            keep_checkpoints: args.keep_checkpoints,
        },
        devices,
        workers_per_device: args.engine.workers as usize,
        precision,
        hash_cache: hash_cache(),
    };
    tracing::info!(
        "features of {} with ESM-2 {} and DNABERT-S {} ({precision})",
        req.dataset.display(),
        req.esm.display(),
        req.dnabert.display()
    );
    let stop = super::signal_flag()?;
    let bar = EmbedBar::new("features", "frames", global.quiet);
    let s = extract_features(&req, &bar, &stop)?;
    tracing::info!(
        "{} frames ({} from earlier checkpoints), {} + {} features each, in {} in {:.1} s",
        s.frames,
        s.resumed,
        s.widths.0,
        s.widths.1,
        req.dataset
            .join(virnucpro_train::features::FEATURES)
            .display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
