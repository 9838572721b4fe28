//! `virnucpro bench`: speed on generated data, always beside a baseline run in the same command.

mod engine;
mod esm2;
mod seq;

use anyhow::Result;

use crate::args::{BenchArgs, BenchTarget};

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs, threads: usize) -> Result<()> {
    match args.target {
        BenchTarget::Seq(a) => seq::run(a, threads),
        BenchTarget::Esm2(a) => esm2::run(a),
        BenchTarget::Engine(a) => engine::run(a),
    }
}

/// Peak resident memory of this process so far, in bytes (Linux; 0 elsewhere).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
