//! `customer-filter`: the document's `migrate_customer_data_v3.py`. One customer set's data,
//! with its whole foreign-key closure, from the READ to the WRITE server: phase 0 routines,
//! phase 1 `customer_id`, 1B `user_id`, 1C through foreign keys, 2 reference tables; then
//! the parents that migrated rows reference (so nothing dangles) and an integrity check.

use crate::closure::{self, Phase, Selected};
use crate::copy::{self, key_literal, Spec};
use crate::servers::{mapped, Servers};
use crate::state::{self, DbEntry, Files, RoutineEntry, State};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::pattern::{any_match, parse_list, TablePattern};
use ferry_shared::progress::Progress;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, Exit, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  customer-filter --databases STARFOX,ONBOARDING --customer-ids 1,2,3
  customer-filter --status --customer-ids 1,2,3
  customer-filter --plan --databases STARFOX --customer-ids 1,2,3
  customer-filter --force-tables \"STARFOX.ACCESS_RIGHT\" --databases STARFOX --customer-ids 1,2,3
  # one server, target databases renamed
  customer-filter --source mysql://root@127.0.0.1/ --target mysql://root@127.0.0.1/ \\
    --map STARFOX=STARFOX_staging --databases STARFOX --customer-ids 1,2";

/// Command line of `customer-filter`.
#[derive(Parser, Debug)]
#[command(
    name = "customer-filter",
    version,
    about = "Migrate one customer set's MariaDB data with its foreign-key closure (INSERT IGNORE, resumable, journaled).",
    after_help = EXAMPLES
)]
pub struct Args {
    #[command(flatten)]
    pub servers: Servers,
    /// Databases to migrate (asked for on a terminal when absent).
    #[arg(long, value_delimiter = ',', value_name = "DB,DB")]
    pub databases: Vec<String>,
    /// Customer ids to migrate (asked for on a terminal when absent).
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub customer_ids: Vec<i64>,
    /// Show the state file of these customer ids and exit.
    #[arg(long)]
    pub status: bool,
    /// Re-migrate every table, whatever the state file says.
    #[arg(long)]
    pub force: bool,
    /// Re-migrate these tables (TABLE or DB.TABLE), even if completed or in SKIP_TABLES.
    #[arg(long, value_delimiter = ',', value_name = "T,DB.T")]
    pub force_tables: Vec<String>,
    /// Print each table's phase, filter path and row count, then exit; nothing moves.
    #[arg(long)]
    pub plan: bool,
    /// Confirm large reference tables without asking.
    #[arg(long)]
    pub yes: bool,
    /// Count what would be migrated; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Users whose `user_id` rows migrate (phase 1B).
    #[arg(
        long,
        env = "SEED_USER_IDS",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    pub seed_user_ids: Vec<i64>,
    /// Reference tables with more rows ask for confirmation.
    #[arg(long, env = "AUTO_CONFIRM_THRESHOLD", default_value_t = 400)]
    pub auto_confirm_threshold: u64,
    /// Skip reference tables above the threshold instead of asking.
    #[arg(long, env = "SKIP_LARGE_TABLES", default_value = "false")]
    pub skip_large_tables: String,
    /// Never migrate these (DB.TABLE, DB.*, *.TABLE, TABLE).
    #[arg(long, env = "SKIP_TABLES", default_value = "")]
    pub skip_tables: String,
    /// Migrate all rows of these, without confirmation.
    #[arg(long, env = "FORCE_MIGRATE_TABLES", default_value = "")]
    pub force_migrate_tables: String,
    /// Where the state file and journals live.
    #[arg(long, env = "MIGRATION_STATE_DIR", default_value = ".migration_state")]
    pub state_dir: PathBuf,
    /// Rows per page (one LOAD DATA and one state update each).
    #[arg(long, env = "FERRY_BATCH_SIZE", default_value_t = 50_000)]
    pub batch_size: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Asks on the terminal (stderr), like the document's prompts.
#[allow(clippy::print_stderr)]
fn ask(prompt: &str) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// Prints `--status` the way the document shows it.
fn print_status(files: &Files, st: &State) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "MIGRATION STATUS\nState file: {}",
        files.state.display()
    );
    for (db, e) in &st.databases {
        let count = |s: &str| e.tables.values().filter(|t| t.status == s).count();
        let _ = writeln!(out, "Database: {db}");
        let _ = writeln!(
            out,
            "  Tables: {} completed, {} skipped, {} failed, {} in progress, {} total",
            count("completed"),
            count("skipped"),
            count("failed"),
            count("in_progress"),
            e.tables.len()
        );
        for (t, te) in &e.tables {
            let line = match te.status.as_str() {
                "completed" => format!("  ✓ {t}: completed [{} rows]", te.rows),
                "skipped" => format!("  ⊗ {t}: skipped ({})", te.reason.as_deref().unwrap_or("")),
                "in_progress" => format!("  … {t}: in progress [{} rows so far]", te.rows),
                other => format!("  ✗ {t}: {other} ({})", te.reason.as_deref().unwrap_or("")),
            };
            let _ = writeln!(out, "{line}");
        }
        for (r, re) in &e.routines {
            let _ = writeln!(out, "  ✓ {} {r}: {}", re.kind, re.status);
        }
    }
}

/// Runs `customer-filter`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let mut customers = args.customer_ids.clone();
    if customers.is_empty() {
        if let Some(line) = ask("Customer IDs (comma-separated): ") {
            for p in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                customers.push(p.parse().map_err(|_| {
                    FerryError::Usage(format!("customer id {p:?} is not a number"))
                })?);
            }
        }
    }
    if customers.is_empty() {
        return Err(FerryError::Usage("no --customer-ids given".into()).into());
    }
    let files = Files::new(&args.state_dir, &customers);
    let mut st = files.load()?;
    if args.status {
        print_status(&files, &st);
        return Ok(Exit::Ok);
    }
    let mut dbs = args.databases.clone();
    if dbs.is_empty() {
        if let Some(line) = ask("Database names: ") {
            dbs = line
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    if dbs.is_empty() {
        return Err(FerryError::Usage(
            "no --databases given (and stdin is not a terminal to ask)".into(),
        )
        .into());
    }
    let read = args.servers.read()?;
    let write = args.servers.write()?;
    let map = args.servers.mapping()?;
    let skip = parse_list(&args.skip_tables);
    let force_all_rows = parse_list(&args.force_migrate_tables);
    let force_tables: Vec<TablePattern> = args
        .force_tables
        .iter()
        .map(|s| TablePattern::parse(s.trim()))
        .collect();
    let skip_large = truthy(&args.skip_large_tables);
    let mut src = ferry_shared::conn::connect_mysql(&read).await?;
    let mut dst = ferry_shared::conn::connect_mysql(&write).await?;
    dst.query_drop("SET FOREIGN_KEY_CHECKS = 0")
        .await
        .db_context("disable foreign-key checks")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("Ctrl+C: finishing the current page, saving state");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let mut report = RunReport::start("customer-filter");
    report.dry_run = args.dry_run || args.plan;
    report.source = Some(read.to_string());
    report.target = Some(write.to_string());
    let mut plans: Vec<(String, String, Vec<Selected>, closure::Schema)> = Vec::new();
    for db in &dbs {
        let tdb = mapped(&map, db).to_string();
        let exists: Option<String> = dst
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&tdb,),
            )
            .await
            .db_context("read target databases")?;
        if exists.is_none() {
            return Err(FerryError::NotFound(format!(
                "Database {tdb} does not exist in destination: run schema-copy first"
            ))
            .into());
        }
        let schema = closure::read_schema(&mut src, db).await?;
        if schema.tables.is_empty() {
            return Err(FerryError::NotFound(format!(
                "database {db:?} has no tables on the source"
            ))
            .into());
        }
        let sel = closure::plan(&schema, db, &customers, &args.seed_user_ids);
        plans.push((db.clone(), tdb, sel, schema));
    }
    if args.plan {
        let mut out = std::io::stdout().lock();
        for (db, tdb, sel, _) in &plans {
            let _ = writeln!(out, "{db} → {tdb}");
            for s in sel {
                let rows = count(&mut src, db, &s.table.name, s.filter.as_deref()).await?;
                let _ = writeln!(
                    out,
                    "  phase {:<2} {:<28} {:>10} rows  {}",
                    s.phase.label(),
                    s.table.name,
                    rows,
                    s.path
                );
            }
        }
        return Ok(Exit::Ok);
    }

    // Triggers a crashed run set aside come back first.
    restore_triggers(&mut dst, &files, &mut st).await?;

    // Phase 0: routines the target lacks.
    for (db, tdb, _, _) in &plans {
        let routines: Vec<(String, String)> = src
            .exec("SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1, 2", (db,))
            .await
            .with_db_context(|| format!("list routines of {db}"))?;
        let entry = st.databases.entry(db.clone()).or_default();
        for (kind, name) in routines {
            let have: Option<String> = dst
                .exec_first("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ? AND ROUTINE_TYPE = ?", (tdb, &name, &kind))
                .await
                .with_db_context(|| format!("read routines of {tdb}"))?;
            if have.is_some() {
                entry.routines.entry(name).or_insert(RoutineEntry {
                    kind,
                    status: "exists".into(),
                    timestamp: state::now(),
                });
                continue;
            }
            if args.dry_run {
                continue;
            }
            crate::schema_copy::create_routine(&mut src, &mut dst, db, tdb, &kind, &name).await?;
            tracing::info!("phase 0: {kind} {tdb}.{name}");
            entry.routines.insert(
                name,
                RoutineEntry {
                    kind,
                    status: "completed".into(),
                    timestamp: state::now(),
                },
            );
        }
    }
    if !args.dry_run {
        files.save(&mut st)?;
    }

    // Phases 1, 1B, 1C, 2, table by table, with the target's triggers set aside.
    if !args.dry_run {
        let tdbs: Vec<String> = plans.iter().map(|p| p.1.clone()).collect();
        suspend_triggers(&mut dst, &tdbs, &files, &mut st).await?;
    }
    let mut interrupted = false;
    let mut migrated_tables: Vec<(String, String, String)> = Vec::new();
    'outer: for (db, tdb, sel, _) in &plans {
        for s in sel {
            let t = &s.table.name;
            let forced = args.force || any_match(&force_tables, db, t);
            let prior = st.databases.get(db).and_then(|d| d.tables.get(t)).cloned();
            let mut stats = TableStats::new(&format!("{tdb}.{t}"));
            if any_match(&skip, db, t) && !any_match(&force_tables, db, t) {
                record_skip(&mut st, db, t, s, "skip_tables");
                stats.skipped = 1;
                report.tables.push(stats);
                continue;
            }
            if let Some(p) = &prior {
                if p.status == "completed" && !forced {
                    tracing::info!(
                        "{db}.{t}: Already migrated [{} rows] (use --force to re-migrate)",
                        p.rows
                    );
                    migrated_tables.push((db.clone(), tdb.clone(), t.clone()));
                    report.tables.push(stats);
                    continue;
                }
            }
            let all_rows = any_match(&force_all_rows, db, t);
            let filter = if all_rows { None } else { s.filter.clone() };
            if s.phase == Phase::Two && !all_rows && !forced {
                let n = count(&mut src, db, t, None).await?;
                if n > args.auto_confirm_threshold && !args.yes {
                    let reason = if skip_large {
                        Some("large_table")
                    } else {
                        match ask(&format!("{db}.{t} is a reference table with {n} rows (> {}). Migrate all rows? [y/N] ", args.auto_confirm_threshold)) {
                            Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => None,
                            Some(_) => Some("user_declined"),
                            None => Some("no_terminal"),
                        }
                    };
                    if let Some(r) = reason {
                        tracing::warn!("{db}.{t}: skipped ({r}: {n} rows > AUTO_CONFIRM_THRESHOLD {}; --yes or FORCE_MIGRATE_TABLES to migrate)", args.auto_confirm_threshold);
                        record_skip(&mut st, db, t, s, r);
                        stats.skipped = n;
                        report.tables.push(stats);
                        if !args.dry_run {
                            files.save(&mut st)?;
                        }
                        continue;
                    }
                }
            }
            let started = std::time::Instant::now();
            if args.dry_run {
                stats.migrated = count(&mut src, db, t, filter.as_deref()).await?;
                report.tables.push(stats);
                continue;
            }
            let resume = prior
                .as_ref()
                .filter(|p| p.status == "in_progress" && !forced);
            let empty_now = is_empty(&mut dst, tdb, t).await?;
            let empty_at_start = match &prior {
                Some(p) if p.status == "in_progress" || (p.status == "completed" && forced) => {
                    p.empty_at_start
                }
                _ => empty_now,
            };
            let base_rows = resume.map_or(0, |p| p.rows);
            {
                let e = st.table_mut(db, t);
                e.status = "in_progress".into();
                e.phase = s.phase.label().into();
                e.key = s.table.primary_key.clone();
                e.empty_at_start = empty_at_start;
                e.target_db = tdb.clone();
                e.timestamp = state::now();
                if !e.key.is_empty() || base_rows == 0 {
                    e.rows = base_rows;
                }
            }
            files.save(&mut st)?;
            let journal = files.journal_of(tdb, t);
            let spec = Spec {
                src_db: db,
                dst_db: tdb,
                table: &s.table,
                filter: filter.as_deref(),
                page: args.batch_size.max(1),
                after: resume.and_then(|p| p.last_key.clone()),
                journal: Some(&journal),
                check_existing: !empty_at_start,
            };
            let stop2 = stop.clone();
            let files_ref = &files;
            let mut st_ref = st.clone();
            let mut progress = Progress::new(
                &format!("phase {} {tdb}.{t}", s.phase.label()),
                None,
                args.common.quiet,
            );
            progress.set_position(base_rows);
            let mut shown = 0u64;
            let res = copy::copy_table(&mut src, &mut dst, spec, |n, last| {
                progress.inc(n.saturating_sub(shown));
                shown = n;
                if let Some(e) = st_ref
                    .databases
                    .get_mut(db)
                    .and_then(|d| d.tables.get_mut(t))
                {
                    e.rows = base_rows + n;
                    e.last_key = last.clone();
                    e.timestamp = state::now();
                }
                // Counts committed pages only, so a crash test can aim at one table.
                ferry_shared::checkpoint::crash_hook("customer-filter");
                files_ref.save(&mut st_ref)?;
                Ok(!stop2.load(Ordering::SeqCst))
            })
            .await;
            progress.finish();
            st = st_ref;
            let e = st.table_mut(db, t);
            match res {
                Ok((n, finished)) => {
                    e.rows = base_rows + n;
                    stats.migrated = n;
                    if finished {
                        e.status = "completed".into();
                        e.last_key = None;
                        e.reason = None;
                        migrated_tables.push((db.clone(), tdb.clone(), t.clone()));
                        tracing::info!("phase {} {tdb}.{t}: {n} rows", s.phase.label());
                    } else {
                        interrupted = true;
                    }
                }
                Err(err) => {
                    e.status = "failed".into();
                    e.reason = Some(err.to_string());
                    files.save(&mut st)?;
                    if let Err(r) = restore_triggers(&mut dst, &files, &mut st).await {
                        tracing::error!("{r}");
                    }
                    return Err(err.into());
                }
            }
            e.timestamp = state::now();
            files.save(&mut st)?;
            stats.duration_secs = started.elapsed().as_secs_f64();
            if stats.duration_secs > 0.0 {
                stats.rows_per_sec = stats.migrated as f64 / stats.duration_secs;
            }
            report.tables.push(stats);
            if interrupted {
                break 'outer;
            }
        }
    }
    if interrupted {
        restore_triggers(&mut dst, &files, &mut st).await?;
        report.fail(Exit::Failure);
        report.emit(args.common.quiet, args.common.report.as_deref())?;
        return Err(FerryError::Failed(format!(
            "interrupted by Ctrl+C; state saved in {}: run the same command to continue",
            files.state.display()
        ))
        .into());
    }
    if args.dry_run {
        let code = report.finish();
        report.emit(args.common.quiet, args.common.report.as_deref())?;
        return Ok(code);
    }

    // Parents of migrated rows, until nothing is missing.
    let added = bring_parents(
        &mut src,
        &mut dst,
        &plans,
        &migrated_tables,
        &files,
        &mut st,
        &mut report,
    )
    .await;
    restore_triggers(&mut dst, &files, &mut st).await?;
    let added = added?;
    if added > 0 {
        report.notes.push(format!(
            "{added} parent rows brought along so no migrated row dangles"
        ));
    }
    files.save(&mut st)?;
    dst.query_drop("SET FOREIGN_KEY_CHECKS = 1")
        .await
        .db_context("enable foreign-key checks")?;
    // Integrity: every foreign key of the migrated databases, on the target.
    let orphans = integrity(&mut dst, &plans, &files).await?;
    report
        .notes
        .push(format!("integrity check: {orphans} orphan rows"));
    let mut code = report.finish();
    if orphans > 0 {
        report.status = "orphans".into();
        code = Exit::Rejects;
        report.exit_code = code.code();
    }
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

/// Sets aside every trigger of the target databases: MariaDB cannot switch triggers off for
/// a session, and a BEFORE INSERT trigger would change migrated rows. They are recorded in
/// the state file first, so a crash cannot lose them.
pub(crate) async fn suspend_triggers(
    dst: &mut Conn,
    tdbs: &[String],
    files: &Files,
    st: &mut State,
) -> Result<()> {
    for tdb in tdbs {
        let names: Vec<String> = dst
            .exec("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", (tdb,))
            .await
            .with_db_context(|| format!("list triggers of {tdb}"))?;
        for name in names {
            dst.query_drop(format!("USE {}", q(tdb)))
                .await
                .with_db_context(|| format!("use {tdb}"))?;
            let row: Option<mysql_async::Row> = dst
                .query_first(format!("SHOW CREATE TRIGGER {}", q(&name)))
                .await
                .with_db_context(|| format!("read trigger {tdb}.{name}"))?;
            let Some(row) = row else { continue };
            let mode: Option<String> = row.get(1);
            let ddl: Option<String> = row.get(2);
            let t = state::SuspendedTrigger {
                db: tdb.clone(),
                name: name.clone(),
                sql_mode: mode.unwrap_or_default(),
                ddl: crate::schema_copy::strip_definer(&ddl.unwrap_or_default()),
            };
            if !st.suspended_triggers.contains(&t) {
                st.suspended_triggers.push(t);
            }
            files.save(st)?;
            dst.query_drop(format!("DROP TRIGGER {}.{}", q(tdb), q(&name)))
                .await
                .with_db_context(|| format!("set trigger {tdb}.{name} aside"))?;
            tracing::info!("trigger {tdb}.{name} set aside during the load");
        }
    }
    Ok(())
}

/// Recreates the triggers set aside (this run's, or a crashed run's).
pub(crate) async fn restore_triggers(dst: &mut Conn, files: &Files, st: &mut State) -> Result<()> {
    while let Some(t) = st.suspended_triggers.first().cloned() {
        let exists: Option<String> = dst
            .exec_first("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME = ?", (&t.db, &t.name))
            .await
            .with_db_context(|| format!("read trigger {}.{}", t.db, t.name))?;
        if exists.is_none() {
            dst.query_drop(format!("USE {}", q(&t.db)))
                .await
                .with_db_context(|| format!("use {}", t.db))?;
            dst.query_drop(format!(
                "SET SESSION sql_mode = '{}'",
                t.sql_mode.replace('\'', "''")
            ))
            .await
            .db_context("set sql_mode")?;
            let res = dst.query_drop(&t.ddl).await;
            dst.query_drop("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'")
                .await
                .db_context("reset sql_mode")?;
            res.with_db_context(|| format!("restore trigger {}.{}", t.db, t.name))?;
            tracing::info!("trigger {}.{} restored", t.db, t.name);
        }
        st.suspended_triggers.remove(0);
        files.save(st)?;
    }
    Ok(())
}

fn record_skip(st: &mut State, db: &str, t: &str, s: &Selected, reason: &str) {
    let e: &mut DbEntry = st.databases.entry(db.to_string()).or_default();
    let te = e.tables.entry(t.to_string()).or_default();
    if te.status == "completed" {
        return;
    }
    te.status = "skipped".into();
    te.reason = Some(reason.into());
    te.phase = s.phase.label().into();
    te.timestamp = state::now();
}

async fn count(c: &mut Conn, db: &str, t: &str, filter: Option<&str>) -> Result<u64> {
    let mut sql = format!("SELECT COUNT(*) FROM {}.{}", q(db), q(t));
    if let Some(f) = filter {
        sql.push_str(&format!(" WHERE {f}"));
    }
    let n: Option<u64> = c
        .query_first(sql)
        .await
        .with_db_context(|| format!("count {db}.{t}"))?;
    Ok(n.unwrap_or(0))
}

async fn is_empty(c: &mut Conn, db: &str, t: &str) -> Result<bool> {
    let r: Option<u8> = c
        .query_first(format!("SELECT 1 FROM {}.{} LIMIT 1", q(db), q(t)))
        .await
        .with_db_context(|| {
            format!("Table {db}.{t} does not exist in destination: run schema-copy first")
        })?;
    Ok(r.is_none())
}

/// Brings along parent rows that migrated rows reference but the target lacks (rule:
/// for every foreign key, declared or implicit, whose child table was migrated, the
/// referenced rows come from the source; repeated until a round adds nothing, so chains
/// of parents and self-references close). Journaled like every other insert.
async fn bring_parents(
    src: &mut Conn,
    dst: &mut Conn,
    plans: &[(String, String, Vec<Selected>, closure::Schema)],
    migrated: &[(String, String, String)],
    files: &Files,
    st: &mut State,
    report: &mut RunReport,
) -> Result<u64> {
    let mut total = 0u64;
    for _round in 0..100 {
        let mut added = 0u64;
        for (db, tdb, _, schema) in plans {
            for f in &schema.fks {
                if !migrated.iter().any(|m| &m.0 == db && m.2 == f.child) {
                    continue;
                }
                let Some(parent) = schema.tables.get(&f.parent) else {
                    continue;
                };
                // Referenced keys in the target's child rows that the target's parent lacks.
                let sql = format!(
                    "SELECT DISTINCT {cols} FROM {tdb}.{child} c WHERE {notnull} AND NOT EXISTS \
                     (SELECT 1 FROM {tdb}.{parent} p WHERE {join})",
                    cols = f
                        .cols
                        .iter()
                        .map(|c| format!("c.{}", q(c)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    tdb = q(tdb),
                    child = q(&f.child),
                    parent = q(&f.parent),
                    notnull = f
                        .cols
                        .iter()
                        .map(|c| format!("c.{} IS NOT NULL", q(c)))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                    join = f
                        .cols
                        .iter()
                        .zip(&f.refs)
                        .map(|(c, r)| format!("p.{} = c.{}", q(r), q(c)))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                );
                let rows: Vec<mysql_async::Row> = dst
                    .query(sql)
                    .await
                    .with_db_context(|| format!("find missing parents of {tdb}.{}", f.child))?;
                if rows.is_empty() {
                    continue;
                }
                let keys: Vec<Vec<Option<String>>> = rows
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<Option<String>, _>(i).flatten())
                            .collect()
                    })
                    .collect();
                for part in keys.chunks(1000) {
                    let list: Vec<String> = part.iter().map(|k| key_literal(k)).collect();
                    let filter = format!("{} IN ({})", closure::tuple(&f.refs), list.join(", "));
                    let journal = files.journal_of(tdb, &f.parent);
                    let spec = Spec {
                        src_db: db,
                        dst_db: tdb,
                        table: parent,
                        filter: Some(&filter),
                        page: 1_000_000,
                        after: None,
                        journal: Some(&journal),
                        check_existing: true,
                    };
                    let (n, _) = copy::copy_table(src, dst, spec, |_, _| Ok(true)).await?;
                    if n > 0 {
                        tracing::info!(
                            "{n} rows of {tdb}.{} brought along for {tdb}.{} ({})",
                            f.parent,
                            f.child,
                            f.cols.join(", ")
                        );
                        let e = st.table_mut(db, &f.parent);
                        e.rows += n;
                        e.parents_added += n;
                        e.key = parent.primary_key.clone();
                        e.target_db = tdb.clone();
                        if e.status.is_empty() || e.status == "skipped" {
                            e.status = "completed".into();
                        }
                        if let Some(s) = report
                            .tables
                            .iter_mut()
                            .find(|s| s.table == format!("{tdb}.{}", f.parent))
                        {
                            s.migrated += n;
                        }
                    }
                    added += n;
                }
            }
        }
        total += added;
        if added == 0 {
            break;
        }
    }
    Ok(total)
}

/// Counts (and reports, up to 20 lines, all in `orphans_*.ndjson`) rows whose foreign key
/// points at no row, for every declared or implicit foreign key of the migrated databases.
async fn integrity(
    dst: &mut Conn,
    plans: &[(String, String, Vec<Selected>, closure::Schema)],
    files: &Files,
) -> Result<u64> {
    let mut total = 0u64;
    let path = files.state.with_file_name(
        files
            .state
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replace("migration_state_", "orphans_")
                    .replace(".json", ".ndjson")
            })
            .unwrap_or_else(|| "orphans.ndjson".into()),
    );
    let mut lines = Vec::new();
    for (_, tdb, _, schema) in plans {
        for f in &schema.fks {
            let Some(child) = schema.tables.get(&f.child) else {
                continue;
            };
            let show: Vec<String> = child
                .primary_key
                .iter()
                .chain(&f.cols)
                .map(|c| format!("c.{}", q(c)))
                .collect();
            let sql = format!(
                "SELECT {show} FROM {tdb}.{child} c WHERE {notnull} AND NOT EXISTS (SELECT 1 FROM {tdb}.{parent} p WHERE {join})",
                show = show.join(", "),
                tdb = q(tdb),
                child = q(&f.child),
                parent = q(&f.parent),
                notnull = f.cols.iter().map(|c| format!("c.{} IS NOT NULL", q(c))).collect::<Vec<_>>().join(" AND "),
                join = f.cols.iter().zip(&f.refs).map(|(c, r)| format!("p.{} = c.{}", q(r), q(c))).collect::<Vec<_>>().join(" AND "),
            );
            let rows: Vec<mysql_async::Row> = dst
                .query(sql)
                .await
                .with_db_context(|| format!("integrity check of {tdb}.{}", f.child))?;
            for r in rows {
                let vals: Vec<Option<String>> = (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i).flatten())
                    .collect();
                if total < 20 {
                    tracing::warn!(
                        "orphan: {tdb}.{} {:?} → {}({}){}",
                        f.child,
                        vals,
                        f.parent,
                        f.refs.join(", "),
                        if f.implicit { ", implicit key" } else { "" }
                    );
                }
                total += 1;
                lines.push(serde_json::json!({
                    "database": tdb, "table": f.child, "columns": f.cols, "references": format!("{}({})", f.parent, f.refs.join(", ")),
                    "implicit": f.implicit, "row": vals,
                }));
            }
        }
    }
    if total > 0 {
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        ferry_shared::fsutil::write_atomic(&path, text.as_bytes())?;
        tracing::warn!("{total} orphan rows; all of them in {}", path.display());
    }
    Ok(total)
}
