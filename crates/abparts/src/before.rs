//! Step 1: the BEFORE data read against the rules. Every value a later step writes is decided
//! here (the [`Plan`]); a row no rule covers is a CRITICAL finding that stops the run before
//! anything is written, listed with its id and text.

use crate::checks::{finding, CheckResult, Severity, ValidationReport};
use crate::mapping::{Mapping, PartFacts};
use ferry_shared::{DbContext, FerryError, Result};
use serde_json::json;
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

/// A bound parameter.
type P<'a> = &'a (dyn ToSql + Sync);

/// A SQL finding: name, severity, message, FROM clause, detail expression, parameters.
type Finding<'a> = (&'a str, Severity, &'a str, &'a str, &'a str, &'a [P<'a>]);

/// A part's AFTER values.
#[derive(Debug, Clone)]
pub struct PartPlan {
    /// Its id, as text.
    pub id: String,
    /// part_type.
    pub part_type: String,
    /// unit_of_measure.
    pub unit: String,
    /// manufacturer_part_number.
    pub mfg: Option<String>,
}

/// What steps 3–9 will write, decided from the BEFORE rows.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (organization id, organization_type).
    pub org_types: Vec<(String, String)>,
    /// The oraseas_ee organization (a supplier's parent).
    pub oraseas_id: Option<String>,
    /// Organizations step 3 creates (index into the mapping's `ensure`).
    pub create: Vec<usize>,
    /// (user id, role).
    pub roles: Vec<(String, String)>,
    /// Parts.
    pub parts: Vec<PartPlan>,
    /// Machines.
    pub machines: i64,
    /// Inventory rows in all.
    pub inventory: i64,
}

struct Org {
    id: String,
    name: String,
    text: Option<String>,
}

/// The column holding the free-text role: `role` BEFORE, `legacy_role` once migration 0004
/// has run (a database prepared with `apply-migrations` alone).
pub async fn role_column(client: &impl GenericClient) -> Result<&'static str> {
    let renamed = crate::db::column_exists(client, "users", "legacy_role").await?;
    Ok(if renamed { "legacy_role" } else { "role" })
}

/// Refuses a database that is not in the BEFORE model, with what it is instead.
pub async fn require_before(client: &impl GenericClient) -> Result<()> {
    if !crate::db::column_exists(client, "organizations", "id").await? {
        return Err(FerryError::Usage(
            "the database has no organizations table: is --target the ABParts database?".into(),
        ));
    }
    if !crate::db::column_exists(client, "organizations", "type").await? {
        return Err(FerryError::Usage(
            "the database is not in the BEFORE model (organizations.type is gone): it was migrated already; `migrate-abparts status` tells more".into(),
        ));
    }
    Ok(())
}

/// The BEFORE records step 1 read.
pub fn records(plan: &Plan) -> i64 {
    let n = plan.org_types.len() + plan.roles.len() + plan.parts.len();
    i64::try_from(n).unwrap_or(i64::MAX) + plan.machines + plan.inventory
}

/// Reads the BEFORE rows, applies the rules, runs the stop checks.
pub async fn plan(client: &impl GenericClient, m: &Mapping) -> Result<(Plan, ValidationReport)> {
    require_before(client).await?;
    let mut plan = Plan::default();
    let mut results = Vec::new();
    let orgs = read_orgs(client).await?;
    organizations(m, &orgs, &mut plan, &mut results);
    users(client, m, &orgs, &mut plan, &mut results).await?;
    parts(client, m, &mut plan, &mut results).await?;
    sql_findings(client, m, &mut plan, &mut results).await?;
    Ok((plan, ValidationReport::of("before", results)))
}

async fn read_orgs(client: &impl GenericClient) -> Result<Vec<Org>> {
    let rows = client
        .query(
            "SELECT id::text, name, type FROM organizations ORDER BY name, id",
            &[],
        )
        .await
        .db_context("read organizations")?;
    Ok(rows
        .iter()
        .map(|r| Org {
            id: r.get(0),
            name: r.get(1),
            text: r.get(2),
        })
        .collect())
}

fn organizations(m: &Mapping, orgs: &[Org], plan: &mut Plan, out: &mut Vec<CheckResult>) {
    let mut unmapped = Vec::new();
    for o in orgs {
        match o.text.as_deref().and_then(|t| m.organization_type(t)) {
            Some(t) => plan.org_types.push((o.id.clone(), t.to_string())),
            None => unmapped.push(json!({"id": o.id, "name": o.name, "type": o.text})),
        }
    }
    let n = unmapped.len();
    out.push(finding(
        "unmapped_organization_type",
        Severity::Critical,
        format!("{n} organization type(s) no rule of organization_types covers"),
        n,
        unmapped,
    ));
    let of_type = |t: &str| -> Vec<&(String, String)> {
        plan.org_types.iter().filter(|(_, x)| x == t).collect()
    };
    let oraseas = of_type("oraseas_ee");
    let names = |list: &[&(String, String)]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|(id, _)| json!(orgs.iter().find(|o| &o.id == id).map(|o| o.name.clone())))
            .collect()
    };
    out.push(finding(
        "missing_oraseas_ee",
        Severity::Critical,
        "no organization maps to oraseas_ee".into(),
        usize::from(oraseas.is_empty()),
        vec![],
    ));
    let several = if oraseas.len() > 1 { oraseas.len() } else { 0 };
    out.push(finding(
        "multiple_oraseas_ee",
        Severity::Critical,
        "more than one organization maps to oraseas_ee".into(),
        several,
        names(&oraseas),
    ));
    let boss = of_type("bossaqua");
    let several = if boss.len() > 1 { boss.len() } else { 0 };
    out.push(finding(
        "multiple_bossaqua",
        Severity::Critical,
        "more than one organization maps to bossaqua".into(),
        several,
        names(&boss),
    ));
    plan.oraseas_id = (oraseas.len() == 1).then(|| oraseas[0].0.clone());
    let mut taken = Vec::new();
    for (i, e) in m.organizations.ensure.iter().enumerate() {
        if !of_type(&e.when_no_organization_of_type).is_empty() {
            continue;
        }
        match orgs
            .iter()
            .find(|o| o.name.to_lowercase() == e.name.to_lowercase() || o.id == e.id)
        {
            Some(o) => taken.push(json!({"name": e.name, "held_by": o.name, "type": o.text})),
            None => plan.create.push(i),
        }
    }
    let n = taken.len();
    out.push(finding(
        "organization_name_taken",
        Severity::Critical,
        "an organization to create has its name or id taken".into(),
        n,
        taken,
    ));
}

async fn users(
    client: &impl GenericClient,
    m: &Mapping,
    orgs: &[Org],
    plan: &mut Plan,
    out: &mut Vec<CheckResult>,
) -> Result<()> {
    let col = role_column(client).await?;
    let sql = format!("SELECT id::text, username, {col}::text, organization_id::text FROM users ORDER BY username, id");
    let rows = client.query(&sql, &[]).await.db_context("read users")?;
    let sa = &m.user_roles.super_admins;
    let mut unmapped = Vec::new();
    for r in &rows {
        let (id, username, text): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
        let listed = sa.usernames.contains(&username);
        match (listed, text.as_deref().and_then(|t| m.role(t))) {
            (true, _) => plan.roles.push((id, "super_admin".into())),
            (false, Some(role)) => plan.roles.push((id, role.to_string())),
            (false, None) => unmapped.push(json!({"id": id, "username": username, "role": text})),
        }
    }
    let n = unmapped.len();
    out.push(finding(
        "unmapped_user_role",
        Severity::Critical,
        format!("{n} role(s) no rule of user_roles covers"),
        n,
        unmapped,
    ));
    let org_type = |org: &str| {
        plan.org_types
            .iter()
            .find(|(id, _)| id == org)
            .map(|(_, t)| t.clone())
    };
    let mut outside = Vec::new();
    for name in &sa.usernames {
        let r = rows.iter().find(|r| &r.get::<_, String>(1) == name);
        let t = r.and_then(|r| org_type(&r.get::<_, String>(3)));
        if t.as_deref() != Some(sa.organization_type.as_str()) {
            let org = r.and_then(|r| {
                orgs.iter()
                    .find(|o| o.id == r.get::<_, String>(3))
                    .map(|o| o.name.clone())
            });
            outside.push(json!({"username": name, "found": r.is_some(), "organization": org}));
        }
    }
    let n = outside.len();
    out.push(finding(
        "super_admin_not_in_oraseas_ee",
        Severity::Critical,
        format!(
            "a listed super admin is missing or not in the {} organization",
            sa.organization_type
        ),
        n,
        outside,
    ));
    let who = &m.transactions.performed_by_username;
    let ok = sa.usernames.contains(who) && rows.iter().any(|r| &r.get::<_, String>(1) == who);
    out.push(finding("missing_transaction_performer", Severity::Critical, format!("user '{who}', who performs the opening balances, must exist and be a listed super admin"), usize::from(!ok), vec![]));
    Ok(())
}

async fn parts(
    client: &impl GenericClient,
    m: &Mapping,
    plan: &mut Plan,
    out: &mut Vec<CheckResult>,
) -> Result<()> {
    let rows = client
        .query(
            "SELECT id::text, part_number, name, is_consumable FROM parts ORDER BY part_number, id",
            &[],
        )
        .await
        .db_context("read parts")?;
    let mut unmapped = Vec::new();
    for r in &rows {
        let (id, number, name, is_consumable): (String, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let facts = PartFacts {
            part_number: &number,
            name: &name,
            is_consumable,
        };
        match m.part_rule(&facts) {
            Some(rule) => plan.parts.push(PartPlan {
                id,
                part_type: rule.part_type.clone(),
                unit: rule.unit_of_measure.clone(),
                mfg: rule.manufacturer_part_number.clone(),
            }),
            None => unmapped.push(json!({"id": id, "part_number": number, "name": name, "is_consumable": is_consumable})),
        }
    }
    let n = unmapped.len();
    out.push(finding(
        "unclassified_part",
        Severity::Critical,
        format!("{n} part(s) no rule of parts covers"),
        n,
        unmapped,
    ));
    Ok(())
}

/// The findings that SQL counts best: one query each, up to 20 rows shown.
async fn sql_findings(
    client: &impl GenericClient,
    m: &Mapping,
    plan: &mut Plan,
    out: &mut Vec<CheckResult>,
) -> Result<()> {
    let models = &m.machines.known_model_types;
    let suppliers: Vec<String> = plan
        .org_types
        .iter()
        .filter(|(_, t)| t == "supplier")
        .map(|(id, _)| id.clone())
        .collect();
    let customers: Vec<String> = plan
        .org_types
        .iter()
        .filter(|(_, t)| t == "customer")
        .map(|(id, _)| id.clone())
        .collect();
    let stop = Severity::Critical;
    let (models, suppliers, customers): (P, P, P) = (models, &suppliers, &customers);
    let list: [Finding; 7] = [
        ("duplicate_emails_ignoring_case", stop, "e-mails equal apart from case or surrounding spaces (an operator decides who keeps the address)",
         "FROM (SELECT lower(btrim(email)) AS e, array_agg(username ORDER BY username) AS who FROM users GROUP BY 1 HAVING count(*) > 1) d", "json_build_object('email', e, 'usernames', who)", &[]),
        ("unknown_machine_model", stop, "machine model_type outside machines.known_model_types",
         "FROM machines WHERE model_type <> ALL($1::text[])", "json_build_object('serial_number', serial_number, 'model_type', model_type)", &[models]),
        ("duplicate_serial_numbers", stop, "serial number held by more than one machine (AFTER: unique)",
         "FROM (SELECT serial_number, count(*) AS n FROM machines GROUP BY 1 HAVING count(*) > 1) d", "json_build_object('serial_number', serial_number, 'count', n)", &[]),
        ("negative_stock", stop, "inventory with current_stock < 0 (the AFTER trigger refuses it; no rule may pick another number)",
         "FROM inventory WHERE current_stock < 0", "json_build_object('id', id, 'current_stock', current_stock)", &[]),
        ("inventory_of_suppliers_not_migrated", Severity::Info, "a supplier's inventory rows: suppliers own no warehouse, so step 8 removes them from inventory; they stay in the backup and the report",
         "FROM inventory WHERE organization_id = ANY($1::text[]::uuid[])", "json_build_object('id', id, 'current_stock', current_stock)", &[suppliers]),
        ("inventory_locations_not_migrated", Severity::Info, "inventory.location has no AFTER column; the rows migrate, these texts stay in the backup",
         "FROM inventory WHERE location IS NOT NULL AND NOT organization_id = ANY($1::text[]::uuid[])", "json_build_object('id', id, 'location', location)", &[suppliers]),
        ("machines_non_customer_org", Severity::Warning, "machine owned by an organization that is not a customer: kept as it is",
         "FROM machines WHERE NOT organization_id = ANY($1::text[]::uuid[])", "serial_number", &[customers]),
    ];
    for (name, severity, what, from, detail, params) in list {
        let (n, details) = crate::checks::count_and_examples(client, from, detail, params)
            .await
            .with_db_context(|| format!("check {name}"))?;
        out.push(finding(
            name,
            severity,
            what.to_string(),
            usize::try_from(n).unwrap_or(usize::MAX),
            details,
        ));
    }
    let counts = client
        .query_one(
            "SELECT (SELECT count(*) FROM machines), (SELECT count(*) FROM inventory)",
            &[],
        )
        .await
        .db_context("count machines and inventory")?;
    (plan.machines, plan.inventory) = (counts.get(0), counts.get(1));
    Ok(())
}
