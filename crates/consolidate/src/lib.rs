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
pub mod plan;
pub mod state;

use clap::Parser;
use config::Config;
use convert::Ctx;
use ferry_generic::load::pg;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::{Engine, TargetArgs};
use ferry_shared::progress::Progress;
use ferry_shared::rejects::Rejects;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::quote_pg as q;
use ferry_shared::{DbContext, DbError, Exit, FerryError};
use migrate::{Shared, Write};
use plan::TablePlan;
use state::{RunState, TableState};
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
    after_help = EXAMPLES
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
    /// Rows per COPY batch and checkpoint (default: the configuration's, else 1000).
    #[arg(long, env = "FERRY_BATCH_SIZE", value_name = "N")]
    pub batch_size: Option<usize>,
    /// Tables migrated at the same time (default: the configuration's, else 4).
    #[arg(long, value_name = "N")]
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
    #[arg(long = "table", value_name = "NAME", requires = "rollback")]
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
            (name, p)
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs `sqlite-consolidate`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let loaded = match &args.config {
        Some(p) => Some(config::load(p)?),
        None => None,
    };
    let (cfg, base) = match loaded {
        Some(l) => (l.config, l.base),
        None => (Config::default(), PathBuf::from(".")),
    };
    let mut common = args.common.clone();
    if common.verbose == 0
        && cfg
            .log_level
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("debug"))
    {
        common.verbose = 1;
    }
    ferry_shared::logging::init(&common)?;
    if let Some(id) = &args.rollback {
        return rollback(&args, id).await;
    }
    // Databases: configuration, then positional files and --database (flags win).
    let mut files: Vec<(String, PathBuf)> = cfg
        .sqlite_databases
        .iter()
        .map(|(n, p)| (n.clone(), args.sqlite_dir.as_ref().unwrap_or(&base).join(p)))
        .collect();
    for s in args.files.iter().chain(&args.databases) {
        let (n, p) = database_arg(s);
        files.retain(|f| f.0 != n);
        files.push((n, p));
    }
    if files.is_empty() {
        return Err(FerryError::Usage(
            "no SQLite databases: give files, --database NAME=PATH or a --config with sqlite_databases".into(),
        )
        .into());
    }
    for (n, p) in &files {
        if !p.exists() {
            return Err(FerryError::NotFound(format!(
                "SQLite file {} (database {n}) does not exist",
                p.display()
            ))
            .into());
        }
    }
    let validate_only = args.validate_only || cfg.validate_only;
    let dry_run = args.dry_run || cfg.dry_run || validate_only;
    let batch_size = args.batch_size.or(cfg.batch_size).unwrap_or(1000).max(1);
    let workers = args.workers.or(cfg.max_workers).unwrap_or(4).max(1);
    let enable_rollback = !args.no_rollback && cfg.enable_rollback.unwrap_or(true);
    let create_backup = !args.no_backup && cfg.create_backup.unwrap_or(true);
    let schema = args
        .schema
        .clone()
        .or(cfg.target_schema.clone())
        .unwrap_or_else(|| "public".into());
    let zone = match &cfg.timezone {
        Some(z) => convert::parse_zone(z)
            .ok_or_else(|| FerryError::Usage(format!("timezone {z:?}: use UTC or ±HH:MM")))?,
        None => chrono::FixedOffset::east_opt(0).unwrap_or_else(|| chrono::Utc.fix()),
    };
    let namespace = match &cfg.uuid_namespace {
        Some(s) => uuid::Uuid::parse_str(s)
            .map_err(|e| FerryError::Usage(format!("uuid_namespace {s:?}: {e}")))?,
        None => convert::default_namespace(),
    };
    let mapped = !cfg.tables.is_empty();
    let mut plans: Vec<TablePlan> = if mapped {
        plan::mapped(&cfg.tables, &files, &schema)?
    } else {
        plan::generic(&files).await?
    };
    let levels: Vec<Vec<usize>> = if mapped {
        config::levels(&cfg.tables).map_err(FerryError::Usage)?
    } else {
        vec![(0..plans.len()).collect()]
    };
    // The migration: new, or the one being resumed.
    let resumed: Option<(PathBuf, RunState)> = match (args.resume, &args.migration_id) {
        (false, _) => None,
        (true, id) => {
            let dir = match id {
                None => state::latest(&args.work_dir)?,
                Some(id) => args.work_dir.join(id),
            };
            let st = state::read(&dir)?;
            if st.finished {
                tracing::info!(
                    "migration {} had finished; rerunning it skips what is there",
                    st.migration_id
                );
            }
            Some((dir, st))
        }
    };
    let migration_id = resumed
        .as_ref()
        .map(|r| r.1.migration_id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let run_dir = args.work_dir.join(&migration_id);
    fs_err::create_dir_all(run_dir.join("keys"))?;
    let mut report = RunReport::start("sqlite-consolidate");
    report.dry_run = dry_run;
    report.source = Some(
        files
            .iter()
            .map(|f| format!("{}={}", f.0, f.1.display()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    tracing::info!(
        "migration {migration_id}: {} tables from {} SQLite files{}",
        plans.len(),
        files.len(),
        if validate_only {
            " (validate only)"
        } else if dry_run {
            " (dry run)"
        } else {
            ""
        }
    );
    for p in &plans {
        if !p.unmapped.is_empty() {
            report.notes.push(format!(
                "{}: source columns not mapped, not migrated: {}",
                p.key(),
                p.unmapped.join(", ")
            ));
        }
    }
    if mapped {
        for (db, file) in &files {
            let conn = plan::open(file)?;
            for t in plan::sqlite_tables(&conn)? {
                if !plans.iter().any(|p| &p.db == db && p.source == t) {
                    report
                        .notes
                        .push(format!("{db}.{t}: table not in the mapping, not migrated"));
                }
            }
        }
    }
    // The target: connect, create what is missing (parents first), adopt what exists.
    let ep = if validate_only {
        None
    } else {
        let url = match (&args.target.target, &cfg.postgres_url) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(u)) => Some(ferry_shared::cli::interpolate(u)?),
            (None, None) => None,
        };
        let t = TargetArgs {
            target: url,
            ..args.target.clone()
        };
        let ep = t.endpoint()?;
        if ep.engine != Engine::Postgres {
            return Err(
                FerryError::Usage(format!("--target {ep} is not a postgres:// URL")).into(),
            );
        }
        Some(ep)
    };
    report.target = ep.as_ref().map(ToString::to_string);
    let mut st = match &resumed {
        Some((_, s)) => s.clone(),
        None => RunState {
            migration_id: migration_id.clone(),
            started_at: now(),
            target: ep.as_ref().map(ToString::to_string).unwrap_or_default(),
            order: levels.iter().flatten().map(|&i| plans[i].key()).collect(),
            ..Default::default()
        },
    };
    let cp = state::checkpoint(&run_dir, &migration_id);
    let mut writes: Vec<Write> = vec![Write::Nothing; plans.len()];
    let mut skip: Vec<Option<String>> = vec![None; plans.len()];
    if let Some(ep) = &ep {
        let client = ferry_shared::conn::connect_postgres(ep).await?;
        let schemas: Vec<String> = {
            let mut s: Vec<String> = plans.iter().map(|p| p.schema.clone()).collect();
            s.dedup();
            s.sort();
            s.dedup();
            s
        };
        for s in schemas {
            let exists: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                    &[&s],
                )
                .await
                .with_db_context(|| format!("look up schema {s}"))?
                .get(0);
            if !exists {
                if dry_run {
                    tracing::info!("dry run: would run CREATE SCHEMA {}", q(&s));
                } else {
                    st.schemas_created.push(s.clone());
                    cp.save(&st)?;
                    client
                        .batch_execute(&format!("CREATE SCHEMA {}", q(&s)))
                        .await
                        .with_db_context(|| format!("create schema {s}"))?;
                }
            }
        }
        for &i in levels.iter().flatten() {
            let p = &mut plans[i];
            let key = p.key();
            let prior = st.tables.get(&key).cloned();
            match pg::describe(&client, &p.schema, &p.target).await? {
                Some(t) => {
                    p.adopt(&t)?;
                    let created = prior.as_ref().is_some_and(|t| t.created);
                    let pk = p.primary_key();
                    let mut ts = prior.clone().unwrap_or(TableState {
                        schema: p.schema.clone(),
                        table: p.target.clone(),
                        primary_key: pk.clone(),
                        ..Default::default()
                    });
                    if prior.as_ref().is_some_and(|t| t.done) && args.resume {
                        skip[i] = Some("done before the resume".into());
                    } else if pk.is_empty()
                        && !created
                        && !prior.as_ref().is_some_and(|t| t.empty_keyless)
                    {
                        let empty: bool = client
                            .query_one(
                                &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", p.rel()),
                                &[],
                            )
                            .await
                            .with_db_context(|| format!("read {}", p.rel()))?
                            .get(0);
                        if empty {
                            ts.empty_keyless = true;
                            writes[i] = Write::Insert;
                        } else {
                            skip[i] = Some(format!(
                                "{} has rows and no primary key: loading again would duplicate them; skipped",
                                p.rel()
                            ));
                        }
                    } else if created || pk.is_empty() {
                        // Created by this migration (resumed) or keyless and empty before it.
                        writes[i] = if pk.is_empty() {
                            Write::Insert
                        } else {
                            Write::Ignore(None)
                        };
                    } else {
                        let journal = enable_rollback.then(|| {
                            let name =
                                format!("journal-{}.ndjson", ferry_shared::cli::file_safe(&key));
                            ts.journal = Some(name.clone());
                            run_dir.join(name)
                        });
                        writes[i] = Write::Ignore(journal);
                    }
                    if !dry_run {
                        st.tables.insert(key, ts);
                    }
                }
                None if dry_run => {
                    tracing::info!("dry run: would run\n{}", p.create.join(";\n"));
                }
                None => {
                    tracing::info!("creating {}", p.rel());
                    st.tables.insert(
                        key,
                        TableState {
                            schema: p.schema.clone(),
                            table: p.target.clone(),
                            created: true,
                            primary_key: p.primary_key(),
                            ..Default::default()
                        },
                    );
                    cp.save(&st)?;
                    for sql in &p.create {
                        client
                            .batch_execute(sql)
                            .await
                            .with_db_context(|| format!("create {}", p.rel()))?;
                    }
                    let t = pg::describe(&client, &p.schema, &p.target)
                        .await?
                        .ok_or_else(|| DbError::other(p.rel(), "not found after CREATE"))?;
                    p.adopt(&t)?;
                    writes[i] = Write::Insert;
                }
            }
        }
        if !dry_run {
            cp.save(&st)?;
        }
    }
    // Backups of the SQLite files, before any row moves.
    if create_backup && !dry_run {
        let dir = args
            .backup_dir
            .clone()
            .or(cfg.backup_dir.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| args.work_dir.join("backups"))
            .join(&migration_id);
        fs_err::create_dir_all(&dir)?;
        for (n, f) in &files {
            let dest = dir.join(format!("{n}.db"));
            if dest.exists() {
                continue;
            }
            backup(f, &dest)?;
            tracing::info!("backed up {} to {}", f.display(), dest.display());
        }
        report.notes.push(format!("backups in {}", dir.display()));
    }
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| run_dir.join("rejects.ndjson"));
    let total: u64 = plans.iter().map(|p| p.total).sum();
    let shared = Arc::new(Shared {
        ctx: Ctx {
            namespace,
            zone,
            now: chrono::Utc::now().naive_utc(),
        },
        batch_size,
        rejects: Mutex::new(Rejects::new(
            rejects_path.clone(),
            args.resume,
            args.max_rejects,
        )),
        state: Mutex::new((st, cp)),
        progress: Mutex::new(Progress::new("consolidate", Some(total), common.quiet)),
        errors: Mutex::new(Vec::new()),
        keys_dir: run_dir.join("keys"),
        plans: plans.clone(),
    });
    let mut stats: Vec<Option<TableStats>> = vec![None; plans.len()];
    let mut failure: Option<FerryError> = None;
    'levels: for level in &levels {
        let mut pending = level.iter().copied().peekable();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < workers {
                let Some(i) = pending.next() else { break };
                if let Some(why) = &skip[i] {
                    tracing::info!("{}: {why}", plans[i].key());
                    let mut s =
                        TableStats::new(&format!("{}.{}", plans[i].schema, plans[i].target));
                    if why.starts_with("done") {
                        if let Ok(g) = shared.state.lock() {
                            if let Some(t) = g.0.tables.get(&plans[i].key()) {
                                s.migrated = t.migrated;
                                s.resumed = t.migrated;
                                s.skipped = t.skipped;
                                s.errors = t.errors;
                            }
                        }
                    } else {
                        s.skipped = plans[i].total;
                        report.notes.push(why.clone());
                    }
                    stats[i] = Some(s);
                    continue;
                }
                let client = match &ep {
                    Some(ep) if writes[i] != Write::Nothing => {
                        Some(ferry_shared::conn::connect_postgres(ep).await?)
                    }
                    _ => None,
                };
                let after = shared
                    .state
                    .lock()
                    .ok()
                    .and_then(|g| g.0.tables.get(&plans[i].key()).and_then(|t| t.after_rowid));
                let after = if args.resume { after } else { None };
                let (sh, w) = (shared.clone(), writes[i].clone());
                running.spawn(async move { (i, migrate::table(sh, i, w, client, after).await) });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (i, res) = done.map_err(|e| FerryError::Failed(format!("table task: {e}")))?;
            match res {
                Ok(s) => {
                    if !dry_run {
                        if let Ok(mut g) = shared.state.lock() {
                            let (state, cp) = &mut *g;
                            if let Some(t) = state.tables.get_mut(&plans[i].key()) {
                                t.done = true;
                            }
                            cp.save(state)?;
                        }
                    }
                    stats[i] = Some(s);
                }
                Err(e) => {
                    failure = Some(e);
                    running.abort_all();
                    break 'levels;
                }
            }
        }
    }
    if let Ok(mut pr) = shared.progress.lock() {
        std::mem::replace(&mut *pr, Progress::new("consolidate", None, true)).finish();
    }
    report.tables = stats.iter().flatten().cloned().collect();
    let code = report.finish();
    let rejects_count = shared.rejects.lock().map(|r| r.count()).unwrap_or(0);
    if rejects_count > 0 {
        report.rejects_file = Some(rejects_path.display().to_string());
    }
    let st = shared.state.lock().map(|g| g.0.clone()).unwrap_or_default();
    let mut rollback_file = None;
    if !dry_run {
        let mut st2 = st.clone();
        st2.finished = failure.is_none();
        if let Ok(g) = shared.state.lock() {
            g.1.save(&st2)?;
        }
        if enable_rollback {
            let p = state::write_rollback(&run_dir, &st2, &[])?;
            report.notes.push(format!("rollback: {}", p.display()));
            rollback_file = Some(p);
        }
    }
    if let Some(e) = &failure {
        report.fail(e.exit());
    }
    let errors = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let doc = document_report(
        &report,
        &plans,
        &stats,
        errors,
        &DocInfo {
            migration_id: &migration_id,
            validate_only,
            rejects: rejects_count.gt(&0).then_some(rejects_path.as_path()),
            rollback: rollback_file.as_deref(),
            run_dir: &run_dir,
        },
    );
    let report_path = run_dir.join("migration_report.json");
    ferry_shared::fsutil::write_json_atomic(&report_path, &doc)?;
    if let Some(p) = &common.report {
        ferry_shared::fsutil::write_json_atomic(p, &doc)?;
    }
    report
        .notes
        .push(format!("report: {}", report_path.display()));
    report.emit(common.quiet, None)?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(code)
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

struct DocInfo<'a> {
    migration_id: &'a str,
    validate_only: bool,
    rejects: Option<&'a Path>,
    rollback: Option<&'a Path>,
    run_dir: &'a Path,
}

/// The document's JSON report: migration id, times, overall and per-table stats, errors
/// and a summary.
fn document_report(
    r: &RunReport,
    plans: &[TablePlan],
    stats: &[Option<TableStats>],
    errors: Vec<serde_json::Value>,
    info: &DocInfo<'_>,
) -> serde_json::Value {
    let mut table_stats = serde_json::Map::new();
    let (mut total, mut processed, mut ok, mut failed, mut skipped) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for (p, s) in plans.iter().zip(stats) {
        let s = s.clone().unwrap_or_else(|| TableStats::new(&p.target));
        let proc_ = s.migrated + s.errors + s.skipped;
        total += p.total;
        processed += proc_;
        ok += s.migrated;
        failed += s.errors;
        skipped += s.skipped;
        table_stats.insert(
            format!("{}.{}", p.schema, p.target),
            serde_json::json!({
                "source": format!("{}.{}", p.db, p.source),
                "total_records": p.total,
                "processed_records": proc_,
                "successful_records": s.migrated,
                "failed_records": s.errors,
                "skipped_records": s.skipped,
                "progress_percentage": pct(proc_, p.total),
                "success_rate": pct(s.migrated, s.migrated + s.errors),
                "duration": s.duration_secs,
                "records_per_second": s.rows_per_sec,
                "conversions": s.conversions,
            }),
        );
    }
    let n_errors = errors.len();
    serde_json::json!({
        "migration_id": info.migration_id,
        "start_time": r.started_at,
        "end_time": r.finished_at,
        "duration_seconds": r.duration_secs,
        "overall_stats": {
            "total_records": total,
            "processed_records": processed,
            "successful_records": ok,
            "failed_records": failed,
            "skipped_records": skipped,
            "progress_percentage": pct(processed, total),
            "success_rate": pct(ok, ok + failed),
        },
        "table_stats": table_stats,
        "errors": errors,
        "summary": {
            "status": r.status,
            "exit_code": r.exit_code,
            "dry_run": r.dry_run,
            "validate_only": info.validate_only,
            "tables": plans.len(),
            "errors_listed": n_errors,
            "rejects_file": info.rejects.map(|p| p.display().to_string()),
            "rollback_file": info.rollback.map(|p| p.display().to_string()),
            "migration_dir": info.run_dir.display().to_string(),
            "source": r.source,
            "target": r.target,
            "notes": r.notes,
        },
    })
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        100.0
    } else {
        (a as f64 * 10000.0 / b as f64).round() / 100.0
    }
}

/// `--rollback ID`: writes the rollback SQL (stdout), or runs it with `--execute`.
async fn rollback(args: &Args, id: &str) -> anyhow::Result<Exit> {
    let dir = if id == "latest" {
        state::latest(&args.work_dir)?
    } else {
        args.work_dir.join(id)
    };
    let mut st = state::read(&dir)?;
    if st.rolled_back && args.execute {
        return Err(FerryError::Usage(format!(
            "migration {} was already rolled back; running it again could delete rows inserted since",
            st.migration_id
        ))
        .into());
    }
    let path = state::write_rollback(&dir, &st, &args.tables)?;
    if !args.execute {
        let mut out = std::io::stdout().lock();
        let mut f = fs_err::File::open(&path)?;
        std::io::copy(&mut f, &mut out)?;
        tracing::info!(
            "rollback of {}: {} (run it with --execute)",
            st.migration_id,
            path.display()
        );
        return Ok(Exit::Ok);
    }
    let from_config = args
        .config
        .as_ref()
        .and_then(|c| config::load(c).ok())
        .and_then(|l| l.config.postgres_url);
    let url = match (&args.target.target, from_config) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(u)) => Some(ferry_shared::cli::interpolate(&u)?),
        (None, None) => None,
    };
    let ep = TargetArgs {
        target: url,
        ..args.target.clone()
    }
    .endpoint()?;
    let client = ferry_shared::conn::connect_postgres(&ep).await?;
    let n = state::execute_rollback(&client, &path).await?;
    if args.tables.is_empty() {
        st.rolled_back = true;
    } else {
        let keys: Vec<String> = st
            .tables
            .iter()
            .filter(|(k, t)| state::selected(k, t, &args.tables))
            .map(|(k, _)| k.clone())
            .collect();
        st.rolled_back_tables.extend(keys);
    }
    state::checkpoint(&dir, &st.migration_id).save(&st)?;
    tracing::info!("rolled back migration {} ({n} statements)", st.migration_id);
    Ok(Exit::Ok)
}

use chrono::Offset as _;
