//! `virnucpro bench merge`: that `merge`'s memory does not grow with the input.
//!
//! For each size it writes three shard output directories of that many frames in all, with
//! the writer `predict` itself uses (so every file is in the real format), then runs
//! `virnucpro merge` on them in a child process and reports its wall time and peak resident
//! memory (`getrusage` of the child), with and without `--save-embeddings` shards. Making the
//! shards by running `predict` would measure nothing more of `merge` and take hours at 10^6
//! frames, nearly all of it in the models.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use virnucpro_engine::StopFlag;
use virnucpro_predict::out_dir::OutDir;
use virnucpro_predict::result_writer::{Plan, ResultWriter};
use virnucpro_predict::run_record::{write_record, RunRecord};
use virnucpro_predict::sequence_calls::{Call, SequenceRow, SequenceSink};
use virnucpro_predict::shard::ShardRecord;
use virnucpro_predict::Totals;
use virnucpro_seq::synthetic::SplitMix64;
use virnucpro_seq::Record;

use super::flow::wait_with_rusage;
use crate::args::BenchMergeArgs;

/// Shards each size is split into.
const SHARDS: u64 = 3;
/// Frames of each generated read: its forward and reverse first frames.
const FRAMES_PER_READ: u64 = 2;
/// The reads' length (one 300 bp chunk each).
const READ_LEN: usize = 300;
/// The embedding widths of the real models (DNABERT-S, ESM-2 3B).
const WIDTHS: (usize, usize) = (768, 2560);

/// Runs the benchmark and prints its table.
pub fn run(args: BenchMergeArgs) -> Result<()> {
    let parent = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("virnucpro-bench-merge-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;
    println!(
        "`virnucpro merge` of {SHARDS} shards of generated 300 bp reads ({FRAMES_PER_READ} \
         frames each), shards written by predict's own result writer"
    );
    println!(
        "\n{:>9} {:>11} {:>12} {:>10} {:>13} {:>18}",
        "frames", "embeddings", "shards MB", "merge s", "peak RSS MB", "vs smallest MB"
    );
    let modes: &[bool] = if args.no_embeddings {
        &[false]
    } else {
        &[false, true]
    };
    for &embeddings in modes {
        let mut first_rss = None;
        for &frames in &args.frames {
            let shards = write_shards(work.path(), frames, embeddings)?;
            let shard_bytes: u64 = shards.iter().map(|d| super::flow::disk_use(d)).sum();
            let out = work.path().join("merged");
            let exe = std::env::current_exe()?;
            let mut cmd = Command::new(exe);
            cmd.args(["-q", "merge"]).args(&shards).arg("-o").arg(&out);
            let started = Instant::now();
            let child = cmd.spawn().context("cannot start merge")?;
            let (ok, rss) = wait_with_rusage(child.id())?;
            let secs = started.elapsed().as_secs_f64();
            if !ok {
                bail!("merge failed on the shards of {frames} frames");
            }
            let frames = frames.div_ceil(FRAMES_PER_READ) * FRAMES_PER_READ;
            check_merged(&out, frames)?;
            let mb = rss as f64 / 1e6;
            let base = *first_rss.get_or_insert(mb);
            println!(
                "{frames:>9} {:>11} {:>12.1} {secs:>10.2} {mb:>13.1} {:>+18.1}",
                if embeddings { "yes" } else { "no" },
                shard_bytes as f64 / 1e6,
                mb - base
            );
            for dir in shards.iter().chain([&out]) {
                std::fs::remove_dir_all(dir).ok();
            }
        }
    }
    Ok(())
}

/// The merged result holds every frame.
fn check_merged(out: &Path, frames: u64) -> Result<()> {
    let record = virnucpro_predict::run_record::read_record(&OutDir::new(out).run_record())?
        .context("merge wrote no run.json")?;
    let got = record.summary.map(|s| s.frames).unwrap_or(0);
    if got != frames {
        bail!("the merged result holds {got} frames, not {frames}");
    }
    Ok(())
}

/// Writes the `SHARDS` shard directories of a run over `frames` frames (rounded up to whole
/// reads) and returns them in shard order.
fn write_shards(work: &Path, frames: u64, embeddings: bool) -> Result<Vec<PathBuf>> {
    let reads = frames.div_ceil(FRAMES_PER_READ);
    let mut rng = SplitMix64(frames ^ 0xbe4c);
    let mut dirs = Vec::new();
    for index in 0..SHARDS {
        let (start, end) = (reads * index / SHARDS, reads * (index + 1) / SHARDS);
        let dir = work.join(format!("shard_{}", index + 1));
        std::fs::create_dir_all(&dir)?;
        let layout = OutDir::new(&dir);
        let plan = Plan {
            frames: (end - start) * FRAMES_PER_READ,
            embeddings: embeddings.then_some(WIDTHS),
            ..Plan::default()
        };
        let mut writer = ResultWriter::create(&layout, &dir, &plan, StopFlag::new())?;
        let (mut dnabert, mut esm) = (vec![0f32; WIDTHS.0], vec![0f32; WIDTHS.1]);
        for n in start..end {
            let id = format!("read{n}");
            let chunk = virnucpro_seq::chunk_id(&id, 1);
            let mut best = 0f32;
            for frame in ["F1", "R1"] {
                let virus = (rng.below(1 << 20) as f32) / (1 << 20) as f32;
                best = best.max(virus);
                let embedding = if embeddings {
                    dnabert.iter_mut().for_each(|v| *v = virus);
                    esm.iter_mut().for_each(|v| *v = -virus);
                    Some((&dnabert[..], &esm[..]))
                } else {
                    None
                };
                writer.frame(&format!("{chunk}{frame}"), [1.0 - virus, virus], embedding)?;
            }
            let score = Some(best as f64);
            let call = Call::of(score, 0.5);
            let row = SequenceRow {
                id: id.clone(),
                length: READ_LEN as u64,
                chunks: 1,
                scored_chunks: 1,
                viral_chunks: u64::from(best > 1.0 - best),
                virus_score: score,
                call,
            };
            let record =
                (call == Call::Virus).then(|| Record::new(id, b"ACG".repeat(READ_LEN / 3)));
            writer.sequence(&row, record.as_ref())?;
        }
        let totals = writer.finish(|t| Ok(serde_json::json!({ "counts": t })))?;
        let record = RunRecord {
            input_fingerprint: format!("bench-merge-{frames}"),
            length: READ_LEN,
            esm_fingerprint: "bench".into(),
            dnabert_fingerprint: "bench".into(),
            classifier_fingerprint: "bench".into(),
            complete: true,
            summary: Some(Totals {
                sequences: end - start,
                chunks: end - start,
                ..totals
            }),
            shard: Some(ShardRecord {
                index: index as usize + 1,
                count: SHARDS as usize,
                start,
                end,
                total: reads,
            }),
            seconds: None,
            min_score: 0.5,
            rename_duplicates: false,
            merged_shards: None,
        };
        write_record(&layout.run_record(), &record)?;
        dirs.push(dir);
    }
    Ok(dirs)
}
