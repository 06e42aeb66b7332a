//! ABParts: the in-place restructuring with `migrate-abparts` on `fixtures/abparts/before.sql`
//! (expected values: fixtures/abparts/RULES.md), failures injected at every step, the dry
//! run, the rollback from the backup, and the five generated samples.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

fn fixture(name: &str) -> String {
    fs_err::read_to_string(workspace().join("fixtures/abparts").join(name)).unwrap()
}

/// RULES.md section 3: what an operator deletes so that every value has a rule.
const RESOLUTION: &str = "
DELETE FROM users WHERE id IN ('d1000000-0000-4000-8000-000000000002', 'd1000000-0000-4000-8000-000000000005');
DELETE FROM inventory WHERE id = 'e0000000-0000-4000-8000-000000000023';
DELETE FROM parts WHERE id = 'd2000000-0000-4000-8000-000000000002';
DELETE FROM organizations WHERE id = 'd0000000-0000-4000-8000-000000000005';";

/// The fixture in a new database; `resolved` applies the resolution.
fn before_db(resolved: bool) -> PgDb {
    let pg = PgDb::new("abp");
    pg.exec(&fixture("before.sql"));
    if resolved {
        pg.exec(RESOLUTION);
    }
    pg
}

/// `migrate-abparts --target DB ARGS…`, in `dir` (logs/, reports/, backups/ go there).
fn abparts(dir: &Path, pg: &PgDb, args: &[&str]) -> Run {
    let mut c = tool("migrate-abparts", dir);
    c.args(["--target", &pg.url()]).args(args);
    run(c)
}

/// The database's fingerprint as the tool prints it.
fn fingerprint(dir: &Path, pg: &PgDb) -> serde_json::Value {
    let r = abparts(dir, pg, &["fingerprint"]);
    assert_exit(&r, 0);
    serde_json::from_str(&r.stdout).unwrap()
}

/// The one migration report in DIR/reports whose dry_run flag is `dry`.
fn report(dir: &Path, dry: bool) -> serde_json::Value {
    let mut found = Vec::new();
    for e in fs_err::read_dir(dir.join("reports")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("migration_report_")
        {
            let v: serde_json::Value =
                serde_json::from_str(&fs_err::read_to_string(&p).unwrap()).unwrap();
            if v["dry_run"] == dry {
                found.push(v);
            }
        }
    }
    assert_eq!(found.len(), 1, "reports with dry_run={dry}");
    found.remove(0)
}

fn rows(pg: &PgDb, sql: &str) -> Vec<String> {
    pg.query(sql)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn assert_organizations_and_warehouses(pg: &PgDb) {
    let got = rows(pg, "SELECT o.name, o.organization_type, coalesce(p.name, '-'), o.is_active FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_organization_id ORDER BY o.name");
    let want = [
        "Autoboss Inc|customer|-|t",
        "BossAqua|bossaqua|-|t",
        "Harbour Mussel Co|customer|-|t",
        "Hydraulic Spares NZ|supplier|Oraseas EE|t",
        "Industrial Innovators|customer|-|t",
        "Kiwi Aquafarm Ltd|customer|-|t",
        "Oraseas EE|oraseas_ee|-|t",
        "RoboMech Solutions|customer|-|t",
        "Southern Salmon Ltd|customer|-|t",
        "AutoParts Ltd|supplier|Oraseas EE|t",
    ];
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        pg.scalar("SELECT id::text || '|' || address FROM organizations WHERE name = 'BossAqua'")
            .unwrap(),
        "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12|456 Manufacturing Ave, Auckland, NZ"
    );
    let got = rows(pg, "SELECT o.name, w.name, w.location IS NOT DISTINCT FROM o.address, w.description, w.is_active FROM warehouses w JOIN organizations o ON o.id = w.organization_id ORDER BY o.name");
    let names = [
        "Autoboss Inc",
        "BossAqua",
        "Harbour Mussel Co",
        "Industrial Innovators",
        "Kiwi Aquafarm Ltd",
        "Oraseas EE",
        "RoboMech Solutions",
        "Southern Salmon Ltd",
    ];
    let want: Vec<String> = names
        .iter()
        .map(|n| {
            format!("{n}|Main Warehouse|t|Default warehouse created by the ABParts restructuring|t")
        })
        .collect();
    assert_eq!(got, want);
}

fn assert_users_parts_machines(pg: &PgDb) {
    let got = rows(pg, "SELECT username, role, user_status, failed_login_attempts, is_active, locked_until IS NULL FROM users ORDER BY username");
    let want = [
        ("autoboss_admin", "admin"),
        ("autoparts_user", "user"),
        ("harbour_admin", "admin"),
        ("hydraulic_user", "user"),
        ("industrial_user", "user"),
        ("kiwi_admin", "admin"),
        ("oraseas_clerk", "admin"),
        ("oraseasee_admin", "admin"),
        ("robomech_user", "user"),
        ("salmon_user", "user"),
        ("superadmin", "super_admin"),
    ];
    let want: Vec<String> = want
        .iter()
        .map(|(u, r)| format!("{u}|{r}|active|0|t|t"))
        .collect();
    assert_eq!(got, want);
    let got = rows(pg, "SELECT part_number, part_type, unit_of_measure, coalesce(manufacturer_part_number, 'NULL'), is_proprietary FROM parts ORDER BY part_number");
    let want = [
        "PN-001-A|consumable|pieces|MFG-FILTER-001|f",
        "PN-002-B|consumable|pieces|MFG-CTRL-002|t",
        "PN-003-C|consumable|pieces|MFG-PUMP-003|t",
        "PN-004-D|consumable|pieces|MFG-SENS-004|f",
        "PN-005-E|bulk_material|meters|MFG-BELT-005|f",
        "PN-006-F|consumable|pieces|NULL|t",
    ];
    assert_eq!(got, want);
    let got = rows(pg, "SELECT m.serial_number, m.model_type, o.name FROM machines m JOIN organizations o ON o.id = m.customer_organization_id ORDER BY 1");
    assert_eq!(
        got,
        [
            "ABV31B-SN001|V3.1B|Autoboss Inc",
            "ABV31B-SN010|V3.1B|Kiwi Aquafarm Ltd",
            "ABV40-SN002|V4.0|Autoboss Inc",
            "ORV40-DEMO01|V4.0|Oraseas EE"
        ]
    );
}

/// Every inventory row of RULES.md section 4 (the supplier rows and the negative one gone).
fn assert_inventory_and_transactions(pg: &PgDb) {
    let got = rows(pg, "SELECT right(i.id::text, 2), o.name, w.name, p.part_number, i.current_stock, i.minimum_stock_recommendation, i.unit_of_measure FROM inventory i JOIN warehouses w ON w.id = i.warehouse_id JOIN organizations o ON o.id = w.organization_id JOIN parts p ON p.id = i.part_id ORDER BY i.id");
    let want = [
        "01|Oraseas EE|PN-001-A|150.000|70.000|pieces",
        "02|Oraseas EE|PN-002-B|25.000|10.000|pieces",
        "03|Oraseas EE|PN-003-C|15.000|7.000|pieces",
        "04|Oraseas EE|PN-004-D|200.000|100.000|pieces",
        "05|Autoboss Inc|PN-001-A|30.000|15.000|pieces",
        "06|Autoboss Inc|PN-002-B|5.000|2.000|pieces",
        "07|Autoboss Inc|PN-004-D|40.000|20.000|pieces",
        "08|Autoboss Inc|PN-005-E|50.000|25.000|meters",
        "13|RoboMech Solutions|PN-001-A|10.000|5.000|pieces",
        "14|RoboMech Solutions|PN-003-C|2.000|1.000|pieces",
        "15|RoboMech Solutions|PN-004-D|5.000|2.000|pieces",
        "16|RoboMech Solutions|PN-005-E|20.000|10.000|meters",
        "17|Industrial Innovators|PN-001-A|8.000|4.000|pieces",
        "18|Industrial Innovators|PN-002-B|3.000|1.000|pieces",
        "19|Industrial Innovators|PN-003-C|1.000|1.000|pieces",
        "20|Industrial Innovators|PN-005-E|15.000|7.000|meters",
        "21|Kiwi Aquafarm Ltd|PN-001-A|0.000|5.000|pieces",
        "22|Kiwi Aquafarm Ltd|PN-005-E|12.000|6.000|meters",
        "24|Harbour Mussel Co|PN-001-A|6.000|2.000|pieces",
        "27|Southern Salmon Ltd|PN-006-F|3.000|1.000|pieces",
        "28|Oraseas EE|PN-006-F|40.000|10.000|pieces",
    ];
    let want: Vec<String> = want
        .iter()
        .map(|s| {
            let (id, rest) = s.split_once('|').unwrap();
            let (org, rest) = rest.split_once('|').unwrap();
            format!("{id}|{org}|Main Warehouse|{rest}")
        })
        .collect();
    assert_eq!(got, want);
    let tx = rows(pg, "SELECT count(*), count(DISTINCT transaction_date), bool_and(transaction_type = 'creation' AND from_warehouse_id IS NULL AND machine_id IS NULL), bool_and(u.username = 'superadmin'), bool_and(reference_number = 'MIGRATION-' || i.id), bool_and(t.notes = 'Opening balance migrated from the inventory of ' || o.name) FROM transactions t JOIN users u ON u.id = t.performed_by_user_id JOIN inventory i ON i.warehouse_id = t.to_warehouse_id AND i.part_id = t.part_id JOIN warehouses w ON w.id = t.to_warehouse_id JOIN organizations o ON o.id = w.organization_id");
    assert_eq!(tx, ["20|1|t|t|t|t"]);
    let per_part = rows(pg, "SELECT p.part_number, (SELECT sum(quantity) FROM transactions t WHERE t.part_id = p.id), (SELECT sum(current_stock) FROM inventory i WHERE i.part_id = p.id) FROM parts p ORDER BY 1");
    for line in &per_part {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[1], f[2], "Σ transactions = Σ inventory for {}", f[0]);
    }
    assert_eq!(per_part[0], "PN-001-A|204.000|204.000");
}

fn catalog(pg: &PgDb) -> Vec<String> {
    rows(pg, &fixture("catalog.sql"))
}

#[test]
fn fixture_with_unmapped_values_stops_at_validation_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(false);
    let before = fingerprint(dir.path(), &pg);
    let r = abparts(dir.path(), &pg, &["migrate", "--yes"]);
    assert_exit(&r, 1);
    for needle in [
        "unmapped_organization_type",
        "Aqua Logistics",
        "unmapped_user_role",
        "salmon_tech",
        "duplicate_emails_ignoring_case",
        "kiwi_ktane",
        "unclassified_part",
        "PN-007-G",
        "negative_stock",
        "e0000000-0000-4000-8000-000000000023",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in\n{}", r.stdout);
    }
    assert!(r.stdout.contains("5 critical"), "{}", r.stdout);
    assert!(
        r.stderr.contains("pre-migration validation failed"),
        "{}",
        r.stderr
    );
    assert_eq!(fingerprint(dir.path(), &pg), before);
    assert!(!dir.path().join("backups").exists());
    // --force skips the pre-validation, but step 1 still stops: no rule, no value.
    let r = abparts(dir.path(), &pg, &["migrate", "--force"]);
    assert_exit(&r, 1);
    assert!(
        r.stderr.contains("validation found 5 problem(s)"),
        "{}",
        r.stderr
    );
    let rep = report(dir.path(), false);
    assert_eq!(rep["status"], "failed");
    assert_eq!(rep["steps"][0]["status"], "failed");
    assert_eq!(rep["steps"][1]["status"], "not_started");
    assert_eq!(fingerprint(dir.path(), &pg), before);
}

#[test]
fn fixture_migrates_by_the_rule_table_and_rolls_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(true);
    let before = fingerprint(dir.path(), &pg);
    let r = abparts(dir.path(), &pg, &["migrate", "--yes"]);
    assert_exit(&r, 0);
    assert!(r.stdout.contains("Dry run completed"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Validation Summary: 29/31 passed, 2 warnings, 0 errors, 0 critical"),
        "{}",
        r.stdout
    );
    assert_organizations_and_warehouses(&pg);
    assert_users_parts_machines(&pg);
    assert_inventory_and_transactions(&pg);
    let rep = report(dir.path(), false);
    assert_eq!(rep["status"], "completed");
    let steps = rep["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 11);
    assert!(
        steps.iter().all(|s| s["status"] == "completed"),
        "{steps:?}"
    );
    let counts: Vec<(i64, i64)> = steps
        .iter()
        .map(|s| {
            (
                s["records_processed"].as_i64().unwrap(),
                s["records_total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts[2], (10, 10), "organizations: 9 + BossAqua");
    assert_eq!(
        counts[7],
        (27, 27),
        "inventory: 21 moved + 6 supplier rows removed"
    );
    assert_eq!(
        counts[8],
        (20, 20),
        "one opening balance per row with stock"
    );
    let post = &rep["post_validation"];
    assert_eq!(
        (post["total_checks"].as_i64(), post["is_valid"].as_bool()),
        (Some(31), Some(true))
    );
    let warned: Vec<(String, i64)> = post["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            (
                c["check_name"].as_str().unwrap().to_string(),
                c["affected_records"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        warned,
        [
            ("organizations_without_admin".to_string(), 6),
            ("machines_non_customer_org".to_string(), 1)
        ]
    );
    assert_eq!(rep["not_migrated"][0]["rows"], 6);
    assert_eq!(rep["not_migrated"][1]["rows"], 1);
    // The result's catalog is after.sql's.
    let after = PgDb::new("abp_after");
    after.exec(&fixture("after.sql"));
    assert_eq!(catalog(&pg), catalog(&after));
    // Rollback from the backup: the fingerprint of before, exactly.
    let id = rep["migration_id"].as_str().unwrap();
    assert!(dir
        .path()
        .join(format!("backups/migration_backup_{id}.json"))
        .exists());
    let r = abparts(dir.path(), &pg, &["rollback", "--migration-id", id]);
    assert_exit(&r, 0);
    assert!(r.stdout.contains("Rollback completed"), "{}", r.stdout);
    assert_eq!(fingerprint(dir.path(), &pg), before);
    // And migrating again after the rollback gives the same result.
    let r = abparts(dir.path(), &pg, &["migrate", "--yes", "--force"]);
    assert_exit(&r, 0);
    assert_inventory_and_transactions(&pg);
}

#[test]
fn a_failure_at_any_step_leaves_the_database_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(true);
    let before = fingerprint(dir.path(), &pg);
    for step in 1..=11 {
        let mut c = tool("migrate-abparts", dir.path());
        c.args([
            "--target",
            &pg.url(),
            "--report-dir",
            &format!("reports{step}"),
            "migrate",
            "--force",
        ]);
        c.env("FERRY_TEST_FAIL_AT_STEP", step.to_string());
        let r = run(c);
        assert_exit(&r, 1);
        assert!(
            r.stderr
                .contains(&format!("failure injected after step {step}")),
            "{}",
            r.stderr
        );
        assert_eq!(
            fingerprint(dir.path(), &pg),
            before,
            "fingerprint after a failure at step {step}"
        );
        let mut reports = fs_err::read_dir(dir.path().join(format!("reports{step}"))).unwrap();
        let rep: serde_json::Value = serde_json::from_str(
            &fs_err::read_to_string(reports.next().unwrap().unwrap().path()).unwrap(),
        )
        .unwrap();
        let states: Vec<&str> = rep["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(states[step - 1], "failed");
        assert!(states[..step - 1].iter().all(|s| *s == "completed"));
        assert!(states[step..].iter().all(|s| *s == "not_started"));
        let auto = rep["rollback_info"]["automatic"].as_str().unwrap_or("");
        assert!(auto.contains("fingerprint after = before: true"), "{auto}");
    }
    let left = fs_err::read_dir(dir.path().join("backups"))
        .unwrap()
        .count();
    assert_eq!(
        left, 0,
        "a failed run removes its backup (the database is as it was)"
    );
}

#[test]
fn dry_run_changes_nothing_and_counts_what_the_real_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(true);
    let before = fingerprint(dir.path(), &pg);
    let r = abparts(dir.path(), &pg, &["migrate", "--dry-run"]);
    assert_exit(&r, 0);
    assert!(
        r.stdout.contains("Dry run completed (rolled back)"),
        "{}",
        r.stdout
    );
    assert_eq!(fingerprint(dir.path(), &pg), before);
    assert_eq!(
        fs_err::read_dir(dir.path().join("backups"))
            .unwrap()
            .count(),
        0,
        "the dry run's backup is removed"
    );
    let r = abparts(dir.path(), &pg, &["migrate", "--yes", "--force"]);
    assert_exit(&r, 0);
    let counts = |v: &serde_json::Value| -> Vec<(i64, i64)> {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["records_processed"].as_i64().unwrap(),
                    s["records_total"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let (dry, real) = (report(dir.path(), true), report(dir.path(), false));
    assert_eq!(counts(&dry), counts(&real));
    assert_eq!(
        dry["total_records_migrated"],
        real["total_records_migrated"]
    );
    assert_eq!(
        dry["post_validation"]["summary"],
        real["post_validation"]["summary"]
    );
}

#[test]
fn confirmation_and_rollback_safety() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(true);
    let before = fingerprint(dir.path(), &pg);
    let r = abparts(dir.path(), &pg, &["migrate"]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    assert_eq!(fingerprint(dir.path(), &pg), before);
    let mut c = tool("migrate-abparts", dir.path());
    c.args(["--target", &pg.url(), "migrate"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"no\n").unwrap();
    let r: Run = child.wait_with_output().unwrap().into();
    assert_exit(&r, 0);
    assert!(r.stdout.contains("Migration cancelled"), "{}", r.stdout);
    assert_eq!(fingerprint(dir.path(), &pg), before);
    // A change after the migration makes a plain rollback refuse; --force restores anyway.
    let r = abparts(dir.path(), &pg, &["migrate", "--yes", "--force"]);
    assert_exit(&r, 0);
    let id = report(dir.path(), false)["migration_id"]
        .as_str()
        .unwrap()
        .to_string();
    pg.exec("UPDATE inventory SET current_stock = current_stock + 1 WHERE id = 'e0000000-0000-4000-8000-000000000001'");
    let r = abparts(dir.path(), &pg, &["rollback", "--migration-id", &id]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("changed since migration"), "{}", r.stderr);
    let r = abparts(
        dir.path(),
        &pg,
        &["rollback", "--migration-id", &id, "--force"],
    );
    assert_exit(&r, 0);
    assert_eq!(fingerprint(dir.path(), &pg), before);
    let r = abparts(dir.path(), &pg, &["migrate", "--yes", "--force"]);
    assert_exit(&r, 0);
    for args in [
        &["migrate", "--yes", "--force"][..],
        &["migrate", "--yes"],
        &["migrate", "--dry-run"],
    ] {
        let r = abparts(dir.path(), &pg, args);
        assert_exit(&r, 2);
        assert!(
            r.stderr.contains("not in the BEFORE model"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // A rule whose match names an unknown key would match every part: refused.
    let bad = fixture("../../config/abparts/mapping.json").replacen(
        "\"part_number\": \"PN-001-A\"",
        "\"part_numbr\": \"PN-001-A\"",
        1,
    );
    fs_err::write(dir.path().join("bad.json"), bad).unwrap();
    let r = abparts(dir.path(), &pg, &["--mapping", "bad.json", "validate"]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("part_numbr"), "{}", r.stderr);
}

#[test]
fn test_comprehensive_passes_every_sample_with_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("abp_t");
    let r = abparts(dir.path(), &pg, &["test", "--type", "comprehensive"]);
    assert_exit(&r, 0);
    let file = fs_err::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("migration_test_results_"))
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(file).unwrap()).unwrap();
    let results = v["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["sample_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "minimal_sample",
            "small_sample",
            "medium_sample",
            "large_sample",
            "production_scale"
        ]
    );
    for r in results {
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(r["rollback_fingerprint_equal"], true, "{r}");
        assert!(r["performance_metrics"]["migration_secs"].as_f64().unwrap() > 0.0);
        assert!(
            r["performance_metrics"]["database_size_after_mb"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    let left = pg
        .scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'ferry_abtest_%'")
        .unwrap();
    assert_eq!(left, "0", "scratch databases dropped");
}

/// Objects the tool knows nothing about — a composite type, an aggregate, a range type, a
/// partitioned table, a view, a populated materialized view, a table of awkward values, a
/// sequence part-way —
/// come back exactly after migrate + rollback; a view created after the migration counts as
/// a change (rollback refuses); another database's backup is refused whatever the flags.
#[test]
fn unknown_objects_survive_rollback_and_foreign_backups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pg = before_db(true);
    pg.exec(r#"
        CREATE TYPE pair AS (a int, b text);
        CREATE AGGREGATE my_sum(int) (sfunc = int4pl, stype = int);
        CREATE TYPE floatrange AS RANGE (subtype = float8);
        CREATE TABLE odd (id serial PRIMARY KEY, b bytea, j jsonb, a text[], n numeric, t text, p pair, r floatrange);
        INSERT INTO odd (b, j, a, n, t, p, r) VALUES
          ('\x00ff', '{"k": [1, null]}', '{x,"y z"}', 'NaN', E'tab\there\nline \\ back', ROW(1, 'one'), '[1.5,2.5)'),
          (NULL, 'null', '{}', 1e-20, '', NULL, 'empty');
        CREATE SEQUENCE counter START 7; SELECT setval('counter', 42);
        CREATE VIEW part_names AS SELECT part_number, name FROM parts;
                CREATE MATERIALIZED VIEW odd_count AS SELECT count(*) AS n FROM odd;
        CREATE TABLE readings (k int, v text) PARTITION BY RANGE (k);
        CREATE TABLE readings_low PARTITION OF readings FOR VALUES FROM (0) TO (100);
        CREATE TABLE readings_high PARTITION OF readings FOR VALUES FROM (100) TO (1000);
        INSERT INTO readings SELECT g, 'r' || g FROM generate_series(1, 300) g;"#);
    let before = fingerprint(dir.path(), &pg);
    let r = abparts(dir.path(), &pg, &["validate"]);
    assert!(
        r.stdout
            .contains("INFO inventory_of_suppliers_not_migrated (6)"),
        "{}",
        r.stdout
    );
    assert_exit(
        &abparts(dir.path(), &pg, &["migrate", "--yes", "--force"]),
        0,
    );
    let id = report(dir.path(), false)["migration_id"]
        .as_str()
        .unwrap()
        .to_string();
    pg.exec("CREATE VIEW added_later AS SELECT 1 AS one");
    let r = abparts(dir.path(), &pg, &["rollback", "--migration-id", &id]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("changed since migration"), "{}", r.stderr);
    pg.exec("DROP VIEW added_later");
    // Another database, migrated too: its backup is refused here, even with --force.
    let other_dir = tempfile::tempdir().unwrap();
    let other = before_db(true);
    assert_exit(
        &abparts(other_dir.path(), &other, &["migrate", "--yes", "--force"]),
        0,
    );
    let other_id = report(other_dir.path(), false)["migration_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_backup = other_dir
        .path()
        .join(format!("backups/migration_backup_{other_id}.json"));
    let r = abparts(
        dir.path(),
        &pg,
        &[
            "rollback",
            "--backup",
            other_backup.to_str().unwrap(),
            "--force",
        ],
    );
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("backup of another database"),
        "{}",
        r.stderr
    );
    let r = abparts(dir.path(), &pg, &["rollback", "--migration-id", &id]);
    assert_exit(&r, 0);
    assert_eq!(fingerprint(dir.path(), &pg), before);
    assert_eq!(pg.scalar("SELECT n::text FROM odd_count").unwrap(), "2");
    assert_eq!(pg.scalar("SELECT my_sum(id)::text FROM odd").unwrap(), "3");
    assert_eq!(pg.scalar("SELECT nextval('counter')::text").unwrap(), "43");
    assert_eq!(
        pg.scalar("SELECT count(*) || ':' || sum(k) FROM readings_high")
            .unwrap(),
        "201:40200"
    );
    assert_eq!(
        pg.scalar("SELECT t FROM odd WHERE id = 1").unwrap(),
        "tab\there\nline \\ back"
    );
}
