//! `virnucpro bench flow`: what the prediction flow itself costs, and that its memory and disk
//! do not grow with the input.
//!
//! The whole `virnucpro predict` runs, each size in a child process of its own, on generated
//! 300 bp reads with generated random-weight models of the real output widths (ESM-2 2560,
//! DNABERT-S 768, classifier 3328 -> 512 -> 2) but no transformer layer, so that nearly all the
//! time is the flow: reading, chunking, translating, tokenising, packing, checkpointing,
//! classifying and writing. Per size it reports the wall time, the time inside the models'
//! forward calls, the flow's frames/s without it, the CPU time of everything but the models
//! (exact even on one shared core), the peak resident memory (`getrusage` of the child) and the
//! peak disk use of the output directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use virnucpro_seq::synthetic::SplitMix64;
use virnucpro_seq::SixFrames;

use crate::args::BenchFlowArgs;

/// The demo DNABERT-S tokenizer (a small BPE vocabulary in the real format).
const TOKENIZER: &str = include_str!("../../../../../examples/models/dnabert_demo/tokenizer.json");

/// Runs the benchmark and prints its table.
pub fn run(args: BenchFlowArgs) -> Result<()> {
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("virnucpro-bench-flow-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;
    let models = write_models(work.path())?;
    let pin = pin_command().map(|taskset| (taskset, args.core));
    println!(
        "whole `predict` on generated 300 bp reads (L=300), random-weight models of the real \
         widths with 0 transformer layers, 1 thread{}",
        match &pin {
            Some((_, core)) => format!(", pinned to core {core}"),
            None => " (taskset not found: not pinned)".to_string(),
        }
    );
    println!(
        "\n{:>9} {:>9} {:>10} {:>12} {:>14} {:>11} {:>13} {:>13} {:>14} {:>12}",
        "frames",
        "wall s",
        "forward s",
        "wall-fwd s",
        "frames/s",
        "flow CPU s",
        "CPU frames/s",
        "peak RSS MB",
        "peak disk MB",
        "results MB"
    );
    let mut first_rss = None;
    for &frames in &args.frames {
        let reads = work.path().join(format!("reads_{frames}.fa"));
        write_reads(&reads, frames)?;
        let out = work.path().join(format!("out_{frames}"));
        let m = measure(&pin, 1, &reads, &out, &models)?;
        if m.frames != frames {
            bail!(
                "{frames} frames were generated but predict found {}",
                m.frames
            );
        }
        let flow = (m.wall - m.forward).max(1e-9);
        println!(
            "{frames:>9} {:>9.2} {:>10.2} {:>12.2} {:>14.0} {:>11.2} {:>13.0} {:>13.1} {:>14.2} {:>12.2}",
            m.wall,
            m.forward,
            flow,
            frames as f64 / flow,
            m.flow_cpu,
            frames as f64 / m.flow_cpu.max(1e-9),
            m.peak_rss as f64 / 1e6,
            m.peak_disk as f64 / 1e6,
            m.results as f64 / 1e6
        );
        let rss = m.peak_rss as f64 / 1e6;
        let base = *first_rss.get_or_insert(rss);
        if frames != args.frames[0] {
            println!(
                "{:>9} peak RSS {:+.1} MB against {} frames; peak disk {:.0} bytes per frame",
                "",
                rss - base,
                args.frames[0],
                m.peak_disk as f64 / frames as f64
            );
        }
        std::fs::remove_file(&reads).ok();
        std::fs::remove_dir_all(&out).ok();
    }
    Ok(())
}

/// The three model paths.
pub(super) struct Models {
    pub esm: PathBuf,
    pub dnabert: PathBuf,
    classifier: PathBuf,
}

fn randn(shape: &[usize], std: f64) -> Result<Tensor> {
    Ok(Tensor::randn(0f32, std as f32, shape, &Device::Cpu)?)
}

fn ones(n: usize) -> Result<Tensor> {
    Ok(Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?)
}

fn zeros(n: usize) -> Result<Tensor> {
    Ok(Tensor::zeros(n, candle_core::DType::F32, &Device::Cpu)?)
}

fn save(tensors: Vec<(&str, Tensor)>, path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    candle_core::safetensors::save(&map, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The real models' widths: ESM-2 3B and DNABERT-S.
pub(super) const REAL_WIDTHS: (usize, usize) = (2560, 768);

/// Writes ESM-2 (2560 wide), DNABERT-S (768 wide) and the classifier (3328 -> 512 -> 2), all
/// with random weights and no transformer layer, in their real file formats.
pub(super) fn write_models(dir: &Path) -> Result<Models> {
    write_models_of(dir, REAL_WIDTHS)
}

/// [`write_models`] with ESM-2 and DNABERT-S `(esm, dnabert)` wide (any width: with no layer
/// the head count, one, never divides anything).
pub(super) fn write_models_of(dir: &Path, (esm_w, dna_w): (usize, usize)) -> Result<Models> {
    let esm = dir.join("esm2");
    std::fs::create_dir_all(&esm)?;
    std::fs::write(
        esm.join("config.json"),
        serde_json::json!({
            "architectures": ["EsmForMaskedLM"], "model_type": "esm", "hidden_size": esm_w,
            "num_hidden_layers": 0, "num_attention_heads": 1, "intermediate_size": 4 * esm_w,
            "hidden_act": "gelu", "layer_norm_eps": 1e-5, "position_embedding_type": "rotary",
            "token_dropout": true, "emb_layer_norm_before": false, "mask_token_id": 32,
            "pad_token_id": 1, "vocab_size": 33, "max_position_embeddings": 1026
        })
        .to_string(),
    )?;
    save(
        vec![
            (
                "embeddings.word_embeddings.weight",
                randn(&[33, esm_w], 0.5)?,
            ),
            ("encoder.emb_layer_norm_after.weight", ones(esm_w)?),
            ("encoder.emb_layer_norm_after.bias", zeros(esm_w)?),
        ],
        &esm.join("model.safetensors"),
    )?;

    let dnabert = dir.join("dnabert");
    std::fs::create_dir_all(&dnabert)?;
    let vocab = serde_json::from_str::<serde_json::Value>(TOKENIZER)?["model"]["vocab"]
        .as_object()
        .map(|v| v.len())
        .context("the demo tokenizer has no vocabulary")?;
    std::fs::write(
        dnabert.join("config.json"),
        serde_json::json!({
            "architectures": ["BertModel"], "model_type": "bert", "hidden_size": dna_w,
            "num_hidden_layers": 0, "num_attention_heads": 1, "intermediate_size": 4 * dna_w,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12, "vocab_size": vocab,
            "type_vocab_size": 2, "pad_token_id": 0
        })
        .to_string(),
    )?;
    std::fs::write(dnabert.join("tokenizer.json"), TOKENIZER)?;
    save(
        vec![
            (
                "embeddings.word_embeddings.weight",
                randn(&[vocab, dna_w], 0.5)?,
            ),
            (
                "embeddings.token_type_embeddings.weight",
                randn(&[2, dna_w], 0.5)?,
            ),
            ("embeddings.LayerNorm.weight", ones(dna_w)?),
            ("embeddings.LayerNorm.bias", zeros(dna_w)?),
        ],
        &dnabert.join("model.safetensors"),
    )?;

    let classifier = dir.join("300_model.safetensors");
    save(
        vec![
            ("hidden_layer.weight", randn(&[512, esm_w + dna_w], 0.02)?),
            ("hidden_layer.bias", zeros(512)?),
            ("bn1.weight", ones(512)?),
            ("bn1.bias", zeros(512)?),
            ("bn1.running_mean", zeros(512)?),
            ("bn1.running_var", ones(512)?),
            ("output_layer.weight", randn(&[2, 512], 0.05)?),
            ("output_layer.bias", zeros(2)?),
        ],
        &classifier,
    )?;
    Ok(Models {
        esm,
        dnabert,
        classifier,
    })
}

/// Writes 300 bp reads until they hold exactly `frames` kept frames: open reading frames of
/// sense codons (each keeps at least its F1 frame), the frames of each counted as `predict`
/// will count them.
pub(super) fn write_reads(path: &Path, frames: u64) -> Result<()> {
    write_reads_named(path, frames, "read")
}

/// [`write_reads`] with ids `<prefix><n>` (two files of reads that must not share ids).
pub(super) fn write_reads_named(path: &Path, frames: u64, prefix: &str) -> Result<()> {
    const SENSE: &[u8] = b"ACGT";
    let mut rng = SplitMix64(frames ^ 0x5eed);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut six = SixFrames::new();
    let (mut kept, mut n) = (0u64, 0u64);
    let mut seq = Vec::with_capacity(300);
    while kept < frames {
        seq.clear();
        while seq.len() < 300 {
            let codon = [
                SENSE[rng.below(4) as usize],
                SENSE[rng.below(4) as usize],
                SENSE[rng.below(4) as usize],
            ];
            if matches!(&codon, b"TAA" | b"TAG" | b"TGA") {
                continue;
            }
            seq.extend_from_slice(&codon);
        }
        let mut here = 0;
        six.for_each_kept(&seq, |_| here += 1);
        if kept + here > frames {
            continue; // a read with fewer frames will fit
        }
        kept += here;
        n += 1;
        writeln!(out, ">{prefix}{n}")?;
        out.write_all(&seq)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `taskset`, when there is one, to pin the child to one core.
fn pin_command() -> Option<PathBuf> {
    ["/usr/bin/taskset", "/bin/taskset"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// One size's figures.
pub(super) struct Measured {
    pub frames: u64,
    pub wall: f64,
    forward: f64,
    flow_cpu: f64,
    peak_rss: u64,
    peak_disk: u64,
    /// Bytes of the output directory once the run ended: the result files alone.
    results: u64,
}

/// Bytes of every file under `dir`.
pub(super) fn disk_use(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_use(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(super) fn measure(
    pin: &Option<(PathBuf, usize)>,
    threads: usize,
    reads: &Path,
    out: &Path,
    models: &Models,
) -> Result<Measured> {
    let exe = std::env::current_exe()?;
    let mut cmd = match pin {
        Some((taskset, core)) => {
            let mut c = Command::new(taskset);
            c.args(["-c", &core.to_string()]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args(["-q", "-t", &threads.to_string(), "predict"])
        .env_remove("RAYON_NUM_THREADS")
        .arg(reads)
        .args(["-L", "300", "--device", "cpu", "-o"])
        .arg(out)
        .arg("--esm")
        .arg(&models.esm)
        .arg("--dnabert")
        .arg(&models.dnabert)
        .arg("--classifier")
        .arg(&models.classifier);
    let peak_disk = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let (status, rusage) = std::thread::scope(|scope| -> Result<_> {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                peak_disk.fetch_max(disk_use(out), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let child = cmd.spawn().context("cannot start predict")?;
        let waited = wait_with_rusage(child.id());
        done.store(true, Ordering::SeqCst);
        waited
    })?;
    let wall_outside = started.elapsed().as_secs_f64();
    if !status {
        bail!("predict failed on {}", reads.display());
    }
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json"))?)?;
    let frames = record["summary"]["frames"]
        .as_u64()
        .context("run.json: no summary")?;
    let wall = record["seconds"]["wall"].as_f64().unwrap_or(wall_outside);
    let forward = record["seconds"]["forward"].as_f64().unwrap_or(0.0);
    let flow_cpu = record["seconds"]["flow_cpu"].as_f64().unwrap_or(0.0);
    Ok(Measured {
        frames,
        wall,
        forward,
        flow_cpu,
        peak_rss: rusage,
        peak_disk: peak_disk.load(Ordering::SeqCst),
        results: disk_use(out),
    })
}

/// Waits for the child `pid`; its success and its peak resident memory in bytes.
pub(super) fn wait_with_rusage(pid: u32) -> Result<(bool, u64)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our own unwaited child.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut rusage) };
    if r < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux reports ru_maxrss in KiB.
    Ok((ok, rusage.ru_maxrss as u64 * 1024))
}
