//! `sqlite-consolidate` end to end: the MINGUS fixture (five SQLite files, the shipped
//! mapping) into PostgreSQL with every conversion and rule asserted; dry run and validate
//! only write nothing; a second run changes nothing; rollback restores; generic mode on a
//! public SQLite file verifies equal; refused values are rejected with exit 3; kill -9 and
//! --resume.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(dir: &Path) -> PathBuf {
    let out = dir.join("sqlite");
    let mut c = tool("ferry-gen", dir);
    c.args(["mingus", "-o", out.to_str().unwrap()]);
    assert_exit(&run(c), 0);
    out
}

/// `sqlite-consolidate --config config/mingus.json` on the fixture in `dir`.
fn consolidate(dir: &Path, sqlite: &Path, url: &str, extra: &[&str]) -> Run {
    let config = workspace().join("config/mingus.json");
    let mut c = tool("sqlite-consolidate", dir);
    c.args([
        "--config",
        config.to_str().unwrap(),
        "--sqlite-dir",
        sqlite.to_str().unwrap(),
        "--target",
        url,
        "--work-dir",
        "runs",
        "--backup-dir",
        "backups",
    ]);
    c.args(extra);
    run(c)
}

/// The newest migration folder.
fn latest_run(dir: &Path) -> PathBuf {
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = fs_err::read_dir(dir.join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("migration_report.json").exists())
        .map(|e| {
            (
                e.path()
                    .join("migration_report.json")
                    .metadata()
                    .unwrap()
                    .modified()
                    .unwrap(),
                e.path(),
            )
        })
        .collect();
    runs.sort();
    runs.pop().unwrap().1
}

const TABLES: [(&str, i64); 12] = [
    ("users", 4),
    ("user_profiles", 3),
    ("onboarding_progress", 3),
    ("user_health_checkins", 2),
    ("user_analytics", 3),
    ("performance_metrics", 2),
    ("feature_usage", 2),
    ("user_feedback", 2),
    ("system_alerts", 2),
    ("important_dates", 2),
    ("notification_preferences", 3),
    ("encrypted_financial_profiles", 2),
];

/// Every invalid fixture row: (target table, source rowid, rule, column).
const REJECTS: [(&str, i64, &str, &str); 23] = [
    (
        "encrypted_financial_profiles",
        3,
        "required",
        "profile_type",
    ),
    ("users", 3, "email", "email"),
    ("users", 5, "required", "email"),
    ("users", 7, "future_date", "created_at"),
    ("user_profiles", 3, "zip", "zip_code"),
    ("user_profiles", 4, "foreign_key", "user_id"),
    ("user_profiles", 5, "json", "financial_goals"),
    ("user_profiles", 6, "min", "annual_income"),
    ("user_profiles", 7, "json_object", "financial_goals"),
    ("user_profiles", 8, "foreign_key", "user_id"),
    ("onboarding_progress", 3, "required", "step_name"),
    ("user_health_checkins", 2, "max", "mood_score"),
    ("user_health_checkins", 3, "type", "stress_level"),
    ("user_health_checkins", 4, "type", "exercise_minutes"),
    ("user_analytics", 4, "foreign_key", "user_id"),
    ("performance_metrics", 3, "required", "metric_name"),
    ("feature_usage", 3, "type", "usage_count"),
    ("user_feedback", 2, "min", "rating"),
    ("user_feedback", 3, "utf8", "comment"),
    ("user_feedback", 5, "max_length", "comment"),
    ("system_alerts", 3, "type", "is_resolved"),
    ("important_dates", 3, "type", "date_value"),
    ("notification_preferences", 3, "foreign_key", "user_id"),
];

/// A fingerprint of every table in a schema: name, row count and md5 of the sorted rows.
fn fingerprint(pg: &PgDb, schema: &str) -> Vec<Vec<Option<String>>> {
    let tables = pg.query(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' ORDER BY 1"
    ));
    let mut out = Vec::new();
    for t in tables {
        let name = t[0].clone().unwrap();
        out.extend(pg.query(&format!(
            "SELECT '{name}', count(*)::text, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{schema}\".\"{name}\" t"
        )));
    }
    out
}

/// The UUID the mapping makes of a legacy id, computed by PostgreSQL (uuid-ossp), not by
/// the tool: v5 of "db/table/id" in the namespace v5(URL, "ferry.sqlite-consolidate").
fn legacy_uuid_sql(owner_and_id: &str) -> String {
    format!("uuid_generate_v5(uuid_generate_v5(uuid_ns_url(), 'ferry.sqlite-consolidate'), '{owner_and_id}')")
}

#[test]
fn mingus_fixture_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = fixture(dir.path());
    let pg = PgDb::new("cons_e2e");
    let r = consolidate(dir.path(), &sqlite, &pg.url(), &[]);
    assert_exit(&r, 3);
    assert!(r.stderr.contains("TOTAL"), "{}", r.stderr);

    assert_table_counts(&pg);
    pg.exec("CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"");
    assert_users(&pg);
    assert_profiles_and_references(&pg);
    assert_other_tables(&pg);

    // Every invalid row: in the rejects file with rule, column, value and the whole record.
    let run_dir = latest_run(dir.path());
    assert_rejects(&run_dir);
    assert_report(&run_dir);
    assert_backups(dir.path(), &sqlite, &run_dir);
}

/// Every table of the mapping has its expected number of rows.
fn assert_table_counts(pg: &PgDb) {
    for (t, n) in TABLES {
        assert_eq!(
            pg.scalar(&format!("SELECT count(*) FROM public.{t}"))
                .as_deref(),
            Some(n.to_string().as_str()),
            "{t}"
        );
    }
    // Ciphertext moves as opaque bytes, exactly.
    assert_eq!(
        pg.query("SELECT encode(encrypted_data, 'hex') FROM public.encrypted_financial_profiles ORDER BY created_at"),
        vec![vec![Some("8f3a00ffc2".to_string())], vec![Some("00ff".to_string())]]
    );
}

/// The users, converted exactly.
fn assert_users(pg: &PgDb) {
    // Users: UUIDs from legacy ids, booleans from 1/'true'/'yes'/'no', datetimes from
    // naive text, zoned text, US text and epoch seconds/milliseconds, all in UTC.
    let users = pg.query(&format!(
        "SELECT u.id = {}, email, first_name, last_name, is_active::text, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM users u WHERE email = 'ada@example.com' \
         UNION ALL SELECT u.id = {}, email, first_name, last_name, is_active::text, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM users u WHERE email = 'bob@example.org' \
         UNION ALL SELECT u.id = {}, email, first_name, last_name, is_active::text, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM users u WHERE email = 'zoe@example.com' \
         UNION ALL SELECT u.id = {}, email, first_name, last_name, is_active::text, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM users u WHERE email = 'li@example.cn'",
        legacy_uuid_sql("mingus/users/1"),
        legacy_uuid_sql("mingus/users/2"),
        legacy_uuid_sql("mingus/users/4"),
        legacy_uuid_sql("mingus/users/6"),
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        users,
        vec![
            vec![
                s("t"),
                s("ada@example.com"),
                s("Ada"),
                s("Lovelace"),
                s("true"),
                s("2024-01-15 09:30:00"),
                s("2024-01-15 09:30:00")
            ],
            vec![
                s("t"),
                s("bob@example.org"),
                s("Bob"),
                s("Brown"),
                s("true"),
                s("2024-02-01 10:00:00"),
                s("2024-02-01 12:00:00")
            ],
            vec![
                s("t"),
                s("zoe@example.com"),
                s("Zoë"),
                s("Øster"),
                s("true"),
                s("2024-03-15 14:45:00"),
                s("2024-03-15 14:45:00")
            ],
            vec![
                s("t"),
                s("li@example.cn"),
                s("李"),
                s("小龙"),
                s("false"),
                s("2024-03-09 16:00:00"),
                None
            ],
        ]
    );
}

/// Profiles, and every cross-file reference resolving to a user.
fn assert_profiles_and_references(pg: &PgDb) {
    let s = |v: &str| Some(v.to_string());
    // Profiles: money in REAL and '$72,500.00' text to numeric(12,2); REAL noise rounded;
    // JSON kept; the new column gets its default; user_id points at the user's UUID.
    assert_eq!(
        pg.query(&format!(
            "SELECT p.id = {}, u.email, zip_code, dependents::text, annual_income::text, financial_goals::text \
             FROM user_profiles p JOIN users u ON u.id = p.user_id ORDER BY zip_code",
            legacy_uuid_sql("mingus/user_profiles/1")
        )),
        vec![
            vec![s("t"), s("ada@example.com"), s("02134"), s("0"), s("85000.50"), s(r#"{"save": 10000, "retire": true}"#)],
            vec![s("f"), s("li@example.cn"), s("10001"), s("0"), s("0.30"), s(r#"{"a": 1}"#)],
            vec![s("f"), s("bob@example.org"), s("90210-1234"), s("0"), s("72500.00"), s(r#"{"goals": ["house"]}"#)],
        ]
    );
    // Cross-file references: every user_id in the other four files resolves to a user.
    for t in [
        "user_analytics",
        "feature_usage",
        "user_feedback",
        "important_dates",
        "notification_preferences",
        "onboarding_progress",
        "user_health_checkins",
    ] {
        assert_eq!(
            pg.scalar(&format!("SELECT count(*) FROM {t} x LEFT JOIN users u ON u.id = x.user_id WHERE u.id IS NULL")).as_deref(),
            Some("0"),
            "{t}"
        );
    }
}

/// Exact values in the other tables.
fn assert_other_tables(pg: &PgDb) {
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        pg.query(&format!(
            "SELECT u.email, event_type, event_data::text, to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') \
             FROM user_analytics a JOIN users u ON u.id = a.user_id WHERE a.id = {} OR a.id = {} OR a.id = {} ORDER BY 4",
            legacy_uuid_sql("business_intelligence/user_analytics/1"),
            legacy_uuid_sql("business_intelligence/user_analytics/2"),
            legacy_uuid_sql("business_intelligence/user_analytics/3"),
        )),
        vec![
            vec![s("ada@example.com"), s("login"), s(r#"{"ip": "10.0.0.1"}"#), s("2024-01-15 09:30:00.000")],
            vec![s("bob@example.org"), s("page_view"), s(r#"{"path": "/home"}"#), s("2024-02-01 10:00:00.123")],
            vec![s("li@example.cn"), s("logout"), s("{}"), s("2024-03-09 16:00:00.500")],
        ]
    );
    assert_eq!(
        pg.query("SELECT checkin_date::text, sleep_hours::text, exercise_minutes::text, symptoms::text FROM user_health_checkins ORDER BY 1"),
        vec![
            vec![s("2024-04-01"), s("7.50"), s("30"), s(r#"["headache"]"#)],
            vec![s("2024-04-05"), s("9.00"), s("60"), s(r#"["none"]"#)],
        ]
    );
    assert_eq!(
        pg.query("SELECT date_type, date_value::text FROM important_dates ORDER BY 2"),
        vec![
            vec![s("birthday"), s("1990-12-10")],
            vec![s("anniversary"), s("2015-06-05")]
        ]
    );
    assert_eq!(
        pg.query("SELECT metric_name, metric_value::text, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM performance_metrics ORDER BY 1"),
        vec![
            vec![s("api_latency_ms"), s("123.45"), s("2024-05-01 10:00:00")],
            vec![s("cpu"), s("0.75"), s("2024-05-01 10:00:00")],
        ]
    );
    assert_eq!(
        pg.query("SELECT email_enabled::text, sms_enabled::text, push_enabled::text, frequency FROM notification_preferences ORDER BY created_at"),
        vec![
            vec![s("true"), s("false"), s("true"), s("daily")],
            vec![s("true"), s("false"), s("true"), s("weekly")],
            vec![s("true"), s("true"), s("true"), s("weekly")],
        ]
    );
    assert_eq!(
        pg.query("SELECT feature_name, usage_count::text, is_premium::text, to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM feature_usage ORDER BY 1"),
        vec![
            vec![s("budget"), s("5"), s("true"), s("2024-05-01 10:00:00")],
            vec![s("goals"), s("7"), s("false"), s("2024-05-01 10:00:00")],
        ]
    );
    assert_eq!(
        pg.query("SELECT comment, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM user_feedback ORDER BY 2"),
        vec![vec![s("Great app! 👍"), s("2024-05-02 08:00:00")], vec![s("很好"), s("2024-05-03 13:00:00")]]
    );
}

/// Every invalid row is in the rejects file of the run.
fn assert_rejects(run_dir: &Path) {
    let rejects = read_ndjson(&run_dir.join("rejects.ndjson"));
    let got: BTreeSet<(String, i64, String, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["table"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("public.")
                    .to_string(),
                r["rowid"].as_i64().unwrap(),
                r["rule"].as_str().unwrap().to_string(),
                r["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, i64, String, String)> = REJECTS
        .iter()
        .map(|(t, id, rule, col)| (t.to_string(), *id, rule.to_string(), col.to_string()))
        .collect();
    assert_eq!(got, want);
    let zip = rejects.iter().find(|r| r["rule"] == "zip").unwrap();
    assert_eq!(zip["value"], "\"1234\"");
    assert_eq!(zip["record"]["first_name"], "Zoë");
    let utf8 = rejects.iter().find(|r| r["rule"] == "utf8").unwrap();
    assert_eq!(utf8["record"]["comment"]["base64"], "TmljZSBhcHD/IQ==");
    // Secrets never reach a rejects file: password hashes and ciphertext are redacted.
    let email = rejects.iter().find(|r| r["rule"] == "email").unwrap();
    assert_eq!(email["record"]["password_hash"], "[redacted]");
    let enc = rejects
        .iter()
        .find(|r| {
            r["table"]
                .as_str()
                .unwrap()
                .ends_with("encrypted_financial_profiles")
        })
        .unwrap();
    assert_eq!(enc["record"]["encrypted_data"], "[redacted]");
    assert!(
        !rejects.iter().any(|r| r.to_string().contains("pbkdf2")),
        "{rejects:?}"
    );
}

/// The migration report of the run.
fn assert_report(run_dir: &Path) {
    // The document's report.
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(run_dir.join("migration_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["overall_stats"]["total_records"], 53);
    assert_eq!(report["overall_stats"]["successful_records"], 30);
    assert_eq!(report["overall_stats"]["failed_records"], 23);
    assert_eq!(report["overall_stats"]["success_rate"], 56.6);
    assert_eq!(report["table_stats"]["public.users"]["failed_records"], 3);
    assert_eq!(report["errors"].as_array().unwrap().len(), 23);
    assert_eq!(report["summary"]["exit_code"], 3);
    assert!(report["migration_id"].as_str().unwrap().len() == 36);
}

/// The backups of the run.
fn assert_backups(dir: &Path, sqlite: &Path, run_dir: &Path) {
    // Backups: one per file, made with the online backup API, same rows as the source.
    let id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
    for db in [
        "mingus",
        "business_intelligence",
        "cache",
        "performance_metrics",
        "alerts",
    ] {
        let b = rusqlite::Connection::open(dir.join("backups").join(&id).join(format!("{db}.db")))
            .unwrap();
        let s = rusqlite::Connection::open(sqlite.join(format!("{db}.db"))).unwrap();
        let q = "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'";
        let bt: String = b.query_row(q, [], |r| r.get(0)).unwrap();
        let st: String = s.query_row(q, [], |r| r.get(0)).unwrap();
        assert_eq!(bt, st);
        for t in bt.split(',') {
            let q = format!("SELECT count(*) FROM \"{t}\"");
            let a: i64 = b.query_row(&q, [], |r| r.get(0)).unwrap();
            let c: i64 = s.query_row(&q, [], |r| r.get(0)).unwrap();
            assert_eq!(a, c, "{db}.{t}");
        }
    }
}

#[test]
fn dry_run_and_validate_only_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = fixture(dir.path());
    let pg = PgDb::new("cons_dry");
    let before = fingerprint(&pg, "public");
    let r = consolidate(dir.path(), &sqlite, &pg.url(), &["--dry-run"]);
    assert_exit(&r, 3);
    assert!(r.stderr.contains("dry run: would run"), "{}", r.stderr);
    assert_eq!(fingerprint(&pg, "public"), before);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .as_deref(),
        Some("0")
    );
    let rejects = read_ndjson(&latest_run(dir.path()).join("rejects.ndjson"));
    assert_eq!(rejects.len(), 23);
    assert!(!dir.path().join("backups").exists());

    // Validate only: not even a connection (the target below does not exist).
    let r = consolidate(
        dir.path(),
        &sqlite,
        "postgres://nobody@127.0.0.1:1/none",
        &["--validate-only"],
    );
    assert_exit(&r, 3);
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(latest_run(dir.path()).join("migration_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["overall_stats"]["successful_records"], 30);
    assert_eq!(report["summary"]["validate_only"], true);
    assert_eq!(fingerprint(&pg, "public"), before);
}

#[test]
fn second_run_changes_nothing_and_rollback_restores() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = fixture(dir.path());
    let pg = PgDb::new("cons_rb");
    // Something that was there before the migration and must survive its rollback.
    pg.exec("CREATE TABLE keep_me (id int PRIMARY KEY); INSERT INTO keep_me VALUES (1), (2)");
    let before = fingerprint(&pg, "public");
    assert_exit(&consolidate(dir.path(), &sqlite, &pg.url(), &[]), 3);
    let first = latest_run(dir.path());
    let after_first = fingerprint(&pg, "public");
    assert_ne!(after_first, before);

    // A second run: every row is already there, nothing changes.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_exit(&consolidate(dir.path(), &sqlite, &pg.url(), &[]), 3);
    assert_eq!(fingerprint(&pg, "public"), after_first);
    let second = latest_run(dir.path());
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(second.join("migration_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["overall_stats"]["successful_records"], 0);
    assert_eq!(report["overall_stats"]["skipped_records"], 30);

    // Rows deleted by hand, then a third run puts exactly those back, into tables that
    // existed before it: its rollback deletes exactly those rows by key.
    pg.exec("DELETE FROM notification_preferences WHERE frequency = 'weekly'; DELETE FROM feature_usage WHERE feature_name = 'goals'");
    let before_third = fingerprint(&pg, "public");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_exit(
        &consolidate(dir.path(), &sqlite, &pg.url(), &["--no-backup"]),
        3,
    );
    assert_eq!(fingerprint(&pg, "public"), after_first);
    let third = latest_run(dir.path());
    let sql = fs_err::read_to_string(third.join("rollback.sql")).unwrap();
    assert_eq!(sql.matches("DELETE FROM").count(), 2, "{sql}");
    assert!(!sql.contains("DROP"), "{sql}");

    let rollback = |id: &Path, extra: &[&str]| {
        let mut c = tool("sqlite-consolidate", dir.path());
        c.args([
            "--rollback",
            id.file_name().unwrap().to_str().unwrap(),
            "--work-dir",
            "runs",
            "--target",
            &pg.url(),
            "--execute",
        ]);
        c.args(extra);
        run(c)
    };
    // One table first, then the rest; a second execution is refused.
    assert_exit(&rollback(&third, &["--table", "feature_usage"]), 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM feature_usage").as_deref(),
        Some("1")
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM notification_preferences")
            .as_deref(),
        Some("3")
    );
    assert_exit(&rollback(&third, &[]), 0);
    assert_eq!(fingerprint(&pg, "public"), before_third);
    assert_exit(&rollback(&third, &[]), 2);
    assert_exit(&rollback(&first, &[]), 0);
    assert_eq!(fingerprint(&pg, "public"), before);
}

#[test]
fn refused_values_are_rejected_others_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.db");
    let c = rusqlite::Connection::open(&file).unwrap();
    c.execute_batch(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value INTEGER, note TEXT);
         INSERT INTO readings VALUES (1, 'a', 10, 'ok');
         INSERT INTO readings VALUES (2, 'b', 'ten', 'text in an INTEGER column');
         INSERT INTO readings VALUES (3, 'c', 30, CAST(X'6F6BFF' AS TEXT));
         INSERT INTO readings VALUES (4, 'd', 40, 'ok');
         CREATE TABLE codes (code TEXT PRIMARY KEY, n INTEGER);
         INSERT INTO codes VALUES ('x', 1);
         INSERT INTO codes VALUES (NULL, 2);
         INSERT INTO codes VALUES ('y', 3);",
    )
    .unwrap();
    drop(c);
    let pg = PgDb::new("cons_refuse");
    let mut t = tool("sqlite-consolidate", dir.path());
    t.args([
        "legacy.db",
        "--target",
        &pg.url(),
        "--work-dir",
        "runs",
        "--rejects",
        "rejects.ndjson",
    ]);
    let r = run(t);
    assert_exit(&r, 3);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        pg.query("SELECT id::text, value::text, note FROM legacy.readings ORDER BY id"),
        vec![
            vec![s("1"), s("10"), s("ok")],
            vec![s("4"), s("40"), s("ok")]
        ]
    );
    assert_eq!(
        pg.query("SELECT code, n::text FROM legacy.codes ORDER BY code"),
        vec![vec![s("x"), s("1")], vec![s("y"), s("3")]]
    );
    let rejects = read_ndjson(&dir.path().join("rejects.ndjson"));
    let brief: Vec<(String, i64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["table"].as_str().unwrap().to_string(),
                r["rowid"].as_i64().unwrap(),
                r["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        brief.iter().cloned().collect::<BTreeSet<_>>(),
        [
            ("legacy.codes".to_string(), 2, "database".to_string()),
            ("legacy.readings".to_string(), 2, "type".to_string()),
            ("legacy.readings".to_string(), 3, "utf8".to_string()),
        ]
        .into_iter()
        .collect()
    );
    let db = rejects.iter().find(|r| r["rule"] == "database").unwrap();
    assert!(
        db["reason"].as_str().unwrap().contains("null value"),
        "{db}"
    );
    assert_eq!(db["record"]["n"], 2);
    let ty = rejects.iter().find(|r| r["rule"] == "type").unwrap();
    assert_eq!(ty["value"], "\"ten\"");
    assert!(ty["reason"].as_str().unwrap().contains("is not an integer"));
}

#[test]
fn generic_mode_public_sample_and_bench_verify_equal() {
    let dir = tempfile::tempdir().unwrap();
    let sample = workspace().join("target/samples/zipcodes.db");
    assert!(
        sample.exists(),
        "{} is missing: run `make samples` (scripts/sample-sqlite.sh)",
        sample.display()
    );
    let bench = dir.path().join("bench.db");
    gen_bench(
        &format!("sqlite://{}", bench.display()),
        "orders",
        20_000,
        dir.path(),
    );
    let pg = PgDb::new("cons_gen");
    let mut t = tool("sqlite-consolidate", dir.path());
    t.args([
        sample.to_str().unwrap(),
        "shop=bench.db",
        "--target",
        &pg.url(),
        "--work-dir",
        "runs",
        "--concurrency",
        "2",
    ]);
    assert_exit(&run(t), 0);
    for (src, table, target, rows) in [
        (&sample, "ZipCodes", "zipcodes.ZipCodes", 43_191),
        (&bench, "orders", "shop.orders", 20_000),
    ] {
        let src = format!("sqlite://{}", src.display());
        verify_equal(&src, &pg.url(), table, Some(target), Some(rows), dir.path());
    }
    assert_eq!(
        pg.scalar("SELECT count(*) FROM zipcodes.\"ZipCodes\"")
            .as_deref(),
        Some("43191")
    );
    // A keyless table that already has rows is not loaded twice.
    let mut t = tool("sqlite-consolidate", dir.path());
    t.args([
        sample.to_str().unwrap(),
        "--target",
        &pg.url(),
        "--work-dir",
        "runs",
    ]);
    let r = run(t);
    assert_exit(&r, 0);
    assert!(r.stderr.contains("no primary key"), "{}", r.stderr);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM zipcodes.\"ZipCodes\"")
            .as_deref(),
        Some("43191")
    );
}

#[test]
fn kill_and_resume_gives_the_source() {
    const ROWS: u64 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("big.db");
    gen_bench(
        &format!("sqlite://{}", bench.display()),
        "orders",
        ROWS,
        dir.path(),
    );
    let pg = PgDb::new("cons_kill");
    let cmd = |resume: bool| {
        let mut c = tool("sqlite-consolidate", dir.path());
        c.args([
            "big.db",
            "--target",
            &pg.url(),
            "--work-dir",
            "runs",
            "--batch-size",
            "10000",
            "--no-backup",
        ]);
        if resume {
            c.arg("--resume");
        }
        c
    };
    crash_at(cmd(false), "sqlite-consolidate", crash_point(8, 20));
    let loaded: u64 = pg
        .scalar("SELECT count(*) FROM big.orders")
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("rows before resume: {loaded}");
    assert!(
        loaded > 0 && loaded < ROWS,
        "crashed mid-table: {loaded} rows"
    );
    let r = run(cmd(true));
    assert_exit(&r, 0);
    assert_eq!(
        pg.query("SELECT count(*)::text, count(DISTINCT id)::text FROM big.orders"),
        vec![vec![Some(ROWS.to_string()), Some(ROWS.to_string())]]
    );
    let src = format!("sqlite://{}", bench.display());
    verify_equal(
        &src,
        &pg.url(),
        "orders",
        Some("big.orders"),
        Some(ROWS),
        dir.path(),
    );
}

/// A SQLite fixture's SQL (`fixtures/sqlite/NAME`).
fn sqlite_fixture(name: &str) -> String {
    fs_err::read_to_string(workspace().join("fixtures/sqlite").join(name)).unwrap()
}

/// `sqlite-consolidate FILE --target URL --work-dir RUNS --no-backup EXTRA…` in `dir`.
fn generic(dir: &Path, file: &str, url: &str, runs: &str, extra: &[&str]) -> Run {
    let mut c = tool("sqlite-consolidate", dir);
    c.args([file, "--target", url, "--work-dir", runs, "--no-backup"]);
    c.args(extra);
    run(c)
}

/// A keyless table (200,000 rows) crashed at five moments, each followed by `--resume` (which
/// picks the interrupted migration of this target, not a finished one) and, crashed again,
/// by a plain rerun (which takes the half-loaded table over, empties it and loads it whole):
/// exactly the source every time (`verify` EQUAL).
#[test]
fn keyless_table_is_exact_after_any_crash_sequence() {
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyless.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE events (at TEXT, n INTEGER, note TEXT); \
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {ROWS}) \
         INSERT INTO events SELECT '2024-01-01 00:00:00', i % 7, 'same text' FROM s;"
    ))
    .unwrap();
    drop(c);
    let pg = PgDb::new("cons_keyless");
    let cmd = |extra: &[&str]| {
        let mut c = tool("sqlite-consolidate", dir.path());
        c.args(["keyless.db", "--target", &pg.url(), "--work-dir", "runs"]);
        c.args(["--batch-size", "10000", "--no-backup"]);
        c.args(extra);
        c
    };
    let src = format!("sqlite://{}", db.display());
    let exact_then_undo = |how: &str| {
        verify_equal(
            &src,
            &pg.url(),
            "events",
            Some("keyless.events"),
            Some(ROWS),
            dir.path(),
        );
        let mut rb = tool("sqlite-consolidate", dir.path());
        rb.args([
            "--rollback",
            "latest",
            "--target",
            &pg.url(),
            "--work-dir",
            "runs",
            "--execute",
        ]);
        assert_exit(&run(rb), 0);
        eprintln!("exact after {how}");
    };
    for n in [6, 10, 14, 18, crash_point(6, 20)] {
        crash_at(cmd(&[]), "sqlite-consolidate", n);
        assert_exit(&run(cmd(&["--resume"])), 0);
        exact_then_undo(&format!("a crash before checkpoint {n} and --resume"));
        crash_at(cmd(&[]), "sqlite-consolidate", n);
        let r = run(cmd(&[]));
        assert_exit(&r, 0);
        assert!(
            r.stderr.contains("emptied and loaded again"),
            "{}",
            r.stderr
        );
        exact_then_undo(&format!("a crash before checkpoint {n} and a plain rerun"));
    }
}

/// A rollback runs only against the database its migration went into: another target is
/// refused (exit 2, naming both) with nothing changed, and `latest` means the latest
/// migration into the given target.
#[test]
fn rollback_runs_only_against_its_own_target() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("small.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
        .unwrap();
    let a = PgDb::new("cons_rb_a");
    let b = PgDb::new("cons_rb_b");
    b.exec("CREATE SCHEMA small; CREATE TABLE small.t (id int PRIMARY KEY, v text); INSERT INTO small.t VALUES (9, 'keep')");
    let mut c = tool("sqlite-consolidate", dir.path());
    c.args([
        "small.db",
        "--target",
        &a.url(),
        "--work-dir",
        "runs",
        "--no-backup",
    ]);
    assert_exit(&run(c), 0);
    let id = fs_err::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n != "backups")
        .unwrap();
    let rollback = |target: &str, which: &str| {
        let mut c = tool("sqlite-consolidate", dir.path());
        c.args([
            "--rollback",
            which,
            "--target",
            target,
            "--work-dir",
            "runs",
            "--execute",
        ]);
        run(c)
    };
    let r = rollback(&b.url(), &id);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("refused, nothing changed"),
        "{}",
        r.stderr
    );
    assert_eq!(b.scalar("SELECT v FROM small.t").as_deref(), Some("keep"));
    assert_exit(&rollback(&b.url(), "latest"), 2);
    assert_eq!(b.scalar("SELECT v FROM small.t").as_deref(), Some("keep"));
    assert_eq!(
        a.scalar("SELECT count(*) FROM small.t").as_deref(),
        Some("2")
    );
    assert_exit(&rollback(&a.url(), "latest"), 0);
    assert_eq!(
        a.scalar("SELECT to_regclass('small.t') IS NULL").as_deref(),
        Some("t")
    );
}

/// Generic mode: a number in a date column is rejected unless its unit is named; with the
/// unit it converts under that unit's name; zero dates are counted, partial ones and lost
/// time parts rejected; a date in a date-time column is counted as midnight.
#[test]
fn generic_dates_are_never_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dates.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&sqlite_fixture("dates.sql"))
        .unwrap();
    let pg = PgDb::new("cons_dates");
    let r = generic(
        dir.path(),
        "dates.db",
        &pg.url(),
        "runs",
        &["--rejects", "rej.ndjson", "--report", "r.json"],
    );
    assert_exit(&r, 3);
    let rej: Vec<String> = read_ndjson(&dir.path().join("rej.ndjson"))
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                r["table"].as_str().unwrap(),
                r["rowid"],
                r["reason"].as_str().unwrap()
            )
        })
        .collect();
    // Both tables load at once: their rejects interleave in any order.
    let mut rej = rej;
    rej.sort();
    assert_eq!(rej.len(), 5, "{rej:#?}");
    for (i, want) in ["d 2:", "d 3:", "d 5:", "day 2:", "day 3:"]
        .iter()
        .enumerate()
    {
        assert!(rej[i].contains(want), "{rej:#?}");
    }
    assert!(rej[0].contains("--date-numbers"), "{rej:#?}");
    assert!(rej[2].contains("partial zero date"), "{rej:#?}");
    assert!(rej[3].contains("time part"), "{rej:#?}");
    assert_eq!(
        pg.query("SELECT id::text, at::text FROM dates.d ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("2024-01-15 10:30:00".into())],
            vec![Some("4".into()), None],
            vec![Some("6".into()), Some("2017-08-08 00:00:00".into())],
        ]
    );
    let report = fs_err::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(
        report.contains("\"zero_date_to_null\": 1") || report.contains("\"zero_date_to_null\":1"),
        "{report}"
    );
    assert!(report.contains("date_to_midnight"), "{report}");

    // Named: julianday for the date-times.
    let pg2 = PgDb::new("cons_dates2");
    let mut c = tool("sqlite-consolidate", dir.path());
    c.args([
        "dates.db",
        "--target",
        &pg2.url(),
        "--work-dir",
        "runs2",
        "--no-backup",
    ]);
    c.args(["--date-numbers", "julianday", "--report", "r2.json"]);
    let _ = run(c);
    assert_eq!(
        pg2.scalar("SELECT at::text FROM dates.d WHERE id = 2")
            .as_deref(),
        Some("2024-03-02 00:00:00")
    );
    let report = fs_err::read_to_string(dir.path().join("r2.json")).unwrap();
    assert!(report.contains("julianday_to_timestamp"), "{report}");
}

/// A run that fails mid-table (here: the rejects limit) reports what it committed, not 0.
#[test]
fn a_failed_run_reports_what_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fail.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); \
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50000) \
             INSERT INTO t SELECT i, CASE WHEN i > 30000 THEN 'ten' ELSE i END FROM s;",
        )
        .unwrap();
    let pg = PgDb::new("cons_fail");
    let r = generic(
        dir.path(),
        "fail.db",
        &pg.url(),
        "runs",
        &["--batch-size", "10000", "--max-rejects", "1"],
    );
    assert_exit(&r, 3);
    let committed = pg.scalar("SELECT count(*) FROM fail.t").unwrap();
    assert_eq!(committed, "30000");
    let run_dir = fs_err::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("migration_report.json").exists())
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(run_dir.join("migration_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["overall_stats"]["successful_records"].to_string(),
        committed,
        "{report}"
    );
}

/// Declared types by SQLite's affinity, refined by the values: STRING/NUM holding text
/// become text (not numeric), TIME and UUID become time and uuid when every value fits
/// (else text); every value arrives, and the report says what each column became.
#[test]
fn declared_types_follow_affinity_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("types.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&sqlite_fixture("types.sql"))
        .unwrap();
    let pg = PgDb::new("cons_types");
    let r = generic(
        dir.path(),
        "types.db",
        &pg.url(),
        "runs",
        &["--report", "r.json"],
    );
    assert_exit(&r, 0);
    let types = pg.query(
        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'types' ORDER BY table_name, ordinal_position",
    );
    let types: Vec<String> = types.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "copy.s text",
            "copy.n text",
            "t.id bigint",
            "t.s text",
            "t.n text",
            "t.tm time without time zone",
            "t.u uuid",
            "t.bad_u text",
            "t.i bigint",
            "t.d numeric",
        ]
    );
    assert_eq!(
        pg.query(
            "SELECT s, n, tm::text, u::text, bad_u, i::text, d::text FROM types.t ORDER BY id"
        )[1],
        [
            "7", // SQLite itself stored the text 007 in a NUMERIC-affinity column as 7
            "12",
            "23:59:59.5",
            "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
            "x",
            "2",
            "2.00"
        ]
        .map(|v| Some(v.to_string()))
    );
    let report = fs_err::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(
        report.contains("NUMERIC affinity) holds non-numeric values"),
        "{report}"
    );
}

/// Generic mode keeps the schema (fixtures/sqlite/schema.sql): after the migration the
/// application inserts without a key into every table that had INTEGER PRIMARY KEY; every
/// foreign key (with its actions) and every plain or unique index of the source exists;
/// translatable defaults are set; the view works; what does not translate (a partial and an
/// expression index, the CHECK, the trigger, a non-constant default) is listed in the
/// report; the rollback removes it all.
#[test]
fn generic_mode_keeps_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    let sql = sqlite_fixture("schema.sql");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&sql)
        .unwrap();
    let pg = PgDb::new("cons_schema");
    let r = generic(
        dir.path(),
        "music.db",
        &pg.url(),
        "runs",
        &["--report", "r.json"],
    );
    assert_exit(&r, 0);
    pg.exec(
        "INSERT INTO music.artist (\"Name\") VALUES ('New'); \
         INSERT INTO music.album (\"Title\", \"ArtistId\") VALUES ('Next', 1); \
         INSERT INTO music.track (\"Name\") VALUES ('Intro')",
    );
    assert_eq!(
        pg.query("SELECT \"ArtistId\"::text, rating::text, country, created IS NOT NULL FROM music.artist WHERE \"Name\" = 'New'"),
        vec![vec![Some("8".into()), Some("3".into()), Some("unknown".into()), Some("t".into())]]
    );
    let fks = pg.query(
        "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE contype = 'f' AND connamespace = 'music'::regnamespace ORDER BY 1",
    );
    let fks: Vec<String> = fks.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        fks,
        [
            "music.album FOREIGN KEY (\"ArtistId\") REFERENCES music.artist(\"ArtistId\") ON DELETE CASCADE",
            "music.track FOREIGN KEY (\"AlbumId\") REFERENCES music.album(\"AlbumId\") ON DELETE SET NULL",
        ]
    );
    let idx = pg.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'music' AND indexname NOT LIKE '%pkey' ORDER BY 1");
    let idx: Vec<String> = idx.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(idx, ["album_artist", "artist_name"]);
    assert_eq!(
        pg.scalar("SELECT albums FROM music.album_count WHERE artist = 'AC/DC'")
            .as_deref(),
        Some("2")
    );
    pg.exec("DELETE FROM music.artist WHERE \"ArtistId\" = 7");
    assert_eq!(
        pg.scalar("SELECT count(*) FROM music.album WHERE \"ArtistId\" = 7")
            .as_deref(),
        Some("0")
    );
    let report = fs_err::read_to_string(dir.path().join("r.json")).unwrap();
    for what in [
        "index album_recent not translated",
        "index album_title_lower not translated",
        "CHECK constraints not translated",
        "trigger not translated",
        "slug: default not translated",
    ] {
        assert!(report.contains(what), "{what}: {report}");
    }
    let mut rb = tool("sqlite-consolidate", dir.path());
    rb.args([
        "--rollback",
        "latest",
        "--target",
        &pg.url(),
        "--work-dir",
        "runs",
        "--execute",
    ]);
    assert_exit(&run(rb), 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace('music')")
            .as_deref(),
        None.or(Some("0"))
    );
}

/// Names: two columns (and two tables) equal in their first 63 bytes are created under
/// distinct, deterministic shortened names, recorded in the report, every value loaded;
/// two files with one stem are refused before anything is created.
#[test]
fn long_names_and_same_stem_files() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a_column_name_that_goes_on_and_on_well_past_what_postgres_keeps_";
    let t_long = "a_table_name_that_goes_on_and_on_well_past_what_postgres_keeps_";
    rusqlite::Connection::open(dir.path().join("names.db"))
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE {t_long}one (id INTEGER PRIMARY KEY, {long}x TEXT, {long}y TEXT); \
             CREATE TABLE {t_long}two (id INTEGER PRIMARY KEY); \
             INSERT INTO {t_long}one VALUES (1, 'x', 'y'); INSERT INTO {t_long}two VALUES (5);"
        ))
        .unwrap();
    let pg = PgDb::new("cons_names");
    let mut c = tool("sqlite-consolidate", dir.path());
    c.args([
        "names.db",
        "--target",
        &pg.url(),
        "--work-dir",
        "runs",
        "--no-backup",
        "--report",
        "r.json",
    ]);
    assert_exit(&run(c), 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'names'")
            .as_deref(),
        Some("2")
    );
    let cols = pg.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'names' \
         AND column_name <> 'id' ORDER BY ordinal_position",
    );
    assert_eq!(cols.len(), 2);
    assert_ne!(cols[0], cols[1]);
    let report = fs_err::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("over 63 bytes, created as"), "{report}");

    for d in ["a", "b"] {
        fs_err::create_dir_all(dir.path().join(d)).unwrap();
        rusqlite::Connection::open(dir.path().join(d).join("app.db"))
            .unwrap()
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .unwrap();
    }
    let pg2 = PgDb::new("cons_stem");
    let mut c = tool("sqlite-consolidate", dir.path());
    c.args([
        "a/app.db",
        "b/app.db",
        "--target",
        &pg2.url(),
        "--work-dir",
        "runs2",
        "--no-backup",
    ]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("are both database \"app\""),
        "{}",
        r.stderr
    );
    assert_eq!(
        pg2.scalar("SELECT to_regnamespace('app') IS NULL")
            .as_deref(),
        Some("t")
    );
}
