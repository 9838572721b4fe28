//! The checkpoint writer: the thread that collects each worker's finished rows and writes them
//! as checkpoints, every N sequences or S seconds per worker and at the end, so the workers
//! never wait on disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::checkpoint::{self, Metadata, Rows, Trigger};
use crate::error::Result;
use crate::stop::StopFlag;

/// Where and how often the rows of each worker are checkpointed.
pub struct CheckpointWriter<'a> {
    /// The checkpoint folder (one `worker_<rank>` folder below it per worker).
    pub checkpoints: &'a Path,
    /// Floats per row.
    pub width: usize,
    /// The attributes every checkpoint of the run carries.
    pub meta: &'a Metadata,
    /// A worker's rows are written once this many are waiting.
    pub every_seqs: u64,
    /// ... or once this long has passed since its last checkpoint.
    pub every: Duration,
    /// The number of each worker's next checkpoint (after those of earlier runs).
    pub first_batch: HashMap<usize, u64>,
    /// Each worker's device, for the GPU memory attributes.
    pub devices: Vec<&'a Device>,
}

/// A worker's rows not yet checkpointed, and its checkpoint numbering.
struct WorkerRows {
    pending: Rows,
    next_batch: u64,
    last: Instant,
    memory_peak: u64,
}

impl CheckpointWriter<'_> {
    /// Collects `(worker rank, rows)` from `rows_rx` until every sender is gone, checkpointing
    /// as it goes and at the end (with the trigger `signal` when `stop` was raised). Once
    /// `discard` is set nothing more is written. Returns the checkpoints written and the
    /// thread's CPU seconds.
    pub fn run(
        self,
        rows_rx: &Receiver<(usize, Rows)>,
        discard: &AtomicBool,
        stop: &StopFlag,
    ) -> Result<(u64, f64)> {
        let mut pending_of: HashMap<usize, WorkerRows> = HashMap::new();
        let mut written = 0u64;
        let mut write = |rank: usize, worker: &mut WorkerRows, trigger: Trigger| -> Result<()> {
            let mut rows = std::mem::take(&mut worker.pending);
            rows.sort_by_index(self.width);
            // The driver's view of the worker's GPU (every process counts); 0 on a CPU.
            let in_use =
                virnucpro_models::device_memory(self.devices[rank]).map_or(0, |(used, _)| used);
            worker.memory_peak = worker.memory_peak.max(in_use);
            let meta = Metadata {
                batch_idx: worker.next_batch,
                trigger,
                input_fingerprint: rows.input_fingerprint(),
                gpu_memory_allocated_bytes: in_use,
                gpu_memory_peak_bytes: worker.memory_peak,
                ..self.meta.clone()
            };
            checkpoint::write(
                &checkpoint::path(self.checkpoints, rank, worker.next_batch),
                &rows,
                self.width,
                &meta,
            )?;
            worker.next_batch += 1;
            worker.last = Instant::now();
            written += 1;
            Ok(())
        };
        loop {
            match rows_rx.recv_timeout(Duration::from_millis(200)) {
                Ok((rank, rows)) => {
                    let worker = pending_of.entry(rank).or_insert_with(|| WorkerRows {
                        pending: Rows::default(),
                        next_batch: self.first_batch.get(&rank).copied().unwrap_or(0),
                        last: Instant::now(),
                        memory_peak: 0,
                    });
                    worker.pending.append(rows);
                    if worker.pending.len() as u64 >= self.every_seqs
                        && !discard.load(Ordering::SeqCst)
                    {
                        write(rank, worker, Trigger::Sequences)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if discard.load(Ordering::SeqCst) {
                continue;
            }
            for (&rank, worker) in pending_of.iter_mut() {
                if !worker.pending.is_empty() && worker.last.elapsed() >= self.every {
                    write(rank, worker, Trigger::Time)?;
                }
            }
        }
        if discard.load(Ordering::SeqCst) {
            return Ok((written, crate::clock::thread_cpu_seconds()));
        }
        let trigger = if stop.signal().is_some() {
            Trigger::Signal
        } else {
            Trigger::Final
        };
        let mut ranks: Vec<usize> = pending_of.keys().copied().collect();
        ranks.sort_unstable();
        for rank in ranks {
            let worker = pending_of.get_mut(&rank).expect("listed above");
            if !worker.pending.is_empty() {
                write(rank, worker, trigger)?;
            }
        }
        Ok((written, crate::clock::thread_cpu_seconds()))
    }
}
