//! `virnucpro bench seq`: chunk + translate throughput beside a parse-only baseline.

use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use virnucpro_seq::synthetic::{self, SyntheticSpec};
use virnucpro_seq::{FastaReader, OutputPaths, Stages};

use crate::args::BenchSeqArgs;

/// Runs the benchmark and prints its table.
pub fn run(args: BenchSeqArgs, threads: usize) -> Result<()> {
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("virnucpro-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;
    let input = dir.path().join("synthetic.fa");
    let spec = SyntheticSpec {
        seed: 42,
        total_bases: args.megabases * 1_000_000,
        min_len: args.lengths[0].min(args.lengths[1]),
        max_len: args.lengths[0].max(args.lengths[1]),
    };
    let (records, bases) = {
        let file = std::fs::File::create(&input)
            .with_context(|| format!("cannot create {}", input.display()))?;
        let mut out = BufWriter::new(file);
        synthetic::write_fasta(spec, &mut out)?
    };
    let bytes = std::fs::metadata(&input)?.len();
    let mb = bytes as f64 / 1e6;
    println!(
        "input: {records} records, {bases} bases, {mb:.1} MB FASTA ({}..{} bp), L={}",
        spec.min_len, spec.max_len, args.length
    );

    let best = |f: &dyn Fn() -> Result<()>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..args.repeat {
            let start = Instant::now();
            f()?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let parse_only = best(&|| {
        let total: usize = FastaReader::open(&input)?
            .map(|r| r.map(|r| r.seq.len()))
            .sum::<Result<usize, _>>()?;
        anyhow::ensure!(
            total as u64 == bases,
            "parse-only read {total} of {bases} bases"
        );
        Ok(())
    })?;
    let stages = |t: usize| -> Result<f64> {
        best(&|| chunk_and_translate(&input, dir.path(), args.length as usize, t))
    };
    let single = stages(1)?;
    println!();
    println!(
        "{:<36} {:>9} {:>10} {:>14}",
        "measurement", "seconds", "MB/s", "vs parse-only"
    );
    let row = |name: &str, secs: f64| {
        println!(
            "{name:<36} {secs:>9.3} {:>10.1} {:>13.2}x",
            mb / secs,
            parse_only / secs
        )
    };
    row("parse only (needletail, 1 thread)", parse_only);
    row("chunk+translate, 1 thread", single);
    if threads > 1 {
        let multi = stages(threads)?;
        row(&format!("chunk+translate, {threads} threads"), multi);
        println!(
            "\nper core: {:.1} MB/s; {threads} threads are {:.2}x one thread",
            mb / multi / threads as f64,
            single / multi
        );
    } else {
        println!("\nper core: {:.1} MB/s", mb / single);
    }
    Ok(())
}

fn chunk_and_translate(input: &Path, dir: &Path, length: usize, threads: usize) -> Result<()> {
    let outputs = OutputPaths {
        chunked: Some(dir.join("out.chunked.fa")),
        nucleotide: Some(dir.join("out.fna")),
        protein: Some(dir.join("out.faa")),
    };
    virnucpro_seq::run(
        Stages::ChunkAndTranslate { length },
        FastaReader::open(input)?,
        &outputs,
        threads,
    )?;
    Ok(())
}
