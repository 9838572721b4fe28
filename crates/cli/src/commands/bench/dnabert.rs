//! `virnucpro bench dnabert`: DNABERT-S (117M, random weights) throughput on padded,
//! length-sorted batches of 500 bp-like token sequences, beside `scripts/torch_dnabert_ref.py`
//! (the same network in plain PyTorch) for a ratio.

use std::time::Instant;

use anyhow::Result;
use virnucpro_models::{device_memory, Dnabert, DnabertConfig, EmbeddingModel, PaddedBatch};

use crate::args::BenchDnabertArgs;

/// Runs the benchmark and prints its table.
pub fn run(args: BenchDnabertArgs) -> Result<()> {
    let (device, precision) = super::device_and_precision(&args.run)?;
    let config = DnabertConfig::dnabert_s();
    let params = config.layer_parameters();
    let model = Dnabert::random(config, &device, precision)?;
    println!(
        "DNABERT-S (12 layers, hidden 768, {:.1} M layer parameters, random weights), {precision} on {}",
        params as f64 / 1e6,
        args.run.device
    );

    // Token sequences like DNABERT-S's BPE gives for 500 bp chunks: [CLS] ... [SEP].
    let (lo, hi) = (
        args.tokens[0].min(args.tokens[1]).max(3),
        args.tokens[0].max(args.tokens[1]).max(3),
    );
    let mut rng = virnucpro_seq::synthetic::SplitMix64(11);
    let seqs: Vec<Vec<u32>> = (0..args.seqs)
        .map(|_| {
            let len = lo + rng.below((hi - lo + 1) as u64) as usize;
            let mut t = vec![1u32];
            t.extend((0..len - 2).map(|_| 5 + rng.below(4091) as u32));
            t.push(2);
            t
        })
        .collect();
    let lengths: Vec<usize> = seqs.iter().map(Vec::len).collect();
    let plan = virnucpro_engine::packing::padded_batches(&lengths, args.budget as usize);
    let batches: Vec<PaddedBatch> = plan
        .iter()
        .map(|b| {
            let rows: Vec<&[u32]> = b.iter().map(|&i| seqs[i].as_slice()).collect();
            PaddedBatch::new(&rows, 0)
        })
        .collect::<Result<_, _>>()?;
    let real: usize = lengths.iter().sum();
    let padded: usize = plan
        .iter()
        .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0))
        .sum();

    for batch in batches.iter().take(2) {
        model.embed_padded(batch)?.to_vec2::<f32>()?;
    }
    let mut peak_used = 0u64;
    let started = Instant::now();
    for batch in &batches {
        model.embed_padded(batch)?.to_vec2::<f32>()?;
        if let Some((used, _)) = device_memory(&device) {
            peak_used = peak_used.max(used);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let tps = real as f64 / seconds;
    if let Some((_, total)) = device_memory(&device) {
        println!(
            "GPU memory in use (driver view, sampled after each batch): peak {:.2} GB of {:.2} GB",
            peak_used as f64 / 1e9,
            total as f64 / 1e9
        );
    }
    println!(
        "{} sequences of {lo}-{hi} tokens in {} padded batches (budget {}, {:.1} % padding)",
        args.seqs,
        batches.len(),
        args.budget,
        100.0 * (1.0 - real as f64 / padded.max(1) as f64)
    );
    let table = super::Table {
        seqs: args.seqs,
        params,
    };
    table.header();
    table.row("virnucpro (candle, padded)", seconds, tps);
    table.peak_share(args.run.peak_tflops, tps);
    table.torch_row(
        &args.run,
        &[
            "--seqs".into(),
            args.seqs.to_string(),
            "--min-tokens".into(),
            lo.to_string(),
            "--max-tokens".into(),
            hi.to_string(),
            "--budget".into(),
            args.budget.to_string(),
            "--dtype".into(),
            precision.name().into(),
            "--device".into(),
            super::torch_device(&device).into(),
        ],
        tps,
    )
}
