//! `ferry copy --jobs N`: one table from a source to a target as N key ranges at once.
//!
//! Each range is a shard (`--shard I/N`, the rule in `ferry_shared::shard`), moved by its
//! own `extract | load-…` pipeline with its own checkpoint, so the ranges are read and
//! loaded concurrently and a resume continues each where it stopped. The pipelines are the
//! same processes a user (or a Kubernetes Indexed Job) runs by hand; this command only
//! starts them, waits, and reports. A shard is finished when its loader's report says so;
//! `--resume` reruns only the others.

use anyhow::Context;
use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::shard::{tiling_problems, ShardRange};
use ferry_shared::{Exit, FerryError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `ferry copy`.
#[derive(clap::Args, Debug, Clone)]
pub struct CopyArgs {
    /// Where the table is read: mysql://…, postgres://… or sqlite://… (as extract's --source).
    #[arg(long, env = "FERRY_SOURCE", hide_env_values = true, value_name = "URL")]
    source: String,
    /// Where it is loaded: postgres://… (load-postgres) or mysql://… (load-mysql).
    #[arg(long, env = "FERRY_TARGET", hide_env_values = true, value_name = "URL")]
    target: String,
    /// The table to copy.
    #[arg(long, short = 't', value_name = "NAME")]
    table: String,
    /// Target table name when it differs (SCHEMA.TABLE or DB.TABLE allowed).
    #[arg(long, value_name = "NAME")]
    target_table: Option<String>,
    /// Key ranges moved at the same time, each by its own extract | load pipeline.
    #[arg(long, short = 'j', default_value_t = 4, value_name = "N")]
    jobs: u32,
    /// Create the target table when it does not exist.
    #[arg(long)]
    create: bool,
    /// How rows meet existing rows (the loader's --mode); truncate empties only each range.
    #[arg(long, default_value = "insert", value_parser = ["insert", "upsert", "ignore", "truncate"], value_name = "MODE")]
    mode: String,
    /// Rows per committed batch of each loader.
    #[arg(long, env = "FERRY_BATCH_SIZE", value_name = "N")]
    batch_size: Option<u64>,
    /// Continue: finished ranges are skipped, the others resume from their checkpoints.
    #[arg(long)]
    resume: bool,
    /// Then compare each range (verify --shard) and combine the verdicts.
    #[arg(long)]
    verify: bool,
    /// Checkpoints, per-range reports and logs.
    #[arg(long, default_value = ".ferry/copy", value_name = "DIR")]
    state_dir: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
    /// The source password, taken out of the URL (given to the children by environment).
    #[arg(skip)]
    source_password: Option<String>,
    /// The target password, taken out of the URL.
    #[arg(skip)]
    target_password: Option<String>,
}

/// One range's files in the state directory.
struct ShardFiles {
    checkpoint: PathBuf,
    load_report: PathBuf,
    verify_report: PathBuf,
    log: PathBuf,
    extract_log: PathBuf,
    rejects: PathBuf,
    extract_rejects: PathBuf,
}

impl CopyArgs {
    fn target_table(&self) -> &str {
        self.target_table.as_deref().unwrap_or(&self.table)
    }

    fn files(&self, i: u32) -> ShardFiles {
        let stem = format!(
            "{}-{i}-of-{}",
            ferry_shared::cli::file_safe(self.target_table()),
            self.jobs
        );
        let f = |ext: &str| self.state_dir.join(format!("{stem}.{ext}"));
        ShardFiles {
            checkpoint: f("checkpoint.json"),
            load_report: f("load.json"),
            verify_report: f("verify.json"),
            log: f("log"),
            extract_log: f("extract.log"),
            rejects: f("rejects.ndjson"),
            extract_rejects: f("extract.rejects.ndjson"),
        }
    }

    /// `--shard I/N` for the tools; none when there is one job (any key then works).
    fn shard_args(&self, i: u32) -> Vec<String> {
        if self.jobs > 1 {
            vec!["--shard".into(), format!("{i}/{}", self.jobs)]
        } else {
            Vec::new()
        }
    }

    /// Gives a child the passwords taken out of the URLs.
    fn pass_passwords(&self, c: &mut Command, source: bool, target: bool) {
        if let (true, Some(pw)) = (source, &self.source_password) {
            c.env("FERRY_SOURCE_PASSWORD", pw);
        }
        if let (true, Some(pw)) = (target, &self.target_password) {
            c.env("FERRY_TARGET_PASSWORD", pw);
        }
    }

    fn loader(&self) -> anyhow::Result<&'static str> {
        let scheme = self.target.split(':').next().unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => Ok("load-postgres"),
            "mysql" | "mariadb" => Ok("load-mysql"),
            _ => Err(FerryError::Usage(format!(
                "--target {scheme}://…: ferry copy loads into postgres:// or mysql:// (mariadb://)"
            ))
            .into()),
        }
    }
}

/// A range's pipeline while it runs.
struct Running {
    index: u32,
    extract: Child,
    load: Child,
    status: Option<(i32, i32)>,
}

/// The finished shards: their load report says the run ended well (`ok` or `rejects`).
fn finished(path: &Path) -> bool {
    matches!(load_report(path)["status"].as_str(), Some("ok" | "rejects"))
}

/// The URL without its password, and the password (as the tools themselves parse it): the
/// tools this command starts get it through FERRY_SOURCE_PASSWORD / FERRY_TARGET_PASSWORD,
/// never in their argv (`ps`). A URL the tools would refuse is refused here, before any
/// process starts.
fn split_password(u: &str, side: &'static str) -> anyhow::Result<(String, Option<String>)> {
    let ep = ferry_shared::conn::parse_url(u, side)?;
    let pw = ep.password.map(|p| p.expose().to_string());
    Ok((ferry_shared::conn::strip_url_passwords(u), pw))
}

/// A child tool: Ferry's variables that name one run's files are the copy's, not the
/// children's (four processes writing one report or one checkpoint would clobber it).
fn child(name: &str) -> Command {
    let mut c = Command::new(crate::tool_path(name));
    for v in [
        "FERRY_REPORT",
        "FERRY_REPORT_HTML",
        "FERRY_SHARD",
        "FERRY_REJECTS",
    ] {
        c.env_remove(v);
    }
    c
}

/// Starts `extract --shard i/N | load-… --shard i/N` with its stderr to the range's log.
fn spawn(a: &CopyArgs, i: u32, loader: &str) -> anyhow::Result<Running> {
    let f = a.files(i);
    let log = fs_err::File::create(&f.log)?.into_parts().0;
    let extract_log = fs_err::File::create(&f.extract_log)?.into_parts().0;
    let mut ex = child("extract");
    ex.args([
        "--source",
        &a.source,
        "--table",
        &a.table,
        "-q",
        "--progress",
        "never",
    ])
    .args(a.shard_args(i))
    .arg("--rejects")
    .arg(&f.extract_rejects)
    .stdout(Stdio::piped())
    .stderr(extract_log);
    a.pass_passwords(&mut ex, true, false);
    let mut extract = ex.spawn().context("start extract")?;
    let pipe = extract.stdout.take().context("extract's stdout")?;
    let mut ld = child(loader);
    ld.args([
        "--target",
        &a.target,
        "--table",
        a.target_table(),
        "--mode",
        &a.mode,
    ])
    .args(a.shard_args(i))
    .arg("--checkpoint")
    .arg(&f.checkpoint)
    .arg("--report")
    .arg(&f.load_report)
    .arg("--rejects")
    .arg(&f.rejects)
    .args(["-q", "--progress", "never"]);
    if a.create {
        ld.arg("--create");
    }
    if a.resume {
        ld.arg("--resume");
    }
    if let Some(b) = a.batch_size {
        ld.args(["--batch-size", &b.to_string()]);
    }
    ld.arg("-").stdin(Stdio::from(pipe)).stderr(log);
    a.pass_passwords(&mut ld, false, true);
    let load = ld.spawn().with_context(|| format!("start {loader}"))?;
    Ok(Running {
        index: i,
        extract,
        load,
        status: None,
    })
}

/// Asks the loaders to stop between batches (they save their checkpoints and exit 130).
fn stop_all(running: &[Running]) {
    for r in running.iter().filter(|r| r.status.is_none()) {
        let _ = Command::new("kill")
            .args(["-TERM", &r.load.id().to_string()])
            .status();
    }
}

/// Waits for every pipeline; the first Ctrl+C or SIGTERM is passed on to the loaders.
fn wait_all(running: &mut [Running]) -> anyhow::Result<()> {
    let _handled = ferry_shared::run::Handled::new();
    let mut stopping = false;
    loop {
        if ferry_shared::run::interrupted() && !stopping {
            stopping = true;
            stop_all(running);
        }
        for r in running.iter_mut().filter(|r| r.status.is_none()) {
            if let Some(l) = r.load.try_wait()? {
                let e = r.extract.wait()?;
                r.status = Some((code(e), code(l)));
            }
        }
        if running.iter().all(|r| r.status.is_some()) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// A range's load report (`null` when it wrote none, or none that parses).
fn load_report(path: &Path) -> serde_json::Value {
    fs_err::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The key ranges the loaders report they loaded must tile the key space: a range resumed
/// after the source's MIN/MAX moved would otherwise leave a gap or an overlap unnoticed.
fn check_tiling(a: &CopyArgs) -> anyhow::Result<()> {
    if a.jobs < 2 {
        return Ok(());
    }
    let ranges: Vec<ShardRange> = (0..a.jobs)
        .filter_map(|i| {
            serde_json::from_value(load_report(&a.files(i).load_report)["details"]["shard"].clone())
                .ok()
        })
        .collect();
    let problems = tiling_problems(&ranges);
    if problems.is_empty() {
        return Ok(());
    }
    Err(FerryError::Failed(format!(
        "the ranges loaded do not cover the table exactly once: {}; the source changed between runs: verify the table, then copy it again",
        problems.join("; ")
    ))
    .into())
}

/// The last line of a range's log: what went wrong.
fn last_line(path: &Path) -> String {
    fs_err::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .to_string()
}

/// Runs `ferry copy`.
pub fn run(a: &CopyArgs) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&a.common)?;
    let (source, source_password) = split_password(&a.source, "source")?;
    let (target, target_password) = split_password(&a.target, "target")?;
    let a = &CopyArgs {
        source,
        target,
        source_password,
        target_password,
        ..a.clone()
    };
    if a.jobs == 0 {
        return Err(FerryError::Usage("--jobs must be at least 1".into()).into());
    }
    let loader = a.loader()?;
    fs_err::create_dir_all(&a.state_dir)?;
    let started = Instant::now();
    let mut running = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..a.jobs {
        let f = a.files(i);
        if a.resume && finished(&f.load_report) {
            skipped.push(i);
            continue;
        }
        if !a.resume {
            let _ = fs_err::remove_file(&f.load_report);
        }
        running.push(spawn(a, i, loader)?);
    }
    wait_all(&mut running)?;
    // A range is done when both tools ended well and the loader's report says it finished
    // (a loader stopped by --max-rejects also exits 3, with status `failed`).
    let failed: Vec<&Running> = running
        .iter()
        .filter(|r| {
            !matches!(r.status, Some((0, 0 | 3))) || !finished(&a.files(r.index).load_report)
        })
        .collect();
    let mut report = summary_report(a, &running, &skipped, started);
    if !failed.is_empty() {
        return Err(copy_failed(a, &failed, &mut report));
    }
    if let Err(e) = check_tiling(a) {
        report.fail_with(&e);
        report.emit(a.common.quiet, a.common.report.as_deref())?;
        return Err(e);
    }
    let mut exit = report.finish();
    if a.verify && !verify(a)? {
        report.status = "different".into();
        report.exit_code = Exit::Failure.code();
        exit = Exit::Failure;
    }
    report.emit(a.common.quiet, a.common.report.as_deref())?;
    Ok(exit)
}

/// The report of the whole copy: one line per range.
fn summary_report(
    a: &CopyArgs,
    running: &[Running],
    skipped: &[u32],
    started: Instant,
) -> RunReport {
    let mut report = RunReport::start("ferry");
    report.source = Some(ferry_shared::conn::redact_urls(&a.source));
    report.target = Some(ferry_shared::conn::redact_urls(&a.target));
    for i in 0..a.jobs {
        let f = a.files(i);
        let mut s = TableStats::new(&format!("{} {i}/{}", a.target_table(), a.jobs));
        let r = load_report(&f.load_report);
        s.migrated = r["tables"][0]["migrated"].as_u64().unwrap_or(0);
        s.skipped = r["tables"][0]["skipped"].as_u64().unwrap_or(0);
        s.errors = r["tables"][0]["errors"].as_u64().unwrap_or(0);
        if skipped.contains(&i) {
            s.resumed = s.migrated;
        }
        s.duration_secs = started.elapsed().as_secs_f64();
        report.tables.push(s);
    }
    for r in running {
        if let Some((e, l)) = r.status {
            report.notes.push(format!(
                "range {}/{}: extract exit {e}, load exit {l}",
                r.index, a.jobs
            ));
        }
    }
    report
}

/// The error of a copy whose ranges did not all finish: each failed range with its last
/// log line, and the command that continues.
fn copy_failed(a: &CopyArgs, failed: &[&Running], report: &mut RunReport) -> anyhow::Error {
    let mut lines = Vec::new();
    for r in failed {
        let f = a.files(r.index);
        // The extract's own failure explains the loader's (a stream that ended early).
        let log = match r.status {
            Some((e, _)) if e != 0 => &f.extract_log,
            _ => &f.log,
        };
        lines.push(format!(
            "range {}/{} (log {}): {}",
            r.index,
            a.jobs,
            log.display(),
            last_line(log)
        ));
    }
    let interrupted = failed.iter().all(|r| matches!(r.status, Some((_, 130))));
    let msg = format!(
        "{} of {} ranges did not finish: {}; rerun with --resume to continue only the unfinished ranges",
        failed.len(),
        a.jobs,
        lines.join("; ")
    );
    // Bad flags, a bad URL, a key that cannot be cut: every range failed the same way.
    let usage = failed
        .iter()
        .all(|r| matches!(r.status, Some((2, _) | (_, 2))));
    let err: anyhow::Error = if interrupted {
        FerryError::Interrupted(msg).into()
    } else if usage {
        FerryError::Usage(msg).into()
    } else {
        FerryError::Failed(msg).into()
    };
    report.fail_with(&err);
    let _ = report.emit(a.common.quiet, a.common.report.as_deref());
    err
}

/// `verify --shard I/N` for every range at once, then `verify --combine` (one plain
/// `verify` for one job). True when the target equals the source.
fn verify(a: &CopyArgs) -> anyhow::Result<bool> {
    let verify_cmd = || {
        let mut v = child("verify");
        v.args([
            "--source", &a.source, "--target", &a.target, "--table", &a.table,
        ])
        .args(["--target-table", a.target_table(), "--progress", "never"]);
        a.pass_passwords(&mut v, true, true);
        if a.common.quiet {
            v.arg("-q");
        }
        v
    };
    if a.jobs == 1 {
        return Ok(verify_cmd().status().context("run verify")?.success());
    }
    let mut children = Vec::new();
    for i in 0..a.jobs {
        let f = a.files(i);
        let mut v = verify_cmd();
        v.arg("-q")
            .args(a.shard_args(i))
            .arg("--report")
            .arg(&f.verify_report)
            .stderr(fs_err::File::create(&f.log)?.into_parts().0);
        children.push(v.spawn().context("start verify")?);
    }
    for mut c in children {
        c.wait()?;
    }
    let mut combine = child("verify");
    if a.common.quiet {
        combine.arg("-q");
    }
    combine.arg("--combine");
    for i in 0..a.jobs {
        combine.arg(a.files(i).verify_report);
    }
    Ok(combine.status().context("run verify --combine")?.success())
}
