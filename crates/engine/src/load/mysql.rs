//! MySQL/MariaDB target: catalog types, `LOAD DATA LOCAL INFILE` from an in-memory stream,
//! batch apply with bisecting savepoints for row-level errors.

use super::cast::{CastRules, TType, Val};
use super::{Batch, Mode, TargetColumn, TargetTable};
use ferry_shared::sql::{load_data_escape, quote_mysql as q, LOAD_DATA_NULL};
use ferry_shared::{DbContext, DbError, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// Why applying rows failed: a row-level problem (bisect and reject) or anything else (stop).
enum ApplyErr {
    Row(String),
    Fatal(mysql_async::Error),
}

impl From<mysql_async::Error> for ApplyErr {
    fn from(e: mysql_async::Error) -> Self {
        if is_row_error(&e) {
            ApplyErr::Row(match &e {
                mysql_async::Error::Server(s) => s.message.clone(),
                other => other.to_string(),
            })
        } else {
            ApplyErr::Fatal(e)
        }
    }
}

/// Row-level errors: SQLSTATE 22xxx/23xxx and MySQL's value and constraint errors.
fn is_row_error(e: &mysql_async::Error) -> bool {
    // Not every 23000 is about a row (1052 "column is ambiguous" is one): list the codes.
    match e {
        mysql_async::Error::Server(s) => {
            s.state.starts_with("22")
                || matches!(
                    s.code,
                    1048 | 1062
                        | 1216
                        | 1217
                        | 1262
                        | 1263
                        | 1264
                        | 1265
                        | 1292
                        | 1366
                        | 1367
                        | 1406
                        | 1451
                        | 1452
                        | 1557
                        | 1586
                        | 1761
                        | 1762
                        | 3819
                        | 4025
                )
        }
        _ => false,
    }
}

/// One row of information_schema.COLUMNS as `describe` reads it. Named fields instead of a
/// nine-tuple, so the column each value comes from is visible where it is used.
struct MysqlColumnRow {
    name: String,
    data_type: String,
    column_type: String,
    /// `YES` or `NO`.
    is_nullable: String,
    max_len: Option<u64>,
    precision: Option<u64>,
    scale: Option<u64>,
    /// auto_increment, GENERATED, VIRTUAL, STORED…
    extra: String,
    default: Option<String>,
}

impl FromRow for MysqlColumnRow {
    /// Converts the columns in the order of [`COLUMNS_SQL`], as the equivalent tuple would.
    fn from_row_opt(row: mysql_async::Row) -> std::result::Result<Self, mysql_async::FromRowError> {
        let (name, data_type, column_type, is_nullable, max_len, precision, scale, extra, default) =
            FromRow::from_row_opt(row)?;
        Ok(MysqlColumnRow {
            name,
            data_type,
            column_type,
            is_nullable,
            max_len,
            precision,
            scale,
            extra,
            default,
        })
    }
}

/// The catalog query [`MysqlColumnRow`] reads.
const COLUMNS_SQL: &str =
    "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, \
     NUMERIC_PRECISION, NUMERIC_SCALE, EXTRA, COLUMN_DEFAULT \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";

/// Reads the target table's columns from information_schema. `None` when it does not exist.
pub async fn describe(c: &mut Conn, db: &str, table: &str) -> Result<Option<TargetTable>> {
    let rows: Vec<MysqlColumnRow> = c
        .exec(COLUMNS_SQL, (db, table))
        .await
        .db_context("read columns")?;
    if rows.is_empty() {
        return Ok(None);
    }
    let checks: Vec<String> = c
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
        .unwrap_or_default();
    let columns = rows
        .into_iter()
        .map(|row| target_column(row, &checks))
        .collect();
    let pk: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .db_context("read primary key")?;
    let unique: Option<u64> = c
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0",
            (db, table),
        )
        .await
        .db_context("read indexes")?;
    Ok(Some(TargetTable {
        columns,
        primary_key: pk,
        has_unique: unique.unwrap_or(0) > 0,
    }))
}

/// A catalog row as a loader column. `checks` are the table's CHECK clauses: MariaDB's JSON
/// is LONGTEXT with a `json_valid()` check.
fn target_column(row: MysqlColumnRow, checks: &[String]) -> TargetColumn {
    let is_json = checks
        .iter()
        .any(|ch| ch.replace(' ', "") == format!("json_valid({})", q(&row.name)));
    let ttype = target_type(&row, is_json);
    let extra = &row.extra;
    let generated =
        extra.contains("GENERATED") || extra.contains("VIRTUAL") || extra.contains("STORED");
    TargetColumn {
        ttype,
        nullable: row.is_nullable == "YES",
        has_default: row.default.is_some() || extra.contains("auto_increment"),
        writable: !generated,
        name: row.name,
    }
}

/// The cast type of a MySQL column, from its data type and full column type.
fn target_type(row: &MysqlColumnRow, is_json: bool) -> TType {
    let unsigned = row.column_type.contains("unsigned");
    let int = |bits: u32, bytes: u8| {
        if unsigned {
            TType::Int {
                min: 0,
                max: (1i128 << bits) - 1,
                bytes,
            }
        } else {
            TType::Int {
                min: -(1i128 << (bits - 1)),
                max: (1i128 << (bits - 1)) - 1,
                bytes,
            }
        }
    };
    let clamp = |v: Option<u64>| v.map(|v| v.min(u64::from(u32::MAX)) as u32);
    let max_len = row.max_len;
    match row.data_type.as_str() {
        "tinyint" => int(8, 2),
        "smallint" => int(16, 2),
        "mediumint" => int(24, 4),
        "int" | "integer" => int(32, 4),
        "bigint" => int(64, 8),
        "decimal" | "numeric" => TType::Numeric {
            precision: clamp(row.precision),
            scale: clamp(row.scale),
        },
        "float" => TType::Float4,
        "double" | "real" => TType::Float8,
        "json" => TType::Json { jsonb: false },
        "longtext" if is_json => TType::Json { jsonb: false },
        "char" | "varchar" => TType::Text {
            max_chars: clamp(max_len),
        },
        "tinytext" | "text" | "mediumtext" | "longtext" => TType::Text { max_chars: None },
        "binary" => TType::Bytes {
            max_bytes: clamp(max_len),
            fixed: true,
        },
        "varbinary" => TType::Bytes {
            max_bytes: clamp(max_len),
            fixed: false,
        },
        "tinyblob" | "blob" | "mediumblob" | "longblob" => TType::Bytes {
            max_bytes: clamp(max_len),
            fixed: false,
        },
        "date" => TType::Date,
        "datetime" => TType::Timestamp,
        "timestamp" => TType::TimestampTz,
        "time" => TType::Time { mysql: true },
        "year" => TType::Year,
        "enum" => TType::Enum(crate::source::parse_labels(&row.column_type)),
        "set" => TType::Set(crate::source::parse_labels(&row.column_type)),
        "bit" => TType::Bit(row.precision.unwrap_or(1) as u32),
        other => TType::Other(other.to_string()),
    }
}

/// MySQL's rules for casts.
pub fn rules() -> CastRules {
    CastRules {
        zero_dates: true,
        no_nul: false,
        strip_nul: false,
        finite_only: true,
    }
}

/// True when the column goes through a user variable (`@v`) and a SET expression.
fn via_variable(t: &TType) -> bool {
    matches!(t, TType::Bytes { .. } | TType::Bit(_))
}

/// Appends one row as a LOAD DATA line (tab-separated, backslash escapes, `\N` for NULL).
pub fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>) {
    use std::io::Write;
    for (i, (v, col)) in vals.iter().zip(cols).enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Val::Null => out.extend_from_slice(LOAD_DATA_NULL),
            Val::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
            Val::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Val::Numeric(s) => out.extend_from_slice(s.as_bytes()),
            Val::F4(f) => {
                // The exact double of the float: "3.4028235e38" would parse above FLT_MAX.
                let _ = write!(out, "{:?}", f64::from(*f));
            }
            Val::F8(f) => {
                let _ = write!(out, "{f:?}");
            }
            Val::Text(s) | Val::Json(s) => load_data_escape(s.as_bytes(), out),
            Val::Bytes(b) => {
                for x in b {
                    let _ = write!(out, "{x:02X}");
                }
            }
            Val::Date(d) => {
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
            Val::Ts(dt) => {
                let _ = write!(out, "{}", dt.format("%Y-%m-%d %H:%M:%S%.6f"));
            }
            Val::ZeroDate(with_time) => {
                out.extend_from_slice(if *with_time && !matches!(col.ttype, TType::Date) {
                    b"0000-00-00 00:00:00"
                } else {
                    b"0000-00-00"
                })
            }
            Val::Micros(us) => {
                out.extend_from_slice(ferry_shared::value::format_duration_micros(*us).as_bytes())
            }
            Val::Uuid(u) => {
                let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
                let _ = write!(
                    out,
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                );
            }
        }
    }
    out.push(b'\n');
}

/// A MySQL table being loaded.
pub struct MyTarget {
    conn: Conn,
    db: String,
    table: String,
    cols: Vec<String>,
    types: Vec<TType>,
    pk: Vec<String>,
    stage: bool,
}

impl MyTarget {
    /// Wraps a connection for loading `cols` (stream order, with their types) into `db.table`.
    pub fn new(
        conn: Conn,
        db: &str,
        table: &str,
        cols: Vec<(String, TType)>,
        pk: Vec<String>,
    ) -> Self {
        let (cols, types) = cols.into_iter().unzip();
        MyTarget {
            conn,
            db: db.into(),
            table: table.into(),
            cols,
            types,
            pk,
            stage: false,
        }
    }

    fn rel(&self) -> String {
        format!("{}.{}", q(&self.db), q(&self.table))
    }

    fn col_list(&self) -> String {
        ferry_shared::sql::quote_list(&self.cols, ferry_shared::sql::quote_mysql)
    }

    /// Empties the table (`--mode truncate`).
    pub async fn truncate(&mut self) -> Result<()> {
        let sql = format!("DELETE FROM {}", self.rel());
        self.conn.query_drop(sql).await.db_context("truncate")
    }

    /// LOAD DATA LOCAL turns errors into warnings and skips duplicate keys (the server cannot
    /// stop the client mid-file), so any warning, or fewer rows than sent, fails the range.
    async fn load_data(
        &mut self,
        into: &str,
        batch: &Batch,
        range: std::ops::Range<usize>,
    ) -> std::result::Result<u64, ApplyErr> {
        let n = range.len() as u64;
        let (start, end) = batch.byte_range(range);
        let data = bytes::Bytes::copy_from_slice(&batch.data[start..end]);
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(data)]);
        self.conn
            .set_infile_handler(async move { Ok(Box::pin(stream) as mysql_async::InfileData) });
        let mut targets = Vec::new();
        let mut sets = Vec::new();
        for (i, (c, t)) in self.cols.iter().zip(&self.types).enumerate() {
            if via_variable(t) {
                targets.push(format!("@v{i}"));
                sets.push(match t {
                    TType::Bit(_) => format!("{} = CAST(@v{i} AS UNSIGNED)", q(c)),
                    _ => format!("{} = UNHEX(@v{i})", q(c)),
                });
            } else {
                targets.push(q(c));
            }
        }
        let mut sql = format!(
            "LOAD DATA LOCAL INFILE 'ferry-batch' INTO TABLE {into} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
            targets.join(", ")
        );
        if !sets.is_empty() {
            sql.push_str(" SET ");
            sql.push_str(&sets.join(", "));
        }
        self.conn.query_drop(sql).await?;
        let affected = self.conn.affected_rows();
        if self.conn.get_warnings() > 0 || affected < n {
            let w: Option<(String, u32, String)> =
                self.conn.query_first("SHOW WARNINGS LIMIT 1").await?;
            let msg = w
                .map(|(_, code, m)| format!("{m} (MySQL {code})"))
                .unwrap_or_else(|| format!("{} of {n} rows written", affected));
            return Err(ApplyErr::Row(msg));
        }
        Ok(affected)
    }

    async fn apply(
        &mut self,
        batch: &Batch,
        range: std::ops::Range<usize>,
        mode: Mode,
    ) -> std::result::Result<(u64, u64), ApplyErr> {
        let n = range.len() as u64;
        match mode {
            Mode::Insert | Mode::Truncate => {
                let rel = self.rel();
                let loaded = self.load_data(&rel, batch, range).await?;
                Ok((loaded, n.saturating_sub(loaded)))
            }
            Mode::Ignore | Mode::Upsert => {
                if !self.stage {
                    let sql = format!(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS ferry_stage ENGINE=InnoDB SELECT {} FROM {} LIMIT 0",
                        self.col_list(),
                        self.rel()
                    );
                    self.conn.query_drop(sql).await?;
                    self.stage = true;
                }
                self.conn.query_drop("DELETE FROM ferry_stage").await?;
                self.load_data("ferry_stage", batch, range).await?;
                let cols = self.col_list();
                let rel = self.rel();
                let update: Vec<String> = if mode == Mode::Upsert {
                    self.cols
                        .iter()
                        .filter(|c| !self.pk.contains(c))
                        .map(|c| format!("{rel}.{} = VALUES({})", q(c), q(c)))
                        .collect()
                } else {
                    Vec::new()
                };
                // A no-op update skips existing keys without IGNORE's habit of turning
                // value errors into warnings.
                let action = if update.is_empty() {
                    let first = self
                        .pk
                        .first()
                        .or(self.cols.first())
                        .map(|c| q(c))
                        .unwrap_or_default();
                    format!("{rel}.{first} = {rel}.{first}")
                } else {
                    update.join(", ")
                };
                let sql = format!(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM ferry_stage ON DUPLICATE KEY UPDATE {action}",
                    self.rel()
                );
                self.conn.query_drop(sql).await?;
                let affected = self.conn.affected_rows();
                if mode == Mode::Upsert {
                    Ok((n, 0))
                } else {
                    let loaded = affected.min(n);
                    Ok((loaded, n - loaded))
                }
            }
        }
    }
}

impl super::BatchTarget for MyTarget {
    async fn exec(&mut self, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).await.db_context(sql)
    }

    async fn apply_range(
        &mut self,
        batch: &Batch,
        range: std::ops::Range<usize>,
        mode: Mode,
    ) -> std::result::Result<(u64, u64), super::ApplyError> {
        self.apply(batch, range, mode).await.map_err(|e| match e {
            ApplyErr::Row(reason) => super::ApplyError::Row {
                column: None,
                reason,
            },
            ApplyErr::Fatal(e) => {
                super::ApplyError::Fatal(DbError::wrap(format!("load {}", self.rel()), e).into())
            }
        })
    }

    fn begin_sql(&self) -> &'static str {
        "START TRANSACTION"
    }
}
