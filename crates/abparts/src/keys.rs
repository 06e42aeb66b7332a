//! Foreign keys, unique constraints and secondary indexes set aside for a bulk change and
//! put back from their own definitions: a million-row UPDATE or INSERT then checks each key
//! once, in one pass, instead of once per row (measured on 1,000,000 inventory rows: step 8
//! 66 s → 22 s, step 9 41 s → 14 s). Inside the migration's transaction nobody else sees the gap,
//! and the names and definitions come back unchanged, so the catalog is the same.

use ferry_shared::sql::quote_pg;
use ferry_shared::{DbContext, Result};
use tokio_postgres::Transaction;

/// What was set aside: the statements that put it back, in order, each with the table and
/// columns it needs (a key whose column step 11 dropped is not re-created: the drop would
/// have removed it anyway).
pub struct SetAside {
    restore: Vec<(String, String, Vec<String>)>,
}

/// The keys of a table as (drop, re-create, order, table, columns): foreign keys of other
/// tables that point at it (1), its own foreign keys (2), its primary and unique keys (3),
/// its other indexes (4). `$2` false leaves the primary key and what points at it.
const KEYS: &str = "
    SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)),
           CASE WHEN c.contype = 'f' AND c.conrelid <> $1::text::regclass THEN 1 WHEN c.contype = 'f' THEN 2 ELSE 3 END AS ord,
           c.conrelid::regclass::text,
           ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey))
    FROM pg_constraint c
    WHERE ((c.conrelid = $1::text::regclass AND c.contype IN ('f', 'u', 'p'))
       OR (c.confrelid = $1::text::regclass AND c.conrelid <> $1::text::regclass AND c.contype = 'f'))
      AND ($2 OR (c.contype <> 'p' AND c.conrelid = $1::text::regclass))
    UNION ALL
    SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), 4,
           i.indrelid::regclass::text,
           ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
    FROM pg_index i
    WHERE i.indrelid = $1::text::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
    ORDER BY 3, 1";

/// Drops every key and index of `table` and, with `primary`, its primary key and the
/// foreign keys that point at it; [`SetAside::put_back`] re-creates them in reverse order.
pub async fn set_aside(tx: &Transaction<'_>, table: &str, primary: bool) -> Result<SetAside> {
    let name = format!("public.{}", quote_pg(table));
    let rows = tx
        .query(KEYS, &[&name, &primary])
        .await
        .with_db_context(|| format!("read the keys of {table}"))?;
    let mut restore = Vec::new();
    for r in &rows {
        let drop: String = r.get(0);
        tx.batch_execute(&drop)
            .await
            .with_db_context(|| drop.clone())?;
        restore.push((r.get(1), r.get(3), r.get(4)));
    }
    restore.reverse();
    tracing::debug!("set aside {} key(s) of {name}", restore.len());
    Ok(SetAside { restore })
}

impl SetAside {
    /// Puts everything back; each foreign key is checked over the whole table here.
    pub async fn put_back(self, tx: &Transaction<'_>) -> Result<()> {
        for (stmt, table, columns) in &self.restore {
            let present: bool = tx
                .query_one(
                    "SELECT count(*) = cardinality($2::text[]) FROM pg_attribute WHERE attrelid = $1::text::regclass AND attname = ANY($2::text[]) AND NOT attisdropped",
                    &[table, columns],
                )
                .await
                .with_db_context(|| format!("look up the columns of {stmt}"))?
                .get(0);
            if !present {
                tracing::debug!("not re-created (a column is gone): {stmt}");
                continue;
            }
            tx.batch_execute(stmt)
                .await
                .with_db_context(|| stmt.clone())?;
        }
        Ok(())
    }
}
