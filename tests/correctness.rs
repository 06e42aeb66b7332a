//! Nothing silently changed, nothing lost on reruns: the loaders' correctness classes.
#![allow(clippy::unwrap_used)]

use ferry_tests::*;
use std::path::Path;

/// Ten rows; rows 2 and 7 break the target's CHECK (n >= 0), row 1 is already there.
fn refused_input() -> String {
    (1..=10)
        .map(|i| {
            let n = if i == 2 || i == 7 { -1 } else { i * 10 };
            format!("{{\"id\":{i},\"n\":{n}}}\n")
        })
        .collect()
}

/// One load of `t.ndjson` in `mode`, batches of four rows (a refused row in the first).
fn load(dir: &Path, tool_name: &str, url: &str, mode: &str, resume: bool) -> Run {
    let mut c = tool(tool_name, dir);
    c.args(["--target", url, "--table", "t", "t.ndjson", "--mode", mode]);
    c.args(["--batch-size", "4", "--rejects", "t.rejects.ndjson"]);
    if resume {
        c.arg("--resume");
    }
    run(c)
}

/// The refused rows, by id, from the rejects file.
fn rejected_ids(dir: &Path) -> Vec<i64> {
    read_ndjson(&dir.join("t.rejects.ndjson"))
        .iter()
        .map(|r| r["record"]["id"].as_i64().unwrap())
        .collect()
}

/// After the first batch into an existing table is refused under `ignore`/`upsert` (the
/// transaction rolls back), the run, a rerun and a `--resume` all load every other row.
fn refused_first_batch(tool_name: &str, url: &str, query: &dyn Fn() -> Vec<(i64, i64)>) {
    let expected: Vec<(i64, i64)> = (1..=10)
        .filter(|i| *i != 2 && *i != 7)
        .map(|i| (i, if i == 1 { 1 } else { i * 10 }))
        .collect();
    for mode in ["ignore", "upsert"] {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("t.ndjson"), refused_input()).unwrap();
        for resume in [false, false, true] {
            let r = load(dir.path(), tool_name, url, mode, resume);
            assert_exit(&r, 3);
            assert!(!r.stderr.contains("ferry_stage"), "{}", r.stderr);
            assert_eq!(rejected_ids(dir.path()), vec![2, 7], "{tool_name} {mode}");
            let got = query();
            let want: Vec<(i64, i64)> = if mode == "upsert" {
                expected.iter().map(|&(i, _)| (i, i * 10)).collect()
            } else {
                expected.clone()
            };
            assert_eq!(got, want, "{tool_name} --mode {mode} (resume {resume})");
            fs_err::remove_file(dir.path().join("t.rejects.ndjson")).unwrap();
        }
    }
}

fn pairs(rows: Vec<Vec<Option<String>>>) -> Vec<(i64, i64)> {
    rows.into_iter()
        .map(|r| {
            let v: Vec<i64> = r.into_iter().map(|x| x.unwrap().parse().unwrap()).collect();
            (v[0], v[1])
        })
        .collect()
}

#[test]
fn refused_first_batch_then_rerun_and_resume_postgres() {
    let pg = PgDb::new("stage_pg");
    pg.exec("CREATE TABLE t (id integer PRIMARY KEY, n integer CHECK (n >= 0)); INSERT INTO t VALUES (1, 1)");
    let q = || pairs(pg.query("SELECT id, n FROM t ORDER BY id"));
    refused_first_batch("load-postgres", &pg.url(), &q);
}

#[test]
fn refused_first_batch_then_rerun_and_resume_mariadb() {
    let my = MyDb::new("stage_my");
    my.exec(
        "CREATE TABLE t (id int PRIMARY KEY, n int CHECK (n >= 0)); INSERT INTO t VALUES (1, 1)",
    );
    let q = || pairs(my.query("SELECT id, n FROM t ORDER BY id"));
    refused_first_batch("load-mysql", &my.url(), &q);
}

/// Filters that try to leave their one parenthesised condition, or to write, wait or read
/// files: every one is exit 2 before anything is executed.
const HOSTILE_WHERE: &[&str] = &[
    "1=1; DROP TABLE t",
    "id < 2; DROP TABLE t",
    "1=1) OR (1=1",
    "1=1 -- comment",
    "1=1 /* comment */",
    "1=1 UNION SELECT 1, 2",
    "id IN (SELECT id FROM t)",
    "SLEEP(3) = 0",
    "pg_sleep(3) IS NULL",
    "\"pg_sleep\"(3) IS NULL",
    "name = 'a\\' OR 1=1",
];

/// Each hostile filter on `url`: exit 2, a message naming --where, and the table intact.
fn hostile_filters(url: &str, count: &dyn Fn() -> i64) {
    let dir = tempfile::tempdir().unwrap();
    for f in HOSTILE_WHERE {
        let mut c = tool("extract", dir.path());
        c.args([
            "--source",
            url,
            "--table",
            "t",
            "--where",
            f,
            "-o",
            "out.ndjson",
        ]);
        let r = run(c);
        assert_exit(&r, 2);
        assert!(r.stderr.contains("--where refused"), "{f}: {}", r.stderr);
        assert_eq!(count(), 3, "table changed by {f:?}");
    }
    let mut c = tool("extract", dir.path());
    c.args([
        "--source",
        url,
        "--table",
        "t",
        "--where",
        "id >= 2 AND name <> 'x;y'",
    ]);
    c.args(["-o", "out.ndjson"]);
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(read_ndjson(&dir.path().join("out.ndjson")).len(), 2);
}

#[test]
fn where_cannot_run_statements_mariadb() {
    let my = MyDb::new("where_my");
    my.exec("CREATE TABLE t (id int PRIMARY KEY, name varchar(10)); INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')");
    let count = || {
        my.query("SELECT COUNT(*) FROM t")[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    };
    hostile_filters(&my.url(), &count);
}

#[test]
fn where_cannot_run_statements_postgres() {
    let pg = PgDb::new("where_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, name varchar(10)); INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')");
    let count = || {
        pg.scalar("SELECT count(*) FROM t")
            .unwrap()
            .parse()
            .unwrap()
    };
    hostile_filters(&pg.url(), &count);
}

#[test]
fn where_cannot_run_statements_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("CREATE TABLE t (id integer PRIMARY KEY, name text); INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')")
        .unwrap();
    let count = || {
        db.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    hostile_filters(&format!("sqlite://{}", path.display()), &count);
}

#[test]
fn query_must_be_one_select() {
    let pg = PgDb::new("query_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1),(2),(3)");
    let dir = tempfile::tempdir().unwrap();
    for q in [
        "DELETE FROM t",
        "SELECT 1; DELETE FROM t",
        "WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d",
        "SELECT id FROM t) TO STDOUT; DELETE FROM t; COPY (SELECT 1",
    ] {
        let mut c = tool("extract", dir.path());
        c.args(["--source", &pg.url(), "--query", q, "-o", "q.ndjson"]);
        let r = run(c);
        assert_exit(&r, 2);
        assert!(r.stderr.contains("--query refused"), "{q}: {}", r.stderr);
        assert_eq!(
            pg.scalar("SELECT count(*) FROM t").as_deref(),
            Some("3"),
            "{q}"
        );
    }
}
