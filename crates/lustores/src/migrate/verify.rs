//! The verification (the document's Step 6 of its guide, built in): counts per table against
//! the legacy rows net of skips, money totals legacy vs target, every reference resolving.

use super::runner::Runner;
use super::target::{db, qualified};
use crate::money;
use crate::output::Counts;
use crate::transform::Entity;
use mysql_async::prelude::Queryable;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use tokio_postgres::Client;

/// One comparison.
#[derive(Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub expected: String,
    pub found: String,
    pub ok: bool,
}

/// References that must resolve: (child table, column, parent table, parent column).
const REFERENCES: [(&str, &str, &str, &str); 11] = [
    ("items", "category_id", "categories", "id"),
    ("items", "created_by", "users", "id"),
    ("orders", "supplier_id", "suppliers", "id"),
    ("orders", "created_by", "users", "id"),
    ("order_items", "order_id", "orders", "id"),
    ("order_items", "item_id", "items", "id"),
    ("sales", "charge_code", "chargecodes", "code"),
    ("sales", "processed_by", "users", "id"),
    ("sale_items", "sale_id", "sales", "id"),
    ("sale_items", "item_id", "items", "id"),
    (
        "charge_code_authorized_users",
        "charge_code",
        "chargecodes",
        "code",
    ),
];

/// Money compared: (entity, table, SQL sum).
const MONEY: [(Entity, &str, &str); 5] = [
    (Entity::Items, "items", "SUM(price * current_stock)"),
    (Entity::Orders, "orders", "SUM(total_amount)"),
    (Entity::Orders, "order_items", "SUM(total_cost)"),
    (Entity::Sales, "sales", "SUM(subtotal_amount)"),
    (Entity::Sales, "sale_items", "SUM(subtotal)"),
];

/// Legacy sums: (entity, legacy table, SQL).
const LEGACY: [(Entity, &str, &str); 3] = [
    (
        Entity::Items,
        "stock",
        "SELECT COUNT(*), CAST(COALESCE(SUM(`PRICE` * `BALANCE`), 0) AS CHAR) FROM stock",
    ),
    (
        Entity::Orders,
        "orders",
        "SELECT COUNT(*), CAST(COALESCE(SUM(`VALUE`), 0) AS CHAR) FROM orders",
    ),
    (
        Entity::Sales,
        "issues",
        "SELECT COUNT(*), CAST(COALESCE(SUM(`VALUE`), 0) AS CHAR) FROM issues",
    ),
];

fn check(what: String, expected: impl ToString, found: impl ToString, ok: bool) -> Check {
    Check {
        what,
        expected: expected.to_string(),
        found: found.to_string(),
        ok,
    }
}

/// `CHECKSUM TABLE` of the legacy tables read (MariaDB scans each; equal contents give
/// equal sums).
pub async fn legacy_checksums(
    ep: &ferry_shared::conn::Endpoint,
) -> anyhow::Result<BTreeMap<String, Option<u64>>> {
    let mut my = ferry_shared::conn::connect_mysql(ep).await?;
    let rows: Vec<(String, Option<u64>)> = my
        .query("CHECKSUM TABLE `vatparams`, `supplier`, `stock`, `charge`, `orders`, `issues`, `users`")
        .await
        .map_err(|e| ferry_shared::FerryError::from(ferry_shared::error::DbError::wrap("checksum the legacy tables", e)))?;
    Ok(rows
        .into_iter()
        .map(|(t, sum)| (t.rsplit('.').next().unwrap_or(&t).to_string(), sum))
        .collect())
}

impl Runner {
    /// Before anything is read: the legacy tables' checksums, so the verification can tell
    /// that the target was made from the legacy data as it still is (unchanged during the
    /// reads, and between a crash and its resume).
    pub async fn record_legacy_checksums(&mut self) -> anyhow::Result<()> {
        let step = "legacy:checksums";
        if self.done(step) {
            return Ok(());
        }
        let sums = legacy_checksums(&self.source.endpoint).await?;
        let file = self.path("extracted/legacy_checksums.json");
        ferry_shared::fsutil::write_json_atomic(&file, &sums)?;
        self.complete(step, &[file])
    }

    /// Every check; each failing one is logged.
    pub async fn verify(&mut self, c: &Client) -> anyhow::Result<Vec<Check>> {
        let mut checks = Vec::new();
        for entity in Entity::all() {
            let counts = self.counts(entity)?;
            for table in entity.tables() {
                let expected = counts.tables.get(*table).map_or(0, |t| t.migrated)
                    + counts.extra_rows.get(*table).copied().unwrap_or(0);
                let found = self
                    .scalar(
                        c,
                        &format!(
                            "SELECT COUNT(*)::text FROM {}",
                            qualified(&self.schema, table)
                        ),
                    )
                    .await?;
                checks.push(check(
                    format!("rows in {table}"),
                    expected,
                    &found,
                    found == expected.to_string(),
                ));
            }
        }
        let lsu = self
            .scalar(
                c,
                &format!(
                    "SELECT COUNT(*)::text FROM {} WHERE id = 'legacy-system'",
                    qualified(&self.schema, "users")
                ),
            )
            .await?;
        checks.push(check("the Legacy System user".into(), 1, &lsu, lsu == "1"));
        self.money(c, &mut checks).await?;
        self.references(c, &mut checks).await?;
        self.legacy(&mut checks).await?;
        self.legacy_rows(&mut checks).await?;
        let then: BTreeMap<String, Option<u64>> = serde_json::from_str(&fs_err::read_to_string(
            self.path("extracted/legacy_checksums.json"),
        )?)?;
        for (table, sum) in legacy_checksums(&self.source.endpoint).await? {
            let before = then.get(&table).copied().flatten();
            let text = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
            checks.push(check(
                format!("legacy {table} unchanged since it was read (CHECKSUM TABLE)"),
                text(before),
                text(sum),
                before == sum,
            ));
        }
        for ch in checks.iter().filter(|ch| !ch.ok) {
            tracing::error!(
                "verification: {}: expected {}, found {}",
                ch.what,
                ch.expected,
                ch.found
            );
        }
        ferry_shared::fsutil::write_json_atomic(&self.path("reports/verification.json"), &checks)?;
        Ok(checks)
    }

    async fn scalar(&self, c: &Client, sql: &str) -> anyhow::Result<String> {
        let row = c
            .query_one(sql, &[])
            .await
            .map_err(|e| db("verify the target", e))?;
        Ok(row
            .get::<_, Option<String>>(0)
            .unwrap_or_else(|| "0".into()))
    }

    async fn money(&self, c: &Client, checks: &mut Vec<Check>) -> anyhow::Result<()> {
        for (entity, table, sum) in MONEY {
            let counts = self.counts(entity)?;
            let expected = counts
                .money
                .get(entity.name())
                .map(|m| m.expected)
                .unwrap_or_default();
            let found = self
                .scalar(
                    c,
                    &format!(
                        "SELECT COALESCE({sum}, 0)::text FROM {}",
                        qualified(&self.schema, table)
                    ),
                )
                .await?;
            let ok = Decimal::from_str(&found).is_ok_and(|f| f == expected);
            checks.push(check(
                format!("{sum} of {table}"),
                expected.normalize(),
                found,
                ok,
            ));
        }
        Ok(())
    }

    async fn references(&self, c: &Client, checks: &mut Vec<Check>) -> anyhow::Result<()> {
        for (child, col, parent, pcol) in REFERENCES {
            let sql = format!(
                "SELECT COUNT(*)::text FROM {} c WHERE c.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} p WHERE p.{pcol} = c.{col})",
                qualified(&self.schema, child),
                qualified(&self.schema, parent)
            );
            let dangling = self.scalar(c, &sql).await?;
            checks.push(check(
                format!("{child}.{col} → {parent}.{pcol}: rows that resolve to nothing"),
                0,
                &dangling,
                dangling == "0",
            ));
        }
        Ok(())
    }

    /// The legacy tables without money: every row was examined.
    async fn legacy_rows(&self, checks: &mut Vec<Check>) -> anyhow::Result<()> {
        let mut my = ferry_shared::conn::connect_mysql(&self.source.endpoint).await?;
        for (entity, table) in [
            (Entity::Suppliers, "supplier"),
            (Entity::Chargecodes, "charge"),
        ] {
            let rows: u64 = my
                .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
                .await
                .map_err(|e| {
                    ferry_shared::FerryError::from(ferry_shared::error::DbError::wrap(
                        "verify the legacy tables",
                        e,
                    ))
                })?
                .unwrap_or(0);
            let read = self.counts(entity)?.source_rows;
            checks.push(check(
                format!("legacy {table} rows examined"),
                rows,
                read,
                rows == read,
            ));
        }
        Ok(())
    }

    /// Every legacy row was examined, and the legacy money of the migrated and the
    /// not-migrated rows adds up to the legacy table's (within a penny: the source sums
    /// doubles).
    async fn legacy(&self, checks: &mut Vec<Check>) -> anyhow::Result<()> {
        let mut my = ferry_shared::conn::connect_mysql(&self.source.endpoint).await?;
        for (entity, table, sql) in LEGACY {
            let counts: Counts = self.counts(entity)?;
            let (rows, sum): (u64, String) = my
                .query_first(sql)
                .await
                .map_err(|e| {
                    ferry_shared::FerryError::from(ferry_shared::error::DbError::wrap(
                        "verify the legacy tables",
                        e,
                    ))
                })?
                .unwrap_or((0, "0".into()));
            checks.push(check(
                format!("legacy {table} rows examined"),
                rows,
                counts.source_rows,
                rows == counts.source_rows,
            ));
            let m = counts.money.get(entity.name()).cloned().unwrap_or_default();
            let legacy = f64::from_str(&sum)
                .ok()
                .and_then(money::exact)
                .unwrap_or_default();
            let accounted = m.legacy + m.not_migrated;
            let ok = (legacy - accounted).abs() < Decimal::new(1, 2);
            checks.push(check(
                format!("legacy {} of {table} = migrated + not migrated", m.what),
                legacy.normalize(),
                accounted.normalize(),
                ok,
            ));
        }
        Ok(())
    }
}
