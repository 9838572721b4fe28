//! `virnucpro bench`: speed on generated data, always beside a baseline run in the same command.

mod dnabert;
mod engine;
mod esm2;
mod flow;
mod merge;
mod model_file;
mod seq;
mod threads;
mod training;

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
        BenchTarget::Flow(a) => flow::run(a),
        BenchTarget::Merge(a) => merge::run(a),
        BenchTarget::Threads(a) => threads::run(a),
        BenchTarget::Training(a) => training::run(a),
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

/// Starts the peak-resident-memory count again from what is resident now (Linux's
/// `clear_refs` 5), so a measurement does not include an earlier phase's peak; whether it could.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
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

/// The throughput table both model benchmarks print: one row per implementation.
pub struct Table {
    /// Sequences in the workload.
    pub seqs: u64,
    /// Layer parameters (2 FLOPs each per token).
    pub params: usize,
}

impl Table {
    /// Prints the header.
    pub fn header(&self) {
        println!(
            "\n{:<44} {:>9} {:>12} {:>10} {:>10}",
            "implementation", "seconds", "tokens/s", "seqs/s", "TFLOP/s"
        );
    }

    /// Prints one implementation's row.
    pub fn row(&self, name: &str, seconds: f64, tokens_per_s: f64) {
        println!(
            "{name:<44} {seconds:>9.2} {tokens_per_s:>12.0} {:>10.1} {:>10.3}",
            self.seqs as f64 / seconds,
            self.tflops(tokens_per_s)
        );
    }

    /// Effective model TFLOP/s at a throughput.
    pub fn tflops(&self, tokens_per_s: f64) -> f64 {
        2.0 * self.params as f64 * tokens_per_s / 1e12
    }

    /// Prints the share of the matrix peak reached, when the peak is known.
    pub fn peak_share(&self, peak_tflops: Option<f64>, tokens_per_s: f64) {
        if let Some(peak) = peak_tflops {
            println!(
                "effective model FLOP/s: {:.1} % of the {peak} TFLOP/s matrix peak",
                100.0 * self.tflops(tokens_per_s) / peak
            );
        }
    }

    /// Runs the PyTorch reference (when asked), prints its row and the ratio.
    pub fn torch_row(
        &self,
        run: &crate::args::BenchDeviceArgs,
        args: &[String],
        ours_tokens_per_s: f64,
    ) -> Result<()> {
        let Some(script) = &run.torch_ref else {
            return Ok(());
        };
        let torch = run_python(&run.python, script, args)?;
        let tps = torch["tokens_per_s"]
            .as_f64()
            .context("torch: no tokens_per_s")?;
        self.row(
            &format!("{:.44}", torch["impl"].as_str().unwrap_or("pytorch")),
            torch["seconds"].as_f64().unwrap_or(0.0),
            tps,
        );
        println!(
            "\nvirnucpro / PyTorch tokens per second: {:.2}x (padding in the PyTorch batches: {:.1} %)",
            ours_tokens_per_s / tps,
            torch["padding_fraction"].as_f64().unwrap_or(0.0) * 100.0
        );
        Ok(())
    }
}

/// Device and precision of a model benchmark.
pub fn device_and_precision(
    run: &crate::args::BenchDeviceArgs,
) -> Result<(candle_core::Device, Precision)> {
    let device = run.device.open_one()?;
    let precision = run.precision.resolve(&device);
    Ok((device, precision))
}

/// `cuda` or `cpu`, as the PyTorch scripts take it.
pub fn torch_device(device: &candle_core::Device) -> &'static str {
    if device.is_cpu() {
        "cpu"
    } else {
        "cuda"
    }
}
