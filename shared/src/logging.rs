//! Logging: tracing to stderr (level from -v/-q), optionally a log file at debug level.

use crate::cli::CommonArgs;
use std::sync::Mutex;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter::LevelFilter, fmt, Layer};

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
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr.with_max_level(tracing::Level::TRACE))
        .with_target(false)
        .without_time()
        .compact()
        .with_filter(level);
    let file_layer = match &args.log_file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| crate::FerryError::io(dir, e))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| crate::FerryError::io(path, e))?;
            Some(
                fmt::layer()
                    .with_writer(Mutex::new(f))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(LevelFilter::DEBUG.max(level)),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    Ok(())
}
