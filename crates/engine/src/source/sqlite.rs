//! SQLite reads. SQLite types are per value, not per column: the declared type gives the
//! logical type (by SQLite's affinity rules, plus BOOLEAN/DATE/DATETIME by name), and each
//! value is written by its own storage class, so nothing is coerced on the way out.

use super::KeysetPage;
use super::{BadCell, Cell, Scan, TableRef};
use ferry_shared::conn::Engine;
use ferry_shared::schema::{ColumnSchema, LogicalType, TableSchema};
use ferry_shared::sql::quote_pg as q;
use ferry_shared::user_sql::Filter;
use ferry_shared::{DbContext, FerryError, Result};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The user tables of a SQLite file, in name order (SQLite's own `sqlite_%` tables left out).
pub fn table_names(c: &Connection) -> Result<Vec<String>> {
    let mut stmt = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .db_context("list tables")?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .db_context("list tables")?
        .collect::<std::result::Result<Vec<_>, _>>()
        .db_context("list tables")?;
    Ok(names)
}

pub(super) fn list_tables(c: &Connection) -> Result<Vec<TableRef>> {
    Ok(table_names(c)?
        .into_iter()
        .map(|name| TableRef {
            db: "main".into(),
            name,
        })
        .collect())
}

/// SQLite's affinity rules (section 3.1 of its datatype page), refined by common names.
pub fn logical_type(declared: &str) -> LogicalType {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        return LogicalType::Int {
            bits: 64,
            unsigned: false,
        };
    }
    if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        return LogicalType::Text { max_chars: None };
    }
    if d.contains("BLOB") {
        return LogicalType::Bytes {
            max_bytes: None,
            fixed: false,
        };
    }
    if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        return LogicalType::Float64;
    }
    if d.starts_with("BOOL") {
        return LogicalType::Bool;
    }
    if d == "DATE" {
        return LogicalType::Date;
    }
    if d.starts_with("DATETIME") || d.starts_with("TIMESTAMP") {
        return LogicalType::DateTime;
    }
    if d.starts_with("JSON") {
        return LogicalType::Json;
    }
    if d.is_empty() {
        // No declared type: any value; text is the only target that holds them all.
        return LogicalType::Other {
            name: String::new(),
        };
    }
    let (p, s) = match (d.find('('), d.find(')')) {
        (Some(a), Some(b)) if a < b => {
            let mut it = d[a + 1..b].split(',').map(|x| x.trim().parse::<u32>().ok());
            (it.next().flatten(), it.next().flatten())
        }
        _ => (None, None),
    };
    LogicalType::Decimal {
        precision: p,
        scale: s.or(p.map(|_| 0)),
    }
}

pub(super) fn describe(c: &Connection, t: &TableRef) -> Result<TableSchema> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo({})",
            ferry_shared::sql::literal_pg(&t.name)
        ))
        .db_context("read columns")?;
    let mut cols: Vec<(String, String, bool, i64)> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)? != 0,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .db_context("read columns")?
        .filter_map(std::result::Result::ok)
        .filter(|c| c.4 != 1)
        .map(|(a, b, c, d, _)| (a, b, c, d))
        .collect();
    if cols.is_empty() {
        return Err(FerryError::NotFound(format!(
            "table {:?} not found in the SQLite file",
            t.name
        )));
    }
    let mut pk: Vec<(i64, String)> = cols
        .iter()
        .filter(|c| c.3 > 0)
        .map(|c| (c.3, c.0.clone()))
        .collect();
    pk.sort();
    let columns = cols
        .drain(..)
        .map(|(name, ty, notnull, _)| ColumnSchema {
            logical: logical_type(&ty),
            source_type: ty,
            name,
            nullable: !notnull,
        })
        .collect();
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: t.name.clone(),
        database: None,
        engine: Engine::Sqlite,
        columns,
        primary_key: pk.into_iter().map(|p| p.1).collect(),
        row_count: None,
        checksum: None,
        shard: None,
    })
}

pub(super) fn describe_query(c: &Connection, sql: &str, name: &str) -> Result<TableSchema> {
    let stmt = c.prepare(sql).db_context("prepare query")?;
    let columns = stmt
        .columns()
        .iter()
        .map(|col| {
            let ty = col.decl_type().unwrap_or("").to_string();
            ColumnSchema {
                name: col.name().to_string(),
                logical: logical_type(&ty),
                source_type: ty,
                nullable: true,
            }
        })
        .collect();
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: name.to_string(),
        database: None,
        engine: Engine::Sqlite,
        columns,
        primary_key: Vec::new(),
        row_count: None,
        checksum: None,
        shard: None,
    })
}

fn to_sql_value(c: &Cell) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match c {
        Cell::Null => V::Null,
        Cell::Bool(b) => V::Integer(i64::from(*b)),
        Cell::I64(v) => V::Integer(*v),
        Cell::U64(v) => V::Integer(*v as i64),
        Cell::F32(v) => V::Real(f64::from(*v)),
        Cell::F64(v) => V::Real(*v),
        Cell::Text(s) | Cell::Json(s) => V::Text(s.clone()),
        Cell::Bytes(b) => V::Blob(b.clone()),
    }
}

pub(super) fn scan(
    c: &Connection,
    t: &TableRef,
    schema: &TableSchema,
    scan: &Scan,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    let keys: Vec<String> = schema.primary_key.iter().map(|c| q(c)).collect();
    let params = match &scan.after {
        Some(after) if !keys.is_empty() => after.iter().map(to_sql_value).collect(),
        _ => Vec::new(),
    };
    let sql = KeysetPage {
        from: q(&t.name),
        quote: q,
        after: KeysetPage::placeholders(scan, keys.len()),
        keys,
        order: None,
    }
    .sql(schema, scan);
    scan_sql(c, &sql, &params, schema, f)
}

pub(super) fn scan_sql(
    c: &Connection,
    sql: &str,
    params: &[rusqlite::types::Value],
    schema: &TableSchema,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    let what = format!("read {}", schema.table);
    let mut stmt = c.prepare(sql).with_db_context(|| what.clone())?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .with_db_context(|| what.clone())?;
    let mut n = 0;
    while let Some(row) = rows.next().with_db_context(|| what.clone())? {
        n += 1;
        let mut bad = Vec::new();
        let mut cells = Vec::with_capacity(schema.columns.len());
        for (i, col) in schema.columns.iter().enumerate() {
            let v = row.get_ref(i).with_db_context(|| what.clone())?;
            cells.push(match v {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::I64(i),
                ValueRef::Real(x) => Cell::F64(x),
                ValueRef::Text(b) => match std::str::from_utf8(b) {
                    Ok(s)
                        if col.logical.is_json()
                            && serde_json::from_str::<&serde_json::value::RawValue>(s).is_ok() =>
                    {
                        Cell::Json(s.trim().to_string())
                    }
                    Ok(s) => Cell::Text(s.to_string()),
                    Err(_) => {
                        bad.push(BadCell {
                            column: col.name.clone(),
                            reason: "text is not valid UTF-8".into(),
                        });
                        Cell::Bytes(b.to_vec())
                    }
                },
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            });
        }
        if !f(cells, bad)? {
            break;
        }
    }
    Ok(n)
}

pub(super) fn count(c: &Connection, t: &TableRef, filter: Option<&Filter>) -> Result<u64> {
    let mut sql = format!("SELECT count(*) FROM {}", q(&t.name));
    if let Some(fl) = filter {
        sql.push_str(&format!(" WHERE ({})", fl.sql()));
    }
    let n: i64 = c
        .query_row(&sql, [], |r| r.get(0))
        .db_context("count rows")?;
    Ok(n as u64)
}

/// The smallest and largest value of an integer column, as text (`None`: no rows).
pub(super) fn min_max(c: &Connection, t: &TableRef, col: &str) -> Result<Option<(String, String)>> {
    let sql = format!(
        "SELECT CAST(min({k}) AS TEXT), CAST(max({k}) AS TEXT) FROM {}",
        q(&t.name),
        k = q(col)
    );
    let (a, b): (Option<String>, Option<String>) = c
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .db_context("read the shard key's bounds")?;
    Ok(a.zip(b))
}
