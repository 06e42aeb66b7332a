//! Step 2's backup, `backups/migration_backup_{migration_id}.json`: everything needed to put
//! schema `public` back as it was — its schema as `pg_dump` writes it (taken from the
//! migration's own snapshot, so it is exactly what the rows below belong to), every table's
//! rows, the sequences' positions and the fingerprint a rollback must reproduce.
//!
//! The file is one JSON document, laid out one row per line so that a million rows are
//! written and read back as a stream:
//!
//! ```text
//! {"header":{…},
//! "tables":[
//! {"table":"inventory","columns":["id","organization_id",…],"rows":[
//! "e0000000-…\td0000000-…\t\\N\t150\t70\t…"
//! ,"…"
//! ],"row_count":2}
//! ,{"table":"machines","columns":[…],"rows":[
//! …
//! ]}
//! ```
//!
//! Each row is PostgreSQL's own COPY text line for the listed columns (`\N` for NULL), as a
//! JSON string: exact for every type, and fed back to COPY unchanged by a rollback.

use crate::fingerprint::Fingerprint;
use ferry_shared::conn::Endpoint;
use ferry_shared::sql::quote_pg;
use ferry_shared::{DbContext, FerryError, Result};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_postgres::Transaction;

/// The format written in `header.format`.
pub const FORMAT: &str = "ferry-abparts-backup/1";

/// A sequence's position.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceState {
    /// Name in schema public.
    pub name: String,
    /// `last_value`, none when never used.
    pub last_value: Option<i64>,
    /// Where it starts.
    pub start_value: i64,
}

/// Everything but the rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// The run that wrote it.
    pub migration_id: String,
    /// When.
    pub created_at: String,
    /// The database (no password).
    pub database: String,
    /// The server's system identifier and the database's name: a rollback refuses to
    /// restore this backup into any other database.
    #[serde(default)]
    pub database_id: Option<String>,
    /// Schema and rows as they were.
    pub fingerprint: Fingerprint,
    /// `pg_dump --section=pre-data` of schema public (types, functions, tables).
    pub pre_data: String,
    /// `pg_dump --section=post-data` (keys, indexes, triggers).
    pub post_data: String,
    /// Sequences.
    pub sequences: Vec<SequenceState>,
    /// The tables, in the order of the file.
    pub tables: Vec<String>,
}

/// The file of a migration id in `dir`.
pub fn path_for(dir: &Path, migration_id: &str) -> PathBuf {
    dir.join(format!("migration_backup_{migration_id}.json"))
}

/// Runs `pg_dump` for one section of schema public, on the migration's exported snapshot.
fn pg_dump(ep: &Endpoint, snapshot: &str, section: &str) -> Result<String> {
    let mut cmd = std::process::Command::new("pg_dump");
    cmd.args([
        "--schema-only",
        "--schema=public",
        "--section",
        section,
        "--snapshot",
        snapshot,
    ])
    .args(["--host", ep.socket.as_deref().unwrap_or(&ep.host)])
    .args(["--port", &ep.port.to_string(), "--username", &ep.user])
    .args(["--dbname", ep.database.as_deref().unwrap_or(&ep.user)])
    .env("PGCONNECT_TIMEOUT", "10");
    if let Some(p) = &ep.password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd.output().map_err(|e| {
        FerryError::Failed(format!("cannot run pg_dump (PostgreSQL's client tools; apt-get install postgresql-client): {e}"))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(FerryError::Failed(format!(
            "pg_dump --section {section} failed: {}",
            err.trim()
        )));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| FerryError::Failed("pg_dump wrote text that is not UTF-8".into()))?;
    Ok(clean_dump(&text))
}

/// Keeps what a plain SQL batch can run on a database whose schema public exists: psql's
/// `\restrict` lines and the schema's own creation go.
fn clean_dump(text: &str) -> String {
    text.lines()
        .filter(|l| {
            !(l.starts_with('\\')
                || l.starts_with("CREATE SCHEMA public;")
                || l.starts_with("COMMENT ON SCHEMA public "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tables that hold rows themselves: a partitioned table's rows are in its partitions
/// (backed up one by one), and COPY cannot read the parent.
async fn tables_with_rows(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let all = crate::db::public_tables(tx).await?;
    let rows = tx
        .query("SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'p'", &[])
        .await
        .db_context("list the partitioned tables")?;
    let parents: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(all.into_iter().filter(|t| !parents.contains(t)).collect())
}

/// `system identifier/database name`: which database a backup belongs to.
pub async fn database_id(client: &impl tokio_postgres::GenericClient) -> Result<String> {
    let row = client
        .query_one("SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || current_database()", &[])
        .await
        .db_context("read the database's identity")?;
    Ok(row.get(0))
}

async fn sequences(tx: &Transaction<'_>) -> Result<Vec<SequenceState>> {
    let rows = tx
        .query("SELECT sequencename::text, last_value, start_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1", &[])
        .await
        .db_context("read the sequences")?;
    Ok(rows
        .iter()
        .map(|r| SequenceState {
            name: r.get(0),
            last_value: r.get(1),
            start_value: r.get(2),
        })
        .collect())
}

/// What step 2 wrote.
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Writes the backup (to a temporary name, renamed when complete and synced).
pub async fn write(
    tx: &Transaction<'_>,
    ep: &Endpoint,
    snapshot: &str,
    header: &mut Header,
    path: &Path,
) -> Result<Written> {
    header.pre_data = pg_dump(ep, snapshot, "pre-data")?;
    header.post_data = pg_dump(ep, snapshot, "post-data")?;
    header.sequences = sequences(tx).await?;
    header.database_id = Some(database_id(tx).await?);
    header.tables = tables_with_rows(tx).await?;
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.partial");
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, ferry_shared::fsutil::create_private(&tmp)?);
    let head = serde_json::to_string(&header).map_err(|e| FerryError::Failed(e.to_string()))?;
    writeln!(out, "{{\"header\":{head},\n\"tables\":[")?;
    let mut rows = 0;
    for (i, table) in header.tables.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let columns = columns(tx, table).await?;
        let section = serde_json::json!({"table": table, "columns": columns});
        let open = section.to_string();
        writeln!(out, "{sep}{},\"rows\":[", &open[..open.len() - 1])?;
        let n = copy_rows(tx, table, &columns, &mut out).await?;
        writeln!(out, "],\"row_count\":{n}}}")?;
        rows += n;
    }
    writeln!(out, "]}}")?;
    let file = out
        .into_inner()
        .map_err(|e| FerryError::Io(e.into_error()))?;
    file.sync_all()?;
    fs_err::rename(&tmp, path)?;
    ferry_shared::fsutil::sync_dir(path.parent().unwrap_or(Path::new(".")));
    let bytes = fs_err::metadata(path)?.len();
    Ok(Written {
        path: path.to_path_buf(),
        rows,
        bytes,
    })
}

/// The columns a row is made of (generated ones are computed again on restore).
pub async fn columns(tx: &Transaction<'_>, table: &str) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = ('public.' || quote_ident($1))::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            &[&table],
        )
        .await
        .with_db_context(|| format!("read the columns of {table}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `COPY public.t (c1, c2, …)`: the statement both directions use.
pub fn copy_target(table: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_pg(c)).collect();
    format!("public.{} ({})", quote_pg(table), cols.join(", "))
}

/// Streams one table's rows, each PostgreSQL's own COPY text line (exact for every type, and
/// what a restore feeds back to COPY) written as a JSON string, a comma before all but the first.
async fn copy_rows(
    tx: &Transaction<'_>,
    table: &str,
    columns: &[String],
    out: &mut impl Write,
) -> Result<u64> {
    let sql = format!("COPY {} TO STDOUT", copy_target(table, columns));
    let stream = tx
        .copy_out(&sql)
        .await
        .with_db_context(|| format!("back up {table}"))?;
    futures_util::pin_mut!(stream);
    let (mut rows, mut carry) = (0_u64, Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_db_context(|| format!("back up {table}"))?;
        carry.extend_from_slice(&chunk);
        let Some(end) = carry.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        for line in carry[..end].split(|b| *b == b'\n') {
            write_row(out, line, rows)?;
            rows += 1;
        }
        carry.drain(..=end);
    }
    Ok(rows)
}

fn write_row(out: &mut impl Write, line: &[u8], index: u64) -> Result<()> {
    let text = std::str::from_utf8(line)
        .map_err(|_| FerryError::Failed("COPY wrote a line that is not UTF-8".into()))?;
    if index > 0 {
        out.write_all(b",")?;
    }
    serde_json::to_writer(&mut *out, text).map_err(|e| FerryError::Failed(e.to_string()))?;
    out.write_all(b"\n")?;
    Ok(())
}
