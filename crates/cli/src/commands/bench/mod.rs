//! `virnucpro bench`: speed on generated data, always beside a baseline run in the same command.

mod dnabert;
mod engine;
mod esm2;
mod seq;

use anyhow::{bail, Context, Result};
use virnucpro_models::Precision;

use crate::args::{BenchArgs, BenchTarget};

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs, threads: usize) -> Result<()> {
    match args.target {
        BenchTarget::Seq(a) => seq::run(a, threads),
        BenchTarget::Esm2(a) => esm2::run(a),
        BenchTarget::Dnabert(a) => dnabert::run(a),
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

/// The `--dtype` value the PyTorch reference scripts take for a precision.
pub fn dtype_flag(precision: Precision) -> &'static str {
    match precision {
        Precision::F32 => "fp32",
        Precision::F16 => "fp16",
        Precision::BF16 => "bf16",
    }
}

/// Runs a PyTorch reference script with `args` plus `--json FILE` and returns that JSON.
pub fn run_python(
    python: &str,
    script: &std::path::Path,
    args: &[String],
) -> Result<serde_json::Value> {
    let out = tempfile::NamedTempFile::new()?;
    let status = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .arg("--json")
        .arg(out.path())
        .status()
        .with_context(|| format!("cannot run {python} {}", script.display()))?;
    if !status.success() {
        bail!("the PyTorch reference failed ({status}); is torch installed for {python}?");
    }
    let text = std::fs::read_to_string(out.path())?;
    Ok(serde_json::from_str(&text)?)
}
