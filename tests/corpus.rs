//! The correctness corpus (`fixtures/corpus/`): every table of the MariaDB, PostgreSQL and
//! SQLite sources carried by `extract | load-mysql` and `extract | load-postgres`, each row
//! checked against `expect.tsv` — loaded exactly, rejected with its reason, or converted
//! under a named, counted rule — and `verify` agreeing: EQUAL exactly when every row arrived
//! exactly, and otherwise naming as missing exactly the rejected keys.
#![allow(clippy::unwrap_used)]

use ferry_tests::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn corpus(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/corpus")
        .join(file);
    fs_err::read_to_string(p).unwrap()
}

/// The tables a fixture creates, in order.
fn tables(sql: &str) -> Vec<String> {
    sql.lines()
        .filter_map(|l| l.strip_prefix("CREATE TABLE "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// What `expect.tsv` says of the rows of `source` → `target` that do not arrive exactly:
/// (table, id) → (outcome, detail).
fn expectations(source: &str, target: &str) -> BTreeMap<(String, i64), (String, String)> {
    corpus("expect.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[0] == source && (f[1] == target || f[1] == "*"))
        .map(|f| {
            (
                (f[2].to_string(), f[3].parse().unwrap()),
                (f[4].to_string(), f[5].to_string()),
            )
        })
        .collect()
}

/// A source database holding its fixture.
enum Source {
    My(MyDb),
    Pg(PgDb),
    Lite(tempfile::TempDir),
}

impl Source {
    fn new(kind: &str) -> Self {
        match kind {
            "mariadb" => {
                let my = MyDb::new("corpus_src");
                my.exec(&corpus("mariadb.sql"));
                Source::My(my)
            }
            "postgres" => {
                let pg = PgDb::new("corpus_src");
                pg.exec("CREATE EXTENSION postgis");
                pg.exec(&corpus("postgres.sql"));
                Source::Pg(pg)
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let c = rusqlite::Connection::open(dir.path().join("corpus.db")).unwrap();
                c.execute_batch(&corpus("sqlite.sql")).unwrap();
                Source::Lite(dir)
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Source::My(d) => d.url(),
            Source::Pg(d) => d.url(),
            Source::Lite(dir) => format!("sqlite://{}", dir.path().join("corpus.db").display()),
        }
    }
}

/// A target database; PostgreSQL targets have PostGIS.
enum Target {
    My(MyDb),
    Pg(PgDb),
}

impl Target {
    fn new(kind: &str) -> Self {
        if kind == "mariadb" {
            let my = MyDb::new("corpus_dst");
            my.exec(&corpus("target-mariadb.sql"));
            Target::My(my)
        } else {
            let pg = PgDb::new("corpus_dst");
            pg.exec("CREATE EXTENSION postgis");
            Target::Pg(pg)
        }
    }

    fn url(&self) -> String {
        match self {
            Target::My(d) => d.url(),
            Target::Pg(d) => d.url(),
        }
    }

    fn loader(&self) -> &'static str {
        match self {
            Target::My(_) => "load-mysql",
            Target::Pg(_) => "load-postgres",
        }
    }

    fn exists(&self, table: &str) -> bool {
        match self {
            Target::My(d) => {
                d.scalar(&format!(
                    "SELECT count(*) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
                ))
                .as_deref()
                    == Some("1")
            }
            Target::Pg(d) => {
                d.scalar(&format!("SELECT to_regclass('{table}') IS NOT NULL"))
                    .as_deref()
                    == Some("t")
            }
        }
    }
}

/// One table carried: the run, the rejected ids with their reasons, the report's
/// conversions, and verify's report of the table.
struct Carried {
    run: Run,
    rejected: BTreeMap<i64, String>,
    conversions: BTreeMap<String, u64>,
    verify: Run,
    verdict: Value,
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

/// The ids and reasons of both rejects files (the reader's and the loader's).
fn rejected(dir: &Path, table: &str) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for f in [format!("{table}.x.rejects"), format!("{table}.rejects")] {
        let p: PathBuf = dir.join(f);
        if p.exists() {
            for r in read_ndjson(&p) {
                let id = r["record"]["id"].as_i64().unwrap_or_else(|| panic!("{r}"));
                out.insert(id, r["reason"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn carry(src: &Source, dst: &Target, table: &str, dir: &Path) -> Carried {
    let create = if dst.exists(table) { "" } else { "--create" };
    let script = format!(
        "set -o pipefail; extract --source '{s}' --table {table} --rejects {table}.x.rejects \
         | {load} --target '{d}' --table {table} {create} --rejects {table}.rejects \
         --report {table}.report.json -",
        s = src.url(),
        d = dst.url(),
        load = dst.loader()
    );
    let loaded = sh(&script, dir);
    let report_path = dir.join(format!("{table}.report.json"));
    let report = if report_path.exists() {
        read_json(&report_path)
    } else {
        Value::Null
    };
    let conversions = report["tables"][0]["conversions"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let mut v = tool("verify", dir);
    v.args([
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--table",
        table,
    ]);
    v.args([
        "--max-examples",
        "1000",
        "--report",
        &format!("{table}.verify.json"),
    ]);
    let verify = run(v);
    let verdict =
        read_json(&dir.join(format!("{table}.verify.json")))["details"]["tables"][0].clone();
    Carried {
        rejected: rejected(dir, table),
        run: loaded,
        conversions,
        verify,
        verdict,
    }
}

/// Checks one table against the expectations; returns the problems found.
fn check(
    table: &str,
    c: &Carried,
    want: &BTreeMap<(String, i64), (String, String)>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let mine: BTreeMap<i64, &(String, String)> = want
        .iter()
        .filter(|((t, _), _)| t == table)
        .map(|((_, id), e)| (*id, e))
        .collect();
    let want_rejects: BTreeMap<i64, &str> = mine
        .iter()
        .filter(|(_, (o, _))| o == "reject")
        .map(|(id, (_, d))| (*id, d.as_str()))
        .collect();
    let got_ids: BTreeSet<i64> = c.rejected.keys().copied().collect();
    let want_ids: BTreeSet<i64> = want_rejects.keys().copied().collect();
    if got_ids != want_ids {
        bad.push(format!(
            "{table}: rejected {:?}, expected {want_ids:?}",
            c.rejected
        ));
    }
    for (id, detail) in &want_rejects {
        if let Some(reason) = c.rejected.get(id) {
            if !reason.contains(detail) {
                bad.push(format!(
                    "{table} id {id}: reason {reason:?} lacks {detail:?}"
                ));
            }
        }
    }
    let want_code = if want_rejects.is_empty() { 0 } else { 3 };
    if c.run.code != want_code {
        bad.push(format!(
            "{table}: exit {} (want {want_code}): {}",
            c.run.code, c.run.stderr
        ));
    }
    let mut want_conv: BTreeMap<String, u64> = BTreeMap::new();
    for (o, d) in mine.values() {
        if o == "convert" {
            *want_conv.entry(d.clone()).or_default() += 1;
        }
    }
    for (name, n) in &want_conv {
        if c.conversions.get(name).copied().unwrap_or(0) < *n {
            bad.push(format!(
                "{table}: conversions {:?}, want {name} ≥ {n}",
                c.conversions
            ));
        }
    }
    bad.extend(check_verify(table, c, &want_ids));
    bad
}

/// verify: EQUAL exactly when nothing was rejected; otherwise the rejected keys missing and
/// nothing else different.
fn check_verify(table: &str, c: &Carried, rejected: &BTreeSet<i64>) -> Vec<String> {
    let v = &c.verdict;
    let missing: BTreeSet<i64> = v["first_differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "missing_in_target")
        .map(|d| d["key"][0].as_str().unwrap().parse().unwrap())
        .collect();
    let mut bad = Vec::new();
    let equal = v["equal"].as_bool().unwrap();
    if equal != rejected.is_empty() || c.verify.code != i32::from(!equal) {
        bad.push(format!(
            "{table}: verify equal={equal} exit {}",
            c.verify.code
        ));
    }
    if &missing != rejected || v["different"] != 0 || v["extra_in_target"] != 0 {
        bad.push(format!(
            "{table}: verify missing {missing:?}, different {}: {}",
            v["different"], v["first_differences"]
        ));
    }
    bad
}

/// Carries every table of `source` into `target` and fails with every problem at once.
fn corpus_into(source: &str, target: &str) {
    let src = Source::new(source);
    let dst = Target::new(target);
    let want = expectations(source, target);
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    for table in tables(&corpus(&format!("{source}.sql"))) {
        let c = carry(&src, &dst, &table, dir.path());
        bad.extend(check(&table, &c, &want));
    }
    assert!(bad.is_empty(), "{source} → {target}:\n{}", bad.join("\n"));
}

#[test]
fn mariadb_corpus_into_mariadb() {
    corpus_into("mariadb", "mariadb");
}

#[test]
fn mariadb_corpus_into_postgres() {
    corpus_into("mariadb", "postgres");
}

#[test]
fn postgres_corpus_into_mariadb() {
    corpus_into("postgres", "mariadb");
}

#[test]
fn postgres_corpus_into_postgres() {
    corpus_into("postgres", "postgres");
}

#[test]
fn sqlite_corpus_into_mariadb() {
    corpus_into("sqlite", "mariadb");
}

#[test]
fn sqlite_corpus_into_postgres() {
    corpus_into("sqlite", "postgres");
}

/// A PostgreSQL target without PostGIS: `--create` makes the geometry column text holding
/// the hex EWKB (the same text PostGIS prints for the value), says so, and verify compares
/// it exactly.
#[test]
fn geometry_into_postgres_without_postgis_is_hex_text() {
    let src = Source::new("mariadb");
    let pg = PgDb::new("corpus_nogis");
    let dir = tempfile::tempdir().unwrap();
    let r = sh(
        &format!(
            "set -o pipefail; extract --source '{}' --table c_geo \
             | load-postgres --target '{}' --table c_geo --create -",
            src.url(),
            pg.url()
        ),
        dir.path(),
    );
    assert_exit(&r, 0);
    assert!(r.stderr.contains("no PostGIS"), "{}", r.stderr);
    assert_eq!(
        pg.scalar("SELECT g FROM c_geo WHERE id = 2").as_deref(),
        Some("0101000020E6100000B9FC87F4DBC351C012143FC6DC2D4540")
    );
    verify_equal(&src.url(), &pg.url(), "c_geo", None, Some(5), dir.path());
}

/// A LATIN1 PostgreSQL database: a character without a LATIN1 mapping is a reject with the
/// server's reason (never `?`), the others load, and verify names exactly that row.
#[test]
fn postgres_latin1_target_rejects_what_it_cannot_encode() {
    let src = Source::new("mariadb");
    let pg = PgDb {
        name: unique("corpus_l1"),
    };
    pg_exec(
        &format!("{}/postgres", pg_base()),
        &format!(
            "CREATE DATABASE \"{}\" ENCODING 'LATIN1' TEMPLATE template0 \
             LC_COLLATE 'C' LC_CTYPE 'C'",
            pg.name
        ),
    );
    pg.exec("CREATE TABLE c_charset (id int PRIMARY KEY, t varchar(40))");
    let dir = tempfile::tempdir().unwrap();
    let dst = Target::Pg(pg);
    let c = carry(&src, &dst, "c_charset", dir.path());
    let want: BTreeMap<(String, i64), (String, String)> = [2, 4]
        .into_iter()
        .map(|id| {
            (
                ("c_charset".to_string(), id),
                (
                    "reject".to_string(),
                    "has no equivalent in encoding \"LATIN1\"".to_string(),
                ),
            )
        })
        .collect();
    let bad = check("c_charset", &c, &want);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
