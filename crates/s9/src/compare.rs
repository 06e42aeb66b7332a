//! `compare-counts`: S9 rows per entity against DynamoDB items per table →
//! `data/reports/count_comparison.json` in the document's shape
//! (`{"buyers": {"source": 1250, "target": 1250, "match": true}, …}`).
//!
//! Dirty rows are not migrated but never silently lost: each is in a rejects file (the
//! transform's, the validation's or the load's). So an entity matches when
//! `target = source − rejected`; the report shows all four numbers, and any difference
//! exits 1.

use clap::Parser;
use ferry_dynamo::client::DynamoArgs;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::SourceArgs;
use ferry_shared::{DbContext, Exit, FerryError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

/// Command line of `compare-counts`.
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "compare-counts",
    version,
    about = "Compare S9 row counts with DynamoDB item counts per entity, net of rejected rows.",
    after_help = "Examples:\n  compare-counts --source postgres://migration_user@s9-database.internal/s9_production \\\n      --target dynamodb://us-east-1 --buyers-table BuyersTable-dev --producers-table ProducersTable-dev \\\n      --sales-table SalesTable-dev\n  cat data/reports/count_comparison.json"
)]
pub struct Args {
    #[command(flatten)]
    #[serde(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: DynamoArgs,
    /// DynamoDB table of the buyers.
    #[arg(long, default_value = "BuyersTable-dev", value_name = "NAME")]
    pub buyers_table: String,
    /// DynamoDB table of the producers.
    #[arg(long, default_value = "ProducersTable-dev", value_name = "NAME")]
    pub producers_table: String,
    /// DynamoDB table of the sales.
    #[arg(long, default_value = "SalesTable-dev", value_name = "NAME")]
    pub sales_table: String,
    /// Only this entity (buyers, producers, sales); repeatable.
    #[arg(long, value_name = "ENTITY")]
    pub entity: Vec<crate::transform::Entity>,
    /// A rejects file to count (repeatable; each line counts for the entity named by its
    /// `table`). Default: data/transformed/ENTITY.rejects.ndjson,
    /// data/reports/validation_rejects.ndjson and data/reports/load-ENTITY.rejects.ndjson.
    #[arg(long = "rejects", value_name = "FILE")]
    pub rejects: Vec<PathBuf>,
    /// The same --filter the extraction used, per entity: ENTITY=SQL; repeatable.
    #[arg(long = "filter", value_name = "ENTITY=SQL")]
    pub filters: Vec<String>,
    /// Where the comparison goes.
    #[arg(
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

/// One entity's line of the comparison.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Count {
    /// Rows in S9.
    pub source: u64,
    /// Items in the DynamoDB table.
    pub target: u64,
    /// Rows in a rejects file (not migrated, on purpose and on record).
    pub rejected: u64,
    /// source − rejected.
    pub expected: u64,
    /// target == expected.
    #[serde(rename = "match")]
    pub matches: bool,
}

/// Counts reject lines per `table` value.
fn count_rejects(files: &[PathBuf]) -> ferry_shared::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
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
            let table = v["table"].as_str().unwrap_or("").to_string();
            *out.entry(table).or_default() += 1;
        }
    }
    Ok(out)
}

fn default_rejects() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in ["buyers", "producers", "sales"] {
        v.push(PathBuf::from(format!(
            "data/transformed/{e}.rejects.ndjson"
        )));
        v.push(PathBuf::from(format!(
            "data/reports/load-{e}.rejects.ndjson"
        )));
    }
    v.push(PathBuf::from("data/reports/validation_rejects.ndjson"));
    v
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
    let files = if args.rejects.is_empty() {
        default_rejects()
    } else {
        args.rejects.clone()
    };
    let rejected = count_rejects(&files)?;
    let entities = if args.entity.is_empty() {
        vec![
            crate::transform::Entity::Buyers,
            crate::transform::Entity::Producers,
            crate::transform::Entity::Sales,
        ]
    } else {
        args.entity.clone()
    };
    let mut report: BTreeMap<&str, Count> = BTreeMap::new();
    let mut all = true;
    for e in entities {
        let name = e.name();
        let table = match e {
            crate::transform::Entity::Buyers => &args.buyers_table,
            crate::transform::Entity::Producers => &args.producers_table,
            crate::transform::Entity::Sales => &args.sales_table,
        };
        let filter = args
            .filters
            .iter()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .map(|f| {
                ferry_shared::user_sql::Filter::from_flag(
                    "--filter",
                    f.trim().trim_end_matches(';'),
                )
            })
            .transpose()?;
        let sql = match filter {
            Some(f) => format!(
                "SELECT count(*) FROM {} WHERE ({})",
                ferry_shared::sql::quote_pg(name),
                f.sql()
            ),
            None => format!("SELECT count(*) FROM {}", ferry_shared::sql::quote_pg(name)),
        };
        let source: i64 = pg
            .query_one(sql.as_str(), &[])
            .await
            .with_db_context(|| format!("count {name}"))?
            .get(0);
        let target = match ferry_dynamo::count::count_items(&client, table, args.segments).await? {
            Some(n) => n,
            None => {
                tracing::error!("{name}: table {table} does not exist (counted as 0 items)");
                0
            }
        };
        let rej = rejected.get(name).copied().unwrap_or(0)
            + rejected.get(table.as_str()).copied().unwrap_or(0);
        let source = source.max(0) as u64;
        let expected = source.saturating_sub(rej);
        let matches = target == expected;
        all &= matches;
        let line = format!(
            "{name:<10} source {source:>8}  rejected {rej:>6}  expected {expected:>8}  target {target:>8}  {}",
            if matches { "match" } else { "MISMATCH" }
        );
        if matches {
            tracing::info!("{line}");
        } else {
            tracing::error!("{line} ({table})");
        }
        let mut stats = ferry_shared::report::TableStats::new(name);
        stats.migrated = target;
        stats.skipped = rej;
        run_report.tables.push(stats);
        report.insert(
            name,
            Count {
                source,
                target,
                rejected: rej,
                expected,
                matches,
            },
        );
    }
    ferry_shared::fsutil::write_json_atomic(&args.output, &report)?;
    tracing::info!("count comparison → {}", args.output.display());
    run_report.finish();
    if !all {
        run_report.fail(Exit::Failure);
    }
    run_report.notes.push(format!(
        "migrated = items in the table, skipped = rejected source rows; comparison in {}",
        args.output.display()
    ));
    if let Some(p) = args.common.report.as_deref() {
        ferry_shared::fsutil::write_json_atomic(p, &run_report)?;
    }
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
