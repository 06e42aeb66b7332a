//! A migration's state on disk (its checkpoint) and the rollback made from it.
//!
//! Everything a run did to PostgreSQL is recorded before or as it happens: schemas and
//! tables it created, and, for tables that already existed, the key of every row it
//! inserted (the journal, synced before each commit). The rollback removes exactly that,
//! children before parents.

use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::sql::{literal_pg, quote_pg as q};
use ferry_shared::{FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One table's progress and what the run did to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableState {
    /// Target schema.
    pub schema: String,
    /// Target table.
    pub table: String,
    /// This migration created the table (rollback drops it).
    pub created: bool,
    /// The table existed, had no primary key and was empty (rollback empties it).
    pub empty_keyless: bool,
    /// Journal of inserted keys (file name in the run folder), for existing keyed tables.
    pub journal: Option<String>,
    /// Primary-key columns (the journal's columns).
    pub primary_key: Vec<String>,
    /// Last source rowid whose batch is committed.
    pub after_rowid: Option<i64>,
    /// Finished.
    pub done: bool,
    /// Rows written.
    pub migrated: u64,
    /// Rows skipped (already present).
    pub skipped: u64,
    /// Rows rejected.
    pub errors: u64,
}

/// The whole migration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Migration id (UUID v4).
    pub migration_id: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Target (password redacted).
    pub target: String,
    /// The target database's identity when the migration began ([`fingerprint`]): a
    /// rollback or resume runs only against that database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_fingerprint: Option<String>,
    /// Schemas this migration created.
    pub schemas_created: Vec<String>,
    /// Table keys (`db.table`) in load order.
    pub order: Vec<String>,
    /// Per table.
    pub tables: BTreeMap<String, TableState>,
    /// The run reached its end.
    pub finished: bool,
    /// A rollback was executed.
    pub rolled_back: bool,
    /// Tables (keys) rolled back one by one (`--rollback ID --table T`).
    #[serde(default)]
    pub rolled_back_tables: Vec<String>,
    /// Views this migration created (generic mode), quoted `schema.view`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views_created: Vec<String>,
}

/// The checkpoint of a migration folder.
pub fn checkpoint(run_dir: &Path, id: &str) -> Checkpoint<RunState> {
    Checkpoint::new(
        run_dir.join("checkpoint.json"),
        "sqlite-consolidate",
        id.to_string(),
    )
}

/// Reads the state of the migration in `run_dir`.
pub fn read(run_dir: &Path) -> Result<RunState> {
    let id = run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    checkpoint(run_dir, &id).load()?.ok_or_else(|| {
        FerryError::NotFound(format!(
            "no migration state in {} (checkpoint.json)",
            run_dir.display()
        ))
    })
}

/// The identity of the PostgreSQL database a client is connected to: the server's address
/// and port, the database's oid (a database dropped and made again is another) and name.
pub async fn fingerprint(client: &tokio_postgres::Client) -> Result<String> {
    use ferry_shared::DbContext;
    let row = client
        .query_one(
            "SELECT coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port(), 0)::text \
             || '/' || d.oid::text || '/' || d.datname FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .db_context("identify the target database")?;
    Ok(row.get(0))
}

/// The newest migration folder under `work_dir` that was not rolled back and that `keep`
/// accepts (its target, whether it finished).
pub fn latest(work_dir: &Path, keep: &dyn Fn(&RunState) -> bool) -> Result<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    let entries = fs_err::read_dir(work_dir)?;
    for e in entries.flatten() {
        let cp = e.path().join("checkpoint.json");
        if !read(&e.path()).is_ok_and(|st| !st.rolled_back && keep(&st)) {
            continue;
        }
        if let Ok(m) = cp.metadata().and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(t, _)| m > *t) {
                best = Some((m, e.path()));
            }
        }
    }
    best.map(|b| b.1).ok_or_else(|| {
        FerryError::NotFound(format!("no migration found under {}", work_dir.display()))
    })
}

const KEYS_PER_DELETE: usize = 1000;

/// Writes `rollback.sql` for the migration in `run_dir`: one transaction that drops the
/// tables and schemas the run created and deletes, by key, the rows it inserted into
/// tables that existed. One statement per line, so it can be run line by line.
///
/// `only` limits it to some tables (by target `table`, `schema.table` or source
/// `db.table`); then no schema is dropped.
pub fn write_rollback(run_dir: &Path, st: &RunState, only: &[String]) -> Result<PathBuf> {
    let path = run_dir.join("rollback.sql");
    let tmp = run_dir.join("rollback.sql.part");
    let f = fs_err::File::create(&tmp)?;
    let mut w = std::io::BufWriter::new(f);
    writeln!(
        w,
        "-- rollback of sqlite-consolidate migration {} ({}), target {}",
        st.migration_id, st.started_at, st.target
    )?;
    writeln!(w, "BEGIN;")?;
    if only.is_empty() {
        for v in st.views_created.iter().rev() {
            writeln!(w, "DROP VIEW IF EXISTS {v};")?;
        }
    }
    for key in st.order.iter().rev() {
        let Some(t) = st.tables.get(key) else {
            continue;
        };
        if st.rolled_back_tables.contains(key) || !selected(key, t, only) {
            continue;
        }
        let rel = format!("{}.{}", q(&t.schema), q(&t.table));
        if t.created {
            // CASCADE: the foreign keys and views this migration added between its own
            // tables go with them, whatever the order.
            writeln!(w, "DROP TABLE IF EXISTS {rel} CASCADE;")?;
        } else if t.empty_keyless {
            writeln!(w, "DELETE FROM {rel};")?;
        } else if let Some(j) = &t.journal {
            let jp = run_dir.join(j);
            if !jp.exists() {
                continue;
            }
            let cols: Vec<String> = t.primary_key.iter().map(|c| q(c)).collect();
            let lhs = if cols.len() == 1 {
                cols[0].clone()
            } else {
                format!("({})", cols.join(", "))
            };
            let file = fs_err::File::open(&jp)?;
            let mut keys: Vec<String> = Vec::with_capacity(KEYS_PER_DELETE);
            let flush = |keys: &mut Vec<String>, w: &mut std::io::BufWriter<fs_err::File>| {
                if keys.is_empty() {
                    return Ok(());
                }
                let r = writeln!(w, "DELETE FROM {rel} WHERE {lhs} IN ({});", keys.join(", "));
                keys.clear();
                r
            };
            for line in std::io::BufReader::new(file).lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let vals: Vec<Option<String>> = serde_json::from_str(&line).map_err(|e| {
                    FerryError::Checkpoint(format!("journal {}: {e}", jp.display()))
                })?;
                let lits: Vec<String> = vals
                    .iter()
                    .map(|v| v.as_deref().map_or("NULL".into(), literal_pg))
                    .collect();
                keys.push(if lits.len() == 1 {
                    lits[0].clone()
                } else {
                    format!("({})", lits.join(", "))
                });
                if keys.len() == KEYS_PER_DELETE {
                    flush(&mut keys, &mut w)?;
                }
            }
            flush(&mut keys, &mut w)?;
        }
    }
    for s in st.schemas_created.iter().rev().filter(|_| only.is_empty()) {
        writeln!(w, "DROP SCHEMA IF EXISTS {};", q(s))?;
    }
    writeln!(w, "COMMIT;")?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    fs_err::rename(&tmp, &path)?;
    Ok(path)
}

/// Whether table `key` is one of `only` (all when empty).
pub fn selected(key: &str, t: &TableState, only: &[String]) -> bool {
    only.is_empty()
        || only
            .iter()
            .any(|o| o == key || o == &t.table || *o == format!("{}.{}", t.schema, t.table))
}

/// Runs a rollback file statement by statement in one transaction (memory stays flat
/// however many keys it deletes).
pub async fn execute_rollback(client: &tokio_postgres::Client, path: &Path) -> Result<u64> {
    let file = fs_err::File::open(path)?;
    let mut n = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let sql = line.trim();
        if sql.is_empty() || sql.starts_with("--") {
            continue;
        }
        if let Err(e) = client.batch_execute(sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            let at: String = sql.chars().take(80).collect();
            let context = format!("rollback stopped at {at:?} (nothing was changed)");
            return Err(ferry_shared::DbError::wrap(context, e).into());
        }
        n += 1;
    }
    Ok(n)
}
