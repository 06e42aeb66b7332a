//! One table's migration: a reader thread reads the SQLite table in rowid order, converts
//! and validates every row and encodes the good ones in COPY BINARY; the async side applies
//! each batch in one transaction (bisecting under savepoints when PostgreSQL refuses a row),
//! then records the rejects and the checkpoint.

use crate::convert::{convert, validate, value_json, Ctx, Failure};
use crate::plan::{open, TablePlan};
use crate::state::RunState;
use ferry_engine::load::cast::Val;
use ferry_engine::load::{flush_batch, pg, Batch, Mode, Target, TargetColumn};
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

/// The comment a keyless table's batch writes in its own transaction: the migration and
/// the last source rowid committed. A resume reads it back ([`parse_marker`]), so a batch
/// committed just before a crash is never loaded twice.
pub fn progress_marker(rel: &str, migration_id: &str, rowid: i64) -> String {
    format!(
        "COMMENT ON TABLE {rel} IS {}",
        ferry_shared::sql::literal_pg(&format!(
            "ferry-consolidate {migration_id} after_rowid {rowid}"
        ))
    )
}

/// `(migration id, rowid)` of a [`progress_marker`] comment.
pub fn parse_marker(comment: &str) -> Option<(String, i64)> {
    let rest = comment.strip_prefix("ferry-consolidate ")?;
    let (id, after) = rest.split_once(" after_rowid ")?;
    Some((id.to_string(), after.parse().ok()?))
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
/// What a redacted value is written as.
const REDACTED: &str = "\"[redacted]\"";

fn row_record(p: &TablePlan, row: &rusqlite::Row<'_>) -> Box<RawValue> {
    let mut s = String::from("{");
    for (i, name) in p.select.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(name.as_str()).to_string());
        s.push(':');
        if p.redact.contains(name) {
            s.push_str(REDACTED);
            continue;
        }
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

impl Chunk {
    /// An empty chunk that continues after `last_rowid` (the checkpoint of a chunk that
    /// holds only rejects must still move on).
    fn empty(last_rowid: Option<i64>) -> Chunk {
        Chunk {
            batch: Batch::default(),
            rejects: Vec::new(),
            conversions: BTreeMap::new(),
            last_rowid,
            read: 0,
        }
    }
}

/// The column of a row that failed, the rule's failure and the value as JSON: kept apart
/// until the row's reject is written.
struct RowFailure {
    column: String,
    failure: Failure,
    value: String,
}

/// The accepted-key registry of a referenced table, read for one foreign-key column.
struct Lookup {
    /// Index of the column (in `TablePlan::columns`).
    column: usize,
    /// The referenced table's key, for the failure message.
    parent: String,
    conn: rusqlite::Connection,
}

/// Opens the registry of this table's accepted keys when other tables reference it, so
/// their rows can be checked against the rows that really arrived.
fn open_registry(shared: &Shared, p: &TablePlan) -> Result<Option<rusqlite::Connection>> {
    if !p.referenced {
        return Ok(None);
    }
    let path = registry_path(shared, p);
    let c = rusqlite::Connection::open(&path).db_context("open key registry")?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         CREATE TABLE IF NOT EXISTS k (id BLOB PRIMARY KEY) WITHOUT ROWID",
    )
    .db_context("create key registry")?;
    Ok(Some(c))
}

/// Opens the registries of the tables this table references, one per referencing column.
fn open_lookups(shared: &Shared, p: &TablePlan) -> Result<Vec<Lookup>> {
    let mut lookups = Vec::new();
    for (ci, c) in p.columns.iter().enumerate() {
        if let Some(r) = c.references {
            let parent = &shared.plans[r];
            let path = registry_path(shared, parent);
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .db_context("open key registry")?;
            lookups.push(Lookup {
                column: ci,
                parent: parent.key(),
                conn,
            });
        }
    }
    Ok(lookups)
}

/// Writes the keys of the rows just accepted to the registry, in one transaction, before
/// their chunk is sent: a child table read later must find them.
fn store_keys(reg: &rusqlite::Connection, keys: &mut Vec<Vec<u8>>) -> Result<()> {
    let tx = reg.unchecked_transaction().db_context("key registry")?;
    {
        let mut ins = tx
            .prepare_cached("INSERT OR IGNORE INTO k (id) VALUES (?1)")
            .db_context("key registry")?;
        for k in keys.drain(..) {
            ins.execute([k]).db_context("key registry")?;
        }
    }
    tx.commit().db_context("key registry")
}

/// What the reader thread needs for every row besides the row itself: the plan, the
/// conversion settings, the encoding columns and the key registries, carried as one value
/// so that the per-row steps need not take them one by one.
struct Reader<'s> {
    p: &'s TablePlan,
    ctx: &'s Ctx,
    /// "read TABLE from DB", the context of SQLite errors.
    what: String,
    col_refs: Vec<&'s TargetColumn>,
    pk_idx: Option<usize>,
    /// This table's registry of accepted keys, when other tables reference it.
    registry: Option<rusqlite::Connection>,
    lookups: Vec<Lookup>,
}

/// Rows converted so far and not yet sent, with the keys the registry still has to get.
struct Pending {
    chunk: Chunk,
    keys: Vec<Vec<u8>>,
    /// The conversions of the current row (reused between rows).
    row_convs: Vec<&'static str>,
}

impl Reader<'_> {
    /// Converts and validates every column of the row into `vals`; the first column that
    /// fails ends the row.
    fn convert_row<'r>(
        &'r self,
        row: &'r rusqlite::Row<'_>,
        vals: &mut Vec<Val<'r>>,
        row_convs: &mut Vec<&'static str>,
    ) -> Result<Option<RowFailure>> {
        for c in &self.p.columns {
            let mut v = match c.source_idx {
                Some(i) => row.get_ref(i + 1).with_db_context(|| self.what.clone())?,
                None => ValueRef::Null,
            };
            if let (ValueRef::Null, Some(d)) = (v, &c.default) {
                v = ValueRef::from(d);
                if !matches!(v, ValueRef::Null) {
                    row_convs.push("default_applied");
                }
            }
            let mut conv = None;
            let res = convert(v, &c.logical, c.uuid_owner.as_deref(), self.ctx, &mut conv)
                .and_then(|val| validate(&val, c.required, &c.rules, self.ctx).map(|()| val));
            match res {
                Ok(val) => {
                    if let Some(k) = conv {
                        row_convs.push(k);
                    }
                    vals.push(val);
                }
                Err(f) => {
                    return Ok(Some(RowFailure {
                        column: c.name.clone(),
                        failure: f,
                        value: value_json(v),
                    }))
                }
            }
        }
        Ok(None)
    }

    /// The foreign-key rule: every referencing value must be a key its parent accepted.
    fn check_references(
        &self,
        row: &rusqlite::Row<'_>,
        vals: &[Val<'_>],
    ) -> Result<Option<RowFailure>> {
        for l in &self.lookups {
            let Some(k) = key_bytes(&vals[l.column]) else {
                continue;
            };
            let found = l
                .conn
                .prepare_cached("SELECT 1 FROM k WHERE id = ?1")
                .and_then(|mut s| s.exists([&k]))
                .db_context("key registry")?;
            if !found {
                let c = &self.p.columns[l.column];
                let v = c
                    .source_idx
                    .and_then(|i| row.get_ref(i + 1).ok())
                    .map(value_json)
                    .unwrap_or_else(|| "null".into());
                return Ok(Some(RowFailure {
                    column: c.name.clone(),
                    failure: Failure {
                        rule: "foreign_key",
                        reason: format!("{v} has no valid row in {}", l.parent),
                    },
                    value: v,
                }));
            }
        }
        Ok(None)
    }

    /// Reads one row into the pending chunk: encoded when it passes, a reject when not.
    fn add_row(&self, row: &rusqlite::Row<'_>, out: &mut Pending) -> Result<()> {
        let rowid: Option<i64> = row.get(0).ok();
        let chunk = &mut out.chunk;
        chunk.read += 1;
        chunk.last_rowid = rowid.or(chunk.last_rowid);
        out.row_convs.clear();
        let mut vals: Vec<Val<'_>> = Vec::with_capacity(self.p.columns.len());
        let mut failed = self.convert_row(row, &mut vals, &mut out.row_convs)?;
        if failed.is_none() {
            failed = self.check_references(row, &vals)?;
        }
        let Some(f) = failed else {
            if let (Some(pi), true) = (self.pk_idx, self.registry.is_some()) {
                if let Some(k) = key_bytes(&vals[pi]) {
                    out.keys.push(k);
                }
            }
            pg::PgTarget::encode_row(&vals, &self.col_refs, &mut chunk.batch.data);
            chunk.batch.push_row(rowid.unwrap_or(0) as u64, b"");
            for k in &out.row_convs {
                *chunk.conversions.entry(k).or_default() += 1;
            }
            return Ok(());
        };
        let secret = self
            .p
            .columns
            .iter()
            .find(|c| c.name == f.column)
            .and_then(|c| c.source_idx)
            .is_some_and(|i| self.p.redact.contains(&self.p.select[i]));
        let (value, reason) = if secret {
            (
                REDACTED.to_string(),
                format!("the value (redacted) fails the {} rule", f.failure.rule),
            )
        } else {
            (f.value, f.failure.reason)
        };
        chunk.rejects.push(RowReject {
            rowid,
            column: Some(f.column),
            rule: f.failure.rule,
            value: Some(value),
            reason,
            record: row_record(self.p, row),
        });
        Ok(())
    }

    /// Registers the chunk's accepted keys, then hands the chunk over. False when the
    /// loading side has gone (it failed), so reading stops.
    fn send(
        &self,
        chunk: Chunk,
        keys: &mut Vec<Vec<u8>>,
        tx: &tokio::sync::mpsc::Sender<Result<Chunk>>,
    ) -> Result<bool> {
        if let Some(reg) = &self.registry {
            store_keys(reg, keys)?;
        }
        Ok(tx.blocking_send(Ok(chunk)).is_ok())
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
    let conn = open(&p.file)?;
    let what = format!("read {} from {}", p.source, p.db);
    let mut stmt = conn
        .prepare(&select_sql(p))
        .with_db_context(|| what.clone())?;
    let mut rows = stmt
        .query([after.unwrap_or(i64::MIN)])
        .with_db_context(|| what.clone())?;
    let target_cols: Vec<TargetColumn> = p.target_columns();
    let reader = Reader {
        p,
        ctx: &shared.ctx,
        what,
        col_refs: target_cols.iter().collect(),
        pk_idx: p.columns.iter().position(|c| c.primary_key),
        registry: open_registry(shared, p)?,
        lookups: open_lookups(shared, p)?,
    };
    let mut out = Pending {
        chunk: Chunk::empty(after),
        keys: Vec::new(),
        row_convs: Vec::new(),
    };
    while let Some(row) = rows.next().with_db_context(|| reader.what.clone())? {
        reader.add_row(row, &mut out)?;
        if out.chunk.read as usize >= shared.batch_size {
            let last_rowid = out.chunk.last_rowid;
            let full = std::mem::replace(&mut out.chunk, Chunk::empty(last_rowid));
            if !reader.send(full, &mut out.keys, tx)? {
                return Ok(());
            }
        }
    }
    if out.chunk.read > 0 {
        reader.send(out.chunk, &mut out.keys, tx)?;
    }
    Ok(())
}

/// Re-reads a source row by rowid, for a row PostgreSQL refused.
fn fetch_record(conn: &rusqlite::Connection, p: &TablePlan, rowid: i64) -> Box<RawValue> {
    let sql = select_sql(p).replace("rowid > ?1 ORDER BY rowid", "rowid = ?1");
    conn.query_row(&sql, [rowid], |r| Ok(row_record(p, r)))
        .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default())
}

/// The table's counts from the checkpoint, so a resumed table reports its whole history.
pub(crate) fn resumed_stats(shared: &Shared, key: &str, shown: &str) -> Result<TableStats> {
    let mut stats = TableStats::new(shown);
    let (resumed_rows, resumed_skipped, resumed_errors) = {
        let st = shared
            .state
            .lock()
            .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
        st.0.tables
            .get(key)
            .map(|t| (t.migrated, t.skipped, t.errors))
            .unwrap_or_default()
    };
    stats.migrated = resumed_rows;
    stats.skipped = resumed_skipped;
    stats.errors = resumed_errors;
    stats.resumed = resumed_rows;
    Ok(stats)
}

/// The PostgreSQL side of the table, when rows are written (with its journal when the table
/// existed before the migration).
fn open_target(
    p: &TablePlan,
    write: &Write,
    client: Option<tokio_postgres::Client>,
) -> Result<Option<pg::PgTarget>> {
    match (write, client) {
        (Write::Nothing, _) | (_, None) => Ok(None),
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
            Ok(Some(t))
        }
    }
}

/// Starts the reader thread of table `idx`; its chunks (or its error) arrive on the
/// returned channel.
fn spawn_reader(
    shared: &Arc<Shared>,
    idx: usize,
    after: Option<i64>,
) -> Result<(
    std::thread::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Result<Chunk>>,
)> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Chunk>>(2);
    let reader_shared = shared.clone();
    let reader = std::thread::Builder::new()
        .name(format!("read-{}", shared.plans[idx].source))
        .spawn(move || {
            if let Err(e) = read_table(&reader_shared, idx, after, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .map_err(|e| FerryError::Failed(format!("start reader thread: {e}")))?;
    Ok((reader, rx))
}

/// The loading side of one table: applies the reader's chunks to PostgreSQL, records the
/// rejects and the checkpoint. Holds what every chunk needs so the steps stay short.
struct Loader {
    shared: Arc<Shared>,
    p: TablePlan,
    key: String,
    /// `schema.table`, as reports and rejects name the table.
    shown: String,
    /// The source file, as the rejects file names it.
    file: String,
    target: Option<pg::PgTarget>,
    mode: Mode,
    /// The source, opened on the first row PostgreSQL refuses (to re-read it).
    src: Option<rusqlite::Connection>,
    stats: TableStats,
    /// The migration's id, for keyless tables' progress markers.
    migration_id: String,
}

impl Loader {
    /// Applies one chunk: write, rejects, counts, checkpoint, progress.
    async fn apply(&mut self, chunk: Chunk) -> Result<()> {
        if let (Some(t), Some(rowid), true) = (
            self.target.as_mut(),
            chunk.last_rowid,
            self.p.primary_key().is_empty(),
        ) {
            t.commit_with(progress_marker(&self.p.rel(), &self.migration_id, rowid));
        }
        let mut rejects = chunk.rejects;
        let (loaded, skipped) = self.write(&chunk.batch, &mut rejects).await?;
        rejects.sort_by_key(|r| r.rowid);
        self.record_rejects(&rejects)?;
        self.stats.migrated += loaded;
        self.stats.skipped += skipped;
        self.stats.errors += rejects.len() as u64;
        for (k, v) in chunk.conversions {
            *self.stats.conversions.entry(k.to_string()).or_default() += v;
        }
        if self.target.is_some() {
            self.save_checkpoint(chunk.last_rowid)?;
        }
        if let Ok(mut pr) = self.shared.progress.lock() {
            pr.inc(chunk.read);
        }
        Ok(())
    }

    /// Writes the batch (when there is a target); rows PostgreSQL refuses become rejects.
    /// Returns the rows loaded and skipped (already there).
    async fn write(&mut self, batch: &Batch, rejects: &mut Vec<RowReject>) -> Result<(u64, u64)> {
        let Some(t) = self.target.as_mut() else {
            return Ok((batch.len() as u64, 0));
        };
        let res = flush_batch(t, batch, self.mode).await?;
        for (i, column, reason) in res.rejected {
            let rowid = batch.line(i) as i64;
            let record = self.refused_record(rowid)?;
            rejects.push(RowReject {
                rowid: self.p.has_rowid.then_some(rowid),
                column,
                rule: "database",
                value: None,
                reason,
                record,
            });
        }
        Ok((res.loaded, res.skipped))
    }

    /// The source row PostgreSQL refused, re-read for the rejects file.
    fn refused_record(&mut self, rowid: i64) -> Result<Box<RawValue>> {
        if self.src.is_none() {
            self.src = Some(open(&self.p.file)?);
        }
        Ok(self
            .src
            .as_ref()
            .map(|c| fetch_record(c, &self.p, rowid))
            .unwrap_or_else(|| RawValue::from_string("null".into()).unwrap_or_default()))
    }

    /// Writes the rejects to the rejects file and the first ones to the report's errors.
    fn record_rejects(&self, rejects: &[RowReject]) -> Result<()> {
        let p = &self.p;
        let mut rj = self
            .shared
            .rejects
            .lock()
            .map_err(|_| FerryError::Checkpoint("rejects lock".into()))?;
        let mut errs = self
            .shared
            .errors
            .lock()
            .map_err(|_| FerryError::Checkpoint("errors lock".into()))?;
        for r in rejects {
            if errs.len() < REPORT_ERRORS {
                errs.push(serde_json::json!({
                    "database": p.db,
                    "source_table": p.source,
                    "table": self.shown,
                    "rowid": r.rowid,
                    "column": r.column,
                    "rule": r.rule,
                    "value": r.value,
                    "error": r.reason,
                    "record": r.record,
                }));
            }
            rj.add(&Reject {
                file: &self.file,
                line: None,
                table: &self.shown,
                column: r.column.as_deref(),
                value: r.value.as_deref(),
                reason: &r.reason,
                rule: Some(r.rule),
                rowid: r.rowid,
                record: r.record.clone(),
            })?;
        }
        if self.target.is_some() {
            rj.flush()?;
        }
        Ok(())
    }

    /// Records how far the table got, so `--resume` continues after `last_rowid`.
    fn save_checkpoint(&self, last_rowid: Option<i64>) -> Result<()> {
        let mut st = self
            .shared
            .state
            .lock()
            .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
        let (state, cp) = &mut *st;
        if let Some(t) = state.tables.get_mut(&self.key) {
            t.after_rowid = last_rowid;
            t.migrated = self.stats.migrated;
            t.skipped = self.stats.skipped;
            t.errors = self.stats.errors;
        }
        cp.save(state)
    }
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
    let stats = resumed_stats(&shared, &key, &shown)?;
    let target = open_target(&p, &write, client)?;
    let mode = match write {
        Write::Ignore(_) => Mode::Ignore,
        _ => Mode::Insert,
    };
    let (reader, mut rx) = spawn_reader(&shared, idx, after)?;
    let migration_id = shared
        .state
        .lock()
        .map(|s| s.0.migration_id.clone())
        .map_err(|_| FerryError::Checkpoint("state lock".into()))?;
    let mut loader = Loader {
        migration_id,
        shared,
        file: p.file.display().to_string(),
        p,
        key,
        shown,
        target,
        mode,
        src: None,
        stats,
    };
    let mut read_rows = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        read_rows += chunk.read;
        loader.apply(chunk).await?;
    }
    let _ = reader.join();
    // The table is complete: its progress marker goes (the checkpoint says done next).
    if let (Some(t), true) = (loader.target.as_mut(), loader.p.primary_key().is_empty()) {
        use ferry_engine::load::Target as _;
        t.exec(&format!("COMMENT ON TABLE {} IS NULL", loader.p.rel()))
            .await?;
    }
    let Loader {
        mut stats,
        p,
        shown,
        ..
    } = loader;
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
