//! Stopping on SIGINT/SIGTERM at a batch boundary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Set by a signal handler (to the signal number) or by the caller; the engine finishes the
/// batch in flight, writes a `signal` checkpoint and returns.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<AtomicUsize>);

impl StopFlag {
    /// A flag nothing has set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers SIGINT and SIGTERM to set this flag. A second signal of the same kind ends the
    /// process at once, for a user who does not want to wait for the batch in flight.
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
            // Handlers run in registration order: exit if this signal came before, then note it.
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, seen.clone())?;
            signal_hook::flag::register(sig, seen)?;
            signal_hook::flag::register_usize(sig, self.0.clone(), sig as usize)?;
        }
        Ok(())
    }

    /// Asks the engine to stop as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.0.store(signal as usize, Ordering::SeqCst);
    }

    /// The signal that asked to stop, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }
}
