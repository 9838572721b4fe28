//! `virnucpro bench threads`: what asking for more threads than CPUs costs.
//!
//! The whole `predict` runs on one generated input with `-t` of 1, the CPUs this process may
//! use, 4x and 64x that, each in a child process, and the table gives each wall time against
//! the CPUs' figure. Threads beyond the CPUs are capped at them (with a warning), so the 4x
//! and 64x runs must take about as long as the CPUs' run; before the cap, 64x took 6x longer
//! and slowed every other process on the machine.

use anyhow::{bail, Result};

use super::flow::{measure, write_models, write_reads};
use crate::args::BenchThreadsArgs;

/// Runs the benchmark and prints its table.
pub fn run(args: BenchThreadsArgs) -> Result<()> {
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("virnucpro-bench-threads-")
        .tempdir_in(&parent)?;
    let models = write_models(work.path())?;
    let reads = work.path().join("reads.fa");
    write_reads(&reads, args.frames)?;
    let cpus = crate::args::usable_cpus();
    println!(
        "whole `predict` on {} generated 300 bp frames, random-weight models of the real widths \
         with 0 transformer layers; this process may use {cpus} CPUs",
        args.frames
    );
    println!("\n{:>6} {:>9} {:>16}", "-t", "wall s", "vs -t CPUs");
    let mut counts = vec![1, cpus, 4 * cpus, 64 * cpus];
    counts.dedup();
    let mut rows = Vec::new();
    for &t in &counts {
        let out = work.path().join(format!("out_t{t}"));
        let m = measure(
            &None,
            t.min(crate::args::MAX_THREADS),
            &reads,
            &out,
            &models,
        )?;
        if m.frames != args.frames {
            bail!(
                "{} frames were generated but predict found {}",
                args.frames,
                m.frames
            );
        }
        std::fs::remove_dir_all(&out).ok();
        rows.push((t, m.wall));
    }
    let base = rows
        .iter()
        .find(|(t, _)| *t == cpus)
        .map_or(1.0, |(_, w)| *w);
    for (t, wall) in rows {
        println!("{t:>6} {wall:>9.2} {:>15.2}x", wall / base.max(1e-9));
    }
    Ok(())
}
