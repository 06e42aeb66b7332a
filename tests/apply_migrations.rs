//! `apply-migrations` against a real PostgreSQL: each rule of docs/tools/apply-migrations.md
//! shown on a migration directory written by the test, in a database of its own.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;
use std::process::Stdio;

/// A temporary folder holding `migrations/` with these files (`name`, `text`).
fn migrations(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join("migrations")).unwrap();
    for (name, text) in files {
        fs_err::write(dir.path().join("migrations").join(name), text).unwrap();
    }
    dir
}

/// `apply-migrations --target URL --migrations-dir migrations EXTRA…`, run in `dir`.
fn apply(dir: &Path, url: &str, extra: &[&str]) -> Run {
    let mut c = tool("apply-migrations", dir);
    c.args(["--target", url, "--migrations-dir", "migrations"])
        .args(extra);
    run(c)
}

/// The tracking table's names in the order they were applied.
fn tracked(db: &PgDb, table: &str) -> Vec<String> {
    db.query(&format!("SELECT migration_name FROM {table} ORDER BY id"))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

/// True when the relation exists.
fn exists(db: &PgDb, relation: &str) -> bool {
    db.scalar(&format!("SELECT to_regclass('{relation}') IS NOT NULL"))
        .as_deref()
        == Some("t")
}

/// Every column and index of the public schema: what a rerun must leave as it was.
fn schema_of(db: &PgDb) -> Vec<Vec<Option<String>>> {
    db.query(
        "SELECT table_name, column_name, data_type, is_nullable, column_default \
           FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL SELECT tablename, indexname, indexdef, NULL, NULL FROM pg_indexes \
           WHERE schemaname = 'public' ORDER BY 1, 2",
    )
}

/// Each file's status in a JSON report, by migration name.
fn statuses(report: &Path) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(report).unwrap()).unwrap();
    v["details"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["migration_name"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Files in plain byte order (`0002_` before `002_`, `Zeta` before `add_`), only `*.sql` at
/// the top level; the tracking table as specified; a second run applies nothing and leaves
/// the schema, the data and the tracking rows exactly as they were.
#[test]
fn applies_in_byte_order_once_and_a_second_run_applies_nothing() {
    let db = PgDb::new("am_order");
    let dir = migrations(&[
        ("0001_init.sql", "CREATE TABLE items (id int PRIMARY KEY, name text);\nINSERT INTO items VALUES (1, 'bolt');\n"),
        ("002_note.sql", "-- STATUS: APPLIED TO init.sql\n-- ALTER TABLE items ADD COLUMN note text;\n"),
        ("0002_qty.sql", "ALTER TABLE items ADD COLUMN qty numeric(10,2) NOT NULL DEFAULT 0;\n"),
        ("003_empty.sql", ""),
        ("Zeta.sql", "CREATE TABLE zeta (id int);\n"),
        ("add_items_indexes.sql", "CREATE INDEX idx_items_name ON items (name);\n"),
        ("README.txt", "not SQL: would fail if it were run"),
    ]);
    fs_err::create_dir(dir.path().join("migrations/sub")).unwrap();
    fs_err::write(dir.path().join("migrations/sub/9999_nested.sql"), "NOT SQL").unwrap();

    let r = apply(
        dir.path(),
        &db.url(),
        &["--report", "first.json", "--log-file", "run.log"],
    );
    assert_exit(&r, 0);
    let order = [
        "0001_init",
        "0002_qty",
        "002_note",
        "003_empty",
        "Zeta",
        "add_items_indexes",
    ];
    assert_eq!(tracked(&db, "applied_migrations"), order);
    assert_eq!(
        statuses(&dir.path().join("first.json")),
        pairs(&[
            ("0001_init", "applied"),
            ("0002_qty", "applied"),
            ("002_note", "recorded_without_running"),
            ("003_empty", "recorded_without_running"),
            ("Zeta", "applied"),
            ("add_items_indexes", "applied"),
        ])
    );
    assert!(r.stderr.contains("applied 0001_init in "), "{}", r.stderr);
    assert!(
        r.stderr.contains("recorded 002_note (comment-only"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("4 applied, 2 recorded without running, 0 already applied"),
        "{}",
        r.stderr
    );
    let log = fs_err::read_to_string(dir.path().join("run.log")).unwrap();
    assert!(log.contains("applied add_items_indexes in "), "{log}");
    assert_eq!(
        db.query(
            "SELECT column_name, data_type, character_maximum_length::text, is_nullable \
               FROM information_schema.columns WHERE table_name = 'applied_migrations' ORDER BY ordinal_position"
        ),
        [
            ["id", "integer", "", "NO"],
            ["migration_name", "character varying", "255", "NO"],
            ["applied_at", "timestamp without time zone", "", "YES"],
        ]
        .map(|r| r.map(|c| (!c.is_empty()).then(|| c.to_string())).to_vec())
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_constraint WHERE conrelid = 'applied_migrations'::regclass AND contype = 'u'").as_deref(),
        Some("1")
    );

    let schema = schema_of(&db);
    let rows =
        db.query("SELECT id, migration_name, applied_at::text FROM applied_migrations ORDER BY id");
    let r = apply(dir.path(), &db.url(), &["--report", "second.json"]);
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("0 applied, 6 already applied"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("applied 0001_init in"), "{}", r.stderr);
    assert!(statuses(&dir.path().join("second.json"))
        .iter()
        .all(|(_, s)| s == "already_applied"));
    assert_eq!(schema_of(&db), schema);
    assert_eq!(
        db.query("SELECT id, migration_name, applied_at::text FROM applied_migrations ORDER BY id"),
        rows
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM items").as_deref(),
        Some("1")
    );
}

/// Comment-only, empty and blank files are recorded and never sent: the comment-only file's
/// `-- CREATE TABLE x` leaves no table x, and each is reported as recorded, not applied.
#[test]
fn comment_only_and_empty_files_are_recorded_without_running() {
    let db = PgDb::new("am_comments");
    let dir = migrations(&[
        (
            "001_comment.sql",
            "-- CREATE TABLE x (id int);\n\n   -- INSERT INTO x VALUES (1);\r\n",
        ),
        ("002_empty.sql", ""),
        ("003_blank.sql", "\n   \n\t\n"),
        ("004_real.sql", "-- a real one\nCREATE TABLE y (id int);\n"),
    ]);
    let r = apply(dir.path(), &db.url(), &["--report", "r.json"]);
    assert_exit(&r, 0);
    assert_eq!(
        tracked(&db, "applied_migrations"),
        ["001_comment", "002_empty", "003_blank", "004_real"]
    );
    assert!(!exists(&db, "x"), "the comment-only file was run");
    assert!(exists(&db, "y"));
    assert_eq!(
        statuses(&dir.path().join("r.json")),
        pairs(&[
            ("001_comment", "recorded_without_running"),
            ("002_empty", "recorded_without_running"),
            ("003_blank", "recorded_without_running"),
            ("004_real", "applied"),
        ])
    );
    for line in [
        "recorded 001_comment (comment-only, nothing to run)",
        "recorded 002_empty (empty, nothing to run)",
        "applied 004_real in ",
    ] {
        assert!(r.stderr.contains(line), "{line}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("applied 001_comment"), "{}", r.stderr);
}

/// A file failing with "already exists" or "duplicate" is rolled back whole (its other
/// statements leave nothing), then recorded, with a warning; the run goes on.
#[test]
fn already_exists_and_duplicate_are_rolled_back_and_recorded() {
    let db = PgDb::new("am_exists");
    let dir = migrations(&[
        ("001_base.sql", "CREATE TABLE widgets (id int);\nCREATE TABLE codes (code text PRIMARY KEY);\nINSERT INTO codes VALUES ('A');\n"),
        ("002_again.sql", "CREATE TABLE gadgets (id int);\nINSERT INTO widgets VALUES (7);\nCREATE TABLE widgets (id int);\n"),
        ("003_dup.sql", "INSERT INTO widgets VALUES (8);\nINSERT INTO codes VALUES ('A');\n"),
        ("004_after.sql", "CREATE TABLE after_them (id int);\n"),
    ]);
    let r = apply(dir.path(), &db.url(), &["--report", "r.json"]);
    assert_exit(&r, 0);
    assert_eq!(
        tracked(&db, "applied_migrations"),
        ["001_base", "002_again", "003_dup", "004_after"]
    );
    assert!(
        !exists(&db, "gadgets"),
        "002's first statement was not rolled back"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM widgets").as_deref(),
        Some("0")
    );
    assert!(exists(&db, "after_them"));
    assert_eq!(
        statuses(&dir.path().join("r.json")),
        pairs(&[
            ("001_base", "applied"),
            ("002_again", "already_exists_recorded"),
            ("003_dup", "already_exists_recorded"),
            ("004_after", "applied"),
        ])
    );
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["details"]["files"][1]["error"]["sqlstate"], "42P07");
    assert_eq!(report["details"]["files"][2]["error"]["sqlstate"], "23505");
    let warns: Vec<&str> = r.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warns.len(), 2, "{}", r.stderr);
    assert!(
        warns[0].contains("recorded 002_again as applied")
            && warns[0].contains("relation \"widgets\" already exists"),
        "{}",
        warns[0]
    );
    assert!(
        warns[1].contains("recorded 003_dup as applied") && warns[1].contains("duplicate key"),
        "{}",
        warns[1]
    );
    assert!(
        r.stderr
            .contains("2 applied, 2 recorded after \"already exists\", 0 already applied"),
        "{}",
        r.stderr
    );
}

/// Any other error stops the run: exit 1, one error line naming the file, the line in it
/// (counted in characters, so a line of accents before it does not shift it), the SQLSTATE
/// and the server's message. The failing file is rolled back whole; earlier files stay applied
/// and recorded, also the one just before it (the reference script lost that one: its commit
/// waited for the next commit point); later files are not run. Fixed, a rerun applies only
/// what is left.
#[test]
fn a_failing_file_stops_the_run_naming_file_and_line() {
    let db = PgDb::new("am_fail");
    let accents = format!("-- {}\n", "é".repeat(60));
    let bad = format!("{accents}CREATE TABLE b (id int);\nINSERT INTO missing_table VALUES (1);\nCREATE TABLE c (id int);\n");
    let dir = migrations(&[
        ("001_note.sql", "-- nothing to do\n"),
        (
            "002_a.sql",
            "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n",
        ),
        ("003_bad.sql", &bad),
        ("004_later.sql", "CREATE TABLE d (id int);\n"),
    ]);
    let r = apply(dir.path(), &db.url(), &["--report", "r.json"]);
    assert_exit(&r, 1);
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(
        last,
        "apply-migrations: error: migration 003_bad.sql failed at line 3: SQLSTATE 42P01: relation \"missing_table\" does not exist",
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
    assert_eq!(tracked(&db, "applied_migrations"), ["001_note", "002_a"]);
    assert_eq!(db.scalar("SELECT count(*) FROM a").as_deref(), Some("1"));
    assert!(!exists(&db, "b"), "the failed file was not rolled back");
    assert!(!exists(&db, "c") && !exists(&db, "d"));
    assert_eq!(
        statuses(&dir.path().join("r.json")),
        pairs(&[
            ("001_note", "recorded_without_running"),
            ("002_a", "applied"),
            ("003_bad", "failed"),
            ("004_later", "not_attempted"),
        ])
    );

    // A syntax error on line 3 of the same file: nothing of it runs either.
    let syntax = "CREATE TABLE b (id int);\nSELECT 1;\nCREAT TABLE oops (id int);\n";
    fs_err::write(dir.path().join("migrations/003_bad.sql"), syntax).unwrap();
    let r = apply(dir.path(), &db.url(), &[]);
    assert_exit(&r, 1);
    let last = r.stderr.lines().last().unwrap();
    assert!(last.starts_with("apply-migrations: error: migration 003_bad.sql failed at line 3: SQLSTATE 42601: syntax error at or near \"CREAT\""), "{}", r.stderr);
    assert!(!exists(&db, "b"));

    // An error found while executing carries no position: the statement that fails is found
    // by replaying the file statement by statement (rolled back), past a DO block's `;`.
    let runtime = "CREATE TABLE b (id int);\nDO $$ BEGIN PERFORM 1; END $$;\n-- a comment; with a semicolon\nALTER TABLE\n  missing_too ADD COLUMN x int;\n";
    fs_err::write(dir.path().join("migrations/003_bad.sql"), runtime).unwrap();
    let r = apply(dir.path(), &db.url(), &[]);
    assert_exit(&r, 1);
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(last, "apply-migrations: error: migration 003_bad.sql failed at line 4: SQLSTATE 42P01: relation \"missing_too\" does not exist", "{}", r.stderr);
    assert!(
        !exists(&db, "b"),
        "the replay that found the line was not rolled back"
    );

    fs_err::write(
        dir.path().join("migrations/003_bad.sql"),
        "CREATE TABLE b (id int);\n",
    )
    .unwrap();
    let r = apply(dir.path(), &db.url(), &[]);
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("2 applied, 2 already applied"),
        "{}",
        r.stderr
    );
    assert_eq!(
        tracked(&db, "applied_migrations"),
        ["001_note", "002_a", "003_bad", "004_later"]
    );
    assert_eq!(db.scalar("SELECT count(*) FROM a").as_deref(), Some("1"));
    assert!(exists(&db, "b") && exists(&db, "d"));
}

/// `--dry-run` says what each file would do and changes nothing: no tracking table on a fresh
/// database, no table of any file, no new tracking row on a database already migrated.
#[test]
fn dry_run_changes_nothing() {
    let db = PgDb::new("am_dry");
    let dir = migrations(&[
        ("001_t.sql", "CREATE TABLE t (id int);\n"),
        ("002_note.sql", "-- CREATE TABLE x (id int);\n"),
    ]);
    let r = apply(
        dir.path(),
        &db.url(),
        &["--dry-run", "--report", "dry.json"],
    );
    assert_exit(&r, 0);
    assert!(
        !exists(&db, "applied_migrations"),
        "the dry run created the tracking table"
    );
    assert!(!exists(&db, "t"));
    for line in ["would apply 001_t", "would record 002_note (comment-only, nothing to run)", "dry run: 1 would be applied, 1 recorded without running, 0 already applied; nothing changed"] {
        assert!(r.stderr.contains(line), "{line}: {}", r.stderr);
    }
    assert_eq!(
        statuses(&dir.path().join("dry.json")),
        pairs(&[
            ("001_t", "would_apply"),
            ("002_note", "would_record_without_running")
        ])
    );

    assert_exit(&apply(dir.path(), &db.url(), &[]), 0);
    fs_err::write(
        dir.path().join("migrations/003_u.sql"),
        "CREATE TABLE u (id int);\n",
    )
    .unwrap();
    let rows =
        db.query("SELECT id, migration_name, applied_at::text FROM applied_migrations ORDER BY id");
    let r = apply(
        dir.path(),
        &db.url(),
        &["--dry-run", "--report", "dry2.json"],
    );
    assert_exit(&r, 0);
    assert_eq!(
        statuses(&dir.path().join("dry2.json")),
        pairs(&[
            ("001_t", "already_applied"),
            ("002_note", "already_applied"),
            ("003_u", "would_apply")
        ])
    );
    assert!(!exists(&db, "u"));
    assert_eq!(
        db.query("SELECT id, migration_name, applied_at::text FROM applied_migrations ORDER BY id"),
        rows
    );
}

/// Two runs started together on the same directory: the advisory lock makes the second wait
/// and then find the slow file recorded, so it runs once. The file draws from a sequence,
/// which no rollback undoes: a second execution would show as 2.
#[test]
fn concurrent_runs_apply_each_file_once() {
    let db = PgDb::new("am_lock");
    db.exec("CREATE SEQUENCE hits");
    let dir = migrations(&[
        (
            "001_slow.sql",
            "SELECT nextval('hits');\nSELECT pg_sleep(1);\n",
        ),
        ("002_after.sql", "CREATE TABLE after_slow (id int);\n"),
    ]);
    let spawn = || {
        let mut c = tool("apply-migrations", dir.path());
        c.args(["--target", &db.url(), "--migrations-dir", "migrations"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let runs: Vec<Run> = [a, b].map(|c| c.wait_with_output().unwrap().into()).into();
    for r in &runs {
        assert_exit(r, 0);
    }
    assert_eq!(
        db.scalar("SELECT last_value FROM hits").as_deref(),
        Some("1"),
        "{runs:#?}"
    );
    assert_eq!(
        tracked(&db, "applied_migrations"),
        ["001_slow", "002_after"]
    );
    let applied = runs
        .iter()
        .filter(|r| r.stderr.contains("applied 001_slow in "))
        .count();
    let skipped = runs
        .iter()
        .filter(|r| r.stderr.contains("skipped 001_slow (already applied)"))
        .count();
    assert_eq!((applied, skipped), (1, 1), "{runs:#?}");
    assert!(runs.iter().all(|r| !r.stderr.contains("WARN")), "{runs:#?}");
}

/// `--tracking-table` names the tracking table, schema-qualified and quoted: a space and capitals
/// survive, and the default table is not created.
#[test]
fn tracking_table_name_is_configurable_and_quoted() {
    let db = PgDb::new("am_table");
    db.exec("CREATE SCHEMA ops");
    let dir = migrations(&[("001_t.sql", "CREATE TABLE t (id int);\n")]);
    let r = apply(
        dir.path(),
        &db.url(),
        &["--tracking-table", "ops.Schema History"],
    );
    assert_exit(&r, 0);
    assert_eq!(tracked(&db, "ops.\"Schema History\""), ["001_t"]);
    assert!(!exists(&db, "applied_migrations"));
    let r = apply(
        dir.path(),
        &db.url(),
        &["--tracking-table", "ops.Schema History"],
    );
    assert!(
        r.stderr.contains("0 applied, 1 already applied"),
        "{}",
        r.stderr
    );
}

/// A missing directory, a directory without `.sql` files, a URL that is not PostgreSQL or
/// names no database, a mistyped flag: exit 2, one line, the password never shown.
#[test]
fn usage_errors_exit_2_with_one_line_and_no_password() {
    let db = PgDb::new("am_usage");
    let url = format!(
        "{}/{}",
        pg_base().replace("postgres@", "postgres:hunter2@"),
        db.name
    );
    let dir = migrations(&[]);
    fs_err::write(dir.path().join("migrations/notes.txt"), "SELECT 1;").unwrap();
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["--target", &url, "--migrations-dir", "nowhere"],
            "--migrations-dir nowhere: no such directory",
        ),
        (
            vec!["--target", &url, "--migrations-dir", "migrations"],
            "--migrations-dir migrations holds no .sql files",
        ),
        (
            vec![
                "--target",
                "mysql://root:hunter2@127.0.0.1/db",
                "--migrations-dir",
                "migrations",
            ],
            "is not a postgres:// URL",
        ),
        (
            vec![
                "--target",
                "postgres://postgres:hunter2@127.0.0.1",
                "--migrations-dir",
                "migrations",
            ],
            "names no database",
        ),
        (
            vec![
                "--target",
                "postgres://u:hunter2@127.0.0.1:99999/db",
                "--migrations-dir",
                "migrations",
            ],
            "--target postgres://u:***@",
        ),
        (
            vec!["--target", &url, "--dri", "migrations"],
            "unexpected argument '--dri'",
        ),
    ];
    for (args, expected) in cases {
        let mut c = tool("apply-migrations", dir.path());
        c.args(&args);
        let r = run(c);
        assert_exit(&r, 2);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", r.stderr);
        assert!(
            lines[0].starts_with("apply-migrations: error: ") && lines[0].contains(expected),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    }
    assert!(!exists(&db, "applied_migrations"));
}
