//! `main()` glue: run the tool, print one clear line on error, exit with the documented code.

use crate::error::{Exit, FerryError};
use std::process::ExitCode;

/// Finds the most specific exit code for an error chain.
///
/// A closed stdout (`| head`) is a clean exit, not a failure.
pub fn exit_code_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(fe) = cause.downcast_ref::<FerryError>() {
            return fe.exit();
        }
        if cause.downcast_ref::<clap::Error>().is_some() {
            return Exit::Usage;
        }
    }
    Exit::Failure
}

/// True when the error is only a closed output pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<FerryError>().is_some_and(
                |f| matches!(f, FerryError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe),
            )
    })
}

/// Renders an error chain as one line: `context: cause: cause`, secrets already redacted by
/// the code that built the messages.
///
/// The chain stops at a database error: its message already holds the server's words, and the
/// driver's own error below it would only repeat them.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let s = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        if matches!(
            cause.downcast_ref::<FerryError>(),
            Some(FerryError::Database(_))
        ) {
            break;
        }
    }
    crate::conn::redact_urls(&parts.join(": "))
}

/// Runs a tool's async `run` on a single-threaded runtime (what `#[tokio::main(flavor =
/// "current_thread")]` does), from the tool's library: the runtime and the futures are
/// compiled once there, and each binary's `main` is one call.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<Exit>>>(
    f: F,
) -> anyhow::Result<Exit> {
    runtime()?.block_on(f)
}

/// The single-threaded runtime of [`block_on`], for a caller that keeps it or runs
/// futures of another output on it.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("start the async runtime: {e}"))
}

/// Runs a tool's `run` result through the exit-code mapping. `tool` prefixes the error line.
///
/// Tools return `Ok(Exit::Rejects)` when they finished with rejects.
#[allow(clippy::print_stderr)]
pub fn finish(tool: &str, result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.code()),
        Err(err) if is_broken_pipe(&err) => {
            crate::run::finish(&err);
            ExitCode::SUCCESS
        }
        Err(err) => {
            let code = exit_code_for(&err);
            let mut line = one_line(&err);
            if code == Exit::Interrupted {
                if let Some(cmd) = crate::run::resume_command() {
                    line.push_str(&format!(" — to continue: {cmd}"));
                }
            }
            if crate::logging::json_format() {
                tracing::error!("{tool}: error: {line}");
            } else {
                crate::progress::suspend(|| {
                    eprintln!("{}{tool}: error: {line}", crate::progress::line_prefix());
                });
                tracing::error!(target: "ferry_log_file", "{line}");
            }
            crate::run::finish(&err);
            ExitCode::from(code.code())
        }
    }
}
