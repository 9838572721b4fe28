//! `virnucpro models check`: where each model is found, its size and fingerprint.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use virnucpro_predict::locate;

use crate::args::{GlobalArgs, ModelsCheckArgs, ModelsFetchArgs};

fn size_of(path: &Path) -> u64 {
    if path.is_file() {
        return path.metadata().map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(path)
        .map(|d| d.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

/// Prints one model's line; returns whether it was found.
fn report(name: &str, found: virnucpro_predict::Result<PathBuf>) -> bool {
    match found {
        Ok(p) => {
            let fp = virnucpro_engine::fingerprint::model_fingerprint(
                &p,
                &virnucpro_predict::locate::hash_cache(),
            )
            .map(|f| f[..16].to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
            println!(
                "{name:<11} {}  ({:.1} MB, fingerprint {fp})",
                p.display(),
                size_of(&p) as f64 / 1e6
            );
            true
        }
        Err(e) => {
            println!("{name:<11} MISSING: {e}");
            false
        }
    }
}

/// Looks each model up as `predict` would and reports it; fails if any is missing.
pub fn check(args: ModelsCheckArgs) -> Result<()> {
    let length = args.length.bases();
    let found = [
        report("ESM-2", locate::find_esm(args.esm.as_deref())),
        report("DNABERT-S", locate::find_dnabert(args.dnabert.as_deref())),
        report(
            "classifier",
            locate::find_classifier(args.classifier.as_deref(), length),
        ),
    ];
    let missing = found.iter().filter(|f| !**f).count();
    if missing > 0 {
        bail!("{missing} model(s) missing; see above");
    }
    Ok(())
}

/// Downloads the models `predict` needs.
pub fn fetch(args: ModelsFetchArgs, global: &GlobalArgs) -> Result<()> {
    let lengths: Vec<usize> = args.length.iter().map(|l| l.bases()).collect();
    tracing::info!(
        "fetching ESM-2 3B (about 11 GB), DNABERT-S and the classifiers; this takes a while"
    );
    for f in virnucpro_predict::fetch::fetch(&lengths, !global.quiet)? {
        println!("{:<14} {}", f.what, f.path.display());
    }
    Ok(())
}
