//! `virnucpro bench esm2`: ESM-2 embedding throughput with random weights, on the workload of
//! `torch_esm_ref.py` (the PyTorch reference), which it can run beside itself for a ratio.

use std::time::Instant;

use anyhow::{Context, Result};
use virnucpro_models::{
    device_memory, EmbeddingModel, Esm2, Esm2Config, EsmAlphabet, PackedBatch, PaddedBatch,
};
use virnucpro_seq::synthetic;

use crate::args::BenchEsm2Args;

/// Runs the benchmark and prints its table.
pub fn run(args: BenchEsm2Args) -> Result<()> {
    let config = Esm2Config::preset(&args.shape).with_context(|| {
        format!(
            "unknown shape '{}'; use tiny, 8M, 35M, 150M, 650M, 3B or 15B",
            args.shape
        )
    })?;
    let (device, precision) = super::device_and_precision(&args.run)?;
    if args.cpu_workers > 1 {
        // Each worker runs its operations on one thread; candle reads this when it first builds
        // its thread pools, which happens below. No other thread exists yet.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let params = config.layer_parameters();
    let model = match &args.model_file {
        None => {
            let started = Instant::now();
            let model = Esm2::random(config.clone(), &device, precision)?;
            println!(
                "ESM-2 {} ({} layers, hidden {}, {:.1} M layer parameters), {precision} on {}: \
                 built with random weights in {:.1} s",
                args.shape,
                config.num_hidden_layers,
                config.hidden_size,
                params as f64 / 1e6,
                args.run.device,
                started.elapsed().as_secs_f64()
            );
            model
        }
        Some(dir) => {
            if !dir.join("model.safetensors").is_file() {
                let started = Instant::now();
                let bytes = super::model_file::write_esm2(dir, &config)?;
                println!(
                    "wrote a random-weight ESM-2 {} to {} ({:.2} GB, fp32) in {:.1} s",
                    args.shape,
                    dir.display(),
                    bytes as f64 / 1e9,
                    started.elapsed().as_secs_f64()
                );
            }
            // The load's own peak, not the writer's.
            super::reset_peak_rss();
            let started = Instant::now();
            let model = Esm2::load(dir, &device, precision)?;
            let loaded = model.config();
            if (loaded.num_hidden_layers, loaded.hidden_size)
                != (config.num_hidden_layers, config.hidden_size)
            {
                anyhow::bail!(
                    "{} holds an ESM-2 of {} layers of width {}, not the {} shape; give the \
                     --shape it was written with, or another --model-file directory",
                    dir.display(),
                    loaded.num_hidden_layers,
                    loaded.hidden_size,
                    args.shape
                );
            }
            println!(
                "ESM-2 from {} ({} layers, hidden {}), {precision} on {}: loaded in {:.1} s",
                dir.display(),
                loaded.num_hidden_layers,
                loaded.hidden_size,
                args.run.device,
                started.elapsed().as_secs_f64()
            );
            model
        }
    };
    let weight_bytes =
        (params + config.vocab_size * config.hidden_size) * precision.dtype().size_in_bytes();
    if device.is_cpu() {
        let rss = super::peak_rss_bytes();
        println!(
            "weights {:.2} GB, peak resident memory after building or loading {:.2} GB ({:.2}x the weights)",
            weight_bytes as f64 / 1e9,
            rss as f64 / 1e9,
            rss as f64 / weight_bytes as f64
        );
    }
    if args.build_only {
        return Ok(());
    }

    let (min, max) = (
        args.lengths[0].min(args.lengths[1]),
        args.lengths[0].max(args.lengths[1]),
    );
    let proteins = synthetic::proteins(args.seqs as usize, min, max, 0);
    let tokens: Vec<Vec<u32>> = proteins
        .iter()
        .map(|p| EsmAlphabet.encode(p))
        .collect::<Result<_, _>>()?;
    let groups = sorted_groups(&tokens, args.budget as usize);
    let batches: Vec<PackedBatch> = groups
        .iter()
        .map(|g| PackedBatch::new(g).expect("non-empty batch"))
        .collect();
    let real_tokens: usize = tokens.iter().map(Vec::len).sum();

    // Warm-up on the first batches, then the timed pass over all of them.
    for batch in batches.iter().take(2) {
        model.embed_packed(batch)?.to_vec2::<f32>()?;
    }
    let mut peak_used = 0u64;
    let started = Instant::now();
    let workers = args.cpu_workers as usize;
    if workers > 1 {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
                        pool.install(|| -> Result<()> {
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(batch) = batches.get(i) else {
                                    return Ok(());
                                };
                                model.embed_packed(batch)?.to_vec2::<f32>()?;
                            }
                        })
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("worker thread")?;
            }
            Ok(())
        })?;
    } else {
        for batch in &batches {
            // Copying the pooled rows back to the host is part of the job (and waits for the GPU).
            model.embed_packed(batch)?.to_vec2::<f32>()?;
            if let Some((used, _)) = device_memory(&device) {
                peak_used = peak_used.max(used);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if device.is_cpu() {
        let rss = super::peak_rss_bytes();
        println!(
            "peak resident memory, loading and running: {:.2} GB ({:.2}x the weights)",
            rss as f64 / 1e9,
            rss as f64 / weight_bytes as f64
        );
    }
    if let Some((_, total)) = device_memory(&device) {
        println!(
            "GPU memory in use (driver view, sampled after each batch): peak {:.2} GB of {:.2} GB \
             (budget {} tokens)",
            peak_used as f64 / 1e9,
            total as f64 / 1e9,
            args.budget
        );
    }
    let ours_tps = real_tokens as f64 / seconds;
    let table = super::Table {
        seqs: args.seqs,
        params,
    };
    table.header();
    table.row("virnucpro (candle, packed, no padding)", seconds, ours_tps);
    table.peak_share(args.run.peak_tflops, ours_tps);
    if args.with_padded {
        let padded: Vec<PaddedBatch> = groups
            .iter()
            .map(|g| PaddedBatch::new(g, EsmAlphabet::PAD).expect("non-empty batch"))
            .collect();
        let started = Instant::now();
        for batch in &padded {
            model.embed_padded(batch)?.to_vec2::<f32>()?;
        }
        let secs = started.elapsed().as_secs_f64();
        table.row(
            "virnucpro (candle, padded)",
            secs,
            real_tokens as f64 / secs,
        );
    }

    table.torch_row(
        &args.run,
        &[
            "--model".into(),
            args.shape.clone(),
            "--seqs".into(),
            args.seqs.to_string(),
            "--min-len".into(),
            args.lengths[0].to_string(),
            "--max-len".into(),
            args.lengths[1].to_string(),
            "--budget".into(),
            args.budget.to_string(),
            "--dtype".into(),
            precision.name().into(),
            "--device".into(),
            super::torch_device(&device).into(),
        ],
        ours_tps,
    )
}

/// Length-sorted groups of at most `budget` tokens (the engine's packer does better; this is
/// the plain recipe both implementations get here).
fn sorted_groups(tokens: &[Vec<u32>], budget: usize) -> Vec<Vec<&[u32]>> {
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    order.sort_by_key(|&i| tokens[i].len());
    let mut groups = Vec::new();
    let mut current: Vec<&[u32]> = Vec::new();
    let mut used = 0;
    for i in order {
        let len = tokens[i].len();
        if !current.is_empty() && used + len > budget {
            groups.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(&tokens[i]);
        used += len;
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}
