//! `ferry`: the front door of the toolkit. One name to remember: it lists every tool with
//! what it does (`ferry`, `ferry list`), runs a tool by name (`ferry extract …`, the same as
//! `extract …`), and turns any set of JSON run reports into one HTML page (`ferry report`).
//!
//! The tool list is `ferry_shared::tools::TOOLS`, the one list `make install` also reads
//! (through `ferry list --names`).

mod copy;

use clap::{Parser, Subcommand};
use ferry_shared::{Exit, FerryError};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "Examples:
  ferry                                   # every tool with what it does
  ferry extract --source sqlite://legacy.db --table orders -o orders.ndjson
  ferry report -o night.html load.json verify.json";

/// The command line of `ferry`.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Ferry: small tools that move data out of legacy databases. Runs a tool by name, lists them, renders reports.",
    override_usage = "ferry [list [--names] | report [-o PAGE.html] REPORT.json... | copy --jobs N … | TOOL [ARGS]...]",
    after_help = tool_list_help(),
    allow_external_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Lists every Ferry tool with its one-line purpose (the default).
    List {
        /// Only the names, one a line (what `make install` reads).
        #[arg(long)]
        names: bool,
    },
    /// Copies one table as N key ranges at once (--jobs N), each an extract | load pipeline
    /// with its own checkpoint; --resume continues the unfinished ranges.
    Copy(Box<copy::CopyArgs>),
    /// Renders JSON run reports (`--report FILE` of any tool) into one self-contained HTML page.
    Report(ReportArgs),
    /// Runs the Ferry tool of that name with the arguments that follow.
    #[command(external_subcommand)]
    Tool(Vec<OsString>),
}

/// `ferry report`.
#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// The page to write (`-`: stdout).
    #[arg(
        short,
        long,
        value_name = "PAGE.html",
        default_value = "ferry-report.html"
    )]
    output: PathBuf,
    /// JSON reports written by `--report FILE`, in the order the page shows them.
    #[arg(value_name = "REPORT.json", required = true)]
    reports: Vec<PathBuf>,
}

/// The whole of `ferry`'s `main`: the common glue (`.env`, exit codes, `FERRY_GENERATE`).
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("ferry", run)
}

/// Runs `ferry` with parsed arguments.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        None => list(false),
        Some(Cmd::List { names }) => list(names),
        Some(Cmd::Report(args)) => report(&args),
        Some(Cmd::Copy(args)) => copy::run(&args),
        Some(Cmd::Tool(argv)) => run_tool(&argv),
    }
}

/// The tool table of `--help`, built from the one list.
fn tool_list_help() -> String {
    format!(
        "Tools (ferry TOOL --help for one):\n{}\n{EXAMPLES}",
        tool_table()
    )
}

/// `  name   purpose` lines, names padded to one column.
fn tool_table() -> String {
    let width = ferry_shared::tools::TOOLS
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    ferry_shared::tools::TOOLS
        .iter()
        .map(|(name, purpose)| format!("  {name:<width$}  {purpose}\n"))
        .collect()
}

/// `ferry list`: the names and purposes (or only the names, for scripts) on stdout.
fn list(names_only: bool) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    if names_only {
        for (name, _) in ferry_shared::tools::TOOLS {
            writeln!(out, "{name}")?;
        }
    } else {
        writeln!(
            out,
            "Ferry {}: small tools that move data out of legacy databases.\n\
             Run one as `TOOL …` or `ferry TOOL …`; `TOOL --help` says how.\n",
            env!("CARGO_PKG_VERSION")
        )?;
        write!(out, "{}", tool_table())?;
        writeln!(
            out,
            "\n  ferry report [-o PAGE.html] REPORT.json…   JSON run reports -> one HTML page"
        )?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// `ferry TOOL ARGS…`: replaces this process with the tool, so its exit code, signals and
/// terminal are the tool's own. Only names of the list are run: `ferry` is not a way to
/// start arbitrary programs.
fn run_tool(argv: &[OsString]) -> anyhow::Result<Exit> {
    let Some(name) = argv.first().and_then(|n| n.to_str()) else {
        return Err(FerryError::Usage("no tool named (see ferry list)".into()).into());
    };
    if ferry_shared::tools::purpose(name).is_none() {
        return Err(FerryError::Usage(format!(
            "{name:?} is not a Ferry tool; `ferry list` shows them (see ferry --help)"
        ))
        .into());
    }
    let program = beside_ferry(name).unwrap_or_else(|| PathBuf::from(name));
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&argv[1..]);
    exec(cmd, name, &program)
}

/// The tool to run: the one beside this `ferry`, else the one on PATH.
pub(crate) fn tool_path(name: &str) -> PathBuf {
    beside_ferry(name).unwrap_or_else(|| PathBuf::from(name))
}

/// The tool installed in the same folder as this `ferry`, when it is there: the tools of one
/// installation belong together, whatever PATH says.
fn beside_ferry(name: &str) -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let p = dir.join(name);
    p.is_file().then_some(p)
}

/// Becomes the tool (Unix `exec`); returns only when the tool cannot be started.
#[cfg(unix)]
fn exec(mut cmd: std::process::Command, name: &str, program: &Path) -> anyhow::Result<Exit> {
    use std::os::unix::process::CommandExt as _;
    cmd.arg0(name);
    let err = cmd.exec();
    Err(not_started(name, program, &err).into())
}

/// Runs the tool and passes its exit code on (where there is no `exec`).
#[cfg(not(unix))]
fn exec(mut cmd: std::process::Command, name: &str, program: &Path) -> anyhow::Result<Exit> {
    let status = cmd.status().map_err(|e| not_started(name, program, &e))?;
    std::process::exit(status.code().unwrap_or(1));
}

fn not_started(name: &str, program: &Path, err: &std::io::Error) -> FerryError {
    let where_ = if program.is_absolute() {
        program.display().to_string()
    } else {
        "PATH".to_string()
    };
    FerryError::Failed(format!(
        "cannot run {name} ({where_}): {err}; install the tools beside ferry or on PATH (make install)"
    ))
}

/// `ferry report`: reads every report (each must be a Ferry JSON run report) before writing
/// anything, so a wrong file leaves no half page behind.
fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let mut reports = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        reports.push((Some(path.clone()), read_report(path)?));
    }
    let page = ferry_shared::report_html::render_reports(&reports);
    if args.output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(page.as_bytes())?;
        out.flush()?;
    } else {
        ferry_shared::fsutil::write_atomic(&args.output, page.as_bytes())?;
        writeln!(
            std::io::stderr(),
            "ferry report: wrote {} ({} report(s))",
            args.output.display(),
            reports.len()
        )?;
    }
    Ok(Exit::Ok)
}

/// One report file as JSON, or a one-line usage error saying why it is not one.
fn read_report(path: &Path) -> Result<serde_json::Value, FerryError> {
    let shown = path.display();
    let text = fs_err::read_to_string(path)
        .map_err(|e| FerryError::Usage(format!("{shown}: cannot read the report: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        FerryError::Usage(format!(
            "{shown} is not a Ferry JSON report: not JSON ({e}); give files written by --report FILE"
        ))
    })?;
    if value
        .get("tool")
        .and_then(serde_json::Value::as_str)
        .is_none()
    {
        return Err(FerryError::Usage(format!(
            "{shown} is not a Ferry JSON report: it has no \"tool\" field; give files written by --report FILE"
        )));
    }
    Ok(value)
}
