//! The validator: the reference's 31 checks of the AFTER model with their severities
//! (`docs/migrations/abparts.md`), and the report shape of `data_validator.py`, with one
//! fix: every check is listed, passed or not, so `total_checks` is 31 and `passed_checks`
//! counts the checks that passed (the reference listed only the failures).

use ferry_shared::{DbContext, Result};
use serde::Serialize;
use tokio_postgres::GenericClient;

/// How bad a finding is. `error` and `critical` make a report invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look; the data is usable.
    Warning,
    /// Breaks a business rule.
    Error,
    /// The model cannot work.
    Critical,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The reference's name.
    pub check_name: String,
    /// Its severity.
    pub severity: Severity,
    /// True when nothing was found.
    pub passed: bool,
    /// What it looks for, or what it found.
    pub message: String,
    /// Rows (or names) found.
    pub affected_records: i64,
    /// Up to 20 of them.
    pub details: Option<serde_json::Value>,
}

/// A validation run.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// When it ran.
    pub timestamp: String,
    /// `before` (the stop checks of step 1) or `after` (the 31 checks).
    pub phase: &'static str,
    /// Checks run.
    pub total_checks: usize,
    /// Checks that found nothing.
    pub passed_checks: usize,
    /// Failed checks by severity.
    pub warnings: usize,
    /// …
    pub errors: usize,
    /// …
    pub critical_issues: usize,
    /// No error and no critical finding.
    pub is_valid: bool,
    /// `Validation Summary: …`.
    pub summary: String,
    /// Every check.
    pub results: Vec<CheckResult>,
}

impl ValidationReport {
    /// Counts and summary of a list of results.
    pub fn of(phase: &'static str, results: Vec<CheckResult>) -> ValidationReport {
        let failed = |s: Severity| {
            results
                .iter()
                .filter(|r| !r.passed && r.severity == s)
                .count()
        };
        let (warnings, errors, critical_issues) = (
            failed(Severity::Warning),
            failed(Severity::Error),
            failed(Severity::Critical),
        );
        let passed_checks = results.iter().filter(|r| r.passed).count();
        let total_checks = results.len();
        ValidationReport {
            timestamp: crate::report::now(),
            phase,
            total_checks,
            passed_checks,
            warnings,
            errors,
            critical_issues,
            is_valid: errors == 0 && critical_issues == 0,
            summary: format!("Validation Summary: {passed_checks}/{total_checks} passed, {warnings} warnings, {errors} errors, {critical_issues} critical"),
            results,
        }
    }

    /// The failed checks, worst first, one line each (for the log).
    pub fn problems(&self) -> Vec<String> {
        // INFO findings pass, but their rows are shown: rows the run will not migrate.
        let mut failed: Vec<&CheckResult> = self
            .results
            .iter()
            .filter(|r| !r.passed || (r.severity == Severity::Info && r.affected_records > 0))
            .collect();
        failed.sort_by_key(|r| std::cmp::Reverse(r.severity as u8));
        failed
            .iter()
            .map(|r| {
                let details = r
                    .details
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                format!(
                    "{} {} ({}): {}{details}",
                    r.severity.label(),
                    r.check_name,
                    r.affected_records,
                    r.message
                )
            })
            .collect()
    }
}

impl Severity {
    /// The word a log line starts with.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// One check: rows found by `from` (a FROM … WHERE … clause), shown by `detail`.
struct Check {
    name: &'static str,
    severity: Severity,
    what: &'static str,
    from: &'static str,
    detail: &'static str,
}

const fn check(
    name: &'static str,
    severity: Severity,
    what: &'static str,
    from: &'static str,
    detail: &'static str,
) -> Check {
    Check {
        name,
        severity,
        what,
        from,
        detail,
    }
}

use Severity::{Critical, Error, Warning};

/// The reference's 31 checks (its table in section 6), in its order.
const AFTER: [Check; 31] = [
    check("organizations_without_names", Error, "organization with no name", "FROM organizations WHERE name IS NULL OR btrim(name) = ''", "id"),
    check("organizations_without_types", Error, "organization with no organization_type", "FROM organizations WHERE organization_type IS NULL", "name"),
    check("duplicate_organization_names", Error, "name used by more than one organization", "FROM (SELECT name, count(*) AS n FROM organizations GROUP BY name HAVING count(*) > 1) d", "json_build_object('name', name, 'count', n)"),
    check("missing_oraseas_ee", Critical, "no oraseas_ee organization", "FROM (SELECT 1) one WHERE NOT EXISTS (SELECT 1 FROM organizations WHERE organization_type = 'oraseas_ee')", "'none'::text"),
    check("multiple_oraseas_ee", Critical, "more than one oraseas_ee organization", "FROM organizations WHERE organization_type = 'oraseas_ee' AND (SELECT count(*) FROM organizations WHERE organization_type = 'oraseas_ee') > 1", "name"),
    check("multiple_bossaqua", Error, "more than one bossaqua organization", "FROM organizations WHERE organization_type = 'bossaqua' AND (SELECT count(*) FROM organizations WHERE organization_type = 'bossaqua') > 1", "name"),
    check("suppliers_without_parent", Error, "supplier with no parent organization", "FROM organizations WHERE organization_type = 'supplier' AND parent_organization_id IS NULL", "name"),
    check("users_without_username", Error, "user with no username", "FROM users WHERE username IS NULL OR btrim(username) = ''", "id"),
    check("users_without_email", Error, "user with no e-mail", "FROM users WHERE email IS NULL OR btrim(email) = ''", "username"),
    check("users_without_role", Error, "user with no role", "FROM users WHERE role IS NULL", "username"),
    check("duplicate_usernames", Error, "username used more than once", "FROM (SELECT username, count(*) AS n FROM users GROUP BY username HAVING count(*) > 1) d", "json_build_object('username', username, 'count', n)"),
    check("duplicate_emails", Error, "e-mail used more than once", "FROM (SELECT email, count(*) AS n FROM users GROUP BY email HAVING count(*) > 1) d", "json_build_object('email', email, 'count', n)"),
    check("super_admin_non_oraseas", Error, "super_admin outside the oraseas_ee organization", "FROM users u LEFT JOIN organizations o ON o.id = u.organization_id WHERE u.role = 'super_admin' AND o.organization_type IS DISTINCT FROM 'oraseas_ee'", "u.username"),
    check("organizations_without_admin", Warning, "organization with no admin or super_admin", "FROM organizations o WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.organization_id = o.id AND u.role IN ('admin', 'super_admin'))", "o.name"),
    check("parts_without_number", Error, "part with no part_number", "FROM parts WHERE part_number IS NULL OR btrim(part_number) = ''", "id"),
    check("parts_without_name", Error, "part with no name", "FROM parts WHERE name IS NULL OR btrim(name) = ''", "part_number"),
    check("duplicate_part_numbers", Error, "part_number used more than once", "FROM (SELECT part_number, count(*) AS n FROM parts GROUP BY part_number HAVING count(*) > 1) d", "json_build_object('part_number', part_number, 'count', n)"),
    check("parts_without_type", Error, "part with no part_type", "FROM parts WHERE part_type IS NULL", "part_number"),
    check("parts_without_unit_of_measure", Warning, "part with no unit_of_measure", "FROM parts WHERE unit_of_measure IS NULL OR btrim(unit_of_measure) = ''", "part_number"),
    check("organizations_without_warehouse", Warning, "organization (not a supplier) with no warehouse", "FROM organizations o WHERE o.organization_type IS DISTINCT FROM 'supplier' AND NOT EXISTS (SELECT 1 FROM warehouses w WHERE w.organization_id = o.id)", "o.name"),
    check("warehouses_without_name", Error, "warehouse with no name", "FROM warehouses WHERE name IS NULL OR btrim(name) = ''", "id"),
    check("orphaned_inventory", Error, "inventory whose warehouse does not exist", "FROM inventory i LEFT JOIN warehouses w ON w.id = i.warehouse_id WHERE w.id IS NULL", "i.id"),
    check("inventory_invalid_parts", Error, "inventory whose part does not exist", "FROM inventory i LEFT JOIN parts p ON p.id = i.part_id WHERE p.id IS NULL", "i.id"),
    check("negative_inventory", Warning, "inventory with current_stock < 0", "FROM inventory WHERE current_stock < 0", "id"),
    check("machines_invalid_customer", Error, "machine whose customer organization does not exist", "FROM machines m LEFT JOIN organizations o ON o.id = m.customer_organization_id WHERE o.id IS NULL", "m.serial_number"),
    check("machines_non_customer_org", Warning, "machine owned by an organization that is not a customer", "FROM machines m JOIN organizations o ON o.id = m.customer_organization_id WHERE o.organization_type <> 'customer'", "json_build_object('serial_number', m.serial_number, 'organization', o.name)"),
    check("transactions_invalid_parts", Error, "transaction whose part does not exist", "FROM transactions t LEFT JOIN parts p ON p.id = t.part_id WHERE p.id IS NULL", "t.id"),
    check("transactions_invalid_users", Error, "transaction whose performer does not exist", "FROM transactions t LEFT JOIN users u ON u.id = t.performed_by_user_id WHERE u.id IS NULL", "t.id"),
    check("users_invalid_organization", Critical, "user whose organization does not exist", "FROM users u LEFT JOIN organizations o ON o.id = u.organization_id WHERE o.id IS NULL", "u.username"),
    check("warehouses_invalid_organization", Error, "warehouse whose organization does not exist", "FROM warehouses w LEFT JOIN organizations o ON o.id = w.organization_id WHERE o.id IS NULL", "w.name"),
    check("inconsistent_unit_of_measure", Warning, "inventory unit different from its part's", "FROM inventory i JOIN parts p ON p.id = i.part_id WHERE i.unit_of_measure IS DISTINCT FROM p.unit_of_measure", "json_build_object('inventory', i.id, 'unit', i.unit_of_measure, 'part_unit', p.unit_of_measure)"),
];

/// How many rows `from` (a `FROM … WHERE …` clause) finds, and `detail` of up to 20 of
/// them, in one scan (a window count rather than a count and a second query).
pub async fn count_and_examples(
    client: &impl GenericClient,
    from: &str,
    detail: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> std::result::Result<(i64, Vec<serde_json::Value>), tokio_postgres::Error> {
    let sql = format!(
        "SELECT count(*) OVER (), to_json(d) FROM (SELECT {detail} AS d {from}) s LIMIT 20"
    );
    let rows = client.query(&sql, params).await?;
    let n = rows.first().map_or(0, |r| r.get(0));
    Ok((n, rows.iter().map(|r| r.get(1)).collect()))
}

/// Runs one check: how many rows, and up to 20 of them.
async fn run_one(client: &impl GenericClient, c: &Check) -> Result<CheckResult> {
    let (n, details) = count_and_examples(client, c.from, c.detail, &[])
        .await
        .with_db_context(|| format!("check {}", c.name))?;
    Ok(CheckResult {
        check_name: c.name.to_string(),
        severity: c.severity,
        passed: n == 0,
        message: c.what.to_string(),
        affected_records: n,
        details: (!details.is_empty()).then_some(serde_json::Value::Array(details)),
    })
}

/// The 31 checks on a database in the AFTER model (also inside the migration's transaction,
/// where the old columns are still there).
pub async fn after(client: &impl GenericClient) -> Result<ValidationReport> {
    let mut results = Vec::with_capacity(AFTER.len());
    for c in &AFTER {
        results.push(run_one(client, c).await?);
    }
    Ok(ValidationReport::of("after", results))
}

/// A finding of step 1 (rules or reference checks on the BEFORE data).
pub fn finding(
    name: &str,
    severity: Severity,
    message: String,
    affected: usize,
    details: Vec<serde_json::Value>,
) -> CheckResult {
    let shown: Vec<serde_json::Value> = details.into_iter().take(20).collect();
    CheckResult {
        check_name: name.to_string(),
        severity,
        // An INFO finding reports rows (not migrated, kept in the backup); it is no failure.
        passed: affected == 0 || severity == Severity::Info,
        message,
        affected_records: i64::try_from(affected).unwrap_or(i64::MAX),
        details: (!shown.is_empty()).then_some(serde_json::Value::Array(shown)),
    }
}
