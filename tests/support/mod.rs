//! Shared helpers for the end-to-end tests: find the built binaries, make uniquely named
//! databases on the real servers (dropped again on drop), run tools and query results.
//!
//! Servers: MariaDB on 127.0.0.1:3306 (root, empty password) and PostgreSQL on
//! 127.0.0.1:5432 (user postgres, trust), overridable with FERRY_TEST_MYSQL / FERRY_TEST_PG
//! (base URLs without a database).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

pub mod cloudwatch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// MariaDB base URL (no database).
pub fn mysql_base() -> String {
    std::env::var("FERRY_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The second MariaDB (the two-server tests), started by scripts/services.sh.
pub fn mysql2_base() -> String {
    std::env::var("FERRY_TEST_MYSQL2").unwrap_or_else(|_| "mysql://root@127.0.0.1:3307".into())
}

/// PostgreSQL base URL (no database).
pub fn pg_base() -> String {
    std::env::var("FERRY_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Path of a built binary of the workspace (same profile as the test), or of the one in
/// `FERRY_TEST_BIN_DIR` when set: how a new test is shown to fail on an older build.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = match std::env::var_os("FERRY_TEST_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => exe.parent().unwrap().parent().unwrap().to_path_buf(),
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace` with this profile first",
        p.display()
    );
    p
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        % 1_000_000_000;
    format!("ferry_t_{prefix}_{}_{n}_{t}", std::process::id())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A throwaway MariaDB database.
pub struct MyDb {
    /// Database name.
    pub name: String,
    /// Server base URL.
    pub base: String,
}

impl MyDb {
    /// Creates it on the first server.
    pub fn new(prefix: &str) -> Self {
        Self::new_on(&mysql_base(), prefix)
    }
    /// Creates it on the server at `base`.
    pub fn new_on(base: &str, prefix: &str) -> Self {
        let db = Self::reserve_on(base, prefix);
        my_exec(
            &format!("{base}/"),
            &format!("CREATE DATABASE `{}` CHARACTER SET utf8mb4", db.name),
        );
        db
    }
    /// A unique name on the server at `base`, not created (a tool will create it), dropped
    /// at the end like the others.
    pub fn reserve_on(base: &str, prefix: &str) -> Self {
        MyDb {
            name: unique(prefix),
            base: base.to_string(),
        }
    }
    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.name)
    }
    /// Runs statements.
    pub fn exec(&self, sql: &str) {
        my_exec(&self.url(), sql);
    }
    /// Rows as text (NULL → None); binary values as lowercase hex.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        my_query(&self.url(), sql)
    }
    /// One value.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        self.query(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten()
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            my_exec(
                &format!("{}/", self.base),
                &format!("DROP DATABASE IF EXISTS `{}`", self.name),
            )
        });
    }
}

fn my_opts(url: &str) -> mysql_async::Opts {
    let mut b = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(url).unwrap());
    b = b.init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"]);
    mysql_async::Opts::from(b)
}

/// Runs statements on a MySQL URL.
pub fn my_exec(url: &str, sql: &str) {
    use mysql_async::prelude::*;
    rt().block_on(async {
        let mut c = mysql_async::Conn::new(my_opts(url)).await.unwrap();
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.disconnect().await.unwrap();
    });
}

/// Rows of a query on a MySQL URL, as text.
pub fn my_query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    use mysql_async::prelude::*;
    rt().block_on(async {
        let mut c = mysql_async::Conn::new(my_opts(url)).await.unwrap();
        let rows: Vec<mysql_async::Row> =
            c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.disconnect().await.unwrap();
        rows.into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => None,
                        mysql_async::Value::Bytes(b) => Some(
                            String::from_utf8(b.clone())
                                .unwrap_or_else(|_| b.iter().map(|x| format!("{x:02x}")).collect()),
                        ),
                        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect()
    })
}

/// A throwaway PostgreSQL database.
pub struct PgDb {
    /// Database name.
    pub name: String,
}

impl PgDb {
    /// Creates it.
    pub fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        pg_exec(
            &format!("{}/postgres", pg_base()),
            &format!("CREATE DATABASE \"{name}\""),
        );
        PgDb { name }
    }
    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/{}", pg_base(), self.name)
    }
    /// Runs statements.
    pub fn exec(&self, sql: &str) {
        pg_exec(&self.url(), sql);
    }
    /// Rows as text (PostgreSQL's text output; NULL → None).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        pg_query(&self.url(), sql)
    }
    /// One value.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        self.query(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            pg_exec(
                &format!("{}/postgres", pg_base()),
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            )
        });
    }
}

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.batch_execute("SET TimeZone = 'UTC'; SET extra_float_digits = 1")
        .await
        .unwrap();
    c
}

/// Runs statements on a PostgreSQL URL.
pub fn pg_exec(url: &str, sql: &str) {
    rt().block_on(async {
        let c = pg_connect(url).await;
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// Rows of a query on a PostgreSQL URL, as text.
pub fn pg_query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    rt().block_on(async {
        let c = pg_connect(url).await;
        let msgs = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        msgs.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    })
}

/// The result of running a tool.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A command for a Ferry binary, run in `dir`, with a clean Ferry environment.
pub fn tool(name: &str, dir: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("FERRY_") && !k.starts_with("FERRY_TEST_") {
            c.env_remove(k);
        }
    }
    // The client conventions Ferry reads after its own (docs/configuration.md): a developer's
    // DATABASE_URL or PGPASSWORD must not steer a test.
    for k in ["DATABASE_URL", "PGPASSWORD", "PGPASSFILE"] {
        c.env_remove(k);
    }
    c.env("FERRY_PROGRESS_SECS", "3600").env("NO_COLOR", "1");
    // Every run of every test writes its report (unless the test names one), and `run`
    // checks it against docs/report.schema.json: the report's shape is tested on every
    // path the suite takes, successes, rejects, failures and interrupts.
    c.env("FERRY_REPORT", report_slot());
    c.envs(aws_env());
    c.stdin(Stdio::null());
    c
}

/// The local DynamoDB-compatible server (scripts/services.sh starts moto_server there).
pub fn dynamo_url() -> String {
    std::env::var("FERRY_TEST_DYNAMO").unwrap_or_else(|_| "http://127.0.0.1:5500".into())
}

/// Credentials and region for the local server (it accepts any), unless set already; the
/// instance-metadata lookup is off so a missing variable cannot stall a test.
pub fn aws_env() -> Vec<(&'static str, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "ferry-test"),
        ("AWS_SECRET_ACCESS_KEY", "ferry-test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k, std::env::var(k).unwrap_or_else(|_| v.to_string())))
    .collect()
}

/// A uniquely named DynamoDB table on the local server, deleted when dropped.
pub struct DynTable {
    /// The table name.
    pub name: String,
}

impl DynTable {
    /// A new unique name (the table is created by the tool under test).
    pub fn new(prefix: &str) -> Self {
        DynTable {
            name: unique(prefix),
        }
    }

    /// Every item, via `backup-dynamo -o -`, keyed by `key`, attributes as typed JSON.
    pub fn items(
        &self,
        key: &str,
        dir: &Path,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut c = tool("backup-dynamo", dir);
        c.args([
            "--table",
            &self.name,
            "--endpoint-url",
            &dynamo_url(),
            "-o",
            "-",
            "-q",
        ]);
        let r = run(c);
        assert_exit(&r, 0);
        r.stdout
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v[key]
                        .as_object()
                        .unwrap()
                        .values()
                        .next()
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                    v,
                )
            })
            .collect()
    }
}

impl Drop for DynTable {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .args([
                "-c",
                "import boto3,sys; boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x').delete_table(TableName=sys.argv[2])",
                &dynamo_url(),
                &self.name,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs a command to completion (and checks the report it wrote, see [`tool`]).
pub fn run(mut c: Command) -> Run {
    let out = c.output().unwrap();
    check_report_of(&c);
    out.into()
}

/// A fresh path for a run's report, outside the test's folder (tests list their folders).
fn report_slot() -> PathBuf {
    let dir = std::env::temp_dir().join("ferry-test-reports");
    fs_err::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.json", unique("report")))
}

/// Checks the report a command wrote to its `FERRY_REPORT` slot, if it wrote one, against
/// the schema, then removes it.
pub fn check_report_of(c: &Command) {
    let Some(Some(slot)) = c
        .get_envs()
        .find(|(k, _)| *k == std::ffi::OsStr::new("FERRY_REPORT"))
        .map(|(_, v)| v)
    else {
        return;
    };
    let slot = Path::new(slot);
    let Ok(text) = fs_err::read_to_string(slot) else {
        return;
    };
    let _ = fs_err::remove_file(slot);
    let tool = c.get_program().to_string_lossy().into_owned();
    assert_report_valid(&tool, &text);
}

/// Fails naming `what` and every schema error when `text` is not a valid Ferry report.
pub fn assert_report_valid(what: &str, text: &str) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    });
    let value: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: the report is not JSON ({e}): {text}"));
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the report does not match docs/report.schema.json:\n{}\n{text}",
        errors.join("\n")
    );
}

/// Runs a shell pipeline in `dir` with the binaries' directory first on PATH.
pub fn sh(script: &str, dir: &Path) -> Run {
    let bindir = bin("extract").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("FERRY_PROGRESS_SECS", "3600")
        .env("NO_COLOR", "1")
        .envs(aws_env());
    for (k, _) in std::env::vars() {
        if k.starts_with("FERRY_") && !k.starts_with("FERRY_TEST_") && k != "FERRY_PROGRESS_SECS" {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    c.output().unwrap().into()
}

/// Loads the benchmark fixture with `rows` rows into `url` as `table`.
pub fn gen_bench(url: &str, table: &str, rows: u64, dir: &Path) {
    let mut c = tool("ferry-gen", dir);
    c.args([
        "bench",
        "--target",
        url,
        "--table",
        table,
        "--rows",
        &rows.to_string(),
    ]);
    let r = run(c);
    assert_eq!(r.code, 0, "ferry-gen: {}", r.stderr);
}

/// Loads the awkward-types fixture into a MariaDB URL.
pub fn gen_awkward(url: &str, dir: &Path) {
    let mut c = tool("ferry-gen", dir);
    c.args(["awkward", "--target", url]);
    let r = run(c);
    assert_eq!(r.code, 0, "ferry-gen: {}", r.stderr);
}

/// Asserts a run exited with `code`, showing its stderr otherwise.
#[track_caller]
pub fn assert_exit(r: &Run, code: i32) {
    assert_eq!(
        r.code,
        code,
        "exit code\n--- stderr:\n{}\n--- stdout (head):\n{}",
        r.stderr,
        r.stdout.chars().take(2000).collect::<String>()
    );
}

/// Reads an NDJSON file into JSON values.
pub fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Pseudo-random delay from the clock: each run kills at a different moment.
pub fn jitter_ms(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos % max
}

/// Runs `cmd` with the crash hook (`FERRY_TEST_CRASH_AT=TOOL:N`) so that `tool` aborts just
/// before its `n`th checkpoint, after the unit it records was committed, and asserts that the
/// crash happened (SIGABRT): a crash test cannot pass on a run that simply finished.
pub fn crash_at(mut cmd: Command, tool: &str, n: u64) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let out = cmd
        .env("FERRY_TEST_CRASH_AT", format!("{tool}:{n}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(6),
        "{tool} was to crash before checkpoint {n}, but ended with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{tool} crashed before checkpoint {n}");
    out
}

/// `kill -9` of the whole process group of `child` (started with `process_group(0)`), and
/// asserts that it was the kill that ended it.
pub fn kill_process_group(child: &mut std::process::Child) {
    let pgid = child.id();
    assert!(Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the run was not killed"
    );
}

/// A crash point between `low` and `high` (inclusive), different from run to run.
pub fn crash_point(low: u64, high: u64) -> u64 {
    low + jitter_ms(high - low + 1)
}

/// Runs `verify` of one table between two URLs.
pub fn verify_run(src: &str, dst: &str, table: &str, dir: &Path) -> Run {
    let mut v = tool("verify", dir);
    v.args(["--source", src, "--target", dst, "--table", table]);
    run(v)
}

/// Runs `verify` on `table` (with `--target-table` when given), asserts exit 0 and, when
/// `rows` is given, that both sides have that many rows. Returns verify's stderr.
pub fn verify_equal(
    src: &str,
    dst: &str,
    table: &str,
    target_table: Option<&str>,
    rows: Option<u64>,
    dir: &Path,
) -> String {
    let mut v = tool("verify", dir);
    v.args(["--source", src, "--target", dst, "--table", table]);
    if let Some(t) = target_table {
        v.args(["--target-table", t]);
    }
    let r = run(v);
    assert_exit(&r, 0);
    assert!(r.stderr.contains("verify: EQUAL"), "{}", r.stderr);
    if let Some(n) = rows {
        assert!(
            r.stderr
                .contains(&format!("equal ({n} source rows, {n} target rows")),
            "{}",
            r.stderr
        );
    }
    r.stderr
}

/// Starts tests/tools/fault_proxy.py in front of the local DynamoDB server in `dir`, with
/// the share of BatchWriteItem requests to throttle and to answer with unprocessed items;
/// returns it (kill it when done) and its URL.
pub fn fault_proxy(dir: &Path, throttle: &str, unprocessed: &str) -> (std::process::Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fault_proxy.py");
    let child = Command::new("python3")
        .arg(script)
        .args([&dynamo_url(), "proxy.port", "proxy.stats.json"])
        .args(["--throttle", throttle, "--unprocessed", unprocessed])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tests/tools/fault_proxy.py");
    let port_file = dir.join("proxy.port");
    let start = std::time::Instant::now();
    while !port_file.exists() {
        assert!(start.elapsed().as_secs() < 30, "fault proxy did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let port = fs_err::read_to_string(port_file).expect("read the proxy's port");
    (child, format!("http://127.0.0.1:{}", port.trim()))
}
