//! `--shard I/N` and `ferry copy --jobs N`: N processes, each computing its key range alone,
//! cover a table exactly once; a shard killed and rerun alone stays exact; `verify --shard`
//! signs off each range and `verify --combine` the table; `ferry copy --jobs 4` killed with
//! `kill -9` at a random instant and resumed ends equal.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;

/// Source rows: the generated 1..ROWS plus keys far outside the range (negative, huge) and
/// a hole, so the ranges are uneven and the open ends matter.
const ROWS: u64 = 120_000;

fn source(dir: &Path) -> MyDb {
    let my = MyDb::new("shard");
    gen_bench(&my.url(), "bench", ROWS, dir);
    my.exec("ALTER TABLE bench MODIFY id BIGINT NOT NULL");
    let cols =
        "customer_id, quantity, sku, description, amount, created_at, shipped_on, active, note";
    my.exec(&format!(
        "INSERT INTO bench (id, {cols}) SELECT -id, {cols} FROM bench WHERE id <= 7;
         INSERT INTO bench (id, {cols}) SELECT id + 200000, {cols} FROM bench WHERE id BETWEEN 1 AND 5;
         DELETE FROM bench WHERE id BETWEEN 30000 AND 45000"
    ));
    my
}

/// Runs the pipelines at once (N processes, as N machines would); fails if any failed.
fn all_at_once(pipes: &[String], dir: &Path) -> Run {
    let started: String = pipes.iter().map(|p| format!("( {p} ) & ")).collect();
    sh(
        &format!("{started} fail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail"),
        dir,
    )
}

fn source_rows(my: &MyDb) -> u64 {
    my.scalar("SELECT COUNT(*) FROM bench")
        .unwrap()
        .parse()
        .unwrap()
}

fn count(pg: &PgDb, sql: &str) -> u64 {
    pg.scalar(sql).unwrap().parse().unwrap()
}

/// `extract --shard i/n | load-postgres --shard i/n`, with extra loader flags.
fn shard_pipe(my: &MyDb, pg: &PgDb, i: u32, n: u32, load_flags: &str) -> String {
    format!(
        "extract --source {} --table bench --shard {i}/{n} -q | load-postgres --target {} --table bench --shard {i}/{n} --create -q --progress never --checkpoint cp-{i}.json {load_flags} -",
        my.url(),
        pg.url()
    )
}

fn verify_shard(my: &MyDb, pg: &PgDb, i: u32, n: u32, dir: &Path) -> Run {
    let mut v = tool("verify", dir);
    v.args([
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
        "--table",
        "bench",
    ])
    .args(["--shard", &format!("{i}/{n}"), "-q"])
    .args(["--report", &format!("verify-{i}.json")]);
    run(v)
}

fn combine(files: &[String], dir: &Path) -> Run {
    let mut v = tool("verify", dir);
    v.arg("--combine").args(files);
    run(v)
}

#[test]
fn four_shards_as_four_processes_cover_the_table_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let my = source(dir.path());
    let pg = PgDb::new("shard");
    let want = source_rows(&my);
    // The four at once, each creating the table if it is not there yet.
    let pipes: Vec<String> = (0..4).map(|i| shard_pipe(&my, &pg, i, 4, "")).collect();
    let r = all_at_once(&pipes, dir.path());
    assert_exit(&r, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), want);
    assert_eq!(count(&pg, "SELECT count(DISTINCT id) FROM bench"), want);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM bench WHERE id < 0 OR id > 200000"
        ),
        12
    );

    let files: Vec<String> = (0..4).map(|i| format!("verify-{i}.json")).collect();
    for i in 0..4 {
        let v = verify_shard(&my, &pg, i, 4, dir.path());
        assert_exit(&v, 0);
    }
    let c = combine(&files, dir.path());
    assert_exit(&c, 0);
    assert!(
        c.stderr.contains(&format!(
            "equal across 4 shards ({want} source rows, {want} target rows)"
        )),
        "{}",
        c.stderr
    );
    // Three of four reports do not sign off the table.
    let c = combine(&files[..3], dir.path());
    assert_exit(&c, 1);
    assert!(c.stderr.contains("shard 3/4 is missing"), "{}", c.stderr);
    verify_equal(&my.url(), &pg.url(), "bench", None, Some(want), dir.path());
}

#[test]
fn one_shard_killed_and_rerun_alone_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let my = source(dir.path());
    let pg = PgDb::new("shard_kill");
    let want = source_rows(&my);
    for i in [0, 1, 3] {
        assert_exit(&sh(&shard_pipe(&my, &pg, i, 4, ""), dir.path()), 0);
    }
    let before_2 = count(&pg, "SELECT count(*) FROM bench");
    // Shard 2 crashes after a committed batch, before its checkpoint (like kill -9).
    let n = crash_point(2, 4);
    let crash = sh(
        &format!(
            "set -o pipefail; export FERRY_TEST_CRASH_AT=load-postgres:{n}; {}; echo \"rc=$?\" >&2",
            shard_pipe(&my, &pg, 2, 4, "--batch-size 2000")
        ),
        dir.path(),
    );
    assert!(
        crash.stderr.contains("rc=134"),
        "shard 2 was to crash: {}",
        crash.stderr
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM bench") - before_2,
        n * 2000
    );
    // Rerun alone with --resume: exact.
    assert_exit(
        &sh(
            &shard_pipe(&my, &pg, 2, 4, "--batch-size 2000 --resume"),
            dir.path(),
        ),
        0,
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), want);
    assert_eq!(count(&pg, "SELECT count(DISTINCT id) FROM bench"), want);
    verify_equal(&my.url(), &pg.url(), "bench", None, Some(want), dir.path());
    // Rerun alone from scratch with --mode truncate: only its own range is emptied first.
    assert_exit(
        &sh(&shard_pipe(&my, &pg, 2, 4, "--mode truncate"), dir.path()),
        0,
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), want);
    let v = verify_shard(&my, &pg, 2, 4, dir.path());
    assert_exit(&v, 0);
    // A --resume with no checkpoint over a range already loaded is refused, not doubled.
    let r = sh(&shard_pipe(&my, &pg, 1, 4, "--resume"), dir.path());
    assert!(
        r.stderr.contains("already has rows") && r.stderr.contains("shard 1/4"),
        "{}",
        r.stderr
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), want);
}

#[test]
fn a_loader_given_another_shard_or_none_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let my = source(dir.path());
    let pg = PgDb::new("shard_bad");
    let wrong = sh(
        &format!(
            "extract --source {} --table bench --shard 2/4 -q | load-postgres --target {} --table bench --shard 1/4 --create -q -",
            my.url(),
            pg.url()
        ),
        dir.path(),
    );
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("--shard 1/4 but the stream is shard 2/4"),
        "{}",
        wrong.stderr
    );
    let none = sh(
        &format!(
            "extract --source {} --table bench --shard 2/4 -q | load-postgres --target {} --table bench --create -q -",
            my.url(),
            pg.url()
        ),
        dir.path(),
    );
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("give --shard 2/4"), "{}", none.stderr);
    // Resuming shard 2's checkpoint with shard 1's stream is refused.
    let cp = |i: u32| {
        format!(
            "extract --source {} --table bench --shard {i}/4 -q | load-postgres --target {} --table bench --shard 2/4 --create -q --checkpoint cp2.json --batch-size 2000 {} -",
            my.url(),
            pg.url(),
            if i == 2 { "" } else { "--resume" }
        )
    };
    let crashed = sh(
        &format!("export FERRY_TEST_CRASH_AT=load-postgres:2; {}", cp(2)),
        dir.path(),
    );
    assert!(
        !crashed.stderr.contains("load-postgres: ok"),
        "{}",
        crashed.stderr
    );
    let other = sh(&cp(1), dir.path());
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("the checkpoint was saved loading shard 2/4"),
        "{}",
        other.stderr
    );
    my.exec(
        "CREATE TABLE tkey (code VARCHAR(10) PRIMARY KEY, n INT); INSERT INTO tkey VALUES ('a', 1)",
    );
    let mut e = tool("extract", dir.path());
    e.args(["--source", &my.url(), "--table", "tkey", "--shard", "0/2"]);
    let r = run(e);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("tkey.code is varchar(10)"),
        "{}",
        r.stderr
    );
}

#[test]
fn sqlite_to_mariadb_in_three_shards() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("src.db");
    let src = format!("sqlite://{}", db.display());
    gen_bench(&src, "bench", 30_000, dir.path());
    let my = MyDb::new("shard_my");
    let pipes: Vec<String> = (0..3)
        .map(|i| format!(
            "extract --source {src} --table bench --shard {i}/3 -q | load-mysql --target {} --table bench --shard {i}/3 --create -q -",
            my.url()
        ))
        .collect();
    let r = all_at_once(&pipes, dir.path());
    assert_exit(&r, 0);
    assert_eq!(
        my.scalar("SELECT COUNT(DISTINCT id) FROM bench").unwrap(),
        "30000"
    );
    verify_equal(&src, &my.url(), "bench", None, Some(30_000), dir.path());
}

#[test]
fn copy_with_four_jobs_killed_by_sigkill_then_resumed_is_exact() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("jobs");
    gen_bench(&my.url(), "bench", 400_000, dir.path());
    let pg = PgDb::new("jobs");
    let copy = |extra: &[&str]| {
        let mut c = tool("ferry", dir.path());
        c.args([
            "copy",
            "--source",
            &my.url(),
            "--target",
            &pg.url(),
            "--table",
            "bench",
        ])
        .args([
            "--jobs",
            "4",
            "--create",
            "--batch-size",
            "5000",
            "--state-dir",
            "state",
        ])
        .args(extra);
        c
    };
    let mut c = copy(&[]);
    c.process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let started = pg
            .scalar("SELECT to_regclass('public.bench') IS NOT NULL")
            .unwrap()
            == "t"
            && count(&pg, "SELECT count(*) FROM bench") >= 20_000;
        if started {
            std::thread::sleep(std::time::Duration::from_millis(jitter_ms(300)));
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended before it could be killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never started loading"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill_process_group(&mut child);
    let partial = count(&pg, "SELECT count(*) FROM bench");
    eprintln!("killed with {partial} rows loaded");
    assert!(
        partial < 400_000,
        "the kill came after the end ({partial} rows)"
    );

    let r = run(copy(&["--resume", "--verify"]));
    assert_exit(&r, 0);
    assert!(
        r.stderr
            .contains("verify: EQUAL (combined from shard reports)"),
        "{}",
        r.stderr
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), 400_000);
    assert_eq!(count(&pg, "SELECT count(DISTINCT id) FROM bench"), 400_000);
    // Once more: every range is finished, nothing is loaded again.
    let r = run(copy(&["--resume"]));
    assert_exit(&r, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM bench"), 400_000);
    verify_equal(
        &my.url(),
        &pg.url(),
        "bench",
        None,
        Some(400_000),
        dir.path(),
    );
}

/// A range whose loader stopped at --max-rejects (exit 3, status failed) is not finished:
/// `ferry copy` fails and says which range, instead of "ok" over missing rows.
#[test]
fn copy_fails_when_a_range_stops_at_the_rejects_limit() {
    let dir = tempfile::tempdir().unwrap();
    let my = MyDb::new("jobs_rej");
    gen_bench(&my.url(), "bench", 30_000, dir.path());
    let pg = PgDb::new("jobs_rej");
    // 1,500 of range 0's keys are already there: its loader rejects 1,000 and stops.
    let ddl = "CREATE TABLE bench (id numeric(20,0) PRIMARY KEY, customer_id integer NOT NULL, quantity integer NOT NULL, \
               sku varchar(32) NOT NULL, description text NOT NULL, amount numeric(12,2) NOT NULL, created_at timestamp NOT NULL, \
               shipped_on date, active boolean NOT NULL, note varchar(100))";
    pg.exec(ddl);
    pg.exec("INSERT INTO bench SELECT g, 1, 1, 's', 'd', 1, now(), NULL, true, NULL FROM generate_series(1, 1500) g");
    let mut c = tool("ferry", dir.path());
    c.args([
        "copy",
        "--source",
        &my.url(),
        "--target",
        &pg.url(),
        "--table",
        "bench",
    ])
    .args(["--jobs", "2", "--batch-size", "500", "--state-dir", "state"]);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 of 2 ranges did not finish") && r.stderr.contains("range 0/2"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("ferry: ok"), "{}", r.stderr);
}

/// Shard reports of different targets (or target tables) do not add up to one table.
#[test]
fn combine_refuses_reports_of_different_targets() {
    let dir = tempfile::tempdir().unwrap();
    let my = source(dir.path());
    let (a, b) = (PgDb::new("comb_a"), PgDb::new("comb_b"));
    for pg in [&a, &b] {
        for i in 0..2 {
            assert_exit(&sh(&shard_pipe(&my, pg, i, 2, ""), dir.path()), 0);
        }
    }
    let mut files = Vec::new();
    for (i, pg) in [(0, &a), (1, &b)] {
        let mut v = tool("verify", dir.path());
        v.args([
            "--source",
            &my.url(),
            "--target",
            &pg.url(),
            "--table",
            "bench",
        ])
        .args([
            "--shard",
            &format!("{i}/2"),
            "-q",
            "--report",
            &format!("v{i}.json"),
        ]);
        assert_exit(&run(v), 0);
        files.push(format!("v{i}.json"));
    }
    let c = combine(&files, dir.path());
    assert_exit(&c, 1);
    assert!(
        c.stderr.contains("DIFFERENT") && c.stderr.contains("compared"),
        "{}",
        c.stderr
    );
    let c = combine(&["nothing.json".to_string()], dir.path());
    assert_exit(&c, 2);
}
