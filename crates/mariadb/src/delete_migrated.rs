//! `delete-migrated`: removes exactly what `customer-filter` runs of a customer set
//! inserted, from their journal (the key of every row written, synced before the write),
//! children before parents, then the routines phase 0 created. The document's
//! `delete_migrated_data.py`.

use crate::servers::Servers;
use crate::state::{journal_keys, Files, State, TableEntry};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::sql::{quote_list, quote_mysql as q};
use ferry_shared::{DbContext, Exit, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::collections::HashSet;
use std::io::Write;
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
    let others = crate::state::load_others(&files)?;
    let write = args.servers.write()?;
    let mut c = ferry_shared::conn::connect_mysql(&write).await?;
    cancel_on_stop(&write, c.id());
    // Triggers a crashed run (of any customer set) left aside come back first.
    crate::triggers::restore_all(&mut c, &files, &mut st).await?;
    let mut report = RunReport::start("delete-migrated");
    report.dry_run = args.dry_run;
    report.target = Some(write.to_string());
    let order = delete_order(&mut c, &st).await?;
    c.query_drop("SET FOREIGN_KEY_CHECKS = 0")
        .await
        .db_context("disable foreign-key checks")?;
    let mut tdbs: Vec<String> = order.iter().map(|o| o.1.clone()).collect();
    tdbs.sort();
    tdbs.dedup();
    // MariaDB wants a current database for a multi-table DELETE with aliases even when
    // every name is qualified ("No database selected"); a dry run, which sets no triggers
    // aside, had none.
    if let Some(first) = tdbs.first() {
        c.query_drop(format!("USE {}", q(first)))
            .await
            .with_db_context(|| format!("use {first}"))?;
    }
    if !args.dry_run {
        // A DELETE trigger must not touch other rows while this set's rows go.
        crate::triggers::suspend_triggers(&mut c, &tdbs, &files, &mut st).await?;
    }
    let mut d = Deletion {
        c: &mut c,
        files: &files,
        st: &st,
        others: &others,
        report: &mut report,
        tables: Vec::new(),
        keyless_inherited: Vec::new(),
    };
    let res = d.run(&order, &tdbs, args.dry_run).await;
    if !args.dry_run {
        crate::triggers::restore_triggers(&mut c, &files, &mut st).await?;
    }
    c.query_drop("SET FOREIGN_KEY_CHECKS = 1")
        .await
        .db_context("enable foreign-key checks")?;
    let outcome = res?;
    finish(&mut c, &args, &files, &st, &others, outcome, report).await
}

/// After the deletion: on orphans nothing was deleted (exit 3); otherwise the routines
/// no other set uses go, the rows other sets still need pass to them, and the state is
/// put aside.
async fn finish(
    c: &mut Conn,
    args: &Args,
    files: &Files,
    st: &State,
    others: &[(Files, State)],
    outcome: Outcome,
    mut report: RunReport,
) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    if outcome.orphans > 0 {
        report.notes.push(format!(
            "deleting would leave {} orphan rows (see the orphans file): rolled back, nothing deleted",
            outcome.orphans
        ));
        tracing::error!("{}", report.notes.last().map_or("", String::as_str));
        report.finish();
        // Exit 3 like rows a load rejects: they are listed in a file with the reason.
        report.status = "rejects".into();
        report
            .counters
            .insert("orphan_rows".into(), outcome.orphans);
        report.exit_code = Exit::Rejects.code();
        report.emit(args.common.quiet, args.common.report.as_deref())?;
        return Ok(Exit::Rejects);
    }
    drop_routines(c, st, others, args.dry_run, &mut out).await?;
    if !args.dry_run {
        for (path, keys) in &outcome.inherited {
            write_keys(path, keys)?;
        }
        let aside = put_aside(files)?;
        report
            .notes
            .push(format!("state and journal kept as {}", aside.display()));
    }
    for n in &report.notes {
        tracing::info!("{n}");
    }
    let code = report.finish();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

/// What a deletion found.
struct Outcome {
    /// Rows that would dangle (the deletion was rolled back).
    orphans: u64,
    /// Inherited-key files to write: rows this set (or a set deleted before it) inserted
    /// that stay because other sets need them.
    inherited: Vec<(PathBuf, Vec<String>)>,
}

/// One keyed table in the deletion: its candidate keys live in a temporary table.
struct Candidates {
    tdb: String,
    table: String,
    key: Vec<String>,
    temp: String,
    /// Own inserted keys and inherited ones, before anything was kept.
    pool: Vec<String>,
}

/// The deletion of one customer set, in one transaction.
struct Deletion<'a> {
    c: &'a mut Conn,
    files: &'a Files,
    st: &'a State,
    others: &'a [(Files, State)],
    report: &'a mut RunReport,
    tables: Vec<Candidates>,
    /// Inherited markers of keyless tables to write (or remove, when empty).
    keyless_inherited: Vec<(PathBuf, Vec<String>)>,
}

impl Deletion<'_> {
    /// Rule: a row this set inserted (or inherited) goes unless another set that is still
    /// migrated inserted or holds it, or a row that stays references it (repeated until
    /// nothing changes). Then the integrity check: any orphan rolls everything back.
    async fn run(
        &mut self,
        order: &[(String, String, String)],
        tdbs: &[String],
        dry_run: bool,
    ) -> Result<Outcome> {
        self.c
            .query_drop("START TRANSACTION")
            .await
            .db_context("start the deletion")?;
        let res = self.delete_all(order, tdbs, dry_run).await;
        let commit = matches!(&res, Ok(o) if o.orphans == 0) && !dry_run;
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        self.c
            .query_drop(end)
            .await
            .db_context("end the deletion")?;
        res
    }

    async fn delete_all(
        &mut self,
        order: &[(String, String, String)],
        tdbs: &[String],
        dry_run: bool,
    ) -> Result<Outcome> {
        for (i, (db, tdb, t)) in order.iter().enumerate() {
            let Some(te) = self.st.databases.get(db).and_then(|d| d.tables.get(t)) else {
                continue;
            };
            if te.key.is_empty() {
                self.keyless(db, tdb, t, te).await?;
            } else {
                self.candidates(i, tdb, t, te).await?;
            }
        }
        let mut schemas = Vec::new();
        for tdb in tdbs {
            schemas.push((tdb.clone(), crate::closure::read_schema(self.c, tdb).await?));
        }
        self.protect(&schemas).await?;
        let mut inherited = self.delete_rows(dry_run).await?;
        inherited.append(&mut self.keyless_inherited);
        let targets: Vec<(&str, &crate::closure::Schema)> =
            schemas.iter().map(|(d, s)| (d.as_str(), s)).collect();
        let found = crate::integrity::check(self.c, &targets, self.files, &|_, _| false).await?;
        self.report
            .notes
            .push(format!("integrity check: {} orphan rows", found.orphans));
        Ok(Outcome {
            orphans: found.orphans,
            inherited,
        })
    }

    /// The keys other migrated sets inserted or hold in `tdb.t`.
    fn others_keys(&self, tdb: &str, t: &str) -> Result<HashSet<String>> {
        let mut keys = HashSet::new();
        for (f, _) in self.others {
            keys.extend(journal_keys(&f.journal_of(tdb, t))?);
            keys.extend(journal_keys(&f.claims_of(tdb, t))?);
        }
        Ok(keys)
    }

    /// Fills the temporary table of one keyed table's candidate keys.
    async fn candidates(&mut self, i: usize, tdb: &str, t: &str, te: &TableEntry) -> Result<()> {
        let mut pool = journal_keys(&self.files.journal_of(tdb, t))?;
        pool.extend(journal_keys(&self.files.inherited_of(tdb, t))?);
        pool.sort();
        pool.dedup();
        let others = self.others_keys(tdb, t)?;
        let temp = format!("{}.ferry_del_{i}", q(tdb));
        let rel = format!("{}.{}", q(tdb), q(t));
        let cols = quote_list(&te.key, q);
        key_table(
            self.c,
            &temp,
            &cols,
            &format!("SELECT {cols} FROM {rel} WHERE 0"),
        )
        .await
        .with_db_context(|| format!("stage the keys of {tdb}.{t}"))?;
        let fresh: Vec<&String> = pool.iter().filter(|k| !others.contains(*k)).collect();
        for part in fresh.chunks(1000) {
            let mut values = Vec::with_capacity(part.len());
            for k in part {
                let key: Vec<Option<String>> = serde_json::from_str(k)
                    .map_err(|e| FerryError::Checkpoint(format!("journal of {tdb}.{t}: {e}")))?;
                values.push(format!(
                    "({})",
                    key.iter()
                        .map(crate::copy::literal)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            self.c
                .query_drop(format!(
                    "INSERT INTO {temp} ({cols}) VALUES {}",
                    values.join(", ")
                ))
                .await
                .with_db_context(|| format!("stage the keys of {tdb}.{t}"))?;
        }
        self.tables.push(Candidates {
            tdb: tdb.to_string(),
            table: t.to_string(),
            key: te.key.clone(),
            temp,
            pool,
        });
        Ok(())
    }
}

impl Deletion<'_> {
    /// A table without a key: its rows cannot be told apart. Emptied when it was empty
    /// before this set and no other migrated set selected it; otherwise left, and said so.
    async fn keyless(&mut self, db: &str, tdb: &str, t: &str, te: &TableEntry) -> Result<()> {
        // Rows a set deleted earlier left because this one selected them too are now this
        // set's: its marker says whether the table was empty before any of them.
        let path = self.files.inherited_of(tdb, t);
        let marker = journal_keys(&path)?;
        if te.rows == 0 && marker.is_empty() {
            return Ok(());
        }
        let empty_at_start =
            te.empty_at_start || marker.iter().any(|m| m.contains("\"empty_at_start\":true"));
        let claimed = self.others.iter().any(|(_, st)| {
            st.databases
                .get(db)
                .and_then(|d| d.tables.get(t))
                .is_some_and(|o| o.selected > 0 || o.rows > 0)
        });
        let note = if claimed {
            let m = serde_json::json!({ "keyless": true, "empty_at_start": empty_at_start });
            self.keyless_inherited.push((path, vec![m.to_string()]));
            format!(
                "{tdb}.{t} has no key and another migrated customer set selected it: its rows stay"
            )
        } else if empty_at_start {
            self.keyless_inherited.push((path, Vec::new()));
            let sql = format!("DELETE FROM {}.{}", q(tdb), q(t));
            self.c
                .query_drop(sql)
                .await
                .with_db_context(|| format!("delete from {tdb}.{t}"))?;
            let mut stats = TableStats::new(&format!("{tdb}.{t}"));
            stats.migrated = self.c.affected_rows();
            self.report.tables.push(stats);
            return Ok(());
        } else {
            format!("{tdb}.{t} has no key and had rows before the migration: its {} migrated rows cannot be told apart; left in place", te.rows)
        };
        tracing::warn!("{note}");
        self.report.notes.push(note);
        Ok(())
    }

    /// Keeps every candidate a staying row references, through every foreign key
    /// (declared or implicit), until a round keeps nothing more.
    async fn protect(&mut self, schemas: &[(String, crate::closure::Schema)]) -> Result<()> {
        for _round in 0..1000 {
            let mut kept = 0u64;
            for (tdb, schema) in schemas {
                for f in &schema.fks {
                    kept += self.protect_one(tdb, schema, f).await?;
                }
            }
            if kept == 0 {
                return Ok(());
            }
        }
        Err(FerryError::Failed(
            "the references between candidate rows do not settle".into(),
        ))
    }

    /// The condition "the child row `c` stays": not among the child's candidates (read
    /// from a snapshot, as a temporary table cannot be opened twice in one statement).
    async fn staying(&mut self, tdb: &str, child: &crate::closure::Table) -> Result<String> {
        let Some(cand) = self
            .tables
            .iter()
            .find(|c| c.tdb == tdb && c.table == child.name)
        else {
            return Ok(String::new());
        };
        if cand.key != child.primary_key {
            return Ok(String::new());
        }
        let (temp, key) = (cand.temp.clone(), cand.key.clone());
        let snap = format!("{}.ferry_snap", q(tdb));
        self.c
            .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {snap}"))
            .await
            .db_context("snapshot candidates")?;
        let cols = quote_list(&key, q);
        key_table(self.c, &snap, &cols, &format!("SELECT * FROM {temp}"))
            .await
            .db_context("snapshot candidates")?;
        let same = key
            .iter()
            .map(|k| format!("s.{0} <=> c.{0}", q(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        Ok(format!(
            " AND NOT EXISTS (SELECT 1 FROM {snap} s WHERE {same})"
        ))
    }

    /// One foreign key: the parent's candidates that a staying child row references.
    async fn protect_one(
        &mut self,
        tdb: &str,
        schema: &crate::closure::Schema,
        f: &crate::closure::Fk,
    ) -> Result<u64> {
        let Some(parent) = self
            .tables
            .iter()
            .find(|c| c.tdb == tdb && c.table == f.parent)
        else {
            return Ok(0);
        };
        let (ptemp, pkey) = (parent.temp.clone(), parent.key.clone());
        let Some(child) = schema.tables.get(&f.child) else {
            return Ok(0);
        };
        let staying = self.staying(tdb, child).await?;
        let sql = format!(
            "DELETE d FROM {ptemp} d JOIN {tdb}.{parent} p ON {pjoin} WHERE ({prefs}) IN (SELECT {ccols} FROM {tdb}.{child} c WHERE {notnull}{staying})",
            tdb = q(tdb),
            parent = q(&f.parent),
            child = q(&f.child),
            pjoin = pkey.iter().map(|k| format!("p.{0} <=> d.{0}", q(k))).collect::<Vec<_>>().join(" AND "),
            prefs = f.refs.iter().map(|r| format!("p.{}", q(r))).collect::<Vec<_>>().join(", "),
            ccols = f.cols.iter().map(|c| format!("c.{}", q(c))).collect::<Vec<_>>().join(", "),
            notnull = f.cols.iter().map(|c| format!("c.{} IS NOT NULL", q(c))).collect::<Vec<_>>().join(" AND "),
        );
        self.c
            .query_drop(sql)
            .await
            .with_db_context(|| format!("keep the rows {tdb}.{} references", f.child))?;
        Ok(self.c.affected_rows())
    }

    /// Deletes the remaining candidates (counts them in a dry run) and returns the kept
    /// keys each table's inherited file will hold.
    async fn delete_rows(&mut self, dry_run: bool) -> Result<Vec<(PathBuf, Vec<String>)>> {
        let mut inherited = Vec::new();
        for i in 0..self.tables.len() {
            let (tdb, t, temp, key) = {
                let c = &self.tables[i];
                (
                    c.tdb.clone(),
                    c.table.clone(),
                    c.temp.clone(),
                    c.key.clone(),
                )
            };
            let going = self.keys_of(&temp).await?;
            let mut stats = TableStats::new(&format!("{tdb}.{t}"));
            if dry_run {
                let _ = writeln!(
                    std::io::stdout(),
                    "{tdb}.{t}: would delete {} rows",
                    going.len()
                );
                stats.migrated = going.len() as u64;
            } else {
                let join = key
                    .iter()
                    .map(|k| format!("t.{0} <=> d.{0}", q(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                self.c
                    .query_drop(format!(
                        "DELETE t FROM {}.{} t JOIN {temp} d ON {join}",
                        q(&tdb),
                        q(&t)
                    ))
                    .await
                    .with_db_context(|| format!("delete from {tdb}.{t}"))?;
                stats.migrated = self.c.affected_rows();
            }
            let kept: Vec<String> = self.tables[i]
                .pool
                .iter()
                .filter(|k| !going.contains(*k))
                .cloned()
                .collect();
            stats.skipped = kept.len() as u64;
            self.report.tables.push(stats);
            inherited.push((self.files.inherited_of(&tdb, &t), kept));
        }
        Ok(inherited)
    }

    /// The keys left in a candidate table, as the journals write them.
    async fn keys_of(&mut self, temp: &str) -> Result<HashSet<String>> {
        let rows: Vec<mysql_async::Row> = self
            .c
            .query(format!("SELECT * FROM {temp}"))
            .await
            .db_context("read candidates")?;
        let mut out = HashSet::new();
        for r in rows {
            let k: Vec<Option<String>> = (0..r.len())
                .map(|i| crate::copy::text(r.as_ref(i)))
                .collect();
            out.insert(serde_json::to_string(&k).map_err(std::io::Error::from)?);
        }
        Ok(out)
    }
}

/// On Ctrl+C or SIGTERM, `KILL QUERY` the statement connection `id` is running, from a
/// connection of its own (at most five seconds): the DELETE's transaction rolls back at
/// once instead of running on, or waiting on a lock, after the tool has gone.
fn cancel_on_stop(server: &ferry_shared::conn::Endpoint, id: u32) {
    let server = server.clone();
    ferry_shared::run::on_stop(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let kill = async {
            let mut k = ferry_shared::conn::connect_mysql(&server).await.ok()?;
            k.query_drop(format!("KILL QUERY {id}")).await.ok()
        };
        let done = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), kill).await
        });
        if !matches!(done, Ok(Some(()))) {
            tracing::warn!("could not cancel the statement of connection {id} on the server");
        }
    });
}

/// Creates a temporary table of key columns from `select`, indexed on `cols` so that the
/// joins and `NOT EXISTS` probes against it find a key at once: without the index each probe
/// read the whole table, and removing a set of 200,000 keys ran for more than ten minutes.
/// A key an index cannot hold as it is (a TEXT or BLOB column) is staged without one.
async fn key_table(
    c: &mut Conn,
    temp: &str,
    cols: &str,
    select: &str,
) -> std::result::Result<(), mysql_async::Error> {
    let indexed = format!("CREATE TEMPORARY TABLE {temp} (INDEX ({cols})) AS {select}");
    match c.query_drop(indexed).await {
        Ok(()) => Ok(()),
        Err(mysql_async::Error::Server(e)) => {
            tracing::debug!("{temp} staged without an index: {}", e.message);
            c.query_drop(format!("CREATE TEMPORARY TABLE {temp} AS {select}"))
                .await
        }
        Err(e) => Err(e),
    }
}

/// Replaces an inherited-keys file (removed when empty).
fn write_keys(path: &std::path::Path, keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return match fs_err::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    if let Some(d) = path.parent() {
        fs_err::create_dir_all(d)?;
    }
    let mut text = keys.join("\n");
    text.push('\n');
    ferry_shared::fsutil::write_atomic(path, text.as_bytes())
}

/// Drops the routines that phase 0 created (status `completed`), not those that were
/// there before nor those another migrated set uses; in a dry run, prints the statements.
async fn drop_routines(
    c: &mut Conn,
    st: &State,
    others: &[(Files, State)],
    dry_run: bool,
    out: &mut impl Write,
) -> Result<()> {
    for (db, e) in &st.databases {
        for (name, r) in &e.routines {
            if r.status != "completed" {
                continue;
            }
            // Another migrated set found it there and relies on it.
            if others.iter().any(|(_, o)| {
                o.databases
                    .get(db)
                    .is_some_and(|d| d.routines.contains_key(name))
            }) {
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
