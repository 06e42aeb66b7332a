//! `customer-filter`: the document's `migrate_customer_data_v3.py`. One customer set's data,
//! with its whole foreign-key closure, from the READ to the WRITE server: phase 0 routines,
//! phase 1 `customer_id`, 1B `user_id`, 1C through foreign keys, 2 reference tables; then
//! the parents that migrated rows reference (so nothing dangles) and an integrity check.

use crate::closure::{self, Fk, Phase, Selected, Table};
use crate::copy::{self, key_literal, Spec};
use crate::prompt::ask;
use crate::schema_copy::{create_routine, ObjectKind};
use crate::servers::{mapped, Servers};
use crate::state::{self, DbEntry, Files, RoutineEntry, State, TableEntry};
use crate::triggers::{restore_all, restore_triggers, suspend_table_triggers};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::pattern::{any_match, parse_list, TablePattern};
use ferry_shared::progress::Progress;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, Exit, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::io::Write;
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
    /// Rows per page (one LOAD DATA, one transaction and one state update each). Default:
    /// the document's BATCH_SIZE when set, else 50000 (the document's script used 1000;
    /// larger pages are faster and resume as exactly).
    #[arg(long, env = "FERRY_BATCH_SIZE", value_name = "N")]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// [`ask`] that Ctrl+C interrupts: the line is read on a blocking thread while the stop
/// flag is watched, so a prompt never holds the run (and the target's state) hostage.
async fn ask_or_stop(prompt: String, stop: &Arc<AtomicBool>) -> Result<Option<String>> {
    // A plain thread, not the runtime's blocking pool: the runtime would wait for the
    // unanswered read at exit.
    let (tx, mut line) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(ask(&prompt));
    });
    loop {
        tokio::select! {
            got = &mut line => return Ok(got.unwrap_or(None)),
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                if stop.load(Ordering::SeqCst) {
                    return Err(FerryError::Interrupted("interrupted by Ctrl+C at a prompt".into()));
                }
            }
        }
    }
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
    let customers = customer_ids(&args)?;
    let files = Files::new(&args.state_dir, &customers);
    let mut st = files.load()?;
    if args.status {
        // A crashed run's triggers come back before anything is shown.
        let pending = !st.suspended_triggers.is_empty()
            || crate::state::load_others(&files)?
                .iter()
                .any(|(_, o)| !o.suspended_triggers.is_empty());
        if pending {
            let mut dst = ferry_shared::conn::connect_mysql(&args.servers.write()?).await?;
            restore_all(&mut dst, &files, &mut st).await?;
        }
        print_status(&files, &st);
        return Ok(Exit::Ok);
    }
    let dbs = database_names(&args)?;
    let read = args.servers.read()?;
    let write = args.servers.write()?;
    let map = args.servers.mapping()?;
    let rules = Rules::new(&args);
    let mut src = ferry_shared::conn::connect_mysql(&read).await?;
    let mut dst = writer(&write).await?;
    let stop = stop_on_ctrl_c();
    let mut report = RunReport::start("customer-filter");
    report.dry_run = args.dry_run || args.plan;
    report.source = Some(read.to_string());
    report.target = Some(write.to_string());
    let mut plans: Vec<DbPlan> = Vec::new();
    for db in &dbs {
        let tdb = mapped(&map, db).to_string();
        plans.push(plan_database(&mut src, &mut dst, &args, &customers, db, tdb).await?);
    }
    let unknown = unknown_customers(&mut src, &plans, &customers).await?;
    for id in &unknown {
        tracing::warn!(
            "customer id {id} matches no row of any customer_id table: nothing of it will move"
        );
    }
    for w in skipped_references(&plans, &rules) {
        tracing::warn!("{w}");
    }
    if args.plan {
        print_plan(&mut src, &plans).await?;
        return Ok(Exit::Ok);
    }
    if !args.dry_run {
        crate::prompt::confirm_start(
            &format!(
                "customer-filter: customers {customers:?} of {} from {read} to {write}",
                dbs.join(", ")
            ),
            args.yes,
        )?;
    }
    let dst2 = match args.dry_run {
        true => None,
        false => second_writer(&write).await,
    };
    let m = Migration {
        args: &args,
        rules,
        src,
        dst,
        dst2,
        files,
        st,
        report,
        stop,
        migrated: Vec::new(),
    };
    Ok(m.run(&plans).await?)
}

/// A second connection to the target, so a page's halves can load at once. It only
/// speeds the copy up: a target that refuses it (a user's `MAX_USER_CONNECTIONS`, a full
/// `max_connections`) gets every table through the first connection.
async fn second_writer(url: &ferry_shared::conn::Endpoint) -> Option<Conn> {
    match writer(url).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(
                "no second target connection ({e}): every table goes through one connection"
            );
            None
        }
    }
}

/// A connection to the target with foreign-key checks off (parents may come after their
/// children; the integrity check at the end looks at every reference).
async fn writer(url: &ferry_shared::conn::Endpoint) -> Result<Conn> {
    let mut c = ferry_shared::conn::connect_mysql(url).await?;
    c.query_drop("SET FOREIGN_KEY_CHECKS = 0")
        .await
        .db_context("disable foreign-key checks")?;
    Ok(c)
}

/// The customer ids: the flag, or the document's prompt.
fn customer_ids(args: &Args) -> Result<Vec<i64>> {
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
        return Err(FerryError::Usage("no --customer-ids given".into()));
    }
    Ok(customers)
}

/// The databases: the flag, or the document's prompt.
fn database_names(args: &Args) -> Result<Vec<String>> {
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
        ));
    }
    Ok(dbs)
}

/// A flag that Ctrl+C raises: the copy finishes its page and saves the state instead of
/// dying between a load and the state file that records it.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // The first Ctrl+C or SIGTERM is this tool's to handle (a second one stops at once,
    // `ferry_shared::run`); the guard lives as long as the runtime.
    // Watched before the guard exists, so no signal falls between the two.
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return stop;
    };
    let handled = ferry_shared::run::Handled::new();
    tokio::spawn(async move {
        let _handled = handled;
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::warn!("Ctrl+C: finishing the current page, saving state");
        flag.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    });
    stop
}

/// Which tables the command line and environment skip, force or take whole: parsed once
/// so the per-table decisions read as the rules they are.
struct Rules {
    /// SKIP_TABLES.
    skip: Vec<TablePattern>,
    /// FORCE_MIGRATE_TABLES: all rows, no confirmation.
    force_all_rows: Vec<TablePattern>,
    /// --force-tables: re-migrate, even when completed or skipped.
    force_tables: Vec<TablePattern>,
    /// SKIP_LARGE_TABLES.
    skip_large: bool,
}

impl Rules {
    fn new(args: &Args) -> Rules {
        Rules {
            skip: parse_list(&args.skip_tables),
            force_all_rows: parse_list(&args.force_migrate_tables),
            force_tables: args
                .force_tables
                .iter()
                .map(|s| TablePattern::parse(s.trim()))
                .collect(),
            skip_large: truthy(&args.skip_large_tables),
        }
    }

    /// SKIP_TABLES names the table and --force-tables does not overrule it.
    fn skips(&self, db: &str, t: &str) -> bool {
        any_match(&self.skip, db, t) && !any_match(&self.force_tables, db, t)
    }
}

/// One database to migrate: its source and target names, the tables selected (in phase
/// order) and the schema the selection and the parent/integrity checks are made from.
struct DbPlan {
    db: String,
    tdb: String,
    sel: Vec<Selected>,
    schema: closure::Schema,
}

/// Checks that the target database exists and plans the source database's tables.
async fn plan_database(
    src: &mut Conn,
    dst: &mut Conn,
    args: &Args,
    customers: &[i64],
    db: &str,
    tdb: String,
) -> Result<DbPlan> {
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
        )));
    }
    let schema = closure::read_schema(src, db).await?;
    if schema.tables.is_empty() {
        return Err(FerryError::NotFound(format!(
            "database {db:?} has no tables on the source"
        )));
    }
    let sel = closure::plan(&schema, db, customers, &args.seed_user_ids);
    let have: Vec<String> = dst
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (&tdb,),
        )
        .await
        .with_db_context(|| format!("list tables of {tdb}"))?;
    let missing: Vec<&str> = sel
        .iter()
        .map(|s| s.table.name.as_str())
        .filter(|t| !have.iter().any(|h| h == t))
        .collect();
    if !missing.is_empty() {
        return Err(FerryError::NotFound(format!(
            "Table(s) {} do not exist in destination database {tdb}: run schema-copy first (nothing was written)",
            missing.join(", ")
        )));
    }
    Ok(DbPlan {
        db: db.to_string(),
        tdb,
        sel,
        schema,
    })
}

/// `--batch-size`/`FERRY_BATCH_SIZE`, else the document's `BATCH_SIZE`, else 50000.
fn page_size(flag: Option<usize>) -> Result<usize> {
    let n = match (flag, std::env::var("BATCH_SIZE")) {
        (Some(n), _) => n,
        (None, Ok(v)) => v
            .trim()
            .parse()
            .map_err(|_| FerryError::Usage(format!("BATCH_SIZE={v:?} is not a number of rows")))?,
        (None, Err(_)) => 50_000,
    };
    Ok(n.max(1))
}

/// Customer ids found in no phase-1 (`customer_id`) table.
async fn unknown_customers(
    src: &mut Conn,
    plans: &[DbPlan],
    customers: &[i64],
) -> Result<Vec<i64>> {
    let mut unseen: std::collections::BTreeSet<i64> = customers.iter().copied().collect();
    for p in plans {
        for s in plans_phase_one(p) {
            let Some(col) = s
                .table
                .columns
                .iter()
                .find(|c| c.eq_ignore_ascii_case("customer_id"))
            else {
                continue;
            };
            if unseen.is_empty() {
                break;
            }
            let from = IdsIn {
                db: &p.db,
                table: &s.table.name,
                col,
                filter: s.filter.as_deref(),
            };
            for id in from.found(src, &unseen).await? {
                unseen.remove(&id);
            }
        }
    }
    Ok(unseen.into_iter().collect())
}

/// Ids up to this many are looked for one by one; more, in one pass over the table.
const IDS_ONE_BY_ONE: usize = 16;

/// A phase-1 table's customer column, to ask which ids it holds.
struct IdsIn<'a> {
    db: &'a str,
    table: &'a str,
    col: &'a str,
    filter: Option<&'a str>,
}

impl IdsIn<'_> {
    /// Which of `ids` occur. A few ids are asked one by one, each query stopping at its
    /// first row: a `SELECT DISTINCT` reads the whole table when the column has no index
    /// (0.6 s of 2M rows before the first row moves); many ids take that one pass instead
    /// of one scan per id that is missing.
    async fn found(
        &self,
        src: &mut Conn,
        ids: &std::collections::BTreeSet<i64>,
    ) -> Result<Vec<i64>> {
        let what = || format!("read customer ids of {}.{}", self.db, self.table);
        let from = format!("FROM {}.{}", q(self.db), q(self.table));
        let cond = self
            .filter
            .map(|f| format!("({f}) AND "))
            .unwrap_or_default();
        if ids.len() > IDS_ONE_BY_ONE {
            let sql = format!("SELECT DISTINCT {} {from} WHERE {cond}TRUE", q(self.col));
            let all: Vec<Option<i64>> = src.query(sql).await.with_db_context(what)?;
            return Ok(all
                .into_iter()
                .flatten()
                .filter(|i| ids.contains(i))
                .collect());
        }
        let sql = format!("SELECT 1 {from} WHERE {cond}{} = ? LIMIT 1", q(self.col));
        let mut found = Vec::new();
        for &id in ids {
            let hit: Option<u8> = src.exec_first(&sql, (id,)).await.with_db_context(what)?;
            if hit.is_some() {
                found.push(id);
            }
        }
        Ok(found)
    }
}

fn plans_phase_one(p: &DbPlan) -> impl Iterator<Item = &Selected> {
    p.sel.iter().filter(|s| s.phase == Phase::One)
}

/// Foreign keys from a migrated table into a SKIP_TABLES table: their rows will reference
/// rows that never come (said before anything moves, and again by the integrity check).
fn skipped_references(plans: &[DbPlan], rules: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    for p in plans {
        for f in &p.schema.fks {
            if rules.skips(&p.db, &f.parent) && !rules.skips(&p.db, &f.child) {
                out.push(format!(
                    "{}.{} ({}) references {}.{}, which SKIP_TABLES never migrates: those references will dangle",
                    p.db,
                    f.child,
                    f.cols.join(", "),
                    p.db,
                    f.parent
                ));
            }
        }
    }
    out
}

/// `--plan`: each table's phase, row count and filter path.
async fn print_plan(src: &mut Conn, plans: &[DbPlan]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for p in plans {
        let _ = writeln!(out, "{} → {}", p.db, p.tdb);
        for s in &p.sel {
            let rows = count(src, &p.db, &s.table.name, s.filter.as_deref()).await?;
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
    Ok(())
}

/// One selected table on its way through the run: where it comes from and goes, and what
/// the state file said of it before this run. Carried as one value so the steps of a table
/// (checks, copy, bookkeeping) share it without long parameter lists.
struct TableJob<'a> {
    db: &'a str,
    tdb: &'a str,
    sel: &'a Selected,
    /// --force, or --force-tables names it.
    forced: bool,
    /// Its state-file entry from before this table started.
    prior: Option<TableEntry>,
}

impl TableJob<'_> {
    fn table(&self) -> &str {
        &self.sel.table.name
    }
}

/// The run once the plan is made: both connections, the state file, the report, and the
/// tables migrated so far. The phases (routines, tables, parents, integrity) are its
/// methods, so the state they share lives in one place instead of in every signature.
struct Migration<'a> {
    args: &'a Args,
    rules: Rules,
    src: Conn,
    dst: Conn,
    /// A second target connection (not in a dry run): pages load in two halves at once.
    dst2: Option<Conn>,
    files: Files,
    st: State,
    report: RunReport,
    /// Raised by Ctrl+C.
    stop: Arc<AtomicBool>,
    /// `(source db, target db, table)` of every table completed (this run or before).
    migrated: Vec<(String, String, String)>,
}

impl Migration<'_> {
    /// Phases 0, 1, 1B, 1C and 2, the parents, the integrity check and the report.
    async fn run(mut self, plans: &[DbPlan]) -> Result<Exit> {
        let dry_run = self.args.dry_run;
        // Triggers a crashed run (of any customer set) set aside come back first.
        restore_all(&mut self.dst, &self.files, &mut self.st).await?;

        // Phase 0: routines the target lacks.
        for p in plans {
            self.create_routines(p).await?;
        }
        if !dry_run {
            self.files.save(&mut self.st)?;
        }

        // Phases 1, 1B, 1C, 2, table by table, each with its own triggers set aside only
        // while its rows are written.
        if self.migrate_tables(plans).await? {
            return self.interrupted().await;
        }
        if dry_run {
            let code = self.report.finish();
            self.emit()?;
            return Ok(code);
        }
        self.close(plans).await
    }

    fn emit(&self) -> Result<()> {
        self.report
            .emit(self.args.common.quiet, self.args.common.report.as_deref())
    }

    /// Phase 0 for one database: creates the routines the target lacks.
    async fn create_routines(&mut self, p: &DbPlan) -> Result<()> {
        let (db, tdb) = (&p.db, &p.tdb);
        let routines: Vec<(String, String)> = self
            .src
            .exec("SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1, 2", (db,))
            .await
            .with_db_context(|| format!("list routines of {db}"))?;
        let entry = self.st.databases.entry(db.clone()).or_default();
        for (kind, name) in routines {
            let have: Option<String> = self
                .dst
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
            if self.args.dry_run {
                continue;
            }
            let object = ObjectKind::routine(&kind)?;
            create_routine(&mut self.src, &mut self.dst, db, tdb, object, &name).await?;
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
        Ok(())
    }

    /// Every selected table in plan order. Returns true when Ctrl+C stopped the run.
    async fn migrate_tables(&mut self, plans: &[DbPlan]) -> Result<bool> {
        for p in plans {
            for s in &p.sel {
                let t = &s.table.name;
                let job = TableJob {
                    db: &p.db,
                    tdb: &p.tdb,
                    sel: s,
                    // FORCE_MIGRATE_TABLES takes the table whole: a table completed with a
                    // filter (or skipped) is taken again, all rows (INSERT IGNORE).
                    forced: self.args.force
                        || any_match(&self.rules.force_tables, &p.db, t)
                        || any_match(&self.rules.force_all_rows, &p.db, t),
                    prior: self
                        .st
                        .databases
                        .get(&p.db)
                        .and_then(|d| d.tables.get(t))
                        .cloned(),
                };
                if self.migrate_table(&job).await? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// One table: skipped, already done, declined, counted (dry run) or copied. Returns
    /// true when Ctrl+C stopped it.
    async fn migrate_table(&mut self, job: &TableJob<'_>) -> Result<bool> {
        let (db, tdb, t, s) = (job.db, job.tdb, job.table(), job.sel);
        let mut stats = TableStats::new(&format!("{tdb}.{t}"));
        if self.rules.skips(db, t) {
            record_skip(&mut self.st, db, t, s, "skip_tables");
            stats.skipped = 1;
            self.report.tables.push(stats);
            return Ok(false);
        }
        if let Some(p) = &job.prior {
            if p.status == "completed" && !job.forced {
                tracing::info!(
                    "{db}.{t}: Already migrated [{} rows] (use --force to re-migrate)",
                    p.rows
                );
                self.migrated
                    .push((db.to_string(), tdb.to_string(), t.to_string()));
                self.report.tables.push(stats);
                return Ok(false);
            }
        }
        let all_rows = any_match(&self.rules.force_all_rows, db, t);
        let filter = if all_rows { None } else { s.filter.clone() };
        if s.phase == Phase::Two && !all_rows && !job.forced {
            if let Some((r, n)) = self.declined(db, t).await? {
                tracing::warn!("{db}.{t}: skipped ({r}: {n} rows > AUTO_CONFIRM_THRESHOLD {}; --yes or FORCE_MIGRATE_TABLES to migrate)", self.args.auto_confirm_threshold);
                record_skip(&mut self.st, db, t, s, r);
                stats.skipped = n;
                self.report.tables.push(stats);
                if !self.args.dry_run {
                    self.files.save(&mut self.st)?;
                }
                return Ok(false);
            }
        }
        let started = std::time::Instant::now();
        if self.args.dry_run {
            stats.migrated = count(&mut self.src, db, t, filter.as_deref()).await?;
            self.report.tables.push(stats);
            return Ok(false);
        }
        let interrupted = self.copy_rows(job, filter.as_deref(), &mut stats).await?;
        stats.duration_secs = started.elapsed().as_secs_f64();
        if stats.duration_secs > 0.0 {
            stats.rows_per_sec = stats.migrated as f64 / stats.duration_secs;
        }
        self.report.tables.push(stats);
        Ok(interrupted)
    }

    /// A reference table above AUTO_CONFIRM_THRESHOLD is left out unless --yes or the
    /// user says so: Some((reason, rows)) when it is.
    async fn declined(&mut self, db: &str, t: &str) -> Result<Option<(&'static str, u64)>> {
        let n = count(&mut self.src, db, t, None).await?;
        if n <= self.args.auto_confirm_threshold || self.args.yes {
            return Ok(None);
        }
        let reason = if self.rules.skip_large {
            Some("large_table")
        } else {
            let prompt = format!(
                "{db}.{t} is a reference table with {n} rows (> {}). Migrate all rows? [y/N] ",
                self.args.auto_confirm_threshold
            );
            let answer = ask_or_stop(prompt, &self.stop).await.map_err(|e| {
                FerryError::Interrupted(format!(
                    "{e}; state saved in {}: run the same command to continue",
                    self.files.state.display()
                ))
            })?;
            match answer {
                Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => None,
                Some(_) => Some("user_declined"),
                None => Some("no_terminal"),
            }
        };
        Ok(reason.map(|r| (r, n)))
    }

    /// Copies one table's rows (resuming after the last committed page of an interrupted
    /// run) and records the outcome in the state file. On failure the table is marked
    /// failed and the triggers come back before the error is returned. Returns true when
    /// Ctrl+C stopped the copy.
    async fn copy_rows(
        &mut self,
        job: &TableJob<'_>,
        filter: Option<&str>,
        stats: &mut TableStats,
    ) -> Result<bool> {
        let (db, tdb, t, s) = (job.db, job.tdb, job.table(), job.sel);
        // A failed table continues after its last committed page like an interrupted one:
        // a page that failed was rolled back, so nothing of it is there to be skipped.
        let resume = job
            .prior
            .as_ref()
            .filter(|p| matches!(p.status.as_str(), "in_progress" | "failed") && !job.forced);
        let empty_now = is_empty(&mut self.dst, tdb, t).await?;
        let empty_at_start = match &job.prior {
            Some(p)
                if matches!(p.status.as_str(), "in_progress" | "failed")
                    || (p.status == "completed" && job.forced) =>
            {
                p.empty_at_start
            }
            _ => empty_now,
        };
        // Rows inserted by this set so far: kept when the table is forced again (the status
        // counts every row the set inserted, not only this run's).
        let base_rows = match (&job.prior, resume) {
            (_, Some(p)) => p.rows,
            (Some(p), None) if job.forced => p.rows,
            _ => 0,
        };
        {
            let e = self.st.table_mut(db, t);
            e.status = "in_progress".into();
            e.phase = s.phase.label().into();
            e.key = s.table.primary_key.clone();
            e.empty_at_start = empty_at_start;
            e.target_db = tdb.to_string();
            e.timestamp = state::now();
            if !e.key.is_empty() || base_rows == 0 {
                e.rows = base_rows;
            }
        }
        self.files.save(&mut self.st)?;
        let journal = self.files.journal_of(tdb, t);
        let claims = self.files.claims_of(tdb, t);
        let spec = Spec {
            src_db: db,
            dst_db: tdb,
            table: &s.table,
            filter,
            page: page_size(self.args.batch_size)?,
            after: resume.and_then(|p| p.last_key.clone()),
            journal: Some(&journal),
            claims: Some(&claims),
            // Whenever the table has rows (a resume, --force, another set's rows), only keys
            // it lacks are journaled as this set's: never a key twice.
            check_existing: !empty_now,
        };
        suspend_table_triggers(&mut self.dst, tdb, t, &self.files, &mut self.st).await?;
        let res = self.copy_pages(job, spec, base_rows).await;
        restore_triggers(&mut self.dst, &self.files, &mut self.st).await?;
        let mut interrupted = false;
        let e = self.st.table_mut(db, t);
        match res {
            Ok(copied) => {
                let (n, finished) = (copied.inserted, copied.finished);
                e.rows = base_rows + n;
                e.selected = e.selected.max(copied.selected);
                stats.migrated = n;
                if finished {
                    e.status = "completed".into();
                    e.last_key = None;
                    e.reason = None;
                    self.migrated
                        .push((db.to_string(), tdb.to_string(), t.to_string()));
                    tracing::info!("phase {} {tdb}.{t}: {n} rows", s.phase.label());
                } else {
                    interrupted = true;
                }
            }
            Err(err) => {
                e.status = "failed".into();
                e.reason = Some(err.to_string());
                self.files.save(&mut self.st)?;
                return Err(err);
            }
        }
        e.timestamp = state::now();
        self.files.save(&mut self.st)?;
        Ok(interrupted)
    }

    /// The page loop of one table, with a progress bar; the state file is saved after
    /// every committed page so a crash resumes after it.
    async fn copy_pages(
        &mut self,
        job: &TableJob<'_>,
        spec: Spec<'_>,
        base_rows: u64,
    ) -> Result<copy::Copied> {
        let (db, tdb, t) = (job.db, job.tdb, job.table());
        let stop = self.stop.clone();
        let files = &self.files;
        let mut st = self.st.clone();
        let mut progress = Progress::new(
            &format!("phase {} {tdb}.{t}", job.sel.phase.label()),
            None,
            self.args.common.quiet,
        );
        progress.set_position(base_rows);
        let mut shown = 0u64;
        let second = self.dst2.as_mut();
        let res = copy::copy_table(&mut self.src, &mut self.dst, second, spec, |n, last| {
            progress.inc(n.saturating_sub(shown));
            shown = n;
            if let Some(e) = st.databases.get_mut(db).and_then(|d| d.tables.get_mut(t)) {
                e.rows = base_rows + n;
                e.last_key = last.clone();
                e.timestamp = state::now();
            }
            // Counts committed pages only, so a crash test can aim at one table.
            ferry_shared::checkpoint::crash_hook("customer-filter");
            files.save(&mut st)?;
            Ok(!stop.load(Ordering::SeqCst))
        })
        .await;
        progress.finish();
        self.st = st;
        res
    }

    /// Ctrl+C: the triggers come back, the report says so, and the error tells how to
    /// continue.
    async fn interrupted(mut self) -> Result<Exit> {
        restore_triggers(&mut self.dst, &self.files, &mut self.st).await?;
        self.report.fail(Exit::Interrupted);
        self.report.resume_command = ferry_shared::run::resume_command();
        self.emit()?;
        Err(FerryError::Interrupted(format!(
            "interrupted by Ctrl+C; state saved in {}: run the same command to continue",
            self.files.state.display()
        )))
    }

    /// After the tables: the parents migrated rows reference, the triggers back, foreign
    /// keys checked again, the integrity check and the report.
    async fn close(mut self, plans: &[DbPlan]) -> Result<Exit> {
        // Parents of migrated rows, until nothing is missing.
        let added = self.bring_parents(plans).await;
        restore_triggers(&mut self.dst, &self.files, &mut self.st).await?;
        let added = added?;
        if added > 0 {
            self.report.notes.push(format!(
                "{added} parent rows brought along so no migrated row dangles"
            ));
        }
        self.files.save(&mut self.st)?;
        self.dst
            .query_drop("SET FOREIGN_KEY_CHECKS = 1")
            .await
            .db_context("enable foreign-key checks")?;
        // Integrity: every foreign key of the migrated databases, on the target.
        let targets: Vec<(&str, &closure::Schema)> =
            plans.iter().map(|p| (p.tdb.as_str(), &p.schema)).collect();
        let rules = &self.rules;
        let dbs: Vec<(&str, &str)> = plans
            .iter()
            .map(|p| (p.tdb.as_str(), p.db.as_str()))
            .collect();
        let skipped =
            |tdb: &str, t: &str| dbs.iter().any(|(td, db)| *td == tdb && rules.skips(db, t));
        let found = crate::integrity::check(&mut self.dst, &targets, &self.files, &skipped).await?;
        let orphans = found.orphans;
        self.report
            .notes
            .push(format!("integrity check: {orphans} orphan rows"));
        if found.into_skipped > 0 {
            self.report.notes.push(format!(
                "{} rows reference rows of SKIP_TABLES tables, which are never migrated",
                found.into_skipped
            ));
        }
        let mut code = self.report.finish();
        if orphans > 0 {
            self.report.status = "rejects".into();
            self.report.counters.insert("orphan_rows".into(), orphans);
            code = Exit::Rejects;
            self.report.exit_code = code.code();
        }
        for n in &self.report.notes {
            tracing::info!("{n}");
        }
        self.emit()?;
        Ok(code)
    }

    /// Brings along parent rows that migrated rows reference but the target lacks (rule:
    /// for every foreign key, declared or implicit, whose child table was migrated, the
    /// referenced rows come from the source; repeated until a round adds nothing, so chains
    /// of parents and self-references close). Journaled like every other insert.
    async fn bring_parents(&mut self, plans: &[DbPlan]) -> Result<u64> {
        let mut total = 0u64;
        for _round in 0..100 {
            let mut added = 0u64;
            for p in plans {
                for f in &p.schema.fks {
                    added += self.parents_of(p, f).await?;
                }
            }
            total += added;
            if added == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// One round for one foreign key: the referenced keys the target's child rows have
    /// and its parent lacks, copied from the source in chunks of 1000.
    async fn parents_of(&mut self, p: &DbPlan, f: &Fk) -> Result<u64> {
        let (db, tdb) = (&p.db, &p.tdb);
        if !self.migrated.iter().any(|m| &m.0 == db && m.2 == f.child) {
            return Ok(0);
        }
        // SKIP_TABLES: never migrated, not even a parent row; the integrity check names
        // the references left dangling.
        if self.rules.skips(db, &f.parent) {
            return Ok(0);
        }
        let Some(parent) = p.schema.tables.get(&f.parent) else {
            return Ok(0);
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
        let rows: Vec<mysql_async::Row> = self
            .dst
            .query(sql)
            .await
            .with_db_context(|| format!("find missing parents of {tdb}.{}", f.child))?;
        if rows.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i).flatten())
                    .collect()
            })
            .collect();
        let mut added = 0u64;
        for part in keys.chunks(1000) {
            added += self.copy_parents(p, f, parent, part).await?;
        }
        Ok(added)
    }

    /// Copies the parent rows with these keys and records them in the state file and the
    /// report (as rows of the parent table).
    async fn copy_parents(
        &mut self,
        p: &DbPlan,
        f: &Fk,
        parent: &Table,
        part: &[Vec<Option<String>>],
    ) -> Result<u64> {
        let (db, tdb) = (&p.db, &p.tdb);
        let list: Vec<String> = part.iter().map(|k| key_literal(k)).collect();
        let filter = format!("{} IN ({})", closure::tuple(&f.refs), list.join(", "));
        let journal = self.files.journal_of(tdb, &f.parent);
        let claims = self.files.claims_of(tdb, &f.parent);
        let spec = Spec {
            src_db: db,
            dst_db: tdb,
            table: parent,
            filter: Some(&filter),
            page: 1_000_000,
            after: None,
            journal: Some(&journal),
            claims: Some(&claims),
            check_existing: true,
        };
        suspend_table_triggers(&mut self.dst, tdb, &f.parent, &self.files, &mut self.st).await?;
        let copied =
            copy::copy_table(&mut self.src, &mut self.dst, None, spec, |_, _| Ok(true)).await;
        restore_triggers(&mut self.dst, &self.files, &mut self.st).await?;
        let n = copied?.inserted;
        if n == 0 {
            return Ok(0);
        }
        tracing::info!(
            "{n} rows of {tdb}.{} brought along for {tdb}.{} ({})",
            f.parent,
            f.child,
            f.cols.join(", ")
        );
        // Recorded as brought along; the table's own status (skipped, say) and what the next
        // run does with it stay as they were.
        let e = self.st.table_mut(db, &f.parent);
        e.rows += n;
        e.parents_added += n;
        e.key = parent.primary_key.clone();
        e.target_db = tdb.clone();
        if e.status.is_empty() {
            e.status = "parents_only".into();
        }
        let label = format!("{tdb}.{}", f.parent);
        if let Some(s) = self.report.tables.iter_mut().find(|s| s.table == label) {
            s.migrated += n;
        }
        Ok(n)
    }
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

/// The whole of `customer-filter`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("customer-filter", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
