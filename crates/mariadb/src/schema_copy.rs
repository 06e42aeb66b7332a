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
    /// Drop and recreate objects that already exist on the target (default: compare only).
    #[arg(long)]
    pub drop_existing: bool,
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

/// Renames qualified references `` `src`. `` to `` `dst`. ``.
pub fn rename_db(sql: &str, src_db: &str, dst_db: &str) -> String {
    if src_db == dst_db {
        return sql.to_string();
    }
    sql.replace(&format!("{}.", q(src_db)), &format!("{}.", q(dst_db)))
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
        if b.get(j) == Some(&b'`') {
            j += 1;
            while j < b.len() {
                if b[j] == b'`' {
                    if b.get(j + 1) == Some(&b'`') {
                        j += 2;
                        continue;
                    }
                    j += 1;
                    break;
                }
                j += 1;
            }
        } else {
            while j < b.len() && b[j] != b'@' && b[j] != b' ' {
                j += 1;
            }
        }
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

async fn show_create(
    c: &mut Conn,
    what: &str,
    db: &str,
    name: &str,
    col: usize,
) -> Result<Option<(String, String)>> {
    c.query_drop(format!("USE {}", q(db)))
        .await
        .with_db_context(|| format!("use {db}"))?;
    let row: Option<mysql_async::Row> = match c
        .query_first(format!("SHOW CREATE {what} {}", q(name)))
        .await
    {
        Ok(r) => r,
        // 1146 no such table, 1305 no such routine, 1360 no such trigger.
        Err(mysql_async::Error::Server(e)) if [1146, 1305, 1360, 1347].contains(&e.code) => None,
        Err(e) => return Err(DbError::wrap(format!("SHOW CREATE {what} {db}.{name}"), e).into()),
    };
    Ok(row.and_then(|r| {
        let ddl: Option<String> = r.get(col);
        // sql_mode is the second column for routines and triggers.
        let mode: Option<String> = if what == "TABLE" || what == "VIEW" {
            Some(String::new())
        } else {
            r.get(1)
        };
        ddl.map(|d| (d, mode.unwrap_or_default()))
    }))
}

/// Runs `schema-copy`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let read = args.servers.read()?;
    let write = args.servers.write()?;
    let map = args.servers.mapping()?;
    let mut src = ferry_shared::conn::connect_mysql(&read).await?;
    let mut dst_conn = ferry_shared::conn::connect_mysql(&write).await?;
    let dbs = databases(&args, &mut src).await?;
    let mut report = RunReport::start("schema-copy");
    report.dry_run = args.dry_run;
    report.source = Some(read.to_string());
    report.target = Some(write.to_string());
    let mut differences = 0u64;
    for db in &dbs {
        let tdb = mapped(&map, db).to_string();
        let mut stats = TableStats::new(&format!("{db} → {tdb}"));
        let started = std::time::Instant::now();
        let (cs, coll): (String, String) = src
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db,),
            )
            .await
            .with_db_context(|| format!("read database {db}"))?
            .ok_or_else(|| FerryError::NotFound(format!("database {db:?} not found on the source")))?;
        let existing: Option<(String, String)> = dst_conn
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&tdb,),
            )
            .await
            .with_db_context(|| format!("read database {tdb} on the target"))?;
        let mut tgt = Target {
            conn: Some(&mut dst_conn),
            dry_run: args.dry_run,
        };
        let mut diffs: Vec<String> = Vec::new();
        match &existing {
            None => {
                tracing::info!("creating database {tdb} ({cs}, {coll})");
                let sql = format!(
                    "CREATE DATABASE {} CHARACTER SET {cs} COLLATE {coll}",
                    q(&tdb)
                );
                if args.dry_run {
                    let _ = writeln!(std::io::stdout().lock(), "{sql};\n");
                } else if let Some(c) = tgt.conn.as_deref_mut() {
                    c.query_drop(&sql)
                        .await
                        .with_db_context(|| format!("create database {tdb}"))?;
                }
            }
            Some((tcs, tcoll)) if tcs != &cs || tcoll != &coll => {
                diffs.push(format!(
                    "database {tdb}: {tcs}/{tcoll} on the target, {cs}/{coll} on the source"
                ));
            }
            Some(_) => {}
        }
        let target_exists = existing.is_some() && !args.dry_run;
        // Pass 1: tables without foreign keys.
        let tables = names(&mut src, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", db, "list tables").await?;
        let mut pass2: Vec<(String, SplitTable)> = Vec::new();
        for t in &tables {
            let (ddl, _) = show_create(&mut src, "TABLE", db, t, 1)
                .await?
                .ok_or_else(|| FerryError::NotFound(format!("table {db}.{t} vanished")))?;
            let split = split_foreign_keys(&ddl);
            let current = if target_exists {
                match tgt.conn.as_deref_mut() {
                    Some(c) => show_create(c, "TABLE", &tdb, t, 1).await?,
                    None => None,
                }
            } else {
                None
            };
            match current {
                Some((have, _)) if !args.drop_existing => {
                    let want = normalize(&ddl, db, &tdb);
                    let have_n = normalize(&have, &tdb, &tdb);
                    // Compare without foreign keys here; pass 2 adds missing ones.
                    if split_foreign_keys(&want).create != split_foreign_keys(&have_n).create {
                        diffs.push(format!(
                            "table {tdb}.{t} differs:\n{}",
                            line_diff(&want, &have_n)
                        ));
                    }
                    stats.skipped += 1;
                }
                Some(_) => {
                    tracing::info!("dropping and recreating {tdb}.{t}");
                    tgt.exec(&tdb, "SET FOREIGN_KEY_CHECKS = 0").await?;
                    tgt.exec(&tdb, &format!("DROP TABLE {}", q(t))).await?;
                    tgt.exec(&tdb, &rename_db(&split.create, db, &tdb)).await?;
                    stats.migrated += 1;
                }
                None => {
                    tracing::info!("pass 1: {tdb}.{t}");
                    tgt.exec(&tdb, &rename_db(&split.create, db, &tdb)).await?;
                    stats.migrated += 1;
                }
            }
            pass2.push((t.clone(), split));
        }
        // Pass 2: foreign keys that the target lacks.
        for (t, split) in &pass2 {
            for (name, clause) in &split.foreign_keys {
                let have: Option<String> = if args.dry_run || existing.is_none() {
                    None
                } else {
                    match tgt.conn.as_deref_mut() {
                        Some(c) => c
                            .exec_first(
                                "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = ?",
                                (&tdb, t, name),
                            )
                            .await
                            .with_db_context(|| format!("read foreign keys of {tdb}.{t}"))?,
                        None => None,
                    }
                };
                if have.is_none() {
                    tracing::info!("pass 2: {tdb}.{t} {name}");
                    tgt.exec(
                        &tdb,
                        &format!("ALTER TABLE {} ADD {}", q(t), rename_db(clause, db, &tdb)),
                    )
                    .await?;
                }
            }
        }
        // Routines, then views, then triggers.
        let routines: Vec<(String, String)> = src
            .exec(
                "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
                (db,),
            )
            .await
            .with_db_context(|| format!("list routines of {db}"))?;
        for (kind, name) in &routines {
            let col = 2;
            let Some((ddl, mode)) = show_create(&mut src, kind, db, name, col).await? else {
                continue;
            };
            copy_object(
                &mut tgt,
                &tdb,
                db,
                kind,
                name,
                &ddl,
                &mode,
                target_exists,
                args.drop_existing,
                &mut diffs,
                col,
            )
            .await?;
        }
        let views = names(&mut src, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", db, "list views").await?;
        let mut pending: Vec<(String, String)> = Vec::new();
        for v in &views {
            if let Some((ddl, _)) = show_create(&mut src, "VIEW", db, v, 1).await? {
                pending.push((v.clone(), ddl));
            }
        }
        // Views over views: retry the failures while each round creates at least one.
        loop {
            let mut failed = Vec::new();
            let before = pending.len();
            for (v, ddl) in pending {
                match copy_object(
                    &mut tgt,
                    &tdb,
                    db,
                    "VIEW",
                    &v,
                    &ddl,
                    "",
                    target_exists,
                    args.drop_existing,
                    &mut diffs,
                    1,
                )
                .await
                {
                    Ok(()) => {}
                    Err(e) => failed.push((v, ddl, e)),
                }
            }
            if failed.is_empty() {
                break;
            }
            if failed.len() == before {
                let (v, _, e) = failed.remove(0);
                return Err(anyhow::Error::from(e).context(format!("view {tdb}.{v}")));
            }
            pending = failed.into_iter().map(|(v, d, _)| (v, d)).collect();
        }
        let triggers = names(&mut src, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", db, "list triggers").await?;
        for name in &triggers {
            let Some((ddl, mode)) = show_create(&mut src, "TRIGGER", db, name, 2).await? else {
                continue;
            };
            copy_object(
                &mut tgt,
                &tdb,
                db,
                "TRIGGER",
                name,
                &ddl,
                &mode,
                target_exists,
                args.drop_existing,
                &mut diffs,
                2,
            )
            .await?;
        }
        report.notes.push(format!(
            "{db} → {tdb}: {} tables, {} foreign keys, {} routines, {} views, {} triggers",
            tables.len(),
            pass2.iter().map(|p| p.1.foreign_keys.len()).sum::<usize>(),
            routines.len(),
            views.len(),
            triggers.len()
        ));
        for d in &diffs {
            tracing::warn!("{d}");
        }
        differences += diffs.len() as u64;
        stats.errors = diffs.len() as u64;
        stats.duration_secs = started.elapsed().as_secs_f64();
        report.tables.push(stats);
    }
    report.finish();
    let code = if differences > 0 {
        report.status = "differences".into();
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

/// Creates a routine, view or trigger on the target, or compares it with the one there.
#[allow(clippy::too_many_arguments)]
async fn copy_object(
    tgt: &mut Target<'_>,
    tdb: &str,
    db: &str,
    kind: &str,
    name: &str,
    ddl: &str,
    mode: &str,
    target_exists: bool,
    drop_existing: bool,
    diffs: &mut Vec<String>,
    col: usize,
) -> Result<()> {
    let want = rename_db(&strip_definer(ddl), db, tdb);
    let current = if target_exists {
        match tgt.conn.as_deref_mut() {
            Some(c) => show_create(c, kind, tdb, name, col).await?,
            None => None,
        }
    } else {
        None
    };
    if let Some((have, _)) = &current {
        if !drop_existing {
            if strip_definer(have) != want {
                diffs.push(format!(
                    "{} {tdb}.{name} differs:\n{}",
                    kind.to_lowercase(),
                    line_diff(&want, &strip_definer(have))
                ));
            }
            return Ok(());
        }
        tgt.exec(tdb, &format!("DROP {kind} {}", q(name))).await?;
    }
    tracing::info!("{}: {tdb}.{name}", kind.to_lowercase());
    if !mode.is_empty() {
        tgt.exec(
            tdb,
            &format!("SET SESSION sql_mode = '{}'", mode.replace('\'', "''")),
        )
        .await?;
    }
    let res = tgt.exec(tdb, &want).await;
    if !mode.is_empty() {
        tgt.exec(tdb, "SET SESSION sql_mode = DEFAULT").await?;
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
    kind: &str,
    name: &str,
) -> Result<()> {
    let Some((ddl, mode)) = show_create(src, kind, db, name, 2).await? else {
        return Err(FerryError::NotFound(format!(
            "{kind} {db}.{name} vanished from the source"
        )));
    };
    let mut tgt = Target {
        conn: Some(dst),
        dry_run: false,
    };
    let mut diffs = Vec::new();
    copy_object(
        &mut tgt, tdb, db, kind, name, &ddl, &mode, false, false, &mut diffs, 2,
    )
    .await
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
