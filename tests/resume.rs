//! A crash after a random number of committed batches (the test-only crash hook aborts the
//! process between a commit and its checkpoint, like `kill -9`), then the same command with
//! `--resume`: the target equals the source, no row lost, none duplicated. For
//! load-postgres, extract and load-mysql.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;

const ROWS: u64 = 500_000;

#[test]
fn load_postgres_kill_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("res_pg");
    let pg = PgDb::new("res_pg");
    gen_bench(&my.url(), "orders", ROWS, dir.path());
    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &my.url(),
        "--table",
        "orders",
        "-o",
        "orders.ndjson",
        "-q",
    ]);
    assert_exit(&run(e), 0);
    pg.exec(&ferry_fixtures_ddl_pg());

    let cp = dir.path().join("load.cp.json");
    let cmd = |resume: bool| {
        let mut c = tool("load-postgres", dir.path());
        c.args([
            "--target",
            &pg.url(),
            "--table",
            "orders",
            "orders.ndjson",
            "--batch-size",
            "20000",
            "--checkpoint",
            "load.cp.json",
            "--report",
            "load.report.json",
            "-q",
        ]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let n = crash_point(2, 20);
    crash_at(cmd(false), "load-postgres", n);
    let partial: u64 = pg
        .scalar("SELECT count(*) FROM orders")
        .unwrap()
        .parse()
        .unwrap();
    // Batch n was committed, its checkpoint was not written.
    assert_eq!(partial, n * 20_000, "rows committed before the crash");
    assert!(cp.exists(), "the checkpoint of batch {} is there", n - 1);
    let r = run(cmd(true));
    assert_exit(&r, 0);
    assert!(!cp.exists(), "checkpoint removed after success");
    // The summary of a full load is every row migrated: the batch the crashed run committed
    // after its last checkpoint is this load's, not "skipped".
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("load.report.json")).unwrap())
            .unwrap();
    let t = &report["tables"][0];
    assert_eq!(
        (t["migrated"].as_u64(), t["skipped"].as_u64()),
        (Some(ROWS), Some(0))
    );
    assert_eq!(t["resumed"].as_u64(), Some((n - 1) * 20_000), "{report}");
    assert_eq!(
        pg.scalar("SELECT count(*) FROM orders"),
        Some(ROWS.to_string())
    );
    assert_eq!(
        pg.scalar("SELECT count(DISTINCT id) FROM orders"),
        Some(ROWS.to_string())
    );
    verify_equal(&my.url(), &pg.url(), "orders", None, Some(ROWS), dir.path());
}

/// The benchmark table in PostgreSQL, as `--create` would make it from MariaDB.
fn ferry_fixtures_ddl_pg() -> String {
    "CREATE TABLE orders (id numeric(20,0) NOT NULL PRIMARY KEY, customer_id integer NOT NULL, quantity integer NOT NULL, \
     sku varchar(32) NOT NULL, description text NOT NULL, amount numeric(12,2) NOT NULL, created_at timestamp NOT NULL, \
     shipped_on date, active boolean NOT NULL, note varchar(100))"
        .into()
}

#[test]
fn extract_kill_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("res_ext");
    gen_bench(&my.url(), "orders", ROWS, dir.path());

    // Reference: one uninterrupted extract.
    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &my.url(),
        "--table",
        "orders",
        "-o",
        "ref.ndjson",
        "-q",
    ]);
    assert_exit(&run(e), 0);

    let cmd = |resume: bool| {
        let mut c = tool("extract", dir.path());
        c.args([
            "--source",
            &my.url(),
            "--table",
            "orders",
            "-o",
            "orders.ndjson",
            "--batch-size",
            "20000",
            "-q",
        ]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let cp = dir.path().join("orders.ndjson.checkpoint.json");
    crash_at(cmd(false), "extract", crash_point(2, 20));
    assert!(cp.exists(), "a checkpoint was written before the crash");
    assert!(
        !dir.path().join("orders.ndjson").exists(),
        "an unfinished file must not look finished"
    );
    assert!(dir.path().join("orders.ndjson.part").exists());
    let r = run(cmd(true));
    assert_exit(&r, 0);
    let side = |n: &str| -> serde_json::Value {
        serde_json::from_str(&fs_err::read_to_string(dir.path().join(n)).unwrap()).unwrap()
    };
    assert_eq!(side("orders.schema.json")["row_count"], ROWS);
    assert_eq!(
        side("orders.schema.json")["checksum"],
        side("ref.schema.json")["checksum"]
    );
    let a = fs_err::read(dir.path().join("orders.ndjson")).unwrap();
    let b = fs_err::read(dir.path().join("ref.ndjson")).unwrap();
    assert!(a == b, "resumed extract differs from the uninterrupted one");
}

#[test]
fn load_mysql_kill_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let src = MyDb::new("res_my_src");
    let dst = MyDb::new("res_my_dst");
    gen_bench(&src.url(), "orders", ROWS, dir.path());
    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &src.url(),
        "--table",
        "orders",
        "-o",
        "orders.ndjson",
        "-q",
    ]);
    assert_exit(&run(e), 0);
    dst.exec(
        "CREATE TABLE orders LIKE "
            .to_string()
            .as_str()
            .replace("LIKE ", &format!("LIKE `{}`.orders", src.name))
            .as_str(),
    );

    let cp = dir.path().join("my.cp.json");
    let cmd = |resume: bool| {
        let mut c = tool("load-mysql", dir.path());
        c.args([
            "--target",
            &dst.url(),
            "--table",
            "orders",
            "orders.ndjson",
            "--batch-size",
            "20000",
            "--checkpoint",
            "my.cp.json",
            "-q",
        ]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let n = crash_point(2, 20);
    crash_at(cmd(false), "load-mysql", n);
    assert!(cp.exists(), "the checkpoint of batch {} is there", n - 1);
    assert_eq!(
        dst.scalar("SELECT COUNT(*) FROM orders"),
        Some((n * 20_000).to_string()),
        "rows committed before the crash"
    );
    let r = run(cmd(true));
    assert_exit(&r, 0);
    assert_eq!(
        dst.scalar("SELECT COUNT(*) FROM orders"),
        Some(ROWS.to_string())
    );
    let sum = |db: &MyDb| my_query(&db.url(), "CHECKSUM TABLE orders")[0][1].clone();
    assert_eq!(sum(&src), sum(&dst));
    verify_equal(
        &src.url(),
        &dst.url(),
        "orders",
        None,
        Some(ROWS),
        dir.path(),
    );
}

/// A crash after the first batch was committed and before any checkpoint recorded it (the
/// window between a load's first COMMIT and its first checkpoint), from a pipe: `--resume`
/// continues exactly. It used to find rows and no checkpoint and refuse.
#[test]
fn crash_after_the_first_commit_from_a_pipe_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("res_first");
    let pg = PgDb::new("res_first");
    gen_bench(&my.url(), "orders", 30_000, dir.path());
    pg.exec(&ferry_fixtures_ddl_pg());
    let pipe = |extra: &str| {
        format!(
            "set -o pipefail; extract --source {} --table orders -q | load-postgres --target {} --table orders --batch-size 5000 --checkpoint cp.json -q {extra} -; echo \"rc=$?\" >&2",
            my.url(),
            pg.url()
        )
    };
    let crashed = sh(
        &format!("export FERRY_TEST_CRASH_AT=load-postgres:1; {}", pipe("")),
        dir.path(),
    );
    assert!(
        crashed.stderr.contains("rc=134"),
        "the load was to crash: {}",
        crashed.stderr
    );
    assert_eq!(pg.scalar("SELECT count(*) FROM orders").unwrap(), "5000");
    let resumed = sh(&pipe("--resume"), dir.path());
    assert!(resumed.stderr.contains("rc=0"), "{}", resumed.stderr);
    assert_eq!(
        pg.scalar("SELECT count(DISTINCT id) FROM orders").unwrap(),
        "30000"
    );
    verify_equal(
        &my.url(),
        &pg.url(),
        "orders",
        None,
        Some(30_000),
        dir.path(),
    );
}

/// `--create` builds the primary key after the load. A crash leaves the table without it,
/// marked: a run that is not `--resume` refuses the table (loading it again without the
/// key would duplicate every row), the resume builds the key and ends exact. Keys repeated
/// in the input are rejected when the key is built, as an insert with the key would have.
#[test]
fn create_builds_the_key_after_the_load_and_a_crash_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("res_key");
    let pg = PgDb::new("res_key");
    gen_bench(&my.url(), "orders", 30_000, dir.path());
    let pipe = |extra: &str| {
        format!(
            "set -o pipefail; extract --source {} --table orders -q | load-postgres --target {} --table orders --create --batch-size 5000 --checkpoint cp.json -q {extra} -; echo \"rc=$?\" >&2",
            my.url(),
            pg.url()
        )
    };
    let n = crash_point(1, 4);
    let crashed = sh(
        &format!("export FERRY_TEST_CRASH_AT=load-postgres:{n}; {}", pipe("")),
        dir.path(),
    );
    assert!(
        crashed.stderr.contains("rc=134"),
        "the load was to crash: {}",
        crashed.stderr
    );
    let keys =
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p'";
    assert_eq!(
        pg.scalar(keys).unwrap(),
        "0",
        "the key is built after the load"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM orders").unwrap(),
        (n * 5000).to_string()
    );
    let again = sh(&pipe(""), dir.path());
    assert!(
        again.stderr.contains("rc=2") && again.stderr.contains("--resume"),
        "{}",
        again.stderr
    );
    let resumed = sh(&pipe("--resume"), dir.path());
    assert!(resumed.stderr.contains("rc=0"), "{}", resumed.stderr);
    assert_eq!(pg.scalar(keys).unwrap(), "1");
    assert_eq!(
        pg.scalar("SELECT obj_description('orders'::regclass, 'pg_class') IS NULL")
            .unwrap(),
        "t"
    );
    verify_equal(
        &my.url(),
        &pg.url(),
        "orders",
        None,
        Some(30_000),
        dir.path(),
    );

    // Repeated keys in a file loaded with --create: the later ones are rejected.
    let mut lines: Vec<String> = (1..=50)
        .map(|i| format!("{{\"id\":{i},\"v\":\"a{i}\"}}"))
        .collect();
    lines.push("{\"id\":7,\"v\":\"again\"}".into());
    lines.push("{\"id\":9,\"v\":\"again\"}".into());
    fs_err::write(dir.path().join("dups.ndjson"), lines.join("\n") + "\n").unwrap();
    fs_err::write(
        dir.path().join("dups.schema.json"),
        r#"{"version":1,"table":"dups","engine":"mysql","columns":[{"name":"id","source_type":"int","type":{"kind":"int","bits":32,"unsigned":false},"nullable":false},{"name":"v","source_type":"text","type":{"kind":"text"},"nullable":false}],"primary_key":["id"]}"#,
    )
    .unwrap();
    let mut c = tool("load-postgres", dir.path());
    c.args([
        "--target",
        &pg.url(),
        "--table",
        "dups",
        "--create",
        "dups.ndjson",
        "--rejects",
        "dups.rejects.ndjson",
    ]);
    let r = run(c);
    assert_exit(&r, 3);
    assert_eq!(
        pg.scalar("SELECT count(*) || '/' || count(DISTINCT id) FROM dups")
            .unwrap(),
        "50/50"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(v, ',' ORDER BY id) FROM dups WHERE id IN (7, 9)")
            .unwrap(),
        "a7,a9"
    );
    let rej = read_ndjson(&dir.path().join("dups.rejects.ndjson"));
    assert_eq!(rej.len(), 2, "{rej:#?}");
    assert!(
        rej.iter()
            .all(|r| r["reason"].as_str().unwrap().contains("duplicate key")),
        "{rej:#?}"
    );
    assert_eq!(rej[0]["record"]["v"], "again");
}
