//! `compare-counts`: S9 rows per entity against DynamoDB items per table →
//! `data/reports/count_comparison.json` in the document's shape
//! (`{"buyers": {"source": 1250, "target": 1250, "match": true}, …}`).
//!
//! Dirty rows are not migrated but never silently lost: each is in a rejects file (the
//! transform's or the validation's). So `expected = source − rejected`, and an entity
//! matches only when the table holds exactly those keys: every key of the validated items
//! is looked up (BatchGetItem, 100 at a time, memory flat), their number must be
//! `expected`, and without a `--filter` the table must hold nothing else. Items the loader
//! gave up on or refused are not "rejected": they are counted apart (`given_up`,
//! `load_rejected`) and are missing from the table, so the entity does not match. Any
//! difference exits 1.

use crate::transform::Entity;
use clap::Parser;
use ferry_dynamo::av::SdkItem;
use ferry_dynamo::client::DynamoArgs;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::SourceArgs;
use ferry_shared::progress::Progress;
use ferry_shared::{DbContext, Exit, FerryError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Command line of `compare-counts`.
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "compare-counts",
    version,
    about = "Compare S9 row counts with DynamoDB item counts per entity, net of rejected rows.",
    after_help = "Examples:\n  compare-counts --source postgres://migration_user@s9-database.internal/s9_production \\\n      --target dynamodb://us-east-1 --buyers-table BuyersTable-dev --producers-table ProducersTable-dev \\\n      --sales-table SalesTable-dev\n  cat data/reports/count_comparison.json",
    mut_arg("source", |a| a.help(crate::extract::S9_SOURCE_HELP))
)]
pub struct Args {
    #[command(flatten)]
    #[serde(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: DynamoArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub tables: Tables,
    /// Only this entity (buyers, producers, sales); repeatable.
    #[arg(long, value_name = "ENTITY")]
    pub entity: Vec<crate::transform::Entity>,
    /// A transform's or validate-s9's rejects file to read and count (an input; repeatable;
    /// each line counts for the entity named by its `table`). Default:
    /// data/transformed/ENTITY.rejects.ndjson and data/reports/validation_rejects.ndjson
    /// (a load's rejects are --load-rejects).
    #[arg(long = "count-rejects", value_name = "FILE")]
    pub count_rejects: Vec<PathBuf>,
    /// A load's rejects file (repeatable): items given up after retries or refused by the
    /// loader; counted apart, never as rejected. Default data/reports/load-ENTITY.rejects.ndjson.
    #[arg(long = "load-rejects", value_name = "FILE")]
    pub load_rejects: Vec<PathBuf>,
    /// The items that must be in the table, per entity: ENTITY=FILE (repeatable; default
    /// data/validated/ENTITY.ndjson).
    #[arg(long = "expected", value_name = "ENTITY=FILE")]
    pub expected: Vec<String>,
    /// The same --filter the extraction used, per entity: ENTITY=SQL; repeatable.
    #[arg(long = "filter", value_name = "ENTITY=SQL")]
    pub filters: Vec<String>,
    /// Where the comparison goes.
    #[arg(
        short,
        long,
        default_value = "data/reports/count_comparison.json",
        value_name = "FILE"
    )]
    pub output: PathBuf,
    /// Parallel scan segments for counting.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub segments: i32,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// The DynamoDB tables of the three entities, as the S9 verification tools take them.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct Tables {
    /// DynamoDB table of the buyers.
    #[arg(long, default_value = "BuyersTable-dev", value_name = "NAME")]
    pub buyers_table: String,
    /// DynamoDB table of the producers.
    #[arg(long, default_value = "ProducersTable-dev", value_name = "NAME")]
    pub producers_table: String,
    /// DynamoDB table of the sales.
    #[arg(long, default_value = "SalesTable-dev", value_name = "NAME")]
    pub sales_table: String,
}

impl Tables {
    /// The table of an entity.
    pub fn of(&self, e: Entity) -> &str {
        match e {
            Entity::Buyers => &self.buyers_table,
            Entity::Producers => &self.producers_table,
            Entity::Sales => &self.sales_table,
        }
    }
}

/// One entity's line of the comparison.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Count {
    /// Rows in S9 (those the filter selects).
    pub source: u64,
    /// Items in the DynamoDB table.
    pub target: u64,
    /// Rows in a transform or validation rejects file (not migrated, on purpose and on
    /// record).
    pub rejected: u64,
    /// source − rejected.
    pub expected: u64,
    /// Keys of the validated items (the keys the run was to write).
    pub keys: u64,
    /// Of those, keys the table does not hold.
    pub missing: u64,
    /// Items the loader gave up on after its retries.
    pub given_up: u64,
    /// Items the loader refused before sending.
    pub load_rejected: u64,
    /// Items the table holds under a validated key but with other contents than validated
    /// (numbers compared by value, sets in any order): changed since, or by another writer.
    pub different: u64,
    /// Source rows that are neither among the validated items nor in a rejects file (a
    /// row the extraction missed, e.g. the source changed between pages or batches).
    pub unaccounted: u64,
    /// Validated items or rejects whose S9 id the source does not hold (as often).
    pub unknown: u64,
    /// keys == expected, missing == different == 0, unaccounted == unknown == 0 and
    /// (without a filter) target == expected.
    #[serde(rename = "match")]
    pub matches: bool,
    /// The first keys whose items differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub different_keys: Vec<String>,
    /// The first unaccounted source ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unaccounted_ids: Vec<i64>,
    /// The first unknown ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_ids: Vec<i64>,
    /// The first missing keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_keys: Vec<String>,
}

/// Reject lines per `table` value; with `split`, lines whose reason starts with
/// "gave up" are counted under `TABLE/gave_up` instead.
fn count_rejects(files: &[PathBuf], split: bool) -> ferry_shared::Result<Tally> {
    let mut out = Tally::default();
    for f in files {
        let file = match fs_err::File::open(f) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| FerryError::BadRecord {
                    file: f.display().to_string(),
                    line: n as u64 + 1,
                    reason: format!("not a reject line: {e}"),
                })?;
            let mut table = v["table"].as_str().unwrap_or("").to_string();
            let gave_up = v["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("gave up"));
            if split && gave_up {
                table.push_str("/gave_up");
            }
            if let Some(id) = crate::item::record_legacy_id(&v["record"]) {
                out.ids.entry(table.clone()).or_default().push(id);
            }
            *out.counts.entry(table).or_default() += 1;
        }
    }
    Ok(out)
}

/// Reject lines per `table`: their number, and the S9 ids of their records.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    ids: BTreeMap<String, Vec<i64>>,
}

fn default_rejects() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in ["buyers", "producers", "sales"] {
        v.push(PathBuf::from(format!(
            "data/transformed/{e}.rejects.ndjson"
        )));
    }
    v.push(PathBuf::from("data/reports/validation_rejects.ndjson"));
    v
}

/// The key attribute of an entity's items.
fn key_attr(e: Entity) -> &'static str {
    crate::validate::key_attribute(e)
}

/// What the table holds of the validated items.
#[derive(Default)]
struct KeyCheck {
    keys: u64,
    missing: u64,
    missing_keys: Vec<String>,
    different: u64,
    different_keys: Vec<String>,
}

impl KeyCheck {
    /// Compares a chunk of validated lines (key, item) with what the table holds.
    fn settle(&mut self, chunk: &[(String, serde_json::Value)], found: &HashMap<String, SdkItem>) {
        self.keys += chunk.len() as u64;
        for (k, sent) in chunk {
            let Some(stored) = found.get(k) else {
                self.missing += 1;
                if self.missing_keys.len() < 10 {
                    self.missing_keys.push(k.clone());
                }
                continue;
            };
            let stored = ferry_dynamo::av::canonical(&ferry_dynamo::av::item_to_json(stored));
            if stored != ferry_dynamo::av::canonical(sent) {
                self.different += 1;
                if self.different_keys.len() < 10 {
                    self.different_keys.push(k.clone());
                }
            }
        }
    }
}

/// Reads every item of `file` back from `table` (BatchGetItem, 100 at a time, memory
/// flat): which keys are missing, which items differ from what was validated (numbers by
/// value, sets in any order); counts each item's `legacyId` off `ids` (the source's ids).
async fn check_keys(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    attr: &str,
    file: &Path,
    ids: &mut HashMap<i64, i64>,
    quiet: bool,
) -> ferry_shared::Result<KeyCheck> {
    let reader = match fs_err::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("{}: no such file: no keys to look up", file.display());
            return Ok(KeyCheck::default());
        }
        Err(e) => return Err(e.into()),
    };
    let mut check = KeyCheck::default();
    let mut chunk = Vec::with_capacity(100);
    let mut lines = reader.lines();
    // The file's size gives the bar its percent and ETA (the lookups are the long part).
    let mut progress = Progress::new(&format!("[Compare] {table}"), None, quiet);
    if let Ok(m) = fs_err::metadata(file) {
        progress.set_total_bytes(m.len());
    }
    let mut read = 0u64;
    loop {
        let line = lines.next().transpose()?;
        if let Some(l) = &line {
            read += l.len() as u64 + 1;
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            if let Some(id) = crate::item::record_legacy_id(&v) {
                *ids.entry(id).or_default() -= 1;
            }
            if let Some(k) = v[attr]["S"].as_str().map(str::to_string) {
                chunk.push((k, v));
            }
        }
        if chunk.len() == 100 || (line.is_none() && !chunk.is_empty()) {
            let keys: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
            let found = ferry_dynamo::count::get_items(client, table, attr, &keys, false)
                .await?
                .unwrap_or_default();
            check.settle(&chunk, &found);
            progress.inc(chunk.len() as u64);
            progress.set_bytes(read);
            chunk.clear();
        }
        if line.is_none() {
            progress.finish();
            return Ok(check);
        }
    }
}

/// The ids of the source rows of an entity (those the filter selects), counted (S9 has
/// duplicated ids). Memory: one entry per distinct id.
async fn source_ids(
    pg: &tokio_postgres::Client,
    name: &str,
    filter: Option<&str>,
) -> anyhow::Result<HashMap<i64, i64>> {
    let filter = filter
        .map(|f| {
            ferry_shared::user_sql::Filter::from_flag("--filter", f.trim().trim_end_matches(';'))
        })
        .transpose()?;
    // The sales' extraction names its table `s` (docs/tools/extract-s9.md): a filter may
    // say `s.notes = …`, so the count names it so too.
    let alias = if name == "sales" { " s" } else { "" };
    let sql = match filter {
        Some(f) => format!(
            "SELECT id::bigint, count(*) FROM {}{alias} WHERE ({}) GROUP BY 1",
            ferry_shared::sql::quote_pg(name),
            f.sql()
        ),
        None => format!(
            "SELECT id::bigint, count(*) FROM {} GROUP BY 1",
            ferry_shared::sql::quote_pg(name)
        ),
    };
    let rows = pg
        .query(sql.as_str(), &[])
        .await
        .with_db_context(|| format!("count {name}"))?;
    let mut ids = HashMap::new();
    for r in rows {
        let id: Option<i64> = r.get(0);
        let n: i64 = r.get(1);
        // A NULL id (no S9 row should have one) counts under i64::MIN: never accounted for.
        *ids.entry(id.unwrap_or(i64::MIN)).or_default() += n;
    }
    Ok(ids)
}

/// Source rows neither in the validated items nor in a rejects file (positive), and items
/// or rejects of ids the source does not hold (negative): counts and the first ids.
fn unaccounted(ids: &HashMap<i64, i64>) -> ((u64, Vec<i64>), (u64, Vec<i64>)) {
    let (mut missing, mut unknown) = ((0u64, Vec::new()), (0u64, Vec::new()));
    let mut sorted: Vec<_> = ids.iter().filter(|(_, n)| **n != 0).collect();
    sorted.sort();
    for (id, n) in sorted {
        let side = if *n > 0 { &mut missing } else { &mut unknown };
        side.0 += n.unsigned_abs();
        if side.1.len() < 10 {
            side.1.push(*id);
        }
    }
    (missing, unknown)
}

/// What one entity's comparison reads.
struct Inputs<'a> {
    pg: &'a tokio_postgres::Client,
    client: &'a aws_sdk_dynamodb::Client,
    rejected: &'a Tally,
    loads: &'a Tally,
}

/// Compares one entity.
async fn compare_entity(args: &Args, inp: &Inputs<'_>, e: Entity) -> anyhow::Result<Count> {
    let name = e.name();
    let table = args.table(e);
    let filter = per_entity(&args.filters, name);
    let mut ids = source_ids(inp.pg, name, filter.as_deref()).await?;
    let source = ids.values().sum::<i64>().max(0) as u64;
    let target = match ferry_dynamo::count::count_items(inp.client, table, args.segments).await? {
        Some(n) => n,
        None => {
            tracing::error!("{name}: table {table} does not exist (counted as 0 items)");
            0
        }
    };
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let rejected = get(&inp.rejected.counts, name) + get(&inp.rejected.counts, table);
    for k in [name, table] {
        for id in inp.rejected.ids.get(k).into_iter().flatten() {
            *ids.entry(*id).or_default() -= 1;
        }
    }
    let loads = &inp.loads.counts;
    let given_up = get(loads, &format!("{name}/gave_up")) + get(loads, &format!("{table}/gave_up"));
    let load_rejected = get(loads, name) + get(loads, table);
    let expected = source.saturating_sub(rejected);
    let file = per_entity(&args.expected, name)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("data/validated/{name}.ndjson")));
    let kc = check_keys(
        inp.client,
        table,
        key_attr(e),
        &file,
        &mut ids,
        args.common.quiet,
    )
    .await?;
    let (keys, missing) = (kc.keys, kc.missing);
    let ((unaccounted, unaccounted_ids), (unknown, unknown_ids)) = unaccounted(&ids);
    let matches = keys == expected
        && missing == 0
        && kc.different == 0
        && unaccounted == 0
        && unknown == 0
        && (filter.is_some() || target == expected);
    Ok(Count {
        source,
        target,
        rejected,
        expected,
        keys,
        missing,
        given_up,
        load_rejected,
        different: kc.different,
        unaccounted,
        unknown,
        matches,
        missing_keys: kc.missing_keys,
        different_keys: kc.different_keys,
        unaccounted_ids,
        unknown_ids,
    })
}

/// The value of `ENTITY=VALUE` for this entity among repeated flags.
fn per_entity(flags: &[String], name: &str) -> Option<String> {
    flags
        .iter()
        .find_map(|f| f.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

impl Args {
    fn table(&self, e: Entity) -> &str {
        self.tables.of(e)
    }
}

/// One line of the console summary.
fn log_count(name: &str, table: &str, c: &Count) {
    let line = format!(
        "{name:<10} source {:>8}  rejected {:>6}  expected {:>8}  target {:>8}  missing {:>6}  given up {:>6}  {}",
        c.source,
        c.rejected,
        c.expected,
        c.target,
        c.missing,
        c.given_up,
        if c.matches { "match" } else { "MISMATCH" }
    );
    if c.matches {
        tracing::info!("{line}");
    } else {
        tracing::error!("{line} ({table})");
        if c.different > 0 {
            tracing::error!(
                "{name}: {} items differ from what was validated (keys {:?}…)",
                c.different,
                c.different_keys
            );
        }
        if c.unaccounted + c.unknown > 0 {
            tracing::error!(
                "{name}: {} source rows are neither migrated nor rejected (ids {:?}…), {} migrated or rejected ids are not in the source (ids {:?}…): the source changed during the run, or a batch missed rows",
                c.unaccounted,
                c.unaccounted_ids,
                c.unknown,
                c.unknown_ids
            );
        }
        if c.keys != c.expected {
            tracing::error!(
                "{name}: {} keys in the validated items, {} expected (source − rejected)",
                c.keys,
                c.expected
            );
        }
    }
}

/// Runs `compare-counts`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let ep = args.source.endpoint()?;
    if ep.engine != ferry_shared::conn::Engine::Postgres {
        return Err(FerryError::Usage(format!(
            "--source {ep}: compare-counts reads the S9 PostgreSQL database; give postgres://…"
        ))
        .into());
    }
    let mut run_report = ferry_shared::report::RunReport::start("compare-counts");
    run_report.source = Some(ep.to_string());
    run_report.target = Some(args.conn.describe());
    let pg = ferry_shared::conn::connect_postgres(&ep).await?;
    let client = args.conn.client().await?;
    let files = if args.count_rejects.is_empty() {
        default_rejects()
    } else {
        args.count_rejects.clone()
    };
    let entities = if args.entity.is_empty() {
        vec![Entity::Buyers, Entity::Producers, Entity::Sales]
    } else {
        args.entity.clone()
    };
    let load_files = if args.load_rejects.is_empty() {
        entities
            .iter()
            .map(|e| PathBuf::from(format!("data/reports/load-{}.rejects.ndjson", e.name())))
            .collect()
    } else {
        args.load_rejects.clone()
    };
    let rejected = count_rejects(&files, false)?;
    let loads = count_rejects(&load_files, true)?;
    let inputs = Inputs {
        pg: &pg,
        client: &client,
        rejected: &rejected,
        loads: &loads,
    };
    let mut report: BTreeMap<&str, Count> = BTreeMap::new();
    let mut all = true;
    for e in entities {
        let c = compare_entity(&args, &inputs, e).await?;
        log_count(e.name(), args.table(e), &c);
        all &= c.matches;
        let mut stats = ferry_shared::report::TableStats::new(e.name());
        stats.migrated = c.target;
        stats.skipped = c.rejected;
        stats.errors = c.missing;
        run_report.tables.push(stats);
        report.insert(e.name(), c);
    }
    ferry_shared::fsutil::write_json_atomic(&args.output, &report)?;
    tracing::info!("count comparison → {}", args.output.display());
    run_report.finish();
    if !all {
        run_report.fail(Exit::Failure);
    }
    run_report.notes.push(format!(
        "migrated = items in the table, skipped = rejected source rows, errors = missing keys; comparison in {}",
        args.output.display()
    ));
    if !all {
        run_report.status = "different".into();
    }
    run_report.emit(true, args.common.report.as_deref())?;
    if all {
        Ok(Exit::Ok)
    } else {
        Err(FerryError::Failed(format!("counts differ; see {}", args.output.display())).into())
    }
}

/// The whole of `compare-counts`: flags, runtime, exit code. In the library so the runtime
/// and every future under it are compiled once here, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("compare-counts", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
