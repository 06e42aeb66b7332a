//! Moving one table's selected rows from the READ server to the WRITE server: keyset pages
//! in primary-key order, read with the text protocol (the server's own text of every value,
//! so nothing is reinterpreted) and written with one `LOAD DATA LOCAL INFILE … IGNORE` per
//! page (INSERT IGNORE semantics), each page in its own transaction that commits only when
//! the server raised no warning but duplicate keys. Memory holds one page.
//!
//! A table without a key is staged in a temporary table and only the rows the target does
//! not hold yet (compared as whole rows, byte for byte, counting identical rows) are
//! inserted, so a second customer set or a `--force` never doubles it.

use crate::closure::{tuple, Table};
use crate::state::journal_append;
use ferry_shared::sql::{load_data_escape, quote_list, quote_mysql as q, LOAD_DATA_NULL};
use ferry_shared::stream::{infile_pieces, INFILE_PIECE};
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
    /// Journal of the selected keys the target already held (this set needs them too, so
    /// removing another set must leave them).
    pub claims: Option<&'a Path>,
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

/// Hands over the filled buffer and starts a new 1 MiB one.
fn take_piece(buf: &mut Vec<u8>) -> bytes::Bytes {
    bytes::Bytes::from(std::mem::replace(buf, Vec::with_capacity(INFILE_PIECE)))
}

/// Sends a buffer to the `LOAD DATA` stream in packet-sized pieces (a row can be wider
/// than a packet); false when the stream has gone.
async fn send_pieces(
    tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    data: bytes::Bytes,
) -> bool {
    for piece in infile_pieces(data) {
        if tx.send(piece).await.is_err() {
            return false;
        }
    }
    true
}

/// A text-protocol value as the journals write it.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
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
            t.key_select_list(),
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

/// What one copy did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows the selection covered (inserted, or already there).
    pub selected: u64,
    /// The copy reached the end (false: stopped by `on_page`).
    pub finished: bool,
}

/// Loads TSV rows into the target with IGNORE, in one transaction; returns rows inserted.
/// Any warning other than a duplicate key (1062) rolls the page back and is an error:
/// nothing changes silently, and a failed page leaves nothing for a retry to skip over.
pub async fn load(dst: &mut Conn, db: &str, t: &Table, data: Vec<u8>) -> Result<u64> {
    let into = format!("{}.{}", q(db), q(&t.name));
    let res = load_open(dst, &into, t, data).await;
    end(dst, &format!("load {into}"), res).await
}

/// Starts a transaction and loads the rows in it, leaving it open for [`end`].
async fn load_open(dst: &mut Conn, into: &str, t: &Table, data: Vec<u8>) -> Result<u64> {
    begin(dst, &format!("load {into}")).await?;
    load_stream(dst, into.to_string(), t, move || {
        Box::pin(futures_util::stream::iter(infile_pieces(
            bytes::Bytes::from(data),
        )))
    })
    .await
}

async fn begin(dst: &mut Conn, what: &str) -> Result<()> {
    dst.query_drop("START TRANSACTION")
        .await
        .with_db_context(|| what.to_string())
}

/// COMMIT after a step that succeeded, ROLLBACK after one that failed.
async fn end(dst: &mut Conn, what: &str, res: Result<u64>) -> Result<u64> {
    match res {
        Ok(n) => {
            commit(dst, what).await?;
            Ok(n)
        }
        Err(e) => {
            rollback(dst, what).await;
            Err(e)
        }
    }
}

async fn commit(dst: &mut Conn, what: &str) -> Result<()> {
    dst.query_drop("COMMIT")
        .await
        .with_db_context(|| what.to_string())
}

/// ROLLBACK after a failure (which is what gets reported: a failed rollback is logged).
async fn rollback(dst: &mut Conn, what: &str) {
    if let Err(r) = dst.query_drop("ROLLBACK").await {
        tracing::error!("{what}: rollback failed: {r}");
    }
}

/// Fails on any warning but a duplicate key (1062), naming the first.
async fn check_warnings(dst: &mut Conn, what: &str) -> Result<()> {
    if dst.get_warnings() == 0 {
        return Ok(());
    }
    let warnings: Vec<(String, u32, String)> = dst
        .query("SHOW WARNINGS LIMIT 50")
        .await
        .db_context("read warnings")?;
    let Some((_, code, msg)) = warnings.iter().find(|w| w.1 != 1062) else {
        return Ok(());
    };
    Err(DbError {
        context: what.to_string(),
        message: format!(
            "{msg} (MariaDB {code}); the page was rolled back: nothing of it was written"
        ),
        code: u16::try_from(*code).ok().map(|code| DbCode::Mysql {
            code,
            state: String::new(),
        }),
        source: None,
    }
    .into())
}

/// [`load`] from a stream of TSV pieces (one statement however long the stream). The
/// stream is made inside the driver's handler (which must be `Sync`; a receiver is, a boxed
/// stream is not).
async fn load_stream<F>(dst: &mut Conn, into: String, t: &Table, make: F) -> Result<u64>
where
    F: FnOnce() -> mysql_async::InfileData + Send + Sync + 'static,
{
    dst.set_infile_handler(async move { Ok(make()) });
    let sql = format!(
        "LOAD DATA LOCAL INFILE 'ferry-page' IGNORE INTO TABLE {into} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
        column_list(t)
    );
    let what = format!("load {into}");
    dst.query_drop(sql).await.with_db_context(|| what.clone())?;
    let inserted = dst.affected_rows();
    check_warnings(dst, &what).await?;
    Ok(inserted)
}

fn column_list(t: &Table) -> String {
    quote_list(&t.columns, q)
}

/// A table without a key has no keyset to page by: its selected rows are streamed into a
/// temporary copy of its columns (one `LOAD DATA` fed while the source is read, so memory
/// holds a few 1 MiB pieces however large the table), then one `INSERT … SELECT` in a
/// transaction adds the staged rows the target does not hold yet: rows compare whole, byte
/// for byte, and identical rows count (two staged copies of a row the target holds once add
/// one). All or nothing after a crash.
async fn copy_keyless(
    src: &mut Conn,
    dst: &mut Conn,
    spec: &Spec<'_>,
    sql: String,
) -> Result<Copied> {
    let t = spec.table;
    // Temporary tables need a database: the target's (the connection may have none).
    let stage = &format!("{}.ferry_keyless_stage", q(spec.dst_db));
    dst.query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {stage}"))
        .await
        .db_context("drop the staging table")?;
    dst.query_drop(format!(
        "CREATE TEMPORARY TABLE {stage} AS SELECT {} FROM {}.{} WHERE 0",
        column_list(t),
        q(spec.dst_db),
        q(&t.name)
    ))
    .await
    .with_db_context(|| format!("stage {}.{}", spec.dst_db, t.name))?;
    let staged = stream_into(src, dst, spec, sql, stage.to_string()).await?;
    let what = format!("load {}.{}", spec.dst_db, t.name);
    begin(dst, &what).await?;
    let res = insert_missing(dst, spec.dst_db, t, stage, &what).await;
    let inserted = end(dst, &what, res).await?;
    dst.query_drop(format!("DROP TEMPORARY TABLE {stage}"))
        .await
        .db_context("drop the staging table")?;
    Ok(Copied {
        inserted,
        selected: staged,
        finished: true,
    })
}

async fn insert_missing(
    dst: &mut Conn,
    db: &str,
    t: &Table,
    stage: &str,
    what: &str,
) -> Result<u64> {
    dst.query_drop(missing_rows_insert(db, t, stage))
        .await
        .with_db_context(|| what.to_string())?;
    let n = dst.affected_rows();
    check_warnings(dst, what).await?;
    Ok(n)
}

/// `INSERT INTO t SELECT` the staged rows beyond the copies `t` already holds: each staged
/// row is numbered among its identical staged rows and goes in when its number exceeds
/// the count of that row in `t`. Columns compare as bytes of the same column type
/// (`CAST … AS BINARY`), so a case-insensitive collation cannot merge two rows.
fn missing_rows_insert(db: &str, t: &Table, stage: &str) -> String {
    let cols = column_list(t);
    let same = t
        .columns
        .iter()
        .map(|c| format!("CAST(d.{0} AS BINARY) <=> CAST(s.{0} AS BINARY)", q(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let part = t
        .columns
        .iter()
        .map(|c| format!("CAST({} AS BINARY)", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {db}.{name} ({cols}) SELECT {cols} FROM (SELECT {cols}, \
         ROW_NUMBER() OVER (PARTITION BY {part}) AS ferry_n FROM {stage}) s \
         WHERE s.ferry_n > (SELECT COUNT(*) FROM {db}.{name} d WHERE {same})",
        db = q(db),
        name = q(&t.name),
    )
}

/// Streams the rows of `sql` from the source into `into` on the target (one LOAD DATA);
/// returns the rows loaded.
async fn stream_into(
    src: &mut Conn,
    dst: &mut Conn,
    spec: &Spec<'_>,
    sql: String,
    into: String,
) -> Result<u64> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let what = format!("read {}.{}", spec.src_db, spec.table.name);
    let ncols = spec.table.columns.len();
    let producer = async move {
        let res: Result<()> = async {
            let mut result = src.query_iter(sql).await.with_db_context(|| what.clone())?;
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
            while let Some(row) = result.next().await.with_db_context(|| what.clone())? {
                push_row(&mut buf, &row, ncols);
                if buf.len() >= INFILE_PIECE && !send_pieces(&tx, take_piece(&mut buf)).await {
                    return Ok(());
                }
            }
            send_pieces(&tx, bytes::Bytes::from(buf)).await;
            Ok(())
        }
        .await;
        if let Err(e) = &res {
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
        res
    };
    let consumer = load_stream(dst, into, spec.table, move || {
        ferry_shared::stream::receiver_stream(rx)
    });
    let (read, loaded) = tokio::join!(producer, consumer);
    read?;
    loaded
}

/// Journals a page's keys before it is written: those the target lacks as this set's
/// inserts, those it already holds as this set's claims.
async fn journal_page(dst: &mut Conn, spec: &Spec<'_>, keys: &[Vec<Option<String>>]) -> Result<()> {
    let Some(j) = spec.journal else {
        return Ok(());
    };
    if !spec.check_existing {
        return journal_append(j, keys);
    }
    let have = existing(dst, spec.dst_db, spec.table, keys).await?;
    let held: std::collections::HashSet<&Vec<Option<String>>> = have.iter().collect();
    let fresh: Vec<Vec<Option<String>>> =
        keys.iter().filter(|k| !held.contains(k)).cloned().collect();
    journal_append(j, &fresh)?;
    if let Some(c) = spec.claims {
        journal_append(c, &have)?;
    }
    Ok(())
}

/// One page read from the source: its rows as LOAD DATA text, in two parts (the second
/// empty unless the page is written through two connections), and their keys.
#[derive(Default)]
struct Page {
    data: [Vec<u8>; 2],
    keys: Vec<Vec<Option<String>>>,
    rows: usize,
}

/// The keyset page query after `after` (or the whole selection of a keyless table).
fn page_sql(spec: &Spec<'_>, keyed: bool, after: Option<&Vec<Option<String>>>) -> String {
    let t = spec.table;
    let mut conds: Vec<String> = Vec::new();
    if let Some(f) = spec.filter {
        conds.push(format!("({f})"));
    }
    if let (true, Some(a)) = (keyed, after) {
        conds.push(format!("{} > {}", tuple(&t.primary_key), key_literal(a)));
    }
    let mut sql = format!(
        "SELECT {} FROM {}.{}",
        t.select_list(),
        q(spec.src_db),
        q(&t.name)
    );
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    if keyed {
        let order: Vec<String> = t.primary_key.iter().map(|c| q(c)).collect();
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            order.join(", "),
            spec.page
        ));
    }
    sql
}

/// Rows read before the reading of a page lets the write beside it go on.
const READ_SLICE: usize = 256;

/// Reads one keyset page; its first `half` rows go to the first part, the rest to the
/// second.
async fn read_page(
    src: &mut Conn,
    spec: &Spec<'_>,
    (pk_pos, half): (&[usize], usize),
    sql: String,
) -> Result<Page> {
    let t = spec.table;
    let what = format!("read {}.{}", spec.src_db, t.name);
    let mut result = src.query_iter(sql).await.with_db_context(|| what.clone())?;
    let mut page = Page::default();
    while let Some(row) = result.next().await.with_db_context(|| what.clone())? {
        let part = usize::from(page.rows >= half);
        push_row(&mut page.data[part], &row, t.columns.len());
        page.keys
            .push(pk_pos.iter().map(|&i| text(row.as_ref(i))).collect());
        page.rows += 1;
        // The page is read beside the previous page's write on one thread, and rows already
        // received never make the read wait: without a pause it would run through a
        // whole buffer while the target waits for the rest of its LOAD DATA.
        if page.rows % READ_SLICE == 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(page)
}

/// Copies the selected rows. `on_page(inserted so far, last key)` runs after each page
/// and returns false to stop (Ctrl+C). Pages are pipelined: the next page is read from the
/// source while the current one is written to the target (two connections, two servers'
/// work at once); a page is only ever written after the one before it committed. With a
/// `second` target connection and a table that [`may_split`], each page's halves are
/// loaded at once, one per connection (see [`load_pair`]).
pub async fn copy_table(
    src: &mut Conn,
    dst: &mut Conn,
    mut second: Option<&mut Conn>,
    spec: Spec<'_>,
    mut on_page: impl FnMut(u64, &Option<Vec<Option<String>>>) -> Result<bool>,
) -> Result<Copied> {
    let t = spec.table;
    let pk_pos: Vec<usize> = t
        .primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| c == k))
        .collect();
    let keyed = !t.primary_key.is_empty() && pk_pos.len() == t.primary_key.len();
    if !keyed {
        let c = copy_keyless(src, dst, &spec, page_sql(&spec, false, None)).await?;
        on_page(c.inserted, &None)?;
        return Ok(c);
    }
    if second.is_some() && !may_split(dst, &spec).await? {
        second = None;
    }
    // The second connection idles through the tables it does not write: one the server
    // has closed (wait_timeout) leaves the copy to the first.
    if let Some(c) = second.as_deref_mut() {
        if let Err(e) = c.ping().await {
            tracing::warn!(
                "second target connection lost ({e}): {} goes through one connection",
                t.name
            );
            second = None;
        }
    }
    let half = if second.is_some() {
        spec.page.div_ceil(2)
    } else {
        usize::MAX
    };
    let mut after = spec.after.clone();
    let mut done = Copied::default();
    let read = |after: Option<&Vec<Option<String>>>| page_sql(&spec, true, after);
    let mut page = read_page(src, &spec, (&pk_pos, half), read(after.as_ref())).await?;
    loop {
        if page.rows == 0 {
            done.finished = true;
            return Ok(done);
        }
        let full = page.rows >= spec.page;
        let last = page.keys.last().cloned();
        let write = async {
            journal_page(dst, &spec, &page.keys).await?;
            let [a, b] = std::mem::take(&mut page.data);
            match second.as_deref_mut() {
                Some(d2) if !b.is_empty() => load_pair([dst, d2], spec.dst_db, t, [a, b]).await,
                _ => load(dst, spec.dst_db, t, a).await,
            }
        };
        let read_next = async {
            if full {
                read_page(src, &spec, (&pk_pos, half), read(last.as_ref())).await
            } else {
                Ok(Page::default())
            }
        };
        let (written, next) = tokio::join!(write, read_next);
        done.inserted += written?;
        done.selected += page.rows as u64;
        after = last.or(after);
        if !on_page(done.inserted, &after)? {
            return Ok(done);
        }
        page = next?;
    }
}

/// Whether a table's pages may be written as two halves at once: only into a table that
/// was empty when this copy started (no key of the selection can be there, so neither half
/// meets a duplicate) and has no unique key but its primary key. The halves' keys are
/// disjoint ranges, so their inserts never wait for each other; a second unique key could
/// make one half wait for the other's uncommitted row while the other waits for the
/// commit of both, until the lock wait timeout.
async fn may_split(dst: &mut Conn, spec: &Spec<'_>) -> Result<bool> {
    if spec.check_existing {
        return Ok(false);
    }
    let other_unique: Option<u64> = dst
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
            (spec.dst_db, &spec.table.name),
        )
        .await
        .with_db_context(|| format!("read unique keys of {}.{}", spec.dst_db, spec.table.name))?;
    Ok(other_unique == Some(0))
}

/// Loads a page's two halves at once, each on its own connection in its own transaction
/// (the target server inserts on two threads: about 1.4 times the rows per second of one
/// LOAD DATA here). Both commit only when both loaded cleanly; when either fails, both
/// roll back, so a failed page leaves nothing, as with one connection. A crash between
/// the two COMMITs leaves one half in place with the page not recorded: the next run
/// reads the page again and `IGNORE` skips the rows that half wrote.
async fn load_pair(conns: [&mut Conn; 2], db: &str, t: &Table, data: [Vec<u8>; 2]) -> Result<u64> {
    let into = format!("{}.{}", q(db), q(&t.name));
    let what = format!("load {into}");
    let [c0, c1] = conns;
    let [d0, d1] = data;
    let (r0, r1) = tokio::join!(load_open(c0, &into, t, d0), load_open(c1, &into, t, d1));
    match r0.and_then(|n0| r1.map(|n1| n0 + n1)) {
        Ok(n) => {
            commit(c0, &what).await?;
            // A crash test's instant: one half committed, the other not yet.
            ferry_shared::checkpoint::crash_hook("customer-filter-halves");
            commit(c1, &what).await?;
            Ok(n)
        }
        Err(e) => {
            rollback(c0, &what).await;
            rollback(c1, &what).await;
            Err(e)
        }
    }
}
