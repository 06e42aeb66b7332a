//! `apply-migrations`: applies a directory of SQL migration files to PostgreSQL, each file
//! once, and records every file in a tracking table.
//!
//! The rules are the LUStores migration script's (`docs/tools/apply-migrations.md`), with one
//! deliberate fix: a file's statements and its tracking row commit together, one transaction
//! per file. The script committed only at certain points, so a failure also rolled back the
//! files run since the last one, records and all, even when the run then carried on (an
//! "already exists" file) and reported them applied.

use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::{Endpoint, Engine, TargetArgs};
use ferry_shared::sql::{quote_pg, split_qualified};
use ferry_shared::{DbCode, DbContext, DbError, Exit, FerryError, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

const TOOL: &str = "apply-migrations";

const EXAMPLES: &str = "\
Examples:
  apply-migrations --target postgres://postgres@127.0.0.1/app --migrations-dir migrations
  apply-migrations --target postgres://postgres@127.0.0.1/app --migrations-dir migrations --dry-run
  apply-migrations --target postgres://app@db.example/app --migrations-dir migrations --report applied.json
  apply-migrations --target postgres://app@db.example/app --migrations-dir migrations --tracking-table ops.schema_history";

/// `--target` of a tool that writes only to PostgreSQL.
pub(crate) const PG_TARGET_HELP: &str = "Target URL: postgres://USER@HOST:PORT/DB (or \
postgresql://; else DATABASE_URL). The password comes from FERRY_TARGET_PASSWORD, a .env \
file or --target-password-file";

/// Command line of `apply-migrations`.
#[derive(Parser, Debug)]
#[command(
    name = "apply-migrations",
    version,
    about = "Apply a directory of SQL migration files to PostgreSQL, each once, in name order, recorded in a tracking table.",
    after_help = EXAMPLES,
    mut_arg("target", |a| a.help(PG_TARGET_HELP))
)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Directory of migration files: its `*.sql` files (not subdirectories), in byte order
    /// of their names.
    #[arg(long, alias = "dir", value_name = "DIR")]
    migrations_dir: PathBuf,
    /// Tracking table, created if missing; SCHEMA.TABLE allowed.
    #[arg(long, default_value = "applied_migrations", value_name = "NAME")]
    tracking_table: String,
    /// Say what each file would do and change nothing (not even create the tracking table).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// One migration file, read whole.
#[derive(Debug, Clone)]
pub struct Migration {
    /// File name, `0001_init.sql`.
    file: String,
    /// Tracking name: the file name without `.sql`.
    name: String,
    /// The file's text, sent as one simple-query batch.
    sql: String,
}

/// What a file's text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nothing but whitespace.
    Empty,
    /// Only blank lines and `--` comments.
    CommentOnly,
    /// At least one line that is neither.
    Statements,
}

impl Kind {
    /// The rule is the reference script's: a file without an executable line is recorded
    /// without being sent (migration folders hold "already applied to init.sql" notes that
    /// must count as applied). A `/* */` comment counts as executable, as it did there.
    fn of(sql: &str) -> Kind {
        if sql.trim().is_empty() {
            Kind::Empty
        } else if sql
            .lines()
            .map(str::trim)
            .all(|l| l.is_empty() || l.starts_with("--"))
        {
            Kind::CommentOnly
        } else {
            Kind::Statements
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Empty => "empty",
            Kind::CommentOnly => "comment-only",
            Kind::Statements => "statements",
        }
    }
}

/// What happened to a file, as the JSON report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its statements ran and its row was inserted, in one committed transaction.
    Applied,
    /// Empty or comment-only: recorded, nothing sent.
    RecordedWithoutRunning,
    /// It failed with "already exists" or "duplicate": rolled back, then recorded.
    AlreadyExistsRecorded,
    /// Its name was already in the tracking table.
    AlreadyApplied,
    /// It failed with any other error; the run stopped here.
    Failed,
    /// Not reached: an earlier file failed.
    NotAttempted,
    /// Dry run: it would be run.
    WouldApply,
    /// Dry run: it would be recorded without running (empty or comment-only).
    WouldRecordWithoutRunning,
}

/// One file's line in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// File name.
    pub file: String,
    /// Tracking name.
    pub migration_name: String,
    /// What happened.
    pub status: Status,
    /// "empty", "comment-only" or "statements".
    pub content: &'static str,
    /// Seconds spent on it (files that were sent or recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// The server's error: for `failed`, and for `already_exists_recorded` (why it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FileError>,
}

/// A server error raised by a migration file.
#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    /// Line in the file, from the server's error position (none for errors without one).
    pub line: Option<u64>,
    /// SQLSTATE, e.g. `42P01`.
    pub sqlstate: Option<String>,
    /// The server's message (with its detail).
    pub message: String,
}

/// Files per status, every status always present so `jq .counts.applied` never reads null.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    applied: usize,
    recorded_without_running: usize,
    already_exists_recorded: usize,
    already_applied: usize,
    failed: usize,
    not_attempted: usize,
    would_apply: usize,
    would_record_without_running: usize,
}

impl Counts {
    fn of(files: &[FileReport]) -> Counts {
        let mut c = Counts::default();
        for f in files {
            *match f.status {
                Status::Applied => &mut c.applied,
                Status::RecordedWithoutRunning => &mut c.recorded_without_running,
                Status::AlreadyExistsRecorded => &mut c.already_exists_recorded,
                Status::AlreadyApplied => &mut c.already_applied,
                Status::Failed => &mut c.failed,
                Status::NotAttempted => &mut c.not_attempted,
                Status::WouldApply => &mut c.would_apply,
                Status::WouldRecordWithoutRunning => &mut c.would_record_without_running,
            } += 1;
        }
        c
    }
}

/// The JSON report (`--report`): the run and every file's status.
#[derive(Debug, Serialize)]
pub struct Report {
    tool: &'static str,
    started_at: String,
    finished_at: String,
    duration_secs: f64,
    dry_run: bool,
    /// The target URL, password replaced by `***`.
    target: String,
    dir: String,
    table: String,
    /// "ok" or "failed".
    status: &'static str,
    exit_code: u8,
    counts: Counts,
    files: Vec<FileReport>,
    /// The error that stopped the run, as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip)]
    clock: Option<Instant>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Report {
    fn start(args: &Args, ep: &Endpoint) -> Report {
        Report {
            tool: TOOL,
            started_at: now(),
            finished_at: String::new(),
            duration_secs: 0.0,
            dry_run: args.dry_run,
            target: ep.to_string(),
            dir: args.migrations_dir.display().to_string(),
            table: args.tracking_table.clone(),
            status: "running",
            exit_code: 0,
            counts: Counts::default(),
            files: Vec::new(),
            error: None,
            clock: Some(Instant::now()),
        }
    }

    /// Closes the report. Files the run never reached are listed as `not_attempted`, so the
    /// report always names every file of the directory.
    fn finish(&mut self, migrations: &[Migration], outcome: &Result<()>) {
        for m in migrations.iter().skip(self.files.len()) {
            self.files.push(FileReport::new(m, Status::NotAttempted));
        }
        self.finished_at = now();
        self.duration_secs = self.clock.map_or(0.0, |c| c.elapsed().as_secs_f64());
        self.counts = Counts::of(&self.files);
        (self.status, self.exit_code) = match outcome {
            Ok(()) => ("ok", Exit::Ok.code()),
            Err(e) => ("failed", e.exit().code()),
        };
        self.error = outcome.as_ref().err().map(ToString::to_string);
    }

    /// The last line of a run: what it did, in the words of the per-file lines.
    fn summary(&self) -> String {
        let c = &self.counts;
        if self.dry_run {
            return format!(
                "dry run: {} would be applied, {} recorded without running, {} already applied; nothing changed ({:.2}s)",
                c.would_apply, c.would_record_without_running, c.already_applied, self.duration_secs
            );
        }
        let mut parts = vec![format!("{} applied", c.applied)];
        if c.recorded_without_running > 0 {
            parts.push(format!(
                "{} recorded without running",
                c.recorded_without_running
            ));
        }
        if c.already_exists_recorded > 0 {
            parts.push(format!(
                "{} recorded after \"already exists\"",
                c.already_exists_recorded
            ));
        }
        parts.push(format!("{} already applied", c.already_applied));
        if c.failed > 0 {
            parts.push(format!("{} failed", c.failed));
        }
        if c.not_attempted > 0 {
            parts.push(format!("{} not attempted", c.not_attempted));
        }
        format!(
            "{} ({} files, {:.2}s)",
            parts.join(", "),
            self.files.len(),
            self.duration_secs
        )
    }
}

impl FileReport {
    fn new(m: &Migration, status: Status) -> FileReport {
        FileReport {
            file: m.file.clone(),
            migration_name: m.name.clone(),
            status,
            content: Kind::of(&m.sql).label(),
            duration_secs: None,
            error: None,
        }
    }
}

/// The tracking table's name, quoted once for every statement that names it.
struct TrackingTable {
    /// As given on the command line, for messages.
    given: String,
    /// Quoted (`"schema"."table"` or `"table"`).
    quoted: String,
}

impl TrackingTable {
    fn parse(name: &str) -> Result<TrackingTable> {
        if name.trim().is_empty() {
            return Err(FerryError::Usage(
                "--tracking-table: empty table name".into(),
            ));
        }
        let quoted = match split_qualified(name) {
            (Some(schema), table) => format!("{}.{}", quote_pg(schema), quote_pg(table)),
            (None, table) => quote_pg(table),
        };
        Ok(TrackingTable {
            given: name.to_string(),
            quoted,
        })
    }

    /// The session advisory lock's key: a hash of the quoted name, so runs on the same
    /// tracking table exclude each other and runs on different tables (other applications
    /// in the same database) do not.
    fn lock_key(&self) -> i64 {
        let h = xxhash_rust::xxh3::xxh3_64(
            format!("ferry apply-migrations {}", self.quoted).as_bytes(),
        );
        i64::from_ne_bytes(h.to_ne_bytes())
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id SERIAL PRIMARY KEY, migration_name VARCHAR(255) NOT NULL UNIQUE, applied_at TIMESTAMP DEFAULT now())",
            self.quoted
        )
    }

    /// Plain insert: inside a file's transaction a conflict must fail and undo the file.
    fn insert_sql(&self) -> String {
        format!("INSERT INTO {} (migration_name) VALUES ($1)", self.quoted)
    }

    /// Insert that tolerates a row already there: for files recorded without their statements.
    fn record_sql(&self) -> String {
        format!(
            "INSERT INTO {} (migration_name) VALUES ($1) ON CONFLICT DO NOTHING",
            self.quoted
        )
    }
}

/// The `*.sql` file names of `dir`, sorted as plain byte strings, as the reference sorts
/// them: `0002_b` before `002_a`, digits before letters, capitals before small letters.
/// Dot files (editor backups) are left out, as a shell glob leaves them out.
fn list_sql_files(dir: &Path) -> Result<Vec<String>> {
    let shown = dir.display();
    match fs_err::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FerryError::Usage(format!(
                "--migrations-dir {shown} is not a directory"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FerryError::NotFound(format!(
                "--migrations-dir {shown}: no such directory"
            )))
        }
        Err(e) => return Err(FerryError::Io(e)),
    }
    let mut names = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let raw = entry.file_name();
        let lossy = raw.to_string_lossy();
        if !lossy.ends_with(".sql") || lossy.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let name = raw.into_string().map_err(|n| {
            FerryError::Usage(format!(
                "--migrations-dir {shown}: file name {n:?} is not UTF-8"
            ))
        })?;
        names.push(name);
    }
    if names.is_empty() {
        return Err(FerryError::Usage(format!(
            "--migrations-dir {shown} holds no .sql files"
        )));
    }
    names.sort_unstable();
    Ok(names)
}

/// Reads every migration before anything is applied, so an unreadable file stops the run
/// before the first change rather than half-way.
fn read_migrations(dir: &Path) -> Result<Vec<Migration>> {
    let mut out = Vec::new();
    for file in list_sql_files(dir)? {
        let name = file.strip_suffix(".sql").unwrap_or(&file).to_string();
        if name.chars().count() > 255 {
            return Err(FerryError::Usage(format!(
                "{file}: the name is longer than the tracking column's 255 characters"
            )));
        }
        let sql = fs_err::read_to_string(dir.join(&file))?;
        out.push(Migration { file, name, sql });
    }
    Ok(out)
}

impl Migration {
    /// A migration whose text is already in memory (a tool that ships its migrations).
    pub fn new(file: &str, sql: &str) -> Migration {
        let name = file.strip_suffix(".sql").unwrap_or(file).to_string();
        Migration {
            file: file.to_string(),
            name,
            sql: sql.to_string(),
        }
    }

    /// The file name.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// The migrations of `dir`, read whole, in the order they are applied.
pub fn read_dir(dir: &Path) -> Result<Vec<Migration>> {
    read_migrations(dir)
}

/// Applies the files not yet recorded in `table`, in order, inside a transaction the caller
/// owns, and records each. For a tool whose schema change and data changes must commit or
/// fail together (the ABParts restructuring). The rules are this tool's but one: inside a
/// single transaction a failed statement aborts everything, so "already exists" stops too
/// (write the files idempotent). Returns the names applied.
pub async fn apply_in_transaction(
    tx: &tokio_postgres::Transaction<'_>,
    migrations: &[Migration],
    table: &str,
) -> Result<Vec<String>> {
    let t = TrackingTable::parse(table)?;
    tx.batch_execute(&t.create_sql())
        .await
        .with_db_context(|| format!("create the tracking table {}", t.given))?;
    let rows = tx
        .query(&format!("SELECT migration_name FROM {}", t.quoted), &[])
        .await
        .with_db_context(|| format!("read the tracking table {}", t.given))?;
    let applied: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut done = Vec::new();
    for m in migrations.iter().filter(|m| !applied.contains(&m.name)) {
        if Kind::of(&m.sql) == Kind::Statements {
            if let Err(e) = tx.batch_execute(&m.sql).await {
                let detail = file_error(&m.sql, &e);
                return Err(Stop::in_file(m, detail, e).error);
            }
        }
        tx.execute(&t.insert_sql(), &[&m.name])
            .await
            .with_db_context(|| format!("record {} in {}", m.file, t.given))?;
        done.push(m.name.clone());
    }
    Ok(done)
}

/// The target: a PostgreSQL URL that names its database. Required, because applying a
/// schema to the user's default database by accident is hard to undo.
fn postgres_target(args: &TargetArgs) -> Result<Endpoint> {
    let ep = args.endpoint_or_database_url()?;
    if ep.engine != Engine::Postgres {
        return Err(FerryError::Usage(format!(
            "--target {ep} is not a postgres:// URL"
        )));
    }
    ep.require_database()?;
    Ok(ep)
}

/// Connects, then puts back the database's own session settings: Ferry's connection sets
/// UTC and ISO styles for exact extracts, but a migration must run as `psql` would run it
/// (a `now()::date` default, a text-to-date cast), and `applied_at` is the server's local time.
async fn connect(ep: &Endpoint) -> Result<Client> {
    let client = ferry_shared::conn::connect_postgres(ep).await?;
    client
        .batch_execute(
            "RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits",
        )
        .await
        .db_context("reset the session settings")?;
    Ok(client)
}

async fn table_exists(client: &Client, t: &TrackingTable) -> Result<bool> {
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.quoted])
        .await
        .with_db_context(|| format!("look for the tracking table {}", t.given))?;
    Ok(row.get(0))
}

/// Creates the tracking table when missing. Looked up first so that the usual case (it
/// exists) sends no `CREATE … IF NOT EXISTS` and its notice does not show in every run's log.
async fn ensure_table(client: &Client, t: &TrackingTable) -> Result<()> {
    if table_exists(client, t).await? {
        return Ok(());
    }
    client
        .batch_execute(&t.create_sql())
        .await
        .with_db_context(|| format!("create the tracking table {}", t.given))?;
    tracing::info!("created the tracking table {}", t.given);
    Ok(())
}

async fn applied_names(client: &Client, t: &TrackingTable) -> Result<HashSet<String>> {
    let rows = client
        .query(&format!("SELECT migration_name FROM {}", t.quoted), &[])
        .await
        .with_db_context(|| format!("read the tracking table {}", t.given))?;
    // try_get: a table of that name with a non-text migration_name is an error, not a panic.
    rows.iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<_, _>>()
        .with_db_context(|| format!("read migration_name from {}", t.given))
}

/// Takes the session advisory lock of the tracking table, waiting for a run that holds it.
/// Taken before the applied names are read, so a second run sees the first run's records
/// and cannot apply a file twice. The server releases it when the connection closes, also
/// when the run dies.
async fn lock(client: &Client, t: &TrackingTable) -> Result<()> {
    let key = t.lock_key();
    tracing::debug!("advisory lock key {key} for {}", t.given);
    let got: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await
        .db_context("take the advisory lock")?
        .get(0);
    if !got {
        tracing::info!(
            "another run holds the lock on {}; waiting for it to finish",
            t.given
        );
        client
            .query_one("SELECT pg_advisory_lock($1)", &[&key])
            .await
            .db_context("wait for the advisory lock")?;
    }
    Ok(())
}

/// The line of the file that a server error position points at. PostgreSQL counts the
/// position in characters from 1 over the whole batch, which is the whole file.
fn line_at(sql: &str, position: u32) -> u64 {
    let before = position.saturating_sub(1) as usize;
    1 + sql.chars().take(before).filter(|&c| c == '\n').count() as u64
}

/// The line of the statement that fails, for an error the server gave without a position
/// (found while executing, not parsing): the file is replayed statement by statement in a
/// transaction that is then rolled back, as the failed run's was.
async fn locate(client: &mut Client, sql: &str) -> Option<u64> {
    let tx = client.transaction().await.ok()?;
    for (line, statement) in ferry_shared::sql_split::statements(sql) {
        if let Err(e) = tx.batch_execute(statement).await {
            let within = e.as_db_error().and_then(|d| match d.position() {
                Some(ErrorPosition::Original(p)) => Some(line_at(statement, *p) - 1),
                _ => None,
            });
            return Some(line + within.unwrap_or(0));
        }
    }
    None
}

/// A file's error as the report and the messages show it.
fn file_error(sql: &str, e: &tokio_postgres::Error) -> FileError {
    let line = e.as_db_error().and_then(|d| match d.position() {
        Some(ErrorPosition::Original(p)) => Some(line_at(sql, *p)),
        _ => None,
    });
    FileError {
        line,
        sqlstate: e.code().map(|c| c.code().to_string()),
        message: ferry_shared::DriverError::message(e),
    }
}

impl FileError {
    /// "at line 3", or why there is no line.
    fn place(&self) -> String {
        match self.line {
            Some(n) => format!("at line {n}"),
            None => "(the server gave no position)".into(),
        }
    }

    /// "SQLSTATE 42P01: relation "x" does not exist".
    fn text(&self) -> String {
        match &self.sqlstate {
            Some(code) => format!("SQLSTATE {code}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The reference's rule for a failed file: a server error whose text (lower-cased) says
/// "already exists" or "duplicate" means the change is already there. Only server errors
/// count: a lost connection is never taken for an applied file.
fn already_exists(e: &tokio_postgres::Error) -> bool {
    if e.as_db_error().is_none() {
        return false;
    }
    let text = ferry_shared::DriverError::message(e).to_lowercase();
    text.contains("already exists") || text.contains("duplicate")
}

/// Runs a whole file and inserts its tracking row in one transaction: both commit, or
/// neither does (the deliberate fix over the reference script's shared commit points).
async fn run_in_transaction(
    client: &mut Client,
    t: &TrackingTable,
    m: &Migration,
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(&m.sql).await?;
    tx.execute(&t.insert_sql(), &[&m.name]).await?;
    tx.commit().await
    // On an error `tx` is dropped here, which rolls the transaction back.
}

/// Records a file as applied without running it (one statement, its own transaction).
async fn record(client: &Client, t: &TrackingTable, m: &Migration) -> Result<()> {
    client
        .execute(&t.record_sql(), &[&m.name])
        .await
        .with_db_context(|| format!("record {} in {}", m.file, t.given))?;
    Ok(())
}

/// Why a file stopped the run: the server's error in the file, when that was the cause.
struct Stop {
    detail: Option<FileError>,
    error: FerryError,
}

impl From<FerryError> for Stop {
    fn from(error: FerryError) -> Self {
        Stop {
            detail: None,
            error,
        }
    }
}

impl Stop {
    /// The one error line: the file, the line in it, the SQLSTATE and the server's words.
    fn in_file(m: &Migration, detail: FileError, e: tokio_postgres::Error) -> Stop {
        let error = DbError {
            context: format!("migration {} failed {}", m.file, detail.place()),
            message: detail.text(),
            code: detail.sqlstate.clone().map(DbCode::SqlState),
            source: Some(Box::new(e)),
        };
        Stop {
            detail: Some(detail),
            error: error.into(),
        }
    }
}

/// Applies one pending file by the rules; returns its status and, for a file recorded
/// after "already exists", the error that made it so.
async fn apply_one(
    client: &mut Client,
    t: &TrackingTable,
    m: &Migration,
) -> std::result::Result<(Status, Option<FileError>), Stop> {
    let kind = Kind::of(&m.sql);
    if kind != Kind::Statements {
        record(client, t, m).await?;
        tracing::info!("recorded {} ({}, nothing to run)", m.name, kind.label());
        return Ok((Status::RecordedWithoutRunning, None));
    }
    let started = Instant::now();
    let Err(e) = run_in_transaction(client, t, m).await else {
        let secs = started.elapsed().as_secs_f64();
        tracing::info!("applied {} in {secs:.2}s", m.name);
        return Ok((Status::Applied, None));
    };
    let mut detail = file_error(&m.sql, &e);
    if !already_exists(&e) {
        if detail.line.is_none() {
            detail.line = locate(client, &m.sql).await;
        }
        return Err(Stop::in_file(m, detail, e));
    }
    record(client, t, m).await?;
    tracing::warn!(
        "recorded {} as applied without its changes: it failed{} with {}, which counts as already applied; its statements were rolled back",
        m.name,
        detail.line.map(|n| format!(" at line {n}")).unwrap_or_default(),
        detail.text()
    );
    Ok((Status::AlreadyExistsRecorded, Some(detail)))
}

/// The real run: lock, tracking table, then each file in order until one fails.
async fn apply_all(
    client: &mut Client,
    t: &TrackingTable,
    migrations: &[Migration],
    files: &mut Vec<FileReport>,
) -> Result<()> {
    lock(client, t).await?;
    ensure_table(client, t).await?;
    let applied = applied_names(client, t).await?;
    for (i, m) in migrations.iter().enumerate() {
        if applied.contains(&m.name) {
            tracing::info!("skipped {} (already applied)", m.name);
            files.push(FileReport::new(m, Status::AlreadyApplied));
            continue;
        }
        let started = Instant::now();
        let result = apply_one(client, t, m).await;
        let mut entry = FileReport::new(m, Status::Failed);
        entry.duration_secs = Some(started.elapsed().as_secs_f64());
        match result {
            Ok((status, error)) => {
                entry.status = status;
                entry.error = error;
                files.push(entry);
            }
            Err(stop) => {
                entry.error = stop.detail;
                files.push(entry);
                report_rest(&migrations[i + 1..], &applied, files);
                return Err(stop.error);
            }
        }
    }
    Ok(())
}

/// The files after a failed one: those recorded before are `already_applied` (so the
/// report's counts match the tracking table), the rest `not_attempted`.
fn report_rest(rest: &[Migration], applied: &HashSet<String>, files: &mut Vec<FileReport>) {
    for m in rest {
        let status = if applied.contains(&m.name) {
            Status::AlreadyApplied
        } else {
            Status::NotAttempted
        };
        files.push(FileReport::new(m, status));
    }
}

/// The dry run: what each file would do, read in a read-only session so that nothing can
/// change, and without the lock, so it never waits for a real run.
async fn dry_run(
    client: &Client,
    t: &TrackingTable,
    migrations: &[Migration],
    files: &mut Vec<FileReport>,
) -> Result<()> {
    client
        .batch_execute("SET default_transaction_read_only = on")
        .await
        .db_context("make the session read-only")?;
    let applied = if table_exists(client, t).await? {
        applied_names(client, t).await?
    } else {
        tracing::info!(
            "the tracking table {} does not exist; a run would create it",
            t.given
        );
        HashSet::new()
    };
    for m in migrations {
        let kind = Kind::of(&m.sql);
        let status = if applied.contains(&m.name) {
            tracing::info!("skipped {} (already applied)", m.name);
            Status::AlreadyApplied
        } else if kind == Kind::Statements {
            tracing::info!("would apply {}", m.name);
            Status::WouldApply
        } else {
            tracing::info!("would record {} ({}, nothing to run)", m.name, kind.label());
            Status::WouldRecordWithoutRunning
        };
        files.push(FileReport::new(m, status));
    }
    Ok(())
}

async fn execute(
    args: &Args,
    ep: &Endpoint,
    t: &TrackingTable,
    migrations: &[Migration],
    files: &mut Vec<FileReport>,
) -> Result<()> {
    let mut client = connect(ep).await?;
    if args.dry_run {
        dry_run(&client, t, migrations, files).await
    } else {
        apply_all(&mut client, t, migrations, files).await
    }
}

/// Runs `apply-migrations`. Usage errors (URL, directory, table name) come before any
/// connection; from then on the report is written whatever happens.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let ep = postgres_target(&args.target)?;
    let table = TrackingTable::parse(&args.tracking_table)?;
    let migrations = read_migrations(&args.migrations_dir)?;
    let run = ferry_shared::report::RunReport::start(TOOL);
    let mut report = Report::start(&args, &ep);
    let outcome = execute(&args, &ep, &table, &migrations, &mut report.files).await;
    let reached_any = !report.files.is_empty();
    report.finish(&migrations, &outcome);
    if reached_any || outcome.is_ok() {
        tracing::info!("{}", report.summary());
    }
    let exit = match &outcome {
        Ok(()) => Exit::Ok,
        Err(e) => e.exit(),
    };
    let mut run = run;
    run.target = Some(ep.to_string());
    run.inputs = vec![args.migrations_dir.display().to_string()];
    run.outputs = vec![ep.to_string()];
    run.dry_run = args.dry_run;
    if let Err(e) = &outcome {
        run.error = Some(ferry_shared::conn::redact_urls(&e.to_string()));
    }
    run.emit_details(&report, exit, args.common.report.as_deref())?;
    outcome?;
    Ok(Exit::Ok)
}

/// The whole of `apply-migrations`: flags, runtime, exit code. In the library, so the
/// runtime, the argument parser and every future under them are compiled once.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with(TOOL, |args: Args| ferry_shared::exit::block_on(run(args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Kind::of(""), Kind::Empty);
        assert_eq!(Kind::of(" \n\t\n"), Kind::Empty);
        assert_eq!(
            Kind::of("-- CREATE TABLE x (id int);\n\n  -- more\n"),
            Kind::CommentOnly
        );
        assert_eq!(Kind::of("-- note\nSELECT 1;\n"), Kind::Statements);
        assert_eq!(Kind::of("/* block */"), Kind::Statements);
        assert_eq!(Kind::of("SELECT 1; -- trailing"), Kind::Statements);
    }

    #[test]
    fn lines_count_characters_not_bytes() {
        let sql = "-- ééééé\nSELECT 1;\nSELEC x;\n";
        // "SELEC" is character 20 (1-based): 8 + 1 for line 1, 9 + 1 for line 2. Read as
        // bytes, 20 would still be on line 2 (each é is two bytes).
        assert_eq!(line_at(sql, 20), 3);
        assert_eq!(line_at(sql, 19), 2);
        assert_eq!(line_at(sql, 1), 1);
        assert_eq!(line_at(sql, 0), 1);
    }

    #[test]
    fn table_names_are_quoted_and_keys_differ() {
        let a = TrackingTable::parse("applied_migrations").unwrap();
        assert_eq!(a.quoted, "\"applied_migrations\"");
        let b = TrackingTable::parse("ops.My \"Table\"").unwrap();
        assert_eq!(b.quoted, "\"ops\".\"My \"\"Table\"\"\"");
        assert_ne!(a.lock_key(), b.lock_key());
        assert_eq!(
            a.lock_key(),
            TrackingTable::parse("applied_migrations")
                .unwrap()
                .lock_key()
        );
        assert!(TrackingTable::parse(" ").is_err());
    }

    #[test]
    fn files_sorted_as_byte_strings() {
        let dir = std::env::temp_dir().join(format!("ferry-am-unit-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        for f in [
            "add_x.sql",
            "002_a.sql",
            "0002_b.sql",
            "B.sql",
            ".hidden.sql",
            "notes.txt",
            "0100_c.sql",
        ] {
            fs_err::write(dir.join(f), "").unwrap();
        }
        fs_err::create_dir_all(dir.join("sub.sql")).unwrap();
        let names = list_sql_files(&dir);
        fs_err::remove_dir_all(&dir).unwrap();
        assert_eq!(
            names.unwrap(),
            [
                "0002_b.sql",
                "002_a.sql",
                "0100_c.sql",
                "B.sql",
                "add_x.sql"
            ]
        );
    }
}
