//! `load-dynamo` and `backup-dynamo` against the local DynamoDB-compatible server:
//! rejects before sending, faults injected by a proxy (throttling, UnprocessedItems) with
//! nothing lost and every retry counted, kill -9 then `--resume`, backup → restore.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `n` items with exact decimals, nested maps and lists, non-ASCII text.
fn write_items(path: &Path, n: usize, prefix: &str) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let mut text = String::new();
    for i in 0..n {
        let id = format!("{prefix}{i:06}");
        let v = serde_json::json!({
            "id": {"S": id},
            "amount": {"N": format!("{}.{:02}", i * 7919 % 100000, i % 100)},
            "name": {"S": format!("Käufer {i} 株式会社 🚚")},
            "lines": {"L": [{"M": {"qty": {"N": "3.000"}, "sku": {"S": format!("SKU-{i}")}}}]},
            "active": {"BOOL": i % 3 == 0}
        });
        text.push_str(&v.to_string());
        text.push('\n');
        out.insert(id, v);
    }
    fs_err::write(path, text).unwrap();
    out
}

/// Typed JSON as the server returns it: attributes in name order (serde_json maps are
/// ordered), so equal items compare equal.
fn normalized(v: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(&v.to_string()).unwrap()
}

fn load(dir: &Path, file: &str, table: &str, extra: &[&str]) -> Command {
    let mut c = tool("load-dynamo", dir);
    c.args([
        file,
        "--table",
        table,
        "--endpoint-url",
        &dynamo_url(),
        "--create",
        "--key",
        "id:S",
    ]);
    c.args(extra);
    c
}

#[test]
fn rejects_before_sending_and_restores_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("ld");
    let mut want = write_items(&d.join("items.ndjson"), 300, "a");
    // Dirty lines: no key, empty key, an empty set, over 400 KB, not JSON; and one key twice
    // (the later line wins, as in a sequential load).
    let big = "x".repeat(410 * 1024);
    let extra = format!(
        "{}\n{}\n{}\n{}\n{{oops\n{}\n",
        r#"{"amount": {"N": "1"}}"#,
        r#"{"id": {"S": ""}}"#,
        r#"{"id": {"S": "zz1"}, "tags": {"SS": []}}"#,
        serde_json::json!({"id": {"S": "zz2"}, "blob": {"S": big}}),
        r#"{"id": {"S": "a000007"}, "amount": {"N": "7.77"}}"#,
    );
    let mut f = fs_err::read_to_string(d.join("items.ndjson")).unwrap();
    f.push_str(&extra);
    fs_err::write(d.join("items.ndjson"), f).unwrap();
    want.insert(
        "a000007".into(),
        serde_json::json!({"id": {"S": "a000007"}, "amount": {"N": "7.77"}}),
    );

    // Dry run: checks everything, creates and writes nothing.
    let r = run(load(
        d,
        "items.ndjson",
        &t.name,
        &["--dry-run", "--report", "dry.json"],
    ));
    assert_exit(&r, 3);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("dry.json")).unwrap()).unwrap();
    assert_eq!(rep["totals"]["migrated"], 301);
    assert_eq!(rep["dry_run"], true);
    let mut b = tool("backup-dynamo", d);
    b.args([
        "--table",
        &t.name,
        "--endpoint-url",
        &dynamo_url(),
        "-o",
        "-",
    ]);
    let r = run(b);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);

    let r = run(load(d, "items.ndjson", &t.name, &["--report", "load.json"]));
    assert_exit(&r, 3);
    let rejects = read_ndjson(&d.join("items.ndjson.load.rejects.ndjson"));
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(got[0], (301, "key attribute \"id\" (S) is missing"));
    assert_eq!(
        got[1],
        (
            302,
            "key attribute \"id\" is an empty string (DynamoDB refuses it)"
        )
    );
    assert_eq!(
        got[2],
        (
            303,
            "attribute \"tags\": SS is an empty set (DynamoDB refuses empty sets)"
        )
    );
    assert!(
        got[3]
            .1
            .starts_with("item is 419849 bytes, over DynamoDB's 400 KB"),
        "{}",
        got[3].1
    );
    assert_eq!(got[4].0, 305);
    assert!(got[4].1.starts_with("malformed JSON"));
    assert_eq!(rejects.len(), 5);
    let items = t.items("id", d);
    assert_eq!(items.len(), 300);
    for (k, v) in &want {
        assert_eq!(&items[k], &normalized(v), "item {k}");
    }

    // Backup with its key schema, then restore into a new table from the sidecar alone.
    let mut b = tool("backup-dynamo", d);
    b.args([
        "--table",
        &t.name,
        "--endpoint-url",
        &dynamo_url(),
        "-o",
        "backup.ndjson",
        "--segments",
        "3",
    ]);
    assert_exit(&run(b), 0);
    let spec: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("backup.ndjson.dynamo.json")).unwrap())
            .unwrap();
    assert_eq!(spec["key"]["partition"]["name"], "id");
    let restored = DynTable::new("rs");
    let mut c = tool("load-dynamo", d);
    c.args([
        "backup.ndjson",
        "--table",
        &restored.name,
        "--endpoint-url",
        &dynamo_url(),
        "--create",
    ]);
    assert_exit(&run(c), 0);
    assert_eq!(restored.items("id", d), items);
}

#[test]
fn faults_are_retried_counted_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("fp");
    let want = write_items(&d.join("items.ndjson"), 2000, "f");
    let (mut proxy, url) = fault_proxy(d, "0.15", "0.25");
    let mut c = tool("load-dynamo", d);
    c.args([
        "items.ndjson",
        "--table",
        &t.name,
        "--endpoint-url",
        &url,
        "--create",
        "--key",
        "id:S",
        "--max-retries",
        "40",
        "--retry-delay-ms",
        "2",
        "--report",
        "report.json",
        "--log-file",
        "load.log",
    ]);
    let r = run(c);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_exit(&r, 0);
    let stats: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("proxy.stats.json")).unwrap()).unwrap();
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("report.json")).unwrap()).unwrap();
    eprintln!("proxy {stats}\nreport counters {}", rep["counters"]);
    assert!(
        stats["throttled"].as_u64().unwrap() > 0
            && stats["unprocessed_items"].as_u64().unwrap() > 0
    );
    // Every injected fault shows in the report, exactly.
    assert_eq!(rep["counters"]["retried_requests"], stats["throttled"]);
    assert_eq!(
        rep["counters"]["error_ProvisionedThroughputExceededException"],
        stats["throttled"]
    );
    assert_eq!(
        rep["counters"]["retried_unprocessed_items"],
        stats["unprocessed_items"]
    );
    assert_eq!(rep["totals"]["migrated"], 2000);
    assert_eq!(rep["totals"]["errors"], 0);
    let log = fs_err::read_to_string(d.join("load.log")).unwrap();
    assert!(
        log.contains("ProvisionedThroughputExceededException; retry"),
        "{log}"
    );
    assert!(log.contains("unprocessed items; retry"), "{log}");
    // 0 items lost, each exact.
    let items = t.items("id", d);
    assert_eq!(items.len(), 2000);
    for (k, v) in &want {
        assert_eq!(&items[k], &normalized(v), "item {k}");
    }
}

/// Items given up when the retries run out are no bad data: they are in the rejects file
/// (reason "gave up …") so they can be loaded again, the report counts them, and the run
/// fails (exit 1) with one line saying how many and what to do, not exit 3 ("rows rejected
/// as bad data").
#[test]
fn retries_run_out_into_rejects_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("gu");
    write_items(&d.join("items.ndjson"), 100, "g");
    // Every request throttled: nothing can be written; each item ends in the rejects.
    let (mut proxy, url) = fault_proxy(d, "1.0", "0");
    let mut c = tool("load-dynamo", d);
    c.args([
        "items.ndjson",
        "--table",
        &t.name,
        "--endpoint-url",
        &url,
        "--create",
        "--key",
        "id:S",
        "--max-retries",
        "2",
        "--retry-delay-ms",
        "1",
        "--report",
        "report.json",
    ]);
    let r = run(c);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_exit(&r, 1);
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(
        last,
        "load-dynamo: error: 100 items were given up after 2 retries (throttling or transient \
         errors): they are in items.ndjson.load.rejects.ndjson; rerun the load to write them",
        "{}",
        r.stderr
    );
    let rejects = read_ndjson(&d.join("items.ndjson.load.rejects.ndjson"));
    assert_eq!(rejects.len(), 100);
    for r in &rejects {
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("gave up after 2 retries: ProvisionedThroughputExceededException"),
            "{r}"
        );
    }
    let lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        (1..=100).collect::<Vec<u64>>(),
        "in input order, each once"
    );
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["counters"]["gave_up_items"], 100);
    assert_eq!(rep["exit_code"], 1);
    assert_eq!(rep["status"], "failed");
    assert_eq!(rep["rejects_file"], "items.ndjson.load.rejects.ndjson");
    // The rerun the message asks for writes them all.
    let r = run(load(d, "items.ndjson", &t.name, &[]));
    assert_exit(&r, 0);
    assert_eq!(t.items("id", d).len(), 100);
}

#[test]
fn kill_9_then_resume_gives_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("kr");
    let want = write_items(&d.join("items.ndjson"), 30_000, "k");
    // Two bad lines, early and late: each must be in the rejects exactly once.
    let mut f = String::from("{\"no\": {\"S\": \"key\"}}\n");
    f.push_str(&fs_err::read_to_string(d.join("items.ndjson")).unwrap());
    f.push_str("not json\n");
    fs_err::write(d.join("items.ndjson"), f).unwrap();
    let cp = d.join("items.ndjson.load-dynamo.checkpoint.json");
    // Three crashes, each two or three checkpoints (about a second apart) into a resumed
    // run. The pause after each request stretches a whole run to about 12 s, so that every
    // crash lands before the end however fast the server answers.
    for _ in 0..3 {
        let c = load(
            d,
            "items.ndjson",
            &t.name,
            &["--resume", "--concurrency", "2", "--batch-delay-ms", "20"],
        );
        crash_at(c, "load-dynamo", crash_point(2, 3));
        assert!(cp.exists(), "a checkpoint survives the crash");
    }
    let r = run(load(
        d,
        "items.ndjson",
        &t.name,
        &["--resume", "--report", "report.json"],
    ));
    assert_exit(&r, 3);
    let rejects = read_ndjson(&d.join("items.ndjson.load.rejects.ndjson"));
    let lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 30_002]);
    assert!(!cp.exists(), "checkpoint cleared at the end");
    let items = t.items("id", d);
    assert_eq!(items.len(), 30_000);
    for (k, v) in &want {
        assert_eq!(&items[k], &normalized(v), "item {k}");
    }
}

/// Numbers stay exact (a JSON number keeps its text), and what DynamoDB would refuse or
/// silently change is rejected before sending, naming the attribute (path) and the rule:
/// NULL false, a name twice in one object, over 38 significant digits, a magnitude out of
/// range, duplicate set members (NS compared as numbers), empty names.
#[test]
fn numbers_stay_exact_and_refusals_are_named_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("nx");
    let lines = [
        // 1-2: good, with JSON numbers (not strings) that no f64 holds.
        r#"{"id":{"S":"n1"},"big":{"N":12345678901234567890.5},"tiny":{"N":-0.000000000000000000000000000001},"u":{"N":18446744073709551617},"z":{"NULL":true}}"#,
        r#"{"id":{"S":"n2"},"ns":{"NS":[1,"2.50",100000000000000000001]},"top":{"N":"9.9999999999999999999999999999999999999E+125"},"low":{"N":"-1E-130"},"d38":{"N":"12345678901234567890123456789012345678"},"l":{"L":[{"N":0.1},{"M":{"k":{"N":-7E+3}}}]}}"#,
        // 3-15: each refused, naming the attribute and the rule.
        r#"{"id":{"S":"b1"},"gone":{"NULL":false}}"#,
        r#"{"id":{"S":"b2"},"a":{"S":"x"},"a":{"S":"y"}}"#,
        r#"{"id":{"S":"b3"},"m":{"M":{"k":{"N":"1"},"k":{"N":"2"}}}}"#,
        r#"{"id":{"S":"b4"},"p":{"N":"123456789012345678901234567890123456789"}}"#,
        r#"{"id":{"S":"b5"},"p":{"N":"1E-131"}}"#,
        r#"{"id":{"S":"b6"},"p":{"N":-1E126}}"#,
        r#"{"id":{"S":"b7"},"t":{"SS":["a","b","a"]}}"#,
        r#"{"id":{"S":"b8"},"t":{"NS":["1","2","1.0"]}}"#,
        r#"{"id":{"S":"b9"},"t":{"BS":["AAE=","AAE="]}}"#,
        r#"{"id":{"S":"b10"},"":{"S":"x"}}"#,
        r#"{"id":{"S":"b11"},"m":{"M":{"":{"S":"x"}}}}"#,
        r#"{"id":{"S":"b12"},"l":{"L":[{"N":"1"},{"M":{"z":{"NULL":false}}}]}}"#,
        r#"{"id":{"S":"b13"},"q":{"NS":[1e-200]}}"#,
    ];
    fs_err::write(d.join("n.ndjson"), lines.join("\n") + "\n").unwrap();
    let r = run(load(d, "n.ndjson", &t.name, &["--report", "n.json"]));
    assert_exit(&r, 3);
    let rejects = read_ndjson(&d.join("n.ndjson.load.rejects.ndjson"));
    let got: Vec<(u64, &str, &str)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["column"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let dup = "DynamoDB refuses duplicate set members";
    let want: Vec<(u64, &str, String)> = vec![
        (3, "gone", r#"attribute "gone": NULL must be true"#.into()),
        (4, "a", r#"attribute "a": the name appears twice in one object (DynamoDB keeps one value per name)"#.into()),
        (5, "m", r#"attribute "m.k": the name appears twice in one object (DynamoDB keeps one value per name)"#.into()),
        (6, "p", r#"attribute "p": N "123456789012345678901234567890123456789" has 39 significant digits (DynamoDB keeps at most 38)"#.into()),
        (7, "p", r#"attribute "p": N "1E-131" is nearer zero than 1E-130 (DynamoDB's smallest magnitude)"#.into()),
        (8, "p", r#"attribute "p": N "-1E126" is beyond 9.9999999999999999999999999999999999999E+125 (DynamoDB's largest magnitude)"#.into()),
        (9, "t", format!(r#"attribute "t": SS holds "a" twice ({dup})"#)),
        (10, "t", format!(r#"attribute "t": NS holds "1" and "1.0", the same number ({dup})"#)),
        (11, "t", format!(r#"attribute "t": BS holds "AAE=" twice ({dup})"#)),
        (12, "", r#"attribute "": empty attribute name (DynamoDB refuses it)"#.into()),
        (13, "m", r#"attribute "m": a key of the map is empty (DynamoDB refuses empty attribute names)"#.into()),
        (14, "l", r#"attribute "l[1].z": NULL must be true"#.into()),
        (15, "q", r#"attribute "q": N "1e-200" is nearer zero than 1E-130 (DynamoDB's smallest magnitude)"#.into()),
    ];
    let got_owned: Vec<(u64, &str, String)> = got
        .iter()
        .map(|(l, c, r)| (*l, *c, r.to_string()))
        .collect();
    assert_eq!(got_owned, want, "{}", r.stderr);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("n.json")).unwrap()).unwrap();
    assert_eq!(rep["totals"]["migrated"], 2);
    assert_eq!(rep["totals"]["errors"], 13);

    // The two good items arrive exactly: every number as the text it was written in.
    let items = t.items("id", d);
    let expected = [
        serde_json::json!({"id":{"S":"n1"},"big":{"N":"12345678901234567890.5"},"tiny":{"N":"-0.000000000000000000000000000001"},"u":{"N":"18446744073709551617"},"z":{"NULL":true}}),
        serde_json::json!({"id":{"S":"n2"},"ns":{"NS":["1","2.50","100000000000000000001"]},"top":{"N":"9.9999999999999999999999999999999999999E+125"},"low":{"N":"-1E-130"},"d38":{"N":"12345678901234567890123456789012345678"},"l":{"L":[{"N":"0.1"},{"M":{"k":{"N":"-7E+3"}}}]}}),
    ];
    assert_eq!(items.len(), 2, "{items:?}");
    for e in expected {
        let id = e["id"]["S"].as_str().unwrap();
        let mut got = items[id].clone();
        // A set comes back in the server's order.
        if let Some(ns) = got.pointer_mut("/ns/NS").and_then(|v| v.as_array_mut()) {
            ns.sort_by_key(|v| v.as_str().unwrap().len());
        }
        assert_eq!(got, normalized(&e), "item {id}");
    }
}

/// `--input FILE` is the positional FILE (both at once: usage error), and `--fixed-delay`
/// waits exactly `--retry-delay-ms` before every retry.
#[test]
fn input_flag_and_fixed_retry_delay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("fd");
    write_items(&d.join("items.ndjson"), 30, "f");
    let (mut proxy, url) = fault_proxy(d, "1.0", "0");
    let mut c = tool("load-dynamo", d);
    c.args([
        "--input",
        "items.ndjson",
        "--table",
        &t.name,
        "--endpoint-url",
        &url,
    ]);
    c.args(["--create", "--key", "id:S", "--concurrency", "1"]);
    c.args([
        "--max-retries",
        "3",
        "--retry-delay-ms",
        "30",
        "--fixed-delay",
    ]);
    let r = run(c);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_exit(&r, 1);
    let waits: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.split_once("; retry ").map(|(_, w)| w))
        .collect();
    assert_eq!(
        waits,
        ["1/3 in 30 ms", "2/3 in 30 ms", "3/3 in 30 ms"].repeat(2),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("30 items were given up after 3 retries"));

    let mut both = load(d, "items.ndjson", &t.name, &["--input", "items.ndjson"]);
    both.env("FERRY_ENDPOINT_URL", dynamo_url());
    let r = run(both);
    assert_exit(&r, 2);
    assert!(
        r.stderr.starts_with(
            "load-dynamo: error: the argument '[FILE]' cannot be used with '--input <FILE>'"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// `restore-dynamo` (or `backup-dynamo`) against the local server, in `d`.
fn dyn_tool(name: &str, d: &Path, args: &[&str]) -> Command {
    let mut c = tool(name, d);
    c.args(args).args(["--endpoint-url", &dynamo_url()]);
    c
}

/// The backups in `dir` (item files, not sidecars), sorted.
fn backups_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".ndjson"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Items of a backup file keyed by `id`, as the server would return them.
fn backup_items(path: &Path) -> BTreeMap<String, serde_json::Value> {
    read_ndjson(path)
        .into_iter()
        .map(|v| (v["id"]["S"].as_str().unwrap().to_string(), normalized(&v)))
        .collect()
}

/// Three backups of one table within one second (two by backup-dynamo, one by
/// load-dynamo --backup-before-load) are three files, each whole; none overwrote another.
fn three_backups_in_one_second(d: &Path, table: &str) -> Vec<String> {
    fs_err::write(d.join("empty.ndjson"), "").unwrap();
    for _ in 0..5 {
        let _ = fs_err::remove_dir_all(d.join("data/backups"));
        // Start just after a second begins, so that the three runs share it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(
            1000 - u64::from(now.subsec_millis()) + 5,
        ));
        let second =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let start = second(std::time::SystemTime::now());
        assert_exit(
            &run(dyn_tool("backup-dynamo", d, &["--table", table, "-q"])),
            0,
        );
        assert_exit(
            &run(dyn_tool("backup-dynamo", d, &["--table", table, "-q"])),
            0,
        );
        let mut l = load(d, "empty.ndjson", table, &["--backup-before-load", "-q"]);
        l.env("FERRY_ENDPOINT_URL", dynamo_url());
        assert_exit(&run(l), 0);
        if second(std::time::SystemTime::now()) == start {
            return backups_in(&d.join("data/backups"));
        }
        eprintln!("the three backups took more than a second; again");
    }
    panic!("could not run three backups within one second");
}

/// Two (three) backups in the same second never share a name; `restore-dynamo` returns a
/// table to exactly the backed-up set (puts every item, deletes what the backup does not
/// hold), `--dry-run` only counts, and a missing table is created from the sidecar.
#[test]
fn backups_never_collide_and_restore_returns_exactly_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = DynTable::new("rb");
    write_items(&d.join("items.ndjson"), 50, "r");
    assert_exit(&run(load(d, "items.ndjson", &t.name, &[])), 0);

    let names = three_backups_in_one_second(d, &t.name);
    assert_eq!(names.len(), 3, "{names:?}");
    let first = d.join("data/backups").join(&names[0]);
    let want = backup_items(&first);
    assert_eq!(want.len(), 50);
    for n in &names {
        assert!(n.starts_with(&format!("{}-", t.name)), "{n}");
        let p = d.join("data/backups").join(n);
        assert_eq!(backup_items(&p), want, "{n} is whole");
        assert!(p.with_file_name(format!("{n}.dynamo.json")).exists(), "{n}");
    }

    // After the backup: 20 new items, one item changed, one deleted.
    write_items(&d.join("more.ndjson"), 20, "x");
    assert_exit(&run(load(d, "more.ndjson", &t.name, &[])), 0);
    fs_err::write(
        d.join("changed.ndjson"),
        "{\"id\":{\"S\":\"r000003\"},\"amount\":{\"N\":\"0\"}}\n",
    )
    .unwrap();
    assert_exit(&run(load(d, "changed.ndjson", &t.name, &[])), 0);
    let del = Command::new("python3")
        .args([
            "-c",
            "import boto3,sys; boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x').delete_item(TableName=sys.argv[2], Key={'id': {'S': 'r000007'}})",
            &dynamo_url(),
            &t.name,
        ])
        .status()
        .unwrap();
    assert!(del.success());
    let before = t.items("id", d);
    assert_eq!(before.len(), 69);

    // Dry run: the counts, and nothing changes.
    let backup = first.to_str().unwrap();
    let r = run(dyn_tool(
        "restore-dynamo",
        d,
        &["--backup", backup, "--dry-run", "--report", "dry.json"],
    ));
    assert_exit(&r, 0);
    assert!(
        r.stderr
            .contains("would restore 50 items, would delete 20 items not in the backup"),
        "{}",
        r.stderr
    );
    assert_eq!(t.items("id", d), before, "a dry run changes nothing");
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("dry.json")).unwrap()).unwrap();
    assert_eq!(rep["dry_run"], true);
    assert_eq!(rep["counters"]["deleted_items"], 20);

    // The restore: the table (read by a fresh backup) is the backup, item for item.
    let r = run(dyn_tool(
        "restore-dynamo",
        d,
        &["--backup", backup, "--report", "restore.json"],
    ));
    assert_exit(&r, 0);
    assert!(
        r.stderr
            .contains("restored 50 items, deleted 20 items not in the backup"),
        "{}",
        r.stderr
    );
    assert_eq!(t.items("id", d), want);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(d.join("restore.json")).unwrap()).unwrap();
    assert_eq!(rep["exit_code"], 0);
    assert_eq!(rep["totals"]["migrated"], 50);
    assert_eq!(rep["counters"]["deleted_items"], 20);

    // Into a table that does not exist: created from the sidecar's keys.
    let copy = DynTable::new("rc");
    let r = run(dyn_tool(
        "restore-dynamo",
        d,
        &["--backup", backup, "--table", &copy.name],
    ));
    assert_exit(&r, 0);
    assert_eq!(copy.items("id", d), want);

    // No sidecar, no table: nothing to create it from (usage, exit 2).
    fs_err::copy(&first, d.join("bare.ndjson")).unwrap();
    let gone = DynTable::new("rg");
    let r = run(dyn_tool(
        "restore-dynamo",
        d,
        &["--backup", "bare.ndjson", "--table", &gone.name],
    ));
    assert_exit(&r, 2);
    let r = run(dyn_tool("restore-dynamo", d, &["--backup", "bare.ndjson"]));
    assert_exit(&r, 2);
    assert!(r.stderr.contains("--table"), "{}", r.stderr);
}
