//! Logging: tracing to stderr (level from -v/-q), optionally a log file at debug level.

use crate::cli::CommonArgs;
use std::sync::Mutex;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter::LevelFilter, fmt, Layer};

/// Target of events meant for the log file only.
pub const FILE_ONLY: &str = "ferry_log_file";

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
    use std::io::IsTerminal;
    // The final error line is printed by `exit::finish`; its copy for the log file carries
    // the target below and is kept off stderr so it shows once.
    let not_file_only = tracing_subscriber::filter::filter_fn(|m| m.target() != FILE_ONLY);
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr.with_max_level(tracing::Level::TRACE))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .compact()
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
