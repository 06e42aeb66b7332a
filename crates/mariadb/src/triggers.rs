//! Target triggers set aside while rows are loaded or deleted, and put back afterwards.
//! MariaDB cannot switch triggers off for a session, so `customer-filter` and
//! `delete-migrated` drop them for the duration; this module keeps that in one place, with
//! the state file recording each trigger before it is dropped so that a crash cannot lose it.

use crate::state::{self, Files, State};
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// Sets aside every trigger of the target databases: MariaDB cannot switch triggers off for
/// a session, and a BEFORE INSERT trigger would change migrated rows. They are recorded in
/// the state file first, so a crash cannot lose them.
pub(crate) async fn suspend_triggers(
    dst: &mut Conn,
    tdbs: &[String],
    files: &Files,
    st: &mut State,
) -> Result<()> {
    for tdb in tdbs {
        suspend_on(dst, tdb, None, files, st).await?;
    }
    Ok(())
}

/// Sets aside the triggers of one table only: the window in which a target lacks a trigger
/// is that table's copy, not the whole run (and never a prompt).
pub(crate) async fn suspend_table_triggers(
    dst: &mut Conn,
    tdb: &str,
    table: &str,
    files: &Files,
    st: &mut State,
) -> Result<()> {
    suspend_on(dst, tdb, Some(table), files, st).await
}

async fn suspend_on(
    dst: &mut Conn,
    tdb: &str,
    table: Option<&str>,
    files: &Files,
    st: &mut State,
) -> Result<()> {
    {
        let names: Vec<String> = dst
            .exec("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND (? IS NULL OR EVENT_OBJECT_TABLE = ?) ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", (tdb, table, table))
            .await
            .with_db_context(|| format!("list triggers of {tdb}"))?;
        for name in names {
            dst.query_drop(format!("USE {}", q(tdb)))
                .await
                .with_db_context(|| format!("use {tdb}"))?;
            let row: Option<mysql_async::Row> = dst
                .query_first(format!("SHOW CREATE TRIGGER {}", q(&name)))
                .await
                .with_db_context(|| format!("read trigger {tdb}.{name}"))?;
            let Some(row) = row else { continue };
            let mode: Option<String> = row.get(1);
            let ddl: Option<String> = row.get(2);
            let t = state::SuspendedTrigger {
                db: tdb.to_string(),
                name: name.clone(),
                sql_mode: mode.unwrap_or_default(),
                ddl: crate::schema_copy::strip_definer(&ddl.unwrap_or_default()),
            };
            if !st.suspended_triggers.contains(&t) {
                st.suspended_triggers.push(t);
            }
            files.save(st)?;
            dst.query_drop(format!("DROP TRIGGER {}.{}", q(tdb), q(&name)))
                .await
                .with_db_context(|| format!("set trigger {tdb}.{name} aside"))?;
            tracing::info!("trigger {tdb}.{name} set aside during the load");
        }
    }
    Ok(())
}

/// Recreates the triggers set aside (this run's, or a crashed run's).
pub(crate) async fn restore_triggers(dst: &mut Conn, files: &Files, st: &mut State) -> Result<()> {
    while let Some(t) = st.suspended_triggers.first().cloned() {
        let exists: Option<String> = dst
            .exec_first("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME = ?", (&t.db, &t.name))
            .await
            .with_db_context(|| format!("read trigger {}.{}", t.db, t.name))?;
        if exists.is_none() {
            dst.query_drop(format!("USE {}", q(&t.db)))
                .await
                .with_db_context(|| format!("use {}", t.db))?;
            dst.query_drop(format!(
                "SET SESSION sql_mode = '{}'",
                t.sql_mode.replace('\'', "''")
            ))
            .await
            .db_context("set sql_mode")?;
            let res = dst.query_drop(&t.ddl).await;
            dst.query_drop("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'")
                .await
                .db_context("reset sql_mode")?;
            res.with_db_context(|| format!("restore trigger {}.{}", t.db, t.name))?;
            tracing::info!("trigger {}.{} restored", t.db, t.name);
        }
        st.suspended_triggers.remove(0);
        files.save(st)?;
    }
    Ok(())
}

/// Restores the triggers any customer set's crashed run left aside (this set's first), so
/// every command starts from the target's own triggers.
pub(crate) async fn restore_all(dst: &mut Conn, files: &Files, st: &mut State) -> Result<()> {
    restore_triggers(dst, files, st).await?;
    for other in files.others()? {
        restore_for(dst, &other).await?;
    }
    Ok(())
}

/// Restores the triggers every customer set of the state folder `dir` left aside (for a
/// tool that belongs to no customer set: schema-copy).
pub async fn restore_in_dir(dst: &mut Conn, dir: &std::path::Path) -> Result<()> {
    for f in Files::all_in(dir)? {
        restore_for(dst, &f).await?;
    }
    Ok(())
}

async fn restore_for(dst: &mut Conn, f: &Files) -> Result<()> {
    let mut st = f.load()?;
    if st.suspended_triggers.is_empty() {
        return Ok(());
    }
    restore_triggers(dst, f, &mut st).await
}
