//! Steps 3–11: each a few set-based statements inside the migration's one transaction, with
//! every value taken from the [`Plan`] step 1 made from the rules.

use crate::before::Plan;
use crate::mapping::Mapping;
use ferry_generic::apply_migrations::{apply_in_transaction, Migration};
use ferry_shared::{DbContext, FerryError, Result};
use serde_json::json;
use tokio_postgres::Transaction;

/// Step 11's statements: drop the old columns, NOT NULL on the filled ones, the global
/// serial-number key.
pub const CLEANUP: &str = include_str!("../../../fixtures/abparts/step11_cleanup_old_data.sql");

/// The tracking table of the AFTER schema's migrations (apply-migrations' default).
pub const TRACKING_TABLE: &str = "applied_migrations";

/// Records handled by a step, out of how many.
pub type Counts = (i64, i64);

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn len(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Step 3: the AFTER schema's migrations (additive), then type, parent and is_active of every
/// organization in one UPDATE (the CHECK on suppliers holds per row), then the
/// organizations the model needs.
pub async fn organizations(
    tx: &Transaction<'_>,
    m: &Mapping,
    plan: &Plan,
    migrations: &[Migration],
) -> Result<(crate::keys::SetAside, Counts)> {
    // The BEFORE keys of inventory wait until step 11: migration 0008 then rewrites the
    // table without them, and those on columns step 11 drops are never rebuilt.
    let early = crate::keys::set_aside(tx, "inventory", false).await?;
    let applied = apply_in_transaction(tx, migrations, TRACKING_TABLE).await?;
    tracing::info!(
        "applied {} schema migration(s) of the AFTER model: {}",
        applied.len(),
        applied.join(", ")
    );
    let (ids, types): (Vec<String>, Vec<String>) = plan.org_types.iter().cloned().unzip();
    let updated = tx
        .execute(
            "UPDATE organizations o SET organization_type = v.t::organizationtype, parent_organization_id = CASE WHEN v.t = 'supplier' THEN $3::text::uuid END, is_active = true FROM unnest($1::text[], $2::text[]) AS v(id, t) WHERE o.id = v.id::uuid",
            &[&ids, &types, &plan.oraseas_id],
        )
        .await
        .db_context("set the organization types")?;
    for i in &plan.create {
        let e = &m.organizations.ensure[*i];
        tx.execute(
            "INSERT INTO organizations (id, name, organization_type, address, contact_info, is_active) VALUES ($1::text::uuid, $2, $3::text::organizationtype, $4, $5, true)",
            &[&e.id, &e.name, &e.organization_type, &e.address, &e.contact_info],
        )
        .await
        .with_db_context(|| format!("create organization {}", e.name))?;
        tracing::info!("created organization {} ({})", e.name, e.organization_type);
    }
    let total = len(plan.org_types.len() + plan.create.len());
    Ok((early, (n(updated) + len(plan.create.len()), total)))
}

/// Step 4: one default warehouse per organization that may hold stock; an existing one of
/// that name is kept. Ids derive from organization and name, so every run makes the same.
pub async fn warehouses(tx: &Transaction<'_>, m: &Mapping) -> Result<Counts> {
    let w = &m.warehouses;
    let row = tx
        .query_one(
            "WITH eligible AS (SELECT id, address FROM organizations WHERE organization_type::text = ANY($3::text[])),
                  made AS (INSERT INTO warehouses (id, organization_id, name, location, description, is_active)
                           SELECT md5('ferry-abparts-warehouse:' || id || ':' || $1::text)::uuid, id, $1::text, address, $2::text, true FROM eligible
                           ON CONFLICT (organization_id, name) DO NOTHING RETURNING 1)
             SELECT (SELECT count(*) FROM made), (SELECT count(*) FROM eligible)",
            &[&w.name, &w.description, &w.for_organization_types],
        )
        .await
        .db_context("create the default warehouses")?;
    let (made, eligible): (i64, i64) = (row.get(0), row.get(1));
    if made < eligible {
        tracing::info!(
            "{} organization(s) already had a warehouse named {}",
            eligible - made,
            w.name
        );
    }
    Ok((eligible, eligible))
}

/// Step 5: roles from the plan; the security columns start plain.
pub async fn users(tx: &Transaction<'_>, plan: &Plan) -> Result<Counts> {
    let (ids, roles): (Vec<String>, Vec<String>) = plan.roles.iter().cloned().unzip();
    let updated = tx
        .execute(
            "UPDATE users u SET role = v.r::userrole, user_status = 'active', failed_login_attempts = 0, is_active = true FROM unnest($1::text[], $2::text[]) AS v(id, r) WHERE u.id = v.id::uuid",
            &[&ids, &roles],
        )
        .await
        .db_context("set the user roles")?;
    Ok((n(updated), len(plan.roles.len())))
}

/// Step 6: part_type, unit and manufacturer number from the plan.
pub async fn parts(tx: &Transaction<'_>, plan: &Plan) -> Result<Counts> {
    let ids: Vec<&str> = plan.parts.iter().map(|p| p.id.as_str()).collect();
    let types: Vec<&str> = plan.parts.iter().map(|p| p.part_type.as_str()).collect();
    let units: Vec<&str> = plan.parts.iter().map(|p| p.unit.as_str()).collect();
    let mfg: Vec<Option<&str>> = plan.parts.iter().map(|p| p.mfg.as_deref()).collect();
    let updated = tx
        .execute(
            "UPDATE parts p SET part_type = v.t::parttype, unit_of_measure = v.u, manufacturer_part_number = v.m FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, t, u, m) WHERE p.id = v.id::uuid",
            &[&ids, &types, &units, &mfg],
        )
        .await
        .db_context("classify the parts")?;
    Ok((n(updated), len(plan.parts.len())))
}

/// Step 7: the owner becomes the customer organization, unchanged.
pub async fn machines(tx: &Transaction<'_>, plan: &Plan) -> Result<Counts> {
    let updated = tx
        .execute(
            "UPDATE machines SET customer_organization_id = organization_id",
            &[],
        )
        .await
        .db_context("set the machines' customer organizations")?;
    Ok((n(updated), plan.machines))
}

/// Rows of `from` as JSON (at most 20) and their count, for the report's not-migrated list.
async fn listed(
    tx: &Transaction<'_>,
    what: &str,
    from: &str,
    show: &str,
) -> Result<serde_json::Value> {
    let (count, examples) = crate::checks::count_and_examples(tx, from, show, &[])
        .await
        .with_db_context(|| format!("list {what}"))?;
    Ok(
        json!({"what": what, "rows": count, "examples": examples, "kept_in": "the backup file (step 2)"}),
    )
}

/// Step 8: a supplier's rows leave (listed; they are in the backup), every other row moves
/// to its organization's default warehouse with the part's unit, in place.
pub async fn inventory(
    tx: &Transaction<'_>,
    m: &Mapping,
    plan: &Plan,
    not_migrated: &mut Vec<serde_json::Value>,
) -> Result<Counts> {
    let suppliers = "FROM inventory i JOIN organizations o ON o.id = i.organization_id WHERE o.organization_type = 'supplier'";
    not_migrated.push(
        listed(
            tx,
            "inventory rows of suppliers (suppliers own no warehouse)",
            suppliers,
            "row_to_json(i)",
        )
        .await?,
    );
    let located = "FROM inventory i JOIN organizations o ON o.id = i.organization_id WHERE o.organization_type <> 'supplier' AND i.location IS NOT NULL";
    not_migrated.push(
        listed(
            tx,
            "inventory.location texts (no AFTER column)",
            located,
            "json_build_object('id', i.id, 'location', i.location)",
        )
        .await?,
    );
    let deleted = tx
        .execute("DELETE FROM inventory i USING organizations o WHERE o.id = i.organization_id AND o.organization_type = 'supplier'", &[])
        .await
        .db_context("remove the suppliers' inventory")?;
    // Step 1 refused negative stock, so the per-row balance trigger has nothing to find.
    let keys = crate::keys::set_aside(tx, "inventory", true).await?;
    tx.batch_execute("ALTER TABLE inventory DISABLE TRIGGER trigger_check_inventory_balance")
        .await
        .db_context("pause the balance trigger")?;
    let moved = tx
        .execute(
            "UPDATE inventory i SET warehouse_id = w.id, unit_of_measure = p.unit_of_measure, last_updated = i.updated_at FROM warehouses w, parts p WHERE w.organization_id = i.organization_id AND w.name = $1 AND p.id = i.part_id",
            &[&m.warehouses.name],
        )
        .await
        .db_context("move the inventory to warehouses")?;
    tx.batch_execute("ALTER TABLE inventory ENABLE TRIGGER trigger_check_inventory_balance")
        .await
        .db_context("resume the balance trigger")?;
    keys.put_back(tx).await?;
    let left: i64 = tx
        .query_one(
            "SELECT count(*) FROM inventory WHERE warehouse_id IS NULL",
            &[],
        )
        .await
        .db_context("count inventory without a warehouse")?
        .get(0);
    if left > 0 {
        return Err(FerryError::Failed(format!(
            "{left} inventory row(s) found no warehouse named '{}' for their organization",
            m.warehouses.name
        )));
    }
    Ok((n(moved + deleted), plan.inventory))
}

/// Step 9: one `creation` transaction per row with stock, recording the stock step 8 put in
/// place. The insert trigger would add it a second time, so it is off for these inserts
/// (and on again in the same transaction); the stock is checked unchanged and Σ transactions
/// equal to it per warehouse and part.
pub async fn transactions(
    tx: &Transaction<'_>,
    m: &Mapping,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Counts> {
    let sums = "SELECT count(*), COALESCE(sum(current_stock), 0)::text FROM inventory";
    let before = tx
        .query_one(sums, &[])
        .await
        .db_context("total the inventory")?;
    let keys = crate::keys::set_aside(tx, "transactions", true).await?;
    tx.batch_execute(
        "ALTER TABLE transactions DISABLE TRIGGER trigger_update_inventory_on_transaction",
    )
    .await
    .db_context("pause the inventory trigger")?;
    let t = &m.transactions;
    let made = tx
        .execute(
            "INSERT INTO transactions (id, transaction_type, part_id, from_warehouse_id, to_warehouse_id, machine_id, quantity, unit_of_measure, performed_by_user_id, transaction_date, notes, reference_number)
             SELECT md5('ferry-abparts-transaction:' || i.id)::uuid, 'creation', i.part_id, NULL, i.warehouse_id, NULL, i.current_stock, i.unit_of_measure,
                    (SELECT id FROM users WHERE username = $1::text), $2, replace($3::text, '{organization_name}', o.name), replace($4::text, '{inventory_id}', i.id::text)
             FROM inventory i JOIN warehouses w ON w.id = i.warehouse_id JOIN organizations o ON o.id = w.organization_id
             WHERE i.current_stock > 0",
            &[&t.performed_by_username, &at, &t.notes, &t.reference_number],
        )
        .await
        .db_context("create the opening-balance transactions")?;
    tx.batch_execute(
        "ALTER TABLE transactions ENABLE TRIGGER trigger_update_inventory_on_transaction",
    )
    .await
    .db_context("resume the inventory trigger")?;
    keys.put_back(tx).await?;
    let after = tx
        .query_one(sums, &[])
        .await
        .db_context("total the inventory")?;
    let (b, a): ((i64, String), (i64, String)) =
        ((before.get(0), before.get(1)), (after.get(0), after.get(1)));
    if a != b {
        return Err(FerryError::Failed(format!(
            "inventory changed while its transactions were written: {b:?} → {a:?}"
        )));
    }
    let stock_rows: i64 = tx
        .query_one(
            "SELECT count(*) FROM inventory WHERE current_stock > 0",
            &[],
        )
        .await
        .db_context("count stock rows")?
        .get(0);
    Ok((n(made), stock_rows))
}

/// Step 9's proof, run by step 10: the opening-balance transactions and the stock agree in
/// count and sum per part and per warehouse (two ways of adding up the same rows, so a
/// quantity moved to the wrong warehouse or part shows in one of them). Returns the groups
/// that differ.
pub async fn unbalanced(tx: &Transaction<'_>) -> Result<i64> {
    let mut differing = 0;
    for (inv, trans) in [("part_id", "part_id"), ("warehouse_id", "to_warehouse_id")] {
        let sql = format!(
            "SELECT count(*) FROM (SELECT {inv} AS k, count(*) AS n, sum(current_stock) AS q FROM inventory WHERE current_stock > 0 GROUP BY 1) i
             FULL JOIN (SELECT {trans} AS k, count(*) AS n, sum(quantity) AS q FROM transactions WHERE transaction_type = 'creation' AND reference_number LIKE 'MIGRATION-%' GROUP BY 1) t
             ON t.k = i.k WHERE (i.n, i.q) IS DISTINCT FROM (t.n, t.q)"
        );
        let n: i64 = tx
            .query_one(&sql, &[])
            .await
            .db_context("compare transactions with inventory")?
            .get(0);
        differing += n;
    }
    Ok(differing)
}

/// Step 11: the old columns go, the new ones become NOT NULL, the serial key is added, then
/// ANALYZE on every table.
pub async fn cleanup(tx: &Transaction<'_>, early: crate::keys::SetAside) -> Result<Counts> {
    tx.batch_execute(CLEANUP)
        .await
        .db_context("drop the old columns (step 11)")?;
    early.put_back(tx).await?;
    let tables = crate::db::public_tables(tx).await?;
    for t in &tables {
        tx.batch_execute(&format!(
            "ANALYZE public.{}",
            ferry_shared::sql::quote_pg(t)
        ))
        .await
        .with_db_context(|| format!("analyze {t}"))?;
    }
    Ok((len(tables.len()), len(tables.len())))
}
