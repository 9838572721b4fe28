//! `virnucpro bench engine`: what checkpointing costs (the same run with checkpoints every N
//! sequences and with only the final one), and how full the planned batches are.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use candle_core::Device;
use virnucpro_engine::packing::{self, Efficiency};
use virnucpro_engine::{Esm2Encoder, ModelKind, NoProgress, Options, StopFlag};
use virnucpro_models::{EmbeddingModel, Esm2, Esm2Config, EsmAlphabet, Precision};
use virnucpro_seq::synthetic;

use crate::args::BenchEngineArgs;

/// Runs the benchmark and prints its table.
pub fn run(args: BenchEngineArgs) -> Result<()> {
    let config = Esm2Config::preset(&args.shape)
        .with_context(|| format!("unknown shape '{}'", args.shape))?;
    let encoder = Esm2Encoder::new(
        ModelKind::Esm2,
        Esm2::random(config, &Device::Cpu, Precision::F32)?,
        EsmAlphabet,
        Precision::F32,
    );
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("virnucpro-bench-engine-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;
    let proteins = synthetic::proteins(args.seqs as usize, 60, 166, 7);
    let input = work.path().join("proteins.faa");
    let text: String = proteins
        .iter()
        .enumerate()
        .map(|(i, p)| format!(">p{i}\n{p}\n"))
        .collect();
    std::fs::write(&input, text)?;
    println!(
        "{} synthetic proteins (60-166 aa), ESM-2 {} with random weights on CPU, budget {} tokens",
        args.seqs, args.shape, args.budget
    );

    let timed = |name: &str, every_seqs: u64, every: Duration| -> Result<f64> {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir)?;
        let options = Options {
            token_budget: args.budget as usize,
            checkpoint_every_seqs: every_seqs,
            checkpoint_every: every,
            ..Options::default()
        };
        let started = Instant::now();
        let summary = virnucpro_engine::embed_file(
            &[&encoder],
            &input,
            &dir.join("out.h5"),
            "bench-random-weights",
            &options,
            &NoProgress,
            &StopFlag::new(),
        )?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:<28} {secs:>9.2} s  {:>6} checkpoints  {:>8.0} seqs/s",
            summary.checkpoints_written,
            args.seqs as f64 / secs
        );
        Ok(secs)
    };
    let never = Duration::from_secs(u64::MAX / 4);
    // Alternate the order so that a warm cache does not favour one side.
    let off1 = timed("checkpoints off (final)", u64::MAX, never)?;
    let on = timed(
        &format!("checkpoint every {}", args.checkpoint_every_seqs),
        args.checkpoint_every_seqs,
        never,
    )?;
    let off2 = timed("checkpoints off (again)", u64::MAX, never)?;
    let off = off1.min(off2);
    println!(
        "\ncheckpointing overhead: {:+.2} % (against the faster run without)",
        100.0 * (on / off - 1.0)
    );

    println!("\npacking efficiency (real tokens / computed slots, and batch fill):");
    for (label, min, max) in [
        ("300 bp chunks (40-100 aa)", 40, 100),
        ("500 bp chunks (60-166 aa)", 60, 166),
    ] {
        let lengths: Vec<usize> = synthetic::proteins(20_000, min, max, 11)
            .iter()
            .map(|p| EsmAlphabet.encode(p).map(|t| t.len()))
            .collect::<Result<_, _>>()?;
        let budget = args.budget as usize;
        let mut packed = Efficiency::default();
        for b in packing::first_fit_decreasing(&lengths, budget) {
            packed.add(
                &b.iter().map(|&i| lengths[i]).collect::<Vec<_>>(),
                false,
                budget,
            );
        }
        let mut padded = Efficiency::default();
        for b in packing::padded_batches(&lengths, budget) {
            padded.add(
                &b.iter().map(|&i| lengths[i]).collect::<Vec<_>>(),
                true,
                budget,
            );
        }
        println!(
            "  {label}: packed (ESM-2) {:.1} % useful, {:.1} % full; padded length-sorted (DNABERT-S style) {:.1} % useful",
            100.0 * packed.useful_fraction(),
            100.0 * packed.fill(),
            100.0 * padded.useful_fraction()
        );
    }
    Ok(())
}
