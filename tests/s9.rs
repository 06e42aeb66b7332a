//! S9 → DynamoDB, the part built so far: the S9 fixture in PostgreSQL, `extract` of sales
//! with their lines (scripts/s9/sales.sql), `transform-sales` through a pipe and
//! `transform-buyers`/`transform-producers` from files: exact items, rejects with reasons.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn items(path: &Path) -> Vec<serde_json::Value> {
    read_ndjson(path)
}

#[test]
fn extract_transform_sales_buyers_producers() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("s9");
    let mut g = tool("ferry-gen", dir.path());
    g.args(["s9", "--target", &pg.url()]);
    assert_exit(&run(g), 0);
    let query = fs_err::read_to_string(workspace().join("scripts/s9/sales.sql")).unwrap();
    fs_err::write(dir.path().join("sales.sql"), &query).unwrap();
    let r = sh(
        &format!(
            "set -o pipefail; extract --source {} --query \"$(cat sales.sql)\" --name sales -q \
             | transform-sales - -o sales.items.ndjson --rejects sales.rejects.ndjson -q",
            pg.url()
        ),
        dir.path(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let sales = items(&dir.path().join("sales.items.ndjson"));
    let ids: Vec<&str> = sales
        .iter()
        .map(|i| i["legacyId"]["N"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["100", "101", "103", "105", "106", "100"]);
    let s105 = &sales[3];
    assert_eq!(s105["saleDate"]["S"], "2023-07-15");
    assert_eq!(s105["totalNet"]["N"], "22.00");
    assert_eq!(s105["totalVat"]["N"], "4.62");
    assert_eq!(s105["totalGross"]["N"], "26.62");
    assert_eq!(s105["lines"]["L"][0]["M"]["lineTotal"]["N"], "21.9999");
    let s101 = &sales[1];
    assert_eq!(s101["status"]["S"], "INVOICED");
    assert_eq!(s101["updatedAt"]["S"], "2023-04-20T09:00:00Z");
    assert_eq!(s101["totalNet"]["N"], "239.76");
    let s106 = &sales[4];
    assert_eq!(s106["status"]["S"], "DELETED");
    assert_eq!(s106["deletedAt"]["S"], "2023-09-01T00:00:00Z");
    assert!(s106.get("saleNumber").is_none());
    // The same legacy buyer gives the same key in sales and in buyers.
    let rejects = read_ndjson(&dir.path().join("sales.rejects.ndjson"));
    let why: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(why[0], "sale_date \"2023-02-30\" is not a date");
    assert!(
        why[1].starts_with("the item is 560461 bytes, over DynamoDB's 400 KB limit"),
        "{}",
        why[1]
    );
    assert_eq!(rejects[1]["record"]["id"], 104);

    for (entity, table) in [("buyers", "buyers"), ("producers", "producers")] {
        let mut e = tool("extract", dir.path());
        e.args([
            "--source",
            &pg.url(),
            "--table",
            table,
            "-o",
            &format!("data/extracted/{entity}.ndjson"),
            "-q",
        ]);
        assert_exit(&run(e), 0);
        let mut t = tool(&format!("transform-{entity}"), dir.path());
        t.arg("-q");
        assert_exit(&run(t), 0);
    }
    let buyers = items(&dir.path().join("data/transformed/buyers.ndjson"));
    assert_eq!(buyers.len(), 8);
    assert_eq!(buyers[0]["buyerId"], sales[0]["buyerId"]);
    assert_eq!(buyers[1]["companyName"]["S"], "Société Générale d'Achats");
    assert_eq!(buyers[1]["address"]["M"]["line2"]["S"], "Bât. B");
    assert_eq!(buyers[2]["contactName"]["S"], "山田太郎");
    assert_eq!(buyers[3]["status"]["S"], "DELETED");
    let producers = items(&dir.path().join("data/transformed/producers.ndjson"));
    assert_eq!(producers.len(), 4);
    assert_eq!(producers[0]["producerId"], sales[0]["producerId"]);
    assert_eq!(producers[2]["status"]["S"], "DELETED");
    assert!(
        producers[3].get("name").is_none(),
        "an empty name is left out, not sent"
    );
}

/// A config.json for `migrate-s9` against the test database and fresh tables.
fn config(dir: &Path, pg: &PgDb, tables: &[&DynTable; 3], migration: &str) {
    config_with(dir, pg, tables, migration, &dynamo_url(), "");
}

/// [`config`] with another DynamoDB endpoint and more top-level keys (`extra`, with its
/// leading comma).
fn config_with(
    dir: &Path,
    pg: &PgDb,
    tables: &[&DynTable; 3],
    migration: &str,
    endpoint: &str,
    extra: &str,
) {
    let cfg = format!(
        r#"{{
  "source": {{"type": "postgresql", "host": "127.0.0.1", "port": 5432, "database": "{}",
             "username": "postgres", "password": "${{DB_PASSWORD}}", "ssl": false}},
  "target": {{"region": "us-east-1", "endpointUrl": "{endpoint}", "buyersTable": "{}",
             "producersTable": "{}", "salesTable": "{}"}},
  "migration": {migration}{extra}
}}"#,
        pg.name, tables[0].name, tables[1].name, tables[2].name
    );
    fs_err::write(dir.join("config.json"), cfg).unwrap();
}

fn migrate(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = tool("migrate-s9", dir);
    c.args(args).env("DB_PASSWORD", "n0t-a-real-pw-4711");
    c
}

/// Items of a file keyed by an attribute, as the server returns them.
fn keyed(path: &Path, key: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    read_ndjson(path)
        .into_iter()
        .map(|v| (v[key]["S"].as_str().unwrap().to_string(), v))
        .collect()
}

fn legacy_ids(items: &std::collections::BTreeMap<String, serde_json::Value>) -> Vec<i64> {
    let mut v: Vec<i64> = items
        .values()
        .map(|i| i["legacyId"]["N"].as_str().unwrap().parse().unwrap())
        .collect();
    v.sort();
    v
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn migrate_s9_end_to_end_on_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pg = PgDb::new("s9m");
    let mut g = tool("ferry-gen", d);
    g.args(["s9", "--target", &pg.url()]);
    assert_exit(&run(g), 0);
    let (b, p, s) = (DynTable::new("b"), DynTable::new("p"), DynTable::new("s"));
    config(
        d,
        &pg,
        &[&b, &p, &s],
        r#"{"batchSize": 25, "maxRetries": 5, "continueOnError": true, "backupBeforeLoad": true}"#,
    );

    dry_run_writes_nothing(d, &s);

    let r = run(migrate(d, &["--full", "--config", "config.json"]));
    assert_exit(&r, 3);
    let sales = assert_loaded_tables(d, &b, &p, &s);
    assert_validation_rejects(d);
    assert_reports_and_logs(d, &r);
    reload_sales_after_a_backup(d, &s, &sales);
    resume_after_a_finished_run(d);
    resume_stops_on_rejects(d, &pg, [&b, &p, &s]);
}

/// Dry run: everything but the writes; no table appears.
fn dry_run_writes_nothing(d: &Path, s: &DynTable) {
    let r = run(migrate(
        d,
        &[
            "--dry-run",
            "--config",
            "config.json",
            "--report",
            "dry.json",
            "--log-file",
            "dry.log",
        ],
    ));
    assert_exit(&r, 3);
    // Its files are in data/dry-run/, its report and log where asked.
    assert!(d.join("data/dry-run/validated/sales.ndjson").is_file());
    assert!(!d.join("data/extracted").exists());
    let report = json_file(&d.join("dry.json"));
    assert_eq!(
        (report["tool"].as_str(), report["dry_run"].as_bool()),
        (Some("migrate-s9"), Some(true))
    );
    assert_eq!(report["exit_code"], 3, "{report}");
    let log = fs_err::read_to_string(d.join("dry.log")).unwrap();
    assert!(log.contains("running extract-buyers"), "{log}");
    assert!(
        r.stderr.contains("would create it (keys saleId:S)"),
        "{}",
        r.stderr
    );
    let mut bk = tool("backup-dynamo", d);
    bk.args([
        "--table",
        &s.name,
        "--endpoint-url",
        &dynamo_url(),
        "-o",
        "-",
    ]);
    assert_exit(&run(bk), 2);
}

/// Every valid record is in its table; returns the sales items.
fn assert_loaded_tables(
    d: &Path,
    b: &DynTable,
    p: &DynTable,
    s: &DynTable,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    // Every valid record is in its table with exactly the attributes validated.
    for (t, key, entity, ids) in [
        (b, "buyerId", "buyers", vec![1, 2, 3, 4]),
        (p, "producerId", "producers", vec![10, 11, 12]),
        (s, "saleId", "sales", vec![100, 101, 106]),
    ] {
        let want = keyed(&d.join(format!("data/validated/{entity}.ndjson")), key);
        let got = t.items(key, d);
        assert_eq!(legacy_ids(&got), ids, "{entity}");
        for (k, v) in &want {
            let v: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(got[k], v, "{entity} {k}");
        }
    }
    let sales = s.items("saleId", d);
    let s101 = sales
        .values()
        .find(|i| i["legacyId"]["N"] == "101")
        .unwrap();
    assert_eq!(s101["totalNet"]["N"], "239.76");
    assert_eq!(s101["status"]["S"], "INVOICED");
    assert_eq!(s101["lines"]["L"][0]["M"]["unitPrice"]["N"], "9.99");
    sales
}

/// Every invalid record is in the validation report and rejects, with its rule.
fn assert_validation_rejects(d: &Path) {
    let mut why: Vec<(String, i64, String)> =
        read_ndjson(&d.join("data/reports/validation_rejects.ndjson"))
            .iter()
            .map(|r| {
                (
                    r["table"].as_str().unwrap().to_string(),
                    r["record"]["legacyId"]["N"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                    r["rule"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    why.sort();
    let want: Vec<(String, i64, String)> = [
        ("buyers", 5, "required"),
        ("buyers", 6, "duplicate_email"),
        ("buyers", 6, "duplicate_key"),
        ("buyers", 7, "format"),
        ("producers", 13, "required"),
        ("sales", 100, "duplicate_key"),
        ("sales", 103, "reference"),
        ("sales", 105, "reference"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), *b, c.to_string()))
    .collect();
    assert_eq!(why, want);
    let report = json_file(&d.join("data/reports/validation_report.json"));
    assert_eq!(report["entities"]["buyers"]["invalid"], 4);
    assert_eq!(report["entities"]["sales"]["rejected_by_transform"], 2);
    let transform_rejects: Vec<i64> = read_ndjson(&d.join("data/transformed/sales.rejects.ndjson"))
        .iter()
        .map(|r| r["record"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(transform_rejects, [102, 104]);
}

/// compare-counts, the logs and the checkpoint of the full run `r`; the password nowhere.
fn assert_reports_and_logs(d: &Path, r: &Run) {
    // compare-counts: source − rejected = target, in the document's shape.
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    assert_eq!(
        counts,
        serde_json::json!({
            "buyers": {"source": 8, "target": 4, "rejected": 4, "expected": 4, "keys": 4,
                       "missing": 0, "given_up": 0, "load_rejected": 0, "different": 0, "unaccounted": 0, "unknown": 0, "match": true},
            "producers": {"source": 4, "target": 3, "rejected": 1, "expected": 3, "keys": 3,
                          "missing": 0, "given_up": 0, "load_rejected": 0, "different": 0, "unaccounted": 0, "unknown": 0, "match": true},
            "sales": {"source": 8, "target": 3, "rejected": 5, "expected": 3, "keys": 3,
                      "missing": 0, "given_up": 0, "load_rejected": 0, "different": 0, "unaccounted": 0, "unknown": 0, "match": true}
        })
    );
    // Logs of the whole run; the password nowhere.
    let log = fs_err::read_to_string(d.join("data/reports/migration.log")).unwrap();
    for t in [
        "extract-sales",
        "transform-sales",
        "validate-s9",
        "load-dynamo",
        "compare-counts",
    ] {
        assert!(
            log.contains(&format!("running {t}")),
            "{t} missing from the log"
        );
    }
    let errors = fs_err::read_to_string(d.join("data/reports/migration_errors.log")).unwrap();
    assert!(
        errors.contains("(legacy buyer 99) matches no buyer"),
        "{errors}"
    );
    assert!(
        !errors.contains(" INFO "),
        "only warnings and errors: {errors}"
    );
    let all = sh(
        "cat data/reports/* data/reports/steps/* data/.checkpoint.json",
        d,
    );
    assert!(!all.stdout.contains("n0t-a-real-pw-4711") && !r.stderr.contains("n0t-a-real-pw-4711"));
    let cp = json_file(&d.join("data/.checkpoint.json"));
    assert_eq!(cp["state"]["completed"].as_array().unwrap().len(), 12);
    let integrity = json_file(&d.join("data/reports/integrity_report.json"));
    assert_eq!(integrity["passed"], true, "{integrity}");
    assert_eq!(integrity["checks"]["foreign_keys"]["checked"], 6);
    let load = json_file(&d.join("data/reports/load_report.json"));
    assert_eq!(load["entities"]["sales"]["written"], 3, "{load}");
    // The document's spellings: .json names, --input/--output, validate --verbose --strict.
    let r = sh(
        "transform-producers --input data/extracted/producers.json --output p.json -q && \
         cmp p.json data/transformed/producers.ndjson && \
         validate-s9 --input data/transformed/ --verbose --strict --output v --rejects v.rej \
           --validation-report v.json -q",
        d,
    );
    assert_exit(&r, 3);
    assert!(d.join("v/buyers.ndjson").is_file());
    assert_eq!(load["entities"]["sales"]["status"], "completed");
}

/// Second run: the tables are backed up first (backupBeforeLoad), then reloaded the same.
fn reload_sales_after_a_backup(
    d: &Path,
    s: &DynTable,
    sales: &std::collections::BTreeMap<String, serde_json::Value>,
) {
    let r = run(migrate(
        d,
        &[
            "--config",
            "config.json",
            "--phase",
            "load",
            "--entity",
            "sales",
        ],
    ));
    assert_exit(&r, 0);
    // The first run's backup of the new table is empty; the second holds the 3 sales.
    let backups = sh(
        "wc -l data/backups/ferry_t_s_*.ndjson | sort -n | head -2",
        d,
    );
    let lines: Vec<&str> = backups
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(lines, ["0", "3"], "{}", backups.stdout);
    assert_eq!(s.items("saleId", d), *sales);
}

/// --resume after a finished run (the last one: the sales load) runs nothing.
fn resume_after_a_finished_run(d: &Path) {
    let r = run(migrate(d, &["--resume", "--config", "config.json"]));
    assert_exit(&r, 0);
    assert!(
        r.stderr
            .contains("load:sales: done in this run before it stopped"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("running load-dynamo"), "{}", r.stderr);
}

/// Without continueOnError a run stops after the transform's rejects, and so does its
/// resume, which still reports them.
fn resume_stops_on_rejects(d: &Path, pg: &PgDb, tables: [&DynTable; 3]) {
    config(
        d,
        pg,
        &tables,
        r#"{"batchSize": 25, "maxRetries": 5, "continueOnError": false, "backupBeforeLoad": true}"#,
    );
    let r = run(migrate(d, &["--full", "--config", "config.json"]));
    assert_exit(&r, 3);
    assert!(
        r.stderr.contains("stopping before the next phase"),
        "{}",
        r.stderr
    );
    let r = run(migrate(d, &["--resume", "--config", "config.json"]));
    assert_exit(&r, 3);
    assert!(
        r.stderr
            .contains("transform:sales: done in this run before it stopped")
            && r.stderr.contains("; it rejected records"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("stopping before the next phase"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("load:buyers"), "{}", r.stderr);
}

#[test]
fn pipes_give_the_same_table_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pg = PgDb::new("s9p");
    let mut g = tool("ferry-gen", d);
    g.args(["s9", "--target", &pg.url(), "--sales", "500"]);
    assert_exit(&run(g), 0);
    let (files, pipes) = (DynTable::new("sf"), DynTable::new("sp"));
    let url = pg.url();
    let ep = dynamo_url();
    let r = sh(
        &format!(
            "extract-sales --source {url} -q && transform-sales -q; \
             load-dynamo data/transformed/sales.ndjson --table {} --endpoint-url {ep} --create --key saleId:S -q",
            files.name
        ),
        d,
    );
    assert_exit(&r, 0);
    let r = sh(
        &format!(
            "set -o pipefail; extract-sales --source {url} -o - -q | transform-sales - -o - --rejects p.rejects.ndjson -q \
             | load-dynamo - --table {} --endpoint-url {ep} --create --key saleId:S -q",
            pipes.name
        ),
        d,
    );
    assert_exit(&r, 3); // the transform's two rejects
    let a = files.items("saleId", d);
    assert_eq!(a.len(), 505);
    assert_eq!(a, pipes.items("saleId", d));
}

#[test]
fn migrate_s9_crash_during_the_load_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pg = PgDb::new("s9k");
    let mut g = tool("ferry-gen", d);
    g.args(["s9", "--target", &pg.url(), "--sales", "5000"]);
    assert_exit(&run(g), 0);
    let (b, p, s) = (
        DynTable::new("kb"),
        DynTable::new("kp"),
        DynTable::new("ks"),
    );
    config(
        d,
        &pg,
        &[&b, &p, &s],
        r#"{"batchSize": 25, "maxRetries": 5, "continueOnError": true, "backupBeforeLoad": false, "concurrency": 1, "batchDelay": 20}"#,
    );
    // Buyers and producers first; then load-dynamo crashes (the test hook aborts it like
    // kill -9) a few checkpoints into the sales load (the hook counts per process, so it
    // must not meet the buyers' load); migrate-s9 stops on it and a --resume finishes.
    let r = run(migrate(
        d,
        &[
            "--full",
            "--entity",
            "buyers",
            "--entity",
            "producers",
            "-q",
        ],
    ));
    assert_exit(&r, 3);
    let mut c = migrate(
        d,
        &[
            "--full",
            "--entity",
            "sales",
            "--config",
            "config.json",
            "-q",
        ],
    );
    c.env(
        "FERRY_TEST_CRASH_AT",
        format!("load-dynamo:{}", crash_point(2, 3)),
    );
    let r = run(c);
    assert_exit(&r, 1);
    assert!(
        r.stderr.contains("load-dynamo was killed by signal 6"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("load of sales failed (exit 1)"),
        "{}",
        r.stderr
    );
    // Nothing of the run survives.
    let left = std::process::Command::new("pgrep")
        .args(["-f", &s.name])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "still running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let before = s.items("saleId", d).len();
    eprintln!("sales items before the resume: {before}");
    assert!(before < 5003, "the crash came mid-load: {before} items");

    let r = run(migrate(d, &["--resume", "--config", "config.json"]));
    assert_exit(&r, 3); // the fixture's dirty rows
    assert!(
        r.stderr
            .contains("validate:all: done in this run before it stopped"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("resuming after line"), "{}", r.stderr);
    // Counts match (compare-counts passed inside the run) and the table is the source's.
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    assert_eq!(counts["sales"]["match"], true);
    assert_eq!(counts["sales"]["target"], 5003);
    let want = keyed(&d.join("data/validated/sales.ndjson"), "saleId");
    let got = s.items("saleId", d);
    assert_eq!(got.len(), want.len());
    for (k, v) in &want {
        let v: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(got[k], v, "sale {k}");
    }
}

/// The S9 fixture in a new database, three new table names and a working folder.
fn fixture(prefix: &str, sales: Option<&str>) -> (tempfile::TempDir, PgDb, [DynTable; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new(prefix);
    let mut g = tool("ferry-gen", dir.path());
    g.args(["s9", "--target", &pg.url()]);
    if let Some(n) = sales {
        g.args(["--sales", n]);
    }
    assert_exit(&run(g), 0);
    let t = [
        DynTable::new(&format!("{prefix}b")),
        DynTable::new(&format!("{prefix}p")),
        DynTable::new(&format!("{prefix}s")),
    ];
    (dir, pg, t)
}

const LENIENT: &str =
    r#"{"batchSize": 25, "maxRetries": 5, "continueOnError": true, "backupBeforeLoad": true}"#;

/// Day 1 `--full` completes; day 2 a buyer is added, `--full` is killed during
/// `extract:sales` and `--resume` continues day 2's run: the new buyer is loaded. A resume
/// whose files are not the run's own, or that asks for another plan, is refused (exit 2).
#[test]
fn day_two_resume_continues_its_own_run() {
    let (dir, pg, [b, p, s]) = fixture("s9d", None);
    let d = dir.path();
    config(d, &pg, &[&b, &p, &s], LENIENT);
    assert_exit(&run(migrate(d, &["--full", "-q"])), 3);
    assert_eq!(legacy_ids(&b.items("buyerId", d)), [1, 2, 3, 4]);

    add_buyer(&pg, 500, "day2@buyer.example");
    let mut c = migrate(d, &["--full", "-q"]);
    c.env("FERRY_TEST_CRASH_AT", "extract-sales:1");
    let r = run(c);
    assert_exit(&r, 1);
    assert!(
        r.stderr.contains("extract-sales was killed by signal 6"),
        "{}",
        r.stderr
    );

    // Another plan than the run's: refused, nothing run.
    let r = run(migrate(d, &["--resume", "--entity", "buyers"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr
            .contains("--resume refused: the run was started with"),
        "{}",
        r.stderr
    );

    let r = run(migrate(d, &["--resume"]));
    assert_exit(&r, 3); // the fixture's dirty rows
    assert!(
        r.stderr.contains("extract:buyers: done in this run"),
        "{}",
        r.stderr
    );
    assert_eq!(legacy_ids(&b.items("buyerId", d)), [1, 2, 3, 4, 500]);
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    assert_eq!(counts["buyers"]["expected"], 5, "{counts}");
    assert_eq!(counts["buyers"]["match"], true, "{counts}");

    // Day 3: killed again; a file of a completed step changed by hand → refused.
    let mut c = migrate(d, &["--full", "-q"]);
    c.env("FERRY_TEST_CRASH_AT", "extract-sales:1");
    assert_exit(&run(c), 1);
    let f = d.join("data/extracted/buyers.ndjson");
    let mut text = fs_err::read_to_string(&f).unwrap();
    text.push('\n');
    fs_err::write(&f, text).unwrap();
    let r = run(migrate(d, &["--resume"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr
            .contains("extracted/buyers.ndjson is not the file step extract:buyers wrote"),
        "{}",
        r.stderr
    );
    // Without a checkpoint there is nothing to resume.
    fs_err::remove_file(d.join("data/.checkpoint.json")).unwrap();
    let r = run(migrate(d, &["--resume"]));
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("there is no run to resume"),
        "{}",
        r.stderr
    );
}

/// Every write throttled, one retry: the load gives up on every item, the run exits 1 and
/// count_comparison.json says `match: false` with the given-up count.
#[test]
fn every_write_throttled_fails_with_the_given_up_count() {
    let (dir, pg, [b, p, s]) = fixture("s9t", None);
    let d = dir.path();
    let (mut proxy, url) = fault_proxy(d, "1.0", "0");
    config_with(
        d,
        &pg,
        &[&b, &p, &s],
        r#"{"batchSize": 25, "maxRetries": 1, "retryDelay": 0.01, "continueOnError": true, "backupBeforeLoad": false}"#,
        &url,
        "",
    );
    let r = run(migrate(d, &["--full"]));
    proxy.kill().unwrap();
    let _ = proxy.wait();
    assert_exit(&r, 1);
    assert!(
        r.stderr
            .contains("load of buyers failed (exit 1): 4 items were given up after 1 retries"),
        "{}",
        r.stderr
    );
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    let buyers = &counts["buyers"];
    assert_eq!(
        (
            buyers["expected"].as_u64(),
            buyers["target"].as_u64(),
            buyers["given_up"].as_u64()
        ),
        (Some(4), Some(0), Some(4)),
        "{counts}"
    );
    assert_eq!(buyers["missing"], 4, "{counts}");
    assert_eq!(buyers["match"], false, "{counts}");
    let load = json_file(&d.join("data/reports/load_report.json"));
    assert_eq!(load["entities"]["buyers"]["status"], "failed", "{load}");
    assert_eq!(load["entities"]["buyers"]["gave_up"], 4, "{load}");
    assert_eq!(load["entities"]["sales"]["status"], "not run", "{load}");
}

/// A load that fails after others succeeded: every table this run wrote to is restored
/// from the backup it took first (a table that held an item keeps exactly that item; a
/// new table is emptied).
#[test]
fn a_failed_load_rolls_back_what_the_run_wrote() {
    let (dir, pg, [b, p, s]) = fixture("s9r", None);
    let d = dir.path();
    let ep = dynamo_url();
    fs_err::write(
        d.join("pre.ndjson"),
        "{\"buyerId\": {\"S\": \"pre-existing\"}}\n",
    )
    .unwrap();
    let r = sh(
        &format!(
            "load-dynamo pre.ndjson --table {} --endpoint-url {ep} --create --key buyerId:S -q && \
             load-dynamo pre.ndjson --table {} --endpoint-url {ep} --create --key buyerId:S -q",
            b.name, s.name
        ),
        d,
    );
    assert_exit(&r, 0);
    config(d, &pg, &[&b, &p, &s], LENIENT);
    let r = run(migrate(d, &["--full"]));
    assert_exit(&r, 1);
    assert!(
        r.stderr.contains("load of sales failed (exit 2)"),
        "{}",
        r.stderr
    );
    for t in [&b, &p, &s] {
        assert!(
            r.stderr
                .contains(&format!("rolled back {} to its backup", t.name)),
            "{}",
            r.stderr
        );
    }
    let buyers = b.items("buyerId", d);
    assert_eq!(buyers.keys().collect::<Vec<_>>(), ["pre-existing"]);
    assert!(p.items("producerId", d).is_empty());
    let load = json_file(&d.join("data/reports/load_report.json"));
    let status = |e: &str| load["entities"][e]["status"].as_str().unwrap().to_string();
    assert_eq!(
        [status("buyers"), status("producers"), status("sales")],
        ["rolled back", "rolled back", "failed, rolled back"],
        "{load}"
    );
    assert!(
        r.stderr
            .contains("then rerun with --resume (the loads start over)"),
        "{}",
        r.stderr
    );
}

/// Buyers in three batches, then producers and sales whole: every valid sale is loaded
/// (its buyer may be in any batch), the duplicate of buyer 6 that falls in the third batch
/// is still rejected, and the final verify counts every batch.
#[test]
fn incremental_batches_then_sales_verify_every_batch() {
    let (dir, pg, [b, p, s]) = fixture("s9i", None);
    let d = dir.path();
    config(d, &pg, &[&b, &p, &s], LENIENT);
    for offset in ["0", "3", "6"] {
        let r = run(migrate(
            d,
            &[
                "--entity",
                "buyers",
                "--batch-size",
                "3",
                "--offset",
                offset,
                "-q",
            ],
        ));
        assert!(matches!(r.code, 0 | 3), "batch {offset}: {}", r.stderr);
    }
    let r = run(migrate(
        d,
        &[
            "--entity",
            "buyers",
            "--batch-size",
            "3",
            "--offset",
            "4",
            "-q",
        ],
    ));
    assert_exit(&r, 2);
    assert!(r.stderr.contains("overlaps the batch"), "{}", r.stderr);
    // The refused batch did not become the run a resume continues.
    let r = run(migrate(d, &["--resume", "-q"]));
    assert!(matches!(r.code, 0 | 3), "{}", r.stderr);
    assert!(!d.join("data/batches/buyers-000000000004-3").exists());
    for e in ["producers", "sales"] {
        let r = run(migrate(d, &["--entity", e, "-q"]));
        assert_exit(&r, 3);
    }
    assert_eq!(legacy_ids(&b.items("buyerId", d)), [1, 2, 3, 4]);
    assert_eq!(legacy_ids(&s.items("saleId", d)), [100, 101, 106]);
    let r = run(migrate(d, &["--phase", "verify"]));
    assert_exit(&r, 0);
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    for e in ["buyers", "producers", "sales"] {
        assert_eq!(counts[e]["match"], true, "{e}: {counts}");
    }
    assert_eq!(counts["buyers"]["rejected"], 4, "{counts}");
    assert_eq!(counts["sales"]["keys"], 3, "{counts}");
    let rejects = sh(
        "cat data/batches/*/reports/validation_rejects.ndjson | grep -c duplicate_key",
        d,
    );
    assert_eq!(rejects.stdout.trim(), "1", "{}", rejects.stdout);
}

/// A filtered run into a table that already holds items verifies the keys it was meant to
/// write; the integrity check of the tables lists the sales whose buyer was deleted by hand.
#[test]
fn filtered_run_and_integrity_of_the_tables() {
    let (dir, pg, [b, p, s]) = fixture("s9f", None);
    let d = dir.path();
    config(d, &pg, &[&b, &p, &s], LENIENT);
    assert_exit(&run(migrate(d, &["--full", "-q"])), 3);
    let r = run(migrate(
        d,
        &["--entity", "sales", "--filter", "id >= 101", "-q"],
    ));
    assert_exit(&r, 3); // the dirty rows among them
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    assert_eq!(counts["sales"]["match"], true, "{counts}");
    assert_eq!(counts["sales"]["keys"], 2, "{counts}");
    assert_eq!(counts["sales"]["target"], 3, "{counts}");

    let r = run(migrate(d, &["--phase", "validate", "--target"]));
    assert_exit(&r, 0);
    let rep = json_file(&d.join("data/reports/integrity_report.json"));
    assert_eq!(rep["passed"], true, "{rep}");
    // An item changed by hand keeps its key and its rules: verify compares the contents.
    let sales = s.items("saleId", d);
    let (k101, _) = sales
        .iter()
        .find(|(_, i)| i["legacyId"]["N"] == "101")
        .unwrap();
    aws(d, &format!(
        "update_item(TableName='{}', Key={{'saleId': {{'S': '{k101}'}}}}, \
         UpdateExpression='SET notes = :n', ExpressionAttributeValues={{':n': {{'S': 'changed'}}}})",
        s.name
    ));
    let r = run(migrate(d, &["--phase", "verify", "--entity", "sales"]));
    assert_exit(&r, 1);
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    assert_eq!(counts["sales"]["different"], 1, "{counts}");
    assert_eq!(
        counts["sales"]["different_keys"][0],
        k101.as_str(),
        "{counts}"
    );
    // Delete the buyer of sale 101 by hand.
    let sales = s.items("saleId", d);
    let s101 = sales
        .values()
        .find(|i| i["legacyId"]["N"] == "101")
        .unwrap();
    let buyer = s101["buyerId"]["S"].as_str().unwrap().to_string();
    let dangling: Vec<&String> = sales
        .iter()
        .filter(|(_, v)| v["buyerId"]["S"] == buyer.as_str())
        .map(|(k, _)| k)
        .collect();
    delete_item(d, &b.name, "buyerId", &buyer);
    let r = run(migrate(d, &["--phase", "validate", "--target"]));
    assert_exit(&r, 1);
    let rep = json_file(&d.join("data/reports/integrity_report.json"));
    assert_eq!(rep["passed"], false);
    let fk = &rep["checks"]["foreign_keys"];
    assert_eq!(fk["failed"].as_u64(), Some(dangling.len() as u64), "{rep}");
    let mut listed: Vec<&str> = fk["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, dangling, "{rep}");
    assert!(fk["examples"][0]["reason"]
        .as_str()
        .unwrap()
        .contains(&buyer));
}

/// Deletes one item through the AWS SDK for Python that moto ships with.
fn delete_item(d: &Path, table: &str, key: &str, value: &str) {
    aws(
        d,
        &format!("delete_item(TableName='{table}', Key={{'{key}': {{'S': '{value}'}}}})"),
    );
}

/// One call of boto3's DynamoDB client (moto ships with it) against the local server.
fn aws(d: &Path, call: &str) {
    let script = format!(
        "import boto3; boto3.client('dynamodb', endpoint_url='{}', region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test').{call}",
        dynamo_url()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// connectionTimeout bounds a server that accepts the connection and never answers.
#[test]
fn connection_timeout_bounds_a_silent_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = serde_json::json!({
        "source": {"host": "127.0.0.1", "port": port, "database": "s9", "username": "u",
                   "connectionTimeout": 1500},
        "target": {"region": "us-east-1", "endpointUrl": dynamo_url()}
    })
    .to_string();
    fs_err::write(d.join("config.json"), cfg).unwrap();
    let mut c = migrate(d, &["--phase", "extract", "--entity", "buyers", "-q"]);
    c.env("FERRY_CONNECT_RETRIES", "1");
    let r = run(c);
    drop(listener);
    assert_exit(&r, 1);
    assert!(
        r.stderr
            .contains("no answer within the connect timeout of 2s"),
        "{}",
        r.stderr
    );
}

/// With CloudWatch enabled, `--full` sends each step's metrics (read back with the SDK's
/// GetMetricStatistics) and the run's log lines (GetLogEvents on the run's stream).
#[test]
fn cloudwatch_metrics_and_logs_of_a_full_run() {
    let (dir, pg, [b, p, s]) = fixture("s9c", None);
    let d = dir.path();
    let ns = format!("Ferry-Test-{}", s.name);
    let group = format!("/ferry/test/{}", s.name);
    config_with(
        d,
        &pg,
        &[&b, &p, &s],
        LENIENT,
        &dynamo_url(),
        &format!(
            r#", "cloudwatch": {{"enabled": true, "endpointUrl": "{}", "namespace": "{ns}", "logGroup": "{group}"}}"#,
            dynamo_url()
        ),
    );
    let r = run(migrate(d, &["--full"]));
    assert_exit(&r, 3);
    assert!(
        r.stderr
            .contains(&format!("CloudWatch: metrics in namespace {ns}")),
        "{}",
        r.stderr
    );
    let run_id = json_file(&d.join("data/.checkpoint.json"))["state"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = |name: &str, e: &str, ph: &str| {
        rt.block_on(ferry_tests::cloudwatch::metric_sum(&ns, name, e, ph))
            .0
    };
    assert_eq!(m("RecordsProcessed", "sales", "load"), 3.0);
    assert_eq!(m("RecordsProcessed", "buyers", "load"), 4.0);
    assert_eq!(m("Errors", "sales", "transform"), 2.0);
    assert_eq!(m("RecordsProcessed", "sales", "verify"), 3.0);
    assert_eq!(m("RecordsProcessed", "sales", "integrity"), 3.0);
    assert_eq!(m("Errors", "buyers", "validate"), 4.0);
    assert!(m("Duration", "sales", "load") > 0.0);
    let events = rt.block_on(ferry_tests::cloudwatch::log_events(&group, &run_id));
    assert!(
        events
            .iter()
            .any(|(_, m)| m.contains(&format!("S9 → DynamoDB, run {run_id}"))),
        "{events:?}"
    );
    assert!(
        events.iter().any(|(_, m)| m.contains("matches no buyer")),
        "{events:?}"
    );
}

/// A row inserted in S9 between two batches shifts the offsets: one row is read twice (its
/// second copy a duplicate) and the new one never. The counts alone balance; the ids do
/// not, and verify says which source row is neither migrated nor rejected.
#[test]
fn a_row_inserted_between_batches_is_not_lost_silently() {
    let (dir, pg, [b, p, s]) = fixture("s9x", None);
    let d = dir.path();
    config(d, &pg, &[&b, &p, &s], LENIENT);
    let batch = |offset: &str| {
        let r = run(migrate(
            d,
            &[
                "--entity",
                "buyers",
                "--batch-size",
                "4",
                "--offset",
                offset,
                "-q",
            ],
        ));
        assert!(matches!(r.code, 0 | 3), "batch {offset}: {}", r.stderr);
    };
    batch("0");
    add_buyer(&pg, 0, "zero@zero.example");
    batch("4");
    batch("8");
    let r = run(migrate(d, &["--phase", "verify", "--entity", "buyers"]));
    assert_exit(&r, 1);
    let counts = json_file(&d.join("data/reports/count_comparison.json"));
    let buyers = &counts["buyers"];
    assert_eq!(buyers["match"], false, "{counts}");
    assert_eq!(
        buyers["unaccounted_ids"],
        serde_json::json!([0]),
        "{counts}"
    );
    assert_eq!(buyers["unknown_ids"], serde_json::json!([4]), "{counts}");
    assert!(
        r.stderr.contains("neither migrated nor rejected"),
        "{}",
        r.stderr
    );
}

/// Adds a valid buyer to S9: a copy of buyer 1 with its own id, code and email.
fn add_buyer(pg: &PgDb, id: i64, email: &str) {
    pg.exec(&format!(
        "INSERT INTO buyers (id, buyer_code, company_name, contact_name, email, vat_number, phone, \
         address_line1, address_line2, city, postal_code, country_code, status, created_at, updated_at, deleted_at) \
         SELECT {id}, 'B{id:03}', 'Buyer {id} GmbH', contact_name, '{email}', vat_number, phone, address_line1, \
         address_line2, city, postal_code, country_code, status, created_at, updated_at, deleted_at FROM buyers WHERE id = 1"
    ));
}
