//! The command line of the document's `run_migration.py`, plus Ferry's connection flags and
//! the places of logs, reports and backups.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  migrate-abparts --target postgres://postgres@127.0.0.1/abparts validate
  migrate-abparts --target postgres://postgres@127.0.0.1/abparts migrate --dry-run
  migrate-abparts --target postgres://postgres@127.0.0.1/abparts migrate --yes
  migrate-abparts --target postgres://postgres@127.0.0.1/abparts rollback --migration-id ID
  migrate-abparts --target postgres://postgres@127.0.0.1/postgres test --type comprehensive

Exit codes: 0 done, 1 failed (validation problems, a failed step: the database is as it was),
2 usage (flags, a database in the wrong model, no confirmation). Docs: docs/tools/migrate-abparts.md";

/// The ABParts restructuring, in place, in one transaction, with a proven rollback.
#[derive(Parser, Debug)]
#[command(name = "migrate-abparts", version, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The ABParts database: postgres://USER@HOST:PORT/DB (password from
    /// FERRY_TARGET_PASSWORD, .env or --target-password-file).
    #[arg(
        long,
        env = "FERRY_TARGET",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub target: Option<String>,
    /// File whose first line is the database password.
    #[arg(
        long,
        env = "FERRY_TARGET_PASSWORD_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub target_password_file: Option<PathBuf>,
    /// Console log level; logs/migration.log gets DEBUG lines too.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        default_value = "INFO",
        global = true
    )]
    pub log_level: LogLevel,
    /// Where migration.log goes.
    #[arg(
        long = "log-dir",
        alias = "logs-dir",
        default_value = "logs",
        global = true,
        value_name = "DIR"
    )]
    pub logs_dir: PathBuf,
    /// Where the migration, validation and test reports go.
    #[arg(
        long = "report-dir",
        alias = "reports-dir",
        default_value = "reports",
        global = true,
        value_name = "DIR"
    )]
    pub reports_dir: PathBuf,
    /// Where migration_backup_{id}.json goes.
    #[arg(
        long = "backup-dir",
        alias = "backups-dir",
        default_value = "backups",
        global = true,
        value_name = "DIR"
    )]
    pub backups_dir: PathBuf,
    /// The decision rules (default: the built-in config/abparts/mapping.json).
    #[arg(
        long,
        env = "FERRY_ABPARTS_MAPPING",
        global = true,
        value_name = "FILE"
    )]
    pub mapping: Option<PathBuf>,
    /// The AFTER schema's migrations (default: the built-in fixtures/abparts/migrations).
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,
}

/// The document's levels.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Steps and counts.
    Info,
    /// Problems only.
    Warning,
    /// Errors only.
    Error,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the data: the BEFORE rules (values no rule covers) or the AFTER model's 31 checks.
    Validate,
    /// Validate, dry run, ask, migrate, validate again (the document's flow).
    Migrate(MigrateArgs),
    /// Migrate generated samples in scratch databases and report durations and sizes.
    Test(TestArgs),
    /// Put the database back as it was before a committed migration, from its backup.
    Rollback(RollbackArgs),
    /// The database's model, the migrations recorded, the latest reports and backups.
    Status,
    /// Print the database's fingerprint (catalog and per-table checksums) as JSON.
    Fingerprint,
}

/// `migrate`'s flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MigrateArgs {
    /// Run every step for real inside the transaction, validate, report, then roll back.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the validation and the dry run before the migration.
    #[arg(long)]
    pub force: bool,
    /// Do not ask "Proceed with actual migration?".
    #[arg(long)]
    pub yes: bool,
    /// Go on when the pre-migration validation fails (values no rule covers still stop step 1).
    #[arg(long)]
    pub skip_validation: bool,
}

/// `test`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    /// rollback (minimal sample, migrate then roll back), sample (one size), comprehensive (all five).
    #[arg(long = "type", value_enum, default_value = "comprehensive")]
    pub kind: TestKind,
    /// The sample of `--type sample`.
    #[arg(long, value_enum, default_value = "small_sample")]
    pub sample_size: SampleSize,
    /// Keep the scratch databases (ferry_abtest_*).
    #[arg(long)]
    pub keep: bool,
}

/// Test kinds.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TestKind {
    /// Migrate the minimal sample and roll it back.
    Rollback,
    /// One sample.
    Sample,
    /// All five samples, each migrated, validated and rolled back.
    Comprehensive,
}

/// The reference's five samples.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
pub enum SampleSize {
    /// 3 orgs, 5 users, 10 parts.
    MinimalSample,
    /// 10 orgs, 25 users, 50 parts.
    SmallSample,
    /// 25 orgs, 75 users, 100 parts.
    MediumSample,
    /// 50 orgs, 150 users, 200 parts.
    LargeSample,
    /// 100 orgs, 200 users, 200 parts.
    ProductionScale,
}

/// `rollback`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct RollbackArgs {
    /// The backup file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "migration_id",
        conflicts_with = "migration_id"
    )]
    pub backup: Option<PathBuf>,
    /// The migration whose backup (backups/migration_backup_{id}.json) to restore.
    #[arg(long, value_name = "ID")]
    pub migration_id: Option<String>,
    /// Roll back although the database changed since the migration (those changes are lost).
    #[arg(long)]
    pub force: bool,
}
