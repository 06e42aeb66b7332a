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
//! 5), so it lands in logs and log files (with a timestamp) when stderr is not a terminal.
//!
//! All bars of a process share one [`MultiProgress`], and log lines and the summary are
//! printed through [`suspend`], so a line never lands inside a bar. Two tools in one pipe do
//! not both draw: with `--progress auto` a tool whose stdin is a pipe draws no bar (the
//! upstream tool, which knows the total, draws the pipe's one bar); `--progress always`
//! makes it draw anyway.
//!
//! Every unit's rows also feed one process-wide counter, sampled every second or so for the
//! report's throughput chart and the interrupt line.

use crate::cli::{CommonArgs, ProgressMode};
use crate::report::Sample;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The bars of this process.
static MULTI: OnceLock<MultiProgress> = OnceLock::new();
/// `--progress`, as a number (0 auto, 1 always, 2 never).
static MODE: AtomicU8 = AtomicU8::new(0);
/// Rows done by this run, all units together.
static ROWS: AtomicU64 = AtomicU64::new(0);
/// Throughput samples.
static SAMPLER: Mutex<Option<Sampler>> = Mutex::new(None);
/// Milliseconds since the run's start when the next sample is due: checked without the
/// lock on every [`Progress::inc`] (a per-row call for some tools).
static NEXT_SAMPLE_MS: AtomicU64 = AtomicU64::new(0);
/// At most this many samples are kept; then every other one is dropped and the interval
/// doubles, so a week-long run still has an even chart of bounded size.
const MAX_SAMPLES: usize = 512;

/// Takes `--progress` from the common flags.
pub fn configure(args: &CommonArgs) {
    let m = match args.progress {
        ProgressMode::Auto => 0,
        ProgressMode::Always => 1,
        ProgressMode::Never => 2,
    };
    MODE.store(m, Ordering::Relaxed);
}

/// Whether a [`Progress`] made now would show anything (a bar, or plain lines off a
/// terminal): a tool counts its source for the percent only when someone will see it
/// (`SELECT COUNT(*)` of 2M InnoDB rows is 0.8 s before the first row moves).
pub fn shows(quiet: bool) -> bool {
    draws_bars(quiet) || draws_lines(quiet)
}

/// Runs `f` (which writes to stderr) with the bars lifted, then draws them again.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match MULTI.get() {
        Some(m) => m.suspend(f),
        None => f(),
    }
}

/// Removes the bars from the screen for good (the process is about to stop).
pub fn clear() {
    if let Some(m) = MULTI.get() {
        let _ = m.clear();
        m.set_draw_target(ProgressDrawTarget::hidden());
    }
}

/// What a line this process writes to stderr starts with: on a terminal where the tool
/// upstream of this one's pipe draws the bar (this one draws none), a carriage return and
/// erase-line, so the line replaces the bar's current frame instead of leaving it frozen
/// above (the upstream redraws its bar below on its next tick).
pub fn line_prefix() -> &'static str {
    static PREFIX: OnceLock<&'static str> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let behind_a_drawing_pipe = MULTI.get().is_none()
            && MODE.load(Ordering::Relaxed) == 0
            && std::io::stderr().is_terminal()
            && stdin_is_pipe();
        if behind_a_drawing_pipe {
            "\r\x1b[2K"
        } else {
            ""
        }
    })
}

/// Rows done by this run so far (all units).
pub fn rows_done() -> u64 {
    ROWS.load(Ordering::Relaxed)
}

/// The throughput samples so far, ending with one taken now.
pub fn samples() -> Vec<Sample> {
    record_sample(true);
    SAMPLER
        .lock()
        .ok()
        .and_then(|s| s.as_ref().map(|s| s.samples.clone()))
        .unwrap_or_default()
}

/// Samples at a growing interval.
struct Sampler {
    start: Instant,
    every: f64,
    last: f64,
    samples: Vec<Sample>,
}

/// Adds a sample when the interval has passed (or `force`).
fn record_sample(force: bool) {
    let Ok(mut guard) = SAMPLER.lock() else {
        return;
    };
    let s = guard.get_or_insert_with(|| Sampler {
        start: crate::run::started().unwrap_or_else(Instant::now),
        every: 1.0,
        last: 0.0,
        samples: vec![Sample { secs: 0.0, rows: 0 }],
    });
    let secs = s.start.elapsed().as_secs_f64();
    if !force && secs - s.last < s.every {
        return;
    }
    s.last = secs;
    NEXT_SAMPLE_MS.store(((secs + s.every) * 1000.0) as u64, Ordering::Relaxed);
    s.samples.push(Sample {
        secs: (secs * 1000.0).round() / 1000.0,
        rows: ROWS.load(Ordering::Relaxed),
    });
    if s.samples.len() >= MAX_SAMPLES {
        let mut i = 0;
        s.samples.retain(|_| {
            i += 1;
            i % 2 == 1
        });
        s.every *= 2.0;
        NEXT_SAMPLE_MS.store(((secs + s.every) * 1000.0) as u64, Ordering::Relaxed);
    }
}

/// A sample is due (cheap: no lock).
fn sample_due() -> bool {
    let Some(start) = crate::run::started() else {
        return true;
    };
    start.elapsed().as_millis() as u64 >= NEXT_SAMPLE_MS.load(Ordering::Relaxed)
}

/// Whether this process draws bars: on a terminal, not quiet, not `never`, and (with `auto`)
/// not behind a pipe on stdin.
fn draws_bars(quiet: bool) -> bool {
    let mode = MODE.load(Ordering::Relaxed);
    if quiet || mode == 2 || !std::io::stderr().is_terminal() {
        return false;
    }
    mode == 1 || !stdin_is_pipe()
}

/// Whether this process writes plain progress lines: not quiet, not `never`, and stderr
/// not a terminal (a log file or another program reads it).
fn draws_lines(quiet: bool) -> bool {
    !quiet && MODE.load(Ordering::Relaxed) != 2 && !std::io::stderr().is_terminal()
}

/// Is stdin a pipe (another tool writes into this one)?
fn stdin_is_pipe() -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs_err::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo())
}

/// Width the label (with its colon) is padded to on the bar, so stacked bars line up.
const LABEL_WIDTH: usize = 21;
/// Cells of the bar.
const BAR_TEMPLATE: &str = "{prefix}{bar:20} {percent:>3}% ({pos}/{len}), {rate}, ETA {eta_short}";
const SPINNER_TEMPLATE: &str = "{prefix}{spinner} {pos} rows, {rate}, {elapsed}";
/// Bytes mode: the bar counts bytes of the input, the message rows.
const BYTES_TEMPLATE: &str = "{prefix}{bar:20} {percent:>3}% ({msg}), ETA {eta_short}";

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
    /// Plain lines are written (no bar, stderr not a terminal, not quiet or `never`).
    lines: bool,
    /// Bytes mode: the unit's input size, when percent and ETA come from bytes read.
    bytes_total: Option<u64>,
    bytes: u64,
    /// When `inc` last looked at the clock.
    clock: Ticks,
}

/// Ticks of a coarse clock, one every [`TICK`], counted by a thread of their own. `inc`
/// compares a number instead of reading the clock: extract counts every row, and reading
/// the clock for each was 6 % of its CPU (`clock_gettime`, perf, 2M rows), while a slow
/// row is still seen at once.
static TICKS: AtomicU64 = AtomicU64::new(0);
const TICK: Duration = Duration::from_millis(20);

/// The tick of the last look at the clock.
struct Ticks(u64);

impl Ticks {
    /// Starts the ticking thread once per process.
    fn start() -> Self {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("progress-tick".into())
                .spawn(|| loop {
                    std::thread::sleep(TICK);
                    TICKS.fetch_add(1, Ordering::Relaxed);
                });
            if spawned.is_err() {
                // No thread: every row looks at the clock, as before.
                TICKS.store(u64::MAX, Ordering::Relaxed);
            }
        });
        Ticks(TICKS.load(Ordering::Relaxed))
    }

    /// True when a tick has passed since the last look (which this is).
    fn due(&mut self) -> bool {
        let now = TICKS.load(Ordering::Relaxed);
        if now == self.0 && now != u64::MAX {
            return false;
        }
        self.0 = now;
        true
    }
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

/// The plain line in bytes mode: percent and ETA from bytes read, rows as counted.
fn plain_bytes_text(
    label: &str,
    rows: u64,
    bytes: u64,
    total: u64,
    rate: f64,
    secs: f64,
) -> String {
    let mut out = format!(
        "{label}: {}% ({rows} rows), {rate:.0} rows/s",
        percent(bytes, total)
    );
    if bytes > 0 && total > bytes {
        let eta = secs * (total - bytes) as f64 / bytes as f64;
        let _ = write!(
            out,
            ", ETA {}",
            short_duration(Duration::from_secs_f64(eta))
        );
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
        let draw = draws_bars(quiet);
        let bar = draw.then(|| {
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::hidden()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            };
            if let Some(s) = style(total) {
                bar.set_style(s);
            }
            bar.set_prefix(bar_prefix(label));
            let bar = MULTI
                .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
                .add(bar);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let lines = !draw && draws_lines(quiet);
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
            lines,
            bytes_total: None,
            bytes: 0,
            clock: Ticks::start(),
        }
    }

    /// Switches to bytes mode: the unit reads an input of `total` bytes, so percent and ETA
    /// come from [`set_bytes`](Self::set_bytes) while rows are still counted and shown.
    pub fn set_total_bytes(&mut self, total: u64) {
        self.bytes_total = Some(total);
        if let Some(b) = &self.bar {
            b.set_length(total);
            if let Ok(s) = ProgressStyle::with_template(BYTES_TEMPLATE) {
                b.set_style(s.progress_chars("█░").with_key(
                    "eta_short",
                    |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&short_duration(st.eta()));
                    },
                ));
            }
        }
    }

    /// Bytes of the input read so far (bytes mode).
    pub fn set_bytes(&mut self, pos: u64) {
        self.bytes = pos;
        if self.bytes_total.is_none() {
            return;
        }
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(self.rows_message());
        }
    }

    /// Rows per second of this run (rows of an earlier run, before a resume, not counted).
    fn rate(&self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        self.done.saturating_sub(self.base) as f64 / secs
    }

    /// `N rows, R rows/s`.
    fn rows_message(&self) -> String {
        format!("{} rows, {:.0} rows/s", self.done, self.rate())
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
        ROWS.fetch_add(n, Ordering::Relaxed);
        if !self.clock.due() {
            // The bar's position moves anyway (indicatif draws it on its own tick).
            if let (Some(b), None) = (&self.bar, self.bytes_total) {
                b.set_position(self.done);
            }
            return;
        }
        if sample_due() {
            record_sample(false);
        }
        if let Some(b) = &self.bar {
            if self.bytes_total.is_some() {
                b.set_message(self.rows_message());
            } else {
                b.set_position(self.done);
            }
            return;
        }
        if self.lines && self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            self.plain_line();
        }
    }

    fn plain_line(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = self.rate();
        let text = match self.bytes_total {
            Some(t) => plain_bytes_text(&self.label, self.done, self.bytes, t, rate, secs),
            None => plain_text(&self.label, self.done, self.total, rate),
        };
        // The tool's name first: two tools of one pipe may share the log.
        tracing::info!("{} progress {text}", crate::run::tool());
    }

    /// Ends the display. The bar is replaced by a line of its own at its final count, so
    /// later output cannot clear it (the document's stacked `[Extract] …: 100%` lines); an
    /// interrupted unit's bar shows how far it got, a spinner its count.
    #[allow(clippy::print_stderr)]
    pub fn finish(self) {
        let Some(b) = &self.bar else {
            return;
        };
        b.finish_and_clear();
        let counts = match self.total {
            Some(total) => {
                let pct = percent(self.done, total);
                let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
                format!(
                    "{}{} {pct:>3}% ({}/{total})",
                    "█".repeat(filled),
                    "░".repeat(20 - filled),
                    self.done
                )
            }
            None => format!("{} rows", self.done),
        };
        let line = format!(
            "{}{counts}, {:.0} rows/s, in {}",
            bar_prefix(&self.label),
            self.rate(),
            short_duration(self.start.elapsed())
        );
        suspend(|| eprintln!("{line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_looked_at_once_per_tick_and_a_slow_row_at_once() {
        let mut t = Ticks::start();
        std::thread::sleep(TICK * 3);
        assert!(t.due(), "a row after a tick is looked at");
        let looks = (0..1_000_000).filter(|_| t.due()).count();
        assert!(
            looks < 1_000,
            "{looks} looks at the clock for a million quick rows"
        );
        for _ in 0..3 {
            std::thread::sleep(TICK * 3);
            assert!(t.due(), "a slow row is always looked at");
        }
    }

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
