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
    rejected_ids_in(&dir.join("t.rejects.ndjson"))
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

/// Each hostile filter on `url`: exit 2, a message naming --filter, and the table intact.
fn hostile_filters(url: &str, count: &dyn Fn() -> i64) {
    let dir = tempfile::tempdir().unwrap();
    for f in HOSTILE_WHERE {
        let mut c = tool("extract", dir.path());
        c.args([
            "--source",
            url,
            "--table",
            "t",
            "--filter",
            f,
            "-o",
            "out.ndjson",
        ]);
        let r = run(c);
        assert_exit(&r, 2);
        assert!(r.stderr.contains("--filter refused"), "{f}: {}", r.stderr);
        assert_eq!(count(), 3, "table changed by {f:?}");
    }
    let mut c = tool("extract", dir.path());
    c.args([
        "--source",
        url,
        "--table",
        "t",
        "--filter",
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
    let r = verify_run(&src.url(), &dst.url(), "z", dir.path());
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

#[test]
fn resume_without_checkpoint_and_empty_input_say_so() {
    let pg = PgDb::new("resume_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 1)");
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("t.ndjson"),
        "{\"id\":1,\"n\":1}\n{\"id\":2,\"n\":2}\n",
    )
    .unwrap();
    let mut c = tool("load-postgres", dir.path());
    c.args([
        "--target",
        &pg.url(),
        "--table",
        "t",
        "t.ndjson",
        "--resume",
    ]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("no checkpoint"), "{}", r.stderr);
    assert!(r.stderr.contains("--mode ignore"), "{}", r.stderr);
    assert_eq!(pg.scalar("SELECT count(*) FROM t").as_deref(), Some("1"));

    fs_err::write(dir.path().join("empty.ndjson"), "").unwrap();
    let mut c = tool("load-postgres", dir.path());
    c.args(["--target", &pg.url(), "--table", "t", "empty.ndjson"]);
    let r = run(c);
    assert_exit(&r, 1);
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);
}

#[test]
fn values_of_another_json_type_are_converted_and_counted() {
    let pg = PgDb::new("coerce_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, i int, s text, j jsonb)");
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"id":1,"i":true,"s":12.50,"j":"not json"}"#,
        r#"{"id":2,"i":2,"s":{"a":1},"j":"{\"k\": [1, 2]}"}"#,
        r#"{"id":3,"i":3,"s":false,"j":{"k":1}}"#,
    ];
    fs_err::write(dir.path().join("t.ndjson"), lines.join("\n") + "\n").unwrap();
    let mut c = tool("load-postgres", dir.path());
    c.args([
        "--target",
        &pg.url(),
        "--table",
        "t",
        "t.ndjson",
        "--report",
        "r.json",
    ]);
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(
        zero_rows(pg.query("SELECT id, i, s, j::text FROM t ORDER BY id")),
        [
            "1|1|12.50|\"not json\"",
            "2|2|{\"a\":1}|{\"k\": [1, 2]}",
            "3|3|false|{\"k\": 1}"
        ]
    );
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let conv = &report["tables"][0]["conversions"];
    for (k, n) in [
        ("boolean_to_integer", 1),
        ("number_to_text", 1),
        ("json_to_text", 1),
        ("boolean_to_text", 1),
        ("text_to_json_string", 1),
        ("json_text_parsed", 1),
    ] {
        assert_eq!(conv[k], n, "{k}: {conv}");
    }
}

#[test]
fn verify_compares_json_numbers_exactly_and_reads_bc_dates() {
    let my = MyDb::new("vj_my");
    my.exec(
        "SET SESSION sql_mode = ''; \
         CREATE TABLE v (id int PRIMARY KEY, j longtext CHECK (json_valid(j)), d date); \
         INSERT INTO v VALUES (1, '{\"n\": 1e2, \"big\": 18446744073709551617, \"k\": [1.50]}', '0000-05-10'), \
         (2, '[]', '2020-01-02')",
    );
    let pg = PgDb::new("vj_pg");
    let dir = tempfile::tempdir().unwrap();
    let r = sh(
        &format!(
            "extract --source {} --table v | load-postgres --target {} --table v --create -",
            my.url(),
            pg.url()
        ),
        dir.path(),
    );
    assert_exit(&r, 0);
    assert_eq!(
        pg.scalar("SELECT d::text FROM v WHERE id = 1").as_deref(),
        Some("0001-05-10 BC")
    );
    verify_equal(&my.url(), &pg.url(), "v", None, Some(2), dir.path());
    // A number changed past 2^64 is a difference, not a float rounding.
    pg.exec("UPDATE v SET j = jsonb_set(j, '{big}', '18446744073709551616') WHERE id = 1");
    let r = verify_run(&my.url(), &pg.url(), "v", dir.path());
    assert_exit(&r, 1);
    assert!(r.stderr.contains("verify: DIFFERENT"), "{}", r.stderr);
}

#[test]
fn ctrl_c_stops_between_batches_and_says_how_to_resume() {
    let pg = PgDb::new("sigint_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, s text)");
    let dir = tempfile::tempdir().unwrap();
    let rows = 1_000_000;
    let text: String = (1..=rows)
        .map(|i| format!("{{\"id\":{i},\"s\":\"row {i} of the interrupted load\"}}\n"))
        .collect();
    fs_err::write(dir.path().join("t.ndjson"), text).unwrap();
    let load = |resume: bool| {
        let mut c = tool("load-postgres", dir.path());
        c.args([
            "--target",
            &pg.url(),
            "--table",
            "t",
            "t.ndjson",
            "--batch-size",
            "2000",
        ]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let mut first = load(false);
    let report = dir.path().join("interrupted.json");
    first.env("FERRY_REPORT", &report);
    let child = first.stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Once a batch is committed (a checkpoint exists), press Ctrl+C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pg.scalar("SELECT count(*) FROM t").as_deref() == Some("0") {
        assert!(
            std::time::Instant::now() < deadline,
            "no batch committed in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("interrupted:"))
        .unwrap_or_default();
    assert!(
        line.contains("--resume") && line.contains("rows are loaded"),
        "{stderr}"
    );
    // The report is written all the same, saying so, with the command that continues.
    let text = fs_err::read_to_string(&report).unwrap();
    assert_report_valid("load-postgres (interrupted)", &text);
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["status"], "interrupted", "{text}");
    assert_eq!(r["exit_code"], 130, "{text}");
    let resume = r["resume_command"].as_str().unwrap();
    assert!(
        resume.starts_with("load-postgres ") && resume.ends_with(" --resume"),
        "{resume}"
    );
    assert!(line.contains(resume), "{line} / {resume}");
    let loaded: u64 = pg
        .scalar("SELECT count(*) FROM t")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        loaded < rows,
        "the run finished before Ctrl+C ({loaded} rows)"
    );
    let r = run(load(true));
    assert_exit(&r, 0);
    assert_eq!(pg.scalar("SELECT count(*) FROM t"), Some(rows.to_string()));
}

#[test]
fn a_dry_run_meets_the_conflicts_the_real_run_would() {
    let (pg, my) = (PgDb::new("dry_pg"), MyDb::new("dry_my"));
    for (tool_name, url, db) in [
        ("load-postgres", pg.url(), "pg"),
        ("load-mysql", my.url(), "my"),
    ] {
        let setup = "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)";
        let count = || -> String {
            let q = "SELECT count(*) FROM t";
            let rows = if db == "pg" {
                pg_query(&url, q)
            } else {
                my_query(&url, q)
            };
            rows[0][0].clone().unwrap()
        };
        if db == "pg" {
            pg_exec(&url, setup);
        } else {
            my_exec(&url, setup);
        }
        let dir = tempfile::tempdir().unwrap();
        let text: String = (1..=10)
            .map(|i| format!("{{\"id\":{i},\"n\":{i}}}\n"))
            .collect();
        fs_err::write(dir.path().join("t.ndjson"), text).unwrap();
        let mut c = tool(tool_name, dir.path());
        c.args(["--target", &url, "--table", "t", "t.ndjson", "--dry-run"]);
        c.args(["--rejects", "t.rejects.ndjson"]);
        let r = run(c);
        assert_exit(&r, 3);
        let rej = read_ndjson(&dir.path().join("t.rejects.ndjson"));
        let ids: Vec<i64> = rej
            .iter()
            .map(|r| r["record"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3], "{tool_name}: {rej:#?}");
        assert_eq!(count(), "3", "{tool_name}: the dry run wrote");
    }
}

/// extract's one rejects file spans several checkpoints: after kill -9 and `--resume`, every
/// rejected row is listed once, whatever the crash point (before the first page's
/// checkpoint, or between two).
#[test]
fn extract_rejects_are_listed_once_after_a_crash_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
         INSERT INTO t SELECT i, CASE WHEN i % 10 = 0 THEN CAST(X'FF41' AS TEXT) ELSE 'ok' END FROM n;",
    )
    .unwrap();
    drop(c);
    let url = format!("sqlite://{}", db.display());
    for n in [1, 2, crash_point(3, 9)] {
        let cmd = |resume: bool| {
            let mut e = tool("extract", dir.path());
            e.args(["--source", &url, "--table", "t", "-o", "t.ndjson"]);
            e.args(["--batch-size", "100", "--rejects", "t.rejects", "-q"]);
            if resume {
                e.arg("--resume");
            }
            e
        };
        crash_at(cmd(false), "extract", n);
        assert_exit(&run(cmd(true)), 3);
        let ids: Vec<i64> = rejected_ids_in(&dir.path().join("t.rejects"));
        let want: Vec<i64> = (1..=100).map(|i| i * 10).collect();
        assert_eq!(ids, want, "crash before checkpoint {n}");
        assert_eq!(read_ndjson(&dir.path().join("t.ndjson")).len(), 900);
        for f in ["t.ndjson", "t.rejects"] {
            fs_err::remove_file(dir.path().join(f)).unwrap();
        }
    }
}

fn rejected_ids_in(path: &Path) -> Vec<i64> {
    read_ndjson(path)
        .iter()
        .map(|r| r["record"]["id"].as_i64().unwrap())
        .collect()
}

/// SIGTERM (what `kill`, systemd and Kubernetes send) to a tool that does not stop between
/// units itself: one line with what was done and the exact command that continues, the
/// report written with status `interrupted`, and the resumed run gives the whole table.
#[test]
fn sigterm_says_how_to_continue_and_the_report_says_interrupted() {
    let my = MyDb::new("sigterm_my");
    let dir = tempfile::tempdir().unwrap();
    gen_bench(&my.url(), "b", 400_000, dir.path());
    let report = dir.path().join("r.json");
    let mut first = tool("extract", dir.path());
    first
        .args(["--source", &my.url(), "--table", "b", "-o", "b.ndjson"])
        .args(["--batch-size", "5000"])
        .env("FERRY_REPORT", &report)
        .stderr(std::process::Stdio::piped());
    let child = first.spawn().unwrap();
    let checkpoint = dir.path().join("b.ndjson.checkpoint.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !checkpoint.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no page written in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        !dir.path().join("b.ndjson").exists(),
        "finished before SIGTERM: {stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("extract: interrupted by SIGTERM"))
        .unwrap_or_else(|| panic!("no interrupt line: {stderr}"));
    assert!(line.contains("rows processed"), "{line}");
    assert!(
        line.contains("with its checkpoint b.ndjson.checkpoint.json"),
        "{line}"
    );
    let text = fs_err::read_to_string(&report).unwrap();
    assert_report_valid("extract (SIGTERM)", &text);
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["status"], "interrupted", "{text}");
    let resume = r["resume_command"].as_str().unwrap();
    assert!(line.ends_with(&format!("to continue: {resume}")), "{line}");
    assert!(
        resume.starts_with("extract --source ") && resume.ends_with(" --resume"),
        "{resume}"
    );
    // The printed command, run as printed, finishes the file.
    let r = sh(resume, dir.path());
    assert_exit(&r, 0);
    assert_eq!(read_ndjson(&dir.path().join("b.ndjson")).len(), 400_000);
}

/// A clean rerun never deletes an earlier run's rejects: each earlier file is kept under a
/// stamped name, and the file under the given name is always this run's.
#[test]
fn rejects_of_earlier_runs_are_kept_not_deleted() {
    let pg = PgDb::new("rotate_pg");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, n smallint)");
    let dir = tempfile::tempdir().unwrap();
    let load = |input: &str| {
        fs_err::write(dir.path().join("in.ndjson"), input).unwrap();
        let mut c = tool("load-postgres", dir.path());
        c.args(["--target", &pg.url(), "--table", "t", "--mode", "upsert"])
            .args(["--rejects", "t.rejects.ndjson", "in.ndjson"]);
        run(c)
    };
    let kept = || -> Vec<String> {
        let mut v: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("t.rejects.") && n != "t.rejects.ndjson")
            .collect();
        v.sort();
        v
    };
    assert_exit(&load("{\"id\":1,\"n\":1}\n{\"id\":2,\"n\":70000}\n"), 3);
    let first = fs_err::read_to_string(dir.path().join("t.rejects.ndjson")).unwrap();
    assert!(first.contains("70000"), "{first}");
    assert!(kept().is_empty());
    // Second run, other rejects: the first run's file is kept aside, whole.
    assert_exit(&load("{\"id\":3,\"n\":80000}\n"), 3);
    let aside = kept();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs_err::read_to_string(dir.path().join(&aside[0])).unwrap(),
        first
    );
    let second = fs_err::read_to_string(dir.path().join("t.rejects.ndjson")).unwrap();
    assert!(
        second.contains("80000") && !second.contains("70000"),
        "{second}"
    );
    // A clean run: nothing under the name (no rejects of its own), both earlier files kept.
    assert_exit(&load("{\"id\":4,\"n\":4}\n"), 0);
    assert!(!dir.path().join("t.rejects.ndjson").exists());
    let aside = kept();
    assert_eq!(aside.len(), 2, "{aside:?}");
    let texts: Vec<String> = aside
        .iter()
        .map(|n| fs_err::read_to_string(dir.path().join(n)).unwrap())
        .collect();
    assert!(
        texts.contains(&first) && texts.contains(&second),
        "{texts:?}"
    );
}

/// `--log-format json`: every stderr line is one JSON object with time, level and message
/// (the error line too), for log collectors.
#[test]
fn log_format_json_writes_one_object_per_line() {
    let my = MyDb::new("logjson_my");
    my.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1),(2)");
    let dir = tempfile::tempdir().unwrap();
    let mut c = tool("extract", dir.path());
    c.args(["--source", &my.url(), "--table", "t", "-o", "t.ndjson"])
        .args(["--log-format", "json", "-v"]);
    let r = run(c);
    assert_exit(&r, 0);
    let mut events = 0;
    for line in r.stderr.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["message"].is_string(), "{line}");
        events += 1;
    }
    assert!(events > 1, "{}", r.stderr);
    assert!(r.stderr.contains("TOTAL"), "{}", r.stderr);
    // Nothing else: the summary goes out as an event too.
    let other: Vec<&str> = r.stderr.lines().filter(|l| !l.starts_with('{')).collect();
    assert!(other.is_empty(), "{other:?}");
}

/// The stream header carries the row count extract took before reading, so a loader behind
/// the pipe can show percent and ETA; the end line still carries the true count.
#[test]
fn the_stream_header_carries_the_expected_row_count() {
    let my = MyDb::new("hdrcount_my");
    my.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1),(2),(3)");
    let dir = tempfile::tempdir().unwrap();
    let mut c = tool("extract", dir.path());
    c.args(["--source", &my.url(), "--table", "t"]);
    let r = run(c);
    assert_exit(&r, 0);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["$ferry"], "header");
    assert_eq!(lines[0]["schema"]["row_count"], 3, "{}", r.stdout);
    assert_eq!(lines[4]["$ferry"], "end");
    assert_eq!(lines[4]["rows"], 3);
}

/// `extract | head`: exit 0 as documented, and the report says the output is incomplete
/// (it was written as `ok` before, or not at all).
#[test]
fn a_closed_stdout_exits_0_and_the_report_says_incomplete() {
    let my = MyDb::new("headpipe_my");
    let dir = tempfile::tempdir().unwrap();
    gen_bench(&my.url(), "b", 200_000, dir.path());
    let r = sh(
        &format!(
            "set -o pipefail; extract --source '{}' --table b --report r.json | head -2 > /dev/null",
            my.url()
        ),
        dir.path(),
    );
    assert_exit(&r, 0);
    let text = fs_err::read_to_string(dir.path().join("r.json")).unwrap();
    assert_report_valid("extract | head", &text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "failed", "{text}");
    assert_eq!(v["exit_code"], 0, "{text}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("closed by its reader"),
        "{text}"
    );
    // Stdout cannot be resumed: no resume command is offered.
    assert!(v.get("resume_command").is_none(), "{text}");
}
