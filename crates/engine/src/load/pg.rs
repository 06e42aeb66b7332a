//! PostgreSQL target: catalog types, binary COPY encoding, batch apply with bisecting
//! savepoints so that one bad row is rejected without losing its neighbours.

use super::cast::{CastRules, Val};
use super::{Batch, Mode, TargetColumn, TargetTable};
use ferry_shared::schema::LogicalType;
use ferry_shared::sql::quote_pg as q;
use ferry_shared::{DbContext, DbError, DriverError, Result};
use futures_util::SinkExt;
use tokio_postgres::Client;

const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Row-level errors: data exceptions (22) and integrity violations (23).
fn is_row_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| matches!(&db.code().code()[..2], "22" | "23"))
}

/// One row of the pg_attribute/pg_type query in [`describe`]. Named fields instead of
/// positional `get(n)` calls, so the column each value comes from is visible where it is used.
struct PgTargetColumnRow {
    name: String,
    typname: String,
    typmod: i32,
    not_null: bool,
    /// `b` base, `e` enum, `d` domain…
    typtype: String,
    /// Enum labels in sort order (enums only).
    labels: Option<Vec<String>>,
    /// Generated or `GENERATED ALWAYS AS IDENTITY`: not writable.
    generated: bool,
    has_default: bool,
}

impl PgTargetColumnRow {
    /// Reads the columns in the order [`describe`] selects them.
    fn from_row(r: &tokio_postgres::Row) -> Self {
        PgTargetColumnRow {
            name: r.get(0),
            typname: r.get(1),
            typmod: r.get(2),
            not_null: r.get(3),
            typtype: r.get(4),
            labels: r.get(5),
            generated: r.get(6),
            has_default: r.get(7),
        }
    }

    /// The loader's view of the column.
    fn into_column(self) -> TargetColumn {
        TargetColumn {
            logical: crate::types::pg(&self.typname, &self.typtype, self.typmod, self.labels),
            name: self.name,
            nullable: !self.not_null,
            has_default: self.has_default,
            writable: !self.generated,
        }
    }
}

/// Reads the target table's columns from pg_catalog. `None` when the table does not exist.
pub async fn describe(c: &Client, schema: &str, table: &str) -> Result<Option<TargetTable>> {
    let rel = format!("{}.{}", q(schema), q(table));
    let oid: Option<u32> = c
        .query_one("SELECT to_regclass($1)::oid", &[&rel])
        .await
        .db_context("find table")?
        .get(0);
    let Some(oid) = oid else { return Ok(None) };
    let rows = c
        .query(
            "SELECT a.attname, t.typname, a.atttypmod, a.attnotnull, t.typtype::text, \
             CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT enumlabel::text FROM pg_enum e \
                  WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END, \
             a.attgenerated::text <> '' OR a.attidentity::text = 'a', a.atthasdef \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .db_context("read columns")?;
    let columns = rows
        .iter()
        .map(|r| PgTargetColumnRow::from_row(r).into_column())
        .collect();
    let pk: Vec<String> = c
        .query(
            "SELECT a.attname FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&oid],
        )
        .await
        .db_context("read primary key")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let unique: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = $1 AND indisunique",
            &[&oid],
        )
        .await
        .db_context("read indexes")?
        .get(0);
    Ok(Some(TargetTable {
        columns,
        primary_key: pk,
        has_unique: unique > 0,
    }))
}

const PG_EPOCH_DAYS: i64 = 10957; // 2000-01-01 - 1970-01-01

/// Appends one row in COPY BINARY format.
fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>) {
    out.extend_from_slice(&(vals.len() as i16).to_be_bytes());
    for (v, col) in vals.iter().zip(cols) {
        encode_value(v, col, out);
    }
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn encode_value(v: &Val<'_>, col: &TargetColumn, out: &mut Vec<u8>) {
    match v {
        Val::Null | Val::ZeroDate(_) => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Val::Bool(b) => field(out, &[u8::from(*b)]),
        Val::Int(i) => match &col.logical {
            LogicalType::Int { bits: 16, .. } => field(out, &(*i as i16).to_be_bytes()),
            LogicalType::Int { bits: 32, .. } => field(out, &(*i as i32).to_be_bytes()),
            LogicalType::Bit { bits: n } => {
                let n = *n;
                let nbytes = n.div_ceil(8) as usize;
                let shifted = (*i as u128) << (nbytes as u32 * 8 - n);
                let be = shifted.to_be_bytes();
                out.extend_from_slice(&(4 + nbytes as i32).to_be_bytes());
                out.extend_from_slice(&(n as i32).to_be_bytes());
                out.extend_from_slice(&be[16 - nbytes..]);
            }
            LogicalType::Decimal { .. } => encode_numeric(itoa::Buffer::new().format(*i), out),
            _ => field(out, &(*i as i64).to_be_bytes()),
        },
        Val::Numeric(s) => encode_numeric(s, out),
        Val::F4(f) => field(out, &f.to_bits().to_be_bytes()),
        Val::F8(f) => match col.logical {
            LogicalType::Float32 => field(out, &(*f as f32).to_bits().to_be_bytes()),
            _ => field(out, &f.to_bits().to_be_bytes()),
        },
        Val::Text(s) => field(out, s.as_bytes()),
        Val::Bytes(b) => field(out, b),
        Val::Json(s) => match col.logical {
            LogicalType::Jsonb => {
                out.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                out.push(1);
                out.extend_from_slice(s.as_bytes());
            }
            _ => field(out, s.as_bytes()),
        },
        Val::Date(d) => {
            let days = d
                .signed_duration_since(
                    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default(),
                )
                .num_days()
                - PG_EPOCH_DAYS;
            field(out, &(days as i32).to_be_bytes());
        }
        // PostgreSQL's own infinities: the extreme values of the binary forms.
        Val::Infinity(positive) => match (col.logical == LogicalType::Date, positive) {
            (true, true) => field(out, &i32::MAX.to_be_bytes()),
            (true, false) => field(out, &i32::MIN.to_be_bytes()),
            (false, true) => field(out, &i64::MAX.to_be_bytes()),
            (false, false) => field(out, &i64::MIN.to_be_bytes()),
        },
        Val::Ts(dt) => {
            let us = dt.and_utc().timestamp_micros() - PG_EPOCH_DAYS * 86_400_000_000;
            field(out, &us.to_be_bytes());
        }
        Val::Micros(us) => match col.logical {
            LogicalType::Interval => {
                out.extend_from_slice(&16i32.to_be_bytes());
                out.extend_from_slice(&us.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
            }
            _ => field(out, &us.to_be_bytes()),
        },
        Val::Uuid(u) => field(out, u),
    }
}

/// NUMERIC binary: ndigits, weight, sign, dscale, then base-10000 digits. One allocation:
/// this runs for every decimal value of a load.
fn encode_numeric(s: &str, out: &mut Vec<u8>) {
    if s == "NaN" {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0xC0, 0, 0, 0]);
        return;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    let ip = ip.trim_start_matches('0').as_bytes();
    let fp_b = fp.as_bytes();
    let dscale = fp.len() as u16;
    // Digits laid out as: `pad` zeros, the integer digits, the fraction digits, zeros to a
    // multiple of four; every four make one base-10000 digit.
    let pad = (4 - ip.len() % 4) % 4;
    let total = (pad + ip.len() + fp_b.len()).div_ceil(4) * 4;
    // The padded digits, laid out once (on the stack for up to 64 digits, the usual case),
    // so each base-10000 digit is four plain reads.
    let mut stack = [b'0'; 64];
    let mut heap = Vec::new();
    let laid: &mut [u8] = if total <= stack.len() {
        &mut stack[..total]
    } else {
        heap.resize(total, b'0');
        &mut heap
    };
    laid[pad..pad + ip.len()].copy_from_slice(ip);
    laid[pad + ip.len()..pad + ip.len() + fp_b.len()].copy_from_slice(fp_b);
    // The header (length, ndigits, weight, sign, dscale) is patched in once the base-10000
    // digits are out: written straight into `out`, leading zero groups dropped (each lowers
    // the weight), trailing ones never written.
    let head = out.len();
    out.extend_from_slice(&[0; 12]);
    let mut weight = ((pad + ip.len()) / 4) as i16 - 1;
    let (mut started, mut zeros) = (false, 0usize);
    for g in 0..total / 4 {
        let v = laid[g * 4..g * 4 + 4]
            .iter()
            .fold(0i16, |a, d| a * 10 + i16::from(d - b'0'));
        match (v, started) {
            (0, false) => weight -= 1,
            (0, true) => zeros += 1,
            _ => {
                for _ in 0..std::mem::take(&mut zeros) {
                    out.extend_from_slice(&[0, 0]);
                }
                out.extend_from_slice(&v.to_be_bytes());
                started = true;
            }
        }
    }
    let n = (out.len() - head - 12) / 2;
    if n == 0 {
        weight = 0;
    }
    let sign: u16 = if neg && n > 0 { 0x4000 } else { 0 };
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&(8 + 2 * n as i32).to_be_bytes());
    h[4..6].copy_from_slice(&(n as i16).to_be_bytes());
    h[6..8].copy_from_slice(&weight.to_be_bytes());
    h[8..10].copy_from_slice(&sign.to_be_bytes());
    h[10..].copy_from_slice(&dscale.to_be_bytes());
    out[head..head + 12].copy_from_slice(&h);
}

/// A PostgreSQL table being loaded.
pub struct PgTarget {
    client: Client,
    schema: String,
    table: String,
    cols: Vec<String>,
    pk: Vec<String>,
    stage: bool,
    strip_nul: bool,
    zero_date: super::cast::ZeroDatePolicy,
    journal: Option<fs_err::File>,
    inserted: Vec<tokio_postgres::Row>,
    /// A statement committed with the next batch ([`PgTarget::commit_with`]).
    commit_with: Option<String>,
}

impl PgTarget {
    /// Wraps a connection for loading `cols` (stream order) into `schema.table`.
    pub fn new(
        client: Client,
        schema: &str,
        table: &str,
        cols: Vec<String>,
        pk: Vec<String>,
    ) -> Self {
        PgTarget {
            client,
            schema: schema.into(),
            table: table.into(),
            cols,
            pk,
            stage: false,
            strip_nul: false,
            zero_date: super::cast::ZeroDatePolicy::default(),
            journal: None,
            inserted: Vec::new(),
            commit_with: None,
        }
    }

    /// A statement (the caller's own, built from trusted parts) that the next batch runs
    /// just before its COMMIT, so it commits with those rows or not at all.
    pub fn commit_with(&mut self, sql: String) {
        self.commit_with = Some(sql);
    }

    /// Removes U+0000 from text instead of rejecting the row (`--nul strip`; each removal
    /// is counted as a conversion).
    pub fn strip_nul(mut self, strip: bool) -> Self {
        self.strip_nul = strip;
        self
    }

    /// What becomes of MySQL zero dates (`--zero-date`).
    pub fn zero_date(mut self, policy: super::cast::ZeroDatePolicy) -> Self {
        self.zero_date = policy;
        self
    }

    /// Records the primary key of every row an `ignore` load really inserts, one JSON array
    /// of key texts per line, written and synced before the transaction commits. A crash
    /// can leave keys of rows that were rolled back (deleting those later is a no-op) but
    /// never lose the key of a committed row: this is what makes a rollback exact.
    pub fn journal_to(&mut self, path: &std::path::Path) -> Result<()> {
        let f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        self.journal = Some(f);
        Ok(())
    }

    fn write_journal(&mut self, rows: &[tokio_postgres::Row]) -> Result<()> {
        use std::io::Write;
        let Some(f) = &mut self.journal else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for r in rows {
            let keys: Vec<Option<String>> = (0..r.len()).map(|i| r.get(i)).collect();
            serde_json::to_writer(&mut buf, &keys).map_err(std::io::Error::from)?;
            buf.push(b'\n');
        }
        f.write_all(&buf)?;
        f.sync_data()?;
        Ok(())
    }

    fn rel(&self) -> String {
        format!("{}.{}", q(&self.schema), q(&self.table))
    }

    fn col_list(&self) -> String {
        ferry_shared::sql::quote_list(&self.cols, ferry_shared::sql::quote_pg)
    }

    async fn copy(
        &self,
        into: &str,
        batch: &Batch,
        range: std::ops::Range<usize>,
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let sql = format!(
            "COPY {into} ({}) FROM STDIN (FORMAT binary)",
            self.col_list()
        );
        let sink = self.client.copy_in::<_, bytes::Bytes>(&sql).await?;
        futures_util::pin_mut!(sink);
        sink.feed(bytes::Bytes::from_static(COPY_HEADER)).await?;
        let (start, end) = batch.byte_range(range);
        let data = &batch.data[start..end];
        for chunk in data.chunks(1 << 20) {
            sink.feed(bytes::Bytes::copy_from_slice(chunk)).await?;
        }
        sink.feed(bytes::Bytes::from_static(COPY_TRAILER)).await?;
        sink.finish().await
    }

    async fn apply(
        &mut self,
        batch: &Batch,
        range: std::ops::Range<usize>,
        mode: Mode,
    ) -> std::result::Result<(u64, u64), tokio_postgres::Error> {
        let n = range.len() as u64;
        match mode {
            Mode::Insert | Mode::Truncate => {
                let rel = self.rel();
                let loaded = self.copy(&rel, batch, range).await?;
                Ok((loaded, 0))
            }
            Mode::Ignore | Mode::Upsert => {
                self.client.batch_execute("TRUNCATE ferry_stage").await?;
                self.copy("ferry_stage", batch, range).await?;
                let cols = self.col_list();
                let sql = if mode == Mode::Ignore || self.pk.is_empty() {
                    format!("INSERT INTO {} ({cols}) SELECT {cols} FROM ferry_stage ON CONFLICT DO NOTHING", self.rel())
                } else {
                    let pk = self.pk.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
                    let sets: Vec<String> = self
                        .cols
                        .iter()
                        .filter(|c| !self.pk.contains(c))
                        .map(|c| format!("{} = EXCLUDED.{}", q(c), q(c)))
                        .collect();
                    let action = if sets.is_empty() {
                        "DO NOTHING".to_string()
                    } else {
                        format!("DO UPDATE SET {}", sets.join(", "))
                    };
                    // The last occurrence of a key in the batch wins, as it would row by row.
                    format!(
                        "INSERT INTO {} ({cols}) SELECT DISTINCT ON ({pk}) {cols} FROM ferry_stage \
                         ORDER BY {pk}, ctid DESC ON CONFLICT ({pk}) {action}",
                        self.rel()
                    )
                };
                let written =
                    if self.journal.is_some() && mode == Mode::Ignore && !self.pk.is_empty() {
                        let keys: Vec<String> =
                            self.pk.iter().map(|c| format!("{}::text", q(c))).collect();
                        let rows = self
                            .client
                            .query(&format!("{sql} RETURNING {}", keys.join(", ")), &[])
                            .await?;
                        let n = rows.len() as u64;
                        self.inserted = rows;
                        n
                    } else {
                        self.client.execute(&sql, &[]).await?
                    };
                if mode == Mode::Upsert {
                    Ok((n, 0))
                } else {
                    Ok((written, n - written))
                }
            }
        }
    }
}

/// The marker a load leaves on a table it created without its primary key.
const PENDING_KEY: &str = "pending-primary-key=";

/// The comment that marks a table whose primary key `cols` a load will build at its end.
pub fn pending_key_comment(cols: &[String]) -> String {
    format!(
        "ferry: load-postgres is loading this table and builds its primary key when the load ends; if the load stopped, continue it with --resume. {PENDING_KEY}{}",
        serde_json::to_string(cols).unwrap_or_default()
    )
}

fn pending_key_of(comment: &str) -> Option<Vec<String>> {
    let (_, json) = comment.split_once(PENDING_KEY)?;
    serde_json::from_str(json).ok()
}

impl PgTarget {
    /// The slow path of [`super::Target::build_key`]: the rows that repeat an earlier
    /// row's key (physical order: the order a fresh table received them) are deleted and
    /// returned, then the key is built, in one transaction.
    async fn remove_duplicates_then_build(
        &mut self,
        key: &str,
        add: &str,
    ) -> Result<Vec<(String, String)>> {
        let rel = self.rel();
        let sql = format!(
            "DELETE FROM {rel} AS t USING (SELECT ctid AS c, row_number() OVER (PARTITION BY {key} ORDER BY ctid) AS n FROM {rel}) AS d \
             WHERE t.ctid = d.c AND d.n > 1 RETURNING row_to_json(t)::text"
        );
        let tx = self.client.transaction().await.db_context("begin")?;
        let rows = tx
            .query(&sql, &[])
            .await
            .db_context("remove duplicate keys")?;
        tx.batch_execute(add)
            .await
            .db_context("build the primary key")?;
        tx.commit().await.db_context("build the primary key")?;
        let reason = format!(
            "duplicate key: an earlier row of the input has the same primary key ({key}); found when the key was built after the load"
        );
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), reason.clone()))
            .collect())
    }
}

impl super::Target for PgTarget {
    const BEGIN: &'static str = "BEGIN";
    const QUOTE: fn(&str) -> String = ferry_shared::sql::quote_pg;

    /// Binary COPY has no wire form for these; the loader refuses them up front.
    fn supports(t: &LogicalType) -> bool {
        !matches!(
            t,
            LogicalType::Other { .. } | LogicalType::Set { .. } | LogicalType::Year
        )
    }

    async fn before_commit(&mut self) -> Result<()> {
        match self.commit_with.take() {
            Some(sql) => {
                self.client.batch_execute(&sql).await.with_db_context(|| {
                    format!("record progress of {}.{}", self.schema, self.table)
                })
            }
            None => Ok(()),
        }
    }

    fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>) {
        encode_row(vals, cols, out);
    }

    fn rules(&self) -> CastRules {
        CastRules {
            zero_dates: false,
            zero_date: self.zero_date,
            no_nul: true,
            strip_nul: self.strip_nul,
            finite_only: false,
            mysql_geometry: false,
            four_digit_years: false,
        }
    }

    /// The staging table is created in autocommit: made inside a batch's transaction, a
    /// rolled-back batch would drop it while this target still believed it existed.
    async fn prepare(&mut self, mode: Mode) -> Result<()> {
        if self.stage || !matches!(mode, Mode::Ignore | Mode::Upsert) {
            return Ok(());
        }
        let sql = format!(
            "CREATE TEMP TABLE IF NOT EXISTS ferry_stage AS SELECT {} FROM {} WITH NO DATA",
            self.col_list(),
            self.rel()
        );
        self.client
            .batch_execute(&sql)
            .await
            .with_db_context(|| format!("staging table for {}", self.rel()))?;
        self.stage = true;
        Ok(())
    }

    async fn truncate(&mut self, scope: Option<&str>) -> Result<()> {
        let sql = match scope {
            Some(w) => format!("DELETE FROM {} WHERE {w}", self.rel()),
            None => format!("TRUNCATE TABLE {}", self.rel()),
        };
        self.client.batch_execute(&sql).await.db_context("truncate")
    }

    async fn has_rows(&mut self, scope: Option<&str>) -> Result<bool> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
            self.rel(),
            scope.unwrap_or("true")
        );
        let row = self
            .client
            .query_one(&sql, &[])
            .await
            .db_context("look for rows")?;
        Ok(row.get(0))
    }

    async fn exec(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).await.db_context(sql)
    }

    async fn pending_key(&mut self) -> Result<Option<Vec<String>>> {
        let row = self
            .client
            .query_one(
                "SELECT obj_description(to_regclass($1), 'pg_class')",
                &[&self.rel()],
            )
            .await
            .db_context("read the table's comment")?;
        let comment: Option<String> = row.get(0);
        Ok(comment.as_deref().and_then(pending_key_of))
    }

    async fn build_key(&mut self, cols: &[String]) -> Result<Vec<(String, String)>> {
        let key = ferry_shared::sql::quote_list(cols, q);
        let add = format!(
            "ALTER TABLE {rel} ADD PRIMARY KEY ({key}); COMMENT ON TABLE {rel} IS NULL",
            rel = self.rel()
        );
        let tx = self.client.transaction().await.db_context("begin")?;
        match tx.batch_execute(&add).await {
            Ok(()) => {
                tx.commit().await.db_context("build the primary key")?;
                return Ok(Vec::new());
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                tx.rollback().await.db_context("rollback")?;
            }
            // Dropping the transaction rolls it back.
            Err(e) => return Err(e).db_context("build the primary key"),
        }
        self.remove_duplicates_then_build(&key, &add).await
    }

    async fn try_lock(&mut self, name: &str) -> Result<bool> {
        // A few seconds: a killed run's backend may not have noticed yet that it is gone.
        for _ in 0..20 {
            let row = self
                .client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    &[&name],
                )
                .await
                .db_context("take the shard's lock")?;
            if row.get(0) {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Ok(false)
    }

    async fn apply_range(
        &mut self,
        batch: &Batch,
        range: std::ops::Range<usize>,
        mode: Mode,
    ) -> std::result::Result<(u64, u64), super::ApplyError> {
        let res = self.apply(batch, range, mode).await;
        let rows = std::mem::take(&mut self.inserted);
        if !rows.is_empty() {
            self.write_journal(&rows)
                .map_err(super::ApplyError::Fatal)?;
        }
        res.map_err(|e| {
            if is_row_error(&e) {
                super::ApplyError::Row {
                    column: e.as_db_error().and_then(|d| d.column()).map(str::to_string),
                    reason: DriverError::message(&e),
                }
            } else {
                super::ApplyError::Fatal(DbError::wrap(format!("load {}", self.rel()), e).into())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn num(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        encode_numeric(s, &mut v);
        v
    }
    #[test]
    fn numeric_encoding() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(
            num("12345.678"),
            vec![0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
        // zero
        assert_eq!(num("0.00"), vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
        // -0.0001: digit [1], weight -1
        assert_eq!(
            num("-0.0001"),
            vec![0, 0, 0, 10, 0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1]
        );
        // Leading zeros in the text change nothing; 10000.5: digits [1, 0, 5000], weight 1.
        assert_eq!(num("-0012.10"), num("-12.10"));
        assert_eq!(
            num("10000.5"),
            vec![0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0x13, 0x88]
        );
    }

    /// The binary form read back as PostgreSQL would print it (digits, weight, dscale).
    fn decode(b: &[u8]) -> String {
        let word = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        assert_eq!(len + 4, b.len());
        let (n, weight, sign, dscale) = (word(4) as i32, word(6) as i32, word(8), word(10));
        let digit = |g: i32| {
            if (0..n).contains(&g) {
                word(12 + 2 * g as usize)
            } else {
                0
            }
        };
        let int: String = (0..weight + 1)
            .map(|g| format!("{:04}", digit(g)))
            .collect();
        let int = int.trim_start_matches('0');
        let frac: String = (weight + 1..weight + 1 + (dscale as i32 + 3) / 4)
            .map(|g| format!("{:04}", digit(g)))
            .collect();
        let neg = if sign == 0x4000 { "-" } else { "" };
        let int = if int.is_empty() { "0" } else { int };
        match dscale {
            0 => format!("{neg}{int}"),
            d => format!("{neg}{int}.{}", &frac[..d as usize]),
        }
    }

    #[test]
    fn numerics_read_back_as_written() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = format!("{seed}{}", seed.rotate_left(17));
            let cut = (seed % 40) as usize;
            let (i, f) = digits.split_at(cut.min(digits.len()));
            // Zeros inside, at the ends, and runs of them: the groups' edge cases.
            let i = i.replace('7', "0");
            let f = if seed.is_multiple_of(3) {
                f.replace(['1', '2', '3'], "0")
            } else {
                f.to_string()
            };
            let neg = if seed.is_multiple_of(2) { "-" } else { "" };
            let text = if f.is_empty() {
                format!("{neg}{i}")
            } else {
                format!("{neg}{i}.{f}")
            };
            let mut want = text
                .trim_start_matches('-')
                .trim_start_matches('0')
                .to_string();
            if want.is_empty() || want.starts_with('.') {
                want.insert(0, '0');
            }
            let zero = !want.bytes().any(|b| (b'1'..=b'9').contains(&b));
            if !neg.is_empty() && !zero {
                want.insert(0, '-');
            }
            assert_eq!(decode(&num(&text)), want, "{text}");
        }
    }
}
