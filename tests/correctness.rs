//! Nothing silently changed, nothing lost on reruns: the loaders' correctness classes.
#![allow(clippy::unwrap_used)]

use ferry_tests::*;
use std::path::Path;
use std::process::Command;

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

/// A MariaDB table of full and partial zero dates (legal without NO_ZERO_IN_DATE).
fn zero_dates_source() -> MyDb {
    let my = MyDb::new("zd_src");
    my.exec(
        "SET SESSION sql_mode = ''; \
         CREATE TABLE z (id int PRIMARY KEY, d date, dt datetime); \
         INSERT INTO z VALUES (1, '2020-05-00', '2020-00-00 00:00:01'), \
         (2, '0000-00-00', '0000-00-00 00:00:00'), (3, '2021-02-03', '2021-02-03 04:05:06'), \
         (4, '2020-00-15', '2019-07-00 12:00:00')",
    );
    my
}

fn zero_rows(rows: Vec<Vec<Option<String>>>) -> Vec<String> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn partial_zero_dates_round_trip_into_mariadb() {
    let src = zero_dates_source();
    let dst = MyDb::new("zd_dst");
    let dir = tempfile::tempdir().unwrap();
    let r = sh(
        &format!(
            "extract --source {} --table z | load-mysql --target {} --table z --create -",
            src.url(),
            dst.url()
        ),
        dir.path(),
    );
    assert_exit(&r, 0);
    let q = "SELECT id, CAST(d AS CHAR), CAST(dt AS CHAR) FROM z ORDER BY id";
    assert_eq!(zero_rows(dst.query(q)), zero_rows(src.query(q)));
    assert_eq!(
        zero_rows(dst.query(q))[0],
        "1|2020-05-00|2020-00-00 00:00:01"
    );
    verify_equal(&src.url(), &dst.url(), "z", None, Some(4), dir.path());
    // What the old loader did (every zero date made full) is a difference, not EQUAL.
    dst.exec("SET SESSION sql_mode = ''; UPDATE z SET d = '0000-00-00' WHERE id = 1");
    let mut v = tool("verify", dir.path());
    v.args([
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--table",
        "z",
    ]);
    let r = run(v);
    assert_exit(&r, 1);
    assert!(r.stderr.contains("verify: DIFFERENT"), "{}", r.stderr);
}

/// Into PostgreSQL under each `--zero-date` choice: rows and counts.
fn load_zero_dates_pg(src: &MyDb, choice: Option<&str>, dir: &Path) -> (Run, PgDb) {
    let pg = PgDb::new("zd_pg");
    pg.exec("CREATE TABLE z (id int PRIMARY KEY, d date, dt timestamp)");
    let choice = choice
        .map(|c| format!("--zero-date {c}"))
        .unwrap_or_default();
    let r = sh(
        &format!(
            "extract --source {} --table z | load-postgres --target {} --table z {choice} \
             --rejects z.rejects.ndjson --report z.report.json -",
            src.url(),
            pg.url()
        ),
        dir,
    );
    (r, pg)
}

#[test]
fn zero_dates_into_postgres_follow_the_chosen_rule() {
    let src = zero_dates_source();
    let q = "SELECT id, d::text, dt::text FROM z ORDER BY id";

    let dir = tempfile::tempdir().unwrap();
    let (r, pg) = load_zero_dates_pg(&src, None, dir.path());
    assert_exit(&r, 3);
    assert_eq!(
        zero_rows(pg.query(q)),
        ["2|NULL|NULL", "3|2021-02-03|2021-02-03 04:05:06"]
    );
    let rej = read_ndjson(&dir.path().join("z.rejects.ndjson"));
    assert_eq!(rej.len(), 2, "{rej:#?}");
    assert!(
        rej[0]["reason"]
            .as_str()
            .unwrap()
            .contains("partial zero date"),
        "{rej:#?}"
    );
    assert_eq!(rej[0]["value"], "\"2020-05-00\"");
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("z.report.json")).unwrap())
            .unwrap();
    assert_eq!(report["tables"][0]["conversions"]["zero_date_to_null"], 2);
    for f in ["z.rejects.ndjson", "z.report.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f} holds rows: owner only");
    }

    let dir = tempfile::tempdir().unwrap();
    let (r, pg) = load_zero_dates_pg(&src, Some("null"), dir.path());
    assert_exit(&r, 0);
    assert_eq!(zero_rows(pg.query(q))[0], "1|NULL|NULL");
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("z.report.json")).unwrap())
            .unwrap();
    let conv = &report["tables"][0]["conversions"];
    assert_eq!(
        (
            conv["zero_date_to_null"].as_u64(),
            conv["partial_zero_date_to_null"].as_u64()
        ),
        (Some(2), Some(4))
    );

    let dir = tempfile::tempdir().unwrap();
    let (r, pg) = load_zero_dates_pg(&src, Some("1970-01-01"), dir.path());
    assert_exit(&r, 0);
    assert_eq!(
        zero_rows(pg.query(q))[..2],
        [
            "1|1970-01-01|1970-01-01 00:00:00",
            "2|1970-01-01|1970-01-01 00:00:00"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let (r, pg) = load_zero_dates_pg(&src, Some("reject"), dir.path());
    assert_exit(&r, 3);
    assert_eq!(zero_rows(pg.query(q)), ["3|2021-02-03|2021-02-03 04:05:06"]);
}

#[test]
fn help_never_shows_a_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "extract",
        "load-postgres",
        "load-mysql",
        "verify",
        "load-dynamo",
    ] {
        let mut c = tool(name, dir.path());
        c.arg("--help")
            .env("FERRY_SOURCE", "mysql://u:S3cretPw@h/db")
            .env("FERRY_TARGET", "postgres://u:S3cretPw@h/db")
            .env("FERRY_ENDPOINT_URL", "http://u:S3cretPw@h:1");
        let r = run(c);
        assert_exit(&r, 0);
        assert!(
            !r.stdout.contains("S3cretPw") && !r.stderr.contains("S3cretPw"),
            "{name} --help shows the password:\n{}",
            r.stdout
        );
    }
}

/// Five small rows around one of 40 MB (over MariaDB's default 16 MB max_allowed_packet).
fn big_row_input(dir: &Path) {
    let mut text = String::new();
    for i in 1..=6 {
        let v = if i == 3 {
            "x".repeat(40 << 20)
        } else {
            format!("small {i}")
        };
        text.push_str(&format!("{{\"id\":{i},\"v\":\"{v}\"}}\n"));
    }
    fs_err::write(dir.join("big.ndjson"), text).unwrap();
}

fn load_big(dir: &Path, url: &str, resume: bool) -> Command {
    let mut c = tool("load-mysql", dir);
    c.args([
        "--target",
        url,
        "--table",
        "big",
        "big.ndjson",
        "--batch-size",
        "2",
    ]);
    c.args(["--rejects", "big.rejects.ndjson"]);
    if resume {
        c.arg("--resume");
    }
    c
}

#[test]
fn a_row_over_max_allowed_packet_is_rejected_and_the_rest_loaded() {
    let my = MyDb::new("big_my");
    my.exec("CREATE TABLE big (id int PRIMARY KEY, v longtext)");
    let limit: u64 = my.query("SELECT @@max_allowed_packet")[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(limit < 40 << 20, "the server takes 40 MB packets ({limit})");
    let dir = tempfile::tempdir().unwrap();
    big_row_input(dir.path());
    // Killed after the second batch (big row rejected, rows 4-5 committed) but before its
    // checkpoint; the resumed run reads the big row again and lists it once.
    crash_at(load_big(dir.path(), &my.url(), false), "load-mysql", 2);
    let r = run(load_big(dir.path(), &my.url(), true));
    assert_exit(&r, 3);
    let ids: Vec<String> = my
        .query("SELECT id FROM big ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "4", "5", "6"]);
    let rej = read_ndjson(&dir.path().join("big.rejects.ndjson"));
    assert_eq!(rej.len(), 1, "{}", rej.len());
    assert_eq!(rej[0]["line"], 3);
    assert!(
        rej[0]["reason"]
            .as_str()
            .unwrap()
            .contains("max_allowed_packet"),
        "{}",
        rej[0]["reason"]
    );
}
