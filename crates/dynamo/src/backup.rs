//! `backup-dynamo`: a table → NDJSON items (typed JSON, one per line) plus its key schema
//! in `FILE.dynamo.json`, read with a parallel Scan (one task per segment). Restoring is
//! `load-dynamo FILE --table NAME --create-table`, which reads the keys from the sidecar.

use crate::av::item_to_json;
use crate::client::DynamoArgs;
use crate::scan::SegmentScan;
use crate::table;
use aws_sdk_dynamodb::Client;
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::progress::Progress;
use ferry_shared::record::RecordWriter;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, FerryError};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::sync::mpsc;

/// Command line of `backup-dynamo`.
#[derive(Parser, Debug)]
#[command(
    name = "backup-dynamo",
    version,
    about = "Back up a DynamoDB table to NDJSON (typed JSON items) plus its key schema, with a parallel scan.",
    after_help = "Examples:\n  backup-dynamo --table SalesTable-dev --endpoint-url http://127.0.0.1:5500\n      (writes data/backups/SalesTable-dev-YYYYMMDD-HHMMSS.ndjson and .ndjson.dynamo.json)\n  backup-dynamo --table SalesTable-dev -o sales-backup.ndjson --segments 8\n  # restore\n  load-dynamo sales-backup.ndjson --table SalesTable-dev --create-table"
)]
pub struct Args {
    /// Table to back up.
    #[arg(long, short = 't', value_name = "NAME")]
    pub table: String,
    #[command(flatten)]
    pub conn: DynamoArgs,
    /// Output file (default data/backups/TABLE-YYYYMMDD-HHMMSS.ndjson; `-` for stdout,
    /// without the sidecar).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Parallel scan segments.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub segments: i32,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Scans one segment, sending pages of typed-JSON lines.
async fn scan_segment(
    client: Client,
    table: String,
    segment: i32,
    total: i32,
    tx: mpsc::Sender<Vec<String>>,
) -> Result<(), FerryError> {
    let mut scan = SegmentScan::new(client, &table, segment, total, None);
    while let Some(out) = scan.next_page().await? {
        let lines: Vec<String> = out
            .items()
            .iter()
            .map(|i| item_to_json(i).to_string())
            .collect();
        if !lines.is_empty() && tx.send(lines).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Backs `table` up to `path` (and its sidecar); returns the number of items. The file
/// appears only when complete.
pub async fn backup_table(
    client: &Client,
    table: &str,
    path: &Path,
    segments: i32,
    quiet: bool,
) -> Result<u64, FerryError> {
    let spec = table::describe(client, table)
        .await?
        .ok_or_else(|| FerryError::NotFound(format!("table {table} does not exist")))?;
    let to_stdout = path.as_os_str() == "-";
    let mut w = if to_stdout {
        RecordWriter::stdout()
    } else {
        RecordWriter::create(path)?
    };
    let segments = segments.clamp(1, 1_000_000);
    let (tx, mut rx) = mpsc::channel::<Vec<String>>(segments as usize * 2);
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..segments {
        tasks.spawn(scan_segment(
            client.clone(),
            table.to_string(),
            s,
            segments,
            tx.clone(),
        ));
    }
    drop(tx);
    let mut progress = Progress::new(&format!("[Backup] {table}"), None, quiet);
    while let Some(page) = rx.recv().await {
        progress.inc(page.len() as u64);
        for line in page {
            w.object(&line)?;
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| FerryError::Failed(format!("scan task: {e}")))??;
    }
    progress.finish();
    let n = w.rows();
    w.finish()?;
    if !to_stdout {
        ferry_shared::fsutil::write_json_atomic(&table::sidecar(path), &spec)?;
    }
    Ok(n)
}

/// Runs `backup-dynamo`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let client = args.conn.client().await?;
    let path = args.output.clone().unwrap_or_else(|| {
        PathBuf::from("data/backups").join(format!(
            "{}-{}.ndjson",
            ferry_shared::cli::file_safe(&args.table),
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    let started = Instant::now();
    let mut report = RunReport::start("backup-dynamo");
    report.source = Some(format!("{} table {}", args.conn.describe(), args.table));
    let n = backup_table(
        &client,
        &args.table,
        &path,
        args.segments,
        args.common.quiet,
    )
    .await?;
    let mut stats = TableStats::new(&args.table);
    stats.migrated = n;
    stats.duration_secs = started.elapsed().as_secs_f64();
    report.tables.push(stats);
    if path.as_os_str() != "-" {
        tracing::info!("{}: {n} items → {}", args.table, path.display());
        report.target = Some(path.display().to_string());
    }
    let exit = report.finish();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(exit)
}

/// The whole of `backup-dynamo`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("backup-dynamo", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
