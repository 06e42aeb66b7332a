//! The awkward-types fixture, MariaDB → NDJSON → PostgreSQL and → MariaDB: every value is
//! asserted exactly, and `verify` agrees (naming the documented conversions).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;

const PG_COLS: &str =
    "id::text, u64::text, i64::text, dec38::text, f32::text, f64::text, bit1::text, \
    encode(bin16, 'hex'), encode(blob_all, 'hex'), doc::text, mood, tags, dur::text, yr::text, \
    emoji, latin, nul_text, d::text, dt::text, ts::text, flag::text, world";

fn all_bytes_hex() -> String {
    (0u8..=255).map(|b| format!("{b:02x}")).collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn awkward_mariadb_to_postgres_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("awk_pg");
    let pg = PgDb::new("awk_pg");
    gen_awkward(&my.url(), dir.path());

    load_with_default_nul_policy(dir.path(), &my, &pg);
    load_with_nul_strip(dir.path(), &my, &pg);
    assert_exact_values(&my, &pg);
    verify_agrees(dir.path(), &my, &pg);
    verify_finds_a_changed_value(dir.path(), &my, &pg);
}

/// Default NUL policy: only the row with U+0000 in text is rejected.
fn load_with_default_nul_policy(dir: &Path, my: &MyDb, pg: &PgDb) {
    // Default NUL policy: the row with U+0000 in text is rejected, nothing else.
    let r = sh(
        &format!("extract --source {} --table awkward -q | load-postgres --target {} --table awkward --create --rejects rej.ndjson -", my.url(), pg.url()),
        dir,
    );
    assert_exit(&r, 3);
    let rej = read_ndjson(&dir.join("rej.ndjson"));
    assert_eq!(rej.len(), 1, "{rej:?}");
    assert_eq!(rej[0]["line"], 6, "line 6 = header + rows 1..5");
    assert_eq!(rej[0]["column"], "nul_text");
    assert!(
        rej[0]["reason"].as_str().unwrap().contains("NUL"),
        "{}",
        rej[0]["reason"]
    );
    assert_eq!(rej[0]["record"]["id"], 5);
    assert_eq!(pg.scalar("SELECT count(*) FROM awkward"), s("4"));
}

/// With `--nul strip` everything loads, and the report counts the conversions.
fn load_with_nul_strip(dir: &Path, my: &MyDb, pg: &PgDb) {
    // With --nul strip, everything loads; zero dates become NULL and both are counted.
    pg.exec("DROP TABLE awkward");
    let r = sh(
        &format!("extract --source {} --table awkward -q | load-postgres --target {} --table awkward --create --nul strip --report rep.json -", my.url(), pg.url()),
        dir,
    );
    assert_exit(&r, 0);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("rep.json")).unwrap()).unwrap();
    assert_eq!(rep["totals"]["migrated"], 5);
    assert_eq!(rep["totals"]["conversions"]["zero_date_to_null"], 3);
    assert_eq!(rep["totals"]["conversions"]["nul_removed"], 1);
}

/// Every value in PostgreSQL, exactly; the text columns as MariaDB returns them.
fn assert_exact_values(my: &MyDb, pg: &PgDb) {
    let rows = pg.query(&format!("SELECT {PG_COLS} FROM awkward ORDER BY id"));
    let text =
        my.query("SELECT emoji, latin, nul_text, world, mood, tags FROM awkward ORDER BY id");
    let expected: Vec<Vec<Option<String>>> =
        [expected_rows_1_2(&text), expected_rows_3_to_5(&text)].concat();
    // PostgreSQL prints booleans as t/f in the text protocol.
    let rows: Vec<Vec<Option<String>>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| {
                    v.map(|x| match x.as_str() {
                        "t" => "true".into(),
                        "f" => "false".into(),
                        _ => x,
                    })
                })
                .collect()
        })
        .collect();
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    assert_eq!(rows.len(), 5);
    assert_eq!(text[0][0], s("😀🎉 café"));
    assert_eq!(text[0][1], s("Crème brûlée, naïve ÿ"));
    assert_eq!(text[0][2], s("tab\there\nnewline \"quoted\" back\\slash"));
    assert_eq!(text[0][3], s("東京 שלום مرحبا 👩‍👩‍👧"));
}

/// Expected rows 1 and 2 of `PG_COLS`; `text` is the MariaDB text columns.
fn expected_rows_1_2(text: &[Vec<Option<String>>]) -> Vec<Vec<Option<String>>> {
    vec![
        vec![
            s("1"),
            s("18446744073709551615"),
            s("9223372036854775807"),
            s("9999999999999999999999999999.9999999999"),
            s("3.4028235e+38"),
            s("1.7976931348623157e+308"),
            s("true"),
            s("00112233445566778899aabbccddeeff"),
            Some(all_bytes_hex()),
            s(r#"{"a": [1, 2.5, "x"], "emoji": "😀", "nested": {"k": null}}"#),
            s("it's complicated"),
            s("a,c"),
            s("838:59:59"),
            s("2155"),
            text[0][0].clone(),
            text[0][1].clone(),
            text[0][2].clone(),
            s("9999-12-31"),
            s("9999-12-31 23:59:59.999999"),
            s("2038-01-19 03:14:07+00"),
            s("true"),
            text[0][3].clone(),
        ],
        vec![
            s("2"),
            s("0"),
            s("-9223372036854775808"),
            s("-9999999999999999999999999999.9999999999"),
            s("-1.1754944e-38"),
            s("5e-324"),
            s("false"),
            s("00000000000000000000000000000000"),
            s(""),
            s("[]"),
            s("happy"),
            s(""),
            s("-838:59:59"),
            s("1901"),
            s(""),
            s(""),
            s(""),
            s("1000-01-01"),
            s("1000-01-01 00:00:00"),
            s("1970-01-01 00:00:01+00"),
            s("false"),
            s(""),
        ],
    ]
}

/// Expected rows 3 to 5 of `PG_COLS`; `text` is the MariaDB text columns.
fn expected_rows_3_to_5(text: &[Vec<Option<String>>]) -> Vec<Vec<Option<String>>> {
    vec![
        vec![
            s("3"),
            s("1"),
            s("-1"),
            s("0.0000000001"),
            s("0.1"),
            s("0.1"),
            s("true"),
            s("ffffffffffffffffffffffffffffffff"),
            s("00"),
            s(r#"{"big": 12345678901234567890123, "small": 0.0000001}"#),
            s("sad"),
            s("a,b,c"),
            s("00:00:00"),
            s("2000"),
            text[2][0].clone(),
            s("x"),
            s("plain"),
            None,
            None,
            None,
            s("false"),
            text[2][3].clone(),
        ],
        vec![
            s("4"),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        vec![
            s("5"),
            s("42"),
            s("42"),
            s("42.5000000000"),
            s("42.5"),
            s("42.5"),
            s("false"),
            None,
            None,
            s(r#"{"n": 1}"#),
            s("sad"),
            s("b"),
            s("24:00:01"),
            s("2024"),
            s("nul follows"),
            s("nul"),
            s("ab"),
            s("2024-02-29"),
            s("2024-02-29 12:00:00.000001"),
            s("2024-02-29 12:00:00+00"),
            s("true"),
            s("ok"),
        ],
    ]
}

/// `verify` finds the tables equal and names the documented conversions.
fn verify_agrees(dir: &Path, my: &MyDb, pg: &PgDb) {
    let mut v = tool("verify", dir);
    v.args([
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
        "--table",
        "awkward",
        "--report",
        "verify.json",
    ]);
    let r = run(v);
    assert_exit(&r, 0);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("verify.json")).unwrap()).unwrap();
    assert_eq!(rep["status"], "ok");
    assert_eq!(rep["details"]["equal"], true);
    assert_eq!(
        rep["details"]["tables"][0]["conversions"]["zero_date_to_null"],
        3
    );
    assert_eq!(rep["details"]["tables"][0]["conversions"]["nul_removed"], 1);
    assert_eq!(rep["details"]["tables"][0]["source_rows"], 5);
    assert_eq!(rep["tables"][0]["migrated"], 5);
}

/// A changed value is found and named by key and column.
fn verify_finds_a_changed_value(dir: &Path, my: &MyDb, pg: &PgDb) {
    pg.exec("UPDATE awkward SET dec38 = dec38 + 0.0000000001 WHERE id = 2");
    let mut v = tool("verify", dir);
    v.args([
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
        "--table",
        "awkward",
        "--report",
        "verify2.json",
    ]);
    let r = run(v);
    assert_exit(&r, 1);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("verify2.json")).unwrap()).unwrap();
    assert_eq!(rep["status"], "different");
    assert_eq!(rep["tables"][0]["errors"], 1);
    let d = &rep["details"]["tables"][0]["first_differences"][0];
    assert_eq!(d["key"][0], "2");
    assert_eq!(d["columns"][0]["column"], "dec38");
}

#[test]
fn awkward_mariadb_to_mariadb_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = MyDb::new("awk_src");
    let dst = MyDb::new("awk_dst");
    gen_awkward(&src.url(), dir.path());

    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &src.url(),
        "--table",
        "awkward",
        "-o",
        "awkward.ndjson",
        "-q",
    ]);
    assert_exit(&run(e), 0);
    let mut l = tool("load-mysql", dir.path());
    l.args([
        "--target",
        &dst.url(),
        "--table",
        "awkward",
        "--create",
        "awkward.ndjson",
        "-q",
    ]);
    assert_exit(&run(l), 0);

    let q = "SELECT id, u64, i64, dec38, HEX(CAST(f32 AS DOUBLE)), f64, HEX(bit1), HEX(bin16), HEX(blob_all), doc, mood, tags, dur, yr, \
             HEX(emoji), HEX(latin), HEX(nul_text), CAST(d AS CHAR), CAST(dt AS CHAR), CAST(ts AS CHAR), flag, HEX(world) FROM awkward ORDER BY id";
    let a = src.query(q);
    let b = dst.query(q);
    assert_eq!(a.len(), 5);
    assert_eq!(a, b, "row-for-row equality");
    let sum = |db: &MyDb| my_query(&db.url(), "CHECKSUM TABLE awkward")[0][1].clone();
    assert_eq!(sum(&src), sum(&dst), "CHECKSUM TABLE");
    assert_eq!(dst.scalar("SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'awkward' AND COLUMN_NAME = 'latin'"), Some("latin1".into()));

    // NDJSON → MariaDB → NDJSON is byte-for-byte the same.
    let mut e2 = tool("extract", dir.path());
    e2.args([
        "--source",
        &dst.url(),
        "--table",
        "awkward",
        "-o",
        "again.ndjson",
        "-q",
    ]);
    assert_exit(&run(e2), 0);
    let first = fs_err::read_to_string(dir.path().join("awkward.ndjson")).unwrap();
    let second = fs_err::read_to_string(dir.path().join("again.ndjson")).unwrap();
    assert_eq!(first, second);

    let mut v = tool("verify", dir.path());
    v.args([
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--table",
        "awkward",
    ]);
    let r = run(v);
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("equal (5 source rows, 5 target rows"),
        "{}",
        r.stderr
    );
}

#[test]
fn ndjson_contract_values() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("awk_json");
    gen_awkward(&my.url(), dir.path());
    let mut e = tool("extract", dir.path());
    e.args([
        "--source",
        &my.url(),
        "--table",
        "awkward",
        "-o",
        "out/",
        "-q",
    ]);
    assert_exit(&run(e), 0);
    let text = fs_err::read_to_string(dir.path().join("out/awkward.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    for frag in [
        r#""u64":18446744073709551615"#,
        r#""i64":9223372036854775807"#,
        r#""dec38":"9999999999999999999999999999.9999999999""#,
        r#""f32":3.4028235e38"#,
        r#""f64":1.7976931348623157e308"#,
        r#""bit1":1"#,
        r#""bin16":"ABEiM0RVZneImaq7zN3u/w==""#,
        r#""doc":{"a": [1, 2.5, "x"], "nested": {"k": null}, "emoji": "😀"}"#,
        r#""dur":"838:59:59""#,
        r#""dt":"9999-12-31T23:59:59.999999""#,
        r#""ts":"2038-01-19T03:14:07Z""#,
        r#""emoji":"😀🎉 café""#,
        r#""nul_text":"tab\there\nnewline \"quoted\" back\\slash""#,
    ] {
        assert!(lines[0].contains(frag), "row 1 lacks {frag}: {}", lines[0]);
    }
    for frag in [
        r#""i64":-9223372036854775808"#,
        r#""f64":5e-324"#,
        r#""blob_all":"""#,
        r#""dur":"-838:59:59""#,
    ] {
        assert!(lines[1].contains(frag), "row 2 lacks {frag}: {}", lines[1]);
    }
    for frag in [
        r#""d":"0000-00-00""#,
        r#""dt":"0000-00-00T00:00:00""#,
        r#""doc":{"big": 12345678901234567890123, "small": 1e-7}"#,
    ] {
        assert!(lines[2].contains(frag), "row 3 lacks {frag}: {}", lines[2]);
    }
    assert!(lines[3].contains(r#""u64":null"#) && lines[3].contains(r#""world":null"#));
    assert!(
        lines[4].contains(r#""nul_text":"a\u0000b""#),
        "{}",
        lines[4]
    );
    // The blob with every byte value decodes to exactly 0..=255.
    use base64::Engine as _;
    let row: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(row["blob_all"].as_str().unwrap())
        .unwrap();
    assert_eq!(blob, (0u8..=255).collect::<Vec<_>>());
    // The sidecar: columns, source types, nullability, key, count, checksum; no .part left.
    let side: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(dir.path().join("out/awkward.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side["row_count"], 5);
    assert_eq!(side["primary_key"][0], "id");
    assert_eq!(side["columns"][1]["source_type"], "bigint(20) unsigned");
    assert_eq!(side["columns"][1]["type"]["kind"], "int");
    assert_eq!(side["columns"][0]["nullable"], false);
    assert!(side["checksum"]
        .as_str()
        .unwrap()
        .starts_with("xxh3-128-sum:"));
    assert!(!dir.path().join("out/awkward.ndjson.part").exists());
}
