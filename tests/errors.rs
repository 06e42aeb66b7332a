//! Bad input and bad configuration: one clear line, the documented exit code, nothing lost,
//! no password printed.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;

fn one_line(r: &Run) -> String {
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{}",
        r.stderr
    );
    lines[0].to_string()
}

/// The input of `malformed_line_and_misfit_value_go_to_rejects`: two good lines, a malformed
/// one, three misfit values, a NULL row and a duplicate key.
const REJECTS_INPUT: &str = "{\"id\":1,\"name\":\"a\",\"qty\":1,\"price\":\"1.50\"}\n\
                 {\"id\":2,\"name\":\"b\",\"qty\":2,\"price\":\"2.00\"}\n\
                 {\"id\":3,\"name\":\"c\",\"qty\":3 \"price\":\"3\"}\n\
                 {\"id\":4,\"name\":\"d\",\"qty\":70000,\"price\":\"4\"}\n\
                 {\"id\":5,\"name\":\"toolong\",\"qty\":5,\"price\":\"5\"}\n\
                 {\"id\":6,\"name\":\"f\",\"qty\":6,\"price\":\"6.125\"}\n\
                 {\"id\":7,\"name\":\"g\",\"qty\":null,\"price\":null}\n\
                 {\"id\":1,\"name\":\"dup\",\"qty\":1,\"price\":\"1\"}\n";

#[test]
fn malformed_line_and_misfit_value_go_to_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("rej_pg");
    let my = MyDb::new("rej_my");
    pg.exec("CREATE TABLE items (id integer PRIMARY KEY, name varchar(5) NOT NULL, qty smallint, price numeric(6,2))");
    my.exec("CREATE TABLE items (id int PRIMARY KEY, name varchar(5) NOT NULL, qty smallint, price decimal(6,2))");
    let input = REJECTS_INPUT;
    fs_err::write(dir.path().join("items.ndjson"), input).unwrap();

    for (tool_name, url) in [("load-postgres", pg.url()), ("load-mysql", my.url())] {
        load_and_check_rejects(dir.path(), tool_name, &url);
    }
    assert_loaded_rows(&pg, &my);
}

/// One loader on the rejects input: exit 3, each bad line in the rejects file with its reason.
fn load_and_check_rejects(dir: &std::path::Path, tool_name: &str, url: &str) {
    let rej = format!("{tool_name}.rejects.ndjson");
    let mut c = tool(tool_name, dir);
    c.args([
        "--target",
        url,
        "--table",
        "items",
        "items.ndjson",
        "--rejects",
        &rej,
        "--batch-size",
        "100",
    ]);
    let r = run(c);
    assert_exit(&r, 3);
    let rows = read_ndjson(&dir.join(&rej));
    let lines: Vec<i64> = rows.iter().map(|r| r["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 8], "{tool_name}: {rows:#?}");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{}",
        rows[0]
    );
    assert_eq!(
        rows[0]["record"],
        "{\"id\":3,\"name\":\"c\",\"qty\":3 \"price\":\"3\"}"
    );
    assert_eq!(rows[1]["column"], "qty");
    assert!(
        rows[1]["reason"].as_str().unwrap().contains("out of range"),
        "{}",
        rows[1]
    );
    assert_eq!(rows[2]["column"], "name");
    assert!(
        rows[2]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than 5"),
        "{}",
        rows[2]
    );
    assert_eq!(rows[3]["column"], "price");
    assert!(
        rows[3]["reason"]
            .as_str()
            .unwrap()
            .contains("decimal places"),
        "{}",
        rows[3]
    );
    assert!(
        rows[4]["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("duplicate"),
        "{}",
        rows[4]
    );
    assert_eq!(rows[4]["record"]["name"], "dup");
    assert!(
        r.stderr.contains("items.ndjson:3"),
        "names file and line: {}",
        r.stderr
    );
}

/// Only the good lines and the NULL row are in either table.
fn assert_loaded_rows(pg: &PgDb, my: &MyDb) {
    let got = pg.query("SELECT id::text, name, qty::text, price::text FROM items ORDER BY id");
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        got,
        vec![
            vec![s("1"), s("a"), s("1"), s("1.50")],
            vec![s("2"), s("b"), s("2"), s("2.00")],
            vec![s("7"), s("g"), None, None]
        ]
    );
    let got = my.query("SELECT id, name, qty, price FROM items ORDER BY id");
    assert_eq!(
        got,
        vec![
            vec![s("1"), s("a"), s("1"), s("1.50")],
            vec![s("2"), s("b"), s("2"), s("2.00")],
            vec![s("7"), s("g"), None, None]
        ]
    );
}

#[test]
fn wrong_password_is_one_line_exit_2_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "Sup3r-S3cret-pw";
    let mut c = tool("extract", dir.path());
    c.args([
        "--source",
        "mysql://root@127.0.0.1:3306/test",
        "--table",
        "x",
    ])
    .env("FERRY_SOURCE_PASSWORD", secret);
    let r = run(c);
    assert_exit(&r, 2);
    let line = one_line(&r);
    assert!(
        line.contains("127.0.0.1:3306") && line.contains("password"),
        "{line}"
    );
    assert!(!r.stderr.contains(secret) && !r.stdout.contains(secret));

    // In the URL too: redacted.
    let mut c = tool("extract", dir.path());
    c.args([
        "--source",
        &format!("mysql://root:{secret}@127.0.0.1:3306/test"),
        "--table",
        "x",
    ]);
    let r = run(c);
    assert_exit(&r, 2);
    one_line(&r);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
}

#[test]
fn server_down_is_one_line_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for (t, url) in [
        (
            "load-postgres",
            "postgres://postgres:pw1234567@127.0.0.1:1/x",
        ),
        ("load-mysql", "mysql://root:pw1234567@127.0.0.1:1/x"),
    ] {
        let mut c = tool(t, dir.path());
        c.args(["--target", url, "--table", "t"])
            .env("FERRY_CONNECT_RETRIES", "0")
            .stdin(std::process::Stdio::null());
        let r = run(c);
        assert_exit(&r, 1);
        let line = one_line(&r);
        assert!(
            line.starts_with(&format!("{t}: error: cannot connect"))
                && line.contains("127.0.0.1:1"),
            "{line}"
        );
        assert!(!r.stderr.contains("pw1234567"), "{}", r.stderr);
    }
}

#[test]
fn unknown_table_and_unreadable_file_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("err_tbl");
    let mut c = tool("extract", dir.path());
    c.args(["--source", &my.url(), "--table", "no_such_table"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(one_line(&r).contains("no_such_table"));

    let pg = PgDb::new("err_tbl");
    fs_err::write(dir.path().join("rows.ndjson"), "{\"id\":1}\n").unwrap();
    let mut c = tool("load-postgres", dir.path());
    c.args(["--target", &pg.url(), "--table", "missing", "rows.ndjson"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        one_line(&r).contains("public.missing does not exist"),
        "{}",
        r.stderr
    );

    let mut c = tool("load-postgres", dir.path());
    c.args([
        "--target",
        &pg.url(),
        "--table",
        "missing",
        "nope/absent.ndjson",
    ]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        one_line(&r).contains("cannot read input nope/absent.ndjson"),
        "{}",
        r.stderr
    );
}

#[test]
fn configuration_layers_flag_env_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("cfg");
    my.exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'x')");
    // .env alone supplies the source.
    fs_err::write(
        dir.path().join(".env"),
        format!("FERRY_SOURCE={}\n", my.url()),
    )
    .unwrap();
    let mut c = tool("extract", dir.path());
    c.args(["--table", "t", "--no-header", "-q"]);
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(r.stdout, "{\"id\":1,\"v\":\"x\"}\n");
    // The environment beats .env: a bad URL there is used, and named.
    let mut c = tool("extract", dir.path());
    c.args(["--table", "t", "-q"])
        .env("FERRY_SOURCE", "oracle://nowhere/db");
    let r = run(c);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("oracle://nowhere/db"), "{}", r.stderr);
    // The flag beats the environment.
    let mut c = tool("extract", dir.path());
    c.args(["--source", &my.url(), "--table", "t", "--no-header", "-q"])
        .env("FERRY_SOURCE", "oracle://nowhere/db");
    assert_exit(&run(c), 0);
    // A password from .env is used but never shown.
    fs_err::write(
        dir.path().join(".env"),
        format!(
            "FERRY_SOURCE={}\nFERRY_SOURCE_PASSWORD=dotenv-secret-42\n",
            my.url()
        ),
    )
    .unwrap();
    let mut c = tool("extract", dir.path());
    c.args(["--table", "t", "-q"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("Access denied") && !r.stderr.contains("dotenv-secret-42"),
        "{}",
        r.stderr
    );
}

/// Every tool, by the name users call it.
const ALL_TOOLS: &[&str] = &[
    "extract",
    "load-postgres",
    "load-mysql",
    "verify",
    "schema-copy",
    "customer-filter",
    "delete-migrated",
    "sqlite-consolidate",
    "load-dynamo",
    "backup-dynamo",
    "restore-dynamo",
    "extract-buyers",
    "extract-producers",
    "extract-sales",
    "transform-buyers",
    "transform-producers",
    "transform-sales",
    "validate-s9",
    "compare-counts",
    "check-integrity",
    "migrate-s9",
    "apply-migrations",
    "transform-lustores",
    "migrate-lustores",
    "migrate-abparts",
    "ferry-gen",
];

/// A mistyped flag is one line naming it (with clap's suggestion), exit 2, for every tool;
/// `--help` and `--version` still print and exit 0.
#[test]
fn usage_errors_are_one_line_for_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    for t in ALL_TOOLS {
        let mut c = tool(t, dir.path());
        c.arg("--no-such-flag");
        let r = run(c);
        assert_exit(&r, 2);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{t}: {}", r.stderr);
        assert!(
            lines[0].starts_with(&format!("{t}: error: unexpected argument '--no-such-flag'")),
            "{t}: {}",
            r.stderr
        );
        let mut v = tool(t, dir.path());
        v.arg("--version");
        let r = run(v);
        assert_exit(&r, 0);
    }
}
