//! `schema-copy`: the document's `migrate_databases.py`. Copies the structure of MariaDB
//! databases to the WRITE server, in this order:
//!
//! 1. the database, with the source's character set and collation;
//! 2. pass 1: every table without its foreign keys (`SHOW CREATE TABLE` as the source has it:
//!    columns, defaults, generated columns, every index kind, AUTO_INCREMENT counter,
//!    comments, engine, charset, partitions);
//! 3. pass 2: the foreign keys (`ALTER TABLE … ADD CONSTRAINT`), now that every table exists;
//! 4. stored functions and procedures;
//! 5. views (in dependency order: a view that fails because another is missing is retried
//!    after the others);
//! 6. triggers (last: they name their table and may call routines).
//!
//! Routines, views and triggers are created without the source's DEFINER (the target user
//! becomes the definer) and with the `sql_mode` they were created under. A table, routine,
//! view or trigger that already exists is compared, not replaced: differences are reported
//! and make the exit code 1; `--drop-existing` drops and recreates instead. `--dry-run`
//! prints the DDL on stdout and changes nothing.

use crate::servers::{mapped, Servers};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, DbError, Exit, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

const EXAMPLES: &str = "\
Examples:
  # READ_DB_* and WRITE_DB_* from .env, as migrate_databases.py
  schema-copy --databases STARFOX,ONBOARDING
  # every database of the source; see the DDL first
  schema-copy --databases all --dry-run > schema.sql
  # one server, the copy beside the original
  schema-copy --source mysql://root@127.0.0.1/ --target mysql://root@127.0.0.1/ \\
    --databases STARFOX --map STARFOX=STARFOX_staging";

/// Command line of `schema-copy`.
#[derive(Parser, Debug)]
#[command(
    name = "schema-copy",
    version,
    about = "Copy MariaDB database structure: tables (pass 1), foreign keys (pass 2), routines, views, triggers.",
    after_help = EXAMPLES
)]
pub struct Args {
    #[command(flatten)]
    pub servers: Servers,
    /// Databases to copy, comma-separated, or `all`. Asked for when absent and stdin is a
    /// terminal.
    #[arg(long, value_delimiter = ',', value_name = "DB,DB|all")]
    pub databases: Vec<String>,
    /// Drop and recreate the objects that exist on the target and differ from the source
    /// (default: compare only); each is confirmed on a terminal, or by --yes.
    #[arg(long)]
    pub drop_existing: bool,
    /// Answer yes to the confirmations (the start, and --drop-existing's).
    #[arg(long)]
    pub yes: bool,
    /// customer-filter's state folder: triggers a crashed customer-filter or
    /// delete-migrated left aside there are restored first.
    #[arg(long, env = "MIGRATION_STATE_DIR", default_value = ".migration_state")]
    pub state_dir: std::path::PathBuf,
    /// Print the DDL on stdout; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

const SYSTEM: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// The databases to copy: the flag, or the document's prompt (on stderr: stdout is for DDL).
#[allow(clippy::print_stderr)]
async fn databases(args: &Args, src: &mut Conn) -> Result<Vec<String>> {
    let mut names = args.databases.clone();
    if names.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(FerryError::Usage(
                "no --databases given (and stdin is not a terminal to ask): use --databases STARFOX,ONBOARDING or all".into(),
            ));
        }
        eprint!("Database names: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| FerryError::Usage(format!("read database names: {e}")))?;
        names = line
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let all: Vec<String> = src
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        .await
        .db_context("list databases")?;
    if names.len() == 1 && names[0].eq_ignore_ascii_case("all") {
        return Ok(all
            .into_iter()
            .filter(|d| !SYSTEM.contains(&d.as_str()))
            .collect());
    }
    for n in &names {
        if !all.contains(n) {
            return Err(FerryError::NotFound(format!(
                "database {n:?} not found on the source"
            )));
        }
    }
    if names.is_empty() {
        return Err(FerryError::Usage("no databases named".into()));
    }
    Ok(names)
}

/// The names a one-column information_schema query lists for database `db`.
async fn names(c: &mut Conn, sql: &str, db: &str, what: &str) -> Result<Vec<String>> {
    c.exec(sql, (db,))
        .await
        .with_db_context(|| format!("{what} of {db}"))
}

/// A table's DDL split into the part created in pass 1 and its foreign keys (pass 2).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitTable {
    /// CREATE TABLE without the FOREIGN KEY constraints.
    pub create: String,
    /// `(constraint name, "CONSTRAINT … FOREIGN KEY … REFERENCES …")`.
    pub foreign_keys: Vec<(String, String)>,
}

/// Splits `SHOW CREATE TABLE` output: lines `CONSTRAINT `x` FOREIGN KEY …` come out, and
/// the comma of the line before them is fixed.
pub fn split_foreign_keys(ddl: &str) -> SplitTable {
    let mut keep: Vec<String> = Vec::new();
    let mut fks = Vec::new();
    for line in ddl.lines() {
        let t = line.trim_start();
        if t.starts_with("CONSTRAINT ") && t.contains(" FOREIGN KEY ") {
            let clause = t.trim_end_matches(',').to_string();
            let name = clause
                .strip_prefix("CONSTRAINT `")
                .and_then(|r| r.find("` FOREIGN KEY").map(|i| r[..i].replace("``", "`")))
                .unwrap_or_default();
            fks.push((name, clause));
        } else {
            keep.push(line.to_string());
        }
    }
    // The line before ")" may now end with a comma that had a constraint after it.
    for i in 1..keep.len() {
        if keep[i].trim_start().starts_with(')') {
            if let Some(prev) = keep.get_mut(i - 1) {
                if prev.ends_with(',') {
                    prev.pop();
                }
            }
        }
    }
    SplitTable {
        create: keep.join("\n"),
        foreign_keys: fks,
    }
}

/// DDL as compared between source and target: no AUTO_INCREMENT counter (data moves it),
/// references to the source database renamed to the target's.
pub fn normalize(ddl: &str, src_db: &str, dst_db: &str) -> String {
    let mut out = String::with_capacity(ddl.len());
    let mut rest = ddl;
    while let Some(i) = rest.find(" AUTO_INCREMENT=") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " AUTO_INCREMENT=".len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        rest = &tail[digits..];
    }
    out.push_str(rest);
    rename_db(&out, src_db, dst_db)
}

/// Renames references to database `src_db` ([`crate::rename`]); a definition that cannot
/// be renamed safely keeps its text here (only compared) — [`copy_object`] refuses it.
pub fn rename_db(sql: &str, src_db: &str, dst_db: &str) -> String {
    crate::rename::rename(sql, src_db, dst_db).unwrap_or_else(|_| sql.to_string())
}

/// Removes `DEFINER=`user`@`host`` so the target's user becomes the definer.
pub fn strip_definer(ddl: &str) -> String {
    let Some(i) = ddl.find("DEFINER=") else {
        return ddl.to_string();
    };
    let b = ddl.as_bytes();
    let mut j = i + "DEFINER=".len();
    // user@host, each part backquoted (with `` inside) or bare, up to the next space.
    for part in 0..2 {
        j = if b.get(j) == Some(&b'`') {
            end_of_quoted(b, j)
        } else {
            end_of_bare(b, j)
        };
        if part == 0 && b.get(j) == Some(&b'@') {
            j += 1;
        } else {
            break;
        }
    }
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    format!("{}{}", &ddl[..i], &ddl[j..])
}

/// The index after the backquoted name that opens at `j` (a doubled backquote is part of
/// the name). Its own function so the definer scan stays shallow.
fn end_of_quoted(b: &[u8], mut j: usize) -> usize {
    j += 1;
    while j < b.len() {
        if b[j] == b'`' {
            if b.get(j + 1) == Some(&b'`') {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    j
}

/// The index after the bare name that starts at `j`: it ends at `@` or a space.
fn end_of_bare(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j] != b'@' && b[j] != b' ' {
        j += 1;
    }
    j
}

/// The kinds of object `SHOW CREATE` reads and `CREATE`/`DROP` write. An enum rather than
/// a string so that a misspelt kind cannot reach the SQL, and so the column layout of each
/// kind's `SHOW CREATE` answer is decided in one place instead of at every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A base table.
    Table,
    /// A view.
    View,
    /// A trigger.
    Trigger,
    /// A stored procedure.
    Procedure,
    /// A stored function.
    Function,
    /// A package specification (MariaDB's Oracle mode).
    Package,
    /// A package body (MariaDB's Oracle mode).
    PackageBody,
    /// A scheduled event.
    Event,
}

impl ObjectKind {
    /// The SQL keyword (`SHOW CREATE …`, `DROP …`): the generated SQL and messages embed
    /// exactly this text.
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Table => "TABLE",
            ObjectKind::View => "VIEW",
            ObjectKind::Trigger => "TRIGGER",
            ObjectKind::Procedure => "PROCEDURE",
            ObjectKind::Function => "FUNCTION",
            ObjectKind::Package => "PACKAGE",
            ObjectKind::PackageBody => "PACKAGE BODY",
            ObjectKind::Event => "EVENT",
        }
    }

    /// The kind of a routine as `information_schema.ROUTINES.ROUTINE_TYPE` names it: the
    /// one place where server text becomes a kind.
    pub fn routine(routine_type: &str) -> Result<ObjectKind> {
        match routine_type {
            "PROCEDURE" => Ok(ObjectKind::Procedure),
            "FUNCTION" => Ok(ObjectKind::Function),
            "PACKAGE" => Ok(ObjectKind::Package),
            "PACKAGE BODY" => Ok(ObjectKind::PackageBody),
            other => Err(FerryError::Failed(format!(
                "unknown routine type {other:?} in information_schema.ROUTINES"
            ))),
        }
    }

    /// The column of the `SHOW CREATE` answer that holds the DDL.
    fn ddl_column(self) -> usize {
        match self {
            ObjectKind::Table | ObjectKind::View => 1,
            ObjectKind::Event => 3,
            _ => 2,
        }
    }

    /// Whether `SHOW CREATE` gives the `sql_mode` (second column) the object was created
    /// under: routines, triggers and events keep theirs, tables and views have none.
    fn has_sql_mode(self) -> bool {
        !matches!(self, ObjectKind::Table | ObjectKind::View)
    }

    /// The lower-case name the log and difference messages use ("table", "procedure").
    fn label(self) -> String {
        self.keyword().to_lowercase()
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// What to do with an object the target already has. One value instead of the pair
/// "does the target database exist" / `--drop-existing`, whose four combinations only
/// mean three things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// The target database is new (or this is a dry run): there is nothing to look at.
    Absent,
    /// Compare with the source and report differences (the default).
    Compare,
    /// Drop and recreate (`--drop-existing`).
    Replace,
}

/// An object's definition as `SHOW CREATE` gives it.
struct Created {
    /// The DDL.
    ddl: String,
    /// The `sql_mode` it was created under (empty for tables and views).
    sql_mode: String,
}

/// One object read from the source, ready to be created on the target: kept together so
/// the copy takes one value, not five.
struct SourceObject<'a> {
    kind: ObjectKind,
    name: &'a str,
    ddl: &'a str,
    sql_mode: &'a str,
}

struct Target<'a> {
    conn: Option<&'a mut Conn>,
    dry_run: bool,
}

impl Target<'_> {
    /// Runs DDL on the target (or prints it in a dry run).
    async fn exec(&mut self, db: &str, sql: &str) -> Result<()> {
        if self.dry_run {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "USE {};\n{sql};\n", q(db));
            return Ok(());
        }
        let Some(c) = self.conn.as_deref_mut() else {
            return Ok(());
        };
        c.query_drop(format!("USE {}", q(db)))
            .await
            .with_db_context(|| format!("use {db}"))?;
        c.query_drop(sql).await.with_db_context(|| {
            format!(
                "on the target, in {db}: {}",
                sql.lines().next().unwrap_or("")
            )
        })
    }
}

/// One source database being copied into its target database: the target connection, the
/// names on both sides, what to do with objects already there, and the differences found
/// so far. Every step (tables, foreign keys, routines, views, triggers) works on it, so
/// none needs a long parameter list.
struct DbCopy<'a> {
    tgt: Target<'a>,
    /// Source database.
    db: &'a str,
    /// Target database (after `--map`).
    tdb: &'a str,
    existing: Existing,
    /// `--yes`: replacing a differing object needs no prompt.
    yes: bool,
    /// Differences found, reported as warnings once the database is done.
    diffs: Vec<String>,
}

impl DbCopy<'_> {
    /// The target's definition of an object, when the target may have it.
    async fn on_target(&mut self, kind: ObjectKind, name: &str) -> Result<Option<Created>> {
        if self.existing == Existing::Absent {
            return Ok(None);
        }
        match self.tgt.conn.as_deref_mut() {
            Some(c) => show_create(c, kind, self.tdb, name).await,
            None => Ok(None),
        }
    }

    /// Creates the target database with the source's character set and collation, or notes
    /// that the existing one has others.
    async fn create_database(
        &mut self,
        cs: &str,
        coll: &str,
        existing: Option<&(String, String)>,
    ) -> Result<()> {
        let tdb = self.tdb;
        match existing {
            None => {
                tracing::info!("creating database {tdb} ({cs}, {coll})");
                let sql = format!(
                    "CREATE DATABASE {} CHARACTER SET {cs} COLLATE {coll}",
                    q(tdb)
                );
                if self.tgt.dry_run {
                    let _ = writeln!(std::io::stdout().lock(), "{sql};\n");
                } else if let Some(c) = self.tgt.conn.as_deref_mut() {
                    c.query_drop(&sql)
                        .await
                        .with_db_context(|| format!("create database {tdb}"))?;
                }
            }
            Some((tcs, tcoll)) if tcs != cs || tcoll != coll => {
                self.diffs.push(format!(
                    "database {tdb}: {tcs}/{tcoll} on the target, {cs}/{coll} on the source"
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// `--drop-existing` on an object that differs: confirmed by `--yes`, or on a terminal
    /// by the user; without either it is left (and reported as a difference).
    fn may_replace(&mut self, kind: ObjectKind, name: &str) -> Result<bool> {
        if self.existing != Existing::Replace {
            return Ok(false);
        }
        if self.yes {
            return Ok(true);
        }
        let prompt = format!(
            "{} {}.{name} differs from the source: drop and recreate it{}? [y/N] ",
            kind.label(),
            self.tdb,
            if kind == ObjectKind::Table {
                " (its rows are lost)"
            } else {
                ""
            }
        );
        match crate::prompt::ask(&prompt) {
            Some(a) => Ok(a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes")),
            None => {
                tracing::warn!(
                    "{} {}.{name} differs; not dropped: no terminal to confirm (add --yes)",
                    kind.label(),
                    self.tdb
                );
                Ok(false)
            }
        }
    }

    /// Whether the target table already has foreign key `name`.
    async fn has_foreign_key(&mut self, t: &str, name: &str) -> Result<bool> {
        if self.existing == Existing::Absent {
            return Ok(false);
        }
        let tdb = self.tdb;
        let Some(c) = self.tgt.conn.as_deref_mut() else {
            return Ok(false);
        };
        let have: Option<String> = c
            .exec_first(
                "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = ?",
                (tdb, t, name),
            )
            .await
            .with_db_context(|| format!("read foreign keys of {tdb}.{t}"))?;
        Ok(have.is_some())
    }
}

async fn show_create(
    c: &mut Conn,
    kind: ObjectKind,
    db: &str,
    name: &str,
) -> Result<Option<Created>> {
    c.query_drop(format!("USE {}", q(db)))
        .await
        .with_db_context(|| format!("use {db}"))?;
    let row: Option<mysql_async::Row> = match c
        .query_first(format!("SHOW CREATE {kind} {}", q(name)))
        .await
    {
        Ok(r) => r,
        // 1146 no such table, 1305 no such routine, 1360 no such trigger.
        Err(mysql_async::Error::Server(e)) if [1146, 1305, 1360, 1347].contains(&e.code) => None,
        Err(e) => return Err(DbError::wrap(format!("SHOW CREATE {kind} {db}.{name}"), e).into()),
    };
    Ok(row.and_then(|r| {
        let ddl: Option<String> = r.get(kind.ddl_column());
        // sql_mode is the second column for routines and triggers.
        let mode: Option<String> = if kind.has_sql_mode() {
            r.get(1)
        } else {
            Some(String::new())
        };
        ddl.map(|d| Created {
            ddl: d,
            sql_mode: mode.unwrap_or_default(),
        })
    }))
}

/// Why copying one database stopped. A view that cannot be created even after all the
/// others keeps its name in front of the cause, as the tool has always reported it; every
/// other error is passed on as it is.
enum CopyError {
    Ferry(FerryError),
    View { view: String, source: FerryError },
}

impl From<FerryError> for CopyError {
    fn from(e: FerryError) -> Self {
        CopyError::Ferry(e)
    }
}

impl CopyError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            CopyError::Ferry(e) => e.into(),
            CopyError::View { view, source } => {
                anyhow::Error::from(source).context(format!("view {view}"))
            }
        }
    }
}

/// How many objects of each kind one database has, for the run's notes.
struct Copied {
    tables: usize,
    foreign_keys: usize,
    routines: usize,
    views: usize,
    triggers: usize,
    diffs: Vec<String>,
}

/// Runs `schema-copy`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let read = args.servers.read()?;
    let write = args.servers.write()?;
    let map = args.servers.mapping()?;
    let mut src = ferry_shared::conn::connect_mysql(&read).await?;
    let mut dst_conn = ferry_shared::conn::connect_mysql(&write).await?;
    crate::triggers::restore_in_dir(&mut dst_conn, &args.state_dir).await?;
    let dbs = databases(&args, &mut src).await?;
    if !args.dry_run {
        crate::prompt::confirm_start(
            &format!("schema-copy: {} from {read} to {write}", dbs.join(", ")),
            args.yes,
        )?;
    }
    let mut report = RunReport::start("schema-copy");
    report.dry_run = args.dry_run;
    report.source = Some(read.to_string());
    report.target = Some(write.to_string());
    let mut differences = 0u64;
    for db in &dbs {
        let tdb = mapped(&map, db).to_string();
        let mut stats = TableStats::new(&format!("{db} → {tdb}"));
        let started = std::time::Instant::now();
        let copied = copy_database(&args, &mut src, &mut dst_conn, db, &tdb, &mut stats)
            .await
            .map_err(CopyError::into_anyhow)?;
        report.notes.push(format!(
            "{db} → {tdb}: {} tables, {} foreign keys, {} routines, {} views, {} triggers",
            copied.tables, copied.foreign_keys, copied.routines, copied.views, copied.triggers
        ));
        for d in &copied.diffs {
            tracing::warn!("{d}");
        }
        differences += copied.diffs.len() as u64;
        stats.errors = copied.diffs.len() as u64;
        stats.duration_secs = started.elapsed().as_secs_f64();
        report.tables.push(stats);
    }
    report.finish();
    let code = if differences > 0 {
        report.status = "different".into();
        report.notes.push(format!(
            "{differences} objects differ on the target (listed above); nothing was dropped: use --drop-existing to recreate them"
        ));
        Exit::Failure
    } else {
        report.status = "ok".into();
        Exit::Ok
    };
    report.exit_code = code.code();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

/// Copies one database: the database itself, then its tables (pass 1), foreign keys
/// (pass 2), routines, views and triggers, in the order the module comment gives.
async fn copy_database(
    args: &Args,
    src: &mut Conn,
    dst: &mut Conn,
    db: &str,
    tdb: &str,
    stats: &mut TableStats,
) -> std::result::Result<Copied, CopyError> {
    let (cs, coll): (String, String) = src
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (db,),
        )
        .await
        .with_db_context(|| format!("read database {db}"))?
        .ok_or_else(|| FerryError::NotFound(format!("database {db:?} not found on the source")))?;
    let existing: Option<(String, String)> = dst
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (tdb,),
        )
        .await
        .with_db_context(|| format!("read database {tdb} on the target"))?;
    let mode = if existing.is_none() || args.dry_run {
        Existing::Absent
    } else if args.drop_existing {
        Existing::Replace
    } else {
        Existing::Compare
    };
    let mut dc = DbCopy {
        tgt: Target {
            conn: Some(dst),
            dry_run: args.dry_run,
        },
        db,
        tdb,
        existing: mode,
        yes: args.yes,
        diffs: Vec::new(),
    };
    dc.create_database(&cs, &coll, existing.as_ref()).await?;
    let pass2 = copy_tables(&mut dc, src, stats).await?;
    add_foreign_keys(&mut dc, &pass2).await?;
    // Routines, then views, then triggers.
    let routines = copy_routines(&mut dc, src).await?;
    let views = copy_views(&mut dc, src).await?;
    let triggers = copy_triggers(&mut dc, src).await?;
    Ok(Copied {
        tables: pass2.len(),
        foreign_keys: pass2.iter().map(|p| p.1.foreign_keys.len()).sum(),
        routines,
        views,
        triggers,
        diffs: dc.diffs,
    })
}

/// Pass 1: every table without its foreign keys. Returns each table's split DDL for pass 2.
async fn copy_tables(
    dc: &mut DbCopy<'_>,
    src: &mut Conn,
    stats: &mut TableStats,
) -> Result<Vec<(String, SplitTable)>> {
    let tables = names(src, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", dc.db, "list tables").await?;
    let mut pass2: Vec<(String, SplitTable)> = Vec::new();
    for t in tables {
        let split = copy_table(dc, src, &t, stats).await?;
        pass2.push((t, split));
    }
    Ok(pass2)
}

/// Creates (or compares, or recreates) one table without its foreign keys.
async fn copy_table(
    dc: &mut DbCopy<'_>,
    src: &mut Conn,
    t: &str,
    stats: &mut TableStats,
) -> Result<SplitTable> {
    let (db, tdb) = (dc.db, dc.tdb);
    let ddl = show_create(src, ObjectKind::Table, db, t)
        .await?
        .ok_or_else(|| FerryError::NotFound(format!("table {db}.{t} vanished")))?
        .ddl;
    let split = split_foreign_keys(&ddl);
    let current = dc.on_target(ObjectKind::Table, t).await?;
    match current {
        Some(have) => {
            let want = normalize(&ddl, db, tdb);
            let have_n = normalize(&have.ddl, tdb, tdb);
            // Compare without foreign keys here; pass 2 adds missing ones. Only a table
            // that differs is ever dropped, and only when confirmed.
            if split_foreign_keys(&want).create == split_foreign_keys(&have_n).create {
                stats.skipped += 1;
            } else if dc.may_replace(ObjectKind::Table, t)? {
                tracing::info!("dropping and recreating {tdb}.{t} (it differs)");
                dc.tgt.exec(tdb, "SET FOREIGN_KEY_CHECKS = 0").await?;
                dc.tgt.exec(tdb, &format!("DROP TABLE {}", q(t))).await?;
                dc.tgt.exec(tdb, &rename_db(&split.create, db, tdb)).await?;
                stats.migrated += 1;
            } else {
                dc.diffs.push(format!(
                    "table {tdb}.{t} differs:\n{}",
                    line_diff(&want, &have_n)
                ));
                stats.skipped += 1;
            }
        }
        None => {
            tracing::info!("pass 1: {tdb}.{t}");
            dc.tgt.exec(tdb, &rename_db(&split.create, db, tdb)).await?;
            stats.migrated += 1;
        }
    }
    Ok(split)
}

/// Pass 2: the foreign keys that the target lacks, now that every table exists.
async fn add_foreign_keys(dc: &mut DbCopy<'_>, pass2: &[(String, SplitTable)]) -> Result<()> {
    let (db, tdb) = (dc.db, dc.tdb);
    for (t, split) in pass2 {
        for (name, clause) in &split.foreign_keys {
            if dc.has_foreign_key(t, name).await? {
                continue;
            }
            tracing::info!("pass 2: {tdb}.{t} {name}");
            dc.tgt
                .exec(
                    tdb,
                    &format!("ALTER TABLE {} ADD {}", q(t), rename_db(clause, db, tdb)),
                )
                .await?;
        }
    }
    Ok(())
}

/// Stored functions and procedures. Returns how many the source has.
async fn copy_routines(dc: &mut DbCopy<'_>, src: &mut Conn) -> Result<usize> {
    let db = dc.db;
    let routines: Vec<(String, String)> = src
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
            (db,),
        )
        .await
        .with_db_context(|| format!("list routines of {db}"))?;
    for (kind, name) in &routines {
        let kind = ObjectKind::routine(kind)?;
        let Some(def) = show_create(src, kind, db, name).await? else {
            continue;
        };
        copy_object(dc, &SourceObject::new(kind, name, &def)).await?;
    }
    Ok(routines.len())
}

/// Views, in dependency order. Returns how many the source has.
async fn copy_views(dc: &mut DbCopy<'_>, src: &mut Conn) -> std::result::Result<usize, CopyError> {
    let db = dc.db;
    let views = names(src, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", db, "list views").await?;
    let mut pending: Vec<(String, Created)> = Vec::new();
    for v in &views {
        if let Some(def) = show_create(src, ObjectKind::View, db, v).await? {
            pending.push((v.clone(), def));
        }
    }
    create_views(dc, pending).await?;
    Ok(views.len())
}

/// Views over views: retries the failures while each round creates at least one; when a
/// round creates none, the first failure stops the run.
async fn create_views(
    dc: &mut DbCopy<'_>,
    mut pending: Vec<(String, Created)>,
) -> std::result::Result<(), CopyError> {
    loop {
        let mut failed = Vec::new();
        let before = pending.len();
        for (v, def) in pending {
            let obj = SourceObject::new(ObjectKind::View, &v, &def);
            if let Err(e) = copy_object(dc, &obj).await {
                failed.push((v, def, e));
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        if failed.len() == before {
            let (v, _, e) = failed.remove(0);
            return Err(CopyError::View {
                view: format!("{}.{v}", dc.tdb),
                source: e,
            });
        }
        pending = failed.into_iter().map(|(v, d, _)| (v, d)).collect();
    }
}

/// Triggers, last: they name their table and may call routines. Returns how many the
/// source has.
async fn copy_triggers(dc: &mut DbCopy<'_>, src: &mut Conn) -> Result<usize> {
    let db = dc.db;
    let triggers = names(src, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", db, "list triggers").await?;
    for name in &triggers {
        let Some(def) = show_create(src, ObjectKind::Trigger, db, name).await? else {
            continue;
        };
        copy_object(dc, &SourceObject::new(ObjectKind::Trigger, name, &def)).await?;
    }
    Ok(triggers.len())
}

impl<'a> SourceObject<'a> {
    fn new(kind: ObjectKind, name: &'a str, def: &'a Created) -> Self {
        SourceObject {
            kind,
            name,
            ddl: &def.ddl,
            sql_mode: &def.sql_mode,
        }
    }
}

/// Creates a routine, view or trigger on the target, or compares it with the one there.
async fn copy_object(dc: &mut DbCopy<'_>, obj: &SourceObject<'_>) -> Result<()> {
    let (tdb, name, kind, mode) = (dc.tdb, obj.name, obj.kind, obj.sql_mode);
    let want = crate::rename::rename(&strip_definer(obj.ddl), dc.db, tdb).map_err(|e| {
        FerryError::Usage(format!(
            "{} {}.{name}: {}; under --map it would point at the source database, so it is not created",
            kind.label(),
            dc.db,
            e.0
        ))
    })?;
    let current = dc.on_target(kind, name).await?;
    if let Some(have) = &current {
        if strip_definer(&have.ddl) == want {
            return Ok(());
        }
        if !dc.may_replace(kind, name)? {
            dc.diffs.push(format!(
                "{} {tdb}.{name} differs:\n{}",
                kind.label(),
                line_diff(&want, &strip_definer(&have.ddl))
            ));
            return Ok(());
        }
        dc.tgt
            .exec(tdb, &format!("DROP {kind} {}", q(name)))
            .await?;
    }
    tracing::info!("{}: {tdb}.{name}", kind.label());
    if !mode.is_empty() {
        dc.tgt
            .exec(
                tdb,
                &format!("SET SESSION sql_mode = '{}'", mode.replace('\'', "''")),
            )
            .await?;
    }
    let res = dc.tgt.exec(tdb, &want).await;
    if !mode.is_empty() {
        dc.tgt.exec(tdb, "SET SESSION sql_mode = DEFAULT").await?;
    }
    res
}

/// Creates routine `name` (PROCEDURE or FUNCTION) of source database `db` in target
/// database `tdb`, without its definer, under its sql_mode (customer-filter's phase 0).
pub async fn create_routine(
    src: &mut Conn,
    dst: &mut Conn,
    db: &str,
    tdb: &str,
    kind: ObjectKind,
    name: &str,
) -> Result<()> {
    let Some(def) = show_create(src, kind, db, name).await? else {
        return Err(FerryError::NotFound(format!(
            "{kind} {db}.{name} vanished from the source"
        )));
    };
    let mut dc = DbCopy {
        tgt: Target {
            conn: Some(dst),
            dry_run: false,
        },
        db,
        tdb,
        existing: Existing::Absent,
        yes: false,
        diffs: Vec::new(),
    };
    copy_object(&mut dc, &SourceObject::new(kind, name, &def)).await
}

/// The lines of `want` missing from `have` (`-`) and the other way (`+`).
fn line_diff(want: &str, have: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let h: Vec<&str> = have.lines().collect();
    let mut out: BTreeMap<usize, String> = BTreeMap::new();
    for (i, l) in w.iter().enumerate() {
        if !h.contains(l) {
            out.insert(i, format!("  source: {}", l.trim()));
        }
    }
    for (i, l) in h.iter().enumerate() {
        if !w.contains(l) {
            out.insert(10_000 + i, format!("  target: {}", l.trim()));
        }
    }
    out.into_values().collect::<Vec<_>>().join("\n")
}

/// The whole of `schema-copy`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("schema-copy", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_foreign_keys() {
        let ddl = "CREATE TABLE `A` (\n  `id` int(11) NOT NULL,\n  `b` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_b` (`b`),\n  CONSTRAINT `fk_b` FOREIGN KEY (`b`) REFERENCES `B` (`id`),\n  CONSTRAINT `c``x` FOREIGN KEY (`b`) REFERENCES `other`.`C` (`id`) ON DELETE CASCADE\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4";
        let s = split_foreign_keys(ddl);
        assert_eq!(
            s.create,
            "CREATE TABLE `A` (\n  `id` int(11) NOT NULL,\n  `b` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_b` (`b`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(s.foreign_keys.len(), 2);
        assert_eq!(s.foreign_keys[0].0, "fk_b");
        assert_eq!(s.foreign_keys[1].0, "c`x");
        assert_eq!(
            rename_db(&s.foreign_keys[1].1, "other", "other_copy"),
            "CONSTRAINT `c``x` FOREIGN KEY (`b`) REFERENCES `other_copy`.`C` (`id`) ON DELETE CASCADE"
        );
        assert!(!normalize(ddl, "x", "x").contains("AUTO_INCREMENT=7"));
    }

    #[test]
    fn object_kinds_keep_their_sql_keywords() {
        for (text, kind) in [
            ("PROCEDURE", ObjectKind::Procedure),
            ("FUNCTION", ObjectKind::Function),
            ("PACKAGE", ObjectKind::Package),
            ("PACKAGE BODY", ObjectKind::PackageBody),
        ] {
            assert_eq!(ObjectKind::routine(text).unwrap(), kind);
            assert_eq!(kind.keyword(), text);
            assert_eq!(kind.to_string(), text);
            assert_eq!(kind.ddl_column(), 2);
            assert!(kind.has_sql_mode());
        }
        assert!(ObjectKind::routine("TABLE").is_err());
        assert_eq!(ObjectKind::Table.keyword(), "TABLE");
        assert_eq!(ObjectKind::View.label(), "view");
        assert_eq!(ObjectKind::Trigger.ddl_column(), 2);
        assert_eq!(ObjectKind::View.ddl_column(), 1);
        assert!(!ObjectKind::Table.has_sql_mode());
    }

    #[test]
    fn strips_definers() {
        assert_eq!(
            strip_definer("CREATE DEFINER=`root`@`127.0.0.1` PROCEDURE `p`() SELECT 1"),
            "CREATE PROCEDURE `p`() SELECT 1"
        );
        assert_eq!(
            strip_definer("CREATE ALGORITHM=UNDEFINED DEFINER=`a``b`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1"),
            "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1"
        );
        assert_eq!(strip_definer("CREATE TRIGGER t"), "CREATE TRIGGER t");
    }
}
