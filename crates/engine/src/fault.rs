//! Injected worker failures, so that recovery can be tested without a GPU that breaks.
//!
//! A [`Fault`] names a worker, a kind of failure and after how many good batches it starts;
//! [`Faulty`] wraps that worker's encoder or model and fails as told. The engine's own tests
//! build faults directly; the CLI's tests pass one through `VIRNUCPRO_INJECT_FAULT` (for
//! example `1:error:2`), which [`from_env`] reads only in builds with the `fault-injection`
//! feature (the CLI's dev-dependencies turn it on; the shipped binary ignores the variable).

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::Device;
use virnucpro_models::{ModelError, Precision};

use crate::encoder::Encoder;
use crate::error::{Result, TokenizeError};
use crate::model::{Item, Model, Tokens};

/// How the injected failure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Every batch from then on returns an error (a lost device).
    Error,
    /// The model panics (a bug in a worker thread).
    Panic,
    /// Batches of more than one sequence run out of memory; single sequences pass.
    OutOfMemory,
}

/// Which worker fails, how, and after how many good batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The worker's rank.
    pub rank: usize,
    /// The failure.
    pub kind: FaultKind,
    /// Good batches before the first failure.
    pub after_batches: u64,
}

/// A fault written other than `RANK:KIND:AFTER`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}': expected RANK:KIND:AFTER with KIND error, panic or oom")]
pub struct BadFault(pub String);

/// A [`FAULT_VARIABLE`] that does not hold a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{FAULT_VARIABLE}={0}")]
pub struct BadFaultVariable(#[from] pub BadFault);

impl std::str::FromStr for Fault {
    type Err = BadFault;

    /// Parses `RANK:KIND:AFTER`, KIND one of `error`, `panic`, `oom`.
    fn from_str(s: &str) -> std::result::Result<Self, BadFault> {
        let usage = || BadFault(s.to_string());
        let parts: Vec<&str> = s.split(':').collect();
        let [rank, kind, after] = parts.as_slice() else {
            return Err(usage());
        };
        Ok(Fault {
            rank: rank.parse().map_err(|_| usage())?,
            kind: match *kind {
                "error" => FaultKind::Error,
                "panic" => FaultKind::Panic,
                "oom" => FaultKind::OutOfMemory,
                _ => return Err(usage()),
            },
            after_batches: after.parse().map_err(|_| usage())?,
        })
    }
}

/// A model or encoder that fails as its [`Fault`] says, and otherwise passes through.
pub struct Faulty<T> {
    inner: T,
    fault: Fault,
    calls: AtomicU64,
}

/// An encoder with an injected fault.
pub type FaultyEncoder = Faulty<Box<dyn Encoder>>;

impl<T> Faulty<T> {
    /// Wraps `inner` with `fault`.
    pub fn new(inner: T, fault: Fault) -> Self {
        Faulty {
            inner,
            fault,
            calls: AtomicU64::new(0),
        }
    }

    /// Counts a call on a batch of `batch_len` items and fails it when the fault says so.
    fn strike(&self, batch_len: usize) -> Result<()> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.fault.after_batches {
            return Ok(());
        }
        let rank = self.fault.rank;
        match self.fault.kind {
            FaultKind::Error => {
                Err(ModelError::Input(format!("injected failure of worker {rank}")).into())
            }
            FaultKind::Panic => panic!("injected panic in worker {rank}"),
            FaultKind::OutOfMemory if batch_len > 1 => Err(ModelError::Input(format!(
                "injected CUDA_ERROR_OUT_OF_MEMORY: out of memory on worker {rank}"
            ))
            .into()),
            FaultKind::OutOfMemory => Ok(()),
        }
    }
}

impl Encoder for Faulty<Box<dyn Encoder>> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn packed(&self) -> bool {
        self.inner.packed()
    }
    fn precision(&self) -> Precision {
        self.inner.precision()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn tokenize(&self, seq: &str) -> std::result::Result<Vec<u32>, ModelError> {
        self.inner.tokenize(seq)
    }
    fn embed(&self, batch: &[&[u32]]) -> Result<Vec<f32>> {
        self.strike(batch.len())?;
        self.inner.embed(batch)
    }
}

impl<'a> Model for Faulty<Box<dyn Model + 'a>> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn output(&self) -> &'static str {
        self.inner.output()
    }
    fn width(&self) -> usize {
        self.inner.width()
    }
    fn packed(&self) -> bool {
        self.inner.packed()
    }
    fn precision(&self) -> Precision {
        self.inner.precision()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn tokenize(&self, item: &Item) -> std::result::Result<Tokens, TokenizeError> {
        self.inner.tokenize(item)
    }
    fn run(&self, batch: &[&Tokens]) -> Result<Vec<f32>> {
        self.strike(batch.len())?;
        self.inner.run(batch)
    }
}

/// Replaces the worker that `fault` names (if any) by `wrap(worker, fault)`.
fn inject_with<T>(workers: Vec<T>, fault: Option<Fault>, wrap: impl Fn(T, Fault) -> T) -> Vec<T> {
    let Some(fault) = fault else {
        return workers;
    };
    workers
        .into_iter()
        .enumerate()
        .map(|(rank, w)| {
            if rank == fault.rank {
                wrap(w, fault)
            } else {
                w
            }
        })
        .collect()
}

/// Wraps the encoder that `fault` names (if any) so that it fails as told.
pub fn inject(workers: Vec<Box<dyn Encoder>>, fault: Option<Fault>) -> Vec<Box<dyn Encoder>> {
    inject_with(workers, fault, |w, f| Box::new(Faulty::new(w, f)))
}

/// Wraps the model that `fault` names (if any) so that it fails as told.
pub fn inject_models<'a>(
    workers: Vec<Box<dyn Model + 'a>>,
    fault: Option<Fault>,
) -> Vec<Box<dyn Model + 'a>> {
    inject_with(workers, fault, |w, f| -> Box<dyn Model + 'a> {
        Box::new(Faulty::new(w, f))
    })
}

/// The variable a test build of the CLI reads a [`Fault`] from.
pub const FAULT_VARIABLE: &str = "VIRNUCPRO_INJECT_FAULT";

/// The fault asked for in [`FAULT_VARIABLE`], if any. Only builds with the `fault-injection`
/// feature (the CLI's own tests) read the variable; every other build gets `None`, so no
/// production run can be made to fail on purpose.
pub fn from_env() -> std::result::Result<Option<Fault>, BadFaultVariable> {
    if !cfg!(feature = "fault-injection") {
        return Ok(None);
    }
    match std::env::var(FAULT_VARIABLE) {
        Ok(v) if !v.is_empty() => Ok(Some(v.parse()?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults() {
        assert_eq!(
            "1:oom:3".parse::<Fault>().unwrap(),
            Fault {
                rank: 1,
                kind: FaultKind::OutOfMemory,
                after_batches: 3
            }
        );
        assert!("1:melt:3".parse::<Fault>().is_err());
        assert!("1:error".parse::<Fault>().is_err());
        assert!("x:error:0".parse::<Fault>().is_err());
    }
}
