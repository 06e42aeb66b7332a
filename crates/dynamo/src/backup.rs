//! `backup-dynamo`: a table → NDJSON items (typed JSON, one per line) plus its key schema
//! in `FILE.dynamo.json`, read with a parallel Scan (one task per segment). A backup never
//! replaces a file: two backups of a table in the same second get `-2`, `-3`, … names.
//! Restoring is `restore-dynamo --backup FILE` (the table returned to exactly those items).

use crate::av::item_to_json;
use crate::client::DynamoSourceArgs;
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

/// Where backups go by default (`backup-dynamo` without `-o`).
pub const DEFAULT_DIR: &str = "data/backups";

/// Command line of `backup-dynamo`.
#[derive(Parser, Debug)]
#[command(
    name = "backup-dynamo",
    version,
    about = "Back up a DynamoDB table to NDJSON (typed JSON items) plus its key schema, with a parallel scan.",
    after_help = "Examples:\n  backup-dynamo --table SalesTable-dev --endpoint-url http://127.0.0.1:5500\n      (writes data/backups/SalesTable-dev-YYYYMMDD-HHMMSS.ndjson and .ndjson.dynamo.json;\n      a second backup in the same second: SalesTable-dev-YYYYMMDD-HHMMSS-2.ndjson)\n  backup-dynamo --table SalesTable-dev -o sales-backup.ndjson --segments 8\n  # restore: the table returned to exactly the backed-up items (--dry-run: counts only)\n  restore-dynamo --backup sales-backup.ndjson --endpoint-url http://127.0.0.1:5500"
)]
pub struct Args {
    /// Table to back up.
    #[arg(long, short = 't', value_name = "NAME")]
    pub table: String,
    #[command(flatten)]
    pub conn: DynamoSourceArgs,
    /// Output file, which must not exist (default data/backups/TABLE-YYYYMMDD-HHMMSS.ndjson,
    /// with -2, -3, … when a backup of the same second has the name; `-` for stdout, without
    /// the sidecar).
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

/// Where a backup goes.
#[derive(Debug, Clone, Copy)]
pub enum Dest<'a> {
    /// Standard output, without a sidecar.
    Stdout,
    /// This file, which must not exist yet.
    File(&'a Path),
    /// A new file in this folder: `TABLE-YYYYMMDD-HHMMSS.ndjson` (UTC, the backup's start),
    /// or `TABLE-YYYYMMDD-HHMMSS-2.ndjson`, `-3`, … when that name is taken.
    Dir(&'a Path),
}

/// Backs `table` up to `path` (`-`: stdout) and its sidecar; returns the number of items.
/// The file appears only when complete, and never replaces an existing file (an error
/// then). See [`backup`].
pub async fn backup_table(
    client: &Client,
    table: &str,
    path: &Path,
    segments: i32,
    quiet: bool,
) -> Result<u64, FerryError> {
    let dest = if path.as_os_str() == "-" {
        Dest::Stdout
    } else {
        Dest::File(path)
    };
    Ok(backup(client, table, dest, segments, quiet).await?.0)
}

/// Backs `table` up to `dest` and, for a file, its sidecar `FILE.dynamo.json`; returns the
/// number of items and the file written.
///
/// Backups never collide and never overwrite: the items are written to a hidden staging
/// file of this process (`.NAME.PID-N.tmp`, complete before it is published), which is then
/// hard-linked to its name, an operation that fails rather than replace a file that exists
/// (create-new semantics, atomically, also against another process that publishes the same
/// name at the same moment); on such a collision the next suffix is tried.
pub async fn backup(
    client: &Client,
    table: &str,
    dest: Dest<'_>,
    segments: i32,
    quiet: bool,
) -> Result<(u64, Option<PathBuf>), FerryError> {
    let spec = table::describe(client, table)
        .await?
        .ok_or_else(|| FerryError::NotFound(format!("table {table} does not exist")))?;
    let names = Names::of(dest, table)?;
    let mut w = match &names {
        None => RecordWriter::stdout(),
        Some(n) => RecordWriter::create(&n.staging)?,
    };
    let n = scan_into(client, table, segments, quiet, &mut w).await?;
    w.finish()?;
    let Some(names) = names else {
        return Ok((n, None));
    };
    let path = names.publish()?;
    ferry_shared::fsutil::write_json_atomic(&table::sidecar(&path), &spec)?;
    Ok((n, Some(path)))
}

/// Scans every segment of `table` into `w`; returns the number of items.
async fn scan_into(
    client: &Client,
    table: &str,
    segments: i32,
    quiet: bool,
    w: &mut RecordWriter,
) -> Result<u64, FerryError> {
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
    Ok(w.rows())
}

/// The names of a backup file: where it is staged, and the names it may take.
struct Names {
    staging: PathBuf,
    /// The exact name (`-o FILE`), or the folder and stem of `STEM.ndjson`, `STEM-2.ndjson`…
    target: Result<PathBuf, (PathBuf, String)>,
}

impl Names {
    /// `None` for stdout. A `-o FILE` that exists is refused before anything is scanned.
    fn of(dest: Dest<'_>, table: &str) -> Result<Option<Names>, FerryError> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let (dir, name, target) = match dest {
            Dest::Stdout => return Ok(None),
            Dest::File(p) => {
                if p.exists() {
                    return Err(exists(p));
                }
                let name = p
                    .file_name()
                    .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
                let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
                (dir, name, Ok(p.to_path_buf()))
            }
            Dest::Dir(d) => {
                let stem = format!(
                    "{}-{}",
                    ferry_shared::cli::file_safe(table),
                    chrono::Utc::now().format("%Y%m%d-%H%M%S")
                );
                (
                    d.to_path_buf(),
                    format!("{stem}.ndjson"),
                    Err((d.to_path_buf(), stem)),
                )
            }
        };
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = dir.join(format!(".{name}.{}-{seq}.tmp", std::process::id()));
        Ok(Some(Names { staging, target }))
    }

    /// Gives the complete staging file its name without replacing any file; returns it.
    fn publish(&self) -> Result<PathBuf, FerryError> {
        let result = match &self.target {
            Ok(p) => link_new(&self.staging, p).map(|()| p.clone()),
            Err((dir, stem)) => (1..=10_000)
                .map(|n| match n {
                    1 => dir.join(format!("{stem}.ndjson")),
                    n => dir.join(format!("{stem}-{n}.ndjson")),
                })
                .find_map(|p| match link_new(&self.staging, &p) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                    r => Some(r.map(|()| p)),
                })
                .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into())),
        };
        let _ = fs_err::remove_file(&self.staging);
        match result {
            Ok(p) => {
                ferry_shared::fsutil::sync_dir(&p);
                Ok(p)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match &self.target {
                Ok(p) => Err(exists(p)),
                Err((dir, stem)) => Err(FerryError::Failed(format!(
                    "{}: no free name for the backup {stem}.ndjson",
                    dir.display()
                ))),
            },
            Err(e) => Err(e.into()),
        }
    }
}

fn exists(p: &Path) -> FerryError {
    FerryError::Usage(format!(
        "{} exists: a backup never replaces a file; remove it or choose another -o",
        p.display()
    ))
}

/// Links `from` to the new name `to`: fails with `AlreadyExists` when `to` exists. Where
/// the file system has no hard links, `to` is created empty with create-new semantics (the
/// same guarantee) and `from` renamed onto it.
fn link_new(from: &Path, to: &Path) -> std::io::Result<()> {
    match fs_err::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            ferry_shared::fsutil::private_options()
                .write(true)
                .create_new(true)
                .open(to)?;
            fs_err::rename(from, to)
        }
    }
}

/// Runs `backup-dynamo`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let conn = args.conn.conn()?;
    let client = conn.client().await?;
    let dest = match &args.output {
        Some(p) if p.as_os_str() == "-" => Dest::Stdout,
        Some(p) => Dest::File(p),
        None => Dest::Dir(Path::new(DEFAULT_DIR)),
    };
    let started = Instant::now();
    let mut report = RunReport::start("backup-dynamo");
    report.source = Some(format!("{} table {}", conn.describe(), args.table));
    let (n, path) = backup(&client, &args.table, dest, args.segments, args.common.quiet).await?;
    let mut stats = TableStats::new(&args.table);
    stats.migrated = n;
    stats.duration_secs = started.elapsed().as_secs_f64();
    report.tables.push(stats);
    if let Some(path) = path {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A staged backup of `table` published into `dest`.
    fn publish(dest: Dest<'_>, text: &str) -> Result<PathBuf, FerryError> {
        let names = Names::of(dest, "T")?.unwrap();
        fs_err::write(&names.staging, text).unwrap();
        let p = names.publish();
        assert!(!names.staging.exists(), "the staging file is gone");
        p
    }

    #[test]
    fn names_never_collide_and_nothing_is_replaced() {
        let dir = std::env::temp_dir().join(format!("ferry-backup-names-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        // Published in the same second: the second and third get -2 and -3; each keeps its
        // own content.
        let mut got = Vec::new();
        for i in 0..3 {
            got.push(publish(Dest::Dir(&dir), &format!("backup {i}\n")).unwrap());
        }
        let stems: Vec<String> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let first = stems[0].trim_end_matches(".ndjson");
        if stems[2].starts_with(first) {
            assert_eq!(stems[1], format!("{first}-2.ndjson"));
            assert_eq!(stems[2], format!("{first}-3.ndjson"));
        }
        for (i, p) in got.iter().enumerate() {
            assert_eq!(fs_err::read_to_string(p).unwrap(), format!("backup {i}\n"));
        }
        // An exact name that exists is refused, before and at publishing, and kept.
        let taken = dir.join("mine.ndjson");
        fs_err::write(&taken, "keep me\n").unwrap();
        assert!(matches!(
            Names::of(Dest::File(&taken), "T"),
            Err(FerryError::Usage(_))
        ));
        let late = Names::of(Dest::File(&dir.join("late.ndjson")), "T")
            .unwrap()
            .unwrap();
        fs_err::write(&late.staging, "new\n").unwrap();
        fs_err::write(dir.join("late.ndjson"), "someone else's\n").unwrap();
        assert!(matches!(late.publish(), Err(FerryError::Usage(_))));
        assert_eq!(
            fs_err::read_to_string(dir.join("late.ndjson")).unwrap(),
            "someone else's\n"
        );
        assert_eq!(fs_err::read_to_string(&taken).unwrap(), "keep me\n");
        let _ = fs_err::remove_dir_all(&dir);
    }
}
