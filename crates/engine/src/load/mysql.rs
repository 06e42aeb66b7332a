//! MySQL/MariaDB target: catalog types, `LOAD DATA LOCAL INFILE` from an in-memory stream,
//! batch apply with bisecting savepoints for row-level errors.

use super::cast::{CastRules, Val};
use super::{Batch, Mode, TargetColumn, TargetTable};
use crate::digits::{push_hex_upper, push_int, push_num};
use crate::types::{MysqlColumnRow, MYSQL_COLUMNS_SQL};
use ferry_shared::schema::LogicalType;
use ferry_shared::sql::{load_data_escape, quote_mysql as q, LOAD_DATA_NULL};
use ferry_shared::stream::infile_pieces;
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

/// Reads the target table's columns from information_schema. `None` when it does not exist.
pub async fn describe(c: &mut Conn, db: &str, table: &str) -> Result<Option<TargetTable>> {
    let rows: Vec<MysqlColumnRow> = c
        .exec(MYSQL_COLUMNS_SQL, (db, table))
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

/// A catalog row as a loader column. `checks` are the table's CHECK clauses.
fn target_column(row: MysqlColumnRow, checks: &[String]) -> TargetColumn {
    let logical = row.logical(checks);
    let extra = &row.extra;
    let generated =
        extra.contains("GENERATED") || extra.contains("VIRTUAL") || extra.contains("STORED");
    TargetColumn {
        logical,
        nullable: row.is_nullable == "YES",
        has_default: row.default.is_some() || extra.contains("auto_increment"),
        writable: !generated,
        name: row.name,
    }
}

/// True when the column goes through a user variable (`@v`) and a SET expression.
fn via_variable(t: &LogicalType) -> bool {
    matches!(
        t,
        LogicalType::Bytes { .. } | LogicalType::Bit { .. } | LogicalType::Geometry
    )
}

/// Appends `YYYY-MM-DD`. Numbers, not chrono's `format`: parsing the format string again
/// for every value was a seventh of load-mysql's CPU (perf, 2M bench rows).
fn push_date(out: &mut Vec<u8>, d: &chrono::NaiveDate) {
    use chrono::Datelike;
    use std::io::Write;
    if let Ok(y @ 0..=9999) = u32::try_from(d.year()) {
        push_num(out, y, 4);
        out.push(b'-');
        push_num(out, d.month(), 2);
        out.push(b'-');
        push_num(out, d.day(), 2);
    } else {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS`, then `.ffffff` unless the seconds are whole (see
/// [`push_date`]). Seven bytes fewer per value for the server to parse, and the same value.
fn push_datetime(out: &mut Vec<u8>, dt: &chrono::NaiveDateTime) {
    use chrono::Timelike;
    use std::io::Write;
    if !(0..=9999).contains(&chrono::Datelike::year(dt)) || dt.nanosecond() >= 1_000_000_000 {
        let fraction = if dt.nanosecond() == 0 { "" } else { "%.6f" };
        let _ = write!(
            out,
            "{}",
            dt.format(&format!("%Y-%m-%d %H:%M:%S{fraction}"))
        );
        return;
    }
    push_date(out, &dt.date());
    out.push(b' ');
    push_num(out, dt.hour(), 2);
    out.push(b':');
    push_num(out, dt.minute(), 2);
    out.push(b':');
    push_num(out, dt.second(), 2);
    if dt.nanosecond() != 0 {
        out.push(b'.');
        push_num(out, dt.nanosecond() / 1000, 6);
    }
}

/// Appends one row as a LOAD DATA line (tab-separated, backslash escapes, `\N` for NULL).
fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>) {
    use std::io::Write;
    for (i, (v, col)) in vals.iter().zip(cols).enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Val::Null => out.extend_from_slice(LOAD_DATA_NULL),
            Val::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
            Val::Int(n) => push_int(out, *n),
            Val::Numeric(s) => out.extend_from_slice(s.as_bytes()),
            Val::F4(f) => {
                // The exact double of the float: "3.4028235e38" would parse above FLT_MAX.
                let _ = write!(out, "{:?}", f64::from(*f));
            }
            Val::F8(f) => {
                let _ = write!(out, "{f:?}");
            }
            Val::Text(s) | Val::Json(s) => load_data_escape(s.as_bytes(), out),
            Val::Bytes(b) => push_hex_upper(out, b),
            Val::Date(d) => push_date(out, d),
            Val::Ts(dt) => push_datetime(out, dt),
            // The cast refuses infinity for MySQL; written as text, the server would too.
            Val::Infinity(positive) => {
                out.extend_from_slice(if *positive { b"infinity" } else { b"-infinity" })
            }
            Val::ZeroDate(z) => {
                let with_time = !matches!(col.logical, LogicalType::Date);
                out.extend_from_slice(z.mysql_text(with_time).as_bytes());
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
    types: Vec<LogicalType>,
    pk: Vec<String>,
    stage: bool,
    /// The server's max_allowed_packet.
    max_packet: usize,
}

impl MyTarget {
    /// Wraps a connection for loading `cols` (stream order, with their types) into `db.table`.
    pub fn new(
        conn: Conn,
        db: &str,
        table: &str,
        cols: Vec<(String, LogicalType)>,
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
            max_packet: 16 << 20,
        }
    }

    /// Reads the server's max_allowed_packet: no row over it can be sent.
    pub async fn read_limits(mut self) -> Result<Self> {
        let n: Option<u64> = self
            .conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .db_context("read max_allowed_packet")?;
        if let Some(n) = n {
            self.max_packet = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(self)
    }

    fn rel(&self) -> String {
        format!("{}.{}", q(&self.db), q(&self.table))
    }

    fn col_list(&self) -> String {
        ferry_shared::sql::quote_list(&self.cols, ferry_shared::sql::quote_mysql)
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
        let chunks = infile_pieces(bytes::Bytes::copy_from_slice(&batch.data[start..end]));
        let stream = futures_util::stream::iter(chunks);
        self.conn
            .set_infile_handler(async move { Ok(Box::pin(stream) as mysql_async::InfileData) });
        let mut targets = Vec::new();
        let mut sets = Vec::new();
        for (i, (c, t)) in self.cols.iter().zip(&self.types).enumerate() {
            if via_variable(t) {
                targets.push(format!("@v{i}"));
                sets.push(match t {
                    LogicalType::Bit { .. } => format!("{} = CAST(@v{i} AS UNSIGNED)", q(c)),
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

impl super::Target for MyTarget {
    const BEGIN: &'static str = "START TRANSACTION";
    const QUOTE: fn(&str) -> String = ferry_shared::sql::quote_mysql;

    /// LOAD DATA takes every type as text (bytes and bits through a SET expression).
    fn supports(_: &LogicalType) -> bool {
        true
    }

    fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>) {
        encode_row(vals, cols, out);
    }

    fn rules(&self) -> CastRules {
        CastRules {
            zero_dates: true,
            zero_date: super::cast::ZeroDatePolicy::Reject,
            no_nul: false,
            strip_nul: false,
            finite_only: true,
            mysql_geometry: true,
            four_digit_years: true,
        }
    }

    /// The staging table is made once, outside any batch's transaction.
    async fn prepare(&mut self, mode: Mode) -> Result<()> {
        if self.stage || !matches!(mode, Mode::Ignore | Mode::Upsert) {
            return Ok(());
        }
        let sql = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS ferry_stage ENGINE=InnoDB SELECT {} FROM {} LIMIT 0",
            self.col_list(),
            self.rel()
        );
        self.conn
            .query_drop(sql)
            .await
            .with_db_context(|| format!("staging table for {}", self.rel()))?;
        self.stage = true;
        Ok(())
    }

    async fn truncate(&mut self, scope: Option<&str>) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            self.rel(),
            scope.unwrap_or("TRUE")
        );
        self.conn.query_drop(sql).await.db_context("truncate")
    }

    async fn try_lock(&mut self, name: &str) -> Result<bool> {
        // Lock names are at most 64 characters: a digest of the name stands for it.
        let digest = format!(
            "ferry:{:032x}",
            xxhash_rust::xxh3::xxh3_128(name.as_bytes())
        );
        let got: Option<Option<i64>> = self
            .conn
            // A few seconds: a killed run's connection may not be gone yet.
            .exec_first("SELECT GET_LOCK(?, 10)", (digest,))
            .await
            .db_context("take the shard's lock")?;
        Ok(got.flatten() == Some(1))
    }

    async fn has_rows(&mut self, scope: Option<&str>) -> Result<bool> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
            self.rel(),
            scope.unwrap_or("TRUE")
        );
        let n: Option<i64> = self
            .conn
            .query_first(sql)
            .await
            .db_context("look for rows")?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// A row (one LOAD DATA line) must fit max_allowed_packet, with room for the protocol.
    fn max_row_bytes(&self) -> Option<usize> {
        Some(self.max_packet.saturating_sub(1024))
    }

    fn max_batch_bytes(&self) -> usize {
        (64 << 20).min(self.max_packet.saturating_sub(1024)).max(1)
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written date formats equal chrono's, the ones they replace.
    #[test]
    fn dates_as_chrono_formats_them() {
        for (d, t) in [
            ((2021, 5, 13), (8, 1, 5, 0)),
            ((1, 1, 1), (0, 0, 0, 7)),
            ((9999, 12, 31), (23, 59, 59, 999_999)),
            ((0, 2, 29), (10, 9, 8, 70)),
            ((12_345, 6, 7), (1, 2, 3, 4)),
            ((-44, 3, 15), (12, 0, 0, 0)),
        ] {
            let date = chrono::NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap();
            let dt = date.and_hms_micro_opt(t.0, t.1, t.2, t.3).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_date(&mut a, &date);
            push_datetime(&mut b, &dt);
            assert_eq!(
                String::from_utf8(a).unwrap(),
                date.format("%Y-%m-%d").to_string()
            );
            let whole = dt.format("%Y-%m-%d %H:%M:%S").to_string();
            let fraction = dt.format("%.6f").to_string();
            let want = match t.3 {
                0 => whole,
                _ => whole + &fraction,
            };
            assert_eq!(String::from_utf8(b).unwrap(), want);
        }
    }
}
