//! The statements `migrate-lustores` runs itself in the target: clearing it, the users, the
//! admins' snapshot and restore, sequences, and the dry run's scratch copy of the tables.

use ferry_shared::error::DbError;
use ferry_shared::sql::quote_pg;
use ferry_shared::{FerryError, Result};
use tokio_postgres::Client;

/// The tables step 1 empties (the real script's list, plus the charge-code tables that
/// reference chargecodes). Users, sessions, permissions, settings and the migrations'
/// tracking table are kept: they are the application's, not the legacy data's.
pub const CLEAR: [&str; 16] = [
    "sale_items",
    "sales",
    "quote_items",
    "quotes",
    "order_items",
    "orders",
    "sources",
    "stock_movements",
    "items",
    "suppliers",
    "charge_code_exclusions",
    "charge_code_authorized_users",
    "charge_code_assignments",
    "chargecodes",
    "categories",
    "notes",
];

pub fn db(context: &str, e: tokio_postgres::Error) -> FerryError {
    DbError::wrap(context.to_string(), e).into()
}

/// `schema.table`, quoted.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_pg(schema), quote_pg(table))
}

/// A session lock on the target for the run: a second migrate-lustores into the same
/// database (from another folder) is refused instead of clearing what this one loads.
pub async fn lock(c: &Client) -> Result<()> {
    let got: bool = c
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext('ferry migrate-lustores'))",
            &[],
        )
        .await
        .map_err(|e| db("lock the target", e))?
        .get(0);
    if got {
        Ok(())
    } else {
        Err(FerryError::Usage(
            "another migrate-lustores is writing to this target database; wait for it to finish"
                .into(),
        ))
    }
}

/// The base tables of `schema`.
pub async fn tables(c: &Client, schema: &str) -> Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(|e| db("list the target's tables", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Empties the [`CLEAR`] tables that exist, in one transaction, restarting their ids.
pub async fn clear(c: &mut Client, schema: &str) -> Result<Vec<String>> {
    let present = tables(c, schema).await?;
    let list: Vec<String> = CLEAR
        .iter()
        .filter(|t| present.iter().any(|p| p == *t))
        .map(|t| qualified(schema, t))
        .collect();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let tx = c
        .transaction()
        .await
        .map_err(|e| db("begin the clear", e))?;
    tx.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", list.join(", ")))
        .await
        .map_err(|e| db("empty the target's tables (step 1)", e))?;
    tx.commit().await.map_err(|e| db("commit the clear", e))?;
    Ok(list)
}

/// The active admin users, whole, as JSON objects.
pub async fn admins(c: &Client, schema: &str) -> Result<Vec<serde_json::Value>> {
    let sql = format!(
        "SELECT row_to_json(u) FROM {} u WHERE role = 'admin' AND is_active ORDER BY id",
        qualified(schema, "users")
    );
    let rows = c
        .query(&sql, &[])
        .await
        .map_err(|e| db("read the admin users", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Step 9: every admin of the step-1 snapshot is present with the same id, e-mail and
/// password hash; one that went missing is inserted back whole. Returns (kept, restored).
pub async fn restore_admins(
    c: &Client,
    schema: &str,
    snapshot: &[serde_json::Value],
) -> Result<(u64, u64)> {
    let users = qualified(schema, "users");
    let (mut kept, mut restored) = (0, 0);
    for admin in snapshot {
        let id = admin["id"].as_str().unwrap_or_default();
        let now = c
            .query_opt(
                &format!("SELECT row_to_json(u) FROM {users} u WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|e| db("read an admin user", e))?;
        match now.map(|r| r.get::<_, serde_json::Value>(0)) {
            Some(row) if row["email"] == admin["email"] && row["password_hash"] == admin["password_hash"] => kept += 1,
            Some(_) => {
                return Err(FerryError::Failed(format!(
                    "admin user {id} changed during the migration (e-mail or password hash): check it by hand; its step-1 state is in the run's admins.json"
                )))
            }
            None => {
                let sql = format!("INSERT INTO {users} SELECT * FROM json_populate_record(NULL::{users}, $1::text::json)");
                c.execute(&sql, &[&admin.to_string()]).await.map_err(|e| db("restore an admin user", e))?;
                tracing::warn!("admin user {id} was missing: restored from the step-1 snapshot");
                restored += 1;
            }
        }
    }
    Ok((kept, restored))
}

/// Moves the `id` sequence of `table` past its largest id (ids were given explicitly).
pub async fn sync_sequence(c: &Client, schema: &str, table: &str) -> Result<()> {
    let t = qualified(schema, table);
    let seq: Option<String> = c
        .query_opt(
            "SELECT pg_get_serial_sequence($1, 'id') FROM information_schema.columns WHERE table_schema = $2 AND table_name = $3 AND column_name = 'id'",
            &[&t, &schema, &table],
        )
        .await
        .map_err(|e| db("find an id sequence", e))?
        .and_then(|r| r.get(0));
    if let Some(seq) = seq {
        c.execute(
            &format!("SELECT setval($1::text::regclass, COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"),
            &[&seq],
        )
        .await
        .map_err(|e| db("move an id sequence", e))?;
    }
    Ok(())
}

/// Deletes every row of `table` (a load restarted without its checkpoint: its first batch
/// may have committed).
pub async fn empty(c: &Client, schema: &str, table: &str) -> Result<u64> {
    c.execute(&format!("DELETE FROM {}", qualified(schema, table)), &[])
        .await
        .map_err(|e| db("empty a table before its load starts over", e))
}

/// The dry run's scratch schema: every table of `public` copied empty with its defaults,
/// checks, keys and indexes, the foreign keys re-pointed inside the copy, and the users
/// copied (rows reference them).
pub async fn scratch(c: &Client, name: &str) -> Result<()> {
    let s = quote_pg(name);
    let mut sql = format!("CREATE SCHEMA {s};\n");
    for t in tables(c, "public").await? {
        sql.push_str(&format!(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);\n",
            qualified(name, &t),
            qualified("public", &t)
        ));
    }
    c.batch_execute(&format!("SET search_path = public; {sql}"))
        .await
        .map_err(|e| db("create the dry run's scratch tables", e))?;
    let fks = c
        .query(
            "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND k.contype = 'f'",
            &[],
        )
        .await
        .map_err(|e| db("read the target's foreign keys", e))?;
    let mut add = format!("SET search_path = {s}, public;\n");
    for r in &fks {
        let (t, k, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        add.push_str(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {def};\n",
            qualified(name, &t),
            quote_pg(&k)
        ));
    }
    add.push_str(&format!(
        "INSERT INTO {} SELECT * FROM public.users;\nSET search_path = public;",
        qualified(name, "users")
    ));
    c.batch_execute(&add)
        .await
        .map_err(|e| db("copy the foreign keys into the scratch tables", e))
}

/// Drops the scratch schemas of dry runs that were killed before they could (the caller
/// holds the target's lock, so none of them is in use).
pub async fn drop_leftover_scratch(c: &Client) -> Result<()> {
    let rows = c
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ferry\\_dry\\_%'",
            &[],
        )
        .await
        .map_err(|e| db("look for dry runs' scratch schemas", e))?;
    for r in rows {
        let name: String = r.get(0);
        tracing::warn!(
            "dropping {name}, the scratch copy of a dry run that was stopped before it could"
        );
        drop_scratch(c, &name).await?;
    }
    Ok(())
}

/// Drops the scratch schema.
pub async fn drop_scratch(c: &Client, name: &str) -> Result<()> {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_pg(name)))
        .await
        .map_err(|e| db("drop the dry run's scratch tables", e))
}

/// A foreign key of a loaded table, as `pg_get_constraintdef` prints it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ForeignKey {
    pub table: String,
    pub name: String,
    pub definition: String,
}

impl From<&tokio_postgres::Row> for ForeignKey {
    /// A row of (table, name, definition).
    fn from(r: &tokio_postgres::Row) -> ForeignKey {
        ForeignKey {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        }
    }
}

/// The foreign keys declared on `tables`.
pub async fn foreign_keys(c: &Client, schema: &str, tables: &[&str]) -> Result<Vec<ForeignKey>> {
    let names: Vec<String> = tables.iter().map(|t| (*t).to_string()).collect();
    c.batch_execute(&format!("SET search_path = {}", quote_pg(schema)))
        .await
        .map_err(|e| db("set the search path", e))?;
    let rows = c
        .query(
            "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND k.contype = 'f' AND c.relname::text = ANY($2) ORDER BY 1, 2",
            &[&schema, &names],
        )
        .await
        .map_err(|e| db("read the loaded tables' foreign keys", e))?;
    Ok(rows.iter().map(ForeignKey::from).collect())
}

/// Where the dropped keys wait for their return: a table in the target itself, written in
/// the same transaction as the drops and emptied in the one that adds them back, so no crash,
/// lost work folder or new run can forget a key.
pub const PENDING: &str = "ferry_dropped_foreign_keys";

/// Drops `fks` in one transaction, recording them in [`PENDING`]: a row-by-row foreign-key
/// check costs seven times the load itself, while adding the key back checks every row in one
/// pass (as pgloader does).
pub async fn drop_foreign_keys(c: &mut Client, schema: &str, fks: &[ForeignKey]) -> Result<()> {
    let pending = qualified(schema, PENDING);
    let tx = c.transaction().await.map_err(|e| db("begin", e))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {pending} (table_name text NOT NULL, name text NOT NULL, definition text NOT NULL, PRIMARY KEY (table_name, name))"
    ))
    .await
    .map_err(|e| db("record the foreign keys to drop", e))?;
    for k in fks {
        tx.execute(
            &format!("INSERT INTO {pending} VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
            &[&k.table, &k.name, &k.definition],
        )
        .await
        .map_err(|e| db("record a foreign key to drop", e))?;
        tx.batch_execute(&format!(
            "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
            qualified(schema, &k.table),
            quote_pg(&k.name)
        ))
        .await
        .map_err(|e| db("drop the foreign keys for the load", e))?;
    }
    tx.commit().await.map_err(|e| db("commit", e))
}

/// The keys [`PENDING`] holds (none when it does not exist).
async fn pending(c: &Client, schema: &str) -> Result<Vec<ForeignKey>> {
    let exists: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&qualified(schema, PENDING)],
        )
        .await
        .map_err(|e| db("look for dropped foreign keys", e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = c
        .query(
            &format!(
                "SELECT table_name, name, definition FROM {} ORDER BY 1, 2",
                qualified(schema, PENDING)
            ),
            &[],
        )
        .await
        .map_err(|e| db("read the dropped foreign keys", e))?;
    Ok(rows.iter().map(ForeignKey::from).collect())
}

/// Adds back every key [`PENDING`] holds that is missing, each validated against every
/// row, and removes the record, in one transaction. Returns how many were added.
pub async fn add_foreign_keys(c: &mut Client, schema: &str) -> Result<usize> {
    let fks = pending(c, schema).await?;
    if fks.is_empty() {
        return Ok(0);
    }
    let present = foreign_keys(
        c,
        schema,
        &fks.iter().map(|k| k.table.as_str()).collect::<Vec<_>>(),
    )
    .await?;
    let missing: Vec<&ForeignKey> = fks
        .iter()
        .filter(|k| {
            !present
                .iter()
                .any(|p| p.table == k.table && p.name == k.name)
        })
        .collect();
    let mut sql = format!("SET LOCAL search_path = {};\n", quote_pg(schema));
    for k in &missing {
        sql.push_str(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {};\n",
            qualified(schema, &k.table),
            quote_pg(&k.name),
            k.definition
        ));
    }
    sql.push_str(&format!("DROP TABLE {};\n", qualified(schema, PENDING)));
    let tx = c.transaction().await.map_err(|e| db("begin", e))?;
    tx.batch_execute(&sql).await.map_err(|e| {
        db("add the foreign keys back: a row refers to nothing. Rows the database refused in a load are in rejects/load-*.rejects.ndjson (their references then dangle); fix the legacy rows and run again: a new run empties the tables and adds the keys back first", e)
    })?;
    tx.commit().await.map_err(|e| db("commit", e))?;
    c.batch_execute("SET search_path = public")
        .await
        .map_err(|e| db("reset the search path", e))?;
    Ok(missing.len())
}
