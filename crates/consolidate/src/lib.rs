//! `sqlite-consolidate`: several SQLite databases into one PostgreSQL database.
//!
//! With a mapping file (the document's `FIELD_MAPPINGS`, `DEFAULT_VALUES` and validation
//! rules as data; `config/mingus.json` is the MINGUS mapping) each mapped source table goes
//! to its target table: legacy ids become deterministic UUIDs, every value is converted
//! and validated, failures go to the rejects file and the report. Without one (generic
//! mode) every table of every file goes to a schema named after its file.
//!
//! Every run has an id and a folder (`--work-dir/ID`): checkpoint, key journals, rollback
//! SQL, report. Reruns are idempotent (deterministic keys, insert-or-skip), so a second
//! run changes nothing and `--resume` continues an interrupted one.

pub mod config;
pub mod convert;
pub mod migrate;
mod objects;
pub mod plan;
pub mod profile;
pub mod state;

mod finish;
mod prepare;
mod runner;
mod setup;

use clap::Parser;
use config::Config;
use convert::Ctx;
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::TargetArgs;
use ferry_shared::progress::Progress;
use ferry_shared::rejects::Rejects;
use ferry_shared::{DbContext, Exit, FerryError};
use finish::Finish;
use migrate::{Shared, Write};
use plan::TablePlan;
use prepare::Action;
use runner::Runner;
use setup::{Migration, Settings};
use state::RunState;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const EXAMPLES: &str = "\
Examples:
  # the MINGUS migration: five files, the document's mapping, backup and rollback journal
  sqlite-consolidate --config config/mingus.json --target postgres://postgres@127.0.0.1/mingus
  # validate every row, touch nothing
  sqlite-consolidate --config config/mingus.json --validate-only
  # undo a migration (prints the SQL; --execute runs it)
  sqlite-consolidate --rollback latest --target postgres://postgres@127.0.0.1/mingus --execute
  # generic mode: any SQLite files, one PostgreSQL schema per file
  sqlite-consolidate app.db logs=old/logs.sqlite --target postgres://postgres@127.0.0.1/app";

/// Command line of `sqlite-consolidate`.
#[derive(Parser, Debug)]
#[command(
    name = "sqlite-consolidate",
    version,
    about = "Consolidate SQLite databases into one PostgreSQL database: converted, validated, reversible.",
    after_help = EXAMPLES,
    mut_arg("target", |a| a.help("Target URL: postgres://USER@HOST:PORT/DB (or postgresql://; \
default: the configuration's postgres_url). The password comes from FERRY_TARGET_PASSWORD, a \
.env file or --target-password-file"))
)]
pub struct Args {
    /// SQLite files (generic mode, or added to the configuration's map): PATH or NAME=PATH.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Configuration file (MigrationConfig and table mappings), e.g. config/mingus.json.
    #[arg(long, env = "FERRY_CONSOLIDATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder that relative paths of the configuration's sqlite_databases start from
    /// (default: the configuration file's folder).
    #[arg(long, value_name = "DIR")]
    pub sqlite_dir: Option<PathBuf>,
    /// Add or replace one database of the map: NAME=PATH (repeatable).
    #[arg(long = "database", value_name = "NAME=PATH")]
    pub databases: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Target schema of mapped tables (default: the configuration's, else `public`).
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Numbers in DATE/DATETIME columns: their unit. Without it, generic mode rejects them
    /// (never guessed) and the configuration's mappings read Unix epochs by magnitude.
    #[arg(long, value_enum, value_name = "UNIT")]
    pub date_numbers: Option<convert::DateUnit>,
    /// Rows per COPY batch and checkpoint (default: the configuration's, else 10000).
    #[arg(long, env = "FERRY_BATCH_SIZE", value_name = "N")]
    pub batch_size: Option<usize>,
    /// Tables migrated at the same time (default: the configuration's max_workers, else 4).
    #[arg(
        long = "concurrency",
        alias = "workers",
        env = "FERRY_CONCURRENCY",
        value_name = "N"
    )]
    pub workers: Option<usize>,
    /// Read, convert and validate for real; check the target; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Read, convert and validate only; do not connect to PostgreSQL.
    #[arg(long)]
    pub validate_only: bool,
    /// Skip the backup of the SQLite files.
    #[arg(long)]
    pub no_backup: bool,
    /// Backups go to DIR/MIGRATION_ID/NAME.db (default: WORK_DIR/backups).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Keep no rollback journal for existing tables.
    #[arg(long)]
    pub no_rollback: bool,
    /// Where migration folders (checkpoint, journals, rollback.sql, report) go.
    #[arg(
        long,
        env = "FERRY_CONSOLIDATE_DIR",
        default_value = "consolidate-runs",
        value_name = "DIR"
    )]
    pub work_dir: PathBuf,
    /// Continue an interrupted migration: the latest under --work-dir, or --migration-id.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: the migration to continue (default: the latest).
    #[arg(long, value_name = "ID", requires = "resume")]
    pub migration_id: Option<String>,
    /// Write the rollback SQL of a migration (id or `latest`) to stdout, or run it with --execute.
    #[arg(long, value_name = "ID")]
    pub rollback: Option<String>,
    /// With --rollback: only these tables (target name, SCHEMA.TABLE or source DB.TABLE;
    /// repeatable). Children first is up to you: a table others still reference fails.
    #[arg(
        long = "table",
        short = 't',
        value_name = "NAME",
        requires = "rollback"
    )]
    pub tables: Vec<String>,
    /// With --rollback: run the rollback in one transaction.
    #[arg(long, requires = "rollback")]
    pub execute: bool,
    /// Rejected rows go here (default: the migration folder's rejects.ndjson).
    #[arg(long, env = "FERRY_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Stop (exit 3) after this many rejected rows; 0 means no limit.
    #[arg(long, env = "FERRY_MAX_REJECTS", default_value_t = 0, value_name = "N")]
    pub max_rejects: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Parses `NAME=PATH` or `PATH` (name: the file stem, made a safe identifier).
fn database_arg(s: &str) -> (String, PathBuf) {
    match s.split_once('=') {
        Some((n, p)) if !n.is_empty() && !n.contains('/') => (n.to_string(), PathBuf::from(p)),
        _ => {
            let p = PathBuf::from(s);
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sqlite".into());
            let name: String = stem
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            (ferry_shared::sql::pg_identifier(&name), p)
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs `sqlite-consolidate`: settings and plans, the target's schemas and tables, the
/// backups, the tables themselves, then the final state and report. Each step is its own
/// function; this one only keeps their order.
pub async fn run(args: Args) -> ferry_shared::Result<Exit> {
    let (cfg, base) = setup::load_config(&args)?;
    let common = setup::common_args(&args, &cfg);
    ferry_shared::logging::init(&common)?;
    if let Some(id) = &args.rollback {
        return rollback(&args, id).await;
    }
    let files = setup::database_files(&args, &cfg, &base)?;
    let settings = Settings::resolve(&args, &cfg)?;
    let (mut plans, levels) = setup::plan_tables(&cfg, &files, &settings.schema).await?;
    let ep = setup::target_endpoint(&args, &cfg, settings.mode)?;
    let resumed = setup::resumed(&args, ep.as_ref())?;
    let migration = Migration::open(&args, resumed.as_ref())?;
    let mut report = setup::start_report(
        settings.mode,
        &migration.id,
        &files,
        &plans,
        !cfg.tables.is_empty(),
    )?;
    // The target: connect, create what is missing (parents first), adopt what exists.
    report.target = ep.as_ref().map(ToString::to_string);
    let mut st =
        resumed.unwrap_or_else(|| setup::new_state(&migration.id, ep.as_ref(), &plans, &levels));
    let cp = state::checkpoint(&migration.dir, &migration.id);
    let actions = match &ep {
        Some(ep) => {
            let target = prepare::Target {
                st: &mut st,
                cp: &cp,
                dry_run: settings.mode.dry_run(),
                resume: args.resume,
                journals: settings.enable_rollback.then_some(migration.dir.as_path()),
                work_dir: &args.work_dir,
            };
            prepare::prepare(ep, &mut plans, &levels, target).await?
        }
        None => vec![Action::Run(Write::Nothing); plans.len()],
    };
    // Backups of the SQLite files, before any row moves.
    if settings.create_backup && !settings.mode.dry_run() {
        let dir = backup_dir(&args, &cfg, &migration.id);
        backup_files(&dir, &files)?;
        report.notes.push(format!("backups in {}", dir.display()));
    }
    let shared = Arc::new(shared_state(
        &args,
        &common,
        &settings,
        &migration,
        (st, cp),
        &plans,
    ));
    let runner = Runner {
        shared: shared.clone(),
        actions: &actions,
        ep: ep.as_ref(),
        workers: settings.workers,
        resume: args.resume,
        dry_run: settings.mode.dry_run(),
    };
    let outcome = runner.run(&levels, &mut report).await?;
    if cfg.tables.is_empty() && !settings.mode.dry_run() && outcome.failure.is_none() {
        if let Some(ep) = &ep {
            keep_schema(ep, &shared, &plans, &mut report).await?;
        }
    }
    let finishing = Finish {
        shared: &shared,
        plans: &plans,
        migration: &migration,
        mode: settings.mode,
        enable_rollback: settings.enable_rollback,
        common: &common,
    };
    finish::finish(&finishing, report, outcome)
}

/// Generic mode, after the rows: the source schema's identity columns, defaults, indexes,
/// foreign keys and views on the tables this migration created ([`objects`]).
async fn keep_schema(
    ep: &ferry_shared::conn::Endpoint,
    shared: &migrate::Shared,
    plans: &[TablePlan],
    report: &mut ferry_shared::report::RunReport,
) -> ferry_shared::Result<()> {
    let client = ferry_shared::conn::connect_postgres(ep).await?;
    let mut st = shared
        .state
        .lock()
        .map_err(|_| FerryError::Checkpoint("state lock".into()))?
        .0
        .clone();
    let mut notes = Vec::new();
    objects::recreate(&client, plans, &mut st, &mut notes).await?;
    let mut guard = shared
        .state
        .lock()
        .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
    let (state, cp) = &mut *guard;
    state.views_created = st.views_created;
    cp.save(state)?;
    for n in notes {
        tracing::warn!("{n}");
        report.notes.push(n);
    }
    Ok(())
}

/// What every table task shares: conversion settings, rejects file, state, progress.
fn shared_state(
    args: &Args,
    common: &CommonArgs,
    settings: &Settings,
    migration: &Migration,
    state: (RunState, Checkpoint<RunState>),
    plans: &[TablePlan],
) -> Shared {
    let total: u64 = plans.iter().map(|p| p.total).sum();
    Shared {
        ctx: Ctx {
            namespace: settings.namespace,
            zone: settings.zone,
            now: chrono::Utc::now().naive_utc(),
            date_numbers: settings.date_numbers,
        },
        batch_size: settings.batch_size,
        rejects: Mutex::new(Rejects::new(
            migration.rejects.clone(),
            args.resume,
            args.max_rejects,
        )),
        state: Mutex::new(state),
        progress: Mutex::new(Progress::new("consolidate", Some(total), common.quiet)),
        errors: Mutex::new(Vec::new()),
        keys_dir: migration.dir.join("keys"),
        plans: plans.to_vec(),
    }
}

/// Where this migration's backups go: `--backup-dir`, the configuration's, else
/// `WORK_DIR/backups`; one folder per migration id.
fn backup_dir(args: &Args, cfg: &Config, migration_id: &str) -> PathBuf {
    args.backup_dir
        .clone()
        .or(cfg.backup_dir.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| args.work_dir.join("backups"))
        .join(migration_id)
}

/// Backs up every SQLite file to `dir/NAME.db`; a backup already there (a resumed run)
/// is kept.
fn backup_files(dir: &Path, files: &[(String, PathBuf)]) -> ferry_shared::Result<()> {
    fs_err::create_dir_all(dir)?;
    for (n, f) in files {
        let dest = dir.join(format!("{n}.db"));
        if dest.exists() {
            continue;
        }
        backup(f, &dest)?;
        tracing::info!("backed up {} to {}", f.display(), dest.display());
    }
    Ok(())
}

/// Copies a SQLite file with SQLite's online backup API (consistent even while the
/// application writes to it).
fn backup(src: &Path, dest: &Path) -> ferry_shared::Result<()> {
    let from = plan::open(src)?;
    let mut to = rusqlite::Connection::open(dest)
        .with_db_context(|| format!("backup to {}", dest.display()))?;
    let b = rusqlite::backup::Backup::new(&from, &mut to)
        .with_db_context(|| format!("backup {}", src.display()))?;
    b.run_to_completion(1000, std::time::Duration::ZERO, None)
        .with_db_context(|| format!("backup {}", src.display()))
}

/// `--rollback ID`: writes the rollback SQL (stdout), or runs it with `--execute` — only
/// against the database the migration went into (its recorded fingerprint); `latest` is
/// the latest migration into the given target.
async fn rollback(args: &Args, id: &str) -> ferry_shared::Result<Exit> {
    let ep = rollback_target(args)?;
    let client = match &ep {
        Some(e) => Some(ferry_shared::conn::connect_postgres(e).await?),
        None => None,
    };
    let fp = match &client {
        Some(c) => Some(state::fingerprint(c).await?),
        None => None,
    };
    let here = |st: &state::RunState| match (&fp, &ep) {
        (Some(f), Some(e)) => same_target(st, f, e),
        _ => true,
    };
    let dir = if id == "latest" {
        state::latest(&args.work_dir, &here)?
    } else {
        args.work_dir.join(id)
    };
    let mut st = state::read(&dir)?;
    if let (Some(f), Some(e)) = (&fp, &ep) {
        if !same_target(&st, f, e) {
            return Err(FerryError::Usage(format!(
                "migration {} went into {} ({}), not into --target {e} ({f}): refused, nothing changed",
                st.migration_id,
                st.target,
                st.target_fingerprint.as_deref().unwrap_or("no fingerprint recorded")
            )));
        }
    }
    if st.rolled_back && args.execute {
        return Err(FerryError::Usage(format!(
            "migration {} was already rolled back; running it again could delete rows inserted since",
            st.migration_id
        )));
    }
    let path = state::write_rollback(&dir, &st, &args.tables)?;
    let Some(client) = client.filter(|_| args.execute) else {
        if args.execute {
            return Err(FerryError::Usage(
                "--rollback --execute needs the migration's --target (or the configuration's postgres_url)".into(),
            ));
        }
        let mut out = std::io::stdout().lock();
        let mut f = fs_err::File::open(&path)?;
        std::io::copy(&mut f, &mut out)?;
        tracing::info!(
            "rollback of {}: {} (run it with --execute)",
            st.migration_id,
            path.display()
        );
        return Ok(Exit::Ok);
    };
    let n = state::execute_rollback(&client, &path).await?;
    mark_rolled_back(&mut st, &args.tables);
    state::checkpoint(&dir, &st.migration_id).save(&st)?;
    tracing::info!("rolled back migration {} ({n} statements)", st.migration_id);
    Ok(Exit::Ok)
}

/// Whether migration `st` went into the database whose fingerprint is `fp` (a state from
/// before fingerprints compares the recorded target URL).
fn same_target(st: &state::RunState, fp: &str, ep: &ferry_shared::conn::Endpoint) -> bool {
    match &st.target_fingerprint {
        Some(f) => f == fp,
        None => st.target == ep.to_string(),
    }
}

/// Records a rollback: the whole migration, or the tables named.
fn mark_rolled_back(st: &mut state::RunState, tables: &[String]) {
    if tables.is_empty() {
        st.rolled_back = true;
        return;
    }
    let keys: Vec<String> = st
        .tables
        .iter()
        .filter(|(k, t)| state::selected(k, t, tables))
        .map(|(k, _)| k.clone())
        .collect();
    st.rolled_back_tables.extend(keys);
}

/// The rollback's target: `--target`, else the configuration's URL; none when neither.
fn rollback_target(args: &Args) -> ferry_shared::Result<Option<ferry_shared::conn::Endpoint>> {
    let from_config = args
        .config
        .as_ref()
        .and_then(|c| config::load(c).ok())
        .and_then(|l| l.config.postgres_url);
    let url = match (&args.target.target, from_config) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => ferry_shared::cli::interpolate(&u)?,
        (None, None) => return Ok(None),
    };
    TargetArgs {
        target: Some(url),
        ..args.target.clone()
    }
    .endpoint()
    .map(Some)
}

/// The whole of `sqlite-consolidate`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("sqlite-consolidate", |args: Args| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("start the async runtime: {e}"))
            .and_then(|rt| rt.block_on(run(args)).map_err(anyhow::Error::from))
    })
}
