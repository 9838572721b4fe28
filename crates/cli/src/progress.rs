//! Progress bars on stderr (hidden when stderr is not a terminal or with -q).

use std::path::Path;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where bars draw: stderr, or nowhere when `quiet`. Bars shown together share one.
pub fn draw_target(quiet: bool) -> MultiProgress {
    if quiet {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
    }
}

/// A bar of length `total` drawn with `template`, labelled `label`, on `target`.
fn styled_bar(total: u64, template: &str, label: &str, target: &MultiProgress) -> ProgressBar {
    let bar = target.add(ProgressBar::new(total));
    bar.set_style(style(template));
    bar.set_prefix(label.to_string());
    bar
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .progress_chars("=> ")
}

/// A bar over the bytes of `path` read so far (compressed bytes for compressed input), with
/// the ETA; for a stream of unknown size (standard input, a pipe), the bytes and their rate.
pub fn file_bar(path: &Path, label: &str, quiet: bool) -> ProgressBar {
    file_bar_in(path, label, &draw_target(quiet))
}

/// [`file_bar`] on a shared draw target.
pub fn file_bar_in(path: &Path, label: &str, target: &MultiProgress) -> ProgressBar {
    let size = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    match size {
        Some(total) => styled_bar(
            total,
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            label,
            target,
        ),
        None => styled_bar(
            0,
            "{prefix:>10} {spinner} {bytes} read {binary_bytes_per_sec}",
            label,
            target,
        ),
    }
}

/// A bar over the items of the engine: starts at the count finished by an earlier run, shows
/// items/s, tokens/s and, when the total is known, the ETA; for a stream, a running count.
pub struct EmbedBar {
    bar: ProgressBar,
    unit: &'static str,
    started: std::time::Instant,
    tokens: std::sync::atomic::AtomicU64,
}

impl EmbedBar {
    /// A bar labelled `label` counting `unit`s (`seqs`, `frames`), hidden when `quiet`.
    pub fn new(label: &str, unit: &'static str, quiet: bool) -> Self {
        Self::new_in(label, unit, &draw_target(quiet))
    }

    /// [`EmbedBar::new`] on a shared draw target.
    pub fn new_in(label: &str, unit: &'static str, target: &MultiProgress) -> Self {
        let bar = styled_bar(0, "{prefix:>10} {pos}", label, target);
        EmbedBar {
            bar,
            unit,
            started: std::time::Instant::now(),
            tokens: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl virnucpro_engine::Progress for EmbedBar {
    fn begin(&self, total: Option<u64>, done: u64) {
        let unit = self.unit;
        match total {
            Some(total) => {
                self.bar.set_style(style(&format!(
                    "{{prefix:>10}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} {{msg}} ETA {{eta}}"
                )));
                self.bar.set_length(total);
            }
            None => self.bar.set_style(style(&format!(
                "{{prefix:>10}} {{spinner}} {{pos}} {unit} {{per_sec}} {{msg}}"
            ))),
        }
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
