//! `restore-dynamo`: returns a table to exactly the item set of a backup written by
//! `backup-dynamo` (the migration document's `python utils/restore.py --backup FILE`).
//!
//! 1. The table is the one named by `--table`, else by the backup's sidecar
//!    `FILE.dynamo.json`; when it does not exist it is created from the sidecar's keys and
//!    indexes.
//! 2. Every backup item is put back through `load-dynamo`'s own load ([`load::load_into`]:
//!    the same checks, batches, retries, rejects and counters), so an item changed since the
//!    backup is the backup's again and a deleted one is back.
//! 3. Every item whose key is not in the backup is deleted (a key-only parallel scan, then
//!    BatchWriteItem deletes with the same retry settings), and counted.
//! 4. A last key-only scan checks that the table holds exactly the backup's keys; exit 0
//!    only then, else exit 1 naming the difference.
//!
//! `--dry-run` loads nothing and deletes nothing: it checks every backup line and counts
//! what it would write and delete.

use crate::client::{classify, code, db_error, DynamoArgs, Failure};
use crate::load::{self, key_of_item, line_key, Retry, Tuning};
use crate::scan::SegmentScan;
use crate::table::{self, KeySpec, TableSpec};
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use clap::Parser;
use ferry_shared::cli::{CommonArgs, RunArgs};
use ferry_shared::record::{Item as Line, RecordReader};
use ferry_shared::report::RunReport;
use ferry_shared::{Exit, FerryError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

const EXAMPLES: &str = "\
Examples:
  # what would change: counts only, nothing written or deleted
  restore-dynamo --backup data/backups/SalesTable-dev-20260130-150000.ndjson --dry-run
  # restore into the table named in the backup's .dynamo.json sidecar
  restore-dynamo --backup data/backups/SalesTable-dev-20260130-150000.ndjson \\
      --endpoint-url http://127.0.0.1:5500
  # into another table (created from the sidecar's keys and indexes when missing)
  restore-dynamo --backup sales-backup.ndjson --table SalesTable-staging --report restore.json";

/// Command line of `restore-dynamo` (serializable, so migrate-s9 hands it over as flags).
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "restore-dynamo",
    version,
    about = "Return a DynamoDB table to exactly the items of a backup-dynamo backup: put every backup item, delete every item the backup does not hold, check the keys.",
    after_help = EXAMPLES
)]
pub struct Args {
    /// The backup: NDJSON items as backup-dynamo writes them, with its sidecar
    /// FILE.dynamo.json (the table's name, keys and indexes) beside it.
    #[arg(long, value_name = "FILE")]
    pub backup: PathBuf,
    /// The table to restore (default: the table named in the backup's sidecar; required
    /// without a sidecar).
    #[arg(long, short = 't', value_name = "NAME")]
    pub table: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: DynamoArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub tuning: Tuning,
    /// Check the backup and count what would be written and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Parallel scan segments (the deletions and the final key check).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub segments: i32,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// The backup's sidecar, when it has one.
fn read_sidecar(backup: &Path) -> anyhow::Result<Option<TableSpec>> {
    let p = table::sidecar(backup);
    if !p.exists() {
        return Ok(None);
    }
    let text = fs_err::read_to_string(&p)?;
    let spec = serde_json::from_str(&text)
        .map_err(|e| FerryError::Usage(format!("{}: not a table spec: {e}", p.display())))?;
    Ok(Some(spec))
}

/// The keys of every item of the backup, as [`key_of_item`] writes them.
///
/// Memory: the whole set is held (a `HashSet` of key strings, about 50–100 bytes per item
/// for short keys: some 100 MB for a million items), to tell the table's items that are not
/// in the backup while the table is scanned; the final check adds a set of references to
/// those strings (about 30 bytes per item). Acceptable for a restore; a table of billions of
/// items would need the keys sorted on disk instead.
fn backup_keys(path: &Path, spec: &KeySpec) -> anyhow::Result<HashSet<String>> {
    let mut reader = RecordReader::open(Some(path))?;
    let mut keys = HashSet::new();
    while let Some(item) = reader.next_item()? {
        if let Line::Data = item {
            if let Some(k) = line_key(spec, reader.line()) {
                keys.insert(k);
            }
        }
    }
    Ok(keys)
}

/// Scans the keys of `table` (parallel segments); pages of keys arrive on the receiver,
/// the tasks end with the scan's error, if any.
fn key_pages(
    client: &Client,
    table: &str,
    spec: &KeySpec,
    segments: i32,
) -> (
    mpsc::Receiver<Vec<crate::av::SdkItem>>,
    tokio::task::JoinSet<Result<(), FerryError>>,
) {
    let segments = segments.clamp(1, 1_000_000);
    let (tx, rx) = mpsc::channel(segments as usize * 2);
    let mut tasks = tokio::task::JoinSet::new();
    let attrs: Vec<String> = spec.attrs().map(|a| a.name.clone()).collect();
    for s in 0..segments {
        let scan = SegmentScan::new(client.clone(), table, s, segments, None)
            .only(attrs.iter().map(String::as_str));
        let tx = tx.clone();
        tasks.spawn(async move {
            let mut scan = scan;
            while let Some(out) = scan.next_page().await? {
                let page = out.items().to_vec();
                if !page.is_empty() && tx.send(page).await.is_err() {
                    break;
                }
            }
            Ok(())
        });
    }
    (rx, tasks)
}

/// Waits for the scan tasks; the first error is the scan's.
async fn join_scan(mut tasks: tokio::task::JoinSet<Result<(), FerryError>>) -> anyhow::Result<()> {
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| FerryError::Failed(format!("scan task: {e}")))??;
    }
    Ok(())
}

/// Deletes one batch of keys (at most 25), retrying throttling and unprocessed keys as
/// `load-dynamo` does; returns the keys deleted and the keys given up.
async fn delete_batch(
    client: &Client,
    table: &str,
    keys: Vec<crate::av::SdkItem>,
    retry: Retry,
) -> Result<(u64, u64), FerryError> {
    let mut pending: Vec<WriteRequest> = keys
        .into_iter()
        .map(|k| {
            let del = DeleteRequest::builder().set_key(Some(k)).build();
            del.map(|d| WriteRequest::builder().delete_request(d).build())
                .map_err(|e| FerryError::Failed(format!("DeleteRequest: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let (mut deleted, mut attempt) = (0u64, 0u32);
    while !pending.is_empty() {
        let sent = pending.len() as u64;
        let res = client
            .batch_write_item()
            .request_items(table, pending.clone())
            .send()
            .await;
        match res {
            Ok(out) => {
                let back = out
                    .unprocessed_items()
                    .and_then(|m| m.get(table))
                    .cloned()
                    .unwrap_or_default();
                deleted += sent - back.len() as u64;
                pending = back;
            }
            Err(e) if classify(&e) == Failure::Transient => {
                tracing::debug!("{table}: delete: {}", code(&e));
            }
            Err(e) => return Err(db_error(format!("BatchWriteItem (delete) {table}"), e)),
        }
        if pending.is_empty() {
            break;
        }
        attempt += 1;
        if attempt > retry.max {
            tracing::warn!(
                "{table}: gave up deleting {} items after {} retries",
                pending.len(),
                retry.max
            );
            return Ok((deleted, pending.len() as u64));
        }
        tokio::time::sleep(retry.wait(attempt)).await;
    }
    Ok((deleted, 0))
}

/// Deletes (or, in a dry run, counts) every item of `table` whose key is not in `keys`;
/// returns how many, and how many deletes were given up.
async fn delete_extras(
    client: &Client,
    table: &str,
    spec: &KeySpec,
    keys: &HashSet<String>,
    args: &Args,
) -> anyhow::Result<(u64, u64)> {
    if table::describe(client, table).await?.is_none() {
        return Ok((0, 0));
    }
    let retry = Retry::of(&args.tuning, args.dry_run);
    let (mut rx, tasks) = key_pages(client, table, spec, args.segments);
    let (mut extras, mut deleted, mut gave_up) = (Vec::new(), 0u64, 0u64);
    let mut counted = 0u64;
    while let Some(page) = rx.recv().await {
        for k in page {
            if key_of_item(spec, &k).is_ok_and(|s| keys.contains(&s)) {
                continue;
            }
            counted += 1;
            if !args.dry_run {
                extras.push(k);
            }
            if extras.len() == 25 {
                let (d, g) =
                    delete_batch(client, table, std::mem::take(&mut extras), retry).await?;
                (deleted, gave_up) = (deleted + d, gave_up + g);
            }
        }
    }
    if !extras.is_empty() {
        let (d, g) = delete_batch(client, table, extras, retry).await?;
        (deleted, gave_up) = (deleted + d, gave_up + g);
    }
    join_scan(tasks).await?;
    Ok((if args.dry_run { counted } else { deleted }, gave_up))
}

/// After the restore: the backup's keys the table lacks and the table's keys the backup
/// lacks (counts, and a few of each to name them).
async fn compare_keys(
    client: &Client,
    table: &str,
    spec: &KeySpec,
    keys: &HashSet<String>,
    segments: i32,
) -> anyhow::Result<Option<String>> {
    let mut missing: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let (mut extra, mut extra_names) = (0u64, Vec::new());
    let (mut rx, tasks) = key_pages(client, table, spec, segments);
    while let Some(page) = rx.recv().await {
        for k in page {
            let s = key_of_item(spec, &k).unwrap_or_default();
            if !missing.remove(s.as_str()) && !keys.contains(&s) {
                extra += 1;
                if extra_names.len() < 3 {
                    extra_names.push(s.replace('\u{1f}', "/"));
                }
            }
        }
    }
    join_scan(tasks).await?;
    if missing.is_empty() && extra == 0 {
        return Ok(None);
    }
    let mut names: Vec<String> = missing
        .iter()
        .take(3)
        .map(|s| s.replace('\u{1f}', "/"))
        .collect();
    names.sort();
    Ok(Some(format!(
        "{} of the backup's {} keys missing (e.g. {names:?}), {extra} keys not in the backup (e.g. {extra_names:?})",
        missing.len(),
        keys.len()
    )))
}

/// What `load-dynamo` is asked to do: put the backup's items into the table, creating it
/// from the sidecar when missing. Its checkpoint and rejects go beside the backup.
fn load_args(args: &Args, table: &str) -> load::Args {
    let beside = |suffix: &str| {
        let mut s = args.backup.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let rejects = if args.dry_run {
        ".restore.dry-run.rejects.ndjson"
    } else {
        ".restore.rejects.ndjson"
    };
    load::Args {
        input: Some(args.backup.clone()),
        table: table.to_string(),
        conn: args.conn.clone(),
        tuning: args.tuning.clone(),
        create_table: true,
        key: None,
        gsi: Vec::new(),
        backup_before_load: false,
        backup_dir: PathBuf::from(crate::backup::DEFAULT_DIR),
        run: RunArgs {
            resume: false,
            checkpoint: Some(beside(".restore-dynamo.checkpoint.json")),
            dry_run: args.dry_run,
            rejects: Some(beside(rejects)),
            max_rejects: 1000,
        },
        progress_label: Some(format!("[Restore] {table}")),
        common: args.common.clone(),
    }
}

/// The table to restore and its keys: `--table` or the sidecar's table; the keys of the
/// table when it exists, else the sidecar's (to create it).
async fn target(args: &Args, client: &Client) -> anyhow::Result<(String, KeySpec)> {
    let sidecar = read_sidecar(&args.backup)?;
    let side = table::sidecar(&args.backup);
    let name = match (&args.table, &sidecar) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => s.table.clone(),
        (None, None) => {
            return Err(FerryError::Usage(format!(
                "--table NAME is needed: {} has no sidecar {} naming its table",
                args.backup.display(),
                side.display()
            ))
            .into())
        }
    };
    if !args.backup.exists() {
        return Err(
            FerryError::NotFound(format!("{}: no such backup", args.backup.display())).into(),
        );
    }
    let key = match (table::describe(client, &name).await?, sidecar) {
        (Some(t), _) => t.key,
        (None, Some(s)) => s.key,
        (None, None) => {
            return Err(FerryError::NotFound(format!(
                "table {name} does not exist, and {} has no sidecar {} with the keys to create it",
                args.backup.display(),
                side.display()
            ))
            .into())
        }
    };
    Ok((name, key))
}

/// Puts, deletes and checks; fills `report`.
async fn restore(
    args: &Args,
    client: &Client,
    name: &str,
    spec: &KeySpec,
    report: &mut RunReport,
) -> anyhow::Result<Exit> {
    let keys = backup_keys(&args.backup, spec)?;
    let exit = load::load_into(&load_args(args, name), client, report).await?;
    let written = report.totals.migrated;
    let rejected = report.totals.errors;
    let (deleted, gave_up) = delete_extras(client, name, spec, &keys, args).await?;
    report.counters.insert("deleted_items".into(), deleted);
    if gave_up > 0 {
        report.counters.insert("gave_up_deletes".into(), gave_up);
    }
    report.finish();
    if args.dry_run {
        let line = format!(
            "would restore {written} items, would delete {deleted} items not in the backup"
        );
        tracing::info!("{name}: {line} (dry run: nothing changed)");
        report.notes.push(line);
        return Ok(exit);
    }
    let line = format!("restored {written} items, deleted {deleted} items not in the backup");
    tracing::info!("{name}: {line}");
    report.notes.push(line);
    let difference = compare_keys(client, name, spec, &keys, args.segments).await?;
    let problem = match (difference, rejected) {
        (Some(d), _) => Some(format!("{name} is not the backup after the restore: {d}")),
        (None, 0) => None,
        (None, n) => Some(format!(
            "{n} lines of {} were not restored (see {})",
            args.backup.display(),
            report.rejects_file.clone().unwrap_or_default()
        )),
    };
    match problem {
        Some(p) => {
            report.fail(Exit::Failure);
            Err(FerryError::Failed(format!("{p}; rerun to finish the restore")).into())
        }
        None => {
            tracing::info!("{name}: holds exactly the backup's {} keys", keys.len());
            Ok(Exit::Ok)
        }
    }
}

/// Runs `restore-dynamo`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let client = args.conn.client().await?;
    let (name, spec) = target(&args, &client).await?;
    let mut report = RunReport::start("restore-dynamo");
    report.source = Some(args.backup.display().to_string());
    report.target = Some(format!("{} table {name}", args.conn.describe()));
    report.dry_run = args.dry_run;
    let result = restore(&args, &client, &name, &spec, &mut report).await;
    if result.is_ok() || report.status == "failed" {
        report.emit(args.common.quiet, args.common.report.as_deref())?;
    }
    result
}

/// The whole of `restore-dynamo`: flags, runtime, exit code.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("restore-dynamo", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
