//! `rollback`: puts schema public back from a backup, in one transaction that commits only
//! when the database's fingerprint equals the one the backup recorded before the migration.

use crate::backup::{Header, FORMAT};
use crate::fingerprint::Fingerprint;
use bytes::Bytes;
use ferry_shared::{DbContext, FerryError, Result};
use futures_util::SinkExt;
use std::io::BufRead;
use std::path::Path;
use tokio_postgres::Transaction;

/// Reads the header line of a backup file.
pub fn read_header(path: &Path) -> Result<(Header, std::io::BufReader<fs_err::File>)> {
    let mut r = std::io::BufReader::with_capacity(1 << 20, fs_err::File::open(path)?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let bad = |why: &str| {
        FerryError::Usage(format!(
            "{}: not a migrate-abparts backup ({why})",
            path.display()
        ))
    };
    let inner = line
        .trim_end()
        .strip_prefix("{\"header\":")
        .and_then(|l| l.strip_suffix(','))
        .ok_or_else(|| bad("first line"))?;
    let header: Header = serde_json::from_str(inner).map_err(|e| bad(&e.to_string()))?;
    if header.format != FORMAT {
        return Err(bad(&format!("format {}", header.format)));
    }
    Ok((header, r))
}

/// Drops every table, view, sequence, type and function of schema public that no extension
/// owns (an extension's objects stay, as the dump does not recreate them).
async fn drop_public(tx: &Transaction<'_>) -> Result<()> {
    let sql = r"
        SELECT stmt FROM (
          SELECT 1 AS o, format('DROP %s IF EXISTS public.%I CASCADE',
                 CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'c' THEN 'TYPE'
                                WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                 c.relname) AS stmt
          FROM pg_class c
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
          UNION ALL
          -- Functions, procedures and aggregates; not a range type's own constructors (they go
          -- with their type).
          SELECT 2, format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure)
          FROM pg_proc p
          WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p', 'a')
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
          UNION ALL
          SELECT 3, format('DROP TYPE IF EXISTS public.%I CASCADE', t.typname)
          FROM pg_type t
          WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r')
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
        ) s ORDER BY o";
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .db_context("quiet the cascade notices")?;
    let rows = tx
        .query(sql, &[])
        .await
        .db_context("list the objects of schema public")?;
    for r in rows {
        let stmt: String = r.get(0);
        tx.batch_execute(&stmt)
            .await
            .with_db_context(|| stmt.clone())?;
    }
    Ok(())
}

/// Runs a dump section, then undoes the session settings it makes (`search_path` empty, …),
/// so the fingerprint is read as before.
async fn run_section(tx: &Transaction<'_>, name: &str, sql: &str) -> Result<()> {
    tx.batch_execute(sql)
        .await
        .with_db_context(|| format!("restore the schema ({name})"))?;
    tx.batch_execute(
        "RESET search_path; RESET check_function_bodies; RESET client_min_messages; RESET row_security; RESET xmloption; RESET statement_timeout; RESET lock_timeout; RESET idle_in_transaction_session_timeout",
    )
    .await
    .db_context("reset the session after the schema")?;
    Ok(())
}

/// Loads one table's section of the file: each row's COPY text line back through COPY.
async fn load_table(
    tx: &Transaction<'_>,
    table: &str,
    columns: &[String],
    r: &mut impl BufRead,
) -> Result<u64> {
    let sql = format!(
        "COPY {} FROM STDIN",
        crate::backup::copy_target(table, columns)
    );
    let sink = tx
        .copy_in(&sql)
        .await
        .with_db_context(|| format!("restore {table}"))?;
    futures_util::pin_mut!(sink);
    let (mut buf, mut line, mut sent) = (Vec::with_capacity(1 << 20), String::new(), 0_u64);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(FerryError::Truncated(format!(
                "backup ends inside table {table}"
            )));
        }
        if line.starts_with("],\"row_count\":") {
            break;
        }
        let text: String =
            serde_json::from_str(line.trim_end().strip_prefix(',').unwrap_or(line.trim_end()))
                .map_err(|e| {
                    FerryError::Failed(format!("backup of {table}, row {}: {e}", sent + 1))
                })?;
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        sent += 1;
        if buf.len() >= 1 << 20 {
            let chunk = Bytes::from(std::mem::take(&mut buf));
            sink.send(chunk)
                .await
                .with_db_context(|| format!("restore {table}"))?;
        }
    }
    let expected: u64 = line
        .trim_end()
        .trim_start_matches("],\"row_count\":")
        .trim_end_matches('}')
        .parse()
        .unwrap_or(u64::MAX);
    sink.send(Bytes::from(buf))
        .await
        .with_db_context(|| format!("restore {table}"))?;
    let n = sink
        .finish()
        .await
        .with_db_context(|| format!("restore {table}"))?;
    if n != expected || sent != expected {
        return Err(FerryError::Failed(format!(
            "backup of {table}: {expected} rows recorded, {sent} read, {n} restored"
        )));
    }
    Ok(n)
}

/// A table section's first line: `{"table":…,"columns":[…],"rows":[`.
#[derive(serde::Deserialize)]
struct Section {
    table: String,
    columns: Vec<String>,
}

/// Reads the table sections in file order.
async fn load_tables(tx: &Transaction<'_>, header: &Header, r: &mut impl BufRead) -> Result<u64> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut total = 0;
    for table in &header.tables {
        line.clear();
        r.read_line(&mut line)?;
        let open = line.trim_end().strip_prefix(',').unwrap_or(line.trim_end());
        let section: Option<Section> = open
            .strip_suffix(",\"rows\":[")
            .and_then(|o| serde_json::from_str(&format!("{o}}}")).ok());
        let Some(section) = section.filter(|s| &s.table == table) else {
            return Err(FerryError::Failed(format!(
                "backup: expected the rows of {table}, found {:.60}",
                line.trim_end()
            )));
        };
        total += load_table(tx, table, &section.columns, r).await?;
        tracing::debug!("restored {table}");
    }
    Ok(total)
}

async fn set_sequences(tx: &Transaction<'_>, header: &Header) -> Result<()> {
    for s in &header.sequences {
        let (value, called) = match s.last_value {
            Some(v) => (v, true),
            None => (s.start_value, false),
        };
        tx.execute(
            "SELECT setval(('public.' || quote_ident($1))::regclass, $2, $3)",
            &[&s.name, &value, &called],
        )
        .await
        .with_db_context(|| format!("set sequence {}", s.name))?;
    }
    Ok(())
}

/// Fills the materialized views that were populated (a schema-only dump creates them
/// empty); the fingerprint's catalog says which ones.
async fn refresh_matviews(tx: &Transaction<'_>, header: &Header) -> Result<()> {
    for line in &header.fingerprint.catalog {
        let Some(rest) = line.strip_prefix("materialized view ") else {
            continue;
        };
        if rest.ends_with(" not populated") {
            continue;
        }
        let Some(name) = rest.rfind(" md5 ").map(|i| &rest[..i]) else {
            continue;
        };
        let stmt = format!(
            "REFRESH MATERIALIZED VIEW public.{}",
            ferry_shared::sql::quote_pg(name)
        );
        tx.batch_execute(&stmt)
            .await
            .with_db_context(|| stmt.clone())?;
    }
    Ok(())
}

/// Restores; returns the rows put back. Fails (and the caller's transaction rolls back)
/// unless the result's fingerprint equals the backup's.
pub async fn restore(tx: &Transaction<'_>, header: &Header, r: &mut impl BufRead) -> Result<u64> {
    drop_public(tx).await?;
    run_section(tx, "pre-data", &header.pre_data).await?;
    let rows = load_tables(tx, header, r).await?;
    set_sequences(tx, header).await?;
    run_section(tx, "post-data", &header.post_data).await?;
    refresh_matviews(tx, header).await?;
    let now = Fingerprint::take(tx).await?;
    let diff = header.fingerprint.differences(&now);
    if !diff.is_empty() {
        return Err(FerryError::Failed(format!(
            "the restored database differs from the backup's fingerprint ({} differences; first: {}); nothing was changed",
            diff.len(),
            diff[0]
        )));
    }
    Ok(rows)
}
