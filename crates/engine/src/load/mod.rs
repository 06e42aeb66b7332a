//! The loaders (`load-postgres`, `load-mysql`): NDJSON → table.
//!
//! A reader thread parses lines, casts every value to the target column's catalog type and
//! encodes rows in the target's bulk format; the async side applies each batch in one
//! transaction and then records a checkpoint. Casting errors and row-level database errors
//! become rejects; everything else stops the run, resumable with `--resume`.

pub mod cast;
pub mod ddl;
pub mod mysql;
pub mod pg;

use cast::{CastRules, Conversion, Val};
use clap::{Args, ValueEnum};
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::checksum::Checksum;
use ferry_shared::cli::{file_safe, BatchArgs, CommonArgs, RunArgs};
use ferry_shared::conn::TargetArgs;
use ferry_shared::progress::Progress;
use ferry_shared::record::{ColumnIndex, Item, RecordReader};
use ferry_shared::rejects::{record_value, Reject, Rejects};
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::row::parse_row;
use ferry_shared::schema::LogicalType;
use ferry_shared::schema::{read_sidecar, sidecar_path, TableSchema};
use ferry_shared::shard::{ShardArgs, ShardRange};
use ferry_shared::{Exit, FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How rows meet existing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Mode {
    /// Plain insert; a duplicate key is a rejected row.
    Insert,
    /// Insert or update by primary key (last occurrence wins).
    Upsert,
    /// Insert, skipping rows whose key exists (counted as skipped).
    Ignore,
    /// Empty the table first, then insert.
    Truncate,
}

/// Flags shared by the loaders.
#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Target table (SCHEMA.TABLE or DB.TABLE; the URL's database/`public` otherwise).
    #[arg(long, short = 't', value_name = "NAME")]
    pub table: String,
    /// NDJSON input file; stdin when absent or `-`.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Create the table from the schema (stream header or sidecar) when it does not exist.
    #[arg(long)]
    pub create: bool,
    /// How rows meet existing rows.
    #[arg(long, value_enum, default_value_t = Mode::Insert)]
    pub mode: Mode,
    /// Schema sidecar to use (default: the stream header, or NAME.schema.json beside the file).
    #[arg(long, value_name = "FILE")]
    pub sidecar: Option<PathBuf>,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A column of the target table, from its catalog.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    /// Name.
    pub name: String,
    /// Type to cast to.
    pub logical: LogicalType,
    /// NULL allowed.
    pub nullable: bool,
    /// Has a default (so it may be left out of the stream).
    pub has_default: bool,
    /// Not generated.
    pub writable: bool,
}

/// The target table.
#[derive(Debug, Clone)]
pub struct TargetTable {
    /// Columns in table order.
    pub columns: Vec<TargetColumn>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Any unique index (so ignore/resume can detect rows already there).
    pub has_unique: bool,
}

/// Encoded rows plus what is needed to reject any one of them.
#[derive(Debug, Default)]
pub struct Batch {
    /// Encoded rows, back to back.
    pub data: Vec<u8>,
    ends: Vec<usize>,
    lines: Vec<u64>,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
}

impl Batch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Byte range of rows `r` in `data`.
    pub fn byte_range(&self, r: std::ops::Range<usize>) -> (usize, usize) {
        let start = if r.start == 0 {
            0
        } else {
            self.ends[r.start - 1]
        };
        (start, self.ends[r.end - 1])
    }
    /// Closes the row just encoded at the end of `data`: `line` says where it came from (an
    /// input line, or a source row id), `raw` is the record to put in the rejects file if the
    /// database refuses it (empty when the caller rebuilds it on demand).
    pub fn push_row(&mut self, line: u64, raw: &[u8]) {
        self.ends.push(self.data.len());
        self.lines.push(line);
        self.raw.extend_from_slice(raw);
        self.raw_ends.push(self.raw.len());
    }
    /// Where row `i` came from, as given to [`Batch::push_row`].
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }
    /// Empties the batch, keeping its buffers' capacity for the next one.
    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.lines.clear();
        self.raw.clear();
        self.raw_ends.clear();
    }
    /// The record of row `i`, as given to [`Batch::push_row`].
    pub fn raw_line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.raw_ends[i - 1] };
        &self.raw[start..self.raw_ends[i]]
    }
}

/// What applying a batch did.
#[derive(Debug, Default)]
pub struct FlushResult {
    /// Rows written.
    pub loaded: u64,
    /// Rows skipped (already present).
    pub skipped: u64,
    /// Rows refused by the database: (index in batch, column, reason).
    pub rejected: Vec<(usize, Option<String>, String)>,
}

struct OwnedReject {
    line: u64,
    column: Option<String>,
    value: Option<String>,
    reason: String,
    raw: Vec<u8>,
}

/// One unit from the reader thread.
struct Prepared {
    batch: Batch,
    rejects: Vec<OwnedReject>,
    conversions: BTreeMap<&'static str, u64>,
    end_line: u64,
    end_offset: u64,
    checksum: Checksum,
    data_lines: u64,
    end_marker: Option<(u64, String)>,
    header_seen: bool,
}

/// Checkpoint of a load.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoadState {
    columns: Vec<String>,
    line: u64,
    offset: u64,
    loaded: u64,
    skipped: u64,
    rejected: u64,
    conversions: BTreeMap<String, u64>,
    checksum: String,
    data_lines: u64,
    header_seen: bool,
    /// Length of the rejects file when this was saved (absent in older checkpoints).
    #[serde(default)]
    rejects_bytes: Option<u64>,
    /// The key range of a `--shard` load.
    #[serde(default)]
    shard: Option<ShardRange>,
}

/// Why applying rows failed: a row-level problem (bisect, then reject the row) or anything
/// else (stop the run; it can be resumed).
pub enum ApplyError {
    /// The database refused a row's value or a constraint.
    Row {
        /// The column the server blamed, when it says.
        column: Option<String>,
        /// The server's message.
        reason: String,
    },
    /// Connection lost, permission, syntax: not the row's fault.
    Fatal(FerryError),
}

/// A table being loaded: everything engine-specific on the load path, behind one trait.
///
/// The cast rules and the bulk encoder are the target's; the reader thread casts and encodes
/// with them ([`Target::encode_row`] is an associated function so that thread needs no
/// connection), and [`flush_batch`] applies the encoded rows in transactions with savepoints.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// The dialect's BEGIN.
    const BEGIN: &'static str;
    /// Whether the bulk format can carry a column of this catalog type.
    fn supports(t: &LogicalType) -> bool;
    /// Appends one cast row in the target's bulk format.
    fn encode_row(vals: &[Val<'_>], cols: &[&TargetColumn], out: &mut Vec<u8>);
    /// How values are cast for this target (zero dates, NUL, non-finite numbers).
    fn rules(&self) -> CastRules;
    /// Gets ready for batches in `mode` outside any transaction, so that a rolled-back
    /// batch cannot undo it (the staging table of `ignore`/`upsert`).
    async fn prepare(&mut self, mode: Mode) -> Result<()>;
    /// Runs a transaction-control statement.
    async fn exec(&mut self, sql: &str) -> Result<()>;
    /// Writes rows `range` of the batch; returns (written, skipped).
    async fn apply_range(
        &mut self,
        batch: &Batch,
        range: std::ops::Range<usize>,
        mode: Mode,
    ) -> std::result::Result<(u64, u64), ApplyError>;
    /// Identifier quoting of the dialect.
    const QUOTE: fn(&str) -> String;
    /// Empties the table (`--mode truncate`), or only the rows matching `scope` (a shard's
    /// key range, built by the tool from integers and a quoted column).
    async fn truncate(&mut self, scope: Option<&str>) -> Result<()>;
    /// Whether the table (or the `scope` of it) holds any row (a `--resume` that found no
    /// checkpoint must not insert the whole input again on top of an earlier run's rows).
    async fn has_rows(&mut self, scope: Option<&str>) -> Result<bool>;
    /// Takes a lock named `name` for the rest of the session without waiting; false when
    /// another session holds it (two processes loading the same shard at once).
    async fn try_lock(&mut self, name: &str) -> Result<bool>;
    /// The primary key an earlier load created the table without and has not built yet
    /// (the table's marker says so), if any.
    async fn pending_key(&mut self) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// Builds the deferred primary key `cols` and removes the marker, in one transaction.
    /// Rows whose key an earlier row already has are removed first and returned (as JSON
    /// text, with the reason) to be rejected: what an insert with the key in place would
    /// have refused.
    async fn build_key(&mut self, _cols: &[String]) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    /// The largest encoded row the server can take, if it has a limit (MariaDB's
    /// `max_allowed_packet`): a bigger row is rejected with that reason, never sent.
    fn max_row_bytes(&self) -> Option<usize> {
        None
    }
    /// A batch is sent before it grows past this many encoded bytes, so memory stays flat
    /// whatever the rows' size.
    fn max_batch_bytes(&self) -> usize {
        64 << 20
    }
    /// Runs inside a batch's transaction just before its COMMIT: what must commit with the
    /// rows or not at all (a resume point kept in the target itself).
    async fn before_commit(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Applies a batch in one transaction. On a row-level error the batch is rolled back and
/// bisected under savepoints: halves that apply are kept, a single row that fails is
/// returned as rejected, so one bad row never costs its neighbours.
pub async fn flush_batch<T: Target>(t: &mut T, batch: &Batch, mode: Mode) -> Result<FlushResult> {
    apply_batch(t, batch, mode, "COMMIT").await
}

/// A dry run's batch: applied exactly as [`flush_batch`] would (so the database itself finds
/// duplicate keys, foreign keys and checks), then rolled back. Nothing stays; sequences may
/// have advanced.
pub async fn trial_batch<T: Target>(t: &mut T, batch: &Batch, mode: Mode) -> Result<FlushResult> {
    apply_batch(t, batch, mode, "ROLLBACK").await
}

async fn apply_batch<T: Target>(
    t: &mut T,
    batch: &Batch,
    mode: Mode,
    end: &str,
) -> Result<FlushResult> {
    let mut res = FlushResult::default();
    if batch.is_empty() {
        return Ok(res);
    }
    t.prepare(mode).await?;
    let begin = T::BEGIN;
    t.exec(begin).await?;
    match t.apply_range(batch, 0..batch.len(), mode).await {
        Ok((l, s)) => {
            res.loaded = l;
            res.skipped = s;
        }
        Err(ApplyError::Row { reason, .. }) => {
            tracing::debug!("batch failed ({reason}); isolating the rows");
            t.exec("ROLLBACK").await?;
            t.exec(begin).await?;
            // A stack of row ranges still to apply.
            let mut stack: Vec<std::ops::Range<usize>> = Vec::new();
            stack.push(0..batch.len());
            while let Some(r) = stack.pop() {
                t.exec("SAVEPOINT ferry").await?;
                match t.apply_range(batch, r.clone(), mode).await {
                    Ok((l, s)) => {
                        t.exec("RELEASE SAVEPOINT ferry").await?;
                        res.loaded += l;
                        res.skipped += s;
                    }
                    Err(ApplyError::Row { column, reason }) => {
                        t.exec("ROLLBACK TO SAVEPOINT ferry").await?;
                        t.exec("RELEASE SAVEPOINT ferry").await?;
                        if r.len() == 1 {
                            res.rejected.push((r.start, column, reason));
                        } else {
                            let mid = r.start + r.len() / 2;
                            // Pushed in reverse so rows are applied in input order.
                            stack.push(mid..r.end);
                            stack.push(r.start..mid);
                        }
                    }
                    Err(ApplyError::Fatal(e)) => {
                        let _ = t.exec("ROLLBACK").await;
                        return Err(e);
                    }
                }
            }
        }
        Err(ApplyError::Fatal(e)) => {
            let _ = t.exec("ROLLBACK").await;
            return Err(e);
        }
    }
    if end == "COMMIT" {
        if let Err(e) = t.before_commit().await {
            let _ = t.exec("ROLLBACK").await;
            return Err(e);
        }
    }
    t.exec(end).await?;
    Ok(res)
}

/// A target's row encoder, as the reader thread holds it.
type EncodeFn = fn(&[Val<'_>], &[&TargetColumn], &mut Vec<u8>);

/// What the engine half hands to the common pipeline.
pub struct Plan<T> {
    /// The connected target.
    pub target: T,
    /// Target columns in stream order.
    pub columns: Vec<TargetColumn>,
    /// Target has a unique key (resume can skip rows already loaded).
    pub has_unique: bool,
    /// Redacted target description for the report.
    pub target_name: String,
    /// The primary key this run left out of the table it created, to build after the load
    /// (as pgloader and myloader do): rows go in without index upkeep.
    pub deferred_key: Option<Vec<String>>,
}

/// What the stream says about itself before any row is loaded.
pub struct Opened {
    /// The reader, positioned after the header (or resume point).
    pub reader: RecordReader,
    /// The schema, from the header or a sidecar.
    pub schema: Option<TableSchema>,
    /// Column names in record order.
    pub columns: Vec<String>,
    /// A data line is already in the reader's buffer.
    pub pending: bool,
    /// The stream carried a header.
    pub header_seen: bool,
}

impl Opened {
    /// Without a header, a record or a sidecar there are no columns to load: an empty input
    /// is an error (its producer most likely failed), said plainly, not as missing columns.
    fn check_not_empty(&self) -> Result<()> {
        if self.columns.is_empty() && !self.pending {
            return Err(FerryError::Truncated(format!(
                "the input {} is empty: no header line and no record, so nothing was loaded (extract writes a header even for an empty table: did the producer fail?)",
                self.reader.name()
            )));
        }
        Ok(())
    }
}

fn checkpoint_for(args: &LoadArgs, tool: &str, target: &str) -> Checkpoint<LoadState> {
    let input = args
        .input
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "-".into());
    // Shards of one table, each from its own pipe, keep checkpoints of their own.
    let shard = args.shard.file_tag('-');
    let path = args.run.checkpoint.clone().unwrap_or_else(|| {
        PathBuf::from(".ferry").join(format!(
            "{tool}-{}{shard}-{}.json",
            file_safe(&args.table),
            file_safe(&input)
                .chars()
                .rev()
                .take(60)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        ))
    });
    let identity = match args.shard.shard {
        Some(s) => format!("{input} -> {target} {} shard {s}", args.table),
        None => format!("{input} -> {target} {}", args.table),
    };
    Checkpoint::new(path, tool, identity)
}

/// Opens the input and learns its columns: stream header, `--sidecar`, a sidecar beside the
/// file, or the first record's keys — in that order. On resume, skips what is loaded.
pub fn open_input(args: &LoadArgs, resume: Option<(&[String], u64, u64, bool)>) -> Result<Opened> {
    let mut reader = RecordReader::open(args.input.as_deref())?;
    let sidecar = match &args.sidecar {
        Some(p) => Some(read_sidecar(p)?),
        None => match reader.path().map(sidecar_path) {
            Some(p) if p.exists() => Some(read_sidecar(&p)?),
            _ => None,
        },
    };
    if let Some((cols, line, offset, header_seen)) = resume {
        // The header is read again: it says which shard the stream is, so a checkpoint of
        // one shard cannot be continued with another shard's stream.
        let mut schema = sidecar;
        if header_seen {
            if let Some(Item::Header(s)) = reader.next_item()? {
                schema = Some(*s);
            }
        }
        reader.skip_to(line, offset)?;
        return Ok(Opened {
            reader,
            schema,
            columns: cols.to_vec(),
            pending: false,
            header_seen,
        });
    }
    match reader.next_item()? {
        Some(Item::Header(s)) => {
            let columns = s.columns.iter().map(|c| c.name.clone()).collect();
            Ok(Opened {
                reader,
                schema: Some(*s),
                columns,
                pending: false,
                header_seen: true,
            })
        }
        Some(Item::Data) => {
            let columns = match &sidecar {
                Some(s) => s.columns.iter().map(|c| c.name.clone()).collect(),
                None => ferry_shared::record::line_keys(reader.line()).map_err(|e| {
                    FerryError::BadRecord {
                        file: reader.name().to_string(),
                        line: reader.line_no(),
                        reason: format!(
                            "{e}; the first record names the columns when no schema is given"
                        ),
                    }
                })?,
            };
            Ok(Opened {
                reader,
                schema: sidecar,
                columns,
                pending: true,
                header_seen: false,
            })
        }
        Some(Item::End { .. }) | None => {
            let columns = sidecar
                .as_ref()
                .map(|s| s.columns.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            Ok(Opened {
                reader,
                schema: sidecar,
                columns,
                pending: false,
                header_seen: false,
            })
        }
    }
}

/// Matches stream columns to target columns; unknown columns are a usage error.
pub fn plan_columns(
    stream: &[String],
    target: &TargetTable,
    table: &str,
    supported: fn(&LogicalType) -> bool,
) -> Result<Vec<TargetColumn>> {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for name in stream {
        match target.columns.iter().find(|c| &c.name == name) {
            Some(c) if !c.writable => {
                return Err(FerryError::Usage(format!(
                    "column {name:?} of {table} is generated; leave it out of the input"
                )))
            }
            Some(c) if !supported(&c.logical) => {
                return Err(FerryError::Usage(format!(
                    "column {name:?} of {table} has type {:?}, which this loader cannot write",
                    c.logical
                )))
            }
            Some(c) => out.push(c.clone()),
            None => unknown.push(name.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(FerryError::Usage(format!(
            "the input has columns that {table} lacks: {}",
            unknown.join(", ")
        )));
    }
    if let Some(c) = target
        .columns
        .iter()
        .find(|c| c.writable && !c.nullable && !c.has_default && !stream.contains(&c.name))
    {
        return Err(FerryError::Usage(format!(
            "column {:?} of {table} is NOT NULL without a default and is missing from the input",
            c.name
        )));
    }
    Ok(out)
}

/// Runs a load to the end. `connect` has already produced the plan (target connected,
/// table created/described). Returns the exit code.
pub async fn run_load<T: Target>(
    tool: &'static str,
    args: &LoadArgs,
    opened: Opened,
    mut plan: Plan<T>,
    resume_state: Resume,
) -> anyhow::Result<Exit> {
    let mut report = load_report(tool, args, &plan.target_name);
    let checkpoint = match &resume_state {
        Some((cp, _)) => cp.clone(),
        None => checkpoint_for(args, tool, &plan.target_name),
    };
    let prior: Option<LoadState> = resume_state.and_then(|(_, s)| s);
    let (stats, data_lines, checksum) = resumed_totals(args, prior.as_ref(), &mut report)?;
    let shard = shard_scope(args, opened.schema.as_ref(), prior.as_ref())?;
    prepare_target(args, &mut plan, shard.as_ref(), prior.is_none()).await?;
    let (deferred, build_now) = deferred_key(args, &mut plan).await?;
    let rejects_path = args.run.rejects.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}{}.rejects.ndjson",
            file_safe(&args.table),
            args.shard.file_tag('.')
        ))
    });
    let rejects = match prior.as_ref().and_then(|p| p.rejects_bytes) {
        Some(bytes) => Rejects::resume_at(rejects_path, bytes, args.run.max_rejects)?,
        None => Rejects::new(rejects_path, prior.is_some(), args.run.max_rejects),
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Prepared>>(1);
    let (spares, spares_rx) = std::sync::mpsc::channel::<Batch>();
    let header_seen = opened.header_seen;
    let (start, pending) = (
        (opened.reader.line_no(), opened.reader.offset()),
        opened.pending,
    );
    let expected_rows = opened.schema.as_ref().and_then(|s| s.row_count);
    let job = ReadJob {
        names: opened.columns.clone(),
        columns: plan.columns.clone(),
        rules: plan.target.rules(),
        encode: T::encode_row,
        batch_size: args.batch.batch_size.max(1),
        max_row_bytes: plan.target.max_row_bytes(),
        max_batch_bytes: plan.target.max_batch_bytes().max(1),
        totals: StreamTotals {
            checksum,
            data_lines,
            header_seen,
        },
        opened,
        spares: Spares(spares_rx),
    };
    let reader_thread = std::thread::spawn(move || {
        if let Err(e) = job.run(&tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });

    let progress = load_progress(args, stats.migrated, expected_rows, checkpoint.path());
    let mut load = Loader {
        args,
        guard: prior.is_some()
            && (plan.has_unique || build_now.is_some())
            && matches!(args.mode, Mode::Insert | Mode::Truncate),
        plan,
        checkpoint,
        report,
        stats,
        rejects,
        progress,
        started: std::time::Instant::now(),
        end_marker: None,
        header: header_seen,
        data_lines,
        checksum,
        saved_line: prior.as_ref().map_or(0, |p| p.line),
        shard,
        deferred,
        spares,
    };
    if let Some(k) = build_now {
        load.build_key(&k).await?;
    }
    if prior.is_none() && !args.run.dry_run && header_seen && !pending {
        load.save_start(start.0, start.1)?;
    }
    let mut outcome: anyhow::Result<()> = Ok(());
    // Ctrl+C or SIGTERM stops between batches: what is committed stays, with its checkpoint
    // (a second one stops at once, see `ferry_shared::run`).
    let _handled = ferry_shared::run::Handled::new();
    let mut stop = Stop::new();
    loop {
        let msg = match next_batch(&mut rx, &mut stop).await {
            Next::Done => break,
            Next::Interrupted => {
                outcome = Err(load.interrupted().into());
                break;
            }
            Next::Batch(msg) => msg,
        };
        let p = match *msg {
            Ok(p) => p,
            Err(e) => {
                outcome = Err(e.into());
                break;
            }
        };
        if let Flow::Stop(e) = load.commit(p).await? {
            outcome = Err(e);
            break;
        }
    }
    drop(rx);
    let _ = reader_thread.join();
    if let (Ok(()), Some(k)) = (&outcome, load.deferred.take()) {
        outcome = load.build_key(&k).await.map_err(Into::into);
    }
    load.finish(outcome)
}

/// The primary key to build after the load (this run created the table without it), or
/// before it (a resumed run into a table an earlier run left without it). Any other run
/// refuses such a table: loading it again without its key would duplicate every row.
async fn deferred_key<T: Target>(
    args: &LoadArgs,
    plan: &mut Plan<T>,
) -> Result<(Option<Vec<String>>, Option<Vec<String>>)> {
    if let Some(k) = plan.deferred_key.take() {
        return Ok((Some(k), None));
    }
    match plan.target.pending_key().await? {
        None => Ok((None, None)),
        Some(k) if args.run.resume && !args.run.dry_run => Ok((None, Some(k))),
        Some(k) => Err(FerryError::Usage(format!(
            "{} was created by a load-postgres run that stopped before building its primary key ({}): continue that run with --resume (the same command), or drop the table to start over",
            plan.target_name,
            k.join(", ")
        ))),
    }
}

/// The totals a resumed load starts from (zero for a fresh one): stats, data lines and
/// the checksum of the lines read so far.
fn resumed_totals(
    args: &LoadArgs,
    prior: Option<&LoadState>,
    report: &mut RunReport,
) -> Result<(TableStats, u64, Checksum)> {
    let mut stats = TableStats::new(&args.table);
    let Some(p) = prior else {
        return Ok((stats, 0, Checksum::default()));
    };
    stats.migrated = p.loaded;
    stats.resumed = p.loaded;
    stats.skipped = p.skipped;
    stats.errors = p.rejected;
    stats.conversions = p.conversions.clone();
    report.notes.push(format!(
        "resumed after input line {} ({} rows loaded before)",
        p.line, p.loaded
    ));
    let checksum = Checksum::from_parts(&p.checksum, p.data_lines)?;
    Ok((stats, p.data_lines, checksum))
}

/// Before the first batch: the shard's lock; then on a fresh run the `truncate` (of the
/// shard's range only, for a shard), or, for a `--resume` that found no checkpoint, the
/// refusal to insert over rows already there.
async fn prepare_target<T: Target>(
    args: &LoadArgs,
    plan: &mut Plan<T>,
    shard: Option<&ShardRange>,
    fresh: bool,
) -> Result<()> {
    let scope = shard.and_then(|r| r.condition(T::QUOTE));
    if let Some(r) = shard {
        lock_shard(plan, r).await?;
    }
    if fresh && args.mode == Mode::Truncate && !args.run.dry_run {
        plan.target.truncate(scope.as_deref()).await?;
    } else if fresh
        && args.run.resume
        && args.mode == Mode::Insert
        && plan.target.has_rows(scope.as_deref()).await?
    {
        let what = shard.map_or(String::new(), |r| format!(" ({})", r.describe()));
        return Err(FerryError::Usage(format!(
            "--resume found no checkpoint and {}{what} already has rows: inserting the input again would reject every row already loaded; use --mode ignore to skip them, or --mode truncate to start over",
            args.table
        )));
    }
    Ok(())
}

/// The shard this load fills: the stream's range (its header or sidecar; on resume, the
/// checkpoint's), which must be the `--shard` given. A shard stream without `--shard`, or
/// `--shard` without a range to fill, is refused: the checkpoint, the truncate and the
/// check for rows already there all depend on which range this is.
fn shard_scope(
    args: &LoadArgs,
    schema: Option<&TableSchema>,
    prior: Option<&LoadState>,
) -> Result<Option<ShardRange>> {
    let stream = schema.and_then(|s| s.shard.clone());
    let range = match prior {
        Some(p) => {
            if let (Some(saved), Some(st)) = (&p.shard, &stream) {
                if saved != st {
                    return Err(FerryError::Usage(format!(
                        "the stream is {}, but the checkpoint was saved loading {}: resume with the stream the checkpoint belongs to",
                        st.describe(),
                        saved.describe()
                    )));
                }
            }
            p.shard.clone()
        }
        None => stream,
    };
    match (args.shard.shard, range) {
        (None, None) => Ok(None),
        (Some(s), Some(r)) if r.shard() == s => Ok(Some(r)),
        (Some(s), Some(r)) => Err(FerryError::Usage(format!(
            "--shard {s} but the stream is {}: give the shard the stream was extracted as",
            r.describe()
        ))),
        (None, Some(r)) => Err(FerryError::Usage(format!(
            "the stream is {}: give --shard {} so this load keeps its own checkpoint and range",
            r.describe(),
            r.shard()
        ))),
        (Some(s), None) => Err(FerryError::Usage(format!(
            "--shard {s}: the stream names no shard range; load the output of `extract --shard {s}` (its header or sidecar carries the range)"
        ))),
    }
}

/// Holds the shard's lock in the target for the whole load, so a second process given the
/// same shard (a retried job while the first still runs) is refused instead of loading
/// every row twice.
async fn lock_shard<T: Target>(plan: &mut Plan<T>, r: &ShardRange) -> Result<()> {
    let name = format!("ferry load {} shard {}", plan.target_name, r.shard());
    if plan.target.try_lock(&name).await? {
        return Ok(());
    }
    Err(FerryError::Usage(format!(
        "{} of {} is being loaded by another process (its lock is held); wait for it to end or stop it, then --resume",
        r.describe(),
        plan.target_name
    )))
}

/// What the load loop waits for: the reader's next batch, or Ctrl+C.
enum Next {
    Batch(Box<Result<Prepared>>),
    Interrupted,
    Done,
}

async fn next_batch(
    rx: &mut tokio::sync::mpsc::Receiver<Result<Prepared>>,
    stop: &mut Stop,
) -> Next {
    if ferry_shared::run::interrupted() {
        return Next::Interrupted;
    }
    tokio::select! {
        m = rx.recv() => m.map_or(Next::Done, |m| Next::Batch(Box::new(m))),
        () = stop.recv() => Next::Interrupted,
    }
}

/// Ctrl+C (SIGINT) and SIGTERM, as one future.
struct Stop {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Stop {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves at the next signal (never, when none could be watched).
    async fn recv(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = one(&mut self.int) => {}
            () = one(&mut self.term) => {}
        }
    }
}

/// The load's report, before any row: what it reads and writes.
fn load_report(tool: &str, args: &LoadArgs, target: &str) -> RunReport {
    let mut report = RunReport::start(tool);
    report.target = Some(target.to_string());
    report.inputs = vec![opened_name(args)];
    report.outputs = vec![target.to_string()];
    report.dry_run = args.run.dry_run;
    report
}

/// The load's progress: rows from `done` (a resume); percent and ETA from the input's size,
/// or (a pipe) from the row count the stream's header or sidecar gives. Names the checkpoint
/// for the interrupt line.
fn load_progress(
    args: &LoadArgs,
    done: u64,
    rows: Option<u64>,
    checkpoint: &std::path::Path,
) -> Progress {
    if !args.run.dry_run {
        ferry_shared::run::set_checkpoint(checkpoint);
    }
    let mut progress = Progress::new(&args.table, rows, args.common.quiet);
    progress.set_position(done);
    if let Some(size) = input_size(args) {
        progress.set_total_bytes(size);
    }
    progress
}

/// Bytes of the input when it is a file (named, or redirected to stdin): the progress bar's
/// total. A pipe has none.
fn input_size(args: &LoadArgs) -> Option<u64> {
    let path = match args.input.as_deref() {
        Some(p) if p != std::path::Path::new("-") => p.to_path_buf(),
        _ => PathBuf::from("/dev/stdin"),
    };
    fs_err::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
}

/// After a batch: go on with the next one, or stop the run with an error that is still
/// reported (a failed flush, the rejects limit).
enum Flow {
    Next,
    Stop(anyhow::Error),
}

/// The async side of a load: the sink, the checkpoint, and the totals each commit adds to
/// and records. One struct so each batch's commit is one method and the run's end another.
struct Loader<'a, T> {
    args: &'a LoadArgs,
    plan: Plan<T>,
    checkpoint: Checkpoint<LoadState>,
    report: RunReport,
    stats: TableStats,
    rejects: Rejects,
    progress: Progress,
    started: std::time::Instant,
    /// The first non-empty batch after a resume is applied as `ignore`: its rows may have
    /// been committed just before the checkpoint could be saved.
    guard: bool,
    /// The stream's end line, once read.
    end_marker: Option<(u64, String)>,
    /// The stream carried a header.
    header: bool,
    /// Data lines read so far (as of the last committed batch).
    data_lines: u64,
    /// Checksum of those lines.
    checksum: Checksum,
    /// The input line the last saved checkpoint reaches.
    saved_line: u64,
    /// The key range of a `--shard` load, saved in each checkpoint.
    shard: Option<ShardRange>,
    /// The primary key to build when every batch is in (`Plan::deferred_key`).
    deferred: Option<Vec<String>>,
    /// Batches applied, back to the reader (see [`Spares`]).
    spares: std::sync::mpsc::Sender<Batch>,
}

/// Batches the writer is done with, on their way back to the reader to be filled again.
/// Their buffers keep their capacity, so the reader does not ask the allocator (and the
/// kernel, for fresh pages) for tens of megabytes per batch: a load from a file peaked at
/// 194 MB with a new batch each time. As many batches exist as were ever in flight at once.
struct Spares(std::sync::mpsc::Receiver<Batch>);

impl Spares {
    /// A new batch to fill: a returned one, emptied, if there is one.
    fn prepared(&self) -> Prepared {
        let mut p = Prepared::empty();
        if let Ok(mut b) = self.0.try_recv() {
            b.clear();
            p.batch = b;
        }
        p
    }
}

impl<T: Target> Loader<'_, T> {
    /// The one line Ctrl+C leaves: what is saved and how to go on.
    fn interrupted(&self) -> FerryError {
        if self.args.run.dry_run {
            return FerryError::Interrupted("interrupted (dry run: nothing was written)".into());
        }
        FerryError::Interrupted(format!(
            "interrupted: {} rows are loaded and saved through input line {} (checkpoint {})",
            self.stats.migrated,
            self.saved_line,
            self.checkpoint.path().display(),
        ))
    }

    /// Builds the deferred primary key; rows that repeat an earlier row's key are removed
    /// by the target and rejected here, as an insert with the key in place would have.
    async fn build_key(&mut self, cols: &[String]) -> Result<()> {
        tracing::info!(
            "{}: building the primary key ({})",
            self.args.table,
            cols.join(", ")
        );
        let dups = self.plan.target.build_key(cols).await?;
        self.plan.has_unique = true;
        let name = opened_name(self.args);
        for (row, reason) in &dups {
            let record = serde_json::value::RawValue::from_string(row.clone())
                .map_err(|e| FerryError::Failed(format!("a duplicate row's JSON: {e}")))?;
            self.rejects.add(&Reject {
                file: &name,
                line: None,
                table: &self.args.table,
                column: None,
                value: None,
                reason,
                rule: None,
                rowid: None,
                record,
            })?;
        }
        self.rejects.flush()?;
        let n = dups.len() as u64;
        self.stats.migrated = self.stats.migrated.saturating_sub(n);
        self.stats.errors += n;
        Ok(())
    }

    /// The first checkpoint, before any batch, when a resume from it is exact: a crash
    /// between the first commit and its checkpoint then resumes at the first data line
    /// with that batch guarded by the key (rows already committed are recognised), instead
    /// of finding rows and no checkpoint. Without a key (or in a mode that does not
    /// guard) there is none, and such a resume refuses as before. (Upsert applies the
    /// batch again, which changes nothing.)
    fn save_start(&mut self, line: u64, offset: u64) -> Result<()> {
        if !self.plan.has_unique && self.deferred.is_none() {
            return Ok(());
        }
        self.checkpoint.save_start(&self.state(line, offset))
    }

    /// What a checkpoint records: the input read through `line`/`offset`, and the totals.
    fn state(&self, line: u64, offset: u64) -> LoadState {
        LoadState {
            columns: opened_columns(&self.plan),
            line,
            offset,
            loaded: self.stats.migrated,
            skipped: self.stats.skipped,
            rejected: self.stats.errors,
            conversions: self.stats.conversions.clone(),
            checksum: self.checksum.hex(),
            data_lines: self.data_lines,
            header_seen: self.header,
            rejects_bytes: Some(self.rejects.bytes()),
            shard: self.shard.clone(),
        }
    }

    /// Applies one batch (commit), writes its rejects, then saves the checkpoint (the
    /// order a crash between them relies on). An `Err` stops the run unreported.
    async fn commit(&mut self, mut p: Prepared) -> anyhow::Result<Flow> {
        let args = self.args;
        let mode = if self.guard { Mode::Ignore } else { args.mode };
        // A dry run applies each batch and rolls it back, so the conflicts a real run would
        // meet are found and rejected the same way (truncate mode: types only, as the rows
        // it would remove are still there).
        let applied = match (args.run.dry_run, mode) {
            (true, Mode::Truncate) => Ok(FlushResult {
                loaded: p.batch.len() as u64,
                ..Default::default()
            }),
            (true, _) => trial_batch(&mut self.plan.target, &p.batch, mode).await,
            (false, _) => flush_batch(&mut self.plan.target, &p.batch, mode).await,
        };
        let mut res = match applied {
            Ok(r) => r,
            Err(e) => return Ok(Flow::Stop(e.into())),
        };
        if self.guard && !p.batch.is_empty() {
            self.guard = false;
            self.recovered(&mut res);
        }
        let (written_rejects, limit_hit) = self.write_rejects(&p, res.rejected);
        // The reader fills it again (it may have stopped: then nobody takes it).
        let _ = self.spares.send(std::mem::take(&mut p.batch));
        self.stats.migrated += res.loaded;
        self.stats.skipped += res.skipped;
        self.stats.errors += written_rejects;
        for (k, v) in p.conversions {
            *self.stats.conversions.entry(k.to_string()).or_default() += v;
        }
        self.progress.inc(res.loaded + res.skipped);
        self.progress.set_bytes(p.end_offset);
        self.data_lines = p.data_lines;
        self.checksum = p.checksum;
        self.header |= p.header_seen;
        if p.end_marker.is_some() {
            self.end_marker = p.end_marker;
        }
        if !args.run.dry_run {
            self.rejects.flush()?;
            self.checkpoint
                .save(&self.state(p.end_line, p.end_offset))?;
            self.saved_line = p.end_line;
            let mut snapshot = self.report.clone();
            snapshot.tables = vec![self.stats.clone()];
            ferry_shared::run::publish(&snapshot);
        }
        tracing::debug!(
            "committed through input line {} ({} loaded, {} skipped, {} rejected)",
            p.end_line,
            self.stats.migrated,
            self.stats.skipped,
            self.stats.errors
        );
        Ok(match limit_hit {
            Some(e) => Flow::Stop(e.into()),
            None => Flow::Next,
        })
    }

    /// The first batch after a resume meets the rows the interrupted run committed just
    /// before it could save its checkpoint. Under `insert` and `truncate` no other row can
    /// hold those keys (the first run would have rejected or removed it), so they are this
    /// load's rows: counted as migrated, not skipped, and the report says so. Under
    /// `ignore` they cannot be told from rows that were there before: they stay skipped.
    fn recovered(&mut self, res: &mut FlushResult) {
        let n = res.skipped;
        if n == 0 {
            return;
        }
        let note = if matches!(self.args.mode, Mode::Insert | Mode::Truncate) {
            res.loaded += res.skipped;
            res.skipped = 0;
            "were committed by the interrupted run after its last checkpoint: counted as migrated"
        } else {
            "were already in the table (committed by the interrupted run, or there before): counted as skipped"
        };
        self.report
            .notes
            .push(format!("{n} rows of the first batch after resume {note}"));
    }

    /// Writes the batch's rejects (cast failures and rows the database refused) in input
    /// order. Returns how many were written and, when the rejects limit was reached, its
    /// error (the batch's totals and checkpoint are still recorded first).
    fn write_rejects(
        &mut self,
        p: &Prepared,
        refused: Vec<(usize, Option<String>, String)>,
    ) -> (u64, Option<FerryError>) {
        let mut rej: Vec<&OwnedReject> = p.rejects.iter().collect();
        let refused: Vec<OwnedReject> = refused
            .into_iter()
            .map(|(i, column, reason)| OwnedReject {
                line: p.batch.lines[i],
                column,
                value: None,
                reason,
                raw: p.batch.raw_line(i).to_vec(),
            })
            .collect();
        rej.extend(refused.iter());
        rej.sort_by_key(|r| r.line);
        let name = opened_name(self.args);
        let mut written_rejects = 0u64;
        for r in rej {
            written_rejects += 1;
            if let Err(e) = self.rejects.add(&Reject {
                file: &name,
                line: Some(r.line),
                table: &self.args.table,
                column: r.column.as_deref(),
                value: r.value.as_deref(),
                reason: &r.reason,
                rule: None,
                rowid: None,
                record: record_value(&r.raw),
            }) {
                return (written_rejects, Some(e));
            }
        }
        (written_rejects, None)
    }

    /// Ends the run: the table's stats into the report, the end line checked when the run
    /// went well, the report emitted, and the checkpoint removed only on success.
    fn finish(mut self, mut outcome: anyhow::Result<()>) -> anyhow::Result<Exit> {
        let args = self.args;
        self.progress.finish();
        self.stats.duration_secs = self.started.elapsed().as_secs_f64();
        self.report.tables.push(self.stats);
        if let Some(r) = &self.shard {
            // The range this load filled: `ferry copy` checks the ranges tile.
            self.report.details = Some(serde_json::json!({ "shard": r }));
        }
        if self.rejects.count() > 0 {
            self.report.rejects_file = Some(self.rejects.path().display().to_string());
        }
        if outcome.is_ok() {
            outcome = check_end(
                self.header,
                self.end_marker,
                self.data_lines,
                &self.checksum,
                &mut self.report,
            );
        }
        if let Err(e) = outcome {
            self.report.fail_with(&e);
            self.report
                .emit(args.common.quiet, args.common.report.as_deref())?;
            return Err(e);
        }
        if !args.run.dry_run {
            self.checkpoint.clear()?;
        }
        let exit = self.report.finish();
        self.report
            .emit(args.common.quiet, args.common.report.as_deref())?;
        Ok(exit)
    }
}

fn opened_name(args: &LoadArgs) -> String {
    args.input
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "-".into())
}

fn opened_columns<T>(plan: &Plan<T>) -> Vec<String> {
    plan.columns.iter().map(|c| c.name.clone()).collect()
}

/// A stream that started with a header must end with its end line, with the same row count
/// and checksum: otherwise its producer died and the load is incomplete.
fn check_end(
    header: bool,
    end: Option<(u64, String)>,
    lines: u64,
    checksum: &Checksum,
    report: &mut RunReport,
) -> anyhow::Result<()> {
    match (header, end) {
        (true, None) => Err(FerryError::Truncated(format!(
            "the input stream ended after {lines} records without its end line: the producer failed or was cut off; the rows read are loaded, rerun when the source is complete"
        ))
        .into()),
        (_, Some((rows, sum))) => {
            if rows != lines || sum != checksum.hex() {
                return Err(FerryError::Truncated(format!(
                    "the stream's end line says {rows} rows ({sum}) but {lines} arrived ({})",
                    checksum.hex()
                ))
                .into());
            }
            report.notes.push(format!("stream complete: {rows} records, checksum {sum} matches"));
            Ok(())
        }
        (false, None) => Ok(()),
    }
}

/// What the stream has shown so far. A resumed load starts from the checkpoint's totals,
/// so the end line's row count and checksum are checked against the whole stream.
struct StreamTotals {
    /// Checksum of the data lines read.
    checksum: Checksum,
    /// Data lines read.
    data_lines: u64,
    /// A header was read (a second one means two streams were concatenated).
    header_seen: bool,
}

/// Everything the reader thread owns: the opened input, how lines become target rows, and
/// the stream totals to continue from.
struct ReadJob {
    opened: Opened,
    /// Column names in record order.
    names: Vec<String>,
    /// Target columns in the same order.
    columns: Vec<TargetColumn>,
    rules: CastRules,
    encode: EncodeFn,
    /// Rows (or rejects) per batch.
    batch_size: usize,
    /// Byte limits of the target: per row (reject above), per batch (send before).
    max_row_bytes: Option<usize>,
    max_batch_bytes: usize,
    totals: StreamTotals,
    spares: Spares,
}

/// How a data line becomes an encoded row: parsed by column, each value cast to its target
/// column, then encoded. Read-only while the stream is read.
struct RowEncoder<'c> {
    index: ColumnIndex,
    columns: &'c [TargetColumn],
    col_refs: Vec<&'c TargetColumn>,
    rules: CastRules,
    encode: EncodeFn,
    /// The target's byte limits (see [`Target::max_row_bytes`]).
    max_row_bytes: Option<usize>,
    max_batch_bytes: usize,
    /// The row being encoded, before it is known to fit.
    scratch: Vec<u8>,
    /// Where the next batch comes from.
    spares: Spares,
}

/// Why a data line is rejected: the column blamed (if any), its raw value, the reason.
struct RowFailure {
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

impl Prepared {
    fn empty() -> Self {
        Prepared {
            batch: Batch::default(),
            rejects: Vec::new(),
            conversions: BTreeMap::new(),
            end_line: 0,
            end_offset: 0,
            checksum: Checksum::default(),
            data_lines: 0,
            end_marker: None,
            header_seen: false,
        }
    }

    /// Marks the batch as ending at `m`, a position before the reader's.
    fn seal_at(mut self, m: &Mark) -> Self {
        self.end_line = m.line;
        self.end_offset = m.offset;
        self.checksum = m.checksum;
        self.data_lines = m.data_lines;
        self
    }

    /// Marks the batch as ending at the reader's position, with the stream totals so far
    /// (what the checkpoint saved after it records).
    fn seal(mut self, reader: &RecordReader, totals: &StreamTotals) -> Self {
        self.end_line = reader.line_no();
        self.end_offset = reader.offset();
        self.checksum = totals.checksum;
        self.data_lines = totals.data_lines;
        self
    }
}

impl ReadJob {
    /// Reads the stream to its end, sending a batch whenever `batch_size` rows or rejects
    /// have gathered, then the rest. Stops quietly when the receiver has gone.
    fn run(self, tx: &tokio::sync::mpsc::Sender<Result<Prepared>>) -> Result<()> {
        let ReadJob {
            mut opened,
            names,
            columns,
            rules,
            encode,
            batch_size,
            max_row_bytes,
            max_batch_bytes,
            mut totals,
            spares,
        } = self;
        let mut enc = RowEncoder {
            index: ColumnIndex::new(&names),
            columns: &columns,
            col_refs: columns.iter().collect(),
            rules,
            encode,
            max_row_bytes,
            max_batch_bytes,
            scratch: Vec::new(),
            spares,
        };
        let reader = &mut opened.reader;
        let mut pending = opened.pending;
        let mut cur = Prepared::empty();
        loop {
            // Where the stream stood before this item: a batch cut before it ends here.
            let mark = (!pending).then(|| Mark::at(reader, &totals));
            let item = if pending {
                pending = false;
                Some(Item::Data)
            } else {
                reader.next_item()?
            };
            match item {
                None => break,
                Some(Item::Header(_)) => {
                    if totals.header_seen || totals.data_lines > 0 {
                        return Err(FerryError::BadRecord {
                            file: reader.name().to_string(),
                            line: reader.line_no(),
                            reason: "a second stream header: two streams were concatenated".into(),
                        });
                    }
                    totals.header_seen = true;
                    cur.header_seen = true;
                }
                Some(Item::End {
                    rows,
                    checksum: sum,
                }) => {
                    cur.end_marker = Some((rows, sum));
                }
                Some(Item::Data) => {
                    if !enc.data_line(reader, &mut totals, &mut cur, mark.as_ref(), tx) {
                        return Ok(());
                    }
                    let full = cur.batch.len() >= batch_size || cur.rejects.len() >= batch_size;
                    if full && !send_batch(tx, (&mut cur, &enc.spares), reader, &totals) {
                        return Ok(());
                    }
                }
            }
        }
        let _ = tx.blocking_send(Ok(cur.seal(reader, &totals)));
        Ok(())
    }
}

/// The stream's position and totals before an item was read.
struct Mark {
    line: u64,
    offset: u64,
    checksum: Checksum,
    data_lines: u64,
}

impl Mark {
    fn at(reader: &RecordReader, totals: &StreamTotals) -> Self {
        Mark {
            line: reader.line_no(),
            offset: reader.offset(),
            checksum: totals.checksum,
            data_lines: totals.data_lines,
        }
    }
}

/// Sends the gathered batch, sealed at the reader's position, and starts a new one. False
/// when the receiver has gone (the run stopped), so reading can stop.
fn send_batch(
    tx: &tokio::sync::mpsc::Sender<Result<Prepared>>,
    (cur, spares): (&mut Prepared, &Spares),
    reader: &RecordReader,
    totals: &StreamTotals,
) -> bool {
    let full = std::mem::replace(cur, spares.prepared());
    tx.blocking_send(Ok(full.seal(reader, totals))).is_ok()
}

impl RowEncoder<'_> {
    /// The reader's current data line into `cur`: counted and summed, then encoded as a row
    /// or kept as a reject.
    ///
    /// A row whose encoding is over the target's row limit is rejected with that reason; a
    /// row that would take the batch over its byte limit first sends the batch as it stood
    /// at `mark` (before this line). False when the receiver has gone.
    fn data_line(
        &mut self,
        reader: &RecordReader,
        totals: &mut StreamTotals,
        cur: &mut Prepared,
        mark: Option<&Mark>,
        tx: &tokio::sync::mpsc::Sender<Result<Prepared>>,
    ) -> bool {
        let line = reader.line();
        totals.data_lines += 1;
        totals.checksum.add(line);
        let line_no = reader.line_no();
        let reject = |reason: String, column: Option<String>, value: Option<String>| OwnedReject {
            line: line_no,
            column,
            value,
            reason,
            raw: line.to_vec(),
        };
        let (vals, conversions) = match self.cast_row(line) {
            Ok(v) => v,
            Err(f) => {
                cur.rejects.push(reject(f.reason, f.column, f.value));
                return true;
            }
        };
        self.scratch.clear();
        (self.encode)(&vals, &self.col_refs, &mut self.scratch);
        if let Some(max) = self.max_row_bytes.filter(|m| self.scratch.len() > *m) {
            let why = format!(
                "the row is {} bytes once encoded, over the server's limit of {max} bytes (max_allowed_packet): it cannot be sent",
                self.scratch.len()
            );
            cur.rejects.push(reject(why, None, None));
            return true;
        }
        if let Some(m) = mark {
            if !cur.batch.is_empty()
                && cur.batch.data.len() + self.scratch.len() > self.max_batch_bytes
            {
                let full = std::mem::replace(cur, self.spares.prepared());
                if tx.blocking_send(Ok(full.seal_at(m))).is_err() {
                    return false;
                }
            }
        }
        for c in conversions {
            *cur.conversions.entry(c.name()).or_default() += 1;
        }
        cur.batch.data.extend_from_slice(&self.scratch);
        cur.batch.push_row(line_no, line);
        true
    }

    /// Parses a line and casts each value to its column; the first value that does not fit
    /// rejects the row.
    fn cast_row<'a>(
        &self,
        line: &'a [u8],
    ) -> std::result::Result<(Vec<Val<'a>>, Vec<Conversion>), RowFailure> {
        let row = parse_row(line, &self.index).map_err(|reason| RowFailure {
            column: None,
            value: None,
            reason,
        })?;
        let mut vals: Vec<Val<'a>> = Vec::with_capacity(self.columns.len());
        let mut conversions: Vec<Conversion> = Vec::new();
        for (i, raw) in row.into_iter().enumerate() {
            let col = &self.columns[i];
            let Some(raw) = raw else {
                return Err(RowFailure {
                    column: Some(col.name.clone()),
                    value: None,
                    reason: format!("missing key {:?} (write null for NULL)", col.name),
                });
            };
            let mut conv = None;
            let raw_text = raw.raw;
            match cast::cast(raw, &col.logical, self.rules, &mut conv) {
                Ok(Val::Null) if !col.nullable => {
                    return Err(RowFailure {
                        column: Some(col.name.clone()),
                        value: Some(raw_text.to_string()),
                        reason: format!(
                            "NULL in NOT NULL column{}",
                            if conv.is_some() {
                                " (a zero date became NULL; --zero-date DATE gives a replacement)"
                            } else {
                                ""
                            }
                        ),
                    });
                }
                Ok(v) => {
                    if let Some(c) = conv {
                        conversions.push(c);
                    }
                    vals.push(v);
                }
                Err(reason) => {
                    return Err(RowFailure {
                        column: Some(col.name.clone()),
                        value: Some(raw_text.to_string()),
                        reason,
                    });
                }
            }
        }
        Ok((vals, conversions))
    }
}

/// Builds the plan and runs: the part of `main` both loaders share once they have a sink.
pub fn resume_checkpoint(args: &LoadArgs, tool: &str, target_name: &str) -> Result<Resume> {
    if !args.run.resume {
        return Ok(None);
    }
    let cp = checkpoint_for(args, tool, target_name);
    let state = cp.load()?;
    if state.is_none() {
        tracing::warn!(
            "--resume: no checkpoint at {}: starting from the beginning",
            cp.path().display()
        );
    }
    Ok(Some((cp, state)))
}

/// A checkpoint found for `--resume`, with its saved state (None when there was none).
pub type Resume = Option<(Checkpoint<LoadState>, Option<LoadState>)>;

/// What every loader does first: find a checkpoint when resuming, then open the input at
/// the right place.
pub fn begin(args: &LoadArgs, tool: &str, target_name: &str) -> Result<(Resume, Opened)> {
    let resume = resume_checkpoint(args, tool, target_name)?;
    let point = resume
        .as_ref()
        .and_then(|(_, s)| s.as_ref())
        .map(resume_point);
    let opened = open_input(
        args,
        point
            .as_ref()
            .map(|(c, l, o, h)| (c.as_slice(), *l, *o, *h)),
    )?;
    Ok((resume, opened))
}

/// The schema `--create` builds from, or the error saying where one comes from.
pub fn create_schema(opened: &Opened) -> Result<&TableSchema> {
    opened.schema.as_ref().ok_or_else(|| {
        FerryError::Usage(
            "--create needs a schema: pipe from extract (header line) or give --sidecar FILE"
                .into(),
        )
    })
}

/// The error for a target table that does not exist and was not to be created.
pub fn missing_table(rel: &str, target: &str) -> FerryError {
    FerryError::NotFound(format!(
        "table {rel} does not exist in {target}; create it or add --create"
    ))
}

/// Checks the mode against the table and matches the stream's columns to it.
pub fn target_columns<T: Target>(
    args: &LoadArgs,
    opened: &Opened,
    target: &TargetTable,
    rel: &str,
) -> Result<Vec<TargetColumn>> {
    opened.check_not_empty()?;
    if args.mode == Mode::Upsert && target.primary_key.is_empty() {
        return Err(FerryError::Usage(format!(
            "--mode upsert needs a primary key on {rel}"
        )));
    }
    plan_columns(&opened.columns, target, rel, T::supports)
}

/// The resume point stored in a checkpoint: columns, line, offset, header seen.
fn resume_point(s: &LoadState) -> (Vec<String>, u64, u64, bool) {
    (s.columns.clone(), s.line, s.offset, s.header_seen)
}
