//! Progress: an indicatif bar on a terminal, a plain line every few seconds otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Reports rows done for one unit of work (a table, a file).
pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: u64,
    start: Instant,
    last_line: Instant,
    every: Duration,
    quiet: bool,
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
            let style = if total.is_some() {
                "{prefix} [{bar:30}] {human_pos}/{human_len} rows {per_sec} ETA {eta}"
            } else {
                "{prefix} {spinner} {human_pos} rows {per_sec} {elapsed}"
            };
            if let Ok(s) = ProgressStyle::with_template(style) {
                bar.set_style(s.progress_chars("=> "));
            }
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            bar,
            total,
            done: 0,
            start: now,
            last_line: now,
            every,
            quiet,
        }
    }

    /// Sets the starting count (after a resume).
    pub fn set_position(&mut self, done: u64) {
        self.done = done;
        if let Some(b) = &self.bar {
            b.set_position(done);
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
        let rate = self.done as f64 / secs;
        let eta = match self.total {
            Some(t) if rate > 0.0 && t > self.done => {
                format!(", ETA {:.0}s", (t - self.done) as f64 / rate)
            }
            _ => String::new(),
        };
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        tracing::info!(
            "progress {}: {}{} rows, {:.0} rows/s{}",
            self.label,
            self.done,
            of,
            rate,
            eta
        );
    }

    /// Rows so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the display.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
