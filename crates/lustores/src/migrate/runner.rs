//! One run: the connections, the run record, how a step's tool is started and recorded.

use super::connect::Side;
use super::record::{self, Run};
use super::Args;
use crate::mapping::Mapping;
use anyhow::Context;
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::{Exit, FerryError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Forwards the test-only crash hook to one step's tool only (`load:sales`), so a crash
/// test can stop exactly that step.
const CRASH_STEP_VAR: &str = "FERRY_TEST_CRASH_STEP";

/// The run in progress.
pub struct Runner {
    pub args: Args,
    pub mapping: Mapping,
    pub source: Side,
    pub target: Side,
    /// Where this run's files go (`WORK_DIR`, or `WORK_DIR/dry-run` for a dry run).
    pub work: PathBuf,
    /// The schema written: `public`, or the dry run's scratch copy.
    pub schema: String,
    pub run: Run,
    ck: Checkpoint<Run>,
    bin_dir: PathBuf,
    /// Held for the run: a second run in the same folder is refused.
    _lock: fs_err::File,
}

/// `migrate-lustores`: reads the flags, opens or resumes the run, runs it.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common())?;
    let mapping =
        Mapping::load(args.mapping.as_deref()).map_err(|e| FerryError::Usage(e.to_string()))?;
    if let Some(dir) = args.restore.clone() {
        let target = args.conn.target()?;
        return ferry_shared::exit::runtime()?.block_on(super::restore::run(&args, &dir, &target));
    }
    let (source, target) = (args.conn.source()?, args.conn.target()?);
    if args.conn.source_password.is_some() || args.conn.target_password.is_some() {
        tracing::warn!("a password was given on the command line, where other users can read it (ps); FERRY_SOURCE_PASSWORD / FERRY_TARGET_PASSWORD or a password file keep it private");
    }
    let mut runner = Runner::open(args, mapping, source, target)?;
    ferry_shared::exit::runtime()?.block_on(runner.all())
}

impl Runner {
    fn open(args: Args, mapping: Mapping, source: Side, target: Side) -> anyhow::Result<Runner> {
        let work = if args.dry_run {
            args.work_dir.join("dry-run")
        } else {
            args.work_dir.clone()
        };
        fs_err::create_dir_all(&work)?;
        let lock = lock_work_dir(&work)?;
        // This run's report replaces the last one; a failed run must not leave it standing.
        let _ = fs_err::remove_file(work.join("reports/migration_report.json"));
        if let Some(report) = &args.report {
            let _ = fs_err::remove_file(report);
        }
        let ck = record::checkpoint(&work);
        let mapping_text = serde_json::to_string(&mapping)?;
        let migrations = args
            .migrations_dir
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let identity = record::identity(&[
            &source.url,
            &target.url,
            &mapping_text,
            &args.migrate_users.to_string(),
            &migrations,
        ]);
        let run = if args.resume && !args.dry_run {
            let run = ck.load()?.ok_or_else(|| {
                FerryError::Usage(format!(
                    "--resume: there is no run to resume ({} does not exist); run without --resume",
                    ck.path().display()
                ))
            })?;
            run.check_resume(&identity)?;
            tracing::info!(
                "resuming run {} (started {}); done: {}",
                run.run_id,
                run.started_at,
                run.completed.join(", ")
            );
            stop_orphan(&run);
            run
        } else {
            Run::new(identity)
        };
        let bin_dir = std::env::current_exe()
            .context("where is migrate-lustores?")?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let schema = if args.dry_run {
            format!("ferry_dry_{}", &run.run_id[..8])
        } else {
            "public".into()
        };
        Ok(Runner {
            args,
            mapping,
            source,
            target,
            work,
            schema,
            run,
            ck,
            bin_dir,
            _lock: lock,
        })
    }

    /// A path in the work folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    /// Saves the run record (not in a dry run, which records nothing).
    pub fn save(&self) -> anyhow::Result<()> {
        if !self.args.dry_run {
            self.ck.save(&self.run)?;
        }
        Ok(())
    }

    /// Whether the resumed run completed `step` already (then it is not run again).
    pub fn done(&self, step: &str) -> bool {
        let done = self.run.done(step);
        if done {
            tracing::info!("{step}: done in this run before it stopped");
        }
        done
    }

    /// Whether `step` is the one the resumed run stopped in.
    pub fn interrupted(&self, step: &str) -> bool {
        self.args.resume && self.run.current.as_deref() == Some(step)
    }

    /// Marks `step` complete with the files it wrote.
    pub fn complete(&mut self, step: &str, files: &[PathBuf]) -> anyhow::Result<()> {
        self.run.complete(step, files)?;
        self.save()
    }

    /// Marks `step` as running.
    pub fn begin(&mut self, step: &str) -> anyhow::Result<()> {
        self.run.current = Some(step.to_string());
        self.save()
    }

    /// Runs a Ferry tool for `step`; its exit code (1 when killed by a signal).
    pub fn tool(&mut self, step: &str, name: &str, args: &[String]) -> anyhow::Result<u8> {
        let bin = self.bin_dir.join(name);
        let mut cmd = Command::new(&bin);
        cmd.args(args);
        for (var, side) in [
            ("FERRY_SOURCE_PASSWORD", &self.source),
            ("FERRY_TARGET_PASSWORD", &self.target),
        ] {
            match &side.password {
                Some(p) => cmd.env(var, p.expose()),
                None => cmd.env_remove(var),
            };
        }
        if std::env::var(CRASH_STEP_VAR).is_ok_and(|s| s != step) {
            cmd.env_remove(ferry_shared::checkpoint::CRASH_HOOK_VAR);
        }
        tracing::debug!("{step}: {name} {}", args.join(" "));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("run {} (build the workspace first)", bin.display()))?;
        self.run.current = Some(step.to_string());
        self.run.child_pid = Some(child.id());
        self.save()?;
        let status = child.wait().with_context(|| format!("wait for {name}"))?;
        self.run.child_pid = None;
        if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
            tracing::error!("{name} was killed by signal {sig}");
        }
        Ok(status.code().map_or(1, |c| c as u8))
    }

    /// The flags every step's tool gets: the run's log file, quiet unless verbose.
    pub fn common_flags(&self) -> Vec<String> {
        let mut v = vec![
            "--log-file".to_string(),
            self.args.log_file.display().to_string(),
        ];
        if self.args.verbose == 0 {
            v.push("-q".into());
        }
        v
    }
}

/// Locks `WORK_DIR/.lock` for this process: two runs writing one folder (its record, its
/// files) would each continue the other's steps.
fn lock_work_dir(work: &Path) -> anyhow::Result<fs_err::File> {
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(work.join(".lock"))?;
    match file.file().try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(FerryError::Usage(format!(
            "another migrate-lustores is running in {} (it holds {}); wait for it, or use another --work-dir",
            work.display(),
            work.join(".lock").display()
        ))
        .into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// A tool the interrupted run started may still be running (its parent was killed alone):
/// it is stopped before the resume starts the step again, or the two would write at once.
fn stop_orphan(run: &Run) {
    let Some(pid) = run.child_pid else { return };
    let cmdline = fs_err::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = [
        "load-postgres",
        "extract",
        "transform-lustores",
        "apply-migrations",
    ]
    .iter()
    .any(|t| {
        String::from_utf8_lossy(&cmdline)
            .split('\0')
            .next()
            .is_some_and(|a| a.ends_with(t))
    });
    if !ours {
        return;
    }
    tracing::warn!(
        "the interrupted run's tool (pid {pid}) is still running: stopping it before resuming"
    );
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
