//! Sources: read a table's schema and stream its rows from MySQL/MariaDB, PostgreSQL or SQLite.
//!
//! Rows arrive as engine-neutral [`Cell`]s in primary-key order, page by page (keyset
//! pagination), inside one consistent snapshot. `extract` writes them as NDJSON; `verify`
//! normalizes and compares them.

mod mysql;
mod postgres;
mod sqlite;

pub use sqlite::table_names as sqlite_table_names;

use ferry_shared::conn::{Endpoint, Engine};
use ferry_shared::pattern::TablePattern;
use ferry_shared::record::RecordWriter;
use ferry_shared::rejects::{Reject, Rejects};
use ferry_shared::schema::{LogicalType, TableSchema};
use ferry_shared::shard::{Shard, ShardRange};
use ferry_shared::user_sql::Filter;
use ferry_shared::{DbContext, FerryError, Result};

/// One value of a row, already in the form the NDJSON contract wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer (BIGINT UNSIGNED reaches 2^64-1).
    U64(u64),
    /// Single precision.
    F32(f32),
    /// Double precision.
    F64(f64),
    /// Text, decimals (exact digits), dates and times (ISO 8601).
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Valid JSON text, written nested.
    Json(String),
}

impl Cell {
    /// Writes the cell as the next field of the record being built.
    pub fn write(&self, w: &mut RecordWriter) {
        match self {
            Cell::Null => w.null(),
            Cell::Bool(b) => w.bool(*b),
            Cell::I64(v) => w.i64(*v),
            Cell::U64(v) => w.u64(*v),
            Cell::F32(v) => w.f32(*v),
            Cell::F64(v) => w.f64(*v),
            Cell::Text(s) => w.str(s),
            Cell::Bytes(b) => w.bytes(b),
            Cell::Json(j) => w.raw(j),
        }
    }

    /// The cell as plain JSON, for checkpoints (keys to resume after).
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Bool(b) => (*b).into(),
            Cell::I64(v) => (*v).into(),
            Cell::U64(v) => (*v).into(),
            Cell::F32(v) => f64::from(*v).into(),
            Cell::F64(v) => (*v).into(),
            Cell::Text(s) => serde_json::json!({ "text": s }),
            Cell::Bytes(b) => {
                serde_json::json!({ "bytes": base64::engine::general_purpose::STANDARD.encode(b) })
            }
            Cell::Json(j) => serde_json::json!({ "json": j }),
        }
    }

    /// The inverse of [`Cell::to_json`].
    pub fn from_json(v: &serde_json::Value) -> Cell {
        use base64::Engine as _;
        match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Cell::I64(i)
                } else if let Some(u) = n.as_u64() {
                    Cell::U64(u)
                } else {
                    Cell::F64(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::Object(m) => {
                if let Some(s) = m.get("text").and_then(|s| s.as_str()) {
                    Cell::Text(s.to_string())
                } else if let Some(s) = m.get("bytes").and_then(|s| s.as_str()) {
                    Cell::Bytes(
                        base64::engine::general_purpose::STANDARD
                            .decode(s)
                            .unwrap_or_default(),
                    )
                } else {
                    Cell::Json(
                        m.get("json")
                            .and_then(|s| s.as_str())
                            .unwrap_or("null")
                            .into(),
                    )
                }
            }
            other => Cell::Json(other.to_string()),
        }
    }
}

/// What to read from a table.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Resume after this primary-key value (keyset pagination).
    pub after: Option<Vec<Cell>>,
    /// At most this many rows in this page.
    pub limit: Option<u64>,
    /// Extra filter, SQL in the source's dialect, checked (placed as `WHERE (…)`).
    pub filter: Option<Filter>,
    /// Order text keys by bytes on every engine (one whole-table scan, as `verify` does;
    /// PostgreSQL and SQLite always page in byte order).
    pub byte_order: bool,
}

/// One row an extract read: to the rejects file with its first bad cell's reason (`name` is
/// the file and table the reject names), or written (when there is a writer: none in a dry
/// run). Returns true when it was written (or would have been).
pub fn emit_row(
    writer: Option<&mut RecordWriter>,
    rejects: &mut Rejects,
    name: &str,
    schema: &TableSchema,
    cells: &[Cell],
    bad: &[BadCell],
) -> Result<bool> {
    if let Some(b) = bad.first() {
        let mut record = serde_json::Map::new();
        for (c, cell) in schema.columns.iter().zip(cells) {
            record.insert(c.name.clone(), cell.to_json());
        }
        rejects.add(&Reject {
            file: name,
            line: None,
            table: name,
            column: Some(&b.column),
            value: None,
            reason: &b.reason,
            rule: None,
            rowid: None,
            record: serde_json::value::to_raw_value(&record).unwrap_or_default(),
        })?;
        return Ok(false);
    }
    if let Some(w) = writer {
        w.begin();
        for c in cells {
            c.write(w);
        }
        w.end()?;
    }
    Ok(true)
}

/// A keyset page query: the parts that differ between engines. [`KeysetPage::sql`] is the one
/// builder of `SELECT … WHERE (filter) AND (key) > (after) ORDER BY key LIMIT n`.
pub(crate) struct KeysetPage {
    /// The table as `FROM` names it, quoted.
    pub from: String,
    /// Identifier quoting.
    pub quote: fn(&str) -> String,
    /// The primary key as compared: one expression per key column (PostgreSQL compares text
    /// keys in byte order).
    pub keys: Vec<String>,
    /// ORDER BY expressions when they differ from `keys`.
    pub order: Option<Vec<String>>,
    /// The previous page's last key, as placeholders or literals.
    pub after: Option<Vec<String>>,
}

impl KeysetPage {
    /// `?` placeholders for the previous page's last key, when the scan has one.
    pub fn placeholders(scan: &Scan, keys: usize) -> Option<Vec<String>> {
        scan.after.as_ref().map(|_| vec!["?".to_string(); keys])
    }

    /// The page's SQL. The filter is the checked `--filter`, parenthesised.
    pub fn sql(&self, schema: &TableSchema, scan: &Scan) -> String {
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| (self.quote)(&c.name))
            .collect();
        let mut sql = format!("SELECT {} FROM {}", cols.join(", "), self.from);
        let mut conds = Vec::new();
        if let Some(f) = &scan.filter {
            conds.push(format!("({})", f.sql()));
        }
        if let (Some(after), false) = (&self.after, self.keys.is_empty()) {
            conds.push(format!(
                "({}) > ({})",
                self.keys.join(", "),
                after.join(", ")
            ));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        if !self.keys.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&self.order.as_ref().unwrap_or(&self.keys).join(", "));
        }
        if let Some(l) = scan.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        sql
    }
}

/// A row-level problem found while reading (e.g. invalid UTF-8 in SQLite text).
#[derive(Debug, Clone)]
pub struct BadCell {
    /// Column name.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

/// A connected source.
pub enum Source {
    /// MySQL/MariaDB, with the database name.
    Mysql(mysql_async::Conn, String),
    /// PostgreSQL, with the schema to use for unqualified names.
    Postgres(tokio_postgres::Client, String),
    /// SQLite.
    Sqlite(rusqlite::Connection),
}

/// A resolved table: the names to show and the quoted names to use in SQL.
#[derive(Debug, Clone)]
pub struct TableRef {
    /// Database or schema.
    pub db: String,
    /// Table name.
    pub name: String,
}

impl Source {
    /// Connects to the endpoint.
    pub async fn connect(ep: &Endpoint) -> Result<Source> {
        tracing::debug!("connecting to {ep}");
        match ep.engine {
            Engine::Mysql => {
                let db = ep.require_database()?.to_string();
                let conn = ferry_shared::conn::connect_mysql(ep).await?;
                Ok(Source::Mysql(conn, db))
            }
            Engine::Postgres => {
                let client = ferry_shared::conn::connect_postgres(ep).await?;
                Ok(Source::Postgres(client, "public".into()))
            }
            Engine::Sqlite => Ok(Source::Sqlite(ferry_shared::conn::open_sqlite(ep, true)?)),
            Engine::Dynamodb => Err(FerryError::Usage(
                "DynamoDB is not a SQL source; use backup-dynamo".into(),
            )),
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        match self {
            Source::Mysql(..) => Engine::Mysql,
            Source::Postgres(..) => Engine::Postgres,
            Source::Sqlite(..) => Engine::Sqlite,
        }
    }

    /// Tables matching the patterns, in name order; an exact name that does not exist is an
    /// error naming it.
    pub async fn resolve_tables(&mut self, patterns: &[TablePattern]) -> Result<Vec<TableRef>> {
        let all = match self {
            Source::Mysql(c, db) => mysql::list_tables(c, db, patterns).await?,
            Source::Postgres(c, schema) => postgres::list_tables(c, schema, patterns).await?,
            Source::Sqlite(c) => sqlite::list_tables(c)?,
        };
        let mut out = Vec::new();
        for p in patterns {
            let found: Vec<&TableRef> = all.iter().filter(|t| p.matches(&t.db, &t.name)).collect();
            if found.is_empty() && p.is_exact() {
                let place = match (p.db(), &*self) {
                    (Some(d), _) => format!("database/schema {d:?}"),
                    (None, Source::Mysql(_, db)) => format!("database {db:?}"),
                    (None, Source::Postgres(_, schema)) => format!("schema {schema:?}"),
                    (None, Source::Sqlite(_)) => "the SQLite file".into(),
                };
                return Err(FerryError::NotFound(format!(
                    "table {:?} not found in {place}; check --table",
                    p.table()
                )));
            }
            for t in found {
                if !out
                    .iter()
                    .any(|o: &TableRef| o.db == t.db && o.name == t.name)
                {
                    out.push(t.clone());
                }
            }
        }
        Ok(out)
    }

    /// Reads the table's columns, types, nullability and primary key.
    pub async fn describe(&mut self, t: &TableRef) -> Result<TableSchema> {
        match self {
            Source::Mysql(c, _) => mysql::describe(c, t).await,
            Source::Postgres(c, _) => postgres::describe(c, t).await,
            Source::Sqlite(c) => sqlite::describe(c, t),
        }
    }

    /// Describes the result of a query (no primary key). A user's query comes checked, as a
    /// [`ferry_shared::user_sql::Query`]; a tool's own SQL may be passed as it is.
    pub async fn describe_query(&mut self, sql: &str, name: &str) -> Result<TableSchema> {
        match self {
            Source::Mysql(c, _) => mysql::describe_query(c, sql, name).await,
            Source::Postgres(c, _) => postgres::describe_query(c, sql, name).await,
            Source::Sqlite(c) => sqlite::describe_query(c, sql, name),
        }
    }

    /// Starts a consistent read-only snapshot: every later page sees the same data.
    pub async fn begin_snapshot(&mut self) -> Result<()> {
        match self {
            Source::Mysql(c, _) => mysql::begin_snapshot(c).await,
            Source::Postgres(c, _) => c
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .db_context("start snapshot"),
            Source::Sqlite(c) => c.execute_batch("BEGIN").db_context("start snapshot"),
        }
    }

    /// Streams one page of rows to `f` in primary-key order. `f` returns `Ok(false)` to stop.
    /// Returns how many rows were read.
    pub async fn scan(
        &mut self,
        t: &TableRef,
        schema: &TableSchema,
        scan: &Scan,
        f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
    ) -> Result<u64> {
        match self {
            Source::Mysql(c, _) => mysql::scan(c, t, schema, scan, f).await,
            Source::Postgres(c, _) => postgres::scan(c, t, schema, scan, f).await,
            Source::Sqlite(c) => sqlite::scan(c, t, schema, scan, f),
        }
    }

    /// Streams the rows of a query.
    pub async fn scan_query(
        &mut self,
        sql: &str,
        schema: &TableSchema,
        f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
    ) -> Result<u64> {
        match self {
            Source::Mysql(c, _) => mysql::scan_sql(c, sql, Vec::new(), schema, f).await,
            Source::Postgres(c, _) => postgres::scan_sql(c, sql, schema, f).await,
            Source::Sqlite(c) => sqlite::scan_sql(c, sql, &[], schema, f),
        }
    }

    /// Identifier quoting of this source's dialect.
    pub fn quote(&self) -> fn(&str) -> String {
        match self {
            Source::Mysql(..) => ferry_shared::sql::quote_mysql,
            Source::Postgres(..) | Source::Sqlite(..) => ferry_shared::sql::quote_pg,
        }
    }

    /// The key range `shard` covers in table `t` (the rule is in [`ferry_shared::shard`]):
    /// the first primary-key column, an integer, cut between this source's smallest and
    /// largest value.
    pub async fn shard_range(
        &mut self,
        t: &TableRef,
        schema: &TableSchema,
        shard: Shard,
    ) -> Result<ShardRange> {
        let col = shard_key(schema)?;
        let bounds = match self {
            Source::Mysql(c, _) => mysql::min_max(c, t, col).await?,
            Source::Postgres(c, _) => postgres::min_max(c, t, col).await?,
            Source::Sqlite(c) => sqlite::min_max(c, t, col)?,
        };
        let parse = |s: &str| {
            s.trim().parse::<i128>().map_err(|_| {
                FerryError::Usage(format!(
                    "--shard: {}.{} column {col} holds {s:?}, not an integer",
                    t.db, t.name
                ))
            })
        };
        let bounds = match bounds {
            Some((lo, hi)) => Some((parse(&lo)?, parse(&hi)?)),
            None => None,
        };
        Ok(shard.range(col, bounds))
    }

    /// Counts rows (with the optional filter).
    pub async fn count(&mut self, t: &TableRef, filter: Option<&Filter>) -> Result<u64> {
        match self {
            Source::Mysql(c, _) => mysql::count(c, t, filter).await,
            Source::Postgres(c, _) => postgres::count(c, t, filter).await,
            Source::Sqlite(c) => sqlite::count(c, t, filter),
        }
    }
}

/// The shard key of a table: its first primary-key column, which must be an integer (the
/// ranges are cut arithmetically).
pub fn shard_key(schema: &TableSchema) -> Result<&str> {
    let Some(col) = schema.primary_key.first() else {
        return Err(FerryError::Usage(format!(
            "--shard needs a primary key (its first column is the shard key); {} has none",
            schema.table
        )));
    };
    match schema.column(col).map(|c| &c.logical) {
        Some(LogicalType::Int { .. } | LogicalType::Decimal { scale: Some(0), .. }) => Ok(col),
        _ => Err(FerryError::Usage(format!(
            "--shard cuts the first primary-key column into integer ranges; {}.{col} is {}",
            schema.table,
            schema
                .column(col)
                .map_or("missing", |c| c.source_type.as_str())
        ))),
    }
}

/// The filter a shard reads: the user's `--filter` (if any) and the shard's range, both
/// parenthesised. The range is integers and a quoted column, checked like any filter.
pub fn shard_filter(
    user: Option<&Filter>,
    range: &ShardRange,
    quote: fn(&str) -> String,
) -> Result<Option<Filter>> {
    Ok(match (user, range.condition(quote)) {
        (u, None) => u.cloned(),
        (None, Some(c)) => Some(Filter::from_flag("--shard", &c)?),
        (Some(u), Some(c)) => Some(Filter::from_flag(
            "--shard",
            &format!("({}) AND ({c})", u.sql()),
        )?),
    })
}

/// Parses `enum('a','b')` / `set('x','y')` labels (quotes doubled inside).
pub(crate) fn parse_labels(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return Vec::new();
    };
    let body = &column_type[start + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars().peekable();
    let mut inq = false;
    while let Some(c) = chars.next() {
        match (inq, c) {
            (false, '\'') => inq = true,
            (true, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                cur.push('\'');
            }
            (true, '\'') => {
                inq = false;
                out.push(std::mem::take(&mut cur));
            }
            (true, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (true, c) => cur.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn labels() {
        assert_eq!(
            parse_labels("enum('a','it''s','c,d')"),
            vec!["a", "it's", "c,d"]
        );
    }
}
