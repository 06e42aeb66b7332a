//! Moving one table's selected rows from the READ server to the WRITE server: keyset pages
//! in primary-key order, read with the text protocol (the server's own text of every value,
//! so nothing is reinterpreted) and written with one `LOAD DATA LOCAL INFILE … IGNORE` per
//! page (INSERT IGNORE semantics). Memory holds one page.

use crate::closure::{tuple, Table};
use crate::state::journal_append;
use ferry_shared::sql::{load_data_escape, quote_mysql as q, LOAD_DATA_NULL};
use ferry_shared::{DbCode, DbContext, DbError, Result};
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use std::path::Path;

/// What to copy.
pub struct Spec<'a> {
    /// Source database.
    pub src_db: &'a str,
    /// Target database.
    pub dst_db: &'a str,
    /// The table (written columns, primary key).
    pub table: &'a Table,
    /// WHERE condition on the source.
    pub filter: Option<&'a str>,
    /// Rows per page.
    pub page: usize,
    /// Resume after this key.
    pub after: Option<Vec<Option<String>>>,
    /// Journal of inserted keys (None: no journal).
    pub journal: Option<&'a Path>,
    /// Ask the target which keys already exist before journaling (the table had rows
    /// before this migration).
    pub check_existing: bool,
}

/// A value as a SQL literal.
pub fn literal(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) => Value::from(s.as_str()).as_sql(false),
    }
}

/// A key tuple as a SQL literal.
pub fn key_literal(k: &[Option<String>]) -> String {
    let l: Vec<String> = k.iter().map(literal).collect();
    if l.len() == 1 {
        l[0].clone()
    } else {
        format!("({})", l.join(", "))
    }
}

fn push_tsv(out: &mut Vec<u8>, v: Option<&Value>) {
    match v {
        None | Some(Value::NULL) => out.extend_from_slice(LOAD_DATA_NULL),
        Some(Value::Bytes(b)) => load_data_escape(b, out),
        Some(other) => out.extend_from_slice(other.as_sql(true).trim_matches('\'').as_bytes()),
    }
}

/// Appends the first `ncols` values of a row as one TSV line. Shared by the keyed and the
/// keyless copy so both write exactly the same bytes.
fn push_row(out: &mut Vec<u8>, row: &mysql_async::Row, ncols: usize) {
    for i in 0..ncols {
        if i > 0 {
            out.push(b'\t');
        }
        push_tsv(out, row.as_ref(i));
    }
    out.push(b'\n');
}

/// Hands over the filled buffer as one piece of the stream and starts a new 1 MiB one.
fn take_piece(buf: &mut Vec<u8>) -> bytes::Bytes {
    bytes::Bytes::from(std::mem::replace(buf, Vec::with_capacity(1 << 20)))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::NULL) => None,
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Keys among `keys` that the target table already has.
async fn existing(
    dst: &mut Conn,
    db: &str,
    t: &Table,
    keys: &[Vec<Option<String>>],
) -> Result<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for part in keys.chunks(1000) {
        let list: Vec<String> = part.iter().map(|k| key_literal(k)).collect();
        let sql = format!(
            "SELECT {} FROM {}.{} WHERE {} IN ({})",
            t.primary_key
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", "),
            q(db),
            q(&t.name),
            tuple(&t.primary_key),
            list.join(", ")
        );
        let rows: Vec<mysql_async::Row> = dst
            .query(sql)
            .await
            .with_db_context(|| format!("read keys of {db}.{}", t.name))?;
        for r in rows {
            out.push((0..r.len()).map(|i| text(r.as_ref(i))).collect());
        }
    }
    Ok(out)
}

/// Loads TSV rows into the target with IGNORE; returns rows inserted. Any warning other
/// than a duplicate key (1062) is an error: nothing changes silently.
pub async fn load(dst: &mut Conn, db: &str, t: &Table, data: Vec<u8>) -> Result<u64> {
    load_stream(dst, db, t, move || {
        Box::pin(futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
            bytes::Bytes::from(data),
        )]))
    })
    .await
}

/// [`load`] from a stream of TSV pieces (one statement however long the stream). The
/// stream is made inside the driver's handler (which must be `Sync`; a receiver is, a boxed
/// stream is not).
async fn load_stream<F>(dst: &mut Conn, db: &str, t: &Table, make: F) -> Result<u64>
where
    F: FnOnce() -> mysql_async::InfileData + Send + Sync + 'static,
{
    dst.set_infile_handler(async move { Ok(make()) });
    let sql = format!(
        "LOAD DATA LOCAL INFILE 'ferry-page' IGNORE INTO TABLE {}.{} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
        q(db),
        q(&t.name),
        t.columns
            .iter()
            .map(|c| q(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    dst.query_drop(sql)
        .await
        .with_db_context(|| format!("load {db}.{}", t.name))?;
    let inserted = dst.affected_rows();
    if dst.get_warnings() > 0 {
        let warnings: Vec<(String, u32, String)> = dst
            .query("SHOW WARNINGS LIMIT 50")
            .await
            .db_context("read warnings")?;
        if let Some((_, code, msg)) = warnings.iter().find(|w| w.1 != 1062) {
            let why = format!(
                "{msg} (MariaDB {code}); the page was written with warnings, check the table"
            );
            return Err(DbError {
                context: format!("load {db}.{}", t.name),
                message: why,
                code: u16::try_from(*code).ok().map(|code| DbCode::Mysql {
                    code,
                    state: String::new(),
                }),
                source: None,
            }
            .into());
        }
    }
    Ok(inserted)
}

/// A table without a primary key has no keyset to page by: one `LOAD DATA` statement (one
/// transaction: all or nothing after a crash) fed while the source is read, so memory holds
/// a few 1 MiB pieces however large the table. A read error aborts the statement.
async fn copy_keyless(src: &mut Conn, dst: &mut Conn, spec: &Spec<'_>, sql: String) -> Result<u64> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let what = format!("read {}.{}", spec.src_db, spec.table.name);
    let ncols = spec.table.columns.len();
    let producer = async move {
        let res: Result<()> = async {
            let mut result = src.query_iter(sql).await.with_db_context(|| what.clone())?;
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
            while let Some(row) = result.next().await.with_db_context(|| what.clone())? {
                push_row(&mut buf, &row, ncols);
                if buf.len() >= 1 << 20 && tx.send(Ok(take_piece(&mut buf))).await.is_err() {
                    return Ok(());
                }
            }
            if !buf.is_empty() {
                let _ = tx.send(Ok(bytes::Bytes::from(buf))).await;
            }
            Ok(())
        }
        .await;
        if let Err(e) = &res {
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
        res
    };
    let consumer = load_stream(dst, spec.dst_db, spec.table, move || {
        ferry_shared::stream::receiver_stream(rx)
    });
    let (read, loaded) = tokio::join!(producer, consumer);
    read?;
    loaded
}

/// Copies the selected rows. `on_page(inserted so far, last key)` runs after each page
/// and returns false to stop (Ctrl+C). Returns rows inserted and whether it finished.
pub async fn copy_table(
    src: &mut Conn,
    dst: &mut Conn,
    spec: Spec<'_>,
    mut on_page: impl FnMut(u64, &Option<Vec<Option<String>>>) -> Result<bool>,
) -> Result<(u64, bool)> {
    let t = spec.table;
    let cols: Vec<String> = t.columns.iter().map(|c| q(c)).collect();
    let pk_pos: Vec<usize> = t
        .primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| c == k))
        .collect();
    let keyed = !t.primary_key.is_empty() && pk_pos.len() == t.primary_key.len();
    let mut after = spec.after.clone();
    let mut inserted = 0u64;
    loop {
        let mut conds: Vec<String> = Vec::new();
        if let Some(f) = spec.filter {
            conds.push(format!("({f})"));
        }
        if let (true, Some(a)) = (keyed, &after) {
            conds.push(format!("{} > {}", tuple(&t.primary_key), key_literal(a)));
        }
        let mut sql = format!(
            "SELECT {} FROM {}.{}",
            cols.join(", "),
            q(spec.src_db),
            q(&t.name)
        );
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        if keyed {
            sql.push_str(&format!(
                " ORDER BY {} LIMIT {}",
                t.primary_key
                    .iter()
                    .map(|c| q(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.page
            ));
        }
        if !keyed {
            let n = copy_keyless(src, dst, &spec, sql).await?;
            on_page(n, &None)?;
            return Ok((n, true));
        }
        let what = format!("read {}.{}", spec.src_db, t.name);
        let mut result = src.query_iter(sql).await.with_db_context(|| what.clone())?;
        let mut data: Vec<u8> = Vec::new();
        let mut keys: Vec<Vec<Option<String>>> = Vec::new();
        let mut n = 0usize;
        while let Some(row) = result.next().await.with_db_context(|| what.clone())? {
            push_row(&mut data, &row, cols.len());
            if keyed {
                keys.push(pk_pos.iter().map(|&i| text(row.as_ref(i))).collect());
            }
            n += 1;
        }
        drop(result);
        if n == 0 {
            return Ok((inserted, true));
        }
        if let Some(j) = spec.journal {
            if keyed {
                let fresh = if spec.check_existing {
                    let have = existing(dst, spec.dst_db, t, &keys).await?;
                    keys.iter().filter(|k| !have.contains(k)).cloned().collect()
                } else {
                    keys.clone()
                };
                journal_append(j, &fresh)?;
            }
        }
        inserted += load(dst, spec.dst_db, t, data).await?;
        after = keys.pop().or(after);
        if !on_page(inserted, &after)? {
            return Ok((inserted, false));
        }
        if !keyed || n < spec.page {
            return Ok((inserted, true));
        }
    }
}
