//! The command line: the document's flags unchanged, and Ferry's.

use clap::Parser;
use ferry_shared::cli::CommonArgs;
use std::path::PathBuf;

/// Command line of `migrate-lustores`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "migrate-lustores",
    version,
    about = "Migrate the legacy Physics Stores MySQL database (physicsstores) into LUStores' PostgreSQL database (university_inventory)",
    after_help = "Examples:\n  migrate-lustores --schema-file migrations/database_schemas_export_20250911_152208.json \\\n      --source-host legacy-db --source-user readonly_user --source-database physicsstores \\\n      --target-host localhost --target-user postgres --target-database university_inventory\n  migrate-lustores --source mysql://root@127.0.0.1/physicsstores --target postgres://postgres@127.0.0.1/university_inventory --dry-run\n  migrate-lustores --source … --target … --resume\n\nPasswords: FERRY_SOURCE_PASSWORD / FERRY_TARGET_PASSWORD (environment or .env), --source-password-file /\n--target-password-file, or the document's --source-password / --target-password (visible to other users in ps).\nExit codes: 0 migrated and verified, 3 migrated and verified with legacy rows skipped (see the rejects files),\n1 a step or the verification failed (--resume continues), 2 usage or configuration error."
)]
pub struct Args {
    /// The schema export JSON (database_schemas_export_*.json); its migrations directory is
    /// applied in step 0 unless --migrations-dir says otherwise.
    #[arg(long, value_name = "FILE")]
    pub schema_file: Option<PathBuf>,
    /// The SQL migrations applied in step 0 (default: the schema file's folder).
    #[arg(long, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,
    #[command(flatten)]
    pub conn: super::connect::ConnArgs,
    /// Work folder: extracted and transformed files, rejects, reports, backups, the run record.
    #[arg(long, default_value = "data/lustores", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// The mapping file (default: the shipped config/lustores/mapping.json).
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Also migrate the legacy users (the document's user map: e-mail, bcrypt of the legacy
    /// password, LEVEL → role by the mapping); by default only the Legacy System user.
    #[arg(long)]
    pub migrate_users: bool,
    /// Read, transform and validate everything against a scratch copy of the target's
    /// tables (its real types and constraints), report, and leave the target unchanged.
    #[arg(long)]
    pub dry_run: bool,
    /// Put the target's tables back exactly as a step-1 backup folder holds them
    /// (WORK_DIR/backups/pre_migration_*), then stop. Needs only the target.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "dry_run"])]
    pub restore: Option<PathBuf>,
    /// Continue the recorded run after its last completed step (and, inside a load, after
    /// its last committed batch).
    #[arg(long)]
    pub resume: bool,
    /// Rows per committed batch of each load (10,000 keeps a load of sales under 100 MB;
    /// larger batches are no faster here).
    #[arg(
        long,
        env = "FERRY_BATCH_SIZE",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub batch_size: usize,
    /// The run's log (the document's data_migration.log).
    #[arg(
        long,
        env = "FERRY_LOG_FILE",
        default_value = "data_migration.log",
        value_name = "FILE"
    )]
    pub log_file: PathBuf,
    #[arg(short, long, action = clap::ArgAction::Count)]
    /// More log output.
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write the run in Ferry's common report shape here (the document's report is
    /// always WORK_DIR/reports/migration_report.json).
    #[arg(long, env = "FERRY_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
}

impl Args {
    /// The logging flags every tool shares.
    pub fn common(&self) -> CommonArgs {
        CommonArgs {
            verbose: self.verbose,
            quiet: self.quiet,
            log_file: Some(self.log_file.clone()),
            error_log_file: None,
            report: None,
            ..CommonArgs::default()
        }
    }
}
