//! LUStores: the legacy Physics Stores MariaDB database (fixtures/lustores/physicsstores.sql)
//! into PostgreSQL university_inventory (fixtures/lustores/migrations) with
//! `migrate-lustores`: every table's rows, the summary, the rejects, the verification, the
//! admins, reruns, dry runs and resumes after a crash in steps 7 and 8.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

fn schema_file() -> String {
    workspace()
        .join("fixtures/lustores/migrations/database_schemas_export_20250911_152208.json")
        .display()
        .to_string()
}

/// The legacy fixture (plus `issues` generated issues) in a new MariaDB database.
fn legacy(dir: &Path, issues: u64) -> MyDb {
    let my = MyDb::new("lus");
    let mut g = tool("ferry-gen", dir);
    g.args([
        "lustores",
        "--target",
        &my.url(),
        "--issues",
        &issues.to_string(),
    ]);
    assert_exit(&run(g), 0);
    my
}

/// `migrate-lustores` from `my` into `pg`, working in DIR/data.
fn migrate(dir: &Path, my: &MyDb, pg: &PgDb, extra: &[&str]) -> Command {
    let mut c = tool("migrate-lustores", dir);
    c.args([
        "--schema-file",
        &schema_file(),
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
    ]);
    c.args(["--work-dir", "data", "--log-file", "data_migration.log"]);
    c.args(extra);
    c
}

/// The tables a migration writes.
const TABLES: [&str; 9] = [
    "categories",
    "suppliers",
    "items",
    "chargecodes",
    "charge_code_authorized_users",
    "orders",
    "order_items",
    "sales",
    "sale_items",
];

/// md5 of every row of each migrated table, and of the users without their password hash
/// (bcrypt salts differ between two databases).
fn checksums(pg: &PgDb) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        let sql = format!("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {t} t");
        out.insert(t.to_string(), pg.scalar(&sql).unwrap());
    }
    let users = "SELECT count(*) || ':' || md5(string_agg(concat_ws(',', id, email, first_name, last_name, role, is_active, must_change_password), '|' ORDER BY id)) FROM users";
    out.insert("users".into(), pg.scalar(users).unwrap());
    out
}

/// The foreign keys of the public schema.
fn foreign_keys(pg: &PgDb) -> i64 {
    pg.scalar("SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = 'public' AND k.contype = 'f'").unwrap().parse().unwrap()
}

fn count(pg: &PgDb, table: &str) -> i64 {
    pg.scalar(&format!("SELECT count(*) FROM {table}"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Applies the migrations and adds an admin who must survive the migration.
fn target_with_admin(dir: &Path) -> PgDb {
    let pg = PgDb::new("lus");
    let mut a = tool("apply-migrations", dir);
    a.args(["--target", &pg.url(), "--migrations-dir"])
        .arg(workspace().join("fixtures/lustores/migrations"));
    assert_exit(&run(a), 0);
    pg.exec("INSERT INTO users (id, email, password_hash, first_name, last_name, role, is_active) VALUES ('admin_001', 'admin@university.edu', '$2b$10$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstu', 'Ada', 'Admin', 'admin', true)");
    pg.exec("INSERT INTO categories (name) VALUES ('Old category')");
    pg
}

#[test]
fn fixture_migrates_field_by_field_with_summary_rejects_and_verification() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = target_with_admin(dir.path());
    let r = run(migrate(
        dir.path(),
        &my,
        &pg,
        &[
            "--migrate-users",
            "--target-password",
            "target-pw-should-not-show",
        ],
    ));
    assert_exit(&r, 3);
    let block = r
        .stderr
        .lines()
        .skip_while(|l| *l != "MIGRATION SUMMARY")
        .take(14)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        block,
        "MIGRATION SUMMARY
============================================================
users               :      7 migrated,      0 errors,      1 skipped
categories          :      6 migrated,      0 errors,      0 skipped
suppliers           :     14 migrated,      0 errors,      1 skipped
items               :     27 migrated,      0 errors,      3 skipped
chargecodes         :      9 migrated,      0 errors,      6 skipped
orders              :     12 migrated,      0 errors,      0 skipped
order_items         :     24 migrated,      0 errors,      1 skipped
sales               :     59 migrated,      0 errors,     11 skipped
sale_items          :     59 migrated,      0 errors,     11 skipped
------------------------------------------------------------
TOTAL               :    217 migrated,      0 errors
Success rate: 86.5%"
    );
    assert!(
        r.stderr
            .contains("Step 0: Verifying and applying database migrations..."),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Migration completed successfully!"));
    let log = fs_err::read_to_string(dir.path().join("data_migration.log")).unwrap();
    for step in [
        "Step 0:",
        "Step 1: Clearing target database...",
        "Step 5: Migrating items...",
        "Step 8: Migrating issues as sales...",
        "Step 9: Restoring admin users...",
        "MIGRATION SUMMARY",
    ] {
        assert!(log.contains(step), "{step} not in data_migration.log");
    }
    // Counts on every table; the old category is gone, the admin is kept whole.
    let counts: Vec<i64> = TABLES.iter().map(|t| count(&pg, t)).collect();
    // 13 authorised users: the non-empty AUTHORISE1-3 of the 9 charge rows migrated.
    assert_eq!(counts, [6, 14, 27, 10, 13, 12, 24, 59, 59]);
    assert_eq!(
        pg.query("SELECT id, email, password_hash, role FROM users WHERE id = 'admin_001'"),
        [[
            Some("admin_001".into()),
            Some("admin@university.edu".into()),
            Some("$2b$10$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrstu".into()),
            Some("admin".into())
        ]]
    );
    assert_items(&pg);
    assert_users_and_charge_codes(&pg);
    assert_suppliers_chargecodes_orders(&pg);
    assert_sales(&pg);
    assert_rejects(dir.path());
    assert_money_and_report(dir.path(), &pg);
    assert_no_password_anywhere(dir.path(), &r, &["target-pw-should-not-show"]);
}

fn assert_items(pg: &PgDb) {
    let row = pg.query("SELECT name, description, category_id::text, price::text, vat_rate::text, vat_included::text, current_stock::text, minimum_stock::text, unit, location, is_active::text, created_by FROM items WHERE sku = 'EL3301'");
    let want = [
        "SOLDERING IRON ANTEX",
        "SOLDERING IRON ANTEX - 25W 240V",
        "6",
        "22.82",
        "0.2000",
        "false",
        "4.00",
        "2.00",
        "pieces",
        "C7",
        "true",
        "legacy-system",
    ];
    assert_eq!(row, [want.map(|s| Some(s.to_string()))]);
    // Fractional stock, HIDDEN 'Y', the first of two CH5001 rows, Latin-1 text.
    assert_eq!(
        pg.scalar("SELECT current_stock::text FROM items WHERE sku = 'EL3493'")
            .unwrap(),
        "1.50"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(sku, ',' ORDER BY sku) FROM items WHERE NOT is_active")
            .unwrap(),
        "CH5010,GH5000"
    );
    assert_eq!(
        pg.scalar("SELECT name FROM items WHERE sku = 'CH5001'")
            .unwrap(),
        "ACETONE 2.5L"
    );
    assert_eq!(
        pg.scalar("SELECT description FROM items WHERE sku = 'CH5020'")
            .unwrap(),
        "LIQUID NITROGEN (PER LITRE) - -196°C, DEWAR FILL"
    );
    assert_eq!(
        pg.scalar("SELECT name FROM categories WHERE id = 6")
            .unwrap(),
        "General"
    );
    assert_eq!(
        pg.scalar("SELECT count(DISTINCT category_id) FROM items")
            .unwrap(),
        "1"
    );
}

fn assert_users_and_charge_codes(pg: &PgDb) {
    let users = pg.query("SELECT id, email, first_name, last_name, role, is_active::text, must_change_password::text FROM users WHERE id LIKE 'user-%' OR id = 'legacy-system' ORDER BY id");
    let want = [
        [
            "legacy-system",
            "legacy@system.local",
            "Legacy",
            "System",
            "admin",
            "false",
            "false",
        ],
        [
            "user-c.example@physics.example",
            "c.example@physics.example",
            "c.example@physics.example",
            "User",
            "admin",
            "true",
            "true",
        ],
        [
            "user-front-desk",
            "front.desk@physics.lancs.ac.uk",
            "front desk",
            "User",
            "user",
            "true",
            "true",
        ],
        [
            "user-guest",
            "guest@physics.lancs.ac.uk",
            "guest",
            "User",
            "user",
            "true",
            "true",
        ],
        [
            "user-storeman",
            "storeman@physics.lancs.ac.uk",
            "storeman",
            "User",
            "admin",
            "true",
            "true",
        ],
        [
            "user-stores.manager",
            "stores.manager@physics.lancs.ac.uk",
            "stores.manager",
            "User",
            "admin",
            "true",
            "true",
        ],
        [
            "user-supervisor",
            "supervisor@physics.lancs.ac.uk",
            "supervisor",
            "User",
            "superuser",
            "true",
            "true",
        ],
        [
            "user-tech1",
            "tech1@physics.lancs.ac.uk",
            "tech1",
            "User",
            "user",
            "true",
            "true",
        ],
    ];
    assert_eq!(users, want.map(|r| r.map(|s| Some(s.to_string()))));
    // bcrypt of the legacy password, checked by pgcrypto (which spells the same algorithm
    // $2a$ where the bcrypt crate writes $2b$); none for a NULL password.
    pg.exec("CREATE EXTENSION IF NOT EXISTS pgcrypto");
    let check = "SELECT left(password_hash, 4) = '$2b$' AND crypt('counter1', '$2a$' || substr(password_hash, 5)) = '$2a$' || substr(password_hash, 5) FROM users WHERE id = 'user-front-desk'";
    assert_eq!(pg.scalar(check).unwrap(), "t");
    assert_eq!(
        pg.scalar("SELECT password_hash IS NULL FROM users WHERE id = 'user-tech1'")
            .unwrap(),
        "t"
    );
    assert_eq!(
        pg.query("SELECT title, pin, activity, valid_from::text, coalesce(valid_until::text, '-'), on_hold::text FROM chargecodes WHERE code = 'PYA1000'"),
        [["Physics general teaching", "100001", "A10001", "2009-08-01 00:00:00", "-", "false"].map(|s| Some(s.to_string()))]
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(user_name, ';' ORDER BY id) FROM charge_code_authorized_users WHERE charge_code = 'PYA6000'").unwrap(),
        "Prof E. Instance;Dr F. Trial;Mrs G. Budget"
    );
    assert_eq!(
        pg.query("SELECT i.item_name, i.item_sku, i.unit_cost::text, i.quantity::text, i.total_cost::text, i.received::text FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.order_id = 'P1004' ORDER BY i.id"),
        [["M3 NUT STAINLESS", "ME2001", "3.14", "1.00", "3.14", "true"], ["ALLEN KEY SET METRIC", "ME3050", "11.99", "2.00", "23.98", "true"]].map(|r| r.map(|s| Some(s.to_string())))
    );
    assert_eq!(
        pg.query("SELECT name, icon, color FROM categories WHERE id = 6"),
        [["General", "fas fa-box", "#6c757d"].map(|s| Some(s.to_string()))]
    );
}

fn assert_suppliers_chargecodes_orders(pg: &PgDb) {
    assert_eq!(
        pg.query("SELECT id, name, phone, address, account_number FROM suppliers WHERE id IN ('A22', 'E15') ORDER BY id"),
        [
            ["A22", "Acorn Scientific Ltd", "01632 960101", "3 Station Road, Kendal, Cumbria, LA99 1AA", "AC-778"].map(|s| Some(s.to_string())),
            ["E15", "Eastgate Safety Products", "01632 960315", "Eastgate Works, Preston, Lancashire, PR99 3CC", "EG-0015"].map(|s| Some(s.to_string())),
        ]
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM chargecodes WHERE code = 'GENERAL'")
            .unwrap(),
        "1"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM chargecodes WHERE code = cost_centre")
            .unwrap(),
        "9"
    );
    let p1008 = pg.query("SELECT o.status, o.supplier_id, o.total_amount::text, count(i.*)::text FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.order_id = 'P1008' GROUP BY 1, 2, 3");
    assert_eq!(p1008.len(), 1);
    assert_eq!(p1008[0][0].as_deref(), Some("completed"));
    assert_eq!(
        pg.scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
            .unwrap(),
        "1"
    );
    // P1004's unknown Q77 (kept with a warning) and P1010's NULL SUPPLIER.
    assert_eq!(pg.scalar("SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders WHERE supplier_id IS NULL").unwrap(), "P1004,P1010");
}

fn assert_sales(pg: &PgDb) {
    let reversal = pg.query("SELECT s.sale_id, s.subtotal_amount::text, s.vat_amount::text, s.total_amount::text, s.status, s.charge_code, si.quantity::text, si.item_sku, s.customer_info->>'reason', s.customer_info->'legacy_data'->>'costcentre', s.created_at::text FROM sales s JOIN sale_items si ON si.sale_id = s.id WHERE s.sale_id = 'LEGACY-GH4794-20170214-000001'");
    let want = [
        "LEGACY-GH4794-20170214-000001",
        "-3.30",
        "-0.66",
        "-3.96",
        "refunded",
        "GENERAL",
        "-33.00",
        "GH4794",
        "wrong size, reversed",
        "PYA6000",
        "2017-02-14 00:00:00",
    ];
    assert_eq!(reversal, [want.map(|s| Some(s.to_string()))]);
    assert_eq!(
        pg.query("SELECT s.customer_info->>'matched_by', si.item_sku FROM sales s JOIN sale_items si ON si.sale_id = s.id WHERE s.customer_info->'legacy_data'->>'stock_code' IN ('EL3301 replacement tip', 'Nitrile Gloves Medium', 'gh4794') ORDER BY s.id"),
        [["sku", "GH4794"], ["code_in_text", "EL3301"], ["name", "GH4794"]].map(|r| r.map(|s| Some(s.to_string())))
    );
    // Fractional quantities round to the column's two places; the rounding is listed.
    assert_eq!(
        pg.scalar("SELECT count(*) FROM sale_items WHERE quantity <> round(quantity, 2)")
            .unwrap(),
        "0"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM sales WHERE total_amount <> subtotal_amount + vat_amount")
            .unwrap(),
        "0"
    );
    assert_eq!(
        pg.scalar("SELECT max(length(sale_id)) <= 50 FROM sales")
            .unwrap(),
        "t"
    );
}

fn assert_rejects(dir: &Path) {
    let sales = read_ndjson(&dir.join("data/rejects/sales.rejects.ndjson"));
    assert_eq!(sales.len(), 11);
    let usb = sales
        .iter()
        .find(|r| r["record"]["STOCK_CODE"] == "usb pen drive")
        .unwrap();
    assert_eq!(usb["step"], "sales");
    assert_eq!(usb["action"], "skipped");
    assert_eq!(
        usb["reason"],
        "STOCK_CODE 'usb pen drive' matches no item (not a SKU, holds no SKU, is no item's name)"
    );
    let sup = read_ndjson(&dir.join("data/rejects/suppliers.rejects.ndjson"));
    assert_eq!(sup.len(), 1);
    assert_eq!(sup[0]["record"]["CODE"], "A22");
    assert!(sup[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("duplicate supplier CODE 'A22'"));
    let charge = read_ndjson(&dir.join("data/rejects/chargecodes.rejects.ndjson"));
    assert_eq!(
        charge
            .iter()
            .filter(|r| r["record"]["COSTCENTRE"] == "PYA6000")
            .count(),
        3
    );
    let rounding = read_ndjson(&dir.join("data/rejects/sales.rounding.ndjson"));
    assert!(
        rounding
            .iter()
            .any(|r| r["column"] == "quantity" && r["legacy"] == "0.025" && r["stored"] == "0.03"),
        "{rounding:?}"
    );
    let users = read_ndjson(&dir.join("data/rejects/users.rejects.ndjson"));
    assert_eq!(users.len(), 1);
    assert!(users
        .iter()
        .all(|u| u["record"]["USERPASSWORD"].is_null()
            || u["record"]["USERPASSWORD"] == "[redacted]"));
}

fn assert_money_and_report(dir: &Path, pg: &PgDb) {
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(dir.join("data/reports/migration_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["success_rate"], 86.5);
    let checks = report["verification"].as_array().unwrap();
    assert!(checks.len() >= 30 && checks.iter().all(|c| c["ok"] == true));
    let items_value = checks
        .iter()
        .find(|c| c["what"] == "SUM(price * current_stock) of items")
        .unwrap();
    assert_eq!(
        items_value["found"].as_str().unwrap(),
        pg.scalar("SELECT sum(price * current_stock)::text FROM items")
            .unwrap()
    );
    for t in report["tables"].as_object().unwrap().values() {
        let n = |k: &str| t[k].as_u64().unwrap();
        assert_eq!(
            n("processed"),
            n("migrated") + n("skipped") + n("errors"),
            "{t}"
        );
    }
}

/// No legacy password (nor the one given on the command line) in any file the run wrote or
/// in its output.
fn assert_no_password_anywhere(dir: &Path, r: &Run, extra: &[&str]) {
    let my_passwords = [
        "tulip42",
        "Winter2016",
        "bench7",
        "counter1",
        "Sup3rvise",
        "café",
    ];
    let mut texts = vec![r.stderr.clone(), r.stdout.clone()];
    for entry in walk(dir) {
        texts.push(String::from_utf8_lossy(&fs_err::read(entry).unwrap()).into_owned());
    }
    for t in &texts {
        for p in extra.iter().chain(my_passwords.iter()) {
            assert!(
                !t.contains(p),
                "password {p} appears in the run's output or files"
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rerun_is_identical_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = PgDb::new("lus");
    assert_exit(&run(migrate(dir.path(), &my, &pg, &[])), 3);
    let first = checksums(&pg);
    let first_report =
        fs_err::read_to_string(dir.path().join("data/reports/migration_report.json")).unwrap();
    // A dry run against the migrated target: same counts, nothing changed, no scratch left.
    let d = run(migrate(dir.path(), &my, &pg, &["--dry-run"]));
    assert_exit(&d, 3);
    assert!(d.stderr.contains("would back up"), "{}", d.stderr);
    assert_eq!(checksums(&pg), first);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_dry_%'")
            .unwrap(),
        "0"
    );
    let dry: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(
            dir.path()
                .join("data/dry-run/reports/migration_report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let real: serde_json::Value = serde_json::from_str(&first_report).unwrap();
    assert_eq!(dry["tables"], real["tables"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["verified"], true);
    // A second real run gives the same target, row for row.
    assert_exit(&run(migrate(dir.path(), &my, &pg, &[])), 3);
    assert_eq!(checksums(&pg), first);
}

/// The reference: an uninterrupted run of the same legacy database into another target.
fn reference(dir: &Path, my: &MyDb) -> BTreeMap<String, String> {
    let pg = PgDb::new("lus");
    let sub = dir.join("reference");
    fs_err::create_dir_all(&sub).unwrap();
    assert_exit(&run(migrate(&sub, my, &pg, &["--batch-size", "7"])), 3);
    checksums(&pg)
}

fn crash_then_resume(step: &str, checkpoint: u64) {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 300);
    let want = reference(dir.path(), &my);
    let pg = PgDb::new("lus");
    let mut c = migrate(dir.path(), &my, &pg, &["--batch-size", "7"]);
    c.env("FERRY_TEST_CRASH_STEP", step);
    crash_at_child(c, "load-postgres", checkpoint);
    assert!(
        count(&pg, step.trim_start_matches("load:")) > 0,
        "the crash came before {step} wrote anything"
    );
    let r = run(migrate(
        dir.path(),
        &my,
        &pg,
        &["--batch-size", "7", "--resume"],
    ));
    assert_exit(&r, 3);
    assert!(
        r.stderr.contains(&format!(
            "{step}: continuing after its last committed batch"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(checksums(&pg), want);
    assert_eq!(
        foreign_keys(&pg),
        42,
        "the keys dropped for the loads are all back"
    );
}

/// The fixture, a run crashed in step 8 after two committed batches of 5 sales.
fn crashed_in_sales() -> (tempfile::TempDir, MyDb, PgDb) {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = PgDb::new("lus");
    let mut c = migrate(dir.path(), &my, &pg, &["--batch-size", "5"]);
    c.env("FERRY_TEST_CRASH_STEP", "load:sales");
    crash_at_child(c, "load-postgres", 2);
    (dir, my, pg)
}

#[test]
fn a_new_run_after_a_crashed_one_puts_the_dropped_keys_back() {
    let (dir, my, pg) = crashed_in_sales();
    assert!(
        foreign_keys(&pg) < 42,
        "the crash came before the keys were dropped"
    );
    assert_exit(&run(migrate(dir.path(), &my, &pg, &[])), 3);
    assert_eq!(foreign_keys(&pg), 42);
    assert_eq!(count(&pg, "sales"), 59);
}

/// Runs migrate-lustores with the crash hook for one step's tool and asserts that the tool
/// crashed (signal 6) and the run stopped with exit 1.
fn crash_at_child(mut c: Command, tool_name: &str, n: u64) {
    c.env("FERRY_TEST_CRASH_AT", format!("{tool_name}:{n}"));
    let r = run(c);
    assert_exit(&r, 1);
    assert!(
        r.stderr
            .contains(&format!("{tool_name} was killed by signal 6")),
        "{}",
        r.stderr
    );
}

#[test]
fn crash_in_step_8_then_resume_gives_the_uninterrupted_target() {
    crash_then_resume("load:sales", crash_point(2, 20));
}

#[test]
fn crash_in_step_7_then_resume_gives_the_uninterrupted_target() {
    crash_then_resume("load:order_items", crash_point(2, 4));
}

#[test]
fn sigkill_of_the_whole_run_in_step_8_then_resume() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 50_000);
    let want = reference(dir.path(), &my);
    let pg = PgDb::new("lus");
    let mut c = migrate(dir.path(), &my, &pg, &["--batch-size", "250"]);
    c.process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let exists = pg
            .scalar("SELECT to_regclass('public.sales') IS NOT NULL")
            .unwrap()
            == "t";
        if exists && count(&pg, "sales") > 0 {
            std::thread::sleep(std::time::Duration::from_millis(jitter_ms(100)));
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before step 8 could be interrupted"
        );
        assert!(std::time::Instant::now() < deadline, "step 8 never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill_process_group(&mut child);
    let loaded = count(&pg, "sales");
    let total: i64 = want["sales"].split(':').next().unwrap().parse().unwrap();
    assert!(
        loaded < total,
        "step 8 had finished ({loaded} of {total} sales) before the kill"
    );
    let r = run(migrate(
        dir.path(),
        &my,
        &pg,
        &["--batch-size", "250", "--resume"],
    ));
    assert_exit(&r, 3);
    assert_eq!(checksums(&pg), want);
}

#[test]
fn resume_refuses_what_is_not_this_run() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = PgDb::new("lus");
    let r = run(migrate(dir.path(), &my, &pg, &["--resume"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("there is no run to resume"),
        "{}",
        r.stderr
    );
    let mut c = migrate(dir.path(), &my, &pg, &[]);
    c.env("FERRY_TEST_CRASH_STEP", "load:items");
    crash_at_child(c, "load-postgres", 1);
    // Another mapping is another run.
    let other = dir.path().join("mapping.json");
    let text = fs_err::read_to_string(workspace().join("config/lustores/mapping.json")).unwrap();
    fs_err::write(&other, text.replace("\"GENERAL\"", "\"LEGACY\"")).unwrap();
    let r = run(migrate(
        dir.path(),
        &my,
        &pg,
        &["--resume", "--mapping", other.to_str().unwrap()],
    ));
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("differ from the recorded run's"),
        "{}",
        r.stderr
    );
    // A transformed file changed by hand since its step recorded it.
    let f = dir.path().join("data/transformed/sales.ndjson");
    let mut text = fs_err::read_to_string(&f).unwrap();
    text.push('\n');
    fs_err::write(&f, text).unwrap();
    let r = run(migrate(dir.path(), &my, &pg, &["--resume"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr
            .contains("data/transformed/sales.ndjson is not the file step transform:sales wrote"),
        "{}",
        r.stderr
    );
}

#[test]
fn apply_migrations_on_the_lustores_directory_twice() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("lus");
    let migrations = workspace().join("fixtures/lustores/migrations");
    let mut a = tool("apply-migrations", dir.path());
    a.args(["--target", &pg.url(), "--migrations-dir"])
        .arg(&migrations);
    assert_exit(&run(a), 0);
    let names: Vec<String> = pg
        .query("SELECT migration_name FROM applied_migrations ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let mut files: Vec<String> = fs_err::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".sql").map(str::to_string))
        .collect();
    files.sort();
    assert_eq!(
        names, files,
        "every file recorded once, in plain-string order"
    );
    let mut again = tool("apply-migrations", dir.path());
    again
        .args(["--target", &pg.url(), "--migrations-dir"])
        .arg(&migrations);
    let r = run(again);
    assert_exit(&r, 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM applied_migrations")
            .unwrap(),
        files.len().to_string()
    );
}

#[test]
fn restore_puts_the_target_back_as_step_1_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = target_with_admin(dir.path());
    let before = checksums(&pg);
    let hash_before = pg
        .scalar("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM users t")
        .unwrap();
    assert_exit(&run(migrate(dir.path(), &my, &pg, &[])), 3);
    assert_ne!(checksums(&pg), before);
    let backups: Vec<PathBuf> = fs_err::read_dir(dir.path().join("data/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    let mut r = tool("migrate-lustores", dir.path());
    r.args(["--target", &pg.url(), "--restore"])
        .arg(&backups[0]);
    assert_exit(&run(r), 0);
    assert_eq!(checksums(&pg), before);
    assert_eq!(
        pg.scalar("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM users t")
            .unwrap(),
        hash_before
    );
    assert_eq!(foreign_keys(&pg), 42);
    // The ids continue after the restored ones.
    pg.exec("INSERT INTO categories (name) VALUES ('after the restore')");
    assert_eq!(
        pg.scalar("SELECT id FROM categories WHERE name = 'after the restore'")
            .unwrap(),
        "2"
    );
}

#[test]
fn dry_run_on_a_target_without_its_migrations_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = PgDb::new("lus");
    let r = run(migrate(dir.path(), &my, &pg, &["--dry-run"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("its migrations are not applied yet"),
        "{}",
        r.stderr
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_dry_%'")
            .unwrap(),
        "0"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .unwrap(),
        "0"
    );
}

#[test]
fn a_second_run_in_the_same_work_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 20_000);
    let pg = PgDb::new("lus");
    let mut first = migrate(dir.path(), &my, &pg, &[]);
    first
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    let lock = dir.path().join("data/.lock");
    while !lock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The file is created, then locked: give the lock a moment.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = run(migrate(dir.path(), &my, &pg, &["--resume"]));
    let finished_first = child.try_wait().unwrap().is_some();
    assert!(
        !finished_first,
        "the first run ended before the second started: nothing was tested"
    );
    assert_exit(&second, 2);
    assert!(
        second
            .stderr
            .contains("another migrate-lustores is running in data"),
        "{}",
        second.stderr
    );
    assert_eq!(
        child.wait().unwrap().code(),
        Some(3),
        "the first run was disturbed"
    );
}

#[test]
fn users_never_merge_nor_overwrite_and_odd_legacy_values_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    my.exec("INSERT INTO users VALUES ('Bob', 'pw-bob-1', 'A'), ('bob', 'pw-bob-2', 'U')");
    my.exec("SET SESSION sql_mode = ''; INSERT INTO issues (`DATE`, COSTCENTRE, QUANTITY, STOCK_CODE, `VALUE`, ISSUEDTO) VALUES ('2018-00-15', 'PYA1000', 1, 'EL3301', 22.82, 'zero month'), ('0000-00-00', 'PYA1000', 2, 'EL3301', 45.64, 'zero date'), ('2018-03-01', 'PYA1000', 1, 'EL3301', 22.82, CONCAT('nul', CHAR(0), 'to')); UPDATE orders SET RECD_DATE = '0000-00-00' WHERE ORDER_NO = 'P1010'");
    let pg = target_with_admin(dir.path());
    pg.exec("INSERT INTO users (id, email, password_hash, first_name, last_name, role, is_active) VALUES ('user-storeman', 'boss@x.org', 'h', 'Boss', 'X', 'admin', true)");
    let r = run(migrate(dir.path(), &my, &pg, &["--migrate-users"]));
    assert_exit(&r, 3);
    // The existing admin is untouched; Bob and bob are not merged.
    assert_eq!(
        pg.query("SELECT email, password_hash FROM users WHERE id = 'user-storeman'"),
        [[Some("boss@x.org".to_string()), Some("h".to_string())]]
    );
    assert_eq!(
        pg.scalar("SELECT role FROM users WHERE id = 'user-bob'")
            .unwrap(),
        "admin"
    );
    let users = read_ndjson(&dir.path().join("data/rejects/users.rejects.ndjson"));
    let reasons: Vec<&str> = users
        .iter()
        .map(|u| u["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("USERNAME 'bob' gives the same user id or e-mail as 'Bob'")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("the target already has user user-storeman <boss@x.org>")),
        "{reasons:?}"
    );
    // Dates that are no calendar day: kept, NULL, each with a warning; ids still unique.
    let sales = read_ndjson(&dir.path().join("data/rejects/sales.rejects.ndjson"));
    let warned: Vec<&str> = sales
        .iter()
        .filter(|r| r["action"] == "kept")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned.iter().all(|w| w.contains("is no calendar day")));
    assert_eq!(pg.scalar("SELECT count(*) FROM sales WHERE sale_id IN ('LEGACY-EL3301-20180015-000001', 'LEGACY-EL3301-00000000-000001') AND created_at IS NULL").unwrap(), "2");
    let nul = sales
        .iter()
        .find(|r| r["reason"].as_str().unwrap().contains("U+0000"))
        .unwrap();
    assert_eq!(nul["action"], "error");
    assert_eq!(pg.query("SELECT received::text FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.order_id = 'P1010'"), [[Some("true".to_string())]]);
    // A dry run killed before it could drop its scratch copy: the next run drops it.
    pg.exec("CREATE SCHEMA ferry_dry_deadbeef; CREATE TABLE ferry_dry_deadbeef.sales (id int)");
    assert_exit(&run(migrate(dir.path(), &my, &pg, &["--migrate-users"])), 3);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_dry_%'")
            .unwrap(),
        "0"
    );
}

#[test]
fn a_legacy_change_between_crash_and_resume_fails_the_verification() {
    let (dir, my, pg) = crashed_in_sales();
    my.exec("UPDATE issues SET ISSUEDTO = 'changed after the crash' WHERE STOCK_CODE = 'EL3301'");
    let r = run(migrate(dir.path(), &my, &pg, &["--resume"]));
    assert_exit(&r, 1);
    assert!(
        r.stderr
            .contains("legacy issues unchanged since it was read (CHECKSUM TABLE)"),
        "{}",
        r.stderr
    );
}

#[test]
fn transform_lustores_report_and_no_stale_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let mut x = tool("extract", dir.path());
    x.args([
        "--source",
        &my.url(),
        "--table",
        "supplier",
        "-o",
        "ex/",
        "-q",
    ]);
    assert_exit(&run(x), 0);
    let mut t = tool("transform-lustores", dir.path());
    t.args([
        "--entity",
        "suppliers",
        "--input",
        "ex",
        "--output",
        "out",
        "--report",
        "rep.json",
        "-q",
    ]);
    assert_exit(&run(t), 3);
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("rep.json")).unwrap())
            .unwrap();
    assert_eq!(report["details"]["tables"]["suppliers"]["migrated"], 14);
    assert_eq!(report["tables"][0]["table"], "suppliers");
    assert_eq!(report["status"], "rejects");
    // A run that fails (no input) leaves no earlier output looking like its own.
    let mut again = tool("transform-lustores", dir.path());
    again.args([
        "--entity",
        "suppliers",
        "--input",
        "nowhere",
        "--output",
        "out",
        "-q",
    ]);
    let r = run(again);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("nowhere/supplier.ndjson does not exist"),
        "{}",
        r.stderr
    );
    assert!(
        !dir.path().join("out/suppliers.ndjson").exists()
            && !dir.path().join("out/suppliers.counts.json").exists()
    );
}

#[test]
fn rows_the_database_refuses_stop_the_run_and_every_legacy_table_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let my = legacy(dir.path(), 0);
    let pg = PgDb::new("lus");
    // A category name longer than categories.name's 100 characters: the load refuses it.
    let mapping = dir.path().join("mapping.json");
    let text = fs_err::read_to_string(workspace().join("config/lustores/mapping.json")).unwrap();
    fs_err::write(
        &mapping,
        text.replace("\"General\"", &format!("\"{}\"", "G".repeat(150))),
    )
    .unwrap();
    let r = run(migrate(
        dir.path(),
        &my,
        &pg,
        &["--mapping", mapping.to_str().unwrap()],
    ));
    assert_exit(&r, 1);
    assert!(r.stderr.contains("load:categories: the database refused rows (see rejects/load-categories.rejects.ndjson)"), "{}", r.stderr);
    let refused = read_ndjson(
        &dir.path()
            .join("data/rejects/load-categories.rejects.ndjson"),
    );
    assert_eq!(refused.len(), 1);
    // A good run checks that every supplier and charge row was examined.
    assert_exit(&run(migrate(dir.path(), &my, &pg, &[])), 3);
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(dir.path().join("data/reports/migration_report.json")).unwrap(),
    )
    .unwrap();
    let whats: Vec<&str> = report["verification"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert!(
        whats.contains(&"legacy supplier rows examined")
            && whats.contains(&"legacy charge rows examined"),
        "{whats:?}"
    );
}
