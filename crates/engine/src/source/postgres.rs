//! PostgreSQL reads: pg_catalog for the schema, `COPY (SELECT …) TO STDOUT` for rows (one
//! streamed, back-pressured result per page; every type's text output is lossless).

use super::KeysetPage;
use super::{BadCell, Cell, Scan, TableRef};
use ferry_shared::conn::Engine;
use ferry_shared::pattern::TablePattern;
use ferry_shared::schema::{ColumnSchema, LogicalType, TableSchema};
use ferry_shared::sql::{literal_pg, quote_pg as q};
use ferry_shared::user_sql::Filter;
use ferry_shared::value::{format_naive, format_utc};
use ferry_shared::{DbContext, FerryError, Result};
use futures_util::StreamExt;
use tokio_postgres::Client;

pub(super) async fn list_tables(
    c: &Client,
    default_schema: &str,
    patterns: &[TablePattern],
) -> Result<Vec<TableRef>> {
    let rows = c
        .query(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
            &[],
        )
        .await
        .db_context("list tables")?;
    Ok(rows
        .iter()
        .map(|r| TableRef {
            db: r.get(0),
            name: r.get(1),
        })
        .filter(|t| {
            patterns.iter().any(|p| match p.db() {
                None => t.db == default_schema && p.matches(&t.db, &t.name),
                Some(_) => p.matches(&t.db, &t.name),
            })
        })
        .collect())
}

pub(super) async fn describe(c: &Client, t: &TableRef) -> Result<TableSchema> {
    let rel = format!("{}.{}", q(&t.db), q(&t.name));
    let oid_row = c
        .query_opt("SELECT to_regclass($1)::oid", &[&rel])
        .await
        .db_context("find table")?;
    let oid: Option<u32> = oid_row.and_then(|r| r.get(0));
    let Some(oid) = oid else {
        return Err(FerryError::NotFound(format!(
            "table {:?} not found in schema {:?}",
            t.name, t.db
        )));
    };
    let rows = c
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, ty.typname, \
             ty.typtype::text, a.atttypmod, \
             CASE WHEN ty.typtype = 'e' THEN ARRAY(SELECT enumlabel::text FROM pg_enum e \
                  WHERE e.enumtypid = ty.oid ORDER BY e.enumsortorder) END \
             FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .db_context("read columns")?;
    let columns = rows
        .iter()
        .map(|r| PgColumnRow::from_row(r).into_schema())
        .collect();
    let pk_rows = c
        .query(
            "SELECT a.attname FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1 AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&oid],
        )
        .await
        .db_context("read primary key")?;
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: t.name.clone(),
        database: Some(t.db.clone()),
        engine: Engine::Postgres,
        columns,
        primary_key: pk_rows.iter().map(|r| r.get(0)).collect(),
        row_count: None,
        checksum: None,
        shard: None,
    })
}

/// One row of the pg_attribute/pg_type query in `describe`. Named fields instead of
/// positional `get(n)` calls, so the column each value comes from is visible where it is used.
struct PgColumnRow {
    name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`.
    formatted_type: String,
    nullable: bool,
    typname: String,
    /// `b` base, `e` enum, `d` domain…
    typtype: String,
    typmod: i32,
    /// Enum labels in sort order (enums only).
    labels: Option<Vec<String>>,
}

impl PgColumnRow {
    /// Reads the columns in the order `describe` selects them.
    fn from_row(r: &tokio_postgres::Row) -> Self {
        PgColumnRow {
            name: r.get(0),
            formatted_type: r.get(1),
            nullable: r.get(2),
            typname: r.get(3),
            typtype: r.get(4),
            typmod: r.get(5),
            labels: r.get(6),
        }
    }

    /// The column's schema.
    fn into_schema(self) -> ColumnSchema {
        ColumnSchema {
            logical: crate::types::pg(&self.typname, &self.typtype, self.typmod, self.labels),
            name: self.name,
            source_type: self.formatted_type,
            nullable: self.nullable,
        }
    }
}

pub(super) async fn describe_query(c: &Client, sql: &str, name: &str) -> Result<TableSchema> {
    let stmt = c.prepare(sql).await.db_context("prepare query")?;
    let columns = stmt
        .columns()
        .iter()
        .map(|col| ColumnSchema {
            name: col.name().to_string(),
            source_type: col.type_().name().to_string(),
            logical: crate::types::pg(col.type_().name(), "b", -1, None),
            nullable: true,
        })
        .collect();
    Ok(TableSchema {
        version: TableSchema::VERSION,
        table: name.to_string(),
        database: None,
        engine: Engine::Postgres,
        columns,
        primary_key: Vec::new(),
        row_count: None,
        checksum: None,
        shard: None,
    })
}

fn literal(c: &Cell) -> String {
    match c {
        Cell::Null => "NULL".into(),
        Cell::Bool(b) => b.to_string(),
        Cell::I64(v) => v.to_string(),
        Cell::U64(v) => v.to_string(),
        Cell::F32(v) => literal_pg(&v.to_string()),
        Cell::F64(v) => literal_pg(&v.to_string()),
        Cell::Text(s) | Cell::Json(s) => literal_pg(s),
        Cell::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("'\\x{hex}'::bytea")
        }
    }
}

/// Builds the keyset page query. Text keys compare and sort in byte order (COLLATE "C") so
/// that pages never skip or repeat a row and every engine agrees on the order; the last key
/// is written as literals.
fn page_sql(t: &TableRef, schema: &TableSchema, scan: &Scan) -> String {
    let keys = schema
        .primary_key
        .iter()
        .map(|k| match schema.column(k).map(|c| &c.logical) {
            Some(LogicalType::Text { .. }) => format!("{} COLLATE \"C\"", q(k)),
            _ => q(k),
        })
        .collect();
    KeysetPage {
        from: format!("{}.{}", q(&t.db), q(&t.name)),
        quote: q,
        keys,
        order: None,
        after: scan.after.as_ref().map(|a| a.iter().map(literal).collect()),
    }
    .sql(schema, scan)
}

pub(super) async fn scan(
    c: &Client,
    t: &TableRef,
    schema: &TableSchema,
    scan: &Scan,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    scan_sql(c, &page_sql(t, schema, scan), schema, f).await
}

pub(super) async fn scan_sql(
    c: &Client,
    sql: &str,
    schema: &TableSchema,
    f: &mut dyn FnMut(Vec<Cell>, Vec<BadCell>) -> Result<bool>,
) -> Result<u64> {
    let copy = format!("COPY ({sql}) TO STDOUT");
    let stream = c
        .copy_out(&copy)
        .await
        .with_db_context(|| format!("read {}", schema.table))?;
    futures_util::pin_mut!(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut n = 0u64;
    let mut more = true;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_db_context(|| format!("read {}", schema.table))?;
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + pos];
            if more {
                n += 1;
                let mut bad = Vec::new();
                let cells = parse_copy_line(line, schema, &mut bad);
                more = f(cells, bad)?;
            }
            start += pos + 1;
        }
        buf.drain(..start);
    }
    Ok(n)
}

/// Splits a COPY text line into cells.
fn parse_copy_line(line: &[u8], schema: &TableSchema, bad: &mut Vec<BadCell>) -> Vec<Cell> {
    line.split(|&b| b == b'\t')
        .zip(&schema.columns)
        .map(|(field, col)| {
            if field == ferry_shared::sql::LOAD_DATA_NULL {
                return Cell::Null;
            }
            let raw = unescape(field);
            match String::from_utf8(raw) {
                Ok(s) => text_cell(s, &col.logical),
                Err(e) => {
                    bad.push(BadCell {
                        column: col.name.clone(),
                        reason: "text is not valid UTF-8".into(),
                    });
                    Cell::Bytes(e.into_bytes())
                }
            }
        })
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    if !field.contains(&b'\\') {
        return field.to_vec();
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b != b'\\' || i + 1 >= field.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let n = field[i + 1];
        i += 2;
        match n {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(n - b'0');
                let mut k = 0;
                while k < 2 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + u32::from(field[i] - b'0');
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u8;
                let mut k = 0;
                while k < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap_or(0) as u8;
                    i += 1;
                    k += 1;
                }
                out.push(v);
            }
            other => out.push(other),
        }
    }
    out
}

/// PostgreSQL writes years before 1 AD as `0001-05-10 BC`: the text without the suffix, and
/// whether it had it.
fn before_christ(s: &str) -> (&str, bool) {
    match s.strip_suffix(" BC") {
        Some(t) => (t, true),
        None => (s, false),
    }
}

/// ISO 8601 counts years astronomically: 1 BC is year 0, 2 BC is year -1.
fn bc_year<T: chrono::Datelike + Copy>(d: T, bc: bool) -> T {
    if bc {
        d.with_year(1 - d.year()).unwrap_or(d)
    } else {
        d
    }
}

/// PostgreSQL text output → cell.
pub(crate) fn text_cell(s: String, logical: &LogicalType) -> Cell {
    match logical {
        LogicalType::Bool => Cell::Bool(s == "t" || s == "true"),
        LogicalType::Int { .. } | LogicalType::Year => {
            s.parse().map(Cell::I64).unwrap_or(Cell::Text(s))
        }
        LogicalType::Float32 => s.parse().map(Cell::F32).unwrap_or(Cell::Text(s)),
        LogicalType::Float64 => s.parse().map(Cell::F64).unwrap_or(Cell::Text(s)),
        LogicalType::Bytes { .. } => match s.strip_prefix("\\x") {
            Some(hex) => Cell::Bytes(
                (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect(),
            ),
            None => Cell::Bytes(s.into_bytes()),
        },
        LogicalType::Json | LogicalType::Jsonb => Cell::Json(s),
        // Bit strings are written as unsigned integers when they fit one.
        LogicalType::Bit { .. } => match u64::from_str_radix(&s, 2) {
            Ok(v) if i64::try_from(v).is_ok() => Cell::I64(v as i64),
            _ => Cell::Text(s),
        },
        // ISO dates pass as they are; only a `BC` one is rewritten (parsing every date would
        // cost the extract's hot path for nothing).
        LogicalType::Date => match s
            .strip_suffix(" BC")
            .and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        {
            Some(d) => Cell::Text(bc_year(d, true).format("%Y-%m-%d").to_string()),
            None => Cell::Text(s),
        },
        LogicalType::DateTime => {
            let (t, bc) = before_christ(&s);
            match chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f") {
                Ok(dt) => Cell::Text(format_naive(&bc_year(dt, bc))),
                Err(_) => Cell::Text(s),
            }
        }
        LogicalType::Timestamp => {
            let (t, bc) = before_christ(&s);
            match chrono::DateTime::parse_from_str(&format!("{t}00"), "%Y-%m-%d %H:%M:%S%.f%z")
                .or_else(|_| chrono::DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z"))
            {
                Ok(dt) => Cell::Text(format_utc(&bc_year(dt.naive_utc(), bc))),
                Err(_) => Cell::Text(s),
            }
        }
        LogicalType::Time | LogicalType::TimeOfDay => {
            match chrono::NaiveTime::parse_from_str(&s, "%H:%M:%S%.f") {
                Ok(t) => Cell::Text(ferry_shared::value::format_time(&t)),
                Err(_) => Cell::Text(s),
            }
        }
        _ => Cell::Text(s),
    }
}

/// Counts the rows (an extended-protocol query: one statement only).
pub(super) async fn count(c: &Client, t: &TableRef, filter: Option<&Filter>) -> Result<u64> {
    let mut sql = format!("SELECT count(*) FROM {}.{}", q(&t.db), q(&t.name));
    if let Some(f) = filter {
        sql.push_str(&format!(" WHERE ({})", f.sql()));
    }
    let row = c.query_one(&sql, &[]).await.db_context("count rows")?;
    let n: i64 = row.get(0);
    Ok(n as u64)
}

/// The smallest and largest value of an integer column, as text (`None`: no rows).
pub(super) async fn min_max(
    c: &Client,
    t: &TableRef,
    col: &str,
) -> Result<Option<(String, String)>> {
    let sql = format!(
        "SELECT min({k})::text, max({k})::text FROM {}.{}",
        q(&t.db),
        q(&t.name),
        k = q(col)
    );
    let row = c
        .query_one(&sql, &[])
        .await
        .db_context("read the shard key's bounds")?;
    let (a, b): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    Ok(a.zip(b))
}
