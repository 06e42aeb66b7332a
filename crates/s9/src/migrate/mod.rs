//! `migrate-s9`: the document's `migrate.py`. It runs the phases (extract, transform,
//! validate, load, verify) for the entities asked, each phase a separate Ferry binary found
//! beside this one, so every step can also be run (and debugged) by hand.
//!
//! Configuration is the document's `config.json` (`${VAR}` replaced from the environment or
//! `.env`); the source password reaches the tools through the environment, never the
//! command line. Each run records its steps in `data/.checkpoint.json` ([`record`]);
//! `--resume` continues that run only (extract and load continue after their last
//! checkpoint). All tools append to `data/reports/migration.log` (or `--log-file`),
//! warnings and errors also to `data/reports/migration_errors.log` (`--error-log-file`).
//!
//! `--offset` batches work in `data/batches/ENTITY-OFFSET-SIZE/` and are published into
//! the entity's files under `data/` after each step ([`batch`]), so references resolve
//! across batches and the final verify counts every batch. A dry run works in
//! `data/dry-run/`, leaving the last real run's files alone.

mod batch;
mod config;
mod loading;
mod monitor;
mod record;
mod runner;
mod verify;

use crate::transform::Entity;
use clap::{Parser, ValueEnum};
use ferry_shared::cli::CommonArgs;
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// → data/reports/count_comparison.json, then data/reports/integrity_report.json.
    Verify,
}

impl Phase {
    pub(crate) const ALL: [Phase; 5] = [
        Phase::Extract,
        Phase::Transform,
        Phase::Validate,
        Phase::Load,
        Phase::Verify,
    ];
    pub(crate) fn name(self) -> &'static str {
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
    /// Everything except writing to DynamoDB: extract, transform and validate run for real
    /// into DATA/dry-run/ (the last real run's files stay as they are); the load reads,
    /// checks and batches but writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the run data/.checkpoint.json records: skip its completed steps (after
    /// checking their files are the ones it wrote), resume the interrupted one.
    #[arg(long)]
    pub resume: bool,
    /// Configuration file (default config.json when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extraction page size, or with --offset the size of the one batch to migrate
    /// (default 50000; the load's batch is the configuration's batchSize, at most 25).
    #[arg(long, env = "FERRY_BATCH_SIZE", value_name = "N")]
    pub batch_size: Option<u64>,
    /// Incremental migration: extract only rows [offset, offset + batch-size).
    #[arg(long, value_name = "N", requires = "batch_size")]
    pub offset: Option<u64>,
    /// With `--phase validate`: check the loaded tables (references, required attributes,
    /// types, business rules) into data/reports/integrity_report.json, as the document's
    /// `migrate.py --phase validate --target`.
    #[arg(long)]
    pub target: bool,
    /// Extract only rows matching this SQL condition.
    #[arg(long, value_name = "SQL")]
    pub filter: Option<String>,
    /// Load valid items even when some were invalid (overrides the configuration).
    #[arg(long, env = "FERRY_CONTINUE_ON_ERROR")]
    pub continue_on_error: bool,
    /// Working folder (extracted/, transformed/, validated/, reports/, backups/).
    #[arg(
        long = "work-dir",
        alias = "data-dir",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `migrate-s9`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut args = args;
    if args.dry_run {
        // A rehearsal must not replace the last real run's files.
        args.data_dir = args.data_dir.join("dry-run");
    }
    let logs = CommonArgs {
        log_file: Some(
            args.common
                .log_file
                .clone()
                .unwrap_or_else(|| args.data_dir.join("reports/migration.log")),
        ),
        error_log_file: Some(
            args.common
                .error_log_file
                .clone()
                .unwrap_or_else(|| args.data_dir.join("reports/migration_errors.log")),
        ),
        ..args.common.clone()
    };
    ferry_shared::logging::init(&logs)?;
    args.common.log_file = logs.log_file;
    args.common.error_log_file = logs.error_log_file;
    let cfg = config::load(args.config.as_deref())?;
    if cfg.migration.rollback_on_error == Some(true) && !cfg.migration.backup_before_load {
        return Err(FerryError::Usage(
            "rollbackOnError needs backupBeforeLoad: there is nothing to roll back to".into(),
        )
        .into());
    }
    let plan = plan_of(&args)?;
    let mut r = runner::Runner::new(args, cfg, plan)?;
    r.run()
}

/// The plan the command line asks for; `None` for a bare `--resume` (the run's own plan).
fn asked_plan(args: &Args) -> Option<record::Plan> {
    let bare = args.phase.is_none()
        && !args.full
        && args.entity.is_empty()
        && args.filter.is_none()
        && args.offset.is_none()
        && args.batch_size.is_none()
        && !args.target;
    if args.resume && bare {
        return None;
    }
    Some(record::Plan {
        phases: match args.phase {
            Some(p) => vec![p],
            None => Phase::ALL.to_vec(),
        },
        entities: if args.entity.is_empty() {
            vec![Entity::Buyers, Entity::Producers, Entity::Sales]
        } else {
            args.entity.clone()
        },
        filter: args.filter.clone(),
        offset: args.offset,
        batch_size: args.batch_size,
        check_target: args.target,
    })
}

/// Checks the flags that go together; returns the asked plan (see [`asked_plan`]).
fn plan_of(args: &Args) -> anyhow::Result<Option<record::Plan>> {
    if (args.filter.is_some() || args.offset.is_some()) && args.entity.len() != 1 {
        return Err(FerryError::Usage(
            "--filter and --offset select rows of one table: give exactly one --entity".into(),
        )
        .into());
    }
    if args.target && args.phase != Some(Phase::Validate) {
        return Err(FerryError::Usage(
            "--target goes with --phase validate (the integrity check of the loaded tables)".into(),
        )
        .into());
    }
    Ok(asked_plan(args))
}

/// The whole of `migrate-s9`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("migrate-s9", |args: Args| run(args))
}
