//! `extract`: tables or a query → NDJSON + schema sidecar, streamed, resumable.

use crate::source::{BadCell, Cell, Scan, Source, TableRef};
use anyhow::Context;
use clap::Parser;
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::checksum::Checksum;
use ferry_shared::cli::{BatchArgs, CommonArgs, RunArgs};
use ferry_shared::conn::SourceArgs;
use ferry_shared::pattern::TablePattern;
use ferry_shared::progress::Progress;
use ferry_shared::record::RecordWriter;
use ferry_shared::rejects::Rejects;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::schema::{sidecar_path, TableSchema};
use ferry_shared::shard::{ShardArgs, ShardRange};
use ferry_shared::user_sql::{Filter, Query};
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

const EXAMPLES: &str = "\
Examples:
  # one table to stdout (schema travels in the stream's first line)
  extract --source mysql://root@127.0.0.1/shop --table orders > orders.ndjson
  # every table of a database into a directory, with sidecars, resumable
  extract --source mysql://root@127.0.0.1/shop --table 'shop.*' -o out/ --resume
  # a query
  extract --source postgres://postgres@127.0.0.1/app --query 'SELECT id, email FROM users' --name users
  # a pipeline
  extract --source sqlite://legacy.db --table orders | load-postgres --target postgres://postgres@127.0.0.1/app --table orders --create -";

/// Command line of `extract`.
#[derive(Parser, Debug)]
#[command(
    name = "extract",
    version,
    about = "Read tables (or a query) from MySQL/MariaDB, PostgreSQL or SQLite as NDJSON with a schema sidecar.",
    after_help = EXAMPLES
)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Table or pattern (DB.TABLE, DB.*, *.TABLE, TABLE); repeatable.
    #[arg(long = "table", short = 't', value_name = "NAME")]
    tables: Vec<String>,
    /// Extract the result of this query instead of tables.
    #[arg(long, conflicts_with = "tables", value_name = "SQL")]
    query: Option<Query>,
    /// Name of the query's output (file name and schema table name).
    #[arg(long, default_value = "query", value_name = "NAME")]
    name: String,
    /// Only rows matching this SQL condition (source dialect).
    #[arg(long = "filter", alias = "where", value_name = "SQL")]
    filter: Option<Filter>,
    /// At most this many rows per table.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Output file (one table) or directory (several); stdout when absent or `-`.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// On stdout, leave out the schema header and end lines (plain records only).
    #[arg(long)]
    no_header: bool,
    #[command(flatten)]
    shard: ShardArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// What the checkpoint of one output file records.
#[derive(Debug, Serialize, Deserialize, Default)]
struct ExtractState {
    /// Primary key of the last row written and synced.
    last_key: Option<Vec<serde_json::Value>>,
    /// Bytes of the `.part` file that hold those rows.
    offset: u64,
    /// Rows written.
    rows: u64,
    /// Checksum of those rows.
    checksum: String,
    /// Rows rejected so far.
    rejected: u64,
    /// Length of the rejects file when this state was saved: a resume cuts off the rejects
    /// of pages read after it (read again, they would be listed twice).
    #[serde(default)]
    rejects_bytes: Option<u64>,
    /// The key range of a `--shard` extract, so a resume reads the same range.
    #[serde(default)]
    shard: Option<ShardRange>,
}

enum Output {
    Stdout,
    File(PathBuf),
    Dir(PathBuf),
}

impl Output {
    /// Where the outputs go: stdout (one output, not resumable), one file, or a directory
    /// (several outputs). The combinations that cannot work are usage errors.
    fn choose(args: &Args, n_outputs: usize) -> ferry_shared::Result<Output> {
        let output = match &args.output {
            None => Output::Stdout,
            Some(p) if p == Path::new("-") => Output::Stdout,
            Some(p) if p.is_dir() || p.to_string_lossy().ends_with('/') || n_outputs > 1 => {
                Output::Dir(p.clone())
            }
            Some(p) => Output::File(p.clone()),
        };
        if matches!(output, Output::Stdout) && n_outputs > 1 {
            return Err(FerryError::Usage(format!(
                "{n_outputs} tables match; stdout takes one: give -o DIR"
            )));
        }
        if matches!(output, Output::Stdout) && args.run.resume {
            return Err(FerryError::Usage(
                "--resume needs -o FILE or -o DIR (stdout cannot be resumed)".into(),
            ));
        }
        if args.run.checkpoint.is_some() && n_outputs > 1 {
            return Err(FerryError::Usage(
                "--checkpoint names one file; with several tables each output keeps FILE.checkpoint.json".into(),
            ));
        }
        Ok(output)
    }

    /// The rejects file when `--rejects` is not given: next to the output.
    fn rejects_path(&self) -> PathBuf {
        match self {
            Output::Dir(d) => d.join("extract.rejects.ndjson"),
            Output::File(f) => f.with_extension("rejects.ndjson"),
            Output::Stdout => PathBuf::from("extract.rejects.ndjson"),
        }
    }

    /// The default rejects file, with the shard in its name ([`ShardArgs::file_tag`]).
    fn rejects_path_for(&self, shard: &ShardArgs) -> PathBuf {
        let p = self.rejects_path();
        let stem = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rejects.ndjson"))
            .unwrap_or("extract");
        p.with_file_name(format!("{stem}{}.rejects.ndjson", shard.file_tag('.')))
    }

    /// The data file of one output (`None`: stdout). In a directory, tables of several
    /// databases are named DB.TABLE so they cannot collide.
    fn dest(&self, job: Option<&TableRef>, multi_db: bool, query_name: &str) -> Option<PathBuf> {
        let file_stem = match job {
            Some(t) if multi_db => format!("{}.{}", t.db, t.name),
            Some(t) => t.name.clone(),
            None => query_name.to_string(),
        };
        match self {
            Output::Stdout => None,
            Output::File(f) => Some(f.clone()),
            Output::Dir(d) => Some(d.join(format!(
                "{}.ndjson",
                ferry_shared::cli::file_safe(&file_stem)
            ))),
        }
    }
}

/// The tables the patterns name (none for `--query`); no match is an error.
async fn resolve_tables(args: &Args, src: &mut Source) -> ferry_shared::Result<Vec<TableRef>> {
    if args.query.is_some() {
        return Ok(Vec::new());
    }
    let patterns: Vec<TablePattern> = args.tables.iter().map(|t| TablePattern::parse(t)).collect();
    let t = src.resolve_tables(&patterns).await?;
    if t.is_empty() {
        return Err(FerryError::NotFound(format!(
            "no table matches {:?}",
            args.tables
        )));
    }
    Ok(t)
}

/// Runs `extract`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let ep = args.source.endpoint_or_database_url()?;
    if args.tables.is_empty() && args.query.is_none() {
        return Err(
            FerryError::Usage("give --table NAME (repeatable) or --query SQL".into()).into(),
        );
    }
    let mut src = Source::connect(&ep).await?;
    let tables = resolve_tables(&args, &mut src).await?;
    let n_outputs = if args.query.is_some() {
        1
    } else {
        tables.len()
    };
    let output = Output::choose(&args, n_outputs)?;
    if let Output::Dir(d) = &output {
        fs_err::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    let mut report = RunReport::start("extract");
    report.source = Some(ep.to_string());
    report.dry_run = args.run.dry_run;
    report.inputs = tables
        .iter()
        .map(|t| format!("{}.{}", t.db, t.name))
        .collect();
    src.begin_snapshot().await?;
    let multi_db = tables.iter().any(|t| t.db != tables[0].db);
    let rejects_path = args
        .run
        .rejects
        .clone()
        .unwrap_or_else(|| output.rejects_path_for(&args.shard));
    let mut rejects = Rejects::new(rejects_path, args.run.resume, args.run.max_rejects);

    let jobs: Vec<Option<TableRef>> = if args.query.is_some() {
        vec![None]
    } else {
        tables.into_iter().map(Some).collect()
    };
    let mut result = Ok(());
    for job in jobs {
        let schema = match (&job, &args.query) {
            (Some(t), _) => src.describe(t).await?,
            (None, Some(q)) => src.describe_query(q.sql(), &args.name).await?,
            (None, None) => unreachable!("checked above"),
        };
        let dest = output.dest(job.as_ref(), multi_db, &args.name);
        if dest.is_none() {
            // Stdout cannot be resumed: an interrupt says to run the command again.
            ferry_shared::run::not_resumable();
        }
        ferry_shared::run::publish(&report);
        report.outputs.push(
            dest.as_ref()
                .map_or_else(|| "-".into(), |d| d.display().to_string()),
        );
        let mut stats = TableStats::new(&schema.table);
        let r = extract_one(
            &args,
            &mut src,
            job.as_ref(),
            schema,
            dest.as_deref(),
            &mut rejects,
            &mut stats,
        )
        .await;
        report.tables.push(stats);
        if let Err(e) = r {
            result = Err(e);
            break;
        }
    }
    if let Err(e) = result {
        if ferry_shared::exit::is_broken_pipe(&e) {
            return Err(e);
        }
        report.fail_with(&e);
        report.emit(args.common.quiet, args.common.report.as_deref())?;
        return Err(e);
    }
    if rejects.count() > 0 {
        report.rejects_file = Some(rejects.path().display().to_string());
    }
    rejects.flush()?;
    let exit = report.finish();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(exit)
}

/// The checkpoint of a file output (`--checkpoint`, or FILE.checkpoint.json); stdout has none.
fn checkpoint_for(
    args: &Args,
    src: &Source,
    dest: Option<&Path>,
) -> Option<Checkpoint<ExtractState>> {
    dest.map(|d| {
        let path = args.run.checkpoint.clone().unwrap_or_else(|| {
            let mut p = d.as_os_str().to_owned();
            p.push(".checkpoint.json");
            PathBuf::from(p)
        });
        Checkpoint::<ExtractState>::new(
            path,
            "extract",
            match args.shard.shard {
                Some(s) => format!("{} {} shard {s}", src.engine(), d.display()),
                None => format!("{} {}", src.engine(), d.display()),
            },
        )
    })
}

/// With `--resume`, the state to continue from. `None` means the output is already
/// complete (its file exists and no `.part` file is left), so there is nothing to do.
fn resume_state(
    args: &Args,
    checkpoint: Option<&Checkpoint<ExtractState>>,
    dest: Option<&Path>,
    table: &str,
) -> ferry_shared::Result<Option<ExtractState>> {
    let mut state = ExtractState::default();
    if let (true, Some(cp)) = (args.run.resume, checkpoint) {
        if let Some(s) = cp.load()? {
            tracing::info!("{}: resuming after {} rows", table, s.rows);
            state = s;
        } else if dest.is_some_and(Path::exists)
            && !ferry_shared::record::part_path(dest.unwrap_or(Path::new(""))).exists()
        {
            tracing::info!(
                "{}: already complete ({})",
                table,
                dest.unwrap_or(Path::new("")).display()
            );
            return Ok(None);
        }
    }
    Ok(Some(state))
}

/// The record writer (none in a dry run): stdout with its header line unless
/// `--no-header`, a resumed `.part` file cut back to the checkpoint, or a new file.
fn open_writer(
    args: &Args,
    dest: Option<&Path>,
    state: &ExtractState,
    schema: &TableSchema,
    expected: Option<u64>,
) -> ferry_shared::Result<Option<RecordWriter>> {
    let resumed = state.rows > 0 || state.last_key.is_some();
    let mut writer = if args.run.dry_run {
        None
    } else {
        Some(match dest {
            None => RecordWriter::stdout(),
            Some(d) if resumed => RecordWriter::resume(
                d,
                state.offset,
                Checksum::from_parts(&state.checksum, state.rows)?,
            )?,
            Some(d) => RecordWriter::create(d)?,
        })
    };
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    if let Some(w) = &mut writer {
        w.set_columns(&names);
        if dest.is_none() && !args.no_header {
            // The header's row count is the count taken before reading: a loader behind
            // the pipe shows its percent from it (the end line carries the true count).
            let mut header = schema.clone();
            header.row_count = expected;
            w.write_header(&header)?;
        }
    }
    Ok(writer)
}

/// Where one output's rows go while its pages are read: the writer, the counters the
/// checkpoint records, and what a reject line needs. One struct so the scan callback is a
/// method instead of a closure capturing a dozen variables.
struct RowSink<'a> {
    writer: Option<RecordWriter>,
    rejects: &'a mut Rejects,
    progress: Progress,
    schema: &'a TableSchema,
    /// Positions of the key columns (the key of the page's last row is where the next starts).
    pk_idx: Vec<usize>,
    /// Read in key-ordered pages (a table with a primary key) rather than in one scan.
    paged: bool,
    written: u64,
    rejected: u64,
    /// Rows seen in the current page.
    page_rows: u64,
    /// Key of the current page's last row.
    last: Option<Vec<Cell>>,
}

impl RowSink<'_> {
    /// One scanned row: rejected (first bad cell's reason) or written.
    fn row(&mut self, cells: Vec<Cell>, bad: Vec<BadCell>) -> ferry_shared::Result<bool> {
        self.page_rows += 1;
        if self.paged {
            self.last = Some(self.pk_idx.iter().map(|&i| cells[i].clone()).collect());
        }
        let name = &self.schema.table;
        if !crate::source::emit_row(
            self.writer.as_mut(),
            self.rejects,
            name,
            self.schema,
            &cells,
            &bad,
        )? {
            self.rejected += 1;
            return Ok(true);
        }
        self.written += 1;
        self.progress.inc(1);
        Ok(true)
    }

    /// Makes the rows so far durable and records them: sync the file, flush the rejects,
    /// then save the checkpoint (in that order, so a checkpoint never names unsynced rows).
    fn save(
        &mut self,
        checkpoint: Option<&Checkpoint<ExtractState>>,
        after: Option<&[Cell]>,
    ) -> ferry_shared::Result<()> {
        if let (Some(w), Some(cp)) = (&mut self.writer, checkpoint) {
            let offset = w.sync()?;
            self.rejects.flush()?;
            cp.save(&ExtractState {
                last_key: after.map(|k| k.iter().map(Cell::to_json).collect()),
                offset,
                rows: w.rows(),
                checksum: w.checksum().hex(),
                rejected: self.rejected,
                rejects_bytes: Some(self.rejects.bytes()),
                shard: self.schema.shard.clone(),
            })?;
            ferry_shared::run::publish_table(&self.schema.table, w.rows(), self.rejected);
        }
        Ok(())
    }
}

/// Reads the output's rows page by page into `sink`, saving the checkpoint after each page.
/// A keyed table is read in `--batch-size` pages after the last key; anything else in one
/// scan. `--limit` counts written and rejected rows.
async fn read_pages(
    args: &Args,
    src: &mut Source,
    table: Option<&TableRef>,
    sink: &mut RowSink<'_>,
    checkpoint: Option<&Checkpoint<ExtractState>>,
    mut after: Option<Vec<Cell>>,
    filter: Option<&Filter>,
) -> ferry_shared::Result<()> {
    let schema = sink.schema;
    loop {
        let remaining = args
            .limit
            .map(|l| l.saturating_sub(sink.written + sink.rejected));
        if remaining == Some(0) {
            break;
        }
        let page = if sink.paged {
            Some(remaining.map_or(args.batch.batch_size as u64, |r| {
                r.min(args.batch.batch_size as u64)
            }))
        } else {
            remaining
        };
        let scan = Scan {
            after: after.clone(),
            limit: page,
            filter: filter.cloned(),
            byte_order: false,
        };
        sink.last = None;
        sink.page_rows = 0;
        let mut on_row = |cells: Vec<Cell>, bad: Vec<BadCell>| sink.row(cells, bad);
        match (table, &args.query) {
            (Some(t), _) => src.scan(t, schema, &scan, &mut on_row).await?,
            (None, Some(q)) => {
                let sql = match args.limit {
                    Some(l) => format!("SELECT * FROM ({}) AS ferry_q LIMIT {l}", q.sql()),
                    None => q.sql().to_string(),
                };
                src.scan_query(&sql, schema, &mut on_row).await?
            }
            (None, None) => 0,
        };
        if let Some(l) = sink.last.take() {
            after = Some(l);
        }
        tracing::debug!(
            "{}: page of {} rows, {} written",
            schema.table,
            sink.page_rows,
            sink.written
        );
        sink.save(checkpoint, after.as_deref())?;
        if !sink.paged || page.is_some_and(|p| sink.page_rows < p) {
            break;
        }
    }
    Ok(())
}

/// Ends the output: on stdout the end line (unless `--no-header`); for a file, the file
/// renamed into place, then its sidecar, then the checkpoint removed.
fn finish_output(
    args: &Args,
    mut w: RecordWriter,
    schema: &mut TableSchema,
    dest: Option<&Path>,
    checkpoint: Option<&Checkpoint<ExtractState>>,
) -> ferry_shared::Result<()> {
    schema.row_count = Some(w.rows());
    schema.checksum = Some(w.checksum().hex());
    match dest {
        None => {
            if !args.no_header {
                w.write_end()?;
            }
            w.sync()?;
        }
        Some(d) => {
            w.finish()?;
            ferry_shared::fsutil::write_json_atomic(&sidecar_path(d), &*schema)?;
            if let Some(cp) = checkpoint {
                cp.clear()?;
            }
            tracing::info!(
                "{}: {} rows → {}",
                schema.table,
                schema.row_count.unwrap_or(0),
                d.display()
            );
        }
    }
    Ok(())
}

/// With `--shard`, the table's key range (on resume, the one the checkpoint saved) (recorded in the schema, so the header and the
/// sidecar carry it to the loader) and the filter that reads it; else the `--filter`.
async fn shard_scope(
    args: &Args,
    src: &mut Source,
    table: Option<&TableRef>,
    schema: &mut TableSchema,
    saved: Option<ShardRange>,
) -> ferry_shared::Result<Option<Filter>> {
    let (Some(shard), Some(t)) = (args.shard.shard, table) else {
        if args.shard.shard.is_some() {
            return Err(FerryError::Usage(
                "--shard cuts a table by its key; it does not apply to --query".into(),
            ));
        }
        return Ok(args.filter.clone());
    };
    // A resumed shard keeps the range its first pages were read with.
    let range = match saved {
        Some(r) if r.shard() == shard => r,
        _ => src.shard_range(t, schema, shard).await?,
    };
    tracing::info!("{}: {}", schema.table, range.describe());
    let filter = crate::source::shard_filter(args.filter.as_ref(), &range, src.quote())?;
    schema.shard = Some(range);
    Ok(filter)
}

async fn extract_one(
    args: &Args,
    src: &mut Source,
    table: Option<&TableRef>,
    mut schema: TableSchema,
    dest: Option<&Path>,
    rejects: &mut Rejects,
    stats: &mut TableStats,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let checkpoint = checkpoint_for(args, src, dest);
    if let Some(cp) = &checkpoint {
        ferry_shared::run::set_checkpoint(cp.path());
    }
    let Some(state) = resume_state(args, checkpoint.as_ref(), dest, &schema.table)? else {
        return Ok(());
    };
    let filter = shard_scope(args, src, table, &mut schema, state.shard.clone()).await?;
    let total = match table {
        Some(t) if ferry_shared::progress::shows(args.common.quiet) => {
            Some(src.count(t, filter.as_ref()).await?)
        }
        _ => None,
    }
    .map(|n| args.limit.map_or(n, |l| l.min(n)));
    let writer = open_writer(args, dest, &state, &schema, total)?;
    let pk_idx: Vec<usize> = schema
        .primary_key
        .iter()
        .filter_map(|k| schema.columns.iter().position(|c| &c.name == k))
        .collect();
    let paged = !pk_idx.is_empty() && table.is_some();
    let mut progress = Progress::new(&schema.table, total, args.common.quiet);
    progress.set_position(state.rows);
    let after: Option<Vec<Cell>> = state
        .last_key
        .as_ref()
        .map(|k| k.iter().map(Cell::from_json).collect());
    let mut sink = RowSink {
        writer,
        rejects,
        progress,
        schema: &schema,
        pk_idx,
        paged,
        written: state.rows,
        rejected: state.rejected,
        page_rows: 0,
        last: None,
    };
    if let Some(b) = state.rejects_bytes {
        sink.rejects.rewind(b)?;
    } else if state.rows == 0 && state.last_key.is_none() {
        // The first checkpoint, before any page: a crash before the next one resumes from
        // here, with this table's rejects so far cut off.
        sink.save(checkpoint.as_ref(), None)?;
    }
    read_pages(
        args,
        src,
        table,
        &mut sink,
        checkpoint.as_ref(),
        after,
        filter.as_ref(),
    )
    .await?;
    let RowSink {
        writer,
        progress,
        written,
        rejected,
        ..
    } = sink;
    progress.finish();
    stats.migrated = written;
    stats.resumed = state.rows;
    stats.errors = rejected;
    stats.duration_secs = started.elapsed().as_secs_f64();
    if let Some(w) = writer {
        finish_output(args, w, &mut schema, dest, checkpoint.as_ref())?;
    }
    Ok(())
}

/// The whole of `extract`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("extract", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
