//! MySQL/MariaDB reads: information_schema for the schema, the binary protocol for rows (so
//! FLOAT and DOUBLE arrive as their exact bits, not as 6-digit text).

use super::KeysetPage;
use super::{BadCell, Cell, Scan, TableRef};
use crate::digits::push_num;
use crate::types::{MysqlColumnRow, MYSQL_COLUMNS_SQL};
use ferry_shared::conn::Engine;
use ferry_shared::pattern::TablePattern;
use ferry_shared::schema::{ColumnSchema, LogicalType, TableSchema};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::user_sql::Filter;
use ferry_shared::{DbContext, FerryError, Result};
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

pub(super) async fn list_tables(
    c: &mut Conn,
    default_db: &str,
    patterns: &[TablePattern],
) -> Result<Vec<TableRef>> {
    let mut dbs: Vec<String> = patterns
        .iter()
        .filter_map(|p| p.db().map(str::to_string))
        .filter(|d| d != "*")
        .collect();
    dbs.push(default_db.to_string());
    let any_db = patterns.iter().any(|p| p.db() == Some("*"));
    let rows: Vec<(String, String)> = c
        .exec(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
            (),
        )
        .await
        .db_context("list tables")?;
    Ok(rows
        .into_iter()
        .filter(|(db, _)| {
            (any_db
                && !matches!(
                    db.as_str(),
                    "mysql" | "information_schema" | "performance_schema" | "sys"
                ))
                || dbs.contains(db)
        })
        .map(|(db, name)| {
            // A pattern without a database means the URL's database.
            TableRef { db, name }
        })
        .filter(|t| {
            patterns.iter().any(|p| match p.db() {
                None => t.db == default_db && p.matches(&t.db, &t.name),
                Some(_) => p.matches(&t.db, &t.name),
            })
        })
        .collect())
}

/// The column's schema. `checks` are the table's CHECK clauses (MariaDB's JSON is LONGTEXT
/// with a `json_valid()` check). By MySQL's convention a signed `tinyint(1)` is a boolean.
fn into_schema(col: MysqlColumnRow, checks: &[String]) -> ColumnSchema {
    let logical = match col.logical(checks) {
        LogicalType::Int {
            bits: 8,
            unsigned: false,
        } if col.column_type.starts_with("tinyint(1)") => LogicalType::Bool,
        other => other,
    };
    // Same-engine copies reuse source_type, so it carries the character set.
    let source_type = match (&logical, &col.charset, &col.collation) {
        (
            LogicalType::Text { .. } | LogicalType::Enum { .. } | LogicalType::Set { .. },
            Some(cs),
            Some(co),
        ) => format!("{} CHARACTER SET {cs} COLLATE {co}", col.column_type),
        _ => col.column_type,
    };
    ColumnSchema {
        name: col.name,
        source_type,
        logical,
        nullable: col.is_nullable == "YES",
    }
}

pub(super) async fn describe(c: &mut Conn, t: &TableRef) -> Result<TableSchema> {
    let cols: Vec<MysqlColumnRow> = c
        .exec(MYSQL_COLUMNS_SQL, (&t.db, &t.name))
        .await
        .db_context("read columns")?;
    if cols.is_empty() {
        return Err(FerryError::NotFound(format!(
            "table {:?} not found in database {:?}",
            t.name, t.db
        )));
    }
    let pk: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
             ORDER BY ORDINAL_POSITION",
            (&t.db, &t.name),
        )
        .await
        .db_context("read primary key")?;
    // MariaDB's JSON is LONGTEXT with a json_valid() check; MySQL reports data type 'json'.
    let checks: Vec<String> = c
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (&t.db, &t.name),
        )
        .await
        .unwrap_or_default();
    let columns = cols
        .into_iter()
        .map(|col| into_schema(col, &checks))
        .collect();
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: t.name.clone(),
        database: Some(t.db.clone()),
        engine: Engine::Mysql,
        columns,
        primary_key: pk,
        row_count: None,
        checksum: None,
        shard: None,
    })
}

pub(super) async fn describe_query(c: &mut Conn, sql: &str, name: &str) -> Result<TableSchema> {
    let stmt = c.prep(sql).await.db_context("prepare query")?;
    let columns = stmt
        .columns()
        .iter()
        .map(|col| {
            use mysql_async::consts::{ColumnFlags, ColumnType as T};
            let unsigned = col.flags().contains(ColumnFlags::UNSIGNED_FLAG);
            let binary = col.character_set() == 63;
            let logical = match col.column_type() {
                T::MYSQL_TYPE_TINY => LogicalType::Int { bits: 8, unsigned },
                T::MYSQL_TYPE_SHORT => LogicalType::Int { bits: 16, unsigned },
                T::MYSQL_TYPE_INT24 => LogicalType::Int { bits: 24, unsigned },
                T::MYSQL_TYPE_LONG => LogicalType::Int { bits: 32, unsigned },
                T::MYSQL_TYPE_LONGLONG => LogicalType::Int { bits: 64, unsigned },
                T::MYSQL_TYPE_NEWDECIMAL | T::MYSQL_TYPE_DECIMAL => LogicalType::Decimal {
                    precision: None,
                    scale: Some(u32::from(col.decimals())),
                },
                T::MYSQL_TYPE_FLOAT => LogicalType::Float32,
                T::MYSQL_TYPE_DOUBLE => LogicalType::Float64,
                T::MYSQL_TYPE_DATE => LogicalType::Date,
                T::MYSQL_TYPE_DATETIME => LogicalType::DateTime,
                T::MYSQL_TYPE_TIMESTAMP => LogicalType::Timestamp,
                T::MYSQL_TYPE_TIME => LogicalType::Time,
                T::MYSQL_TYPE_YEAR => LogicalType::Year,
                T::MYSQL_TYPE_BIT => LogicalType::Bit {
                    bits: col.column_length(),
                },
                T::MYSQL_TYPE_JSON => LogicalType::Json,
                _ if binary => LogicalType::Bytes {
                    max_bytes: None,
                    fixed: false,
                },
                _ => LogicalType::Text { max_chars: None },
            };
            ColumnSchema {
                name: col.name_str().into_owned(),
                source_type: format!("{:?}", col.column_type()),
                logical,
                nullable: !col.flags().contains(ColumnFlags::NOT_NULL_FLAG),
            }
        })
        .collect();
    c.close(stmt).await.db_context("close statement")?;
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: name.to_string(),
        database: None,
        engine: Engine::Mysql,
        columns,
        primary_key: Vec::new(),
        row_count: None,
        checksum: None,
        shard: None,
    })
}

pub(super) async fn begin_snapshot(c: &mut Conn) -> Result<()> {
    c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .db_context("set isolation")?;
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .db_context("start snapshot")
}

fn cell_to_param(c: &Cell) -> Value {
    match c {
        Cell::Null => Value::NULL,
        Cell::Bool(b) => Value::Int(i64::from(*b)),
        Cell::I64(v) => Value::Int(*v),
        Cell::U64(v) => Value::UInt(*v),
        Cell::F32(v) => Value::Float(*v),
        Cell::F64(v) => Value::Double(*v),
        Cell::Text(s) | Cell::Json(s) => Value::Bytes(s.clone().into_bytes()),
        Cell::Bytes(b) => Value::Bytes(b.clone()),
    }
}

/// Builds the keyset page query (placeholders for the previous page's last key).
pub(super) fn page_sql(t: &TableRef, schema: &TableSchema, scan: &Scan) -> String {
    let keys: Vec<String> = schema.primary_key.iter().map(|c| q(c)).collect();
    let order = scan.byte_order.then(|| {
        schema
            .primary_key
            .iter()
            .map(|k| match schema.column(k).map(|c| &c.logical) {
                Some(LogicalType::Text { .. }) => format!("CAST({} AS BINARY)", q(k)),
                _ => q(k),
            })
            .collect()
    });
    KeysetPage {
        from: format!("{}.{}", q(&t.db), q(&t.name)),
        quote: q,
        after: KeysetPage::placeholders(scan, keys.len()),
        keys,
        order,
    }
    .sql(schema, scan)
}

pub(super) async fn scan(
    c: &mut Conn,
    t: &TableRef,
    schema: &TableSchema,
    scan: &Scan,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    let sql = page_sql(t, schema, scan);
    let params: Vec<Value> = scan
        .after
        .as_ref()
        .map(|k| k.iter().map(cell_to_param).collect())
        .unwrap_or_default();
    scan_sql(c, &sql, params, schema, f).await
}

pub(super) async fn scan_sql(
    c: &mut Conn,
    sql: &str,
    params: Vec<Value>,
    schema: &TableSchema,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    let params = if params.is_empty() {
        mysql_async::Params::Empty
    } else {
        mysql_async::Params::Positional(params)
    };
    let mut result = c
        .exec_iter(sql, params)
        .await
        .with_db_context(|| format!("read {}", schema.table))?;
    let mut n = 0u64;
    let mut more = true;
    while let Some(row) = result
        .next()
        .await
        .with_db_context(|| format!("read {}", schema.table))?
    {
        if !more {
            continue;
        }
        n += 1;
        let mut bad = Vec::new();
        let cells: Vec<Cell> = row
            .unwrap_raw()
            .into_iter()
            .zip(&schema.columns)
            .map(|(v, col)| convert(v.unwrap_or(Value::NULL), col, &mut bad))
            .collect();
        more = f(cells, bad)?;
    }
    Ok(n)
}

fn push_time(out: &mut String, h: u32, mi: u8, s: u8, us: u32) {
    push_num(out, h, 2);
    out.push(':');
    push_num(out, u32::from(mi), 2);
    out.push(':');
    push_num(out, u32::from(s), 2);
    if us > 0 {
        out.push('.');
        push_num(out, us, 6);
    }
}

/// Binary-protocol value → cell, by the column's logical type.
pub(crate) fn convert(v: Value, col: &ColumnSchema, bad: &mut Vec<BadCell>) -> Cell {
    match v {
        Value::NULL => Cell::Null,
        Value::Int(i) => Cell::I64(i),
        Value::UInt(u) => Cell::U64(u),
        Value::Float(x) => Cell::F32(x),
        Value::Double(x) => Cell::F64(x),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let mut t = String::with_capacity(28);
            push_num(&mut t, u32::from(y), 4);
            t.push('-');
            push_num(&mut t, u32::from(mo), 2);
            t.push('-');
            push_num(&mut t, u32::from(d), 2);
            if col.logical != LogicalType::Date {
                t.push('T');
                push_time(&mut t, u32::from(h), mi, s, us);
                if col.logical == LogicalType::Timestamp && y != 0 {
                    t.push('Z');
                }
            }
            Cell::Text(t)
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let mut t = String::with_capacity(20);
            if neg {
                t.push('-');
            }
            push_time(&mut t, days * 24 + u32::from(h), mi, s, us);
            Cell::Text(t)
        }
        Value::Bytes(b) => match &col.logical {
            LogicalType::Bytes { .. } => Cell::Bytes(b),
            LogicalType::Geometry => match ferry_shared::geometry::mysql_to_ewkb(&b) {
                Ok(ewkb) => Cell::Text(ferry_shared::geometry::to_hex(&ewkb)),
                Err(reason) => {
                    bad.push(BadCell {
                        column: col.name.clone(),
                        reason,
                    });
                    Cell::Bytes(b)
                }
            },
            LogicalType::Bit { .. } => {
                let mut n: u64 = 0;
                for byte in &b {
                    n = (n << 8) | u64::from(*byte);
                }
                Cell::U64(n)
            }
            LogicalType::Int { unsigned, .. } => {
                let s = String::from_utf8_lossy(&b);
                if *unsigned {
                    s.parse()
                        .map(Cell::U64)
                        .unwrap_or(Cell::Text(s.into_owned()))
                } else {
                    s.parse()
                        .map(Cell::I64)
                        .unwrap_or(Cell::Text(s.into_owned()))
                }
            }
            LogicalType::Json => match String::from_utf8(b) {
                Ok(s) => {
                    if serde_json::from_str::<&serde_json::value::RawValue>(&s).is_ok() {
                        Cell::Json(s.trim().to_string())
                    } else {
                        bad.push(BadCell {
                            column: col.name.clone(),
                            reason: "invalid JSON in JSON column".into(),
                        });
                        Cell::Text(s)
                    }
                }
                Err(e) => text_or_bad(e.into_bytes(), col, bad),
            },
            _ => match String::from_utf8(b) {
                Ok(s) => Cell::Text(s),
                Err(e) => text_or_bad(e.into_bytes(), col, bad),
            },
        },
    }
}

fn text_or_bad(b: Vec<u8>, col: &ColumnSchema, bad: &mut Vec<BadCell>) -> Cell {
    bad.push(BadCell {
        column: col.name.clone(),
        reason: "text is not valid UTF-8".into(),
    });
    Cell::Bytes(b)
}

/// Counts the rows through a prepared statement: one statement only, whatever the filter.
pub(super) async fn count(c: &mut Conn, t: &TableRef, filter: Option<&Filter>) -> Result<u64> {
    let mut sql = format!("SELECT COUNT(*) FROM {}.{}", q(&t.db), q(&t.name));
    if let Some(f) = filter {
        sql.push_str(&format!(" WHERE ({})", f.sql()));
    }
    let n: Option<u64> = c.exec_first(sql, ()).await.db_context("count rows")?;
    Ok(n.unwrap_or(0))
}

/// The smallest and largest value of an integer column, as text (`None`: no rows).
pub(super) async fn min_max(
    c: &mut Conn,
    t: &TableRef,
    col: &str,
) -> Result<Option<(String, String)>> {
    let sql = format!(
        "SELECT CAST(MIN({k}) AS CHAR), CAST(MAX({k}) AS CHAR) FROM {}.{}",
        q(&t.db),
        q(&t.name),
        k = q(col)
    );
    let r: Option<(Option<String>, Option<String>)> = c
        .query_first(sql)
        .await
        .db_context("read the shard key's bounds")?;
    Ok(r.and_then(|(a, b)| a.zip(b)))
}
