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

/// A bar over the items of the engine: starts at the count finished by an earlier run, and
/// shows the rate of this run's new work only (items/s and tokens/s, whole numbers) and, when
/// the total is known, the ETA from that rate; for a stream, a running count.
pub struct EmbedBar {
    bar: ProgressBar,
    unit: &'static str,
    rate: std::sync::Mutex<Rate>,
}

/// This run's work so far, for the rate and the ETA.
struct Rate {
    since: std::time::Instant,
    items: u64,
    tokens: u64,
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
            rate: std::sync::Mutex::new(Rate {
                since: std::time::Instant::now(),
                items: 0,
                tokens: 0,
            }),
        }
    }
}

/// The bar's message: this run's rates in whole numbers and, when `remaining` is known and a
/// rate exists, the time left at that rate.
fn rate_message(unit: &str, items: u64, tokens: u64, secs: f64, remaining: Option<u64>) -> String {
    let secs = secs.max(1e-3);
    let per_sec = items as f64 / secs;
    let mut message = format!(
        "{} {unit}/s, {} tok/s",
        indicatif::HumanCount(per_sec.round() as u64),
        indicatif::HumanCount((tokens as f64 / secs).round() as u64)
    );
    if let Some(remaining) = remaining.filter(|_| per_sec > 0.0) {
        let left = std::time::Duration::from_secs_f64(remaining as f64 / per_sec);
        message.push_str(&format!(", ETA {}", indicatif::HumanDuration(left)));
    }
    message
}

impl virnucpro_engine::Progress for EmbedBar {
    fn begin(&self, total: Option<u64>, done: u64) {
        let unit = self.unit;
        match total {
            Some(total) => {
                self.bar.set_style(style(&format!(
                    "{{prefix:>10}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{msg}}"
                )));
                self.bar.set_length(total);
            }
            None => self.bar.set_style(style(&format!(
                "{{prefix:>10}} {{spinner}} {{human_pos}} {unit} {{msg}}"
            ))),
        }
        // The bar starts where the earlier run stopped; the rate counts from here.
        self.bar.set_position(done);
        if let Ok(mut rate) = self.rate.lock() {
            *rate = Rate {
                since: std::time::Instant::now(),
                items: 0,
                tokens: 0,
            };
        }
    }

    fn advance(&self, seqs: u64, tokens: u64) {
        self.bar.inc(seqs);
        let Ok(mut rate) = self.rate.lock() else {
            return;
        };
        rate.items += seqs;
        rate.tokens += tokens;
        let remaining = self
            .bar
            .length()
            .map(|len| len.saturating_sub(self.bar.position()));
        self.bar.set_message(rate_message(
            self.unit,
            rate.items,
            rate.tokens,
            rate.since.elapsed().as_secs_f64(),
            remaining,
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_new_work_only_in_whole_numbers() {
        // 1,000,000 items resumed do not enter the message: 2,876 new in 2 s.
        let m = rate_message("seqs", 2_876, 575_200, 2.0, Some(7_124));
        assert_eq!(m, "1,438 seqs/s, 287,600 tok/s, ETA 5 seconds");
        let m = rate_message("frames", 0, 0, 0.0, Some(10));
        assert_eq!(m, "0 frames/s, 0 tok/s");
        let m = rate_message("frames", 5, 50, 1.0, None);
        assert_eq!(m, "5 frames/s, 50 tok/s");
    }

    #[test]
    fn a_resumed_bar_starts_at_the_finished_count() {
        use virnucpro_engine::Progress;
        let target = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let bar = EmbedBar::new_in("embed", "seqs", &target);
        bar.begin(Some(100), 60);
        assert_eq!(bar.bar.position(), 60);
        bar.advance(10, 100);
        assert_eq!(bar.bar.position(), 70);
        assert_eq!(bar.rate.lock().unwrap().items, 10);
        assert!(bar.bar.message().starts_with(|c: char| c.is_ascii_digit()));
    }
}
