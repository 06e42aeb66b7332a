//! One table's migration: a reader thread reads the SQLite table in rowid order, converts
//! and validates every row and encodes the good ones in COPY BINARY; the async side applies
//! each batch in one transaction (bisecting under savepoints when PostgreSQL refuses a row),
//! then records the rejects and the checkpoint.

use crate::convert::{convert, validate, value_json, Ctx, Failure};
use crate::plan::{open, TablePlan};
use crate::state::RunState;
use ferry_generic::load::cast::Val;
use ferry_generic::load::{flush_batch, pg, Batch, Mode, TargetColumn};
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::progress::Progress;
use ferry_shared::rejects::{Reject, Rejects};
use ferry_shared::report::TableStats;
use ferry_shared::sql::quote_pg as q;
use ferry_shared::{DbContext, FerryError, Result};
use rusqlite::types::ValueRef;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How a table is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Nothing is written (dry run, validate only).
    Nothing,
    /// Plain COPY (a table this run created, or an empty table without a key).
    Insert,
    /// Staged COPY then INSERT … ON CONFLICT DO NOTHING; with a journal file when the
    /// table existed before the migration.
    Ignore(Option<PathBuf>),
}

/// What every table task shares.
pub struct Shared {
    /// Conversion settings.
    pub ctx: Ctx,
    /// Rows per batch.
    pub batch_size: usize,
    /// The rejects file.
    pub rejects: Mutex<Rejects>,
    /// The migration state and its checkpoint.
    pub state: Mutex<(RunState, Checkpoint<RunState>)>,
    /// Overall progress.
    pub progress: Mutex<Progress>,
    /// The first errors, for the JSON report.
    pub errors: Mutex<Vec<serde_json::Value>>,
    /// Folder of the accepted-key registries (foreign-key rule).
    pub keys_dir: PathBuf,
    /// All plans (references point into this list).
    pub plans: Vec<TablePlan>,
}

/// At most this many errors are copied into the JSON report; the rejects file has all.
const REPORT_ERRORS: usize = 1000;

struct RowReject {
    rowid: Option<i64>,
    column: Option<String>,
    rule: &'static str,
    value: Option<String>,
    reason: String,
    record: Box<RawValue>,
}

struct Chunk {
    batch: Batch,
    rejects: Vec<RowReject>,
    conversions: BTreeMap<&'static str, u64>,
    last_rowid: Option<i64>,
    read: u64,
}

/// The registry file of a table's accepted keys.
fn registry_path(shared: &Shared, p: &TablePlan) -> PathBuf {
    shared
        .keys_dir
        .join(format!("{}.sqlite", ferry_shared::cli::file_safe(&p.key())))
}

fn key_bytes(v: &Val<'_>) -> Option<Vec<u8>> {
    match v {
        Val::Uuid(u) => Some(u.to_vec()),
        Val::Int(i) => Some(i.to_string().into_bytes()),
        Val::Text(s) => Some(s.as_bytes().to_vec()),
        Val::Numeric(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// The source row as a JSON object (for the rejects file).
fn row_record(p: &TablePlan, row: &rusqlite::Row<'_>) -> Box<RawValue> {
    let mut s = String::from("{");
    for (i, name) in p.select.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(name.as_str()).to_string());
        s.push(':');
        s.push_str(
            &row.get_ref(i + 1)
                .map(value_json)
                .unwrap_or_else(|_| "null".into()),
        );
    }
    s.push('}');
    RawValue::from_string(s)
        .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default())
}

fn select_sql(p: &TablePlan) -> String {
    let cols: Vec<String> = p.select.iter().map(|c| q(c)).collect();
    let list = if cols.is_empty() {
        String::new()
    } else {
        format!(", {}", cols.join(", "))
    };
    if p.has_rowid {
        format!(
            "SELECT rowid{list} FROM {} WHERE rowid > ?1 ORDER BY rowid",
            q(&p.source)
        )
    } else {
        format!(
            "SELECT NULL{list} FROM {} WHERE ?1 IS NOT NULL",
            q(&p.source)
        )
    }
}

/// The reader thread: reads, converts, validates, encodes; sends a chunk per batch.
fn read_table(
    shared: &Shared,
    idx: usize,
    after: Option<i64>,
    tx: &tokio::sync::mpsc::Sender<Result<Chunk>>,
) -> Result<()> {
    let p = &shared.plans[idx];
    let ctx = &shared.ctx;
    let conn = open(&p.file)?;
    let what = format!("read {} from {}", p.source, p.db);
    let mut stmt = conn
        .prepare(&select_sql(p))
        .with_db_context(|| what.clone())?;
    let mut rows = stmt
        .query([after.unwrap_or(i64::MIN)])
        .with_db_context(|| what.clone())?;
    let target_cols: Vec<TargetColumn> = p.target_columns();
    let col_refs: Vec<&TargetColumn> = target_cols.iter().collect();
    let pk_idx = p.columns.iter().position(|c| c.primary_key);
    // Accepted keys of this table, for the tables that reference it.
    let registry = if p.referenced {
        let path = registry_path(shared, p);
        let c = rusqlite::Connection::open(&path).db_context("open key registry")?;
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             CREATE TABLE IF NOT EXISTS k (id BLOB PRIMARY KEY) WITHOUT ROWID",
        )
        .db_context("create key registry")?;
        Some(c)
    } else {
        None
    };
    // Registries of the referenced tables, by column.
    let mut lookups: Vec<(usize, String, rusqlite::Connection)> = Vec::new();
    for (ci, c) in p.columns.iter().enumerate() {
        if let Some(r) = c.references {
            let parent = &shared.plans[r];
            let path = registry_path(shared, parent);
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .db_context("open key registry")?;
            lookups.push((ci, parent.key(), conn));
        }
    }
    let new_chunk = || Chunk {
        batch: Batch::default(),
        rejects: Vec::new(),
        conversions: BTreeMap::new(),
        last_rowid: after,
        read: 0,
    };
    let mut chunk = new_chunk();
    let mut pending_keys: Vec<Vec<u8>> = Vec::new();
    let mut row_convs: Vec<&'static str> = Vec::new();
    let send = |chunk: Chunk, keys: &mut Vec<Vec<u8>>| -> Result<bool> {
        if let Some(reg) = &registry {
            let tx = reg.unchecked_transaction().db_context("key registry")?;
            {
                let mut ins = tx
                    .prepare_cached("INSERT OR IGNORE INTO k (id) VALUES (?1)")
                    .db_context("key registry")?;
                for k in keys.drain(..) {
                    ins.execute([k]).db_context("key registry")?;
                }
            }
            tx.commit().db_context("key registry")?;
        }
        Ok(tx.blocking_send(Ok(chunk)).is_ok())
    };
    while let Some(row) = rows.next().with_db_context(|| what.clone())? {
        let rowid: Option<i64> = row.get(0).ok();
        chunk.read += 1;
        chunk.last_rowid = rowid.or(chunk.last_rowid);
        row_convs.clear();
        let mut vals: Vec<Val<'_>> = Vec::with_capacity(p.columns.len());
        let mut failed: Option<(String, Failure, String)> = None;
        for c in &p.columns {
            let mut v = match c.source_idx {
                Some(i) => row.get_ref(i + 1).with_db_context(|| what.clone())?,
                None => ValueRef::Null,
            };
            if let (ValueRef::Null, Some(d)) = (v, &c.default) {
                v = ValueRef::from(d);
                if !matches!(v, ValueRef::Null) {
                    row_convs.push("default_applied");
                }
            }
            let mut conv = None;
            let res = convert(v, &c.ttype, c.uuid_owner.as_deref(), ctx, &mut conv)
                .and_then(|val| validate(&val, c.required, &c.rules, ctx).map(|()| val));
            match res {
                Ok(val) => {
                    if let Some(k) = conv {
                        row_convs.push(k);
                    }
                    vals.push(val);
                }
                Err(f) => {
                    failed = Some((c.name.clone(), f, value_json(v)));
                    break;
                }
            }
        }
        if failed.is_none() {
            for (ci, parent, reg) in &lookups {
                let Some(k) = key_bytes(&vals[*ci]) else {
                    continue;
                };
                let found = reg
                    .prepare_cached("SELECT 1 FROM k WHERE id = ?1")
                    .and_then(|mut s| s.exists([&k]))
                    .db_context("key registry")?;
                if !found {
                    let c = &p.columns[*ci];
                    let v = c
                        .source_idx
                        .and_then(|i| row.get_ref(i + 1).ok())
                        .map(value_json)
                        .unwrap_or_else(|| "null".into());
                    failed = Some((
                        c.name.clone(),
                        Failure {
                            rule: "foreign_key",
                            reason: format!("{v} has no valid row in {parent}"),
                        },
                        v,
                    ));
                    break;
                }
            }
        }
        match failed {
            Some((column, f, value)) => chunk.rejects.push(RowReject {
                rowid,
                column: Some(column),
                rule: f.rule,
                value: Some(value),
                reason: f.reason,
                record: row_record(p, row),
            }),
            None => {
                if let (Some(pi), true) = (pk_idx, registry.is_some()) {
                    if let Some(k) = key_bytes(&vals[pi]) {
                        pending_keys.push(k);
                    }
                }
                pg::encode_row(&vals, &col_refs, &mut chunk.batch.data);
                chunk.batch.push_row(rowid.unwrap_or(0) as u64, b"");
                for k in &row_convs {
                    *chunk.conversions.entry(k).or_default() += 1;
                }
            }
        }
        if chunk.read as usize >= shared.batch_size {
            let full = std::mem::replace(&mut chunk, new_chunk());
            chunk.last_rowid = full.last_rowid;
            if !send(full, &mut pending_keys)? {
                return Ok(());
            }
        }
    }
    if chunk.read > 0 {
        send(chunk, &mut pending_keys)?;
    }
    Ok(())
}

/// Re-reads a source row by rowid, for a row PostgreSQL refused.
fn fetch_record(conn: &rusqlite::Connection, p: &TablePlan, rowid: i64) -> Box<RawValue> {
    let sql = select_sql(p).replace("rowid > ?1 ORDER BY rowid", "rowid = ?1");
    conn.query_row(&sql, [rowid], |r| Ok(row_record(p, r)))
        .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default())
}

/// Migrates one table to the end. Returns its stats.
pub async fn table(
    shared: Arc<Shared>,
    idx: usize,
    write: Write,
    client: Option<tokio_postgres::Client>,
    after: Option<i64>,
) -> Result<TableStats> {
    let started = std::time::Instant::now();
    let p = shared.plans[idx].clone();
    let key = p.key();
    let shown = format!("{}.{}", p.schema, p.target);
    let mut stats = TableStats::new(&shown);
    let (resumed_rows, resumed_skipped, resumed_errors) = {
        let st = shared
            .state
            .lock()
            .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
        st.0.tables
            .get(&key)
            .map(|t| (t.migrated, t.skipped, t.errors))
            .unwrap_or_default()
    };
    stats.migrated = resumed_rows;
    stats.skipped = resumed_skipped;
    stats.errors = resumed_errors;
    stats.resumed = resumed_rows;
    let mut target = match (&write, client) {
        (Write::Nothing, _) | (_, None) => None,
        (w, Some(c)) => {
            let mut t = pg::PgTarget::new(
                c,
                &p.schema,
                &p.target,
                p.columns.iter().map(|c| c.name.clone()).collect(),
                p.primary_key(),
            );
            if let Write::Ignore(Some(j)) = w {
                t.journal_to(j)?;
            }
            Some(t)
        }
    };
    let mode = match write {
        Write::Ignore(_) => Mode::Ignore,
        _ => Mode::Insert,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Chunk>>(2);
    let reader_shared = shared.clone();
    let reader = std::thread::Builder::new()
        .name(format!("read-{}", p.source))
        .spawn(move || {
            if let Err(e) = read_table(&reader_shared, idx, after, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .map_err(|e| FerryError::Failed(format!("start reader thread: {e}")))?;
    let mut src: Option<rusqlite::Connection> = None;
    let file = p.file.display().to_string();
    let mut read_rows = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        read_rows += chunk.read;
        let mut rejects = chunk.rejects;
        let (loaded, skipped) = match target.as_mut() {
            Some(t) => {
                let res = flush_batch(t, &chunk.batch, mode).await?;
                for (i, column, reason) in res.rejected {
                    let rowid = chunk.batch.line(i) as i64;
                    if src.is_none() {
                        src = Some(open(&p.file)?);
                    }
                    let record = src
                        .as_ref()
                        .map(|c| fetch_record(c, &p, rowid))
                        .unwrap_or_else(|| {
                            RawValue::from_string("null".into()).unwrap_or_default()
                        });
                    rejects.push(RowReject {
                        rowid: p.has_rowid.then_some(rowid),
                        column,
                        rule: "database",
                        value: None,
                        reason,
                        record,
                    });
                }
                (res.loaded, res.skipped)
            }
            None => (chunk.batch.len() as u64, 0),
        };
        rejects.sort_by_key(|r| r.rowid);
        {
            let mut rj = shared
                .rejects
                .lock()
                .map_err(|_| FerryError::Checkpoint("rejects lock".into()))?;
            let mut errs = shared
                .errors
                .lock()
                .map_err(|_| FerryError::Checkpoint("errors lock".into()))?;
            for r in &rejects {
                if errs.len() < REPORT_ERRORS {
                    errs.push(serde_json::json!({
                        "database": p.db,
                        "source_table": p.source,
                        "table": shown,
                        "rowid": r.rowid,
                        "column": r.column,
                        "rule": r.rule,
                        "value": r.value,
                        "error": r.reason,
                        "record": r.record,
                    }));
                }
                rj.add(&Reject {
                    file: &file,
                    line: None,
                    table: &shown,
                    column: r.column.as_deref(),
                    value: r.value.as_deref(),
                    reason: &r.reason,
                    rule: Some(r.rule),
                    rowid: r.rowid,
                    record: r.record.clone(),
                })?;
            }
            if target.is_some() {
                rj.flush()?;
            }
        }
        stats.migrated += loaded;
        stats.skipped += skipped;
        stats.errors += rejects.len() as u64;
        for (k, v) in chunk.conversions {
            *stats.conversions.entry(k.to_string()).or_default() += v;
        }
        if target.is_some() {
            let mut st = shared
                .state
                .lock()
                .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
            let (state, cp) = &mut *st;
            if let Some(t) = state.tables.get_mut(&key) {
                t.after_rowid = chunk.last_rowid;
                t.migrated = stats.migrated;
                t.skipped = stats.skipped;
                t.errors = stats.errors;
            }
            cp.save(state)?;
        }
        if let Ok(mut pr) = shared.progress.lock() {
            pr.inc(chunk.read);
        }
    }
    let _ = reader.join();
    stats.duration_secs = started.elapsed().as_secs_f64();
    if stats.duration_secs > 0.0 {
        stats.rows_per_sec = (stats.migrated - stats.resumed) as f64 / stats.duration_secs;
    }
    let processed = read_rows + stats.resumed;
    tracing::info!(
        "Progress for {}: {:.1}% ({processed}/{}) — migrated {}, skipped {}, errors {}",
        shown,
        if p.total == 0 {
            100.0
        } else {
            processed as f64 * 100.0 / p.total as f64
        },
        p.total,
        stats.migrated,
        stats.skipped,
        stats.errors
    );
    Ok(stats)
}
