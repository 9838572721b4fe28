//! The embedding run: FASTA in, one embedding per sequence out, in input order, resumable.
//!
//! Three stages run at once, joined by bounded channels: a feeder thread reads the input,
//! tokenises and plans batches under the token budget; one worker thread per model copy (one
//! per GPU, or `--workers N` on the CPU) pulls batches from the shared queue and runs the model;
//! a writer thread collects results and writes each worker's checkpoints in the background.
//! The model never waits on disk. On success the checkpoints are merged into the output in input
//! order, every sequence checked to be there exactly once, and removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Device;
use crossbeam_channel::bounded;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use virnucpro_seq::FastaReader;
use xxhash_rust::xxh3::Xxh3;

use crate::checkpoint::{self, Metadata, Rows, Trigger};
use crate::checkpoint_writer::CheckpointWriter;
use crate::encoder::Encoder;
use crate::error::{EngineError, Result};
use crate::model::{Embedding, Item, Model, Tokens};
use crate::output;
use crate::packing::{self, Efficiency};
use crate::progress::Progress;
use crate::stop::StopFlag;
use crate::worker::{self, Job, Queue, WorkerReport};

/// How a run batches and checkpoints.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tokens per batch (padding included for padded models).
    pub token_budget: usize,
    /// Write a checkpoint after this many new sequences...
    pub checkpoint_every_seqs: u64,
    /// ...or this much time, whichever comes first.
    pub checkpoint_every: Duration,
    /// Discard existing checkpoints instead of resuming.
    pub force_restart: bool,
    /// Keep the checkpoints after the output is written.
    pub keep_checkpoints: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_budget: 4096,
            checkpoint_every_seqs: 10_000,
            checkpoint_every: Duration::from_secs(300),
            force_restart: false,
            keep_checkpoints: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Sequences in the input.
    pub total: u64,
    /// Sequences taken from earlier checkpoints.
    pub resumed: u64,
    /// Sequences embedded by this run.
    pub computed: u64,
    /// Model batches run.
    pub batches: u64,
    /// Checkpoints written by this run.
    pub checkpoints_written: u64,
    /// Checkpoints found torn or corrupt (renamed `*.corrupt`; their sequences recomputed), with
    /// the reason.
    pub corrupt: Vec<(PathBuf, checkpoint::Damage)>,
    /// Rows found in more than one checkpoint with the same id and values (a checkpoint copied
    /// under another name, or left by a run with another cadence): kept once.
    pub repeated_rows: u64,
    /// Items found in more than one checkpoint with different rows: every copy was removed and
    /// the item computed again, with (path, id) of one copy for the warning.
    pub conflicting_rows: Vec<(PathBuf, String)>,
    /// Real tokens against computed slots and capacity.
    pub efficiency: Efficiency,
    /// Seconds spent in the model, all workers together.
    pub model_seconds: f64,
    /// Seconds the embedding took from the first batch planned to the last row written.
    pub wall_seconds: f64,
    /// CPU seconds of the feeder thread: reading, tokenising, planning.
    pub feeder_cpu_seconds: f64,
    /// CPU seconds of the checkpoint writer thread.
    pub writer_cpu_seconds: f64,
    /// What each worker did.
    pub workers: Vec<WorkerReport>,
}

impl Summary {
    /// How well the workers scaled: the run's tokens per second against the sum of each
    /// worker's own rate while busy (1.0 = no worker ever waited for work).
    pub fn scaling_efficiency(&self) -> f64 {
        let tokens: u64 = self.workers.iter().map(|w| w.tokens).sum();
        let ideal: f64 = self
            .workers
            .iter()
            .filter(|w| w.busy_seconds > 0.0)
            .map(WorkerReport::tokens_per_second)
            .sum();
        if ideal <= 0.0 || self.wall_seconds <= 0.0 {
            return 1.0;
        }
        (tokens as f64 / self.wall_seconds / ideal).min(1.0)
    }
}

/// Where the checkpoints of output `output` live: `<output dir>/checkpoints`.
pub fn checkpoint_dir(output: &Path) -> PathBuf {
    output
        .parent()
        .unwrap_or(Path::new("."))
        .join("checkpoints")
}

/// What a streamed run read of its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Items in the input.
    pub total: u64,
    /// Fingerprint of every item's content, in order.
    pub fingerprint: String,
}

/// Embeds every record of `input` (a file, or `-` for standard input, read once) with
/// `workers` (one model copy each, all of the same model) and writes `output` (HDF5: `ids`,
/// `embeddings`, attributes), resuming from the checkpoints of an earlier run, whatever its
/// number of workers.
pub fn embed_file(
    workers: &[&dyn Encoder],
    input: &Path,
    output: &Path,
    model_fingerprint: &str,
    options: &Options,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<Summary> {
    let Some(&encoder) = workers.first() else {
        return Err(EngineError::InvalidRequest(
            "no model worker was given to the run".to_string(),
        ));
    };
    let models: Vec<Embedding> = workers.iter().map(|&w| Embedding(w)).collect();
    let models: Vec<&dyn Model> = models.iter().map(|m| m as &dyn Model).collect();
    let checkpoints = checkpoint_dir(output);
    // One run at a time on these checkpoints (two outputs in one directory share them).
    std::fs::create_dir_all(&checkpoints)
        .map_err(|e| EngineError::file(&checkpoints, "cannot create", e))?;
    let _lock = crate::lock::DirLock::acquire(&checkpoints)?;
    // What a killed run of this output left half-written goes now, while the lock is ours.
    let mut leftovers = crate::checkpoint::remove_orphaned_temps(&checkpoints)?;
    if let (Some(dir), Some(name)) = (output.parent(), output.file_name()) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        leftovers.extend(virnucpro_seq::output::remove_orphaned_temps(
            dir,
            name.to_str(),
        )?);
    }
    report_leftovers(&leftovers);
    let source = FastaReader::open(input)?.map(|record| {
        record
            .map(|r| Item {
                id: r.id,
                seqs: vec![r.seq],
            })
            .map_err(EngineError::from)
    });
    let (summary, streamed) = run_items(
        &models,
        source,
        input,
        &checkpoints,
        model_fingerprint,
        options,
        progress,
        stop,
    )?;
    let meta = Metadata {
        input_fingerprint: streamed.fingerprint,
        ..metadata(models[0], model_fingerprint)
    };
    output::merge(&checkpoints, output, encoder.dim(), streamed.total, &meta)?;
    if !options.keep_checkpoints {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| EngineError::file(&checkpoints, "cannot remove", e))?;
    }
    Ok(summary)
}

/// Says which temporaries of a killed run were removed (nothing when there were none).
pub fn report_leftovers(removed: &[PathBuf]) {
    if let Some(first) = removed.first() {
        tracing::info!(
            "removed {} temporary file(s) a killed run left behind (first: {})",
            removed.len(),
            first.display()
        );
    }
}

/// The attributes every checkpoint of `model` carries.
pub fn metadata(model: &dyn Model, model_fingerprint: &str) -> Metadata {
    Metadata {
        batch_idx: 0,
        trigger: Trigger::Final,
        model: model.name().to_string(),
        model_fingerprint: model_fingerprint.to_string(),
        input_fingerprint: String::new(),
        dtype: model.precision().dtype_name().to_string(),
        packing_enabled: model.packed(),
        output: model.output().to_string(),
        gpu_memory_allocated_bytes: 0,
        gpu_memory_peak_bytes: 0,
    }
}

/// Runs `workers` (copies of one model) over every item of `source`, read once, and leaves
/// each item's row in the checkpoints under `checkpoints`; items found in the checkpoints of an
/// earlier run are skipped, after checking that the input holds the same item at that
/// position. `input` names the source in errors. The caller merges the checkpoints.
#[allow(clippy::too_many_arguments)]
pub fn run_items<S>(
    workers: &[&dyn Model],
    source: S,
    input: &Path,
    checkpoints: &Path,
    model_fingerprint: &str,
    options: &Options,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<(Summary, Streamed)>
where
    S: Iterator<Item = Result<Item>> + Send,
{
    let Some(&model) = workers.first() else {
        return Err(EngineError::InvalidRequest(
            "no model worker was given to the run".to_string(),
        ));
    };
    if let Some(other) = workers
        .iter()
        .find(|w| w.name() != model.name() || w.width() != model.width())
    {
        return Err(EngineError::InvalidRequest(format!(
            "the workers hold different models ({} and {})",
            model.name(),
            other.name()
        )));
    }
    if options.force_restart {
        for path in checkpoint::list(checkpoints)? {
            std::fs::remove_file(&path)
                .map_err(|e| EngineError::file(&path, "cannot remove", e))?;
        }
    }
    let meta = metadata(model, model_fingerprint);
    let mut summary = Summary::default();
    let resume = resume(checkpoints, model.width(), &meta, &mut summary)?;
    summary.resumed = resume.done_count;
    progress.begin(None, resume.done_count);
    let outcome = run_pipeline(
        workers,
        source,
        input,
        checkpoints,
        &meta,
        options,
        resume,
        progress,
        stop,
        &mut summary,
    );
    progress.finish();
    let streamed = outcome?;
    summary.total = streamed.total;
    if let Some(signal) = stop.signal() {
        return Err(EngineError::Interrupted { signal });
    }
    Ok((summary, streamed))
}

/// What earlier runs finished.
struct Resume {
    /// `done[i]`: the content hash of input item `i` when it is in a valid checkpoint, else 0.
    done: Vec<u64>,
    done_count: u64,
    /// A checkpoint holding the row of each finished item, for the error when the input changed.
    example: Option<PathBuf>,
    /// The next free batch number of each rank that has checkpoints.
    next_batch: HashMap<usize, u64>,
}

fn resume(
    checkpoints: &Path,
    width: usize,
    meta: &Metadata,
    summary: &mut Summary,
) -> Result<Resume> {
    let mut done: Vec<u64> = Vec::new();
    let mut done_count = 0;
    let mut example = None;
    let mut next_batch = HashMap::new();
    // Items met a second time, and each valid checkpoint's range of positions: enough to find
    // every copy again without holding more than a position per finished item.
    let mut seen_again: Vec<u64> = Vec::new();
    let mut ranges: Vec<(PathBuf, u64, u64)> = Vec::new();
    for path in checkpoint::list(checkpoints)? {
        let loaded = match checkpoint::read(&path, width) {
            Ok(loaded) => loaded,
            Err(reason) => {
                // Keep the bytes for inspection, out of the way of later scans.
                let aside = path.with_extension("h5.corrupt");
                std::fs::rename(&path, &aside)
                    .map_err(|e| EngineError::file(&path, "cannot rename", e))?;
                summary.corrupt.push((path, reason));
                continue;
            }
        };
        if loaded.model_fingerprint != meta.model_fingerprint {
            return Err(EngineError::FingerprintMismatch {
                path,
                what: "model",
            });
        }
        if let Some(rank) = checkpoint::rank_of(&path) {
            let next = next_batch.entry(rank).or_insert(0);
            *next = (*next).max(loaded.batch_idx + 1);
        }
        for (&index, &hash) in loaded.rows.indices.iter().zip(&loaded.rows.hashes) {
            let index = usize::try_from(index).map_err(|_| {
                EngineError::Integrity(format!(
                    "{} holds item number {index}, beyond any input",
                    path.display()
                ))
            })?;
            if done.len() <= index {
                done.resize(index + 1, 0);
            }
            if done[index] == 0 {
                done[index] = hash.max(1);
                done_count += 1;
            } else {
                seen_again.push(index as u64);
            }
        }
        let indices = &loaded.rows.indices;
        if let (Some(&first), Some(&last)) = (indices.iter().min(), indices.iter().max()) {
            ranges.push((path.clone(), first, last));
        }
        example.get_or_insert(path);
    }
    if !seen_again.is_empty() {
        for index in settle_repeats(&ranges, seen_again, width, meta, summary)? {
            done[index as usize] = 0;
            done_count -= 1;
        }
    }
    Ok(Resume {
        done,
        done_count,
        example,
        next_batch,
    })
}

/// Leaves each item of `repeated` (positions found in more than one checkpoint) in one
/// checkpoint at most: identical copies are kept once, conflicting ones are removed from every
/// checkpoint so the item is computed again. Returns the positions to compute again. The
/// checkpoints holding a copy are rewritten atomically without the rows dropped (removed when
/// nothing is left), so the final merge sees every position once.
fn settle_repeats(
    ranges: &[(PathBuf, u64, u64)],
    mut repeated: Vec<u64>,
    width: usize,
    meta: &Metadata,
    summary: &mut Summary,
) -> Result<Vec<u64>> {
    repeated.sort_unstable();
    repeated.dedup();
    let wanted = |i: &u64| repeated.binary_search(i).is_ok();
    // The first copy of each repeated item (id, values) and whether a later one differed.
    let mut first: HashMap<u64, (String, Vec<f32>, bool)> = HashMap::new();
    let mut holders: Vec<&Path> = Vec::new();
    for (path, lo, hi) in ranges {
        let lo_at = repeated.partition_point(|i| i < lo);
        if repeated.get(lo_at).is_none_or(|i| i > hi) {
            continue;
        }
        let loaded = checkpoint::read(path, width)
            .map_err(|reason| EngineError::file(path, "checkpoint became unreadable", reason))?;
        let rows = &loaded.rows;
        let mut holds = false;
        for (r, index) in rows.indices.iter().enumerate() {
            if !wanted(index) {
                continue;
            }
            holds = true;
            let values = &rows.values[r * width..(r + 1) * width];
            match first.get_mut(index) {
                None => {
                    first.insert(*index, (rows.ids[r].clone(), values.to_vec(), false));
                }
                Some((id, kept, differs)) => {
                    if *id != rows.ids[r] || kept.as_slice() != values {
                        *differs = true;
                    }
                }
            }
        }
        if holds {
            holders.push(path);
        }
    }
    let again: Vec<u64> = {
        let mut v: Vec<u64> = first
            .iter()
            .filter(|(_, (_, _, differs))| *differs)
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    };
    // Positions already met in this pass: the copy kept, or the conflict already warned of.
    let mut kept_once: std::collections::HashSet<u64> = std::collections::HashSet::new();
    for path in holders {
        let loaded = checkpoint::read(path, width)
            .map_err(|reason| EngineError::file(path, "checkpoint became unreadable", reason))?;
        let mut rows = Rows::default();
        let mut dropped = 0usize;
        for (r, &index) in loaded.rows.indices.iter().enumerate() {
            let keep = if again.binary_search(&index).is_ok() {
                if kept_once.insert(index) {
                    summary
                        .conflicting_rows
                        .push((path.to_path_buf(), loaded.rows.ids[r].clone()));
                }
                false
            } else if wanted(&index) {
                let first_copy = kept_once.insert(index);
                if !first_copy {
                    summary.repeated_rows += 1;
                }
                first_copy
            } else {
                true
            };
            if !keep {
                dropped += 1;
                continue;
            }
            rows.ids.push(loaded.rows.ids[r].clone());
            rows.indices.push(index);
            rows.hashes.push(loaded.rows.hashes[r]);
            rows.values
                .extend_from_slice(&loaded.rows.values[r * width..(r + 1) * width]);
        }
        if dropped == 0 {
            continue;
        }
        if rows.is_empty() {
            std::fs::remove_file(path).map_err(|e| EngineError::file(path, "cannot remove", e))?;
        } else {
            let meta = Metadata {
                batch_idx: loaded.batch_idx,
                input_fingerprint: rows.input_fingerprint(),
                ..meta.clone()
            };
            checkpoint::write(path, &rows, width, &meta)?;
        }
    }
    Ok(again)
}

/// Sequences are planned in windows of this many budgets' worth of tokens: big enough for
/// first-fit to pack well, small enough to keep memory flat.
const WINDOW_BUDGETS: usize = 64;

#[allow(clippy::too_many_arguments)]
fn run_pipeline<S>(
    workers: &[&dyn Model],
    source: S,
    input: &Path,
    checkpoints: &Path,
    meta: &Metadata,
    options: &Options,
    mut resume: Resume,
    progress: &dyn Progress,
    stop: &StopFlag,
    summary: &mut Summary,
) -> Result<Streamed>
where
    S: Iterator<Item = Result<Item>> + Send,
{
    let model = workers[0];
    let (job_tx, job_rx) = bounded::<Job>(2 * workers.len() + 2);
    let (rows_tx, rows_rx) = bounded::<(usize, Rows)>(64);
    let queue = Queue::new(job_rx, workers.len());
    let width = model.width();
    let budget = options.token_budget.max(1);
    let started = Instant::now();
    // Set when the input turned out not to be the one the checkpoints were made from: what was
    // computed since is not written, so the old checkpoints stay as they were.
    let discard = AtomicBool::new(false);
    let first_batch = std::mem::take(&mut resume.next_batch);

    std::thread::scope(|scope| -> Result<Streamed> {
        let queue = &queue;
        let discard = &discard;
        // Feeder: read, skip finished items, tokenise, plan.
        let feeder = scope.spawn(move || -> Result<(Efficiency, Streamed, f64)> {
            let mut efficiency = Efficiency::default();
            let mut streamed = Streamed::default();
            let fed = feed(
                model,
                source,
                input,
                &resume,
                budget,
                stop,
                &mut streamed,
                |job| {
                    let lens: Vec<usize> = job.tokens.iter().map(Tokens::cost).collect();
                    efficiency.add(&lens, !model.packed(), budget);
                    queue.planning(job.ids.len() as u64);
                    queue.offer(&job_tx, job)
                },
            );
            if fed.is_err() {
                discard.store(true, Ordering::SeqCst);
                queue.abort();
            }
            queue.feeding_finished();
            let cpu = crate::clock::thread_cpu_seconds();
            fed.map(|()| (efficiency, streamed, cpu))
        });

        // Writer: collect rows, checkpoint each worker's on count or time, and at the end.
        let devices: Vec<&Device> = workers.iter().map(|w| w.device()).collect();
        let writer = scope.spawn(move || -> Result<(u64, f64)> {
            let writer = CheckpointWriter {
                checkpoints,
                width,
                meta,
                every_seqs: options.checkpoint_every_seqs,
                every: options.checkpoint_every,
                first_batch,
                devices,
            };
            writer.run(&rows_rx, discard, stop)
        });

        // The workers: one thread per model copy, all on the shared queue.
        let handles: Vec<_> = workers
            .iter()
            .enumerate()
            .map(|(rank, &model)| {
                let rows_tx = rows_tx.clone();
                scope.spawn(move || worker::run(rank, model, queue, &rows_tx, progress, stop))
            })
            .collect();
        drop(rows_tx);
        let mut failures = Vec::new();
        for handle in handles {
            let (report, failure) = handle.join().expect("a worker catches its model's panics");
            summary.model_seconds += report.busy_seconds;
            summary.batches += report.batches;
            summary.computed += report.sequences;
            if let Some(error) = failure {
                failures.push((report.rank, report.device.clone(), error));
            }
            summary.workers.push(report);
        }
        summary.wall_seconds = started.elapsed().as_secs_f64();
        // With every worker gone the feeder's offers are refused and it returns.
        queue.close();
        let written = writer.join().expect("the checkpoint writer does not panic");
        let fed = feeder.join().expect("the feeder does not panic");
        summary.checkpoints_written = written.as_ref().map_or(0, |w| w.0);
        let (efficiency, streamed, feeder_cpu) = fed?;
        let (_, writer_cpu) = written?;
        summary.efficiency = efficiency;
        summary.feeder_cpu_seconds = feeder_cpu;
        summary.writer_cpu_seconds = writer_cpu;
        if queue.aborted() && failures.len() == workers.len() {
            return Err(if failures.len() == 1 {
                failures.pop().expect("one failure").2
            } else {
                EngineError::WorkersFailed(
                    failures
                        .into_iter()
                        .map(|(rank, device, e)| format!("worker {rank} ({device}): {e}"))
                        .collect(),
                )
            });
        }
        Ok(streamed)
    })
}

/// Reads `source` once, skips the items finished by an earlier run (checking that each is
/// still the same item), tokenises the rest and plans them into batches, handing each to
/// `send` (which answers false when nobody takes batches any more). Counts and fingerprints
/// every item into `streamed`.
#[allow(clippy::too_many_arguments)]
fn feed<S>(
    model: &dyn Model,
    source: S,
    input: &Path,
    resume: &Resume,
    budget: usize,
    stop: &StopFlag,
    streamed: &mut Streamed,
    mut send: impl FnMut(Job) -> bool,
) -> Result<()>
where
    S: Iterator<Item = Result<Item>>,
{
    type Planned = (String, u64, u64, Tokens);
    let mut window: Vec<Planned> = Vec::new();
    let mut window_tokens = 0;
    let mut flush = |window: &mut Vec<Planned>| -> bool {
        let lengths: Vec<usize> = window.iter().map(|w| w.3.cost()).collect();
        let plan = if model.packed() {
            packing::first_fit_decreasing(&lengths, budget)
        } else {
            packing::padded_batches(&lengths, budget)
        };
        let mut items: Vec<Option<Planned>> = window.drain(..).map(Some).collect();
        for batch in plan {
            let mut job = Job::default();
            for i in batch {
                let (id, index, hash, tokens) = items[i].take().expect("each item planned once");
                job.ids.push(id);
                job.indices.push(index);
                job.hashes.push(hash);
                job.tokens.push(tokens);
            }
            if stop.signal().is_some() || !send(job) {
                return false;
            }
        }
        true
    };
    let changed = || EngineError::FingerprintMismatch {
        path: resume
            .example
            .clone()
            .unwrap_or_else(|| input.to_path_buf()),
        what: "input",
    };
    let mut fingerprint = Xxh3::new();
    for (index, item) in (0u64..).zip(source) {
        let item = item?;
        let hash = item.content_hash();
        fingerprint.update(&hash.to_le_bytes());
        streamed.total = index + 1;
        match resume.done.get(index as usize) {
            Some(&done) if done == hash => continue,
            Some(&done) if done != 0 => return Err(changed()),
            _ => {}
        }
        let tokens = model
            .tokenize(&item)
            .map_err(|reason| EngineError::Sequence {
                path: input.to_path_buf(),
                id: item.id.clone(),
                reason: Box::new(reason),
            })?;
        window_tokens += tokens.cost();
        window.push((item.id, index, hash, tokens));
        if window_tokens >= WINDOW_BUDGETS * budget {
            window_tokens = 0;
            if !flush(&mut window) {
                // A stop request, or no worker left: the run ends without the rest.
                return Ok(());
            }
        }
    }
    if resume.done.len() as u64 > streamed.total {
        // Checkpoints hold items past the end of this input.
        return Err(changed());
    }
    streamed.fingerprint = format!("{:032x}", fingerprint.digest128());
    if !window.is_empty() {
        flush(&mut window);
    }
    Ok(())
}
