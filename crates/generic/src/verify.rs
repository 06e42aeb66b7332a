//! `verify`: compares a source table with a target table, across engines.
//!
//! Both tables are streamed in primary-key order (byte order for text keys), every value is
//! normalized by the source column's kind (numbers by value, date-times to ISO 8601 UTC, JSON
//! with sorted keys, bytes as hex), and the two streams are merged: missing, extra and
//! different rows are named by key. Counts, order-independent checksums and per-range
//! checksums summarize each side. Documented loader conversions (zero dates to NULL, NUL
//! removed) are counted as conversions, not differences.

use crate::source::{Cell, Scan, Source, TableRef};
use clap::Parser;
use ferry_shared::checksum::{row_hash, Checksum};
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::{Endpoint, SourceArgs, TargetArgs};
use ferry_shared::pattern::TablePattern;
use ferry_shared::progress::Progress;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::schema::{LogicalType, TableSchema};
use ferry_shared::shard::{ShardArgs, ShardRange};
use ferry_shared::user_sql::Filter;
use ferry_shared::value::{
    format_duration_micros, format_naive, parse_duration_micros, parse_when, Decimal, When,
};
use ferry_shared::{Exit, FerryError};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};

const EXAMPLES: &str = "\
Examples:
  verify --source mysql://root@127.0.0.1/shop --target postgres://postgres@127.0.0.1/app --table orders
  verify --source sqlite://legacy.db --target postgres://postgres@127.0.0.1/app --table 'main.*' --report verify.json";

/// Command line of `verify`.
#[derive(Parser, Debug)]
#[command(
    name = "verify",
    version,
    about = "Compare source and target tables row by row across engines; exit 1 on any difference.",
    after_help = EXAMPLES
)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    target: TargetArgs,
    /// Source table or pattern; repeatable.
    #[arg(
        long = "table",
        short = 't',
        value_name = "NAME",
        required_unless_present = "combine"
    )]
    tables: Vec<String>,
    /// Target table name when it differs (one --table only); SCHEMA.TABLE allowed.
    #[arg(long, value_name = "NAME")]
    target_table: Option<String>,
    /// Rows per checksum range in the report.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    range_rows: u64,
    /// How many differing keys to list per table (the examples of its report).
    #[arg(
        long = "max-examples",
        alias = "max-diffs",
        default_value_t = 20,
        value_name = "N"
    )]
    max_diffs: usize,
    #[command(flatten)]
    shard: ShardArgs,
    /// Sign off a table from its shards' reports (`verify --shard I/N --report FILE`, one
    /// per shard): EQUAL when all N are there, their ranges tile the key space and each
    /// is equal. Reads no database.
    #[arg(long, value_name = "REPORT", num_args = 1.., conflicts_with_all = ["tables", "shard"])]
    combine: Vec<std::path::PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// How values of a column are made comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    F32,
    F64,
    When,
    Duration,
    Json,
    Bytes,
    Text,
}

fn kind_of(t: &LogicalType) -> Kind {
    match t {
        LogicalType::Bool
        | LogicalType::Int { .. }
        | LogicalType::Decimal { .. }
        | LogicalType::Year
        | LogicalType::Bit { .. } => Kind::Number,
        LogicalType::Float32 => Kind::F32,
        LogicalType::Float64 => Kind::F64,
        LogicalType::Date | LogicalType::DateTime | LogicalType::Timestamp => Kind::When,
        LogicalType::Time | LogicalType::TimeOfDay => Kind::Duration,
        LogicalType::Json | LogicalType::Jsonb => Kind::Json,
        LogicalType::Bytes { .. } => Kind::Bytes,
        LogicalType::Text { .. }
        | LogicalType::Enum { .. }
        | LogicalType::Set { .. }
        | LogicalType::Uuid
        | LogicalType::Geometry
        | LogicalType::Interval
        | LogicalType::Other { .. } => Kind::Text,
    }
}

/// A normalized value: `None` is NULL.
type Norm = Option<String>;

fn cell_text(c: &Cell) -> Option<String> {
    Some(match c {
        Cell::Null => return None,
        Cell::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Cell::I64(v) => v.to_string(),
        Cell::U64(v) => v.to_string(),
        Cell::F32(v) => format!("{v:?}"),
        Cell::F64(v) => format!("{v:?}"),
        Cell::Text(s) | Cell::Json(s) => s.clone(),
        Cell::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    })
}

fn normalize(c: &Cell, kind: Kind) -> Norm {
    let text = cell_text(c)?;
    Some(match (kind, c) {
        (Kind::Number, _) => match text.as_str() {
            "true" | "t" => "1".into(),
            "false" | "f" => "0".into(),
            _ => Decimal::parse(&text).map(|d| d.canonical()).unwrap_or(text),
        },
        (Kind::F32, Cell::F32(v)) => format!("{v:?}"),
        (Kind::F32, Cell::F64(v)) => format!("{:?}", *v as f32),
        (Kind::F32, _) => text
            .parse::<f32>()
            .map(|v| format!("{v:?}"))
            .unwrap_or(text),
        (Kind::F64, Cell::F32(v)) => format!("{:?}", f64::from(*v)),
        (Kind::F64, _) => text
            .parse::<f64>()
            .map(|v| format!("{v:?}"))
            .unwrap_or(text),
        (Kind::When, _) => match parse_when(&text) {
            Some(When::Date(d)) => d.format("%Y-%m-%d").to_string(),
            Some(When::Naive(dt)) => format_naive(&dt),
            // An instant against a column without zone: the loaders store instants there in
            // UTC (docs/type-mapping.md), so both compare as UTC wall-clock time.
            Some(When::Zoned(dt)) => format_naive(&dt.naive_utc()),
            Some(When::Zero(z)) if z.is_full() => "zero-date".into(),
            Some(When::Zero(z)) => format!("partial-zero-date {}", z.canonical()),
            None => text,
        },
        (Kind::Duration, _) => parse_duration_micros(&text)
            .map(format_duration_micros)
            .unwrap_or(text),
        (Kind::Json, _) => ferry_shared::value::canonical_json_text(&text).unwrap_or(text),
        (Kind::Bytes, Cell::Bytes(_)) => text,
        (Kind::Bytes, _) => text.bytes().map(|x| format!("{x:02x}")).collect(),
        (Kind::Text, _) => text,
    })
}

/// One key part, ordered the way both scans order rows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Null,
    Num(i128),
    Text(String),
}

fn key_part(n: &Norm, kind: Kind) -> KeyPart {
    match n {
        None => KeyPart::Null,
        Some(s) if kind == Kind::Number => s
            .parse::<i128>()
            .map(KeyPart::Num)
            .unwrap_or_else(|_| KeyPart::Text(s.clone())),
        Some(s) => KeyPart::Text(s.clone()),
    }
}

struct Row {
    key: Vec<KeyPart>,
    vals: Vec<Norm>,
}

enum Msg {
    Rows(Vec<Row>),
    Done(ferry_shared::Result<()>),
}

/// Streams a side's rows, normalized, from its own thread and connection.
fn spawn_side(
    ep: Endpoint,
    table: TableRef,
    schema: TableSchema,
    kinds: Vec<Kind>,
    filter: Option<Filter>,
) -> Receiver<Msg> {
    let (tx, rx) = sync_channel::<Msg>(4);
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Msg::Done(Err(FerryError::Io(e))));
                return;
            }
        };
        let res = rt.block_on(async {
            let mut src = Source::connect(&ep).await?;
            src.begin_snapshot().await?;
            let pk_idx: Vec<usize> = schema
                .primary_key
                .iter()
                .filter_map(|k| schema.columns.iter().position(|c| &c.name == k))
                .collect();
            let mut chunk = Vec::with_capacity(1000);
            let scan = Scan {
                byte_order: true,
                filter,
                ..Default::default()
            };
            let mut f = |cells: Vec<Cell>, _bad| {
                let vals: Vec<Norm> = cells
                    .iter()
                    .zip(&kinds)
                    .map(|(c, k)| normalize(c, *k))
                    .collect();
                let key = pk_idx
                    .iter()
                    .map(|&i| key_part(&vals[i], kinds[i]))
                    .collect();
                chunk.push(Row { key, vals });
                if chunk.len() >= 1000 && tx.send(Msg::Rows(std::mem::take(&mut chunk))).is_err() {
                    return Ok(false);
                }
                Ok(true)
            };
            src.scan(&table, &schema, &scan, &mut f).await?;
            if !chunk.is_empty() {
                let _ = tx.send(Msg::Rows(chunk));
            }
            Ok(())
        });
        let _ = tx.send(Msg::Done(res));
    });
    rx
}

struct SideIter {
    rx: Receiver<Msg>,
    buf: std::vec::IntoIter<Row>,
    done: bool,
}

impl SideIter {
    fn next(&mut self) -> ferry_shared::Result<Option<Row>> {
        loop {
            if let Some(r) = self.buf.next() {
                return Ok(Some(r));
            }
            if self.done {
                return Ok(None);
            }
            match self.rx.recv() {
                Ok(Msg::Rows(rows)) => self.buf = rows.into_iter(),
                Ok(Msg::Done(res)) => {
                    self.done = true;
                    res?;
                }
                Err(_) => self.done = true,
            }
        }
    }
}

/// A differing column of a differing row.
#[derive(Debug, Serialize)]
struct ColumnDiff {
    column: String,
    source: Norm,
    target: Norm,
}

/// One differing key.
#[derive(Debug, Serialize)]
struct Difference {
    key: Vec<Norm>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    columns: Vec<ColumnDiff>,
}

/// A key range with its counts and checksums.
#[derive(Debug, Serialize)]
struct Range {
    first_key: Vec<Norm>,
    last_key: Vec<Norm>,
    source_rows: u64,
    target_rows: u64,
    source_checksum: String,
    target_checksum: String,
    equal: bool,
}

/// The verdict for one table.
#[derive(Debug, Serialize)]
struct TableVerdict {
    table: String,
    target_table: String,
    equal: bool,
    source_rows: u64,
    target_rows: u64,
    source_checksum: String,
    target_checksum: String,
    missing_in_target: u64,
    extra_in_target: u64,
    different: u64,
    conversions: BTreeMap<String, u64>,
    columns_only_in_source: Vec<String>,
    columns_only_in_target: Vec<String>,
    differing_ranges: Vec<Range>,
    ranges: u64,
    first_differences: Vec<Difference>,
    /// Seconds the comparison took.
    duration_secs: f64,
    /// The key range compared, with `--shard` (`verify --combine` checks they tile).
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<ShardRange>,
}

#[derive(Debug, Serialize)]
struct VerifyReport {
    tool: &'static str,
    source: String,
    target: String,
    equal: bool,
    tables: Vec<TableVerdict>,
}

fn display_key(r: &Row, pk_idx: &[usize]) -> Vec<Norm> {
    pk_idx.iter().map(|&i| r.vals[i].clone()).collect()
}

/// Is `s` → `t` one of the loaders' documented conversions?
fn conversion(s: &Norm, t: &Norm) -> Option<&'static str> {
    match (s.as_deref(), t.as_deref()) {
        (Some("zero-date"), None) => Some("zero_date_to_null"),
        (Some(a), Some(b)) if a.contains('\0') && a.replace('\0', "") == b => Some("nul_removed"),
        _ => None,
    }
}

fn row_bytes(vals: &[Norm]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in vals {
        match v {
            None => out.extend_from_slice(b"\x00N"),
            Some(s) => {
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out
}

/// Runs `verify`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    if !args.combine.is_empty() {
        return crate::verify_combine::run(&args.combine, &args.common);
    }
    let sep = args.source.endpoint()?;
    let tep = args.target.endpoint()?;
    let mut src = Source::connect(&sep).await?;
    let mut dst = Source::connect(&tep).await?;
    let patterns: Vec<TablePattern> = args.tables.iter().map(|t| TablePattern::parse(t)).collect();
    let tables = src.resolve_tables(&patterns).await?;
    if args.target_table.is_some() && tables.len() != 1 {
        return Err(
            FerryError::Usage("--target-table goes with exactly one --table".into()).into(),
        );
    }
    let started = RunReport::start("verify");
    let mut report = VerifyReport {
        tool: "verify",
        source: sep.to_string(),
        target: tep.to_string(),
        equal: true,
        tables: Vec::new(),
    };
    for t in tables {
        let tname = args.target_table.clone().unwrap_or_else(|| t.name.clone());
        let tpat = TablePattern::parse(&tname);
        let tt = dst
            .resolve_tables(std::slice::from_ref(&tpat))
            .await?
            .remove(0);
        let v = verify_table(&args, &mut src, &mut dst, &sep, &tep, &t, &tt).await?;
        report.equal &= v.equal;
        report.tables.push(v);
    }
    if !args.common.quiet {
        print_summary(&report);
    }
    let run = run_report(&report, started)?;
    // The summary above is verify's own; the common report only writes the files.
    run.emit(true, args.common.report.as_deref())?;
    Ok(if report.equal {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// The common report: per table the rows compared and the rows that differ, verify's own
/// verdicts under `details`, status `ok` or `different`.
fn run_report(report: &VerifyReport, mut run: RunReport) -> anyhow::Result<RunReport> {
    run.source = Some(report.source.clone());
    run.target = Some(report.target.clone());
    run.inputs = vec![report.source.clone()];
    run.outputs = vec![report.target.clone()];
    for v in &report.tables {
        let mut s = TableStats::new(&v.table);
        s.migrated = v.source_rows;
        s.errors = v.missing_in_target + v.extra_in_target + v.different;
        s.conversions.clone_from(&v.conversions);
        s.duration_secs = v.duration_secs;
        run.tables.push(s);
    }
    run.finish();
    if !report.equal {
        run.status = "different".into();
        run.exit_code = Exit::Failure.code();
    } else {
        // Differences are counted as errors; equal tables have none, so this is `ok`.
        run.status = "ok".into();
        run.exit_code = Exit::Ok.code();
    }
    run.details = Some(serde_json::to_value(report)?);
    Ok(run)
}

/// A normalized value for people: NULL, or the value (quoted when it is text).
fn show(n: &Norm) -> String {
    match n {
        None => "NULL".into(),
        Some(s) => serde_json::to_string(s).unwrap_or_default(),
    }
}

#[allow(clippy::print_stderr)]
fn print_summary(r: &VerifyReport) {
    ferry_shared::logging::human_line(&summary_text(r), false);
}

/// The verdict for people: one line per table, the first differences under it.
fn summary_text(r: &VerifyReport) -> String {
    use std::fmt::Write as _;
    let mut out = format!("verify: {}", if r.equal { "EQUAL" } else { "DIFFERENT" });
    for t in &r.tables {
        let conv: Vec<String> = t
            .conversions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = write!(
            out,
            "\n  {}{} → {}: {} ({} source rows, {} target rows; missing {}, extra {}, different {}{}) in {:.2}s",
            t.table,
            t.shard
                .as_ref()
                .map_or(String::new(), |r| format!(" ({})", r.describe())),
            t.target_table,
            if t.equal { "equal" } else { "DIFFERENT" },
            t.source_rows,
            t.target_rows,
            t.missing_in_target,
            t.extra_in_target,
            t.different,
            if conv.is_empty() {
                String::new()
            } else {
                format!("; documented conversions: {}", conv.join(", "))
            },
            t.duration_secs
        );
        for d in t.first_differences.iter().take(5) {
            let cols: Vec<String> = d
                .columns
                .iter()
                .map(|c| format!("{}: {} ≠ {}", c.column, show(&c.source), show(&c.target)))
                .collect();
            let key: Vec<String> = d.key.iter().map(show).collect();
            let _ = write!(
                out,
                "\n    {} key ({}) {}",
                d.kind,
                key.join(", "),
                cols.join("; ")
            );
        }
    }
    out
}

/// Which columns the two sides share, and the schemas each side is scanned with. Both sides
/// are read with the same column list and the source's key, so rows line up position by
/// position and key by key.
struct ColumnPlan {
    /// The source schema restricted to the common columns.
    source: TableSchema,
    /// The target schema restricted to the common columns (in the source's order).
    target: TableSchema,
    /// How each common column is normalized.
    kinds: Vec<Kind>,
    /// Positions of the key columns among the common columns.
    pk_idx: Vec<usize>,
    /// Columns the target lacks.
    only_src: Vec<String>,
    /// Columns the source lacks.
    only_dst: Vec<String>,
}

impl ColumnPlan {
    /// Matches the columns by name; a key column missing in the target is a usage error,
    /// a missing key a warning (only counts and checksums can then be compared).
    fn new(t: &TableRef, ss: &TableSchema, ts: &TableSchema) -> ferry_shared::Result<Self> {
        let common: Vec<String> = ss
            .columns
            .iter()
            .filter(|c| ts.column(&c.name).is_some())
            .map(|c| c.name.clone())
            .collect();
        let only_src: Vec<String> = ss
            .columns
            .iter()
            .filter(|c| ts.column(&c.name).is_none())
            .map(|c| c.name.clone())
            .collect();
        let only_dst: Vec<String> = ts
            .columns
            .iter()
            .filter(|c| ss.column(&c.name).is_none())
            .map(|c| c.name.clone())
            .collect();
        let pick = |s: &TableSchema| -> TableSchema {
            let mut s2 = s.clone();
            s2.columns = common.iter().filter_map(|n| s.column(n).cloned()).collect();
            s2.primary_key = ss.primary_key.clone();
            s2
        };
        let source = pick(ss);
        let target = pick(ts);
        let kinds: Vec<Kind> = source.columns.iter().map(|c| kind_of(&c.logical)).collect();
        if ss.primary_key.is_empty() {
            tracing::warn!(
                "{}: no primary key; comparing counts and checksums only",
                t.name
            );
        } else if let Some(k) = ss.primary_key.iter().find(|k| !common.contains(k)) {
            return Err(FerryError::Usage(format!(
                "key column {k:?} of {} is missing in the target",
                t.name
            )));
        }
        let pk_idx: Vec<usize> = source
            .primary_key
            .iter()
            .filter_map(|k| source.columns.iter().position(|c| &c.name == k))
            .collect();
        Ok(ColumnPlan {
            source,
            target,
            kinds,
            pk_idx,
            only_src,
            only_dst,
        })
    }
}

/// A key range being summed: the keys it spans and each side's checksum over it.
struct OpenRange {
    first: Vec<Norm>,
    last: Vec<Norm>,
    source: Checksum,
    target: Checksum,
}

/// The merge's running totals for one table: the verdict being filled in, each side's
/// whole-table checksum and the range being summed. Kept together so each merge step
/// (missing, extra, paired row) is one method instead of a branch of one long loop.
struct Tally<'p> {
    v: TableVerdict,
    sa: Checksum,
    sb: Checksum,
    range: Option<OpenRange>,
    max_diffs: usize,
    range_rows: u64,
    /// The compared columns (names of differing columns come from here).
    schema: &'p TableSchema,
}

impl Tally<'_> {
    /// Starts a range at `key` if none is open, and extends the open range to `key`.
    fn reach(&mut self, key: &[Norm]) {
        let rg = self.range.get_or_insert_with(|| OpenRange {
            first: key.to_vec(),
            last: key.to_vec(),
            source: Checksum::default(),
            target: Checksum::default(),
        });
        rg.last = key.to_vec();
    }

    fn add_source(&mut self, h: u128) {
        self.sa.add_hash(h);
        if let Some(rg) = &mut self.range {
            rg.source.add_hash(h);
        }
    }

    fn add_target(&mut self, h: u128) {
        self.sb.add_hash(h);
        if let Some(rg) = &mut self.range {
            rg.target.add_hash(h);
        }
    }

    /// Lists a differing key, up to `--max-examples` of them.
    fn note(&mut self, key: Vec<Norm>, kind: &'static str, columns: Vec<ColumnDiff>) {
        if self.v.first_differences.len() < self.max_diffs {
            self.v
                .first_differences
                .push(Difference { key, kind, columns });
        }
    }

    /// A source row with no target row of its key.
    fn missing(&mut self, r: &Row, key: Vec<Norm>) {
        self.add_source(row_hash(&row_bytes(&r.vals)));
        self.v.missing_in_target += 1;
        self.note(key, "missing_in_target", Vec::new());
    }

    /// A target row with no source row of its key.
    fn extra(&mut self, r: &Row, key: Vec<Norm>) {
        self.add_target(row_hash(&row_bytes(&r.vals)));
        self.v.extra_in_target += 1;
        self.note(key, "extra_in_target", Vec::new());
    }

    /// Two rows of the same key (or, without a key, the next row of each side). Documented
    /// conversions are counted, then the target value is compared as converted, so the
    /// checksums agree when only conversions differ.
    fn pair(&mut self, x: &Row, mut y: Row, key: Vec<Norm>, keyed: bool) {
        let mut diffs = Vec::new();
        for (i, (sv, tv)) in x.vals.iter().zip(y.vals.iter_mut()).enumerate() {
            if sv == tv {
                continue;
            }
            if let Some(c) = conversion(sv, tv) {
                *self.v.conversions.entry(c.to_string()).or_default() += 1;
                // Count the documented conversion, then compare as converted.
                tv.clone_from(sv);
                continue;
            }
            diffs.push(ColumnDiff {
                column: self.schema.columns[i].name.clone(),
                source: sv.clone(),
                target: tv.clone(),
            });
        }
        let (ha, hb) = (row_hash(&row_bytes(&x.vals)), row_hash(&row_bytes(&y.vals)));
        self.add_source(ha);
        self.add_target(hb);
        if keyed && !diffs.is_empty() {
            self.v.different += 1;
            self.note(key, "different", diffs);
        }
    }

    /// Closes the open range once either side has `--range-rows` rows in it.
    fn close_range_if_full(&mut self) {
        if self
            .range
            .as_ref()
            .is_some_and(|r| r.source.count().max(r.target.count()) >= self.range_rows)
        {
            self.close_range();
        }
    }

    /// Counts the open range and lists it (up to 100) when the sides' checksums differ.
    fn close_range(&mut self) {
        if let Some(OpenRange {
            first,
            last,
            source: ca,
            target: cb,
        }) = self.range.take()
        {
            self.v.ranges += 1;
            if ca != cb && self.v.differing_ranges.len() < 100 {
                self.v.differing_ranges.push(Range {
                    first_key: first,
                    last_key: last,
                    source_rows: ca.count(),
                    target_rows: cb.count(),
                    source_checksum: ca.hex(),
                    target_checksum: cb.hex(),
                    equal: false,
                });
            }
        }
    }

    /// The verdict: counts and checksums filled in, equal when nothing differs.
    fn finish(mut self) -> TableVerdict {
        self.close_range();
        let (sa, sb) = (self.sa, self.sb);
        let mut v = self.v;
        v.source_rows = sa.count();
        v.target_rows = sb.count();
        v.source_checksum = sa.hex();
        v.target_checksum = sb.hex();
        v.equal = sa == sb
            && v.missing_in_target == 0
            && v.extra_in_target == 0
            && v.different == 0
            && v.columns_only_in_source.is_empty();
        v
    }
}

impl SideIter {
    /// Starts streaming one side.
    fn spawn(
        ep: &Endpoint,
        table: &TableRef,
        schema: TableSchema,
        kinds: Vec<Kind>,
        filter: Option<Filter>,
    ) -> Self {
        SideIter {
            rx: spawn_side(ep.clone(), table.clone(), schema, kinds, filter),
            buf: Vec::new().into_iter(),
            done: false,
        }
    }
}

/// An empty verdict for `t` → `tt`, to be filled in by the merge.
fn empty_verdict(
    t: &TableRef,
    tt: &TableRef,
    only_src: Vec<String>,
    only_dst: Vec<String>,
) -> TableVerdict {
    TableVerdict {
        table: t.name.clone(),
        target_table: format!("{}.{}", tt.db, tt.name),
        equal: false,
        source_rows: 0,
        target_rows: 0,
        source_checksum: String::new(),
        target_checksum: String::new(),
        missing_in_target: 0,
        extra_in_target: 0,
        different: 0,
        conversions: BTreeMap::new(),
        columns_only_in_source: only_src,
        columns_only_in_target: only_dst,
        differing_ranges: Vec::new(),
        ranges: 0,
        first_differences: Vec::new(),
        duration_secs: 0.0,
        shard: None,
    }
}

async fn verify_table(
    args: &Args,
    src: &mut Source,
    dst: &mut Source,
    sep: &Endpoint,
    tep: &Endpoint,
    t: &TableRef,
    tt: &TableRef,
) -> ferry_shared::Result<TableVerdict> {
    let ss = src.describe(t).await?;
    let ts = dst.describe(tt).await?;
    let plan = ColumnPlan::new(t, &ss, &ts)?;
    // A shard's range comes from the source and is applied to both sides alike.
    let range = match args.shard.shard {
        Some(s) => Some(src.shard_range(t, &ss, s).await?),
        None => None,
    };
    let side_filter = |q| {
        range
            .as_ref()
            .map_or(Ok(None), |r| crate::source::shard_filter(None, r, q))
    };
    let (fa, fb) = (side_filter(src.quote())?, side_filter(dst.quote())?);
    let total = src.count(t, fa.as_ref()).await.ok();
    let mut a = SideIter::spawn(sep, t, plan.source.clone(), plan.kinds.clone(), fa);
    let mut b = SideIter::spawn(tep, tt, plan.target.clone(), plan.kinds.clone(), fb);
    let mut tally = Tally {
        v: empty_verdict(t, tt, plan.only_src.clone(), plan.only_dst.clone()),
        sa: Checksum::default(),
        sb: Checksum::default(),
        range: None,
        max_diffs: args.max_diffs,
        range_rows: args.range_rows,
        schema: &plan.source,
    };
    let pk_idx = &plan.pk_idx;
    let started = std::time::Instant::now();
    // The source's count gives the bar its percent and ETA; a count that fails (a view
    // without rights to count) only costs the percent.
    let mut progress = Progress::new(&t.name, total, args.common.quiet);
    let mut pending = 0u64;
    let mut ra = a.next()?;
    let mut rb = b.next()?;
    let keyed = !pk_idx.is_empty();
    loop {
        pending += 1;
        if pending == 4096 {
            progress.inc(pending);
            pending = 0;
        }
        let ord = match (&ra, &rb) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) if keyed => x.key.cmp(&y.key),
            // Without a key rows cannot be paired: only the checksums speak.
            (Some(_), Some(_)) => Ordering::Equal,
        };
        let key_row = match ord {
            Ordering::Greater => rb.as_ref(),
            _ => ra.as_ref(),
        };
        let key = key_row.map(|r| display_key(r, pk_idx)).unwrap_or_default();
        tally.reach(&key);
        match ord {
            Ordering::Less => {
                let r = ra.take().unwrap_or_else(|| unreachable!());
                tally.missing(&r, key);
                ra = a.next()?;
            }
            Ordering::Greater => {
                let r = rb.take().unwrap_or_else(|| unreachable!());
                tally.extra(&r, key);
                rb = b.next()?;
            }
            Ordering::Equal => {
                let x = ra.take().unwrap_or_else(|| unreachable!());
                let y = rb.take().unwrap_or_else(|| unreachable!());
                tally.pair(&x, y, key, keyed);
                ra = a.next()?;
                rb = b.next()?;
            }
        }
        tally.close_range_if_full();
    }
    progress.inc(pending.saturating_sub(1));
    progress.finish();
    let mut verdict = tally.finish();
    verdict.duration_secs = started.elapsed().as_secs_f64();
    verdict.shard = range;
    Ok(verdict)
}

/// The whole of `verify`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("verify", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
