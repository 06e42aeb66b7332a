//! The run seen from outside a tool's own code: its name, its redacted command line, where
//! its report goes, and what happens when Ctrl+C or SIGTERM arrives.
//!
//! Every tool starts through [`crate::cli::main_with`], which calls [`begin`]; its logging
//! setup calls [`configure`] with the common flags. From then on:
//!
//! - a report is always written when `--report` was given, even when the run fails or is
//!   interrupted ([`finish`] writes it from the last [`publish`]ed counts when the tool could
//!   not);
//! - the first Ctrl+C or SIGTERM is left to a tool that said it handles it ([`Handled`]: it
//!   stops between committed units); any other tool, or a second signal, stops at once with
//!   one line saying what was done, where the checkpoint is and the exact command to go on.
//!   Stopping at once is safe for the same reason `kill -9` is: every tool commits a unit
//!   before recording it.

use crate::cli::CommonArgs;
use crate::report::RunReport;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// What is known about the run from its start.
struct Info {
    tool: String,
    argv: Vec<String>,
    supports_resume: bool,
    start: Instant,
    started_at: String,
}

/// Where the run's reports go, from the common flags.
#[derive(Default, Clone)]
struct Outputs {
    json: Option<PathBuf>,
    html: Option<PathBuf>,
}

static INFO: OnceLock<Info> = OnceLock::new();
static OUTPUTS: Mutex<Outputs> = Mutex::new(Outputs {
    json: None,
    html: None,
});
static LATEST: Mutex<Option<RunReport>> = Mutex::new(None);
static CHECKPOINT: Mutex<Option<PathBuf>> = Mutex::new(None);
static EMITTED: AtomicBool = AtomicBool::new(false);
static HANDLERS: AtomicUsize = AtomicUsize::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Work a stop does before the process exits (see [`on_stop`]).
type StopTask = Box<dyn Fn() + Send>;
static ON_STOP: Mutex<Vec<StopTask>> = Mutex::new(Vec::new());
/// Held while the final report is written, by the run's end or by a signal's stop.
static FINAL: Mutex<()> = Mutex::new(());
/// This run can be continued with `--resume` (the tool has the flag and the run's output
/// allows it: stdout cannot be resumed).
static RESUMABLE: AtomicBool = AtomicBool::new(true);

/// Records the run's start and installs the signal watcher. `supports_resume`: the tool has a
/// `--resume` flag, so the interrupt line can give the command that continues.
pub fn begin(tool: &str, supports_resume: bool) {
    let info = Info {
        tool: tool.to_string(),
        argv: std::env::args().collect(),
        supports_resume,
        start: Instant::now(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    if INFO.set(info).is_ok() {
        watch_signals();
    }
}

/// When the run started (for the throughput samples' clock).
pub fn started() -> Option<Instant> {
    INFO.get().map(|i| i.start)
}

/// When the run started, RFC 3339 (a report's `started_at`).
pub fn started_at() -> Option<String> {
    INFO.get().map(|i| i.started_at.clone())
}

/// Takes the report destinations from the common flags.
pub fn configure(args: &CommonArgs) {
    if let Ok(mut o) = OUTPUTS.lock() {
        o.json.clone_from(&args.report);
        o.html.clone_from(&args.report_html);
    }
}

/// The command line as the report shows it: passwords in URLs replaced by `***`.
pub fn command_line() -> Vec<String> {
    argv_with(crate::conn::redact_urls)
}

/// The run's argv (the process's, before [`begin`]), each argument passed through `f`.
fn argv_with(f: fn(&str) -> String) -> Vec<String> {
    match INFO.get() {
        Some(i) => i.argv.iter().map(|a| f(a)).collect(),
        None => std::env::args().map(|a| f(&a)).collect(),
    }
}

/// The shell command that continues this run: the same command line with `--resume` (added
/// when missing). `None` for a tool without `--resume`.
pub fn resume_command() -> Option<String> {
    let info = INFO.get()?;
    // A dry run wrote nothing: there is nothing to continue.
    let dry_run = info.argv.iter().any(|a| a == "--dry-run");
    if !info.supports_resume || dry_run || !RESUMABLE.load(Ordering::SeqCst) {
        return None;
    }
    // Passwords are left out rather than shown as `***`, which would be taken as the
    // password: FERRY_SOURCE_PASSWORD / FERRY_TARGET_PASSWORD (or .env) supply them.
    let mut argv = argv_with(crate::conn::strip_url_passwords);
    if let Some(first) = argv.first_mut() {
        // The name the user typed, not the path the shell resolved.
        if let Some(base) = Path::new(first.as_str()).file_name() {
            *first = base.to_string_lossy().into_owned();
        }
    }
    if !argv.iter().any(|a| a == "--resume") {
        // Before a trailing `-` or FILE would also parse; at the end is simplest to read.
        argv.push("--resume".into());
    }
    shlex::try_join(argv.iter().map(String::as_str)).ok()
}

/// Says this run cannot be continued with `--resume` (its output is stdout), so an
/// interrupt says to run it again instead.
pub fn not_resumable() {
    RESUMABLE.store(false, Ordering::SeqCst);
}

/// Keeps the tool's current counts, for the report the exit path writes if the tool stops
/// before writing its own.
pub fn publish(report: &RunReport) {
    if let Ok(mut l) = LATEST.lock() {
        *l = Some(report.clone());
    }
}

/// Records one table's committed rows in the published counts (a tool that publishes per
/// unit of work without its whole report at hand): the report an interrupt writes shows them.
pub fn publish_table(table: &str, migrated: u64, errors: u64) {
    if let Ok(mut l) = LATEST.lock() {
        let report = l.get_or_insert_with(|| RunReport::start(&tool_name()));
        match report.tables.iter_mut().find(|t| t.table == table) {
            Some(t) => {
                t.migrated = migrated;
                t.errors = errors;
            }
            None => {
                let mut t = crate::report::TableStats::new(table);
                t.migrated = migrated;
                t.errors = errors;
                report.tables.push(t);
            }
        }
    }
}

/// Names the checkpoint file a resume would read, for the interrupt line.
pub fn set_checkpoint(path: &Path) {
    if let Ok(mut c) = CHECKPOINT.lock() {
        *c = Some(path.to_path_buf());
    }
}

/// Writes `report` where the flags asked (JSON, and the HTML page) and remembers that this
/// run's report is written.
pub fn emitted(report: &RunReport, json: Option<&Path>) -> crate::Result<()> {
    // One writer of the final report: a signal's stop and the run's own end never both.
    let _final = FINAL.lock();
    write_final(report, json)
}

/// [`emitted`] with [`FINAL`] held.
fn write_final(report: &RunReport, json: Option<&Path>) -> crate::Result<()> {
    EMITTED.store(true, Ordering::SeqCst);
    publish(report);
    if let Some(p) = json {
        crate::fsutil::write_json_atomic(p, report)?;
    }
    let html = OUTPUTS.lock().ok().and_then(|o| o.html.clone());
    if let Some(p) = html {
        let value = serde_json::to_value(report)
            .map_err(|e| crate::FerryError::Failed(format!("report as JSON: {e}")))?;
        let page = crate::report_html::render_reports(&[(json.map(Path::to_path_buf), value)]);
        crate::fsutil::write_atomic(&p, page.as_bytes())?;
    }
    Ok(())
}

/// At the end of a run that failed: writes the report the tool could not (status `failed`
/// or `interrupted`, the error, the last published counts).
pub fn finish(err: &anyhow::Error) {
    let _final = FINAL.lock();
    finish_locked(err);
}

/// [`finish`] with [`FINAL`] held.
fn finish_locked(err: &anyhow::Error) {
    if EMITTED.load(Ordering::SeqCst) {
        return;
    }
    let json = OUTPUTS.lock().ok().and_then(|o| o.json.clone());
    let html = OUTPUTS.lock().ok().is_some_and(|o| o.html.is_some());
    if json.is_none() && !html {
        return;
    }
    let mut report = LATEST
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .unwrap_or_else(|| {
            let mut r = RunReport::start(&tool_name());
            r.dry_run = INFO
                .get()
                .is_some_and(|i| i.argv.iter().any(|a| a == "--dry-run"));
            r
        });
    report.fail_with(err);
    if crate::exit::is_broken_pipe(err) {
        // `| head`: exit 0 as documented, but the report says the output is incomplete.
        report.status = "failed".into();
        report.exit_code = 0;
        report.error = Some(format!(
            "stdout was closed by its reader after {} rows: the output is incomplete",
            crate::progress::rows_done()
        ));
    }
    report.throughput = crate::progress::samples();
    if let Err(e) = write_final(&report, json.as_deref()) {
        tracing::warn!("cannot write the report: {e}");
    }
}

/// The running tool's name.
pub fn tool() -> String {
    tool_name()
}

fn tool_name() -> String {
    INFO.get()
        .map_or_else(|| "ferry".into(), |i| i.tool.clone())
}

/// True once Ctrl+C or SIGTERM arrived (for a tool that polls between units).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// While alive, the first Ctrl+C or SIGTERM is left to the tool (it stops between committed
/// units and reports); a second one still stops at once.
pub struct Handled(());

impl Handled {
    /// Declares that the caller handles the first signal.
    pub fn new() -> Self {
        HANDLERS.fetch_add(1, Ordering::SeqCst);
        Handled(())
    }
}

impl Default for Handled {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Handled {
    fn drop(&mut self) {
        HANDLERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers work a signal's stop does before the process exits: cancelling the statement
/// a server runs for this run. A server goes on with a statement whose client has gone
/// (a DELETE waiting on a lock, or minutes of work) until it ends; nobody waits for it.
/// The task must bound its own time.
pub fn on_stop(task: impl Fn() + Send + 'static) {
    if let Ok(mut tasks) = ON_STOP.lock() {
        tasks.push(Box::new(task));
    }
}

/// A thread that waits for SIGINT and SIGTERM for the whole run.
fn watch_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("ferry-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let first = !INTERRUPTED.swap(true, Ordering::SeqCst);
                if first && HANDLERS.load(Ordering::SeqCst) > 0 {
                    continue;
                }
                stop_now(if sig == SIGTERM { "SIGTERM" } else { "Ctrl+C" });
            }
        });
}

/// Stops the process at once: the line, the report, exit 130.
#[allow(clippy::print_stderr, clippy::exit)]
fn stop_now(signal: &str) {
    // The run's own end may be writing its report right now: wait for it; if it wrote
    // one, the run is complete and ends by itself with its own exit code.
    let guard = FINAL.lock();
    if EMITTED.load(Ordering::SeqCst) {
        return;
    }
    drop(guard);
    let line = interrupt_line(signal);
    if crate::logging::json_format() {
        tracing::error!("{}: {line}", tool_name());
    } else {
        crate::progress::suspend(|| eprintln!("{}: {line}", tool_name()));
        tracing::error!(target: crate::logging::FILE_ONLY, "{line}");
    }
    crate::progress::clear();
    if let Ok(tasks) = ON_STOP.lock() {
        tasks.iter().for_each(|task| task());
    }
    let _final = FINAL.lock();
    finish_locked(&crate::FerryError::Interrupted(line).into());
    std::process::exit(i32::from(crate::Exit::Interrupted.code()));
}

/// `interrupted by Ctrl+C after 12s: 1200000 rows processed; …; to continue: CMD`.
fn interrupt_line(signal: &str) -> String {
    let secs = INFO.get().map_or(0, |i| i.start.elapsed().as_secs());
    let rows = crate::progress::rows_done();
    let mut line = format!(
        "interrupted by {signal} after {}: {rows} rows processed",
        crate::progress::short_duration(std::time::Duration::from_secs(secs))
    );
    let Some(cmd) = resume_command() else {
        line.push_str("; run the same command again to redo it");
        return line;
    };
    line.push_str("; what was committed stays");
    if let Some(cp) = CHECKPOINT.lock().ok().and_then(|c| c.clone()) {
        line.push_str(&format!(", with its checkpoint {}", cp.display()));
    }
    line.push_str(&format!("; to continue: {cmd}"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_guard_counts_while_alive() {
        let before = HANDLERS.load(Ordering::SeqCst);
        let g = Handled::new();
        assert_eq!(HANDLERS.load(Ordering::SeqCst), before + 1);
        drop(g);
        assert_eq!(HANDLERS.load(Ordering::SeqCst), before);
    }
}
