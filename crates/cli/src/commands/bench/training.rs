//! `virnucpro bench training`: that making a training set and its features does not grow in
//! memory with the number of frames.
//!
//! Per size it writes generated 300 bp reads (as FASTA, half viral, half host, with exactly
//! that many stop-free frames) and small random-weight models with no transformer layer, then
//! runs `virnucpro dataset` and `virnucpro features` in child processes and reports each one's
//! wall time and peak resident memory (`getrusage` of the child).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::flow::{wait_with_rusage, write_models_of, write_reads_named};
use crate::args::BenchTrainingArgs;

/// Widths of the generated ESM-2 and DNABERT-S: small, so the time is the flow's.
const WIDTHS: (usize, usize) = (32, 32);

/// Runs the benchmark and prints its table.
pub fn run(args: BenchTrainingArgs) -> Result<()> {
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("virnucpro-bench-training-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;
    let models = write_models_of(work.path(), WIDTHS)?;
    println!(
        "`virnucpro dataset` (-L 300, --no-balance) and `virnucpro features` on generated 300 bp \
         reads (FASTA, half viral, half host), random {} + {} wide models with 0 layers, 1 thread",
        WIDTHS.0, WIDTHS.1
    );
    println!(
        "\n{:>9} {:>11} {:>15} {:>12} {:>16} {:>17}",
        "frames", "dataset s", "dataset RSS MB", "features s", "features RSS MB", "vs smallest MB"
    );
    let mut first = None;
    for &frames in &args.frames {
        let viral = work.path().join("viral.fa");
        let host = work.path().join("host.fa");
        write_reads_named(&viral, frames / 2, "viral")?;
        write_reads_named(&host, frames - frames / 2, "host")?;
        let set = work.path().join(format!("set_{frames}"));
        let (dataset_s, dataset_rss) = child(|c| {
            c.args(["dataset", "-L", "300", "--no-balance", "-o"])
                .arg(&set)
                .arg("--viral")
                .arg(&viral)
                .arg("--host")
                .arg(format!("host={}", host.display()));
        })?;
        let (features_s, features_rss) = child(|c| {
            c.arg("features")
                .arg(&set)
                .args(["--device", "cpu", "--esm"])
                .arg(&models.esm)
                .arg("--dnabert")
                .arg(&models.dnabert);
        })?;
        check(&set, frames)?;
        let (d, f) = (dataset_rss as f64 / 1e6, features_rss as f64 / 1e6);
        let base = *first.get_or_insert((d, f));
        println!(
            "{frames:>9} {dataset_s:>11.2} {d:>15.1} {features_s:>12.2} {f:>16.1} {:>17}",
            format!("{:+.1} / {:+.1}", d - base.0, f - base.1)
        );
        std::fs::remove_dir_all(&set).ok();
    }
    Ok(())
}

/// Runs `virnucpro -q -t 1 ...` as set up by `args`; its wall seconds and peak RSS.
fn child(args: impl FnOnce(&mut Command)) -> Result<(f64, u64)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["-q", "-t", "1"]).env_remove("RAYON_NUM_THREADS");
    args(&mut cmd);
    let started = Instant::now();
    let child = cmd.spawn().context("cannot start virnucpro")?;
    let (ok, rss) = wait_with_rusage(child.id())?;
    if !ok {
        bail!("{cmd:?} failed");
    }
    Ok((started.elapsed().as_secs_f64(), rss))
}

/// The set holds every frame, with features.
fn check(set: &Path, frames: u64) -> Result<()> {
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("features.json"))?)?;
    if record["frames"].as_u64() != Some(frames) {
        bail!(
            "features.json counts {} frames, not {frames}",
            record["frames"]
        );
    }
    Ok(())
}
