//! `delete-migrated`: removes exactly what `customer-filter` runs of a customer set
//! inserted, from their journal (the key of every row written, synced before the write),
//! children before parents, then the routines phase 0 created. The document's
//! `delete_migrated_data.py`.

use crate::servers::Servers;
use crate::state::{Files, State, TableEntry};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, Exit, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Command line of `delete-migrated`.
#[derive(Parser, Debug)]
#[command(
    name = "delete-migrated",
    version,
    about = "Remove from the WRITE server exactly the rows and routines customer-filter inserted for a customer set.",
    after_help = "Examples:\n  delete-migrated --customer-ids 1,2,3 --dry-run\n  delete-migrated --customer-ids 1,2,3"
)]
pub struct Args {
    #[command(flatten)]
    pub servers: Servers,
    /// The customer set whose migration to remove.
    #[arg(long, value_delimiter = ',', required = true, value_name = "ID,ID")]
    pub customer_ids: Vec<i64>,
    /// Where customer-filter kept its state file and journals.
    #[arg(long, env = "MIGRATION_STATE_DIR", default_value = ".migration_state")]
    pub state_dir: PathBuf,
    /// Print the statements; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Target tables of the state, children before parents (by the target's declared foreign
/// keys; a cycle is broken anywhere: foreign-key checks are off while deleting).
async fn delete_order(c: &mut Conn, st: &State) -> Result<Vec<(String, String, String)>> {
    let mut left: Vec<(String, String, String)> = Vec::new();
    for (db, e) in &st.databases {
        for (t, te) in &e.tables {
            let tdb = if te.target_db.is_empty() {
                db.clone()
            } else {
                te.target_db.clone()
            };
            left.push((db.clone(), tdb, t.clone()));
        }
    }
    let mut edges: Vec<(String, String, String)> = Vec::new();
    for tdb in left
        .iter()
        .map(|l| l.1.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let rows: Vec<(String, String)> = c
            .exec(
                "SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
                (&tdb,),
            )
            .await
            .with_db_context(|| format!("read foreign keys of {tdb}"))?;
        edges.extend(rows.into_iter().map(|(a, b)| (tdb.clone(), a, b)));
    }
    let mut out = Vec::new();
    while !left.is_empty() {
        let pos = left
            .iter()
            .position(|(_, tdb, t)| {
                !edges.iter().any(|(d, child, parent)| {
                    d == tdb
                        && parent == t
                        && child != t
                        && left.iter().any(|l| &l.1 == d && &l.2 == child)
                })
            })
            .unwrap_or(0);
        out.push(left.remove(pos));
    }
    Ok(out)
}

/// Runs `delete-migrated`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let files = Files::new(&args.state_dir, &args.customer_ids);
    if !files.state.exists() {
        return Err(FerryError::NotFound(format!(
            "no state file {}: nothing was migrated for these customer ids",
            files.state.display()
        ))
        .into());
    }
    let mut st = files.load()?;
    let write = args.servers.write()?;
    let mut c = ferry_shared::conn::connect_mysql(&write).await?;
    let mut report = RunReport::start("delete-migrated");
    report.dry_run = args.dry_run;
    report.target = Some(write.to_string());
    let order = delete_order(&mut c, &st).await?;
    let mut out = std::io::stdout().lock();
    if !args.dry_run {
        c.query_drop("SET FOREIGN_KEY_CHECKS = 0")
            .await
            .db_context("disable foreign-key checks")?;
        // A DELETE trigger must not touch other rows while this run's rows go.
        let mut tdbs: Vec<String> = order.iter().map(|o| o.1.clone()).collect();
        tdbs.dedup();
        tdbs.sort();
        tdbs.dedup();
        crate::triggers::suspend_triggers(&mut c, &tdbs, &files, &mut st).await?;
    }
    for (db, tdb, t) in &order {
        let Some(te) = st.databases.get(db).and_then(|d| d.tables.get(t)) else {
            continue;
        };
        let mut stats = TableStats::new(&format!("{tdb}.{t}"));
        let statements = delete_statements(&files, tdb, t, te, &mut report)?;
        for sql in &statements {
            if args.dry_run {
                let _ = writeln!(out, "{sql};");
                continue;
            }
            c.query_drop(sql)
                .await
                .with_db_context(|| format!("delete from {tdb}.{t}"))?;
            stats.migrated += c.affected_rows();
        }
        report.tables.push(stats);
    }
    drop_routines(&mut c, &st, args.dry_run, &mut out).await?;
    if !args.dry_run {
        crate::triggers::restore_triggers(&mut c, &files, &mut st).await?;
        c.query_drop("SET FOREIGN_KEY_CHECKS = 1")
            .await
            .db_context("enable foreign-key checks")?;
        let aside = put_aside(&files)?;
        report
            .notes
            .push(format!("state and journal kept as {}", aside.display()));
    }
    let code = report.finish();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

/// The DELETE statements that remove one table's migrated rows: by the journal's keys
/// (1000 a statement), or the whole table when it had no key and was empty before the
/// migration. A keyless table that had rows is left alone, with a note saying why.
fn delete_statements(
    files: &Files,
    tdb: &str,
    t: &str,
    te: &TableEntry,
    report: &mut RunReport,
) -> Result<Vec<String>> {
    let rel = format!("{}.{}", q(tdb), q(t));
    let mut statements: Vec<String> = Vec::new();
    let journal = files.journal_of(tdb, t);
    if te.key.is_empty() {
        if te.empty_at_start && te.rows > 0 {
            statements.push(format!("DELETE FROM {rel}"));
        } else if te.rows > 0 {
            report.notes.push(format!(
                "{tdb}.{t} has no primary key and had rows before the migration: its {} migrated rows cannot be told apart; left in place",
                te.rows
            ));
        }
        return Ok(statements);
    }
    if !journal.exists() {
        return Ok(statements);
    }
    let f = fs_err::File::open(&journal)?;
    let mut keys: Vec<String> = Vec::new();
    let cols = crate::closure::tuple(&te.key);
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let k: Vec<Option<String>> = serde_json::from_str(&line)
            .map_err(|e| FerryError::Checkpoint(format!("journal {}: {e}", journal.display())))?;
        keys.push(crate::copy::key_literal(&k));
        if keys.len() == 1000 {
            statements.push(format!(
                "DELETE FROM {rel} WHERE {cols} IN ({})",
                keys.join(", ")
            ));
            keys.clear();
        }
    }
    if !keys.is_empty() {
        statements.push(format!(
            "DELETE FROM {rel} WHERE {cols} IN ({})",
            keys.join(", ")
        ));
    }
    Ok(statements)
}

/// Drops the routines that phase 0 created (status `completed`), not those that were
/// there before; in a dry run, prints the statements.
async fn drop_routines(
    c: &mut Conn,
    st: &State,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<()> {
    for (db, e) in &st.databases {
        for (name, r) in &e.routines {
            if r.status != "completed" {
                continue;
            }
            let tdb = e
                .tables
                .values()
                .find(|t| !t.target_db.is_empty())
                .map_or(db.as_str(), |t| t.target_db.as_str());
            let sql = format!("DROP {} IF EXISTS {}.{}", r.kind, q(tdb), q(name));
            if dry_run {
                let _ = writeln!(out, "{sql};");
            } else {
                c.query_drop(&sql)
                    .await
                    .with_db_context(|| format!("drop {} {name}", r.kind))?;
            }
        }
    }
    Ok(())
}

/// The migration is undone: its state and journal are kept aside, not reused. Returns
/// where the state file went.
fn put_aside(files: &Files) -> Result<PathBuf> {
    let stamp = crate::state::now().replace(':', "");
    let aside = files.state.with_extension(format!("deleted-{stamp}.json"));
    fs_err::rename(&files.state, &aside)?;
    if files.journal.exists() {
        let j = files.journal.with_file_name(format!(
            "{}.deleted-{stamp}",
            files
                .journal
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        fs_err::rename(&files.journal, &j)?;
    }
    Ok(aside)
}

/// The whole of `delete-migrated`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("delete-migrated", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
