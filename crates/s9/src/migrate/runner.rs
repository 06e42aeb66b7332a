//! One run of `migrate-s9`: the steps in order, each a Ferry tool, recorded in the run's
//! checkpoint ([`super::record`]).

use super::config::Config;
use super::record::{Plan, Progress};
use super::{batch, Args, Phase};
use crate::transform::Entity;
use anyhow::Context;
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::cli::{from_env, to_argv, BatchArgs, CommonArgs, RunArgs};
use ferry_shared::conn::SourceArgs;
use ferry_shared::report::RunReport;
use ferry_shared::{Exit, FerryError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The run: configuration, where the tools are, what is done.
pub struct Runner {
    pub(super) args: Args,
    pub(super) cfg: Config,
    bin_dir: PathBuf,
    envs: Vec<(String, String)>,
    source_url: Option<String>,
    checkpoint: Checkpoint<Progress>,
    pub(super) progress: Progress,
    rejects_seen: bool,
    report: RunReport,
    started: std::time::Instant,
    monitor: Option<super::monitor::Monitor>,
}

pub(super) fn entity_title(e: Entity) -> &'static str {
    match e {
        Entity::Buyers => "Buyers",
        Entity::Producers => "Producers",
        Entity::Sales => "Sales",
    }
}

/// The document's file names (`data/extracted/buyers.json`, …) as aliases of the item
/// files a step wrote: a symbolic link `ENTITY.json` → `ENTITY.ndjson` beside each.
pub(super) fn json_aliases(outputs: &[PathBuf]) -> anyhow::Result<()> {
    for p in outputs {
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".ndjson") else {
            continue;
        };
        let items_folder = p
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| matches!(d.to_str(), Some("extracted" | "transformed" | "validated")));
        if stem.contains('.') || !items_folder || !p.is_file() {
            continue; // rejects files and reports, or nothing written
        }
        let alias = p.with_file_name(format!("{stem}.json"));
        if alias.symlink_metadata().is_ok() {
            fs_err::remove_file(&alias)?;
        }
        std::os::unix::fs::symlink(name, &alias)
            .with_context(|| format!("link {} → {name}", alias.display()))?;
    }
    Ok(())
}

/// A load that failed (exit 1, or killed): the caller rolls back and reports.
#[derive(Debug)]
pub(super) struct LoadFailed {
    pub entity: Entity,
    pub code: u8,
}

impl std::fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "load of {} failed (exit {})",
            self.entity.name(),
            self.code
        )
    }
}

impl std::error::Error for LoadFailed {}

impl Runner {
    /// Opens (or, without `--resume`, starts) the run. `asked` is the plan the command line
    /// gives; `None` for a bare `--resume`.
    pub fn new(args: Args, cfg: Config, asked: Option<Plan>) -> anyhow::Result<Runner> {
        let bin_dir = std::env::current_exe()
            .context("where is migrate-s9?")?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut envs = Vec::new();
        if let Some(p) = cfg.source.password.as_ref().filter(|p| !p.is_empty()) {
            envs.push(("FERRY_SOURCE_PASSWORD".to_string(), p.clone()));
        }
        let checkpoint =
            Checkpoint::<Progress>::new(args.data_dir.join(".checkpoint.json"), "migrate-s9", "s9");
        let hash = super::record::config_hash(&cfg.source, &cfg.target);
        let progress = if args.resume {
            let p = checkpoint.load()?.ok_or_else(|| {
                FerryError::Usage(format!(
                    "--resume: there is no run to resume ({} does not exist); run without --resume",
                    checkpoint.path().display()
                ))
            })?;
            p.check_resume(&hash, asked.as_ref())?;
            tracing::info!(
                "resuming run {} (started {}): {}",
                p.run_id,
                p.started_at,
                super::record::describe(&p.plan)
            );
            p
        } else {
            let plan = asked.ok_or_else(|| FerryError::Usage("nothing to do".into()))?;
            Progress::new(hash, plan)
        };
        let source_url = super::config::source_url(&cfg.source);
        let mut report = RunReport::start("migrate-s9");
        report.source = source_url.clone();
        report.target = Some(format!("dynamodb://{}", cfg.target.region));
        report.dry_run = args.dry_run;
        let monitor = if args.dry_run {
            None
        } else {
            super::monitor::Monitor::connect(
                &cfg.cloudwatch,
                &cfg.target.region,
                &progress.run_id,
                args.common.log_file.clone(),
            )
        };
        Ok(Runner {
            args,
            cfg,
            bin_dir,
            envs,
            source_url,
            checkpoint,
            progress,
            rejects_seen: false,
            report,
            started: std::time::Instant::now(),
            monitor,
        })
    }

    pub(super) fn plan(&self) -> &Plan {
        &self.progress.plan
    }

    /// A file of the run's shared folder (`data/`).
    pub(super) fn data(&self, rel: &str) -> PathBuf {
        self.args.data_dir.join(rel)
    }

    /// The folder of this run's entity files: `data/`, or the batch's own folder.
    pub(super) fn work(&self) -> PathBuf {
        match batch::Batch::of(self.plan()) {
            Some(b) => b.dir(&self.args.data_dir),
            None => self.args.data_dir.clone(),
        }
    }

    pub(super) fn table(&self, e: Entity) -> &str {
        match e {
            Entity::Buyers => &self.cfg.target.buyers_table,
            Entity::Producers => &self.cfg.target.producers_table,
            Entity::Sales => &self.cfg.target.sales_table,
        }
    }

    fn continue_on_error(&self) -> bool {
        self.args.continue_on_error || self.cfg.migration.continue_on_error
    }

    /// Runs one tool; its stderr (progress, summary) goes to ours, its logs to the run's
    /// log files. Returns its exit code (1 when killed by a signal).
    pub(super) fn tool(&self, name: &str, args: &[String]) -> anyhow::Result<u8> {
        let bin = self.bin_dir.join(name);
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        tracing::debug!("running {name} {}", args.join(" "));
        let status = cmd
            .status()
            .with_context(|| format!("run {} (build the workspace first)", bin.display()))?;
        if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
            tracing::error!("{name} was killed by signal {sig}");
        }
        Ok(status.code().map_or(1, |c| c as u8))
    }

    /// The exit code of a step the resumed run already completed, if it did.
    pub(super) fn done_before(&mut self, id: &str) -> Option<u8> {
        if !self.args.resume || !self.progress.completed.iter().any(|c| c == id) {
            return None;
        }
        let code = self.progress.codes.get(id).copied().unwrap_or(0);
        tracing::info!(
            "{id}: done in this run before it stopped ({}){}",
            self.checkpoint.path().display(),
            if code == 3 {
                "; it rejected records"
            } else {
                ""
            }
        );
        if code == 3 {
            self.rejects_seen = true;
        }
        Some(code)
    }

    /// Marks `id` as running and runs the tool.
    pub(super) fn launch(&mut self, id: &str, name: &str, args: &[String]) -> anyhow::Result<u8> {
        self.progress.forget(id);
        self.progress.current = Some(id.to_string());
        self.save()?;
        let report = self.step_report(id);
        if report.exists() {
            // A report left by an earlier run must not pass for this step's.
            fs_err::remove_file(&report)?;
        }
        let code = self.tool(name, args);
        if let Some(m) = self.monitor.as_mut() {
            m.step(id, &super::loading::read_json(&report));
        }
        code
    }

    /// Records a step's outcome: 0 and 3 complete it (with the digests of `outputs`), 2 is
    /// a usage error, anything else a failure to fix and resume.
    pub(super) fn settle(
        &mut self,
        id: &str,
        name: &str,
        code: u8,
        outputs: &[PathBuf],
    ) -> anyhow::Result<u8> {
        match code {
            0 | 3 => {
                self.rejects_seen |= code == 3;
                json_aliases(outputs)?;
                self.progress.complete(id, code, outputs)?;
                self.save()?;
                Ok(code)
            }
            2 => Err(FerryError::Usage(format!(
                "step {id} ({name}) stopped on a usage or configuration error (exit 2); see its message above"
            ))
            .into()),
            _ => Err(FerryError::Failed(format!(
                "step {id} ({name}) failed with exit code {code}; fix the cause and rerun with --resume"
            ))
            .into()),
        }
    }

    /// Runs a step unless this run completed it already.
    pub(super) fn step(
        &mut self,
        id: &str,
        name: &str,
        args: Vec<String>,
        outputs: &[PathBuf],
    ) -> anyhow::Result<u8> {
        if let Some(code) = self.done_before(id) {
            return Ok(code);
        }
        let code = self.launch(id, name, &args)?;
        self.settle(id, name, code, outputs)
    }

    pub(super) fn save(&self) -> anyhow::Result<()> {
        if !self.args.dry_run {
            self.checkpoint.save(&self.progress)?;
        }
        Ok(())
    }

    fn resuming(&self, id: &str) -> bool {
        self.args.resume && self.progress.current.as_deref() == Some(id)
    }

    fn extract(&mut self, e: Entity) -> anyhow::Result<u8> {
        let id = format!("extract:{}", e.name());
        let mut batch = from_env::<BatchArgs>();
        if let Some(b) = self.plan().batch_size {
            batch.batch_size = usize::try_from(b).unwrap_or(usize::MAX);
        }
        let out = self.work().join(format!("extracted/{}.ndjson", e.name()));
        let args = crate::extract::Args {
            source: self.source(),
            filter: self.plan().filter.clone(),
            offset: self.plan().offset,
            output: Some(out.clone()),
            no_header: false,
            batch,
            run: RunArgs {
                resume: self.resuming(&id),
                ..from_env()
            },
            common: self.common(&id),
        };
        self.step(
            &id,
            &format!("extract-{}", e.name()),
            to_argv(&args)?,
            &[out],
        )
    }

    fn transform(&mut self, e: Entity) -> anyhow::Result<u8> {
        let id = format!("transform:{}", e.name());
        let w = self.work();
        let out = w.join(format!("transformed/{}.ndjson", e.name()));
        let rejects = w.join(format!("transformed/{}.rejects.ndjson", e.name()));
        let args = crate::transform::Args {
            input: Some(w.join(format!("extracted/{}.ndjson", e.name()))),
            output: Some(out.clone()),
            rejects: Some(rejects.clone()),
            common: self.common(&id),
        };
        let code = self.step(
            &id,
            &format!("transform-{}", e.name()),
            to_argv(&args)?,
            &[out, rejects],
        )?;
        self.publish(e)?;
        Ok(code)
    }

    fn validate(&mut self, entities: &[Entity]) -> anyhow::Result<u8> {
        let id = "validate:all".to_string();
        let w = self.work();
        let batch = batch::Batch::of(self.plan());
        let before = match &batch {
            Some(b) => b.earlier(&self.args.data_dir)?,
            None => Vec::new(),
        };
        let args = crate::validate::Args {
            input: w.join("transformed"),
            references: batch.is_some().then(|| self.data("transformed")),
            before,
            output: w.join("validated"),
            rejects: w.join("reports/validation_rejects.ndjson"),
            report_file: w.join("reports/validation_report.json"),
            entities: entities.to_vec(),
            common: self.common(&id),
            ..from_env()
        };
        let mut outputs: Vec<PathBuf> = entities
            .iter()
            .map(|e| w.join(format!("validated/{}.ndjson", e.name())))
            .collect();
        outputs.push(args.rejects.clone());
        outputs.push(args.report_file.clone());
        let code = self.step(&id, "validate-s9", to_argv(&args)?, &outputs)?;
        for &e in entities {
            self.publish(e)?;
        }
        Ok(code)
    }

    /// In a batch, makes the entity's files under `data/` the union of its batches.
    fn publish(&self, e: Entity) -> anyhow::Result<()> {
        if self.args.dry_run {
            return Ok(());
        }
        if let Some(b) = batch::Batch::of(self.plan()) {
            let published = b.publish(&self.args.data_dir, e)?;
            json_aliases(&published)?;
        }
        Ok(())
    }

    /// The source flags of a step: the URL without its password (that travels in
    /// FERRY_SOURCE_PASSWORD); none when the configuration has no source (the step then
    /// reads FERRY_SOURCE).
    pub(super) fn source(&self) -> SourceArgs {
        SourceArgs {
            source: self.source_url.clone(),
            source_password_file: None,
        }
    }

    pub(super) fn dynamo(&self) -> ferry_dynamo::client::DynamoArgs {
        ferry_dynamo::client::DynamoArgs {
            target: Some(format!("dynamodb://{}", self.cfg.target.region)),
            endpoint_url: self.cfg.target.endpoint_url.clone(),
        }
    }

    /// The common flags of a step: the run's log files, its verbosity, the step's report.
    pub(super) fn common(&self, id: &str) -> CommonArgs {
        CommonArgs {
            verbose: self.args.common.verbose.min(1),
            quiet: self.args.common.quiet,
            log_file: self.args.common.log_file.clone(),
            error_log_file: self.args.common.error_log_file.clone(),
            report: Some(self.step_report(id)),
            report_html: None,
            log_format: self.args.common.log_format,
            progress: self.args.common.progress,
        }
    }

    /// Where a step's JSON report goes.
    pub(super) fn step_report(&self, id: &str) -> PathBuf {
        self.data(&format!("reports/steps/{}.json", id.replace(':', "-")))
    }

    /// The phases of the plan, in order; `Ok(Some(exit))` when the run stops early.
    pub fn run(&mut self) -> anyhow::Result<Exit> {
        let plan = self.plan().clone();
        // A batch is checked before the run is recorded: a refused batch must not become
        // the run a later --resume continues.
        self.prepare_batches(&plan)?;
        self.save()?;
        tracing::info!(
            "S9 → DynamoDB, run {}: {}{}",
            self.progress.run_id,
            super::record::describe(&plan),
            if self.args.dry_run {
                " (dry run, in data/dry-run/)"
            } else {
                ""
            }
        );
        let exit = match self.phases(&plan) {
            Ok(exit) => exit,
            Err(e) => {
                self.finish_report(Exit::Failure, &e.to_string())?;
                if let Some(m) = self.monitor.as_mut() {
                    m.flush_logs();
                }
                return Err(e);
            }
        };
        self.finish_report(exit, "")?;
        if let Some(m) = self.monitor.as_mut() {
            m.flush_logs();
        }
        Ok(exit)
    }

    /// A batch may not overlap another; a whole extraction replaces the entity's batches.
    fn prepare_batches(&mut self, plan: &Plan) -> anyhow::Result<()> {
        if self.args.dry_run || !plan.phases.contains(&Phase::Extract) || self.args.resume {
            return Ok(());
        }
        match batch::Batch::of(plan) {
            Some(b) => b.begin(&self.args.data_dir)?,
            None => {
                for &e in &plan.entities {
                    batch::supersede(&self.args.data_dir, e)?;
                }
            }
        }
        Ok(())
    }

    fn phases(&mut self, plan: &Plan) -> anyhow::Result<Exit> {
        let in_batch = batch::Batch::of(plan).is_some();
        for &phase in &plan.phases {
            if phase == Phase::Verify && self.args.dry_run {
                tracing::info!("verify: skipped in a dry run (nothing was loaded)");
                continue;
            }
            if phase == Phase::Verify && in_batch {
                tracing::info!(
                    "verify: skipped for one --offset batch; run --phase verify after the last batch (it counts every batch)"
                );
                continue;
            }
            let code = match phase {
                Phase::Validate if plan.check_target => self.integrity(&plan.entities)?,
                Phase::Validate => self.validate(&plan.entities)?,
                Phase::Verify => self.verify_phase(&plan.entities)?,
                Phase::Load => match self.load_phase(&plan.entities)? {
                    Some(exit) => return Ok(exit),
                    None => 0,
                },
                _ => {
                    let mut worst = 0;
                    for &e in &plan.entities {
                        let c = match phase {
                            Phase::Extract => self.extract(e)?,
                            _ => self.transform(e)?,
                        };
                        worst = worst.max(c);
                    }
                    worst
                }
            };
            if code == 3 && phase != Phase::Load && !self.continue_on_error() {
                tracing::error!(
                    "{}: some records were rejected (see {}); stopping before the next phase. \
                     Review them, then rerun with --resume --continue-on-error to load the valid ones",
                    phase.name(),
                    self.work().join("reports").display()
                );
                return Ok(Exit::Rejects);
            }
        }
        let w = self.work();
        tracing::info!(
            "S9 → DynamoDB: done in {:.1}s{}",
            self.started.elapsed().as_secs_f64(),
            if self.rejects_seen {
                format!(
                    "; rejected records are in {} and {}",
                    w.join("reports").display(),
                    w.join("transformed/*.rejects.ndjson").display()
                )
            } else {
                String::new()
            }
        );
        Ok(if self.rejects_seen {
            Exit::Rejects
        } else {
            Exit::Ok
        })
    }

    /// `--report FILE`: migrate-s9's own run report (the steps' reports are in
    /// data/reports/steps/).
    fn finish_report(&mut self, exit: Exit, why: &str) -> anyhow::Result<()> {
        let Some(path) = self.args.common.report.clone() else {
            return Ok(());
        };
        for id in self.progress.completed.clone() {
            let r = super::loading::read_json(&self.step_report(&id));
            let mut t = ferry_shared::report::TableStats::new(&id);
            for x in r["tables"].as_array().into_iter().flatten() {
                t.migrated += x["migrated"].as_u64().unwrap_or(0);
                t.errors += x["errors"].as_u64().unwrap_or(0);
            }
            t.duration_secs = r["duration_secs"].as_f64().unwrap_or(0.0);
            self.report.tables.push(t);
        }
        let code = self.report.finish();
        if exit != Exit::Ok && exit != Exit::Rejects {
            self.report.fail(exit);
        } else if exit != code {
            self.report.exit_code = exit.code();
            self.report.status = if exit == Exit::Rejects {
                "rejects"
            } else {
                "ok"
            }
            .into();
        }
        self.report.notes.push(format!(
            "run {}: completed steps {}",
            self.progress.run_id,
            self.progress.completed.join(", ")
        ));
        if !why.is_empty() {
            self.report.notes.push(why.to_string());
        }
        ferry_shared::fsutil::write_json_atomic(&path, &self.report)?;
        Ok(())
    }
}
