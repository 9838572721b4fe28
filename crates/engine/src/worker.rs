//! Model workers: one thread per device (or per model copy on the CPU), all pulling planned
//! batches from one shared queue.
//!
//! A shared queue balances by itself: a fast GPU comes back for more sooner and so takes more
//! batches, where a fixed stride split would wait for the slowest card. A worker whose batch
//! fails hands that batch back to the queue for the others and retires; on an out-of-memory
//! error it first splits the batch in halves and tries again itself. The run fails only when no
//! worker is left.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use crate::checkpoint::Rows;
use crate::error::EngineError;
use crate::model::{Model, Tokens};
use crate::progress::Progress;
use crate::stop::StopFlag;

/// One planned batch: ids, input positions, content hashes and token ids.
#[derive(Default)]
pub(crate) struct Job {
    pub ids: Vec<String>,
    pub indices: Vec<u64>,
    pub hashes: Vec<u64>,
    pub tokens: Vec<Tokens>,
}

/// What one worker did, for the run summary.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Worker number; its checkpoints go to `worker_<rank>`.
    pub rank: usize,
    /// The device it ran on, as the user would write it (`cpu`, `cuda:1`).
    pub device: String,
    /// Batches it finished.
    pub batches: u64,
    /// Sequences it embedded.
    pub sequences: u64,
    /// Real tokens it embedded.
    pub tokens: u64,
    /// Seconds it spent in the model.
    pub busy_seconds: f64,
    /// Batches it split in halves after running out of memory.
    pub oom_splits: u64,
    /// Why it retired early, if it did.
    pub failure: Option<String>,
}

impl WorkerReport {
    /// Tokens per second while busy.
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.busy_seconds.max(1e-9)
    }
}

/// The batches waiting for a worker, and the bookkeeping that tells the workers when all are
/// done.
pub(crate) struct Queue {
    jobs: Receiver<Job>,
    retry_tx: Sender<Job>,
    retry_rx: Receiver<Job>,
    /// Sequences the feeder has queued (set before each send).
    planned: AtomicU64,
    /// The feeder has queued its last batch (or given up).
    feeding_done: AtomicBool,
    /// Sequences whose embeddings reached the writer.
    completed: AtomicU64,
    /// Workers still taking batches.
    alive: AtomicUsize,
    /// No worker is left: everyone stops.
    abort: AtomicBool,
    /// Every worker has returned: the feeder stops offering batches.
    closed: AtomicBool,
}

impl Queue {
    /// A queue over the feeder's channel, for `workers` workers.
    pub fn new(jobs: Receiver<Job>, workers: usize) -> Self {
        let (retry_tx, retry_rx) = unbounded();
        Queue {
            jobs,
            retry_tx,
            retry_rx,
            planned: AtomicU64::new(0),
            feeding_done: AtomicBool::new(false),
            completed: AtomicU64::new(0),
            alive: AtomicUsize::new(workers),
            abort: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// The feeder is about to queue `n` more sequences.
    pub fn planning(&self, n: u64) {
        self.planned.fetch_add(n, Ordering::SeqCst);
    }

    /// Queues `job` on the feeder's channel, waiting while it is full; false once the workers
    /// are gone (then nobody would take it).
    pub fn offer(&self, jobs: &Sender<Job>, mut job: Job) -> bool {
        loop {
            match jobs.send_timeout(job, Duration::from_millis(100)) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.closed.load(Ordering::SeqCst) || self.aborted() {
                        return false;
                    }
                    job = back;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    /// Every worker has returned.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// The feeder queued its last batch.
    pub fn feeding_finished(&self) {
        self.feeding_done.store(true, Ordering::SeqCst);
    }

    /// Stops every worker: the run cannot go on (its input failed).
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
    }

    /// Whether the run lost its last worker, or was aborted.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }

    fn all_done(&self) -> bool {
        self.feeding_done.load(Ordering::SeqCst)
            && self.completed.load(Ordering::SeqCst) >= self.planned.load(Ordering::SeqCst)
    }

    /// The next batch for a worker: a handed-back batch first, then a new one; `None` when every
    /// queued sequence is done, on a stop request, or when the run aborted.
    fn next(&self, stop: &StopFlag) -> Option<Job> {
        let tick = Duration::from_millis(50);
        let mut feeder_open = true;
        loop {
            if stop.signal().is_some() || self.aborted() {
                return None;
            }
            if let Ok(job) = self.retry_rx.try_recv() {
                return Some(job);
            }
            if self.all_done() {
                return None;
            }
            if feeder_open {
                select! {
                    recv(self.jobs) -> msg => match msg {
                        Ok(job) => return Some(job),
                        Err(_) => feeder_open = false,
                    },
                    recv(self.retry_rx) -> msg => {
                        if let Ok(job) = msg {
                            return Some(job);
                        }
                    },
                    default(tick) => {},
                }
            } else {
                // Batches may still come back from a failing worker until all are done.
                match self.retry_rx.recv_timeout(tick) {
                    Ok(job) => return Some(job),
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
                }
            }
        }
    }
}

/// Whether an error is the device running out of memory (worth splitting the batch for).
///
/// candle gives no typed out-of-memory error, so this matches its text, case-insensitively:
/// the CUDA driver's `CUDA_ERROR_OUT_OF_MEMORY` ("out of memory"), cudarc's `DriverError`
/// display of it (`CUDA_ERROR_OUT_OF_MEMORY`, hence "out_of_memory"). The split-and-retry
/// path this enables is tested through [`crate::fault::FaultKind::OutOfMemory`]
/// (`tests/workers.rs`, and the CLI's worker tests), which fails a batch with exactly such a
/// message.
fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("out of memory") || m.contains("out_of_memory")
}

/// Text of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Runs `tokens`; on out-of-memory splits them in halves (recursively) and tries again.
fn run_splitting(
    model: &dyn Model,
    tokens: &[&Tokens],
    splits: &mut u64,
) -> Result<Vec<f32>, EngineError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| model.run(tokens)));
    match outcome {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(e)) if tokens.len() > 1 && is_out_of_memory(&e.to_string()) => {
            *splits += 1;
            let (left, right) = tokens.split_at(tokens.len() / 2);
            let mut rows = run_splitting(model, left, splits)?;
            rows.extend(run_splitting(model, right, splits)?);
            Ok(rows)
        }
        Ok(Err(e)) => Err(e),
        Err(payload) => Err(EngineError::ModelFailed(format!(
            "the model panicked: {}",
            panic_message(payload)
        ))),
    }
}

/// Runs one worker until the queue is done: embeds batches and sends their rows, tagged with
/// the worker's rank, to the checkpoint writer. Returns its report and, when it retired, the
/// error that retired it.
pub(crate) fn run(
    rank: usize,
    model: &dyn Model,
    queue: &Queue,
    rows_tx: &Sender<(usize, Rows)>,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> (WorkerReport, Option<EngineError>) {
    let mut report = WorkerReport {
        rank,
        device: virnucpro_models::device_name(model.device()),
        ..WorkerReport::default()
    };
    while let Some(job) = queue.next(stop) {
        let started = Instant::now();
        let refs: Vec<&Tokens> = job.tokens.iter().collect();
        match run_splitting(model, &refs, &mut report.oom_splits) {
            Ok(values) => {
                report.busy_seconds += started.elapsed().as_secs_f64();
                let n = job.ids.len() as u64;
                let tokens: u64 = job.tokens.iter().map(|t| t.cost() as u64).sum();
                report.batches += 1;
                report.sequences += n;
                report.tokens += tokens;
                if values.len() != job.ids.len() * model.width() {
                    let error = EngineError::ModelFailed(format!(
                        "{} gave {} floats for {} items of width {}",
                        model.name(),
                        values.len(),
                        job.ids.len(),
                        model.width()
                    ));
                    report.failure = Some(error.to_string());
                    queue.abort();
                    return (report, Some(error));
                }
                let rows = Rows {
                    ids: job.ids,
                    indices: job.indices,
                    hashes: job.hashes,
                    values,
                };
                if rows_tx.send((rank, rows)).is_err() {
                    // The writer failed; its error is what the run reports.
                    queue.abort.store(true, Ordering::SeqCst);
                    break;
                }
                queue.completed.fetch_add(n, Ordering::SeqCst);
                progress.advance(n, tokens);
            }
            Err(error) => {
                report.failure = Some(error.to_string());
                // Hand the batch to the others before leaving, so nothing is lost.
                let _ = queue.retry_tx.send(job);
                if queue.alive.fetch_sub(1, Ordering::SeqCst) == 1 {
                    queue.abort.store(true, Ordering::SeqCst);
                } else {
                    tracing::warn!(
                        "worker {rank} ({}) retired: {error}; its batch went back to the queue",
                        report.device
                    );
                }
                return (report, Some(error));
            }
        }
    }
    (report, None)
}
