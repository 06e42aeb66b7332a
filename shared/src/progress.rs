//! Progress: an indicatif bar on a terminal, a plain line every few seconds otherwise.
//!
//! Both look like the S9 document's Monitoring section, so what an operator sees matches
//! the runbook they follow:
//!
//! ```text
//! [Extract] Buyers:     ████████████████████ 100% (1250/1250), 5210 rows/s, ETA 0s
//! progress [Extract] Sales: 45% (3844/8542), 1234 rows/s, ETA 4s
//! ```
//!
//! The plain line goes through `tracing::info!` every `FERRY_PROGRESS_SECS` seconds (default
//! 5), so it lands in logs and log files when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Width the label (with its colon) is padded to on the bar, so stacked bars line up.
const LABEL_WIDTH: usize = 21;
/// Cells of the bar.
const BAR_TEMPLATE: &str = "{prefix}{bar:20} {percent:>3}% ({pos}/{len}), {rate}, ETA {eta_short}";
const SPINNER_TEMPLATE: &str = "{prefix}{spinner} {pos} rows, {rate}, {elapsed}";

/// Reports rows done for one unit of work (a table, a file).
pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: u64,
    /// Rows already done when this run started (a resume): not counted in the rate.
    base: u64,
    start: Instant,
    last_line: Instant,
    every: Duration,
    quiet: bool,
}

/// `label:` padded so bars of different labels line up, as in the document.
fn bar_prefix(label: &str) -> String {
    format!("{:<LABEL_WIDTH$} ", format!("{label}:"))
}

/// Whole percent done, never over 100 (an empty unit is done).
fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (u128::from(done.min(total)) * 100 / u128::from(total)) as u64
    }
}

/// A short duration: `4s`, `2m05s`, `1h02m`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The plain progress line (without the leading `progress `).
fn plain_text(label: &str, done: u64, total: Option<u64>, rate: f64) -> String {
    let mut out = format!("{label}: ");
    match total {
        Some(t) => {
            let _ = write!(out, "{}% ({done}/{t}), {rate:.0} rows/s", percent(done, t));
            if rate > 0.0 && t > done {
                let eta = Duration::from_secs_f64((t - done) as f64 / rate);
                let _ = write!(out, ", ETA {}", short_duration(eta));
            }
        }
        None => {
            let _ = write!(out, "{done} rows, {rate:.0} rows/s");
        }
    }
    out
}

fn style(total: Option<u64>) -> Option<ProgressStyle> {
    let template = if total.is_some() {
        BAR_TEMPLATE
    } else {
        SPINNER_TEMPLATE
    };
    let s = ProgressStyle::with_template(template).ok()?;
    Some(
        s.progress_chars("█░")
            .with_key("rate", |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} rows/s", st.per_sec());
            })
            .with_key(
                "eta_short",
                |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&short_duration(st.eta()));
                },
            ),
    )
}

impl Progress {
    /// Starts progress for `label`; `total` is the expected row count when known.
    pub fn new(label: &str, total: Option<u64>, quiet: bool) -> Self {
        let every = std::env::var("FERRY_PROGRESS_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(5));
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                None => ProgressBar::new_spinner(),
            };
            if let Some(s) = style(total) {
                bar.set_style(s);
            }
            bar.set_prefix(bar_prefix(label));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            bar,
            total,
            done: 0,
            base: 0,
            start: now,
            last_line: now,
            every,
            quiet,
        }
    }

    /// Sets the starting count (after a resume).
    pub fn set_position(&mut self, done: u64) {
        self.done = done;
        self.base = done;
        self.start = Instant::now();
        if let Some(b) = &self.bar {
            b.set_position(done);
            // Rows of the earlier run are not this run's speed.
            b.reset_eta();
        }
    }

    /// Adds `n` rows.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.set_position(self.done);
            return;
        }
        if !self.quiet && self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            self.plain_line();
        }
    }

    fn plain_line(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = self.done.saturating_sub(self.base) as f64 / secs;
        tracing::info!(
            "progress {}",
            plain_text(&self.label, self.done, self.total, rate)
        );
    }

    /// Ends the display. A finished bar stays on screen at its final count (the document's
    /// stacked `[Extract] …: 100%` lines); a spinner is cleared.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            if self.total.is_some() {
                b.finish();
            } else {
                b.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_reads_like_the_document() {
        assert_eq!(
            plain_text("[Extract] Sales", 3844, Some(8542), 1234.4),
            "[Extract] Sales: 45% (3844/8542), 1234 rows/s, ETA 3s"
        );
        assert_eq!(
            plain_text("[Extract] Buyers", 1250, Some(1250), 900.0),
            "[Extract] Buyers: 100% (1250/1250), 900 rows/s"
        );
        assert_eq!(
            plain_text("orders", 10, None, 5.0),
            "orders: 10 rows, 5 rows/s"
        );
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(7, 3), 100);
        assert_eq!(percent(u64::MAX / 2, u64::MAX), 49);
    }

    #[test]
    fn labels_line_up() {
        assert_eq!(bar_prefix("[Extract] Buyers"), "[Extract] Buyers:     ");
        assert_eq!(bar_prefix("[Extract] Producers"), "[Extract] Producers:  ");
        assert_eq!(bar_prefix("[Extract] Sales"), "[Extract] Sales:      ");
        assert_eq!(
            bar_prefix("a-very-long-table-name-indeed"),
            "a-very-long-table-name-indeed: "
        );
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_secs(4)), "4s");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn styles_parse() {
        assert!(style(Some(10)).is_some());
        assert!(style(None).is_some());
    }

    /// A terminal that keeps what was last drawn.
    #[derive(Debug, Clone, Default)]
    struct Screen(std::sync::Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut g) = self.0.lock() {
                g.push_str(s);
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            if let Ok(mut g) = self.0.lock() {
                g.clear();
            }
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bar_renders_like_the_document() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(1250),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style(Some(1250)).expect("style"));
        bar.set_prefix(bar_prefix("[Extract] Buyers"));
        bar.set_position(1250);
        bar.finish();
        let shown = screen.0.lock().expect("lock").clone();
        assert!(
            shown.starts_with("[Extract] Buyers:     ████████████████████ 100% (1250/1250), "),
            "{shown:?}"
        );
        assert!(shown.contains(" rows/s, ETA 0s"), "{shown:?}");

        let half = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(8542),
            ProgressDrawTarget::term_like(Box::new(half.clone())),
        );
        bar.set_style(style(Some(8542)).expect("style"));
        bar.set_prefix(bar_prefix("[Extract] Sales"));
        bar.set_position(3844);
        bar.tick();
        let shown = half.0.lock().expect("lock").clone();
        assert!(
            shown.starts_with("[Extract] Sales:      █████████░░░░░░░░░░░  45% (3844/8542), "),
            "{shown:?}"
        );
    }
}
