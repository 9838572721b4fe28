//! Progress bars on stderr (hidden when stderr is not a terminal or with -q).

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of length `total` drawn with `template`, labelled `label`, hidden when `quiet`.
fn styled_bar(total: u64, template: &str, label: &str, quiet: bool) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A bar over the bytes of `path` read so far (compressed bytes for compressed input).
pub fn file_bar(path: &Path, label: &str, quiet: bool) -> ProgressBar {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    styled_bar(
        total,
        "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        label,
        quiet,
    )
}

/// A bar over sequences for the embedding engine: starts at the resumed count, shows
/// sequences/s, tokens/s and the ETA.
pub struct EmbedBar {
    bar: ProgressBar,
    started: std::time::Instant,
    tokens: std::sync::atomic::AtomicU64,
}

impl EmbedBar {
    /// A bar labelled `label`, hidden when `quiet`.
    pub fn new(label: &str, quiet: bool) -> Self {
        let bar = styled_bar(
            0,
            "{prefix:>8} [{bar:30}] {pos}/{len} seqs {per_sec} {msg} ETA {eta}",
            label,
            quiet,
        );
        EmbedBar {
            bar,
            started: std::time::Instant::now(),
            tokens: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl virnucpro_engine::Progress for EmbedBar {
    fn begin(&self, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.reset_eta();
    }

    fn advance(&self, seqs: u64, tokens: u64) {
        let total = self
            .tokens
            .fetch_add(tokens, std::sync::atomic::Ordering::Relaxed)
            + tokens;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("{:.0} tok/s", total as f64 / secs));
        self.bar.inc(seqs);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
