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

use crossbeam_channel::{bounded, RecvTimeoutError};
use std::collections::HashMap;
use virnucpro_seq::FastaReader;

use crate::checkpoint::{self, Metadata, Rows, Trigger};
use crate::encoder::{dtype_name, Encoder};
use crate::error::{EngineError, Result};
use crate::fingerprint::InputFingerprint;
use crate::output;
use crate::packing::{self, Efficiency};
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

/// Receives progress; the CLI draws a bar from it.
pub trait Progress: Sync {
    /// The run starts: `total` sequences, `done` of them already finished by an earlier run.
    fn begin(&self, total: u64, done: u64);
    /// `seqs` more sequences (of `tokens` tokens) were embedded.
    fn advance(&self, seqs: u64, tokens: u64);
    /// The run ended (successfully or not).
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: u64, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
    fn finish(&self) {}
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
    pub corrupt: Vec<(PathBuf, String)>,
    /// Real tokens against computed slots and capacity.
    pub efficiency: Efficiency,
    /// Seconds spent in the model, all workers together.
    pub model_seconds: f64,
    /// Seconds the embedding took from the first batch planned to the last row written.
    pub wall_seconds: f64,
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

/// Embeds every record of `input` with `workers` (one model copy each, all of the same model)
/// and writes `output` (HDF5: `ids`, `embeddings`, attributes), resuming from the checkpoints of
/// an earlier run, whatever its number of workers.
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
        return Err(EngineError::Integrity(
            "no model worker was given to the run".to_string(),
        ));
    };
    if let Some(other) = workers
        .iter()
        .find(|w| w.name() != encoder.name() || w.dim() != encoder.dim())
    {
        return Err(EngineError::Integrity(format!(
            "the workers hold different models ({} and {})",
            encoder.name(),
            other.name()
        )));
    }
    let checkpoints = checkpoint_dir(output);
    if options.force_restart && checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| EngineError::file(&checkpoints, "cannot remove", e))?;
    }

    // Pass 1: count and fingerprint the input (fast next to the model; memory flat).
    let mut fingerprint = InputFingerprint::new();
    let mut total = 0u64;
    for record in FastaReader::open(input)? {
        let record = record?;
        fingerprint.add(&record.id, &record.seq);
        total += 1;
    }
    let input_fingerprint = fingerprint.finish();

    let meta = Metadata {
        batch_idx: 0,
        trigger: Trigger::Final,
        model: encoder.name().to_string(),
        model_fingerprint: model_fingerprint.to_string(),
        input_fingerprint: input_fingerprint.clone(),
        dtype: dtype_name(encoder.precision()).to_string(),
        packing_enabled: encoder.packed(),
        gpu_memory_allocated_bytes: 0,
        gpu_memory_peak_bytes: 0,
    };

    let mut summary = Summary {
        total,
        ..Summary::default()
    };
    let resume = resume(&checkpoints, encoder.dim(), &meta, total, &mut summary)?;
    summary.resumed = resume.done_count;
    progress.begin(total, resume.done_count);

    let outcome = if resume.done_count < total {
        run_pipeline(
            workers,
            input,
            &checkpoints,
            &meta,
            options,
            resume,
            progress,
            stop,
            &mut summary,
        )
    } else {
        Ok(())
    };
    progress.finish();
    outcome?;
    if let Some(signal) = stop.signal() {
        return Err(EngineError::Interrupted { signal });
    }

    output::merge(&checkpoints, output, encoder.dim(), total, &meta)?;
    if !options.keep_checkpoints {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| EngineError::file(&checkpoints, "cannot remove", e))?;
    }
    Ok(summary)
}

/// What earlier runs finished.
struct Resume {
    /// `done[i]`: input sequence `i` is in a valid checkpoint.
    done: Vec<bool>,
    done_count: u64,
    /// The next free batch number of each rank that has checkpoints.
    next_batch: HashMap<usize, u64>,
}

fn resume(
    checkpoints: &Path,
    dim: usize,
    meta: &Metadata,
    total: u64,
    summary: &mut Summary,
) -> Result<Resume> {
    let mut done = vec![false; total as usize];
    let mut done_count = 0;
    let mut next_batch = HashMap::new();
    for path in checkpoint::list(checkpoints)? {
        let loaded = match checkpoint::read(&path, dim) {
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
        if loaded.input_fingerprint != meta.input_fingerprint {
            return Err(EngineError::FingerprintMismatch {
                path,
                what: "input",
            });
        }
        if let Some(rank) = checkpoint::rank_of(&path) {
            let next = next_batch.entry(rank).or_insert(0);
            *next = (*next).max(loaded.batch_idx + 1);
        }
        for &index in &loaded.rows.indices {
            let slot = done.get_mut(index as usize).ok_or_else(|| {
                EngineError::Integrity(format!(
                    "{} holds sequence number {index}, beyond the {total} of the input",
                    path.display()
                ))
            })?;
            if !*slot {
                *slot = true;
                done_count += 1;
            }
        }
    }
    Ok(Resume {
        done,
        done_count,
        next_batch,
    })
}

/// Sequences are planned in windows of this many budgets' worth of tokens: big enough for
/// first-fit to pack well, small enough to keep memory flat.
const WINDOW_BUDGETS: usize = 64;

#[allow(clippy::too_many_arguments)]
fn run_pipeline(
    workers: &[&dyn Encoder],
    input: &Path,
    checkpoints: &Path,
    meta: &Metadata,
    options: &Options,
    resume: Resume,
    progress: &dyn Progress,
    stop: &StopFlag,
    summary: &mut Summary,
) -> Result<()> {
    let encoder = workers[0];
    let (job_tx, job_rx) = bounded::<Job>(2 * workers.len() + 2);
    let (rows_tx, rows_rx) = bounded::<(usize, Rows)>(64);
    let queue = Queue::new(job_rx, workers.len());
    let dim = encoder.dim();
    let budget = options.token_budget.max(1);
    let started = Instant::now();

    std::thread::scope(|scope| -> Result<()> {
        let queue = &queue;
        // Feeder: read, skip finished ids, tokenise, plan.
        let feeder = scope.spawn(move || -> Result<Efficiency> {
            let mut efficiency = Efficiency::default();
            let fed = feed(encoder, input, &resume.done, budget, stop, |job| {
                let lens: Vec<usize> = job.tokens.iter().map(Vec::len).collect();
                efficiency.add(&lens, !encoder.packed(), budget);
                queue.planning(job.ids.len() as u64);
                queue.offer(&job_tx, job)
            });
            queue.feeding_finished();
            fed.map(|()| efficiency)
        });

        // Writer: collect rows, checkpoint each worker's on count or time, and at the end.
        let next_batch = resume.next_batch;
        let writer = scope.spawn(move || -> Result<u64> {
            let mut shards: HashMap<usize, Shard> = HashMap::new();
            let mut written = 0u64;
            let mut write = |rank: usize, shard: &mut Shard, trigger: Trigger| -> Result<()> {
                let rows = std::mem::take(&mut shard.pending);
                // The driver's view of the worker's GPU (every process counts); 0 on a CPU.
                let in_use = virnucpro_models::device_memory(workers[rank].device())
                    .map_or(0, |(used, _)| used);
                shard.memory_peak = shard.memory_peak.max(in_use);
                let meta = Metadata {
                    batch_idx: shard.next_batch,
                    trigger,
                    gpu_memory_allocated_bytes: in_use,
                    gpu_memory_peak_bytes: shard.memory_peak,
                    ..meta.clone()
                };
                checkpoint::write(
                    &checkpoint::path(checkpoints, rank, shard.next_batch),
                    &rows,
                    dim,
                    &meta,
                )?;
                shard.next_batch += 1;
                shard.last = Instant::now();
                written += 1;
                Ok(())
            };
            loop {
                match rows_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok((rank, rows)) => {
                        let shard = shards.entry(rank).or_insert_with(|| Shard {
                            pending: Rows::default(),
                            next_batch: next_batch.get(&rank).copied().unwrap_or(0),
                            last: Instant::now(),
                            memory_peak: 0,
                        });
                        shard.pending.append(rows);
                        if shard.pending.len() as u64 >= options.checkpoint_every_seqs {
                            write(rank, shard, Trigger::Sequences)?;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                for (&rank, shard) in shards.iter_mut() {
                    if !shard.pending.is_empty() && shard.last.elapsed() >= options.checkpoint_every
                    {
                        write(rank, shard, Trigger::Time)?;
                    }
                }
            }
            let trigger = if stop.signal().is_some() {
                Trigger::Signal
            } else {
                Trigger::Final
            };
            let mut ranks: Vec<usize> = shards.keys().copied().collect();
            ranks.sort_unstable();
            for rank in ranks {
                let shard = shards.get_mut(&rank).expect("listed above");
                if !shard.pending.is_empty() {
                    write(rank, shard, trigger)?;
                }
            }
            Ok(written)
        });

        // The workers: one thread per model copy, all on the shared queue.
        let handles: Vec<_> = workers
            .iter()
            .enumerate()
            .map(|(rank, &encoder)| {
                let rows_tx = rows_tx.clone();
                scope.spawn(move || worker::run(rank, encoder, queue, &rows_tx, progress, stop))
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
        summary.checkpoints_written = *written.as_ref().unwrap_or(&0);
        written?;
        summary.efficiency = fed?;
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
        Ok(())
    })
}

/// A worker's checkpoint state in the writer.
struct Shard {
    pending: Rows,
    next_batch: u64,
    last: Instant,
    memory_peak: u64,
}

/// Reads `input`, skips the sequences `done`, tokenises the rest and plans them into batches,
/// handing each to `send` (which answers false when nobody takes batches any more).
fn feed(
    encoder: &dyn Encoder,
    input: &Path,
    done: &[bool],
    budget: usize,
    stop: &StopFlag,
    mut send: impl FnMut(Job) -> bool,
) -> Result<()> {
    let mut window: Vec<(String, u64, Vec<u32>)> = Vec::new();
    let mut window_tokens = 0;
    let mut flush = |window: &mut Vec<(String, u64, Vec<u32>)>| -> bool {
        let lengths: Vec<usize> = window.iter().map(|w| w.2.len()).collect();
        let plan = if encoder.packed() {
            packing::first_fit_decreasing(&lengths, budget)
        } else {
            packing::padded_batches(&lengths, budget)
        };
        let mut items: Vec<Option<(String, u64, Vec<u32>)>> = window.drain(..).map(Some).collect();
        for batch in plan {
            let mut job = Job {
                ids: Vec::new(),
                indices: Vec::new(),
                tokens: Vec::new(),
            };
            for i in batch {
                let (id, index, tokens) = items[i].take().expect("each item planned once");
                job.ids.push(id);
                job.indices.push(index);
                job.tokens.push(tokens);
            }
            if stop.signal().is_some() || !send(job) {
                return false;
            }
        }
        true
    };
    let mut reader = FastaReader::open(input)?;
    for (index, record) in (0u64..).zip(reader.by_ref()) {
        let record = record?;
        if done[index as usize] {
            continue;
        }
        let seq = String::from_utf8_lossy(&record.seq);
        let tokens = encoder
            .tokenize(&seq)
            .map_err(|message| EngineError::Sequence {
                path: input.to_path_buf(),
                id: record.id.clone(),
                message,
            })?;
        window_tokens += tokens.len();
        window.push((record.id, index, tokens));
        if window_tokens >= WINDOW_BUDGETS * budget {
            window_tokens = 0;
            if !flush(&mut window) {
                return Ok(());
            }
        }
    }
    if !window.is_empty() {
        flush(&mut window);
    }
    Ok(())
}
