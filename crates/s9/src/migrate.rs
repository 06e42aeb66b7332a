//! `migrate-s9`: the document's `migrate.py`. It runs the phases (extract, transform,
//! validate, load, verify) for the entities asked, each phase a separate Ferry binary found
//! beside this one, so every step can also be run (and debugged) by hand.
//!
//! Configuration is the document's `config.json` (`${VAR}` replaced from the environment or
//! `.env`); the source password reaches the tools through the environment, never the
//! command line. Completed steps are recorded in `data/.checkpoint.json`; `--resume` skips
//! them and resumes the interrupted one (extract and load continue after their last
//! checkpoint). All tools append to `data/reports/migration.log`, warnings and errors also
//! to `data/reports/migration_errors.log`.

use crate::transform::Entity;
use anyhow::Context;
use clap::{Parser, ValueEnum};
use ferry_shared::cli::{from_env, to_argv, BatchArgs, CommonArgs, RunArgs};
use ferry_shared::conn::SourceArgs;
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: &str = "\
Examples:
  migrate-s9 --dry-run                      # everything except writing to DynamoDB
  migrate-s9 --full                         # extract, transform, validate, load, verify
  migrate-s9 --phase extract --entity buyers
  migrate-s9 --config config-dev.json --verbose
  migrate-s9 --resume                       # after a failure: skip what is done
  migrate-s9 --entity buyers --batch-size 100 --offset 100";

/// A phase of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// S9 → data/extracted/ENTITY.ndjson.
    Extract,
    /// → data/transformed/ENTITY.ndjson.
    Transform,
    /// → data/validated/ENTITY.ndjson and data/reports/validation_report.json.
    Validate,
    /// → DynamoDB.
    Load,
    /// → data/reports/count_comparison.json.
    Verify,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Extract,
        Phase::Transform,
        Phase::Validate,
        Phase::Load,
        Phase::Verify,
    ];
    fn name(self) -> &'static str {
        match self {
            Phase::Extract => "extract",
            Phase::Transform => "transform",
            Phase::Validate => "validate",
            Phase::Load => "load",
            Phase::Verify => "verify",
        }
    }
}

/// Command line of `migrate-s9`.
#[derive(Parser, Debug)]
#[command(
    name = "migrate-s9",
    version,
    about = "Run the S9 → DynamoDB migration: extract, transform, validate, load, verify.",
    after_help = EXAMPLES
)]
pub struct Args {
    /// All phases (the default when no --phase is given).
    #[arg(long, conflicts_with = "phase")]
    pub full: bool,
    /// One phase only.
    #[arg(long, value_enum)]
    pub phase: Option<Phase>,
    /// Only this entity; repeatable (default: buyers, producers, sales).
    #[arg(long, value_enum)]
    pub entity: Vec<Entity>,
    /// Everything except writing to DynamoDB (extract, transform and validate run for real
    /// into data/; the load reads, checks and batches but writes nothing).
    #[arg(long)]
    pub dry_run: bool,
    /// Skip steps data/.checkpoint.json records as done; resume the interrupted one.
    #[arg(long)]
    pub resume: bool,
    /// Configuration file (default config.json when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extraction page size, or with --offset the size of the one batch to migrate.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u64>,
    /// Incremental migration: extract only rows [offset, offset + batch-size).
    #[arg(long, value_name = "N", requires = "batch_size")]
    pub offset: Option<u64>,
    /// Extract only rows matching this SQL condition.
    #[arg(long, value_name = "SQL")]
    pub filter: Option<String>,
    /// Load valid items even when some were invalid (overrides the configuration).
    #[arg(long)]
    pub continue_on_error: bool,
    /// Working folder (extracted/, transformed/, validated/, reports/, backups/).
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The document's configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    source: SourceCfg,
    #[serde(default)]
    target: TargetCfg,
    #[serde(default)]
    migration: MigrationCfg,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SourceCfg {
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ssl: Option<bool>,
    /// Milliseconds.
    connection_timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetCfg {
    region: String,
    sales_table: String,
    buyers_table: String,
    producers_table: String,
    /// A local DynamoDB-compatible server (not in the document: for tests and rehearsals).
    endpoint_url: Option<String>,
}

impl Default for TargetCfg {
    fn default() -> Self {
        TargetCfg {
            region: "us-east-1".into(),
            sales_table: "SalesTable-dev".into(),
            buyers_table: "BuyersTable-dev".into(),
            producers_table: "ProducersTable-dev".into(),
            endpoint_url: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MigrationCfg {
    batch_size: u64,
    max_retries: u32,
    continue_on_error: bool,
    backup_before_load: bool,
    /// Seconds before the first retry (the document's retryDelay).
    retry_delay: Option<f64>,
    exponential_backoff: Option<bool>,
    /// Milliseconds between batches.
    batch_delay: Option<u64>,
    concurrency: Option<usize>,
}

impl Default for MigrationCfg {
    fn default() -> Self {
        MigrationCfg {
            batch_size: 25,
            max_retries: 3,
            continue_on_error: false,
            backup_before_load: true,
            retry_delay: None,
            exponential_backoff: None,
            batch_delay: None,
            concurrency: None,
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new("config.json").exists() => PathBuf::from("config.json"),
        None => {
            tracing::info!("no config.json: using defaults and FERRY_SOURCE");
            return Ok(Config::default());
        }
    };
    let text = fs_err::read_to_string(&path)
        .map_err(|e| FerryError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let bad = |e: serde_json::Error| FerryError::Usage(format!("{}: {e}", path.display()));
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    ferry_shared::cli::interpolate_json(&mut value)?;
    Ok(serde_json::from_value(value).map_err(bad)?)
}

/// What `data/.checkpoint.json` records.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Steps done, as `phase:entity` (`validate:all`, `verify:all`).
    completed: Vec<String>,
    /// Their exit codes (3: records rejected), so a resumed run still reports them and
    /// still stops where rejects stop a run.
    #[serde(default)]
    codes: std::collections::BTreeMap<String, u8>,
    /// The step running when the run stopped.
    current: Option<String>,
}

/// The run: configuration, where the tools are, what is done.
struct Runner {
    args: Args,
    cfg: Config,
    bin_dir: PathBuf,
    envs: Vec<(String, String)>,
    source_url: Option<String>,
    checkpoint: ferry_shared::checkpoint::Checkpoint<Progress>,
    progress: Progress,
    rejects_seen: bool,
}

fn entity_title(e: Entity) -> &'static str {
    match e {
        Entity::Buyers => "Buyers",
        Entity::Producers => "Producers",
        Entity::Sales => "Sales",
    }
}

impl Runner {
    fn data(&self, rel: &str) -> PathBuf {
        self.args.data_dir.join(rel)
    }

    fn table(&self, e: Entity) -> &str {
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
    /// log files. Returns its exit code.
    fn tool(&self, name: &str, args: &[String]) -> anyhow::Result<u8> {
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

    /// Runs a step unless the checkpoint says it is done; exit 3 (rejects) is recorded and
    /// judged by the caller, anything else stops the run.
    fn step(&mut self, id: &str, name: &str, args: Vec<String>) -> anyhow::Result<u8> {
        if self.args.resume && self.progress.completed.iter().any(|c| c == id) {
            let code = self.progress.codes.get(id).copied().unwrap_or(0);
            tracing::info!(
                "{id}: done in an earlier run ({}){}",
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
            return Ok(code);
        }
        self.progress.completed.retain(|c| c != id);
        self.progress.codes.remove(id);
        self.progress.current = Some(id.to_string());
        self.save()?;
        let code = self.tool(name, &args)?;
        match code {
            0 | 3 => {
                if code == 3 {
                    self.rejects_seen = true;
                }
                self.progress.completed.push(id.to_string());
                self.progress.codes.insert(id.to_string(), code);
                self.progress.current = None;
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

    fn save(&self) -> anyhow::Result<()> {
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
        if let Some(b) = self.args.batch_size {
            batch.batch_size = usize::try_from(b).unwrap_or(usize::MAX);
        }
        let args = crate::extract::Args {
            source: self.source(),
            filter: self.args.filter.clone(),
            offset: self.args.offset,
            output: Some(self.data(&format!("extracted/{}.ndjson", e.name()))),
            no_header: false,
            batch,
            run: RunArgs {
                resume: self.resuming(&id),
                ..from_env()
            },
            common: self.common(&id),
        };
        self.step(&id, &format!("extract-{}", e.name()), to_argv(&args)?)
    }

    fn transform(&mut self, e: Entity) -> anyhow::Result<u8> {
        let id = format!("transform:{}", e.name());
        let args = crate::transform::Args {
            input: Some(self.data(&format!("extracted/{}.ndjson", e.name()))),
            output: Some(self.data(&format!("transformed/{}.ndjson", e.name()))),
            rejects: Some(self.data(&format!("transformed/{}.rejects.ndjson", e.name()))),
            common: self.common(&id),
        };
        self.step(&id, &format!("transform-{}", e.name()), to_argv(&args)?)
    }

    fn validate(&mut self, entities: &[Entity]) -> anyhow::Result<u8> {
        let id = "validate:all".to_string();
        let args = crate::validate::Args {
            input: self.data("transformed"),
            output: self.data("validated"),
            rejects: self.data("reports/validation_rejects.ndjson"),
            report_file: self.data("reports/validation_report.json"),
            entities: entities.to_vec(),
            common: self.common(&id),
            ..from_env()
        };
        self.step(&id, "validate-s9", to_argv(&args)?)
    }

    fn load(&mut self, e: Entity) -> anyhow::Result<u8> {
        let id = format!("load:{}", e.name());
        let m = &self.cfg.migration;
        let (key, gsis) = keys(e);
        let mut tuning = from_env::<ferry_dynamo::load::Tuning>();
        tuning.batch_size = m.batch_size.clamp(1, 25) as usize;
        tuning.max_retries = m.max_retries;
        if let Some(d) = m.retry_delay {
            // The document's retryDelay is in seconds; a fixed delay when backoff is off.
            tuning.retry_delay_ms = (d * 1000.0) as u64;
        }
        if m.exponential_backoff == Some(false) {
            tracing::warn!("exponentialBackoff false: load-dynamo always backs off exponentially (with jitter), as DynamoDB asks");
        }
        if let Some(d) = m.batch_delay {
            tuning.batch_delay_ms = d;
        }
        if let Some(c) = m.concurrency {
            tuning.concurrency = c;
        }
        let dry = if self.args.dry_run { ".dry-run" } else { "" };
        let args = ferry_dynamo::load::Args {
            input: Some(self.data(&format!("validated/{}.ndjson", e.name()))),
            table: self.table(e).to_string(),
            conn: self.dynamo(),
            tuning,
            create_table: true,
            key: Some(key.into()),
            gsi: gsis.iter().map(|g| (*g).to_string()).collect(),
            backup_before_load: m.backup_before_load,
            backup_dir: self.data("backups"),
            run: RunArgs {
                resume: self.resuming(&id),
                checkpoint: Some(self.data(&format!(".load-{}.checkpoint.json", e.name()))),
                dry_run: self.args.dry_run,
                rejects: Some(self.data(&format!("reports/load-{}{dry}.rejects.ndjson", e.name()))),
                ..from_env()
            },
            progress_label: Some(format!("[Load] {}", entity_title(e))),
            common: self.common(&id),
        };
        self.step(&id, "load-dynamo", to_argv(&args)?)
    }

    fn verify(&mut self, entities: &[Entity]) -> anyhow::Result<u8> {
        let id = "verify:all".to_string();
        let mut rejects = Vec::new();
        let mut filters = Vec::new();
        for e in entities {
            rejects.push(self.data(&format!("transformed/{}.rejects.ndjson", e.name())));
            rejects.push(self.data(&format!("reports/load-{}.rejects.ndjson", e.name())));
            if let Some(f) = &self.args.filter {
                filters.push(format!("{}={f}", e.name()));
            }
        }
        rejects.push(self.data("reports/validation_rejects.ndjson"));
        let t = &self.cfg.target;
        let args = crate::compare::Args {
            source: self.source(),
            conn: self.dynamo(),
            buyers_table: t.buyers_table.clone(),
            producers_table: t.producers_table.clone(),
            sales_table: t.sales_table.clone(),
            entity: entities.to_vec(),
            rejects,
            filters,
            output: self.data("reports/count_comparison.json"),
            segments: 4,
            common: self.common(&id),
        };
        self.step(&id, "compare-counts", to_argv(&args)?)
    }

    /// The source flags of a step: the URL without its password (that travels in
    /// FERRY_SOURCE_PASSWORD); none when the configuration has no source (the step then
    /// reads FERRY_SOURCE).
    fn source(&self) -> SourceArgs {
        SourceArgs {
            source: self.source_url.clone(),
            source_password_file: None,
        }
    }

    fn dynamo(&self) -> ferry_dynamo::client::DynamoArgs {
        ferry_dynamo::client::DynamoArgs {
            target: Some(format!("dynamodb://{}", self.cfg.target.region)),
            endpoint_url: self.cfg.target.endpoint_url.clone(),
        }
    }

    /// The common flags of a step: the run's log files, its verbosity, the step's report.
    fn common(&self, id: &str) -> CommonArgs {
        CommonArgs {
            verbose: self.args.common.verbose.min(1),
            quiet: self.args.common.quiet,
            log_file: Some(self.data("reports/migration.log")),
            error_log_file: Some(self.data("reports/migration_errors.log")),
            report: Some(self.data(&format!("reports/steps/{}.json", id.replace(':', "-")))),
        }
    }
}

/// Each table's key and global secondary indexes (the document's table design).
fn keys(e: Entity) -> (&'static str, &'static [&'static str]) {
    match e {
        Entity::Buyers => (
            "buyerId:S",
            &["email-index=email:S", "vatNumber-index=vatNumber:S"],
        ),
        Entity::Producers => ("producerId:S", &["vatNumber-index=vatNumber:S"]),
        Entity::Sales => (
            "saleId:S",
            &[
                "buyerId-saleDate-index=buyerId:S,saleDate:S",
                "producerId-saleDate-index=producerId:S,saleDate:S",
                "status-index=status:S,statusSaleDate:S",
            ],
        ),
    }
}

/// The source URL from the configuration (password kept out of it: it travels in
/// FERRY_SOURCE_PASSWORD).
fn source_url(c: &SourceCfg) -> Option<String> {
    let host = c.host.as_ref()?;
    let mut u = format!(
        "postgres://{}@{}:{}/{}",
        c.username.as_deref().unwrap_or("postgres"),
        host,
        c.port.unwrap_or(5432),
        c.database.as_deref().unwrap_or("postgres")
    );
    let mut q = Vec::new();
    if let Some(ssl) = c.ssl {
        q.push(format!(
            "sslmode={}",
            if ssl { "require" } else { "disable" }
        ));
    }
    if let Some(t) = c.connection_timeout {
        q.push(format!("connect_timeout={}", t.div_ceil(1000)));
    }
    if !q.is_empty() {
        u.push('?');
        u.push_str(&q.join("&"));
    }
    Some(u)
}

/// Runs `migrate-s9`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&CommonArgs {
        log_file: Some(args.data_dir.join("reports/migration.log")),
        error_log_file: Some(args.data_dir.join("reports/migration_errors.log")),
        ..args.common.clone()
    })?;
    let cfg = load_config(args.config.as_deref())?;
    let bin_dir = std::env::current_exe()
        .context("where is migrate-s9?")?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut envs = Vec::new();
    if let Some(p) = cfg.source.password.as_ref().filter(|p| !p.is_empty()) {
        envs.push(("FERRY_SOURCE_PASSWORD".to_string(), p.clone()));
    }
    let checkpoint = ferry_shared::checkpoint::Checkpoint::<Progress>::new(
        args.data_dir.join(".checkpoint.json"),
        "migrate-s9",
        "s9",
    );
    // A run without --resume redoes each step it runs; steps it does not run (other
    // phases or entities) stay recorded, so a later --resume knows them.
    let mut progress = checkpoint.load()?.unwrap_or_default();
    if !args.resume {
        progress.current = None;
    }
    let one_entity = args.entity.len() == 1;
    if (args.filter.is_some() || args.offset.is_some()) && !one_entity {
        return Err(FerryError::Usage(
            "--filter and --offset select rows of one table: give exactly one --entity".into(),
        )
        .into());
    }
    let entities = if args.entity.is_empty() {
        vec![Entity::Buyers, Entity::Producers, Entity::Sales]
    } else {
        args.entity.clone()
    };
    let phases: Vec<Phase> = match args.phase {
        Some(p) => vec![p],
        None => Phase::ALL.to_vec(),
    };
    let source_url = source_url(&cfg.source);
    let mut r = Runner {
        args,
        cfg,
        bin_dir,
        envs,
        source_url,
        checkpoint,
        progress,
        rejects_seen: false,
    };
    let started = std::time::Instant::now();
    tracing::info!(
        "S9 → DynamoDB: phases {}; entities {}{}",
        phases
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        entities
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", "),
        if r.args.dry_run { " (dry run)" } else { "" }
    );
    for phase in phases {
        if phase == Phase::Verify && r.args.dry_run {
            tracing::info!("verify: skipped in a dry run (nothing was loaded)");
            continue;
        }
        if phase == Phase::Verify && r.args.offset.is_some() {
            tracing::info!(
                "verify: skipped for one --offset batch (it compares whole tables); run --phase verify after the last batch"
            );
            continue;
        }
        let code = match phase {
            Phase::Validate => r.validate(&entities)?,
            Phase::Verify => r.verify(&entities)?,
            _ => {
                let mut worst = 0;
                for &e in &entities {
                    let c = match phase {
                        Phase::Extract => r.extract(e)?,
                        Phase::Transform => r.transform(e)?,
                        _ => r.load(e)?,
                    };
                    worst = worst.max(c);
                }
                worst
            }
        };
        if code == 3 && phase != Phase::Load && !r.continue_on_error() {
            tracing::error!(
                "{}: some records were rejected (see data/reports/); stopping before the next phase. \
                 Review them, then rerun with --resume --continue-on-error to load the valid ones",
                phase.name()
            );
            return Ok(Exit::Rejects);
        }
    }
    tracing::info!(
        "S9 → DynamoDB: done in {:.1}s{}",
        started.elapsed().as_secs_f64(),
        if r.rejects_seen {
            "; rejected records are in data/reports/ and data/transformed/*.rejects.ndjson"
        } else {
            ""
        }
    );
    Ok(if r.rejects_seen {
        Exit::Rejects
    } else {
        Exit::Ok
    })
}

/// The whole of `migrate-s9`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("migrate-s9", |args: Args| run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_url_keeps_the_password_out() {
        let c = SourceCfg {
            host: Some("s9-database.internal".into()),
            port: Some(5432),
            database: Some("s9_production".into()),
            username: Some("migration_user".into()),
            password: Some("pw".into()),
            ssl: Some(true),
            connection_timeout: Some(30000),
        };
        assert_eq!(
            source_url(&c).unwrap(),
            "postgres://migration_user@s9-database.internal:5432/s9_production?sslmode=require&connect_timeout=30"
        );
    }
}
