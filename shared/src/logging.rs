//! Logging: tracing to stderr (level from -v/-q), optionally a log file at debug level.

use crate::cli::CommonArgs;
use std::sync::Mutex;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter::LevelFilter, fmt, Layer};

/// Target of events meant for the log file only.
pub const FILE_ONLY: &str = "ferry_log_file";

/// `--log-format json` is on: stderr carries JSON objects only.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True when stderr carries JSON objects only (`--log-format json`): the summary table and
/// the final error line are written as events then.
pub fn json_format() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes a line meant for people on stderr — or, with `--log-format json`, as an event
/// (an error event when `error`), so stderr stays one object per line.
#[allow(clippy::print_stderr)]
pub fn human_line(text: &str, error: bool) {
    if json_format() {
        if error {
            tracing::error!("{text}");
        } else {
            tracing::info!("{text}");
        }
        return;
    }
    crate::progress::suspend(|| eprintln!("{}{text}", crate::progress::line_prefix()));
}

/// Installs the subscriber. Returns an error only when the log file cannot be opened.
pub fn init(args: &CommonArgs) -> crate::Result<()> {
    let level = if args.quiet {
        LevelFilter::ERROR
    } else {
        match args.verbose {
            0 => LevelFilter::INFO,
            1 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    };
    init_at(args, level)
}

/// [`init`] with the console level given (a tool whose document names the levels, such as
/// `--log-level WARNING`); the log file still gets debug lines.
pub fn init_at(args: &CommonArgs, level: LevelFilter) -> crate::Result<()> {
    crate::run::configure(args);
    crate::progress::configure(args);
    JSON.store(
        args.log_format == crate::cli::LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
    // The final error line is printed by `exit::finish`; its copy for the log file carries
    // the target below and is kept off stderr so it shows once.
    let not_file_only = tracing_subscriber::filter::filter_fn(|m| m.target() != FILE_ONLY);
    let stderr_layer = stderr_layer(args.log_format)
        .with_filter(level)
        .with_filter(not_file_only);
    let file_layer = match &args.log_file {
        Some(path) => Some(
            fmt::layer()
                .with_writer(Mutex::new(append(path)?))
                .with_ansi(false)
                .with_target(false)
                .with_filter(LevelFilter::DEBUG.max(level))
                // Debug lines of Ferry's own crates; libraries (the AWS SDK, drivers) from
                // INFO up, or the file drowns in their request tracing.
                .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                    m.target().starts_with("ferry") || *m.level() <= tracing::Level::INFO
                })),
        ),
        None => None,
    };
    // The error log is what to read after a run: warnings and errors only.
    let error_layer = match &args.error_log_file {
        Some(path) => Some(
            fmt::layer()
                .with_writer(Mutex::new(append(path)?))
                .with_ansi(false)
                .with_target(false)
                .with_filter(LevelFilter::WARN),
        ),
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .with(error_layer)
        .try_init();
    Ok(())
}

/// The stderr log: JSON objects (`--log-format json`), or text — on a terminal without
/// timestamps and in colour unless `NO_COLOR` is set, otherwise with a timestamp on every
/// line (a log read later needs the time). Lines pass through the progress display so a bar
/// is lifted, the line printed, and the bar drawn again below it.
fn stderr_layer<S>(format: crate::cli::LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use std::io::IsTerminal;
    let writer = BarAware.with_max_level(tracing::Level::TRACE);
    if format == crate::cli::LogFormat::Json {
        return fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(writer)
            .boxed();
    }
    let terminal = std::io::stderr().is_terminal();
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let layer = fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(colour)
        .compact();
    if terminal {
        layer.without_time().boxed()
    } else {
        layer.boxed()
    }
}

/// Writes stderr lines while the progress bars are lifted.
struct BarAware;

/// One log line, held until complete so it is written in one piece.
pub struct BarAwareLine(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BarAware {
    type Writer = BarAwareLine;
    fn make_writer(&'a self) -> Self::Writer {
        BarAwareLine(Vec::with_capacity(128))
    }
}

impl std::io::Write for BarAwareLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarAwareLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        crate::progress::suspend(|| {
            use std::io::Write as _;
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(crate::progress::line_prefix().as_bytes());
            let _ = err.write_all(&self.0);
        });
    }
}

/// Opens a log file for appending (several tools of one run share it), creating its folder.
fn append(path: &std::path::Path) -> crate::Result<fs_err::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let file = crate::fsutil::private_options()
        .create(true)
        .append(true)
        .open(path)?;
    Ok(file)
}
