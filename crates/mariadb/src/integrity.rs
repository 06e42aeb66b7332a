//! The integrity check `customer-filter` and `delete-migrated` end with: every foreign key
//! (declared or implicit) of the target databases, each child row whose key points at no
//! parent row. All of them go to `orphans_*.ndjson` beside the state file.

use crate::closure::{Fk, Schema};
use crate::state::Files;
use ferry_shared::sql::quote_mysql as q;
use ferry_shared::{DbContext, Result};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// What the check found.
#[derive(Debug, Default)]
pub struct Found {
    /// Child rows pointing at no parent (a failed migration).
    pub orphans: u64,
    /// Child rows pointing into a table the configuration never migrates (SKIP_TABLES):
    /// expected, listed and said, not a failure.
    pub into_skipped: u64,
}

/// Child rows of `f` in `tdb` whose key matches no parent row; each as its child key and
/// foreign-key values.
async fn dangling(
    dst: &mut Conn,
    tdb: &str,
    schema: &Schema,
    f: &Fk,
) -> Result<Vec<Vec<Option<String>>>> {
    let Some(child) = schema.tables.get(&f.child) else {
        return Ok(Vec::new());
    };
    let show: Vec<String> = child
        .primary_key
        .iter()
        .chain(&f.cols)
        .map(|c| format!("c.{}", q(c)))
        .collect();
    let sql = format!(
        "SELECT {show} FROM {tdb}.{child} c WHERE {notnull} AND NOT EXISTS (SELECT 1 FROM {tdb}.{parent} p WHERE {join})",
        show = show.join(", "),
        tdb = q(tdb),
        child = q(&f.child),
        parent = q(&f.parent),
        notnull = f.cols.iter().map(|c| format!("c.{} IS NOT NULL", q(c))).collect::<Vec<_>>().join(" AND "),
        join = f.cols.iter().zip(&f.refs).map(|(c, r)| format!("p.{} = c.{}", q(r), q(c))).collect::<Vec<_>>().join(" AND "),
    );
    let rows: Vec<mysql_async::Row> = dst
        .query(sql)
        .await
        .with_db_context(|| format!("integrity check of {tdb}.{}", f.child))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<Option<String>, _>(i).flatten())
                .collect()
        })
        .collect())
}

/// Checks every foreign key of the target databases; `skipped(tdb, table)` says which
/// parents are never migrated. Warns about the first 20 and writes all to the orphans file.
pub async fn check(
    dst: &mut Conn,
    targets: &[(&str, &Schema)],
    files: &Files,
    skipped: &dyn Fn(&str, &str) -> bool,
) -> Result<Found> {
    let mut found = Found::default();
    let mut lines = String::new();
    for (tdb, schema) in targets {
        for f in &schema.fks {
            let into_skipped = skipped(tdb, &f.parent);
            for vals in dangling(dst, tdb, schema, f).await? {
                let n = found.orphans + found.into_skipped;
                if n < 20 {
                    tracing::warn!(
                        "{}: {tdb}.{} {vals:?} → {}({}){}",
                        if into_skipped {
                            "reference into a skipped table"
                        } else {
                            "orphan"
                        },
                        f.child,
                        f.parent,
                        f.refs.join(", "),
                        if f.implicit { ", implicit key" } else { "" }
                    );
                }
                if into_skipped {
                    found.into_skipped += 1;
                } else {
                    found.orphans += 1;
                }
                lines.push_str(
                    &serde_json::json!({
                        "database": tdb, "table": f.child, "columns": f.cols,
                        "references": format!("{}({})", f.parent, f.refs.join(", ")),
                        "implicit": f.implicit, "parent_skipped": into_skipped, "row": vals,
                    })
                    .to_string(),
                );
                lines.push('\n');
            }
        }
    }
    if !lines.is_empty() {
        let path = orphans_path(files);
        ferry_shared::fsutil::write_atomic(&path, lines.as_bytes())?;
        tracing::warn!(
            "{} orphan rows, {} references into skipped tables; all of them in {}",
            found.orphans,
            found.into_skipped,
            path.display()
        );
    }
    Ok(found)
}

/// `orphans_1_2_3.ndjson` beside `migration_state_1_2_3.json`.
fn orphans_path(files: &Files) -> std::path::PathBuf {
    let name = files
        .state
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .replace("migration_state_", "orphans_")
                .replace(".json", ".ndjson")
        })
        .unwrap_or_else(|| "orphans.ndjson".into());
    files.state.with_file_name(name)
}
