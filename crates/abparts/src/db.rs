//! Catalog lookups and the connection, shared by the steps, the backup and the rollback.

use ferry_shared::conn::Endpoint;
use ferry_shared::{DbContext, FerryError, Result};
use tokio_postgres::{Client, GenericClient};

/// Connects for a migration: Ferry's session settings (UTC, ISO dates, exact floats).
pub async fn connect(ep: &Endpoint) -> Result<Client> {
    ferry_shared::conn::connect_postgres(ep).await
}

/// Whether `table.column` exists in schema public.
pub async fn column_exists(client: &impl GenericClient, table: &str, column: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident($1)) AND attname = $2 AND NOT attisdropped)",
            &[&table, &column],
        )
        .await
        .with_db_context(|| format!("look for column {table}.{column}"))?;
    Ok(row.get(0))
}

/// The ordinary tables of schema public, by name.
pub async fn public_tables(client: &impl GenericClient) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1",
            &[],
        )
        .await
        .db_context("list the tables of schema public")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Takes the advisory lock of this database's restructuring for the whole connection, so two
/// runs (or a run and a rollback) never interleave; the server drops it with the connection.
/// Taken before the transaction, whose first statement must be the table lock. Refuses at
/// once rather than waiting.
pub async fn lock(client: &impl GenericClient) -> Result<()> {
    let got: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext('ferry migrate-abparts'))",
            &[],
        )
        .await
        .db_context("take the advisory lock")?
        .get(0);
    if !got {
        return Err(FerryError::Failed(
            "another migrate-abparts run (migrate, rollback or test) holds this database; wait for it to end".into(),
        ));
    }
    Ok(())
}

/// The state of the database, for `status` and for refusing the wrong command.
pub async fn shape(client: &impl GenericClient) -> Result<&'static str> {
    let before = column_exists(client, "organizations", "type").await?;
    let after = column_exists(client, "organizations", "organization_type").await?;
    Ok(match (before, after) {
        (true, false) => "before",
        (true, true) => "before (AFTER columns added, data not moved)",
        (false, true) => "after",
        (false, false) => "unknown (no organizations table of either model)",
    })
}
