//! Tools composed by pipes: the schema travels with the stream, `| head` is a clean exit,
//! a stream cut short is detected, SQLite sources and the load modes.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;

#[test]
fn extract_pipe_load_postgres_create() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("pipe");
    let pg = PgDb::new("pipe");
    gen_bench(&my.url(), "orders", 3000, dir.path());
    let r = sh(
        &format!("set -o pipefail; extract --source {} --table orders -q | load-postgres --target {} --table orders --create -", my.url(), pg.url()),
        dir.path(),
    );
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("orders      3000"),
        "summary table: {}",
        r.stderr
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM orders"),
        Some("3000".into())
    );
    assert_eq!(pg.scalar("SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'active'"), Some("boolean".into()));
    let mut v = tool("verify", dir.path());
    v.args([
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
        "--table",
        "orders",
    ]);
    assert_exit(&run(v), 0);
}

#[test]
fn head_closes_the_pipe_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("head");
    gen_bench(&my.url(), "orders", 50_000, dir.path());
    let r = sh(&format!("set -o pipefail; extract --source {} --table orders --no-header -q | head -1 > first.json", my.url()), dir.path());
    assert_exit(&r, 0);
    assert_eq!(r.stderr, "", "no error message");
    let first = read_ndjson(&dir.path().join("first.json"));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["id"], 1);
    let r = sh(
        &format!(
            "set -o pipefail; extract --source {} --table orders | head -1 > /dev/null",
            my.url()
        ),
        dir.path(),
    );
    assert_exit(&r, 0);
    assert!(!r.stderr.contains("error"), "{}", r.stderr);
}

#[test]
fn truncated_stream_is_not_success() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("trunc");
    let pg = PgDb::new("trunc");
    gen_bench(&my.url(), "orders", 100, dir.path());
    let r = sh(
        &format!("extract --source {} --table orders -q | head -51 | load-postgres --target {} --table orders --create - -q", my.url(), pg.url()),
        dir.path(),
    );
    assert_exit(&r, 1);
    assert!(r.stderr.contains("without its end line"), "{}", r.stderr);
    assert_eq!(pg.scalar("SELECT count(*) FROM orders"), Some("50".into()));
}

#[test]
fn sqlite_to_postgres_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("sqlite");
    let db = dir.path().join("legacy.db");
    let url = format!("sqlite://{}", db.display());
    gen_bench(&url, "orders", 2000, dir.path());
    let r = sh(&format!("extract --source {url} --table orders -q | load-postgres --target {} --table orders --create - -q", pg.url()), dir.path());
    assert_exit(&r, 0);
    let mut v = tool("verify", dir.path());
    v.args(["--source", &url, "--target", &pg.url(), "--table", "orders"]);
    assert_exit(&run(v), 0);

    // ignore: everything is already there; upsert: changed rows are updated.
    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &url,
        "--table",
        "orders",
        "-o",
        "orders.ndjson",
        "-q",
    ]);
    assert_exit(&run(e), 0);
    let mut l = tool("load-postgres", dir.path());
    l.args([
        "--target",
        &pg.url(),
        "--table",
        "orders",
        "orders.ndjson",
        "--mode",
        "ignore",
        "--report",
        "ignore.json",
        "-q",
    ]);
    assert_exit(&run(l), 0);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("ignore.json")).unwrap())
            .unwrap();
    assert_eq!(rep["totals"]["skipped"], 2000);
    assert_eq!(rep["totals"]["migrated"], 0);
    pg.exec("UPDATE orders SET quantity = -999 WHERE id <= 10");
    let mut l = tool("load-postgres", dir.path());
    l.args([
        "--target",
        &pg.url(),
        "--table",
        "orders",
        "orders.ndjson",
        "--mode",
        "upsert",
        "-q",
    ]);
    assert_exit(&run(l), 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM orders WHERE quantity = -999"),
        Some("0".into())
    );
    let mut v = tool("verify", dir.path());
    v.args(["--source", &url, "--target", &pg.url(), "--table", "orders"]);
    assert_exit(&run(v), 0);

    // dry run validates and writes nothing.
    pg.exec("TRUNCATE orders");
    let mut l = tool("load-postgres", dir.path());
    l.args([
        "--target",
        &pg.url(),
        "--table",
        "orders",
        "orders.ndjson",
        "--dry-run",
    ]);
    let r = run(l);
    assert_exit(&r, 0);
    assert!(r.stderr.contains("(dry run)"), "{}", r.stderr);
    assert_eq!(pg.scalar("SELECT count(*) FROM orders"), Some("0".into()));
}
