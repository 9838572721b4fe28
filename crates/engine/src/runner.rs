//! The embedding run: FASTA in, one embedding per sequence out, in input order, resumable.
//!
//! Three stages run at once, joined by bounded channels: a feeder thread reads the input,
//! tokenises and plans batches under the token budget; the calling thread runs the model on one
//! batch after another; a writer thread collects results and writes checkpoints in the
//! background. The model never waits on disk. On success the checkpoints are merged into the
//! output in input order and removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use virnucpro_seq::FastaReader;

use crate::checkpoint::{self, Metadata, Rows, Trigger};
use crate::encoder::{dtype_name, Encoder};
use crate::error::{EngineError, Result};
use crate::fingerprint::InputFingerprint;
use crate::output;
use crate::packing::{self, Efficiency};
use crate::stop::StopFlag;

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
    /// Worker rank: checkpoints go to `shard_<rank>`.
    pub rank: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_budget: 4096,
            checkpoint_every_seqs: 10_000,
            checkpoint_every: Duration::from_secs(300),
            force_restart: false,
            keep_checkpoints: false,
            rank: 0,
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
    /// Seconds spent in the model.
    pub model_seconds: f64,
}

/// Where the checkpoints of output `output` live: `<output dir>/checkpoints`.
pub fn checkpoint_dir(output: &Path) -> PathBuf {
    output
        .parent()
        .unwrap_or(Path::new("."))
        .join("checkpoints")
}

/// Embeds every record of `input` with `encoder` and writes `output` (HDF5: `ids`,
/// `embeddings`, attributes), resuming from the checkpoints of an earlier run.
pub fn embed_file(
    encoder: &dyn Encoder,
    input: &Path,
    output: &Path,
    model_fingerprint: &str,
    options: &Options,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<Summary> {
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
    let resume = resume(
        &checkpoints,
        encoder.dim(),
        &meta,
        total,
        options.rank,
        &mut summary,
    )?;
    summary.resumed = resume.done_count;
    progress.begin(total, resume.done_count);

    let outcome = if resume.done_count < total {
        run_pipeline(
            encoder,
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
    /// The next free batch number of this rank.
    next_batch: u64,
}

fn resume(
    checkpoints: &Path,
    dim: usize,
    meta: &Metadata,
    total: u64,
    rank: usize,
    summary: &mut Summary,
) -> Result<Resume> {
    let mut done = vec![false; total as usize];
    let mut done_count = 0;
    let mut next_batch = 0;
    let own_shard = checkpoints.join(format!("shard_{rank}"));
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
        if path.starts_with(&own_shard) {
            next_batch = next_batch.max(loaded.batch_idx + 1);
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

/// One planned batch: ids, input positions and token ids.
struct Job {
    ids: Vec<String>,
    indices: Vec<u64>,
    tokens: Vec<Vec<u32>>,
}

/// Sequences are planned in windows of this many budgets' worth of tokens: big enough for
/// first-fit to pack well, small enough to keep memory flat.
const WINDOW_BUDGETS: usize = 64;

#[allow(clippy::too_many_arguments)]
fn run_pipeline(
    encoder: &dyn Encoder,
    input: &Path,
    checkpoints: &Path,
    meta: &Metadata,
    options: &Options,
    resume: Resume,
    progress: &dyn Progress,
    stop: &StopFlag,
    summary: &mut Summary,
) -> Result<()> {
    let (job_tx, job_rx) = bounded::<Job>(4);
    let (rows_tx, rows_rx) = bounded::<Rows>(64);
    let dim = encoder.dim();
    let budget = options.token_budget.max(1);

    std::thread::scope(|scope| -> Result<()> {
        // Feeder: read, skip finished ids, tokenise, plan.
        let feeder = scope.spawn(move || -> Result<Efficiency> {
            let mut efficiency = Efficiency::default();
            let mut window: Vec<(String, u64, Vec<u32>)> = Vec::new();
            let mut window_tokens = 0;
            let flush = |window: &mut Vec<(String, u64, Vec<u32>)>,
                         efficiency: &mut Efficiency|
             -> bool {
                let lengths: Vec<usize> = window.iter().map(|w| w.2.len()).collect();
                let plan = if encoder.packed() {
                    packing::first_fit_decreasing(&lengths, budget)
                } else {
                    packing::padded_batches(&lengths, budget)
                };
                let mut items: Vec<Option<(String, u64, Vec<u32>)>> =
                    window.drain(..).map(Some).collect();
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
                    let lens: Vec<usize> = job.tokens.iter().map(Vec::len).collect();
                    efficiency.add(&lens, !encoder.packed(), budget);
                    if stop.signal().is_some() || job_tx.send(job).is_err() {
                        return false;
                    }
                }
                true
            };
            let mut reader = FastaReader::open(input)?;
            for (index, record) in (0u64..).zip(reader.by_ref()) {
                let record = record?;
                if resume.done[index as usize] {
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
                    if !flush(&mut window, &mut efficiency) {
                        return Ok(efficiency);
                    }
                }
            }
            if !window.is_empty() {
                flush(&mut window, &mut efficiency);
            }
            Ok(efficiency)
        });

        // Writer: collect rows, checkpoint on count or time, and at the end.
        let writer = scope.spawn(move || -> Result<u64> {
            let mut pending = Rows::default();
            let mut batch_idx = resume.next_batch;
            let mut written = 0u64;
            let mut last = Instant::now();
            let mut write = |pending: &mut Rows, trigger: Trigger| -> Result<()> {
                let rows = std::mem::take(pending);
                let meta = Metadata {
                    batch_idx,
                    trigger,
                    ..meta.clone()
                };
                checkpoint::write(
                    &checkpoint::path(checkpoints, options.rank, batch_idx),
                    &rows,
                    dim,
                    &meta,
                )?;
                batch_idx += 1;
                written += 1;
                Ok(())
            };
            loop {
                match rows_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(rows) => {
                        pending.append(rows);
                        if pending.len() as u64 >= options.checkpoint_every_seqs {
                            write(&mut pending, Trigger::Sequences)?;
                            last = Instant::now();
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if !pending.is_empty() && last.elapsed() >= options.checkpoint_every {
                    write(&mut pending, Trigger::Time)?;
                    last = Instant::now();
                }
            }
            if !pending.is_empty() {
                let trigger = if stop.signal().is_some() {
                    Trigger::Signal
                } else {
                    Trigger::Final
                };
                write(&mut pending, trigger)?;
            }
            Ok(written)
        });

        // The model, on this thread: one batch after another until the input ends or a signal.
        let mut model_result = Ok(());
        for job in job_rx.iter() {
            let started = Instant::now();
            let refs: Vec<&[u32]> = job.tokens.iter().map(Vec::as_slice).collect();
            let embeddings = match encoder.embed(&refs) {
                Ok(e) => e,
                Err(e) => {
                    model_result = Err(e);
                    break;
                }
            };
            summary.model_seconds += started.elapsed().as_secs_f64();
            let tokens: usize = job.tokens.iter().map(Vec::len).sum();
            let n = job.ids.len() as u64;
            summary.batches += 1;
            summary.computed += n;
            if rows_tx
                .send(Rows {
                    ids: job.ids,
                    indices: job.indices,
                    embeddings,
                })
                .is_err()
            {
                break; // the writer failed; its error is reported below
            }
            progress.advance(n, tokens as u64);
            if stop.signal().is_some() {
                break;
            }
        }
        drop(job_rx);
        drop(rows_tx);
        let written = writer.join().expect("the checkpoint writer does not panic");
        let fed = feeder.join().expect("the feeder does not panic");
        model_result?;
        summary.checkpoints_written = written?;
        summary.efficiency = fed?;
        Ok(())
    })
}
