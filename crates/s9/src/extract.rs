//! `extract-buyers`, `extract-producers`, `extract-sales`: one S9 entity (PostgreSQL) → NDJSON
//! plus a schema sidecar, in a stable order, in pages, resumable.
//!
//! Why not just the generic `extract`: S9 tables have no primary key (ids repeat), so keyset
//! paging and a keyed resume are impossible there; the document also wants its own flags
//! (`--filter`, `--batch-size N --offset M` for incremental extraction) and its sales come
//! with their lines nested. The reading itself is the generic one ([`Source::scan_query`]
//! and [`Cell::write`]), so values are written exactly as `extract` writes them.
//!
//! Order and pages: rows are read `ORDER BY id, ctid` (ctid breaks ties between duplicated
//! ids), in `LIMIT batch OFFSET n` pages inside one `REPEATABLE READ READ ONLY` snapshot.
//! After each page the file is synced and a checkpoint records the rows consumed, the byte
//! length of the `.part` file and the checksum; `--resume` cuts the `.part` file back to that
//! length and continues at the next OFFSET, so an interrupted run plus a resume writes the
//! same bytes as one uninterrupted run (as long as the source does not change in between: a
//! changed row count is refused).

use crate::transform::Entity;
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use ferry_engine::source::{BadCell, Cell, Source, TableRef};
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::checksum::Checksum;
use ferry_shared::cli::{BatchArgs, CommonArgs, RunArgs};
use ferry_shared::conn::{Endpoint, Engine, SourceArgs};
use ferry_shared::progress::Progress;
use ferry_shared::record::{part_path, RecordWriter};
use ferry_shared::rejects::Rejects;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::schema::{sidecar_path, ColumnSchema, LogicalType, TableSchema};
use ferry_shared::sql::quote_pg;
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A sale's lines as one JSON array ordered by line number (one expression for both forms
/// of the sales query below).
macro_rules! lines_json {
    () => {
        "json_agg(json_build_object('line_no', l.line_no, 'product_code', l.product_code, 'description', l.description, 'quantity', l.quantity::text, 'unit_price', l.unit_price::text, 'vat_rate', l.vat_rate::text) ORDER BY l.line_no)"
    };
}

/// The sales extraction: every sale with its lines as a JSON array ordered by line number.
/// The same text as scripts/s9/sales.sql (a unit test keeps them equal), so the script and
/// the tool cannot drift apart. Pages are read with [`Selection::page_sql`], which returns
/// the same rows and columns faster.
pub const SALES_SELECT: &str = concat!(
    "SELECT s.*, (SELECT ",
    lines_json!(),
    " FROM sale_lines l WHERE l.sale_id = s.id) AS lines FROM sales s"
);

/// The binary name of an entity's extractor (also the report's and the checkpoint's tool).
pub fn tool_name(entity: Entity) -> &'static str {
    match entity {
        Entity::Buyers => "extract-buyers",
        Entity::Producers => "extract-producers",
        Entity::Sales => "extract-sales",
    }
}

/// The progress label, as the document's Monitoring section shows it.
fn progress_label(entity: Entity) -> &'static str {
    match entity {
        Entity::Buyers => "[Extract] Buyers",
        Entity::Producers => "[Extract] Producers",
        Entity::Sales => "[Extract] Sales",
    }
}

fn about(entity: Entity) -> &'static str {
    match entity {
        Entity::Buyers => "Extract the S9 buyers (PostgreSQL) as NDJSON with a schema sidecar.",
        Entity::Producers => {
            "Extract the S9 producers (PostgreSQL) as NDJSON with a schema sidecar."
        }
        Entity::Sales => {
            "Extract the S9 sales (PostgreSQL), each with its sale_lines nested as `lines`, \
             as NDJSON with a schema sidecar."
        }
    }
}

fn examples(entity: Entity) -> String {
    let tool = tool_name(entity);
    let name = entity.name();
    let filter = match entity {
        Entity::Sales => "sale_date >= '2023-06-01'",
        _ => "created_at >= '2021-01-01'",
    };
    format!(
        "Rows are read in (id, ctid) order, a page of --batch-size rows at a time, in one
read-only snapshot; the output appears under its name only when complete (FILE.part until
then) with its schema beside it ({name}.schema.json). Exit codes: 0 ok, 1 failure
(resumable), 2 usage, 3 rows rejected.

Examples (S9=postgres://migration@s9-db/s9; the password from FERRY_SOURCE_PASSWORD or .env):
  # everything, to data/extracted/{name}.ndjson (+ {name}.schema.json)
  {tool} --source $S9
  # the source from the environment (or .env), another output file
  FERRY_SOURCE=$S9 {tool} -o /tmp/{name}.ndjson
  # only some rows (an SQL condition on the {name} table's columns)
  {tool} --source $S9 --filter \"{filter}\"
  # incremental: exactly rows [0, 100), then [100, 200)
  {tool} --source $S9 --batch-size 100 --offset 0
  {tool} --source $S9 --batch-size 100 --offset 100
  # interrupted? continue after the last page written
  # (checkpoint: data/extracted/{name}.ndjson.checkpoint.json)
  {tool} --source $S9 --resume
  # read and count only, write nothing
  {tool} --source $S9 --dry-run
  # into a pipe (header and end lines carry the schema and the checksum)
  {tool} --source $S9 -o - -q | transform-{name} - -o data/transformed/{name}.ndjson"
    )
}

/// Command line of the three extractors.
#[derive(Parser, Debug, serde::Serialize)]
#[command(version)]
pub struct Args {
    #[command(flatten)]
    #[serde(flatten)]
    pub source: SourceArgs,
    /// Only rows matching this SQL condition on the entity table's columns (PostgreSQL
    /// syntax), e.g. "created_at >= '2024-01-01'". For sales the table's alias is `s`.
    #[arg(long, value_name = "SQL")]
    pub filter: Option<String>,
    /// Extract exactly one batch: rows [N, N + --batch-size) in (id, ctid) order (the
    /// document's incremental extraction). Without it, everything is read, page by page.
    #[arg(long, value_name = "N")]
    pub offset: Option<u64>,
    /// Output file (default data/extracted/ENTITY.ndjson); `-` for stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// On stdout, leave out the schema header and end lines (plain records only).
    #[arg(long)]
    pub no_header: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// The clap command of `entity`'s extractor: the shared flags, with the page size and the
/// checkpoint explained for what they mean here.
pub fn command(entity: Entity) -> clap::Command {
    let tool = tool_name(entity);
    Args::command()
        .name(tool)
        .bin_name(tool)
        .about(about(entity))
        .after_help(examples(entity))
        .mut_arg("batch_size", |a| {
            // Smaller than the shared default: a page is also the unit a resume repeats, and
            // each OFFSET page re-sorts the selection.
            a.default_value(DEFAULT_BATCH_SIZE).help(
                "Rows per page (each page is synced and checkpointed); with --offset, the size of the one batch",
            )
        })
        .mut_arg("checkpoint", |a| {
            a.help("Checkpoint file for --resume (default FILE.checkpoint.json beside the output)")
        })
        .mut_arg("source", |a| a.help(S9_SOURCE_HELP))
}

/// `--source` of the tools that read the S9 database, which is PostgreSQL.
pub const S9_SOURCE_HELP: &str = "Source URL: the S9 database, postgres://USER@HOST:PORT/DB \
(or postgresql://). The password comes from FERRY_SOURCE_PASSWORD, a .env file or \
--source-password-file";

/// Rows per page unless `--batch-size` or FERRY_BATCH_SIZE says otherwise.
pub const DEFAULT_BATCH_SIZE: &str = "10000";

/// The rows one extraction reads, as SQL: the entity's query, the user's filter and the
/// stable order. Pure, so the SQL is unit-tested without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    entity: Entity,
    filter: Option<String>,
}

impl Selection {
    /// The selection of `entity` with an optional `--filter` (trimmed, a trailing `;`
    /// dropped, empty meaning none), checked as one condition
    /// ([`ferry_shared::user_sql::Filter`]): a filter that could leave its parentheses or
    /// run anything is a usage error before any query.
    pub fn new(entity: Entity, filter: Option<&str>) -> ferry_shared::Result<Self> {
        let filter = filter
            .map(|f| f.trim().trim_end_matches(';').trim_end())
            .filter(|f| !f.is_empty())
            .map(|f| {
                ferry_shared::user_sql::Filter::from_flag("--filter", f)
                    .map(|f| f.sql().to_string())
            })
            .transpose()?;
        Ok(Selection { entity, filter })
    }

    /// The filter, normalized.
    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    fn select(&self) -> String {
        match self.entity {
            Entity::Sales => SALES_SELECT.to_string(),
            e => format!("SELECT * FROM {}", quote_pg(e.name())),
        }
    }

    fn from(&self) -> String {
        match self.entity {
            Entity::Sales => "FROM sales s".to_string(),
            e => format!("FROM {}", quote_pg(e.name())),
        }
    }

    /// The WHERE clause. The filter sits on its own line so a trailing `-- comment` in it
    /// cannot swallow the closing parenthesis, ORDER BY or LIMIT.
    fn where_clause(&self) -> String {
        match &self.filter {
            Some(f) => format!(" WHERE (\n{f}\n)"),
            None => String::new(),
        }
    }

    fn order(&self) -> String {
        match self.entity {
            Entity::Sales => "s.id, s.ctid".to_string(),
            _ => format!("{}, ctid", quote_pg("id")),
        }
    }

    /// `SELECT count(*)` of the selection (the progress total, and the resume guard).
    pub fn count_sql(&self) -> String {
        format!("SELECT count(*) {}{}", self.from(), self.where_clause())
    }

    /// The whole selection in its stable order.
    pub fn query_sql(&self) -> String {
        format!(
            "{}{} ORDER BY {}",
            self.select(),
            self.where_clause(),
            self.order()
        )
    }

    /// One page: `limit` rows of [`Selection::query_sql`] after skipping `offset`.
    ///
    /// For sales, the page's rows are picked first (ctid and id only) and only their lines
    /// are aggregated, in one hash join over `sale_lines`: [`SALES_SELECT`]'s correlated
    /// subquery scans `sale_lines` once per sale when `sale_lines.sale_id` has no index (S9
    /// has none; a read-only extraction cannot add one), which takes hours at 100,000 sales.
    /// Same rows, same columns, same order, same JSON text.
    pub fn page_sql(&self, limit: u64, offset: u64) -> String {
        match self.entity {
            Entity::Sales => format!(
                "WITH ferry_page AS (SELECT s.ctid AS ferry_ctid, s.id FROM sales s{} \
                 ORDER BY s.id, s.ctid LIMIT {limit} OFFSET {offset}), \
                 ferry_lines AS (SELECT l.sale_id, {} AS lines FROM sale_lines l \
                 WHERE l.sale_id IN (SELECT id FROM ferry_page) GROUP BY l.sale_id) \
                 SELECT s.*, ferry_lines.lines FROM sales s \
                 LEFT JOIN ferry_lines ON ferry_lines.sale_id = s.id \
                 WHERE s.ctid = ANY(ARRAY(SELECT ferry_ctid FROM ferry_page)) \
                 ORDER BY s.id, s.ctid",
                self.where_clause(),
                lines_json!()
            ),
            _ => format!("{} LIMIT {limit} OFFSET {offset}", self.query_sql()),
        }
    }
}

/// What the checkpoint of one output file records, saved after each page.
#[derive(Debug, Serialize, Deserialize, Default, Clone)]
struct ExtractState {
    /// Source rows consumed (written + rejected) from the start offset: the next page reads
    /// at `OFFSET start + consumed`.
    consumed: u64,
    /// Bytes of the `.part` file that hold the rows written.
    offset: u64,
    /// Rows written.
    rows: u64,
    /// Checksum of those rows.
    checksum: String,
    /// Rows rejected so far.
    rejected: u64,
    /// Rows in the selection when the run began: a resume against a source that has
    /// changed since would not give the uninterrupted file, so it is refused.
    total: u64,
    /// The last page has been written; only the sidecar and the rename were left.
    complete: bool,
}

/// Everything about one run that `run` reports on.
struct Plan<'a> {
    entity: Entity,
    args: &'a Args,
    selection: Selection,
    dest: Option<PathBuf>,
}

/// Runs the extractor of `entity`.
pub async fn run(entity: Entity, args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let name = entity.name();
    let tool = tool_name(entity);
    if args.batch.batch_size == 0 {
        return Err(FerryError::Usage("--batch-size must be at least 1".into()).into());
    }
    let dest = match &args.output {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("data/extracted/{name}.ndjson"))),
    };
    if dest.is_none() && args.run.resume {
        return Err(FerryError::Usage(
            "--resume needs an output file (-o FILE or the default); stdout cannot be resumed"
                .into(),
        )
        .into());
    }
    let ep = args.source.endpoint()?;
    if ep.engine != Engine::Postgres {
        return Err(FerryError::Usage(format!(
            "S9 is a PostgreSQL database; --source {ep} is {}",
            ep.engine
        ))
        .into());
    }
    let mut report = RunReport::start(tool);
    report.source = Some(ep.to_string());
    report.target = Some(
        dest.as_ref()
            .map_or_else(|| "-".to_string(), |d| d.display().to_string()),
    );
    report.dry_run = args.run.dry_run;
    let rejects_path = args.run.rejects.clone().unwrap_or_else(|| match &dest {
        Some(d) => d.with_extension("rejects.ndjson"),
        None => PathBuf::from(format!("data/extracted/{name}.rejects.ndjson")),
    });
    let mut rejects = Rejects::new(rejects_path, args.run.resume, args.run.max_rejects);
    let plan = Plan {
        entity,
        args: &args,
        selection: Selection::new(entity, args.filter.as_deref())?,
        dest,
    };
    let mut stats = TableStats::new(name);
    let result = extract(&plan, &ep, &mut rejects, &mut stats, &mut report.notes).await;
    report.tables.push(stats);
    if let Err(e) = result {
        if ferry_shared::exit::is_broken_pipe(&e) {
            return Err(e);
        }
        let _ = rejects.flush();
        report.fail_with(&e);
        report.emit(args.common.quiet, args.common.report.as_deref())?;
        return Err(e);
    }
    rejects.flush()?;
    if report.tables.iter().any(|t| t.errors > 0) {
        report.rejects_file = Some(rejects.path().display().to_string());
    }
    let exit = report.finish();
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(exit)
}

/// The checkpoint of an output file: `--checkpoint`, or `FILE.checkpoint.json` beside it.
fn checkpoint_path(args: &Args, dest: &Path) -> PathBuf {
    args.run.checkpoint.clone().unwrap_or_else(|| {
        let mut p = dest.as_os_str().to_owned();
        p.push(".checkpoint.json");
        PathBuf::from(p)
    })
}

/// What a checkpoint must match to be resumed: the same source, entity, filter, window and
/// output. (The page size may change between runs: pages restart at the rows consumed.)
fn identity(plan: &Plan<'_>, ep: &Endpoint, dest: &Path) -> String {
    let window = match plan.args.offset {
        Some(o) => format!(
            " rows [{o}, {})",
            o.saturating_add(plan.args.batch.batch_size as u64)
        ),
        None => String::new(),
    };
    format!(
        "{ep} {} filter={:?}{window} -> {}",
        plan.entity.name(),
        plan.selection.filter().unwrap_or(""),
        dest.display()
    )
}

/// How a previous run left the output.
enum Prior {
    /// The output is complete: nothing to do.
    Complete,
    /// Continue from this checkpoint, or from the beginning when there is none.
    From(Option<ExtractState>),
}

/// Where a previous run stopped. A fresh run clears an older checkpoint, so it cannot be
/// resumed into this run's file later.
fn prior_state(
    plan: &Plan<'_>,
    checkpoint: Option<&Checkpoint<ExtractState>>,
    stats: &mut TableStats,
    notes: &mut Vec<String>,
) -> anyhow::Result<Prior> {
    let name = plan.entity.name();
    let (cp, d) = match (checkpoint, plan.dest.as_deref()) {
        (Some(cp), Some(d)) if plan.args.run.resume => (cp, d),
        (Some(cp), _) => {
            cp.clear()?;
            return Ok(Prior::From(None));
        }
        _ => return Ok(Prior::From(None)),
    };
    let part = part_path(d);
    if d.exists() && !part.exists() {
        let rows = ferry_shared::schema::read_sidecar(&sidecar_path(d))
            .ok()
            .and_then(|s| s.row_count);
        tracing::info!(
            "{name}: already complete ({}{}); nothing to do",
            d.display(),
            rows.map(|r| format!(", {r} rows")).unwrap_or_default()
        );
        cp.clear()?;
        stats.skipped = rows.unwrap_or(0);
        notes.push(format!("{} was already complete", d.display()));
        return Ok(Prior::Complete);
    }
    let Some(s) = cp.load()? else {
        tracing::info!(
            "{name}: no checkpoint at {}; starting from the beginning",
            cp.path().display()
        );
        return Ok(Prior::From(None));
    };
    let have = fs_err::metadata(&part).map(|m| m.len()).ok();
    if have.is_some_and(|len| len >= s.offset) {
        return Ok(Prior::From(Some(s)));
    }
    tracing::warn!(
        "{name}: the checkpoint names {} bytes of {}, which is missing or \
         shorter; starting over",
        s.offset,
        part.display()
    );
    Ok(Prior::From(None))
}

/// The rows this run reads, in the selection's order.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The first row (`--offset`, else 0).
    start: u64,
    /// Rows per page.
    batch: u64,
    /// In --offset mode the window is one batch; otherwise everything from row 0.
    size: Option<u64>,
    /// Rows expected, for the progress total.
    expected: u64,
}

impl Window {
    /// The window of `args` over a selection of `all` rows (noted in the report with
    /// --offset).
    fn new(name: &str, args: &Args, all: u64, notes: &mut Vec<String>) -> Self {
        let start = args.offset.unwrap_or(0);
        let batch = args.batch.batch_size as u64;
        let size = args.offset.map(|_| batch);
        let expected = size.map_or(all.saturating_sub(start), |w| {
            w.min(all.saturating_sub(start))
        });
        if let Some(o) = args.offset {
            notes.push(format!(
                "rows [{o}, {}) of {all} (--offset {o} --batch-size {batch})",
                o + expected
            ));
            if o >= all && all > 0 {
                tracing::warn!("{name}: --offset {o} is past the last row ({all} rows)");
            }
        }
        Window {
            start,
            batch,
            size,
            expected,
        }
    }
}

/// The state this run starts from: the checkpoint's, when the selection still has the
/// row count it had then, or a fresh one.
fn start_state(
    name: &str,
    prior: Option<ExtractState>,
    all: u64,
    notes: &mut Vec<String>,
) -> anyhow::Result<ExtractState> {
    if let Some(s) = &prior {
        if !s.complete && s.total != all {
            return Err(FerryError::Checkpoint(format!(
                "{name}: the selection had {} rows when the interrupted run started and has {all} \
                 now; the source changed, so continuing would not give the file one run gives. \
                 Rerun without --resume.",
                s.total
            ))
            .into());
        }
        tracing::info!(
            "{name}: resuming after {} rows ({} written)",
            s.consumed,
            s.rows
        );
        notes.push(format!("resumed after {} rows", s.consumed));
    }
    Ok(prior.unwrap_or(ExtractState {
        total: all,
        ..Default::default()
    }))
}

/// The output: none in a dry run, stdout, a `.part` file continued at the checkpoint's
/// length, or a new one.
fn open_writer(
    args: &Args,
    dest: Option<&Path>,
    state: &ExtractState,
) -> anyhow::Result<Option<RecordWriter>> {
    Ok(match dest {
        _ if args.run.dry_run => None,
        None => Some(RecordWriter::stdout()),
        Some(d) if state.rows > 0 || state.consumed > 0 => Some(RecordWriter::resume(
            d,
            state.offset,
            Checksum::from_parts(&state.checksum, state.rows)?,
        )?),
        Some(d) => Some(RecordWriter::create(d)?),
    })
}

/// Where the rows of the pages go: the output (none in a dry run), the rejects, the
/// progress and the counts. Kept apart from [`Pages`] so a row can be written while the
/// schema it was read with is borrowed.
struct Sink<'a> {
    name: &'static str,
    writer: Option<RecordWriter>,
    rejects: &'a mut Rejects,
    progress: Progress,
    written: u64,
    rejected: u64,
}

impl Sink<'_> {
    /// One row read: rejected with its first bad cell's reason, or written.
    fn row(
        &mut self,
        schema: &TableSchema,
        cells: Vec<Cell>,
        bad: Vec<BadCell>,
    ) -> ferry_shared::Result<bool> {
        self.progress.inc(1);
        if !ferry_engine::source::emit_row(
            self.writer.as_mut(),
            self.rejects,
            self.name,
            schema,
            &cells,
            &bad,
        )? {
            self.rejected += 1;
            return Ok(true);
        }
        self.written += 1;
        Ok(true)
    }
}

/// The page loop of one extraction: what each page reads with and where its progress is
/// recorded.
struct Pages<'a> {
    selection: &'a Selection,
    schema: TableSchema,
    window: Window,
    checkpoint: Option<&'a Checkpoint<ExtractState>>,
    state: ExtractState,
    sink: Sink<'a>,
    /// The output file (`None`: stdout).
    dest: Option<&'a Path>,
    /// `--no-header`.
    no_header: bool,
}

impl Pages<'_> {
    /// Reads and writes one page, then syncs the output and saves the checkpoint.
    async fn page(&mut self, src: &mut Source) -> anyhow::Result<()> {
        let (name, window) = (self.sink.name, self.window);
        let page = window.size.map_or(window.batch, |w| {
            window.batch.min(w.saturating_sub(self.state.consumed))
        });
        if page == 0 {
            self.state.complete = true;
            return Ok(());
        }
        let at = window.start + self.state.consumed;
        let sql = self.selection.page_sql(page, at);
        let mut page_rows = 0u64;
        let (sink, schema) = (&mut self.sink, &self.schema);
        let mut on_row = |cells: Vec<Cell>, bad: Vec<BadCell>| -> ferry_shared::Result<bool> {
            page_rows += 1;
            sink.row(schema, cells, bad)
        };
        src.scan_query(&sql, schema, &mut on_row)
            .await
            .with_context(|| format!("read {name} rows from OFFSET {at}"))?;
        let written = self.sink.written;
        self.state.consumed += page_rows;
        self.state.rows = written;
        self.state.rejected = self.sink.rejected;
        self.state.complete =
            page_rows < page || window.size.is_some_and(|w| self.state.consumed >= w);
        tracing::debug!("{name}: page of {page_rows} rows, {written} written");
        if let Some(w) = &mut self.sink.writer {
            let offset = w.sync()?;
            if let Some(cp) = self.checkpoint {
                self.sink.rejects.flush()?;
                self.state.offset = offset;
                self.state.checksum = w.checksum().hex();
                cp.save(&self.state)?;
            }
        }
        Ok(())
    }

    /// Records the counts in `stats` and completes the output: the end line on stdout, or
    /// the sidecar and the rename for a file (and the checkpoint is cleared).
    fn finish(self, stats: &mut TableStats, started: Instant, resumed: u64) -> anyhow::Result<()> {
        let (name, written) = (self.sink.name, self.sink.written);
        self.sink.progress.finish();
        stats.migrated = written;
        stats.resumed = resumed;
        stats.errors = self.sink.rejected;
        stats.duration_secs = started.elapsed().as_secs_f64();
        let Some(mut w) = self.sink.writer else {
            tracing::info!("{name}: {written} rows would be written (dry run)");
            return Ok(());
        };
        let mut schema = self.schema;
        schema.row_count = Some(w.rows());
        schema.checksum = Some(w.checksum().hex());
        match self.dest {
            None => {
                if !self.no_header {
                    w.write_end()?;
                }
                w.sync()?;
            }
            Some(d) => {
                // The sidecar first: a data file under its final name always has its sidecar,
                // and a crash between the two is mended by --resume (only the rename is left).
                ferry_shared::fsutil::write_json_atomic(&sidecar_path(d), &schema)?;
                w.finish()?;
                if let Some(cp) = self.checkpoint {
                    cp.clear()?;
                }
                tracing::info!("{name}: {written} rows → {}", d.display());
            }
        }
        Ok(())
    }
}

async fn extract(
    plan: &Plan<'_>,
    ep: &Endpoint,
    rejects: &mut Rejects,
    stats: &mut TableStats,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let args = plan.args;
    let name = plan.entity.name();
    let dest = plan.dest.as_deref();
    let checkpoint = match dest {
        Some(d) if !args.run.dry_run => Some(Checkpoint::<ExtractState>::new(
            checkpoint_path(args, d),
            tool_name(plan.entity),
            identity(plan, ep, d),
        )),
        _ => None,
    };
    let Prior::From(prior) = prior_state(plan, checkpoint.as_ref(), stats, notes)? else {
        return Ok(());
    };

    let mut src = Source::connect(ep).await?;
    let (schema, count_schema) = describe(&mut src, plan).await?;
    src.begin_snapshot().await?;
    let all = count(&mut src, &plan.selection, &count_schema).await?;
    let window = Window::new(name, args, all, notes);
    let state = start_state(name, prior, all, notes)?;
    let resumed = state.rows;

    let mut writer = open_writer(args, dest, &state)?;
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    if let Some(w) = &mut writer {
        w.set_columns(&names);
        if dest.is_none() && !args.no_header {
            w.write_header(&schema)?;
        }
    }

    let mut progress = Progress::new(
        progress_label(plan.entity),
        Some(window.expected),
        args.common.quiet,
    );
    progress.set_position(state.consumed);
    let mut pages = Pages {
        selection: &plan.selection,
        sink: Sink {
            name,
            writer,
            rejects,
            progress,
            written: state.rows,
            rejected: state.rejected,
        },
        schema,
        window,
        checkpoint: checkpoint.as_ref(),
        state,
        dest,
        no_header: args.no_header,
    };
    while !pages.state.complete {
        pages.page(&mut src).await?;
    }
    pages.finish(stats, started, resumed)
}

/// The columns of the selection as the query returns them (what the cells are parsed as),
/// with the table's own catalog facts (declared types, NOT NULL) for the table's columns,
/// and a one-column schema for the count.
///
/// A filter that PostgreSQL refuses is the user's to fix: a usage error naming it.
async fn describe(src: &mut Source, plan: &Plan<'_>) -> anyhow::Result<(TableSchema, TableSchema)> {
    let name = plan.entity.name();
    let mut needed = vec![name];
    if plan.entity == Entity::Sales {
        needed.push("sale_lines");
    }
    let mut tables = Vec::new();
    for t in needed {
        let tref = TableRef {
            db: "public".into(),
            name: t.into(),
        };
        match src.describe(&tref).await {
            Ok(s) => tables.push(s),
            Err(FerryError::NotFound(_)) => {
                return Err(FerryError::NotFound(format!(
                    "there is no table {t:?} in schema \"public\": is --source the S9 database?"
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The page form is what is read, so its columns are what the cells are parsed as.
    let query = plan.selection.page_sql(1, 0);
    let mut schema = match src.describe_query(&query, name).await {
        Ok(s) => s,
        Err(e) => {
            if let Some(f) = plan.selection.filter() {
                return Err(FerryError::Usage(format!("--filter {f:?}: {e}")).into());
            }
            return Err(e.into());
        }
    };
    if let Some(table) = tables.first() {
        for c in &mut schema.columns {
            if let Some(tc) = table.column(&c.name) {
                *c = tc.clone();
            }
        }
        schema.database = table.database.clone();
    }
    schema.table = name.to_string();
    let count_schema = TableSchema {
        version: TableSchema::VERSION,
        table: format!("{name} count"),
        database: None,
        engine: Engine::Postgres,
        columns: vec![ColumnSchema {
            name: "count".into(),
            source_type: "bigint".into(),
            logical: LogicalType::Int {
                bits: 64,
                unsigned: false,
            },
            nullable: false,
        }],
        primary_key: Vec::new(),
        row_count: None,
        checksum: None,
        shard: None,
    };
    Ok((schema, count_schema))
}

/// Rows in the selection, read in the run's snapshot.
async fn count(
    src: &mut Source,
    selection: &Selection,
    count_schema: &TableSchema,
) -> anyhow::Result<u64> {
    let mut n: Option<u64> = None;
    src.scan_query(&selection.count_sql(), count_schema, &mut |cells, _| {
        if let Some(Cell::I64(v)) = cells.first() {
            n = Some(u64::try_from(*v).unwrap_or(0));
        }
        Ok(true)
    })
    .await
    .context("count the rows to extract")?;
    n.ok_or_else(|| anyhow::anyhow!("count(*) returned no number"))
}

/// The whole of `extract-ENTITY`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main(entity: Entity, tool: &str) -> std::process::ExitCode {
    ferry_shared::cli::main_parsed(
        tool,
        |argv| Args::from_arg_matches(&command(entity).try_get_matches_from(argv)?),
        |args| ferry_shared::exit::block_on(run(entity, args)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_query_is_the_script() {
        let script = include_str!("../../../scripts/s9/sales.sql");
        assert_eq!(script.trim().trim_end_matches(';'), SALES_SELECT);
    }

    #[test]
    fn pages_in_a_stable_order() {
        let b = Selection::new(Entity::Buyers, None).expect("selection");
        assert_eq!(
            b.page_sql(100, 200),
            "SELECT * FROM \"buyers\" ORDER BY \"id\", ctid LIMIT 100 OFFSET 200"
        );
        assert_eq!(b.count_sql(), "SELECT count(*) FROM \"buyers\"");
        let s = Selection::new(Entity::Sales, None).expect("selection");
        assert!(s
            .query_sql()
            .ends_with(" FROM sales s ORDER BY s.id, s.ctid"));
        let page = s.page_sql(10, 20);
        assert!(page.starts_with(
            "WITH ferry_page AS (SELECT s.ctid AS ferry_ctid, s.id FROM sales s ORDER BY s.id, s.ctid LIMIT 10 OFFSET 20), "
        ));
        assert!(page.contains(lines_json!()));
        assert!(page.ends_with(
            " WHERE s.ctid = ANY(ARRAY(SELECT ferry_ctid FROM ferry_page)) ORDER BY s.id, s.ctid"
        ));
        assert_eq!(s.count_sql(), "SELECT count(*) FROM sales s");
    }

    #[test]
    fn filter_is_one_parenthesized_condition() {
        let p = Selection::new(Entity::Producers, Some("  is_active ;  ")).expect("selection");
        assert_eq!(p.filter(), Some("is_active"));
        assert_eq!(
            p.page_sql(5, 0),
            "SELECT * FROM \"producers\" WHERE (\nis_active\n) ORDER BY \"id\", ctid LIMIT 5 OFFSET 0"
        );
        assert_eq!(
            p.count_sql(),
            "SELECT count(*) FROM \"producers\" WHERE (\nis_active\n)"
        );
        for bad in [
            "is_active -- live ones",
            "1=1) OR (1=1",
            "id > 0; DELETE FROM sales",
        ] {
            assert!(
                Selection::new(Entity::Producers, Some(bad)).is_err(),
                "{bad}"
            );
        }
        let s = Selection::new(Entity::Sales, Some("created_at >= '2024-01-01' OR id = 1"))
            .expect("selection");
        assert!(s.page_sql(1, 0).starts_with(
            "WITH ferry_page AS (SELECT s.ctid AS ferry_ctid, s.id FROM sales s WHERE (\ncreated_at >= '2024-01-01' OR id = 1\n) ORDER BY"
        ));
        assert!(s.query_sql().ends_with(
            " FROM sales s WHERE (\ncreated_at >= '2024-01-01' OR id = 1\n) ORDER BY s.id, s.ctid"
        ));
        let none = Selection::new(Entity::Sales, Some(" ; ")).expect("selection");
        assert_eq!(none.filter(), None);
    }

    #[test]
    fn help_names_the_tool() {
        let help = command(Entity::Sales).render_long_help().to_string();
        assert!(help.contains("extract-sales --source $S9 --batch-size 100 --offset 100"));
        assert!(help.contains("--filter"));
        assert!(help.contains("[default: 10000]"));
        assert!(help.contains("default FILE.checkpoint.json"));
        let m = command(Entity::Buyers)
            .try_get_matches_from(["extract-buyers", "--offset", "5"])
            .expect("parse");
        let a = Args::from_arg_matches(&m).expect("args");
        assert_eq!(a.batch.batch_size, 10_000);
        assert_eq!(a.offset, Some(5));
    }

    #[test]
    fn flags() {
        let a = Args::try_parse_from([
            "extract-buyers",
            "--source",
            "postgres://u@h/db",
            "--batch-size",
            "100",
            "--offset",
            "200",
            "-o",
            "-",
        ])
        .expect("parse");
        assert_eq!(a.batch.batch_size, 100);
        assert_eq!(a.offset, Some(200));
        assert_eq!(a.output.as_deref(), Some(Path::new("-")));
    }
}
