//! Progress of a run, as the engine reports it to whoever draws it (the CLI's bars).

/// Receives progress; the CLI draws a bar from it.
pub trait Progress: Sync {
    /// The run starts: `total` items when known in advance (a stream is counted as it is
    /// read), `done` of them already finished by an earlier run.
    fn begin(&self, total: Option<u64>, done: u64);
    /// `seqs` more sequences (of `tokens` tokens) were embedded.
    fn advance(&self, seqs: u64, tokens: u64);
    /// The run ended (successfully or not).
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: Option<u64>, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
    fn finish(&self) {}
}
